/**
 * Start-up reconciliation, before the daemon serves: finishes what a crash interrupted (reverts what was applying
 * or reverting), reverts and drops what its kind never adopts across a restart (a kubelet-stop), and checks that
 * committed faults are still in the kernel, re-applying what it lost.
 */
import { readFile } from 'node:fs/promises';
import { errorMessage } from './errors.ts';
import { heldEnded } from './held.ts';
import type { JournalRecord } from './journal.ts';
import type { Lifecycle } from './lifecycle.ts';
import type { Step } from './plan.ts';
import { processStartTime } from './proc.ts';
import type { InjectionTable } from './state.ts';
import type { Logger } from '../util/log.ts';

/** Write steps whose file no longer holds the value written: the kernel lost that part of the fault. */
async function driftedWrites(steps: readonly Step[]): Promise<string[]> {
  const drifted: string[] = [];
  for (const step of steps) {
    if (step.kind !== 'write') continue;
    const current = await readFile(step.path, 'utf8').catch(() => undefined);
    if (current?.trim() !== step.value) drifted.push(step.path);
  }
  return drifted;
}

export async function reconcileRecord(record: JournalRecord, table: InjectionTable, lifecycle: Lifecycle, log: Logger): Promise<void> {
  const id = record.spec.id;
  table.set(record);
  const revertedAtStart = lifecycle.has(record.spec.fault.kind) ? lifecycle.module(record.spec.fault.kind).revertedAtStart : undefined;
  if (revertedAtStart !== undefined && record.phase !== 'done') {
    log.warn('reconcile: reverting and dropping an injection its kind never adopts after a restart', { id, kind: record.spec.fault.kind, why: revertedAtStart });
    await lifecycle.revert(record, 'reconcile').catch((error: unknown) => {
      log.error('reconcile: revert failed; will retry', { id, error: errorMessage(error) });
    });
    return;
  }
  if (record.phase === 'applying' || record.phase === 'reverting') {
    // The daemon stopped mid-change: take the fault fully away; the controller's next Sync applies it again if wanted.
    await lifecycle.revert(record, 'reconcile').catch((error: unknown) => {
      log.error('reconcile: revert failed; will retry', { id, error: errorMessage(error) });
    });
    return;
  }
  if (record.phase !== 'active' || record.plan === undefined || record.target === undefined) return;
  if (await processStartTime(record.target.pid) !== record.target.startTime) return; // restart following re-applies it
  const ended = await heldEnded(record.plan);
  if (ended !== undefined) {
    // Ended while the daemon was down: reported like one that ends while it runs, and not started again.
    record.error = ended;
    log.warn('reconcile: held process ended on its own; not restarted', { id, error: ended });
    return;
  }
  const drifted = await driftedWrites(record.plan.apply);
  if (drifted.length > 0) {
    log.warn('reconcile: fault no longer in the kernel; re-applying', { id, drifted });
    await lifecycle.executor.apply(record.plan.apply).catch((error: unknown) => {
      record.error = `re-apply after restart failed: ${errorMessage(error)}`;
      log.error('reconcile: re-apply failed', { id, error: errorMessage(error) });
    });
  }
}
