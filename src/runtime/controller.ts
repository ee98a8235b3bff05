/**
 * A controller: keys of changed objects go into a work queue; workers take
 * keys out and reconcile the primary object's current cached state. The
 * reconcile's Action decides whether the key comes back on a timer; a thrown
 * error goes to the error policy, which by default backs the key off.
 */
import type { KubeObject } from '../kube/types.ts';
import { createLogger, type Logger } from '../util/log.ts';
import { describeAction, type Action, type ErrorAction } from './action.ts';
import type { BackoffPolicy } from './backoff.ts';
import type { EventHandlers, Informer } from './informer.ts';
import type { RuntimeMetrics } from './runtime-metrics.ts';
import { keyOf, splitKey, type ObjectKey } from './store.ts';
import { WorkQueue } from './workqueue.ts';

export interface ReconcileContext {
  key: ObjectKey;
  namespace: string | undefined;
  name: string;
  /** Failures of this key since its last success. */
  retries: number;
  /** Aborts when the controller stops and the drain deadline has passed. */
  signal: AbortSignal;
  log: Logger;
}

export type Reconciler<T> = (object: T, ctx: ReconcileContext) => Promise<Action>;

export type ErrorPolicy<T> = (error: unknown, object: T, ctx: ReconcileContext) => ErrorAction;

/** Maps a related object to the keys of the primary objects it concerns. */
export type KeyMapper<R> = (object: R) => Iterable<ObjectKey>;

export interface ControllerOptions<T extends KubeObject> {
  name: string;
  /** The informer of the primary objects. */
  informer: Informer<T>;
  reconcile: Reconciler<T>;
  /** Default: back the key off exponentially. */
  errorPolicy?: ErrorPolicy<T>;
  /** Workers; never two on the same key. */
  concurrency?: number;
  backoff?: BackoffPolicy;
  /** On stop, how long running reconciles may take before their signal aborts. */
  drainTimeoutMs?: number;
  /** Which updates of the primary object enqueue it; default all. */
  shouldEnqueueUpdate?: (old: T, object: T) => boolean;
  metrics?: RuntimeMetrics;
  logger?: Logger;
}

/** One watched informer, with its handlers bound. */
interface Watch {
  waitForSync(signal: AbortSignal): Promise<boolean>;
  subscribe(): () => void;
}

export class Controller<T extends KubeObject> {
  readonly name: string;
  readonly queue: WorkQueue<ObjectKey>;
  readonly #options: ControllerOptions<T>;
  readonly #log: Logger;
  readonly #watches: Watch[] = [];
  #running = false;

