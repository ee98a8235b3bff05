/**
 * The report of one experiment (`kubectl kerris report NAME`), as a plain value: what was asked, what happened to
 * each target and when, what was measured against what was configured, the conditions and the Events. It is the
 * `-o json` output as it stands, and the one input of the HTML rendering (html.ts), so both always say the same.
 *
 * Pure: the same experiment, Events and time give the same report, byte for byte once serialised; nothing here
 * reads a clock or the network. docs/reports.md documents every field.
 */
import type {
  ChaosCondition, ChaosStatus, ChaosTarget, FaultCounter, NetworkChaos, NetworkChaosSpec, NetworkStatus, NodeChaos,
  NodeChaosSpec, NodeFaultRecord, NodeSelectorSpec, PodChaos, PodChaosSpec, PodSelectorSpec, StressChaos, StressChaosSpec,
  StressEvidence, VerificationVerdict,
} from '../../api/generated/types.ts';
import { targetName } from '../output.ts';

/** Every chaos kind a report covers. */
export type ReportedChaos = PodChaos | NetworkChaos | StressChaos | NodeChaos;

export const REPORT_API_VERSION = 'report.kerris.dev/v1alpha1';
export const REPORT_KIND = 'ChaosReport';

/**
 * The fields of a core/v1 Event the report reads: the CLI passes the apiserver's objects as they come. Declared
 * here, narrowly, so that the report depends on no client code and a test can write an Event by hand.
 */
export interface ReportEventInput {
  metadata?: { name?: string; creationTimestamp?: string };
  involvedObject?: { uid?: string };
  type?: string;
  reason?: string;
  message?: string;
  count?: number;
  firstTimestamp?: string | null;
  lastTimestamp?: string | null;
  /** events.k8s.io-style Events carry only this (a MicroTime); core/v1 ones usually have the two timestamps. */
  eventTime?: string | null;
  source?: { component?: string };
  reportingComponent?: string;
}

export interface ReportInput {
  experiment: ReportedChaos;
  events: readonly ReportEventInput[];
  /** When the report is made: the end of what is still held, and the report's own timestamp. */
  generatedAt: Date;
}

/** One line of what the spec asked for, e.g. `{ field: 'delay', value: 'latency 100ms, jitter 10ms' }`. */
export interface AskedLine {
  field: string;
  value: string;
}

export interface SpecSummary {
  action: string;
  mode: string;
  value?: string;
  duration?: string;
  /** Whom the selector picks, in words, e.g. `namespaces shop; labels app=web`. */
  selector: string;
  dryRun: boolean;
  paused: boolean;
  /** The seed the targets were picked with: status.seed (the one used), else spec.seed. */
  seed?: number;
  /** The action's own settings, in a fixed order; for NetworkChaos the fault values, peers and scope. */
  asked: AskedLine[];
}

/** The outcome in one word a program can match on, and a sentence for people. */
export type Outcome = 'Pending' | 'DryRun' | 'Running' | 'Paused' | 'Recovering' | 'Recovered' | 'PartlyFailed' | 'Failed' | 'Aborted' | 'Unknown';

export interface Verdict {
  outcome: Outcome;
  summary: string;
  /** Of the targets with `spec.verify` results: `Verified` if every measured one is, `NotVerified` if any is not, `Unmeasured` if none could be measured. */
  effect?: VerificationVerdict;
}

export interface GuardLine {
  name: string;
  state: string;
  checks: number;
  passed: number;
  observed?: string;
  message?: string;
  since?: string;
}

export interface Counts {
  selected: number;
  injected: number;
  recovered: number;
  failed: number;
  /** Targets counted above with no record of their own (status keeps at most 100). */
  untracked: number;
}

export interface TargetTimeline {
  namespace: string;
  name: string;
  uid: string;
  node?: string;
  owner?: string;
  phase: string;
  /** When the target was picked: its TargetAdded Event if it came later, else the experiment's start. */
  selectedAt?: string;
  injectedAt?: string;
  recoveredAt?: string;
  /** When it failed: the first Warning Event naming it (InjectionFailed, Refused, ...); absent if none is left (Events expire). */
  failedAt?: string;
  /** Seconds from injectedAt to recoveredAt, or to generatedAt while the fault is still held. */
  heldSeconds?: number;
  /** Injected and not recovered when the report was made. */
  stillHeld: boolean;
  replacedBy?: string;
  containers?: string[];
  restartCounts?: Record<string, number>;
  message?: string;
}

