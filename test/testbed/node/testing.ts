/** Shared by the node test-bed tests: reading pods, waiting, a Deployment of the workload image. */
import { setTimeout as sleep } from 'node:timers/promises';
import type { ControlPlane } from '../control-plane.ts';
import { kubectl, kubectlJson } from '../kubectl.ts';
import type { ClusterNode } from './index.ts';

export interface Pod {
  metadata: { name: string; deletionTimestamp?: string; labels?: Record<string, string> };
  spec: { nodeName?: string };
  status: { phase?: string; podIP?: string };
}

export async function pods(plane: ControlPlane, namespace: string, selector: string): Promise<Pod[]> {
  return (await kubectlJson<{ items: Pod[] }>(plane, ['get', 'pods', '-n', namespace, '-l', selector])).items;
}

/** Polls until pick returns a value, or fails with what the last poll saw. */
export async function eventually<T>(what: string, timeoutMs: number, pick: () => Promise<T | undefined>, describe: () => Promise<string>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = await pick();
    if (value !== undefined) return value;
    await sleep(250);
  }
  throw new Error(`${what}: not within ${timeoutMs} ms; last seen:\n${await describe()}`);
}

/** Pods that run and are not being deleted. */
export function running(list: readonly Pod[]): Pod[] {
  return list.filter((p) => p.status.phase === 'Running' && p.status.podIP !== undefined && p.metadata.deletionTimestamp === undefined);
}

/** A Deployment of the workload image pinned to node. */
export function workloadDeployment(node: ClusterNode, namespace: string, name: string, replicas: number): string {
  return JSON.stringify({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          nodeSelector: { 'kubernetes.io/hostname': node.name },
          terminationGracePeriodSeconds: 5,
          containers: [{ name: 'workload', image: node.images.workload, imagePullPolicy: 'Never', ports: [{ containerPort: 7000 }, { containerPort: 8080 }] }],
        },
      },
    },
  });
}

/**
 * Creates the namespace and waits for its `default` ServiceAccount: on a
 * freshly started control plane the controller-manager adds it a moment
 * later, and a bare pod created before then is refused.
 */
export async function createNamespace(plane: ControlPlane, namespace: string): Promise<void> {
  await kubectl(plane, ['create', 'namespace', namespace]);
  const deadline = Date.now() + 30_000;
  while ((await kubectl(plane, ['get', 'serviceaccount', 'default', '-n', namespace], { allowFailure: true })).code !== 0) {
    if (Date.now() > deadline) throw new Error(`namespace ${namespace} has no default ServiceAccount after 30 s`);
    await sleep(100);
  }
}

export async function deleteNamespace(plane: ControlPlane, namespace: string): Promise<void> {
  await kubectl(plane, ['delete', 'namespace', namespace, '--ignore-not-found', '--wait=true', '--timeout=120s'], { timeoutMs: 150_000 });
}
