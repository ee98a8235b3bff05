/**
 * Assembles the controller process: informers, one controller per chaos kind
 * on the shared experiment engine, the node daemons' connections and leases,
 * the daemon certificates, the Event recorder, leader election and the
 * health/metrics server.
 */
import type { NetworkChaos, NodeChaos, PodChaos, StatusCheck, StressChaos } from '../api/generated/types.ts';
import type { KubeClient } from '../kube/client.ts';
import { namespaces, nodes, pods } from '../kube/resources.ts';
import type { Namespace, Pod } from '../kube/types.ts';
import type { Schedule } from '../api/generated/types.ts';
import type { Workflow } from '../api/generated/types.ts';
import { Controller } from '../runtime/controller.ts';
import { EventRecorder } from '../runtime/events.ts';
import { Informer } from '../runtime/informer.ts';
import { Manager, type Runnable } from '../runtime/manager.ts';
import { annotationChanged, anyOf, specOrLifecycleChanged } from '../runtime/predicates.ts';
import { RuntimeMetrics } from '../runtime/runtime-metrics.ts';
import { sleep } from '../runtime/sleep.ts';
import { keyOf, type ObjectKey } from '../runtime/store.ts';
import type { Logger } from '../util/log.ts';
import { DaemonCertificates } from './certificates/daemon-certificates.ts';
import { ENSURE_INTERVAL_MS } from './certificates/rotation.ts';
import type { OperatorConfig } from './config.ts';
import { DAEMON_SELECTOR, DaemonFleet } from './daemons/fleet.ts';
import { journalDamageReporter } from './daemons/journal-damage.ts';
import { leaseRenewer } from './daemons/lease-renewer.ts';
import { fleetSurveyor } from './daemons/survey.ts';
import { guardRunner } from './guards/runner.ts';
import type { ChaosKind, Experiment } from './engine/experiment.ts';
import { ABORT_ANNOTATION, ExperimentEngine } from './engine/lifecycle.ts';
import { verdictMetrics } from './engine/verdict-metrics.ts';
import { networkChaosKind } from './networkchaos/kind.ts';
import { networkChaos } from './networkchaos/resource.ts';
import { podChaosKind } from './podchaos/kind.ts';
import { nodeChaosKind } from './nodechaos/kind.ts';
import { isNodeReady, type NodeObject } from './nodechaos/node-changes.ts';
import { nodeChaos } from './nodechaos/resource.ts';
import { stressChaosKind } from './stresschaos/kind.ts';
import { stressChaos } from './stresschaos/resource.ts';
import { podChaos } from './podchaos/resource.ts';
import { ownerKeys } from './schedule/chaos-objects.ts';
import { ScheduleReconciler } from './schedule/reconciler.ts';
import { schedules } from './schedule/resource.ts';
import { clusterView } from './targets/cluster-view.ts';
import { WorkflowReconciler } from './workflow/reconciler.ts';
import { workflows } from './workflow/resource.ts';
import { statusChecks } from './statuscheck/resource.ts';
import { StatusCheckReconciler } from './statuscheck/reconciler.ts';
import { selectedNamespaces } from './targets/pod-selection.ts';
import { slimPod } from './targets/pod-cache.ts';

export const LEASE_NAME = 'kerris-controller';
/** After a failed attempt (the apiserver briefly away), the leader tries the certificates again this soon. */
const CERTIFICATE_RETRY_MS = 5_000;

/**
 * Running experiments that a change of this pod may concern: those with targets in its namespace, and, for a
 * level-triggered kind, those whose selectors reach it (a new pod to inject, a peer whose address changed).
 */
function experimentsConcerning<T extends Experiment>(experiments: Informer<T>, reaches?: (chaos: T) => string[]): (pod: Pod) => ObjectKey[] {
  return (pod) => experiments.store.list()
    .filter((chaos) => (chaos.status?.phase === 'Running' || chaos.status?.phase === 'Recovering')
      && (chaos.status.targets?.some((t) => t.namespace === pod.metadata.namespace) || (reaches?.(chaos).includes(pod.metadata.namespace ?? '') ?? false)))
    .map((chaos) => keyOf(chaos));
}

/**
 * Running NodeChaos experiments a change of this pod may concern: it is on one of their nodes (an eviction to make
 * or one done), or in a namespace they evicted from (a replacement to record, a budget that may allow the next one).
 */
function nodeExperimentsConcerning(experiments: Informer<NodeChaos>): (pod: Pod) => ObjectKey[] {
  return (pod) => experiments.store.list()
    .filter((chaos) => chaos.status?.phase === 'Running' && (chaos.status.targets ?? []).some((t) => t.name === pod.spec?.nodeName
      || (t.nodeFault?.evicted ?? []).some((e) => e.namespace === pod.metadata.namespace)))
    .map((chaos) => keyOf(chaos));
}

