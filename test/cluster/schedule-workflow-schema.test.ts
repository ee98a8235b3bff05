/**
 * The Schedule and Workflow CRDs and the requester-access policy against a real kube-apiserver: Chaos Mesh's
 * documented Schedule and Workflow examples apply with only apiVersion changed, those embedding a kind kerris lacks
 * are refused with a message naming it, bad specs get the messages docs/api.md promises, and nobody gets through a
 * Schedule or a Workflow a fault they could not cause directly: not across namespaces, and not to nodes.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { parse, stringify } from 'yaml';
import { controlPlane, type ControlPlane } from '../testbed/index.ts';
import { until } from '../testbed/kube-fixtures.ts';
import { kubectl } from '../testbed/kubectl.ts';
import { REPO_ROOT } from '../testbed/paths.ts';

const suffix = randomBytes(3).toString('hex');
const home = `sw-home-${suffix}`;
const other = `sw-other-${suffix}`;
const user = `sw-user-${suffix}`;
/** May drain and taint nodes (patch and list nodes, evict pods) cluster-wide, but not write their status. */
const nodeUser = `sw-nodes-${suffix}`;
const nodeRole = `kerris-test-sw-nodes-${suffix}`;
let plane: ControlPlane;

const podKill = { action: 'pod-kill', mode: 'one', selector: { labelSelectors: { app: 'hello-kubernetes' } } };
const delay = { direction: 'to', action: 'delay', mode: 'all', selector: { labelSelectors: { app: 'hello-kubernetes' } }, delay: { latency: '90ms', correlation: '25', jitter: '90ms' } };
const stress = { mode: 'one', selector: { labelSelectors: { app: 'hello-kubernetes' } }, stressors: { cpu: { workers: 1, load: 20, options: ['--cpu 1', '--timeout 600'] } } };
/** The StressChaos of Chaos Mesh's "Simulate Stress Scenarios" page (memory-stress.yaml). */
const memoryStress = { mode: 'one', selector: { labelSelectors: { app: 'app1' } }, stressors: { memory: { workers: 4, size: '256MB' } } };
const OPTIONS_REFUSED = "options (raw stress-ng flags) are not supported: kerris runs only the CPU stressor's own fields, which it validates; remove them";

/**
 * Chaos Mesh's examples as published: the "Define Scheduling Rules" page and examples/schedule-podchaos.yaml,
 * the "Create Chaos Mesh Workflow" page and examples/workflow/{serial,parallel,status-check,custom-task}.yaml, and
 * the StressChaos page's spec as a Schedule's `stressChaos` (the scheduling page's rule: `type` and the kind's spec
 * under its lower-camel-case name). `refusedFor` names the kind kerris lacks that the example embeds; `refusedWith`,
 * a field kerris refuses in an example of a kind it has, which porting it drops.
 */
