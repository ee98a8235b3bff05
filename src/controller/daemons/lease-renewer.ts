/**
 * Keeps this controller's faults alive on every node: one lease renewal per
 * node every third of the TTL. It runs only while this replica leads, so a
 * lost leadership stops renewals at once and the daemons revert on expiry.
 */
import type { Runnable } from '../../runtime/manager.ts';
import { sleep } from '../../runtime/sleep.ts';
import type { DaemonFleet } from './fleet.ts';

export function leaseRenewer(fleet: DaemonFleet): Runnable {
  const intervalMs = Math.max(500, Math.floor(fleet.leaseTtlMs / 3));
  return {
    name: 'daemon-leases',
    async run(signal) {
      do await fleet.renewLeases();
      while (await sleep(intervalMs, signal));
    },
  };
}
