/**
 * The daemon against kubelet's pods on the test-bed node: CRI and containerd
 * resolve the same pid, a freeze lands in kubelet's cgroup, a network fault
 * follows a container that kubelet restarts after a container-kill, and the
 * target policy refuses a hostNetwork pod's network fault and a kube-system
 * pod's freeze with nothing changed.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { freezerOfPid } from '../../src/daemon/cgroup.ts';
import { ErrorCode, Phase } from '../../src/daemon/client.ts';
import { snapshotKernelState } from '../../src/daemon/net/snapshot.ts';
import { processState } from '../../src/daemon/proc.ts';
import { ContainerdRuntime } from '../../src/daemon/runtime/containerd.ts';
import { CriRuntime } from '../../src/daemon/runtime/cri.ts';
import { TargetResolver } from '../../src/daemon/runtime/resolve.ts';
import { makeCertificates } from '../../src/daemon/tls-certs.ts';
import { readTlsFiles } from '../../src/daemon/tls.ts';
import { spawnDaemon, journalFiles, type RunningDaemon } from '../host/daemon-fixture.ts';
import { clusterNode, type ControlPlane } from '../testbed/index.ts';
import { kubectl, kubectlJson } from '../testbed/kubectl.ts';
import type { ClusterNode } from '../testbed/node/index.ts';
import { createNamespace, deleteNamespace, eventually } from '../testbed/node/testing.ts';

const NAMESPACE = `kerris-daemon-${process.pid}`;
const POD = 'target';
const CONTAINER = 'workload';
const EXP = 'exp-node';
const HOST_POD = 'host-network';
/** A pod of this test in a protected namespace; its name carries the test's pid so parallel runs never collide. */
const SYSTEM_POD = `kerris-daemon-test-${process.pid}`;

interface PodStatus {
  metadata: { uid: string };
  status: { containerStatuses?: Array<{ name: string; containerID?: string; restartCount: number; ready: boolean; state: { running?: object } }> };
}

let plane: ControlPlane;
let node: ClusterNode;
let dir: string;
let daemon: RunningDaemon;

async function pod(namespace = NAMESPACE, name = POD): Promise<PodStatus> {
  return kubectlJson<PodStatus>(plane, ['get', 'pod', '-n', namespace, name]);
}

/** The running container's ID (without the "containerd://" scheme) and restart count, once it runs. */
async function runningContainer(namespace = NAMESPACE, name = POD): Promise<{ id: string; restarts: number } | undefined> {
  const status = (await pod(namespace, name)).status.containerStatuses?.find((c) => c.name === CONTAINER);
  if (status?.state.running === undefined || status.containerID === undefined) return undefined;
  return { id: status.containerID.replace(/^containerd:\/\//, ''), restarts: status.restartCount };
}

const describePod = async (): Promise<string> => (await kubectl(plane, ['describe', 'pod', '-n', NAMESPACE, POD], { allowFailure: true })).stdout;

function podManifest(namespace: string, name: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace },
    spec: {
      nodeSelector: { 'kubernetes.io/hostname': node.name }, restartPolicy: 'Always', terminationGracePeriodSeconds: 1,
      containers: [{ name: CONTAINER, image: node.images.workload, imagePullPolicy: 'Never' }], ...extra,
    },
  };
}

before(async () => {
  ({ plane, node } = await clusterNode());
  await createNamespace(plane, NAMESPACE);
  await kubectl(plane, ['apply', '-f', '-'], {
    input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [
      podManifest(NAMESPACE, POD), podManifest(NAMESPACE, HOST_POD, { hostNetwork: true }), podManifest('kube-system', SYSTEM_POD),
    ] }),
  });
  await eventually('the pods to run', 90_000, async () => (await runningContainer() !== undefined && await runningContainer(NAMESPACE, HOST_POD) !== undefined
    && await runningContainer('kube-system', SYSTEM_POD) !== undefined ? true : undefined), describePod);
  dir = await mkdtemp('/run/kd-node-');
  const certs = await makeCertificates(join(dir, 'pki'));
  daemon = await spawnDaemon({ containerdSocket: node.containerdSocket, journalDir: join(dir, 'journal'), certs, clientTls: await readTlsFiles(certs.client) });
});

