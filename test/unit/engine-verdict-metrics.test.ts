/** The verdicts as the metrics endpoint shows them. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { verdictMetrics } from '../../src/controller/engine/verdict-metrics.ts';
import { Registry } from '../../src/runtime/metrics.ts';

describe('verdict metrics', () => {
  it('count verdicts by kind and result, and spread the scores', () => {
    const registry = new Registry();
    const record = verdictMetrics(registry);
    const at = '2026-12-01T10:00:00Z';
    record({ kind: 'PodChaos', metadata: { name: 'a' }, spec: {} }, { result: 'Passed', score: 100, reason: 'ok', concludedAt: at });
    record({ kind: 'PodChaos', metadata: { name: 'b' }, spec: {} }, { result: 'Aborted', score: 35, reason: 'guard', concludedAt: at });
    const text = registry.render();
    assert.match(text, /^kerris_experiment_verdicts_total\{kind="PodChaos",result="Passed"\} 1$/m);
    assert.match(text, /^kerris_experiment_verdicts_total\{kind="PodChaos",result="Aborted"\} 1$/m);
    assert.match(text, /^kerris_experiment_resilience_score_bucket\{kind="PodChaos",le="40"\} 1$/m);
    assert.match(text, /^kerris_experiment_resilience_score_bucket\{kind="PodChaos",le="100"\} 2$/m);
    assert.match(text, /^kerris_experiment_resilience_score_sum\{kind="PodChaos"\} 135$/m);
  });
});
