/**
 * Runs a Plan's steps against the kernel. Applying stops at the first failure
 * (the caller then reverts); reverting runs every step, treats "already
 * absent" as done, and reports every step that really failed, so one stuck
 * step never leaves the others' state behind.
 */
import { writeFile } from 'node:fs/promises';
import { CommandError, run } from '../util/exec.ts';
import type { Argv } from '../util/exec.ts';
import type { Logger } from '../util/log.ts';
import { parseNetnsPath } from './net/values.ts';
import type { ExecStep, Plan, Step } from './plan.ts';

export interface ExecuteOptions {
  /** Per step; a kernel command that takes longer is stuck. */
  timeoutMs?: number;
  log?: Logger;
}

export type StepOutcome = 'done' | 'absent';

/** A step that failed; `index` is its position in the list that was being run. */
export class StepError extends Error {
  override name = 'StepError';
  readonly index: number;
  readonly step: Step;
  constructor(index: number, step: Step, cause: unknown) {
    super(`step ${index} (${describeStep(step)}) failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.index = index;
    this.step = step;
  }
}

/** Reverting finished with some steps failed; every other step still ran. */
export class RevertError extends Error {
  override name = 'RevertError';
  readonly failures: readonly StepError[];
  constructor(failures: readonly StepError[]) {
    super(`revert left ${failures.length} step(s) undone: ${failures.map((f) => f.message).join('; ')}`);
    this.failures = failures;
  }
}

const DEFAULT_TIMEOUT_MS = 30_000;

export function describeStep(step: Step): string {
  if (step.kind === 'write') return `write ${step.path}`;
  return `${step.netns ? `in ${step.netns}: ` : ''}${step.argv.join(' ')}`;
}

function execArgv(step: ExecStep): Argv {
  const [command, ...args] = step.argv;
  if (command === undefined || command === '') throw new TypeError('exec step has an empty argv');
  if (step.argv.some((a) => a.includes('\0'))) throw new TypeError('exec step argv contains a NUL byte');
  if (step.netns === undefined) return [command, ...args];
  return ['nsenter', `--net=${parseNetnsPath('netns', step.netns)}`, '--', command, ...args];
}

function checkWritePath(path: string): string {
  if (!path.startsWith('/') || path.split('/').includes('..') || path.includes('\0')) {
    throw new TypeError(`write step path ${JSON.stringify(path)} must be absolute without '..'`);
  }
  return path;
}

/** Runs one step; an exec step whose failure matches one of its `absentIf` fragments counts as 'absent'. */
export async function runStep(step: Step, options: ExecuteOptions = {}): Promise<StepOutcome> {
  if (step.kind === 'write') {
    await writeFile(checkWritePath(step.path), step.value);
    return 'done';
  }
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (step.onlyIf !== undefined) {
    const probe = await run(execArgv({ kind: 'exec', argv: step.onlyIf.argv, ...(step.netns === undefined ? {} : { netns: step.netns }) }), { timeoutMs, allowFailure: true });
    if (probe.code !== 0 || !probe.stdout.includes(step.onlyIf.stdoutIncludes)) return 'absent';
  }
  const result = await run(execArgv(step), { input: step.input, timeoutMs, allowFailure: true });
  if (result.code === 0) return 'done';
  if (result.signal === null && (step.absentIf ?? []).some((fragment) => result.stderr.includes(fragment))) return 'absent';
  throw new CommandError(result, `exited with ${result.code}`);
}

/** Runs `steps` in order, stopping at the first failure. */
export async function applySteps(steps: readonly Step[], options: ExecuteOptions = {}): Promise<void> {
  for (const [index, step] of steps.entries()) {
    try {
      await runStep(step, options);
    } catch (error) {
      throw new StepError(index, step, error);
    }
    options.log?.debug('step applied', { index, step: describeStep(step) });
  }
}

/** Runs every step of `steps`, then throws `RevertError` if any failed for a reason other than absence. */
export async function revertSteps(steps: readonly Step[], options: ExecuteOptions = {}): Promise<void> {
  const failures: StepError[] = [];
  for (const [index, step] of steps.entries()) {
    try {
      const outcome = await runStep(step, options);
      options.log?.debug('step reverted', { index, step: describeStep(step), outcome });
    } catch (error) {
      failures.push(new StepError(index, step, error));
    }
  }
  if (failures.length > 0) throw new RevertError(failures);
}

/** Applies a plan; if a step fails, reverts it (safe after any prefix) and rethrows the apply failure. */
export async function applyPlan(plan: Plan, options: ExecuteOptions = {}): Promise<void> {
  try {
    await applySteps(plan.apply, options);
  } catch (error) {
    try {
      await revertSteps(plan.revert, options);
    } catch (revertError) {
      options.log?.error('revert after failed apply left state behind', { plan: plan.summary, error: revertError });
      throw new AggregateError([error, revertError], `apply failed and its revert left state behind: ${plan.summary}`);
    }
    throw error;
  }
}

export function revertPlan(plan: Plan, options: ExecuteOptions = {}): Promise<void> {
  return revertSteps(plan.revert, options);
}