after(async () => {
  await daemon?.stop();
  if (plane) await kubectl(plane, ['delete', 'pod', '-n', 'kube-system', SYSTEM_POD, '--ignore-not-found', '--wait=true'], { allowFailure: true });
  if (plane) await deleteNamespace(plane, NAMESPACE);
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('containerd\'s Tasks/Get and CRI\'s verbose ContainerStatus resolve a kubelet container to the same pid; both find it by its pod', async () => {
  const container = await runningContainer();
  assert.ok(container);
  const { metadata: { uid } } = await pod();
  const containerd = new ContainerdRuntime({ socket: node.containerdSocket });
  const cri = new CriRuntime({ socket: node.containerdSocket });
  try {
    assert.deepEqual(await containerd.findInPod(uid, CONTAINER), [container.id], 'containerd Containers/List by pod labels');
    assert.deepEqual(await cri.findInPod(uid, CONTAINER), [container.id], 'CRI ListContainers by pod labels');
    assert.deepEqual(await cri.findInPod(uid, 'no-such-container'), []);
  } finally {
    containerd.close();
    cri.close();
  }
  const viaContainerd = new TargetResolver([new ContainerdRuntime({ socket: node.containerdSocket })]);
  const viaCri = new TargetResolver([new CriRuntime({ socket: node.containerdSocket })]);
  try {
    const [a, b] = [await viaContainerd.resolve(container.id), await viaCri.resolve(container.id)];
    assert.equal(a.pid, b.pid);
    assert.match(b.runtime, /^cri /);
    const cmdline = await readFile(`/proc/${a.pid}/cmdline`, 'utf8');
    assert.match(cmdline, /kerris-serve/, 'the pid runs the pod\'s command');
  } finally {
    viaContainerd.close();
    viaCri.close();
  }
});

test('a freeze lands in kubelet\'s cgroup of the container and is taken away again', async () => {
  const container = await runningContainer();
  assert.ok(container);
  const pid = (await daemon.client.sync(EXP, 30_000, [{ id: 'pod-freeze', target: { containerId: container.id }, fault: { kind: 'container-freeze' } }])).results[0]?.injection?.pid;
  assert.ok(pid !== undefined && pid > 0);
  const freezer = await freezerOfPid(pid);
  assert.match(freezer.dir, /kubepods/, 'kubelet\'s cgroup');
  assert.equal((await readFile(freezer.file, 'utf8')).trim(), freezer.frozen);
  if (freezer.version === 2) {
    await eventually('the kernel to report the cgroup frozen', 5_000, async () => (/^frozen 1$/m.test(await readFile(join(freezer.dir, 'cgroup.events'), 'utf8')) ? true : undefined), describePod);
  } else {
    assert.equal(await processState(pid), 'D');
  }
  assert.deepEqual((await daemon.client.sync(EXP, 30_000, [])).removed, ['pod-freeze']);
  assert.equal((await readFile(freezer.file, 'utf8')).trim(), freezer.thawed);
});

test('container-kill makes kubelet restart the container; the network fault follows it in the pod netns; recover leaves the netns as it was', async () => {
  const first = await runningContainer();
  assert.ok(first);
  const { metadata: { uid } } = await pod();
  const target = { containerId: first.id, podUid: uid, containerName: CONTAINER };
  const resolver = new TargetResolver([new ContainerdRuntime({ socket: node.containerdSocket })]);
  const netnsBefore = await snapshotKernelState(`/proc/${(await resolver.resolve(first.id).finally(() => resolver.close())).pid}/ns/net`);

  const fault = { action: { case: 'bandwidth' as const, value: { rate: '2mbit', limit: 20_000, buffer: 10_000 } } };
  const injected = await daemon.client.sync(EXP, 60_000, [{ id: 'pod-net', target, fault: { kind: 'network', faults: [fault] } }]);
  assert.equal(injected.results[0]?.ok, true, JSON.stringify(injected));
  const netPid = injected.results[0]?.injection?.pid ?? 0;
  assert.match((await snapshotKernelState(`/proc/${netPid}/ns/net`)).tc, /qdisc tbf/);

  // Another experiment: the first one's next Sync must not remove the kill.
  const killed = await daemon.client.sync(`${EXP}-kill`, 60_000, [{ id: 'pod-kill', target: { containerId: first.id }, fault: { kind: 'container-kill' } }]);
  assert.equal(killed.results[0]?.ok, true, JSON.stringify(killed));
  const second = await eventually('kubelet to restart the container', 60_000, async () => {
    const c = await runningContainer();
    return c !== undefined && c.id !== first.id ? c : undefined;
  }, describePod);
  assert.equal(second.restarts, first.restarts + 1);

  const followed = await eventually('the daemon to follow the restarted container', 15_000, async () => {
    const injection = (await daemon.client.list()).injections.find((i) => i.id === 'pod-net');
    return injection !== undefined && injection.pid !== netPid ? injection : undefined;
  }, async () => JSON.stringify(await daemon.client.list()));
  assert.equal(followed.phase, Phase.ACTIVE);
  const netns = `/proc/${followed.pid}/ns/net`;
  assert.equal((await snapshotKernelState(netns)).tc.match(/qdisc tbf/g)?.length, 1, 'the fault is still there, once');

  const recovered = [await daemon.client.sync(EXP, 60_000, []), await daemon.client.sync(`${EXP}-kill`, 60_000, [])];
  assert.deepEqual(recovered.map((r) => [r.removed, r.revertFailed]), [[['pod-net'], []], [['pod-kill'], []]], JSON.stringify(recovered));
  assert.deepEqual((await daemon.client.list()).injections, []);
  assert.deepEqual(await snapshotKernelState(netns), netnsBefore, 'pod netns after == before');
  assert.deepEqual(await journalFiles(join(dir, 'journal')), []);
});

test('CRI StopContainer with timeout 0, the kill of CRI-only runtimes, kills the container; kubelet starts a new one', async () => {
  const before = await runningContainer();
  assert.ok(before);
  const cri = new CriRuntime({ socket: node.containerdSocket });
  try {
    await cri.kill(before.id);
  } finally {
    cri.close();
  }
  const after = await eventually('kubelet to restart the killed container', 60_000, async () => {
    const c = await runningContainer();
    return c !== undefined && c.id !== before.id ? c : undefined;
  }, describePod);
  assert.equal(after.restarts, before.restarts + 1);
});

test('the target policy refuses a hostNetwork pod\'s network fault and a kube-system pod\'s freeze; nothing changes', async () => {
  const host = await runningContainer(NAMESPACE, HOST_POD);
  const system = await runningContainer('kube-system', SYSTEM_POD);
  assert.ok(host && system);
  const resolver = new TargetResolver([new ContainerdRuntime({ socket: node.containerdSocket })]);
  const systemPid = (await resolver.resolve(system.id).finally(() => resolver.close())).pid;
  const freezer = await freezerOfPid(systemPid);
  // The node's network namespace, which a hostNetwork pod shares: this test's own (the test bed's node runs in it;
  // /proc/1 may be out of reach in a sandbox).
  const hostNetns = `/proc/${process.pid}/ns/net`;
  const hostNetBefore = await snapshotKernelState(hostNetns);
  const freezeBefore = (await readFile(freezer.file, 'utf8')).trim();

  const fault = { action: { case: 'bandwidth' as const, value: { rate: '2mbit', limit: 20_000, buffer: 10_000 } } };
  const refused = await daemon.client.sync(`${EXP}-policy`, 30_000, [
    { id: 'host-net', target: { containerId: host.id }, fault: { kind: 'network', faults: [fault] } },
    { id: 'system-freeze', target: { containerId: system.id }, fault: { kind: 'container-freeze' } },
  ]);
  assert.deepEqual(refused.results.map((r) => [r.id, r.ok, r.errorCode]), [['host-net', false, ErrorCode.INVALID], ['system-freeze', false, ErrorCode.INVALID]]);
  // The test's daemon runs in the node's netns itself, so the refusal may name either: both are the host's.
  assert.match(refused.results[0]?.message ?? '', /host's network namespace|daemon's network namespace/);
  assert.match(refused.results[1]?.message ?? '', /namespace kube-system is protected/);
  assert.deepEqual((await daemon.client.list({ experiment: `${EXP}-policy` })).injections, []);
  assert.deepEqual(await snapshotKernelState(hostNetns), hostNetBefore, 'host netns after == before');
  assert.equal((await readFile(freezer.file, 'utf8')).trim(), freezeBefore, 'the kube-system pod was never frozen');
  assert.equal(freezeBefore, freezer.thawed);
  assert.deepEqual(await journalFiles(join(dir, 'journal')), []);
});
