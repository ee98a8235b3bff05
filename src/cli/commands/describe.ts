/** `kubectl kerris describe NAME`: an experiment as a person reads it: spec, targets with their proof, conditions, Events. */
import type { ChaosTarget, NodeFaultRecord } from '../../api/generated/types.ts';
import type { Experiment } from '../../controller/engine/experiment.ts';
import type { KubeClient } from '../../kube/client.ts';
import { coreEvents } from '../../kube/resources.ts';
import type { CoreEvent } from '../../kube/types.ts';
import { stringify } from 'yaml';
import type { Session } from '../context.ts';
import { findExperiment } from '../experiments.ts';
import { age, table, targetName } from '../output.ts';
import { formatBytes } from '../../util/bytes.ts';

/** The experiment's Events, oldest first. */
export async function eventsOf(client: KubeClient, chaos: Experiment): Promise<CoreEvent[]> {
  const list = await client.listAll(coreEvents, { namespace: chaos.metadata.namespace ?? '', fieldSelector: `involvedObject.uid=${chaos.metadata.uid ?? ''}` });
  const at = (e: CoreEvent): string => e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp ?? e.metadata.creationTimestamp ?? '';
  return list.items.sort((a, b) => at(a).localeCompare(at(b)));
}

const indent = (text: string, by = '  '): string => text.trimEnd().split('\n').map((l) => `${by}${l}`).join('\n');

/** How a NodeChaos's node record reads: what kerris changed (or stopped), the pods a drain evicted and where they went. */
function nodeFaultLines(f: NodeFaultRecord): string[] {
  const lines = [f.taint ? `taint ${f.taint.key}${f.taint.value ? `=${f.taint.value}` : ''}:${f.taint.effect} added` : f.cordoned ? 'cordoned by kerris' : f.wasUnschedulable ? 'already cordoned before; left cordoned'
    : f.kubeletStopped ? `kubelet stopped by the node's kerris daemon${f.undoneAt ? `, continued at ${f.undoneAt}` : ''}`
    : f.network ? `${f.network}, by the node's kerris daemon${f.endedByNode ? `, ended by the daemon itself (seen ${f.endedByNode})` : f.undoneAt ? `, taken away at ${f.undoneAt}` : ''}` : 'nothing changed yet'];
  if (f.evicted !== undefined || f.remaining !== undefined) {
    lines.push(`${(f.evicted?.length ?? 0) + (f.evictedTruncated ?? 0)} pod(s) evicted${f.remaining ? `, ${f.remaining} still to go` : ''}${f.refusals ? `, ${f.refusals} refusal(s) by a PodDisruptionBudget${f.lastRefusal ? ` (last: ${f.lastRefusal})` : ''}` : ''}`);
  }
  for (const e of f.evicted ?? []) lines.push(`evicted ${e.namespace}/${e.name} at ${e.evictedAt}${e.replacedBy ? `, replaced by ${e.replacedBy}${e.replacementNode ? ` on ${e.replacementNode}` : ''}` : ''}`);
  if (f.notReadyAt) lines.push(`NotReady at ${f.notReadyAt}${f.readyAt ? `, Ready again at ${f.readyAt}` : ''}`);
  return lines;
}

/**
 * The Targets part of describe: a table of the targets (nodes by name for NodeChaos, whose records have no
 * namespace; pods as namespace/name), then each target's proof.
 */
