/**
 * The blast radius of a NodeChaos before it runs, as a value: which nodes are candidates, which the mode picks under
 * the controller's protected rules (its own pure selection code, src/controller/nodechaos/node-selection.ts), and per
 * action what happens to the pods on them: evicted (by a drain, as the drain picks them; by a NoExecute taint the pod
 * does not tolerate; by the node lifecycle controller once a node is unreachable for longer than a pod tolerates),
 * not Ready, or untouched; what that costs each workload and PodDisruptionBudget; and whether the requester may run it.
 * Pure: gather.ts reads the cluster first.
 */
import type { FleetSurvey } from '../../api/fleet-survey.ts';
import type { NodeChaos, NodeChaosTaint } from '../../api/generated/types.ts';
import { parseDuration } from '../../controller/engine/duration.ts';
import { SelectionError } from '../../controller/engine/experiment.ts';
import { controllerNodes } from '../../controller/nodechaos/kind.ts';
import { isNodeReady, keptOnDrain, type NodeObject } from '../../controller/nodechaos/node-changes.ts';
import { controllerNodeRefusal, matchingNodes, maxNodes, pickNodes, type CandidateNode, type NodePick, type NodePolicy } from '../../controller/nodechaos/node-selection.ts';
import { targetCount } from '../../controller/targets/pod-selection.ts';
import type { Pod } from '../../kube/types.ts';
import {
  admissionFindings, isReady, matches, PLAN_VERSION, workloadImpacts, workloadName,
  type AccessCheck, type BudgetImpact, type Finding, type PlanInput, type PodDisruptionBudget, type WorkloadImpact, type WorkloadRef,
} from './blast-radius.ts';

/** The taint the node lifecycle controller puts on a node whose kubelet stopped posting status. */
export const UNREACHABLE_TAINT: NodeChaosTaint = { key: 'node.kubernetes.io/unreachable', effect: 'NoExecute' };
/** kube-controller-manager's --node-monitor-grace-period default (50 s since Kubernetes 1.32, 40 s before): the earliest a silent node is NotReady. */
export const NODE_MONITOR_GRACE_MS = 50_000;

export interface Toleration {
  key?: string;
  operator?: 'Exists' | 'Equal';
  value?: string;
  effect?: string;
  tolerationSeconds?: number;
}

/** A pod as the plan reads it: with the tolerations that decide what a NoExecute taint does to it. */
export type PlanPod = Pod & { spec?: { tolerations?: Toleration[] } };

export interface NodePlanInput {
  chaos: NodeChaos;
  /** The controller's flags that bear on nodes, and where they were read from (or why the defaults are assumed). */
  policy: { node: NodePolicy; protectedNamespaces: ReadonlySet<string>; daemonLeaseTtlMs: number; source: string };
  /** Every node of the cluster: the share limit counts them all. */
  nodes: readonly NodeObject[] | { error: string };
  /** The pods of the controller's namespace, for the node it needs. */
  controllerPods: readonly Pod[] | { error: string };
  kerrisNamespace: string;
  /** The pods on each candidate node, every namespace; a node missing here could not be read. */
  podsOnNode: ReadonlyMap<string, readonly PlanPod[]>;
  /** Every pod of the namespaces with a pod on a candidate node, for workload and budget counts. */
  pods: readonly Pod[];
  workloadOf: ReadonlyMap<string, WorkloadRef>;
  budgets: readonly PodDisruptionBudget[];
  survey: PlanInput['survey'];
  access: readonly AccessCheck[];
  admission: PlanInput['admission'];
  seed: number;
  notes: readonly string[];
}

/** What the action does to one pod on a target node. */
export interface PodEffect {
  namespace: string;
  name: string;
  workload?: string;
  /** evicted: leaves the node (drain, taint, unreachable node); notReady: stays, but out of its Services; kept: untouched. */
  effect: 'evicted' | 'notReady' | 'kept';
  why: string;
  /** No controller owns it: evicted, it is gone for good. */
  bare: boolean;
}

export interface NodeTarget {
  node: string;
  /** picked by this seed; candidate: may be picked with another seed; refused: left out by the protected rules. */
  verdict: 'picked' | 'candidate' | 'refused';
  reason?: string;
  ready: boolean;
  unschedulable: boolean;
  /** The Ready controller replicas on it. */
  controllerReplicas: string[];
  /** What the action does to the node itself. */
  effect: string;
  /** Undefined when the pods on it could not be read. */
  pods?: PodEffect[];
  /** For the actions a node's daemon does: why it cannot, if it cannot. */
  daemon?: string[];
}

