/**
 * Runs inside the stock-kernel VM: delay and jitter through the real engine,
 * measured with ping from the target to a peer. Prints one JSON object; the
 * host test (test/vm/net-netem.test.ts) judges it.
 */
import { probeCapabilities } from '../../../src/daemon/preflight.ts';
import { injected, median, pingRtts, stdev } from './net-inject.ts';
import { createLab } from './net-lab.ts';
import type { Peer } from './net-lab.ts';

const PINGS = 40;

const caps = await probeCapabilities('kernel-vm');
const lab = await createLab(2);
try {
  const [peer0, peer1] = lab.peers as [Peer, Peer];
  const rtts = (count = PINGS): Promise<number[]> => pingRtts(lab, lab.target, peer0.ipv4, count);
  // The first pings pay for ARP and cold caches; warm up before the baseline.
  await rtts(5);
  const baseline = await rtts();

  const delay = async (name: string, latencyMs: number, scope: Record<string, unknown>) => {
    const { value, leftovers } = await injected(lab, caps, [{ action: 'delay', delay: { latency: `${latencyMs}ms` }, scope }], () => rtts());
    return { name, latencyMs, medianMs: median(value), received: value.length, leftovers };
  };
  const cases = [
    await delay('egress 10ms', 10, { direction: 'egress' }),
    await delay('egress 100ms', 100, { direction: 'egress' }),
    await delay('ingress 10ms through ifb', 10, { direction: 'ingress', cidrs: [`${peer0.ipv4}/32`] }),
  ];

  // Scoped to peer0's address: pings to peer1 must keep their baseline.
  const scoped = await injected(lab, caps, [{ action: 'delay', delay: { latency: '50ms' }, scope: { cidrs: ['10.77.1.0/24'], protocol: 'icmp' } }], async () => ({
    hit: median(await rtts(20)),
    spared: median(await pingRtts(lab, lab.target, peer1.ipv4, 20)),
  }));

  const jitter = await injected(lab, caps, [{ action: 'delay', delay: { latency: '50ms', jitter: '20ms' } }], () => rtts(80));

  const after = await rtts();
  process.stdout.write(`${JSON.stringify({
    kernel: caps,
    baseline: { medianMs: median(baseline), rtts: baseline },
    cases,
    scoped: { ...scoped.value, leftovers: scoped.leftovers },
    jitter: { latencyMs: 50, jitterMs: 20, rtts: jitter.value, stdevMs: stdev(jitter.value), leftovers: jitter.leftovers },
    after: { medianMs: median(after) },
  })}\n`);
} finally {
  await lab.close();
}
