/**
 * StressChaos as the experiment engine runs it: targets picked once by the shared pod selection, and stressors in
 * their containers, held by the node daemons.
 */
import type { StressChaos } from '../../api/generated/types.ts';
import type { ChaosKind } from '../engine/experiment.ts';
import type { DaemonFleet } from '../daemons/fleet.ts';
import type { ClusterView } from '../targets/cluster-view.ts';
import type { SafetyPolicy } from '../targets/pod-selection.ts';
import { recheckPods, selectPods } from '../targets/select-pods.ts';
import { stressChaos } from './resource.ts';
import { stressFault } from './stress-fault.ts';

export interface StressChaosKindOptions {
  view: ClusterView;
  fleet: DaemonFleet;
  safety: SafetyPolicy;
  now?: () => Date;
}

export function stressChaosKind(options: StressChaosKindOptions): ChaosKind<StressChaos> {
  const fault = stressFault({ fleet: options.fleet, view: options.view, now: options.now ?? (() => new Date()) });
  const namespaceOf = (chaos: StressChaos): string => chaos.metadata.namespace ?? '';
  return {
    resource: stressChaos,
    refuse: async () => (options.fleet.nodes().length === 0 ? 'stressors run through the kerris node daemon, and no daemon pod is Ready in the cluster; nothing was done' : undefined),
    select: async (chaos, seed) => selectPods(options.view, chaos.spec, namespaceOf(chaos), options.safety, seed),
    recheck: (chaos, targets) => recheckPods(options.view, chaos.spec, namespaceOf(chaos), options.safety, targets),
    fault: () => fault,
  };
}
