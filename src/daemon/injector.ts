/**
 * The daemon's injection table: applies and reverts faults, journals each
 * change before it is made, reverts by itself when a holder's lease expires,
 * puts faults back on containers that restarted, and reconciles the journal
 * against the kernel on start-up.
 */
import { readFile } from 'node:fs/promises';
import { mapLimit } from '../util/concurrency.ts';
import { planFreeze } from './container-faults.ts';
import { DaemonError, errorCode, errorMessage, type ErrorCode } from './errors.ts';
import { Journal, type JournalRecord, type LeaseRecord, type Phase } from './journal.ts';
import { Leases } from './leases.ts';
import { daemonMetrics, type DaemonMetrics } from './metrics.ts';
import type { Plan, Step } from './plan.ts';
import { netnsInode, processStartTime } from './proc.ts';
import { reachableRevert, retargetNetns } from './revert-reach.ts';
import type { ResolvedTarget } from './runtime/resolve.ts';
import { checkId, checkLeaseTtl, checkTarget, specHash, type FaultKind, type FaultSpec, type InjectionSpec, type TargetRef } from './spec.ts';
import type { Logger } from '../util/log.ts';
import { FaultConflictError, ForeignStateError, UnsupportedFaultError } from './net/errors.ts';
import type { NetworkEngine } from './net/engine.ts';

/** Runs a plan's steps: execute.ts's applySteps/revertSteps on a node, a recording fake in unit tests. */
export interface StepExecutor {
  /** Runs steps in order and throws at the first that fails. */
  apply(steps: readonly Step[]): Promise<void>;
  /** Runs every step, treating state already absent as done; throws if any step failed. */
  revert(steps: readonly Step[]): Promise<void>;
}

/** The part of TargetResolver the injector needs. */
export interface Targets {
  resolve(containerId: string): Promise<ResolvedTarget>;
  kill(containerId: string): Promise<string>;
  findRestarted(podUid: string, containerName: string): Promise<string>;
}

export interface InjectorOptions {
  journal: Journal;
  targets: Targets;
  executor: StepExecutor;
  network?: NetworkEngine;
  log: Logger;
  /** How often leases are checked; expiry is acted on within this plus the revert time. */
  tickMs?: number;
  /** How often targets are checked for restarts. */
  targetCheckMs?: number;
  /** Injections handled at once within one batch call. */
  concurrency?: number;
  now?: () => number;
}

export interface InjectionStatus {
  id: string;
  specHash: string;
  holder: string;
  target: TargetRef;
  kind: FaultKind;
  phase: Phase;
  summary: string;
  pid: number;
  leaseExpiresAt: number;
  appliedAt: number;
  reapplied: number;
  error: string;
}

export interface ItemResult {
  id: string;
  ok: boolean;
  errorCode: ErrorCode | '';
  error: string;
  injection?: InjectionStatus;
}

/** A fault in the form the API carries it: network faults still raw, to be validated. */
export type RawFault = { kind: 'container-kill' } | { kind: 'container-freeze' } | { kind: 'network'; faults: readonly unknown[] };

export interface RawInjection {
  id: string;
  target: TargetRef;
  fault: RawFault;
}

export class Injector {
  readonly metrics: DaemonMetrics;
  private readonly journal: Journal;
  private readonly targets: Targets;
  private readonly executor: StepExecutor;
  private readonly network: NetworkEngine | undefined;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly tickMs: number;
  private readonly targetCheckMs: number;
  private readonly concurrency: number;
  private readonly entries = new Map<string, JournalRecord>();
  private readonly locks = new Map<string, Promise<unknown>>();
  /** Holders whose lease expiry has been announced; their reverts may still be retrying. */
  private readonly expiring = new Set<string>();
  private leases = new Leases();
  private timer: NodeJS.Timeout | undefined;
  private leaseWork: Promise<void> | undefined;
  private targetWork: Promise<void> | undefined;
  private lastTargetCheck = 0;

