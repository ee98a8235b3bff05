/** A plan as a person reads it at a terminal. */
import { table } from '../output.ts';
import type { Plan } from './blast-radius.ts';

const MARK = { unsafe: 'UNSAFE ', warning: 'warning', note: 'note   ' } as const;

export function renderPlan(plan: Plan): string {
  const e = plan.experiment;
  const out: string[] = [
    `Plan for ${e.kind} ${e.namespace}/${e.name}: ${e.action}, mode ${e.mode}${e.value ? ` ${e.value}` : ''}${e.duration ? `, for ${e.duration}` : e.action === 'pod-kill' || e.action === 'container-kill' ? ', until its targets recover' : ', until deleted or aborted'}`,
    `Policy: ${plan.policy}`,
    '',
    `Targets (${plan.targets.length}${plan.seedFixed ? `, seed ${plan.seed}` : `, as seed ${plan.seed} would pick them`}):`,
  ];
  out.push(plan.targets.length === 0 ? '  <none>' : table(['pod', 'node', 'workload'], plan.targets.map((t) => [`${t.namespace}/${t.name}`, t.node || '-', t.workload ?? '-'])).trimEnd().replace(/^/gm, '  '));
  if (plan.workloads.length > 0) {
    out.push('', 'Workloads hit:');
    out.push(table(['workload', 'hit', 'ready', 'share'], plan.workloads.map((w) => [`${w.namespace}/${w.workload}`, String(w.hit), String(w.ready), `${Math.round(w.share * 100)}%`])).trimEnd().replace(/^/gm, '  '));
  }
  if (plan.budgets.length > 0) {
    out.push('', 'PodDisruptionBudgets:');
    out.push(table(['budget', 'hit', 'allowed', 'healthy', 'wanted', 'verdict'], plan.budgets.map((b) => [
      `${b.namespace}/${b.name}`, String(b.hit), String(b.disruptionsAllowed), String(b.currentHealthy), String(b.desiredHealthy), b.breaks ? 'BROKEN' : 'kept',
    ])).trimEnd().replace(/^/gm, '  '));
  }
  if (plan.nodes.length > 0) {
    out.push('', 'Nodes:');
    out.push(table(['node', 'targets', 'can do it'], plan.nodes.map((n) => [n.node || '-', String(n.targets), n.ready ? 'yes' : `no: ${n.reasons.join('; ')}`])).trimEnd().replace(/^/gm, '  '));
  }
  if (plan.access.length > 0) {
    out.push('', 'Your access:');
    out.push(table(['verb', 'resource', 'namespace', 'allowed'], plan.access.map((a) => [a.verb, a.resource, a.namespace, a.allowed ? 'yes' : 'no'])).trimEnd().replace(/^/gm, '  '));
  }
  if (plan.findings.length > 0) {
    out.push('', 'Findings:');
    for (const f of plan.findings) out.push(`  ${MARK[f.severity]}  ${f.message}`);
  }
  out.push('', plan.safe ? 'Verdict: safe to run.' : 'Verdict: UNSAFE. Fix the findings above, or run it anyway with --allow-unsafe.');
  return `${out.join('\n')}\n`;
}
