/**
 * The StressChaos benchmark, on the test bed with kerris deployed from this checkout: how long from `kubectl apply`
 * of a cpu StressChaos until stress-ng runs in the target container's cgroup, from deleting it until no stressor is
 * left on the host, and from the controller's death until the daemon ends the stressors by itself on lease expiry;
 * and the daemon's resident memory while it holds them. Times are read on this machine's clock by polling the
 * container's cgroup and /proc every 10 ms.
 *
 * Last line: "stress: apply→stressing p50 X ms max Y ms, delete→gone p50 X ms max Y ms (N runs);
 * controller gone→gone X ms, Y ms (lease TTL 10 s); daemon RSS X MiB holding N stressors".
 */
import { readFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { ContainerdRuntime } from '../src/daemon/runtime/containerd.ts';
import { chaosFixtures } from '../test/node/chaos-fixtures.ts';
import { clusterNode } from '../test/testbed/index.ts';
import { deployKerris, KERRIS_NAMESPACE } from '../test/testbed/kerris.ts';
import { kubectl, kubectlJson } from '../test/testbed/kubectl.ts';
import { ContainerCgroup, hostStressors, isStressNg } from '../test/testbed/node/cgroup-usage.ts';
import { percentile, waitFor } from './measure.ts';

const ROUNDS = 10;
const EXPIRY_ROUNDS = 2;
const LEASE_TTL_MS = 10_000;

interface PodJson { metadata: { name: string }; status: { containerStatuses?: Array<{ containerID?: string }> } }

/** The daemon's resident memory on the node, from /proc of its container's task. */
async function daemonRssMiB(containerd: ContainerdRuntime, plane: Parameters<typeof kubectlJson>[0]): Promise<number> {
  const pod = (await kubectlJson<{ items: PodJson[] }>(plane, ['get', 'pods', '-n', KERRIS_NAMESPACE, '-l', 'app.kubernetes.io/component=daemon'])).items[0];
  const pid = await containerd.taskPid((pod?.status.containerStatuses?.[0]?.containerID ?? '').replace(/^containerd:\/\//, ''));
  const kb = Number(/^VmRSS:\s+(\d+) kB$/m.exec(await readFile(`/proc/${pid}/status`, 'utf8'))?.[1]);
  return kb / 1024;
}

export async function main(): Promise<void> {
  const { plane, node } = await clusterNode();
  await deployKerris(plane, node, { replicas: 2 });
  const fx = chaosFixtures(plane, 'bench-stress', 'StressChaos');
  const containerd = new ContainerdRuntime({ socket: node.containerdSocket });
  try {
    const namespace = await fx.newApp(3);
    const pods = (await kubectlJson<{ items: PodJson[] }>(plane, ['get', 'pods', '-n', namespace, '-l', 'app=web'])).items;
    const cgroups = await Promise.all(pods.map((p) => ContainerCgroup.of(containerd, p.status.containerStatuses?.[0]?.containerID)));
    const stressorsOf = async (cgroup: ContainerCgroup): Promise<number> => [...(await cgroup.processes()).values()].filter(isStressNg).length;
    /** Targets with a stressor in their container's cgroup. */
    const stressing = async (): Promise<number> => (await Promise.all(cgroups.map(stressorsOf))).filter((n) => n > 0).length;
    const gone = async (): Promise<boolean> => (await hostStressors()).size === 0;

    const toStressing: number[] = [];
    const toGone: number[] = [];
    let rss = 0;
    let held = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const name = `stress-${round}`;
      const applied = performance.now();
      await fx.applyChaos(namespace, name, { stressors: { cpu: { workers: 1, load: 10 } }, duration: '10m' });
      toStressing.push(await waitFor('stressing in every container', async () => (await stressing()) >= pods.length, 60_000) - applied);
      if (round === 0) {
        held = (await Promise.all(cgroups.map(stressorsOf))).reduce((sum, n) => sum + n, 0);
        rss = await daemonRssMiB(containerd, plane);
      }
      const deleted = performance.now();
      const deletion = kubectl(plane, ['delete', 'stresschaos', name, '-n', namespace, '--wait=false']);
      toGone.push(await waitFor('no stressor on the host', gone, 60_000) - deleted);
      await deletion;
      await kubectl(plane, ['wait', '--for=delete', `stresschaos/${name}`, '-n', namespace, '--timeout=60s'], { timeoutMs: 70_000 });
    }

    const expiry: number[] = [];
    for (let round = 0; round < EXPIRY_ROUNDS; round++) {
      const name = `orphan-${round}`;
      await fx.applyChaos(namespace, name, { stressors: { cpu: { workers: 1, load: 10 } }, duration: '10m' });
      await waitFor('stressing', async () => (await stressing()) >= pods.length, 60_000);
      await kubectl(plane, ['scale', 'deployment/kerris-controller', '-n', KERRIS_NAMESPACE, '--replicas=0']);
      await kubectl(plane, ['delete', 'pods', '-n', KERRIS_NAMESPACE, '-l', 'app.kubernetes.io/component=controller', '--grace-period=0', '--force'], { allowFailure: true });
      const controllerGone = performance.now();
      expiry.push(await waitFor('stressors ended by lease expiry', gone, LEASE_TTL_MS + 20_000) - controllerGone);
      await fx.scaleController(2);
      await kubectl(plane, ['delete', 'stresschaos', name, '-n', namespace, '--wait=true', '--timeout=60s'], { timeoutMs: 70_000 });
    }
    const ms = (v: number): string => v.toFixed(0);
    process.stdout.write(`load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}\n`);
    process.stdout.write(`stress: apply→stressing p50 ${ms(percentile(toStressing, 50))} ms max ${ms(Math.max(...toStressing))} ms, `
      + `delete→gone p50 ${ms(percentile(toGone, 50))} ms max ${ms(Math.max(...toGone))} ms (${ROUNDS} runs, ${pods.length} targets each); `
      + `controller gone→gone ${expiry.map(ms).join(' ms, ')} ms (lease TTL ${LEASE_TTL_MS / 1000} s); daemon RSS ${rss.toFixed(0)} MiB holding ${held} stressor processes\n`);
  } finally {
    containerd.close();
    await fx.cleanUp();
  }
}
