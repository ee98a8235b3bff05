/**
 * The experiment lifecycle every chaos kind shares: reads the experiment
 * afresh, decides its next step from spec and status, has the kind do it, and
 * records it in status before anything else happens, so that a restarted
 * controller resumes where it stopped. The kind only selects, applies and
 * recovers (see experiment.ts).
 */
import { randomInt } from 'node:crypto';
import type { KubeClient } from '../../kube/client.ts';
import { isNotFound } from '../../kube/errors.ts';
import { formatTime } from '../../kube/time.ts';
import { awaitChange, requeueAfter, type Action } from '../../runtime/action.ts';
import { findCondition, setCondition } from '../../runtime/conditions.ts';
import type { EventRecorder } from '../../runtime/events.ts';
import { addFinalizer, removeFinalizer } from '../../runtime/finalizer.ts';
import { countTargets, MAX_TARGET_RECORDS, untrackedCounts } from './counts.ts';
import { parseDuration } from './duration.ts';
import { verdictOf, type Verdict } from './verdict.ts';
import { POD_TARGETS, SelectionError, type ApplyContext, type ChaosKind, type ChaosStatus, type Experiment, type KindStatus, type RecoverOutcome, type TargetNaming, type TargetRecord } from './experiment.ts';

/** Held on every experiment until its faults are taken away. */
export const RECOVERY_FINALIZER = 'chaos.kerris.dev/recover';

/**
 * Set on an experiment (by `kubectl kerris abort`, or by hand) to stop it now: every held fault is taken away, nothing
 * more is injected, and it ends Aborted. The value is the reason, for people. An annotation rather than a spec field,
 * since spec is fixed at creation; whoever may patch the experiment may already delete it, which also recovers.
 */
export const ABORT_ANNOTATION = 'chaos.kerris.dev/abort';

/** Phases after which the experiment holds nothing and the engine does nothing more. */
const TERMINAL: ReadonlySet<string> = new Set(['Finished', 'Aborted', 'Failed']);

/**
 * The longest wait the engine asks for. A longer duration is waited out in steps: Node turns a timer over
 * 2^31-1 ms into 1 ms, which would make a long experiment spin.
 */
export const MAX_REQUEUE_MS = 5 * 60_000;

/** The schema's limits on messages (src/api): a longer one would make every status write fail. */
const TARGET_MESSAGE_MAX = 1024;
const CONDITION_MESSAGE_MAX = 32768;

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** Records as a kind returned them, with messages cut to what status can hold. */
function bounded(records: readonly TargetRecord[]): TargetRecord[] {
  return records.map((r) => (r.message !== undefined && r.message.length > TARGET_MESSAGE_MAX ? { ...r, message: clip(r.message, TARGET_MESSAGE_MAX) } : r));
}

export const DEFAULT_MAX_TARGETS = 1_000;

export interface EngineOptions {
  /** How often to look again while targets recover or faults are being taken away; watched objects also wake it. */
  recoveryPollMs?: number;
  /** How often a held fault is stated to the nodes again while it runs. */
  resyncMs?: number;
  /** The most targets one experiment may hit; one that picks more fails before anything is touched. */
  maxTargets?: number;
  /** Told once per experiment, when its verdict is written (metrics). */
  onVerdict?: (chaos: Experiment, verdict: Verdict) => void;
  now?: () => Date;
}

export class ExperimentEngine<T extends Experiment> {
  readonly #client: KubeClient;
  readonly #events: EventRecorder;
  readonly #kind: ChaosKind<T>;
  readonly #pollMs: number;
  readonly #resyncMs: number;
  readonly #maxTargets: number;
  readonly #now: () => Date;
  readonly #onVerdict: EngineOptions['onVerdict'];
  readonly #naming: TargetNaming;

  constructor(client: KubeClient, events: EventRecorder, kind: ChaosKind<T>, options: EngineOptions = {}) {
    this.#onVerdict = options.onVerdict;
    this.#client = client;
    this.#events = events;
    this.#kind = kind;
    this.#naming = kind.naming ?? POD_TARGETS;
    this.#pollMs = options.recoveryPollMs ?? 2_000;
    this.#resyncMs = options.resyncMs ?? 15_000;
    this.#maxTargets = options.maxTargets ?? DEFAULT_MAX_TARGETS;
    this.#now = options.now ?? (() => new Date());
  }