/** One target's measured effect: the verification of `spec.verify` and the kernel's counters. */
export interface TargetEffect {
  /** `namespace/name` of the target, `node/<name>` for a node. */
  target: string;
  verification?: { verdict: VerificationVerdict; configured?: string; measured?: string; message?: string };
  evidence?: { observedAt: string; counters: FaultCounter[] };
  /** StressChaos: the container's CPU and memory before and while stressed. */
  stress?: StressEvidence;
  /** NodeChaos: what kerris changed on the node, the pods a drain evicted and where they went, Ready transitions. */
  nodeFault?: NodeFaultRecord;
}

export interface EffectSection {
  /** status.network.expectedRtt: what a round trip should show while the fault is held. */
  expectedRtt?: string;
  /** How many peer addresses the fault is scoped to; absent when it is on every peer. */
  peers?: number;
  resolved?: { host: string; addresses: string[] }[];
  targets: TargetEffect[];
}

export interface ConditionLine {
  type: string;
  status: string;
  reason: string;
  message: string;
  lastTransitionTime: string;
}

export interface EventLine {
  type: string;
  reason: string;
  message: string;
  count: number;
  firstTimestamp?: string;
  lastTimestamp?: string;
  source?: string;
}

export interface Report {
  apiVersion: typeof REPORT_API_VERSION;
  kind: typeof REPORT_KIND;
  generatedAt: string;
  experiment: { kind: ReportedChaos['kind']; namespace: string; name: string; uid: string; generation?: number; createdAt?: string };
  spec: SpecSummary;
  /** status.phase as written by the controller, `Unknown` when there is no status yet. */
  phase: string;
  verdict: Verdict;
  counts: Counts;
  times: { createdAt?: string; startTime?: string; injectedAt?: string; recoveredAt?: string; pausedSeconds?: number };
  targets: TargetTimeline[];
  /** Absent for a kind or an experiment with nothing measured (PodChaos has no evidence). */
  effect?: EffectSection;
  /** The controller's verdict once the experiment ended (status.verdict): Passed, Failed or Aborted, and the score. */
  result?: { verdict: 'Passed' | 'Failed' | 'Aborted'; score: number; reason: string; concludedAt: string };
  /** The guards of spec.guards as they last stood (status.guards). */
  guards: GuardLine[];
  conditions: ConditionLine[];
  events: EventLine[];
  /** Events left out because they belong to an earlier object of the same name (another uid). */
  eventsOfOtherObjects: number;
}

const CONDITION_ORDER = ['Selected', 'AllInjected', 'AllRecovered', 'Paused', 'Failed', 'Aborted'];
/** Warning reasons whose message begins with `pod ns/name:` (`node name:`) and mean that target failed. */
const FAILURE_REASONS = new Set(['InjectionFailed', 'Refused', 'RecoveryFailed']);

export function buildReport(input: ReportInput): Report {
  const chaos = input.experiment;
  const status: ChaosStatus = chaos.status ?? {};
  const uid = chaos.metadata.uid ?? '';
  const generatedMs = input.generatedAt.getTime();
  const own = input.events.filter((e) => e.involvedObject?.uid === undefined || uid === '' || e.involvedObject.uid === uid);
  const events = own.map(eventLine).sort(compareEvents);
  const targets = [...(status.targets ?? [])].sort(byName).map((t) => timeline(t, status, events, generatedMs));
  const counts: Counts = {
    selected: status.selected ?? targets.length,
    injected: status.injected ?? 0,
    recovered: status.recovered ?? 0,
    failed: status.failed ?? 0,
    untracked: status.targetsTruncated ?? 0,
  };
  const effect = chaos.kind === 'PodChaos' ? undefined : effectSection(status.network, status.targets ?? []);
  return {
    apiVersion: REPORT_API_VERSION,
    kind: REPORT_KIND,
    generatedAt: input.generatedAt.toISOString(),
    experiment: {
      kind: chaos.kind,
      namespace: chaos.metadata.namespace ?? '',
      name: chaos.metadata.name ?? '',
      uid,
      ...defined('generation', chaos.metadata.generation),
      ...defined('createdAt', chaos.metadata.creationTimestamp),
    },
    spec: chaos.kind === 'NetworkChaos' ? networkSpec(chaos.spec, status) : chaos.kind === 'StressChaos' ? stressSpec(chaos.spec, status)
      : chaos.kind === 'NodeChaos' ? nodeSpec(chaos.spec, status) : podSpec(chaos.spec, status),
    phase: status.phase ?? 'Unknown',
    verdict: verdict(chaos, status, counts, effect),
    counts,
    times: {
      ...defined('createdAt', chaos.metadata.creationTimestamp),
      ...defined('startTime', status.startTime),
      ...defined('injectedAt', status.injectedAt),
      ...defined('recoveredAt', status.recoveredAt),
      ...defined('pausedSeconds', status.experiment?.pausedSeconds),
    },
    targets,
    ...(effect ? { effect } : {}),
    ...(status.verdict ? { result: { verdict: status.verdict.result, score: status.verdict.score, reason: status.verdict.reason, concludedAt: status.verdict.concludedAt } } : {}),
    guards: [...(status.guards ?? [])].sort((a, b) => a.name.localeCompare(b.name)).map((g) => ({
      name: g.name, state: g.state, checks: g.checks ?? 0, passed: g.passed ?? 0,
      ...defined('observed', g.observed), ...defined('message', g.message), ...defined('since', g.since),
    })),
    conditions: [...(status.conditions ?? [])].sort(compareConditions).map(conditionLine),
    events,
    eventsOfOtherObjects: input.events.length - own.length,
  };
}

