/** The verdicts as metrics: how many experiments of each kind ended how, and how their resilience scores spread. */
import type { Registry } from '../../runtime/metrics.ts';
import type { Experiment } from './experiment.ts';
import type { Verdict } from './verdict.ts';

export function verdictMetrics(registry: Registry): (chaos: Experiment, verdict: Verdict) => void {
  const verdicts = registry.counter({ name: 'kerris_experiment_verdicts_total', help: 'Experiments that ended, by kind and verdict.', labelNames: ['kind', 'result'] });
  const scores = registry.histogram({
    name: 'kerris_experiment_resilience_score', help: 'Resilience scores (0 to 100) of the experiments that ended, by kind.', labelNames: ['kind'],
    buckets: [10, 20, 30, 40, 50, 60, 70, 80, 90, 100],
  });
  return (chaos, verdict) => {
    const kind = chaos.kind ?? '';
    verdicts.inc({ kind, result: verdict.result });
    scores.observe({ kind }, verdict.score);
  };
}
