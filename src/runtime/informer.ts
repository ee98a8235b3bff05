/**
 * An informer (reflector + cache): lists a collection, then watches it from
 * the list's resourceVersion, keeping a Store current and telling handlers
 * what changed. It never gives up while running:
 * - any failure restarts the watch after a capped, jittered exponential backoff;
 * - 410 Gone (the resourceVersion was compacted away) relists, and the relist
 *   tells handlers about every object that changed or vanished meanwhile;
 * - a watch that delivers no event or bookmark for idleTimeoutMs is presumed
 *   stalled (a dead connection can look alive) and restarted;
 * - the apiserver ends each watch after a randomised timeoutSeconds, which
 *   spreads reconnects of many clients.
 */
import { ApiError, isGone } from '../kube/errors.ts';
import type { KubeClient } from '../kube/client.ts';
import { resourceName, type Resource } from '../kube/resource.ts';
import type { KubeObject, WatchEvent } from '../kube/types.ts';
import { createLogger, type Logger } from '../util/log.ts';
import { Backoff, DEFAULT_BACKOFF, type BackoffPolicy } from './backoff.ts';
import { sleep } from './sleep.ts';
import { keyOf, Store } from './store.ts';

export interface EventHandlers<T> {
  added?(object: T): void;
  updated?(old: T, object: T): void;
  deleted?(object: T): void;
}

export type RestartReason = 'closed' | 'stalled' | 'error' | 'gone';

/** Hooks for metrics. */
export interface InformerObserver {
  watchRestarted?(reason: RestartReason): void;
  listed?(objects: number): void;
}

export interface InformerOptions<T extends KubeObject> {
  client: KubeClient;
  resource: Resource<T>;
  /** Undefined watches every namespace. */
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  backoff?: BackoffPolicy;
  /** Each watch asks the apiserver to end it after between this and twice this. */
  watchTimeoutSeconds?: number;
  /** Restart a watch that has been silent this long. */
  idleTimeoutMs?: number;
  logger?: Logger;
  observer?: InformerObserver;
  /**
   * Applied to every object before it is stored or handed to handlers: strips what readers never use, so a
   * cluster-wide cache (every pod) stays small. It must keep metadata.name, namespace and resourceVersion.
   */
  transform?: (object: T) => T;
}

interface WatchOutcome {
  events: number;
  stalled: boolean;
  durationMs: number;
}

/** A watch that ends this fast with nothing delivered counts as a failure, so it backs off. */
const MIN_HEALTHY_WATCH_MS = 1_000;

export class Informer<T extends KubeObject> {
  readonly store = new Store<T>();
  readonly resource: Resource<T>;
  readonly #options: InformerOptions<T>;
  readonly #handlers = new Set<EventHandlers<T>>();
  readonly #syncWaiters: Array<() => void> = [];
  readonly #log: Logger;
  #resourceVersion: string | undefined;
  #synced = false;
  #running = false;

  constructor(options: InformerOptions<T>) {
    this.#options = options;
    this.resource = options.resource;
    this.#log = (options.logger ?? createLogger()).child({ informer: this.name });
  }

  /** What the informer watches, for logs and metrics: `configmaps`, `pods in ns`, with selectors. */
  get name(): string {
    const { namespace, labelSelector, fieldSelector } = this.#options;
    return [resourceName(this.resource), namespace ? `in ${namespace}` : '', labelSelector ? `l:${labelSelector}` : '', fieldSelector ? `f:${fieldSelector}` : '']
      .filter((p) => p !== '').join(' ');
  }

  /** True once the first list has filled the store. */
  get synced(): boolean {
    return this.#synced;
  }

  /** The resourceVersion the next watch starts from; undefined means a relist comes first. */
  get resourceVersion(): string | undefined {
    return this.#resourceVersion;
  }

