/**
 * The test bed's real Kubernetes node: a private containerd (runc, CNI bridge), locally built images and a kubelet
 * registered with the test-bed control plane. Everything lives in <plane.stateDir>/node; stopNode removes it all.
 *
 * Addresses (all local to this machine; nothing is routed or masqueraded out):
 * - node InternalIP: the control plane's node address (10.233.0.1/32 on its interface kerris0); kubelet serves
 *   on it, port 10250, with a certificate signed by the cluster CA for that IP;
 * - pods: 10.244.0.0/24 on bridge kerris-cni0, gateway 10.244.0.1. Pods reach each other over the bridge, and
 *   the apiserver directly at 10.233.0.1:<apiserver port> (there is no kube-proxy, so Service IPs do not answer).
 * - pod cgroups: under /kerris-node in every cgroup v1 hierarchy.
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ControlPlane } from '../control-plane.ts';
import { kubectlJson } from '../kubectl.ts';
import { requireRoot } from '../prerequisites.ts';
import { CNI_BIN_DIR, POD_NETWORK, podNetworkLeftovers, removePodNetwork, writeCniConfig } from './cni.ts';
import { containerIds, containerdLeftovers, containerdRunning, startContainerd, stopContainerd } from './containerd.ts';
import { importImage, PAUSE_IMAGE, testbedImages, WORKLOAD_IMAGE } from './images.ts';
import { startKubeProxy, stopKubeProxy } from './kube-proxy.ts';
import { nodeIptablesLeftovers, removeNodeIptables } from './iptables.ts';
import { kubeletLeftovers, kubeletLogTail, kubeletPid, removeKubeletHostState, startKubelet, stopKubelet } from './kubelet.ts';
import { mountsUnder, unmountUnder } from './mounts.ts';
import { processesReferencing } from './procs.ts';
import { readSysctls, writeSysctls, type Sysctls } from './sysctls.ts';
import { pathExists } from '../../../src/util/fs.ts';

export { PAUSE_IMAGE, WORKLOAD_IMAGE } from './images.ts';
export { POD_NETWORK } from './cni.ts';
export { readSysctls } from './sysctls.ts';

export interface ClusterNode {
  /** The Node object's name. */
  name: string;
  /** The Node's InternalIP: the control plane's node address. */
  internalIP: string;
  /** The node's containerd (CRI namespace k8s.io). */
  containerdSocket: string;
  /** The node's own directory on the host; stopNode removes it with everything under it. */
  stateDir: string;
  /** Image references, already imported; pods must use imagePullPolicy IfNotPresent or Never (no registry). */
  images: { pause: string; workload: string };
  /** Pods get addresses from this subnet, on bridge POD_NETWORK.bridge. */
  podSubnet: string;
}

export const NODE_NAME = 'kerris-node';

/**
 * Where the kerris daemon's host paths (journal, runtime socket dirs, the node's kerris settings) live for this
 * node: under its own directory, which stopNode removes, so the test bed leaves nothing in the machine's /var/lib,
 * /run or /etc. The netem node's guest has the same paths in its own memory.
 */
export const daemonHostDir = (node: ClusterNode): string => join(node.stateDir, 'kerris-daemon');
const CRI_NAMESPACE = 'k8s.io';

export class NodeError extends Error {
  override name = 'NodeError';
}

function layout(stateDir: string) {
  const dir = join(stateDir, 'node');
  return {
    dir,
    containerd: join(dir, 'containerd'),
    kubelet: join(dir, 'kubelet'),
    kubeProxy: join(dir, 'kube-proxy'),
    cniConf: join(dir, 'cni', 'net.d'),
    cniIpam: join(dir, 'cni', 'ipam'),
    savedSysctls: join(dir, 'host-sysctls.json'),
  };
}

function describe(plane: ControlPlane, stateDir: string): ClusterNode {
  return {
    name: NODE_NAME,
    internalIP: plane.nodeAddress,
    containerdSocket: join(layout(stateDir).containerd, 'containerd.sock'),
    stateDir: layout(stateDir).dir,
    images: { pause: PAUSE_IMAGE, workload: WORKLOAD_IMAGE },
    podSubnet: POD_NETWORK.subnet,
  };
}

interface NodeObject {
  status?: { conditions?: { type: string; status: string; lastHeartbeatTime?: string; message?: string }[] };
}

