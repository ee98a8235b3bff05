/**
 * The NodeChaos actions the node daemons hold (kubelet-stop, node-network): each target node gets one injection
 * whose target is the node itself, its daemon keeps it under its lease and deadline, and recovery takes it away and
 * then waits until the node is Ready again. An action says only what it puts on the node and how it is worded.
 */
import type { NodeChaos, NodeFaultRecord } from '../../api/generated/types.ts';
import * as grpc from '@grpc/grpc-js';
import type { InjectionInput } from '../../daemon/client.ts';
import { isGrpcStatus } from '../../daemon/grpc-unary.ts';
import { formatTime } from '../../kube/time.ts';
import type { Store } from '../../runtime/store.ts';
import { mapLimit } from '../../util/concurrency.ts';
import type { ApplyContext, Fault, RecoverOutcome, TargetRecord } from '../engine/experiment.ts';
import { clearExperiment } from '../daemons/clear.ts';
import { daemonDeadlineMs, experimentOf } from '../daemons/injection.ts';
import { DaemonUnavailableError, type DaemonFaultKind, type DaemonFleet, type NodeSync } from '../daemons/fleet.ts';
import { withNetworkEvidence } from '../daemons/network-evidence.ts';
import type { ClusterView } from '../targets/cluster-view.ts';
import { isNodeReady, readinessSeen, type NodeObject } from './node-changes.ts';

/** How long recovery waits for a node to be Ready again once its fault is taken away, before it says so and ends. */
export const READY_AGAIN_WAIT_MS = 5 * 60_000;
/** The longest target message these faults write. */
export const MESSAGE_MAX = 1_000;

/** Why the daemon did not do injection `id` of a Sync it answered, or undefined when it did. */
export function notDone(sync: NodeSync, id: string): string | undefined {
  const item = sync.items.find((i) => i.id === id);
  if (item === undefined) return 'the daemon did not answer for it';
  return item.ok ? undefined : `${item.code}: ${item.message}`;
}

export interface DaemonNodeFaultOptions {
  fleet: DaemonFleet;
  view: ClusterView;
  nodes: Store<NodeObject>;
  now: () => Date;
}

/** One action the daemons hold on nodes. */
export interface DaemonNodeAction {
  /** The daemon's fault kind, asked of its Capabilities before a node is touched. */
  kind: DaemonFaultKind & InjectionInput['fault']['kind'];
  /** The last part of the injection's ID, `<experiment>/<node uid>/<suffix>`. */
  idSuffix: string;
  injectedReason: string;
  /** What the daemon is to put on the node, or why it cannot be said (the target then fails, untouched). */
  fault(chaos: NodeChaos): InjectionInput['fault'] | { refusal: string };
  /** The record of a node that was just injected with `fault`: its message and what status says of the fault. */
  injected(node: string, fault: InjectionInput['fault']): { message: string; record: NodeFaultRecord };
  /** Said of a node once its fault is taken away, e.g. "the kubelet is continued". */
  undone: string;
  /** Said of a new node the fault could not be put on / of a held one the daemon no longer keeps. */
  notApplied: string;
  noLongerHeld: string;
  /**
   * `again`: a held fault the daemon let go (its lease lapsed, it restarted) is put back for the rest of the duration.
   * `once`: it is not: the daemon let go because the fault cut it off from the controller (a node partition), and
   * putting it back would cut it off again, over and over; the target is recorded as ended by the node.
   */
  restate: 'again' | 'once';
  /** Whether the fault's kernel counters are read into `evidence` while it is held. */
  evidence: boolean;
  /**
   * For a fault that cuts the daemon off from the controller (a node partition without keepDaemonLease): what the
   * target says when the Sync was sent but its answer never came (the fault dropped it). Such a target is Injected,
   * not retried: sending it again would cut the node off again each time its lease lapsed. Absent: the target waits.
   */
  unanswered?(chaos: NodeChaos): string | undefined;
}

