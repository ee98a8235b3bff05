/**
 * Runs a Plan's steps against the kernel. Applying stops at the first failure
 * (the caller then reverts); reverting runs every step, treats "already
 * absent" as done, and reports every step that really failed, so one stuck
 * step never leaves the others' state behind.
 *
 * Speed, since most of a step's time is spawning nsenter and its tool:
 * - Lanes: nftables changes only netfilter, and tc and ip only links and
 *   qdiscs, so a plan's nft steps run beside its tc and ip steps, each side in
 *   its own order (`lanes`). Nothing starts after a failure.
 * - Batches: on revert, consecutive tc (or ip) steps in one namespace run as
 *   one `tc -batch -` (`ip -batch -`) with their argv as lines on stdin. A batch
 *   that fails (one of its states already absent, or a real failure) is run
 *   again step by step, so every step still runs and each failure is reported
 *   with its own step. The planner's apply steps are batches already.
 *
 * After a failed apply, only what the apply may have changed is undone
 * (`revertAfterFailedApply`): an undo whose side of the namespace (netfilter,
 * or links and qdiscs) no apply step changed is left out, so a `create table`
 * that failed because the table was already there never deletes that table.
 */
import { writeFile } from 'node:fs/promises';
import { CommandError, run } from '../util/exec.ts';
import type { Argv } from '../util/exec.ts';
import type { Logger } from '../util/log.ts';
import { killHeld, spawnHeld } from './held.ts';
import { sendSignal, startGuard } from './stopped.ts';
import { parseNetnsPath } from './net/values.ts';
import type { ExecStep, HeldProcess, Plan, Step } from './plan.ts';