export interface NodePlan {
  apiVersion: typeof PLAN_VERSION;
  experiment: { kind: 'NodeChaos'; namespace: string; name: string; action: string; mode: string; value?: string; duration?: string };
  seed: number;
  seedFixed: boolean;
  policy: string;
  pick: {
    /** The nodes the selector matches, and those the protected rules leave to pick from. */
    matching: number;
    candidates: number;
    clusterNodes: number;
    /** How many the mode picks: one number, or a range for random-max-percent without a seed. */
    count: { min: number; max: number };
    /** The most nodes one experiment may hit (--max-node-share). */
    limit: number;
    /** The nodes shown as picked are exactly those the controller will pick. */
    exact: boolean;
    picked: string[];
    refusal?: { reason: string; message: string };
  };
  nodes: NodeTarget[];
  workloads: WorkloadImpact[];
  budgets: BudgetImpact[];
  access: AccessCheck[];
  findings: Finding[];
  safe: boolean;
}

/** Whether a toleration matches a taint (as the scheduler and the taint manager match them). */
export function tolerates(toleration: Toleration, taint: NodeChaosTaint): boolean {
  if (toleration.effect !== undefined && toleration.effect !== '' && toleration.effect !== taint.effect) return false;
  if (toleration.operator === 'Exists') return toleration.key === undefined || toleration.key === '' || toleration.key === taint.key;
  return toleration.key === taint.key && (toleration.value ?? '') === (taint.value ?? '');
}

/**
 * After how long on a node with a NoExecute taint the pod is evicted: 0 at once, a number of ms (the shortest
 * tolerationSeconds of its matching tolerations), or undefined for never (a matching toleration without seconds).
 */
export function evictedAfterMs(pod: PlanPod, taint: NodeChaosTaint): number | undefined {
  const matching = (pod.spec?.tolerations ?? []).filter((t) => tolerates(t, taint));
  if (matching.length === 0) return 0;
  if (matching.some((t) => t.tolerationSeconds === undefined)) return undefined;
  return Math.max(0, Math.min(...matching.map((t) => t.tolerationSeconds ?? 0))) * 1000;
}

const seconds = (ms: number): string => (ms % 60_000 === 0 && ms > 0 ? `${ms / 60_000}m` : `${Math.round(ms / 1000)}s`);
const podName = (p: Pod): string => `${p.metadata.namespace ?? ''}/${p.metadata.name ?? ''}`;
const isBare = (p: Pod): boolean => !(p.metadata.ownerReferences ?? []).some((o) => o.controller);

/**
 * How long the action cuts the node off from the apiserver, which then marks it NotReady and taints it unreachable;
 * undefined for an action that keeps it in touch. One case per action, so a new action is one more case.
 */
function cutOff(chaos: NodeChaos, durationMs: number, leaseTtlMs: number): { ms: number; why: string } | undefined {
  const spec = chaos.spec;
  switch (spec.action) {
    case 'node-drain':
    case 'node-taint':
      return undefined;
    case 'kubelet-stop':
      return { ms: durationMs, why: 'its kubelet is stopped' };
    case 'node-reboot':
      return undefined;
    case 'node-network': {
      if (spec.network?.action !== 'partition') return undefined;
      const scoped = (spec.network.externalTargets ?? []).length > 0 ? ' (if the apiserver is among network.externalTargets)' : '';
      // Without keepDaemonLease the partition cuts the daemon off too, and it takes the fault away when its lease lapses.
      const ms = spec.network.keepDaemonLease === true ? durationMs : Math.min(durationMs, leaseTtlMs);
      return { ms, why: `its network is partitioned${scoped}` };
    }
  }
}

/** The daemon fault kind an action needs (as the fleet survey names it), or undefined for the API actions. */
function daemonKind(action: NodeChaos['spec']['action']): string | undefined {
  switch (action) {
    case 'node-drain':
    case 'node-taint':
      return undefined;
    case 'kubelet-stop':
    case 'node-network':
    case 'node-reboot':
      return action;
  }
}