  constructor(options: ControllerOptions<T>) {
    const concurrency = options.concurrency ?? 1;
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new RangeError(`concurrency ${concurrency} is not a positive integer`);
    this.name = options.name;
    this.#options = options;
    this.#log = (options.logger ?? createLogger()).child({ controller: options.name });
    this.queue = new WorkQueue<ObjectKey>({
      ...(options.backoff ? { backoff: options.backoff } : {}),
      ...(options.metrics ? { observer: options.metrics.queueObserver(options.name) } : {}),
    });
    const enqueue = (object: T): void => this.queue.add(keyOf(object));
    const shouldEnqueueUpdate = options.shouldEnqueueUpdate ?? (() => true);
    this.#watch(options.informer, {
      added: enqueue,
      updated: (old, object) => { if (shouldEnqueueUpdate(old, object)) enqueue(object); },
      deleted: enqueue,
    });
  }

  /**
   * Reconciles primaries when related objects change: `map` names the primary
   * keys an object concerns. On update both the old and the new state are
   * mapped, so a primary that stops matching hears about it too.
   */
  watches<R extends KubeObject>(informer: Informer<R>, map: KeyMapper<R>): this {
    if (this.#running) throw new Error(`controller ${this.name}: add watches before run()`);
    const enqueue = (object: R): void => {
      try {
        for (const key of map(object)) this.queue.add(key);
      } catch (error) {
        this.#log.error('key mapper threw', { informer: informer.name, error });
      }
    };
    this.#watch(informer, { added: enqueue, updated: (old, object) => { enqueue(old); enqueue(object); }, deleted: enqueue });
    return this;
  }

  /**
   * Waits for every watched informer to sync, then reconciles until the signal
   * aborts. It then stops taking new keys and lets running reconciles finish
   * for up to drainTimeoutMs; after that it aborts their signal and resolves
   * without waiting for them.
   */
  async run(signal: AbortSignal): Promise<void> {
    if (this.#running) throw new Error(`controller ${this.name} is already running`);
    // Its queue is shut down at the end of a run: a controller that ran once is done, make a new one.
    if (this.queue.shuttingDown) throw new Error(`controller ${this.name} has already run`);
    this.#running = true;
    const unsubscribe = this.#watches.map((watch) => watch.subscribe());
    const hardStop = new AbortController();
    try {
      const synced = await Promise.all(this.#watches.map((watch) => watch.waitForSync(signal)));
      if (synced.every(Boolean)) {
        this.#log.info('started', { concurrency: this.#options.concurrency ?? 1 });
        const workers = Array.from({ length: this.#options.concurrency ?? 1 }, () => this.#worker(hardStop.signal));
        await new Promise<void>((resolve) => {
          if (signal.aborted) resolve();
          else signal.addEventListener('abort', () => resolve(), { once: true });
        });
        this.queue.shutdown();
        const drainMs = this.#options.drainTimeoutMs ?? 30_000;
        let deadline: NodeJS.Timeout | undefined;
        const expired = new Promise<void>((resolve) => {
          deadline = setTimeout(() => {
            // A reconcile that ignores its signal must not hold the process (and the Lease) forever.
            this.#log.warn('reconciles still running at the drain deadline; aborting and leaving them', { drainMs, running: this.queue.processing });
            hardStop.abort(new Error(`controller ${this.name} stopped`));
            resolve();
          }, drainMs);
        });
        await Promise.race([Promise.all(workers), expired]);
        clearTimeout(deadline);
      }
    } finally {
      this.queue.shutdown();
      for (const off of unsubscribe) off();
      this.#running = false;
      this.#log.info('stopped');
    }
  }

  #watch<R extends KubeObject>(informer: Informer<R>, handlers: EventHandlers<R>): void {
    this.#watches.push({ waitForSync: (signal) => informer.waitForSync(signal), subscribe: () => informer.addHandlers(handlers) });
  }

  async #worker(stop: AbortSignal): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined || stop.aborted) {
        if (key !== undefined) this.queue.done(key);
        return;
      }
      try {
        await this.#process(key, stop);
      } finally {
        this.queue.done(key);
      }
    }
  }

  async #process(key: ObjectKey, stop: AbortSignal): Promise<void> {
    const object = this.#options.informer.store.get(key);
    if (object === undefined) {
      // Gone from the cache: nothing to reconcile; cleanup is what finalizers are for.
      this.queue.forget(key);
      return;
    }
    const { namespace, name } = splitKey(key);
    const ctx: ReconcileContext = {
      key, namespace, name, retries: this.queue.retries(key), signal: stop,
      log: this.#log.child({ key }),
    };
    const started = performance.now();
    let action: ErrorAction;
    let failed = false;
    try {
      action = await this.#options.reconcile(object, ctx);
    } catch (error) {
      failed = true;
      action = this.#options.errorPolicy ? this.#safePolicy(error, object, ctx) : { backoff: true };
      ctx.log.warn('reconcile failed', { error, retries: ctx.retries, next: describeAction(action) });
    }
    const seconds = (performance.now() - started) / 1000;
    const requeue = 'requeueAfterMs' in action;
    this.#options.metrics?.reconciled(this.name, failed ? 'error' : requeue ? 'requeue_after' : 'success', seconds);
    if ('backoff' in action) {
      this.queue.addRateLimited(key);
      return;
    }
    if (!failed) this.queue.forget(key);
    if ('requeueAfterMs' in action) this.queue.addAfter(key, action.requeueAfterMs);
  }

  #safePolicy(error: unknown, object: T, ctx: ReconcileContext): ErrorAction {
    try {
      return this.#options.errorPolicy?.(error, object, ctx) ?? { backoff: true };
    } catch (policyError) {
      ctx.log.error('error policy threw; backing off', { error: policyError });
      return { backoff: true };
    }
  }
}