const examples: readonly { name: string; doc: Record<string, unknown>; refusedFor?: string; refusedWith?: { message: string; field: string } }[] = [
  { name: 'schedule-delay-example', doc: { kind: 'Schedule', spec: { schedule: '5 * * * *', historyLimit: 2, concurrencyPolicy: 'Allow', type: 'NetworkChaos', networkChaos: { action: 'delay', mode: 'one', selector: { namespaces: ['default'], labelSelectors: { app: 'web-show' } }, delay: { latency: '10ms', correlation: '100', jitter: '0ms' }, duration: '12s' } } } },
  { name: 'schedule-every-minute', doc: { kind: 'Schedule', spec: { schedule: '* * * * *', type: 'NetworkChaos', networkChaos: { action: 'delay', mode: 'one', selector: { namespaces: ['default'], labelSelectors: { app: 'web-show' } }, delay: { latency: '10ms' }, duration: '70s' } } } },
  { name: 'schedule-pod-kill', doc: { kind: 'Schedule', spec: { schedule: '@every 5s', type: 'PodChaos', historyLimit: 5, concurrencyPolicy: 'Forbid', podChaos: { action: 'pod-kill', mode: 'one', selector: { namespaces: ['chaos-testing'], labelSelectors: { app: 'hello-kubernetes' } } } } } },
  { name: 'schedule-stress', doc: { kind: 'Schedule', spec: { schedule: '@hourly', type: 'StressChaos', stressChaos: memoryStress } } },
  { name: 'try-workflow-serial', refusedWith: { message: OPTIONS_REFUSED, field: 'options' }, doc: { kind: 'Workflow', spec: { entry: 'the-entry', templates: [
    { name: 'the-entry', templateType: 'Serial', deadline: '240s', children: ['workflow-stress-chaos', 'prefix-suspending', 'workflow-network-chaos', 'suffix-suspending', 'workflow-pod-chaos'] },
    { name: 'prefix-suspending', templateType: 'Suspend', deadline: '10s' },
    { name: 'workflow-network-chaos', templateType: 'NetworkChaos', deadline: '20s', networkChaos: delay },
    { name: 'workflow-pod-chaos', templateType: 'Schedule', deadline: '40s', schedule: { schedule: '@every 2s', concurrencyPolicy: 'Allow', type: 'PodChaos', podChaos: podKill } },
    { name: 'workflow-stress-chaos', templateType: 'StressChaos', deadline: '20s', stressChaos: stress },
    { name: 'suffix-suspending', templateType: 'Suspend', deadline: '5s' },
  ] } } },
  { name: 'try-workflow-parallel', refusedWith: { message: OPTIONS_REFUSED, field: 'options' }, doc: { kind: 'Workflow', spec: { entry: 'the-entry', templates: [
    { name: 'the-entry', templateType: 'Parallel', deadline: '240s', children: ['workflow-stress-chaos', 'workflow-network-chaos', 'workflow-pod-chaos'] },
    { name: 'workflow-network-chaos', templateType: 'NetworkChaos', deadline: '20s', networkChaos: delay },
    { name: 'workflow-pod-chaos', templateType: 'Schedule', deadline: '40s', schedule: { schedule: '@every 2s', concurrencyPolicy: 'Allow', type: 'PodChaos', podChaos: podKill } },
    { name: 'workflow-stress-chaos', templateType: 'StressChaos', deadline: '20s', stressChaos: stress },
  ] } } },
  { name: 'try-workflow-status-check', doc: { kind: 'Workflow', spec: { entry: 'the-entry', templates: [
    { name: 'the-entry', templateType: 'Parallel', deadline: '240s', children: ['workflow-status-check', 'workflow-network-chaos'] },
    { name: 'workflow-status-check', templateType: 'StatusCheck', deadline: '20s', statusCheck: { mode: 'Continuous', type: 'HTTP', http: { url: 'http://123.123.123.123', method: 'GET', criteria: { statusCode: '200' } } } },
    { name: 'workflow-network-chaos', templateType: 'NetworkChaos', deadline: '20s', networkChaos: delay },
  ] } } },
  { name: 'status-check-abort', doc: { kind: 'Workflow', spec: { entry: 'workflow-status-check', templates: [
    { name: 'workflow-status-check', templateType: 'StatusCheck', deadline: '20s', abortWithStatusCheck: true, statusCheck: { mode: 'Continuous', type: 'HTTP', http: { url: 'http://123.123.123.123', method: 'GET', criteria: { statusCode: '200' } } } },
  ] } } },
  { name: 'try-workflow-custom-task', refusedFor: 'Task', doc: { kind: 'Workflow', spec: { entry: 'the-entry', templates: [
    { name: 'the-entry', templateType: 'Task', task: { container: { name: 'main-contaienr', image: 'busybox', command: ['echo', 'branch-b'] } }, conditionalBranches: [{ target: 'workflow-network-chaos', expression: 'exitCode == 0 && stdout == "branch-b"' }] },
    { name: 'workflow-network-chaos', templateType: 'NetworkChaos', deadline: '20s', networkChaos: delay },
  ] } } },
];

