/**
 * The peers a NetworkChaos scopes its fault to, as they are now: the addresses of the pods `target` picks and the
 * `externalTargets`, host names resolved. Worked out again every time the fault is stated, so a replaced peer pod's
 * new address is faulted and the old one no longer is.
 */
import type { NetworkChaos } from '../../api/generated/types.ts';
import type { Pod } from '../../kube/types.ts';
import type { ClusterView } from '../targets/cluster-view.ts';
import type { SafetyPolicy } from '../targets/pod-selection.ts';
import { selectPods } from '../targets/select-pods.ts';
import { parseExternalTarget, resolveExternalTargets, type Resolver } from './external-targets.ts';
import type { Peers } from './plan.ts';

/**
 * Peers are only addresses; no fault lands on them, so the namespaces they are in need not admit chaos. Admission
 * still requires that the requester may list pods wherever `target` reaches.
 */
const PEERS_ARE_ADDRESSES: SafetyPolicy = { protectedNamespaces: new Set(), requireOptIn: false };

export interface PeerReport {
  peers: Peers;
  /** How many peer addresses the fault is scoped to. */
  count: number;
  resolved: { host: string; addresses: string[] }[];
  /** Why the peers cannot be worked out now (a host name that does not resolve); nothing should be stated then. */
  problem?: string;
}

export function podAddresses(pod: Pod): string[] {
  const all = pod.status?.podIPs?.map((a) => a.ip) ?? (pod.status?.podIP ? [pod.status.podIP] : []);
  return all.map((ip) => (ip.includes(':') ? `${ip}/128` : `${ip}/32`));
}

export async function peersOf(chaos: NetworkChaos, view: ClusterView, seed: number, resolve: Resolver): Promise<PeerReport> {
  const { spec } = chaos;
  if (spec.target === undefined && (spec.externalTargets ?? []).length === 0) return { peers: { cidrs: undefined, byPort: new Map() }, count: 0, resolved: [] };
  const cidrs: string[] = [];
  if (spec.target !== undefined) {
    const picked = selectPods(view, spec.target, chaos.metadata.namespace ?? '', PEERS_ARE_ADDRESSES, seed);
    for (const target of picked.targets) {
      const pod = view.pod(target.namespace, target.name);
      if (pod !== undefined) cidrs.push(...podAddresses(pod));
    }
  }
  const external = await resolveExternalTargets((spec.externalTargets ?? []).map(parseExternalTarget), resolve);
  cidrs.push(...external.cidrs);
  const count = new Set([...cidrs, ...[...external.byPort.values()].flat()]).size;
  return {
    peers: { cidrs, byPort: external.byPort },
    count,
    resolved: external.resolved,
    ...(external.unresolved.length > 0 ? { problem: `externalTargets did not resolve: ${external.unresolved.join('; ')}` } : {}),
  };
}
