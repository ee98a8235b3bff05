/** A plan as a person reads it at a terminal. */
import { table } from '../output.ts';
import type { AccessCheck, BudgetImpact, Finding, Plan, WorkloadImpact } from './blast-radius.ts';
import type { NodePlan } from './node-blast-radius.ts';

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
  workloadsAndBudgets(out, plan.workloads, plan.budgets, 'BROKEN');
  if (plan.nodes.length > 0) {
    out.push('', 'Nodes:');
    out.push(indent(table(['node', 'targets', 'can do it'], plan.nodes.map((n) => [n.node || '-', String(n.targets), n.ready ? 'yes' : `no: ${n.reasons.join('; ')}`]))));
  }
  accessAndVerdict(out, plan.access, plan.findings, plan.safe);
  return `${out.join('\n')}\n`;
}

const indent = (text: string): string => text.trimEnd().replace(/^/gm, '  ');

function workloadsAndBudgets(out: string[], workloads: readonly WorkloadImpact[], budgets: readonly BudgetImpact[], broken: string): void {
  if (workloads.length > 0) {
    out.push('', 'Workloads hit:');
    out.push(indent(table(['workload', 'hit', 'ready', 'share'], workloads.map((w) => [`${w.namespace}/${w.workload}`, String(w.hit), String(w.ready), `${Math.round(w.share * 100)}%`]))));
  }
  if (budgets.length > 0) {
    out.push('', 'PodDisruptionBudgets:');
    out.push(indent(table(['budget', 'hit', 'allowed', 'healthy', 'wanted', 'verdict'], budgets.map((b) => [
      `${b.namespace}/${b.name}`, String(b.hit), String(b.disruptionsAllowed), String(b.currentHealthy), String(b.desiredHealthy), b.breaks ? broken : 'kept',
    ]))));
  }
}

function accessAndVerdict(out: string[], access: readonly AccessCheck[], findings: readonly Finding[], safe: boolean): void {
  if (access.length > 0) {
    out.push('', 'Your access:');
    out.push(indent(table(['verb', 'resource', 'namespace', 'allowed'], access.map((a) => [
      a.verb, a.resource, a.namespace || '(cluster-wide)', `${a.allowed ? 'yes' : 'no'}${a.unsure === undefined ? '' : ` (needed for ${a.unsure} only)`}`,
    ]))));
  }
  if (findings.length > 0) {
    out.push('', 'Findings:');
    for (const f of findings) out.push(`  ${MARK[f.severity]}  ${f.message}`);
  }
  out.push('', safe ? 'Verdict: safe to run.' : 'Verdict: UNSAFE. Fix the findings above, or run it anyway with --allow-unsafe.');
}

const VERDICT = { picked: 'picked', candidate: 'may be picked', refused: 'REFUSED' } as const;

/** A NodeChaos's plan: the nodes, what the mode picks among them, and per node what happens to its pods. */
export function renderNodePlan(plan: NodePlan): string {
  const e = plan.experiment;
  const p = plan.pick;
  const count = p.count.min === p.count.max ? String(p.count.min) : `${p.count.min} to ${p.count.max}`;
  const seed = plan.seedFixed ? `seed ${plan.seed}` : p.exact ? 'every candidate, whatever the seed' : `as seed ${plan.seed} would pick them`;
  const out: string[] = [
    `Plan for NodeChaos ${e.namespace}/${e.name}: ${e.action}, mode ${e.mode}${e.value ? ` ${e.value}` : ''}, for ${e.duration ?? '?'}`,
    `Policy: ${plan.policy}`,
    '',
    `Nodes: the selector matches ${p.matching} of the cluster's ${p.clusterNodes}; ${p.candidates} left to pick from; the mode picks ${count}, at most ${p.limit} allowed (--max-node-share)${p.refusal ? `; REFUSED (${p.refusal.reason})` : ''}`,
    `Picked (${p.picked.length}, ${seed}): ${p.picked.join(', ') || '<none>'}`,
  ];
  if (plan.nodes.length > 0) {
    out.push(indent(table(['node', 'verdict', 'ready', 'cordoned', 'pods', 'evicted', 'not ready', 'what happens'], plan.nodes.map((n) => [
      n.node, VERDICT[n.verdict], n.ready ? 'yes' : 'no', n.unschedulable ? 'yes' : 'no',
      n.pods === undefined ? '?' : String(n.pods.length),
      n.pods === undefined ? '?' : String(n.pods.filter((x) => x.effect === 'evicted').length),
      n.pods === undefined ? '?' : String(n.pods.filter((x) => x.effect === 'notReady').length),
      n.verdict === 'refused' ? (n.reason ?? '') : [n.effect, ...(n.daemon ?? [])].join('; '),
    ]))));
  }
  const affected = plan.nodes.filter((n) => n.verdict !== 'refused' && !p.refusal).flatMap((n) => (n.pods ?? []).filter((x) => x.effect !== 'kept').map((x) => ({ n, x })));
  if (affected.length > 0) {
    out.push('', 'Pods on those nodes:');
    out.push(indent(table(['node', 'pod', 'workload', 'effect', 'why'], affected.map(({ n, x }) => [
      `${n.node}${n.verdict === 'picked' ? '' : ' (if picked)'}`, `${x.namespace}/${x.name}`, x.workload ?? (x.bare ? 'none: a bare pod' : '-'),
      x.effect === 'evicted' ? 'EVICTED' : 'not Ready', x.why,
    ]))));
  }
  const kept = plan.nodes.filter((n) => n.verdict !== 'refused').flatMap((n) => (n.pods ?? []).filter((x) => x.effect === 'kept').map((x) => `${n.node}: ${x.namespace}/${x.name} (${x.why})`));
  // What the drain rule leaves (DaemonSet, mirror, terminating, protected); other actions leave every pod they do not evict.
  if (e.action === 'node-drain' && kept.length > 0) out.push('', `Left alone by the drain (${kept.length}): ${kept.slice(0, 10).join(', ')}${kept.length > 10 ? ', …' : ''}`);
  workloadsAndBudgets(out, plan.workloads, plan.budgets, e.action === 'node-drain' ? 'REFUSES' : 'BROKEN');
  accessAndVerdict(out, plan.access, plan.findings, plan.safe);
  return `${out.join('\n')}\n`;
}
