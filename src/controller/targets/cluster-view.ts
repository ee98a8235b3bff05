/**
 * The controller's read path for the cluster around an experiment: namespaces,
 * pods and nodes as the informers last saw them. Selection and recovery read
 * here instead of listing from the apiserver on every reconcile.
 */
import type { KubeObject, Namespace, Pod } from '../../kube/types.ts';
import type { Store } from '../../runtime/store.ts';

/** Read-only access to the informers' stores. */
export interface ClusterView {
  namespace(name: string): Namespace | undefined;
  podsIn(namespace: string): Pod[];
  pod(namespace: string, name: string): Pod | undefined;
  nodeLabels(): Map<string, Record<string, string>>;
}

export function clusterView(stores: { namespaces: Store<Namespace>; pods: Store<Pod>; nodes: Store<KubeObject> }): ClusterView {
  return {
    namespace: (name) => stores.namespaces.get(name),
    podsIn: (namespace) => stores.pods.inNamespace(namespace),
    pod: (namespace, name) => stores.pods.get(`${namespace}/${name}`),
    nodeLabels: () => new Map(stores.nodes.list().map((n) => [n.metadata.name ?? '', n.metadata.labels ?? {}])),
  };
}