/** `{ key: value }` when value is defined, else `{}`: optional fields are left out, not written as undefined or null. */
function defined<K extends string, V>(key: K, value: V | undefined | null): { [P in K]?: V } {
  return value === undefined || value === null ? {} : ({ [key]: value } as { [P in K]?: V });
}

/** Milliseconds since the epoch, or undefined for a missing or unparseable time. */
export function instant(time: string | undefined | null): number | undefined {
  if (time === undefined || time === null || time === '') return undefined;
  const ms = Date.parse(time);
  return Number.isNaN(ms) ? undefined : ms;
}

const compareText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
const byName = (a: ChaosTarget, b: ChaosTarget): number => compareText(a.namespace, b.namespace) || compareText(a.name, b.name) || compareText(a.uid, b.uid);

function compareConditions(a: ChaosCondition, b: ChaosCondition): number {
  const rank = (c: ChaosCondition) => (CONDITION_ORDER.includes(c.type) ? CONDITION_ORDER.indexOf(c.type) : CONDITION_ORDER.length);
  return rank(a) - rank(b) || compareText(a.type, b.type);
}

const conditionLine = (c: ChaosCondition): ConditionLine => ({
  type: c.type, status: c.status, reason: c.reason, message: c.message, lastTransitionTime: c.lastTransitionTime,
});

function eventLine(e: ReportEventInput): EventLine {
  // A core/v1 Event has first/last timestamps; one written through events.k8s.io may have only eventTime.
  const first = e.firstTimestamp ?? e.eventTime ?? e.metadata?.creationTimestamp ?? undefined;
  const last = e.lastTimestamp ?? first;
  const source = e.reportingComponent || e.source?.component;
  return {
    type: e.type ?? 'Normal',
    reason: e.reason ?? '',
    message: e.message ?? '',
    count: e.count ?? 1,
    ...defined('firstTimestamp', first),
    ...defined('lastTimestamp', last),
    ...defined('source', source),
  };
}

/** By first occurrence, then last; Events without a time go last; ties broken by content so the order never depends on the input's. */
function compareEvents(a: EventLine, b: EventLine): number {
  const time = (t: string | undefined) => instant(t) ?? Number.POSITIVE_INFINITY;
  const order = (x: number, y: number) => (x === y ? 0 : x < y ? -1 : 1);
  return order(time(a.firstTimestamp), time(b.firstTimestamp)) || order(time(a.lastTimestamp), time(b.lastTimestamp))
    || compareText(a.reason, b.reason) || compareText(a.message, b.message) || compareText(a.type, b.type) || a.count - b.count;
}

/** The first Event of one of `reasons` whose message names the target as the controller writes it: `pod ns/name: ...`, `node name: ...`. */
function firstEventNaming(events: readonly EventLine[], target: ChaosTarget, matches: (e: EventLine) => boolean): EventLine | undefined {
  // As the engine names targets (TargetNaming): `pod ns/name`, or `node name` for a node, which has no namespace.
  const prefix = target.namespace === '' ? `node ${target.name}` : `pod ${target.namespace}/${target.name}`;
  return events.find((e) => matches(e) && (e.message.startsWith(`${prefix}:`) || e.message.startsWith(`${prefix} `)));
}

