import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { run, type RunResult } from '../../../src/util/exec.ts';
import { requireExecutables, requireRoot } from '../prerequisites.ts';
import { runningPid, startService, stopService } from '../processes.ts';
import { cgroupsAt, killCgroupTree } from './cgroups.ts';
import { mountsUnder, unmountUnder } from './mounts.ts';
import { killProcessesReferencing, processes, processesReferencing, type ProcessInfo } from './procs.ts';

/** A private containerd: its own socket, root, state and runc root, so it never touches a system containerd. */
export interface Containerd {
  dir: string;
  socket: string;
  configFile: string;
  logFile: string;
  pid: number;
  /** Where runc keeps container state; pass it to `ctr run --runc-root` (see ctrRunFlags). */
  runcRoot: string;
  /** FIFOs of `ctr run`; outside this dir ctr would use /run/containerd/fifo. */
  fifoDir: string;
  /** cgroup v1 parent of plain `ctr run` containers, removed by stopContainerd. */
  cgroupParent: string;
}

/** Settings of the CRI plugin; defaults suit plain containers (no CNI configuration yet). */
export interface ContainerdOptions {
  /** The pod sandbox image, imported beforehand (no registry is reachable); only CRI pods need one. */
  sandboxImage?: string;
  cniConfDir?: string;
  cniBinDir?: string;
}

export class ContainerdError extends Error {
  override name = 'ContainerdError';
}

export const CONTAINERD = '/usr/bin/containerd';
export const CTR = '/usr/bin/ctr';
export const RUNC = '/usr/sbin/runc';
const SHIM_SOCKET_DIR = '/run/containerd/s';

/** Paths go into TOML strings and command lines: keep them to characters that need no quoting. */
const SAFE_PATH = /^\/[A-Za-z0-9._/-]+$/;
/** sun_path holds 108 bytes; containerd adds ".ttrpc" to the socket path. */
const MAX_SOCKET_PATH = 100;

function checkPath(what: string, path: string): void {
  if (!SAFE_PATH.test(path) || path.split('/').includes('..')) throw new ContainerdError(`${what} ${JSON.stringify(path)} must be an absolute path of [A-Za-z0-9._/-]`);
}

function layout(dir: string) {
  checkPath('containerd dir', dir);
  const socket = join(dir, 'containerd.sock');
  if (socket.length > MAX_SOCKET_PATH) throw new ContainerdError(`containerd socket path ${socket} is longer than ${MAX_SOCKET_PATH} bytes`);
  const tag = createHash('sha256').update(dir).digest('hex').slice(0, 10);
  return {
    dir,
    socket,
    configFile: join(dir, 'config.toml'),
    logFile: join(dir, 'containerd.log'),
    pidFile: join(dir, 'containerd.pid'),
    root: join(dir, 'root'),
    state: join(dir, 'state'),
    runcRoot: join(dir, 'runc'),
    fifoDir: join(dir, 'fifo'),
    cgroupParent: `/kerris-containerd-${tag}`,
  };
}

/** The config.toml of a private containerd (config version 2, as containerd 1.6 reads it). */
export function containerdConfig(dir: string, options: ContainerdOptions = {}): string {
  const l = layout(dir);
  const sandboxImage = options.sandboxImage;
  if (sandboxImage !== undefined && !/^[a-z0-9.:/_-]+$/.test(sandboxImage)) throw new ContainerdError(`sandbox image ${JSON.stringify(sandboxImage)} is not a plain image reference`);
  const cniConfDir = options.cniConfDir ?? join(dir, 'cni', 'net.d');
  const cniBinDir = options.cniBinDir ?? '/usr/lib/cni';
  checkPath('CNI conf dir', cniConfDir);
  checkPath('CNI bin dir', cniBinDir);
  return `version = 2
root = "${l.root}"
state = "${l.state}"
# Plugins that would write outside root and state (opt creates /opt/containerd) or need absent kernels features.
disabled_plugins = [
  "io.containerd.internal.v1.opt",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
]

[grpc]
  address = "${l.socket}"

[ttrpc]
  address = "${l.socket}.ttrpc"

[debug]
  address = ""

[metrics]
  address = ""

# The tasks service needs the v1 runtime loaded; its root stays ours even though nothing uses it.
[plugins."io.containerd.runtime.v1.linux"]
  runtime_root = "${l.runcRoot}-v1"

[plugins."io.containerd.grpc.v1.cri"]
${sandboxImage === undefined ? '' : `  sandbox_image = "${sandboxImage}"\n`}  # The machine lacks CAP_SYS_RESOURCE: without this runc fails with "can't get final child's PID from pipe".
  restrict_oom_score_adj = true
  # Pod network namespaces under our state dir instead of /var/run/netns.
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "${l.runcRoot}"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "${cniBinDir}"
    conf_dir = "${cniConfDir}"
    max_conf_num = 1
`;
}

