/**
 * NetworkChaos end to end on this machine's kernel (no sch_netem): the controller and the node daemon run in the
 * test-bed cluster from images built from this checkout and fault real pods, and every check is traffic a user
 * would see, sent from inside the pods' network namespaces: TCP connects, one-way UDP, a bulk transfer, a probe
 * series. After each experiment the pods' tc, nftables, iptables and ipset state equals the state before.
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import type { NetworkChaos } from '../../src/api/generated/types.ts';
import { snapshotKernelState, type KernelSnapshot } from '../../src/daemon/net/snapshot.ts';
import { KERRIS_NAMESPACE } from '../testbed/kerris.ts';
import { kubectl } from '../testbed/kubectl.ts';
import { SAMPLE_APP } from '../testbed/sample-app.ts';
import type { Server } from '../vm/scenarios/net-lab.ts';
import { condition } from './chaos-fixtures.ts';
import { networkCluster, until, type AppPod } from './network-fixtures.ts';

const net = networkCluster('e2e-net');
const { tools } = net;

/** The workload's TCP echo (test/testbed/node/kerris-serve.sh). */
const ECHO_PORT = 7000;
const HTTP_PORT = 8080;
/** Ports the tests' own servers listen on inside the pods' namespaces. */
const UDP_PORT = 7300;
const BULK_PORT = 7100;
const PROBE_PORT = 7400;

const connects = async (from: AppPod, to: AppPod, port = ECHO_PORT): Promise<boolean> =>
  (await tools.traffic<{ ok: boolean }>(from.netns, ['tcp-connect', to.ip, String(port), '1000'])).ok;

/** One-way UDP: whether datagrams sent from `from` reach `to` (a few of 20, so a single drop is not a verdict). */
async function udpReaches(from: AppPod, to: AppPod): Promise<boolean> {
  const receiving = tools.serve(to.netns, ['udp-recv', String(UDP_PORT), '2500']);
  const server = await receiving;
  await tools.traffic(from.netns, ['udp-send', to.ip, String(UDP_PORT), '20', '10']);
  const { received } = await server.finished<{ received: number }>();
  return received > 0;
}

async function kernelStates(pods: readonly AppPod[]): Promise<KernelSnapshot[]> {
  return Promise.all(pods.map((p) => snapshotKernelState(p.netns.path)));
}

/** Whether kerris's nftables table or tc tree is in the pod's namespace now. */
async function faulted(pod: AppPod): Promise<boolean> {
  const nft = await tools.exec(pod.netns, ['nft', 'list', 'table', 'inet', 'kerris'], { allowFailure: true });
  const tc = await tools.exec(pod.netns, ['tc', 'qdisc', 'show'], { allowFailure: true });
  return nft.code === 0 || tc.stdout.includes('4b52:');
}

const injected = (c: NetworkChaos): boolean => condition(c, 'AllInjected')?.status === 'True';
const failedInjection = (c: NetworkChaos): boolean => condition(c, 'AllInjected')?.reason === 'InjectionFailed' || c.status?.phase === 'Failed';

async function deleteChaos(namespace: string, name: string): Promise<void> {
  await kubectl(net.plane, ['delete', 'networkchaos', name, '-n', namespace, '--wait=true', '--timeout=60s'], { timeoutMs: 90_000 });
}

const podSelector = (namespace: string, ...pods: AppPod[]) => ({ pods: { [namespace]: pods.map((p) => p.name) } });

