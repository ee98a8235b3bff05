/**
 * The dead-man switch: on every tick, reverts the injections of holders whose lease lapsed and ends injections
 * whose deadline passed, all on the monotonic clock (clock.ts). Each pass is stamped, so /healthz can tell a loop
 * that stopped keeping time (a hung revert, a stuck event loop) from one that runs.
 */
import { mapLimit } from '../util/concurrency.ts';
import type { Clock } from './clock.ts';
import { errorMessage } from './errors.ts';
import type { Journal } from './journal.ts';
import type { Leases } from './leases.ts';
import type { Lifecycle } from './lifecycle.ts';
import type { DaemonMetrics } from './metrics.ts';
import type { InjectionTable } from './state.ts';
import type { Logger } from '../util/log.ts';

export interface GuardOptions {
  table: InjectionTable;
  leases: Leases;
  lifecycle: Lifecycle;
  journal: Journal;
  clock: Clock;
  metrics: DaemonMetrics;
  log: Logger;
  tickMs: number;
  concurrency: number;
}

/** A pass older than this many ticks means the loop no longer keeps time. */
const STALE_TICKS = 12;

export class Guard {
  private readonly o: GuardOptions;
  /** Holders whose lease expiry has been announced; their reverts may still be retrying. */
  private readonly expiring = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private work: Promise<void> | undefined;
  private lastPass = 0;

  constructor(options: GuardOptions) {
    this.o = options;
  }

  start(): void {
    // The first pass is due within a tick; until then the loop counts as on time.
    this.lastPass = this.o.clock();
    this.timer = setInterval(() => {
      // A pass never overlaps the previous one; a slow one only delays the next.
      this.work ??= this.pass().finally(() => { this.work = undefined; });
    }, this.o.tickMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.work;
  }

  /** A renewal clears a lapsed holder: the next expiry of its lease is announced again. */
  renewed(holder: string): void {
    this.expiring.delete(holder);
  }

  /** Whether a pass completed within the last few ticks. */
  healthy(): boolean {
    return this.timer !== undefined && this.o.clock() - this.lastPass <= STALE_TICKS * this.o.tickMs;
  }

  private async pass(): Promise<void> {
    try {
      await this.expireLeases();
      await this.endDeadlines();
      this.lastPass = this.o.clock();
    } catch (error) {
      this.o.log.error('lease and deadline check failed', { error: errorMessage(error) });
    }
  }

  private async expireLeases(): Promise<void> {
    const { table, leases, lifecycle, clock, log } = this.o;
    for (const holder of leases.expired(clock())) {
      const ids = table.all().filter((r) => r.holder === holder).map((r) => r.spec.id);
      // Counted and logged once per expiry, although a revert that fails is retried on later ticks.
      if (!this.expiring.has(holder) && ids.length > 0) {
        this.o.metrics.leaseExpiries.inc();
        log.warn('lease expired; reverting its injections', { holder, injections: ids.length });
      }
      this.expiring.add(holder);
      const lapsed = (): boolean => (leases.get(holder)?.expiresAt ?? 0) <= clock();
      const results = await mapLimit(ids, this.o.concurrency, (id) => table.locked(id, async () => {
        const record = table.get(id);
        // Renewed, or adopted by another holder, while waiting for the lock.
        if (record === undefined || record.holder !== holder || !lapsed()) return true;
        return lifecycle.revert(record, 'lease-expired').then(() => true, (error: unknown) => {
          log.error('revert on lease expiry failed; will retry', { id, error: errorMessage(error) });
          return false;
        });
      }));
      if (results.every(Boolean) && lapsed()) {
        leases.delete(holder);
        this.expiring.delete(holder);
        await this.o.journal.writeLeases(leases.snapshot());
      }
    }
  }

  private async endDeadlines(): Promise<void> {
    const { table, lifecycle, clock, log } = this.o;
    const due = (deadlineAt: number | undefined): boolean => deadlineAt !== undefined && deadlineAt <= clock();
    const ending = table.all().filter((r) => r.phase !== 'done' && r.endedBy === undefined && due(r.deadlineAt));
    await mapLimit(ending, this.o.concurrency, (record) => table.locked(record.spec.id, async () => {
      if (!table.holds(record) || record.phase === 'done' || record.endedBy !== undefined) return;
      await lifecycle.revert(record, 'deadline').catch((error: unknown) => {
        log.error('revert at the deadline failed; will retry', { id: record.spec.id, error: errorMessage(error) });
      });
    }));
  }
}
