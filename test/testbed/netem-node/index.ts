/**
 * The netem node: a second Kubernetes node of the test-bed cluster whose kernel is Debian's stock kernel (it has
 * sch_netem, which this machine's kernel lacks). It runs in the kernel VM (vm/: qemu under TCG, the host's root shared
 * read-only with a throwaway overlay), as one long command (guest.sh) that starts containerd and the kubelet, the same
 * binaries the host node runs, and joins the apiserver on the host over a tap device.
 *
 * Addresses (all local to this machine; see network.ts):
 * - tap kerris-tap0: host 10.233.1.1/30, guest eth0 10.233.1.2 (the Node's InternalIP; kubelet serves there);
 * - pods: 10.244.1.0/24 on the guest's own bridge, routed from the host via 10.233.1.2, so the controller on the host
 *   node reaches the daemon pod there; the guest reaches the apiserver at the control plane's node address.
 * - inside the guest the node's state lives where the host node keeps its own (<stateDir>/node/...): the kerris
 *   DaemonSet is one template for both nodes, and it names the containerd socket and its host paths by those paths.
 *   The guest's /run is a tmpfs of its memory, so nothing there touches the host node's files.
 *
 * On the host everything lives in <plane.stateDir>/netem-node, plus the tap and the route; stopNetemNode removes it all,
 * and the Node object too (a Node left NotReady would hold the kerris DaemonSet's rollout forever).
 *
 * Unlike the host node it runs no kube-proxy: pods there reach pods and the apiserver by address, not Service IPs
 * (the kerris daemon needs neither). The guest's containerd listens inside the VM only, so images reach it through the
 * share (importNetemImage), not over its socket.
 */
