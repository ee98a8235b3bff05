/**
 * NodeChaos `kubelet-stop`, held by the node daemons: each target node gets one injection whose target is the node
 * itself, and its daemon stops the node's kubelet until the injection is taken away (or its deadline passes, its
 * lease lapses, or the daemon dies: daemon.proto KubeletStop). The node goes NotReady on its own; recovery is done
 * once it is Ready again.
 */
import type { NodeChaos } from '../../api/generated/types.ts';
import type { InjectionInput } from '../../daemon/client.ts';
import { formatTime } from '../../kube/time.ts';
import type { Store } from '../../runtime/store.ts';
import { mapLimit } from '../../util/concurrency.ts';
import type { ApplyContext, Fault, RecoverOutcome, TargetRecord } from '../engine/experiment.ts';
import { clearExperiment } from '../daemons/clear.ts';
import { daemonDeadlineMs, experimentOf } from '../daemons/injection.ts';
import { DaemonUnavailableError, type DaemonFleet } from '../daemons/fleet.ts';
import type { ClusterView } from '../targets/cluster-view.ts';
import { isNodeReady, readinessSeen, type NodeObject } from './node-changes.ts';

/** How long recovery waits for a node to be Ready again once its kubelet runs, before it says so and ends. */
export const READY_AGAIN_WAIT_MS = 5 * 60_000;
const MESSAGE_MAX = 1_000;

export interface KubeletStopOptions {
  fleet: DaemonFleet;
  view: ClusterView;
  nodes: Store<NodeObject>;
  now: () => Date;
}

const injectionId = (chaos: NodeChaos, nodeUid: string): string => `${experimentOf(chaos)}/${nodeUid}/kubelet`;

export function kubeletStopFault(options: KubeletStopOptions): Fault<NodeChaos> {
  const { fleet, nodes, now } = options;
  const at = () => formatTime(now().getTime());
  /** The record with what the node's Ready condition did since it was last written. */
  const withReadiness = (target: TargetRecord): TargetRecord => {
    const record = target.nodeFault ?? {};
    const seen = readinessSeen(nodes.get(target.name), record, at());
    return Object.keys(seen).length === 0 ? target : { ...target, nodeFault: { ...record, ...seen } };
  };

  /** States the node's one injection; the new record, or the same one when nothing changed for a held target. */
  async function state(chaos: NodeChaos, target: TargetRecord, fresh: boolean, deadlineInMs: number): Promise<TargetRecord> {
    const node = target.name;
    const injection: InjectionInput = { id: injectionId(chaos, target.uid), target: { node: true }, fault: { kind: 'kubelet-stop' }, ...(deadlineInMs > 0 ? { deadlineInMs } : {}) };
    try {
      if (fresh) {
        const refusal = await fleet.refusal(node, 'kubelet-stop');
        if (refusal !== undefined) return { ...target, phase: 'Failed', message: `nothing applied: ${refusal}` };
      }
      const sync = await fleet.sync(node, experimentOf(chaos), [injection]);
      const item = sync.items.find((i) => i.id === injection.id);
      if (item === undefined || !item.ok) {
        const why = item === undefined ? 'the daemon did not answer for it' : `${item.code}: ${item.message}`;
        // A held stop the daemon no longer keeps is said, not hidden: the node is no longer under the fault.
        return { ...target, ...(fresh ? { phase: 'Failed' as const } : {}), message: `the kubelet ${fresh ? 'was not stopped' : 'is no longer held stopped'}: ${why}`.slice(0, MESSAGE_MAX) };
      }
    } catch (error) {
      if (!(error instanceof DaemonUnavailableError)) throw error;
      // A daemon that is starting or cannot be reached is not a refusal: a new target waits; a held one keeps its
      // record, and its daemon continues the kubelet by itself if the lease lapses.
      return fresh ? { ...target, phase: 'Selected', message: `waiting: ${error.message}` } : target;
    }
    if (!fresh) return withReadiness(target);
    return withReadiness({ ...target, node, phase: 'Injected', injectedAt: at(), nodeFault: { ...target.nodeFault, kubeletStopped: true }, message: `the kubelet is stopped by node ${node}'s kerris daemon` });
  }

  async function apply(chaos: NodeChaos, pending: readonly TargetRecord[], held: readonly TargetRecord[], context: ApplyContext): Promise<TargetRecord[]> {
    // duration is required, so there is always a deadline the node keeps by itself.
    const deadlineInMs = context.remainingMs === undefined ? 0 : daemonDeadlineMs(context.remainingMs);
    const injected = await mapLimit(pending, 16, (t) => state(chaos, t, true, deadlineInMs));
    if (pending.length > 0) return injected;
    // A restate: every held node's injection again (a no-op where it holds), and the records that changed.
    const restated = await mapLimit(held, 16, (t) => state(chaos, t, false, deadlineInMs));
    return restated.filter((t, i) => JSON.stringify(t) !== JSON.stringify(held[i]));
  }

  /**
   * Continues every node's kubelet (an empty Sync), then keeps each target Injected, with a message, until its node is
   * Ready again: the engine asks again for the targets still Injected, and recovery is complete when none is left.
   */
  async function recover(chaos: NodeChaos, targets: readonly TargetRecord[]): Promise<RecoverOutcome> {
    const cleared = await clearExperiment(options, experimentOf(chaos), targets.map((t) => ({ ...t, node: t.node ?? t.name })), () => 'the kubelet is continued');
    const nowMs = now().getTime();
    const waiting: string[] = [];
    const records = cleared.targets.map((t, i): TargetRecord => {
      if (t.phase !== 'Recovered') return t;
      // When the kubelet was first continued: a later pass keeps it, so the wait is bounded and recoveredAt says it.
      const continuedAt = targets[i]?.nodeFault?.continuedAt ?? t.recoveredAt ?? at();
      const seen = withReadiness({ ...t, recoveredAt: continuedAt, nodeFault: { ...t.nodeFault, continuedAt } });
      const ready = isNodeReady(nodes.get(t.name));
      if (ready === undefined) return { ...seen, message: 'the kubelet is continued; the node is gone' };
      if (ready) return { ...seen, message: `the kubelet is continued; the node is Ready${seen.nodeFault?.readyAt === undefined ? '' : ` again since ${seen.nodeFault.readyAt}`}` };
      if (nowMs - Date.parse(continuedAt) >= READY_AGAIN_WAIT_MS) {
        return { ...seen, message: `the kubelet is continued, but the node is still not Ready ${READY_AGAIN_WAIT_MS / 60_000} minutes later` };
      }
      waiting.push(t.name);
      const { recoveredAt: _notYet, ...held } = seen;
      return { ...held, phase: 'Injected', message: 'the kubelet is continued; waiting for the node to be Ready again' };
    });
    if (!cleared.complete) return { ...cleared, targets: records };
    return waiting.length === 0
      ? { targets: records, complete: true, message: cleared.message }
      : { targets: records, complete: false, message: `waiting for ${waiting.length === 1 ? `node ${waiting[0] ?? ''}` : `${waiting.length} nodes`} to be Ready again after their kubelet was continued` };
  }

  return {
    holds: true,
    injectedReason: 'KubeletStopped',
    apply,
    recover,
    // Held faults are followed by apply and recover; there is no one-time action to watch.
    observe: (_chaos, targets) => [...targets],
  };
}
