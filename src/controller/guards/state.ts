/**
 * One guard's standing, as a pure state machine over its evaluations on the monotonic clock: Passing, Failing for
 * less than its `for` window, or Breached once it has failed without a pass in between for the whole window (the
 * window itself is checks/window.ts, shared with StatusCheck). The counts feed the resilience score (engine/verdict.ts).
 */
import type { CheckOutcome } from '../checks/evaluate.ts';
import { isBreached, observeWindow } from '../checks/window.ts';

export type GuardEvaluation = CheckOutcome;

export interface GuardStanding {
  state: 'Pending' | 'Passing' | 'Failing' | 'Breached';
  /** Monotonic ms of the first failure of the current run of failures. */
  failingSinceMs?: number;
  /** Monotonic ms the state was entered, for `since` in status. */
  sinceMs: number;
  checks: number;
  passed: number;
  last?: GuardEvaluation;
}

export const pending = (nowMs: number): GuardStanding => ({ state: 'Pending', sinceMs: nowMs, checks: 0, passed: 0 });

/** The standing after one evaluation at `nowMs`; a breached guard stays breached. */
export function advance(standing: GuardStanding, evaluation: GuardEvaluation, forMs: number, nowMs: number): GuardStanding {
  if (standing.state === 'Breached') return standing;
  const counted = { checks: standing.checks + 1, passed: standing.passed + (evaluation.ok ? 1 : 0), last: evaluation };
  const window = observeWindow({ failingSinceMs: standing.failingSinceMs }, evaluation.ok, nowMs);
  if (window.failingSinceMs === undefined) return { state: 'Passing', sinceMs: standing.state === 'Passing' ? standing.sinceMs : nowMs, ...counted };
  if (isBreached(window, forMs, nowMs)) return { state: 'Breached', failingSinceMs: window.failingSinceMs, sinceMs: nowMs, ...counted };
  return { state: 'Failing', failingSinceMs: window.failingSinceMs, sinceMs: standing.state === 'Failing' ? standing.sinceMs : nowMs, ...counted };
}
