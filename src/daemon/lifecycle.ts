/**
 * The transitions of one injection, each journaled before the kernel is touched: apply (applying → active, or
 * done for a one-way action), revert (→ reverting → forgotten, or kept as done when its deadline ended it) and
 * forget. Callers hold the injection's lock (state.ts).
 */
import { DaemonError, errorMessage } from './errors.ts';
import { revertAfterFailedApply } from './execute.ts';
import type { ContainerFaultModule, Effect, FaultModule, FaultModules, NodeFaultModule, NodeNetns } from './faults/module.ts';
import { isStorageError, type Journal, type JournalRecord } from './journal.ts';
import type { DaemonMetrics } from './metrics.ts';
import type { HeldProcess, Plan, Step } from './plan.ts';
import { netnsInode } from './proc.ts';
import { reachableRevert } from './revert-reach.ts';
import type { ResolvedTarget } from './runtime/resolve.ts';
import { isNodeTarget, type FaultKind, type InjectionSpec } from './spec.ts';
import type { InjectionTable } from './state.ts';
import type { NamedProcess } from './stopped.ts';
import type { Logger } from '../util/log.ts';

/** Runs a plan's steps: execute.ts's applySteps/revertSteps on a node, a recording fake in unit tests. */
export interface StepExecutor {
  /**
   * Runs steps in order and throws at the first that fails. `started` journals the process a spawn step started,
   * before it is attached and continued.
   */
  apply(steps: readonly Step[], started?: (marker: string, process: HeldProcess) => Promise<void>): Promise<void>;
  /** Runs every step, treating state already absent as done; throws if any step failed. */
  revert(steps: readonly Step[]): Promise<void>;
}

/** The part of runtime/resolve.ts's TargetResolver the daemon's lifecycle needs. */
export interface Targets {
  resolve(containerId: string): Promise<ResolvedTarget>;
  findRestarted(podUid: string, containerName: string): Promise<string>;
}

/** Why an injection is reverted; `deadline` keeps it listed as done, so a repeated Sync never applies it again. */
export type RevertReason = 'request' | 'lease-expired' | 'deadline' | 'failed-apply' | 'reconcile' | 'retry' | 'shutdown';

/** What must never be faulted (target-policy.ts): throws DaemonError('invalid') for such a target. */
export interface TargetCheck {
  check(kind: FaultKind, target: ResolvedTarget): Promise<void>;
  /** For a node fault: the host process it acts on. */
  checkNode(kind: FaultKind, process: NamedProcess): Promise<void>;
  /** For a node fault in the node's own network namespace: that namespace. */
  checkNodeNetns(kind: FaultKind, netns: NodeNetns): Promise<void>;
}

export interface LifecycleOptions {
  journal: Journal;
  policy: TargetCheck;
  table: InjectionTable;
  executor: StepExecutor;
  targets: Targets;
  faults: FaultModules;
  metrics: DaemonMetrics;
  log: Logger;
}

export interface NewInjection {
  spec: InjectionSpec;
  specHash: string;
  experiment: string;
  holder: string;
  deadlineAt: number | undefined;
}

export class Lifecycle {
  readonly journal: Journal;
  readonly executor: StepExecutor;
  readonly targets: Targets;
  private readonly table: InjectionTable;
  private readonly policy: TargetCheck;
  private readonly faults: FaultModules;
  private readonly metrics: DaemonMetrics;
  private readonly log: Logger;

  constructor(options: LifecycleOptions) {
    this.journal = options.journal;
    this.table = options.table;
    this.policy = options.policy;
    this.executor = options.executor;
    this.targets = options.targets;
    this.faults = options.faults;
    this.metrics = options.metrics;
    this.log = options.log;
  }

  has(kind: FaultKind): boolean {
    return this.faults.has(kind);
  }

  module(kind: FaultKind): FaultModule {
    const module = this.faults.get(kind);
    if (module === undefined) throw new DaemonError('invalid', `${kind} faults are not available in this daemon build`);
    return module;
  }

  /** The module of a kind put on containers (spec.ts checked the scope of every injection's target). */
  containerModule(kind: FaultKind): ContainerFaultModule {
    const module = this.module(kind);
    if (module.scope !== 'container') throw new DaemonError('invalid', `${kind} is a node fault, not put on a container`);
    return module;
  }

  nodeModule(kind: FaultKind): NodeFaultModule {
    const module = this.module(kind);
    if (module.scope !== 'node') throw new DaemonError('invalid', `${kind} is put on a container, not on the node`);
    return module;
  }

