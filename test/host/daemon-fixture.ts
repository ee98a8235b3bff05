/**
 * What the daemon's host tests share: a private containerd with the workload
 * image, mTLS certificates, containers in network namespaces of their own,
 * and the daemon itself as a separate process (so it can be SIGKILLed).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DaemonClient } from '../../src/daemon/client.ts';
import { makeCertificates, type CertificateSet } from '../../src/daemon/tls-certs.ts';
import { readTlsFiles, type TlsMaterial } from '../../src/daemon/tls.ts';
import { run } from '../../src/util/exec.ts';
import { ctr, ctrRunFlags, startContainerd, stopContainerd, type Containerd } from '../testbed/node/containerd.ts';
import { importImage, WORKLOAD_IMAGE, workloadImage } from '../testbed/node/images.ts';

export const NAMESPACE = 'k8s.io';
const V1_FREEZER = '/sys/fs/cgroup/freezer';
/** cgroup v2's mount: its own on a v1/v2 hybrid like this host's. */
const V2_ROOT = '/sys/fs/cgroup/unified';
export const REPO = join(import.meta.dirname, '..', '..');
export const MAIN = join(REPO, 'src', 'daemon', 'main.ts');

export interface RunningDaemon {
  child: ChildProcess;
  pid: number;
  port: number;
  client: DaemonClient;
  /** Every log line so far, parsed. */
  logs: Array<Record<string, unknown>>;
  /** Sends signal and waits for the process to exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export interface ContainerOptions {
  netns?: string;
  labels?: Readonly<Record<string, string>>;
  argv?: readonly string[];
}

export class DaemonFixture {
  readonly dir: string;
  readonly tag: string;
  private started: Containerd | undefined;

  get containerd(): Containerd {
    if (this.started === undefined) throw new Error('the fixture\'s containerd is not running');
    return this.started;
  }
  certs!: CertificateSet;
  clientTls!: TlsMaterial;
  private readonly daemons: RunningDaemon[] = [];
  private readonly netnsNames: string[] = [];

  private constructor(dir: string, tag: string) {
    this.dir = dir;
    this.tag = tag;
  }

  /** Short paths: containerd's socket path must fit in sun_path. */
  static async create(tag: string): Promise<DaemonFixture> {
    const fixture = new DaemonFixture(await mkdtemp(`/run/kd-${tag}-`), tag);
    try {
      fixture.started = await startContainerd(join(fixture.dir, 'ctd'));
      await importImage(fixture.containerd.socket, NAMESPACE, await workloadImage());
      fixture.certs = await makeCertificates(join(fixture.dir, 'pki'));
      fixture.clientTls = await readTlsFiles(fixture.certs.client);
    } catch (error) {
      await fixture.cleanup();
      throw error;
    }
    return fixture;
  }

  get journalDir(): string {
    return join(this.dir, 'journal');
  }

  /** Starts the daemon from `entry` (main.ts by default; a built main.js for the benchmark) with node flags `nodeArgs`. */
  async startDaemon(extraArgs: readonly string[] = [], options: { entry?: string; nodeArgs?: readonly string[]; journalDir?: string; env?: Readonly<Record<string, string>> } = {}): Promise<RunningDaemon> {
    const daemon = await spawnDaemon({
      containerdSocket: this.containerd.socket, certs: this.certs, clientTls: this.clientTls, extraArgs, ...options, journalDir: options.journalDir ?? this.journalDir,
    });
    this.daemons.push(daemon);
    return daemon;
  }

  async addNetns(name: string): Promise<string> {
    await run(['ip', 'netns', 'add', name]);
    this.netnsNames.push(name);
    await run(['ip', 'netns', 'exec', name, 'ip', 'link', 'set', 'lo', 'up']);
    return `/var/run/netns/${name}`;
  }

