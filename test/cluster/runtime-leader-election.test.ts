/** Lease leader election between two candidates against a real kube-apiserver. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { KubeClient } from '../../src/kube/client.ts';
import { leases } from '../../src/kube/resources.ts';
import { parseTime } from '../../src/kube/time.ts';
import type { Clock } from '../../src/runtime/clock.ts';
import { LeaderElector, type ElectionEnd } from '../../src/runtime/leader-election.ts';
import { adminClient, createScratchNamespace, deleteNamespaceAndWait, until } from '../testbed/kube-fixtures.ts';

let ns: string;
const LEASE = 'kerris-test-leader';
const MICRO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/;
let client: KubeClient;

before(async () => {
  client = await adminClient();
  ns = await createScratchNamespace(client, 'kerris-election');
});

after(async () => {
  await deleteNamespaceAndWait(client, ns);
  client.close();
});

/** A candidate whose leader work only records that it runs, until its signal aborts. */
function candidate(identity: string, releaseOnStop: boolean, working: Set<string>, clock?: Clock) {
  const elector = new LeaderElector({
    client, namespace: ns, name: LEASE, identity, releaseOnStop, ...(clock ? { clock } : {}),
    leaseDurationMs: 3_000, renewDeadlineMs: 2_000, retryPeriodMs: 300,
    onStartedLeading: async (signal) => {
      working.add(identity);
      await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
      working.delete(identity);
    },
  });
  let controller = new AbortController();
  let running: Promise<ElectionEnd> = Promise.resolve('stopped');
  return {
    elector,
    start(): void {
      controller = new AbortController();
      running = elector.run(controller.signal);
    },
    async stop(): Promise<ElectionEnd> {
      controller.abort();
      return running;
    },
    /** How the current run ends, without stopping it. */
    ended: (): Promise<ElectionEnd> => running,
  };
}

