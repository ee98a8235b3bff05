/**
 * Picks target pods for any chaos kind with a pod selector (PodChaos,
 * NetworkChaos): namespaces the policy admits, candidates the selector
 * matches, and the mode's pick, all read from the informers' cache.
 */
import type { PodSelectorSpec, SelectorMode } from '../../api/generated/types.ts';
import type { Pod } from '../../kube/types.ts';
import type { Selection, TargetRecord } from '../engine/experiment.ts';
import type { ClusterView } from './cluster-view.ts';
import { admitNamespaces, filterCandidates, pickTargets, selectedNamespaces, targetCount, type CandidatePod, type SafetyPolicy } from './pod-selection.ts';

export interface PodTargetSpec {
  selector: PodSelectorSpec;
  mode: SelectorMode;
  value?: string;
}

export function toCandidate(pod: Pod): CandidatePod {
  return {
    namespace: pod.metadata.namespace ?? '',
    name: pod.metadata.name ?? '',
    uid: pod.metadata.uid ?? '',
    labels: pod.metadata.labels ?? {},
    annotations: pod.metadata.annotations ?? {},
    phase: pod.status?.phase ?? 'Unknown',
    ...(pod.spec?.nodeName ? { nodeName: pod.spec.nodeName } : {}),
    terminating: pod.metadata.deletionTimestamp !== undefined,
  };
}

/** The namespaces a selector reaches, as the policy splits them, and the pods of the admitted ones it matches. */
function candidatesOf(view: ClusterView, spec: PodTargetSpec, experimentNamespace: string, safety: SafetyPolicy) {
  const reached = selectedNamespaces(spec.selector, experimentNamespace);
  const existing = reached.flatMap((name) => {
    const ns = view.namespace(name);
    return ns ? [{ name, annotations: ns.metadata.annotations ?? {} }] : [];
  });
  const { admitted, refused } = admitNamespaces(existing, safety);
  const missing = reached.filter((name) => !existing.some((n) => n.name === name));
  const listed = admitted.flatMap((ns) => view.podsIn(ns));
  const nodeLabels = spec.selector.nodeSelectors ? view.nodeLabels() : new Map<string, Record<string, string>>();
  const candidates = filterCandidates(listed.map(toCandidate), spec.selector, new Set(admitted), nodeLabels);
  return { reached, admitted, refused, missing, listed, candidates };
}

/** Records in phase Selected for picked pods, with the workload controller that owns each. */
function recordsOf(chosen: readonly CandidatePod[], listed: readonly Pod[]): TargetRecord[] {
  const owners = new Map(listed.map((p) => [p.metadata.uid ?? '', p.metadata.ownerReferences?.find((o) => o.controller)]));
  return chosen.map((pod) => {
    const owner = owners.get(pod.uid);
    return {
      namespace: pod.namespace, name: pod.name, uid: pod.uid, phase: 'Selected',
      ...(pod.nodeName ? { node: pod.nodeName } : {}),
      ...(owner ? { owner: { kind: owner.kind, name: owner.name, uid: owner.uid } } : {}),
    };
  });
}

/** Targets in phase Selected, ordered by the pick. Throws SelectorError for a selector or mode that cannot pick. */
export function selectPods(view: ClusterView, spec: PodTargetSpec, experimentNamespace: string, safety: SafetyPolicy, seed: number): Selection {
  const { refused, missing, listed, candidates } = candidatesOf(view, spec, experimentNamespace, safety);
  const chosen = pickTargets(candidates, targetCount(spec.mode, spec.value, candidates.length, seed), seed);
  const targets = recordsOf(chosen, listed);
  const notes = [
    ...refused.map((r) => r.reason === 'Protected'
      ? `namespace ${r.namespace} is protected and never targeted unless the operator allows it`
      : `namespace ${r.namespace} has not opted in (annotation chaos.kerris.dev/inject=enabled)`),
    ...missing.map((name) => `namespace ${name} does not exist`),
  ];
  return { targets, notes, refused: refused.length > 0 };
}

/**
 * The policy again, for targets about to be acted on, whatever status says (status can be written by others than
 * the controller): each must be in a namespace the selector reaches and the policy admits, and, while its pod
 * exists, still match the selector. The others come back Failed with the reason, and are not acted on.
 */
export function recheckPods(view: ClusterView, spec: PodTargetSpec, experimentNamespace: string, safety: SafetyPolicy, targets: readonly TargetRecord[]): TargetRecord[] {
  const { reached, admitted, refused, candidates } = candidatesOf(view, spec, experimentNamespace, safety);
  const matching = new Set(candidates.map((p) => p.uid));
  return targets.map((target) => {
    const refusal = refused.find((r) => r.namespace === target.namespace);
    let reason: string | undefined;
    if (!reached.includes(target.namespace)) reason = `namespace ${target.namespace} is not one the selector reaches`;
    else if (refusal) reason = refusal.reason === 'Protected' ? `namespace ${target.namespace} is protected` : `namespace ${target.namespace} has not opted in`;
    else if (!admitted.includes(target.namespace)) reason = `namespace ${target.namespace} does not exist`;
    else {
      const pod = view.pod(target.namespace, target.name);
      if (pod?.metadata.uid === target.uid && !matching.has(target.uid)) reason = 'the pod no longer matches the selector';
    }
    return reason === undefined ? target : { ...target, phase: 'Failed', message: `refused before acting: ${reason}` };
  });
}

/**
 * Level-triggered targets, for kinds that hold a fault on live pods (NetworkChaos): the records as they should be
 * now. A target whose pod is gone (deleted, or replaced under the same name) comes back Recovered, since its fault
 * went with its network namespace. Pods picked now are appended as Selected: with `mode: all` every matching pod
 * not recorded yet; with the other modes as many as keep the mode's count over today's candidates, drawn with the
 * experiment's seed. A pod once recorded is never picked again.
 */
export function followPods(view: ClusterView, spec: PodTargetSpec, experimentNamespace: string, safety: SafetyPolicy, seed: number, targets: readonly TargetRecord[], at: string): TargetRecord[] {
  const current = targets.map((target): TargetRecord => {
    if (target.phase !== 'Injected' && target.phase !== 'Selected') return target;
    const pod = view.pod(target.namespace, target.name);
    if (pod !== undefined && pod.metadata.uid === target.uid && pod.metadata.deletionTimestamp === undefined) return target;
    return { ...target, phase: 'Recovered', recoveredAt: at, message: pod !== undefined && pod.metadata.uid === target.uid ? 'the pod is being deleted; its fault goes with it' : 'the pod is gone, and its fault with it' };
  });
  const recorded = new Set(targets.map((t) => t.uid));
  const active = current.filter((t) => t.phase === 'Injected' || t.phase === 'Selected').length;
  const { listed, candidates } = candidatesOf(view, spec, experimentNamespace, safety);
  const fresh = candidates.filter((c) => !recorded.has(c.uid));
  const wanted = spec.mode === 'all' ? fresh.length : Math.max(0, targetCount(spec.mode, spec.value, candidates.length, seed) - active);
  return [...current, ...recordsOf(pickTargets(fresh, wanted, seed), listed).map((t) => ({ ...t, message: 'picked while the experiment runs' }))];
}