  /**
   * Resolves the target (a container's task, or what on the node a node fault acts on: a host process, the node's
   * network namespace through pid 1, or nothing to resolve for the running kernel) and checks it against the policy,
   * before anything is journaled or changed; `prepare` then works out what the fault does to it. A restarted
   * container is followed without a new check: its successor is in the same pod, which was checked when the fault
   * was first put on it.
   */
  private async resolve(injection: NewInjection): Promise<{ target: ResolvedTarget | NamedProcess | undefined; inNetns: boolean; prepare: () => Promise<Effect> }> {
    const { spec } = injection;
    if (isNodeTarget(spec.target)) {
      const module = this.nodeModule(spec.fault.kind);
      const node = { deadlineAt: injection.deadlineAt };
      // The running kernel: nothing on the node to find or check; the module refuses what the node does not allow.
      if (module.on === 'kernel') return { target: undefined, inNetns: false, prepare: () => module.prepare(spec.fault, node) };
      if (module.on === 'netns') {
        const netns = await module.locate();
        await this.policy.checkNodeNetns(spec.fault.kind, netns);
        // Journaled through pid 1, like a container's netns through its task: the record's netnsInode pins it.
        return { target: netns.holder, inNetns: true, prepare: () => module.prepare(spec.fault, netns, node) };
      }
      const process = await module.locate();
      await this.policy.checkNode(spec.fault.kind, process);
      return { target: process, inNetns: false, prepare: () => module.prepare(spec.fault, process, node) };
    }
    const target = await this.targets.resolve(spec.target.containerId);
    const module = this.containerModule(spec.fault.kind);
    await this.policy.check(spec.fault.kind, target);
    return { target, inNetns: module.inNetns, prepare: () => module.prepare(spec.fault, target) };
  }

  /** Resolves the target, journals the record as applying, puts the fault on, and commits it. */
  async apply(injection: NewInjection): Promise<JournalRecord> {
    const { spec } = injection;
    const started = performance.now();
    const { target, inNetns, prepare } = await this.resolve(injection);
    const resolvedAt = performance.now();
    const effect = await prepare();
    const record: JournalRecord = {
      spec, specHash: injection.specHash, experiment: injection.experiment, holder: injection.holder, phase: 'applying', reapplied: 0,
      ...(target === undefined ? {} : { target }),
      ...(injection.deadlineAt === undefined ? {} : { deadlineAt: injection.deadlineAt }),
    };
    if (effect.kind === 'action') {
      record.summary = effect.summary;
      await this.writeAhead(record);
      this.table.set(record);
      try {
        await effect.run();
      } catch (error) {
        await this.forget(spec.id).catch((forgetError: unknown) => {
          this.log.error('could not remove the record of a failed action; it is dropped at the next start', { id: spec.id, error: errorMessage(forgetError) });
          this.table.delete(spec.id);
        });
        throw error;
      }
      return this.commit(record, 'done');
    }
    record.plan = effect.plan;
    if (inNetns && target !== undefined) record.netnsInode = await netnsInode(target.pid);
    const plannedAt = performance.now();
    await this.writeAhead(record);
    this.table.set(record);
    const journaledAt = performance.now();
    try {
      await this.executor.apply(effect.plan.apply, (marker, process) => this.journalHeld(record, marker, process));
    } catch (error) {
      // Only what the apply may have changed is undone: a `create table` that failed on a table already there must
      // not delete it (execute.ts). revert() journals the record, this narrower plan with it, before it runs a step.
      if (record.plan !== undefined) record.plan = revertAfterFailedApply(record.plan, error);
      await this.revert(record, 'failed-apply').catch((revertError: unknown) => {
        this.log.error('revert after a failed apply failed; kept for retry', { id: spec.id, error: errorMessage(revertError) });
      });
      throw new DaemonError('failed', `${effect.plan.summary}: ${errorMessage(error)}`, { cause: error });
    }
    const appliedAt = performance.now();
    try {
      await this.commit(record, 'active');
    } catch (error) {
      // An active fault must be in the journal: one the daemon cannot record is taken away again.
      await this.revert(record, 'failed-apply').catch((revertError: unknown) => {
        this.log.error('revert of an uncommitted fault failed; kept for retry', { id: spec.id, error: errorMessage(revertError) });
      });
      throw new DaemonError('unavailable', `${effect.plan.summary}: applied but not committed to the journal, so reverted: ${errorMessage(error)}`, { cause: error });
    }
    this.log.debug('inject timing', {
      id: spec.id, resolveMs: ms(resolvedAt - started), planMs: ms(plannedAt - resolvedAt), journalMs: ms(journaledAt - plannedAt),
      applyMs: ms(appliedAt - journaledAt), commitMs: ms(performance.now() - appliedAt),
    });
    return record;
  }

  /**
   * Puts the process a spawn step started into the record's kill step, durably, before the process is attached or
   * continued: a restarted daemon then knows it by pid and start time (and by its marker before that).
   */
  async journalHeld(record: JournalRecord, marker: string, process: HeldProcess): Promise<void> {
    if (record.plan !== undefined) record.plan = withHeld(record.plan, marker, process);
    await this.writeAhead(record);
  }

