/** A NodeChaos's plan, its pure part: the pick under the protected rules, what each action does to the pods, and when it is unsafe. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { NodeChaos } from '../../src/api/generated/types.ts';
import { accessChecks, conditionHolds } from '../../src/cli/plan/access.ts';
import { evictedAfterMs, planNodeBlastRadius, tolerates, type NodePlanInput, type PlanPod } from '../../src/cli/plan/node-blast-radius.ts';
import { renderNodePlan } from '../../src/cli/plan/render.ts';
import { CONTROLLER_LABELS } from '../../src/controller/nodechaos/kind.ts';
import type { NodeObject } from '../../src/controller/nodechaos/node-changes.ts';
import { pickNodes } from '../../src/controller/nodechaos/node-selection.ts';
import type { PodCondition } from '../../src/kube/types.ts';

const node = (name: string, labels: Record<string, string> = { pool: 'a' }): NodeObject => ({
  metadata: { name, uid: `uid-${name}`, labels }, status: { conditions: [{ type: 'Ready', status: 'True' }] },
});
const ready: PodCondition[] = [{ type: 'Ready', status: 'True' }];
const owned = (kind: string, name: string, uid: string) => [{ apiVersion: 'apps/v1', kind, name, uid, controller: true }];
function pod(name: string, on: string, extra: Partial<PlanPod['metadata']> = {}, spec: Partial<NonNullable<PlanPod['spec']>> = {}): PlanPod {
  return {
    metadata: { name, namespace: 'shop', uid: `uid-${name}`, labels: { app: 'web' }, ownerReferences: owned('ReplicaSet', 'web-5d4', 'rs-1'), ...extra },
    spec: { nodeName: on, containers: [{ name: 'c', image: 'x' }], ...spec },
    status: { phase: 'Running', conditions: ready },
  };
}
const controllerPod: PlanPod = { metadata: { name: 'kerris-controller-1', namespace: 'kerris-system', labels: { ...CONTROLLER_LABELS } }, spec: { nodeName: 'n1', containers: [] }, status: { phase: 'Running', conditions: ready } };
const nodes = ['n1', 'n2', 'n3', 'n4', 'n5', 'n6'].map((n) => node(n));

function chaos(spec: Partial<NodeChaos['spec']>): NodeChaos {
  return { apiVersion: 'chaos.kerris.dev/v1alpha1', kind: 'NodeChaos', metadata: { name: 'drain', namespace: 'ops' }, spec: { action: 'node-drain', mode: 'one', selector: { nodeSelectors: { pool: 'a' } }, duration: '2m', seed: 5, ...spec } };
}

function input(c: NodeChaos, podsOnNode: Record<string, PlanPod[]>, overrides: Partial<NodePlanInput> = {}): NodePlanInput {
  const all = Object.values(podsOnNode).flat();
  return {
    chaos: c,
    policy: { node: { allowControllerNode: false, maxNodeSharePercent: 34 }, protectedNamespaces: new Set(['kube-system', 'kerris-system']), daemonLeaseTtlMs: 10_000, source: 'test' },
    nodes, controllerPods: [controllerPod], kerrisNamespace: 'kerris-system', podsOnNode: new Map(Object.entries(podsOnNode)), pods: all,
    workloadOf: new Map([['rs-1', { kind: 'Deployment', name: 'web', uid: 'd-1' }]]), budgets: [], survey: { error: 'none' }, access: [], admission: { accepted: true }, seed: c.spec.seed ?? 11, notes: [],
    ...overrides,
  };
}

describe('a NodeChaos plan', () => {
  it('picks exactly what the controller picks for the seed, leaving out the controller node, and counts candidates', () => {
    for (const seed of [1, 2, 3, 4, 5, 6, 7]) {
      const c = chaos({ mode: 'fixed', value: '2', seed });
      const plan = planNodeBlastRadius(input(c, {}));
      const expected = pickNodes(nodes.map((n) => ({ namespace: '', name: n.metadata.name ?? '', uid: n.metadata.uid ?? '', labels: n.metadata.labels ?? {} })), c.spec, new Map([['n1', ['kerris-system/kerris-controller-1']]]), { allowControllerNode: false, maxNodeSharePercent: 34 }, seed);
      assert.deepEqual(plan.pick.picked, expected.picked.map((n) => n.name).sort());
      assert.equal(plan.pick.picked.includes('n1'), false);
      assert.deepEqual({ matching: plan.pick.matching, candidates: plan.pick.candidates, clusterNodes: plan.pick.clusterNodes, count: plan.pick.count, limit: plan.pick.limit, exact: plan.pick.exact }, { matching: 6, candidates: 5, clusterNodes: 6, count: { min: 2, max: 2 }, limit: 2, exact: true });
      assert.equal(plan.nodes.find((n) => n.node === 'n1')?.verdict, 'refused');
      // mode fixed 2 of 6 does not ask for n1 itself: the refusal is a warning, and the plan is safe.
      assert.equal(plan.safe, true, JSON.stringify(plan.findings));
      assert.ok(plan.findings.some((f) => f.severity === 'warning' && /node n1 runs every Ready kerris controller replica/.test(f.message)));
    }
  });

  it('is unsafe when the mode takes the controller node, when the pick exceeds --max-node-share, and says which', () => {
    const all = planNodeBlastRadius(input(chaos({ mode: 'all', selector: { nodes: ['n1', 'n2'] } }), {}));
    assert.equal(all.safe, false);
    assert.ok(all.findings.some((f) => f.severity === 'unsafe' && /node n1 runs every Ready kerris controller replica.*takes every node the selector matches/.test(f.message)), JSON.stringify(all.findings));
    const only = planNodeBlastRadius(input(chaos({ selector: { nodes: ['n1'] } }), {}));
    assert.equal(only.pick.refusal?.reason, 'ControllerNode');
    assert.equal(only.safe, false);
    const allowed = planNodeBlastRadius(input(chaos({ selector: { nodes: ['n1'] }, allowControllerNode: true }), {}));
    assert.deepEqual(allowed.pick.picked, ['n1']);
    assert.equal(allowed.safe, true, JSON.stringify(allowed.findings));
    assert.ok(allowed.findings.some((f) => f.severity === 'warning' && /allowed by spec.allowControllerNode/.test(f.message)));
    const many = planNodeBlastRadius(input(chaos({ mode: 'fixed', value: '3' }), {}));
    assert.equal(many.pick.refusal?.reason, 'TooManyNodes');
    assert.ok(many.findings.some((f) => f.severity === 'unsafe' && /more than the 2 one experiment may hit/.test(f.message)));
    const wider = planNodeBlastRadius(input(chaos({ mode: 'fixed', value: '3' }), {}, { policy: { node: { allowControllerNode: false, maxNodeSharePercent: 50 }, protectedNamespaces: new Set(), daemonLeaseTtlMs: 10_000, source: 'test' } }));
    assert.equal(wider.pick.picked.length, 3);
    assert.equal(wider.safe, true, JSON.stringify(wider.findings));
  });

  it('without a seed, says the count range and holds every node that may be picked to the findings', () => {
    const c = chaos({ mode: 'random-max-percent', value: '40', seed: undefined, selector: { nodes: ['n2', 'n3', 'n4'] } });
    const bare = pod('bare', 'n4', { ownerReferences: [] });
    const plan = planNodeBlastRadius(input(c, { n2: [], n3: [], n4: [bare] }, { seed: 11 }));
    assert.deepEqual(plan.pick.count, { min: 1, max: 2 });
    assert.equal(plan.pick.exact, false);
    assert.equal(plan.seedFixed, false);
    assert.ok(plan.findings.some((f) => f.severity === 'note' && /set spec.seed: 11/.test(f.message)));
    assert.ok(plan.findings.some((f) => f.severity === 'unsafe' && /pod shop\/bare on node n4.*has no controller/.test(f.message)), JSON.stringify(plan.findings));
  });

  it('node-drain: evicts what the drain evicts (not DaemonSet, mirror, terminating or protected pods), flags bare pods and budgets that refuse', () => {
    const onN2 = [
      pod('web-a', 'n2'), pod('web-b', 'n2'),
      pod('ds', 'n2', { ownerReferences: owned('DaemonSet', 'agent', 'ds-1') }),
      pod('static', 'n2', { annotations: { 'kubernetes.io/config.mirror': 'x' }, ownerReferences: [] }),
      pod('going', 'n2', { deletionTimestamp: '2026-01-01T00:00:00Z' }),
      pod('dns', 'n2', { namespace: 'kube-system' }),
      pod('bare', 'n2', { ownerReferences: [], labels: {} }),
    ];
    const budget = { metadata: { name: 'web', namespace: 'shop' }, spec: { selector: { matchLabels: { app: 'web' } } }, status: { disruptionsAllowed: 0, currentHealthy: 2, desiredHealthy: 2, expectedPods: 2 } };
    const plan = planNodeBlastRadius(input(chaos({ selector: { nodes: ['n2'] } }), { n2: onN2 }, { budgets: [budget] }));
    const n2 = plan.nodes.find((n) => n.node === 'n2');
    assert.deepEqual(n2?.pods?.filter((p) => p.effect === 'evicted').map((p) => p.name), ['web-a', 'web-b', 'bare']);
    assert.deepEqual(n2?.pods?.filter((p) => p.effect === 'kept').map((p) => p.why), ['kept: a DaemonSet pod', 'kept: a mirror (static) pod', 'kept: terminating', 'kept: in a protected namespace']);
    assert.equal(n2?.pods?.find((p) => p.name === 'web-a')?.workload, 'Deployment/web');
    assert.deepEqual(plan.budgets.map((b) => [b.name, b.hit, b.disruptionsAllowed, b.breaks]), [['web', 2, 0, true]]);
    assert.ok(plan.findings.some((f) => f.severity === 'unsafe' && /PodDisruptionBudget shop\/web allows 0 disruption.*2 eviction\(s\) would be refused \(429\)/.test(f.message)), JSON.stringify(plan.findings));
    assert.ok(plan.findings.some((f) => f.severity === 'unsafe' && /pod shop\/bare on node n2 has no controller/.test(f.message)));
    assert.equal(plan.safe, false);
    // A pending pod is evicted whatever the budget says (the Eviction API lets it go).
    const pending = { ...pod('web-p', 'n2'), status: { phase: 'Pending' as const } };
    const calm = planNodeBlastRadius(input(chaos({ selector: { nodes: ['n2'] } }), { n2: [pending] }, { budgets: [{ ...budget, status: { disruptionsAllowed: 0, currentHealthy: 0, desiredHealthy: 2 } }] }));
    assert.equal(calm.budgets[0]?.breaks, false);
    assert.equal(calm.safe, true, JSON.stringify(calm.findings));
    const text = renderNodePlan(plan);
    assert.match(text, /n2 +picked +yes +no +7 +3 +0 +cordoned and its pods evicted/);
    assert.match(text, /shop\/bare +none: a bare pod +EVICTED/);
    assert.match(text, /shop\/web +2 +0 +2 +2 +REFUSES/);
    assert.match(text, /Verdict: UNSAFE/);
  });

  it('node-taint: NoExecute evicts the pods that do not tolerate it (or not for long enough); NoSchedule evicts none', () => {
    const pods = [
      pod('plain', 'n2'),
      pod('brief', 'n2', {}, { tolerations: [{ key: 'chaos', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 30 }] }),
      pod('forever', 'n2', {}, { tolerations: [{ operator: 'Exists' }] }),
    ];
    const noExecute = planNodeBlastRadius(input(chaos({ action: 'node-taint', taint: { key: 'chaos', effect: 'NoExecute' }, selector: { nodes: ['n2'] } }), { n2: pods }));
    assert.deepEqual(noExecute.nodes[0]?.pods?.map((p) => [p.name, p.effect]), [['plain', 'evicted'], ['brief', 'evicted'], ['forever', 'kept']]);
    assert.ok(noExecute.findings.some((f) => f.severity === 'warning' && /2 pod\(s\) evicted/.test(f.message)));
    const noSchedule = planNodeBlastRadius(input(chaos({ action: 'node-taint', taint: { key: 'chaos', effect: 'NoSchedule' }, selector: { nodes: ['n2'] } }), { n2: pods }));
    assert.deepEqual(noSchedule.nodes[0]?.pods?.map((p) => p.effect), ['kept', 'kept', 'kept']);
    assert.match(noSchedule.nodes[0]?.effect ?? '', /nothing is evicted/);
    assert.equal(tolerates({ key: 'chaos', value: 'x' }, { key: 'chaos', value: 'x', effect: 'NoExecute' }), true);
    assert.equal(tolerates({ key: 'chaos', value: 'y' }, { key: 'chaos', value: 'x', effect: 'NoExecute' }), false);
    assert.equal(tolerates({ key: 'chaos', operator: 'Exists', effect: 'NoSchedule' }, { key: 'chaos', effect: 'NoExecute' }), false);
    assert.equal(evictedAfterMs(pods[1] as PlanPod, { key: 'chaos', effect: 'NoExecute' }), 30_000);
  });

  it('kubelet-stop: pods go not Ready; past the unreachable toleration (300 s by default) they are evicted', () => {
    const defaults = [{ key: 'node.kubernetes.io/unreachable', operator: 'Exists' as const, effect: 'NoExecute', tolerationSeconds: 300 }];
    const pods = [pod('web-a', 'n2', {}, { tolerations: defaults })];
    const short = planNodeBlastRadius(input(chaos({ action: 'kubelet-stop', duration: '2m', selector: { nodes: ['n2'] } }), { n2: pods }));
    assert.deepEqual(short.nodes[0]?.pods?.map((p) => p.effect), ['notReady']);
    assert.match(short.nodes[0]?.effect ?? '', /NotReady after about 50s/);
    const long = planNodeBlastRadius(input(chaos({ action: 'kubelet-stop', duration: '10m', selector: { nodes: ['n2'] } }), { n2: pods }));
    assert.deepEqual(long.nodes[0]?.pods?.map((p) => [p.effect, p.why]), [['evicted', 'tolerates node.kubernetes.io/unreachable for 5m only']]);
    assert.ok(long.findings.some((f) => /node n2: 1 pod\(s\) evicted/.test(f.message)));
    assert.ok(long.findings.some((f) => /whether the nodes' daemons can do kubelet-stop is unknown/.test(f.message)));
  });

  it('node-network partition: cut off for the daemon lease only, without keepDaemonLease; for the duration with it', () => {
    const pods = [pod('web-a', 'n2')];
    const lapsing = planNodeBlastRadius(input(chaos({ action: 'node-network', network: { action: 'partition' }, duration: '5m', selector: { nodes: ['n2'] } }), { n2: pods }));
    assert.match(lapsing.nodes[0]?.effect ?? '', /partitioned for 10s, within the node monitor grace period/);
    const kept = planNodeBlastRadius(input(chaos({ action: 'node-network', network: { action: 'partition', keepDaemonLease: true }, duration: '5m', selector: { nodes: ['n2'] } }), { n2: pods }));
    assert.match(kept.nodes[0]?.effect ?? '', /partitioned for 5m: NotReady/);
    assert.deepEqual(kept.nodes[0]?.pods?.map((p) => p.effect), ['evicted']);
  });

  it('asks cluster-wide checks with no namespace, and onlyWhen checks only for their action', () => {
    const drain = accessChecks(chaos({}));
    assert.ok(drain.every((a) => a.namespace === ''));
    assert.equal(drain.some((a) => a.subresource === 'status'), false);
    const stop = accessChecks(chaos({ action: 'kubelet-stop' }));
    assert.deepEqual(stop.filter((a) => a.subresource === 'status').map((a) => [a.verb, a.resource, a.unsure]), [['update', 'nodes', undefined]]);
    assert.equal(conditionHolds((s) => `${s}.action == 'a' || ${s}.action == 'b'`, { action: 'b' }), true);
    assert.equal(conditionHolds((s) => `${s}.action == 'a' && ${s}.mode != 'all'`, { action: 'a', mode: 'all' }), false);
    assert.equal(conditionHolds((s) => `has(${s}.taint)`, { action: 'a' }), undefined);
    const plan = planNodeBlastRadius(input(chaos({}), {}, { access: [{ verb: 'patch', resource: 'nodes', namespace: '', allowed: false }, { verb: 'update', resource: 'nodes/status', namespace: '', allowed: false, unsure: 'kubelet-stop' }] }));
    assert.ok(plan.findings.some((f) => f.severity === 'unsafe' && f.message.startsWith('you may not patch nodes cluster-wide')));
    assert.ok(plan.findings.some((f) => f.severity === 'warning' && /which kubelet-stop needs/.test(f.message)));
  });

  it('says what it could not read instead of guessing', () => {
    const plan = planNodeBlastRadius(input(chaos({}), {}, { nodes: { error: 'cannot read nodes: 403 Forbidden' }, controllerPods: { error: 'cannot read pods in kerris-system: 403 Forbidden' } }));
    assert.equal(plan.safe, false);
    assert.ok(plan.findings.some((f) => f.severity === 'unsafe' && /403 Forbidden: the plan cannot say which nodes/.test(f.message)));
    assert.ok(plan.findings.some((f) => f.severity === 'warning' && /which node the controller needs is unknown/.test(f.message)));
    const unread = planNodeBlastRadius(input(chaos({ selector: { nodes: ['n2'] } }), {}));
    assert.ok(unread.findings.some((f) => /the pods on node n2 could not be read/.test(f.message)));
  });
});
