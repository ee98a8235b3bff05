// NetworkChaos through the operator on a node whose kernel has sch_netem (the netem node: Debian's stock kernel in the
// test bed's VM, joined to the test-bed cluster). The controller on the host node drives the daemon on the netem node,
// and every check is what a user would see from the pods: ping RTTs, their spread, lost, duplicated, corrupted and
// reordered packets. After each experiment the pods' qdiscs, classes, filters, links and nftables rules are as before.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test, type TestContext } from 'node:test';
import { stringify } from 'yaml';
import type { NetworkChaos, NetworkChaosSpec } from '../../../src/api/generated/types.ts';
import type { ControlPlane, NetemNode } from '../../testbed/index.ts';
import { kubectl, kubectlJson } from '../../testbed/kubectl.ts';
import { median, netemExec, netemNetworkState, netemSession, ping, startNetemPods, type NetemPod, type NetemSession, type PingReply } from '../../testbed/netem-node/pods.ts';
import { createNamespace, deleteNamespace } from '../../testbed/node/testing.ts';

let plane: ControlPlane;
let netem: NetemNode;
let a: NetemPod;
let b: NetemPod;
const namespace = `netem-chaos-${randomBytes(3).toString('hex')}`;
let session: NetemSession | undefined;

const conditionOf = (c: NetworkChaos, type: string) => c.status?.conditions?.find((x) => x.type === type);

async function waitChaos(name: string, what: string, done: (c: NetworkChaos) => boolean, timeoutMs = 90_000): Promise<NetworkChaos> {
  const deadline = Date.now() + timeoutMs;
  let last: NetworkChaos | undefined;
  while (Date.now() < deadline) {
    last = await kubectlJson<NetworkChaos>(plane, ['get', 'networkchaos', name, '-n', namespace]);
    if (done(last)) return last;
    await sleep(250);
  }
  assert.fail(`${name}: ${what} not reached in ${timeoutMs} ms; status: ${JSON.stringify(last?.status, null, 1)}`);
}

/**
 * Applies `spec` on pod a (mode all over a alone), scoped to pod b, waits until it is injected, runs `measure`, deletes
 * it, and checks that both pods' network state is as before. Returns what `measure` returned and the chaos as injected.
 */
async function withChaos<T>(name: string, spec: Partial<NetworkChaosSpec>, measure: (chaos: NetworkChaos) => Promise<T>): Promise<{ result: T; chaos: NetworkChaos }> {
  const before = await Promise.all([netemNetworkState(plane, namespace, a.name), netemNetworkState(plane, namespace, b.name)]);
  const manifest = {
    apiVersion: 'chaos.kerris.dev/v1alpha1', kind: 'NetworkChaos', metadata: { name, namespace },
    spec: { mode: 'all', selector: { pods: { [namespace]: [a.name] } }, target: { mode: 'all', selector: { pods: { [namespace]: [b.name] } } }, ...spec },
  };
  await kubectl(plane, ['apply', '-f', '-'], { input: stringify(manifest) });
  try {
    const chaos = await waitChaos(name, 'injected', (c) => conditionOf(c, 'AllInjected')?.status === 'True');
    return { result: await measure(chaos), chaos };
  } finally {
    await kubectl(plane, ['delete', 'networkchaos', name, '-n', namespace, '--wait=true', '--timeout=90s'], { timeoutMs: 120_000 });
    const after = await Promise.all([netemNetworkState(plane, namespace, a.name), netemNetworkState(plane, namespace, b.name)]);
    assert.deepEqual(after, before, `${name}: the pods' network state is as before`);
  }
}

const replies = (list: readonly PingReply[]): PingReply[] => list.filter((r) => !r.duplicate);
const stddev = (values: readonly number[]): number => {
  const mean = values.reduce((s, v) => s + v, 0) / values.length;
  return Math.sqrt(values.reduce((s, v) => s + (v - mean) ** 2, 0) / values.length);
};