/** Runs ctr against a private containerd. */
export function ctr(socket: string, namespace: string, args: readonly string[], allowFailure = false): Promise<RunResult> {
  return run([CTR, '--address', socket, '--namespace', namespace, ...args], { allowFailure, timeoutMs: 60_000 });
}

/** Flags for `ctr run` that keep a plain container's runc state, FIFOs and cgroup inside this containerd's space. */
export function ctrRunFlags(c: Containerd, id: string): string[] {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(id)) throw new ContainerdError(`container id ${JSON.stringify(id)} is not valid`);
  return ['--runc-root', c.runcRoot, '--fifo-dir', c.fifoDir, '--cgroup', `${c.cgroupParent}/${id}`];
}

async function waitForSocket(l: ReturnType<typeof layout>, pid: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const version = await run([CTR, '--address', l.socket, 'version'], { allowFailure: true, timeoutMs: 5_000 }).catch(() => undefined);
    if (version?.code === 0) return;
    if (await runningPid(l.pidFile, CONTAINERD) !== pid) throw new ContainerdError(`containerd exited during start:\n${await logTail(l.logFile)}`);
    if (Date.now() > deadline) throw new ContainerdError(`containerd did not answer on ${l.socket} within ${timeoutMs} ms:\n${await logTail(l.logFile)}`);
    await sleep(100);
  }
}

/** Does the containerd of dir run? */
export async function containerdRunning(dir: string): Promise<boolean> {
  return await runningPid(layout(dir).pidFile, CONTAINERD) !== undefined;
}

export async function logTail(file: string, lines = 30): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.split('\n').slice(-lines).join('\n');
}

/**
 * Starts a private containerd in dir (created; it belongs to this containerd). The CRI plugin is on, so kubelet can
 * use it; plain containers work too, with ctrRunFlags.
 */
export async function startContainerd(dir: string, options: ContainerdOptions = {}): Promise<Containerd> {
  await requireRoot('a private containerd');
  await requireExecutables({ [CONTAINERD]: 'containerd', [CTR]: 'containerd', [RUNC]: 'runc', '/usr/bin/containerd-shim-runc-v2': 'containerd' });
  const l = layout(dir);
  if (await runningPid(l.pidFile, CONTAINERD) !== undefined) throw new ContainerdError(`a containerd already runs in ${dir}; stop it first`);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await mkdir(l.fifoDir, { recursive: true });
  await mkdir(options.cniConfDir ?? join(dir, 'cni', 'net.d'), { recursive: true });
  await writeFile(l.configFile, containerdConfig(dir, options));
  const pid = await startService({ name: 'containerd', argv: [CONTAINERD, '--config', l.configFile, '--log-level', 'info'], logFile: l.logFile, pidFile: l.pidFile });
  try {
    await waitForSocket(l, pid, 30_000);
  } catch (error) {
    await stopContainerd(dir);
    throw error;
  }
  return { dir, socket: l.socket, configFile: l.configFile, logFile: l.logFile, pid, runcRoot: l.runcRoot, fifoDir: l.fifoDir, cgroupParent: l.cgroupParent };
}

function lines(text: string): string[] {
  return text.split('\n').map((line) => line.trim()).filter((line) => line !== '');
}

interface TaskRow {
  id: string;
  status: string;
}

async function listTasks(socket: string, namespace: string): Promise<TaskRow[]> {
  const listed = await ctr(socket, namespace, ['tasks', 'list']);
  return lines(listed.stdout).slice(1).map((line) => line.split(/\s+/)).map((cols) => ({ id: cols[0] ?? '', status: cols[2] ?? '' }));
}

