/**
 * Shared by the network end-to-end tests: kerris deployed with two controller replicas, the app's pods with their
 * network namespaces attached for the traffic tools, and a poll that says how long it waited.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before } from 'node:test';
import { ContainerdRuntime } from '../../src/daemon/runtime/containerd.ts';
import { clusterNode, type ClusterNode, type ControlPlane } from '../testbed/index.ts';
import { deployKerris, removeKerris } from '../testbed/kerris.ts';
import { kubectlJson } from '../testbed/kubectl.ts';
import { attachPodNetns, type PodNetns } from '../testbed/pod-netns.ts';
import { SAMPLE_APP } from '../testbed/sample-app.ts';
import { trafficTools, type TrafficTools } from '../vm/scenarios/net-lab.ts';
import { chaosFixtures, type ChaosFixtures } from './chaos-fixtures.ts';

/** A pod of the app with its namespace attached for the traffic tools. */
export interface AppPod { name: string; uid: string; ip: string; netns: PodNetns }

export interface NetworkCluster {
  readonly plane: ControlPlane;
  readonly node: ClusterNode;
  readonly fx: ChaosFixtures<'NetworkChaos'>;
  readonly containerd: ContainerdRuntime;
  readonly tools: TrafficTools;
  /** The app's live pods in `namespace`, by name, each with its namespace attached (detached after the file). */
  appPods(namespace: string): Promise<AppPod[]>;
}

interface PodJson {
  metadata: { name: string; uid: string; deletionTimestamp?: string };
  status: { podIP?: string; containerStatuses?: Array<{ containerID?: string }> };
}

/** Registers the file's before and after hooks; the fields are there once `before` has run. */
export function networkCluster(prefix: string): NetworkCluster {
  const tools = trafficTools();
  const attached: PodNetns[] = [];
  let started: { plane: ControlPlane; node: ClusterNode; fx: ChaosFixtures<'NetworkChaos'>; containerd: ContainerdRuntime } | undefined;
  const get = () => {
    if (started === undefined) throw new Error('the network test cluster is used before its before hook ran');
    return started;
  };
  before(async () => {
    const { plane, node } = await clusterNode();
    started = { plane, node, fx: chaosFixtures(plane, prefix, 'NetworkChaos'), containerd: new ContainerdRuntime({ socket: node.containerdSocket }) };
    await deployKerris(plane, node, { replicas: 2 });
  });
  after(async () => {
    await tools.stopAll();
    for (const netns of attached) await netns.detach();
    if (started === undefined) return;
    await started.fx.cleanUp();
    started.containerd.close();
    await removeKerris(started.plane);
  });
  return {
    get plane() { return get().plane; },
    get node() { return get().node; },
    get fx() { return get().fx; },
    get containerd() { return get().containerd; },
    tools,
    async appPods(namespace) {
      const { plane, containerd } = get();
      const items = (await kubectlJson<{ items: PodJson[] }>(plane, ['get', 'pods', '-n', namespace, '-l', `app=${SAMPLE_APP}`])).items
        .filter((p) => p.metadata.deletionTimestamp === undefined).sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
      return Promise.all(items.map(async (p) => {
        const netns = await attachPodNetns(containerd, p.status.containerStatuses?.[0]?.containerID);
        attached.push(netns);
        return { name: p.metadata.name, uid: p.metadata.uid, ip: p.status.podIP ?? '', netns };
      }));
    },
  };
}

/** Polls `check` every 100 ms until it holds; returns how long that took, or fails after `timeoutMs`. */
export async function until(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<number> {
  const started = Date.now();
  for (;;) {
    if (await check()) return Date.now() - started;
    if (Date.now() - started > timeoutMs) assert.fail(`${what}: not within ${timeoutMs} ms`);
    await sleep(100);
  }
}
