/**
 * kubectl kerris end to end: the real executable (bin/kubectl-kerris) against the test bed with kerris deployed, as
 * the cluster's admin and as a ServiceAccount whose kubeconfig authenticates through a real exec credential plugin.
 * Every command is run the way a person runs it, and judged by its output, its exit code and the cluster after it.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import type { PodChaos } from '../../src/api/generated/types.ts';
import type { Plan } from '../../src/cli/plan/blast-radius.ts';
import { runtimeId } from '../../src/controller/daemons/injection.ts';
import { clusterNode, type ClusterNode, type ControlPlane } from '../testbed/index.ts';
import { openFile, requireChromium } from '../testbed/browser.ts';
import { daemonClientAs, deployKerris, removeKerris } from '../testbed/kerris.ts';
import { kubectl, kubectlJson } from '../testbed/kubectl.ts';
import { REPO_ROOT } from '../testbed/paths.ts';
import { appPods, SAMPLE_APP } from '../testbed/sample-app.ts';
import { chaosFixtures, condition, type ChaosFixtures } from './chaos-fixtures.ts';

const BIN = join(REPO_ROOT, 'bin', 'kubectl-kerris');
const ARTEFACTS = join(REPO_ROOT, 'test', 'artefacts');

let plane: ControlPlane;
let node: ClusterNode;
let fx: ChaosFixtures;
let namespace: string;
let work: string;
/** A kubeconfig whose user is the ServiceAccount chaos-runner, through an exec plugin. */
let execKubeconfig: string;

interface Ran { code: number; stdout: string; stderr: string }

function kerris(args: readonly string[], options: { kubeconfig?: string; input?: string } = {}): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(BIN, args, { env: { ...process.env, KUBECONFIG: options.kubeconfig ?? plane.kubeconfig }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(options.input ?? '');
  });
}

const podKill = (name: string, spec: Partial<PodChaos['spec']>): string => stringify({
  apiVersion: 'chaos.kerris.dev/v1alpha1', kind: 'PodChaos', metadata: { name, namespace },
  spec: { action: 'pod-kill', mode: 'fixed', value: '1', selector: { labelSelectors: { app: SAMPLE_APP } }, ...spec },
});

/** Waits for the fleet survey to be written after `since`, so doctor reads what the daemons hold now. */
async function surveyAfter(since: number): Promise<void> {
  const deadline = Date.now() + 90_000;
  for (;;) {
    const map = await kubectlJson<{ data?: Record<string, string> }>(plane, ['get', 'configmap', 'kerris-fleet', '-n', 'kerris-system']).catch(() => undefined);
    const observed = map?.data?.['survey.json'] ? Date.parse((JSON.parse(map.data['survey.json']) as { observedAt: string }).observedAt) : 0;
    if (observed > since) return;
    if (Date.now() > deadline) assert.fail('no fleet survey written within 90 s');
    await new Promise((r) => setTimeout(r, 1_000));
  }
}