import { copyFile, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { pathExists } from '../../../src/util/fs.ts';
import type { ControlPlane } from '../control-plane.ts';
import { kubectl, kubectlJson } from '../kubectl.ts';
import { writeKubeconfig } from '../kubeconfig.ts';
import { CNI_BIN_DIR, cniConflist, type PodNetwork } from '../node/cni.ts';
import { containerdConfig } from '../node/containerd.ts';
import { PAUSE_IMAGE, testbedImages, WORKLOAD_IMAGE, type ImageArchive } from '../node/images.ts';
import { daemonHostDir, type ClusterNode } from '../node/index.ts';
import { KUBELET_CGROUP_ROOT, kubeletConfig } from '../node/kubelet.ts';
import { processesReferencing } from '../node/procs.ts';
import { mountsUnder } from '../node/mounts.ts';
import { ensureCertificate } from '../pki.ts';
import { PrerequisiteError, requireExecutables, requireRoot } from '../prerequisites.ts';
import { runningPid, startService, stopService } from '../processes.ts';
import { prepareBootImage } from '../vm/index.ts';
import { QEMU, qemuArgv } from '../vm/qemu.ts';
import { writeRequest } from '../vm/request.ts';
import { createNetemLink, NETEM_NETWORK, netemLinkLeftovers, removeNetemLink } from './network.ts';

export { NETEM_NETWORK } from './network.ts';

export const NETEM_NODE_NAME = 'kerris-netem';
/** The label that tells this node's kernel from the host node's. */
export const KERNEL_LABEL = { key: 'kerris.dev/kernel', value: 'stock' } as const;
/** Keeps every pod off the node that does not tolerate it; tests that want it tolerate it and pin nodeName. */
export const NETEM_TAINT = { key: 'kerris.dev/netem-node', value: 'true', effect: 'NoSchedule' } as const;
/** The toleration a pod meant for the netem node carries. */
export const NETEM_TOLERATION = { key: NETEM_TAINT.key, operator: 'Equal', value: NETEM_TAINT.value, effect: NETEM_TAINT.effect } as const;

/**
 * Guest memory, a cap: qemu takes only what the guest touches. Its /run tmpfs holds containerd's content and snapshots
 * (the kerris daemon image is about 150 MB, twice over once unpacked, and a redeploy imports a new one before the old
 * one's pod is gone), next to the pods. Measured in use: about 850 MB with the daemon running.
 */
const MEMORY_MB = 3072;
/** Measured: with qemu's default (1 GB) the VM's resident size reached 2.1 GB, with 256 MB 1.5 GB, at the same idle CPU. */
const TRANSLATION_CACHE_MB = 256;
/** qemu's /proc/<pid>/comm, apart from the one-command VMs' kerris-vm (their leftover checks look for those). */
const PROCESS_NAME = 'kerris-netem-vm';
/** Boot, containerd, the images the host staged, the kubelet's registration and first Ready heartbeat, under TCG. */
const READY_TIMEOUT_MS = 600_000;

export interface NetemNode {
  /** The Node object's name. */
  name: string;
  /** The Node's InternalIP: the guest's eth0. */
  internalIP: string;
  /** The kernel the node runs (`uname -r` in the guest). */
  kernelVersion: string;
  /** containerd's socket inside the guest: the same path as the host node's (see above). Not reachable from the host. */
  containerdSocket: string;
  /** The node's directory on the host (config, certificates, the share with the guest, logs). */
  stateDir: string;
  /** Image references, already imported; pods must use imagePullPolicy IfNotPresent or Never. */
  images: { pause: string; workload: string };
  podSubnet: string;
}

export class NetemNodeError extends Error {
  override name = 'NetemNodeError';
}

function layout(stateDir: string) {
  const dir = join(stateDir, 'netem-node');
  const share = join(dir, 'share');
  return {
    dir,
    /** Read by the guest through the host-root share: written before boot, never changed while it runs. */
    config: join(dir, 'config'),
    pki: join(dir, 'pki'),
    /** Shared read-write with the guest (cache=none): requests in, logs and import results out. */
    share,
    logs: join(share, 'logs'),
    imports: join(share, 'import'),
    /** One archive per image name, imported by the guest at every boot (a reboot starts from an empty containerd). */
    images: join(share, 'images'),
    qemuLog: join(dir, 'qemu.log'),
    consoleLog: join(dir, 'console.log'),
    stdoutFile: join(dir, 'guest.stdout'),
    stderrFile: join(dir, 'guest.stderr'),
    pidFile: join(dir, 'qemu.pid'),
    kernelVersionFile: join(dir, 'kernel-version'),
    /** Which archive (by key) each image name points at in the guest's containerd, so a repeated import is skipped. */
    imagesFile: join(dir, 'images.json'),
  };
}

/** The guest's paths for the node's state: those of the host node (see the file comment). */
function guestLayout(hostNode: ClusterNode) {
  const containerd = join(hostNode.stateDir, 'containerd');
  return {
    containerd,
    containerdSocket: hostNode.containerdSocket,
    kubeletRoot: join(hostNode.stateDir, 'kubelet', 'root'),
    podLogs: join(hostNode.stateDir, 'kubelet', 'pod-logs'),
    volumePlugins: join(hostNode.stateDir, 'kubelet', 'volume-plugins'),
    cniIpam: join(hostNode.stateDir, 'cni', 'ipam'),
    /** The kerris daemon's hostPath for the node's kerris settings (testbed/kerris.ts), where the reboot consent goes. */
    daemonNodeConfig: join(daemonHostDir(hostNode), 'node-config'),
  };
}

const POD_NETWORK: PodNetwork = {
  name: 'kerris-pods',
  bridge: NETEM_NETWORK.podBridge,
  subnet: NETEM_NETWORK.podSubnet,
  gateway: NETEM_NETWORK.podGateway,
};

function describe(stateDir: string, hostNode: ClusterNode, kernelVersion: string): NetemNode {
  return {
    name: NETEM_NODE_NAME,
    internalIP: NETEM_NETWORK.nodeAddress,
    kernelVersion,
    containerdSocket: guestLayout(hostNode).containerdSocket,
    stateDir: layout(stateDir).dir,
    images: { pause: PAUSE_IMAGE, workload: WORKLOAD_IMAGE },
    podSubnet: NETEM_NETWORK.podSubnet,
  };
}

async function qemuPid(stateDir: string): Promise<number | undefined> {
  return runningPid(layout(stateDir).pidFile, await qemuExecutable());
}

async function qemuExecutable(): Promise<string> {
  for (const dir of ['/usr/bin', '/usr/local/bin']) {
    if (await pathExists(join(dir, QEMU))) return join(dir, QEMU);
  }
  throw new PrerequisiteError(`the netem node needs ${QEMU}; install with: apt-get install qemu-system-x86`);
}

/** The netem node of plane if its VM runs and the guest has not reported a failure. */
export async function runningNetemNode(plane: ControlPlane, hostNode: ClusterNode): Promise<NetemNode | undefined> {
  const l = layout(plane.stateDir);
  if (await qemuPid(plane.stateDir) === undefined || await pathExists(join(l.share, 'failed'))) return undefined;
  const kernelVersion = await readFile(l.kernelVersionFile, 'utf8').catch(() => '');
  return describe(plane.stateDir, hostNode, kernelVersion.trim());
}

/** Files the kubelet and containerd in the guest read: certificates, kubeconfig, configs, the CNI conflist. */
async function writeNodeConfig(plane: ControlPlane, hostNode: ClusterNode, l: ReturnType<typeof layout>): Promise<Record<string, string>> {
  const g = guestLayout(hostNode);
  await Promise.all([l.config, l.pki, l.logs, l.imports, l.images].map((d) => mkdir(d, { recursive: true, mode: 0o700 })));
  const ca = { cert: plane.caCert, key: plane.caKey };
  // The guest covers the host's /run with its own tmpfs; only this node's dir stays visible, so the CA goes in it.
  const caCopy = join(l.pki, 'ca.crt');
  await copyFile(plane.caCert, caCopy);
  const client = await ensureCertificate(l.pki, ca, { file: 'kubelet-client', commonName: `system:node:${NETEM_NODE_NAME}`, organization: 'system:nodes', usage: 'client' });
  const serving = await ensureCertificate(l.pki, ca, { file: 'kubelet-serving', commonName: `system:node:${NETEM_NODE_NAME}`, ips: [NETEM_NETWORK.nodeAddress], dnsNames: [NETEM_NODE_NAME], usage: 'server' });
  // The apiserver listens on every address; the guest reaches it at the node address, which its certificate covers.
  const server = plane.server.replace('127.0.0.1', plane.nodeAddress);
  const kubeconfig = join(l.config, 'kubelet.kubeconfig');
  await writeKubeconfig(kubeconfig, { server, caCert: caCopy, clientCert: client.cert, clientKey: client.key, user: `system:node:${NETEM_NODE_NAME}` });
  const kubelet = kubeletConfig(
    { name: NETEM_NODE_NAME, nodeIP: NETEM_NETWORK.nodeAddress, dir: l.dir, containerdSocket: g.containerdSocket, plane: { ...plane, caCert: caCopy } },
    { cert: serving.cert, key: serving.key, podLogs: g.podLogs, volumePlugins: g.volumePlugins },
  );
  // Under TCG every status update costs the guest; the default lease (40 s grace) still sees a dead node soon enough.
  const kubeletFile = join(l.config, 'kubelet.yaml');
  await writeFile(kubeletFile, stringify({ ...kubelet, nodeStatusUpdateFrequency: '10s', nodeStatusReportFrequency: '1m', syncFrequency: '30s', fileCheckFrequency: '30s' }));
  const cniDir = join(l.config, 'cni');
  await mkdir(cniDir, { recursive: true });
  await writeFile(join(cniDir, `10-${POD_NETWORK.name}.conflist`), cniConflist(g.cniIpam, POD_NETWORK));
  const containerdFile = join(l.config, 'containerd.toml');
  await writeFile(containerdFile, containerdConfig(g.containerd, { sandboxImage: PAUSE_IMAGE, cniConfDir: cniDir, cniBinDir: CNI_BIN_DIR }));
  return {
    NODE_NAME: NETEM_NODE_NAME,
    NODE_ADDRESS: NETEM_NETWORK.nodeAddress,
    HOST_ADDRESS: NETEM_NETWORK.hostAddress,
    LINK_PREFIX: String(NETEM_NETWORK.prefixLength),
    CGROUP_ROOT: KUBELET_CGROUP_ROOT,
    CONTAINERD_DIR: g.containerd,
    CONTAINERD_CONFIG: containerdFile,
    CONTAINERD_SOCKET: g.containerdSocket,
    KUBELET: join(plane.binDir, 'kubelet'),
    DAEMON_NODE_CONFIG: g.daemonNodeConfig,
    KUBELET_CONFIG: kubeletFile,
    KUBELET_KUBECONFIG: kubeconfig,
    KUBELET_ROOT: g.kubeletRoot,
    KUBELET_CERT_DIR: l.pki,
    NODE_LABELS: `${KERNEL_LABEL.key}=${KERNEL_LABEL.value}`,
    NODE_TAINTS: `${NETEM_TAINT.key}=${NETEM_TAINT.value}:${NETEM_TAINT.effect}`,
  };
}

let importSequence = 0;

/** The archive of `image` the guest imports at every boot: the last one imported under that name. */
const bootArchive = (l: ReturnType<typeof layout>, image: string): string => join(l.images, `${image.replace(/[^A-Za-z0-9._-]+/g, '_')}.tar`);

async function keepForBoots(l: ReturnType<typeof layout>, archive: ImageArchive): Promise<void> {
  // Copied beside, then renamed: a reboot meanwhile imports the old archive or the new one, never half of one.
  const target = bootArchive(l, archive.name);
  await mkdir(l.images, { recursive: true, mode: 0o700 });
  await copyFile(archive.file, `${target}.partial`);
  await rename(`${target}.partial`, target);
}

type ImportedImages = Record<string, string>;

async function importedImages(l: ReturnType<typeof layout>): Promise<ImportedImages> {
  return JSON.parse(await readFile(l.imagesFile, 'utf8').catch(() => '{}')) as ImportedImages;
}

async function recordImported(l: ReturnType<typeof layout>, archives: readonly ImageArchive[]): Promise<void> {
  const record = await importedImages(l);
  for (const archive of archives) record[archive.name] = archive.key;
  await writeFile(l.imagesFile, JSON.stringify(record));
}

/**
 * Hands an image archive to the guest through the share and waits until its containerd imported it. The guest cannot
 * be reached over a socket from here (its containerd listens inside the VM), so guest.sh serves these requests.
 */
export async function importNetemImage(node: NetemNode, archive: ImageArchive, timeoutMs = 300_000): Promise<void> {
  const l = layout(join(node.stateDir, '..'));
  // 150 MB take the guest about 20 s under TCG: a deploy of an unchanged image skips it.
  if ((await importedImages(l))[archive.name] === archive.key) return;
  const id = `${process.pid}-${Date.now()}-${importSequence++}`;
  const staged = join(l.imports, `${id}.tar`);
  await copyFile(archive.file, staged);
  await writeFile(join(l.imports, `${id}.ready`), `${archive.name}\n`);
  const deadline = Date.now() + timeoutMs;
  const codeFile = join(l.imports, `${id}.code`);
  const outFile = join(l.imports, `${id}.out`);
  try {
    while (!await pathExists(codeFile)) {
      if (await pathExists(join(l.share, 'failed'))) throw new NetemNodeError(`the netem node failed while importing ${archive.name}: ${await readFile(join(l.share, 'failed'), 'utf8')}`);
      if (Date.now() > deadline) throw new NetemNodeError(`the netem node did not import ${archive.file} within ${timeoutMs} ms`);
      await sleep(250);
    }
    const code = (await readFile(codeFile, 'utf8')).trim();
    if (code !== '0') throw new NetemNodeError(`importing ${archive.name} on the netem node failed (exit ${code}): ${await readFile(outFile, 'utf8').catch(() => '')}`);
    await keepForBoots(l, archive);
    await recordImported(l, [archive]);
  } finally {
    for (const file of [staged, join(l.imports, `${id}.ready`), codeFile, outFile]) await rm(file, { force: true });
  }
}

interface NodeObject {
  metadata?: { labels?: Record<string, string> };
  spec?: { taints?: { key: string; value?: string; effect: string }[] };
  status?: { conditions?: { type: string; status: string; lastHeartbeatTime?: string; message?: string }[]; nodeInfo?: { kernelVersion?: string } };
}

async function logTail(file: string, lines = 40): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.split('\n').slice(-lines).join('\n');
}

