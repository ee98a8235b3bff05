/**
 * Restart following: finds injections whose target process is no longer the one the fault was put on and puts
 * the fault on its successor (same pod, same container name), and retries reverts that failed. It runs on its own
 * timer, apart from the guard, so slow runtime calls for restarted targets never delay a lease expiry or deadline.
 */
import { errorCode, errorMessage } from './errors.ts';
import { HELD_ENDED, heldEnded } from './held.ts';
import { containerOf, type JournalRecord } from './journal.ts';
import type { Lifecycle } from './lifecycle.ts';
import type { DaemonMetrics } from './metrics.ts';
import type { Plan } from './plan.ts';
import { netnsInode, processStartTime } from './proc.ts';
import { reachableRevert, retargetNetns } from './revert-reach.ts';
import type { ResolvedTarget } from './runtime/resolve.ts';
import { isNodeTarget, type ContainerTarget } from './spec.ts';
import type { InjectionTable } from './state.ts';
import { isSame, processNow } from './stopped.ts';
import type { Logger } from '../util/log.ts';

/** The start of the error a node fault's injection gets when the host process it acts on is gone. */
export const NODE_PROCESS_GONE = 'the process this node fault acts on is gone';

export interface RestartOptions {
  table: InjectionTable;
  lifecycle: Lifecycle;
  metrics: DaemonMetrics;
  log: Logger;
  everyMs: number;
}

export class RestartFollower {
  private readonly o: RestartOptions;
  private timer: NodeJS.Timeout | undefined;
  private work: Promise<void> | undefined;

  constructor(options: RestartOptions) {
    this.o = options;
  }

