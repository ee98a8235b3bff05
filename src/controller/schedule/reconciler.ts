/**
 * The Schedule controller: at each slot it creates a run from the embedded spec, never two at once under Forbid,
 * keeps `historyLimit` runs, and reports slots it missed once. Slots come from the wall clock (slots.ts); the wait
 * for the next one is the Schedule's requeue, so nothing but the status carries state across a restart.
 */
import { createHash } from 'node:crypto';
import type { Schedule, ScheduleStatus } from '../../api/generated/types.ts';
import { apiVersion } from '../../api/generated/types.ts';
import type { KubeClient } from '../../kube/client.ts';
import { isAlreadyExists, isNotFound } from '../../kube/errors.ts';
import { formatTime, parseTime } from '../../kube/time.ts';
import { awaitChange, requeueAfter, type Action } from '../../runtime/action.ts';
import { setCondition } from '../../runtime/conditions.ts';
import type { EventRecorder } from '../../runtime/events.ts';
import { MAX_REQUEUE_MS } from '../engine/lifecycle.ts';
import { chaosResources, controllerReference, hasEnded, isChaosKind, specField, type ChaosKindName, type ChaosObject } from './chaos-objects.ts';
import { schedules } from './resource.ts';
import { parseSchedule, planSchedule, ScheduleError, type Missed } from './slots.ts';

export const SCHEDULE_UID_LABEL = 'chaos.kerris.dev/schedule-uid';
export const SCHEDULE_LABEL = 'chaos.kerris.dev/schedule';
export const SCHEDULED_AT_ANNOTATION = 'chaos.kerris.dev/scheduled-at';
export const DEFAULT_HISTORY_LIMIT = 1;
/** While a run holds a slot back under Forbid, look again this often besides the run's own changes. */
const HELD_POLL_MS = 2_000;
const NAME_PREFIX_MAX = 42;

/** `<schedule>-<slot in Unix seconds>`: one name per slot, so a retried creation is never a second run. */
export function runName(scheduleName: string, slotMs: number): string {
  const seconds = Math.floor(slotMs / 1000);
  if (scheduleName.length <= NAME_PREFIX_MAX) return `${scheduleName}-${seconds}`;
  const hash = createHash('sha256').update(scheduleName).digest('hex').slice(0, 5);
  return `${scheduleName.slice(0, NAME_PREFIX_MAX - 6).replace(/[-.]+$/, '')}-${hash}-${seconds}`;
}

function labelValue(name: string): string {
  return name.length <= 63 ? name : name.slice(0, 63).replace(/[-_.]+$/, '');
}

export interface ScheduleReconcilerOptions {
  client: KubeClient;
  events: EventRecorder;
  now?: () => number;
}

export class ScheduleReconciler {
  readonly #client: KubeClient;
  readonly #events: EventRecorder;
  readonly #now: () => number;

  constructor(options: ScheduleReconcilerOptions) {
    this.#client = options.client;
    this.#events = options.events;
    this.#now = options.now ?? Date.now;
  }