/** The namespaces a NetworkChaos's selector and its target's selector reach. */
function networkChaosReach(chaos: NetworkChaos): string[] {
  const namespace = chaos.metadata.namespace ?? '';
  return [...selectedNamespaces(chaos.spec.selector, namespace), ...(chaos.spec.target ? selectedNamespaces(chaos.spec.target.selector, namespace) : [])];
}

/** The leader keeps the CA and the daemons' serving Secret current; a new CA is signed with only after it has spread (rotation.ts). */
function certificateKeeper(certificates: DaemonCertificates, logger: Logger): Runnable {
  return {
    name: 'daemon-certificates',
    async run(signal) {
      for (;;) {
        let waitMs = ENSURE_INTERVAL_MS;
        try {
          const result = await certificates.ensure();
          if (result.issued.length > 0) logger.info('daemon certificates issued', { issued: result.issued, reason: result.reason });
        } catch (error) {
          logger.error('daemon certificates could not be ensured; retrying', { error });
          waitMs = CERTIFICATE_RETRY_MS;
        }
        if (!await sleep(waitMs, signal)) return;
      }
    },
  };
}

export function buildOperator(client: KubeClient, config: OperatorConfig, logger: Logger): Manager {
  const metrics = new RuntimeMetrics();
  const allPods = new Informer<Pod>({ client, resource: pods, logger, observer: metrics.informerObserver('pods'), transform: slimPod });
  const allNamespaces = new Informer<Namespace>({ client, resource: namespaces, logger, observer: metrics.informerObserver('namespaces') });
  const allNodes = new Informer<NodeObject>({ client, resource: nodes, logger, observer: metrics.informerObserver('nodes') });
  // The fleet reads only the daemon pods: a small store of its own instead of a scan of every pod per call.
  const daemonPods = new Informer<Pod>({
    client, resource: pods, namespace: config.namespace, labelSelector: DAEMON_SELECTOR, logger, observer: metrics.informerObserver('daemon-pods'), transform: slimPod,
  });
  const view = clusterView({ namespaces: allNamespaces.store, pods: allPods.store, nodes: allNodes.store });
  const events = new EventRecorder({ client, reportingController: 'chaos.kerris.dev/controller', reportingInstance: config.identity, logger });
  const certificates = new DaemonCertificates({ client, namespace: config.namespace, log: logger });
  const fleet = new DaemonFleet({
    daemonPods: daemonPods.store,
    nodeReady: (node) => isNodeReady(allNodes.store.get(node)),
    material: () => certificates.clientMaterial(),
    serverName: certificates.daemonServerName,
    leaseTtlMs: config.daemonLeaseTtlMs,
    log: logger.child({ component: 'daemons' }),
  });
  const safety = { protectedNamespaces: config.protectedNamespaces, requireOptIn: config.requireOptIn };
  const onVerdict = verdictMetrics(metrics.registry);
  /** One controller per chaos kind, each on the shared engine, woken by changes of the pods its experiments concern. */
  function chaosController<T extends Experiment>(name: string, informer: Informer<T>, kind: ChaosKind<T>, reaches?: (chaos: T) => string[], concerning = experimentsConcerning(informer, reaches)): Controller<T> {
    const engine = new ExperimentEngine(client, events, kind, { maxTargets: config.maxTargets, onVerdict });
    return new Controller<T>({
      name,
      informer,
      concurrency: config.concurrency,
      metrics,
      logger,
      // Status writes by this controller come back as updates; only spec and lifecycle changes, and an abort, need a reconcile.
      shouldEnqueueUpdate: anyOf(specOrLifecycleChanged, annotationChanged(ABORT_ANNOTATION)),
      reconcile: (_object, ctx) => engine.reconcile({ namespace: ctx.namespace ?? '', name: ctx.name }),
    }).watches(allPods, concerning);
  }
  const podExperiments = new Informer<PodChaos>({ client, resource: podChaos, logger, observer: metrics.informerObserver('podchaos') });
  const networkExperiments = new Informer<NetworkChaos>({ client, resource: networkChaos, logger, observer: metrics.informerObserver('networkchaos') });
  const stressExperiments = new Informer<StressChaos>({ client, resource: stressChaos, logger, observer: metrics.informerObserver('stresschaos') });
  const nodeExperiments = new Informer<NodeChaos>({ client, resource: nodeChaos, logger, observer: metrics.informerObserver('nodechaos') });
  const checks = new Informer<StatusCheck>({ client, resource: statusChecks, logger, observer: metrics.informerObserver('statuschecks') });
  const statusCheckReconciler = new StatusCheckReconciler({ client, events });
  const scheduleObjects = new Informer<Schedule>({ client, resource: schedules, logger, observer: metrics.informerObserver('schedules') });
  const scheduleReconciler = new ScheduleReconciler({ client, events });
  // Its own status writes need no reconcile: the next slot is its requeue; a run's changes (it ended) wake it.
  const scheduleController = new Controller<Schedule>({
    name: 'schedule', informer: scheduleObjects, concurrency: config.concurrency, metrics, logger, shouldEnqueueUpdate: specOrLifecycleChanged,
    reconcile: (_schedule, ctx) => scheduleReconciler.reconcile({ namespace: ctx.namespace ?? '', name: ctx.name }),
  });
  const workflowObjects = new Informer<Workflow>({ client, resource: workflows, logger, observer: metrics.informerObserver('workflows') });
  const workflowReconciler = new WorkflowReconciler({ client, events });
  // Deadlines and Suspends are its requeue; its steps' changes (an experiment ended, a check completed) and an abort wake it.
  const workflowController = new Controller<Workflow>({
    name: 'workflow', informer: workflowObjects, concurrency: config.concurrency, metrics, logger,
    shouldEnqueueUpdate: anyOf(specOrLifecycleChanged, annotationChanged(ABORT_ANNOTATION)),
    reconcile: (_workflow, ctx) => workflowReconciler.reconcile({ namespace: ctx.namespace ?? '', name: ctx.name }),
  }).watches(checks, (step) => ownerKeys(step, 'Workflow')).watches(scheduleObjects, (step) => ownerKeys(step, 'Workflow'));
  /** A Schedule's runs and a Workflow's chaos steps, of every kind either creates (chaos-objects.ts), wake their owner. */
  function ownedExperiments<T extends Experiment>(experiments: Informer<T>): void {
    scheduleController.watches(experiments, (run) => ownerKeys(run, 'Schedule'));
    workflowController.watches(experiments, (step) => ownerKeys(step, 'Workflow'));
  }
  ownedExperiments(podExperiments);
  ownedExperiments(networkExperiments);
  ownedExperiments(stressExperiments);
  ownedExperiments(nodeExperiments);
  const controllers = [
    chaosController('podchaos', podExperiments, podChaosKind({ client, view, fleet, safety })),
    chaosController('networkchaos', networkExperiments, networkChaosKind({ view, fleet, safety }), networkChaosReach),
    chaosController('stresschaos', stressExperiments, stressChaosKind({ view, fleet, safety })),
    chaosController('nodechaos', nodeExperiments, nodeChaosKind({
      client, pods: allPods.store, nodes: allNodes.store, fleet, view, controllerNamespace: config.namespace, protectedNamespaces: config.protectedNamespaces,
      policy: { allowControllerNode: config.allowControllerNode, maxNodeSharePercent: config.maxNodeSharePercent },
    }), undefined, nodeExperimentsConcerning(nodeExperiments)),
    scheduleController,
    workflowController,
    // Its own status writes need no reconcile: the next execution is on its requeue timer.
    new Controller<StatusCheck>({
      name: 'statuscheck', informer: checks, concurrency: config.concurrency, metrics, logger, shouldEnqueueUpdate: specOrLifecycleChanged,
      reconcile: (check, ctx) => statusCheckReconciler.reconcile(check, ctx.signal, ctx.log),
    }),
  ];
  return new Manager({
    informers: [podExperiments, networkExperiments, stressExperiments, nodeExperiments, scheduleObjects, workflowObjects, checks, allPods, daemonPods, allNamespaces, allNodes],
    controllers: [...controllers, leaseRenewer(fleet), journalDamageReporter(fleet, events, logger.child({ component: 'daemons' })),
      fleetSurveyor({ client, fleet, namespace: config.namespace, identity: config.identity, log: logger.child({ component: 'daemons' }) }),
      guardRunner({
        client, events, log: logger.child({ component: 'guards' }),
        kinds: [{ resource: podChaos, store: podExperiments.store }, { resource: networkChaos, store: networkExperiments.store }, { resource: stressChaos, store: stressExperiments.store }, { resource: nodeChaos, store: nodeExperiments.store }],
      }), ...(config.certificates === 'controller' ? [certificateKeeper(certificates, logger)] : [])],
    metrics,
    logger,
    health: { port: config.healthPort },
    ...(config.leaderElection ? { leaderElection: { client, namespace: config.namespace, name: LEASE_NAME, identity: config.identity } } : {}),
  });
}
