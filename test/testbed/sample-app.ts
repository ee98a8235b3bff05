/** The sample app chaos is tried on: a Deployment of the workload image, Ready when it serves HTTP. */
import { stringify } from 'yaml';
import type { ControlPlane } from './control-plane.ts';
import { kubectl, kubectlJson } from './kubectl.ts';
import { WORKLOAD_IMAGE } from './node/images.ts';

export const SAMPLE_APP = 'web';

export function sampleAppManifests(namespace: string, replicas: number): string {
  const labels = { app: SAMPLE_APP };
  return [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: SAMPLE_APP, namespace, labels },
      spec: {
        replicas,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            terminationGracePeriodSeconds: 5,
            containers: [{
              name: SAMPLE_APP,
              image: WORKLOAD_IMAGE,
              imagePullPolicy: 'Never',
              ports: [{ name: 'http', containerPort: 8080 }],
              readinessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 1 },
            }],
          },
        },
      },
    },
  ].map((doc) => stringify(doc)).join('---\n');
}

/** Creates the namespace and the app, and waits until every replica is Ready. */
export async function deploySampleApp(plane: ControlPlane, namespace: string, replicas = 3): Promise<void> {
  await kubectl(plane, ['apply', '-f', '-'], { input: sampleAppManifests(namespace, replicas) });
  await kubectl(plane, ['rollout', 'status', `deployment/${SAMPLE_APP}`, '-n', namespace, '--timeout=120s'], { timeoutMs: 150_000 });
}

export interface PodSummary {
  name: string;
  uid: string;
  ready: boolean;
  createdAt: string;
  terminating: boolean;
}

interface PodJson {
  metadata: { name: string; uid: string; creationTimestamp: string; deletionTimestamp?: string };
  status?: { conditions?: { type: string; status: string }[] };
}

export async function appPods(plane: ControlPlane, namespace: string): Promise<PodSummary[]> {
  const list = await kubectlJson<{ items: PodJson[] }>(plane, ['get', 'pods', '-n', namespace, '-l', `app=${SAMPLE_APP}`]);
  return list.items.map((pod) => ({
    name: pod.metadata.name,
    uid: pod.metadata.uid,
    createdAt: pod.metadata.creationTimestamp,
    terminating: pod.metadata.deletionTimestamp !== undefined,
    ready: pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
  })).sort((a, b) => a.name.localeCompare(b.name));
}

/** Whether the app answers HTTP at ip within the timeout: a frozen pod's kernel still accepts the connection, but nothing answers. */
export async function answersHttp(ip: string, timeoutMs = 1_500): Promise<boolean> {
  try {
    const response = await fetch(`http://${ip}:8080/`, { signal: AbortSignal.timeout(timeoutMs) });
    await response.text();
    return response.ok;
  } catch {
    return false;
  }
}
