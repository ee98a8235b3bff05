/**
 * The pod-failure benchmark, on the test bed with kerris deployed from this
 * checkout: how long from `kubectl apply` of a pod-failure until the target's
 * containers are frozen in the kernel, from deleting it until they are thawed,
 * and from the controller's death until the daemon thaws by itself on lease
 * expiry. Times are read on this machine's clock by polling the cgroup freezer
 * file every 10 ms.
 *
 * Last line: "pod-failure: apply→frozen p50 X ms max Y ms, delete→thawed p50 X ms max Y ms (N runs);
 * controller gone→thawed X ms, Y ms (lease TTL 10 s)".
 */
import { loadavg } from 'node:os';
import { ContainerdRuntime } from '../src/daemon/runtime/containerd.ts';
import { chaosFixtures } from '../test/node/chaos-fixtures.ts';
import { clusterNode } from '../test/testbed/index.ts';
import { deployKerris, KERRIS_NAMESPACE } from '../test/testbed/kerris.ts';
import { kubectl, kubectlJson } from '../test/testbed/kubectl.ts';
import { containerFreezer, isFrozen } from '../test/testbed/node/freezer.ts';
import { percentile, waitFor } from './measure.ts';

const ROUNDS = 10;
const EXPIRY_ROUNDS = 2;
const LEASE_TTL_MS = 10_000;

interface PodJson { metadata: { name: string }; status: { containerStatuses?: Array<{ containerID?: string }> } }

export async function main(): Promise<void> {
  const { plane, node } = await clusterNode();
  await deployKerris(plane, node, { replicas: 2 });
  const fx = chaosFixtures(plane, 'bench-pf');
  const containerd = new ContainerdRuntime({ socket: node.containerdSocket });
  try {
    const namespace = await fx.newApp(3);
    const pods = (await kubectlJson<{ items: PodJson[] }>(plane, ['get', 'pods', '-n', namespace, '-l', 'app=web'])).items;
    const freezers = new Map(await Promise.all(pods.map(async (p) => [p.metadata.name, await containerFreezer(containerd, p.status.containerStatuses?.[0]?.containerID)] as const)));
    const frozenPod = async (): Promise<string | undefined> => {
      for (const [name, f] of freezers) if (await isFrozen(f)) return name;
      return undefined;
    };

    const toFrozen: number[] = [];
    const toThawed: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const name = `pf-${round}`;
      const applied = performance.now();
      await fx.applyChaos(namespace, name, { action: 'pod-failure', duration: '10m', seed: round });
      toFrozen.push(await waitFor('frozen', async () => (await frozenPod()) !== undefined, 60_000) - applied);
      const deleted = performance.now();
      const deletion = kubectl(plane, ['delete', 'podchaos', name, '-n', namespace, '--wait=false']);
      toThawed.push(await waitFor('thawed', async () => (await frozenPod()) === undefined, 60_000) - deleted);
      await deletion;
      await kubectl(plane, ['wait', '--for=delete', `podchaos/${name}`, '-n', namespace, '--timeout=60s'], { timeoutMs: 70_000 });
    }

    const expiry: number[] = [];
    for (let round = 0; round < EXPIRY_ROUNDS; round++) {
      const name = `orphan-${round}`;
      await fx.applyChaos(namespace, name, { action: 'pod-failure', duration: '10m', seed: 100 + round });
      await waitFor('frozen', async () => (await frozenPod()) !== undefined, 60_000);
      await kubectl(plane, ['scale', 'deployment/kerris-controller', '-n', KERRIS_NAMESPACE, '--replicas=0']);
      await kubectl(plane, ['delete', 'pods', '-n', KERRIS_NAMESPACE, '-l', 'app.kubernetes.io/component=controller', '--grace-period=0', '--force'], { allowFailure: true });
      const gone = performance.now();
      expiry.push(await waitFor('thawed by lease expiry', async () => (await frozenPod()) === undefined, LEASE_TTL_MS + 20_000) - gone);
      await fx.scaleController(2);
      await kubectl(plane, ['delete', 'podchaos', name, '-n', namespace, '--wait=true', '--timeout=60s'], { timeoutMs: 70_000 });
    }
    const ms = (v: number): string => v.toFixed(0);
    process.stdout.write(`load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}\n`);
    process.stdout.write(`pod-failure: apply→frozen p50 ${ms(percentile(toFrozen, 50))} ms max ${ms(Math.max(...toFrozen))} ms, `
      + `delete→thawed p50 ${ms(percentile(toThawed, 50))} ms max ${ms(Math.max(...toThawed))} ms (${ROUNDS} runs); `
      + `controller gone→thawed ${expiry.map(ms).join(' ms, ')} ms (lease TTL ${LEASE_TTL_MS / 1000} s)\n`);
  } finally {
    containerd.close();
    await fx.cleanUp();
  }
}
