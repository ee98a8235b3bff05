// NodeChaos's pure parts: the node pick and its protected rules, the node changes and their exact undo, which pods a
// drain evicts, what an eviction's answer means, and where evicted pods' replacements went.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chaosApi } from '../../src/api/group.ts';
import { ApiError } from '../../src/kube/errors.ts';
import type { Pod } from '../../src/kube/types.ts';
import { controllerNodes, controllerPodAddresses } from '../../src/controller/nodechaos/kind.ts';
import { describeNodeNetwork, nodeNetworkFaults } from '../../src/controller/nodechaos/node-network.ts';
import { nodeRebootFault, REBOOT_WAIT_MS } from '../../src/controller/nodechaos/node-reboot.ts';
import type { NodeChaos } from '../../src/api/generated/types.ts';
import type { DaemonFleet } from '../../src/controller/daemons/fleet.ts';
import type { TargetRecord } from '../../src/controller/engine/experiment.ts';
import type { ClusterView } from '../../src/controller/targets/cluster-view.ts';
import { Store } from '../../src/runtime/store.ts';
import { Direction } from '../../src/daemon/client.ts';
import { evictionOutcome, HELD_ANNOTATION, heldRecord, keptOnDrain, planApply, planUndo, withReplacements, type NodeObject } from '../../src/controller/nodechaos/node-changes.ts';
import { maxNodes, pickNodes, type CandidateNode } from '../../src/controller/nodechaos/node-selection.ts';

const node = (name: string, labels: Record<string, string> = {}): CandidateNode => ({ namespace: '', name, uid: `uid-${name}`, labels });
const cluster = [node('a', { pool: 'x' }), node('b', { pool: 'x' }), node('c', { pool: 'y' }), node('d', { pool: 'x' }), node('e'), node('f')];
const policy = { allowControllerNode: false, maxNodeSharePercent: 34 };
const none = new Map<string, string[]>();

describe('NodeChaos node pick', () => {
  it('has names no other kind uses: the apiserver refuses to serve a CRD whose short name is taken', () => {
    const names = chaosApi.kinds.flatMap((k) => [...new Set([k.plural, k.singular, ...k.shortNames])]);
    assert.deepEqual(names.filter((n, i) => names.indexOf(n) !== i), []);
  });

  it('picks among the named and labelled nodes with the seed, the same whatever order the cache lists them in', () => {
    const spec = { selector: { nodeSelectors: { pool: 'x' } }, mode: 'one' as const };
    const first = pickNodes(cluster, spec, none, policy, 7).picked.map((n) => n.name);
    assert.deepEqual(pickNodes([...cluster].reverse(), spec, none, policy, 7).picked.map((n) => n.name), first);
    assert.equal(first.length, 1);
    assert.ok(['a', 'b', 'd'].includes(first[0] ?? ''));
    assert.deepEqual(pickNodes(cluster, { selector: { nodes: ['c', 'e'], nodeSelectors: { pool: 'y' } }, mode: 'all' }, none, policy, 1).picked.map((n) => n.name), ['c']);
  });

  it('never more than the share of the cluster (at least one node): a larger pick is refused whole', () => {
    assert.equal(maxNodes(6, 34), 2);
    assert.equal(maxNodes(2, 34), 1);
    assert.equal(maxNodes(1, 1), 1);
    const pick = pickNodes(cluster, { selector: { nodeSelectors: { pool: 'x' } }, mode: 'all' }, none, policy, 1);
    assert.deepEqual(pick.picked, []);
    assert.equal(pick.refusal?.reason, 'TooManyNodes');
    assert.match(pick.refusal?.message ?? '', /takes 3 of the cluster's 6 nodes, more than the 2 one experiment may hit \(the controller's --max-node-share 34%\)/);
    assert.equal(pickNodes(cluster, { selector: { nodeSelectors: { pool: 'x' } }, mode: 'fixed', value: '2' }, none, policy, 1).picked.length, 2);
  });

  it('leaves out the node running every Ready controller replica, unless the spec or the flag allows it', () => {
    const controller = new Map([['a', ['kerris-system/kerris-controller-1', 'kerris-system/kerris-controller-2']]]);
    const only = pickNodes(cluster, { selector: { nodes: ['a'] }, mode: 'one' }, controller, policy, 1);
    assert.equal(only.refusal?.reason, 'ControllerNode');
    assert.equal(only.refusal?.message, 'node a runs every Ready kerris controller replica (kerris-system/kerris-controller-1, kerris-system/kerris-controller-2); set spec.allowControllerNode: true to allow it');
    const others = pickNodes(cluster, { selector: { nodes: ['a', 'b'] }, mode: 'one' }, controller, policy, 1);
    assert.deepEqual(others.picked.map((n) => n.name), ['b']);
    assert.equal(others.notes.length, 1, 'the refusal is noted');
    assert.deepEqual(pickNodes(cluster, { selector: { nodes: ['a'] }, mode: 'one', allowControllerNode: true }, controller, policy, 1).picked.map((n) => n.name), ['a']);
    assert.deepEqual(pickNodes(cluster, { selector: { nodes: ['a'] }, mode: 'one' }, controller, { ...policy, allowControllerNode: true }, 1).picked.map((n) => n.name), ['a']);
  });

  it('refuses a pick of every node that runs a replica when they are spread', () => {
    const spread = new Map([['a', ['ns/c1']], ['b', ['ns/c2']]]);
    const pick = pickNodes(cluster, { selector: { nodes: ['a', 'b'] }, mode: 'all' }, spread, { ...policy, maxNodeSharePercent: 100 }, 1);
    assert.equal(pick.refusal?.reason, 'ControllerNodes');
    assert.deepEqual(pickNodes(cluster, { selector: { nodes: ['a', 'b'] }, mode: 'one' }, spread, policy, 1).picked.length, 1);
  });

  it('counts only Ready, live controller pods with the controller\'s labels in its namespace', () => {
    const pod = (name: string, nodeName: string, ready: boolean, extra: Partial<Pod['metadata']> = {}): Pod => ({
      metadata: { name, namespace: 'kerris-system', labels: { 'app.kubernetes.io/name': 'kerris', 'app.kubernetes.io/component': 'controller' }, ...extra },
      spec: { nodeName, containers: [] }, status: { conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
    });
    const found = controllerNodes([pod('c1', 'a', true), pod('c2', 'b', false), pod('c3', 'c', true, { deletionTimestamp: 'x' }), pod('c4', 'd', true, { labels: { app: 'other' } })], 'kerris-system');
    assert.deepEqual([...found], [['a', ['kerris-system/c1']]]);
  });
});

