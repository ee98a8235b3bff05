/** The metrics the runtime itself keeps: reconciles, work queues, informers, leader election. */
import type { InformerObserver } from './informer.ts';
import { Registry, type Counter, type Gauge, type Histogram } from './metrics.ts';
import type { WorkQueueObserver } from './workqueue.ts';

export type ReconcileResult = 'success' | 'requeue_after' | 'error';

export class RuntimeMetrics {
  readonly registry: Registry;
  readonly reconcileTotal: Counter;
  readonly reconcileErrors: Counter;
  readonly reconcileDuration: Histogram;
  readonly queueDepth: Gauge;
  readonly queueAdds: Counter;
  readonly queueRetries: Counter;
  readonly watchRestarts: Counter;
  readonly lists: Counter;
  readonly isLeader: Gauge;

  constructor(registry: Registry = new Registry()) {
    this.registry = registry;
    this.reconcileTotal = registry.counter({ name: 'kerris_reconcile_total', help: 'Reconciles by controller and result.', labelNames: ['controller', 'result'] });
    this.reconcileErrors = registry.counter({ name: 'kerris_reconcile_errors_total', help: 'Reconciles that threw.', labelNames: ['controller'] });
    this.reconcileDuration = registry.histogram({ name: 'kerris_reconcile_duration_seconds', help: 'Time spent in reconcile.', labelNames: ['controller'] });
    this.queueDepth = registry.gauge({ name: 'kerris_workqueue_depth', help: 'Keys waiting in the work queue.', labelNames: ['name'] });
    this.queueAdds = registry.counter({ name: 'kerris_workqueue_adds_total', help: 'Keys added to the work queue.', labelNames: ['name'] });
    this.queueRetries = registry.counter({ name: 'kerris_workqueue_retries_total', help: 'Keys re-added after a failure.', labelNames: ['name'] });
    this.watchRestarts = registry.counter({ name: 'kerris_informer_watch_restarts_total', help: 'Watches restarted, by reason.', labelNames: ['informer', 'reason'] });
    this.lists = registry.counter({ name: 'kerris_informer_lists_total', help: 'Full lists (first sync and relists).', labelNames: ['informer'] });
    this.isLeader = registry.gauge({ name: 'kerris_leader_election_is_leader', help: '1 while this process holds the lease.', labelNames: ['lease'] });
  }

  queueObserver(name: string): WorkQueueObserver {
    const labels = { name };
    this.queueDepth.set(labels, 0);
    return {
      added: () => this.queueAdds.inc(labels),
      retried: () => this.queueRetries.inc(labels),
      depth: (depth) => this.queueDepth.set(labels, depth),
    };
  }

  informerObserver(informer: string): InformerObserver {
    return {
      watchRestarted: (reason) => this.watchRestarts.inc({ informer, reason }),
      listed: () => this.lists.inc({ informer }),
    };
  }

  reconciled(controller: string, result: ReconcileResult, seconds: number): void {
    this.reconcileTotal.inc({ controller, result });
    if (result === 'error') this.reconcileErrors.inc({ controller });
    this.reconcileDuration.observe({ controller }, seconds);
  }
}
