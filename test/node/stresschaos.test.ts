/**
 * StressChaos end to end: the controller and the node daemon run in the test-bed cluster from images built from this
 * checkout and put stress-ng into a real container's cgroups on a real node. Every figure is read by the test from
 * the container's cgroup itself (CPU time, working set, its processes), not from kerris's report; after each
 * experiment no stressor process is left anywhere on the host.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it, type TestContext } from 'node:test';
import type { StressChaos } from '../../src/api/generated/types.ts';
import { ContainerdRuntime } from '../../src/daemon/runtime/containerd.ts';
import { clusterNode, type ClusterNode, type ControlPlane } from '../testbed/index.ts';
import { deployKerris, KERRIS_NAMESPACE, removeKerris } from '../testbed/kerris.ts';
import { kubectl, kubectlJson } from '../testbed/kubectl.ts';
import { ContainerCgroup, hostStressors, isStressNg, whereStressorsAre } from '../testbed/node/cgroup-usage.ts';
import { chaosFixtures, condition, pollFor, type ChaosFixtures } from './chaos-fixtures.ts';

let plane: ControlPlane;
let node: ClusterNode;
let fx: ChaosFixtures<'StressChaos'>;
let containerd: ContainerdRuntime;

const MiB = 2 ** 20;
/** The controller's lease on each daemon (deploy/controller: --daemon-lease-ttl). */
const LEASE_TTL_MS = 10_000;

interface PodJson {
  metadata: { name: string; uid: string };
  status: { containerStatuses?: Array<{ name: string; containerID?: string; restartCount: number }> };
}

const injected = (c: StressChaos): boolean => condition(c, 'AllInjected')?.status === 'True';
const recovered = (c: StressChaos): boolean => condition(c, 'AllRecovered')?.status === 'True';

/** The app's one pod and its container's cgroup. */
async function appContainer(namespace: string): Promise<{ pod: PodJson; cgroup: ContainerCgroup }> {
  const [pod] = (await kubectlJson<{ items: PodJson[] }>(plane, ['get', 'pods', '-n', namespace])).items;
  assert.ok(pod, `a pod in ${namespace}`);
  return { pod, cgroup: await ContainerCgroup.of(containerd, pod.status.containerStatuses?.[0]?.containerID) };
}

/** The stress-ng processes in the container's cgroup. */
const stressorsIn = async (cgroup: ContainerCgroup): Promise<number[]> => [...(await cgroup.processes())].filter(([, cmd]) => isStressNg(cmd)).map(([pid]) => pid).sort();

/** Waits until no stressor (nor its launcher) runs anywhere on the host. */
async function noStressorLeft(what: string, timeoutMs = 20_000): Promise<void> {
  await pollFor(`${what}: no stress-ng left on the host`, timeoutMs, async () => ((await hostStressors()).size === 0 ? true : undefined))
    .catch(async (error: unknown) => assert.fail(`${String(error)}; ${await whereStressorsAre()}`));
}

