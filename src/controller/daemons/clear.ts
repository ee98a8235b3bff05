/**
 * Taking an experiment's held faults away through the node daemons: an empty Sync on every node with a daemon and
 * on every node a target ran on, which also clears anything the records do not list. Shared by every fault that
 * the daemons hold (pod-failure, container-kill's records, NetworkChaos).
 */
import { formatTime } from '../../kube/time.ts';
import { mapLimit } from '../../util/concurrency.ts';
import type { RecoverOutcome, TargetRecord } from '../engine/experiment.ts';
import type { ClusterView } from '../targets/cluster-view.ts';
import { DaemonUnavailableError, type DaemonFleet } from './fleet.ts';

export interface ClearOptions {
  fleet: DaemonFleet;
  view: ClusterView;
  now: () => Date;
}

/**
 * Clears `experiment` on the nodes and returns the targets' records: Recovered with `recoveredMessage(target)` where
 * their node answered (or is gone), waiting otherwise. Complete once every node that may hold the faults answered.
 */
export async function clearExperiment(options: ClearOptions, experiment: string, targets: readonly TargetRecord[], recoveredMessage: (target: TargetRecord) => string): Promise<RecoverOutcome> {
  const { fleet, view, now } = options;
  const known = view.nodeLabels();
  const nodes = new Set(fleet.nodes());
  const targetNodes = new Set(targets.flatMap((t) => (t.node !== undefined && known.has(t.node) ? [t.node] : [])));
  for (const node of targetNodes) nodes.add(node);
  const problems: string[] = [];
  const clearedNodes = new Set<string>();
  await mapLimit([...nodes].sort(), 16, async (node) => {
    try {
      const sync = await fleet.sync(node, experiment, []);
      if (sync.revertFailed.length > 0) problems.push(`node ${node}: ${sync.revertFailed.length} revert(s) failed, the daemon retries: ${sync.revertFailed[0]?.message ?? ''}`);
      else clearedNodes.add(node);
    } catch (error) {
      if (!(error instanceof DaemonUnavailableError)) throw error;
      // Only a node that may hold this experiment's faults keeps recovery open; it reverts by itself when its lease lapses.
      if (targetNodes.has(node)) problems.push(error.message);
      else clearedNodes.add(node);
    }
  });
  const at = formatTime(now().getTime());
  const records = targets.map((t) => (t.node === undefined || clearedNodes.has(t.node) || !known.has(t.node)
    ? { ...t, phase: 'Recovered' as const, recoveredAt: at, message: t.node !== undefined && !known.has(t.node) ? `node ${t.node} is gone, and its faults with it` : recoveredMessage(t) }
    : { ...t, message: `waiting for node ${t.node}'s daemon to take the fault away` }));
  return {
    targets: records,
    complete: problems.length === 0,
    message: problems.length === 0 ? `taken away on ${clearedNodes.size} node(s)` : problems.slice(0, 3).join('; '),
  };
}