describe('LeaderElector', () => {
  it('lets one candidate lead, hands over at once on release, and after leaseDuration when the leader stops renewing', async (t) => {
    const working = new Set<string>();
    let overlaps = 0;
    const sampler = setInterval(() => { if (working.size > 1) overlaps += 1; }, 10);
    t.after(() => clearInterval(sampler));
    const a = candidate('candidate-a', true, working);
    const b = candidate('candidate-b', false, working);
    t.after(async () => { await a.stop(); await b.stop(); });

    a.start();
    await until(() => a.elector.isLeader, 10_000, 'a to lead');
    b.start();
    await until(() => b.elector.state === 'following', 10_000, 'b to see a leading');
    await sleep(1_500);
    assert.equal(b.elector.isLeader, false, 'b waits while a renews');
    assert.equal(b.elector.leader, 'candidate-a');
    const held = await client.get(leases, LEASE, { namespace: ns });
    assert.equal(held.spec?.holderIdentity, 'candidate-a');
    assert.equal(held.spec?.leaseDurationSeconds, 3);
    assert.match(held.spec?.renewTime ?? '', MICRO_TIME);
    assert.match(held.spec?.acquireTime ?? '', MICRO_TIME);
    assert.ok(Date.now() - parseTime(held.spec?.renewTime ?? '') < 2_000, 'a keeps renewing');

    assert.equal(await a.stop(), 'stopped');
    assert.equal(working.has('candidate-a'), false, 'a stopped its work before releasing');
    const released = await client.get(leases, LEASE, { namespace: ns });
    assert.ok(!released.spec?.holderIdentity, 'a released the lease');
    const handover = await until(() => b.elector.isLeader, 5_000, 'b to take over after the release');
    assert.ok(handover < 1_500, `b took over ${handover} ms after the release, well before the 3 s lease would expire`);
    t.diagnostic(`handover after release: ${handover} ms`);
    const taken = await client.get(leases, LEASE, { namespace: ns });
    assert.equal(taken.spec?.holderIdentity, 'candidate-b');
    assert.equal(taken.spec?.leaseTransitions, (held.spec?.leaseTransitions ?? 0) + 1);

    a.start();
    await until(() => a.elector.state === 'following', 10_000, 'a to follow b');
    const crashedAt = Date.now();
    assert.equal(await b.stop(), 'stopped');
    assert.equal((await client.get(leases, LEASE, { namespace: ns })).spec?.holderIdentity, 'candidate-b', 'b left without releasing');
    await until(() => a.elector.isLeader, 10_000, 'a to take over the abandoned lease');
    const takeover = Date.now() - crashedAt;
    assert.ok(takeover >= 2_500 && takeover < 6_000, `a waited out the 3 s lease: took over after ${takeover} ms`);
    t.diagnostic(`takeover of an abandoned 3 s lease: ${takeover} ms`);
    assert.equal(overlaps, 0, 'two candidates never did leader work at once');
    await a.stop();
    await client.delete(leases, LEASE, { namespace: ns });
  });

  it('with its wall clock an hour ahead, a candidate still waits out leaseDuration of an unchanged Lease before taking over', async (t) => {
    const working = new Set<string>();
    const HOUR_MS = 3_600_000;
    const a = candidate('candidate-a', false, working);
    // To b, a renewTime written a moment ago looks an hour old.
    const b = candidate('candidate-b', true, working, { monotonicMs: () => performance.now(), wallMs: () => Date.now() + HOUR_MS });
    t.after(async () => { await a.stop(); await b.stop(); });

    a.start();
    await until(() => a.elector.isLeader, 10_000, 'a to lead');
    b.start();
    await until(() => b.elector.state !== 'unknown', 10_000, 'b to read the lease');
    assert.equal(b.elector.state, 'following', 'b found the lease held');
    const firstRenewal = parseTime((await client.get(leases, LEASE, { namespace: ns })).spec?.renewTime ?? '');
    await until(async () => parseTime((await client.get(leases, LEASE, { namespace: ns })).spec?.renewTime ?? '') - firstRenewal > 4_000, 10_000, 'a to renew for longer than the 3 s lease', 200);
    assert.equal(b.elector.isLeader, false, 'b left the live lease alone');

    const crashedAt = Date.now();
    assert.equal(await a.stop(), 'stopped');
    await until(() => b.elector.isLeader, 10_000, 'b to take over the abandoned lease');
    const takeover = Date.now() - crashedAt;
    assert.ok(takeover >= 2_500 && takeover < 6_000, `b waited out the 3 s lease: took over after ${takeover} ms`);
    t.diagnostic(`takeover by a candidate an hour ahead: ${takeover} ms`);
    const taken = await client.get(leases, LEASE, { namespace: ns });
    const stampedAhead = parseTime(taken.spec?.renewTime ?? '') - Date.now();
    assert.ok(Math.abs(stampedAhead - HOUR_MS) < 5_000, `the Lease carries b's own wall-clock time: ${stampedAhead} ms ahead`);
    await b.stop();
    await client.delete(leases, LEASE, { namespace: ns });
  });

  it('stops leading when it cannot renew, and says so', async (t) => {
    const working = new Set<string>();
    const c = candidate('candidate-c', true, working);
    c.start();
    await until(() => c.elector.isLeader, 10_000, 'c to lead');
    // Another writer takes the lease over, as after a partition: c must notice and step down.
    const lease = await client.get(leases, LEASE, { namespace: ns });
    await client.replace(leases, { ...lease, spec: { ...lease.spec, holderIdentity: 'usurper', renewTime: lease.spec?.renewTime ?? null } });
    const stepDown = await until(() => !c.elector.isLeader, 5_000, 'c to step down');
    assert.equal(await c.ended(), 'lost');
    assert.ok(stepDown < 2_000, `c stepped down ${stepDown} ms after the takeover, at its next renewal`);
    t.diagnostic(`step-down after losing the lease: ${stepDown} ms`);
    assert.equal(c.elector.leader, 'usurper');
    assert.equal(working.size, 0, 'the leader work was stopped');
    await c.stop();
    await client.delete(leases, LEASE, { namespace: ns });
  });
});