  /**
   * A pod-like netns: a veth pair with eth0 inside (10.<net>.<host>.2/24, peer .1 on the host side), as a CNI would
   * make it. Network faults land on eth0.
   */
  async addPodNetns(name: string, net: number, host: number): Promise<string> {
    const path = await this.addNetns(name);
    const hostSide = `kd${this.tag.slice(0, 4)}${net}x${host}`;
    if (hostSide.length > 15) throw new Error(`interface name ${hostSide} is too long`);
    await run(['ip', 'link', 'add', hostSide, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', name]);
    await run(['ip', 'addr', 'add', `10.${net}.${host}.1/24`, 'dev', hostSide]);
    await run(['ip', 'link', 'set', hostSide, 'up']);
    await run(['ip', 'netns', 'exec', name, 'ip', 'addr', 'add', `10.${net}.${host}.2/24`, 'dev', 'eth0']);
    await run(['ip', 'netns', 'exec', name, 'ip', 'link', 'set', 'eth0', 'up']);
    return path;
  }

  async runContainer(id: string, options: ContainerOptions = {}): Promise<number> {
    const labels = Object.entries(options.labels ?? {}).flatMap(([k, v]) => ['--label', `${k}=${v}`]);
    const ns = options.netns === undefined ? [] : ['--with-ns', `network:${options.netns}`];
    await ctr(this.containerd.socket, NAMESPACE, ['run', '--detach', ...ctrRunFlags(this.containerd, id), ...ns, ...labels, WORKLOAD_IMAGE, id,
      ...(options.argv ?? ['/bin/sleep', '3600'])]);
    return this.taskPid(id);
  }

  /**
   * Whether a container is frozen, by whichever freezer: FROZEN once the kernel reports it (v2 cgroup.events
   * "frozen 1", v1 freezer.state FROZEN), THAWED when neither freezer holds it, CHANGING in between.
   */
  async freezeState(id: string): Promise<'FROZEN' | 'THAWED' | 'CHANGING'> {
    const path = join(this.containerd.cgroupParent, id);
    const v1 = (await readFile(join(V1_FREEZER, path, 'freezer.state'), 'utf8').catch(() => 'THAWED')).trim();
    const asked = (await readFile(join(V2_ROOT, path, 'cgroup.freeze'), 'utf8').catch(() => '0')).trim();
    const events = await readFile(join(V2_ROOT, path, 'cgroup.events'), 'utf8').catch(() => '');
    const v2 = asked === '1' && /^frozen 1$/m.test(events) ? 'FROZEN' : asked === '0' && !/^frozen 1$/m.test(events) ? 'THAWED' : 'CHANGING';
    if (v1 === 'FREEZING' || v2 === 'CHANGING') return 'CHANGING';
    return v1 === 'FROZEN' || v2 === 'FROZEN' ? 'FROZEN' : 'THAWED';
  }

  async waitFreezeState(id: string, want: 'FROZEN' | 'THAWED', timeoutMs = 5_000): Promise<void> {
    await eventually(`container ${id} ${want}`, async () => ((await this.freezeState(id)) === want ? true : undefined), timeoutMs, 10);
  }

  async taskPid(id: string): Promise<number> {
    const listed = await ctr(this.containerd.socket, NAMESPACE, ['tasks', 'list']);
    const row = listed.stdout.split('\n').map((l) => l.trim().split(/\s+/)).find((cols) => cols[0] === id);
    if (row === undefined) throw new Error(`task ${id} not listed:\n${listed.stdout}`);
    return Number(row[1]);
  }

  async taskStatus(id: string): Promise<string | undefined> {
    const listed = await ctr(this.containerd.socket, NAMESPACE, ['tasks', 'list']);
    return listed.stdout.split('\n').map((l) => l.trim().split(/\s+/)).find((cols) => cols[0] === id)?.[2];
  }

  /** Kills a container's task and deletes task and container, as a restart would. */
  async removeContainer(id: string): Promise<void> {
    await ctr(this.containerd.socket, NAMESPACE, ['tasks', 'kill', '--all', '--signal', 'SIGKILL', id], true);
    const deadline = Date.now() + 10_000;
    while ((await ctr(this.containerd.socket, NAMESPACE, ['tasks', 'delete', id], true)).code !== 0 && Date.now() < deadline) await sleep(100);
    await ctr(this.containerd.socket, NAMESPACE, ['containers', 'delete', id], true);
  }

  /** Also after a failed test: a frozen task cannot die (cgroup v1), so every container cgroup is thawed first. */
  async cleanup(): Promise<void> {
    for (const daemon of this.daemons) await daemon.stop('SIGKILL');
    if (this.started !== undefined) {
      for (const [parent, file, thawed] of [[V1_FREEZER, 'freezer.state', 'THAWED'], [V2_ROOT, 'cgroup.freeze', '0']] as const) {
        const dir = join(parent, this.started.cgroupParent);
        for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
          if (entry.isDirectory()) await writeFile(join(dir, entry.name, file), thawed).catch(() => undefined);
        }
      }
      await stopContainerd(this.started.dir);
    }
    for (const name of this.netnsNames) await run(['ip', 'netns', 'delete', name], { allowFailure: true });
    await rm(this.dir, { recursive: true, force: true });
  }
}

export interface DaemonProcessOptions {
  containerdSocket: string;
  journalDir: string;
  certs: CertificateSet;
  clientTls: TlsMaterial;
  extraArgs?: readonly string[];
  entry?: string;
  nodeArgs?: readonly string[];
  /** Added to the daemon's environment (e.g. libfaketime's, to step its wall clock). */
  env?: Readonly<Record<string, string>>;
  /**
   * Argv the daemon runs under, e.g. `nsenter --net=<netns> -- unshare --pid --fork --mount-proc --`: a sandbox it
   * takes for the node. The daemon is then the child of the process spawned, and is signalled itself.
   */
  wrap?: readonly string[];
  /** The address the daemon serves gRPC on, and the client connects to; 127.0.0.1 by default. */
  host?: string;
}

/** Runs the daemon as its own process, on loopback with free ports, and connects a client once it reports ready. */
export async function spawnDaemon(options: DaemonProcessOptions): Promise<RunningDaemon> {
  const server = options.certs.server;
  const host = options.host ?? '127.0.0.1';
  const [command, ...wrapArgs] = [...(options.wrap ?? []), process.execPath];
  const child = spawn(command ?? process.execPath, [...wrapArgs, ...(options.nodeArgs ?? []), options.entry ?? MAIN, '--listen', `${host}:0`, '--metrics-listen', '127.0.0.1:0',
    '--journal-dir', options.journalDir, '--tls-ca', server.ca, '--tls-cert', server.cert, '--tls-key', server.key,
    // A kubelet-stop names no process of this host (a test bed's kubelet may run here) unless a test names its own.
    '--containerd-socket', options.containerdSocket, '--kubelet-process', 'kd-no-kubelet', ...(options.extraArgs ?? [])],
  { stdio: ['ignore', 'inherit', 'pipe'], env: { ...process.env, KERRIS_LOG_LEVEL: 'debug', ...options.env } });
  const logs: Array<Record<string, unknown>> = [];
  const plain: string[] = [];
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const ready = new Promise<number>((resolve, reject) => {
    let buffered = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      let newline = buffered.indexOf('\n');
      while (newline >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        newline = buffered.indexOf('\n');
        try {
          const entry = JSON.parse(line) as Record<string, unknown>;
          logs.push(entry);
          if (entry['msg'] === 'daemon ready') resolve(Number(entry['port']));
        } catch {
          plain.push(line);
          process.stderr.write(`daemon: ${line}\n`);
        }
      }
    });
    child.once('exit', (code, signal) => reject(new Error(`daemon exited before it was ready (code ${code}, signal ${signal}); output:\n${
      [...logs.map((l) => JSON.stringify(l)), ...plain].join('\n')}`)));
  });
  const port = await ready;
  const client = new DaemonClient({ address: `${host}:${port}`, tls: options.clientTls, serverName: 'localhost', timeoutMs: 20_000 });
  const pid = options.wrap === undefined ? child.pid ?? -1 : await firstChild(child.pid ?? -1);
  return {
    child, pid, port, client, logs,
    stop: async (signal = 'SIGTERM') => {
      client.close();
      if (child.exitCode === null && child.signalCode === null) {
        // A wrapper (unshare --fork) ignores SIGTERM and waits for its child, so the daemon itself is signalled.
        if (options.wrap === undefined) child.kill(signal);
        else {
          try {
            process.kill(pid, signal);
          } catch (error) {
            // Gone already: the wrapper is about to exit after it.
            if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
          }
        }
      }
      await exited;
    },
  };
}

/** The first child of `pid`: the daemon a wrapper forked (nsenter execs unshare, which forks it). */
async function firstChild(pid: number): Promise<number> {
  return eventually(`a child of ${pid}`, async () => {
    const text = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '');
    const first = Number(text.trim().split(/\s+/)[0]);
    return Number.isSafeInteger(first) && first > 0 ? first : undefined;
  });
}

/** Polls until check returns a value other than undefined, or fails with what it saw last. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 10_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

export async function netnsList(): Promise<string[]> {
  return (await run(['ip', 'netns', 'list'])).stdout.split('\n').map((l) => l.split(' ')[0] ?? '').filter((n) => n !== '').sort();
}

/** Every journal file left in dir (the journal is empty when nothing is injected). */
export async function journalFiles(dir: string): Promise<string[]> {
  return (await readdir(dir).catch(() => [])).filter((n) => n.startsWith('injection-'));
}

export async function readCounter(pid: number): Promise<number> {
  return Number((await readFile(`/proc/${pid}/root/tmp/count`, 'utf8')).trim());
}