async function guestReport(l: ReturnType<typeof layout>): Promise<string> {
  const failed = await readFile(join(l.share, 'failed'), 'utf8').catch(() => '');
  return [
    failed === '' ? '' : `guest: ${failed.trim()}`,
    `--- ${join(l.logs, 'guest.log')} ---\n${await logTail(join(l.logs, 'guest.log'), 15)}`,
    `--- ${join(l.logs, 'kubelet.log')} (last lines) ---\n${await logTail(join(l.logs, 'kubelet.log'), 15)}`,
    `--- ${l.consoleLog} (last lines) ---\n${await logTail(l.consoleLog, 10)}`,
    `--- ${l.stderrFile} ---\n${await logTail(l.stderrFile, 10)}`,
  ].filter((s) => s !== '').join('\n');
}

/** Waits for the Node's Ready condition with a heartbeat of this boot, failing early if the guest or qemu did. */
async function waitReady(plane: ControlPlane, stateDir: string, since: number, timeoutMs: number): Promise<void> {
  const l = layout(stateDir);
  const deadline = Date.now() + timeoutMs;
  let last = 'not registered';
  while (Date.now() < deadline) {
    if (await qemuPid(stateDir) === undefined) throw new NetemNodeError(`the netem node's VM exited while starting:\n${await logTail(l.qemuLog)}\n${await guestReport(l)}`);
    if (await pathExists(join(l.share, 'failed'))) throw new NetemNodeError(`the netem node failed while starting:\n${await guestReport(l)}`);
    const object = await kubectlJson<NodeObject>(plane, ['get', 'node', NETEM_NODE_NAME]).catch(() => undefined);
    const ready = object?.status?.conditions?.find((c) => c.type === 'Ready');
    if (ready) {
      last = `Ready=${ready.status}: ${ready.message ?? ''}`;
      const heartbeat = Date.parse(ready.lastHeartbeatTime ?? '');
      if (ready.status === 'True' && heartbeat >= Math.floor(since / 1000) * 1000) return;
    }
    await sleep(1_000);
  }
  throw new NetemNodeError(`node ${NETEM_NODE_NAME} not Ready after ${timeoutMs} ms (${last}):\n${await guestReport(l)}`);
}

