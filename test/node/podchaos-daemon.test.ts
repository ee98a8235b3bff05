/**
 * pod-failure and container-kill end to end: the controller and the node
 * daemon run in the test-bed cluster from images built from this checkout,
 * with the certificates the controller issues itself, and act on a real
 * Deployment serving HTTP on a real node.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it, type TestContext } from 'node:test';
import { parse } from 'yaml';
import type { PodChaos } from '../../src/api/generated/types.ts';
import { ContainerdRuntime } from '../../src/daemon/runtime/containerd.ts';
import { clusterNode, type ClusterNode, type ControlPlane } from '../testbed/index.ts';
import { daemonClientAs, deployKerris, KERRIS_NAMESPACE, removeKerris } from '../testbed/kerris.ts';
import { kubectl, kubectlJson } from '../testbed/kubectl.ts';
import { containerFreezer, freezerFile, isFrozen as frozenNow } from '../testbed/node/freezer.ts';
import { REPO_ROOT } from '../testbed/paths.ts';
import { answersHttp, SAMPLE_APP } from '../testbed/sample-app.ts';
import { chaosFixtures, condition, pollFor, finished, type ChaosFixtures } from './chaos-fixtures.ts';

let plane: ControlPlane;
let node: ClusterNode;
let fx: ChaosFixtures;
let containerd: ContainerdRuntime;

/** The controller's lease on each daemon (deploy/controller: --daemon-lease-ttl). */
const LEASE_TTL_MS = 10_000;

interface PodJson {
  metadata: { name: string; uid: string; deletionTimestamp?: string };
  status: { podIP?: string; containerStatuses?: Array<{ name: string; containerID?: string; restartCount: number; ready: boolean }> };
}

const podJson = (namespace: string, name: string): Promise<PodJson> => kubectlJson<PodJson>(plane, ['get', 'pod', name, '-n', namespace]);
/** The app's pods that are not on their way out (a rollout leaves terminating ones for a while). */
const appPodsJson = async (namespace: string): Promise<PodJson[]> => (await kubectlJson<{ items: PodJson[] }>(plane, ['get', 'pods', '-n', namespace, '-l', `app=${SAMPLE_APP}`])).items
  .filter((p) => p.metadata.deletionTimestamp === undefined);

/** Each container's freezer control file and its content, as the kernel has it now. */
async function freezerState(pod: PodJson): Promise<Record<string, string>> {
  const state: Record<string, string> = {};
  for (const c of pod.status.containerStatuses ?? []) state[c.name] = await freezerFile(await containerFreezer(containerd, c.containerID));
  return state;
}

/** Whether the pod's first container is frozen in the kernel. */
const isFrozen = async (pod: PodJson): Promise<boolean> => frozenNow(await containerFreezer(containerd, pod.status.containerStatuses?.[0]?.containerID));

const targetOf = async (namespace: string, chaos: PodChaos): Promise<PodJson> => {
  const [target] = chaos.status?.targets ?? [];
  assert.ok(target, `a target in ${JSON.stringify(chaos.status)}`);
  return podJson(namespace, target.name);
};

const injected = (c: PodChaos): boolean => condition(c, 'AllInjected')?.status === 'True';

async function daemonPods(): Promise<Array<{ metadata: { name: string; uid: string }; status: { podIP?: string } }>> {
  return (await kubectlJson<{ items: Array<{ metadata: { name: string; uid: string }; status: { podIP?: string } }> }>(plane, ['get', 'pods', '-n', KERRIS_NAMESPACE, '-l', 'app.kubernetes.io/component=daemon'])).items;
}