  /** The write before a kernel change: if the journal cannot take it, nothing is changed and the item fails alone. */
  private async writeAhead(record: JournalRecord): Promise<void> {
    try {
      await this.journal.write(record);
    } catch (error) {
      const code = isStorageError(error) ? 'unavailable' : 'failed';
      throw new DaemonError(code, `nothing applied: the journal cannot record it: ${errorMessage(error)}`, { cause: error });
    }
  }

  private async commit(record: JournalRecord, phase: 'active' | 'done'): Promise<JournalRecord> {
    record.phase = phase;
    if (phase === 'done') {
      // A one-way action has happened whatever the journal says; a lost 'done' only leaves 'applying', which a
      // restart forgets (a kill has nothing to revert).
      await this.journal.write(record, 'atomic').catch((error: unknown) => {
        this.log.error('could not journal a finished action', { id: record.spec.id, error: errorMessage(error) });
      });
    } else {
      await this.journal.write(record, 'atomic');
    }
    this.metrics.applied.inc({ kind: record.spec.fault.kind });
    this.log.info('injection applied', { id: record.spec.id, holder: record.holder, experiment: record.experiment, summary: record.plan?.summary ?? record.summary, pid: record.target?.pid });
    return record;
  }

  /**
   * Takes the fault away. Afterwards the record is forgotten, or, when its deadline ended it, kept as done with
   * nothing in force, so that the experiment's next Sync does not apply it again. A failed revert stays reverting.
   */
  async revert(record: JournalRecord, reason: RevertReason): Promise<void> {
    const id = record.spec.id;
    const started = performance.now();
    let journaledAt = started;
    // A revert its deadline started stays kept when it is finished by a retry or after a restart.
    const keep = reason === 'deadline' || (record.endedBy === 'deadline' && (reason === 'retry' || reason === 'reconcile'));
    if (record.plan !== undefined && record.phase !== 'done') {
      if (record.phase !== 'reverting' || (keep && record.endedBy === undefined)) {
        record.phase = 'reverting';
        if (keep) record.endedBy = 'deadline';
        // A journal that cannot be written never holds a fault longer: the revert goes on in memory (and is
        // retried if it fails); at worst a restart finds the older record and reverts or re-verifies it again.
        await this.journal.write(record).catch((error: unknown) => {
          this.log.error('could not journal a revert; reverting anyway', { id, error: errorMessage(error) });
        });
      }
      journaledAt = performance.now();
      try {
        await this.executor.revert(await reachableRevert(record, this.log));
      } catch (error) {
        record.error = `revert failed: ${errorMessage(error)}`;
        this.metrics.failed.inc({ kind: record.spec.fault.kind, operation: 'recover' });
        await this.journal.write(record).catch(() => undefined);
        throw new DaemonError('failed', `revert of ${id}: ${errorMessage(error)}`, { cause: error });
      }
    }
    const revertedAt = performance.now();
    const summary = record.plan?.summary ?? record.summary ?? record.spec.fault.kind;
    if (keep) {
      record.phase = 'done';
      record.summary = `ended at its deadline: ${summary}`;
      delete record.plan;
      delete record.target;
      delete record.netnsInode;
      delete record.error;
      // Lost, this write leaves 'reverting' with endedBy on disk, which a restart finishes into the same 'done'.
      await this.journal.write(record, 'atomic').catch((error: unknown) => {
        this.log.error('could not journal the end of an injection', { id, error: errorMessage(error) });
      });
    } else {
      try {
        await this.forget(id);
      } catch (error) {
        // The kernel is clean; only the record stays on disk. Kept with nothing left to revert, and retried, so the
        // file is never left claiming a fault that a restart would re-verify and put back.
        record.summary = summary;
        delete record.plan;
        delete record.target;
        delete record.netnsInode;
        record.phase = 'reverting';
        record.error = `reverted, but its journal record could not be removed: ${errorMessage(error)}`;
        throw new DaemonError('unavailable', `revert of ${id}: ${record.error}`, { cause: error });
      }
    }
    this.metrics.recovered.inc({ reason });
    this.log.info('injection reverted', { id, holder: record.holder, experiment: record.experiment, reason, summary });
    this.log.debug('recover timing', { id, journalMs: ms(journaledAt - started), revertMs: ms(revertedAt - journaledAt), forgetMs: ms(performance.now() - revertedAt) });
  }

  /** Drops the record without touching the kernel: nothing of it is in force. */
  async forget(id: string): Promise<void> {
    await this.journal.remove(id);
    this.table.delete(id);
  }
}

/** `plan` with the process of the spawn step `marker` named in its kill step. */
export function withHeld(plan: Plan, marker: string, process: HeldProcess): Plan {
  return { ...plan, revert: plan.revert.map((step) => (step.kind === 'kill' && step.marker === marker ? { ...step, process } : step)) };
}

function ms(value: number): number {
  return Math.round(value * 10) / 10;
}
