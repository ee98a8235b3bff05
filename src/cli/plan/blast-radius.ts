/**
 * The blast radius of an experiment before it runs, as a value: which pods and nodes it hits, what that costs each
 * workload and PodDisruptionBudget, whether the requester may run it, and whether each node can do the fault.
 * Pure: everything it reads was gathered first (gather.ts), so a plan can be printed, tested and compared.
 * Targets are picked by the controller's own selection (src/controller/targets), with the controller's policy.
 */
import type { FleetSurvey, SurveyedNode } from '../../api/fleet-survey.ts';
import type { LabelSelectorRequirement } from '../../api/generated/types.ts';
import { networkFaults } from '../../controller/networkchaos/plan.ts';
import type { ClusterView } from '../../controller/targets/cluster-view.ts';
import type { SafetyPolicy } from '../../controller/targets/pod-selection.ts';
import { SelectionError } from '../../controller/engine/experiment.ts';
import { selectPods } from '../../controller/targets/select-pods.ts';
import { networkSupport } from '../../daemon/net/support.ts';
import type { Pod } from '../../kube/types.ts';
import type { AnyChaos } from '../experiments.ts';

export const PLAN_VERSION = 'plan.kerris.dev/v1alpha1';

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: LabelSelectorRequirement[];
}

export interface PodDisruptionBudget {
  metadata: { name?: string; namespace?: string };
  spec?: { selector?: LabelSelector; unhealthyPodEvictionPolicy?: 'IfHealthyBudget' | 'AlwaysAllow' };
  status?: { disruptionsAllowed?: number; currentHealthy?: number; desiredHealthy?: number; expectedPods?: number };
}

/** The workload a pod belongs to: its controller, followed up from a ReplicaSet to its Deployment when known. */
export interface WorkloadRef {
  kind: string;
  name: string;
  uid: string;
}

export interface AccessCheck {
  verb: string;
  resource: string;
  /** Empty: cluster-wide. */
  namespace: string;
  allowed: boolean;
  reason?: string;
  /** Set when the check is needed only for some specs and the plan cannot tell whether this is one: what it is for. */
  unsure?: string;
}

export interface PlanInput {
  chaos: AnyChaos;
  /** The controller's policy, and where it was read from (or why the defaults are assumed). */
  policy: { safety: SafetyPolicy; maxTargets: number; source: string };
  view: ClusterView;
  /** Every pod of the namespaces the selector reaches, with status, for workload and budget counts. */
  pods: readonly Pod[];
  /** ReplicaSet uid -> its Deployment, for pods owned by a ReplicaSet. */
  workloadOf: ReadonlyMap<string, WorkloadRef>;
  budgets: readonly PodDisruptionBudget[];
  survey: { value: FleetSurvey } | { error: string };
  access: readonly AccessCheck[];
  /** The apiserver's answer to a server-side dry-run create: schema, CEL rules and the admission policy. */
  admission: { accepted: true } | { accepted: false; message: string };
  seed: number;
  /** Things gather could not read, for people. */
  notes: readonly string[];
}

export type Severity = 'unsafe' | 'warning' | 'note';

export interface Finding {
  severity: Severity;
  message: string;
}

export interface PlannedTarget {
  namespace: string;
  name: string;
  node: string;
  workload?: string;
}

export interface WorkloadImpact {
  namespace: string;
  workload: string;
  ready: number;
  hit: number;
  /** hit / ready, 0 to 1. */
  share: number;
}

export interface BudgetImpact {
  namespace: string;
  name: string;
  disruptionsAllowed: number;
  currentHealthy: number;
  desiredHealthy: number;
  hit: number;
  breaks: boolean;
}

export interface NodeReadiness {
  node: string;
  targets: number;
  ready: boolean;
  reasons: string[];
}

export interface Plan {
  apiVersion: typeof PLAN_VERSION;
  experiment: { kind: string; namespace: string; name: string; action: string; mode: string; value?: string; duration?: string };
  seed: number;
  /** False when the spec has no seed: the controller draws its own, and may pick other pods (as many). */
  seedFixed: boolean;
  policy: string;
  targets: PlannedTarget[];
  workloads: WorkloadImpact[];
  budgets: BudgetImpact[];
  access: AccessCheck[];
  nodes: NodeReadiness[];
  findings: Finding[];
  /** No finding is unsafe. */
  safe: boolean;
}

/** Whether the action takes pods out of service: `yes` counts against budgets; `may` only warns. */
function disruption(chaos: AnyChaos): 'yes' | 'may' | 'no' {
  if (chaos.kind === 'PodChaos') return 'yes';
  // Memory held in a container may get it OOM-killed; CPU load only slows it.
  if (chaos.kind === 'StressChaos') return chaos.spec.stressors.memory !== undefined ? 'may' : 'no';
  const action = chaos.spec.action;
  return action === 'partition' || action === 'loss' ? 'may' : 'no';
}