describe('pod-failure and container-kill through the node daemon, on the real cluster', { timeout: 1_200_000 }, () => {
  before(async () => {
    ({ plane, node } = await clusterNode());
    fx = chaosFixtures(plane, 'e2e-pd');
    containerd = new ContainerdRuntime({ socket: node.containerdSocket });
    await deployKerris(plane, node, { replicas: 2 });
  });

  after(async () => {
    await fx.cleanUp();
    containerd?.close();
    await removeKerris(plane);
  });

  it('pod-failure on 1 of 3 pods: the frozen pod stops answering while the others serve; after duration it serves again, not restarted, freezer as before', async (t: TestContext) => {
    const namespace = await fx.newApp();
    const pods = await appPodsJson(namespace);
    const before = new Map(await Promise.all(pods.map(async (p) => [p.metadata.uid, await freezerState(p)] as const)));
    const appliedAt = Date.now();
    await fx.applyChaos(namespace, 'freeze', { action: 'pod-failure', duration: '12s', seed: 7 });
    const running = await fx.waitChaos(namespace, 'freeze', 'injected', injected);
    const target = await targetOf(namespace, running);
    await pollFor('the target frozen in the kernel', 10_000, async () => (await isFrozen(target) ? true : undefined));
    t.diagnostic(`apply to frozen (kernel): ${Date.now() - appliedAt} ms`);
    assert.equal(await answersHttp(target.status.podIP ?? ''), false, 'the frozen pod does not answer');
    for (const other of pods.filter((p) => p.metadata.uid !== target.metadata.uid)) assert.equal(await answersHttp(other.status.podIP ?? ''), true, `${other.metadata.name} serves`);
    assert.equal(running.status?.targets?.[0]?.phase, 'Injected');
    assert.deepEqual(running.status?.targets?.[0]?.containers, [SAMPLE_APP]);

    const done = await fx.waitChaos(namespace, 'freeze', 'Finished', finished, 60_000);
    assert.equal(done.status?.phase, 'Finished');
    const record = done.status?.targets?.[0];
    assert.equal(record?.phase, 'Recovered');
    assert.ok(record?.injectedAt && record.recoveredAt, 'status says when it was frozen and thawed');
    assert.ok(Date.parse(record.recoveredAt) - Date.parse(record.injectedAt) >= 11_000, `held for the duration: ${record.injectedAt} → ${record.recoveredAt}`);
    await pollFor('the pod to serve again', 10_000, async () => (await answersHttp(target.status.podIP ?? '') ? true : undefined));
    const afterPod = await podJson(namespace, target.metadata.name);
    assert.deepEqual(afterPod.status.containerStatuses?.map((c) => c.restartCount), target.status.containerStatuses?.map((c) => c.restartCount), 'not restarted');
    for (const p of await appPodsJson(namespace)) assert.deepEqual(await freezerState(p), before.get(p.metadata.uid), `${p.metadata.name}: freezer state as before`);
    const reasons = (await fx.chaosEvents(namespace, 'freeze')).map((e) => e.reason);
    for (const reason of ['Selected', 'Frozen', 'Recovered', 'Finished']) assert.ok(reasons.includes(reason), `Event ${reason} in ${reasons.join(',')}`);
  });

  it('pause mid-failure thaws, resume freezes again, delete mid-failure thaws at once', async () => {
    const namespace = await fx.newApp();
    await fx.applyChaos(namespace, 'toggle', { action: 'pod-failure', duration: '10m', seed: 11 });
    const target = await targetOf(namespace, await fx.waitChaos(namespace, 'toggle', 'injected', injected));
    await pollFor('frozen', 10_000, async () => (await isFrozen(target) ? true : undefined));

    await kubectl(plane, ['patch', 'podchaos', 'toggle', '-n', namespace, '--type=merge', '-p', '{"spec":{"paused":true}}']);
    const paused = await fx.waitChaos(namespace, 'toggle', 'Paused', (c) => c.status?.phase === 'Paused');
    assert.equal(await isFrozen(target), false, 'pausing took the fault away before reporting Paused');
    assert.ok(await answersHttp(target.status.podIP ?? ''), 'the paused pod serves');
    assert.equal(paused.status?.targets?.[0]?.phase, 'Selected');

    await kubectl(plane, ['patch', 'podchaos', 'toggle', '-n', namespace, '--type=merge', '-p', '{"spec":{"paused":false}}']);
    await fx.waitChaos(namespace, 'toggle', 'injected again', (c) => c.status?.phase === 'Running' && c.status.targets?.[0]?.phase === 'Injected');
    await pollFor('frozen again', 10_000, async () => (await isFrozen(target) ? true : undefined));

    await kubectl(plane, ['delete', 'podchaos', 'toggle', '-n', namespace, '--wait=true', '--timeout=30s'], { timeoutMs: 40_000 });
    assert.equal(await isFrozen(target), false, 'the object went only after its fault was taken away');
    assert.ok(await answersHttp(target.status.podIP ?? ''));
  });

  it('a container killed and restarted while failed is frozen again, and thawed with the rest at the end', async () => {
    const namespace = await fx.newApp();
    await fx.applyChaos(namespace, 'follow', { action: 'pod-failure', duration: '10m', seed: 19 });
    const target = await targetOf(namespace, await fx.waitChaos(namespace, 'follow', 'injected', injected));
    await pollFor('frozen', 10_000, async () => (await isFrozen(target) ? true : undefined));
    const old = target.status.containerStatuses?.[0];
    assert.ok(old?.containerID);
    // SIGKILL ends a task frozen with cgroup v2's cgroup.freeze; the kubelet starts a new container in its place.
    await containerd.kill(old.containerID.replace(/^containerd:\/\//, ''));
    const restarted = await pollFor('the kubelet to restart the container', 60_000, async () => {
      const pod = await podJson(namespace, target.metadata.name);
      const now = pod.status.containerStatuses?.[0];
      return now?.containerID && now.containerID !== old.containerID && now.restartCount === old.restartCount + 1 ? pod : undefined;
    });
    await pollFor('the daemon to freeze the new container', 15_000, async () => (await isFrozen(restarted).catch(() => false) ? true : undefined));
    await kubectl(plane, ['delete', 'podchaos', 'follow', '-n', namespace, '--wait=true', '--timeout=30s'], { timeoutMs: 40_000 });
    assert.equal(await isFrozen(restarted), false);
  });

  it('container-kill: the restartCount of exactly the named container rises by one; the others and other pods stay', async () => {
    const namespace = await fx.newApp();
    // A second container in each pod, so "only the named one" means something.
    await kubectl(plane, ['patch', 'deployment', SAMPLE_APP, '-n', namespace, '--type=strategic', '-p', JSON.stringify({
      spec: { template: { spec: { containers: [{ name: 'sidecar', image: node.images.workload, imagePullPolicy: 'Never', command: ['/bin/sleep', '3600'] }] } } },
    })]);
    await kubectl(plane, ['rollout', 'status', `deployment/${SAMPLE_APP}`, '-n', namespace, '--timeout=120s'], { timeoutMs: 150_000 });
    await fx.waitAppReady(namespace);
    const before = await appPodsJson(namespace);
    await fx.applyChaos(namespace, 'kill-sidecar', { action: 'container-kill', containerNames: ['sidecar'], seed: 5 });
    const done = await fx.waitChaos(namespace, 'kill-sidecar', 'Finished', finished, 90_000);
    assert.equal(done.status?.phase, 'Finished', JSON.stringify(done.status));
    const record = done.status?.targets?.[0];
    assert.equal(record?.phase, 'Recovered');
    assert.deepEqual(record?.containers, ['sidecar']);
    assert.match(record?.message ?? '', /sidecar restartCount 0 → 1/);
    const after = await appPodsJson(namespace);
    for (const pod of before) {
      const now = after.find((p) => p.metadata.uid === pod.metadata.uid);
      assert.ok(now, `${pod.metadata.name} is still there (a container-kill does not replace the pod)`);
      for (const c of pod.status.containerStatuses ?? []) {
        const rise: number = (now.status.containerStatuses?.find((x) => x.name === c.name)?.restartCount ?? -1) - c.restartCount;
        assert.equal(rise, pod.metadata.uid === record?.uid && c.name === 'sidecar' ? 1 : 0, `${pod.metadata.name}/${c.name} restarts`);
      }
    }
  });

  it('the Chaos Mesh examples for pod-failure and container-kill run as they would there, with only apiVersion changed', async () => {
    const namespace = await fx.newApp();
    for (const file of ['podchaos-pod-failure.yaml', 'podchaos-container-kill.yaml']) {
      const manifest = parse(await readFile(`${REPO_ROOT}/examples/${file}`, 'utf8')) as PodChaos;
      assert.equal(manifest.apiVersion, 'chaos.kerris.dev/v1alpha1');
      manifest.metadata.namespace = namespace;
      await kubectl(plane, ['apply', '-f', '-'], { input: JSON.stringify(manifest) });
      const done = await fx.waitChaos(namespace, manifest.metadata.name ?? '', 'Finished', finished, 120_000);
      assert.equal(done.status?.phase, 'Finished', `${file}: ${JSON.stringify(done.status)}`);
      assert.equal(done.status?.recovered, 1, file);
    }
  });

  it('a client certificate the kerris CA signed for another identity is refused by the daemon in the cluster', async () => {
    const call = async (commonName: string): Promise<unknown> => {
      const { client } = await daemonClientAs(plane, commonName);
      try {
        return await client.capabilities();
      } catch (error) {
        return error;
      } finally {
        client.close();
      }
    };
    const intruder = await call('kerris-intruder');
    assert.ok(intruder instanceof Error && /may not call|PERMISSION_DENIED|not allowed/i.test(intruder.message), `refused: ${String(intruder)}`);
    const controller = await call('kerris-controller');
    assert.ok(!(controller instanceof Error), `the controller's identity is accepted: ${String(controller)}`);
  });

  it('the daemon pod killed mid-failure: the new daemon pod finds the journal, keeps the fault, and ends it on time', async () => {
    const namespace = await fx.newApp();
    await fx.applyChaos(namespace, 'daemon-restart', { action: 'pod-failure', duration: '25s', seed: 13 });
    const running = await fx.waitChaos(namespace, 'daemon-restart', 'injected', injected);
    const target = await targetOf(namespace, running);
    const injectedAt = Date.parse(running.status?.injectedAt ?? '');
    await pollFor('frozen', 10_000, async () => (await isFrozen(target) ? true : undefined));
    const [old] = await daemonPods();
    assert.ok(old);
    await kubectl(plane, ['delete', 'pod', old.metadata.name, '-n', KERRIS_NAMESPACE, '--grace-period=0', '--force'], { allowFailure: true });
    await pollFor('a new daemon pod Ready', 60_000, async () => {
      const ready = await kubectl(plane, ['wait', '--for=condition=Ready', 'pod', '-l', 'app.kubernetes.io/component=daemon', '-n', KERRIS_NAMESPACE, '--timeout=2s'], { allowFailure: true });
      const pods = await daemonPods();
      return ready.code === 0 && pods.length > 0 && pods.every((p) => p.metadata.uid !== old.metadata.uid) ? true : undefined;
    });
    assert.equal(await isFrozen(target), true, 'the restarted daemon kept the fault');
    await pollFor('thawed', 40_000, async () => (await isFrozen(target) ? undefined : true));
    const heldMs = Date.now() - injectedAt;
    assert.ok(heldMs >= 24_000 && heldMs <= 25_000 + 8_000, `thawed on time: held ${heldMs} ms for a 25 s duration`);
    await fx.waitChaos(namespace, 'daemon-restart', 'Finished', finished, 30_000);
  });

  it('the controller killed mid-failure and kept down: the daemon thaws by itself within the lease TTL + 2 s', async (t: TestContext) => {
    const namespace = await fx.newApp();
    await fx.applyChaos(namespace, 'orphaned', { action: 'pod-failure', duration: '10m', seed: 17 });
    const target = await targetOf(namespace, await fx.waitChaos(namespace, 'orphaned', 'injected', injected));
    await pollFor('frozen', 10_000, async () => (await isFrozen(target) ? true : undefined));
    try {
      await kubectl(plane, ['scale', 'deployment/kerris-controller', '-n', KERRIS_NAMESPACE, '--replicas=0']);
      await kubectl(plane, ['delete', 'pods', '-n', KERRIS_NAMESPACE, '-l', 'app.kubernetes.io/component=controller', '--grace-period=0', '--force'], { allowFailure: true });
      const goneAt = Date.now();
      await pollFor('thawed by the daemon', LEASE_TTL_MS + 10_000, async () => (await isFrozen(target) ? undefined : true));
      const thawMs = Date.now() - goneAt;
      t.diagnostic(`controller gone to thaw by lease expiry: ${thawMs} ms (lease TTL ${LEASE_TTL_MS} ms)`);
      assert.ok(thawMs <= LEASE_TTL_MS + 2_000, `thawed ${thawMs} ms after the controller went`);
      assert.ok(await answersHttp(target.status.podIP ?? ''));
    } finally {
      await fx.scaleController(2);
    }
    await kubectl(plane, ['delete', 'podchaos', 'orphaned', '-n', namespace, '--wait=true', '--timeout=60s'], { timeoutMs: 70_000 });
    assert.equal(await isFrozen(target), false);
  });

  it('with no daemon Ready in the cluster, pod-failure is refused before anything is picked, and touches nothing', async () => {
    const namespace = await fx.newApp();
    const away = { spec: { template: { spec: { nodeSelector: { 'kerris.dev/no-such-node': 'true' } } } } };
    await kubectl(plane, ['patch', 'daemonset', 'kerris-daemon', '-n', KERRIS_NAMESPACE, '--type=strategic', '-p', JSON.stringify(away)]);
    try {
      await pollFor('no daemon pod left', 60_000, async () => ((await daemonPods()).length === 0 ? true : undefined));
      await fx.applyChaos(namespace, 'no-daemon', { action: 'pod-failure', duration: '30s' });
      const refused = await fx.waitChaos(namespace, 'no-daemon', 'Failed', finished);
      assert.equal(condition(refused, 'Failed')?.reason, 'Unsupported');
      assert.match(condition(refused, 'Failed')?.message ?? '', /no daemon pod is Ready/);
      assert.equal(refused.status?.selected, undefined, 'it never picked a target');
      for (const pod of await appPodsJson(namespace)) assert.equal(await isFrozen(pod), false);
    } finally {
      await kubectl(plane, ['patch', 'daemonset', 'kerris-daemon', '-n', KERRIS_NAMESPACE, '--type=json', '-p', JSON.stringify([{ op: 'remove', path: '/spec/template/spec/nodeSelector' }])]);
      await kubectl(plane, ['rollout', 'status', 'daemonset/kerris-daemon', '-n', KERRIS_NAMESPACE, '--timeout=120s'], { timeoutMs: 150_000 });
    }
  });
});