/** What the action does to one node and its pods. */
function nodeEffect(chaos: NodeChaos, node: NodeObject, pods: readonly PlanPod[] | undefined, input: NodePlanInput, durationMs: number): Pick<NodeTarget, 'effect' | 'pods'> {
  const spec = chaos.spec;
  const workload = (p: Pod) => workloadName(p, input.workloadOf);
  const effect = (p: PlanPod, kind: PodEffect['effect'], why: string): PodEffect => {
    const w = workload(p);
    return { namespace: p.metadata.namespace ?? '', name: p.metadata.name ?? '', ...(w ? { workload: w } : {}), effect: kind, why, bare: isBare(p) };
  };
  const live = (pods ?? []).filter((p) => p.metadata.deletionTimestamp === undefined);
  /** Each pod under a NoExecute taint for `ms`: evicted when it tolerates the taint for less. */
  const underTaint = (taint: NodeChaosTaint, ms: number, otherwise: PodEffect['effect'], otherwiseWhy: string) => live.map((p) => {
    const after = evictedAfterMs(p, taint);
    if (after !== undefined && after < ms) return effect(p, 'evicted', after === 0 ? `does not tolerate ${taint.key}:${taint.effect}` : `tolerates ${taint.key} for ${seconds(after)} only`);
    return effect(p, otherwise, after === undefined ? `tolerates ${taint.key}:${taint.effect}; ${otherwiseWhy}` : otherwiseWhy);
  });
  const withPods = (text: string, list: PodEffect[]) => ({ effect: text, ...(pods === undefined ? {} : { pods: list }) });

  if (spec.action === 'node-drain') {
    const list = (pods ?? []).map((p) => {
      const kept = keptOnDrain(p, input.policy.protectedNamespaces);
      return kept === undefined ? effect(p, 'evicted', 'evicted through the Eviction API') : effect(p, 'kept', `kept: ${kept}`);
    });
    return withPods(node.spec?.unschedulable === true ? 'already cordoned (kerris leaves it so at the end); its pods evicted' : 'cordoned and its pods evicted', list);
  }
  if (spec.action === 'node-taint') {
    const taint = spec.taint;
    // The schema requires it for node-taint; the dry run's refusal says so.
    if (taint === undefined) return { effect: 'no spec.taint to add' };
    const text = `tainted ${taint.key}${taint.value ? `=${taint.value}` : ''}:${taint.effect}`;
    if (taint.effect !== 'NoExecute') {
      const why = taint.effect === 'NoSchedule' ? 'stays; new pods that do not tolerate the taint are not scheduled here' : 'stays; the scheduler avoids the node for new pods';
      return withPods(`${text}: nothing is evicted`, live.map((p) => effect(p, 'kept', why)));
    }
    return withPods(`${text}: the pods that do not tolerate it are evicted (by the taint manager, which does not ask PodDisruptionBudgets)`, underTaint(taint, durationMs, 'kept', 'stays'));
  }
  if (spec.action === 'node-reboot') {
    return withPods(
      'rebooted once, abruptly (disks synced, services not stopped), if it consents (/etc/kerris/allow-node-reboot): every container on it is killed; NotReady if it takes longer than the node monitor grace period to come back',
      live.map((p) => effect(p, 'notReady', 'its containers are killed by the reboot and started again once the node is back; out of its Services meanwhile')),
    );
  }
  const off = cutOff(chaos, durationMs, input.policy.daemonLeaseTtlMs);
  if (off === undefined) {
    const what = spec.network?.action === 'delay' ? 'its traffic is delayed' : 'its traffic is partly lost';
    return withPods(`${what}: it stays Ready unless its kubelet's heartbeats fail; no pod is evicted`, live.map((p) => effect(p, 'kept', 'stays, with degraded traffic')));
  }
  if (off.ms <= NODE_MONITOR_GRACE_MS) {
    return withPods(`${off.why} for ${seconds(off.ms)}, within the node monitor grace period (about ${seconds(NODE_MONITOR_GRACE_MS)}): it may stay Ready; nothing is evicted`, live.map((p) => effect(p, 'kept', 'stays')));
  }
  const tainted = off.ms - NODE_MONITOR_GRACE_MS;
  return withPods(
    `${off.why} for ${seconds(off.ms)}: NotReady after about ${seconds(NODE_MONITOR_GRACE_MS)}, then tainted ${UNREACHABLE_TAINT.key}:NoExecute for about ${seconds(tainted)}; its pods' Ready turns False (Services drop them)`,
    underTaint(UNREACHABLE_TAINT, tainted, 'notReady', 'stays, not Ready: out of its Services\' endpoints'),
  );
}