/** The document without the fields named, at any depth. */
function without(doc: Record<string, unknown>, ...fields: string[]): Record<string, unknown> {
  const strip = (value: unknown): unknown => (Array.isArray(value) ? value.map(strip)
    : value !== null && typeof value === 'object' ? Object.fromEntries(Object.entries(value).filter(([k]) => !fields.includes(k)).map(([k, v]) => [k, strip(v)])) : value);
  return strip(doc) as Record<string, unknown>;
}

/** The example without the fields of a kind kerris lacks (`task`), keeping its `type`/`templateType`. */
function stripFields(doc: Record<string, unknown>, kind: string): Record<string, unknown> {
  return without(doc, `${kind.charAt(0).toLowerCase()}${kind.slice(1)}`, 'conditionalBranches');
}

function manifest(name: string, doc: Record<string, unknown>, namespace = home): string {
  return stringify({ apiVersion: 'chaos.kerris.dev/v1alpha1', ...doc, metadata: { name, namespace } });
}

async function create(name: string, doc: Record<string, unknown>, as?: string): Promise<{ code: number; output: string }> {
  const result = await kubectl(plane, ['create', '--dry-run=server', ...(as ? [`--as=${as}`] : []), '-f', '-'], { input: manifest(name, doc), allowFailure: true });
  return { code: result.code, output: `${result.stdout}${result.stderr}` };
}

function role(namespace: string, podVerbs: readonly string[]): string {
  return [
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'sw-user', namespace }, rules: [
      { apiGroups: ['chaos.kerris.dev'], resources: ['schedules', 'workflows'], verbs: ['create', 'get', 'update', 'patch'] },
      ...(podVerbs.length > 0 ? [{ apiGroups: [''], resources: ['pods'], verbs: podVerbs }] : []),
    ] },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'sw-user', namespace }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'sw-user' }, subjects: [user, nodeUser].map((name) => ({ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name })) },
  ].map((doc) => stringify(doc)).join('---\n');
}

/** What a NodeChaos asks of its requester cluster-wide (src/api/nodechaos.ts) but `update nodes/status`, granted to nodeUser. */
function nodeAccess(): string {
  return [
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: nodeRole }, rules: [
      { apiGroups: [''], resources: ['nodes'], verbs: ['patch', 'list'] },
      { apiGroups: [''], resources: ['pods/eviction'], verbs: ['create'] },
    ] },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: nodeRole }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: nodeRole }, subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: nodeUser }] },
  ].map((doc) => stringify(doc)).join('---\n');
}

const drain = { action: 'node-drain', mode: 'one', selector: { nodeSelectors: { 'kerris.dev/pool': 'chaos' } }, duration: '1m' };
const kubeletStop = { ...drain, action: 'kubelet-stop' };
const nodeScheduleOf = (nodeChaos: object) => ({ kind: 'Schedule', spec: { schedule: '@hourly', type: 'NodeChaos', nodeChaos } });

const scheduleOf = (podChaos: object) => ({ kind: 'Schedule', spec: { schedule: '@every 10s', type: 'PodChaos', podChaos } });
const workflowOf = (templates: object[]) => ({ kind: 'Workflow', spec: { entry: 'entry', templates: [{ name: 'entry', templateType: 'Serial', children: templates.map((t) => (t as { name: string }).name) }, ...templates] } });