describe('NetworkChaos through the node daemon, on the real cluster', { timeout: 1_800_000 }, () => {
  for (const direction of ['to', 'from', 'both'] as const) {
    it(`partition A ${direction} B: cut within 5 s only in the faulted direction and only to B; whole again within 5 s of delete; kernel state as before`, async (t: TestContext) => {
      const namespace = await net.fx.newApp(3);
      const [a, b, c] = await net.appPods(namespace) as [AppPod, AppPod, AppPod];
      const before = await kernelStates([a, b, c]);
      assert.ok(await connects(a, b) && await connects(b, a) && await connects(a, c), 'everything connects before');

      await net.fx.applyChaos(namespace, 'cut', { action: 'partition', direction, selector: podSelector(namespace, a), target: { mode: 'all', selector: podSelector(namespace, b) } });
      const cutMs = await until('A→B TCP fails', 5_000, async () => !await connects(a, b));
      t.diagnostic(`apply → A cannot connect to B: ${cutMs} ms`);
      const running = await net.fx.waitChaos(namespace, 'cut', 'injected', injected);
      assert.deepEqual(running.status?.targets?.map((x) => [x.name, x.phase]), [[a.name, 'Injected']]);
      assert.equal(running.status?.network?.peers, 1, 'scoped to B\'s one address');
      // A partition drops packets, not connections: TCP needs both ways, one-way UDP shows the direction.
      assert.equal(await udpReaches(a, b), direction === 'from', 'A→B datagrams');
      assert.equal(await udpReaches(b, a), direction === 'to', 'B→A datagrams');
      assert.ok(await connects(a, c), 'A still reaches C');
      assert.ok(await connects(c, b), 'C still reaches B');
      // The proof in status: the kernel's own count of what the partition dropped, read by the daemon.
      const proven = await net.fx.waitChaos(namespace, 'cut', 'evidence', (x) => (x.status?.targets?.[0]?.evidence?.counters ?? []).some((k) => k.fault === 'partition' && (k.dropped ?? 0) > 0), 30_000);
      const counters = proven.status?.targets?.[0]?.evidence?.counters ?? [];
      t.diagnostic(`evidence: ${JSON.stringify(counters)}`);
      assert.ok(counters.every((k) => k.kind === 'nft' && (direction === 'both' || k.direction === (direction === 'to' ? 'egress' : 'ingress'))), 'only the faulted direction is counted');

      const deletedAt = Date.now();
      await deleteChaos(namespace, 'cut');
      await until('A→B and B→A connect again', 5_000 - (Date.now() - deletedAt) + 60_000, async () => await connects(a, b) && await connects(b, a));
      t.diagnostic(`delete → whole again: ${Date.now() - deletedAt} ms`);
      assert.deepEqual(await kernelStates([a, b, c]), before, 'every pod\'s tc, nftables, iptables and ipset state as before');
    });
  }

  it('bandwidth 8mbit from A to B: the measured throughput is within ±10%, and nothing is left', async (t: TestContext) => {
    const namespace = await net.fx.newApp(2);
    const [a, b] = await net.appPods(namespace) as [AppPod, AppPod];
    const before = await kernelStates([a, b]);
    const sink: Server = await tools.serve(b.netns, ['tcp-serve', String(BULK_PORT)]);
    try {
      await net.fx.applyChaos(namespace, 'cap', {
        action: 'bandwidth', direction: 'to', selector: podSelector(namespace, a), target: { mode: 'all', selector: podSelector(namespace, b) },
        bandwidth: { rate: '8mbit', limit: 200_000, buffer: 20_000 },
      });
      await net.fx.waitChaos(namespace, 'cap', 'injected', injected);
      const { bitsPerSecond } = await tools.traffic<{ bitsPerSecond: number }>(a.netns, ['tcp-bulk', b.ip, String(BULK_PORT), '5']);
      // tbf counts whole Ethernet frames; the receiver counts TCP payload: 1448 of every 1514 bytes at MTU 1500.
      const goodput = 8e6 * 1448 / 1514;
      t.diagnostic(`measured ${(bitsPerSecond / 1e6).toFixed(2)} Mbit/s of TCP payload under an 8mbit cap (${(goodput / 1e6).toFixed(2)} expected)`);
      assert.ok(Math.abs(bitsPerSecond / goodput - 1) <= 0.1, `throughput ${(bitsPerSecond / 1e6).toFixed(2)} Mbit/s is not within 10% of ${(goodput / 1e6).toFixed(2)}`);
      const proven = await net.fx.waitChaos(namespace, 'cap', 'evidence', (x) => (x.status?.targets?.[0]?.evidence?.counters ?? []).some((k) => k.kind === 'tbf' && k.packets > 1000 && (k.overlimits ?? 0) > 0), 30_000);
      t.diagnostic(`evidence: ${JSON.stringify(proven.status?.targets?.[0]?.evidence)}`);
      await deleteChaos(namespace, 'cap');
    } finally {
      await sink.stop();
    }
    assert.deepEqual(await kernelStates([a, b]), before);
  });

  it('loss 20% from A to B over 3000 probes (nftables here): within 3σ, and nothing is left', async (t: TestContext) => {
    const namespace = await net.fx.newApp(2);
    const [a, b] = await net.appPods(namespace) as [AppPod, AppPod];
    const before = await kernelStates([a, b]);
    const echo = await tools.serve(b.netns, ['udp-echo', String(PROBE_PORT)]);
    try {
      await net.fx.applyChaos(namespace, 'lossy', { action: 'loss', direction: 'to', loss: { loss: '20' }, selector: podSelector(namespace, a), target: { mode: 'all', selector: podSelector(namespace, b) } });
      await net.fx.waitChaos(namespace, 'lossy', 'injected', injected);
      const probes = 3000;
      const result = await tools.traffic<{ sent: number; received: number }>(a.netns, ['udp-probe', b.ip, String(PROBE_PORT), String(probes), '1'], 120_000);
      const lost = 1 - result.received / result.sent;
      const sigma = Math.sqrt(0.2 * 0.8 / probes);
      t.diagnostic(`lost ${(lost * 100).toFixed(2)}% of ${result.sent} probes (3σ = ${(3 * sigma * 100).toFixed(2)} points)`);
      assert.ok(Math.abs(lost - 0.2) <= 3 * sigma, `loss ${(lost * 100).toFixed(2)}% is not within 3σ of 20%`);
      await deleteChaos(namespace, 'lossy');
    } finally {
      await echo.stop();
    }
    assert.deepEqual(await kernelStates([a, b]), before);
  });

  it('externalTargets with a CIDR and with ip:port, and a ports filter: what must be hit is, what must not is not', async () => {
    const namespace = await net.fx.newApp(3);
    const [a, b, c] = await net.appPods(namespace) as [AppPod, AppPod, AppPod];
    const before = await kernelStates([a, b, c]);

    await net.fx.applyChaos(namespace, 'cidr', { action: 'partition', selector: podSelector(namespace, a), externalTargets: [`${b.ip}/32`], ports: [ECHO_PORT], protocol: 'tcp' });
    await until('A→B:7000 cut', 5_000, async () => !await connects(a, b, ECHO_PORT));
    assert.ok(await connects(a, b, HTTP_PORT), 'A→B on another port is not hit');
    assert.ok(await connects(a, c, ECHO_PORT), 'A→C is not hit');
    await deleteChaos(namespace, 'cidr');
    await until('A→B:7000 whole', 5_000, async () => connects(a, b, ECHO_PORT));

    await net.fx.applyChaos(namespace, 'hostport', { action: 'partition', selector: podSelector(namespace, a), externalTargets: [`${c.ip}:${HTTP_PORT}`] });
    await until('A→C:8080 cut', 5_000, async () => !await connects(a, c, HTTP_PORT));
    assert.ok(await connects(a, c, ECHO_PORT), 'A→C on another port is not hit');
    assert.ok(await connects(a, b, HTTP_PORT), 'A→B is not hit');
    await deleteChaos(namespace, 'hostport');
    await until('A→C:8080 whole', 5_000, async () => connects(a, c, HTTP_PORT));
    assert.deepEqual(await kernelStates([a, b, c]), before);
  });

  it('delay on a kernel without sch_netem: refused with the daemon\'s reason in the target, the condition and an Event; nothing applied', async () => {
    const namespace = await net.fx.newApp(2);
    const [a, b] = await net.appPods(namespace) as [AppPod, AppPod];
    const before = await kernelStates([a, b]);
    await net.fx.applyChaos(namespace, 'slow', { action: 'delay', delay: { latency: '100ms' }, selector: podSelector(namespace, a) });
    const failed = await net.fx.waitChaos(namespace, 'slow', 'refused', failedInjection);
    const record = failed.status?.targets?.[0];
    assert.equal(record?.phase, 'Failed');
    assert.match(record?.message ?? '', /sch_netem.*delay unavailable on node/);
    assert.match(condition(failed, 'AllInjected')?.message ?? '', /sch_netem/);
    const events = await net.fx.chaosEvents(namespace, 'slow');
    assert.ok(events.some((e) => e.type === 'Warning' && e.message.includes('sch_netem')), `a Warning Event names sch_netem: ${JSON.stringify(events.map((e) => e.message))}`);
    assert.equal(await faulted(a), false);
    await deleteChaos(namespace, 'slow');
    assert.deepEqual(await kernelStates([a, b]), before);
  });

  it('verify: a partition A to B is measured from inside A, answered before and not during: Verified; with no peers to probe, Unmeasured', async (t: TestContext) => {
    const namespace = await net.fx.newApp(3);
    const [a, b, c] = await net.appPods(namespace) as [AppPod, AppPod, AppPod];
    const before = await kernelStates([a, b, c]);
    await net.fx.applyChaos(namespace, 'measured', { action: 'partition', verify: true, selector: podSelector(namespace, a), target: { mode: 'all', selector: podSelector(namespace, b) } });
    const running = await net.fx.waitChaos(namespace, 'measured', 'injected', injected);
    const verification = running.status?.targets?.[0]?.verification;
    t.diagnostic(`verification: ${JSON.stringify(verification)}`);
    assert.equal(verification?.verdict, 'Verified', JSON.stringify(verification));
    assert.equal(verification?.configured, `partition to ${b.ip}`);
    assert.match(verification?.measured ?? '', /^answered [1-9][0-9]*\/5 before, 0\/5 during$/);
    assert.ok(!await connects(a, b), 'and the partition is there for the user too');
    // With neither target nor externalTargets the fault is on every peer: nothing names a peer to connect to.
    await net.fx.applyChaos(namespace, 'everyone', { action: 'partition', verify: true, selector: podSelector(namespace, c) });
    const unmeasured = (await net.fx.waitChaos(namespace, 'everyone', 'injected', injected)).status?.targets?.[0]?.verification;
    assert.equal(unmeasured?.verdict, 'Unmeasured', JSON.stringify(unmeasured));
    assert.match(unmeasured?.message ?? '', /every peer/);
    await deleteChaos(namespace, 'measured');
    await deleteChaos(namespace, 'everyone');
    assert.deepEqual(await kernelStates([a, b, c]), before);
  });

  it('level-triggered: with mode all, pods added by a scale-up and a deleted target\'s replacement are injected within 5 s; all recover', async (t: TestContext) => {
    const namespace = await net.fx.newApp(2);
    const outside = await net.fx.newApp(1);
    const [peer] = await net.appPods(outside) as [AppPod];
    await net.fx.applyChaos(namespace, 'follow', { action: 'partition', duration: '10m', externalTargets: [`${peer.ip}/32`] });
    await net.fx.waitChaos(namespace, 'follow', 'injected', injected);
    for (const pod of await net.appPods(namespace)) assert.ok(await faulted(pod), `${pod.name} faulted`);

    await kubectl(net.plane, ['scale', `deployment/${SAMPLE_APP}`, '-n', namespace, '--replicas=3']);
    await kubectl(net.plane, ['rollout', 'status', `deployment/${SAMPLE_APP}`, '-n', namespace, '--timeout=120s'], { timeoutMs: 150_000 });
    const readyAt = Date.now();
    const scaled = await net.appPods(namespace);
    const known = new Set((await net.fx.getChaos(namespace, 'follow')).status?.targets?.map((x) => x.uid));
    const added = scaled.find((p) => !known.has(p.uid)) ?? scaled.at(-1);
    assert.ok(added);
    const addedMs = await until('the new pod faulted', 5_000, async () => faulted(added));
    t.diagnostic(`scale-up → new pod faulted: ${Date.now() - readyAt} ms after Ready (${addedMs} ms of polling)`);

    const victim = scaled[0] as AppPod;
    await kubectl(net.plane, ['delete', 'pod', victim.name, '-n', namespace, '--wait=false']);
    await kubectl(net.plane, ['rollout', 'status', `deployment/${SAMPLE_APP}`, '-n', namespace, '--timeout=120s'], { timeoutMs: 150_000 });
    const replacement = (await net.appPods(namespace)).find((p) => !scaled.some((s) => s.uid === p.uid));
    assert.ok(replacement, 'a replacement pod');
    await until('the replacement faulted', 5_000, async () => faulted(replacement));
    const chaos = await net.fx.waitChaos(namespace, 'follow', 'records follow', (x) => x.status?.targets?.find((r) => r.uid === victim.uid)?.phase === 'Recovered'
      && x.status.targets.some((r) => r.uid === replacement.uid && r.phase === 'Injected'));
    assert.equal(chaos.status?.injected, 3);
    const reasons = (await net.fx.chaosEvents(namespace, 'follow')).map((e) => e.reason);
    assert.ok(reasons.includes('TargetAdded') && reasons.includes('TargetGone'), `Events: ${reasons.join(',')}`);

    const live = await net.appPods(namespace);
    await deleteChaos(namespace, 'follow');
    for (const pod of live) await until(`${pod.name} clean`, 5_000, async () => !await faulted(pod));
  });

  it('recovery whatever fails: deleted mid-run, the controller killed, the daemon pod killed: nothing is left', async (t: TestContext) => {
    const namespace = await net.fx.newApp(2);
    const [a, b] = await net.appPods(namespace) as [AppPod, AppPod];
    const before = await kernelStates([a, b]);
    const spec = { action: 'partition' as const, duration: '10m', selector: podSelector(namespace, a), target: { mode: 'all' as const, selector: podSelector(namespace, b) } };

    // The controller gone: its lease on the daemon lapses and the daemon reverts by itself.
    await net.fx.applyChaos(namespace, 'orphan', spec);
    await until('faulted', 10_000, async () => faulted(a));
    await net.fx.scaleController(0);
    const goneAt = Date.now();
    await until('reverted by the daemon alone', 30_000, async () => !await faulted(a));
    t.diagnostic(`controller gone → reverted by the daemon: ${Date.now() - goneAt} ms`);
    assert.deepEqual(await kernelStates([a, b]), before);
    await net.fx.scaleController(2);
    await deleteChaos(namespace, 'orphan');

    // The daemon pod killed mid-run: the next daemon holds the fault from its journal, and the delete still clears it.
    await net.fx.applyChaos(namespace, 'daemonless', spec);
    await until('faulted', 10_000, async () => faulted(a));
    await kubectl(net.plane, ['delete', 'pod', '-n', KERRIS_NAMESPACE, '-l', 'app.kubernetes.io/component=daemon', '--wait=true']);
    assert.ok(await faulted(a), 'the fault outlives the daemon process');
    await deleteChaos(namespace, 'daemonless');
    await until('cleared after the daemon returned', 60_000, async () => !await faulted(a));
    assert.deepEqual(await kernelStates([a, b]), before);
  });
});
