/** The plan's pure part: who is hit, what that costs each workload and budget, and when a plan is unsafe. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { FleetSurvey } from '../../src/api/fleet-survey.ts';
import type { NetworkChaos, PodChaos } from '../../src/api/generated/types.ts';
import type { ClusterView } from '../../src/controller/targets/cluster-view.ts';
import type { Pod } from '../../src/kube/types.ts';
import { planBlastRadius, type PlanInput } from '../../src/cli/plan/blast-radius.ts';

const pod = (name: string, node: string): Pod => ({
  metadata: { name, namespace: 'shop', uid: `uid-${name}`, labels: { app: 'web' }, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-5d4', uid: 'rs-1', controller: true }] },
  spec: { nodeName: node, containers: [{ name: 'web', image: 'x' }] },
  status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] },
});
const pods = [pod('web-a', 'n1'), pod('web-b', 'n1'), pod('web-c', 'n2')];
const view: ClusterView = {
  namespace: (name) => (name === 'shop' || name === 'kube-system' ? { metadata: { name } } : undefined),
  podsIn: (ns) => (ns === 'shop' ? pods : []),
  pod: (ns, name) => pods.find((p) => p.metadata.namespace === ns && p.metadata.name === name),
  nodeLabels: () => new Map(),
    nodeMemoryBytes: () => undefined,
};
const survey: FleetSurvey = {
  version: 1, controller: 'c', observedAt: '2026-12-01T00:00:00Z', intervalSeconds: 30, certificates: {},
  nodes: ['n1', 'n2'].map((node) => ({
    node, daemonPod: `d-${node}`, reachable: true, apiVersion: 2, faultKinds: ['container-kill', 'container-freeze', 'network'], runtimes: [],
    network: { netem: node === 'n2', tbf: true, htb: true, u32: true, ingressRedirect: true, ifb: true, nftables: true, ipset: true, iptablesBackend: 'nft', cgroup: 'v1' },
    journalDamage: [], injections: [],
  })),
};

function input(chaos: PodChaos | NetworkChaos, overrides: Partial<PlanInput> = {}): PlanInput {
  return {
    chaos, policy: { safety: { protectedNamespaces: new Set(['kube-system', 'kerris-system']), requireOptIn: false }, maxTargets: 1000, source: 'test' },
    view, pods, workloadOf: new Map([['rs-1', { kind: 'Deployment', name: 'web', uid: 'd-1' }]]),
    budgets: [{ metadata: { name: 'web', namespace: 'shop' }, spec: { selector: { matchLabels: { app: 'web' } } }, status: { disruptionsAllowed: 1, currentHealthy: 3, desiredHealthy: 2, expectedPods: 3 } }],
    survey: { value: survey }, access: [{ verb: 'delete', resource: 'pods', namespace: 'shop', allowed: true }], admission: { accepted: true }, seed: 7, notes: [],
    ...overrides,
  };
}
const podChaos = (spec: Partial<PodChaos['spec']>): PodChaos => ({
  apiVersion: 'chaos.kerris.dev/v1alpha1', kind: 'PodChaos', metadata: { name: 'kill', namespace: 'shop' },
  spec: { action: 'pod-kill', mode: 'fixed', value: '1', selector: { labelSelectors: { app: 'web' } }, ...spec },
});

describe('the blast radius of a plan', () => {
  it('flags killing 2 of 3 replicas under a PDB of minAvailable 2 as breaking it, and passes 1', () => {
    const two = planBlastRadius(input(podChaos({ value: '2' })));
    assert.equal(two.safe, false);
    assert.deepEqual(two.budgets.map((b) => [b.name, b.hit, b.disruptionsAllowed, b.breaks]), [['web', 2, 1, true]]);
    assert.ok(two.findings.some((f) => f.severity === 'unsafe' && /PodDisruptionBudget shop\/web allows 1 disruption/.test(f.message)));
    assert.deepEqual(two.workloads, [{ namespace: 'shop', workload: 'Deployment/web', ready: 3, hit: 2, share: 2 / 3 }]);
    const one = planBlastRadius(input(podChaos({ value: '1' })));
    assert.equal(one.safe, true, JSON.stringify(one.findings));
    assert.equal(one.targets.length, 1);
    assert.equal(one.budgets[0]?.breaks, false);
  });

  it('picks what the controller picks for the same seed, and says the pick may differ without spec.seed', () => {
    const a = planBlastRadius(input(podChaos({ value: '2' })));
    const b = planBlastRadius(input(podChaos({ value: '2' })));
    assert.deepEqual(a.targets, b.targets);
    assert.ok(a.findings.some((f) => f.severity === 'note' && /set spec.seed: 7/.test(f.message)));
    assert.equal(planBlastRadius(input(podChaos({ seed: 7 }))).findings.some((f) => /spec.seed/.test(f.message)), false);
  });

  it('is unsafe when every ready replica is hit, the requester lacks access, the apiserver refuses, or nothing matches', () => {
    assert.ok(planBlastRadius(input(podChaos({ mode: 'all' }), { budgets: [] })).findings.some((f) => f.severity === 'unsafe' && /every ready replica of shop\/Deployment\/web/.test(f.message)));
    assert.equal(planBlastRadius(input(podChaos({}), { access: [{ verb: 'delete', resource: 'pods', namespace: 'shop', allowed: false }] })).safe, false);
    assert.equal(planBlastRadius(input(podChaos({}), { admission: { accepted: false, message: 'spec.value: invalid' } })).safe, false);
    const none = planBlastRadius(input(podChaos({ selector: { labelSelectors: { app: 'nothing' } } })));
    assert.equal(none.safe, false);
    assert.deepEqual(none.targets, []);
  });

  it('refuses a protected namespace with the reason, never picking there', () => {
    const plan = planBlastRadius(input(podChaos({ selector: { namespaces: ['kube-system'] } })));
    assert.equal(plan.targets.length, 0);
    assert.ok(plan.findings.some((f) => /namespace kube-system is protected/.test(f.message)));
  });

  it('judges each node by the daemon\'s own rules: a delay is refused on the node without sch_netem only', () => {
    const chaos: NetworkChaos = {
      apiVersion: 'chaos.kerris.dev/v1alpha1', kind: 'NetworkChaos', metadata: { name: 'slow', namespace: 'shop' },
      spec: { action: 'delay', mode: 'all', selector: { labelSelectors: { app: 'web' } }, delay: { latency: '100ms' } },
    };
    const plan = planBlastRadius(input(chaos, { budgets: [] }));
    assert.deepEqual(plan.nodes.map((n) => [n.node, n.ready]), [['n1', false], ['n2', true]]);
    assert.match(plan.nodes[0]?.reasons.join() ?? '', /kernel has no sch_netem: delay unavailable on node n1/);
    assert.equal(plan.safe, false);
    const partition = planBlastRadius(input({ ...chaos, spec: { ...chaos.spec, action: 'partition', mode: 'one' } }, { budgets: [] }));
    assert.ok(partition.nodes.every((n) => n.ready), 'nftables is enough for a partition');
  });
});
