/**
 * The daemon's clock for deadlines and lease expiry: CLOCK_MONOTONIC in milliseconds (process.hrtime), which a
 * wall-clock step (NTP, an operator's `date -s`) cannot move, so it never delays or hastens a revert. It counts
 * from boot, the same for every process on this boot, so a restarted daemon reads its journal's times on the same
 * scale; the boot ID tells a journal written before a reboot, whose kernel state is gone.
 */
import { readFile } from 'node:fs/promises';

export type Clock = () => number;

export const monotonicMs: Clock = () => Number(process.hrtime.bigint() / 1_000n) / 1_000;

const BOOT_ID = '/proc/sys/kernel/random/boot_id';

export async function bootId(): Promise<string> {
  return (await readFile(BOOT_ID, 'utf8')).trim();
}
