/**
 * What the node daemons' kernels counted for an experiment's held network faults (NetworkChaos, NodeChaos
 * node-network), written into the targets' records: `evidence`, the proof that the fault is doing something.
 */
import { formatTime } from '../../kube/time.ts';
import { mapLimit } from '../../util/concurrency.ts';
import type { TargetRecord } from '../engine/experiment.ts';
import { DaemonUnavailableError, type DaemonFleet } from './fleet.ts';

/** Status keeps at most this many counters per target (src/api/chaos-status.ts). */
const MAX_COUNTERS = 32;

/**
 * Each held target's record with the counters its node's daemon read from the kernel. Injection IDs carry the
 * target's UID second (`<experiment>/<uid>/…`), which is how a counter finds its record; a node whose daemon cannot
 * be reached gives none this time.
 */
export async function withNetworkEvidence(fleet: DaemonFleet, experiment: string, held: readonly TargetRecord[], nowMs: number): Promise<TargetRecord[]> {
  const nodes = new Set(held.flatMap((t) => (t.node === undefined ? [] : [t.node])));
  const counted = new Map<string, NonNullable<TargetRecord['evidence']>>();
  await mapLimit([...nodes], 16, async (node) => {
    let found;
    try {
      found = await fleet.evidence(node, experiment);
    } catch (error) {
      // No evidence this time; the fault itself is restated and followed as usual.
      if (error instanceof DaemonUnavailableError) return;
      throw error;
    }
    for (const [id, { counters, ageMs }] of found) {
      const uid = id.split('/')[1] ?? '';
      counted.set(uid, {
        observedAt: formatTime(nowMs - ageMs),
        counters: counters.slice(0, MAX_COUNTERS).map((c) => ({
          // An nftables rule on several interfaces names them all; status keeps the first and says there are more.
          device: c.device.includes(',') ? `${c.device.split(',')[0] ?? ''}+`.slice(0, 15) : c.device.slice(0, 15),
          direction: c.direction === 'ingress' ? 'ingress' : 'egress',
          kind: c.kind.slice(0, 16),
          fault: c.fault.slice(0, 16),
          packets: Number(c.packets),
          bytes: Number(c.bytes),
          dropped: Number(c.dropped),
          overlimits: Number(c.overlimits),
        })),
      });
    }
  });
  return held.map((t) => {
    const found = counted.get(t.uid);
    return found === undefined ? t : { ...t, evidence: found };
  });
}