  start(): void {
    this.timer = setInterval(() => {
      this.work ??= this.retryReverts().then(() => this.checkTargets()).catch((error: unknown) => {
        this.o.log.error('target check failed', { error: errorMessage(error) });
      }).finally(() => { this.work = undefined; });
    }, this.o.everyMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.work;
  }

  private async retryReverts(): Promise<void> {
    const { table, lifecycle, log } = this.o;
    for (const record of table.all().filter((r) => r.phase === 'reverting')) {
      await table.locked(record.spec.id, async () => {
        if (!table.holds(record)) return;
        await lifecycle.revert(record, 'retry').catch((error: unknown) => {
          log.error('revert retry failed', { id: record.spec.id, error: errorMessage(error) });
        });
      });
    }
  }

  private async checkTargets(): Promise<void> {
    const { table } = this.o;
    for (const record of table.all().filter((r) => r.phase === 'active' || r.phase === 'not-reapplied')) {
      const target = record.spec.target;
      if (isNodeTarget(target)) {
        // The node's own netns lives as long as the node: there is nothing to follow or find gone. Its pid 1 is
        // only the way in (a sandbox's init may be new after a daemon restart); the netns inode pins the namespace.
        const module = this.o.lifecycle.has(record.spec.fault.kind) ? this.o.lifecycle.module(record.spec.fault.kind) : undefined;
        if (module?.scope === 'node' && module.on === 'netns') continue;
        await this.checkNodeProcess(record);
        continue;
      }
      if (record.phase === 'active' && record.target !== undefined && await processStartTime(record.target.pid) === record.target.startTime) {
        await this.checkHeld(record);
        continue;
      }
      await table.locked(record.spec.id, async () => {
        if (table.holds(record) && (record.phase === 'active' || record.phase === 'not-reapplied')) await this.reapply(record, target);
      });
    }
  }

  /** Reports, once, a held process (a stressor) of an active injection that ended on its own (held.ts says why it stays ended). */
  private async checkHeld(record: JournalRecord): Promise<void> {
    const { table, metrics, log } = this.o;
    if (record.plan === undefined || record.error?.startsWith(HELD_ENDED) === true) return;
    const ended = await heldEnded(record.plan);
    if (ended === undefined) return;
    await table.locked(record.spec.id, async () => {
      if (!table.holds(record) || record.phase !== 'active') return;
      record.error = ended;
      metrics.failed.inc({ kind: record.spec.fault.kind, operation: 'hold' });
      log.warn('held process ended on its own; not restarted', { id: record.spec.id, error: ended });
      await this.writeBehind(record);
    });
  }

  /**
   * Reports, once, that the host process a node fault acts on (the kubelet it stopped) is gone: killed, or
   * restarted as another process. Its successor is not faulted again: whoever ended a stopped kubelet wanted it
   * back. The injection stays active until reverted; its revert has nothing left to continue.
   */
  private async checkNodeProcess(record: JournalRecord): Promise<void> {
    const { table, metrics, log } = this.o;
    const process = record.target;
    if (record.phase !== 'active' || process === undefined || !('name' in process) || record.error?.startsWith(NODE_PROCESS_GONE) === true) return;
    if (isSame(process, await processNow(process.pid))) return;
    await table.locked(record.spec.id, async () => {
      if (!table.holds(record) || record.phase !== 'active') return;
      record.error = `${NODE_PROCESS_GONE}: ${process.name} (pid ${process.pid}) ended or was restarted; the new one is not faulted`;
      metrics.failed.inc({ kind: record.spec.fault.kind, operation: 'hold' });
      log.warn('the host process of a node fault is gone; not faulted again', { id: record.spec.id, error: record.error });
      await this.writeBehind(record);
    });
  }

  private async successor(target: ContainerTarget): Promise<ResolvedTarget> {
    const { targets } = this.o.lifecycle;
    try {
      return await targets.resolve(target.containerId);
    } catch (error) {
      if (errorCode(error) !== 'not-found' || target.podUid === undefined || target.containerName === undefined) throw error;
      return targets.resolve(await targets.findRestarted(target.podUid, target.containerName));
    }
  }

  /**
   * Puts the fault on the target's successor. The record always says where the fault is: `plan` is in force (or,
   * for a target that vanished, still held by its pod's netns), or absent when nothing of it is left anywhere.
   */
  private async reapply(record: JournalRecord, target: ContainerTarget): Promise<void> {
    const { lifecycle, log } = this.o;
    const { journal, executor } = lifecycle;
    const id = record.spec.id;
    const previous = containerOf(record);
    const module = lifecycle.containerModule(record.spec.fault.kind);
    let next: ResolvedTarget;
    let plan: Plan;
    try {
      next = await this.successor(target);
      const sameProcess = previous !== undefined && next.pid === previous.pid && next.startTime === previous.startTime;
      const sameNetns = module.inNetns && record.netnsInode !== undefined && await netnsInode(next.pid) === record.netnsInode;
      if (record.plan !== undefined && (sameProcess || sameNetns)) {
        // The same process (the runtime was briefly unreachable), or a restart inside the pod's netns: the fault is
        // still where it was put, so it is followed rather than applied twice.
        if (previous !== undefined) record.plan = retargetNetns(record.plan, `/proc/${previous.pid}/ns/net`, `/proc/${next.pid}/ns/net`);
        await this.settle(record, next, false);
        log.info('target followed; fault still in place', { id, pid: next.pid, sameProcess });
        return;
      }
      const effect = await module.prepare(record.spec.fault, next);
      // Only faults with a plan stay in force; a one-way action is done and never followed.
      if (effect.kind !== 'plan') return;
      plan = effect.plan;
    } catch (error) {
      await this.markNotReapplied(record, error);
      return;
    }
    const leftovers = await reachableRevert(record, log);
    if (leftovers.length > 0) {
      await executor.revert(leftovers).catch((error: unknown) => {
        log.error('could not revert the fault left on the restarted container\'s old netns', { id, error: errorMessage(error) });
      });
    }
    record.target = next;
    record.plan = plan;
    record.phase = 'applying';
    if (module.inNetns) record.netnsInode = await netnsInode(next.pid);
    try {
      await journal.write(record);
    } catch (error) {
      // Nothing of the new plan is applied yet; without its journal record it is not applied at all.
      delete record.plan;
      delete record.target;
      delete record.netnsInode;
      await this.markNotReapplied(record, error);
      return;
    }
    try {
      await executor.apply(plan.apply, (marker, process) => lifecycle.journalHeld(record, marker, process));
    } catch (error) {
      await executor.revert(plan.revert).catch((revertError: unknown) => {
        log.error('revert after a failed re-apply failed', { id, error: errorMessage(revertError) });
      });
      delete record.plan;
      delete record.target;
      delete record.netnsInode;
      await this.markNotReapplied(record, error);
      return;
    }
    await this.settle(record, next, true);
    this.o.metrics.reapplied.inc({ kind: record.spec.fault.kind });
    log.info('fault re-applied on restarted container', { id, container: next.containerId, pid: next.pid, summary: plan.summary });
  }

  private async settle(record: JournalRecord, target: ResolvedTarget, reapplied: boolean): Promise<void> {
    record.target = target;
    if (reapplied) record.reapplied += 1;
    delete record.error;
    record.phase = 'active';
    await this.writeBehind(record);
  }

  /**
   * Writes that follow a change already made (or a failure): if the journal cannot take them the record in memory
   * still says where the fault is, and a restart finds the previous record, which is reverted or re-verified.
   */
  private async writeBehind(record: JournalRecord): Promise<void> {
    await this.o.lifecycle.journal.write(record).catch((error: unknown) => {
      this.o.log.error('could not journal a restart-following change', { id: record.spec.id, phase: record.phase, error: errorMessage(error) });
    });
  }

  private async markNotReapplied(record: JournalRecord, error: unknown): Promise<void> {
    if (record.phase !== 'not-reapplied') {
      this.o.metrics.notReapplied.inc({ kind: record.spec.fault.kind });
      this.o.log.warn('fault not re-applied on restarted container', { id: record.spec.id, error: errorMessage(error) });
    }
    record.phase = 'not-reapplied';
    record.error = `target restarted; fault not re-applied: ${errorMessage(error)}`;
    await this.writeBehind(record);
  }
}