  constructor(options: InjectorOptions) {
    this.journal = options.journal;
    this.targets = options.targets;
    this.executor = options.executor;
    this.network = options.network;
    this.log = options.log;
    this.now = options.now ?? Date.now;
    this.tickMs = options.tickMs ?? 250;
    this.targetCheckMs = options.targetCheckMs ?? 1_000;
    this.concurrency = options.concurrency ?? 32;
    this.metrics = daemonMetrics(() => this.activeCounts());
  }

  /** Reads the journal, finishes what a crash interrupted, re-verifies what is in force, then starts the lease clock. */
  async start(): Promise<void> {
    const { records, leases } = await this.journal.open();
    this.leases = new Leases(leases);
    for (const record of records) {
      this.leases.ensure(record.holder);
      await this.reconcile(record);
    }
    await this.journal.writeLeases(this.leases.snapshot());
    this.log.info('journal reconciled', { dir: this.journal.dir, injections: this.entries.size, leases: this.leases.snapshot().size });
    this.timer = setInterval(() => { this.tick(); }, this.tickMs);
  }

  /** Stops the clocks and waits for work in flight. Faults stay: their leases revert them if no controller renews. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await Promise.all([this.leaseWork, this.targetWork]);
    await Promise.all([...this.locks.values()].map((p) => p.catch(() => undefined)));
    await this.journal.close();
  }

  private async reconcile(record: JournalRecord): Promise<void> {
    const id = record.spec.id;
    if (record.phase === 'applying' || record.phase === 'reverting') {
      // The daemon stopped mid-change: take the fault fully away; the controller re-injects if it still wants it.
      this.entries.set(id, record);
      try {
        await this.revertRecord(record, 'reconcile');
      } catch (error) {
        this.log.error('reconcile: revert failed; will retry', { id, error: errorMessage(error) });
      }
      return;
    }
    this.entries.set(id, record);
    if (record.phase !== 'active' || record.plan === undefined || record.target === undefined) return;
    if (await processStartTime(record.target.pid) !== record.target.startTime) return; // the target check re-applies it
    const drifted = await this.driftedWrites(record.plan.apply);
    if (drifted.length > 0) {
      this.log.warn('reconcile: fault no longer in the kernel; re-applying', { id, drifted });
      await this.executor.apply(record.plan.apply).catch((error: unknown) => {
        record.error = `re-apply after restart failed: ${errorMessage(error)}`;
        this.log.error('reconcile: re-apply failed', { id, error: errorMessage(error) });
      });
    }
  }

  /** Write steps whose file no longer holds the value written: the kernel lost that part of the fault. */
  private async driftedWrites(steps: readonly Step[]): Promise<string[]> {
    const drifted: string[] = [];
    for (const step of steps) {
      if (step.kind !== 'write') continue;
      const current = await readFile(step.path, 'utf8').catch(() => undefined);
      if (current?.trim() !== step.value) drifted.push(step.path);
    }
    return drifted;
  }