describe('Schedule and Workflow on a real apiserver', () => {
  before(async () => {
    plane = await controlPlane();
    await kubectl(plane, ['apply', '--server-side', '--force-conflicts', '--field-manager=kerris-api-test', '-f', join(REPO_ROOT, 'deploy', 'crds'), '-f', join(REPO_ROOT, 'deploy', 'admission')]);
    await kubectl(plane, ['create', 'namespace', home]);
    await kubectl(plane, ['create', 'namespace', other]);
    await kubectl(plane, ['apply', '-f', '-'], { input: role(home, ['delete', 'list']) });
    await kubectl(plane, ['apply', '-f', '-'], { input: role(other, []) });
    await kubectl(plane, ['apply', '-f', '-'], { input: nodeAccess() });
    // The CRDs are served, and the policy's new checks in force, a moment after they are applied: probed with the
    // newest check, since an older policy on a shared apiserver stays in force until the new one is compiled.
    const deadline = Date.now() + 60_000;
    for (;;) {
      const probe = await create('probe', nodeScheduleOf(drain), user);
      if (probe.code !== 0 && probe.output.includes('you may not patch nodes cluster-wide, as this Schedule needs for its nodeChaos')) break;
      if (Date.now() > deadline) assert.fail(`the schedule CRD and policy were not in force within 60 s: ${probe.output}`);
      await sleep(250);
    }
  });

  after(async () => {
    await kubectl(plane, ['delete', 'namespace', home, other, '--ignore-not-found', '--wait=true', '--timeout=60s'], { timeoutMs: 70_000 });
    await kubectl(plane, ['delete', 'clusterrolebinding,clusterrole', nodeRole, '--ignore-not-found']);
  });

  it('accepts Chaos Mesh\'s documented examples with apiVersion changed, and refuses those embedding a kind kerris lacks, naming it', async () => {
    for (const example of examples) {
      const result = await create(example.name, example.doc);
      if (example.refusedWith !== undefined) {
        assert.notEqual(result.code, 0, `${example.name} was accepted`);
        assert.ok(result.output.includes(example.refusedWith.message), `${example.name}: ${result.output}`);
        const ported = await create(`${example.name}-ported`, without(example.doc, example.refusedWith.field));
        assert.equal(ported.code, 0, `${example.name} without ${example.refusedWith.field}: ${ported.output}`);
        continue;
      }
      if (example.refusedFor === undefined) {
        assert.equal(result.code, 0, `${example.name}: ${result.output}`);
        continue;
      }
      assert.notEqual(result.code, 0, `${example.name} was accepted`);
      // kubectl's strict field validation refuses the kind's own field (`spec.stressChaos`) before the rules run.
      assert.match(result.output, new RegExp(example.refusedFor, 'i'), `${example.name}: ${result.output}`);
      const withoutField = await create(example.name, stripFields(example.doc, example.refusedFor));
      assert.notEqual(withoutField.code, 0, `${example.name} without its ${example.refusedFor} field was accepted`);
      assert.match(withoutField.output, new RegExp(`${example.refusedFor} is not a (template type|kind) a kerris (Workflow|Schedule) runs yet`), `${example.name}: ${withoutField.output}`);
    }
    // A kind kerris has no Schedule for at all is refused the same way, naming it and what a Schedule runs.
    const io = await create('schedule-io', { kind: 'Schedule', spec: { schedule: '@hourly', type: 'IOChaos' } });
    assert.notEqual(io.code, 0, 'a Schedule of IOChaos was accepted');
    assert.ok(io.output.includes('IOChaos is not a kind a kerris Schedule runs yet; a Schedule runs PodChaos, NetworkChaos, StressChaos or NodeChaos'), io.output);
  });

  it('refuses bad specs with the messages the reference gives', async () => {
    const cases: readonly [string, Record<string, unknown>, string][] = [
      ['bad-cron', { kind: 'Schedule', spec: { schedule: 'every day', type: 'PodChaos', podChaos: podKill } }, 'must be cron (5 fields, or 6 with seconds), @hourly and the like, or @every <duration>, got "every day"'],
      ['missing-spec', { kind: 'Schedule', spec: { schedule: '@hourly', type: 'PodChaos' } }, 'podChaos is required when type is PodChaos'],
      ['wrong-spec', { kind: 'Schedule', spec: { schedule: '@hourly', type: 'PodChaos', podChaos: podKill, networkChaos: delay } }, 'networkChaos is only for type NetworkChaos; remove it for PodChaos'],
      ['bad-zone', { kind: 'Schedule', spec: { schedule: '@hourly', timeZone: '../etc', type: 'PodChaos', podChaos: podKill } }, 'spec.timeZone'],
      ['no-entry', { kind: 'Workflow', spec: { entry: 'nope', templates: [{ name: 'a', templateType: 'Suspend', deadline: '1s' }] } }, 'entry nope is not the name of a template'],
      ['suspend-no-deadline', workflowOf([{ name: 's', templateType: 'Suspend' }]), 'deadline is required when templateType is Suspend'],
      ['unknown-child', { kind: 'Workflow', spec: { entry: 'e', templates: [{ name: 'e', templateType: 'Serial', children: ['ghost'] }] } }, 'every name in children must be the name of a template'],
      ['failure-no-deadline', workflowOf([{ name: 'f', templateType: 'PodChaos', podChaos: { ...podKill, action: 'pod-failure' } }]), 'a pod-failure step needs deadline (or podChaos.duration)'],
      ['task-expression', workflowOf([{ name: 'c', templateType: 'StatusCheck', deadline: '10s', statusCheck: { http: { url: 'http://x', criteria: { statusCode: '200' } } }, conditionalBranches: [{ target: 'c', expression: 'exitCode == 0' }] }]), 'exitCode and stdout are the results of a Task, which kerris does not have yet'],
      ['branch-on-chaos', workflowOf([{ name: 'k', templateType: 'PodChaos', podChaos: podKill, conditionalBranches: [{ target: 'k' }] }]), 'conditionalBranches is only for templateType StatusCheck'],
    ];
    for (const [name, doc, expected] of cases) {
      const result = await create(name, doc);
      assert.notEqual(result.code, 0, `${name} was accepted`);
      assert.ok(result.output.includes(expected), `${name}: ${result.output}`);
    }
  });

  it('holds every embedded spec to its requester\'s rights, at creation and, for a Schedule, on change', async () => {
    const elsewhere = { ...podKill, selector: { namespaces: [other] } };
    const refused: readonly [string, Record<string, unknown>, string][] = [
      ['sched', scheduleOf(elsewhere), 'you may not delete pods in every namespace this Schedule reaches with its podChaos'],
      ['wf', workflowOf([{ name: 'k', templateType: 'PodChaos', podChaos: elsewhere }]), 'you may not delete pods in every namespace a template of this Workflow reaches with its podChaos'],
      ['wf-sched', workflowOf([{ name: 's', templateType: 'Schedule', deadline: '30s', schedule: { schedule: '@every 5s', type: 'PodChaos', podChaos: elsewhere } }]), 'a Schedule template of this Workflow reaches with its podChaos'],
      ['wf-net', workflowOf([{ name: 'net', templateType: 'NetworkChaos', deadline: '30s', networkChaos: { ...delay, selector: { namespaces: [other] } } }]), 'a template of this Workflow reaches with its networkChaos'],
    ];
    for (const [name, doc, expected] of refused) {
      const result = await create(name, doc, user);
      assert.notEqual(result.code, 0, `${name} was accepted`);
      assert.ok(result.output.includes(expected), `${name}: ${result.output}`);
    }
    for (const [name, doc] of [['sched-home', scheduleOf(podKill)], ['wf-home', workflowOf([{ name: 'k', templateType: 'PodChaos', podChaos: podKill }])]] as const) {
      const result = await create(name, doc, user);
      assert.equal(result.code, 0, `${name}: ${result.output}`);
    }
    // A Schedule created at home cannot be turned on another namespace afterwards.
    await kubectl(plane, ['create', `--as=${user}`, '-f', '-'], { input: manifest('widen', scheduleOf(podKill)) });
    const widen = await kubectl(plane, ['patch', `--as=${user}`, '-n', home, 'schedules.chaos.kerris.dev', 'widen', '--type=merge', '-p', JSON.stringify({ spec: { podChaos: { selector: { namespaces: [other] } } } })], { allowFailure: true });
    assert.notEqual(widen.code, 0, 'the Schedule was widened to another namespace');
    assert.ok(`${widen.stdout}${widen.stderr}`.includes('this Schedule reaches with its podChaos'), widen.stderr);
    const stored = parse((await kubectl(plane, ['get', '-n', home, 'schedules.chaos.kerris.dev', 'widen', '-o', 'yaml'])).stdout) as { spec: { podChaos: { selector: object } } };
    assert.deepEqual(stored.spec.podChaos.selector, podKill.selector);
  });
  it('accepts a Schedule of StressChaos and a Workflow with StressChaos and NodeChaos steps, a NodeChaos step\'s duration from its deadline', async () => {
    const accepted: readonly [string, Record<string, unknown>][] = [
      ['stress-sched', { kind: 'Schedule', spec: { schedule: '@every 1m', type: 'StressChaos', stressChaos: { ...memoryStress, duration: '20s' } } }],
      ['node-sched', nodeScheduleOf(drain)],
      ['node-wf', workflowOf([
        { name: 'stress', templateType: 'StressChaos', deadline: '30s', stressChaos: memoryStress },
        { name: 'drain', templateType: 'NodeChaos', deadline: '2m', nodeChaos: without(drain, 'duration') },
        { name: 'taint', templateType: 'NodeChaos', nodeChaos: { ...drain, action: 'node-taint', taint: { key: 'example.com/chaos', effect: 'NoSchedule' } } },
        { name: 'nodes', templateType: 'Schedule', deadline: '10m', schedule: { schedule: '@every 3m', type: 'NodeChaos', nodeChaos: drain } },
      ])],
    ];
    for (const [name, doc] of accepted) {
      const result = await create(name, doc);
      assert.equal(result.code, 0, `${name}: ${result.output}`);
    }
    const refused: readonly [string, Record<string, unknown>, string][] = [
      ['endless-node-step', workflowOf([{ name: 'drain', templateType: 'NodeChaos', nodeChaos: without(drain, 'duration') }]), 'a NodeChaos step needs deadline (or nodeChaos.duration), so that its fault ends on its own'],
      // A Schedule's runs have no deadline: NodeChaos's own duration stays required there.
      ['endless-node-sched', nodeScheduleOf(without(drain, 'duration')), 'spec.nodeChaos.duration: Required value'],
      ['endless-node-wf-sched', workflowOf([{ name: 'n', templateType: 'Schedule', deadline: '10m', schedule: { schedule: '@hourly', type: 'NodeChaos', nodeChaos: without(drain, 'duration') } }]), 'duration: Required value'],
      ['stress-options', { kind: 'Schedule', spec: { schedule: '@hourly', type: 'StressChaos', stressChaos: stress } }, OPTIONS_REFUSED],
      ['node-spec-missing', { kind: 'Schedule', spec: { schedule: '@hourly', type: 'NodeChaos' } }, 'nodeChaos is required when type is NodeChaos'],
      ['stress-wrong-type', { kind: 'Schedule', spec: { schedule: '@hourly', type: 'PodChaos', podChaos: podKill, stressChaos: memoryStress } }, 'stressChaos is only for type StressChaos; remove it for PodChaos'],
    ];
    for (const [name, doc, expected] of refused) {
      const result = await create(name, doc);
      assert.notEqual(result.code, 0, `${name} was accepted`);
      assert.ok(result.output.includes(expected), `${name}: ${result.output}`);
    }
  });

  it('holds an embedded StressChaos to create pods/exec where it reaches', async () => {
    // The user may delete and list pods at home, but not exec into them.
    const result = await create('stress-user', { kind: 'Schedule', spec: { schedule: '@hourly', type: 'StressChaos', stressChaos: memoryStress } }, user);
    assert.notEqual(result.code, 0, 'a Schedule of StressChaos was accepted from a user who may not exec');
    assert.ok(result.output.includes('you may not create pods/exec in every namespace this Schedule reaches with its stressChaos; kerris does only what its requester could do by hand'), result.output);
  });

  it('holds an embedded NodeChaos to its cluster-wide checks, and asks update nodes/status of kubelet-stop alone', async () => {
    const nodeRefusals: readonly [string, Record<string, unknown>, string][] = [
      ['node-sched', nodeScheduleOf(drain), 'you may not patch nodes cluster-wide, as this Schedule needs for its nodeChaos'],
      ['node-wf', workflowOf([{ name: 'drain', templateType: 'NodeChaos', deadline: '2m', nodeChaos: drain }]), 'you may not patch nodes cluster-wide, as a template of this Workflow needs for its nodeChaos'],
      ['node-wf-sched', workflowOf([{ name: 's', templateType: 'Schedule', deadline: '10m', schedule: { schedule: '@hourly', type: 'NodeChaos', nodeChaos: drain } }]), 'you may not patch nodes cluster-wide, as a Schedule template of this Workflow needs for its nodeChaos'],
    ];
    for (const [name, doc, expected] of nodeRefusals) {
      const result = await create(name, doc, user);
      assert.notEqual(result.code, 0, `${name} was accepted from a user with no rights on nodes`);
      assert.ok(result.output.includes(`${expected}; kerris does only what its requester could do by hand`), `${name}: ${result.output}`);
    }
    // nodeUser may drain and taint by hand: admitted, once its ClusterRoleBinding has reached the authorizer.
    let last = { code: 1, output: '' };
    await until(async () => (last = await create('drain-sched', nodeScheduleOf(drain), nodeUser)).code === 0, 60_000, 'a Schedule of node-drain admitted for a user who may drain', 250);
    for (const [name, doc] of [
      ['drain-wf', workflowOf([{ name: 'drain', templateType: 'NodeChaos', deadline: '2m', nodeChaos: drain }])],
      ['drain-wf-sched', workflowOf([{ name: 's', templateType: 'Schedule', deadline: '10m', schedule: { schedule: '@hourly', type: 'NodeChaos', nodeChaos: drain } }])],
    ] as const) {
      last = await create(name, doc, nodeUser);
      assert.equal(last.code, 0, `${name}: ${last.output}`);
    }
    // ...but may not stop a kubelet, which makes its node NotReady as writing the node's status does.
    const stops: readonly [string, Record<string, unknown>, string][] = [
      ['stop-sched', nodeScheduleOf(kubeletStop), 'as this Schedule needs for its nodeChaos (kubelet-stop)'],
      ['stop-wf', workflowOf([{ name: 'drain', templateType: 'NodeChaos', deadline: '2m', nodeChaos: drain }, { name: 'stop', templateType: 'NodeChaos', deadline: '2m', nodeChaos: kubeletStop }]), 'as a template of this Workflow needs for its nodeChaos (kubelet-stop)'],
      ['stop-wf-sched', workflowOf([{ name: 's', templateType: 'Schedule', deadline: '10m', schedule: { schedule: '@hourly', type: 'NodeChaos', nodeChaos: kubeletStop } }]), 'as a Schedule template of this Workflow needs for its nodeChaos (kubelet-stop)'],
    ];
    for (const [name, doc, expected] of stops) {
      const result = await create(name, doc, nodeUser);
      assert.notEqual(result.code, 0, `${name} was accepted from a user who may not update nodes/status`);
      assert.ok(result.output.includes(`you may not update nodes/status cluster-wide, ${expected}; kerris does only what its requester could do by hand`), `${name}: ${result.output}`);
      assert.ok(!result.output.includes('you may not patch nodes'), `${name} asked again for what nodeUser has: ${result.output}`);
    }
  });
});