function timeline(t: ChaosTarget, status: ChaosStatus, events: readonly EventLine[], generatedMs: number): TargetTimeline {
  const added = firstEventNaming(events, t, (e) => e.reason === 'TargetAdded');
  const failure = t.phase === 'Failed' ? firstEventNaming(events, t, (e) => e.type === 'Warning' && FAILURE_REASONS.has(e.reason)) : undefined;
  const injected = instant(t.injectedAt);
  const recovered = instant(t.recoveredAt);
  const stillHeld = t.phase === 'Injected' && recovered === undefined && injected !== undefined;
  const end = recovered ?? (stillHeld ? generatedMs : undefined);
  return {
    namespace: t.namespace,
    name: t.name,
    uid: t.uid,
    ...defined('node', t.node),
    ...defined('owner', t.owner ? `${t.owner.kind}/${t.owner.name}` : undefined),
    phase: t.phase,
    ...defined('selectedAt', added?.firstTimestamp ?? status.startTime),
    ...defined('injectedAt', t.injectedAt),
    ...defined('recoveredAt', t.recoveredAt),
    ...defined('failedAt', failure?.firstTimestamp),
    ...defined('heldSeconds', injected !== undefined && end !== undefined ? Math.max(0, (end - injected) / 1000) : undefined),
    stillHeld,
    ...defined('replacedBy', t.replacedBy),
    ...defined('containers', t.containers ? [...t.containers] : undefined),
    ...defined('restartCounts', t.restartCounts ? sortedRecord(t.restartCounts) : undefined),
    ...defined('message', t.message),
  };
}

function sortedRecord<V>(record: Readonly<Record<string, V>>): Record<string, V> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => compareText(a, b)));
}

function effectSection(network: NetworkStatus | undefined, targets: readonly ChaosTarget[]): EffectSection | undefined {
  const measured = [...targets].sort(byName).filter((t) => t.evidence !== undefined || t.verification !== undefined || t.stress !== undefined || t.nodeFault !== undefined).map((t): TargetEffect => ({
    target: targetName(t),
    ...defined('verification', t.verification ? {
      verdict: t.verification.verdict,
      ...defined('configured', t.verification.configured),
      ...defined('measured', t.verification.measured),
      ...defined('message', t.verification.message),
    } : undefined),
    ...defined('evidence', t.evidence ? { observedAt: t.evidence.observedAt, counters: t.evidence.counters.map((c) => ({ ...c })) } : undefined),
    ...defined('stress', t.stress ? { ...t.stress, before: { ...t.stress.before }, during: { ...t.stress.during } } : undefined),
    ...defined('nodeFault', t.nodeFault ? { ...t.nodeFault, ...defined('taint', t.nodeFault.taint ? { ...t.nodeFault.taint } : undefined), ...defined('evicted', t.nodeFault.evicted?.map((e) => ({ ...e }))) } : undefined),
  }));
  if (network === undefined && measured.length === 0) return undefined;
  return {
    ...defined('expectedRtt', network?.expectedRtt),
    ...defined('peers', network?.peers),
    ...defined('resolved', network?.resolved?.map((r) => ({ host: r.host, addresses: [...r.addresses] }))),
    targets: measured,
  };
}

function effectVerdict(effect: EffectSection | undefined): VerificationVerdict | undefined {
  const verdicts = (effect?.targets ?? []).flatMap((t) => (t.verification ? [t.verification.verdict] : []));
  if (verdicts.length === 0) return undefined;
  if (verdicts.includes('NotVerified')) return 'NotVerified';
  return verdicts.includes('Verified') ? 'Verified' : 'Unmeasured';
}