  async reconcile(key: { namespace: string; name: string }): Promise<Action> {
    let chaos: T;
    try {
      // The cache may lag our own last status write; decisions are made on the stored object.
      chaos = await this.#client.get(this.#kind.resource, key.name, { namespace: key.namespace });
    } catch (error) {
      if (isNotFound(error)) return awaitChange();
      throw error;
    }
    if (chaos.metadata.deletionTimestamp) return this.#finalize(chaos);
    const status = chaos.status ?? {};
    if (TERMINAL.has(status.phase ?? '')) return awaitChange();
    const abortReason = chaos.metadata.annotations?.[ABORT_ANNOTATION];
    if (abortReason !== undefined) return this.#abort(chaos, abortReason);
    chaos = await addFinalizer(this.#client, this.#kind.resource, chaos, RECOVERY_FINALIZER);
    if (status.selected === undefined) {
      const refusal = await this.#kind.refuse(chaos);
      if (refusal !== undefined) {
        await this.#fail(chaos, 'Unsupported', refusal);
        return awaitChange();
      }
    }
    if (chaos.spec.paused) return this.#holdPaused(chaos);
    if (status.experiment?.pausedAt) chaos = await this.#resume(chaos);
    if (chaos.status?.selected === undefined) return this.#select(chaos);
    const pending = (chaos.status?.targets ?? []).filter((t) => t.phase === 'Selected');
    if (pending.length > 0) return this.#progress(await this.#inject(chaos, pending), false);
    return this.#progress(chaos, true);
  }

  /**
   * Replaces the whole status (a field left out is removed), with optimistic
   * concurrency: a stale view of the experiment fails with a conflict and is
   * retried on a fresh read, never written over newer state.
   */
  async #writeStatus(chaos: T, status: ChaosStatus): Promise<T> {
    // The verdict is reached once, in the write that ends the experiment.
    const concluded = status.verdict ?? verdictOf(status, chaos.spec.dryRun ?? false, formatTime(this.#now().getTime()));
    const final = concluded === undefined ? status : { ...status, verdict: concluded };
    // Every kind's status is the generated ChaosStatus; TypeScript cannot see that through the type parameter.
    const next = { ...chaos, status: { ...final, observedGeneration: chaos.metadata.generation ?? 0 } } as T;
    const updated = await this.#client.replaceStatus(this.#kind.resource, next);
    if (concluded !== undefined && status.verdict === undefined) this.#onVerdict?.(updated, concluded);
    // A finished, aborted or failed experiment holds nothing, so nothing needs to run before it is deleted.
    return TERMINAL.has(status.phase ?? '') ? removeFinalizer(this.#client, this.#kind.resource, updated, RECOVERY_FINALIZER) : updated;
  }

  #condition(chaos: T, status: ChaosStatus, type: string, value: 'True' | 'False', reason: string, message: string): ChaosStatus {
    const update = { type, status: value, reason, message: clip(message, CONDITION_MESSAGE_MAX), ...(chaos.metadata.generation === undefined ? {} : { observedGeneration: chaos.metadata.generation }) };
    return { ...status, conditions: setCondition(status.conditions, update, this.#now().getTime()) };
  }

  /** A target as Events name it, e.g. `pod demo/web-1` or `node worker-2`. */
  #named(target: TargetRecord): string {
    return `${this.#naming.noun} ${this.#naming.name(target)}`;
  }

  #event(chaos: T, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    return this.#events.record(this.#kind.resource, chaos, { type, reason, message });
  }

  async #fail(chaos: T, reason: string, message: string): Promise<void> {
    const status = this.#condition(chaos, { ...chaos.status, phase: 'Failed', experiment: { ...chaos.status?.experiment, desiredPhase: 'Stop' } }, 'Failed', 'True', reason, message);
    await this.#writeStatus(chaos, status);
    await this.#event(chaos, 'Warning', reason, message);
  }

  /** Milliseconds the fault has been held, not counting time paused after injection. */
  #heldMs(status: ChaosStatus): number {
    if (!status.injectedAt) return 0;
    const pausedMs = (status.experiment?.pausedSeconds ?? 0) * 1000;
    const currentPause = status.experiment?.pausedAt ? this.#now().getTime() - Date.parse(status.experiment.pausedAt) : 0;
    return Math.max(0, this.#now().getTime() - Date.parse(status.injectedAt) - pausedMs - currentPause);
  }

  /** An apply's context; `reports` gets the kind's last report. */
  #applyContext(chaos: T, reports: { last?: KindStatus }): ApplyContext {
    return { remainingMs: this.#remainingMs(chaos), report: (status) => { reports.last = status; } };
  }

  #remainingMs(chaos: T): number | undefined {
    if (!chaos.spec.duration) return undefined;
    return Math.max(0, parseDuration(chaos.spec.duration) - this.#heldMs(chaos.status ?? {}));
  }

  /**
   * Paused: a held fault is taken away and its targets go back to Selected, so resuming applies it again;
   * one-time actions already done stay done. The duration clock stops.
   */
  async #holdPaused(chaos: T): Promise<Action> {
    const status = chaos.status ?? {};
    const injected = (status.targets ?? []).filter((t) => t.phase === 'Injected');
    let targets = status.targets;
    const fault = this.#kind.fault(chaos);
    // Already paused, with nothing held left to take away.
    if (findCondition(status.conditions, 'Paused')?.status === 'True' && !(fault.holds && injected.length > 0)) return awaitChange();
    let message = status.selected === undefined ? 'paused before it started; nothing is injected until spec.paused is false' : 'paused; a kill already done cannot be undone, and the duration clock is stopped';
    if (fault.holds && status.selected !== undefined) {
      const outcome = await fault.recover(chaos, injected);
      const byUid = new Map(bounded(outcome.targets).map((t) => [t.uid, t]));
      targets = (status.targets ?? []).map((t) => {
        const after = byUid.get(t.uid);
        return after?.phase === 'Recovered' ? { ...after, phase: 'Selected' as const, message: `paused: fault taken away at ${after.recoveredAt ?? ''}` } : after ?? t;
      });
      if (!outcome.complete) {
        const pending = this.#condition(chaos, { ...status, targets, phase: 'Recovering' }, 'Paused', 'False', 'Pausing', `taking the fault away before pausing: ${outcome.message}`);
        if (JSON.stringify(pending) !== JSON.stringify(status)) await this.#writeStatus(chaos, pending);
        return requeueAfter(this.#pollMs);
      }
      message = 'paused; the fault is taken away and the duration clock is stopped';
    }
    const next = this.#condition(chaos, {
      ...status,
      ...(targets ? { targets, ...countTargets(targets, untrackedCounts(status)) } : {}),
      phase: 'Paused',
      experiment: { ...status.experiment, desiredPhase: 'Stop', pausedAt: status.experiment?.pausedAt ?? formatTime(this.#now().getTime()) },
    }, 'Paused', 'True', 'PausedBySpec', message);
    await this.#writeStatus(chaos, next);
    await this.#event(chaos, 'Normal', 'Paused', message);
    return awaitChange();
  }

  async #resume(chaos: T): Promise<T> {
    const experiment = chaos.status?.experiment ?? { desiredPhase: 'Run' };
    // Only a pause after injection stops the duration clock; before it, the clock has not started.
    const pausedMs = chaos.status?.injectedAt ? Math.max(0, this.#now().getTime() - Date.parse(experiment.pausedAt ?? '')) : 0;
    const { pausedAt: _, ...rest } = experiment;
    const status = this.#condition(chaos, {
      ...chaos.status,
      phase: chaos.status?.selected === undefined ? 'Pending' : 'Running',
      experiment: { ...rest, desiredPhase: 'Run', pausedSeconds: (experiment.pausedSeconds ?? 0) + Math.round(pausedMs / 1000) },
    }, 'Paused', 'False', 'Resumed', 'spec.paused is false');
    const updated = await this.#writeStatus(chaos, status);
    await this.#event(chaos, 'Normal', 'Resumed', 'the experiment goes on');
    return updated;
  }

  /** Picks the targets and records them before anything is touched; a dry run stops there. */
  async #select(chaos: T): Promise<Action> {
    const seed = chaos.spec.seed ?? randomInt(0, 2 ** 47);
    let selection;
    try {
      selection = await this.#kind.select(chaos, seed);
    } catch (error) {
      if (!(error instanceof SelectionError)) throw error;
      await this.#fail(chaos, 'InvalidSelector', error.message);
      return awaitChange();
    }
    const chosen = selection.targets;
    let status: ChaosStatus = { ...chaos.status, seed, startTime: chaos.status?.startTime ?? formatTime(this.#now().getTime()) };
    if (chosen.length === 0) {
      const reason = selection.refused ? selection.refusedReason ?? 'NamespaceRefused' : 'NoTargets';
      // A kind's own refusal (protected nodes) says what it refused; the pod kinds' notes follow the plain fact.
      const message = (selection.refusedReason === undefined ? [`the selector matched no ${this.#naming.plural}`, ...selection.notes] : selection.notes).join('; ');
      status = this.#condition(chaos, status, 'Selected', 'False', reason, message);
      status = this.#condition(chaos, { ...status, phase: 'Failed', selected: 0, experiment: { desiredPhase: 'Stop' } }, 'Failed', 'True', reason, message);
      await this.#writeStatus(chaos, status);
      await this.#event(chaos, 'Warning', reason, message);
      return awaitChange();
    }
    if (chosen.length > this.#maxTargets) {
      const message = `the selector picked ${chosen.length} ${this.#naming.plural}, more than the ${this.#maxTargets} one experiment may hit (the controller's --max-targets); nothing was touched: narrow the selector or the mode`;
      status = this.#condition(chaos, { ...status, phase: 'Failed', selected: 0, experiment: { desiredPhase: 'Stop' } }, 'Failed', 'True', 'TooManyTargets', message);
      await this.#writeStatus(chaos, status);
      await this.#event(chaos, 'Warning', 'TooManyTargets', message);
      return awaitChange();
    }
    const records = chosen.slice(0, MAX_TARGET_RECORDS);
    const message = [`picked ${chosen.length} of the candidate ${this.#naming.plural} with seed ${seed}`, ...selection.notes].join('; ');
    status = this.#condition(chaos, {
      ...status,
      ...countTargets(records, { selected: chosen.length - records.length, injected: 0, recovered: 0, failed: 0 }),
      targets: records,
      targetsTruncated: chosen.length - records.length,
      phase: chaos.spec.dryRun ? 'Finished' : 'Running',
      experiment: { desiredPhase: chaos.spec.dryRun ? 'Stop' : 'Run' },
    }, 'Selected', 'True', 'TargetsPicked', message);
    if (chaos.spec.dryRun) status = this.#condition(chaos, status, 'AllInjected', 'False', 'DryRun', 'dry run: nothing was injected');
    const updated = await this.#writeStatus(chaos, status);
    await this.#event(chaos, 'Normal', 'Selected', `${message}: ${chosen.slice(0, 10).map((p) => this.#naming.name(p)).join(', ')}${chosen.length > 10 ? ', …' : ''}`);
    if (chaos.spec.dryRun) {
      await this.#event(chaos, 'Normal', 'DryRun', 'dry run finished: targets reported in status, nothing injected');
      return awaitChange();
    }
    return this.#progress(await this.#inject(updated, chosen), false);
  }

  /**
   * Applies the pending targets. In the pass that picked them, `pending` also holds the targets beyond the record
   * limit: they are applied with the others and only counted, so a restart in between leaves them not applied and
   * counted as failed, never applied twice.
   */
  async #inject(chaos: T, pending: readonly TargetRecord[]): Promise<T> {
    const status = chaos.status ?? {};
    const injected = (status.targets ?? []).filter((t) => t.phase === 'Injected');
    const { allowed, refused } = await this.#recheck(chaos, [...injected, ...pending]);
    const held = allowed.filter((t) => t.phase === 'Injected');
    const allowedPending = allowed.filter((t) => t.phase !== 'Injected');
    const fault = this.#kind.fault(chaos);
    const reports: { last?: KindStatus } = {};
    const applied = [
      ...(allowedPending.length > 0 ? bounded(await fault.apply(chaos, allowedPending, held, this.#applyContext(chaos, reports))) : []),
      ...refused,
    ];
    const recordedUids = new Set((status.targets ?? []).map((t) => t.uid));
    const byUid = new Map(applied.filter((t) => recordedUids.has(t.uid)).map((t) => [t.uid, t]));
    const unrecorded = applied.filter((t) => !recordedUids.has(t.uid));
    const records = (status.targets ?? []).map((t) => byUid.get(t.uid) ?? t);
    const untracked = untrackedCounts(status);
    const lostToRestart = unrecorded.length === 0 && (status.targetsTruncated ?? 0) > untracked.injected + untracked.failed
      ? (status.targetsTruncated ?? 0) - untracked.injected - untracked.failed : 0;
    untracked.injected += unrecorded.filter((t) => t.phase === 'Injected').length;
    untracked.failed += unrecorded.filter((t) => t.phase === 'Failed').length + lostToRestart;
    const counts = countTargets(records, untracked);
    const failures = applied.filter((t) => t.phase === 'Failed');
    const injectedAt = status.injectedAt ?? (applied.some((t) => t.phase === 'Injected') ? formatTime(this.#now().getTime()) : undefined);
    let next: ChaosStatus = { ...status, ...reports.last, ...counts, targets: records, ...(injectedAt ? { injectedAt } : {}), phase: 'Running' };
    // A kind leaves a target Selected when it cannot act on it yet (its node's daemon is starting): tried again later.
    const waiting = applied.filter((t) => t.phase === 'Selected');
    next = failures.length === 0 && lostToRestart === 0 && waiting.length === 0
      ? this.#condition(chaos, next, 'AllInjected', 'True', this.#kind.fault(chaos).injectedReason, `injected ${counts.injected} target(s)`)
      : failures.length === 0 && lostToRestart === 0
        ? this.#condition(chaos, next, 'AllInjected', 'False', 'Waiting', [`${waiting.length} target(s) wait to be injected`, ...waiting.slice(0, 3).map((t) => `${this.#naming.name(t)}: ${t.message ?? ''}`)].join('; '))
        : this.#condition(chaos, next, 'AllInjected', 'False', 'InjectionFailed',
        [`${failures.length + lostToRestart} of ${counts.selected} target(s) could not be injected`, ...failures.slice(0, 3).map((t) => `${this.#naming.name(t)}: ${t.message ?? ''}`),
          ...(lostToRestart > 0 ? [`${lostToRestart} target(s) beyond the record limit were lost by a controller restart before injection`] : [])].join('; '));
    const updated = await this.#writeStatus(chaos, next);
    const reason = this.#kind.fault(chaos).injectedReason;
    for (const target of applied.filter((t) => t.phase === 'Injected' && recordedUids.has(t.uid))) await this.#event(chaos, 'Normal', reason, `${this.#named(target)}: ${target.message ?? ''}`);
    if (unrecorded.length > 0) await this.#event(chaos, 'Normal', reason, `${unrecorded.filter((t) => t.phase === 'Injected').length} more ${this.#naming.noun}(s) beyond the record limit`);
    // Refused targets already had their Refused Event.
    const refusedUids = new Set(refused.map((t) => t.uid));
    for (const target of failures.filter((t) => !refusedUids.has(t.uid)).slice(0, 10)) await this.#event(chaos, 'Warning', 'InjectionFailed', `${this.#named(target)}: ${target.message ?? ''}`);
    for (const target of waiting.slice(0, 10)) await this.#event(chaos, 'Warning', 'InjectionWaiting', `${this.#named(target)}: ${target.message ?? ''}`);
    return updated;
  }

  /**
   * The policy again, before acting on targets, whatever status says: a target the spec or the policy no longer
   * allows is not acted on and comes back Failed. A held fault on such a target is taken away: the experiment is
   * cleared on the nodes, and the apply that follows restates what is still allowed.
   */
  async #recheck(chaos: T, targets: readonly TargetRecord[]): Promise<{ allowed: TargetRecord[]; refused: TargetRecord[] }> {
    const checked = this.#kind.recheck(chaos, targets);
    const refused = bounded(checked.filter((t, i) => t.phase === 'Failed' && targets[i]?.phase !== 'Failed'));
    const allowed = targets.filter((_, i) => checked[i]?.phase !== 'Failed');
    for (const target of refused.slice(0, 10)) await this.#event(chaos, 'Warning', 'Refused', `${this.#named(target)}: ${target.message ?? ''}`);
    const wasHeld = new Set(targets.filter((t) => t.phase === 'Injected').map((t) => t.uid));
    const fault = this.#kind.fault(chaos);
    if (fault.holds && refused.some((t) => wasHeld.has(t.uid))) await fault.recover(chaos, refused.filter((t) => wasHeld.has(t.uid)));
    return { allowed, refused };
  }

  /**
   * After injection. A held fault is kept for its duration and then taken away; a one-time action is watched until
   * every target has recovered and the duration is over, and then whatever the nodes still record of it is cleared.
   * `restate`: state the held fault to the nodes again (not in the pass that just applied it).
   */
  async #progress(chaos: T, restate: boolean): Promise<Action> {
    const status = chaos.status ?? {};
    // Nothing was ever injected and nothing is left to try: the duration, counted from injection, would never start,
    // so the experiment ends here, Failed, with the targets' reasons.
    const targets = status.targets ?? [];
    if (status.injectedAt === undefined && targets.length > 0 && targets.every((t) => t.phase === 'Failed')) {
      await this.#fail(chaos, 'NothingInjected', `no target could be injected: ${targets.slice(0, 3).map((t) => `${this.#naming.name(t)}: ${t.message ?? ''}`).join('; ')}`);
      return awaitChange();
    }
    const fault = this.#kind.fault(chaos);
    const remaining = this.#remainingMs(chaos);
    const remainingMs = remaining ?? 0;
    const records = status.targets ?? [];
    let assessed: TargetRecord[];
    let recovering: RecoverOutcome | undefined;
    if (fault.holds) {
      // Without a duration a held fault stays until the experiment is paused or deleted.
      if (remaining === undefined || remaining > 0) return this.#hold(chaos, remaining, restate);
      const outcome = await fault.recover(chaos, records.filter((t) => t.phase === 'Injected'));
      const byUid = new Map(bounded(outcome.targets).map((t) => [t.uid, t]));
      assessed = records.map((t) => byUid.get(t.uid) ?? t);
      recovering = outcome;
    } else {
      assessed = bounded(fault.observe(chaos, records));
      if (remainingMs === 0 && !assessed.some((t) => t.phase === 'Injected')) recovering = await fault.recover(chaos, []);
    }
    const newlyRecovered = assessed.filter((t, i) => t.phase === 'Recovered' && records[i]?.phase !== 'Recovered');
    const untracked = untrackedCounts(status);
    // Targets beyond the record limit are recovered with the rest when a held fault is taken away everywhere.
    if (fault.holds && recovering?.complete) untracked.recovered = untracked.injected;
    const counts = countTargets(assessed, untracked);
    const waiting = assessed.filter((t) => t.phase === 'Injected');
    const lastRecovery = assessed.map((t) => t.recoveredAt ?? '').sort().at(-1);
    const cleared = recovering === undefined ? !fault.holds && waiting.length === 0 : recovering.complete;
    const done = waiting.length === 0 && remainingMs === 0 && recovering?.complete === true;

    let next: ChaosStatus = { ...status, ...counts, targets: assessed };
    next = waiting.length === 0 && cleared
      ? this.#condition(chaos, { ...next, ...(lastRecovery ? { recoveredAt: lastRecovery } : {}) }, 'AllRecovered', 'True', 'Recovered', `${counts.recovered} target(s) recovered${counts.failed > 0 ? `, ${counts.failed} failed` : ''}${(status.targetsTruncated ?? 0) > 0 ? `; ${status.targetsTruncated} target(s) beyond the record limit are not tracked one by one` : ''}`)
      : this.#condition(chaos, next, 'AllRecovered', 'False', 'Recovering', recovering && !recovering.complete
        ? `taking the fault away: ${recovering.message}`
        : `${waiting.length} target(s) not recovered yet: ${waiting.slice(0, 3).map((t) => `${this.#naming.name(t)}: ${t.message ?? ''}`).join('; ')}`);
    if (done) next = { ...next, phase: 'Finished', experiment: { ...next.experiment, desiredPhase: 'Stop' } };
    else if (fault.holds && recovering) next = { ...next, phase: 'Recovering' };
    const changed = JSON.stringify(next) !== JSON.stringify(status);
    if (changed) await this.#writeStatus(chaos, next);
    for (const target of newlyRecovered.slice(0, 20)) await this.#event(chaos, 'Normal', 'Recovered', `${this.#named(target)}: ${target.message ?? ''}`);
    if (done) {
      if (changed) await this.#event(chaos, 'Normal', 'Finished', `all ${counts.selected} target(s) handled: ${counts.recovered} recovered, ${counts.failed} failed`);
      return awaitChange();
    }
    if (waiting.length > 0 || recovering) return requeueAfter(Math.min(this.#pollMs, Math.max(remainingMs, 1)));
    return requeueAfter(Math.min(remainingMs, MAX_REQUEUE_MS));
  }

  /**
   * While a held fault runs, states it again every resync: a node whose daemon reverted it (its lease lapsed while
   * no controller led, or it restarted after a deadline) gets it back for the rest of the duration. A level-triggered
   * kind first follows its targets: pods gone are recorded, and pods it picks now are injected with the rest.
   */
  async #hold(chaos: T, remainingMs: number | undefined, restate: boolean): Promise<Action> {
    const wait = requeueAfter(Math.min(remainingMs ?? this.#resyncMs, this.#resyncMs));
    if (!restate) return wait;
    const followed = await this.#follow(chaos);
    const pending = (followed.status?.targets ?? []).filter((t) => t.phase === 'Selected');
    if (pending.length > 0) return this.#progress(await this.#inject(followed, pending), false);
    const injected = (followed.status?.targets ?? []).filter((t) => t.phase === 'Injected');
    if (injected.length === 0) return wait;
    const { allowed, refused } = await this.#recheck(followed, injected);
    const reports: { last?: KindStatus } = {};
    const fault = this.#kind.fault(followed);
    const restated = allowed.length > 0 ? bounded(await fault.apply(followed, [], allowed, this.#applyContext(followed, reports))) : [];
    // Evidence is read into the records as restated, so what the restate changed (readiness seen, a target ended) is kept.
    const restatedByUid = new Map(restated.map((t) => [t.uid, t]));
    const current = allowed.map((t) => restatedByUid.get(t.uid) ?? t).filter((t) => t.phase === 'Injected');
    const proven = current.length > 0 && fault.evidence ? bounded(await fault.evidence(followed, current)) : [];
    const reportChanged = reports.last !== undefined && JSON.stringify(reports.last.network) !== JSON.stringify(followed.status?.network);
    const byUid = new Map([...restated, ...proven, ...refused].map((t) => [t.uid, t]));
    const targets = (followed.status?.targets ?? []).map((t) => byUid.get(t.uid) ?? t);
    if (reportChanged || JSON.stringify(targets) !== JSON.stringify(followed.status?.targets ?? [])) {
      await this.#writeStatus(followed, { ...followed.status, ...reports.last, targets, ...countTargets(targets, untrackedCounts(followed.status)) });
    }
    // A held target the kind found ended on its node (a node partition healed by its daemon) is said like any recovery.
    const ended = targets.filter((t, i) => t.phase === 'Recovered' && followed.status?.targets?.[i]?.phase === 'Injected');
    for (const target of ended.slice(0, 20)) await this.#event(followed, 'Normal', 'Recovered', `${this.#named(target)}: ${target.message ?? ''}`);
    return wait;
  }

  /**
   * Level-triggered kinds: records the targets whose pods are gone and appends the pods the spec picks now (phase
   * Selected), with an Event for each change. Status keeps at most MAX_TARGET_RECORDS records, so an experiment
   * whose records are full follows no new pods (a Warning says so), and one with untracked targets is not followed.
   */
  async #follow(chaos: T): Promise<T> {
    const status = chaos.status ?? {};
    const records = status.targets ?? [];
    if (this.#kind.follow === undefined || (status.targetsTruncated ?? 0) > 0) return chaos;
    const followed = bounded(this.#kind.follow(chaos, records, status.seed ?? 0));
    const gone = followed.slice(0, records.length).filter((t, i) => t.phase === 'Recovered' && records[i]?.phase !== 'Recovered');
    const candidates = followed.slice(records.length);
    const added = candidates.slice(0, Math.max(0, MAX_TARGET_RECORDS - records.length));
    if (gone.length === 0 && added.length === 0) return chaos;
    const targets = [...followed.slice(0, records.length), ...added];
    const updated = await this.#writeStatus(chaos, { ...status, targets, ...countTargets(targets, untrackedCounts(status)) });
    for (const target of gone.slice(0, 20)) await this.#event(chaos, 'Normal', 'TargetGone', `${this.#named(target)}: ${target.message ?? ''}`);
    for (const target of added.slice(0, 20)) await this.#event(chaos, 'Normal', 'TargetAdded', `${this.#named(target)} is picked now: ${target.message ?? 'injecting'}`);
    if (candidates.length > added.length) {
      await this.#event(chaos, 'Warning', 'TargetsFull', `${candidates.length - added.length} more ${this.#naming.noun}(s) match, but the experiment already keeps ${MAX_TARGET_RECORDS} target records; they are not injected`);
    }
    return updated;
  }

  /**
   * Abort: nothing more is injected (targets still Selected stay so), every held fault is taken away, and the
   * experiment ends Aborted once every node has answered. A one-time action already done cannot be undone; its
   * targets are recorded as they are now, and the nodes forget it.
   */
  async #abort(chaos: T, reason: string): Promise<Action> {
    const status = chaos.status ?? {};
    const records = status.targets ?? [];
    const fault = this.#kind.fault(chaos);
    let assessed = records;
    let outcome: RecoverOutcome | undefined;
    if (status.selected !== undefined && !chaos.spec.dryRun) {
      if (fault.holds) {
        outcome = await fault.recover(chaos, records.filter((t) => t.phase === 'Injected'));
        const byUid = new Map(bounded(outcome.targets).map((t) => [t.uid, t]));
        assessed = records.map((t) => byUid.get(t.uid) ?? t);
      } else {
        assessed = bounded(fault.observe(chaos, records));
        outcome = await fault.recover(chaos, []);
      }
    }
    const why = reason.trim() === '' ? 'abort requested' : clip(reason.trim(), 1024);
    const untracked = untrackedCounts(status);
    if (fault.holds && outcome?.complete) untracked.recovered = untracked.injected;
    let next: ChaosStatus = { ...status, ...(records.length > 0 ? { targets: assessed, ...countTargets(assessed, untracked) } : {}) };
    if (outcome !== undefined && !outcome.complete) {
      next = this.#condition(chaos, { ...next, phase: 'Recovering', experiment: { ...status.experiment, desiredPhase: 'Stop' } }, 'Aborted', 'False', 'Aborting', `aborting (${why}): taking the fault away: ${outcome.message}`);
      if (JSON.stringify(next) !== JSON.stringify(status)) {
        await this.#writeStatus(chaos, next);
        await this.#event(chaos, 'Normal', 'Aborting', `${why}: taking every fault away`);
      }
      return requeueAfter(this.#pollMs);
    }
    const lastRecovery = assessed.map((t) => t.recoveredAt ?? '').sort().at(-1);
    const message = status.selected === undefined ? `${why}; aborted before anything was injected`
      : `${why}; ${outcome?.message ?? 'nothing was injected'}`;
    if (outcome !== undefined) next = this.#condition(chaos, { ...next, ...(lastRecovery ? { recoveredAt: lastRecovery } : {}) }, 'AllRecovered', 'True', 'Recovered', `aborted: ${outcome.message}`);
    next = this.#condition(chaos, { ...next, phase: 'Aborted', experiment: { ...status.experiment, desiredPhase: 'Stop' } }, 'Aborted', 'True', 'AbortRequested', message);
    await this.#writeStatus(chaos, next);
    await this.#event(chaos, 'Normal', 'Aborted', message);
    return awaitChange();
  }

  /** Deletion: take every fault away, then let the object go. */
  async #finalize(chaos: T): Promise<Action> {
    if (!(chaos.metadata.finalizers ?? []).includes(RECOVERY_FINALIZER)) return awaitChange();
    let message = 'nothing was injected';
    if (chaos.status?.selected !== undefined && !chaos.spec.dryRun) {
      const outcome = await this.#kind.fault(chaos).recover(chaos, (chaos.status.targets ?? []).filter((t) => t.phase === 'Injected'));
      if (!outcome.complete) {
        await this.#event(chaos, 'Warning', 'RecoveryPending', `deleted, but the fault is not taken away everywhere yet: ${outcome.message}`);
        return requeueAfter(this.#pollMs);
      }
      message = outcome.message;
    }
    await removeFinalizer(this.#client, this.#kind.resource, chaos, RECOVERY_FINALIZER);
    await this.#event(chaos, 'Normal', 'Recovered', `deleted: ${message}`);
    return awaitChange();
  }
}