/** Waits for the Node's Ready condition to turn True with a heartbeat from this kubelet, not a previous one. */
async function waitReady(plane: ControlPlane, node: ClusterNode, since: number, kubeletDir: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'not registered';
  while (Date.now() < deadline) {
    if (await kubeletPid(kubeletDir) === undefined) throw new NodeError(`kubelet exited while starting:\n${await kubeletLogTail(kubeletDir)}`);
    const object = await kubectlJson<NodeObject>(plane, ['get', 'node', node.name]).catch(() => undefined);
    const ready = object?.status?.conditions?.find((c) => c.type === 'Ready');
    if (ready) {
      last = `Ready=${ready.status}: ${ready.message ?? ''}`;
      const heartbeat = Date.parse(ready.lastHeartbeatTime ?? '');
      if (ready.status === 'True' && heartbeat >= Math.floor(since / 1000) * 1000) return;
    }
    await sleep(500);
  }
  throw new NodeError(`node ${node.name} not Ready after ${timeoutMs} ms (${last}):\n${await kubeletLogTail(kubeletDir)}`);
}

/** The node of plane if its kubelet runs. */
/** The pid of the node's kubelet, a process of this host; undefined when it does not run. */
export function nodeKubeletPid(node: ClusterNode): Promise<number | undefined> {
  // node.stateDir is the node's own directory (layout(...).dir), the kubelet's is beside containerd's in it.
  return kubeletPid(join(node.stateDir, 'kubelet'));
}

export async function runningNode(plane: ControlPlane): Promise<ClusterNode | undefined> {
  const l = layout(plane.stateDir);
  const up = await kubeletPid(l.kubelet) !== undefined && await containerdRunning(l.containerd);
  return up ? describe(plane, plane.stateDir) : undefined;
}

/** Starts containerd and kubelet for plane and waits until the Node is Ready. Cleans up after itself if that fails. */
export async function startNode(plane: ControlPlane): Promise<ClusterNode> {
  await requireRoot('the test-bed node');
  const running = await runningNode(plane);
  if (running) return running;
  const l = layout(plane.stateDir);
  const node = describe(plane, plane.stateDir);
  const since = Date.now();
  // What a crashed run left (a kubelet without pid file, mounts, the bridge) would break this start: clear it first.
  if ((await nodeLeftovers(plane.stateDir)).length > 0) await stopNode(plane.stateDir);
  await mkdir(l.dir, { recursive: true, mode: 0o700 });
  await writeFile(l.savedSysctls, JSON.stringify(await readSysctls()));
  try {
    const images = await testbedImages();
    await writeCniConfig(l.cniConf, l.cniIpam);
    const containerd = await startContainerd(l.containerd, { sandboxImage: PAUSE_IMAGE, cniConfDir: l.cniConf, cniBinDir: CNI_BIN_DIR });
    await importImage(containerd.socket, CRI_NAMESPACE, images.pause);
    await importImage(containerd.socket, CRI_NAMESPACE, images.workload);
    await startKubelet({ name: node.name, nodeIP: node.internalIP, dir: l.kubelet, containerdSocket: containerd.socket, plane });
    await waitReady(plane, node, since, l.kubelet, 120_000);
    await startKubeProxy(plane, l.kubeProxy, node.name, POD_NETWORK.subnet);
  } catch (error) {
    await stopNode(plane.stateDir);
    throw error;
  }
  return node;
}

/**
 * Stops the node started for the control plane whose state dir is stateDir, and removes everything it made:
 * processes, mounts, pod network namespaces, veths, the bridge, cgroups, changed sysctls, files.
 * The Node object stays in the API (NotReady), as after a real node's power-off. Safe to call when nothing runs.
 */
export async function stopNode(stateDir: string): Promise<void> {
  const l = layout(stateDir);
  const binDir = await readFile(join(stateDir, 'bin-dir'), 'utf8').catch(() => '');
  if (binDir) await stopKubeProxy(binDir, l.kubeProxy);
  await stopKubelet(l.kubelet);
  const sandboxIds = await containerIds(l.containerd, CRI_NAMESPACE);
  // containerd kills and deletes every pod container and unmounts the pod network namespaces, which takes the veths with them.
  await stopContainerd(l.containerd);
  await removeKubeletHostState(l.kubelet);
  await unmountUnder(l.dir);
  await removePodNetwork(sandboxIds);
  await removeNodeIptables();
  const saved = await readFile(l.savedSysctls, 'utf8').catch(() => undefined);
  if (saved !== undefined) await writeSysctls(JSON.parse(saved) as Sysctls);
  await rm(l.dir, { recursive: true, force: true });
}

/** What the node of stateDir left on the host; empty after stopNode. Sysctls are compared by the caller (readSysctls). */
export async function nodeLeftovers(stateDir: string): Promise<string[]> {
  const l = layout(stateDir);
  const left = [
    ...(await processesReferencing(l.dir)).map((p) => `process ${p.pid}: ${p.argv.join(' ')}`),
    ...await kubeletLeftovers(l.kubelet),
    ...await containerdLeftovers(l.containerd),
    ...await podNetworkLeftovers(),
    ...await nodeIptablesLeftovers(),
    ...(await mountsUnder(l.dir)).map((point) => `mount ${point}`),
  ];
  if (await pathExists(l.dir)) left.push(`directory ${l.dir}`);
  return [...new Set(left)];
}

