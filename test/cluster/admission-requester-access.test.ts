/**
 * Requester authorisation, enforced by the apiserver itself: the generated
 * ValidatingAdmissionPolicy (deploy/admission) lets a user create a PodChaos
 * only if that user may delete and list pods in every namespace it reaches.
 * The user is impersonated (kubectl --as), so the apiserver's own authorizer
 * answers for a real RBAC subject.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { controlPlane, type ControlPlane } from '../testbed/index.ts';
import { kubectl } from '../testbed/kubectl.ts';
import { REPO_ROOT } from '../testbed/paths.ts';

const suffix = randomBytes(3).toString('hex');
const home = `access-home-${suffix}`;
const other = `access-other-${suffix}`;
const user = `chaos-user-${suffix}`;
let plane: ControlPlane;

function chaos(name: string, selector: object): string {
  return stringify({ apiVersion: 'chaos.kerris.dev/v1alpha1', kind: 'PodChaos', metadata: { name, namespace: home }, spec: { action: 'pod-kill', mode: 'one', selector } });
}

/** Creates as the test user, server-side dry run: admission runs, nothing is stored. */
async function createAsUser(name: string, selector: object): Promise<{ code: number; output: string }> {
  const result = await kubectl(plane, ['create', '--dry-run=server', `--as=${user}`, '-f', '-'], { input: chaos(name, selector), allowFailure: true });
  return { code: result.code, output: `${result.stdout}${result.stderr}` };
}

function role(namespace: string, verbs: readonly string[]): string {
  return [
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'chaos-user', namespace }, rules: [
      { apiGroups: ['chaos.kerris.dev'], resources: ['podchaos'], verbs: ['create', 'get'] },
      ...(verbs.length > 0 ? [{ apiGroups: [''], resources: ['pods'], verbs }] : []),
    ] },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'chaos-user', namespace }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'chaos-user' }, subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: user }] },
  ].map((doc) => stringify(doc)).join('---\n');
}

