/**
 * What NodeChaos changes on a node and how it is undone, as pure functions over the node and its pods. The record of
 * what kerris did lives on the node (HELD_ANNOTATION), written in the same patch as the change, so the undo is exact
 * and can be repeated whatever status says after a controller restart.
 */
import type { AddedTaint, EvictedPod, NodeChaosTaint, NodeFaultRecord } from '../../api/generated/types.ts';
import { isApiError, isNotFound } from '../../kube/errors.ts';
import type { KubeObject, Pod } from '../../kube/types.ts';

export const HELD_ANNOTATION = 'chaos.kerris.dev/node-chaos';
const MIRROR_ANNOTATION = 'kubernetes.io/config.mirror';

export interface Taint {
  key: string;
  value?: string;
  effect: string;
  timeAdded?: string;
}

/** The part of a Node NodeChaos reads and writes. */
export interface NodeObject extends KubeObject {
  spec?: { unschedulable?: boolean; taints?: Taint[] };
  status?: { conditions?: { type: string; status: string; lastTransitionTime?: string }[]; nodeInfo?: { bootID?: string } };
}

/** Whether the node's Ready condition is True (its kubelet reports); undefined for no node. */
export function isNodeReady(node: NodeObject | undefined): boolean | undefined {
  return node === undefined ? undefined : (node.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
}

/**
 * What the node's Ready condition adds to `record`: when it went False (its last transition), then when it came back;
 * each is recorded once. `now` stands in for a condition without a transition time.
 */
export function readinessSeen(node: NodeObject | undefined, record: NodeFaultRecord, now: string): Pick<NodeFaultRecord, 'notReadyAt' | 'readyAt'> {
  const ready = node?.status?.conditions?.find((c) => c.type === 'Ready');
  const since = ready?.lastTransitionTime ?? now;
  if (ready !== undefined && ready.status !== 'True' && record.notReadyAt === undefined) return { notReadyAt: since };
  if (ready?.status === 'True' && record.notReadyAt !== undefined && record.readyAt === undefined) return { readyAt: since };
  return {};
}

/** What one NodeChaos did to a node, as the annotation holds it. */
export interface HeldRecord {
  uid: string;
  /** `namespace/name` of the experiment, for people. */
  experiment: string;
  /** node-drain: kerris set spec.unschedulable, so the undo clears it. */
  cordoned?: boolean;
  /** node-taint: the taint kerris added, the one the undo removes. */
  taint?: AddedTaint;
}

export function heldRecord(node: NodeObject): HeldRecord | undefined {
  const text = node.metadata.annotations?.[HELD_ANNOTATION];
  if (text === undefined) return undefined;
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed === 'object' && parsed !== null && typeof (parsed as HeldRecord).uid === 'string') return parsed as HeldRecord;
  } catch {
    // Written by someone else than kerris; read as held by nobody we know, below.
  }
  return { uid: '', experiment: `an unreadable ${HELD_ANNOTATION} annotation` };
}

/** A merge patch guarded by the node's resourceVersion: a node changed since it was read is not written over. */
export interface NodePatch {
  metadata: { resourceVersion: string; annotations: Record<string, string | null> };
  spec?: { unschedulable?: boolean | null; taints?: Taint[] };
}

export type ApplyPlan =
  | { kind: 'done'; record: HeldRecord }
  | { kind: 'patch'; patch: NodePatch; record: HeldRecord; wasUnschedulable?: boolean }
  | { kind: 'refused'; message: string };

const sameTaint = (a: { key: string; effect: string }, b: { key: string; effect: string }) => a.key === b.key && a.effect === b.effect;

/** What applying the action to `node` takes; `done` when the node already carries this experiment's record. */
export function planApply(node: NodeObject, experiment: { uid: string; name: string }, action: 'node-drain' | 'node-taint', taint: NodeChaosTaint | undefined): ApplyPlan {
  const held = heldRecord(node);
  if (held !== undefined && held.uid === experiment.uid) return { kind: 'done', record: held };
  if (held !== undefined) return { kind: 'refused', message: `node ${node.metadata.name ?? ''} is held by ${held.experiment}; one NodeChaos at a time per node` };
  const resourceVersion = node.metadata.resourceVersion ?? '';
  if (action === 'node-drain') {
    const wasUnschedulable = node.spec?.unschedulable === true;
    const record: HeldRecord = { uid: experiment.uid, experiment: experiment.name, cordoned: !wasUnschedulable };
    return {
      kind: 'patch', record, wasUnschedulable,
      patch: { metadata: { resourceVersion, annotations: { [HELD_ANNOTATION]: JSON.stringify(record) } }, ...(wasUnschedulable ? {} : { spec: { unschedulable: true } }) },
    };
  }
  if (taint === undefined) return { kind: 'refused', message: 'node-taint needs spec.taint' };
  const existing = node.spec?.taints ?? [];
  const clash = existing.find((t) => sameTaint(t, taint));
  if (clash !== undefined) {
    return { kind: 'refused', message: `node ${node.metadata.name ?? ''} already has a taint ${clash.key}${clash.value ? `=${clash.value}` : ''}:${clash.effect} that kerris did not add; removing it at the end would take away someone else's, so the node is left alone` };
  }
  const added: AddedTaint = { key: taint.key, ...(taint.value ? { value: taint.value } : {}), effect: taint.effect };
  const record: HeldRecord = { uid: experiment.uid, experiment: experiment.name, taint: added };
  return { kind: 'patch', record, patch: { metadata: { resourceVersion, annotations: { [HELD_ANNOTATION]: JSON.stringify(record) } }, spec: { taints: [...existing, added] } } };
}

