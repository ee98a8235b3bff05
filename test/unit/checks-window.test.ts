/** The pure logic of checks: streaks and thresholds (StatusCheck) and the `for` window guards are breached by. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  extendStreak, isBreached, NO_STREAK, observeWindow, PASSING, thresholdReached, untilBreachMs, type Streak,
} from '../../src/controller/checks/window.ts';

const run = (outcomes: readonly boolean[]): Streak => outcomes.reduce(extendStreak, NO_STREAK);

describe('streaks and thresholds', () => {
  it('counts outcomes in a row, one resetting the other', () => {
    assert.deepEqual(run([true, true]), { consecutiveSuccesses: 2, consecutiveFailures: 0 });
    assert.deepEqual(run([true, true, false]), { consecutiveSuccesses: 0, consecutiveFailures: 1 });
    assert.deepEqual(run([false, false, true, false, false]), { consecutiveSuccesses: 0, consecutiveFailures: 2 });
  });

  it('Synchronous completes at whichever threshold comes first', () => {
    const sync = { mode: 'Synchronous', successThreshold: 2, failureThreshold: 3 } as const;
    assert.equal(thresholdReached(run([true]), sync), undefined);
    assert.equal(thresholdReached(run([true, true]), sync), 'SuccessThresholdExceed');
    assert.equal(thresholdReached(run([false, false]), sync), undefined);
    assert.equal(thresholdReached(run([true, false, false, false]), sync), 'FailureThresholdExceed');
    assert.equal(thresholdReached(run([false, false, true, false]), sync), undefined, 'a success in between starts the count again');
  });

  it('Continuous ends only on failures, however many successes', () => {
    const continuous = { mode: 'Continuous', successThreshold: 1, failureThreshold: 2 } as const;
    assert.equal(thresholdReached(run([true, true, true, true]), continuous), undefined);
    assert.equal(thresholdReached(run([true, false, false]), continuous), 'FailureThresholdExceed');
  });
});

describe('the for window of a guard', () => {
  it('is breached once failing without a break for the whole window', () => {
    let window = observeWindow(PASSING, false, 1_000);
    assert.equal(isBreached(window, 5_000, 1_000), false);
    assert.equal(untilBreachMs(window, 5_000, 1_000), 5_000);
    window = observeWindow(window, false, 4_000);
    assert.deepEqual(window, { failingSinceMs: 1_000 }, 'a later failure keeps the window open from the first');
    assert.equal(isBreached(window, 5_000, 5_999), false);
    assert.equal(isBreached(window, 5_000, 6_000), true);
    assert.equal(untilBreachMs(window, 5_000, 7_000), 0);
  });

  it('closes on a pass, so a flapping check is never breached', () => {
    let window = PASSING;
    for (let t = 0; t < 60_000; t += 1_000) window = observeWindow(window, t % 2_000 === 0, t);
    assert.equal(isBreached(window, 2_000, 60_000), false);
    assert.equal(isBreached(observeWindow(window, true, 61_000), 0, 61_000), false);
    assert.equal(untilBreachMs(PASSING, 5_000, 0), undefined);
  });

  it('with a zero window is breached at the first failure', () => {
    assert.equal(isBreached(observeWindow(PASSING, false, 42), 0, 42), true);
  });
});
