/**
 * A StatusCheck's progress as pure functions of its spec, its status and the time: the settings with Chaos Mesh's
 * defaults, when the next execution is due, and the status after one more outcome or at the end of `duration`.
 */
import type { StatusCheckRecord, StatusCheckSpec, StatusCheckStatus } from '../../api/generated/types.ts';
import { STATUS_CHECK_DEFAULTS } from '../../api/statuscheck.ts';
import { formatTime, parseTime } from '../../kube/time.ts';
import { setCondition, type Condition } from '../../runtime/conditions.ts';
import type { CheckOutcome } from '../checks/evaluate.ts';
import { extendStreak, thresholdReached, type ThresholdReached } from '../checks/window.ts';
import { parseDuration } from '../engine/duration.ts';

export interface Settings {
  readonly mode: 'Synchronous' | 'Continuous';
  readonly timeoutMs: number;
  readonly intervalMs: number;
  readonly successThreshold: number;
  readonly failureThreshold: number;
  readonly recordsHistoryLimit: number;
  readonly durationMs: number | undefined;
}

export function settingsOf(spec: StatusCheckSpec): Settings {
  return {
    mode: spec.mode ?? STATUS_CHECK_DEFAULTS.mode,
    timeoutMs: (spec.timeoutSeconds ?? STATUS_CHECK_DEFAULTS.timeoutSeconds) * 1000,
    intervalMs: (spec.intervalSeconds ?? STATUS_CHECK_DEFAULTS.intervalSeconds) * 1000,
    successThreshold: spec.successThreshold ?? STATUS_CHECK_DEFAULTS.successThreshold,
    failureThreshold: spec.failureThreshold ?? STATUS_CHECK_DEFAULTS.failureThreshold,
    recordsHistoryLimit: spec.recordsHistoryLimit ?? STATUS_CHECK_DEFAULTS.recordsHistoryLimit,
    durationMs: spec.duration === undefined ? undefined : parseDuration(spec.duration),
  };
}

export type CompletionReason = ThresholdReached | 'DurationExceed';

const CONDITION_TYPES = ['SuccessThresholdExceed', 'FailureThresholdExceed', 'DurationExceed'] as const;

export const isCompleted = (status: StatusCheckStatus | undefined): boolean =>
  status?.conditions?.some((c) => c.type === 'Completed' && c.status === 'True') ?? false;

/**
 * When `duration` runs out (epoch ms), or undefined without one. `startTime` is whole seconds, cut down from the real
 * start; the deadline rounds it up again, so a check runs at least its duration (and at most a second more).
 */
export function deadlineMs(status: StatusCheckStatus | undefined, settings: Settings, nowMs: number): number | undefined {
  if (settings.durationMs === undefined) return undefined;
  return (status?.startTime === undefined ? nowMs : parseTime(status.startTime) + 999) + settings.durationMs;
}

/** The four conditions as they stand: all False with reason `Running` until one reason completes the check. */
function conditionsFor(previous: readonly Condition[] | undefined, completed: CompletionReason | undefined, messageText: string, nowMs: number, generation: number | undefined): Condition[] {
  const gen = generation === undefined ? {} : { observedGeneration: generation };
  let conditions = setCondition(previous, completed === undefined
    ? { type: 'Completed', status: 'False', reason: 'Running', message: messageText, ...gen }
    : { type: 'Completed', status: 'True', reason: completed, message: messageText, ...gen }, nowMs);
  for (const type of CONDITION_TYPES) {
    const reached = type === completed;
    conditions = setCondition(conditions, { type, status: reached ? 'True' : 'False', reason: reached ? type : completed === undefined ? 'Running' : 'NotReached', message: reached ? messageText : '', ...gen }, nowMs);
  }
  return conditions;
}

export interface Step {
  readonly status: StatusCheckStatus;
  /** Set when this step completed the check. */
  readonly completed: CompletionReason | undefined;
}

/** The status after an execution that started at `startedMs` ended with `result`. */
export function recordOutcome(status: StatusCheckStatus | undefined, settings: Settings, result: CheckOutcome, startedMs: number, nowMs: number, generation?: number): Step {
  const streak = extendStreak({ consecutiveSuccesses: status?.consecutiveSuccesses ?? 0, consecutiveFailures: status?.consecutiveFailures ?? 0 }, result.ok);
  const record: StatusCheckRecord = {
    startTime: formatTime(startedMs),
    outcome: result.ok ? 'Success' : 'Failure',
    ...(result.observed === '' ? {} : { observed: result.observed }),
    ...(result.message === '' ? {} : { message: result.message }),
  };
  const records = [...(status?.records ?? []), record].slice(-settings.recordsHistoryLimit);
  const completed = thresholdReached(streak, settings);
  const summary = completed === 'FailureThresholdExceed'
    ? `${streak.consecutiveFailures} failures in a row: ${result.message}`
    : completed === 'SuccessThresholdExceed'
      ? `${streak.consecutiveSuccesses} successes in a row: ${result.message}`
      : `${result.ok ? 'Success' : 'Failure'}: ${result.message}`;
  return {
    completed,
    status: {
      ...(generation === undefined ? {} : { observedGeneration: generation }),
      startTime: status?.startTime ?? formatTime(startedMs),
      ...(completed === undefined ? {} : { completionTime: formatTime(nowMs) }),
      count: (status?.count ?? 0) + 1,
      consecutiveSuccesses: streak.consecutiveSuccesses,
      consecutiveFailures: streak.consecutiveFailures,
      conditions: conditionsFor(status?.conditions, completed, summary, nowMs, generation),
      records,
    },
  };
}

/** The status once `duration` has passed with neither threshold reached. */
export function durationExceeded(status: StatusCheckStatus | undefined, settings: Settings, nowMs: number, generation?: number): StatusCheckStatus {
  const count = status?.count ?? 0;
  const messageText = `duration ${settings.durationMs === undefined ? '' : `${settings.durationMs / 1000} s `}passed after ${count} execution${count === 1 ? '' : 's'} with neither threshold reached`;
  return {
    ...status,
    ...(generation === undefined ? {} : { observedGeneration: generation }),
    startTime: status?.startTime ?? formatTime(nowMs),
    completionTime: formatTime(nowMs),
    count,
    conditions: conditionsFor(status?.conditions, 'DurationExceed', messageText, nowMs, generation),
  };
}
