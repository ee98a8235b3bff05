/**
 * The Schedule and Workflow CRDs and the requester-access policy against a real kube-apiserver: Chaos Mesh's
 * documented Schedule and Workflow examples apply with only apiVersion changed, those embedding a kind kerris lacks
 * are refused with a message naming it, bad specs get the messages docs/api.md promises, and nobody gets through a
 * Schedule or a Workflow a fault they could not cause directly.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { parse, stringify } from 'yaml';
import { controlPlane, type ControlPlane } from '../testbed/index.ts';
import { kubectl } from '../testbed/kubectl.ts';
import { REPO_ROOT } from '../testbed/paths.ts';

const suffix = randomBytes(3).toString('hex');
const home = `sw-home-${suffix}`;
const other = `sw-other-${suffix}`;
const user = `sw-user-${suffix}`;
let plane: ControlPlane;

const podKill = { action: 'pod-kill', mode: 'one', selector: { labelSelectors: { app: 'hello-kubernetes' } } };
const delay = { direction: 'to', action: 'delay', mode: 'all', selector: { labelSelectors: { app: 'hello-kubernetes' } }, delay: { latency: '90ms', correlation: '25', jitter: '90ms' } };
const stress = { mode: 'one', selector: { labelSelectors: { app: 'hello-kubernetes' } }, stressors: { cpu: { workers: 1, load: 20, options: ['--cpu 1', '--timeout 600'] } } };

/**
 * Chaos Mesh's examples as published: the "Define Scheduling Rules" page and examples/schedule-podchaos.yaml,
 * the "Create Chaos Mesh Workflow" page and examples/workflow/{serial,parallel,status-check,custom-task}.yaml.
 * `refusedFor` names the kind kerris lacks that the example embeds.
 */
const examples: readonly { name: string; doc: Record<string, unknown>; refusedFor?: string }[] = [
  { name: 'schedule-delay-example', doc: { kind: 'Schedule', spec: { schedule: '5 * * * *', historyLimit: 2, concurrencyPolicy: 'Allow', type: 'NetworkChaos', networkChaos: { action: 'delay', mode: 'one', selector: { namespaces: ['default'], labelSelectors: { app: 'web-show' } }, delay: { latency: '10ms', correlation: '100', jitter: '0ms' }, duration: '12s' } } } },
  { name: 'schedule-every-minute', doc: { kind: 'Schedule', spec: { schedule: '* * * * *', type: 'NetworkChaos', networkChaos: { action: 'delay', mode: 'one', selector: { namespaces: ['default'], labelSelectors: { app: 'web-show' } }, delay: { latency: '10ms' }, duration: '70s' } } } },
  { name: 'schedule-pod-kill', doc: { kind: 'Schedule', spec: { schedule: '@every 5s', type: 'PodChaos', historyLimit: 5, concurrencyPolicy: 'Forbid', podChaos: { action: 'pod-kill', mode: 'one', selector: { namespaces: ['chaos-testing'], labelSelectors: { app: 'hello-kubernetes' } } } } } },
  { name: 'schedule-stress', doc: { kind: 'Schedule', spec: { schedule: '@hourly', type: 'StressChaos', stressChaos: stress } }, refusedFor: 'StressChaos' },
  { name: 'try-workflow-serial', refusedFor: 'StressChaos', doc: { kind: 'Workflow', spec: { entry: 'the-entry', templates: [
    { name: 'the-entry', templateType: 'Serial', deadline: '240s', children: ['workflow-stress-chaos', 'prefix-suspending', 'workflow-network-chaos', 'suffix-suspending', 'workflow-pod-chaos'] },
    { name: 'prefix-suspending', templateType: 'Suspend', deadline: '10s' },
    { name: 'workflow-network-chaos', templateType: 'NetworkChaos', deadline: '20s', networkChaos: delay },
    { name: 'workflow-pod-chaos', templateType: 'Schedule', deadline: '40s', schedule: { schedule: '@every 2s', concurrencyPolicy: 'Allow', type: 'PodChaos', podChaos: podKill } },
    { name: 'workflow-stress-chaos', templateType: 'StressChaos', deadline: '20s', stressChaos: stress },
    { name: 'suffix-suspending', templateType: 'Suspend', deadline: '5s' },
  ] } } },
  { name: 'try-workflow-parallel', refusedFor: 'StressChaos', doc: { kind: 'Workflow', spec: { entry: 'the-entry', templates: [
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

/** The example without the fields of a kind kerris lacks (`stressChaos`, `task`), keeping its `type`/`templateType`. */
function stripFields(doc: Record<string, unknown>, kind: string): Record<string, unknown> {
  const field = kind === 'Task' ? 'task' : `${kind.charAt(0).toLowerCase()}${kind.slice(1)}`;
  const strip = (value: unknown): unknown => (Array.isArray(value) ? value.map(strip)
    : value !== null && typeof value === 'object' ? Object.fromEntries(Object.entries(value).filter(([k]) => k !== field && k !== 'conditionalBranches').map(([k, v]) => [k, strip(v)])) : value);
  return strip(doc) as Record<string, unknown>;
}

/** The same example without the templates of kinds kerris lacks: what a user porting it keeps. */
function withoutKind(doc: Record<string, unknown>, kind: string): Record<string, unknown> {
  const spec = doc['spec'] as { templates: { name: string; templateType: string; children?: string[] }[] };
  const dropped = new Set(spec.templates.filter((t) => t.templateType === kind).map((t) => t.name));
  const templates = spec.templates.filter((t) => !dropped.has(t.name)).map((t) => (t.children ? { ...t, children: t.children.filter((c) => !dropped.has(c)) } : t));
  return { ...doc, spec: { ...spec, templates } };
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
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'sw-user', namespace }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'sw-user' }, subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: user }] },
  ].map((doc) => stringify(doc)).join('---\n');
}

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
    // The CRDs are served, and the policy's new checks in force, a moment after they are applied.
    const deadline = Date.now() + 60_000;
    for (;;) {
      const probe = await create('probe', scheduleOf({ ...podKill, selector: { namespaces: [other] } }), user);
      if (probe.code !== 0 && probe.output.includes('you may not')) break;
      if (Date.now() > deadline) assert.fail(`the schedule CRD and policy were not in force within 60 s: ${probe.output}`);
      await sleep(250);
    }
  });

  after(async () => {
    await kubectl(plane, ['delete', 'namespace', home, other, '--ignore-not-found', '--wait=true', '--timeout=60s'], { timeoutMs: 70_000 });
  });

  it('accepts Chaos Mesh\'s documented examples with apiVersion changed, and refuses those embedding a kind kerris lacks, naming it', async () => {
    for (const example of examples) {
      const result = await create(example.name, example.doc);
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
      if (example.doc['kind'] === 'Workflow') {
        const ported = await create(`${example.name}-ported`, withoutKind(example.doc, example.refusedFor));
        if (example.refusedFor === 'Task') continue;
        assert.equal(ported.code, 0, `${example.name} without ${example.refusedFor}: ${ported.output}`);
      }
    }
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
});
