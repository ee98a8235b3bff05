/**
 * Chaos objects that a Schedule or a Workflow creates on its requester's behalf: the kind's resource, the embedded
 * spec's field, and whether a run has ended. One place, so both controllers create and judge runs alike.
 */
import type { NetworkChaos, PodChaos } from '../../api/generated/types.ts';
import type { OwnerReference } from '../../api/object-meta.ts';
import type { Resource } from '../../kube/resource.ts';
import type { KubeObject } from '../../kube/types.ts';
import { networkChaos } from '../networkchaos/resource.ts';
import { podChaos } from '../podchaos/resource.ts';

export type ChaosObject = PodChaos | NetworkChaos;
export type ChaosKindName = ChaosObject['kind'];

export const chaosResources: Readonly<Record<ChaosKindName, Resource<ChaosObject>>> = {
  PodChaos: podChaos as Resource<ChaosObject>,
  NetworkChaos: networkChaos as Resource<ChaosObject>,
};

/** The embedded spec's field for each kind, as Chaos Mesh names it. */
export const specField = { PodChaos: 'podChaos', NetworkChaos: 'networkChaos' } as const satisfies Record<ChaosKindName, string>;

export function isChaosKind(kind: string): kind is ChaosKindName {
  return kind === 'PodChaos' || kind === 'NetworkChaos';
}

const ENDED: ReadonlySet<string> = new Set(['Finished', 'Aborted', 'Failed']);

/** A run that holds nothing any more and never will. */
export function hasEnded(chaos: ChaosObject): boolean {
  return ENDED.has(chaos.status?.phase ?? '');
}

export function controllerReference(owner: KubeObject & { apiVersion?: string; kind?: string }, apiVersion: string, kind: string): OwnerReference {
  const { name, uid } = owner.metadata;
  if (!name || !uid) throw new Error(`the ${kind} has no name or uid yet`);
  return { apiVersion, kind, name, uid, controller: true, blockOwnerDeletion: true };
}

/** The keys of the owners of `kind` a child names in its ownerReferences: whom a change of the child concerns. */
export function ownerKeys(child: KubeObject, kind: string): string[] {
  const namespace = child.metadata.namespace ?? '';
  return (child.metadata.ownerReferences ?? []).filter((o) => o.kind === kind).map((o) => `${namespace}/${o.name}`);
}
