/**
 * PodChaos as the experiment engine runs it: targets picked by the shared pod
 * selection, and one fault per action (pod-kill through the API, pod-failure
 * and container-kill through the node daemons).
 */
import type { PodChaos } from '../../api/generated/types.ts';
import type { KubeClient } from '../../kube/client.ts';
import type { ChaosKind, Fault } from '../engine/experiment.ts';
import type { DaemonFleet } from '../daemons/fleet.ts';
import type { ClusterView } from '../targets/cluster-view.ts';
import type { SafetyPolicy } from '../targets/pod-selection.ts';
import { recheckPods, selectPods } from '../targets/select-pods.ts';
import { containerFault } from './container-faults.ts';
import { podKill } from './pod-kill.ts';
import { podChaos } from './resource.ts';

export interface PodChaosKindOptions {
  client: KubeClient;
  view: ClusterView;
  fleet: DaemonFleet;
  safety: SafetyPolicy;
  now?: () => Date;
}

export function podChaosKind(options: PodChaosKindOptions): ChaosKind<PodChaos> {
  const now = options.now ?? (() => new Date());
  const onNodes = containerFault({ fleet: options.fleet, view: options.view, now });
  const faults: Record<PodChaos['spec']['action'], Fault<PodChaos>> = {
    'pod-kill': podKill(options.client, options.view, now),
    'pod-failure': onNodes('pod-failure'),
    'container-kill': onNodes('container-kill'),
  };
  return {
    resource: podChaos,
    refuse: async (chaos) => (chaos.spec.action !== 'pod-kill' && options.fleet.nodes().length === 0
      ? `action ${chaos.spec.action} acts through the kerris node daemon, and no daemon pod is Ready in the cluster; nothing was done`
      : undefined),
    select: async (chaos, seed) => selectPods(options.view, chaos.spec, chaos.metadata.namespace ?? '', options.safety, seed),
    recheck: (chaos, targets) => recheckPods(options.view, chaos.spec, chaos.metadata.namespace ?? '', options.safety, targets),
    fault: (chaos) => faults[chaos.spec.action],
  };
}
