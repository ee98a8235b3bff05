/**
 * Assembles the controller process: informers, one controller per chaos kind,
 * the Event recorder, leader election and the health/metrics server.
 */
import type { PodChaos } from '../api/generated/types.ts';
import type { KubeClient } from '../kube/client.ts';
import { pods } from '../kube/resources.ts';
import type { Pod } from '../kube/types.ts';
import { Controller } from '../runtime/controller.ts';
import { EventRecorder } from '../runtime/events.ts';
import { Informer } from '../runtime/informer.ts';
import { Manager } from '../runtime/manager.ts';
import { specOrLifecycleChanged } from '../runtime/predicates.ts';
import { RuntimeMetrics } from '../runtime/runtime-metrics.ts';
import { keyOf, type ObjectKey } from '../runtime/store.ts';
import type { Logger } from '../util/log.ts';
import type { OperatorConfig } from './config.ts';
import { PodChaosReconciler } from './podchaos/reconciler.ts';
import { podChaos } from './podchaos/resource.ts';

export const LEASE_NAME = 'kerris-controller';

/** Running experiments that a change of this pod may concern: those with targets in its namespace. */
function experimentsConcerning(experiments: Informer<PodChaos>): (pod: Pod) => ObjectKey[] {
  return (pod) => experiments.store.list()
    .filter((chaos) => chaos.status?.phase === 'Running' && chaos.status.targets?.some((t) => t.namespace === pod.metadata.namespace))
    .map((chaos) => keyOf(chaos));
}

export function buildOperator(client: KubeClient, config: OperatorConfig, logger: Logger): Manager {
  const metrics = new RuntimeMetrics();
  const experiments = new Informer<PodChaos>({ client, resource: podChaos, logger, observer: metrics.informerObserver('podchaos') });
  const allPods = new Informer<Pod>({ client, resource: pods, logger, observer: metrics.informerObserver('pods') });
  const events = new EventRecorder({ client, reportingController: 'chaos.kerris.dev/controller', reportingInstance: config.identity, logger });
  const reconciler = new PodChaosReconciler(client, events, {
    safety: { protectedNamespaces: config.protectedNamespaces, requireOptIn: config.requireOptIn },
  });
  const controller = new Controller<PodChaos>({
    name: 'podchaos',
    informer: experiments,
    concurrency: config.concurrency,
    metrics,
    logger,
    // Status writes by this controller come back as updates; only spec and lifecycle changes need a reconcile.
    shouldEnqueueUpdate: specOrLifecycleChanged,
    reconcile: (_object, ctx) => reconciler.reconcile({ namespace: ctx.namespace ?? '', name: ctx.name }),
  }).watches(allPods, experimentsConcerning(experiments));
  return new Manager({
    informers: [experiments, allPods],
    controllers: [controller],
    metrics,
    logger,
    health: { port: config.healthPort },
    ...(config.leaderElection ? { leaderElection: { client, namespace: config.namespace, name: LEASE_NAME, identity: config.identity } } : {}),
  });
}

