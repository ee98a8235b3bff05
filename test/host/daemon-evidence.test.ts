/**
 * Evidence through the daemon's API on the host kernel: while a partition and a bandwidth cap are held on a
 * container's netns, List(evidence) reports the kernel's own counters of kerris's nftables rule and tbf, and they
 * grow with the traffic sent; after recovery the namespace is exactly as before. Needs root.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Evidence, InjectionStatus } from '../../src/daemon/client.ts';
import { Phase, Protocol } from '../../src/daemon/client.ts';
import { snapshotKernelState } from '../../src/daemon/net/snapshot.ts';
import { run } from '../../src/util/exec.ts';
import { requireExecutables, requireRoot } from '../testbed/prerequisites.ts';
import { DaemonFixture, eventually, journalFiles, netnsList, type RunningDaemon } from './daemon-fixture.ts';

const EXP = 'exp-evidence';
const NETNS_NAME = 'kd-ev-0';
/** The pod's peer: the host side of its veth (addPodNetns: 10.<net>.<host>.1). */
const PEER = '10.78.1.1';
const CUT_PORT = 7;
const CAPPED_PORT = 9;

/** Sends `count` UDP datagrams of `size` bytes to host:port as fast as it can, going on when a send fails (a cut is EPERM). */
const SEND = `const [host, port, count, size] = process.argv.slice(1);
const socket = require('node:dgram').createSocket('udp4');
const payload = Buffer.alloc(Number(size));
let left = Number(count);
const next = () => { if (left-- === 0) { socket.close(); return; } socket.send(payload, Number(port), host, () => next()); };
next();`;

let fixture: DaemonFixture;
let daemon: RunningDaemon;
let netns: string;

before(async () => {
  await requireRoot('daemon evidence host test');
  await requireExecutables({ '/usr/sbin/tc': 'iproute2', '/usr/sbin/ip': 'iproute2', '/usr/sbin/nft': 'nftables', '/usr/bin/nsenter': 'util-linux' });
  fixture = await DaemonFixture.create('ev');
  netns = await fixture.addPodNetns(NETNS_NAME, 78, 1);
  await fixture.runContainer('ev1', { netns });
  daemon = await fixture.startDaemon();
});

after(async () => {
  await fixture?.cleanup();
  assert.deepEqual((await netnsList()).filter((n) => n.startsWith('kd-ev-')), [], 'no namespace left');
});

async function send(port: number, count: number, size: number): Promise<void> {
  await run(['ip', 'netns', 'exec', NETNS_NAME, process.execPath, '-e', SEND, PEER, String(port), String(count), String(size)], { timeoutMs: 30_000 });
}

async function listed(): Promise<InjectionStatus> {
  const injection = (await daemon.client.list({ experiment: EXP, evidence: true })).injections[0];
  assert.ok(injection !== undefined, 'the injection is listed');
  return injection;
}

function find(injection: InjectionStatus, kind: string, fault: string): Evidence {
  const found = injection.evidence.find((e) => e.kind === kind && e.fault === fault && e.device === 'eth0' && e.direction === 'egress');
  assert.ok(found !== undefined, `${kind} ${fault} on eth0 egress in ${JSON.stringify(injection.evidence, (_, v: unknown) => (typeof v === 'bigint' ? String(v) : v))}`);
  return found;
}

test('with a partition and a bandwidth cap held, List(evidence) reports nft drops and tbf counters that grow with the traffic sent', async (t) => {
  const before = await snapshotKernelState(netns);
  const injected = await daemon.client.sync(EXP, 60_000, [{
    id: 'ev', target: { containerId: 'ev1' }, fault: {
      kind: 'network', faults: [
        { action: { case: 'partition', value: {} }, scope: { cidrs: [`${PEER}/32`], protocol: Protocol.UDP, ports: [CUT_PORT] } },
        { action: { case: 'bandwidth', value: { rate: '1mbit', limit: 20_000, buffer: 10_000 } }, scope: { cidrs: [`${PEER}/32`], protocol: Protocol.UDP, ports: [CAPPED_PORT] } },
      ],
    },
  }]);
  assert.equal(injected.results[0]?.ok, true, JSON.stringify(injected.results[0]));
  try {
    const start = await listed();
    assert.equal(start.phase, Phase.ACTIVE);
    assert.ok(start.evidenceAgeMs < 1_000, `a first reading is fresh (${start.evidenceAgeMs} ms)`);
    const cut0 = find(start, 'nft', 'partition');
    const capped0 = find(start, 'tbf', 'bandwidth');
    assert.deepEqual(start.evidence.map((e) => `${e.kind} ${e.fault}`).sort(), ['nft partition', 'tbf bandwidth'], 'only kerris\'s own counters');

    const CUT = 50;
    const CAPPED = 300;
    const SIZE = 1_000;
    await send(CUT_PORT, CUT, 64);
    await send(CAPPED_PORT, CAPPED, SIZE);
    // Counters are read at most every 2 s; the tbf queue drains at 1 mbit meanwhile.
    const grown = await eventually('the counters to show the traffic', async () => {
      const now = await listed();
      const cut = find(now, 'nft', 'partition');
      const capped = find(now, 'tbf', 'bandwidth');
      const passed = capped.packets - capped0.packets;
      return cut.dropped - cut0.dropped >= BigInt(CUT) && passed + capped.dropped - capped0.dropped >= BigInt(CAPPED) ? { now, cut, capped, passed } : undefined;
    }, 10_000, 250);
    const { now, cut, capped, passed } = grown;
    t.diagnostic(`nft partition dropped ${cut.dropped - cut0.dropped} of ${CUT}; tbf sent ${passed}, dropped ${capped.dropped - capped0.dropped}, held back ${capped.overlimits - capped0.overlimits} times, of ${CAPPED}; age ${now.evidenceAgeMs} ms`);
    assert.equal(cut.packets - cut0.packets, cut.dropped - cut0.dropped, 'an nft counter counts only dropped packets');
    assert.ok(cut.bytes - cut0.bytes >= BigInt(CUT * 64), 'and their bytes');
    assert.ok(passed > 0n && capped.bytes - capped0.bytes >= passed * BigInt(SIZE), `the tbf sent ${passed} packets, each at least the payload`);
    assert.ok(capped.overlimits > capped0.overlimits, 'the tbf held packets back for its rate');
    assert.ok(capped.dropped > capped0.dropped, 'and dropped what its queue could not hold');
    assert.ok(now.evidenceAgeMs <= 3_000, `counters at most one read interval old (${now.evidenceAgeMs} ms)`);
  } finally {
    const recovered = await daemon.client.sync(EXP, 60_000, []);
    assert.deepEqual([recovered.removed, recovered.revertFailed], [['ev'], []]);
  }
  assert.deepEqual(await snapshotKernelState(netns), before, 'kernel state after recovery equals before');
  assert.deepEqual((await daemon.client.list({ experiment: EXP, evidence: true })).injections, []);
  assert.deepEqual(await journalFiles(fixture.journalDir), []);
});
