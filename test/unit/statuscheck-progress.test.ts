/** A StatusCheck's progress as pure functions: Chaos Mesh's defaults, bounded records, streaks, the four conditions. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { StatusCheckSpec, StatusCheckStatus } from '../../src/api/generated/types.ts';
import { parseTime } from '../../src/kube/time.ts';
import { durationExceeded, isCompleted, recordOutcome, settingsOf } from '../../src/controller/statuscheck/progress.ts';

const spec: StatusCheckSpec = { type: 'HTTP', http: { url: 'http://web/', criteria: { statusCode: '200' } } };
const t0 = parseTime('2026-12-01T10:00:00Z');
const ok = { ok: true, observed: 'HTTP 200', message: 'GET http://web/: status 200 is in 200' };
const bad = { ok: false, observed: 'HTTP 503', message: 'GET http://web/: status 503 is not in 200' };

function runOutcomes(settingsSpec: StatusCheckSpec, outcomes: readonly boolean[]): { status: StatusCheckStatus | undefined; completed: string | undefined } {
  const settings = settingsOf(settingsSpec);
  let status: StatusCheckStatus | undefined;
  let completed: string | undefined;
  outcomes.forEach((success, i) => {
    const step = recordOutcome(status, settings, success ? ok : bad, t0 + i * 10_000, t0 + i * 10_000 + 5);
    status = step.status;
    completed = step.completed;
  });
  return { status, completed };
}

describe('StatusCheck progress', () => {
  it('applies Chaos Mesh\'s defaults to omitted fields', () => {
    assert.deepEqual(settingsOf(spec), {
      mode: 'Synchronous', timeoutMs: 1_000, intervalMs: 10_000, successThreshold: 1, failureThreshold: 3, recordsHistoryLimit: 100, durationMs: undefined,
    });
    assert.equal(settingsOf({ ...spec, duration: '1m30s' }).durationMs, 90_000);
  });

  it('Synchronous: completes at the success threshold, with the conditions Chaos Mesh has', () => {
    const { status, completed } = runOutcomes({ ...spec, successThreshold: 2 }, [false, true, true]);
    assert.equal(completed, 'SuccessThresholdExceed');
    assert.ok(isCompleted(status));
    const byType = Object.fromEntries((status?.conditions ?? []).map((c) => [c.type, `${c.status}/${c.reason}`]));
    assert.deepEqual(byType, {
      Completed: 'True/SuccessThresholdExceed', SuccessThresholdExceed: 'True/SuccessThresholdExceed',
      FailureThresholdExceed: 'False/NotReached', DurationExceed: 'False/NotReached',
    });
    assert.equal(status?.count, 3);
    assert.equal(status?.startTime, '2026-12-01T10:00:00Z');
    assert.equal(status?.completionTime, '2026-12-01T10:00:20Z');
    assert.deepEqual(status?.records?.map((r) => r.outcome), ['Failure', 'Success', 'Success']);
  });

  it('stays Running until a threshold, then completes at the failure threshold', () => {
    const running = runOutcomes(spec, [false, false]);
    assert.equal(running.completed, undefined);
    assert.equal(isCompleted(running.status), false);
    assert.equal(running.status?.conditions?.find((c) => c.type === 'Completed')?.reason, 'Running');
    assert.equal(running.status?.completionTime, undefined);
    const failed = runOutcomes(spec, [false, false, false]);
    assert.equal(failed.completed, 'FailureThresholdExceed');
    assert.match(failed.status?.conditions?.find((c) => c.type === 'Completed')?.message ?? '', /^3 failures in a row: GET http:\/\/web\/: status 503 is not in 200$/);
  });

  it('Continuous keeps only the newest recordsHistoryLimit records while counting them all', () => {
    const { status, completed } = runOutcomes({ ...spec, mode: 'Continuous', recordsHistoryLimit: 3 }, [true, true, true, true, true, false]);
    assert.equal(completed, undefined);
    assert.equal(status?.count, 6);
    assert.equal(status?.records?.length, 3);
    assert.deepEqual(status?.records?.map((r) => r.startTime), ['2026-12-01T10:00:30Z', '2026-12-01T10:00:40Z', '2026-12-01T10:00:50Z']);
    assert.deepEqual(status?.records?.at(-1), { startTime: '2026-12-01T10:00:50Z', outcome: 'Failure', observed: 'HTTP 503', message: bad.message });
  });

  it('completes with DurationExceed, keeping the records and the counts', () => {
    const { status } = runOutcomes({ ...spec, duration: '30s' }, [true, false]);
    const ended = durationExceeded(status, settingsOf({ ...spec, duration: '30s' }), t0 + 30_000);
    assert.ok(isCompleted(ended));
    assert.equal(ended.records?.length, 2);
    assert.equal(ended.consecutiveFailures, 1);
    assert.equal(ended.conditions?.find((c) => c.type === 'DurationExceed')?.status, 'True');
    assert.equal(ended.conditions?.find((c) => c.type === 'Completed')?.message, 'duration 30 s passed after 2 executions with neither threshold reached');
  });
});
