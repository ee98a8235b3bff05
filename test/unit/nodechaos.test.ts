// NodeChaos's pure parts: the node pick and its protected rules, the node changes and their exact undo, which pods a
// drain evicts, what an eviction's answer means, and where evicted pods' replacements went.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chaosApi } from '../../src/api/group.ts';
import { ApiError } from '../../src/kube/errors.ts';
import type { Pod } from '../../src/kube/types.ts';
import { controllerNodes } from '../../src/controller/nodechaos/kind.ts';
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
