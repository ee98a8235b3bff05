/**
 * NetworkChaos as the experiment engine runs it: targets picked by the shared pod selection and followed while the
 * fault is held (level-triggered), and one network fault per action, held by the node daemons.
 */
import { lookup } from 'node:dns/promises';
import type { NetworkChaos } from '../../api/generated/types.ts';
import { formatTime } from '../../kube/time.ts';
import type { ChaosKind, Fault } from '../engine/experiment.ts';
import type { DaemonFleet } from '../daemons/fleet.ts';
import type { ClusterView } from '../targets/cluster-view.ts';
import type { SafetyPolicy } from '../targets/pod-selection.ts';
import { followPods, recheckPods, selectPods } from '../targets/select-pods.ts';
import type { Resolver } from './external-targets.ts';
import { networkFault } from './network-fault.ts';
import { networkChaos } from './resource.ts';

export interface NetworkChaosKindOptions {
  view: ClusterView;
  fleet: DaemonFleet;
  safety: SafetyPolicy;
  /** Host names in externalTargets; the system resolver's A and AAAA records by default. */
  resolve?: Resolver;
  now?: () => Date;
}

const systemResolver: Resolver = async (host) => (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);

export function networkChaosKind(options: NetworkChaosKindOptions): ChaosKind<NetworkChaos> {
  const now = options.now ?? (() => new Date());
  const make = networkFault({ fleet: options.fleet, view: options.view, resolve: options.resolve ?? systemResolver, now });
  const faults = new Map<NetworkChaos['spec']['action'], Fault<NetworkChaos>>();
  const faultOf = (action: NetworkChaos['spec']['action']): Fault<NetworkChaos> => {
    let fault = faults.get(action);
    if (fault === undefined) faults.set(action, fault = make(action));
    return fault;
  };
  const namespaceOf = (chaos: NetworkChaos): string => chaos.metadata.namespace ?? '';
  return {
    resource: networkChaos,
    refuse: async () => (options.fleet.nodes().length === 0 ? 'network faults act through the kerris node daemon, and no daemon pod is Ready in the cluster; nothing was done' : undefined),
    select: async (chaos, seed) => selectPods(options.view, chaos.spec, namespaceOf(chaos), options.safety, seed),
    recheck: (chaos, targets) => recheckPods(options.view, chaos.spec, namespaceOf(chaos), options.safety, targets),
    follow: (chaos, targets, seed) => followPods(options.view, chaos.spec, namespaceOf(chaos), options.safety, seed, targets, formatTime(now().getTime())),
    fault: (chaos) => faultOf(chaos.spec.action),
  };
}