  /**
   * Registers handlers and returns their removal. Handlers added after the
   * first sync hear about every cached object as `added` first. Handlers
   * should be quick (enqueue a key); one that throws is logged and skipped.
   */
  addHandlers(handlers: EventHandlers<T>): () => void {
    this.#handlers.add(handlers);
    if (this.#synced) for (const object of this.store.list()) this.#call('added', () => handlers.added?.(object));
    return () => this.#handlers.delete(handlers);
  }

  /** Resolves true once synced, false if the signal aborts first. */
  waitForSync(signal?: AbortSignal): Promise<boolean> {
    if (this.#synced) return Promise.resolve(true);
    if (signal?.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const onAbort = (): void => resolve(false);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#syncWaiters.push(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve(true);
      });
    });
  }

  /**
   * Lists and watches until the signal aborts. May run again later: it then
   * resumes from the last resourceVersion, and relists if that is gone.
   */
  async run(signal: AbortSignal): Promise<void> {
    if (this.#running) throw new Error(`informer ${this.name} is already running`);
    this.#running = true;
    const backoff = new Backoff(this.#options.backoff ?? DEFAULT_BACKOFF);
    try {
      while (!signal.aborted) {
        try {
          if (this.#resourceVersion === undefined) await this.#relist(signal);
          const outcome = await this.#watch(signal);
          if (signal.aborted) break;
          const healthy = outcome.events > 0 || outcome.durationMs >= MIN_HEALTHY_WATCH_MS;
          this.#options.observer?.watchRestarted?.(outcome.stalled ? 'stalled' : 'closed');
          if (outcome.stalled) this.#log.warn('watch silent too long; restarting it', { idleTimeoutMs: this.#idleTimeoutMs, resourceVersion: this.#resourceVersion });
          if (healthy && !outcome.stalled) backoff.reset();
          else await sleep(backoff.next(), signal);
        } catch (error) {
          if (signal.aborted) break;
          if (isGone(error)) {
            this.#options.observer?.watchRestarted?.('gone');
            this.#log.info('resourceVersion is gone; relisting', { resourceVersion: this.#resourceVersion, reason: error.reason });
            this.#resourceVersion = undefined;
            // The first relist is immediate; repeated failures back off like any other.
            const delay = backoff.next();
            if (backoff.attempts > 1) await sleep(delay, signal);
            continue;
          }
          this.#options.observer?.watchRestarted?.('error');
          const delay = backoff.next();
          this.#log.warn('list or watch failed; retrying', { error, retryInMs: Math.round(delay), attempt: backoff.attempts });
          await sleep(delay, signal);
        }
      }
    } finally {
      this.#running = false;
    }
  }

  get #idleTimeoutMs(): number {
    return this.#options.idleTimeoutMs ?? 120_000;
  }

  async #relist(signal: AbortSignal): Promise<void> {
    const { client, namespace, labelSelector, fieldSelector } = this.#options;
    const snapshot = await client.listAll(this.resource, {
      signal,
      ...(namespace !== undefined ? { namespace } : {}),
      ...(labelSelector !== undefined ? { labelSelector } : {}),
      ...(fieldSelector !== undefined ? { fieldSelector } : {}),
    });
    const transform = this.#options.transform;
    const diff = this.store.replace(transform ? snapshot.items.map(transform) : snapshot.items);
    this.#resourceVersion = snapshot.resourceVersion;
    this.#options.observer?.listed?.(snapshot.items.length);
    this.#log.debug('listed', { objects: snapshot.items.length, resourceVersion: snapshot.resourceVersion });
    for (const object of diff.added) this.#dispatch('added', (h) => h.added?.(object));
    for (const { old, object } of diff.updated) this.#dispatch('updated', (h) => h.updated?.(old, object));
    for (const object of diff.deleted) this.#dispatch('deleted', (h) => h.deleted?.(object));
    if (!this.#synced) {
      this.#synced = true;
      for (const resolve of this.#syncWaiters.splice(0)) resolve();
    }
  }

  async #watch(signal: AbortSignal): Promise<WatchOutcome> {
    const { client, namespace, labelSelector, fieldSelector } = this.#options;
    const started = Date.now();
    const watchdogFired = new AbortController();
    const stop = AbortSignal.any([signal, watchdogFired.signal]);
    let stalled = false;
    const watchdog = setTimeout(() => {
      stalled = true;
      watchdogFired.abort(new Error('watch stalled'));
    }, this.#idleTimeoutMs);
    const base = this.#options.watchTimeoutSeconds ?? 300;
    let events = 0;
    try {
      const stream = client.watch(this.resource, {
        signal: stop,
        resourceVersion: this.#resourceVersion ?? '',
        allowWatchBookmarks: true,
        timeoutSeconds: Math.round(base * (1 + Math.random())),
        ...(namespace !== undefined ? { namespace } : {}),
        ...(labelSelector !== undefined ? { labelSelector } : {}),
        ...(fieldSelector !== undefined ? { fieldSelector } : {}),
      });
      for await (const event of stream) {
        watchdog.refresh();
        events += 1;
        this.#apply(event);
      }
    } finally {
      clearTimeout(watchdog);
    }
    return { events, stalled, durationMs: Date.now() - started };
  }

  #apply(event: WatchEvent<T>): void {
    switch (event.type) {
      case 'ERROR': {
        const status = event.object;
        throw new ApiError(status.code ?? 500, status.reason ?? 'Unknown', status.message ?? 'watch error event', status.details);
      }
      case 'BOOKMARK':
        this.#resourceVersion = event.object.metadata.resourceVersion;
        return;
      case 'ADDED':
      case 'MODIFIED': {
        const object = this.#options.transform ? this.#options.transform(event.object) : event.object;
        const old = this.store.upsert(object);
        this.#resourceVersion = object.metadata.resourceVersion;
        if (old === undefined) this.#dispatch('added', (h) => h.added?.(object));
        else this.#dispatch('updated', (h) => h.updated?.(old, object));
        return;
      }
      case 'DELETED': {
        const object = this.#options.transform ? this.#options.transform(event.object) : event.object;
        this.store.delete(keyOf(object));
        this.#resourceVersion = object.metadata.resourceVersion;
        this.#dispatch('deleted', (h) => h.deleted?.(object));
        return;
      }
    }
  }

  #dispatch(kind: keyof EventHandlers<T>, call: (handlers: EventHandlers<T>) => void): void {
    for (const handlers of this.#handlers) this.#call(kind, () => call(handlers));
  }

  #call(kind: string, call: () => void): void {
    try {
      call();
    } catch (error) {
      this.#log.error('event handler threw', { kind, error });
    }
  }
}
