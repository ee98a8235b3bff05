/** containerd's own gRPC API: Tasks/Get for the pid, Tasks/Kill, Containers/List to find a restarted container. */
import * as grpc from '@grpc/grpc-js';
import { DaemonError, errorMessage } from '../errors.ts';
import { callUnary, isGrpcStatus, loadProto, unaryMethod } from '../grpc-unary.ts';
import { CONTAINER_NAME_LABEL, POD_NAMESPACE_LABEL, POD_UID_LABEL, type ContainerRuntime, type PodMeta } from './types.ts';

interface GetTaskRequest { containerId: string; execId: string }
interface GetTaskResponse { process: { containerId: string; pid: number; status: number } | null }
interface KillTaskRequest { containerId: string; execId: string; signal: number; all: boolean }
interface ListContainersRequest { filters: string[] }
interface ListedContainer { id: string; labels: Record<string, string>; createdAt: { seconds: number; nanos: number } | null }
interface ListContainersResponse { containers: ListedContainer[] }
interface GetContainerRequest { id: string }
interface GetContainerResponse { container: ListedContainer | null }

const TASK_RUNNING = 2;
const SIGKILL = 9;
/** Kubernetes' containers live in this containerd namespace. */
export const KUBERNETES_NAMESPACE = 'k8s.io';

const tasks = loadProto('containerd-tasks.proto');
const containers = loadProto('containerd-containers.proto');
const getTask = unaryMethod<GetTaskRequest, GetTaskResponse>(tasks, 'containerd.services.tasks.v1.Tasks', 'Get');
const killTask = unaryMethod<KillTaskRequest, object>(tasks, 'containerd.services.tasks.v1.Tasks', 'Kill');
const getContainer = unaryMethod<GetContainerRequest, GetContainerResponse>(containers, 'containerd.services.containers.v1.Containers', 'Get');
const listContainers = unaryMethod<ListContainersRequest, ListContainersResponse>(containers, 'containerd.services.containers.v1.Containers', 'List');

export interface ContainerdOptions {
  socket: string;
  namespace?: string;
  timeoutMs?: number;
}

export class ContainerdRuntime implements ContainerRuntime {
  readonly name = 'containerd';
  readonly socket: string;
  readonly namespace: string;
  private readonly client: grpc.Client;
  private readonly timeoutMs: number;

  constructor(options: ContainerdOptions) {
    this.socket = options.socket;
    this.namespace = options.namespace ?? KUBERNETES_NAMESPACE;
    this.timeoutMs = options.timeoutMs ?? 5_000;
    this.client = new grpc.Client(`unix://${options.socket}`, grpc.credentials.createInsecure());
  }

  /** containerd answers FAILED_PRECONDITION "namespace is required" without this header. */
  private metadata(): grpc.Metadata {
    const metadata = new grpc.Metadata();
    metadata.set('containerd-namespace', this.namespace);
    return metadata;
  }

  private async task(containerId: string): Promise<GetTaskResponse['process']> {
    try {
      return (await callUnary(this.client, getTask, { containerId, execId: '' }, this.metadata(), this.timeoutMs)).process;
    } catch (error) {
      if (isGrpcStatus(error, grpc.status.NOT_FOUND)) return null;
      throw new DaemonError('unavailable', `containerd ${this.socket}: Tasks/Get ${containerId}: ${errorMessage(error)}`, { cause: error });
    }
  }

  async taskPid(containerId: string): Promise<number> {
    const process = await this.task(containerId);
    if (process === null || process.status !== TASK_RUNNING || process.pid <= 0) {
      throw new DaemonError('not-found', `container ${containerId} has no running task in containerd namespace ${this.namespace}`);
    }
    return process.pid;
  }

  async kill(containerId: string): Promise<void> {
    try {
      await callUnary(this.client, killTask, { containerId, execId: '', signal: SIGKILL, all: true }, this.metadata(), this.timeoutMs);
    } catch (error) {
      const code = isGrpcStatus(error, grpc.status.NOT_FOUND) ? 'not-found' : 'unavailable';
      throw new DaemonError(code, `containerd ${this.socket}: Tasks/Kill ${containerId}: ${errorMessage(error)}`, { cause: error });
    }
  }

  async pod(containerId: string): Promise<PodMeta | undefined> {
    let found: GetContainerResponse;
    try {
      found = await callUnary(this.client, getContainer, { id: containerId }, this.metadata(), this.timeoutMs);
    } catch (error) {
      if (isGrpcStatus(error, grpc.status.NOT_FOUND)) return undefined;
      throw new DaemonError('unavailable', `containerd ${this.socket}: Containers/Get ${containerId}: ${errorMessage(error)}`, { cause: error });
    }
    const namespace = found.container?.labels[POD_NAMESPACE_LABEL];
    return namespace === undefined ? undefined : { namespace };
  }

  async findInPod(podUid: string, containerName: string): Promise<string[]> {
    let listed: ListContainersResponse;
    try {
      // Filtering here rather than with containerd's filter syntax keeps label values out of a query language.
      listed = await callUnary(this.client, listContainers, { filters: [] }, this.metadata(), this.timeoutMs);
    } catch (error) {
      throw new DaemonError('unavailable', `containerd ${this.socket}: Containers/List: ${errorMessage(error)}`, { cause: error });
    }
    const candidates = listed.containers
      .filter((c) => c.labels[POD_UID_LABEL] === podUid && c.labels[CONTAINER_NAME_LABEL] === containerName)
      .sort((a, b) => createdAt(b) - createdAt(a));
    const running: string[] = [];
    for (const candidate of candidates) {
      const process = await this.task(candidate.id);
      if (process !== null && process.status === TASK_RUNNING) running.push(candidate.id);
    }
    return running;
  }

  close(): void {
    this.client.close();
  }
}

function createdAt(c: ListedContainer): number {
  return c.createdAt === null ? 0 : c.createdAt.seconds * 1e3 + c.createdAt.nanos / 1e6;
}
