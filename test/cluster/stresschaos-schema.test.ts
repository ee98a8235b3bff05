/**
 * The StressChaos CRD against a real kube-apiserver: Chaos Mesh's documented StressChaos examples apply with only
 * their apiVersion changed, bad sizes, loads and worker counts are rejected by the apiserver itself with the messages
 * docs/api.md promises, raw stress-ng flags are refused with the reason, status takes the cgroup evidence, and the
 * requester-access policy asks for `create pods/exec` where the stressors run.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { stressChaosResource, type StressChaos } from '../../src/api/generated/types.ts';
import { controlPlane, type ControlPlane } from '../testbed/index.ts';
import { crdFixtures } from './crd-fixtures.ts';
import { kubectl, kubectlJson } from '../testbed/kubectl.ts';
import { until } from '../testbed/kube-fixtures.ts';

const suffix = randomBytes(3).toString('hex');
const namespace = `sc-schema-${suffix}`;
const resource = `${stressChaosResource.plural}.${stressChaosResource.group}`;
let plane: ControlPlane;

/**
 * Chaos Mesh's StressChaos examples as it publishes them: the website's "Simulate Stress Scenarios" page and the
 * repository's examples/cause-pod-oom.yaml. Written here with their own apiVersion; the test changes only that.
 */
const chaosMeshExamples: Readonly<Record<string, string>> = {
  'website memory-stress.yaml': `
apiVersion: chaos-mesh.org/v1alpha1
kind: StressChaos
metadata:
  name: memory-stress-example
spec:
  mode: one
  selector:
    labelSelectors:
      'app': 'app1'
  stressors:
    memory:
      workers: 4
      size: '256MB'
`,
  'examples/cause-pod-oom.yaml': `
apiVersion: chaos-mesh.org/v1alpha1
kind: StressChaos
metadata:
  name: pod-oom
spec:
  mode: one
  selector:
    labelSelectors:
      "app.kubernetes.io/component": "tikv"
  stressors:
    memory:
      workers: 1
      size: 10GB
      oomScoreAdj: -1000
  duration: "30s"
`,
};

const { create, rejected, accepted, install } = crdFixtures(() => plane, stressChaosResource, namespace);

const web = { mode: 'all', selector: { labelSelectors: { app: 'web' } } } as const;
const cpu = (stressor: Record<string, unknown>) => ({ ...web, stressors: { cpu: stressor } });
const memory = (stressor: Record<string, unknown>) => ({ ...web, stressors: { memory: stressor } });