describe('StressChaos through the node daemon, on the real cluster', { timeout: 1_200_000 }, () => {
  before(async () => {
    ({ plane, node } = await clusterNode());
    fx = chaosFixtures(plane, 'e2e-stress', 'StressChaos');
    containerd = new ContainerdRuntime({ socket: node.containerdSocket });
    await deployKerris(plane, node, { replicas: 1 });
    assert.equal((await hostStressors()).size, 0, `stress-ng already runs on the host before the tests: ${JSON.stringify([...await hostStressors()])}`);
  });

  after(async () => {
    await fx.cleanUp();
    containerd?.close();
    await removeKerris(plane);
    await noStressorLeft('after the tests');
  });

  it('cpu load 50, one worker: the container uses half a core ± 10% over 10 s, status says so, and the load is gone after the duration', async (t: TestContext) => {
    const namespace = await fx.newApp(1);
    const { cgroup } = await appContainer(namespace);
    const idle = await cgroup.coresOver(3_000);
    await fx.applyChaos(namespace, 'cpu', { stressors: { cpu: { workers: 1, load: 50 } }, duration: '40s' });
    const running = await fx.waitChaos(namespace, 'cpu', 'injected', injected);
    assert.match(running.status?.targets?.[0]?.message ?? '', /stressing web: cpu 1×50%/);
    await pollFor('stress-ng in the container\'s own cgroup', 5_000, async () => ((await stressorsIn(cgroup)).length > 0 ? true : undefined))
      .catch(async (error: unknown) => assert.fail(`${String(error)}; the container's ${cgroup.describe()}; ${await whereStressorsAre()}`));
    const loaded = await cgroup.coresOver(10_000);
    t.diagnostic(`CPU of the container (its cgroup): ${idle.toFixed(3)} cores idle, ${loaded.toFixed(3)} over 10 s with load 50`);
    assert.ok(Math.abs(loaded - idle - 0.5) <= 0.1, `the container used ${loaded.toFixed(3)} cores (idle ${idle.toFixed(3)}), not 0.5 ± 0.1 more`);
    // The first reading the status shows, whatever it says: its CPU is over 5 s or more of the stressors running.
    const proven = await fx.waitChaos(namespace, 'cpu', 'evidence while stressed', (c) => c.status?.targets?.[0]?.stress !== undefined, 30_000);
    const evidence = proven.status?.targets?.[0]?.stress;
    t.diagnostic(`status evidence: ${JSON.stringify(evidence)}`);
    assert.ok(evidence !== undefined && Math.abs(evidence.during.cpuMillicores - 500) <= 150, `status says ${evidence?.during.cpuMillicores}m during`);
    assert.ok((evidence?.before.cpuMillicores ?? 1000) < 200, `status says ${evidence?.before.cpuMillicores}m before`);
    assert.ok((evidence?.stressors ?? 0) >= 1);
    const ended = await fx.waitChaos(namespace, 'cpu', 'recovered after its duration', recovered, 60_000);
    assert.equal(ended.status?.targets?.[0]?.phase, 'Recovered');
    await noStressorLeft('after the cpu stress');
    const after = await cgroup.coresOver(3_000);
    t.diagnostic(`after: ${after.toFixed(3)} cores`);
    assert.ok(after < idle + 0.05, `the container still uses ${after.toFixed(3)} cores after the stress (idle ${idle.toFixed(3)})`);
  });

  it('memory 64MiB, one worker: the working set rises by 64 MiB ± 10% and falls back when it ends', async (t: TestContext) => {
    const namespace = await fx.newApp(1);
    const { cgroup } = await appContainer(namespace);
    const before = (await cgroup.sample()).workingSetBytes;
    await fx.applyChaos(namespace, 'memory', { stressors: { memory: { workers: 1, size: '64MiB' } } });
    await fx.waitChaos(namespace, 'memory', 'injected', injected);
    // The worker touches its pages after it starts: the working set climbs to its level within a few seconds.
    const held = await pollFor('the working set up by about 64 MiB', 30_000, async () => {
      const rise = (await cgroup.sample()).workingSetBytes - before;
      return rise >= 0.9 * 64 * MiB ? rise : undefined;
    });
    await sleep(2_000);
    const rise = (await cgroup.sample()).workingSetBytes - before;
    t.diagnostic(`working set of the container (its cgroup): ${(before / MiB).toFixed(1)} MiB before, +${(rise / MiB).toFixed(1)} MiB while stressed (first at +${(held / MiB).toFixed(1)})`);
    assert.ok(Math.abs(rise - 64 * MiB) <= 6.4 * MiB, `the working set rose by ${(rise / MiB).toFixed(1)} MiB, not 64 ± 6.4`);
    const proven = await fx.waitChaos(namespace, 'memory', 'evidence while stressed', (c) => (c.status?.targets?.[0]?.stress?.during.memoryWorkingSetBytes ?? 0) - (c.status?.targets?.[0]?.stress?.before.memoryWorkingSetBytes ?? 0) > 50 * MiB, 30_000);
    t.diagnostic(`status evidence: ${JSON.stringify(proven.status?.targets?.[0]?.stress)}`);
    await kubectl(plane, ['delete', 'stresschaos', 'memory', '-n', namespace, '--wait=true', '--timeout=60s'], { timeoutMs: 70_000 });
    await noStressorLeft('after the memory stress');
    const after = (await cgroup.sample()).workingSetBytes;
    t.diagnostic(`after: ${(after / MiB).toFixed(1)} MiB`);
    assert.ok(after - before < 6.4 * MiB, `the working set is still ${((after - before) / MiB).toFixed(1)} MiB up after the stress`);
  });

  it('SIGKILL of the daemon while stressing: the new daemon keeps the same stressors while the lease holds, and ends them when it lapses', async (t: TestContext) => {
    const namespace = await fx.newApp(1);
    const { cgroup } = await appContainer(namespace);
    await fx.applyChaos(namespace, 'held', { stressors: { cpu: { workers: 2, load: 20 } } });
    await fx.waitChaos(namespace, 'held', 'injected', injected);
    const stressors = await pollFor('the stressors in the container', 10_000, async () => {
      const found = await stressorsIn(cgroup);
      return found.length >= 2 ? found : undefined;
    });
    const daemonPod = (await kubectlJson<{ items: { metadata: { name: string }; status: { containerStatuses?: { containerID?: string; restartCount: number }[] } }[] }>(plane, ['get', 'pods', '-n', KERRIS_NAMESPACE, '-l', 'app.kubernetes.io/component=daemon', `--field-selector=spec.nodeName=${node.name}`])).items[0];
    const daemon = daemonPod?.status.containerStatuses?.[0];
    assert.ok(daemonPod && daemon?.containerID, 'the daemon pod on the node');
    const pid = await containerd.taskPid(daemon.containerID.replace(/^containerd:\/\//, ''));
    process.kill(pid, 'SIGKILL');
    await pollFor('the daemon restarted and Ready', 90_000, async () => {
      const pod = await kubectlJson<{ status: { containerStatuses?: { restartCount: number; ready: boolean }[] } }>(plane, ['get', 'pod', daemonPod.metadata.name, '-n', KERRIS_NAMESPACE]);
      const status = pod.status.containerStatuses?.[0];
      return status && status.restartCount > daemon.restartCount && status.ready ? true : undefined;
    });
    // Across the restart the same processes run: adopted, not orphaned and not started twice.
    assert.deepEqual(await stressorsIn(cgroup), stressors, 'the same stressors, no more and no fewer');
    const inContainer = await cgroup.processes();
    const outside = [...await hostStressors()].filter(([p]) => !inContainer.has(p));
    assert.deepEqual(outside, [], 'no stressor runs outside the container\'s cgroup');
    const chaos = await fx.getChaos(namespace, 'held');
    assert.equal(chaos.status?.phase, 'Running');
    // Without a controller the lease lapses, and the daemon ends the stressors by itself.
    await fx.scaleController(0);
    const stoppedAt = Date.now();
    await noStressorLeft('after the lease lapsed', LEASE_TTL_MS + 20_000);
    t.diagnostic(`controller gone → stressors ended by the daemon after ${Date.now() - stoppedAt} ms (lease ${LEASE_TTL_MS} ms)`);
    await fx.scaleController(1);
    await kubectl(plane, ['delete', 'stresschaos', 'held', '-n', namespace, '--wait=true', '--timeout=90s'], { timeoutMs: 100_000 });
    await noStressorLeft('after the experiment was deleted');
  });
});