export function targetLines(targets: readonly ChaosTarget[]): string[] {
  const out = [`Targets:${targets.length === 0 ? ' <none>' : ''}`];
  if (targets.length === 0) return out;
  const nodes = targets.every((t) => t.namespace === '');
  out.push(indent(nodes
    ? table(['node', 'phase', 'injected', 'recovered', 'message'], targets.map((t) => [t.name, t.phase, t.injectedAt ?? '-', t.recoveredAt ?? '-', t.message ?? '']))
    : table(['pod', 'node', 'phase', 'injected', 'recovered', 'message'], targets.map((t) => [
      targetName(t), t.node ?? '-', t.phase, t.injectedAt ?? '-', t.recoveredAt ?? '-', t.message ?? '',
    ]))));
  for (const t of targets.filter((x) => x.evidence || x.verification || x.stress || x.nodeFault)) {
    out.push(`  Proof for ${targetName(t)}:`);
    for (const c of t.evidence?.counters ?? []) {
      out.push(`    ${c.kind} ${c.direction} ${c.device} (${c.fault}): ${c.packets} packets${c.dropped !== undefined ? `, ${c.dropped} dropped` : ''}${c.overlimits !== undefined ? `, ${c.overlimits} overlimits` : ''}${c.bytes !== undefined ? `, ${c.bytes} bytes` : ''}`);
    }
    if (t.evidence) out.push(`    counters read at ${t.evidence.observedAt}`);
    if (t.stress) {
      const { before, during } = t.stress;
      out.push(`    CPU ${before.cpuMillicores}m -> ${during.cpuMillicores}m, working set ${formatBytes(before.memoryWorkingSetBytes)} -> ${formatBytes(during.memoryWorkingSetBytes)}, ${t.stress.stressors} stressor process(es), read at ${t.stress.observedAt}`);
    }
    if (t.verification) out.push(`    ${t.verification.verdict}: configured ${t.verification.configured ?? '-'}; measured ${t.verification.measured ?? '-'}${t.verification.message ? ` (${t.verification.message})` : ''}`);
    if (t.nodeFault) out.push(...nodeFaultLines(t.nodeFault).map((l) => `    ${l}`));
  }
  return out;
}

export async function describeCommand(session: Session, ref: string): Promise<string> {
  const { info, chaos } = await findExperiment(session.client, session.namespace, ref);
  const events = await eventsOf(session.client, chaos);
  const status = chaos.status ?? {};
  const now = Date.now();
  const out: string[] = [
    `Name:         ${chaos.metadata.name ?? ''}`,
    `Namespace:    ${chaos.metadata.namespace ?? ''}`,
    `Kind:         ${info.kind}`,
    `Created:      ${chaos.metadata.creationTimestamp ?? ''} (${age(chaos.metadata.creationTimestamp, now)} ago)`,
    `Phase:        ${status.phase ?? 'Pending'}`,
    `Seed:         ${status.seed ?? '-'}`,
    `Started:      ${status.startTime ?? '-'}`,
    `Injected:     ${status.injectedAt ?? '-'}`,
    `Recovered:    ${status.recoveredAt ?? '-'}`,
    `Verdict:      ${status.verdict ? `${status.verdict.result}, resilience score ${status.verdict.score}/100: ${status.verdict.reason}` : '-'}`,
    `Counts:       ${status.selected ?? 0} selected, ${status.injected ?? 0} injected, ${status.recovered ?? 0} recovered, ${status.failed ?? 0} failed${status.targetsTruncated ? ` (${status.targetsTruncated} without a record)` : ''}`,
    'Spec:',
    indent(stringify(chaos.spec, { lineWidth: 0 })),
  ];
  if (status.network) {
    out.push('Network:');
    if (status.network.expectedRtt) out.push(`  Expected RTT: ${status.network.expectedRtt}`);
    if (status.network.peers !== undefined) out.push(`  Peers:        ${status.network.peers} address(es)`);
    for (const r of status.network.resolved ?? []) out.push(`  Resolved:     ${r.host} -> ${r.addresses.join(', ')}`);
  }
  out.push(...targetLines(status.targets ?? []));
  if ((status.guards ?? []).length > 0) {
    out.push('Guards:');
    out.push(indent(table(['guard', 'state', 'passed', 'last seen', 'since'], (status.guards ?? []).map((g) => [
      g.name, g.state, `${g.passed ?? 0} of ${g.checks ?? 0}`, `${g.observed ?? '-'}${g.message ? ` (${g.message})` : ''}`, g.since ?? '-',
    ]))));
  }
  const conditions = status.conditions ?? [];
  out.push(`Conditions:${conditions.length === 0 ? ' <none>' : ''}`);
  if (conditions.length > 0) out.push(indent(table(['type', 'status', 'reason', 'since', 'message'], conditions.map((c) => [c.type, c.status, c.reason, age(c.lastTransitionTime, now), c.message]))));
  out.push(`Events:${events.length === 0 ? ' <none>' : ''}`);
  if (events.length > 0) {
    out.push(indent(table(['type', 'reason', 'age', 'count', 'message'], events.map((e) => [
      e.type ?? '', e.reason ?? '', age(e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp ?? e.metadata.creationTimestamp ?? undefined, now), String(e.count ?? 1), e.message ?? '',
    ]))));
  }
  return `${out.join('\n')}\n`;
}