describe('requester authorisation at admission (ValidatingAdmissionPolicy)', () => {
  before(async () => {
    plane = await controlPlane();
    await kubectl(plane, ['apply', '--server-side', '--force-conflicts', '-f', join(REPO_ROOT, 'deploy', 'crds'), '-f', join(REPO_ROOT, 'deploy', 'admission')]);
    await kubectl(plane, ['create', 'namespace', home]);
    await kubectl(plane, ['create', 'namespace', other]);
    await kubectl(plane, ['apply', '-f', '-'], { input: role(home, ['delete', 'list']) });
    await kubectl(plane, ['apply', '-f', '-'], { input: role(other, []) });
    // The CRD is served, and the policy is in force, a moment after they are created.
    const deadline = Date.now() + 60_000;
    for (;;) {
      const probe = await createAsUser('probe', { namespaces: [other] });
      if (probe.code !== 0 && probe.output.includes('you may not')) break;
      if (Date.now() > deadline) assert.fail(`the policy did not come into force within 60 s: ${probe.output}`);
      await sleep(250);
    }
  });

  after(async () => {
    await kubectl(plane, ['delete', 'namespace', home, other, '--ignore-not-found', '--wait=true', '--timeout=60s'], { timeoutMs: 70_000 });
  });

  it('refuses a PodChaos aimed at a namespace where its creator may not delete pods, and names the namespaces it reaches', async () => {
    for (const [selector, reached] of [[{ namespaces: [other] }, other], [{ namespaces: [home, other] }, `${home}, ${other}`], [{ pods: { [other]: ['some-pod'] } }, other]] as const) {
      const result = await createAsUser('aimed-elsewhere', selector);
      assert.notEqual(result.code, 0, `accepted ${JSON.stringify(selector)}`);
      assert.ok(result.output.includes(`you may not delete pods in every namespace this PodChaos reaches (${reached})`), result.output);
    }
  });

  it('admits one aimed at its own namespace, where its creator may delete and list pods', async () => {
    for (const selector of [{}, { namespaces: [home] }, { labelSelectors: { app: 'web' } }]) {
      const result = await createAsUser('at-home', selector);
      assert.equal(result.code, 0, `${JSON.stringify(selector)}: ${result.output}`);
    }
  });

  it('needs list as well as delete, since a dry run shows the pods it would hit', async () => {
    await kubectl(plane, ['apply', '-f', '-'], { input: role(other, ['delete']) });
    const deadline = Date.now() + 30_000;
    let result: { code: number; output: string };
    // RBAC changes reach the authorizer a moment later.
    do {
      result = await createAsUser('delete-only', { namespaces: [other] });
      if (result.output.includes('you may not list pods')) break;
      await sleep(250);
    } while (Date.now() < deadline);
    assert.notEqual(result.code, 0);
    assert.ok(result.output.includes(`you may not list pods in every namespace this PodChaos reaches (${other})`), result.output);

    await kubectl(plane, ['apply', '-f', '-'], { input: role(other, ['delete', 'list']) });
    for (const until = Date.now() + 30_000; Date.now() < until; await sleep(250)) {
      result = await createAsUser('both', { namespaces: [other] });
      if (result.code === 0) break;
    }
    assert.equal(result.code, 0, `admitted once the user may delete and list there: ${result.output}`);
  });

  it('does not judge what the kerris controller creates (a Schedule\'s run, a Workflow\'s step): those specs were judged with their holder', async () => {
    const controller = 'system:serviceaccount:kerris-system:kerris-controller';
    await kubectl(plane, ['apply', '-f', '-'], {
      input: [
        { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'as-controller', namespace: other }, rules: [{ apiGroups: ['chaos.kerris.dev'], resources: ['podchaos', 'networkchaos'], verbs: ['create'] }] },
        { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'as-controller', namespace: other }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'as-controller' }, subjects: [{ kind: 'ServiceAccount', name: 'kerris-controller', namespace: 'kerris-system' }] },
      ].map((doc) => stringify(doc)).join('---\n'),
    });
    const step = stringify({ apiVersion: 'chaos.kerris.dev/v1alpha1', kind: 'NetworkChaos', metadata: { name: 'step', namespace: other }, spec: { action: 'partition', mode: 'all', selector: {} } });
    let result = { code: 1, stdout: '', stderr: '' };
    for (const until = Date.now() + 30_000; Date.now() < until && result.code !== 0; await sleep(250)) {
      result = await kubectl(plane, ['create', '--dry-run=server', `--as=${controller}`, '-f', '-'], { input: step, allowFailure: true });
    }
    assert.equal(result.code, 0, `the controller may create the step it was given, without pods/exec of its own: ${result.stderr}`);
  });

  it('holds a kubernetes check (a guard, a StatusCheck) to its creator\'s own right to get what it reads', async () => {
    const guarded = (check: object) => stringify({
      apiVersion: 'chaos.kerris.dev/v1alpha1', kind: 'PodChaos', metadata: { name: 'guarded', namespace: home },
      spec: { action: 'pod-kill', mode: 'one', selector: {}, guards: [{ name: 'replicas', kubernetes: check }] },
    });
    const statusCheck = (check: object) => stringify({
      apiVersion: 'chaos.kerris.dev/v1alpha1', kind: 'StatusCheck', metadata: { name: 'reads', namespace: home },
      spec: { mode: 'Synchronous', type: 'Kubernetes', kubernetes: check },
    });
    const createAs = async (manifest: string) => {
      const result = await kubectl(plane, ['create', '--dry-run=server', `--as=${user}`, '-f', '-'], { input: manifest, allowFailure: true });
      return { code: result.code, output: `${result.stdout}${result.stderr}` };
    };
    const workload = { workload: { kind: 'Deployment', name: 'web', minAvailable: 1 } };
    const refused = await createAs(guarded(workload));
    assert.notEqual(refused.code, 0);
    assert.match(refused.output, /a kubernetes check reads an object you may not get yourself/);
    const node = await createAs(guarded({ condition: { apiVersion: 'v1', kind: 'Node', name: 'n1', type: 'Ready', status: 'True' } }));
    assert.notEqual(node.code, 0, 'nor may it read a Node\'s condition');

    // Once the user may get Deployments in its namespace (and create StatusChecks), the same are admitted.
    await kubectl(plane, ['apply', '-f', '-'], {
      input: [
        { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'chaos-user-reads', namespace: home }, rules: [
          { apiGroups: ['apps'], resources: ['deployments'], verbs: ['get'] },
          { apiGroups: ['chaos.kerris.dev'], resources: ['statuschecks'], verbs: ['create'] },
        ] },
        { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'chaos-user-reads', namespace: home }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'chaos-user-reads' }, subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: user }] },
      ].map((doc) => stringify(doc)).join('---\n'),
    });
    let admitted = { code: 1, output: '' };
    for (const until = Date.now() + 30_000; Date.now() < until && admitted.code !== 0; await sleep(250)) admitted = await createAs(guarded(workload));
    assert.equal(admitted.code, 0, admitted.output);
    assert.equal((await createAs(statusCheck(workload))).code, 0, 'a StatusCheck reading the same Deployment');
    const elsewhere = await createAs(statusCheck({ workload: { kind: 'Deployment', name: 'web', namespace: other, minAvailable: 1 } }));
    assert.notEqual(elsewhere.code, 0, 'but not one in a namespace where the user may not get Deployments');
    assert.match(elsewhere.output, /a kubernetes check reads an object you may not get yourself/);
    const deployments = await createAs(guarded({ condition: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', type: 'Available', status: 'True' } }));
    assert.equal(deployments.code, 0, `a condition of a Deployment, by its plural: ${deployments.output}`);
  });
});