  async reconcile(key: { namespace: string; name: string }): Promise<Action> {
    let schedule: Schedule;
    try {
      schedule = await this.#client.get(schedules, key.name, { namespace: key.namespace });
    } catch (error) {
      if (isNotFound(error)) return awaitChange();
      throw error;
    }
    // Runs carry an ownerReference: the garbage collector deletes them, and each recovers before it goes.
    if (schedule.metadata.deletionTimestamp) return awaitChange();
    const spec = schedule.spec;
    const status: ScheduleStatus = schedule.status ?? {};
    const nowMs = this.#now();
    const createdMs = parseTime(schedule.metadata.creationTimestamp ?? formatTime(nowMs));
    let slots;
    try {
      if (!isChaosKind(spec.type)) throw new ScheduleError(`${spec.type} is not a kind a kerris Schedule runs yet`);
      slots = parseSchedule(spec.schedule, spec.timeZone, createdMs);
    } catch (error) {
      if (!(error instanceof ScheduleError)) throw error;
      await this.#writeStatus(schedule, { ...status, conditions: this.#conditions(status, schedule, 'Failed', 'True', 'InvalidSchedule', error.message, nowMs) });
      return awaitChange();
    }
    const kind: ChaosKindName = spec.type;
    const runs = await this.#runs(schedule, kind);
    const active = runs.filter((r) => !hasEnded(r));
    const plan = planSchedule({
      slots,
      nowMs,
      lastMs: status.time ? parseTime(status.time) : createdMs,
      startingDeadlineSeconds: spec.startingDeadlineSeconds,
      forbid: spec.concurrencyPolicy !== 'Allow',
      activeRuns: active.length,
      suspend: spec.suspend === true,
    });
    let created = 0;
    if (plan.runMs !== undefined) {
      const run = await this.#createRun(schedule, kind, plan.runMs);
      created = 1;
      if (!runs.some((r) => r.metadata.name === run.metadata.name)) {
        runs.push(run);
        active.push(run);
      }
    }
    await this.#pruneHistory(kind, runs, spec.historyLimit ?? DEFAULT_HISTORY_LIMIT);
    const next: ScheduleStatus = {
      ...status,
      time: formatTime(plan.lastMs),
      runs: (status.runs ?? 0) + created,
      missedRuns: (status.missedRuns ?? 0) + (plan.missed?.count ?? 0),
      active: active.map((r) => ({ apiVersion, kind, namespace: r.metadata.namespace ?? key.namespace, name: r.metadata.name ?? '', ...(r.metadata.uid ? { uid: r.metadata.uid } : {}) })),
      conditions: this.#conditions(status, schedule, 'Failed', 'False', 'ScheduleValid', `schedule ${JSON.stringify(spec.schedule)} in ${spec.timeZone ?? 'UTC'}`, nowMs),
    };
    if (plan.nextMs === undefined) delete next.nextScheduleTime;
    else next.nextScheduleTime = formatTime(plan.nextMs);
    if (plan.missed) next.lastMissed = { count: plan.missed.count, first: formatTime(plan.missed.firstMs), last: formatTime(plan.missed.lastMs), reportedAt: formatTime(nowMs) };
    next.conditions = spec.suspend === true
      ? setCondition(next.conditions, { type: 'Suspended', status: 'True', reason: 'Suspended', message: 'spec.suspend is true: no new runs', observedGeneration: schedule.metadata.generation ?? 0 }, nowMs)
      : setCondition(next.conditions, { type: 'Suspended', status: 'False', reason: 'NotSuspended', message: '', observedGeneration: schedule.metadata.generation ?? 0 }, nowMs);
    next.conditions = setCondition(next.conditions, plan.held
      ? { type: 'Scheduled', status: 'False', reason: 'HeldByActiveRun', message: `a slot waits for ${active[0]?.metadata.name ?? 'the active run'} to end (concurrencyPolicy Forbid)`, observedGeneration: schedule.metadata.generation ?? 0 }
      : { type: 'Scheduled', status: spec.suspend === true ? 'False' : 'True', reason: spec.suspend === true ? 'Suspended' : 'Scheduling', message: plan.nextMs === undefined ? 'no slot left' : `next slot ${formatTime(plan.nextMs)}`, observedGeneration: schedule.metadata.generation ?? 0 }, nowMs);
    const written = await this.#writeStatus(schedule, next);
    if (plan.missed) await this.#reportMissed(written, plan.missed);
    return this.#wait(plan.nextMs, plan.heldUntilMs, nowMs, plan.held === true);
  }

