/**
 * Leases, one per holder (a controller), not one per injection: a single
 * renewal keeps thousands of injections alive. An expired lease means the
 * controller is gone or cut off, and its injections are reverted.
 */
import type { LeaseRecord } from './journal.ts';

export class Leases {
  private readonly holders = new Map<string, LeaseRecord>();

  /** Replaces the leases with those read from the journal. */
  load(leases: ReadonlyMap<string, LeaseRecord>): void {
    this.holders.clear();
    for (const [holder, lease] of leases) this.holders.set(holder, lease);
  }

  /** `now` on the monotonic clock (clock.ts). */
  renew(holder: string, ttlMs: number, now: number): LeaseRecord {
    const lease = { expiresAt: now + ttlMs, ttlMs };
    this.holders.set(holder, lease);
    return lease;
  }

  get(holder: string): LeaseRecord | undefined {
    return this.holders.get(holder);
  }

  /** A holder with injections but no lease record is treated as expired: nothing may outlive its lease. */
  ensure(holder: string): void {
    if (!this.holders.has(holder)) this.holders.set(holder, { expiresAt: 0, ttlMs: 0 });
  }

  expired(now: number): string[] {
    return [...this.holders].filter(([, lease]) => lease.expiresAt <= now).map(([holder]) => holder);
  }

  delete(holder: string): void {
    this.holders.delete(holder);
  }

  snapshot(): ReadonlyMap<string, LeaseRecord> {
    return new Map(this.holders);
  }
}
