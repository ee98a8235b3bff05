/**
 * Which container runtime a node has, and how a container ID becomes a process:
 * containerd's own API first, CRI as the fallback.
 */
import { access, constants } from 'node:fs/promises';
import { DaemonError, errorMessage } from '../errors.ts';
import { processStartTime } from '../proc.ts';
import { ContainerdRuntime } from './containerd.ts';
import { CriRuntime } from './cri.ts';
import type { ContainerRuntime, PodMeta } from './types.ts';

export const CONTAINERD_SOCKETS = ['/run/containerd/containerd.sock', '/run/k3s/containerd/containerd.sock'] as const;
export const CRI_SOCKETS = ['/var/run/crio/crio.sock'] as const;

export interface RuntimeConfig {
  /** containerd's socket; its CRI service on the same socket is the fallback. */
  containerdSocket?: string;
  /** A CRI-only runtime's socket (CRI-O). */
  criSocket?: string;
  containerdNamespace?: string;
}

async function isSocket(path: string): Promise<boolean> {
  return access(path, constants.R_OK | constants.W_OK).then(() => true, () => false);
}

async function firstSocket(paths: readonly string[]): Promise<string | undefined> {
  for (const path of paths) if (await isSocket(path)) return path;
  return undefined;
}

/** Runtimes in the order they are asked. Given sockets win over detected ones. */
export async function detectRuntimes(config: RuntimeConfig): Promise<ContainerRuntime[]> {
  const runtimes: ContainerRuntime[] = [];
  const containerd = config.containerdSocket ?? await firstSocket(CONTAINERD_SOCKETS);
  if (containerd !== undefined) {
    runtimes.push(new ContainerdRuntime({ socket: containerd, ...(config.containerdNamespace ? { namespace: config.containerdNamespace } : {}) }));
    runtimes.push(new CriRuntime({ socket: containerd }));
  }
  const cri = config.criSocket ?? (containerd === undefined ? await firstSocket(CRI_SOCKETS) : undefined);
  if (cri !== undefined) runtimes.push(new CriRuntime({ socket: cri }));
  if (runtimes.length === 0) {
    throw new DaemonError('unavailable', `no container runtime socket found (tried ${[...CONTAINERD_SOCKETS, ...CRI_SOCKETS].join(', ')}); pass --containerd-socket or --cri-socket`);
  }
  return runtimes;
}

/** A container's process at one moment: pid plus start time, so a reused pid is never mistaken for it. */
export interface ResolvedTarget {
  containerId: string;
  pid: number;
  startTime: number;
  /** The runtime that answered, e.g. "containerd /run/containerd/containerd.sock". */
  runtime: string;
}

export class TargetResolver {
  private found: readonly ContainerRuntime[];
  private readonly redetect: (() => Promise<ContainerRuntime[]>) | undefined;

  /** `redetect` is asked again while no runtime is known: a runtime that starts after the daemon is still found. */
  constructor(runtimes: readonly ContainerRuntime[], redetect?: () => Promise<ContainerRuntime[]>) {
    this.found = runtimes;
    this.redetect = redetect;
  }

  get runtimes(): readonly ContainerRuntime[] {
    return this.found;
  }

  /** Asks each runtime in turn; 'not-found' from all of them is 'not-found', anything else is 'unavailable'. */
  private async firstAnswer<T>(what: string, ask: (runtime: ContainerRuntime) => Promise<T>): Promise<{ value: T; runtime: ContainerRuntime }> {
    if (this.found.length === 0 && this.redetect !== undefined) this.found = await this.redetect().catch(() => []);
    if (this.found.length === 0) throw new DaemonError('unavailable', `${what}: no container runtime socket was found on this node`);
    const failures: DaemonError[] = [];
    for (const runtime of this.runtimes) {
      try {
        return { value: await ask(runtime), runtime };
      } catch (error) {
        failures.push(error instanceof DaemonError ? error : new DaemonError('failed', errorMessage(error)));
      }
    }
    const code = failures.every((f) => f.code === 'not-found') ? 'not-found' : 'unavailable';
    throw new DaemonError(code, `${what}: ${failures.map((f) => f.message).join('; ')}`);
  }

  async resolve(containerId: string): Promise<ResolvedTarget> {
    const { value: pid, runtime } = await this.firstAnswer(`resolve container ${containerId}`, (r) => r.taskPid(containerId));
    const startTime = await processStartTime(pid);
    if (startTime === undefined) throw new DaemonError('not-found', `container ${containerId}: its pid ${pid} exited while being resolved`);
    return { containerId, pid, startTime, runtime: `${runtime.name} ${runtime.socket}` };
  }

  async kill(containerId: string): Promise<string> {
    const { runtime } = await this.firstAnswer(`kill container ${containerId}`, (r) => r.kill(containerId));
    return `${runtime.name} ${runtime.socket}`;
  }

  /**
   * What the runtimes know of the container's pod, merged: containerd's own API has its labels, CRI also the
   * sandbox's annotations. It protects pods, so when no runtime could answer at all it fails rather than guess.
   */
  async pod(containerId: string): Promise<PodMeta | undefined> {
    let merged: PodMeta | undefined;
    const failures: string[] = [];
    for (const runtime of this.runtimes) {
      let meta: PodMeta | undefined;
      try {
        meta = await runtime.pod(containerId);
      } catch (error) {
        failures.push(errorMessage(error));
        continue;
      }
      if (meta === undefined) continue;
      const namespace = merged?.namespace ?? meta.namespace;
      merged = { ...(namespace === undefined ? {} : { namespace }), staticPod: (merged?.staticPod ?? false) || (meta.staticPod ?? false) };
    }
    if (failures.length === this.runtimes.length) throw new DaemonError('unavailable', `pod of container ${containerId}: ${failures.join('; ') || 'no container runtime'}`);
    return merged;
  }

  /** The running container that replaced a restarted one, found by its pod and container name. */
  async findRestarted(podUid: string, containerName: string): Promise<string> {
    const { value } = await this.firstAnswer(`find container ${containerName} of pod ${podUid}`, async (r) => {
      const found = await r.findInPod(podUid, containerName);
      if (found[0] === undefined) throw new DaemonError('not-found', `${r.name} ${r.socket}: no running container ${containerName} in pod ${podUid}`);
      return found[0];
    });
    return value;
  }

  close(): void {
    for (const runtime of this.runtimes) runtime.close();
  }
}