  #wait(nextMs: number | undefined, heldUntilMs: number | undefined, nowMs: number, holding: boolean): Action {
    const waits = [MAX_REQUEUE_MS];
    if (nextMs !== undefined) waits.push(Math.max(0, nextMs - nowMs));
    if (heldUntilMs !== undefined) waits.push(Math.max(0, heldUntilMs - nowMs + 1));
    // The run's own changes wake the Schedule too; the poll only bounds a missed watch event.
    if (holding) waits.push(HELD_POLL_MS);
    return requeueAfter(Math.min(...waits));
  }

  async #runs(schedule: Schedule, kind: ChaosKindName): Promise<ChaosObject[]> {
    const list = await this.#client.list(chaosResources[kind], {
      namespace: schedule.metadata.namespace ?? '',
      labelSelector: `${SCHEDULE_UID_LABEL}=${schedule.metadata.uid ?? ''}`,
    });
    return list.items.filter((r) => r.metadata.deletionTimestamp === undefined);
  }

  async #createRun(schedule: Schedule, kind: ChaosKindName, slotMs: number): Promise<ChaosObject> {
    const name = runName(schedule.metadata.name ?? '', slotMs);
    const embedded = schedule.spec[specField[kind]];
    if (embedded === undefined) throw new ScheduleError(`${specField[kind]} is missing for type ${kind}`);
    const run = {
      apiVersion,
      kind,
      metadata: {
        name,
        namespace: schedule.metadata.namespace ?? '',
        labels: { [SCHEDULE_UID_LABEL]: schedule.metadata.uid ?? '', [SCHEDULE_LABEL]: labelValue(schedule.metadata.name ?? '') },
        annotations: { [SCHEDULED_AT_ANNOTATION]: formatTime(slotMs) },
        ownerReferences: [controllerReference(schedule, apiVersion, 'Schedule')],
      },
      spec: embedded,
    } as ChaosObject;
    try {
      return await this.#client.create(chaosResources[kind], run, { namespace: run.metadata.namespace });
    } catch (error) {
      // Created before a restart or a failed status write: the slot's run exists, and is this one.
      if (isAlreadyExists(error)) return this.#client.get(chaosResources[kind], name, { namespace: run.metadata.namespace });
      throw error;
    }
  }

  /** Keeps the newest `limit` runs, active ones included; never deletes an active run. */
  async #pruneHistory(kind: ChaosKindName, runs: readonly ChaosObject[], limit: number): Promise<void> {
    const newestFirst = [...runs].sort((a, b) => slotOf(b) - slotOf(a));
    for (const run of newestFirst.slice(limit)) {
      if (!hasEnded(run)) continue;
      try {
        await this.#client.delete(chaosResources[kind], run.metadata.name ?? '', { namespace: run.metadata.namespace ?? '' });
      } catch (error) {
        if (!isNotFound(error)) throw error;
      }
    }
  }

  async #reportMissed(schedule: Schedule, missed: Missed): Promise<void> {
    const span = missed.count === 1 ? `at ${formatTime(missed.firstMs)}` : `from ${formatTime(missed.firstMs)} to ${formatTime(missed.lastMs)}`;
    await this.#events.record(schedules, schedule, {
      type: 'Warning',
      reason: 'MissedSchedule',
      action: 'Schedule',
      message: `missed ${missed.count} run(s) ${span}; they are not run late (controller away, a run held them back, or later than startingDeadlineSeconds)`,
    });
  }

  #conditions(status: ScheduleStatus, schedule: Schedule, type: 'Failed', value: 'True' | 'False', reason: string, message: string, nowMs: number): ScheduleStatus['conditions'] {
    return setCondition(status.conditions, { type, status: value, reason, message, observedGeneration: schedule.metadata.generation ?? 0 }, nowMs);
  }

  async #writeStatus(schedule: Schedule, status: ScheduleStatus): Promise<Schedule> {
    const next = { ...schedule, status: { ...status, observedGeneration: schedule.metadata.generation ?? 0 } };
    // Optimistic: a stale read (our own last write not seen yet) conflicts and is retried on a fresh one.
    return this.#client.replaceStatus(schedules, next, { namespace: schedule.metadata.namespace ?? '' });
  }
}

function slotOf(run: ChaosObject): number {
  const at = run.metadata.annotations?.[SCHEDULED_AT_ANNOTATION];
  return at === undefined ? 0 : parseTime(at);
}
