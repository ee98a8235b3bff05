/**
 * The controller's read path for the cluster around an experiment: namespaces,
 * pods and nodes as the informers last saw them. Selection and recovery read
 * here instead of listing from the apiserver on every reconcile.
 */
import type { KubeObject, Namespace, Pod } from '../../kube/types.ts';
import { parseQuantity } from '../../kube/quantity.ts';
import type { Store } from '../../runtime/store.ts';

/** The part of a Node object the view reads beyond its labels. */
interface NodeCapacity extends KubeObject {
  status?: { capacity?: Record<string, string> };
}

/** Read-only access to the informers' stores. */
export interface ClusterView {
  namespace(name: string): Namespace | undefined;
  podsIn(namespace: string): Pod[];
  pod(namespace: string, name: string): Pod | undefined;
  nodeLabels(): Map<string, Record<string, string>>;
  /** The node's memory capacity in bytes (`status.capacity.memory`), if the cache has it. */
  nodeMemoryBytes(name: string): number | undefined;
}

export function clusterView(stores: { namespaces: Store<Namespace>; pods: Store<Pod>; nodes: Store<KubeObject> }): ClusterView {
  return {
    namespace: (name) => stores.namespaces.get(name),
    podsIn: (namespace) => stores.pods.inNamespace(namespace),
    pod: (namespace, name) => stores.pods.get(`${namespace}/${name}`),
    nodeLabels: () => new Map(stores.nodes.list().map((n) => [n.metadata.name ?? '', n.metadata.labels ?? {}])),
    nodeMemoryBytes: (name) => {
      const memory = (stores.nodes.get(name) as NodeCapacity | undefined)?.status?.capacity?.memory;
      return memory === undefined ? undefined : parseQuantity(memory);
    },
  };
}
