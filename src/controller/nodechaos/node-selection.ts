/**
 * Picking target nodes, as pure functions: the candidates the selector admits, the protected rules (the node the
 * controller needs, the share of the cluster) and the mode's seeded pick, shared with pods.
 */
import type { NodeSelectorSpec, SelectorMode } from '../../api/generated/types.ts';
import { pickTargets, targetCount } from '../targets/pod-selection.ts';

export interface CandidateNode {
  /** Always empty: nodes are cluster-scoped; the pick ranks `namespace/name` as it does for pods. */
  namespace: '';
  name: string;
  uid: string;
  labels: Readonly<Record<string, string>>;
}

/** The controller's rules for nodes; see docs/api.md, NodeChaos. */
export interface NodePolicy {
  /** The controller's --allow-controller-node: the node running every Ready controller replica may be a target. */
  allowControllerNode: boolean;
  /** The controller's --max-node-share: the most of the cluster's nodes one experiment may hit, in percent. */
  maxNodeSharePercent: number;
}

export interface NodePick {
  picked: CandidateNode[];
  notes: string[];
  /** Set when the pick may not go ahead: nothing is touched. */
  refusal?: { reason: 'ControllerNode' | 'ControllerNodes' | 'TooManyNodes'; message: string };
}

export function matchingNodes(nodes: readonly CandidateNode[], selector: NodeSelectorSpec): CandidateNode[] {
  const names = selector.nodes ?? [];
  const labels = Object.entries(selector.nodeSelectors ?? {});
  return nodes
    .filter((n) => (names.length === 0 || names.includes(n.name)) && labels.every(([k, v]) => n.labels[k] === v))
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** The most nodes of a cluster of `total` one experiment may hit: the share rounded down, never less than one. */
export function maxNodes(total: number, sharePercent: number): number {
  return Math.max(1, Math.floor((total * sharePercent) / 100));
}

/** Why a node may not be a target because the controller needs it, or undefined. `controllerNodes`: node → Ready replicas there. */
export function controllerNodeRefusal(node: string, controllerNodes: ReadonlyMap<string, readonly string[]>): string | undefined {
  const replicas = controllerNodes.get(node);
  if (controllerNodes.size !== 1 || replicas === undefined) return undefined;
  return `node ${node} runs every Ready kerris controller replica (${replicas.join(', ')}); set spec.allowControllerNode: true to allow it`;
}

/**
 * The nodes an experiment hits. The node running every Ready controller replica is left out of the candidates
 * before the pick (as protected namespaces are for pods), unless allowed; a pick of every node that runs a replica,
 * or of more nodes than the share allows, is refused whole, since a smaller pick than asked would be another experiment.
 */
export function pickNodes(
  all: readonly CandidateNode[],
  spec: { selector: NodeSelectorSpec; mode: SelectorMode; value?: string; allowControllerNode?: boolean },
  controllerNodes: ReadonlyMap<string, readonly string[]>,
  policy: NodePolicy,
  seed: number,
): NodePick {
  const allowed = policy.allowControllerNode || spec.allowControllerNode === true;
  const matching = matchingNodes(all, spec.selector);
  const notes: string[] = [];
  const candidates = matching.filter((n) => {
    const refusal = allowed ? undefined : controllerNodeRefusal(n.name, controllerNodes);
    if (refusal !== undefined) notes.push(refusal);
    return refusal === undefined;
  });
  if (candidates.length === 0 && notes.length > 0) return { picked: [], notes, refusal: { reason: 'ControllerNode', message: notes.join('; ') } };
  const picked = pickTargets(candidates, targetCount(spec.mode, spec.value, candidates.length, seed), seed);
  const limit = maxNodes(all.length, policy.maxNodeSharePercent);
  if (picked.length > limit) {
    return { picked: [], notes, refusal: { reason: 'TooManyNodes', message: `the pick takes ${picked.length} of the cluster's ${all.length} nodes, more than the ${limit} one experiment may hit (the controller's --max-node-share ${policy.maxNodeSharePercent}%); nothing was touched` } };
  }
  if (!allowed && controllerNodes.size > 1 && [...controllerNodes.keys()].every((n) => picked.some((p) => p.name === n))) {
    return { picked: [], notes, refusal: { reason: 'ControllerNodes', message: `the pick takes every node that runs a Ready kerris controller replica (${[...controllerNodes.keys()].join(', ')}); set spec.allowControllerNode: true to allow it` } };
  }
  return { picked, notes };
}