/** A PodDisruptionBudget's selector; one without a selector covers no pod (policy/v1). */
export function matches(labels: Readonly<Record<string, string>>, selector: LabelSelector | undefined): boolean {
  if (selector === undefined) return false;
  const byLabel = Object.entries(selector.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
  const byExpression = (selector.matchExpressions ?? []).every((r) => {
    const present = Object.hasOwn(labels, r.key);
    const value = labels[r.key] ?? '';
    switch (r.operator) {
      case 'In': return present && (r.values ?? []).includes(value);
      case 'NotIn': return !present || !(r.values ?? []).includes(value);
      case 'Exists': return present;
      case 'DoesNotExist': return !present;
    }
  });
  return byLabel && byExpression;
}

export const isReady = (pod: Pod): boolean => pod.metadata.deletionTimestamp === undefined && (pod.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');

export function workloadName(pod: Pod, workloadOf: ReadonlyMap<string, WorkloadRef>): string | undefined {
  const owner = pod.metadata.ownerReferences?.find((o) => o.controller);
  if (owner === undefined) return undefined;
  const up = workloadOf.get(owner.uid);
  return up ? `${up.kind}/${up.name}` : `${owner.kind}/${owner.name}`;
}

/**
 * Each workload with a ready pod that isHit says is hit: its ready pods, how many are hit and their share, sorted by
 * namespace then workload. Pods not Ready or with no controller count for no workload.
 */
export function workloadImpacts(pods: readonly Pod[], workloadOf: ReadonlyMap<string, WorkloadRef>, isHit: (pod: Pod) => boolean): WorkloadImpact[] {
  const workloads = new Map<string, WorkloadImpact>();
  for (const pod of pods) {
    const workload = workloadName(pod, workloadOf);
    if (workload === undefined || !isReady(pod)) continue;
    const key = `${pod.metadata.namespace ?? ''}/${workload}`;
    const entry = workloads.get(key) ?? { namespace: pod.metadata.namespace ?? '', workload, ready: 0, hit: 0, share: 0 };
    entry.ready += 1;
    if (isHit(pod)) entry.hit += 1;
    workloads.set(key, entry);
  }
  return [...workloads.values()].filter((w) => w.hit > 0).map((w) => ({ ...w, share: w.hit / w.ready }))
    .sort((a, b) => a.namespace.localeCompare(b.namespace) || a.workload.localeCompare(b.workload));
}

/** The daemon fault kind each action needs; pod-kill acts through the API alone. */
function daemonKind(chaos: AnyChaos): string | undefined {
  if (chaos.kind === 'NetworkChaos') return 'network';
  if (chaos.kind === 'StressChaos') return 'stress';
  return chaos.spec.action === 'pod-failure' ? 'container-freeze' : chaos.spec.action === 'container-kill' ? 'container-kill' : undefined;
}

function nodeReasons(chaos: AnyChaos, entry: SurveyedNode | undefined, node: string): string[] {
  const needed = daemonKind(chaos);
  if (needed === undefined) return [];
  if (entry === undefined) return [`no Ready kerris daemon on node ${node} in the fleet survey; the controller would wait for one`];
  if (!entry.reachable) return [`the controller cannot reach the daemon on node ${node}: ${entry.error ?? 'unknown error'}`];
  if (!(entry.faultKinds ?? []).includes(needed)) return [`the daemon on node ${node} cannot do ${needed} (it can do ${(entry.faultKinds ?? []).join(', ') || 'nothing'})`];
  if (chaos.kind !== 'NetworkChaos' || entry.network === undefined) return [];
  try {
    return networkSupport(networkFaults(chaos.spec, { cidrs: undefined, byPort: new Map() }), { ...entry.network, node, failures: {} });
  } catch (error) {
    return [`the fault cannot be planned: ${(error as Error).message}`];
  }
}

/** What the apiserver's dry run and the requester's access say, as findings; shared by every kind's plan. */
export function admissionFindings(admission: PlanInput['admission'], access: readonly AccessCheck[]): Finding[] {
  const findings: Finding[] = [];
  if (!admission.accepted) findings.push({ severity: 'unsafe', message: `the apiserver refuses it (server-side dry run): ${admission.message}` });
  for (const check of access.filter((a) => !a.allowed)) {
    const where = check.namespace === '' ? 'cluster-wide' : `in namespace ${check.namespace}`;
    const why = check.reason ? ` (${check.reason})` : '';
    findings.push(check.unsure === undefined
      ? { severity: 'unsafe', message: `you may not ${check.verb} ${check.resource} ${where}${why}; kerris does only what you could do by hand` }
      : { severity: 'warning', message: `you may not ${check.verb} ${check.resource} ${where}${why}, which ${check.unsure} needs; the plan cannot tell whether this spec is one (the dry run above can)` });
  }
  return findings;
}

export function planBlastRadius(input: PlanInput): Plan {
  const { chaos } = input;
  const namespace = chaos.metadata.namespace ?? '';
  const spec = chaos.spec;
  const findings: Finding[] = input.notes.map((message) => ({ severity: 'note', message }));
  const experiment = {
    kind: chaos.kind, namespace, name: chaos.metadata.name ?? '', action: chaos.kind === 'StressChaos' ? 'stress' : chaos.spec.action, mode: spec.mode,
    ...(spec.value === undefined ? {} : { value: spec.value }), ...(spec.duration === undefined ? {} : { duration: spec.duration }),
  };
  findings.push(...admissionFindings(input.admission, input.access));
  let picked: PlannedTarget[] = [];
  try {
    const selection = selectPods(input.view, spec, namespace, input.policy.safety, input.seed);
    for (const note of selection.notes) findings.push({ severity: 'warning', message: note });
    if (selection.targets.length === 0) findings.push({ severity: 'unsafe', message: `the selector matches no pod${selection.refused ? ' the policy admits' : ''}: the experiment would fail` });
    if (selection.targets.length > input.policy.maxTargets) findings.push({ severity: 'unsafe', message: `it picks ${selection.targets.length} pods, more than the ${input.policy.maxTargets} the controller allows (--max-targets)` });
    const byUid = new Map(input.pods.map((p) => [p.metadata.uid ?? '', p]));
    picked = selection.targets.map((t) => {
      const pod = byUid.get(t.uid);
      const workload = pod ? workloadName(pod, input.workloadOf) : undefined;
      return { namespace: t.namespace, name: t.name, node: t.node ?? '', ...(workload ? { workload } : {}) };
    });
  } catch (error) {
    if (!(error instanceof SelectionError)) throw error;
    findings.push({ severity: 'unsafe', message: `the selector cannot pick: ${error.message}` });
  }
  if (!spec.seed && picked.length > 0) findings.push({ severity: 'note', message: `picked with seed ${input.seed}; without spec.seed the controller draws its own, so it may pick other pods (as many); set spec.seed: ${input.seed} to hit exactly these` });

  const hitUids = new Set(picked.map((t) => `${t.namespace}/${t.name}`));
  const disrupts = disruption(chaos);
  const impacts = workloadImpacts(input.pods, input.workloadOf, (pod) => hitUids.has(`${pod.metadata.namespace ?? ''}/${pod.metadata.name ?? ''}`));
  for (const w of impacts.filter((x) => x.hit >= x.ready)) {
    findings.push({ severity: disrupts === 'yes' ? 'unsafe' : 'warning', message: `every ready replica of ${w.namespace}/${w.workload} is hit (${w.hit} of ${w.ready}): it is down while the fault lasts` });
  }

  const budgets: BudgetImpact[] = [];
  for (const budget of input.budgets) {
    const selector = budget.spec?.selector;
    const covered = input.pods.filter((p) => p.metadata.namespace === budget.metadata.namespace && isReady(p) && matches(p.metadata.labels ?? {}, selector));
    const hit = covered.filter((p) => hitUids.has(`${p.metadata.namespace ?? ''}/${p.metadata.name ?? ''}`)).length;
    if (hit === 0) continue;
    const allowed = budget.status?.disruptionsAllowed ?? 0;
    const impact: BudgetImpact = {
      namespace: budget.metadata.namespace ?? '', name: budget.metadata.name ?? '', disruptionsAllowed: allowed,
      currentHealthy: budget.status?.currentHealthy ?? 0, desiredHealthy: budget.status?.desiredHealthy ?? 0, hit, breaks: disrupts !== 'no' && hit > allowed,
    };
    budgets.push(impact);
    if (impact.breaks) {
      findings.push({
        severity: disrupts === 'yes' ? 'unsafe' : 'warning',
        message: `PodDisruptionBudget ${impact.namespace}/${impact.name} allows ${allowed} disruption(s) now (${impact.currentHealthy} healthy, ${impact.desiredHealthy} wanted); this hits ${hit} of its pods${disrupts === 'may' ? ', which may fail their readiness' : ''}`,
      });
    }
  }

  const survey = 'value' in input.survey ? input.survey.value : undefined;
  if ('error' in input.survey && daemonKind(chaos) !== undefined) findings.push({ severity: 'warning', message: `what the nodes can do is unknown: ${input.survey.error}` });
  const perNode = new Map<string, number>();
  for (const t of picked) perNode.set(t.node, (perNode.get(t.node) ?? 0) + 1);
  const nodes = [...perNode.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([node, count]): NodeReadiness => {
    const reasons = survey === undefined ? [] : nodeReasons(chaos, survey.nodes.find((n) => n.node === node), node);
    return { node, targets: count, ready: reasons.length === 0, reasons };
  });
  for (const n of nodes) for (const reason of n.reasons) findings.push({ severity: 'unsafe', message: reason });

  return {
    apiVersion: PLAN_VERSION,
    experiment,
    seed: input.seed,
    seedFixed: spec.seed !== undefined,
    policy: input.policy.source,
    targets: picked,
    workloads: impacts,
    budgets,
    access: [...input.access],
    nodes,
    findings,
    safe: !findings.some((f) => f.severity === 'unsafe'),
  };
}