function verdict(chaos: ReportedChaos, status: ChaosStatus, counts: Counts, effect: EffectSection | undefined): Verdict {
  const effectWord = effectVerdict(effect);
  const withEffect = (outcome: Outcome, summary: string): Verdict => ({ outcome, summary, ...(effectWord ? { effect: effectWord } : {}) });
  const failedCondition = (status.conditions ?? []).find((c) => c.type === 'Failed' && c.status === 'True');
  const failedPart = counts.failed > 0 ? `, ${counts.failed} failed` : '';
  const phase: string | undefined = status.phase;
  if (chaos.spec.dryRun) return withEffect('DryRun', `dry run: ${counts.selected} target(s) picked, nothing injected`);
  switch (phase) {
    case undefined:
    case 'Pending':
      return withEffect('Pending', 'not started yet');
    case 'Running':
      return withEffect('Running', `fault held on ${counts.injected} of ${counts.selected} target(s)${failedPart}`);
    case 'Paused':
      return withEffect('Paused', `paused: faults taken away, ${counts.recovered} of ${counts.selected} target(s) recovered`);
    case 'Recovering':
      return withEffect('Recovering', `taking faults away: ${counts.recovered} of ${counts.selected} target(s) recovered${failedPart}`);
    case 'Aborted':
      return withEffect('Aborted', `aborted: ${counts.recovered} of ${counts.selected} target(s) recovered${failedPart}`);
    case 'Failed':
      return withEffect('Failed', failedCondition ? `failed (${failedCondition.reason}): ${failedCondition.message}` : 'failed');
    case 'Finished':
      if (counts.failed > 0 && counts.recovered === 0) return withEffect('Failed', `no target recovered: ${counts.failed} of ${counts.selected} failed`);
      if (counts.failed > 0) return withEffect('PartlyFailed', `${counts.recovered} of ${counts.selected} target(s) injected and recovered, ${counts.failed} failed`);
      return withEffect('Recovered', `all ${counts.recovered} target(s) injected and recovered`);
    default:
      return withEffect('Unknown', `phase ${phase}`);
  }
}

/** The selector in words, field by field in the schema's order; `pods` alone when given, as the controller reads it. */
function selectorText(selector: PodSelectorSpec): string {
  const pairs = (record: Readonly<Record<string, string>>) => Object.entries(record).sort(([a], [b]) => compareText(a, b)).map(([k, v]) => `${k}=${v}`).join(', ');
  if (selector.pods && Object.keys(selector.pods).length > 0) {
    return `pods ${Object.entries(selector.pods).sort(([a], [b]) => compareText(a, b)).flatMap(([ns, names]) => names.map((n) => `${ns}/${n}`)).join(', ')}`;
  }
  const parts: string[] = [];
  if (selector.namespaces?.length) parts.push(`namespaces ${selector.namespaces.join(', ')}`);
  if (selector.labelSelectors && Object.keys(selector.labelSelectors).length > 0) parts.push(`labels ${pairs(selector.labelSelectors)}`);
  if (selector.expressionSelectors?.length) {
    parts.push(`expressions ${selector.expressionSelectors.map((r) => `${r.key} ${r.operator}${r.values?.length ? ` (${r.values.join(', ')})` : ''}`).join(', ')}`);
  }
  if (selector.annotationSelectors && Object.keys(selector.annotationSelectors).length > 0) parts.push(`annotations ${pairs(selector.annotationSelectors)}`);
  if (selector.fieldSelectors && Object.keys(selector.fieldSelectors).length > 0) parts.push(`fields ${pairs(selector.fieldSelectors)}`);
  if (selector.podPhaseSelectors?.length) parts.push(`phases ${selector.podPhaseSelectors.join(', ')}`);
  if (selector.nodes?.length) parts.push(`nodes ${selector.nodes.join(', ')}`);
  if (selector.nodeSelectors && Object.keys(selector.nodeSelectors).length > 0) parts.push(`node labels ${pairs(selector.nodeSelectors)}`);
  return parts.length > 0 ? parts.join('; ') : 'every pod in the experiment\'s namespace';
}

function common(spec: PodChaosSpec | NetworkChaosSpec | StressChaosSpec | NodeChaosSpec, status: ChaosStatus, asked: AskedLine[], selector = selectorText(spec.selector)): SpecSummary {
  return {
    action: 'action' in spec ? spec.action : 'stress',
    mode: spec.mode,
    ...defined('value', spec.value),
    ...defined('duration', spec.duration),
    selector,
    dryRun: spec.dryRun ?? false,
    paused: spec.paused ?? false,
    ...defined('seed', status.seed ?? spec.seed),
    asked,
  };
}

function podSpec(spec: PodChaosSpec, status: ChaosStatus): SpecSummary {
  const asked: AskedLine[] = [];
  if (spec.containerNames?.length) asked.push({ field: 'containers', value: spec.containerNames.join(', ') });
  else if (spec.action === 'container-kill') asked.push({ field: 'containers', value: 'the first container of each pod' });
  if (spec.gracePeriod !== undefined) asked.push({ field: 'gracePeriod', value: `${spec.gracePeriod}s` });
  return common(spec, status, asked);
}

