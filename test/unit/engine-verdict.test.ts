/** The verdict rule: Passed, Failed or Aborted, and the resilience score. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ChaosStatus } from '../../src/controller/engine/experiment.ts';
import { verdictOf } from '../../src/controller/engine/verdict.ts';

const AT = '2026-12-01T10:00:00Z';
const target = (phase: 'Recovered' | 'Failed', verdict?: 'Verified' | 'NotVerified') => ({
  namespace: 'n', name: 'p', uid: 'u', phase, ...(verdict ? { verification: { verdict, measured: 'RTT 1ms before, 1ms during' } } : {}),
});

describe('the verdict of an experiment', () => {
  it('is reached only once it ended, and not for a dry run', () => {
    for (const phase of ['Pending', 'Running', 'Paused', 'Recovering'] as const) assert.equal(verdictOf({ phase }, false, AT), undefined);
    assert.equal(verdictOf({ phase: 'Finished' }, true, AT), undefined);
  });

  it('passes with every target recovered, scoring 100 without guards, and the guards\' pass share with them', () => {
    assert.deepEqual(verdictOf({ phase: 'Finished', selected: 2, failed: 0, targets: [target('Recovered'), target('Recovered')] }, false, AT),
      { result: 'Passed', score: 100, reason: 'all 2 target(s) injected and recovered', concludedAt: AT });
    const guarded: ChaosStatus = { phase: 'Finished', selected: 1, failed: 0, guards: [{ name: 'http', state: 'Passing', checks: 40, passed: 30 }, { name: 'p99', state: 'Passing', checks: 10, passed: 10 }] };
    assert.deepEqual(verdictOf(guarded, false, AT), { result: 'Passed', score: 80, reason: 'all 1 target(s) injected and recovered; guards passed 80% of their checks', concludedAt: AT });
  });

  it('fails on a failed target, a contradicted measurement, or a Failed phase, scoring 0 without guards', () => {
    assert.equal(verdictOf({ phase: 'Finished', failed: 1, targets: [target('Failed')] }, false, AT)?.result, 'Failed');
    const contradicted = verdictOf({ phase: 'Finished', failed: 0, targets: [target('Recovered', 'NotVerified')] }, false, AT);
    assert.equal(contradicted?.result, 'Failed');
    assert.match(contradicted?.reason ?? '', /contradicts the configured one on 1 target/);
    const failed = verdictOf({ phase: 'Failed', conditions: [{ type: 'Failed', status: 'True', reason: 'NoTargets', message: 'the selector matched no pods', lastTransitionTime: AT }] }, false, AT);
    assert.deepEqual(failed, { result: 'Failed', score: 0, reason: 'the selector matched no pods', concludedAt: AT });
  });

  it('is Aborted with the breached guard and what it saw, or the abort\'s reason', () => {
    const byGuard = verdictOf({ phase: 'Aborted', guards: [{ name: 'http', state: 'Breached', observed: 'HTTP 503', checks: 10, passed: 4 }] }, false, AT);
    assert.deepEqual(byGuard, { result: 'Aborted', score: 40, reason: 'guard http breached: HTTP 503', concludedAt: AT });
    const byHand = verdictOf({ phase: 'Aborted', conditions: [{ type: 'Aborted', status: 'True', reason: 'AbortRequested', message: 'game day over; taken away', lastTransitionTime: AT }] }, false, AT);
    assert.deepEqual(byHand, { result: 'Aborted', score: 0, reason: 'game day over; taken away', concludedAt: AT });
  });
});
