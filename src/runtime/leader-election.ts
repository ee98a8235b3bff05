/**
 * Leader election over a coordination.k8s.io/v1 Lease, as client-go does it:
 * - a candidate takes the Lease when it is free (no holder) or when it has seen
 *   the same record for leaseDuration of its own monotonic time. It never
 *   compares the Lease's renewTime with its own wall clock, so neither skew
 *   between machines nor a wall-clock step hastens or delays a takeover;
 * - writes are PUTs carrying the resourceVersion read, so of two candidates
 *   racing for the Lease one gets 409 Conflict and stays a follower;
 * - the leader renews every retryPeriod. renewDeadline after the start of its
 *   last successful renewal, on the monotonic clock, it stops leading at once,
 *   even with a renewal still in flight. The others, who saw that renewal no
 *   earlier than it started, wait leaseDuration > renewDeadline from then;
 * - on shutdown it aborts the leading work and keeps renewing until that work
 *   has finished, so nobody else leads while it drains; then it releases the
 *   Lease so a follower takes over at its next try instead of after leaseDuration.
 * The Lease's MicroTimes are wall-clock stamps for people and other clients only.
 */
import type { CallOptions, WriteOptions } from '../kube/client.ts';
import { isAlreadyExists, isConflict, isNotFound } from '../kube/errors.ts';
import type { Resource } from '../kube/resource.ts';
import { leases } from '../kube/resources.ts';
import { formatMicroTime } from '../kube/time.ts';
import type { Lease, LeaseSpec } from '../kube/types.ts';
import { createLogger, type Logger } from '../util/log.ts';
import { systemClock, type Clock } from './clock.ts';
import type { RuntimeMetrics } from './runtime-metrics.ts';
import { sleep } from './sleep.ts';

/** The calls the elector makes, on Leases only: a KubeClient has them, and so can a unit test's stand-in. */
export interface LeaseClient {
  get(resource: Resource<Lease>, name: string, options: CallOptions): Promise<Lease>;
  create(resource: Resource<Lease>, object: Lease, options: WriteOptions): Promise<Lease>;
  replace(resource: Resource<Lease>, object: Lease, options: WriteOptions): Promise<Lease>;
}

export interface LeaderElectionOptions {
  client: LeaseClient;
  namespace: string;
  /** The Lease's name. */
  name: string;
  /** This candidate, unique among replicas: usually the pod name. */
  identity: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  /** Release the Lease when stopped (default true). False models a crash: the others wait out the lease. */
  releaseOnStop?: boolean;
  /** Runs the leader's work; `signal` aborts when leading ends. Release waits for the returned promise. */
  onStartedLeading(signal: AbortSignal): Promise<void> | void;
  onStoppedLeading?(): void;
  onNewLeader?(identity: string | undefined): void;
  /** Deadlines and lease expiry use its monotonicMs, the Lease's timestamps its wallMs (default: the system's). */
  clock?: Clock;
  metrics?: RuntimeMetrics;
  logger?: Logger;
}

export type ElectionState = 'unknown' | 'leading' | 'following';

/** How run() ended. */
export type ElectionEnd = 'stopped' | 'lost';

export class LeaderElector {
  readonly identity: string;
  readonly #options: LeaderElectionOptions;
  readonly #leaseDurationMs: number;
  readonly #renewDeadlineMs: number;
  readonly #retryPeriodMs: number;
  readonly #clock: Clock;
  readonly #log: Logger;
  #state: ElectionState = 'unknown';
  /** The Lease's record as last read, and when (monotonic) this candidate first saw it so. */
  #observed: { record: string; atMs: number } | undefined;
  #leader: string | undefined;

