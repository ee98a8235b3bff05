/** The CRI RuntimeService, for runtimes that only speak CRI (CRI-O) or when containerd's own API is unreachable. */
import * as grpc from '@grpc/grpc-js';
import { DaemonError, errorMessage } from '../errors.ts';
import { callUnary, isGrpcStatus, loadProto, unaryMethod, type UnaryMethod } from '../grpc-unary.ts';
import { CONFIG_SOURCE_ANNOTATION, CONTAINER_NAME_LABEL, POD_NAMESPACE_LABEL, POD_UID_LABEL, type ContainerRuntime, type PodMeta } from './types.ts';

interface ContainerStatusRequest { containerId: string; verbose: boolean }
interface ContainerStatusResponse { status: { id: string; state: number } | null; info: Record<string, string> }
interface ListContainersRequest { filter: { id: string; podSandboxId: string; labelSelector: Record<string, string> } }
interface ListedContainer { id: string; podSandboxId: string; state: number; createdAt: number; labels: Record<string, string> }
interface PodSandboxStatusRequest { podSandboxId: string; verbose: boolean }
interface PodSandboxStatusResponse { status: { id: string; labels: Record<string, string>; annotations: Record<string, string> } | null }
interface ListContainersResponse { containers: ListedContainer[] }
interface StopContainerRequest { containerId: string; timeout: number }

const CONTAINER_RUNNING = 1;
const SERVICE = 'runtime.v1.RuntimeService';
const cri = loadProto('cri.proto');
const containerStatus = unaryMethod<ContainerStatusRequest, ContainerStatusResponse>(cri, SERVICE, 'ContainerStatus');
const listContainers = unaryMethod<ListContainersRequest, ListContainersResponse>(cri, SERVICE, 'ListContainers');
const podSandboxStatus = unaryMethod<PodSandboxStatusRequest, PodSandboxStatusResponse>(cri, SERVICE, 'PodSandboxStatus');
const stopContainer = unaryMethod<StopContainerRequest, object>(cri, SERVICE, 'StopContainer');

/** The pid in a verbose ContainerStatus' `info` JSON (containerd and CRI-O both put it at top level). */
export function pidFromInfo(info: Readonly<Record<string, string>>): number | undefined {
  const raw = info['info'];
  if (raw === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || !('pid' in parsed)) return undefined;
  const pid = parsed.pid;
  return typeof pid === 'number' && Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

export class CriRuntime implements ContainerRuntime {
  readonly name = 'cri';
  readonly socket: string;
  private readonly client: grpc.Client;
  private readonly timeoutMs: number;

  constructor(options: { socket: string; timeoutMs?: number }) {
    this.socket = options.socket;
    this.timeoutMs = options.timeoutMs ?? 5_000;
    this.client = new grpc.Client(`unix://${options.socket}`, grpc.credentials.createInsecure());
  }

  private call<Req, Res>(method: UnaryMethod<Req, Res>, request: Req): Promise<Res> {
    return callUnary(this.client, method, request, new grpc.Metadata(), this.timeoutMs);
  }

  async taskPid(containerId: string): Promise<number> {
    let response: ContainerStatusResponse;
    try {
      response = await this.call(containerStatus, { containerId, verbose: true });
    } catch (error) {
      if (isGrpcStatus(error, grpc.status.NOT_FOUND)) throw new DaemonError('not-found', `CRI ${this.socket}: no container ${containerId}`);
      throw new DaemonError('unavailable', `CRI ${this.socket}: ContainerStatus ${containerId}: ${errorMessage(error)}`, { cause: error });
    }
    if (response.status === null || response.status.state !== CONTAINER_RUNNING) {
      throw new DaemonError('not-found', `container ${containerId} is not running (CRI ${this.socket})`);
    }
    const pid = pidFromInfo(response.info);
    if (pid === undefined) throw new DaemonError('failed', `CRI ${this.socket}: ContainerStatus ${containerId} carries no pid in its verbose info`);
    return pid;
  }

  /** CRI has no signal call: StopContainer with a zero timeout is its SIGKILL. */
  async kill(containerId: string): Promise<void> {
    try {
      await this.call(stopContainer, { containerId, timeout: 0 });
    } catch (error) {
      const code = isGrpcStatus(error, grpc.status.NOT_FOUND) ? 'not-found' : 'unavailable';
      throw new DaemonError(code, `CRI ${this.socket}: StopContainer ${containerId}: ${errorMessage(error)}`, { cause: error });
    }
  }

  async pod(containerId: string): Promise<PodMeta | undefined> {
    try {
      const listed = await this.call(listContainers, { filter: { id: containerId, podSandboxId: '', labelSelector: {} } });
      const container = listed.containers.find((c) => c.id === containerId);
      if (container === undefined) return undefined;
      const sandbox = (await this.call(podSandboxStatus, { podSandboxId: container.podSandboxId, verbose: false })).status;
      const namespace = container.labels[POD_NAMESPACE_LABEL] ?? sandbox?.labels[POD_NAMESPACE_LABEL];
      return { ...(namespace === undefined ? {} : { namespace }), staticPod: sandbox?.annotations[CONFIG_SOURCE_ANNOTATION] === 'file' };
    } catch (error) {
      if (isGrpcStatus(error, grpc.status.NOT_FOUND)) return undefined;
      throw new DaemonError('unavailable', `CRI ${this.socket}: pod of container ${containerId}: ${errorMessage(error)}`, { cause: error });
    }
  }

  async findInPod(podUid: string, containerName: string): Promise<string[]> {
    try {
      const listed = await this.call(listContainers, {
        filter: { id: '', podSandboxId: '', labelSelector: { [POD_UID_LABEL]: podUid, [CONTAINER_NAME_LABEL]: containerName } },
      });
      return listed.containers.filter((c) => c.state === CONTAINER_RUNNING).sort((a, b) => b.createdAt - a.createdAt).map((c) => c.id);
    } catch (error) {
      throw new DaemonError('unavailable', `CRI ${this.socket}: ListContainers: ${errorMessage(error)}`, { cause: error });
    }
  }

  close(): void {
    this.client.close();
  }
}