const nodeObject = (extra: { unschedulable?: boolean; taints?: { key: string; value?: string; effect: string }[]; annotations?: Record<string, string> } = {}): NodeObject => ({
  metadata: { name: 'n1', uid: 'node-uid', resourceVersion: '42', ...(extra.annotations ? { annotations: extra.annotations } : {}) },
  spec: { ...(extra.unschedulable !== undefined ? { unschedulable: extra.unschedulable } : {}), ...(extra.taints ? { taints: extra.taints } : {}) },
});
const experiment = { uid: 'chaos-uid', name: 'demo/drain' };
/** The node as the apiserver would have it after a JSON merge patch (RFC 7386) of the parts NodeChaos writes. */
function patched(n: NodeObject, patch: { metadata: { annotations: Record<string, string | null> }; spec?: { unschedulable?: boolean | null; taints?: { key: string; value?: string; effect: string }[] } }): NodeObject {
  const annotations = { ...n.metadata.annotations };
  for (const [k, v] of Object.entries(patch.metadata.annotations)) if (v === null) delete annotations[k]; else annotations[k] = v;
  const spec = { ...n.spec };
  if (patch.spec?.unschedulable === null) delete spec.unschedulable; else if (patch.spec?.unschedulable !== undefined) spec.unschedulable = patch.spec.unschedulable;
  if (patch.spec?.taints !== undefined) spec.taints = patch.spec.taints;
  return { metadata: { ...n.metadata, annotations }, spec };
}
const normal = (n: NodeObject) => ({ unschedulable: n.spec?.unschedulable === true, taints: n.spec?.taints ?? [], held: n.metadata.annotations?.[HELD_ANNOTATION] });

