/**
 * NodeChaos as the experiment engine runs it: target nodes picked from the node cache under the protected rules,
 * and one held fault per action, through the API (drain, taint) or the node's daemon (kubelet-stop, node-network, node-reboot). Targets are
 * nodes: records with an empty namespace, named `node <name>` in Events.
 */
import type { NodeChaos } from '../../api/generated/types.ts';
import type { KubeClient } from '../../kube/client.ts';
import type { Pod } from '../../kube/types.ts';
import type { Store } from '../../runtime/store.ts';
import type { DaemonFleet } from '../daemons/fleet.ts';
import type { ChaosKind, Fault, TargetNaming, TargetRecord } from '../engine/experiment.ts';
import type { ClusterView } from '../targets/cluster-view.ts';
import { kubeletStopFault } from './kubelet-stop.ts';
import { nodeNetworkFault } from './node-network.ts';
import { bootIdOf, nodeRebootFault } from './node-reboot.ts';
import type { NodeObject } from './node-changes.ts';
import { nodeFault } from './node-fault.ts';
import { controllerNodeRefusal, matchingNodes, pickNodes, type CandidateNode, type NodePolicy } from './node-selection.ts';
import { nodeChaos } from './resource.ts';

/** The labels deploy/ gives the controller's pods. */
export const CONTROLLER_LABELS: Readonly<Record<string, string>> = { 'app.kubernetes.io/name': 'kerris', 'app.kubernetes.io/component': 'controller' };

export const NODE_TARGETS: TargetNaming = { noun: 'node', plural: 'nodes', name: (t) => t.name };

export interface NodeChaosKindOptions {
  client: KubeClient;
  pods: Store<Pod>;
  nodes: Store<NodeObject>;
  /** For the actions the node daemons hold. */
  fleet: DaemonFleet;
  view: ClusterView;
  /** The controller's namespace, where its own pods run. */
  controllerNamespace: string;
  protectedNamespaces: ReadonlySet<string>;
  policy: NodePolicy;
  now?: () => Date;
}

/** Node name → the Ready, not terminating controller pods on it, from the cache. */
export function controllerNodes(pods: readonly Pod[], namespace: string): Map<string, string[]> {
  const found = new Map<string, string[]>();
  for (const pod of pods) {
    const ready = pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
    const node = pod.spec?.nodeName;
    if (!isController(pod, namespace) || !ready || node === undefined || pod.metadata.deletionTimestamp !== undefined) continue;
    found.set(node, [...(found.get(node) ?? []), `${namespace}/${pod.metadata.name ?? ''}`].sort());
  }
  return found;
}

const isController = (pod: Pod, namespace: string): boolean =>
  pod.metadata.namespace === namespace && Object.entries(CONTROLLER_LABELS).every(([k, v]) => pod.metadata.labels?.[k] === v);

/** The pod addresses of every controller replica that has one and is not terminating: the daemons' lease path. */
export function controllerPodAddresses(pods: readonly Pod[], namespace: string): string[] {
  return pods.filter((p) => isController(p, namespace) && p.metadata.deletionTimestamp === undefined)
    .flatMap((p) => (p.status?.podIPs ?? []).map((a) => a.ip).concat(p.status?.podIP === undefined ? [] : [p.status.podIP]))
    .filter((ip, i, all) => ip !== '' && all.indexOf(ip) === i).sort();
}

export function nodeChaosKind(options: NodeChaosKindOptions): ChaosKind<NodeChaos> {
  const now = options.now ?? (() => new Date());
  const shared = { client: options.client, pods: options.pods, nodes: options.nodes, protectedNamespaces: options.protectedNamespaces, now };
  const daemons = { fleet: options.fleet, view: options.view, nodes: options.nodes, now };
  const faults: Record<Exclude<NodeChaos['spec']['action'], 'node-network'>, Fault<NodeChaos>> = {
    'node-drain': nodeFault(shared, 'node-drain'),
    'node-taint': nodeFault(shared, 'node-taint'),
    'kubelet-stop': kubeletStopFault(daemons),
    'node-reboot': nodeRebootFault(daemons),
  };
  const controllerAddresses = () => controllerPodAddresses(options.pods.inNamespace(options.controllerNamespace), options.controllerNamespace);
  const candidates = (): CandidateNode[] => options.nodes.list().map((n) => ({ namespace: '', name: n.metadata.name ?? '', uid: n.metadata.uid ?? '', labels: n.metadata.labels ?? {} }));
  const replicas = () => controllerNodes(options.pods.inNamespace(options.controllerNamespace), options.controllerNamespace);
  return {
    resource: nodeChaos,
    naming: NODE_TARGETS,
    refuse: async () => undefined,
    select: async (chaos, seed) => {
      const pick = pickNodes(candidates(), chaos.spec, replicas(), options.policy, seed);
      if (pick.refusal !== undefined) return { targets: [], notes: [pick.refusal.message], refused: true, refusedReason: pick.refusal.reason };
      // A reboot's boot ID is recorded with the pick, before any request: every request then names the boot it is for.
      const bootIdBefore = (name: string) => (chaos.spec.action === 'node-reboot' ? bootIdOf(options.nodes.get(name)) : undefined);
      const targets = pick.picked.map((n): TargetRecord => {
        const boot = bootIdBefore(n.name);
        return { namespace: '', name: n.name, uid: n.uid, phase: 'Selected', ...(boot === undefined ? {} : { nodeFault: { bootIdBefore: boot } }) };
      });
      return { targets, notes: pick.notes, refused: false };
    },
    recheck: (chaos, targets) => {
      const matching = matchingNodes(candidates(), chaos.spec.selector);
      const controller = replicas();
      const allowed = options.policy.allowControllerNode || chaos.spec.allowControllerNode === true;
      return targets.map((target) => {
        const node = matching.find((n) => n.name === target.name);
        let reason: string | undefined;
        if (node === undefined) reason = options.nodes.get(target.name) === undefined ? 'the node is gone' : 'the node no longer matches the selector';
        else if (node.uid !== target.uid) reason = 'the node was recreated since it was picked';
        // A held drain keeps its node: the controller's own replicas cannot have moved onto a cordoned node.
        else if (!allowed && target.phase !== 'Injected') reason = controllerNodeRefusal(target.name, controller);
        return reason === undefined ? target : { ...target, phase: 'Failed', message: `refused before acting: ${reason}` };
      });
    },
    // node-network's fault says its spec (the action, the exceptions), so it is made for each experiment.
    fault: (chaos) => (chaos.spec.action === 'node-network' ? nodeNetworkFault({ ...daemons, controllerAddresses }, chaos) : faults[chaos.spec.action]),
  };
}
