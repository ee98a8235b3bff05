/**
 * Runs inside the stock-kernel VM: loss, duplicate, corrupt and reorder
 * through the real engine, measured where the packets land: sequence-numbered,
 * checksummed UDP probes checked by the peer, and the peer's kernel counters.
 * Prints one JSON object; the host test (test/vm/net-netem.test.ts) judges it.
 */
import { writeFile } from 'node:fs/promises';
import { probeCapabilities } from '../../../src/daemon/preflight.ts';
import { counterDelta, injected, snmp } from './net-inject.ts';
import { createLab } from './net-lab.ts';
import type { Peer } from './net-lab.ts';

interface SinkResult {
  received: number;
  duplicates: number;
  corrupted: number;
  inversions: number;
  descents: number;
}

const PROBES = 2000;
const GAP_MS = 2;
const QUIET_MS = 3_000;
const COUNTERS = ['Ip.InReceives', 'Ip.InHdrErrors', 'Udp.InDatagrams', 'Udp.InErrors', 'Udp.InCsumErrors', 'Udp.NoPorts', 'Udp.RcvbufErrors'];

// Under TCG the receiver drains its socket in bursts; bigger default buffers keep probes from being dropped there.
// This changes the throwaway VM only.
await writeFile('/proc/sys/net/core/rmem_max', '16777216');
await writeFile('/proc/sys/net/core/rmem_default', '16777216');

const caps = await probeCapabilities('kernel-vm');
const lab = await createLab(1);
try {
  const [peer] = lab.peers as [Peer];
  /** Sends sequence-numbered probes from the target; the peer checks them where they land, with its kernel counters. */
  const probe = async (count: number, gapMs: number) => {
    const before = await snmp(lab, peer.netns);
    const sink = await lab.serve(peer.netns, ['udp-sink', '7100', String(QUIET_MS)]);
    await lab.traffic(lab.target, ['udp-send', peer.ipv4, '7100', String(count), String(gapMs)], 300_000);
    const seen = await sink.finished<SinkResult>();
    return { sent: count, ...seen, peer: counterDelta(before, await snmp(lab, peer.netns), COUNTERS) };
  };
  // Faults are scoped to UDP: a corrupted ARP reply would poison the peer's neighbour cache and silence every later case.
  const run = async (name: string, fault: Record<string, unknown>, count = PROBES, gapMs = GAP_MS) => {
    const { value, leftovers } = await injected(lab, caps, [{ ...fault, scope: { protocol: 'udp' } }], () => probe(count, gapMs));
    return { name, ...value, leftovers };
  };

  await probe(20, GAP_MS);
  const baseline = { name: 'baseline', ...(await probe(PROBES, GAP_MS)) };
  const loss = await run('loss 10%', { action: 'loss', loss: { loss: '10' } });
  const duplicate = await run('duplicate 10%', { action: 'duplicate', duplicate: { duplicate: '10' } });
  const corrupt = await run('corrupt 10%', { action: 'corrupt', corrupt: { corrupt: '10' } });
  const reorder = await run('reorder 25% gap 5 with 10ms', { action: 'reorder', reorder: { reorder: '25', gap: 5, latency: '10ms' } }, 1000, 1);
  const delayOnly = await run('delay 10ms without reorder', { action: 'delay', delay: { latency: '10ms' } }, 1000, 1);
  process.stdout.write(`${JSON.stringify({ baseline, loss, duplicate, corrupt, reorder, delayOnly })}\n`);
} finally {
  await lab.close();
}