/** The IP and ICMP error counters of the pod's network namespace: a corrupted packet shows up here at the receiver. */
async function receiveErrors(pod: string): Promise<number> {
  const snmp = await netemExec(plane, namespace, pod, 'workload', ['cat', '/proc/net/snmp']);
  const lines = snmp.split('\n');
  const count = (proto: string, fields: readonly string[]): number => {
    const [header, values] = lines.filter((l) => l.startsWith(`${proto}:`)).map((l) => l.split(/\s+/).slice(1));
    return fields.reduce((sum, f) => sum + Number(values?.[header?.indexOf(f) ?? -1] ?? 0), 0);
  };
  return count('Ip', ['InHdrErrors', 'InAddrErrors']) + count('Icmp', ['InCsumErrors', 'InErrors']);
}

describe('NetworkChaos on a stock kernel with sch_netem, through the operator', { timeout: 1_800_000 }, () => {
  before(async () => {
    session = await netemSession();
    ({ plane, netem } = session);
    await createNamespace(plane, namespace);
    [a, b] = await startNetemPods(plane, netem, namespace, ['a', 'b']) as [NetemPod, NetemPod];
  });

  after(async () => {
    if (session === undefined) return;
    await deleteNamespace(plane, namespace);
    await session.release();
  });

  test('delay 100ms to the peer: the RTT grows by 100 ± 5 ms, status says so and counts the delayed packets', async (t: TestContext) => {
    const baseline = median(replies(await ping(plane, namespace, a.name, b.ip, 20)).map((r) => r.ms));
    const { result: during, chaos } = await withChaos('delay', { action: 'delay', direction: 'to', delay: { latency: '100ms' } }, async () => {
      const rtts = replies(await ping(plane, namespace, a.name, b.ip, 20)).map((r) => r.ms);
      const proven = await waitChaos('delay', 'evidence', (c) => (c.status?.targets?.[0]?.evidence?.counters ?? []).some((k) => k.kind === 'netem' && k.packets > 0), 40_000);
      t.diagnostic(`evidence: ${JSON.stringify(proven.status?.targets?.[0]?.evidence?.counters)}`);
      return rtts;
    });
    const increase = median(during) - baseline;
    t.diagnostic(`RTT median a → b: ${baseline} ms before, ${median(during)} ms during (+${increase.toFixed(2)}); expected: ${chaos.status?.network?.expectedRtt}`);
    assert.equal(during.length, 20, 'no ping lost');
    assert.ok(Math.abs(increase - 100) <= 5, `RTT grew by ${increase.toFixed(2)} ms, expected 100 ± 5`);
    assert.match(chaos.status?.network?.expectedRtt ?? '', /^\+100ms per round trip/);
    const after = median(replies(await ping(plane, namespace, a.name, b.ip, 10)).map((r) => r.ms));
    assert.ok(after < baseline + 5, `RTT after delete ${after} ms, before ${baseline} ms`);
  });

  test('delay with jitter: the RTTs spread by about the jitter around the latency', async (t: TestContext) => {
    const baselineRtts = replies(await ping(plane, namespace, a.name, b.ip, 10)).map((r) => r.ms);
    const baseline = median(baselineRtts);
    // The VM runs under TCG, and a busy guest (kubelet, containerd, the daemon's own tc reads) only ever adds delay: it
    // can push a whole window of replies late. So the fault is measured in up to three windows of 60 pings while it is
    // held, and one window must show the jitter. netem's bounds hold in every window, noisy or not: it never sends a
    // packet before latency - jitter.
    const judge = (rtts: readonly number[]): string | undefined => {
      const spread = stddev(rtts);
      if (Math.abs(median(rtts) - baseline - 60) > 8) return `median ${median(rtts).toFixed(1)} ms is not 60 ± 8 ms above ${baseline}`;
      // netem's default jitter is uniform over ±jitter: a standard deviation of jitter/√3 ≈ 11.5 ms.
      if (spread < 7 || spread > 20) return `stddev ${spread.toFixed(1)} ms is not about 11.5 ms (TCG adds a few)`;
      return undefined;
    };
    const { result: windows } = await withChaos('jitter', { action: 'delay', delay: { latency: '60ms', jitter: '20ms' } }, async () => {
      const seen: { rtts: number[]; fault: string | undefined }[] = [];
      for (let window = 1; window <= 3; window++) {
        const rtts = replies(await ping(plane, namespace, a.name, b.ip, 60, 0.1)).map((r) => r.ms);
        const fault = judge(rtts);
        seen.push({ rtts, fault });
        t.diagnostic(`window ${window}, 60ms ± 20ms: median ${median(rtts).toFixed(1)} ms, stddev ${stddev(rtts).toFixed(1)} ms, min ${Math.min(...rtts)} ms over ${rtts.length} replies${fault === undefined ? '' : `: ${fault}`}`);
        if (fault === undefined) break;
      }
      return seen;
    });
    for (const { rtts } of windows) {
      assert.ok(rtts.length >= 55, `${rtts.length} of 60 pings answered`);
      assert.ok(Math.min(...rtts) >= Math.min(...baselineRtts) + 40 - 1, `a reply came ${Math.min(...rtts)} ms after its ping: sooner than latency - jitter (40 ms) above the fastest baseline ${Math.min(...baselineRtts)} ms`);
    }
    const passed = windows.find((w) => w.fault === undefined);
    assert.ok(passed !== undefined, `no window showed 60 ± 20 ms: ${windows.map((w) => w.fault).join('; ')}`);
  });

  test('loss 20% over 2000 probes (netem): within 3σ', async (t: TestContext) => {
    const probes = 2000;
    const { result: answered } = await withChaos('loss', { action: 'loss', loss: { loss: '20' } }, async () => replies(await ping(plane, namespace, a.name, b.ip, probes, 0.01)).length);
    const lost = 1 - answered / probes;
    const sigma = Math.sqrt(0.2 * 0.8 / probes);
    t.diagnostic(`lost ${(lost * 100).toFixed(2)}% of ${probes} pings (3σ = ${(3 * sigma * 100).toFixed(2)} points)`);
    assert.ok(Math.abs(lost - 0.2) <= 3 * sigma, `loss ${(lost * 100).toFixed(2)}% is not within 3σ of 20%`);
  });

  test('duplicate 50%: the receiver answers duplicates, about one for every other ping', async (t: TestContext) => {
    const pings = 200;
    const { result } = await withChaos('dup', { action: 'duplicate', duplicate: { duplicate: '50' } }, async () => ping(plane, namespace, a.name, b.ip, pings, 0.05));
    const duplicates = result.filter((r) => r.duplicate).length;
    const sigma = Math.sqrt(0.5 * 0.5 / pings);
    t.diagnostic(`${duplicates} duplicate replies to ${pings} pings`);
    assert.ok(Math.abs(duplicates / pings - 0.5) <= 3 * sigma, `duplicates ${duplicates}/${pings} not within 3σ of 50%`);
  });

  test('corrupt 30%: the receiver counts damaged packets and does not answer them', async (t: TestContext) => {
    const pings = 200;
    const errorsBefore = await receiveErrors(b.name);
    const { result } = await withChaos('corrupt', { action: 'corrupt', corrupt: { corrupt: '30' } }, async () => ping(plane, namespace, a.name, b.ip, pings, 0.05));
    const errors = await receiveErrors(b.name) - errorsBefore;
    const unanswered = 1 - replies(result).length / pings;
    t.diagnostic(`${(unanswered * 100).toFixed(1)}% of ${pings} pings unanswered; ${errors} IP/ICMP receive errors counted at the receiver`);
    assert.ok(errors > 0, 'the receiver\'s kernel counted corrupted packets');
    assert.ok(unanswered > 0.1 && unanswered < 0.5, `unanswered ${(unanswered * 100).toFixed(1)}%: about 30% (a flipped bit in a MAC address is lost without a count)`);
  });

  test('reorder 50% behind a 100ms delay: replies arrive out of order, the reordered ones without the delay', async (t: TestContext) => {
    const { result } = await withChaos('reorder', { action: 'delay', delay: { latency: '100ms', reorder: { reorder: '50' } } }, async () => ping(plane, namespace, a.name, b.ip, 100, 0.02));
    const arrived = replies(result);
    const inversions = arrived.filter((r, i) => i > 0 && r.seq < (arrived[i - 1]?.seq ?? 0)).length;
    const fast = arrived.filter((r) => r.ms < 50).length;
    t.diagnostic(`${arrived.length} replies, ${inversions} arrived after a later one, ${fast} without the delay`);
    assert.ok(inversions >= 10, `only ${inversions} inversions in ${arrived.length} replies`);
    assert.ok(fast >= 25 && fast <= 75, `${fast} of ${arrived.length} replies skipped the delay; about half should`);
  });
});
