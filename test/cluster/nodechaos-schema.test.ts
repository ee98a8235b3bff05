/**
 * The NodeChaos CRD against a real kube-apiserver: the examples and well-formed specs apply, bad actions, taints,
 * durations, modes and selectors are rejected by the apiserver itself with the messages docs/api.md promises, the
 * spec is fixed but `paused`, status takes the per-node record, and the requester-access policy asks, cluster-wide,
 * for what `kubectl drain` and `kubectl taint` need, and for kubelet-stop and node-network what making a node NotReady
 * by hand needs.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { repoRoot } from '../../src/api/generate.ts';
import { nodeChaosResource, type NodeChaos, type NodeFaultRecord } from '../../src/api/generated/types.ts';
import { controlPlane, type ControlPlane } from '../testbed/index.ts';
import { crdFixtures } from './crd-fixtures.ts';
import { kubectl, kubectlJson } from '../testbed/kubectl.ts';
import { until } from '../testbed/kube-fixtures.ts';

const suffix = randomBytes(3).toString('hex');
const namespace = `ndc-schema-${suffix}`;
const resource = `${nodeChaosResource.plural}.${nodeChaosResource.group}`;
let plane: ControlPlane;

const { create, rejected, accepted, install } = crdFixtures(() => plane, nodeChaosResource, namespace);

const drain = { action: 'node-drain', mode: 'one', selector: { nodes: ['node-a', 'node-b'] }, duration: '2m' } as const;
const taint = { ...drain, action: 'node-taint', taint: { key: 'example.com/chaos', value: 'game-day', effect: 'NoSchedule' } } as const;
const kubeletStop = { ...drain, action: 'kubelet-stop', duration: '60s' } as const;
const nodeNetwork = { ...drain, action: 'node-network', network: { action: 'partition' }, duration: '60s' } as const;

describe('NodeChaos validation by the apiserver', { timeout: 300_000 }, () => {
  before(async () => {
    plane = await controlPlane();
    await install();
    await kubectl(plane, ['create', 'namespace', namespace]);
  });

  after(async () => {
    if (!plane) return;
    await kubectl(plane, ['delete', 'namespace', namespace, '--ignore-not-found', '--wait=true', '--timeout=120s'], { timeoutMs: 130_000 });
  });

  it('accepts every NodeChaos example in examples/', async () => {
    const files = (await readdir(join(repoRoot, 'examples'))).filter((f) => f.startsWith('nodechaos-') && f.endsWith('.yaml'));
    assert.deepEqual(files.sort(), ['nodechaos-drain.yaml', 'nodechaos-kubelet-stop.yaml', 'nodechaos-node-network.yaml', 'nodechaos-node-reboot.yaml', 'nodechaos-taint.yaml']);
    for (const file of files) {
      const text = await readFile(join(repoRoot, 'examples', file), 'utf8');
      assert.ok(text.includes('kind: NodeChaos\n'), file);
      const result = await kubectl(plane, ['create', '--dry-run=server', '-n', namespace, '-f', '-'], { input: text.replace(/namespace: demo\n/, `namespace: ${namespace}\n`), allowFailure: true });
      assert.equal(result.code, 0, `${file}: ${result.stderr}`);
    }
  });

  it('accepts drains, taints and kubelet stops by name or labels, with every mode and taint effect', async () => {
    await accepted(kubeletStop);
    await accepted({ ...kubeletStop, selector: { nodeSelectors: { 'kubernetes.io/hostname': 'node-a' } }, allowControllerNode: true });
    await accepted(drain);
    await accepted({ ...drain, selector: { nodeSelectors: { 'node-role.kubernetes.io/worker': '' } }, mode: 'all', allowControllerNode: true, dryRun: true, seed: 7 });
    await accepted({ ...drain, selector: { nodes: ['node-a'], nodeSelectors: { zone: 'a' } }, mode: 'fixed', value: '2' });
    await accepted({ ...drain, mode: 'fixed-percent', value: '100' });
    await accepted({ ...drain, mode: 'random-max-percent', value: '1' });
    for (const effect of ['NoSchedule', 'PreferNoSchedule', 'NoExecute']) await accepted({ ...taint, taint: { key: 'chaos', effect } });
    await accepted({ ...taint, taint: { key: 'example.com/chaos', value: '', effect: 'NoExecute' } });
  });

  it('refuses an unknown action, and ties taint to node-taint', async () => {
    await rejected({ ...drain, action: 'node-restart' }, 'spec.action: Unsupported value: "node-restart"', '"node-drain"', '"node-taint"', '"kubelet-stop"', '"node-network"', '"node-reboot"');
    await accepted({ ...drain, action: 'node-reboot' });
    await rejected({ ...drain, action: 'node-reboot', taint: taint.taint }, 'spec.taint: Forbidden: taint applies only to action node-taint; remove it for node-reboot');
    await rejected({ ...kubeletStop, taint: taint.taint }, 'spec.taint: Forbidden: taint applies only to action node-taint; remove it for kubelet-stop');
    await rejected({ ...drain, action: 'node-taint' }, 'spec.taint: Required value: taint is required when action is node-taint');
    await rejected({ ...drain, taint: taint.taint }, 'spec.taint: Forbidden: taint applies only to action node-taint; remove it for node-drain');
  });

  it('accepts node-network delay, loss and partition, scoped by device, direction and peers, with the lease path kept', async () => {
    await accepted(nodeNetwork);
    await accepted({ ...nodeNetwork, network: { action: 'partition', direction: 'from', device: 'eth0', externalTargets: ['10.0.0.0/8', '192.168.1.7', '2001:db8::/32'], keepDaemonLease: true } });
    await accepted({ ...nodeNetwork, network: { action: 'delay', delay: { latency: '100ms', jitter: '10ms', correlation: '25' } } });
    await accepted({ ...nodeNetwork, network: { action: 'loss', loss: { loss: '20%' }, direction: 'to' } });
  });

  it('ties network to node-network and each network field to its action, and checks peers and devices', async () => {
    await rejected({ ...drain, action: 'node-network' }, 'spec.network: Required value: network is required when action is node-network');
    await rejected({ ...drain, network: nodeNetwork.network }, 'spec.network: Forbidden: network applies only to action node-network; remove it for node-drain');
    await rejected({ ...nodeNetwork, network: { action: 'delay' } }, 'spec.network.delay: Required value: delay is required when network.action is delay');
    await rejected({ ...nodeNetwork, network: { action: 'loss' } }, 'spec.network.loss: Required value: loss is required when network.action is loss');
    await rejected({ ...nodeNetwork, network: { action: 'partition', delay: { latency: '10ms' } } }, 'spec.network.delay: Forbidden: delay applies only to network.action delay; remove it');
    await rejected({ ...nodeNetwork, network: { action: 'partition', loss: { loss: '5' } } }, 'spec.network.loss: Forbidden: loss applies only to network.action loss; remove it');
    await rejected({ ...nodeNetwork, network: { action: 'duplicate' } }, 'spec.network.action: Unsupported value: "duplicate"', '"delay"', '"loss"', '"partition"');
    await rejected({ ...nodeNetwork, network: { action: 'delay', delay: { latency: '61s' } } }, 'spec.network.delay.latency', 'must be at most 60s, got "61s"');
    await rejected({ ...nodeNetwork, network: { action: 'loss', loss: { loss: '101' } } }, 'spec.network.loss.loss', 'must be a percentage from 0 to 100');
    await rejected({ ...nodeNetwork, network: { action: 'partition', externalTargets: ['example.com'] } }, 'spec.network.externalTargets[0]', 'must be an IPv4 or IPv6 address or CIDR, got "example.com"');
    await rejected({ ...nodeNetwork, network: { action: 'partition', externalTargets: ['10.0.0.1/8'] } }, 'spec.network.externalTargets[0]', '"10.0.0.1/8" has host bits set beyond its prefix');
    await rejected({ ...nodeNetwork, network: { action: 'partition', externalTargets: Array.from({ length: 17 }, (_, i) => `10.0.0.${i}`) } }, 'spec.network.externalTargets: Too many: 17: must have at most 16 items');
    await rejected({ ...nodeNetwork, network: { action: 'partition', device: '-eth0' } }, 'spec.network.device', 'must be a network interface name such as eth0');
  });

  it('refuses a bad taint key, value or effect', async () => {
    await rejected({ ...taint, taint: { key: 'bad key!', effect: 'NoSchedule' } }, 'spec.taint.key');
    await rejected({ ...taint, taint: { key: 'Example.COM/chaos', effect: 'NoSchedule' } }, 'spec.taint.key');
    await rejected({ ...taint, taint: { key: '', effect: 'NoSchedule' } }, 'spec.taint.key');
    await rejected({ ...taint, taint: { key: 'chaos', value: 'two words', effect: 'NoSchedule' } }, 'spec.taint.value');
    await rejected({ ...taint, taint: { key: 'chaos', value: 'v'.repeat(64), effect: 'NoSchedule' } }, 'spec.taint.value', 'may not be more than 63');
    await rejected({ ...taint, taint: { key: 'chaos', effect: 'NoWay' } }, 'spec.taint.effect: Unsupported value: "NoWay"', '"NoSchedule"', '"PreferNoSchedule"', '"NoExecute"');
    await rejected({ ...taint, taint: { key: 'chaos' } }, 'spec.taint.effect: Required value');
  });

  it('needs a duration that ends, so every node fault ends on its own', async () => {
    const { duration: _, ...noDuration } = drain;
    await rejected(noDuration, 'spec.duration: Required value');
    await rejected({ ...drain, duration: '0s' }, 'spec.duration', 'must be longer than zero, e.g. 30s, 5m or 1h30m');
    await rejected({ ...drain, duration: '-5m' }, 'cannot be negative, got "-5m"; write e.g. 30s, 5m or 1h30m');
    await rejected({ ...drain, duration: 'soon' }, 'must be a Go duration such as 30s, 5m or 1h30m (units h, m, s, ms, us, ns), got "soon"');
    await rejected({ ...drain, duration: '721h' }, 'must be at most 720h (30 days), got "721h"; a longer or repeating experiment is a schedule');
  });

  it('ties value to mode, counting nodes', async () => {
    await rejected({ ...drain, mode: 'some' }, 'spec.mode: Unsupported value: "some"');
    await rejected({ ...drain, mode: 'fixed' }, 'spec.value: Required value: value is required when mode is fixed');
    await rejected({ ...drain, mode: 'fixed', value: '0' }, 'value must be a whole number of nodes from 1 to 999999 when mode is fixed, got "0"');
    await rejected({ ...drain, mode: 'fixed-percent', value: '101' }, 'value is a percentage when mode is fixed-percent: it must be a whole number from 1 to 100, got "101"');
    await rejected({ ...drain, mode: 'random-max-percent', value: '5%' }, 'value is a percentage when mode is random-max-percent: it must be a whole number from 1 to 100, got "5%"');
    await rejected({ ...drain, mode: 'all', value: '3' }, 'spec.value: Forbidden: value has no meaning when mode is all; remove it');
  });

  it('never picks among every node by default, and bounds the selector', async () => {
    const message = 'selector must name nodes or give nodeSelectors; a NodeChaos never picks among every node by default';
    await rejected({ ...drain, selector: {} }, 'spec.selector', message);
    await rejected({ ...drain, selector: { nodes: [], nodeSelectors: {} } }, message);
    const { selector: _, ...noSelector } = drain;
    await rejected(noSelector, 'spec.selector: Required value');
    await rejected({ ...drain, selector: { nodes: Array.from({ length: 129 }, (_, i) => `node-${i}`) } }, 'spec.selector.nodes: Too many: 129: must have at most 128 items');
    await rejected({ ...drain, selector: { nodes: ['Node_A'] } }, 'spec.selector.nodes[0]');
    await rejected({ ...drain, selector: { nodes: ['node-a', 'node-a'] } }, 'spec.selector.nodes[1]: Duplicate value: "node-a"');
    await rejected({ ...drain, selector: { nodeSelectors: { 'bad key!': 'x' } } }, 'spec.selector.nodeSelectors', 'nodeSelectors keys must be qualified names such as app or example.com/tier');
    await rejected({ ...drain, selector: { nodeSelectors: Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`k${i}`, 'v'])) } }, 'spec.selector.nodeSelectors: Too many: 33: must have at most 32 items');
    await rejected({ ...drain, seed: -1 }, 'spec.seed', 'should be greater than or equal to 0');
  });

  it('keeps the spec fixed but paused', async () => {
    const input = stringify({ apiVersion: nodeChaosResource.apiVersion, kind: nodeChaosResource.kind, metadata: { name: 'fixed', namespace }, spec: { ...taint, dryRun: true } });
    await kubectl(plane, ['create', '-f', '-'], { input });
    for (const [field, value] of Object.entries({ action: 'node-drain', selector: { nodes: ['node-c'] }, duration: '3m', taint: { key: 'other', effect: 'NoExecute' }, allowControllerNode: true })) {
      const changed = await kubectl(plane, ['patch', '-n', namespace, resource, 'fixed', '--type=merge', '-p', JSON.stringify({ spec: { [field]: value } })], { allowFailure: true });
      assert.notEqual(changed.code, 0, `spec.${field} changed`);
      assert.ok(changed.stderr.includes(`spec.${field} cannot change while the experiment exists; delete and recreate it`), changed.stderr);
    }
    await kubectl(plane, ['patch', '-n', namespace, resource, 'fixed', '--type=merge', '-p', '{"spec":{"paused":true}}']);
    const stored = await kubectlJson<NodeChaos>(plane, ['get', resource, 'fixed', '-n', namespace]);
    assert.equal(stored.spec.paused, true);
    assert.deepEqual(stored.spec.taint, taint.taint);
  });

  it('takes the per-node record in status, with node targets that have no namespace', async () => {
    const nodeFault: NodeFaultRecord = {
      wasUnschedulable: false,
      cordoned: true,
      notReadyAt: '2026-12-01T12:00:05Z',
      readyAt: '2026-12-01T12:00:40Z',
      evicted: [{ namespace: 'shop', name: 'web-7d9f-abcde', uid: 'p-1', ownerUid: 'rs-1', evictedAt: '2026-12-01T12:00:01Z', replacedBy: 'web-7d9f-fghij', replacementNode: 'node-b' }],
      evictedTruncated: 3,
      remaining: 1,
      refusals: 2,
      lastRefusal: 'Cannot evict pod as it would violate the pod\'s disruption budget.',
    };
    const tainted: NodeFaultRecord = { taint: { key: 'example.com/chaos', value: 'game-day', effect: 'NoSchedule' } };
    const rebooted: NodeFaultRecord = { bootIdBefore: '0b6a3c1e-8f1d-4d6e-9a51-3f0c2d9e7b11', bootIdAfter: '5d2e9f40-1c3b-4a7e-8e6f-2b9d0c4a1f22', rebootedAt: '2026-12-01T12:01:10Z' };
    const cutOff: NodeFaultRecord = { network: 'partition, both ways, on the default-route interfaces, with every peer', undoneAt: '2026-12-01T12:00:20Z', endedByNode: '2026-12-01T12:00:12Z' };
    const status = {
      phase: 'Running',
      targets: [
        { namespace: '', name: 'node-a', uid: 'n-1', phase: 'Injected', injectedAt: '2026-12-01T12:00:00Z', nodeFault },
        { namespace: '', name: 'node-b', uid: 'n-2', phase: 'Injected', nodeFault: tainted },
        { namespace: '', name: 'node-c', uid: 'n-3', phase: 'Recovered', nodeFault: cutOff },
        { namespace: '', name: 'node-d', uid: 'n-4', phase: 'Recovered', nodeFault: rebooted },
      ],
    };
    await kubectl(plane, ['patch', '-n', namespace, resource, 'fixed', '--subresource=status', '--type=merge', '-p', JSON.stringify({ status })]);
    const stored = await kubectlJson<NodeChaos>(plane, ['get', resource, 'fixed', '-n', namespace]);
    assert.deepEqual(stored.status?.targets?.map((t) => [t.namespace, t.name, t.nodeFault]), [['', 'node-a', nodeFault], ['', 'node-b', tainted], ['', 'node-c', cutOff], ['', 'node-d', rebooted]]);
    const bad = await kubectl(plane, ['patch', '-n', namespace, resource, 'fixed', '--subresource=status', '--type=merge', '-p', JSON.stringify({ status: { targets: [{ namespace: '', name: 'node-a', uid: 'n-1', phase: 'Injected', nodeFault: { refusals: -1 } }] } })], { allowFailure: true });
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /status\.targets\[0\]\.nodeFault\.refusals: Invalid value: -1: .*greater than or equal to 0/);
  });
});

describe('NodeChaos requester authorisation at admission (ValidatingAdmissionPolicy)', { timeout: 180_000 }, () => {
  const home = `ndc-home-${suffix}`;
  const user = `ndc-user-${suffix}`;
  const clusterRole = `kerris-test-ndc-user-${suffix}`;
  const binding = { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: clusterRole }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: clusterRole }, subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: user }] };

  /** The cluster-wide rights the user has, as a ClusterRole bound to them. */
  async function grant(rules: readonly { resources: string[]; verbs: string[] }[]): Promise<void> {
    const role = { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: clusterRole }, rules: rules.map((r) => ({ apiGroups: [''], ...r })) };
    await kubectl(plane, ['apply', '-f', '-'], { input: [role, binding].map((doc) => stringify(doc)).join('---\n') });
  }

  /**
   * Polls until admission refuses with `text` and no longer names what was `granted`: RBAC changes reach the
   * apiserver's admission a moment later.
   */
  async function refusedWith(text: string, ...granted: string[]): Promise<void> {
    await refusedFor(drain, `${text} cluster-wide, as this NodeChaos needs`, ...granted);
  }

  async function refusedFor(spec: Record<string, unknown>, message: string, ...granted: string[]): Promise<void> {
    let last = { code: 0, output: '' };
    const seen = (output: string) => output.includes(message) && granted.every((g) => !output.includes(g));
    await until(async () => seen((last = await create('access', spec, user, home)).output), 60_000, `the refusal "${message}"`, 250);
    assert.notEqual(last.code, 0);
    assert.ok(last.output.includes(`${message}; kerris does only what its requester could do by hand`), last.output);
  }

  before(async () => {
    plane = await controlPlane();
    await install({ admission: true });
    await kubectl(plane, ['create', 'namespace', home]);
    // The user may create NodeChaos in their namespace, and evict pods there only: not what a drain needs.
    await kubectl(plane, ['apply', '-f', '-'], { input: [
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'ndc-user', namespace: home }, rules: [
        { apiGroups: ['chaos.kerris.dev'], resources: ['nodechaos'], verbs: ['create', 'get'] },
        { apiGroups: [''], resources: ['pods/eviction'], verbs: ['create'] },
      ] },
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'ndc-user', namespace: home }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'ndc-user' }, subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: user }] },
    ].map((doc) => stringify(doc)).join('---\n') });
  });

  after(async () => {
    if (!plane) return;
    await kubectl(plane, ['delete', 'clusterrolebinding,clusterrole', clusterRole, '--ignore-not-found', '--wait=true']);
    await kubectl(plane, ['delete', 'namespace', home, '--ignore-not-found', '--wait=true', '--timeout=60s'], { timeoutMs: 70_000 });
    const left = await kubectl(plane, ['get', 'clusterrolebinding,clusterrole', '-o', 'name', '--ignore-not-found', clusterRole]);
    assert.equal(left.stdout.trim(), '', 'the test left its ClusterRole or ClusterRoleBinding behind');
  });

  it('asks for patch nodes, create pods/eviction and list nodes cluster-wide, naming what is missing, and admits once all are granted', async () => {
    await refusedWith('you may not patch nodes');
    await grant([{ resources: ['nodes'], verbs: ['patch'] }]);
    // Eviction granted in the user's own namespace is not enough: a drain evicts in whatever namespaces run on the node.
    await refusedWith('you may not create pods/eviction', 'you may not patch nodes');
    await grant([{ resources: ['nodes'], verbs: ['patch'] }, { resources: ['pods/eviction'], verbs: ['create'] }]);
    await refusedWith('you may not list nodes', 'you may not patch nodes', 'you may not create pods/eviction');
    await grant([{ resources: ['nodes'], verbs: ['patch', 'list'] }, { resources: ['pods/eviction'], verbs: ['create'] }]);
    let last = { code: 1, output: '' };
    await until(async () => (last = await create('access', drain, user, home)).code === 0, 60_000, 'admission once every cluster-wide right is granted', 250);
    assert.equal(last.code, 0, last.output);
    // The same rights taken back: refused again, so the admission above came from the grant, not from a policy gone.
    await grant([{ resources: ['nodes'], verbs: ['list'] }, { resources: ['pods/eviction'], verbs: ['create'] }]);
    await refusedWith('you may not patch nodes', 'you may not create pods/eviction', 'you may not list nodes');
  });

  it('asks kubelet-stop, and only kubelet-stop, for update nodes/status cluster-wide as well', async () => {
    const drainRights = [{ resources: ['nodes'], verbs: ['patch', 'list'] }, { resources: ['pods/eviction'], verbs: ['create'] }];
    await grant(drainRights);
    await refusedFor(kubeletStop, 'you may not update nodes/status cluster-wide, as this NodeChaos (kubelet-stop) needs', 'you may not patch nodes', 'you may not list nodes');
    // The same rights admit a drain: the check is the action's, not the kind's.
    let last = { code: 1, output: '' };
    await until(async () => (last = await create('access', drain, user, home)).code === 0, 60_000, 'a drain admitted without update nodes/status', 250);
    await grant([...drainRights, { resources: ['nodes/status'], verbs: ['update'] }]);
    await until(async () => (last = await create('access', kubeletStop, user, home)).code === 0, 60_000, 'kubelet-stop admitted once update nodes/status is granted', 250);
    assert.equal(last.code, 0, last.output);
  });

  it('asks node-reboot for update nodes/status and delete pods cluster-wide as well, naming node-reboot', async () => {
    const reboot = { ...drain, action: 'node-reboot' } as const;
    const drainRights = [{ resources: ['nodes'], verbs: ['patch', 'list'] }, { resources: ['pods/eviction'], verbs: ['create'] }];
    await grant(drainRights);
    await refusedFor(reboot, 'you may not update nodes/status cluster-wide, as this NodeChaos (node-reboot) needs', 'you may not patch nodes');
    await grant([...drainRights, { resources: ['nodes/status'], verbs: ['update'] }]);
    await refusedFor(reboot, 'you may not delete pods cluster-wide, as this NodeChaos (node-reboot) needs', 'you may not update nodes/status');
    await grant([...drainRights, { resources: ['nodes/status'], verbs: ['update'] }, { resources: ['pods'], verbs: ['delete'] }]);
    let last = { code: 1, output: '' };
    await until(async () => (last = await create('access', reboot, user, home)).code === 0, 60_000, 'node-reboot admitted once update nodes/status and delete pods are granted', 250);
    assert.equal(last.code, 0, last.output);
  });

  it('asks node-network for update nodes/status cluster-wide as well, naming node-network', async () => {
    const drainRights = [{ resources: ['nodes'], verbs: ['patch', 'list'] }, { resources: ['pods/eviction'], verbs: ['create'] }];
    await grant(drainRights);
    await refusedFor(nodeNetwork, 'you may not update nodes/status cluster-wide, as this NodeChaos (node-network) needs', 'you may not patch nodes', 'you may not list nodes');
    await grant([...drainRights, { resources: ['nodes/status'], verbs: ['update'] }]);
    let last = { code: 1, output: '' };
    await until(async () => (last = await create('access', nodeNetwork, user, home)).code === 0, 60_000, 'node-network admitted once update nodes/status is granted', 250);
    assert.equal(last.code, 0, last.output);
  });
});
