/** A container runtime as the daemon uses it: find a container's process, kill it, find a restarted one. */
export interface ContainerRuntime {
  /** "containerd" or "cri", and the socket: shown in capabilities and logs. */
  readonly name: string;
  readonly socket: string;
  /** The pid of the container's running task; DaemonError 'not-found' when there is none. */
  taskPid(containerId: string): Promise<number>;
  /** SIGKILLs every process of the container. */
  kill(containerId: string): Promise<void>;
  /** Running containers named `containerName` in the pod `podUid`, newest first. */
  findInPod(podUid: string, containerName: string): Promise<string[]>;
  close(): void;
}

/** Labels the kubelet puts on every container; they survive a container restart, its ID does not. */
export const POD_UID_LABEL = 'io.kubernetes.pod.uid';
export const CONTAINER_NAME_LABEL = 'io.kubernetes.container.name';