/** How many nodes the mode picks out of `candidates`: a range only for random-max-percent without a seed. */
function countRange(spec: NodeChaos['spec'], candidates: number, seed: number): { min: number; max: number } {
  if (candidates === 0) return { min: 0, max: 0 };
  if (spec.mode !== 'random-max-percent') {
    const n = targetCount(spec.mode, spec.value, candidates, seed);
    return { min: n, max: n };
  }
  if (spec.seed !== undefined) {
    const n = targetCount(spec.mode, spec.value, candidates, seed);
    return { min: n, max: n };
  }
  return { min: 1, max: targetCount('fixed-percent', spec.value, candidates, seed) };
}

/** Whether a drain's eviction of the pod asks the budget: the Eviction API lets pending and finished pods go regardless. */
function budgetApplies(pod: Pod): boolean {
  const phase = pod.status?.phase;
  return phase !== 'Pending' && phase !== 'Succeeded' && phase !== 'Failed';
}

export function planNodeBlastRadius(input: NodePlanInput): NodePlan {
  const { chaos } = input;
  const spec = chaos.spec;
  const findings: Finding[] = input.notes.map((message) => ({ severity: 'note', message }));
  const experiment = {
    kind: 'NodeChaos' as const, namespace: chaos.metadata.namespace ?? '', name: chaos.metadata.name ?? '', action: spec.action, mode: spec.mode,
    ...(spec.value === undefined ? {} : { value: spec.value }), duration: spec.duration,
  };
  findings.push(...admissionFindings(input.admission, input.access));
  let durationMs = 0;
  try {
    durationMs = parseDuration(spec.duration);
  } catch (error) {
    findings.push({ severity: 'unsafe', message: `spec.duration: ${(error as Error).message}` });
  }

  const allNodes = 'error' in input.nodes ? [] : input.nodes;
  let controller = new Map<string, string[]>();
  if ('error' in input.controllerPods) {
    findings.push({ severity: 'warning', message: `${input.controllerPods.error}: which node the controller needs is unknown (it refuses the node running every Ready replica of its own)` });
  } else {
    controller = controllerNodes(input.controllerPods, input.kerrisNamespace);
  }
  const all: CandidateNode[] = allNodes.map((n) => ({ namespace: '', name: n.metadata.name ?? '', uid: n.metadata.uid ?? '', labels: n.metadata.labels ?? {} }));
  const matching = matchingNodes(all, spec.selector);
  const allowed = input.policy.node.allowControllerNode || spec.allowControllerNode === true;
  const refusedBy = new Map(matching.flatMap((n) => {
    const why = allowed ? undefined : controllerNodeRefusal(n.name, controller);
    return why === undefined ? [] : [[n.name, why] as const];
  }));
  const candidates = matching.length - refusedBy.size;
  const limit = maxNodes(all.length, input.policy.node.maxNodeSharePercent);

  let pick: NodePick = { picked: [], notes: [] };
  let count = { min: 0, max: 0 };
  // Whether the mode, unprotected, takes every node the selector matches: then a refused node is one the manifest asks for.
  let takesAll = false;
  try {
    pick = pickNodes(all, spec, controller, input.policy.node, input.seed);
    count = countRange(spec, candidates, input.seed);
    takesAll = countRange(spec, matching.length, input.seed).min >= matching.length;
  } catch (error) {
    if (!(error instanceof SelectionError)) throw error;
    findings.push({ severity: 'unsafe', message: `the selector cannot pick: ${error.message}` });
  }
  const picked = new Set(pick.picked.map((n) => n.name));
  const seedFixed = spec.seed !== undefined;
  // The pick does not depend on the seed when it takes every candidate.
  const exact = seedFixed || (count.min === count.max && count.max === candidates);

  if ('error' in input.nodes) {
    findings.push({ severity: 'unsafe', message: `${input.nodes.error}: the plan cannot say which nodes it picks` });
  } else if (matching.length === 0) {
    findings.push({ severity: 'unsafe', message: 'the selector matches no node: the experiment would fail' });
  } else if (pick.refusal !== undefined) {
    findings.push({ severity: 'unsafe', message: `the controller refuses the pick (${pick.refusal.reason}): ${pick.refusal.message}; the experiment would fail, touching nothing` });
  } else if (!seedFixed && count.max > limit) {
    findings.push({ severity: 'unsafe', message: `without spec.seed the mode may pick up to ${count.max} nodes, more than the ${limit} one experiment may hit (--max-node-share ${input.policy.node.maxNodeSharePercent}%): the controller would refuse such a pick` });
  }
  for (const why of refusedBy.values()) {
    // The controller leaves the node out and picks among the others; when the mode takes every node matched, the
    // manifest asks for that very node, and the experiment is not the one written.
    findings.push(takesAll && pick.refusal === undefined
      ? { severity: 'unsafe', message: `${why}: the mode takes every node the selector matches, and the controller leaves this one out` }
      : { severity: pick.refusal === undefined ? 'warning' : 'note', message: `${why}: the controller leaves it out and picks among the other ${candidates}` });
  }
  if (allowed) {
    for (const [node, replicas] of controller) {
      if (controller.size !== 1 || !(picked.has(node) || (!exact && matching.some((n) => n.name === node)))) continue;
      const by = spec.allowControllerNode === true ? 'spec.allowControllerNode' : "the controller's --allow-controller-node";
      findings.push({ severity: 'warning', message: `node ${node} runs every Ready kerris controller replica (${replicas.join(', ')}) and ${picked.has(node) ? 'is picked' : 'may be picked'}, allowed by ${by}: the component that undoes the fault runs there` });
    }
  }
  if (!seedFixed && pick.picked.length > 0 && !exact) {
    findings.push({ severity: 'note', message: `picked with seed ${input.seed}; without spec.seed the controller draws its own, so it may pick other nodes (${count.min === count.max ? 'as many' : `${count.min} to ${count.max}`}); set spec.seed: ${input.seed} to hit exactly these` });
  }

  const survey: FleetSurvey | undefined = 'value' in input.survey ? input.survey.value : undefined;
  const needed = daemonKind(spec.action);
  if ('error' in input.survey && needed !== undefined) findings.push({ severity: 'warning', message: `whether the nodes' daemons can do ${needed} is unknown: ${input.survey.error}` });
  const byName = new Map(allNodes.map((n) => [n.metadata.name ?? '', n]));
  const targets: NodeTarget[] = matching.map((candidate) => {
    const node = byName.get(candidate.name) ?? { metadata: { name: candidate.name } };
    const refused = refusedBy.get(candidate.name);
    const pods = input.podsOnNode.get(candidate.name);
    let daemon: string[] | undefined;
    if (needed !== undefined && survey !== undefined) {
      const entry = survey.nodes.find((n) => n.node === candidate.name);
      daemon = entry === undefined ? [`no Ready kerris daemon on node ${candidate.name} in the fleet survey; the controller would wait for one`]
        : !entry.reachable ? [`the controller cannot reach the daemon on node ${candidate.name}: ${entry.error ?? 'unknown error'}`]
          : !(entry.faultKinds ?? []).includes(needed) ? [`the daemon on node ${candidate.name} cannot do ${needed} (it can do ${(entry.faultKinds ?? []).join(', ') || 'nothing'})`] : [];
    }
    return {
      node: candidate.name,
      verdict: refused !== undefined ? 'refused' : picked.has(candidate.name) ? 'picked' : 'candidate',
      ...(refused !== undefined ? { reason: refused } : {}),
      ready: isNodeReady(node) === true,
      unschedulable: node.spec?.unschedulable === true,
      controllerReplicas: controller.get(candidate.name) ?? [],
      ...nodeEffect(chaos, node, pods, input, durationMs),
      ...(daemon === undefined ? {} : { daemon }),
    };
  });

  // The nodes the findings are about: exactly the picked ones when the pick is exact; every node that may be picked
  // otherwise, since the controller's own seed may land on any of them. None when the pick is refused.
  const hit = pick.refusal !== undefined ? [] : targets.filter((t) => t.verdict === 'picked' || (!exact && t.verdict === 'candidate'));
  const maybe = (t: NodeTarget) => (t.verdict === 'picked' ? '' : ' (if picked)');
  for (const t of hit) {
    for (const reason of t.daemon ?? []) findings.push({ severity: 'unsafe', message: `${reason}${maybe(t)}` });
    if (t.pods === undefined) {
      findings.push({ severity: 'warning', message: `the pods on node ${t.node} could not be read: what ${spec.action} does to them is unknown` });
      continue;
    }
    const evicted = t.pods.filter((p) => p.effect === 'evicted');
    for (const p of evicted.filter((e) => e.bare)) {
      findings.push({ severity: 'unsafe', message: `pod ${p.namespace}/${p.name} on node ${t.node}${maybe(t)} has no controller: evicted, it is gone for good` });
    }
    if (spec.action !== 'node-drain' && evicted.length > 0) {
      findings.push({ severity: 'warning', message: `node ${t.node}${maybe(t)}: ${evicted.length} pod(s) evicted, ${evicted.slice(0, 5).map((p) => `${p.namespace}/${p.name} (${p.why})`).join(', ')}${evicted.length > 5 ? ', …' : ''}` });
    }
  }

  // Workloads and budgets, over the nodes the findings are about.
  const hitPods = new Map<string, PodEffect>();
  for (const t of hit) for (const p of t.pods ?? []) if (p.effect !== 'kept') hitPods.set(`${p.namespace}/${p.name}`, p);
  const impacts = workloadImpacts(input.pods, input.workloadOf, (pod) => hitPods.has(podName(pod)));
  for (const w of impacts.filter((x) => x.hit >= x.ready)) {
    findings.push({ severity: 'warning', message: `every ready replica of ${w.namespace}/${w.workload} is evicted or not Ready${exact ? '' : ' (on the nodes that may be picked)'} (${w.hit} of ${w.ready}): it is down until replacements are Ready elsewhere` });
  }

  const budgets: BudgetImpact[] = [];
  for (const budget of input.budgets) {
    const covered = input.pods.filter((p) => p.metadata.namespace === budget.metadata.namespace && matches(p.metadata.labels ?? {}, budget.spec?.selector));
    const evicted = covered.filter((p) => hitPods.get(podName(p))?.effect === 'evicted');
    if (evicted.length === 0) continue;
    const allowedNow = budget.status?.disruptionsAllowed ?? 0;
    const currentHealthy = budget.status?.currentHealthy ?? 0;
    const desiredHealthy = budget.status?.desiredHealthy ?? 0;
    const healthy = evicted.filter(isReady).length;
    // The Eviction API: a ready pod takes one of disruptionsAllowed; a running pod not ready goes when the budget is
    // healthy (IfHealthyBudget) or always (AlwaysAllow); pending and finished pods go regardless.
    const unhealthyRefused = budget.spec?.unhealthyPodEvictionPolicy === 'AlwaysAllow' || currentHealthy >= desiredHealthy ? 0
      : evicted.filter((p) => !isReady(p) && budgetApplies(p)).length;
    const refused = spec.action === 'node-drain' ? Math.max(0, healthy - allowedNow) + unhealthyRefused : 0;
    const name = `${budget.metadata.namespace ?? ''}/${budget.metadata.name ?? ''}`;
    const breaks = spec.action === 'node-drain' ? refused > 0 : healthy > allowedNow;
    budgets.push({ namespace: budget.metadata.namespace ?? '', name: budget.metadata.name ?? '', disruptionsAllowed: allowedNow, currentHealthy, desiredHealthy, hit: evicted.length, breaks });
    if (!breaks) continue;
    const state = `allows ${allowedNow} disruption(s) now (${currentHealthy} healthy, ${desiredHealthy} wanted)`;
    findings.push(spec.action === 'node-drain'
      ? { severity: 'unsafe', message: `PodDisruptionBudget ${name} ${state}: the drain would evict ${evicted.length} of its pods${exact ? '' : ' (on the nodes that may be picked)'} and ${refused} eviction(s) would be refused (429), so the drain does not finish: those pods stay on the cordoned node, asked again at each pass, until the budget allows` }
      : { severity: 'unsafe', message: `PodDisruptionBudget ${name} ${state}: ${healthy} of its healthy pods would be evicted${exact ? '' : ' (on the nodes that may be picked)'} by the taint manager (a NoExecute taint), which does not ask budgets` });
  }

  return {
    apiVersion: PLAN_VERSION,
    experiment,
    seed: input.seed,
    seedFixed,
    policy: input.policy.source,
    pick: {
      matching: matching.length, candidates, clusterNodes: all.length, count, limit, exact,
      picked: [...picked].sort(), ...(pick.refusal !== undefined ? { refusal: pick.refusal } : {}),
    },
    nodes: targets,
    workloads: impacts,
    budgets,
    access: [...input.access],
    findings,
    safe: !findings.some((f) => f.severity === 'unsafe'),
  };
}
