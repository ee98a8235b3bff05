/**
 * Chaos objects that a Schedule or a Workflow creates on its requester's behalf: the kind's resource, the embedded
 * spec's field, and whether a run has ended. One place, so both controllers create and judge runs alike.
 */
import type { NetworkChaos, NodeChaos, PodChaos, ScheduleTemplateType, StressChaos } from '../../api/generated/types.ts';
import { scheduleTemplateTypeValues } from '../../api/generated/types.ts';
import type { OwnerReference } from '../../api/object-meta.ts';
import type { Resource } from '../../kube/resource.ts';
import type { KubeObject } from '../../kube/types.ts';
import { networkChaos } from '../networkchaos/resource.ts';
import { nodeChaos } from '../nodechaos/resource.ts';
import { podChaos } from '../podchaos/resource.ts';
import { stressChaos } from '../stresschaos/resource.ts';

export type ChaosObject = PodChaos | NetworkChaos | StressChaos | NodeChaos;
/** The kinds a Schedule or a Workflow step creates: the API's embeddable kinds (src/api/schedule.ts). */
export type ChaosKindName = ScheduleTemplateType;

/** Each chaos kind's resource; typed by kind so a kind the API embeds but the controller cannot create fails to compile. */
export const chaosResources: Readonly<Record<ChaosKindName, Resource<ChaosObject>>> = {
  PodChaos: podChaos as Resource<ChaosObject>,
  NetworkChaos: networkChaos as Resource<ChaosObject>,
  StressChaos: stressChaos as Resource<ChaosObject>,
  NodeChaos: nodeChaos as Resource<ChaosObject>,
};

/** The embedded spec's field for each kind, as Chaos Mesh names it (`nodeChaos` for kerris's own NodeChaos). */
export const specField = { PodChaos: 'podChaos', NetworkChaos: 'networkChaos', StressChaos: 'stressChaos', NodeChaos: 'nodeChaos' } as const satisfies Record<ChaosKindName, string>;

const CHAOS_KINDS: ReadonlySet<string> = new Set(scheduleTemplateTypeValues);

export function isChaosKind(kind: string): kind is ChaosKindName {
  return CHAOS_KINDS.has(kind);
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