/** Timings of the last start, for `status` and the docs. */
export interface NetemNodeTimings {
  /** From starting qemu until the guest's script ran (guest uptime). */
  bootS: number;
  /** From starting qemu until the Node was Ready. */
  readyS: number;
}

/**
 * Boots the VM and waits until the netem node is Ready; the host node must run (its paths name the node's state in
 * the guest). The pause and workload images are imported before the kubelet starts. Cleans up after itself if that fails.
 */
export async function startNetemNode(plane: ControlPlane, hostNode: ClusterNode, extraImages: readonly ImageArchive[] = []): Promise<NetemNode> {
  await requireRoot('the netem node');
  await requireExecutables({ '/usr/sbin/ip': 'iproute2', '/usr/bin/containerd': 'containerd', '/usr/sbin/runc': 'runc', '/usr/bin/ctr': 'containerd' });
  if (!await pathExists('/dev/net/tun')) throw new PrerequisiteError('the netem node needs /dev/net/tun (a kernel with TUN/TAP) for its tap device');
  const qemu = await qemuExecutable();
  const existing = await runningNetemNode(plane, hostNode);
  if (existing) return existing;
  // What a crashed run left (a qemu, the tap, the route, the directory) would break this start: clear it first.
  await stopNetemNode(plane);
  const l = layout(plane.stateDir);
  const image = await prepareBootImage();
  const since = Date.now();
  try {
    const env = await writeNodeConfig(plane, hostNode, l);
    await writeFile(l.kernelVersionFile, `${image.kernelVersion}\n`);
    // Kept in the share, so guest.sh imports them at every boot before the kubelet starts, and the first pod (the
    // first after a reboot too) finds its sandbox image.
    const images = await testbedImages();
    const staged = [images.pause, images.workload, ...extraImages];
    await Promise.all(staged.map((archive) => keepForBoots(l, archive)));
    await writeRequest(l.share, {
      argv: ['/bin/sh', join(import.meta.dirname, 'guest.sh')],
      env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/root', ...env },
      cwd: l.config,
      keep: [l.dir],
      asInit: true,
    }, image.modulesDir);
    await createNetemLink();
    await startService({
      name: 'netem-node',
      argv: [qemu, ...qemuArgv({
        kernel: image.kernel,
        initramfs: image.initramfs,
        runDir: l.share,
        stdoutSocket: l.stdoutFile,
        stderrSocket: l.stderrFile,
        consoleLog: l.consoleLog,
        memoryMb: MEMORY_MB,
        output: 'file',
        tap: { ifname: NETEM_NETWORK.tap, mac: NETEM_NETWORK.mac },
        processName: PROCESS_NAME,
        reportFreePages: true,
        translationCacheMb: TRANSLATION_CACHE_MB,
        restartOnReboot: true,
      }).slice(1)],
      logFile: l.qemuLog,
      pidFile: l.pidFile,
    });
    // A boot image that fails to import fails the guest (guest.sh), which waitReady reports.
    await waitReady(plane, plane.stateDir, since, READY_TIMEOUT_MS);
    await recordImported(l, staged);
    const timings: NetemNodeTimings = {
      bootS: Number.parseFloat(await readFile(join(l.share, 'started'), 'utf8').catch(() => 'NaN')),
      readyS: (Date.now() - since) / 1000,
    };
    await writeFile(join(l.dir, 'timings.json'), JSON.stringify(timings));
  } catch (error) {
    await stopNetemNode(plane);
    throw error;
  }
  return describe(plane.stateDir, hostNode, image.kernelVersion);
}