/** The patch that puts the node back as this experiment found it, or undefined when it holds nothing of it. */
export function planUndo(node: NodeObject, uid: string): NodePatch | undefined {
  const held = heldRecord(node);
  if (held === undefined || held.uid !== uid) return undefined;
  const spec: NonNullable<NodePatch['spec']> = {};
  if (held.cordoned === true) spec.unschedulable = null;
  const taint = held.taint;
  if (taint !== undefined) spec.taints = (node.spec?.taints ?? []).filter((t) => !sameTaint(t, taint));
  return { metadata: { resourceVersion: node.metadata.resourceVersion ?? '', annotations: { [HELD_ANNOTATION]: null } }, ...(Object.keys(spec).length > 0 ? { spec } : {}) };
}

/** Why a pod on a drained node is not evicted, or undefined when it is, as `kubectl drain --ignore-daemonsets` picks. */
export function keptOnDrain(pod: Pod, protectedNamespaces: ReadonlySet<string>): string | undefined {
  if (pod.metadata.deletionTimestamp !== undefined) return 'terminating';
  if (pod.metadata.annotations?.[MIRROR_ANNOTATION] !== undefined) return 'a mirror (static) pod';
  if (pod.metadata.ownerReferences?.some((o) => o.controller && o.kind === 'DaemonSet')) return 'a DaemonSet pod';
  if (protectedNamespaces.has(pod.metadata.namespace ?? '')) return 'in a protected namespace';
  return undefined;
}

export type EvictionOutcome =
  | { kind: 'evicted' }
  /** The pod was gone, or is another pod now under the same name: nothing to evict. */
  | { kind: 'gone' }
  /** A PodDisruptionBudget forbids it now (429): asked again at a later pass. */
  | { kind: 'refused'; message: string }
  | { kind: 'failed'; message: string };

/** What an eviction's answer (undefined: accepted) means for the drain. */
export function evictionOutcome(error: unknown): EvictionOutcome {
  if (error === undefined) return { kind: 'evicted' };
  if (isNotFound(error) || (isApiError(error, 409) && error.reason === 'Conflict')) return { kind: 'gone' };
  if (isApiError(error, 429)) return { kind: 'refused', message: error.message };
  return { kind: 'failed', message: error instanceof Error ? error.message : String(error) };
}

/**
 * Evicted pods with their replacements filled in where seen: a pod of the same owner created at or after the
 * eviction, not itself one of the evicted, each claimed once; its node once it is scheduled.
 */
export function withReplacements(evicted: readonly EvictedPod[], live: readonly Pod[]): EvictedPod[] {
  const evictedUids = new Set(evicted.map((e) => e.uid));
  const claimed = new Set(evicted.flatMap((e) => (e.replacedBy ? [`${e.namespace}/${e.replacedBy}`] : [])));
  return evicted.map((e) => {
    if (e.replacedBy !== undefined) {
      if (e.replacementNode !== undefined) return e;
      const pod = live.find((p) => p.metadata.namespace === e.namespace && p.metadata.name === e.replacedBy);
      return pod?.spec?.nodeName ? { ...e, replacementNode: pod.spec.nodeName } : e;
    }
    if (e.ownerUid === undefined) return e;
    const replacement = live
      .filter((p) => p.metadata.namespace === e.namespace && !evictedUids.has(p.metadata.uid ?? '') && p.metadata.deletionTimestamp === undefined
        && (p.metadata.creationTimestamp ?? '') >= e.evictedAt.slice(0, 19) && p.metadata.ownerReferences?.some((o) => o.controller && o.uid === e.ownerUid)
        && !claimed.has(`${e.namespace}/${p.metadata.name ?? ''}`))
      .sort((a, b) => (a.metadata.creationTimestamp ?? '').localeCompare(b.metadata.creationTimestamp ?? '') || (a.metadata.name ?? '').localeCompare(b.metadata.name ?? ''))[0];
    if (replacement === undefined) return e;
    claimed.add(`${e.namespace}/${replacement.metadata.name ?? ''}`);
    return { ...e, replacedBy: replacement.metadata.name ?? '', ...(replacement.spec?.nodeName ? { replacementNode: replacement.spec.nodeName } : {}) };
  });
}