const injectionId = (chaos: NodeChaos, nodeUid: string, suffix: string): string => `${experimentOf(chaos)}/${nodeUid}/${suffix}`;

/** The node's one injection of `fault`, with the deadline the node keeps by itself (none for 0). */
const injectionOf = (id: string, fault: InjectionInput['fault'], deadlineInMs: number): InjectionInput => ({ id, target: { node: true }, fault, ...(deadlineInMs > 0 ? { deadlineInMs } : {}) });

export function daemonNodeFault(options: DaemonNodeFaultOptions, action: DaemonNodeAction): Fault<NodeChaos> {
  const { fleet, nodes, now } = options;
  const at = () => formatTime(now().getTime());
  /** The record with what the node's Ready condition did since it was last written. */
  const withReadiness = (target: TargetRecord): TargetRecord => {
    const record = target.nodeFault ?? {};
    const seen = readinessSeen(nodes.get(target.name), record, at());
    return Object.keys(seen).length === 0 ? target : { ...target, nodeFault: { ...record, ...seen } };
  };

  /** Puts the fault on a new target's node. */
  async function inject(chaos: NodeChaos, target: TargetRecord, deadlineInMs: number): Promise<TargetRecord> {
    const node = target.name;
    const fault = action.fault(chaos);
    if ('refusal' in fault) return { ...target, phase: 'Failed', message: `nothing applied: ${fault.refusal}`.slice(0, MESSAGE_MAX) };
    const injection = injectionOf(injectionId(chaos, target.uid, action.idSuffix), fault, deadlineInMs);
    try {
      const refusal = await fleet.refusal(node, action.kind);
      if (refusal !== undefined) return { ...target, phase: 'Failed', message: `nothing applied: ${refusal}`.slice(0, MESSAGE_MAX) };
      const why = notDone(await fleet.sync(node, experimentOf(chaos), [injection]), injection.id);
      if (why !== undefined) return { ...target, phase: 'Failed', message: `${action.notApplied}: ${why}`.slice(0, MESSAGE_MAX) };
    } catch (error) {
      if (!(error instanceof DaemonUnavailableError)) throw error;
      // Sent, and no answer in time: a fault that cuts its own answer off is in force (or the daemon will say, once
      // it can be asked again, that it is not).
      const unanswered = isGrpcStatus(error.cause, grpc.status.DEADLINE_EXCEEDED) ? action.unanswered?.(chaos) : undefined;
      if (unanswered !== undefined) {
        const { record } = action.injected(node, fault);
        return { ...target, node, phase: 'Injected', injectedAt: at(), nodeFault: { ...target.nodeFault, ...record }, message: unanswered };
      }
      // A daemon that is starting or cannot be reached is not a refusal: the target waits.
      return { ...target, phase: 'Selected', message: `waiting: ${error.message}` };
    }
    const { message, record } = action.injected(node, fault);
    return withReadiness({ ...target, node, phase: 'Injected', injectedAt: at(), nodeFault: { ...target.nodeFault, ...record }, message });
  }

  /** States a held target's injection again (`again`), or checks that its daemon still holds it (`once`). */
  async function restate(chaos: NodeChaos, target: TargetRecord, deadlineInMs: number): Promise<TargetRecord> {
    const node = target.name;
    const id = injectionId(chaos, target.uid, action.idSuffix);
    try {
      if (action.restate === 'once') {
        if ((await fleet.held(node, experimentOf(chaos))).has(id)) return withReadiness(target);
        // The daemon took the fault away by itself: nothing is held on the node, and nothing is put back.
        return withReadiness({
          ...target, phase: 'Recovered', recoveredAt: at(), nodeFault: { ...target.nodeFault, endedByNode: at() },
          message: `${action.undone} by node ${node}'s kerris daemon itself (its lease lapsed while the fault cut it off from the controller, or it restarted); not put back`,
        });
      }
      const fault = action.fault(chaos);
      if ('refusal' in fault) return target;
      const why = notDone(await fleet.sync(node, experimentOf(chaos), [injectionOf(id, fault, deadlineInMs)]), id);
      // A held fault the daemon no longer keeps is said, not hidden: the node is no longer under it.
      if (why !== undefined) return { ...target, message: `${action.noLongerHeld}: ${why}`.slice(0, MESSAGE_MAX) };
    } catch (error) {
      if (!(error instanceof DaemonUnavailableError)) throw error;
      // Its record stays: the daemon takes the fault away by itself if its lease lapses.
      return withReadiness(target);
    }
    return withReadiness(target);
  }

  async function apply(chaos: NodeChaos, pending: readonly TargetRecord[], held: readonly TargetRecord[], context: ApplyContext): Promise<TargetRecord[]> {
    // duration is required, so there is always a deadline the node keeps by itself.
    const deadlineInMs = context.remainingMs === undefined ? 0 : daemonDeadlineMs(context.remainingMs);
    if (pending.length > 0) return mapLimit(pending, 16, (t) => inject(chaos, t, deadlineInMs));
    // A restate: every held node again, and the records that changed.
    const restated = await mapLimit(held, 16, (t) => restate(chaos, t, deadlineInMs));
    return restated.filter((t, i) => JSON.stringify(t) !== JSON.stringify(held[i]));
  }

  /**
   * Takes the fault away on every node (an empty Sync), then keeps each target Injected, with a message, until its
   * node is Ready again: the engine asks again for the targets still Injected, and recovery is complete when none is left.
   */
  async function recover(chaos: NodeChaos, targets: readonly TargetRecord[]): Promise<RecoverOutcome> {
    const cleared = await clearExperiment(options, experimentOf(chaos), targets.map((t) => ({ ...t, node: t.node ?? t.name })), () => action.undone);
    const nowMs = now().getTime();
    const waiting: string[] = [];
    const records = cleared.targets.map((t, i): TargetRecord => {
      if (t.phase !== 'Recovered') return t;
      // When the fault was first taken away: a later pass keeps it, so the wait is bounded and recoveredAt says it.
      const undoneAt = targets[i]?.nodeFault?.undoneAt ?? t.recoveredAt ?? at();
      const seen = withReadiness({ ...t, recoveredAt: undoneAt, nodeFault: { ...t.nodeFault, undoneAt } });
      const ready = isNodeReady(nodes.get(t.name));
      if (ready === undefined) return { ...seen, message: `${action.undone}; the node is gone` };
      if (ready) return { ...seen, message: `${action.undone}; the node is Ready${seen.nodeFault?.readyAt === undefined ? '' : ` again since ${seen.nodeFault.readyAt}`}` };
      if (nowMs - Date.parse(undoneAt) >= READY_AGAIN_WAIT_MS) {
        return { ...seen, message: `${action.undone}, but the node is still not Ready ${READY_AGAIN_WAIT_MS / 60_000} minutes later` };
      }
      waiting.push(t.name);
      const { recoveredAt: _notYet, ...held } = seen;
      return { ...held, phase: 'Injected', message: `${action.undone}; waiting for the node to be Ready again` };
    });
    if (!cleared.complete) return { ...cleared, targets: records };
    return waiting.length === 0
      ? { targets: records, complete: true, message: cleared.message }
      : { targets: records, complete: false, message: `waiting for ${waiting.length === 1 ? `node ${waiting[0] ?? ''}` : `${waiting.length} nodes`} to be Ready again after the fault was taken away` };
  }

  return {
    holds: true,
    injectedReason: action.injectedReason,
    apply,
    recover,
    // Held faults are followed by apply and recover; there is no one-time action to watch.
    observe: (_chaos, targets) => [...targets],
    ...(action.evidence ? { evidence: (chaos: NodeChaos, held: readonly TargetRecord[]) => withNetworkEvidence(fleet, experimentOf(chaos), held, now().getTime()) } : {}),
  };
}
