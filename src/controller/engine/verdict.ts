/**
 * How an experiment ended, from its final status: Passed, Failed or Aborted, with a resilience score. Pure, so the
 * rule can be read and tested in one place (docs/api.md, ChaosVerdict).
 */
import type { ChaosStatus } from './experiment.ts';

export type Verdict = NonNullable<ChaosStatus['verdict']>;

/** The share of guard evaluations that passed, 0 to 100; undefined without guard evaluations. */
function guardScore(status: ChaosStatus): number | undefined {
  const guards = status.guards ?? [];
  const checks = guards.reduce((n, g) => n + (g.checks ?? 0), 0);
  if (checks === 0) return undefined;
  return Math.round((100 * guards.reduce((n, g) => n + (g.passed ?? 0), 0)) / checks);
}

/** The verdict of an experiment whose phase is Finished, Aborted or Failed; undefined for any other phase or a dry run. */
export function verdictOf(status: ChaosStatus, dryRun: boolean, concludedAt: string): Verdict | undefined {
  const phase = status.phase;
  if (phase !== 'Finished' && phase !== 'Aborted' && phase !== 'Failed') return undefined;
  if (dryRun && phase === 'Finished') return undefined;
  const score = guardScore(status);
  const conclude = (result: Verdict['result'], reason: string): Verdict => ({ result, score: score ?? (result === 'Passed' ? 100 : 0), reason, concludedAt });
  const condition = (type: string) => status.conditions?.find((c) => c.type === type);
  if (phase === 'Aborted') {
    const breached = status.guards?.find((g) => g.state === 'Breached');
    return conclude('Aborted', breached ? `guard ${breached.name} breached: ${breached.observed ?? breached.message ?? ''}` : condition('Aborted')?.message ?? 'aborted');
  }
  if (phase === 'Failed') return conclude('Failed', condition('Failed')?.message ?? 'the experiment could not proceed');
  const unproven = (status.targets ?? []).filter((t) => t.verification?.verdict === 'NotVerified');
  if ((status.failed ?? 0) > 0) return conclude('Failed', `${status.failed} target(s) failed`);
  if (unproven.length > 0) return conclude('Failed', `the measured effect contradicts the configured one on ${unproven.length} target(s): ${unproven[0]?.verification?.measured ?? ''}`);
  return conclude('Passed', `all ${status.selected ?? 0} target(s) injected and recovered${score === undefined ? '' : `; guards passed ${score}% of their checks`}`);
}