const withCorrelation = (main: string, correlation: string | undefined): string => (correlation ? `${main} (correlation ${percent(correlation)})` : main);
const percent = (value: string): string => (value.endsWith('%') ? value : `${value}%`);

function stressSpec(spec: StressChaosSpec, status: ChaosStatus): SpecSummary {
  const asked: AskedLine[] = [];
  const { cpu, memory } = spec.stressors;
  if (cpu) asked.push({ field: 'cpu', value: `${cpu.workers} worker(s) at ${cpu.load ?? 100}% of a CPU each` });
  if (memory) asked.push({ field: 'memory', value: `${memory.size} over ${memory.workers} worker(s), oom_score_adj ${memory.oomScoreAdj ?? 0}` });
  asked.push({ field: 'containers', value: spec.containerNames?.length ? spec.containerNames.join(', ') : 'the first container of each pod' });
  return common(spec, status, asked);
}

/** NodeChaos's selector in words: the nodes it names and the labels they must carry (both, when both are given). */
function nodeSelectorText(selector: NodeSelectorSpec): string {
  const parts: string[] = [];
  if (selector.nodes?.length) parts.push(`nodes ${selector.nodes.join(', ')}`);
  const labels = Object.entries(selector.nodeSelectors ?? {}).sort(([a], [b]) => compareText(a, b)).map(([k, v]) => `${k}=${v}`);
  if (labels.length > 0) parts.push(`node labels ${labels.join(', ')}`);
  return parts.join('; ');
}

function nodeSpec(spec: NodeChaosSpec, status: ChaosStatus): SpecSummary {
  const asked: AskedLine[] = [];
  if (spec.taint) asked.push({ field: 'taint', value: `${spec.taint.key}${spec.taint.value ? `=${spec.taint.value}` : ''}:${spec.taint.effect}` });
  asked.push({ field: 'controller node', value: spec.allowControllerNode ? 'allowed (spec.allowControllerNode)' : 'never, unless the controller allows it' });
  return common(spec, status, asked, nodeSelectorText(spec.selector));
}

function networkSpec(spec: NetworkChaosSpec, status: ChaosStatus): SpecSummary {
  const asked: AskedLine[] = [];
  if (spec.delay) {
    const d = spec.delay;
    const parts = [`latency ${d.latency}`];
    if (d.jitter) parts.push(`jitter ${d.jitter}`);
    if (d.correlation) parts.push(`correlation ${percent(d.correlation)}`);
    if (d.reorder) parts.push(`reorder ${withCorrelation(percent(d.reorder.reorder), d.reorder.correlation)}${d.reorder.gap ? `, gap ${d.reorder.gap}` : ''}`);
    asked.push({ field: 'delay', value: parts.join(', ') });
  }
  if (spec.loss) asked.push({ field: 'loss', value: withCorrelation(percent(spec.loss.loss), spec.loss.correlation) });
  if (spec.duplicate) asked.push({ field: 'duplicate', value: withCorrelation(percent(spec.duplicate.duplicate), spec.duplicate.correlation) });
  if (spec.corrupt) asked.push({ field: 'corrupt', value: withCorrelation(percent(spec.corrupt.corrupt), spec.corrupt.correlation) });
  if (spec.rate) asked.push({ field: 'rate', value: spec.rate.rate });
  if (spec.bandwidth) {
    const b = spec.bandwidth;
    const peak = b.peakrate ? `, peakrate ${b.peakrate} bit/s, minburst ${b.minburst ?? 0} B` : '';
    asked.push({ field: 'bandwidth', value: `rate ${b.rate}, limit ${b.limit} B, buffer ${b.buffer} B${peak}` });
  }
  asked.push({ field: 'direction', value: spec.direction ?? 'to (default)' });
  const peers: string[] = [];
  if (spec.target) peers.push(`pods (${spec.target.mode}${spec.target.value ? ` ${spec.target.value}` : ''}) of ${selectorText(spec.target.selector)}`);
  if (spec.externalTargets?.length) peers.push(spec.externalTargets.join(', '));
  asked.push({ field: 'peers', value: peers.length > 0 ? peers.join('; ') : 'every peer' });
  if (spec.ports?.length) asked.push({ field: 'ports', value: spec.ports.join(', ') });
  if (spec.protocol) asked.push({ field: 'protocol', value: spec.protocol });
  if (spec.device) asked.push({ field: 'device', value: spec.device });
  asked.push({ field: 'verify', value: spec.verify ? 'on' : 'off' });
  return common(spec, status, asked);
}