describe('StressChaos validation by the apiserver', { timeout: 300_000 }, () => {
  before(async () => {
    plane = await controlPlane();
    await install();
    await kubectl(plane, ['create', 'namespace', namespace]);
  });

  after(async () => {
    if (!plane) return;
    await kubectl(plane, ['delete', 'namespace', namespace, '--ignore-not-found', '--wait=true', '--timeout=120s'], { timeoutMs: 130_000 });
  });

  it('accepts Chaos Mesh\'s documented StressChaos examples, with only apiVersion changed', async () => {
    for (const [title, text] of Object.entries(chaosMeshExamples)) {
      assert.ok(text.includes('apiVersion: chaos-mesh.org/v1alpha1\n'), title);
      const ported = text.replace('apiVersion: chaos-mesh.org/v1alpha1\n', `apiVersion: ${stressChaosResource.apiVersion}\n`);
      const result = await kubectl(plane, ['create', '--dry-run=server', '-n', namespace, '-f', '-'], { input: ported, allowFailure: true });
      assert.equal(result.code, 0, `${title}: ${result.stderr}`);
    }
  });

  it('bounds workers and load, with Chaos Mesh\'s default load', async () => {
    await accepted(cpu({ workers: 1 }));
    await accepted(cpu({ workers: 64, load: 100 }));
    await accepted({ ...web, stressors: { cpu: { workers: 2, load: 50 }, memory: { workers: 1, size: '64MiB' } } });
    await rejected(cpu({ workers: 0, load: 50 }), 'spec.stressors.cpu.workers', 'should be greater than or equal to 1');
    await rejected(cpu({ workers: 65 }), 'spec.stressors.cpu.workers', 'should be less than or equal to 64');
    await rejected(cpu({ workers: 1, load: 0 }), 'spec.stressors.cpu.load', 'should be greater than or equal to 1');
    await rejected(cpu({ workers: 1, load: 101 }), 'spec.stressors.cpu.load', 'should be less than or equal to 100');
    await rejected(memory({ workers: 1, size: '64MiB', oomScoreAdj: 1001 }), 'spec.stressors.memory.oomScoreAdj');
  });

  it('takes sizes with Chaos Mesh\'s units and percentages, from 1 MiB to 1 TiB', async () => {
    for (const size of ['1MiB', '1048576', '1024KB', '256MB', '10GB', '1TiB', '1tb', '25%', '100%']) await accepted(memory({ workers: 1, size }));
    await rejected(memory({ workers: 1, size: '10 parsecs' }), 'spec.stressors.memory.size');
    await rejected(memory({ workers: 1, size: '512KB' }), 'must be at least 1 MiB (1048576 bytes); write e.g. 64MiB');
    await rejected(memory({ workers: 1, size: '1048575' }), 'must be at least 1 MiB');
    await rejected(memory({ workers: 1, size: '2TiB' }), 'must be at most 1 TiB');
    await rejected(memory({ workers: 1, size: '1025GB' }), 'must be at most 1 TiB');
    await rejected(memory({ workers: 1, size: '0%' }), 'spec.stressors.memory.size');
    await rejected(memory({ workers: 1, size: '101%' }), 'spec.stressors.memory.size');
    await rejected(memory({ workers: 1 }), 'spec.stressors.memory.size: Required value');
  });

  it('needs a stressor, and refuses raw stress-ng flags with the reason', async () => {
    await rejected({ ...web, stressors: {} }, 'stressors needs cpu or memory (or both)');
    await rejected(cpu({ workers: 1, options: ['--cpu 1', '--timeout 600'] }), 'options (raw stress-ng flags) are not supported');
    await rejected({ ...cpu({ workers: 1 }), stressngStressors: '--cpu 2' }, 'stressngStressors (a raw stress-ng command line) is not supported');
    // Empty ones, as exported Chaos Mesh objects may carry them, mean nothing and are taken.
    await accepted({ ...cpu({ workers: 1, options: [] }), stressngStressors: '' });
  });

  it('checks mode and value as for every chaos kind, and keeps the spec fixed but paused', async () => {
    await rejected({ ...cpu({ workers: 1 }), mode: 'fixed' }, 'value is required when mode is fixed');
    const spec = { ...cpu({ workers: 1, load: 10 }), dryRun: true };
    const input = stringify({ apiVersion: stressChaosResource.apiVersion, kind: stressChaosResource.kind, metadata: { name: 'fixed', namespace }, spec });
    await kubectl(plane, ['create', '-f', '-'], { input });
    const changed = await kubectl(plane, ['patch', '-n', namespace, resource, 'fixed', '--type=merge', '-p', JSON.stringify({ spec: { stressors: { cpu: { workers: 1, load: 20 } } } })], { allowFailure: true });
    assert.notEqual(changed.code, 0);
    assert.match(changed.stderr, /spec\.stressors cannot change while the experiment exists; delete and recreate it/);
    await kubectl(plane, ['patch', '-n', namespace, resource, 'fixed', '--type=merge', '-p', '{"spec":{"paused":true}}']);
  });

  it('takes StressChaos\'s cgroup evidence in status', async () => {
    const status = {
      phase: 'Running',
      targets: [{
        namespace, name: 'web-0', uid: 'u-1', phase: 'Injected', containers: ['web'],
        stress: { observedAt: '2026-12-01T12:00:00Z', before: { cpuMillicores: 3, memoryWorkingSetBytes: 4_194_304 }, during: { cpuMillicores: 502, memoryWorkingSetBytes: 71_303_168 }, stressors: 2 },
      }],
    };
    await kubectl(plane, ['patch', '-n', namespace, resource, 'fixed', '--subresource=status', '--type=merge', '-p', JSON.stringify({ status })]);
    const stored = await kubectlJson<StressChaos>(plane, ['get', resource, 'fixed', '-n', namespace]);
    assert.deepEqual(stored.status?.targets?.[0]?.stress, status.targets[0]?.stress);
  });
});

describe('StressChaos requester authorisation at admission (ValidatingAdmissionPolicy)', { timeout: 180_000 }, () => {
  const home = `sc-home-${suffix}`;
  const user = `sc-user-${suffix}`;
  const role = (verbs: readonly { resources: string[]; verbs: string[] }[]): string => [
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'sc-user', namespace: home }, rules: [
      { apiGroups: ['chaos.kerris.dev'], resources: ['stresschaos'], verbs: ['create', 'get'] },
      ...verbs.map((r) => ({ apiGroups: [''], ...r })),
    ] },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'sc-user', namespace: home }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'sc-user' }, subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: user }] },
  ].map((doc) => stringify(doc)).join('---\n');

  before(async () => {
    plane = await controlPlane();
    await install({ admission: true });
    await kubectl(plane, ['create', 'namespace', home]);
    await kubectl(plane, ['apply', '-f', '-'], { input: role([{ resources: ['pods'], verbs: ['list'] }]) });
  });

  after(async () => {
    await kubectl(plane, ['delete', 'namespace', home, '--ignore-not-found', '--wait=true', '--timeout=60s'], { timeoutMs: 70_000 });
  });

  it('asks for create pods/exec where the stressors run, naming the namespace, and admits once it is granted', async () => {
    const spec = cpu({ workers: 1, load: 50 });
    let last = { code: 0, output: '' };
    // RBAC changes and a new policy reach the apiserver's admission a moment later.
    await until(async () => (last = await create('access', spec, user, home)).output.includes('you may not create pods/exec'), 60_000, 'the policy to refuse', 250);
    assert.ok(last.output.includes(`you may not create pods/exec in every namespace this StressChaos reaches (${home}); kerris does only what its requester could do by hand`), last.output);
    await kubectl(plane, ['apply', '-f', '-'], { input: role([{ resources: ['pods'], verbs: ['list'] }, { resources: ['pods/exec'], verbs: ['create'] }]) });
    await until(async () => (last = await create('access', spec, user, home)).code === 0, 60_000, 'admission once exec is granted', 250);
  });
});
