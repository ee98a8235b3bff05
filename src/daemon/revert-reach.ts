/**
 * Which revert steps can still reach the state they undo, once the process a
 * fault was put on may be gone: a container that restarted, a pid reused.
 */
import { stat } from 'node:fs/promises';
import type { JournalRecord } from './journal.ts';
import type { Plan, Step } from './plan.ts';
import { netnsHolder } from './proc.ts';
import type { Logger } from '../util/log.ts';
import { pathExists } from '../util/fs.ts';

async function pathInode(path: string): Promise<number | undefined> {
  return (await stat(path).catch(() => undefined))?.ino;
}

/**
 * The revert steps that can still reach the kernel state they undo. A netns is named through /proc/<pid> of the
 * process it was found through; once that process is gone (or its pid reused) the step is re-aimed at whatever
 * still holds the namespace (the pod's sandbox, a bind mount), checked by inode. A netns nobody holds is gone with
 * its state, as is a removed cgroup: those steps are dropped rather than failing forever.
 */
export async function reachableRevert(record: JournalRecord, log: Logger): Promise<readonly Step[]> {
  const plan = record.plan;
  if (plan === undefined) return [];
  const reachable: Step[] = [];
  let holder: string | undefined | null = null;
  let reaimed = 0;
  for (const step of plan.revert) {
    if (step.kind === 'write') {
      if (await pathExists(step.path)) reachable.push(step);
    } else if (step.kind !== 'exec') {
      // A held process is found by its session and marker wherever it is; a kill of what is gone is a no-op.
      reachable.push(step);
    } else if (step.netns === undefined || record.netnsInode === undefined || await pathInode(step.netns) === record.netnsInode) {
      reachable.push(step);
    } else {
      if (holder === null) holder = await netnsHolder(record.netnsInode);
      if (holder !== undefined) {
        reachable.push({ ...step, netns: holder });
        reaimed += 1;
      }
    }
  }
  if (reaimed > 0 || reachable.length < plan.revert.length) {
    log.warn('revert steps re-aimed or dropped: their target is gone', {
      id: record.spec.id, netnsHolder: holder ?? undefined, reaimed, dropped: plan.revert.length - reachable.length,
    });
  }
  return reachable;
}

/** The same plan, entering the netns through another process in it. */
export function retargetNetns(plan: Plan | undefined, from: string, to: string): Plan | undefined {
  if (plan === undefined) return undefined;
  const move = (step: Step): Step => (step.kind === 'exec' && step.netns === from ? { ...step, netns: to } : step);
  return { ...plan, apply: plan.apply.map(move), revert: plan.revert.map(move) };
}