  constructor(options: LeaderElectionOptions) {
    this.#options = options;
    this.identity = options.identity;
    this.#leaseDurationMs = options.leaseDurationMs ?? 15_000;
    this.#renewDeadlineMs = options.renewDeadlineMs ?? 10_000;
    this.#retryPeriodMs = options.retryPeriodMs ?? 2_000;
    this.#clock = options.clock ?? systemClock;
    if (!(this.#leaseDurationMs > this.#renewDeadlineMs && this.#renewDeadlineMs > this.#retryPeriodMs && this.#retryPeriodMs > 0)) {
      throw new RangeError('leader election needs leaseDuration > renewDeadline > retryPeriod > 0');
    }
    if (this.#leaseDurationMs % 1000 !== 0) throw new RangeError('leaseDurationMs must be whole seconds (the Lease stores seconds)');
    if (!options.identity) throw new Error('leader election needs a non-empty identity');
    this.#log = (options.logger ?? createLogger()).child({ lease: `${options.namespace}/${options.name}`, identity: options.identity });
  }

  /** 'unknown' until the first attempt to read or take the Lease has an answer. */
  get state(): ElectionState {
    return this.#state;
  }

  get isLeader(): boolean {
    return this.#state === 'leading';
  }

  /** The holder last seen in the Lease. */
  get leader(): string | undefined {
    return this.#leader;
  }

  /**
   * Campaigns until this candidate leads, leads until the signal aborts or the
   * Lease is lost, then returns. Run it again to campaign anew.
   */
  async run(signal: AbortSignal): Promise<ElectionEnd> {
    while (!signal.aborted) {
      const attemptMs = this.#clock.monotonicMs();
      if (await this.#tryAcquireOrRenew(signal)) return this.#lead(signal, attemptMs);
      await sleep(this.#retryPeriodMs * (1 + 1.2 * Math.random()), signal);
    }
    return 'stopped';
  }

  /**
   * Leads from a renewal that started at renewedAtMs (monotonic). The renew
   * deadline is a timer rather than a check after each attempt, so a renewal
   * hanging on a dead connection cannot keep this replica leading past it.
   */
  async #lead(signal: AbortSignal, renewedAtMs: number): Promise<ElectionEnd> {
    const leaseName = `${this.#options.namespace}/${this.#options.name}`;
    this.#setState('leading');
    this.#log.info('started leading');
    let end: ElectionEnd = 'stopped';
    const lost = new AbortController();
    const lose = (why: string, fields: Record<string, unknown>): void => {
      if (lost.signal.aborted) return;
      end = 'lost';
      // Not leading from this moment: readiness and the metric say so while the work winds down.
      this.#setState('following');
      this.#log.warn(`lost the lease: ${why}`, fields);
      lost.abort(new Error(`lost ${leaseName}`));
    };
    const work = Promise.resolve()
      .then(() => this.#options.onStartedLeading(AbortSignal.any([signal, lost.signal])))
      .catch((error: unknown) => this.#log.error('leader work failed', { error }));
    // Renewing goes on after the signal aborts, until the aborted work has finished.
    const drained = new AbortController();
    void work.then(() => {
      if (signal.aborted) drained.abort();
      else signal.addEventListener('abort', () => drained.abort(), { once: true });
    });
    const renewing = AbortSignal.any([lost.signal, drained.signal]);
    const armDeadline = (): NodeJS.Timeout => setTimeout(
      () => lose('no renewal succeeded within renewDeadline', { sinceRenewMs: Math.round(this.#clock.monotonicMs() - renewedAtMs) }),
      renewedAtMs + this.#renewDeadlineMs - this.#clock.monotonicMs(),
    );
    let deadline = armDeadline();
    while (await sleep(this.#retryPeriodMs, renewing)) {
      const attemptMs = this.#clock.monotonicMs();
      if (await this.#tryAcquireOrRenew(renewing)) {
        renewedAtMs = attemptMs;
        clearTimeout(deadline);
        deadline = armDeadline();
      } else if (this.#leader !== undefined && this.#leader !== this.identity) {
        lose('another candidate holds it', { holder: this.#leader });
      }
    }
    clearTimeout(deadline);
    await work;
    this.#setState('following');
    this.#options.onStoppedLeading?.();
    if (end === 'stopped' && (this.#options.releaseOnStop ?? true)) await this.#release();
    return end;
  }

  #setState(state: ElectionState): void {
    this.#state = state;
    this.#options.metrics?.isLeader.set({ lease: `${this.#options.namespace}/${this.#options.name}` }, state === 'leading' ? 1 : 0);
  }

  /** One attempt; true if this candidate holds the Lease afterwards. Errors count as false. */
  async #tryAcquireOrRenew(signal: AbortSignal): Promise<boolean> {
    const { client, namespace, name } = this.#options;
    const request = AbortSignal.any([signal, AbortSignal.timeout(this.#renewDeadlineMs)]);
    try {
      let lease: Lease;
      try {
        lease = await client.get(leases, name, { namespace, signal: request });
      } catch (error) {
        if (!isNotFound(error)) throw error;
        const now = formatMicroTime(this.#clock.wallMs());
        await client.create(leases, {
          metadata: { name, namespace },
          spec: { holderIdentity: this.identity, leaseDurationSeconds: this.#leaseDurationMs / 1000, acquireTime: now, renewTime: now, leaseTransitions: 0 },
        }, { signal: request });
        this.#observe({ holderIdentity: this.identity });
        return true;
      }
      const spec = lease.spec ?? {};
      const unchangedSinceMs = this.#observe(spec);
      const holder = spec.holderIdentity || undefined;
      const durationMs = (spec.leaseDurationSeconds ?? this.#leaseDurationMs / 1000) * 1000;
      // Judged by how long this candidate has seen the same record, never by renewTime against this wall clock.
      if (holder !== undefined && holder !== this.identity && this.#clock.monotonicMs() - unchangedSinceMs < durationMs) {
        if (this.#state === 'unknown') this.#setState('following');
        return false;
      }
      const now = formatMicroTime(this.#clock.wallMs());
      const mine = holder === this.identity;
      const updated = await client.replace(leases, {
        ...lease,
        spec: {
          holderIdentity: this.identity,
          leaseDurationSeconds: this.#leaseDurationMs / 1000,
          acquireTime: mine ? spec.acquireTime ?? now : now,
          renewTime: now,
          leaseTransitions: mine ? spec.leaseTransitions ?? 0 : (spec.leaseTransitions ?? 0) + 1,
        },
      }, { signal: request });
      this.#observe(updated.spec ?? {});
      return true;
    } catch (error) {
      if (signal.aborted) return false;
      if (isConflict(error) || isAlreadyExists(error)) this.#log.debug('another candidate wrote the lease first');
      else this.#log.warn('could not read or write the lease', { error });
      if (this.#state === 'unknown' && (isConflict(error) || isAlreadyExists(error))) this.#setState('following');
      return false;
    }
  }

  /** Remembers the record; returns since when (monotonic) this candidate has seen it unchanged. */
  #observe(spec: LeaseSpec): number {
    const record = JSON.stringify([spec.holderIdentity ?? '', spec.renewTime ?? '', spec.acquireTime ?? '', spec.leaseTransitions ?? 0]);
    if (this.#observed?.record !== record) this.#observed = { record, atMs: this.#clock.monotonicMs() };
    const holder = spec.holderIdentity || undefined;
    if (holder !== this.#leader) {
      this.#leader = holder;
      this.#log.info('leader changed', { leader: holder ?? '(none)' });
      this.#options.onNewLeader?.(holder);
    }
    return this.#observed.atMs;
  }

  async #release(): Promise<void> {
    const { client, namespace, name } = this.#options;
    try {
      const lease = await client.get(leases, name, { namespace, signal: AbortSignal.timeout(this.#renewDeadlineMs) });
      if (lease.spec?.holderIdentity !== this.identity) return;
      const now = formatMicroTime(this.#clock.wallMs());
      await client.replace(leases, {
        ...lease,
        spec: { ...lease.spec, holderIdentity: null, leaseDurationSeconds: 1, acquireTime: now, renewTime: now },
      }, { signal: AbortSignal.timeout(this.#renewDeadlineMs) });
      this.#leader = undefined;
      this.#log.info('released the lease');
    } catch (error) {
      this.#log.warn('could not release the lease; the others take over when it expires', { error });
    }
  }
}
