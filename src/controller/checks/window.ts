/**
 * When a run of outcomes means something, as pure functions of the outcomes so far:
 * - thresholds (StatusCheck): so many successes or failures in a row, counted in the object's status so a restarted
 *   controller continues the count;
 * - a `for` window (guards): breached once the check has been failing without a break for the whole window, measured
 *   on the monotonic clock of the process that saw the failures (a wall-clock step neither breaches nor spares it).
 */

/** Outcomes in a row up to the last one; one of the two is always 0. */
export interface Streak {
  readonly consecutiveSuccesses: number;
  readonly consecutiveFailures: number;
}

export const NO_STREAK: Streak = { consecutiveSuccesses: 0, consecutiveFailures: 0 };

/** The streak after one more outcome: a success resets the failures and the other way round. */
export function extendStreak(streak: Streak, ok: boolean): Streak {
  return ok
    ? { consecutiveSuccesses: streak.consecutiveSuccesses + 1, consecutiveFailures: 0 }
    : { consecutiveSuccesses: 0, consecutiveFailures: streak.consecutiveFailures + 1 };
}

export interface Thresholds {
  readonly successThreshold: number;
  readonly failureThreshold: number;
  /** Continuous checks end only on failures (as in Chaos Mesh); Synchronous ones on whichever threshold comes first. */
  readonly mode: 'Synchronous' | 'Continuous';
}

export type ThresholdReached = 'SuccessThresholdExceed' | 'FailureThresholdExceed';

export function thresholdReached(streak: Streak, thresholds: Thresholds): ThresholdReached | undefined {
  if (streak.consecutiveFailures >= thresholds.failureThreshold) return 'FailureThresholdExceed';
  if (thresholds.mode === 'Synchronous' && streak.consecutiveSuccesses >= thresholds.successThreshold) return 'SuccessThresholdExceed';
  return undefined;
}

/** A guard's window: since when (monotonic ms) the check has failed without a passing evaluation in between. */
export interface FailingWindow {
  readonly failingSinceMs: number | undefined;
}

export const PASSING: FailingWindow = { failingSinceMs: undefined };

/** The window after an evaluation at `nowMs`: a pass closes it, the first failure opens it, later failures keep it. */
export function observeWindow(window: FailingWindow, ok: boolean, nowMs: number): FailingWindow {
  if (ok) return PASSING;
  return window.failingSinceMs === undefined ? { failingSinceMs: nowMs } : window;
}

/** Breached when failing continuously for at least `forMs` (0: at the first failure). */
export function isBreached(window: FailingWindow, forMs: number, nowMs: number): boolean {
  return window.failingSinceMs !== undefined && nowMs - window.failingSinceMs >= forMs;
}

/** How long until an open window is breached if nothing passes, for scheduling the next look; undefined when passing. */
export function untilBreachMs(window: FailingWindow, forMs: number, nowMs: number): number | undefined {
  if (window.failingSinceMs === undefined) return undefined;
  return Math.max(0, window.failingSinceMs + forMs - nowMs);
}
