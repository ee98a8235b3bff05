import { access, mkdir, readdir, readFile, readlink, rm, rmdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { stringify } from 'yaml';
import type { ControlPlane } from '../control-plane.ts';
import { writeKubeconfig } from '../kubeconfig.ts';
import { ensureCertificate } from '../pki.ts';
import { runningPid, startService, stopService } from '../processes.ts';
import { cgroupHierarchies, cgroupsAt, killCgroupTree } from './cgroups.ts';
import { logTail } from './containerd.ts';
import { killProcessesReferencing } from './procs.ts';

/** Pods' cgroups live under this cgroup v1 parent (not kubelet's default /kubepods), so the node can remove them all. */
export const KUBELET_CGROUP_ROOT = '/kerris-node';
/** kubelet links every container log here whatever its root dir; the path is built into kubelet. */
const LEGACY_CONTAINER_LOGS = '/var/log/containers';
/** The device manager's socket ignores the root dir too. */
const DEVICE_PLUGIN_SOCKET = '/var/lib/kubelet/device-plugins/kubelet.sock';

export interface KubeletSpec {
  /** The Node's name (a DNS label). */
  name: string;
  /** The Node's InternalIP; kubelet serves on it (port 10250), the apiserver reaches it there. */
  nodeIP: string;
  /** kubelet's own directory: config, certificates, root dir, logs. */
  dir: string;
  containerdSocket: string;
  plane: ControlPlane;
}

export class KubeletError extends Error {
  override name = 'KubeletError';
}

function layout(dir: string) {
  return {
    dir,
    config: join(dir, 'config.yaml'),
    kubeconfig: join(dir, 'kubelet.kubeconfig'),
    pki: join(dir, 'pki'),
    root: join(dir, 'root'),
    podLogs: join(dir, 'pod-logs'),
    volumePlugins: join(dir, 'volume-plugins'),
    logFile: join(dir, 'kubelet.log'),
    pidFile: join(dir, 'kubelet.pid'),
    exeFile: join(dir, 'kubelet.exe'),
  };
}

function validate(spec: KubeletSpec): void {
  if (!/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(spec.name)) throw new KubeletError(`node name ${JSON.stringify(spec.name)} is not a DNS label`);
  if (!/^(\d{1,3})(\.\d{1,3}){3}$/.test(spec.nodeIP)) throw new KubeletError(`node IP ${JSON.stringify(spec.nodeIP)} is not an IPv4 address`);
}

/** The KubeletConfiguration of the test-bed node. */
export function kubeletConfig(spec: KubeletSpec, paths: { cert: string; key: string; podLogs: string; volumePlugins: string }): Record<string, unknown> {
  return {
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    address: spec.nodeIP,
    port: 10250,
    readOnlyPort: 0,
    healthzPort: 0,
    containerRuntimeEndpoint: `unix://${spec.containerdSocket}`,
    cgroupDriver: 'cgroupfs',
    cgroupRoot: KUBELET_CGROUP_ROOT,
    // The host is a cgroup v1 hybrid; kubelet 1.34 still runs there when told so.
    failCgroupV1: false,
    failSwapOn: false,
    authentication: {
      anonymous: { enabled: false },
      webhook: { enabled: true },
      x509: { clientCAFile: spec.plane.caCert },
    },
    authorization: { mode: 'Webhook' },
    tlsCertFile: paths.cert,
    tlsPrivateKeyFile: paths.key,
    rotateCertificates: false,
    serverTLSBootstrap: false,
    podLogsDir: paths.podLogs,
    volumePluginDir: paths.volumePlugins,
    // Chains kubelet would add to iptables for nothing here (no kube-proxy, no hostPorts).
    makeIPTablesUtilChains: false,
    // A busy build disk must not evict test pods, and no image may be collected: none can be pulled again.
    evictionHard: { 'memory.available': '100Mi', 'nodefs.available': '0%', 'nodefs.inodesFree': '0%', 'imagefs.available': '0%', 'imagefs.inodesFree': '0%' },
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    clusterDomain: 'cluster.local',
    maxPods: 110,
    nodeStatusUpdateFrequency: '5s',
    nodeStatusReportFrequency: '10s',
    syncFrequency: '10s',
    fileCheckFrequency: '10s',
  };
}

/** kubelet demands its cgroup root to exist in every hierarchy. */
async function createCgroupRoot(): Promise<void> {
  for (const hierarchy of await cgroupHierarchies()) await mkdir(join(hierarchy, KUBELET_CGROUP_ROOT), { recursive: true });
}

export async function startKubelet(spec: KubeletSpec): Promise<number> {
  validate(spec);
  const l = layout(spec.dir);
  const kubelet = join(spec.plane.binDir, 'kubelet');
  if (await runningPid(l.pidFile, kubelet) !== undefined) throw new KubeletError(`a kubelet already runs in ${spec.dir}`);
  await Promise.all([l.pki, l.root, l.podLogs, l.volumePlugins].map((d) => mkdir(d, { recursive: true, mode: 0o700 })));
  const ca = { cert: spec.plane.caCert, key: spec.plane.caKey };
  // The Node authorizer and NodeRestriction know a kubelet by exactly this identity.
  const client = await ensureCertificate(l.pki, ca, { file: 'kubelet-client', commonName: `system:node:${spec.name}`, organization: 'system:nodes', usage: 'client' });
  const serving = await ensureCertificate(l.pki, ca, { file: 'kubelet-serving', commonName: `system:node:${spec.name}`, ips: [spec.nodeIP], dnsNames: [spec.name], usage: 'server' });
  await writeKubeconfig(l.kubeconfig, { server: spec.plane.server, caCert: spec.plane.caCert, clientCert: client.cert, clientKey: client.key, user: `system:node:${spec.name}` });
  await writeFile(l.config, stringify(kubeletConfig(spec, { cert: serving.cert, key: serving.key, podLogs: l.podLogs, volumePlugins: l.volumePlugins })));
  await createCgroupRoot();
  await writeFile(l.exeFile, kubelet);
  return startService({
    name: 'kubelet',
    argv: [kubelet, `--config=${l.config}`, `--kubeconfig=${l.kubeconfig}`, `--root-dir=${l.root}`, `--cert-dir=${l.pki}`,
      `--hostname-override=${spec.name}`, `--node-ip=${spec.nodeIP}`, '--v=2'],
    logFile: l.logFile,
    pidFile: l.pidFile,
  });
}

/** Is the kubelet of dir running? */
export async function kubeletPid(dir: string): Promise<number | undefined> {
  const l = layout(dir);
  const exe = await readFile(l.exeFile, 'utf8').catch(() => '');
  return exe === '' ? undefined : runningPid(l.pidFile, exe);
}

export function kubeletLogTail(dir: string): Promise<string> {
  return logTail(layout(dir).logFile);
}

/** Stops kubelet, and one whose pid file was lost; pods keep running for containerd to tear down. */
export async function stopKubelet(dir: string): Promise<void> {
  const l = layout(dir);
  const exe = await readFile(l.exeFile, 'utf8').catch(() => '');
  if (exe !== '') await stopService(l.pidFile, exe);
  await killProcessesReferencing(dir);
}

/** Container log links in /var/log/containers that point into this kubelet's pod logs. */
async function ourLogLinks(dir: string): Promise<string[]> {
  const podLogs = layout(dir).podLogs;
  const found: string[] = [];
  for (const name of await readdir(LEGACY_CONTAINER_LOGS).catch(() => [] as string[])) {
    const target = await readlink(join(LEGACY_CONTAINER_LOGS, name)).catch(() => '');
    if (target.startsWith(`${podLogs}/`)) found.push(join(LEGACY_CONTAINER_LOGS, name));
  }
  return found;
}

/** Removes what kubelet leaves outside its dir: pod cgroups (killing any process still in them) and log links. */
export async function removeKubeletHostState(dir: string): Promise<void> {
  await killCgroupTree(KUBELET_CGROUP_ROOT);
  for (const link of await ourLogLinks(dir)) await rm(link, { force: true });
  await rm(DEVICE_PLUGIN_SOCKET, { force: true });
  // The directories go too unless something else put files there.
  for (const emptied of [LEGACY_CONTAINER_LOGS, dirname(DEVICE_PLUGIN_SOCKET), dirname(dirname(DEVICE_PLUGIN_SOCKET))]) await rmdir(emptied).catch(() => undefined);
}

export async function kubeletLeftovers(dir: string): Promise<string[]> {
  const left: string[] = [];
  const pid = await kubeletPid(dir);
  if (pid !== undefined) left.push(`process ${pid}: kubelet`);
  for (const cgroup of await cgroupsAt(KUBELET_CGROUP_ROOT)) left.push(`cgroup ${cgroup}`);
  for (const link of await ourLogLinks(dir)) left.push(`file ${link}`);
  if (await access(DEVICE_PLUGIN_SOCKET).then(() => true, () => false)) left.push(`file ${DEVICE_PLUGIN_SOCKET}`);
  return left;
}