export async function netemNodeTimings(plane: ControlPlane): Promise<NetemNodeTimings | undefined> {
  const text = await readFile(join(layout(plane.stateDir).dir, 'timings.json'), 'utf8').catch(() => undefined);
  return text === undefined ? undefined : JSON.parse(text) as NetemNodeTimings;
}

/**
 * Stops the VM (everything the node ran lived in the guest's memory and goes with it), deletes the Node object while
 * the apiserver answers, and removes the tap, the route and the node's directory. Safe to call when nothing runs.
 */
export async function stopNetemNode(plane: ControlPlane | string): Promise<void> {
  const stateDir = typeof plane === 'string' ? plane : plane.stateDir;
  const l = layout(stateDir);
  const qemu = await qemuExecutable().catch(() => undefined);
  if (qemu !== undefined) await stopService(l.pidFile, qemu);
  if (typeof plane !== 'string') {
    await kubectl(plane, ['delete', 'node', NETEM_NODE_NAME, '--ignore-not-found', '--wait=false'], { allowFailure: true });
    // What the pod garbage collector would do a while later: the pods bound to the gone node, whose containers died with the VM.
    await kubectl(plane, ['delete', 'pods', '--all-namespaces', `--field-selector=spec.nodeName=${NETEM_NODE_NAME}`, '--force', '--grace-period=0'], { allowFailure: true });
  }
  await removeNetemLink();
  await rm(l.dir, { recursive: true, force: true });
}

/** What the netem node left on the host: its qemu, processes naming its dir, mounts, the tap, the route, its dir. */
export async function netemNodeLeftovers(stateDir: string): Promise<string[]> {
  const l = layout(stateDir);
  const left = [
    ...(await processesReferencing(l.dir)).map((p) => `process ${p.pid}: ${p.argv.join(' ')}`),
    ...(await mountsUnder(l.dir)).map((point) => `mount ${point}`),
    ...await netemLinkLeftovers(),
  ];
  if (await pathExists(l.dir)) left.push(`directory ${l.dir}`);
  return [...new Set(left)];
}

/** The Node's labels, taints and kernel as the apiserver has them. */
export async function netemNodeObject(plane: ControlPlane): Promise<NodeObject> {
  return kubectlJson<NodeObject>(plane, ['get', 'node', NETEM_NODE_NAME]);
}

