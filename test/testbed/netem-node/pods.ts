/**
 * Pods pinned to the netem node, for tests that need a kernel with sch_netem: busybox (ping) and, in the same network
 * namespace, a container with tc and nft (the daemon image has both) and CAP_NET_ADMIN, which only ever reads or
 * changes that namespace. The test process cannot enter the VM's namespaces, so it works through `kubectl exec`.
 */
import { clusterNode, netemNode, type ClusterNode } from '../index.ts';
import { DAEMON_IMAGE, deployKerris, kerrisOnNetemNode } from '../kerris.ts';
import type { ControlPlane } from '../control-plane.ts';
import { kubectl, kubectlJson } from '../kubectl.ts';
import { eventually } from '../node/testing.ts';
import { NETEM_NODE_NAME, NETEM_TOLERATION, netemNodeLeftovers, runningNetemNode, stopNetemNode, type NetemNode } from './index.ts';

export interface NetemPod {
  name: string;
  ip: string;
}

interface PodJson {
  spec: { nodeName?: string };
  status: { phase?: string; podIP?: string; conditions?: { type: string; status: string }[] };
}

function podManifest(netem: NetemNode, namespace: string, name: string): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, labels: { app: 'netem-node-test' } },
    spec: {
      nodeName: NETEM_NODE_NAME,
      tolerations: [NETEM_TOLERATION],
      terminationGracePeriodSeconds: 1,
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      containers: [
        { name: 'workload', image: netem.images.workload, imagePullPolicy: 'Never' },
        {
          name: 'tc',
          image: DAEMON_IMAGE,
          imagePullPolicy: 'Never',
          command: ['/usr/local/bin/node', '-e', 'setInterval(() => {}, 3_600_000)'],
          securityContext: { capabilities: { add: ['NET_ADMIN'] } },
        },
      ],
    },
  });
}

/** Creates the pods on the netem node and waits until each is Ready with an address. */
export async function startNetemPods(plane: ControlPlane, netem: NetemNode, namespace: string, names: readonly string[]): Promise<NetemPod[]> {
  await kubectl(plane, ['apply', '-f', '-'], { input: names.map((name) => podManifest(netem, namespace, name)).join('\n') });
  return Promise.all(names.map((name) => eventually(`pod ${name} Running on ${NETEM_NODE_NAME}`, 180_000, async () => {
    const pod = await kubectlJson<PodJson>(plane, ['get', 'pod', name, '-n', namespace]);
    const ready = pod.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
    return pod.status.phase === 'Running' && ready && pod.status.podIP !== undefined && pod.spec.nodeName === NETEM_NODE_NAME ? { name, ip: pod.status.podIP } : undefined;
  }, async () => (await kubectl(plane, ['describe', 'pod', name, '-n', namespace], { allowFailure: true })).stdout)));
}

export async function netemExec(plane: ControlPlane, namespace: string, pod: string, container: 'workload' | 'tc', argv: readonly string[]): Promise<string> {
  return (await kubectl(plane, ['exec', '-n', namespace, pod, '-c', container, '--', ...argv], { timeoutMs: 180_000 })).stdout;
}

/** One reply of busybox ping, in the order it arrived. */
export interface PingReply { seq: number; ms: number; duplicate: boolean }

export async function ping(plane: ControlPlane, namespace: string, from: string, address: string, count: number, intervalS = 0.2): Promise<PingReply[]> {
  const out = await netemExec(plane, namespace, from, 'workload', ['ping', '-c', String(count), '-i', String(intervalS), '-W', '2', address]);
  return [...out.matchAll(/seq=(\d+) ttl=\d+ time=([\d.]+) ms( \(DUP!\))?/g)].map((m) => ({ seq: Number(m[1]), ms: Number(m[2]), duplicate: m[3] !== undefined }));
}

/** What kerris could leave in a pod's network namespace: its qdiscs, classes and filters, and every nftables rule. */
export async function netemNetworkState(plane: ControlPlane, namespace: string, pod: string): Promise<string> {
  const parts = await Promise.all([
    ['tc', 'qdisc', 'show'], ['tc', 'class', 'show', 'dev', 'eth0'], ['tc', 'filter', 'show', 'dev', 'eth0'], ['ip', '-o', 'link', 'show'], ['nft', 'list', 'ruleset'],
  ].map((argv) => netemExec(plane, namespace, pod, 'tc', argv)));
  return parts.join('\n--\n');
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] ?? NaN : ((sorted[mid - 1] ?? NaN) + (sorted[mid] ?? NaN)) / 2;
}

/** The netem node with kerris on it, for one test file; `release` stops the node again if this file started it. */
export interface NetemSession {
  plane: ControlPlane;
  node: ClusterNode;
  netem: NetemNode;
  release(): Promise<void>;
}

export async function netemSession(): Promise<NetemSession> {
  const cluster = await clusterNode();
  // A VM under TCG costs a core's worth of CPU in bursts: a file that starts it stops it, and the next boots it again.
  const started = await runningNetemNode(cluster.plane, cluster.node) === undefined;
  const { plane, node, netem } = await netemNode();
  // Someone else's deployment is used as it is (its options stay); only a cluster without kerris gets one.
  if (await kerrisOnNetemNode(plane, node) === undefined) {
    await deployKerris(plane, node);
    if (await kerrisOnNetemNode(plane, node) === undefined) throw new Error('kerris was removed again while this test deployed it on the netem node');
  }
  return {
    plane, node, netem,
    release: async () => {
      if (!started) return;
      await stopNetemNode(plane);
      const left = await netemNodeLeftovers(plane.stateDir);
      if (left.length > 0) throw new Error(`the netem node left something on the host: ${left.join(', ')}`);
    },
  };
}