describe('NodeChaos node changes and their undo', () => {
  it('drain: cordons a schedulable node and the undo uncordons it; the record rides in the same patch, guarded by resourceVersion', () => {
    const before = nodeObject();
    const plan = planApply(before, experiment, 'node-drain', undefined);
    assert.equal(plan.kind, 'patch');
    if (plan.kind !== 'patch') return;
    assert.equal(plan.patch.metadata.resourceVersion, '42');
    const during = patched(before, plan.patch);
    assert.equal(during.spec?.unschedulable, true);
    assert.deepEqual(heldRecord(during), { uid: 'chaos-uid', experiment: 'demo/drain', cordoned: true });
    assert.equal(planApply(during, experiment, 'node-drain', undefined).kind, 'done', 'applying again after a restart changes nothing');
    const undo = planUndo(during, 'chaos-uid');
    assert.ok(undo);
    assert.deepEqual(normal(patched(during, undo)), normal(before));
    assert.equal(planUndo(patched(during, undo), 'chaos-uid'), undefined, 'the undo is done once; again it has nothing to do');
  });

  it('drain of a node cordoned before: it stays cordoned', () => {
    const before = nodeObject({ unschedulable: true });
    const plan = planApply(before, experiment, 'node-drain', undefined);
    assert.equal(plan.kind, 'patch');
    if (plan.kind !== 'patch') return;
    assert.equal(plan.wasUnschedulable, true);
    assert.equal(plan.patch.spec, undefined, 'nothing of the spec is written');
    const after = patched(patched(before, plan.patch), planUndo(patched(before, plan.patch), 'chaos-uid') ?? assert.fail('no undo'));
    assert.deepEqual(normal(after), normal(before));
  });

  it('taint: adds exactly its taint and removes exactly it, leaving the others; a same key and effect already there is refused', () => {
    const others = [{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }, { key: 'example.com/chaos', value: 'x', effect: 'NoExecute' }];
    const before = nodeObject({ taints: others });
    const taint = { key: 'example.com/chaos', value: 'on', effect: 'NoSchedule' as const };
    const plan = planApply(before, experiment, 'node-taint', taint);
    assert.equal(plan.kind, 'patch');
    if (plan.kind !== 'patch') return;
    const during = patched(before, plan.patch);
    assert.deepEqual(during.spec?.taints, [...others, { key: 'example.com/chaos', value: 'on', effect: 'NoSchedule' }]);
    assert.deepEqual(normal(patched(during, planUndo(during, 'chaos-uid') ?? assert.fail('no undo'))), normal(before));
    const clash = planApply(nodeObject({ taints: [{ key: 'example.com/chaos', effect: 'NoSchedule' }] }), experiment, 'node-taint', taint);
    assert.equal(clash.kind, 'refused');
    assert.match(clash.kind === 'refused' ? clash.message : '', /already has a taint example.com\/chaos:NoSchedule that kerris did not add/);
  });

  it('a node held by another experiment is refused, and its record is never undone by this one', () => {
    const held = nodeObject({ unschedulable: true, annotations: { [HELD_ANNOTATION]: JSON.stringify({ uid: 'other', experiment: 'ops/other', cordoned: true }) } });
    const plan = planApply(held, experiment, 'node-drain', undefined);
    assert.deepEqual(plan, { kind: 'refused', message: 'node n1 is held by ops/other; one NodeChaos at a time per node' });
    assert.equal(planUndo(held, 'chaos-uid'), undefined);
  });
});

const pod = (name: string, extra: { owner?: { kind: string; uid: string }; annotations?: Record<string, string>; terminating?: boolean; namespace?: string; created?: string; nodeName?: string; uid?: string } = {}): Pod => ({
  metadata: {
    name, namespace: extra.namespace ?? 'app', uid: extra.uid ?? `uid-${name}`, creationTimestamp: extra.created ?? '2026-01-01T00:00:10Z',
    ...(extra.owner ? { ownerReferences: [{ apiVersion: 'apps/v1', kind: extra.owner.kind, name: 'o', uid: extra.owner.uid, controller: true }] } : {}),
    ...(extra.annotations ? { annotations: extra.annotations } : {}),
    ...(extra.terminating ? { deletionTimestamp: '2026-01-01T00:00:00Z' } : {}),
  },
  spec: { containers: [], ...(extra.nodeName ? { nodeName: extra.nodeName } : {}) },
});

