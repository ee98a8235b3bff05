/**
 * The guard benchmark, on the test bed with kerris deployed from this checkout: how long from the end of a guard's
 * `for` window until the fault it guards is taken away. A pod-failure freezes one of the sample app's pods, guarded by
 * an HTTP check of a server this benchmark runs on the node's address; the server starts answering 503 at a moment
 * it records (its first 503 is the guard's first failing evaluation, which opens the window), and the cgroup freezer
 * file of the frozen pod is polled every 10 ms until it says thawed. Breach → recovered = thawed − (first 503 + for).
 * It includes the wait for the evaluation that finds the window full (at most one intervalSeconds, 1 s here).
 *
 * Last line: "guard: breach→recovered p50 X ms max Y ms, breach→Aborted p50 X ms (N runs, for 2s, interval 1s)".
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadavg } from 'node:os';
import { ContainerdRuntime } from '../src/daemon/runtime/containerd.ts';
import type { PodChaos } from '../src/api/generated/types.ts';
import { chaosFixtures } from '../test/node/chaos-fixtures.ts';
import { clusterNode } from '../test/testbed/index.ts';
import { deployKerris } from '../test/testbed/kerris.ts';
import { kubectl, kubectlJson } from '../test/testbed/kubectl.ts';
import { containerFreezer, isFrozen } from '../test/testbed/node/freezer.ts';
import { percentile, waitFor } from './measure.ts';

const ROUNDS = 8;
const FOR_MS = 2_000;

interface PodJson { metadata: { name: string }; status: { containerStatuses?: Array<{ containerID?: string }> } }

export async function main(): Promise<void> {
  const { plane, node } = await clusterNode();
  await deployKerris(plane, node, { replicas: 1 });
  const fx = chaosFixtures(plane, 'bench-guard');
  const containerd = new ContainerdRuntime({ socket: node.containerdSocket });
  let healthy = true;
  let firstFailureAt: number | undefined;
  const server = createServer((_req, res) => {
    if (!healthy && firstFailureAt === undefined) firstFailureAt = performance.now();
    res.writeHead(healthy ? 200 : 503).end();
  });
  await new Promise<void>((resolve) => server.listen(0, node.internalIP, resolve));
  const url = `http://${node.internalIP}:${(server.address() as AddressInfo).port}/`;
  try {
    const namespace = await fx.newApp(3);
    const pods = (await kubectlJson<{ items: PodJson[] }>(plane, ['get', 'pods', '-n', namespace, '-l', 'app=web'])).items;
    const freezers = await Promise.all(pods.map((p) => containerFreezer(containerd, p.status.containerStatuses?.[0]?.containerID)));
    const anyFrozen = async (): Promise<boolean> => (await Promise.all(freezers.map(isFrozen))).some(Boolean);

    const toRecovered: number[] = [];
    const toAborted: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const name = `guarded-${round}`;
      healthy = true;
      firstFailureAt = undefined;
      await fx.applyChaos(namespace, name, {
        action: 'pod-failure', duration: '10m', seed: round,
        guards: [{ name: 'probe', for: `${FOR_MS / 1000}s`, intervalSeconds: 1, timeoutSeconds: 1, http: { url, criteria: { statusCode: '200' } } }],
      });
      await waitFor('frozen', anyFrozen, 60_000);
      await waitFor('guard passing', async () => (await fx.getChaos(namespace, name)).status?.guards?.[0]?.state === 'Passing', 30_000);
      healthy = false;
      const thawed = await waitFor('thawed', async () => !await anyFrozen(), 30_000);
      const breach = (firstFailureAt ?? Number.NaN) + FOR_MS;
      toRecovered.push(thawed - breach);
      const aborted = await waitFor('Aborted', async () => ((await fx.getChaos(namespace, name)) as PodChaos).status?.phase === 'Aborted', 30_000);
      toAborted.push(aborted - breach);
      await kubectl(plane, ['delete', 'podchaos', name, '-n', namespace, '--wait=true', '--timeout=60s'], { timeoutMs: 70_000 });
    }
    const ms = (v: number): string => v.toFixed(0);
    process.stdout.write(`load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}\n`);
    process.stdout.write(`guard: breach→recovered p50 ${ms(percentile(toRecovered, 50))} ms max ${ms(Math.max(...toRecovered))} ms, `
      + `breach→Aborted p50 ${ms(percentile(toAborted, 50))} ms (${ROUNDS} runs, for ${FOR_MS / 1000}s, interval 1s)\n`);
  } finally {
    server.close();
    containerd.close();
    await fx.cleanUp();
  }
}
