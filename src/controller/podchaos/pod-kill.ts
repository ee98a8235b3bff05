/**
 * pod-kill: deleting targets, and telling when each has recovered, that is
 * when the workload that owned it has a Ready pod in its place.
 */
import type { PodChaos } from '../../api/generated/types.ts';
import type { KubeClient } from '../../kube/client.ts';
import { isApiError, isNotFound } from '../../kube/errors.ts';
import { pods } from '../../kube/resources.ts';
import type { Pod } from '../../kube/types.ts';
import { formatTime } from '../../kube/time.ts';
import { mapLimit } from '../../util/concurrency.ts';
import type { Fault, TargetRecord } from '../engine/experiment.ts';
import type { ClusterView } from '../targets/cluster-view.ts';

/** What recovery needs to know of a live pod. */
export interface ObservedPod {
  namespace: string;
  name: string;
  uid: string;
  ownerUid?: string;
  createdAt: string;
  terminating: boolean;
  ready: boolean;
  /** When the pod last became Ready. */
  readyAt?: string;
}

export function observePod(pod: Pod): ObservedPod {
  const ready = pod.status?.conditions?.find((c) => c.type === 'Ready');
  const owner = pod.metadata.ownerReferences?.find((o) => o.controller);
  return {
    namespace: pod.metadata.namespace ?? '',
    name: pod.metadata.name ?? '',
    uid: pod.metadata.uid ?? '',
    ...(owner ? { ownerUid: owner.uid } : {}),
    createdAt: pod.metadata.creationTimestamp ?? '',
    terminating: pod.metadata.deletionTimestamp !== undefined,
    ready: ready?.status === 'True',
    ...(ready?.lastTransitionTime ? { readyAt: ready.lastTransitionTime } : {}),
  };
}

/**
 * Deletes one target, only if it is still the very pod that was picked: the
 * uid precondition makes a repeated kill (after a controller restart) a no-op
 * and keeps a same-named replacement safe.
 */
export async function killTarget(client: KubeClient, target: TargetRecord, gracePeriodSeconds: number | undefined, now: () => Date): Promise<TargetRecord> {
  try {
    // Without gracePeriodSeconds the apiserver gives the pod its own terminationGracePeriodSeconds, as kubectl does.
    await client.delete(pods, target.name, { namespace: target.namespace, ...(gracePeriodSeconds === undefined ? {} : { gracePeriodSeconds }), preconditions: { uid: target.uid } });
    const grace = gracePeriodSeconds === undefined ? 'the pod\'s own grace period' : `a grace period of ${gracePeriodSeconds} s`;
    return { ...target, phase: 'Injected', injectedAt: formatTime(now().getTime()), message: `deleted with ${grace}` };
  } catch (error) {
    if (isNotFound(error) || (isApiError(error, 409) && error.reason === 'Conflict')) {
      return { ...target, phase: 'Injected', injectedAt: formatTime(now().getTime()), message: 'the pod was already gone when the kill came' };
    }
    return { ...target, phase: 'Failed', message: `delete failed: ${error instanceof Error ? error.message : String(error)}` };
  }
}

/**
 * The record of an injected target, updated from the pods that exist now. A
 * replacement is a Ready pod of the same owner created since the targets were
 * picked (`since`: a kill recorded late, after a controller restart, still
 * finds it). `claimed` holds replacements (namespace/name) that other targets
 * already count, so that one new pod never stands in for two killed ones.
 */
export function assessRecovery(target: TargetRecord, live: readonly ObservedPod[], claimed: Set<string>, since: string, now: Date): TargetRecord {
  if (target.phase !== 'Injected') return target;
  if (live.some((p) => p.uid === target.uid)) return { ...target, message: 'waiting for the pod to terminate' };
  if (!target.owner) return { ...target, phase: 'Recovered', recoveredAt: formatTime(now.getTime()), message: 'gone; it had no controller to replace it' };
  const owner = target.owner;
  const replacement = live
    .filter((p) => p.namespace === target.namespace && p.ownerUid === owner.uid && p.createdAt >= since && p.ready && !p.terminating && !claimed.has(`${p.namespace}/${p.name}`))
    .sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.name.localeCompare(b.name))[0];
  if (!replacement) return { ...target, message: `gone; waiting for ${owner.kind} ${owner.name} to have a Ready pod in its place` };
  claimed.add(`${replacement.namespace}/${replacement.name}`);
  return { ...target, phase: 'Recovered', replacedBy: replacement.name, recoveredAt: replacement.readyAt ?? formatTime(now.getTime()), message: `replaced by ${replacement.name}` };
}

/** How many pods are deleted at once. */
const KILL_CONCURRENCY = 16;

/** pod-kill as the engine runs it: a one-time delete per target, recovered when the owner has a Ready pod in its place. */
export function podKill(client: KubeClient, view: ClusterView, now: () => Date): Fault<PodChaos> {
  return {
    holds: false,
    injectedReason: 'Killed',
    apply: (chaos, pending) => mapLimit(pending, KILL_CONCURRENCY, (t) => killTarget(client, t, chaos.spec.gracePeriod, now)),
    recover: async (_chaos, targets) => ({ targets: [...targets], complete: true, message: 'a kill leaves nothing to take away' }),
    observe: (chaos, targets) => {
      const namespaces = [...new Set(targets.filter((t) => t.phase === 'Injected').map((t) => t.namespace))];
      const live = namespaces.flatMap((ns) => view.podsIn(ns).map(observePod));
      const claimed = new Set(targets.filter((t) => t.replacedBy).map((t) => `${t.namespace}/${t.replacedBy}`));
      return targets.map((t) => assessRecovery(t, live, claimed, chaos.status?.startTime ?? '', now()));
    },
  };
}