/** Kills and deletes every task and container, so shims exit and runc removes its cgroups. */
async function removeAllContainers(socket: string): Promise<void> {
  const namespaces = lines((await ctr(socket, 'default', ['namespaces', 'list', '--quiet'])).stdout);
  for (const namespace of namespaces) {
    for (const task of await listTasks(socket, namespace)) await ctr(socket, namespace, ['tasks', 'kill', '--all', '--signal', 'SIGKILL', task.id], true);
    // CRI deletes the tasks of its own containers when they exit, so a task may vanish before we delete it.
    const deadline = Date.now() + 10_000;
    for (let tasks = await listTasks(socket, namespace); tasks.length > 0 && Date.now() < deadline; tasks = await listTasks(socket, namespace)) {
      for (const task of tasks.filter((t) => t.status === 'STOPPED')) await ctr(socket, namespace, ['tasks', 'delete', task.id], true);
      await sleep(50);
    }
    const containers = lines((await ctr(socket, namespace, ['containers', 'list', '--quiet'])).stdout);
    for (const container of containers) await ctr(socket, namespace, ['containers', 'delete', container], true);
  }
}

/** Ids of the containers (pod sandboxes included) in a namespace of the containerd in dir; empty if it does not run. */
export async function containerIds(dir: string, namespace: string): Promise<string[]> {
  const l = layout(dir);
  if (await runningPid(l.pidFile, CONTAINERD) === undefined) return [];
  return lines((await ctr(l.socket, namespace, ['containers', 'list', '--quiet'], true)).stdout);
}

/** The socket a runc v2 shim listens on: containerd 1.6 puts it in /run/containerd/s, named by a hash. */
function shimSocket(argv: readonly string[]): string | undefined {
  const flag = (name: string): string | undefined => {
    const at = argv.indexOf(name);
    return at >= 0 ? argv[at + 1] : undefined;
  };
  const [address, namespace, id] = [flag('-address'), flag('-namespace'), flag('-id')];
  if (address === undefined || namespace === undefined || id === undefined) return undefined;
  return join(SHIM_SOCKET_DIR, createHash('sha256').update(join(address, namespace, id)).digest('hex'));
}

function isShim(p: ProcessInfo): boolean {
  return (p.argv[0] ?? '').endsWith('containerd-shim-runc-v2');
}

/** SIGKILLs what is left of the containerd in dir; a killed shim cannot remove its socket, so that is done here. */
function killRemaining(dir: string): Promise<void> {
  return killProcessesReferencing(dir, async (p) => {
    const socket = isShim(p) ? shimSocket(p.argv) : undefined;
    if (socket !== undefined) await rm(socket, { force: true });
  });
}

/**
 * Stops the containerd in dir and removes everything it made: containers, shims, mounts, cgroups, the dir itself.
 * Safe to call when nothing runs.
 */
export async function stopContainerd(dir: string): Promise<void> {
  const l = layout(dir);
  if (await runningPid(l.pidFile, CONTAINERD) !== undefined) {
    await removeAllContainers(l.socket).catch(() => undefined);
    await stopService(l.pidFile, CONTAINERD);
  }
  await killRemaining(dir);
  // A shim killed before its container leaves the container running, reparented: its cgroup still finds it.
  await killCgroupTree(l.cgroupParent);
  await unmountUnder(dir);
  await rm(dir, { recursive: true, force: true });
  await removeSharedShimDir();
}

/** Shims of every containerd 1.6 put their sockets in /run/containerd/s; remove it once no containerd is left to use it. */
async function removeSharedShimDir(): Promise<void> {
  const anyContainerd = (await processes()).some((p) => /(^|\/)containerd(-shim[^/]*)?$/.test(p.argv[0] ?? ''));
  if (anyContainerd) return;
  for (const dir of [SHIM_SOCKET_DIR, '/run/containerd']) await rmdir(dir).catch(() => undefined);
}

/** What the containerd in dir left behind: processes, mounts, cgroups, files. Empty after stopContainerd. */
export async function containerdLeftovers(dir: string): Promise<string[]> {
  const l = layout(dir);
  const left: string[] = [];
  for (const p of await processesReferencing(dir)) left.push(`process ${p.pid}: ${p.argv.join(' ')}`);
  for (const point of await mountsUnder(dir)) left.push(`mount ${point}`);
  for (const cgroup of await cgroupsAt(l.cgroupParent)) left.push(`cgroup ${cgroup}`);
  if (await readdir(dir).then(() => true, () => false)) left.push(`directory ${dir}`);
  return left;
}