describe('kubectl kerris on the real cluster', { timeout: 900_000 }, () => {
  before(async () => {
    await requireChromium();
    ({ plane, node } = await clusterNode());
    fx = chaosFixtures(plane, 'e2e-cli');
    await deployKerris(plane, node, { replicas: 1 });
    namespace = await fx.newApp(3);
    await kubectl(plane, ['apply', '-f', '-'], {
      input: stringify({ apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name: SAMPLE_APP, namespace }, spec: { minAvailable: 2, selector: { matchLabels: { app: SAMPLE_APP } } } }),
    });
    // The PDB controller fills in status.disruptionsAllowed; the plan reads it.
    const deadline = Date.now() + 60_000;
    while ((await kubectlJson<{ status?: { disruptionsAllowed?: number } }>(plane, ['get', 'pdb', SAMPLE_APP, '-n', namespace])).status?.disruptionsAllowed !== 1) {
      if (Date.now() > deadline) assert.fail('the PDB never allowed 1 disruption');
      await new Promise((r) => setTimeout(r, 500));
    }
    // A ServiceAccount with the rights a chaos engineer of this namespace has, and no more.
    await kubectl(plane, ['apply', '-f', '-'], {
      input: [
        { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'chaos-runner', namespace } },
        {
          apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'chaos-runner', namespace },
          rules: [
            { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'delete'] },
            { apiGroups: ['apps'], resources: ['replicasets'], verbs: ['list'] },
            { apiGroups: ['policy'], resources: ['poddisruptionbudgets'], verbs: ['list'] },
            { apiGroups: [''], resources: ['events'], verbs: ['list'] },
            { apiGroups: ['chaos.kerris.dev'], resources: ['podchaos', 'networkchaos'], verbs: ['get', 'list', 'create', 'patch'] },
          ],
        },
        { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'chaos-runner', namespace }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'chaos-runner' }, subjects: [{ kind: 'ServiceAccount', name: 'chaos-runner', namespace }] },
      ].map((d) => stringify(d)).join('---\n'),
    });
    work = await mkdtemp(join(tmpdir(), 'kerris-cli-'));
    const token = (await kubectl(plane, ['create', 'token', 'chaos-runner', '-n', namespace, '--duration=1h'])).stdout.trim();
    const plugin = join(work, 'token-plugin');
    const credential = { apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential', status: { token, expirationTimestamp: new Date(Date.now() + 3_000_000).toISOString() } };
    await writeFile(plugin, `#!/bin/sh\necho run >> "${join(work, 'plugin-runs')}"\ncat <<'EOF'\n${JSON.stringify(credential)}\nEOF\n`);
    await chmod(plugin, 0o755);
    const admin = await readFile(plane.kubeconfig, 'utf8');
    const server = /server: (\S+)/.exec(admin)?.[1] ?? '';
    const ca = /certificate-authority(?:-data)?: (\S+)/.exec(admin);
    const caLine = ca?.[0].startsWith('certificate-authority-data') ? `certificate-authority-data: ${ca[1]}` : `certificate-authority: ${ca?.[1] ?? ''}`;
    execKubeconfig = join(work, 'exec.kubeconfig');
    await writeFile(execKubeconfig, `apiVersion: v1
kind: Config
clusters:
- name: testbed
  cluster:
    server: ${server}
    ${caLine}
users:
- name: chaos-runner
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: ${plugin}
      interactiveMode: Never
contexts:
- name: runner
  context: {cluster: testbed, user: chaos-runner, namespace: ${namespace}}
current-context: runner
`);
  });

  after(async () => {
    await fx?.cleanUp();
    await removeKerris(plane);
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('plan, through an exec credential plugin: 2 of 3 replicas under a PDB of minAvailable 2 is unsafe (exit 3), 1 is safe (exit 0); nothing is created', async () => {
    const file = join(work, 'two.yaml');
    await writeFile(file, podKill('kill-two', { value: '2' }));
    const two = await kerris(['plan', '-f', file], { kubeconfig: execKubeconfig });
    assert.equal(two.code, 3, `${two.stdout}\n${two.stderr}`);
    assert.match(two.stdout, /PodDisruptionBudget .*\/web allows 1 disruption/);
    assert.match(two.stdout, /BROKEN/);
    assert.match(two.stdout, /Verdict: UNSAFE/);
    assert.match(two.stderr, /unsafe/);
    const allowed = await kerris(['plan', '-f', file, '--allow-unsafe'], { kubeconfig: execKubeconfig });
    assert.equal(allowed.code, 0);

    const one = await kerris(['plan', '-f', '-', '-o', 'json'], { kubeconfig: execKubeconfig, input: podKill('kill-one', { value: '1' }) });
    assert.equal(one.code, 0, `${one.stdout}\n${one.stderr}`);
    const plan = JSON.parse(one.stdout) as Plan;
    assert.equal(plan.safe, true, JSON.stringify(plan.findings));
    assert.equal(plan.targets.length, 1);
    assert.ok(plan.targets[0]?.workload === 'Deployment/web', `the pod's workload is named: ${JSON.stringify(plan.targets)}`);
    assert.deepEqual(plan.budgets.map((b) => [b.hit, b.disruptionsAllowed, b.breaks]), [[1, 1, false]]);
    assert.ok(plan.access.every((a) => a.allowed), 'the ServiceAccount may delete and list pods here');
    assert.ok(plan.findings.some((f) => /Deployment kerris-system\/kerris-controller/.test(f.message) || /controller's defaults/.test(plan.policy)), 'it says it could not read the controller\'s flags');
    assert.ok((await readFile(join(work, 'plugin-runs'), 'utf8')).split('\n').filter(Boolean).length >= 1, 'the exec plugin was run');
    const created = await kubectlJson<{ items: unknown[] }>(plane, ['get', 'podchaos', '-n', namespace]);
    assert.equal(created.items.length, 0, 'a plan creates nothing');

    const other = await kerris(['plan', '-f', '-'], { kubeconfig: execKubeconfig, input: podKill('elsewhere', { selector: { namespaces: ['default'] } }) });
    assert.equal(other.code, 3);
    assert.match(other.stdout, /you may not delete pods in namespace default/);
  });

  it('get, describe and report (HTML in chromium, and JSON) of a pod-kill that ran', async () => {
    await kubectl(plane, ['apply', '-f', '-'], { input: podKill('killed', { seed: 3 }) });
    await fx.waitChaos(namespace, 'killed', 'Finished', (c) => c.status?.phase === 'Finished');
    const list = await kerris(['get', '-n', namespace]);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^NAME\s+ACTION\s+PHASE/m);
    assert.match(list.stdout, /podchaos\/killed\s+pod-kill\s+Finished\s+1\s+0\s+1\s+0/);
    const all = await kerris(['get', '-A', '-o', 'wide']);
    assert.match(all.stdout, new RegExp(`^${namespace}\\s+podchaos/killed`, 'm'));
    const one = JSON.parse((await kerris(['get', 'podchaos', 'killed', '-n', namespace, '-o', 'json'])).stdout) as PodChaos;
    assert.equal(one.status?.phase, 'Finished');

    const described = await kerris(['describe', 'killed', '-n', namespace]);
    assert.equal(described.code, 0, described.stderr);
    const target = one.status?.targets?.[0];
    assert.match(described.stdout, new RegExp(`${namespace}/${target?.name ?? 'none'}\\s+${target?.node ?? ''}\\s+Recovered`));
    assert.match(described.stdout, /Normal\s+Killed/);
    assert.match(described.stdout, /AllRecovered\s+True/);

    const file = join(work, 'killed.html');
    const written = await kerris(['report', 'killed', '-n', namespace, '-f', file]);
    assert.equal(written.code, 0, written.stderr);
    const page = await openFile(file);
    try {
      const plot = await page.page.locator('svg#timeline').boundingBox();
      assert.ok(plot && plot.width > 0 && plot.height > 0, 'the plot is drawn');
      assert.equal(await page.page.locator('g.series').count(), 1, 'one series per target');
      assert.deepEqual(page.consoleErrors, []);
      assert.deepEqual(page.pageErrors, []);
      assert.deepEqual(page.requests, [page.url], 'no request leaves the page');
      await page.screenshot(join(ARTEFACTS, 'report-cli-podchaos.png'));
    } finally {
      await page.close();
    }
    const json = JSON.parse((await kerris(['report', 'podchaos/killed', '-n', namespace, '-o', 'json'])).stdout) as { apiVersion: string; targets: unknown[] };
    assert.equal(json.apiVersion, 'report.kerris.dev/v1alpha1');
    assert.equal(json.targets.length, 1);
    await fx.waitAppReady(namespace);
  });

  it('pause, resume and abort a held pod-failure: the fault is taken away each time, and abort waits until it is', async () => {
    await kubectl(plane, ['apply', '-f', '-'], { input: podKill('frozen', { action: 'pod-failure', value: '1', duration: '10m' }) });
    const injected = (c: PodChaos): boolean => c.status?.phase === 'Running' && c.status.injected === 1;
    await fx.waitChaos(namespace, 'frozen', 'injected', injected);
    const paused = await kerris(['pause', 'frozen', '-n', namespace]);
    assert.equal(paused.code, 0, paused.stderr);
    const atPause = await fx.waitChaos(namespace, 'frozen', 'Paused', (c) => c.status?.phase === 'Paused');
    assert.deepEqual(atPause.status?.targets?.map((t) => t.phase), ['Selected'], 'the freeze is taken away while paused');
    assert.equal((await kerris(['pause', 'frozen', '-n', namespace])).stdout.trim(), 'podchaos/frozen is already paused');
    assert.equal((await kerris(['resume', 'frozen', '-n', namespace])).code, 0);
    await fx.waitChaos(namespace, 'frozen', 'injected again', injected);

    const aborted = await kerris(['abort', 'frozen', '-n', namespace, '--reason', 'cli test abort']);
    assert.equal(aborted.code, 0, aborted.stderr);
    assert.match(aborted.stderr, /podchaos\/frozen aborted: Aborted: 0 injected, 1 recovered/);
    const chaos = await fx.getChaos(namespace, 'frozen');
    assert.equal(chaos.status?.phase, 'Aborted');
    assert.match(condition(chaos, 'Aborted')?.message ?? '', /^cli test abort; /);
    assert.deepEqual(chaos.metadata.finalizers ?? [], []);
    await fx.waitAppReady(namespace);
    assert.equal((await kerris(['resume', 'frozen', '-n', namespace])).code, 1, 'an aborted experiment cannot be resumed');
  });

  it('doctor: healthy with a leader, a daemon per node and their abilities; a fault that no experiment owns makes it fail until it is gone', async () => {
    const since = Date.now();
    await surveyAfter(since);
    const healthy = await kerris(['doctor']);
    assert.equal(healthy.code, 0, `${healthy.stdout}\n${healthy.stderr}`);
    assert.match(healthy.stdout, /controller\s+OK\s+kerris-controller-\S+ leads/);
    assert.match(healthy.stdout, new RegExp(`daemon ${node.name}\\s+OK`));
    assert.match(healthy.stdout, new RegExp(`node ${node.name}\\s+OK\\s+contract v2; can do container-kill, container-freeze, network, stress, kubelet-stop, node-network; netem no`));
    assert.match(healthy.stdout, /certificates CA\s+OK/);
    assert.match(healthy.stdout, /orphans\s+OK/);

    // A freeze held under the controller's own identity for an experiment that does not exist.
    const [pod] = await appPods(plane, namespace);
    const status = await kubectlJson<{ status: { containerStatuses: { containerID: string }[] } }>(plane, ['get', 'pod', pod?.name ?? '', '-n', namespace]);
    const daemon = await daemonClientAs(plane, 'kerris-controller');
    try {
      const orphan = 'orphan-0000-uid';
      await daemon.client.sync(orphan, 60_000, [{ id: 'orphan-freeze', target: { containerId: runtimeId(status.status.containerStatuses[0]?.containerID) }, fault: { kind: 'container-freeze' } }]);
      await surveyAfter(Date.now());
      const sick = await kerris(['doctor', '-o', 'json']);
      assert.equal(sick.code, 3);
      const report = JSON.parse(sick.stdout) as { healthy: boolean; checks: { check: string; state: string; detail: string }[] };
      assert.equal(report.healthy, false);
      assert.ok(report.checks.some((c) => c.check === 'orphans' && c.state === 'fail' && c.detail.includes('orphan-freeze') && c.detail.includes(orphan)), JSON.stringify(report.checks));
      await daemon.client.sync(orphan, 60_000, []);
      await surveyAfter(Date.now());
      assert.equal((await kerris(['doctor'])).code, 0, 'healthy again once the fault is gone');
    } finally {
      daemon.client.close();
    }
  });

  it('kubectl conventions: --help on every command, usage errors exit 2, an unknown experiment exits 1, completion scripts', async () => {
    for (const command of ['get', 'describe', 'plan', 'pause', 'resume', 'abort', 'doctor', 'report', 'completion']) {
      const help = await kerris([command, '--help']);
      assert.equal(help.code, 0, command);
      assert.match(help.stdout, new RegExp(`^Usage: kubectl kerris ${command}`, 'm'));
    }
    assert.equal((await kerris(['get', 'nosuchkind'])).code, 2);
    assert.equal((await kerris(['plan'])).code, 2, 'plan needs -f');
    const missing = await kerris(['describe', 'nothing-here', '-n', namespace]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no chaos experiment nothing-here in namespace/);
    const chaosMesh = await kerris(['plan', '-f', '-'], { input: podKill('cm', {}).replace('chaos.kerris.dev/v1alpha1', 'chaos-mesh.org/v1alpha1') });
    assert.equal(chaosMesh.code, 2);
    assert.match(chaosMesh.stderr, /ports by changing apiVersion to chaos.kerris.dev\/v1alpha1/);
    for (const shell of ['bash', 'zsh', 'fish']) {
      const script = await kerris(['completion', shell]);
      assert.equal(script.code, 0);
      assert.match(script.stdout, /doctor/);
    }
    const bash = (await kerris(['completion', 'bash'])).stdout;
    const completed = await new Promise<string>((resolve, reject) => {
      const child = spawn('bash', ['-c', `${bash}\nCOMP_WORDS=(kubectl-kerris pl); COMP_CWORD=1; _kubectl_kerris; echo "\${COMPREPLY[@]}"`], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
      child.on('error', reject);
      child.on('close', () => resolve(out.trim()));
    });
    assert.equal(completed, 'plan');
  });
});
