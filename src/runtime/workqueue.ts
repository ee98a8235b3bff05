/**
 * A work queue of keys, in the manner of client-go's rate-limited queue:
 * - a key is queued at most once, however often it is added;
 * - a key being processed is never handed out again until done(); if it was
 *   added meanwhile, done() queues it again, so workers never share a key;
 * - failures back off per key, exponentially, until forget();
 * - addAfter() queues a key later, keeping the earliest of pending delays;
 * - after shutdown() nothing new is accepted, the queued keys are still handed
 *   out (draining), and get() answers undefined once the queue is empty.
 */
import { backoffDelay, DEFAULT_BACKOFF, validateBackoff, type BackoffPolicy } from './backoff.ts';

/** Hooks for metrics. */
export interface WorkQueueObserver {
  added?(): void;
  retried?(): void;
  depth?(depth: number): void;
}

export interface WorkQueueOptions {
  backoff?: BackoffPolicy;
  random?: () => number;
  observer?: WorkQueueObserver;
  /** Milliseconds on a monotonic clock; performance.now by default, so a wall-clock step moves no delay. */
  now?: () => number;
}

/** Node fires a timer set longer than this (about 24.8 days) after 1 ms; longer waits are re-armed in steps. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

interface Delayed {
  due: number;
  timer: NodeJS.Timeout;
}

export class WorkQueue<K = string> {
  readonly #queue: K[] = [];
  readonly #dirty = new Set<K>();
  readonly #processing = new Set<K>();
  readonly #failures = new Map<K, number>();
  readonly #delayed = new Map<K, Delayed>();
  readonly #getters: Array<(key: K | undefined) => void> = [];
  readonly #idle: Array<() => void> = [];
  readonly #backoff: BackoffPolicy;
  readonly #random: () => number;
  readonly #observer: WorkQueueObserver;
  readonly #now: () => number;
  #shuttingDown = false;

  constructor(options: WorkQueueOptions = {}) {
    this.#backoff = options.backoff ?? DEFAULT_BACKOFF;
    validateBackoff(this.#backoff);
    this.#random = options.random ?? Math.random;
    this.#observer = options.observer ?? {};
    this.#now = options.now ?? (() => performance.now());
  }

  /** Keys waiting to be handed out (not those in process or delayed). */
  get length(): number {
    return this.#queue.length;
  }

  get processing(): number {
    return this.#processing.size;
  }

  get delayed(): number {
    return this.#delayed.size;
  }

  get shuttingDown(): boolean {
    return this.#shuttingDown;
  }

  add(key: K): void {
    if (this.#shuttingDown || this.#dirty.has(key)) return;
    this.#dirty.add(key);
    this.#observer.added?.();
    if (this.#processing.has(key)) return;
    this.#push(key);
  }

  /** Adds the key after ms; an earlier pending delay for the same key wins. */
  addAfter(key: K, ms: number): void {
    if (this.#shuttingDown) return;
    if (ms <= 0) {
      this.add(key);
      return;
    }
    const due = this.#now() + ms;
    const pending = this.#delayed.get(key);
    if (pending && pending.due <= due) return;
    if (pending) clearTimeout(pending.timer);
    this.#arm(key, due);
  }

  #arm(key: K, due: number): void {
    const timer = setTimeout(() => {
      if (this.#now() < due) {
        this.#arm(key, due);
        return;
      }
      this.#delayed.delete(key);
      this.add(key);
    }, Math.min(MAX_TIMER_MS, Math.max(1, due - this.#now())));
    this.#delayed.set(key, { due, timer });
  }

  /** Adds the key after its backoff delay, which grows with each call until forget(). */
  addRateLimited(key: K): void {
    const failures = this.#failures.get(key) ?? 0;
    this.#failures.set(key, failures + 1);
    this.#observer.retried?.();
    this.addAfter(key, backoffDelay(this.#backoff, failures, this.#random));
  }

  /** Ends the key's backoff: its next failure waits the initial delay again. */
  forget(key: K): void {
    this.#failures.delete(key);
  }

  /** How many times the key was re-added through addRateLimited since its last forget(). */
  retries(key: K): number {
    return this.#failures.get(key) ?? 0;
  }

  /** The next key, once there is one; undefined when shut down and drained. Call done(key) after processing. */
  get(): Promise<K | undefined> {
    const key = this.#queue.shift();
    if (key !== undefined) {
      this.#take(key);
      return Promise.resolve(key);
    }
    if (this.#shuttingDown) return Promise.resolve(undefined);
    return new Promise((resolve) => this.#getters.push(resolve));
  }

  done(key: K): void {
    if (!this.#processing.delete(key)) return;
    if (this.#dirty.has(key)) this.#push(key);
    this.#notifyIdle();
  }

  /** Stops accepting keys and drops delayed ones; queued keys are still handed out. */
  shutdown(): void {
    this.#shuttingDown = true;
    for (const { timer } of this.#delayed.values()) clearTimeout(timer);
    this.#delayed.clear();
    if (this.#queue.length === 0) for (const resolve of this.#getters.splice(0)) resolve(undefined);
    this.#notifyIdle();
  }

  /** Resolves once the queue is shut down, empty, and no key is in process. */
  drained(): Promise<void> {
    if (this.#isDrained()) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  #push(key: K): void {
    const getter = this.#getters.shift();
    if (getter) {
      this.#take(key);
      getter(key);
      return;
    }
    this.#queue.push(key);
    this.#observer.depth?.(this.#queue.length);
  }

  #take(key: K): void {
    this.#processing.add(key);
    this.#dirty.delete(key);
    this.#observer.depth?.(this.#queue.length);
  }

  #isDrained(): boolean {
    return this.#shuttingDown && this.#queue.length === 0 && this.#processing.size === 0;
  }

  #notifyIdle(): void {
    if (this.#shuttingDown && this.#queue.length === 0) for (const resolve of this.#getters.splice(0)) resolve(undefined);
    if (this.#isDrained()) for (const resolve of this.#idle.splice(0)) resolve();
  }
}
