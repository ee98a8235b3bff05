/** Descriptors of the built-in resources kerris reads or writes. */
import { defineResource } from './resource.ts';
import type { ConfigMap, CoreEvent, KubeObject, Lease, Namespace, Pod } from './types.ts';

/** core/v1 Secret; `data` values are base64. */
export interface Secret extends KubeObject {
  type?: string;
  data?: Record<string, string>;
  immutable?: boolean;
}

export const namespaces = defineResource<Namespace>({ group: '', version: 'v1', plural: 'namespaces', kind: 'Namespace', namespaced: false });
export const pods = defineResource<Pod>({ group: '', version: 'v1', plural: 'pods', kind: 'Pod', namespaced: true });
export const configMaps = defineResource<ConfigMap>({ group: '', version: 'v1', plural: 'configmaps', kind: 'ConfigMap', namespaced: true });
export const secrets = defineResource<Secret>({ group: '', version: 'v1', plural: 'secrets', kind: 'Secret', namespaced: true });
export const coreEvents = defineResource<CoreEvent>({ group: '', version: 'v1', plural: 'events', kind: 'Event', namespaced: true });
export const leases = defineResource<Lease>({ group: 'coordination.k8s.io', version: 'v1', plural: 'leases', kind: 'Lease', namespaced: true });
export const nodes = defineResource<KubeObject>({ group: '', version: 'v1', plural: 'nodes', kind: 'Node', namespaced: false });
