/**
 * The Probe call on the host kernel: timed TCP connects from inside a container's network namespace reach the host
 * side of its veth (a closed port answers RST, a round trip), stop being answered while a partition is held, and a
 * request out of bounds is refused before anything runs. Needs root.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Protocol } from '../../src/daemon/client.ts';
import { requireExecutables, requireRoot } from '../testbed/prerequisites.ts';
import { DaemonFixture, netnsList, type RunningDaemon } from './daemon-fixture.ts';

const EXP = 'exp-probe';
/** The pod's peer: the host side of its veth (addPodNetns: 10.<net>.<host>.1). */
const PEER = '10.79.1.1';

let fixture: DaemonFixture;
let daemon: RunningDaemon;

before(async () => {
  await requireRoot('daemon probe host test');
  await requireExecutables({ '/usr/sbin/tc': 'iproute2', '/usr/sbin/ip': 'iproute2', '/usr/sbin/nft': 'nftables', '/usr/bin/nsenter': 'util-linux' });
  fixture = await DaemonFixture.create('pr');
  const netns = await fixture.addPodNetns('kd-pr-0', 79, 1);
  await fixture.runContainer('pr1', { netns });
  daemon = await fixture.startDaemon();
});

after(async () => {
  await fixture?.cleanup();
  assert.deepEqual((await netnsList()).filter((n) => n.startsWith('kd-pr-')), [], 'no namespace left');
});

const median = (values: readonly number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;

test('Probe connects from inside the target: answered by RST before, unanswered while a partition is held', async (t) => {
  const ask = { target: { containerId: 'pr1' }, addresses: [PEER], count: 10, timeoutMs: 300 };
  const baseline = (await daemon.client.probe(ask)).results;
  assert.equal(baseline.length, 1);
  assert.equal(baseline[0]?.address, PEER);
  assert.equal(baseline[0]?.sent, 10);
  assert.equal(baseline[0]?.answered, 10, 'a closed port on the peer answers every connect with RST');
  assert.equal(baseline[0]?.rttUs.length, 10);
  t.diagnostic(`baseline median RTT ${median(baseline[0]?.rttUs ?? []) / 1000} ms`);

  const injected = await daemon.client.sync(EXP, 60_000, [{
    id: 'pr', target: { containerId: 'pr1' }, fault: { kind: 'network', faults: [{ action: { case: 'partition', value: {} }, scope: { cidrs: [`${PEER}/32`], protocol: Protocol.ALL } }] },
  }]);
  assert.equal(injected.results[0]?.ok, true, JSON.stringify(injected.results[0]));
  try {
    const during = (await daemon.client.probe(ask)).results;
    assert.equal(during[0]?.sent, 10);
    assert.equal(during[0]?.answered, 0, 'nothing answers through the partition');
    assert.deepEqual(during[0]?.rttUs, []);
  } finally {
    const recovered = await daemon.client.sync(EXP, 60_000, []);
    assert.deepEqual([recovered.removed, recovered.revertFailed], [['pr'], []]);
  }
  const afterwards = (await daemon.client.probe(ask)).results;
  assert.equal(afterwards[0]?.answered, 10, 'answered again once the partition is taken away');
});

test('Probe refuses requests out of bounds, and an unknown container, before running anything', async () => {
  const target = { containerId: 'pr1' };
  const refused = async (request: Parameters<RunningDaemon['client']['probe']>[0], pattern: RegExp): Promise<void> => {
    await assert.rejects(daemon.client.probe(request), pattern);
  };
  await refused({ target, addresses: [], count: 1, timeoutMs: 100 }, /1 to 8 addresses, got 0/);
  await refused({ target, addresses: Array.from({ length: 9 }, (_, i) => `10.0.0.${i + 1}`), count: 1, timeoutMs: 100 }, /1 to 8 addresses, got 9/);
  await refused({ target, addresses: ['10.0.0.1; reboot'], count: 1, timeoutMs: 100 }, /is not an IP address/);
  await refused({ target, addresses: [PEER, PEER], count: 1, timeoutMs: 100 }, /listed more than once/);
  await refused({ target, addresses: [PEER], count: 201, timeoutMs: 100 }, /count 201 must be 1 to 200/);
  await refused({ target, addresses: [PEER], count: 1, timeoutMs: 2_001 }, /timeout 2001 ms must be 1 to 2000/);
  await refused({ target, addresses: [PEER], port: 65_536, count: 1, timeoutMs: 100 }, /port 65536 must be 0 to 65535/);
  await refused({ target: { containerId: '../x' }, addresses: [PEER], count: 1, timeoutMs: 100 }, /container ID/);
  await refused({ target: { containerId: 'nope' }, addresses: [PEER], count: 1, timeoutMs: 100 }, /nope/);
});