describe('NodeChaos drain', () => {
  it('evicts every pod but DaemonSet, mirror, terminating and protected-namespace pods', () => {
    const protectedNs = new Set(['kube-system']);
    assert.equal(keptOnDrain(pod('web', { owner: { kind: 'ReplicaSet', uid: 'rs' } }), protectedNs), undefined);
    assert.equal(keptOnDrain(pod('bare'), protectedNs), undefined);
    assert.equal(keptOnDrain(pod('ds', { owner: { kind: 'DaemonSet', uid: 'ds' } }), protectedNs), 'a DaemonSet pod');
    assert.equal(keptOnDrain(pod('static', { annotations: { 'kubernetes.io/config.mirror': 'x' } }), protectedNs), 'a mirror (static) pod');
    assert.equal(keptOnDrain(pod('going', { terminating: true }), protectedNs), 'terminating');
    assert.equal(keptOnDrain(pod('dns', { namespace: 'kube-system' }), protectedNs), 'in a protected namespace');
  });

  it('reads an eviction\'s answer: accepted, gone, refused by a budget (retried later), or failed', () => {
    assert.deepEqual(evictionOutcome(undefined), { kind: 'evicted' });
    assert.deepEqual(evictionOutcome(new ApiError(404, 'NotFound', 'pods "x" not found')), { kind: 'gone' });
    assert.deepEqual(evictionOutcome(new ApiError(409, 'Conflict', 'uid precondition')), { kind: 'gone' });
    const refused = evictionOutcome(new ApiError(429, 'TooManyRequests', 'Cannot evict pod as it would violate the pod\'s disruption budget.'));
    assert.equal(refused.kind, 'refused');
    assert.equal(evictionOutcome(new ApiError(500, 'InternalError', 'This pod has more than one PodDisruptionBudget')).kind, 'failed');
  });

  it('finds each evicted pod\'s replacement (same owner, created since, claimed once) and its node once scheduled', () => {
    const evicted = [
      { namespace: 'app', name: 'web-1', uid: 'u1', ownerUid: 'rs', evictedAt: '2026-01-01T00:00:05Z' },
      { namespace: 'app', name: 'web-2', uid: 'u2', ownerUid: 'rs', evictedAt: '2026-01-01T00:00:20Z' },
      { namespace: 'app', name: 'bare', uid: 'u3', evictedAt: '2026-01-01T00:00:05Z' },
    ];
    const live = [
      pod('web-1', { owner: { kind: 'ReplicaSet', uid: 'rs' }, uid: 'u1', terminating: true }),
      pod('web-old', { owner: { kind: 'ReplicaSet', uid: 'rs' }, created: '2025-12-31T00:00:00Z', nodeName: 'n2' }),
      pod('web-new', { owner: { kind: 'ReplicaSet', uid: 'rs' }, created: '2026-01-01T00:00:06Z', nodeName: 'n2' }),
    ];
    const found = withReplacements(evicted, live);
    assert.deepEqual(found.map((e) => [e.name, e.replacedBy, e.replacementNode]), [['web-1', 'web-new', 'n2'], ['web-2', undefined, undefined], ['bare', undefined, undefined]]);
    const later = withReplacements(found, [...live, pod('web-newer', { owner: { kind: 'ReplicaSet', uid: 'rs' }, created: '2026-01-01T00:00:21Z' })]);
    assert.deepEqual(later.map((e) => e.replacedBy), ['web-new', 'web-newer', undefined], 'one new pod never stands in for two');
    assert.equal(later[1]?.replacementNode, undefined, 'not scheduled yet');
  });
});

describe('NodeChaos node-network: the daemon faults, their wording and the lease path', () => {
  const pod = (name: string, ips: string[], extra: Partial<Pod['metadata']> = {}, labels: Record<string, string> = { 'app.kubernetes.io/name': 'kerris', 'app.kubernetes.io/component': 'controller' }): Pod => ({
    metadata: { name, namespace: 'kerris-system', labels, ...extra },
    status: { ...(ips[0] === undefined ? {} : { podIP: ips[0] }), podIPs: ips.map((ip) => ({ ip })) },
  });

  it('scopes every action by direction (both by default), device, peers and the exceptions', () => {
    assert.deepEqual(nodeNetworkFaults({ action: 'partition' }, []), [
      { scope: { direction: Direction.BOTH, cidrs: [], exceptCidrs: [] }, action: { case: 'partition', value: {} } },
    ]);
    assert.deepEqual(nodeNetworkFaults({ action: 'delay', direction: 'to', device: 'eth1', externalTargets: ['10.0.0.0/8'], delay: { latency: '100ms', jitter: '10ms' } }, ['10.244.0.7']), [
      { scope: { direction: Direction.EGRESS, device: 'eth1', cidrs: ['10.0.0.0/8'], exceptCidrs: ['10.244.0.7'] }, action: { case: 'delay', value: { latency: '100ms', jitter: '10ms' } } },
    ]);
    assert.deepEqual(nodeNetworkFaults({ action: 'loss', direction: 'from', loss: { loss: '20', correlation: '5' } }, []).map((f) => [f.scope?.direction, f.action]), [
      [Direction.INGRESS, { case: 'loss', value: { loss: '20', correlation: '5' } }],
    ]);
  });

  it('says what was put on the node, naming the exceptions only when the lease path is kept', () => {
    assert.equal(describeNodeNetwork({ action: 'partition' }, []), 'partition, both ways, on the default-route interfaces, with every peer');
    assert.equal(describeNodeNetwork({ action: 'partition', keepDaemonLease: true }, ['10.244.0.7', '10.244.0.9']), "partition, both ways, on the default-route interfaces, with every peer, except the kerris controller's pods (10.244.0.7, 10.244.0.9)");
    assert.equal(describeNodeNetwork({ action: 'loss', loss: { loss: '20' }, device: 'eth0', externalTargets: ['10.1.0.0/16'] }, []), 'loss 20%, both ways, on eth0, with 10.1.0.0/16');
    assert.equal(describeNodeNetwork({ action: 'loss', loss: { loss: '20%' } }, []), 'loss 20%, both ways, on the default-route interfaces, with every peer');
    assert.equal(describeNodeNetwork({ action: 'delay', direction: 'to', delay: { latency: '100ms', jitter: '10ms' } }, []), 'delay 100ms ± 10ms, outgoing, on the default-route interfaces, with every peer');
  });

  it('keeps the lease path of every controller replica with an address, leader or not, and of nothing else', () => {
    const pods = [
      pod('kerris-controller-a', ['10.244.0.9', 'fd00::9']),
      pod('kerris-controller-b', ['10.244.0.7']),
      pod('kerris-controller-c', [], {}),
      pod('kerris-controller-old', ['10.244.0.5'], { deletionTimestamp: '2026-12-01T12:00:00Z' }),
      pod('kerris-daemon-x', ['10.244.0.6'], {}, { 'app.kubernetes.io/name': 'kerris', 'app.kubernetes.io/component': 'daemon' }),
      { ...pod('elsewhere', ['10.244.0.8']), metadata: { ...pod('elsewhere', []).metadata, namespace: 'other' } },
    ];
    assert.deepEqual(controllerPodAddresses(pods, 'kerris-system'), ['10.244.0.7', '10.244.0.9', 'fd00::9']);
  });
});