  private async locked<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(id) ?? Promise.resolve();
    const run = previous.then(fn, fn);
    const tail = run.then(() => undefined, () => undefined);
    this.locks.set(id, tail);
    try {
      return await run;
    } finally {
      if (this.locks.get(id) === tail) this.locks.delete(id);
    }
  }

  async renew(holder: string, ttlMs: number): Promise<{ lease: LeaseRecord; injections: number }> {
    checkId('holder', holder);
    checkLeaseTtl(ttlMs);
    const lease = this.leases.renew(holder, ttlMs, this.now());
    this.expiring.delete(holder);
    await this.journal.writeLeases(this.leases.snapshot());
    return { lease, injections: [...this.entries.values()].filter((r) => r.holder === holder).length };
  }

  async inject(holder: string, ttlMs: number, batch: readonly RawInjection[]): Promise<ItemResult[]> {
    checkId('holder', holder);
    checkLeaseTtl(ttlMs);
    const known = this.leases.get(holder) !== undefined;
    this.leases.renew(holder, ttlMs, this.now());
    this.expiring.delete(holder);
    const written = this.journal.writeLeases(this.leases.snapshot());
    // A new holder's lease is durable before any record names it. A known holder's renewal is written behind:
    // if a crash loses it, the older expiry on disk only makes the restarted daemon revert sooner, never later.
    if (known) written.catch((error: unknown) => { this.log.error('lease write failed', { holder, error: errorMessage(error) }); });
    else await written;
    return mapLimit(batch, this.concurrency, async (raw) => {
      try {
        const spec = this.normalize(raw);
        return { id: raw.id, ok: true, errorCode: '', error: '', injection: await this.injectOne(holder, spec) };
      } catch (error) {
        this.metrics.failed.inc({ kind: raw.fault.kind, operation: 'inject' });
        this.log.warn('inject failed', { id: raw.id, holder, error: errorMessage(error) });
        return { id: raw.id, ok: false, errorCode: errorCode(error), error: errorMessage(error), injection: this.statusOf(raw.id) };
      }
    });
  }

  async recover(ids: readonly string[]): Promise<ItemResult[]> {
    return mapLimit(ids, this.concurrency, async (id) => {
      try {
        checkId('injection ID', id);
        await this.locked(id, async () => {
          const record = this.entries.get(id);
          // Recovering what is already recovered (or was never injected) is a no-op.
          if (record !== undefined) await this.revertRecord(record, 'request');
        });
        return { id, ok: true, errorCode: '', error: '' };
      } catch (error) {
        this.log.warn('recover failed', { id, error: errorMessage(error) });
        return { id, ok: false, errorCode: errorCode(error), error: errorMessage(error), injection: this.statusOf(id) };
      }
    });
  }

  /** Reverts every injection (uninstalling the daemon); returns those whose revert failed. */
  async revertAll(reason: string): Promise<string[]> {
    const failed: string[] = [];
    await mapLimit([...this.entries.keys()], this.concurrency, (id) => this.locked(id, async () => {
      const record = this.entries.get(id);
      if (record !== undefined) await this.revertRecord(record, reason).catch(() => { failed.push(id); });
    }));
    return failed;
  }

  list(holder?: string): { injections: InjectionStatus[]; leases: Array<{ holder: string } & LeaseRecord> } {
    const injections = [...this.entries.values()].filter((r) => holder === undefined || r.holder === holder).map((r) => this.status(r));
    const leases = [...this.leases.snapshot()].filter(([h]) => holder === undefined || h === holder).map(([h, lease]) => ({ holder: h, ...lease }));
    return { injections, leases };
  }

  private normalize(raw: RawInjection): InjectionSpec {
    checkId('injection ID', raw.id);
    const target = checkTarget(raw.target);
    let fault: FaultSpec;
    if (raw.fault.kind === 'network') {
      if (this.network === undefined) throw new DaemonError('invalid', 'network faults are not available in this daemon build');
      const engine = this.network;
      if (raw.fault.faults.length === 0) throw new DaemonError('invalid', 'a network injection needs at least one fault');
      fault = { kind: 'network', faults: raw.fault.faults.map((f) => validated(() => engine.validate(f))) };
    } else {
      fault = { kind: raw.fault.kind };
    }
    return { id: raw.id, target, fault };
  }

  private async injectOne(holder: string, spec: InjectionSpec): Promise<InjectionStatus> {
    const hash = specHash(spec);
    return this.locked(spec.id, async () => {
      const existing = this.entries.get(spec.id);
      if (existing !== undefined) {
        if (existing.specHash !== hash) {
          throw new DaemonError('conflict', `injection ${spec.id} exists with a different spec (hash ${existing.specHash.slice(0, 12)}, asked ${hash.slice(0, 12)})`);
        }
        if (existing.holder !== holder) {
          // A new controller leader re-injecting what its predecessor did adopts it under its own lease.
          existing.holder = holder;
          await this.journal.write(existing);
        }
        return this.status(existing);
      }
      const started = performance.now();
      const target = await this.targets.resolve(spec.target.containerId);
      const resolvedAt = performance.now();
      const record: JournalRecord = { spec, specHash: hash, holder, phase: 'applying', target, reapplied: 0, updatedAt: this.now() };
      if (spec.fault.kind === 'container-kill') {
        await this.journal.write(record);
        this.entries.set(spec.id, record);
        try {
          const runtime = await this.targets.kill(spec.target.containerId);
          this.log.info('container killed', { id: spec.id, container: spec.target.containerId, runtime });
        } catch (error) {
          await this.forget(spec.id);
          throw error;
        }
        return this.commit(record, 'done');
      }
      record.plan = await this.planFor(spec.fault, target);
      if (spec.fault.kind === 'network') record.netnsInode = await netnsInode(target.pid);
      const plannedAt = performance.now();
      await this.journal.write(record);
      this.entries.set(spec.id, record);
      const journaledAt = performance.now();
      try {
        await this.executor.apply(record.plan.apply);
      } catch (error) {
        await this.revertRecord(record, 'failed-apply').catch((revertError: unknown) => {
          this.log.error('revert after a failed apply failed; kept for retry', { id: spec.id, error: errorMessage(revertError) });
        });
        throw new DaemonError('failed', `${record.plan.summary}: ${errorMessage(error)}`, { cause: error });
      }
      const appliedAt = performance.now();
      const status = await this.commit(record, 'active');
      this.log.debug('inject timing', {
        id: spec.id, resolveMs: ms(resolvedAt - started), planMs: ms(plannedAt - resolvedAt), journalMs: ms(journaledAt - plannedAt),
        applyMs: ms(appliedAt - journaledAt), commitMs: ms(performance.now() - appliedAt),
      });
      return status;
    });
  }

  private async commit(record: JournalRecord, phase: 'active' | 'done'): Promise<InjectionStatus> {
    record.phase = phase;
    record.appliedAt = this.now();
    record.updatedAt = record.appliedAt;
    await this.journal.write(record, 'atomic');
    this.metrics.applied.inc({ kind: record.spec.fault.kind });
    this.log.info('injection applied', { id: record.spec.id, holder: record.holder, summary: record.plan?.summary ?? 'container-kill', pid: record.target?.pid });
    return this.status(record);
  }

  private async forget(id: string): Promise<void> {
    await this.journal.remove(id);
    this.entries.delete(id);
  }

  private async planFor(fault: FaultSpec, target: ResolvedTarget): Promise<Plan> {
    switch (fault.kind) {
      case 'container-freeze': return planFreeze(target);
      case 'network': {
        if (this.network === undefined) throw new DaemonError('invalid', 'network faults are not available in this daemon build');
        try {
          return await this.network.plan(target, fault.faults);
        } catch (error) {
          throw networkPlanError(error);
        }
      }
      case 'container-kill': throw new DaemonError('invalid', 'container-kill is an action, not a plan');
    }
  }

  private async revertRecord(record: JournalRecord, reason: string): Promise<void> {
    const id = record.spec.id;
    const started = performance.now();
    let journaledAt = started;
    if (record.plan !== undefined && record.phase !== 'done') {
      if (record.phase !== 'reverting') {
        record.phase = 'reverting';
        record.updatedAt = this.now();
        await this.journal.write(record);
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
    await this.forget(id);
    this.metrics.recovered.inc({ reason });
    this.log.info('injection reverted', { id, holder: record.holder, reason, summary: record.plan?.summary ?? record.spec.fault.kind });
    this.log.debug('recover timing', { id, journalMs: ms(journaledAt - started), revertMs: ms(revertedAt - journaledAt), forgetMs: ms(performance.now() - revertedAt) });
  }

  /**
   * Two clocks, each never overlapping itself: leases on every tick, target restarts and failed reverts every
   * targetCheckMs. They run apart so that slow runtime calls for restarted targets never delay a lease expiry.
   */
  private tick(): void {
    this.leaseWork ??= this.expireLeases().catch((error: unknown) => {
      this.log.error('lease check failed', { error: errorMessage(error) });
    }).finally(() => { this.leaseWork = undefined; });
    if (this.targetWork === undefined && this.now() - this.lastTargetCheck >= this.targetCheckMs) {
      this.lastTargetCheck = this.now();
      this.targetWork = this.retryReverts().then(() => this.checkTargets()).catch((error: unknown) => {
        this.log.error('target check failed', { error: errorMessage(error) });
      }).finally(() => { this.targetWork = undefined; });
    }
  }

  private async expireLeases(): Promise<void> {
    const expired = this.leases.expired(this.now());
    for (const holder of expired) {
      const ids = [...this.entries.values()].filter((r) => r.holder === holder).map((r) => r.spec.id);
      const lease = this.leases.get(holder);
      // Counted and logged once per expiry, although a revert that fails is retried on later ticks.
      if (!this.expiring.has(holder) && ids.length > 0) {
        this.metrics.leaseExpiries.inc();
        this.log.warn('lease expired; reverting its injections', { holder, expiredAt: lease?.expiresAt, injections: ids.length });
      }
      this.expiring.add(holder);
      const results = await mapLimit(ids, this.concurrency, (id) => this.locked(id, async () => {
        const record = this.entries.get(id);
        // Renewed or adopted by another holder while waiting for the lock.
        if (record === undefined || record.holder !== holder || (this.leases.get(holder)?.expiresAt ?? 0) > this.now()) return true;
        return this.revertRecord(record, 'lease-expired').then(() => true, (error: unknown) => {
          this.log.error('revert on lease expiry failed; will retry', { id, error: errorMessage(error) });
          return false;
        });
      }));
      const lease2 = this.leases.get(holder);
      if (results.every(Boolean) && lease2 !== undefined && lease2.expiresAt <= this.now()) {
        this.leases.delete(holder);
        this.expiring.delete(holder);
        await this.journal.writeLeases(this.leases.snapshot());
      }
    }
  }

  private async retryReverts(): Promise<void> {
    for (const record of [...this.entries.values()].filter((r) => r.phase === 'reverting')) {
      await this.locked(record.spec.id, async () => {
        if (this.entries.get(record.spec.id) !== record) return;
        await this.revertRecord(record, 'retry').catch((error: unknown) => {
          this.log.error('revert retry failed', { id: record.spec.id, error: errorMessage(error) });
        });
      });
    }
  }

  /** Finds targets whose process is no longer the one the fault was put on, and puts the fault on its successor. */
  private async checkTargets(): Promise<void> {
    const candidates = [...this.entries.values()].filter((r) => r.phase === 'active' || r.phase === 'not-reapplied');
    for (const record of candidates) {
      if (record.phase === 'active' && record.target !== undefined && await processStartTime(record.target.pid) === record.target.startTime) continue;
      await this.locked(record.spec.id, async () => {
        if (this.entries.get(record.spec.id) === record) await this.reapply(record);
      });
    }
  }

  private async successor(target: TargetRef): Promise<ResolvedTarget> {
    try {
      return await this.targets.resolve(target.containerId);
    } catch (error) {
      if (errorCode(error) !== 'not-found' || target.podUid === undefined || target.containerName === undefined) throw error;
      return this.targets.resolve(await this.targets.findRestarted(target.podUid, target.containerName));
    }
  }

  /**
   * Puts the fault on the target's successor. The record always says where the fault is: `plan` is in force (or,
   * for a target that vanished, still held by its pod's netns), or absent when nothing of it is left anywhere.
   */
  private async reapply(record: JournalRecord): Promise<void> {
    const id = record.spec.id;
    const previous = record.target;
    let next: ResolvedTarget;
    let plan: Plan;
    try {
      next = await this.successor(record.spec.target);
      const sameProcess = previous !== undefined && next.pid === previous.pid && next.startTime === previous.startTime;
      const sameNetns = record.spec.fault.kind === 'network' && record.netnsInode !== undefined && await netnsInode(next.pid) === record.netnsInode;
      if (record.plan !== undefined && (sameProcess || sameNetns)) {
        // The same process (the runtime was briefly unreachable), or a restart inside the pod's netns: the fault is
        // still where it was put, so it is followed rather than applied twice.
        if (previous !== undefined) record.plan = retargetNetns(record.plan, `/proc/${previous.pid}/ns/net`, `/proc/${next.pid}/ns/net`);
        await this.settle(record, next, false);
        this.log.info('target followed; fault still in place', { id, pid: next.pid, sameProcess });
        return;
      }
      plan = await this.planFor(record.spec.fault, next);
    } catch (error) {
      await this.markNotReapplied(record, error);
      return;
    }
    const leftovers = await reachableRevert(record, this.log);
    if (leftovers.length > 0) {
      await this.executor.revert(leftovers).catch((error: unknown) => {
        this.log.error('could not revert the fault left on the restarted container\'s old netns', { id, error: errorMessage(error) });
      });
    }
    record.target = next;
    record.plan = plan;
    record.phase = 'applying';
    if (record.spec.fault.kind === 'network') record.netnsInode = await netnsInode(next.pid);
    await this.journal.write(record);
    try {
      await this.executor.apply(plan.apply);
    } catch (error) {
      await this.executor.revert(plan.revert).catch((revertError: unknown) => {
        this.log.error('revert after a failed re-apply failed', { id, error: errorMessage(revertError) });
      });
      delete record.plan;
      delete record.target;
      delete record.netnsInode;
      await this.markNotReapplied(record, error);
      return;
    }
    await this.settle(record, next, true);
    this.metrics.reapplied.inc({ kind: record.spec.fault.kind });
    this.log.info('fault re-applied on restarted container', { id, container: next.containerId, pid: next.pid, summary: plan.summary });
  }

  private async settle(record: JournalRecord, target: ResolvedTarget, reapplied: boolean): Promise<void> {
    record.target = target;
    if (reapplied) record.reapplied += 1;
    delete record.error;
    record.phase = 'active';
    record.updatedAt = this.now();
    await this.journal.write(record);
  }

  private async markNotReapplied(record: JournalRecord, error: unknown): Promise<void> {
    const message = `target restarted; fault not re-applied: ${errorMessage(error)}`;
    if (record.phase !== 'not-reapplied') {
      this.metrics.notReapplied.inc({ kind: record.spec.fault.kind });
      this.log.warn('fault not re-applied on restarted container', { id: record.spec.id, error: errorMessage(error) });
    }
    record.phase = 'not-reapplied';
    record.error = message;
    record.updatedAt = this.now();
    await this.journal.write(record);
  }

  private statusOf(id: string): InjectionStatus | undefined {
    const record = this.entries.get(id);
    return record === undefined ? undefined : this.status(record);
  }

  private status(record: JournalRecord): InjectionStatus {
    return {
      id: record.spec.id,
      specHash: record.specHash,
      holder: record.holder,
      target: record.spec.target,
      kind: record.spec.fault.kind,
      phase: record.phase,
      summary: record.plan?.summary ?? `kill container ${record.spec.target.containerId}`,
      pid: record.target?.pid ?? 0,
      leaseExpiresAt: this.leases.get(record.holder)?.expiresAt ?? 0,
      appliedAt: record.appliedAt ?? 0,
      reapplied: record.reapplied,
      error: record.error ?? '',
    };
  }

  private activeCounts(): Array<{ labels: Record<string, string>; value: number }> {
    const counts = new Map<string, { labels: Record<string, string>; value: number }>();
    for (const record of this.entries.values()) {
      const labels = { kind: record.spec.fault.kind, phase: record.phase };
      const k = `${labels.kind}/${labels.phase}`;
      counts.set(k, { labels, value: (counts.get(k)?.value ?? 0) + 1 });
    }
    return [...counts.values()];
  }
}

/** The network planner's refusals, as the API reports them: nothing was touched when they are raised. */
function networkPlanError(error: unknown): unknown {
  if (error instanceof UnsupportedFaultError || error instanceof FaultConflictError) return new DaemonError('invalid', error.message, { cause: error });
  if (error instanceof ForeignStateError) return new DaemonError('conflict', error.message, { cause: error });
  return error;
}

function ms(value: number): number {
  return Math.round(value * 10) / 10;
}

function validated(fn: () => unknown): unknown {
  try {
    return fn();
  } catch (error) {
    throw error instanceof DaemonError ? error : new DaemonError('invalid', errorMessage(error), { cause: error });
  }
}
