/**
 * kerris installed with its Helm chart, as a user would: `helm install` into the test bed (with values for the
 * test-bed node, nothing patched after the install), a pod-kill experiment on the sample app, then `helm uninstall`,
 * the CRDs Helm keeps and the namespace made before the install deleted, and nothing of kerris left in the cluster
 * or on the node. kerris deployed by deployKerris at the start is deployed again at the end.
 */
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { chaosApi } from '../../src/api/group.ts';
import { CHART_DIR, helm, testBedValues } from '../testbed/chart.ts';
import { clusterNode, type ClusterNode, type ControlPlane } from '../testbed/index.ts';
import { daemonImage, DAEMON_SELECTOR, deployKerris, KERRIS_NAMESPACE, kerrisImage, removeKerris } from '../testbed/kerris.ts';
import { kubectl, kubectlJson } from '../testbed/kubectl.ts';
import { testBedLeftovers } from '../testbed/leftovers.ts';
import { importNetemImage, runningNetemNode } from '../testbed/netem-node/index.ts';
import { importImage } from '../testbed/node/images.ts';
import { REPO_ROOT } from '../testbed/paths.ts';
import { appPods } from '../testbed/sample-app.ts';
import { chaosFixtures, finished, type ChaosFixtures } from './chaos-fixtures.ts';

const RELEASE = 'kerris';
/** Every CRD the chart's crds/ holds: one per kind of the API. */
const CRDS = chaosApi.kinds.map((kind) => `${kind.plural}.${chaosApi.group}`);
const KERRIS_LABEL = 'app.kubernetes.io/name=kerris';

let plane: ControlPlane;
let node: ClusterNode;
let fx: ChaosFixtures;
let wasDeployed = false;
/** The test bed's host state with kerris removed, before the install: what must be all that is left at the end. */
let baseline: string[] = [];

const helmIn = (args: readonly string[], options: { allowFailure?: boolean; timeoutMs?: number } = {}) =>
  helm([...args, '--kubeconfig', plane.kubeconfig], undefined, options);

/** Whether kerris runs as deployKerris deploys it (not as a release this file left behind when it was killed). */
async function deployedByTestBed(): Promise<boolean> {
  const found = await kubectl(plane, ['get', 'deployment', 'kerris-controller', '-n', KERRIS_NAMESPACE, '--ignore-not-found', '-o', 'json']);
  if (found.stdout.trim() === '') return false;
  const deployment = JSON.parse(found.stdout) as { metadata: { labels?: Record<string, string> } };
  return deployment.metadata.labels?.['app.kubernetes.io/managed-by'] !== 'Helm';
}

/** Names of every object in the cluster, in any namespace or none, that carries kerris's name label. */
async function labelledObjects(): Promise<string[]> {
  const kinds = (await kubectl(plane, ['api-resources', '--verbs=list', '-o', 'name'])).stdout.split('\n').filter((k) => k !== '' && k !== 'events' && k !== 'events.events.k8s.io');
  const listed = await kubectl(plane, ['get', kinds.join(','), '--all-namespaces', '-l', KERRIS_LABEL, '-o', 'name', '--ignore-not-found']);
  return listed.stdout.split('\n').filter(Boolean).sort();
}

/** What exists of the objects kerris installs, by kind and name, whether labelled or not. */
async function kerrisObjects(): Promise<string[]> {
  const names = [
    ...CRDS.map((n) => `customresourcedefinition/${n}`), 'namespace/kerris-system', 'clusterrole/kerris-controller', 'clusterrolebinding/kerris-controller',
    'validatingadmissionpolicy/kerris-requester-access', 'validatingadmissionpolicybinding/kerris-requester-access',
  ];
  const found = await kubectl(plane, ['get', ...names, '--ignore-not-found', '-o', 'name']);
  return found.stdout.split('\n').filter(Boolean).sort();
}

async function waitRollout(kind: string, name: string): Promise<void> {
  const status = await kubectl(plane, ['rollout', 'status', `${kind}/${name}`, '-n', KERRIS_NAMESPACE, '--timeout=180s'], { timeoutMs: 200_000, allowFailure: true });
  if (status.code === 0) return;
  const pods = await kubectl(plane, ['get', 'pods', '-n', KERRIS_NAMESPACE, '-o', 'wide'], { allowFailure: true });
  const events = await kubectl(plane, ['get', 'events', '-n', KERRIS_NAMESPACE, '--field-selector=type=Warning'], { allowFailure: true });
  assert.fail(`${kind} ${name} installed by the chart did not become Ready: ${status.stderr.trim()}\n${pods.stdout}\n${events.stdout}`);
}

/** Uninstalls the release and removes what Helm keeps (CRDs) and what the installer made (the namespace). */
async function uninstall(): Promise<void> {
  await helmIn(['uninstall', RELEASE, '--namespace', KERRIS_NAMESPACE, '--ignore-not-found', '--wait', '--timeout', '180s'], { timeoutMs: 200_000 });
  await kubectl(plane, ['delete', 'crd', ...CRDS, '--ignore-not-found', '--wait=true'], { timeoutMs: 120_000 });
  await kubectl(plane, ['delete', 'namespace', KERRIS_NAMESPACE, '--ignore-not-found', '--wait=true', '--timeout=180s'], { timeoutMs: 200_000 });
}