describe('NodeChaos node-reboot: a requested node is rebooted once it reports a new boot, and recovered once Ready', () => {
  const nodeWith = (bootID: string, ready: boolean): NodeObject => ({
    metadata: { name: 'n1', uid: 'uid-n1' },
    status: { nodeInfo: { bootID }, conditions: [{ type: 'Ready', status: ready ? 'True' : 'False', lastTransitionTime: '2026-12-01T12:00:30Z' }] },
  });
  const chaos = { metadata: { name: 'r', namespace: 'ns', uid: 'c-1' }, spec: { action: 'node-reboot', mode: 'one', selector: { nodes: ['n1'] }, duration: '5m' } } as NodeChaos;
  const requested: TargetRecord = { namespace: '', name: 'n1', uid: 'uid-n1', node: 'n1', phase: 'Injected', injectedAt: '2026-12-01T12:00:00Z', nodeFault: { bootIdBefore: 'boot-a' } };
  const observe = (node: NodeObject, at: string): TargetRecord | undefined => {
    const nodes = new Store<NodeObject>();
    nodes.upsert(node);
    // observe reads only the node cache and the clock: the daemons are not asked.
    const fault = nodeRebootFault({ fleet: undefined as unknown as DaemonFleet, view: undefined as unknown as ClusterView, nodes, now: () => new Date(at) });
    return fault.observe(chaos, [requested])[0];
  };

  it('waits while the node still runs the boot it was asked to leave, and fails after REBOOT_WAIT_MS', () => {
    assert.deepEqual(observe(nodeWith('boot-a', true), '2026-12-01T12:01:00Z')?.phase, 'Injected');
    const late = observe(nodeWith('boot-a', true), new Date(Date.parse('2026-12-01T12:00:00Z') + REBOOT_WAIT_MS).toISOString());
    assert.equal(late?.phase, 'Failed');
    assert.match(late?.message ?? '', /did not reboot within 10 minutes of the request \(still boot boot-a\)/);
  });

  it('records the new boot when the node reports it, and recovers the target once the node is Ready on it', () => {
    const rebooted = observe(nodeWith('boot-b', false), '2026-12-01T12:01:00Z');
    assert.equal(rebooted?.phase, 'Injected');
    assert.deepEqual([rebooted?.nodeFault?.bootIdAfter, rebooted?.nodeFault?.rebootedAt, rebooted?.nodeFault?.notReadyAt], ['boot-b', '2026-12-01T12:01:00Z', '2026-12-01T12:00:30Z']);
    assert.match(rebooted?.message ?? '', /waiting for the node to be Ready again/);
    const back = observe(nodeWith('boot-b', true), '2026-12-01T12:02:00Z');
    assert.equal(back?.phase, 'Recovered');
    assert.equal(back?.message, 'rebooted (boot boot-a → boot-b) and Ready again');
  });
});
