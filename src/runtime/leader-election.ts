/**
 * Leader election over a coordination.k8s.io/v1 Lease, as client-go does it:
 * - a candidate takes the Lease when it is free (no holder) or when its record
 *   has not changed for leaseDuration, measured on the candidate's own clock
 *   from when it last saw the record change, so clock skew does not matter;
 * - writes are PUTs carrying the resourceVersion read, so of two candidates
 *   racing for the Lease one gets 409 Conflict and stays a follower;
 * - the leader renews every retryPeriod; if it cannot renew for renewDeadline
 *   it stops leading (before the others may take over at leaseDuration);
 * - on shutdown it waits for the leading work to stop, then releases the Lease
 *   so a follower takes over at its next try instead of after leaseDuration.
 */
import type { KubeClient } from '../kube/client.ts';
import { isAlreadyExists, isConflict, isNotFound } from '../kube/errors.ts';
import { leases } from '../kube/resources.ts';
import { nowMicroTime } from '../kube/time.ts';
import type { Lease, LeaseSpec } from '../kube/types.ts';
import { createLogger, type Logger } from '../util/log.ts';
import type { RuntimeMetrics } from './runtime-metrics.ts';
import { sleep } from './sleep.ts';

export interface LeaderElectionOptions {
  client: KubeClient;
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
  readonly #log: Logger;
  #state: ElectionState = 'unknown';
  #observed: { record: string; atMs: number; spec: LeaseSpec } | undefined;
  #leader: string | undefined;

  constructor(options: LeaderElectionOptions) {
    this.#options = options;
    this.identity = options.identity;
    this.#leaseDurationMs = options.leaseDurationMs ?? 15_000;
    this.#renewDeadlineMs = options.renewDeadlineMs ?? 10_000;
    this.#retryPeriodMs = options.retryPeriodMs ?? 2_000;
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
   * Campaigns until this candidate leads, leads until the signal aborts or a
   * renewal fails past renewDeadline, then returns. Run it again to campaign anew.
   */
  async run(signal: AbortSignal): Promise<ElectionEnd> {
    const leaseName = `${this.#options.namespace}/${this.#options.name}`;
    while (!signal.aborted) {
      if (await this.#tryAcquireOrRenew(signal)) break;
      await sleep(this.#retryPeriodMs * (1 + 1.2 * Math.random()), signal);
    }
    if (signal.aborted) return 'stopped';
    this.#setState('leading');
    this.#log.info('started leading');
    const leading = new AbortController();
    const work = Promise.resolve()
      .then(() => this.#options.onStartedLeading(leading.signal))
      .catch((error: unknown) => this.#log.error('leader work failed', { error }));
    let end: ElectionEnd = 'stopped';
    let lastRenewMs = Date.now();
    while (!signal.aborted) {
      if (!(await sleep(this.#retryPeriodMs, signal))) break;
      if (await this.#tryAcquireOrRenew(signal)) {
        lastRenewMs = Date.now();
        continue;
      }
      if (Date.now() - lastRenewMs >= this.#renewDeadlineMs || (this.#leader !== undefined && this.#leader !== this.identity)) {
        this.#log.warn('lost the lease', { holder: this.#leader, sinceRenewMs: Date.now() - lastRenewMs });
        end = 'lost';
        break;
      }
    }
    leading.abort(new Error(`no longer leading ${leaseName}`));
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
        const now = nowMicroTime();
        await client.create(leases, {
          metadata: { name, namespace },
          spec: { holderIdentity: this.identity, leaseDurationSeconds: this.#leaseDurationMs / 1000, acquireTime: now, renewTime: now, leaseTransitions: 0 },
        }, { signal: request });
        this.#observe({ holderIdentity: this.identity });
        return true;
      }
      const spec = lease.spec ?? {};
      this.#observe(spec);
      const holder = spec.holderIdentity || undefined;
      const observed = this.#observed;
      const durationMs = (spec.leaseDurationSeconds ?? this.#leaseDurationMs / 1000) * 1000;
      if (holder !== undefined && holder !== this.identity && observed && Date.now() - observed.atMs < durationMs) {
        if (this.#state === 'unknown') this.#setState('following');
        return false;
      }
      const now = nowMicroTime();
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

  /** Remembers the record and when it last changed, as seen on this clock. */
  #observe(spec: LeaseSpec): void {
    const record = JSON.stringify([spec.holderIdentity ?? '', spec.renewTime ?? '', spec.acquireTime ?? '', spec.leaseTransitions ?? 0]);
    if (this.#observed?.record !== record) this.#observed = { record, atMs: Date.now(), spec };
    const holder = spec.holderIdentity || undefined;
    if (holder !== this.#leader) {
      this.#leader = holder;
      this.#log.info('leader changed', { leader: holder ?? '(none)' });
      this.#options.onNewLeader?.(holder);
    }
  }

  async #release(): Promise<void> {
    const { client, namespace, name } = this.#options;
    try {
      const lease = await client.get(leases, name, { namespace, signal: AbortSignal.timeout(this.#renewDeadlineMs) });
      if (lease.spec?.holderIdentity !== this.identity) return;
      const now = nowMicroTime();
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