export interface ExecuteOptions {
  /** Per step; a kernel command that takes longer is stuck. */
  timeoutMs?: number;
  log?: Logger;
  /** Journals a spawn step's process once it is started (stopped), before it is attached and continued; and a guard step's. */
  started?: (marker: string, process: HeldProcess) => Promise<void>;
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
  if (step.kind === 'spawn') return `spawn ${step.argv.join(' ')} in ${step.cgroups.length} cgroup(s)`;
  if (step.kind === 'kill') return `kill the processes of ${step.marker}${step.process === undefined ? '' : ` (session ${step.process.pid})`}`;
  if (step.kind === 'signal') return `${step.signal} to ${step.name} (pid ${step.process.pid})`;
  if (step.kind === 'guard') return `guard ${step.name} (pid ${step.process.pid}) against the daemon's end${step.deadlineAt === undefined ? '' : ' and its deadline'}`;
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

/** Whether an exec step's `onlyIf` guard (if any) finds the state the step is for. */
async function guardHolds(step: ExecStep, options: ExecuteOptions): Promise<boolean> {
  if (step.onlyIf === undefined) return true;
  const probe = await run(execArgv({ kind: 'exec', argv: step.onlyIf.argv, ...(step.netns === undefined ? {} : { netns: step.netns }) }), {
    timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS, allowFailure: true,
  });
  return probe.code === 0 && probe.stdout.includes(step.onlyIf.stdoutIncludes);
}

/** Runs one step; an exec step whose failure matches one of its `absentIf` fragments counts as 'absent'. */
export async function runStep(step: Step, options: ExecuteOptions = {}): Promise<StepOutcome> {
  if (step.kind === 'write') {
    await writeFile(checkWritePath(step.path), step.value);
    return 'done';
  }
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (step.kind === 'spawn') {
    const { started } = options;
    await spawnHeld(step, { timeoutMs, started: (process) => (started === undefined ? Promise.resolve() : started(step.marker, process)) });
    return 'done';
  }
  if (step.kind === 'kill') {
    await killHeld(step, timeoutMs);
    return 'done';
  }
  if (step.kind === 'signal') return sendSignal(step, timeoutMs);
  if (step.kind === 'guard') {
    const { started } = options;
    await startGuard(step, { timeoutMs, started: (process) => (started === undefined ? Promise.resolve() : started(step.marker, process)) });
    return 'done';
  }
  if (!await guardHolds(step, options)) return 'absent';
  const result = await run(execArgv(step), { input: step.input, timeoutMs, allowFailure: true });
  if (result.code === 0) return 'done';
  if (result.signal === null && (step.absentIf ?? []).some((fragment) => result.stderr.includes(fragment))) return 'absent';
  throw new CommandError(result, `exited with ${result.code}`);
}

/** A step with its position in the list being run. */
export interface IndexedStep {
  index: number;
  step: Step;
}

/** The tools whose steps may run side by side: nftables on one side, links and qdiscs on the other. */
const NETFILTER_TOOLS: ReadonlySet<string> = new Set(['nft']);
const LINK_TOOLS: ReadonlySet<string> = new Set(['tc', 'ip']);

function toolOf(step: Step): string | undefined {
  return step.kind === 'exec' ? step.argv[0] : undefined;
}

/**
 * The steps split into lanes that may run at once, each in its original order: the nft steps, and the tc and ip
 * steps. Any other step (a write, another tool) keeps the whole list in one lane.
 */
export function lanes(steps: readonly Step[]): IndexedStep[][] {
  const indexed = steps.map((step, index) => ({ index, step }));
  const tools = indexed.map(({ step }) => toolOf(step) ?? '');
  if (!tools.every((t) => NETFILTER_TOOLS.has(t) || LINK_TOOLS.has(t))) return indexed.length === 0 ? [] : [indexed];
  return [indexed.filter((_, i) => LINK_TOOLS.has(tools[i] ?? '')), indexed.filter((_, i) => NETFILTER_TOOLS.has(tools[i] ?? ''))].filter((lane) => lane.length > 0);
}

/** Each tool's batch mode: commands on stdin, one a line, each its argv after the tool's name. */
const BATCH_ARGV: Readonly<Record<string, readonly string[]>> = { tc: ['-batch', '-'], ip: ['-batch', '-'] };
/** What a batch line may carry as is: tc and ip split lines on blanks and give quotes, '#' and '\\' meanings. */
const BATCH_TOKEN = /^[A-Za-z0-9_.:/@%+,=-]+$/;

/** Whether `step` can be a line of its tool's batch: a plain command (no input, no guard) of safe tokens. */
function batchable(step: Step): step is ExecStep {
  return step.kind === 'exec' && BATCH_ARGV[step.argv[0] ?? ''] !== undefined && step.input === undefined && step.onlyIf === undefined
    && step.argv.length > 1 && step.argv.every((token) => BATCH_TOKEN.test(token));
}

/** The one command that runs `steps` (batchable, one tool, one netns): `<tool> -batch -` with their argv as lines. */
export function batchStep(steps: readonly ExecStep[]): ExecStep {
  const [first] = steps;
  const tool = first?.argv[0] ?? '';
  const batchArgv = BATCH_ARGV[tool];
  if (first === undefined || batchArgv === undefined) throw new TypeError(`no batch mode for ${JSON.stringify(tool)}`);
  if (!steps.every((s) => batchable(s) && s.argv[0] === tool && s.netns === first.netns)) throw new TypeError('a batch holds plain steps of one tool in one namespace');
  return {
    kind: 'exec', argv: [tool, ...batchArgv], input: steps.map((s) => `${s.argv.slice(1).join(' ')}\n`).join(''),
    ...(first.netns === undefined ? {} : { netns: first.netns }),
  };
}

/** What became of each apply step that started, by index: done, or how it failed. A step not in it never started. */
export type ApplyOutcomes = ReadonlyMap<number, 'done' | StepError>;

/** An apply stopped by its first failure (this error's step); `outcomes` says what became of every other step. */
export class ApplyError extends StepError {
  override name = 'ApplyError';
  readonly outcomes: ApplyOutcomes;
  constructor(failure: StepError, outcomes: ApplyOutcomes) {
    super(failure.index, failure.step, failure.cause);
    this.outcomes = outcomes;
  }
}

/** Runs `lane` in order, stopping at its first failure, or when `stopped()` says another lane failed. */
async function applyLane(lane: readonly IndexedStep[], options: ExecuteOptions, outcomes: Map<number, 'done' | StepError>, stopped: () => boolean, fail: (error: StepError) => void): Promise<void> {
  for (const { index, step } of lane) {
    if (stopped()) return;
    try {
      await runStep(step, options);
    } catch (error) {
      const failure = new StepError(index, step, error);
      outcomes.set(index, failure);
      fail(failure);
      return;
    }
    outcomes.set(index, 'done');
    options.log?.debug('step applied', { index, step: describeStep(step) });
  }
}

/** Runs `steps` in order (nft beside tc and ip, see `lanes`), stopping at the first failure, thrown as an ApplyError. */
export async function applySteps(steps: readonly Step[], options: ExecuteOptions = {}): Promise<void> {
  let failure: StepError | undefined;
  const outcomes = new Map<number, 'done' | StepError>();
  await Promise.all(lanes(steps).map((lane) => applyLane(lane, options, outcomes, () => failure !== undefined, (error) => {
    if (failure === undefined) failure = error;
    else options.log?.error('a step beside the one that failed first failed too', { error: error.message });
  })));
  if (failure !== undefined) throw new ApplyError(failure, outcomes);
}

/**
 * Tools whose one command changes all or nothing: `nft -f` sends its whole script as one netlink transaction, which
 * the kernel commits whole or aborts whole. tc and ip batches are not: each line is its own change.
 */
const ALL_OR_NOTHING: ReadonlySet<string> = new Set(['nft']);

/** Whether an apply step may have changed the kernel: it completed, or failed in a way that may have left some of its work. */
function mayHaveChanged(step: Step, outcome: 'done' | StepError | undefined): boolean {
  if (outcome === undefined) return false;
  if (outcome === 'done') return true;
  // A command that exited with a status of its own reported its refusal; one killed (a timeout) may have committed.
  const { cause } = outcome;
  const refused = cause instanceof CommandError && cause.result.signal === null && cause.result.code > 0;
  return !(refused && ALL_OR_NOTHING.has(toolOf(step) ?? ''));
}

/** The part of a namespace a step changes, as `lanes` splits them: netfilter, or links and qdiscs; other steps none. */
function sideOf(step: Step): string | undefined {
  if (step.kind !== 'exec') return undefined;
  const tool = toolOf(step) ?? '';
  const side = NETFILTER_TOOLS.has(tool) ? 'netfilter' : LINK_TOOLS.has(tool) ? 'links' : undefined;
  return side === undefined ? undefined : `${side}|${step.netns ?? ''}`;
}

/**
 * The plan whose revert undoes what a failed apply of `plan.apply`, stopped by `error`, may have changed: the undos of
 * a side (sideOf) whose every apply step never started or changed nothing are left out. Such an undo would find
 * someone else's state if anything: kerris's `create table inet kerris` fails when the table exists, and deleting the
 * table then would take away another injection's fault. Any other error (not applySteps') keeps the whole revert.
 */
export function revertAfterFailedApply(plan: Plan, error: unknown): Plan {
  if (!(error instanceof ApplyError)) return plan;
  const planned = new Set<string>();
  const changed = new Set<string>();
  plan.apply.forEach((step, index) => {
    const side = sideOf(step);
    if (side === undefined) return;
    planned.add(side);
    if (mayHaveChanged(step, error.outcomes.get(index))) changed.add(side);
  });
  const revert = plan.revert.filter((step) => {
    const side = sideOf(step);
    return side === undefined || !planned.has(side) || changed.has(side);
  });
  return revert.length === plan.revert.length ? plan : { ...plan, revert };
}

/** Runs one step of a revert; a failure is returned, not thrown. */
async function revertOne({ index, step }: IndexedStep, options: ExecuteOptions): Promise<StepError | undefined> {
  try {
    const outcome = await runStep(step, options);
    options.log?.debug('step reverted', { index, step: describeStep(step), outcome });
    return undefined;
  } catch (error) {
    return new StepError(index, step, error);
  }
}

/** A step of a revert batch: `step` as it goes into the batch (its guard, if any, already checked), and as planned. */
interface BatchedStep {
  index: number;
  step: ExecStep;
  planned: Step;
}

/** Runs `group` (batchable steps of one tool and netns) as one batch, or step by step as planned if the batch fails. */
async function revertBatch(group: readonly BatchedStep[], options: ExecuteOptions): Promise<StepError[]> {
  const only = group[0];
  if (group.length === 1 && only !== undefined) return [await revertOne(only, options)].filter((f) => f !== undefined);
  const batch = batchStep(group.map(({ step }) => step));
  try {
    await runStep(batch, options);
    options.log?.debug('steps reverted in one batch', { indices: group.map((g) => g.index), step: describeStep(batch) });
    return [];
  } catch (error) {
    // A batch stops at its first failing line, and says little about which: run each step again as planned, guard
    // included, so "already absent" counts as done and every real failure is reported with its step.
    options.log?.debug('revert batch failed; running its steps one by one', { indices: group.map((g) => g.index), error: error instanceof Error ? error.message : String(error) });
    const failures: StepError[] = [];
    for (const { index, planned } of group) {
      const failure = await revertOne({ index, step: planned }, options);
      if (failure !== undefined) failures.push(failure);
    }
    return failures;
  }
}

/** Runs every step of `lane` in order, batching what it can; returns the steps that failed. */
async function revertLane(lane: readonly IndexedStep[], options: ExecuteOptions): Promise<StepError[]> {
  const failures: StepError[] = [];
  let pending: BatchedStep[] = [];
  const flush = async (): Promise<void> => {
    if (pending.length > 0) failures.push(...await revertBatch(pending, options));
    pending = [];
  };
  for (const { index, step: planned } of lane) {
    let step = planned;
    if (step.kind === 'exec' && step.onlyIf !== undefined) {
      // The guard looks at the state the steps before it leave, so they run first.
      await flush();
      if (!await guardHolds(step, options)) {
        options.log?.debug('step reverted', { index, step: describeStep(step), outcome: 'absent' });
        continue;
      }
      const { onlyIf: _guard, ...unguarded } = step;
      step = unguarded;
    }
    if (!batchable(step)) {
      await flush();
      const failure = await revertOne({ index, step }, options);
      if (failure !== undefined) failures.push(failure);
      continue;
    }
    const last = pending.at(-1)?.step;
    if (last?.kind === 'exec' && (last.argv[0] !== step.argv[0] || last.netns !== step.netns)) await flush();
    pending.push({ index, step, planned });
  }
  await flush();
  return failures;
}

/** Runs every step of `steps` (see `lanes` and batches above), then throws `RevertError` if any failed for a reason other than absence. */
export async function revertSteps(steps: readonly Step[], options: ExecuteOptions = {}): Promise<void> {
  const failures = (await Promise.all(lanes(steps).map((lane) => revertLane(lane, options)))).flat().sort((a, b) => a.index - b.index);
  if (failures.length > 0) throw new RevertError(failures);
}

/** Applies a plan; if a step fails, reverts what it may have changed (revertAfterFailedApply) and rethrows the apply failure. */
export async function applyPlan(plan: Plan, options: ExecuteOptions = {}): Promise<void> {
  try {
    await applySteps(plan.apply, options);
  } catch (error) {
    try {
      await revertSteps(revertAfterFailedApply(plan, error).revert, options);
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