describe('kerris installed with its Helm chart', { timeout: 1_200_000 }, () => {
  before(async () => {
    ({ plane, node } = await clusterNode());
    fx = chaosFixtures(plane, 'helm-pc');
    wasDeployed = await deployedByTestBed();
    await removeKerris(plane);
    await uninstall();
    baseline = await testBedLeftovers();
  });

  after(async () => {
    if (plane === undefined) return;
    // Whatever failed above, the cluster goes back to how this file found it.
    await fx.cleanUp();
    await uninstall();
    if (wasDeployed) await deployKerris(plane, node);
  });

  it('helm install with the test bed\'s values: the controller and every daemon Ready, a pod-kill replaces its target and Finishes', async () => {
    const images = { controller: await kerrisImage(), daemon: await daemonImage() };
    await importImage(node.containerdSocket, 'k8s.io', images.controller);
    await importImage(node.containerdSocket, 'k8s.io', images.daemon);
    // The DaemonSet tolerates every taint: while the netem node runs, a daemon pod lands there too and needs its image.
    const netem = await runningNetemNode(plane, node);
    if (netem !== undefined) await importNetemImage(netem, images.daemon);
    // The namespace, with its Pod Security labels, comes before the install (docs/helm.md): exactly deploy/'s.
    await kubectl(plane, ['apply', '-f', join(REPO_ROOT, 'deploy', 'controller', 'namespace.yaml')]);
    const started = Date.now();
    await helm(['install', RELEASE, CHART_DIR, '--namespace', KERRIS_NAMESPACE, '--kubeconfig', plane.kubeconfig], testBedValues(node, images));
    await waitRollout('deployment', 'kerris-controller');
    await waitRollout('daemonset', 'kerris-daemon');
    process.stderr.write(`helm install: controller and daemons Ready in ${Date.now() - started} ms\n`);
    const daemons = await kubectlJson<{ items: { spec: { nodeName: string } }[] }>(plane, ['get', 'pods', '-n', KERRIS_NAMESPACE, '-l', DAEMON_SELECTOR]);
    assert.ok(daemons.items.some((p) => p.spec.nodeName === node.name), `a daemon pod on ${node.name}`);
    const released = JSON.parse((await helmIn(['list', '--namespace', KERRIS_NAMESPACE, '-o', 'json'])).stdout) as { name: string; status: string }[];
    assert.deepEqual(released.map((r) => [r.name, r.status]), [[RELEASE, 'deployed']]);

    const namespace = await fx.newApp();
    const before = await appPods(plane, namespace);
    await fx.applyChaos(namespace, 'kill-one', { seed: 7 });
    const chaos = await fx.waitChaos(namespace, 'kill-one', 'Finished with no finalizer', (c) => finished(c) && (c.metadata.finalizers ?? []).length === 0);
    assert.equal(chaos.status?.phase, 'Finished');
    assert.equal(chaos.status?.recovered, 1);
    const [target] = chaos.status?.targets ?? [];
    assert.ok(target && before.some((p) => p.uid === target.uid), 'the target was one of the app\'s pods');
    const now = await fx.waitAppReady(namespace);
    assert.ok(!now.some((p) => p.uid === target.uid), 'the killed pod is gone');
    assert.ok(target.replacedBy && now.some((p) => p.name === target.replacedBy), `its replacement ${target.replacedBy} runs`);
    // The experiments go first, while the controller still runs to take their faults away.
    await fx.cleanUp();
  });

  it('helm uninstall, then the CRDs and the namespace: nothing of kerris is left in the cluster or on the node', async () => {
    await uninstall();
    assert.deepEqual(await kerrisObjects(), [], 'CRDs, namespace, cluster RBAC and the admission policy are gone');
    assert.deepEqual(await labelledObjects(), [], `no object labelled ${KERRIS_LABEL} in any namespace`);
    assert.deepEqual(JSON.parse((await helmIn(['list', '--all-namespaces', '-o', 'json'])).stdout), [], 'no release');
    // Pod sandboxes and their shims go a moment after the pods: wait until the node is back to the baseline.
    const deadline = Date.now() + 90_000;
    let left: string[] = [];
    for (;;) {
      left = (await testBedLeftovers()).filter((entry) => !baseline.includes(entry));
      if (left.length === 0 || Date.now() > deadline) break;
      await sleep(1_000);
    }
    assert.deepEqual(left, [], 'the node holds processes, mounts, namespaces, interfaces or rules it did not hold before the install');
    // The daemon's journal on the node (the chart's daemon.hostPaths.journal) holds no fault.
    const journal = await readdir(join(node.stateDir, 'kerris-daemon', 'journal')).catch(() => []);
    assert.deepEqual(journal.filter((name) => name.startsWith('injection-')), [], 'no fault journaled on the node');
  });
});
