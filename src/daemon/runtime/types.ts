/** A container runtime as the daemon uses it: find a container's process, kill it, find a restarted one. */
export interface ContainerRuntime {
  /** "containerd" or "cri", and the socket: shown in capabilities and logs. */
  readonly name: string;
  readonly socket: string;
  /** The pid of the container's running task; DaemonError 'not-found' when there is none. */
  taskPid(containerId: string): Promise<number>;
  /** SIGKILLs every process of the container. */
  kill(containerId: string): Promise<void>;
  /** What the runtime knows of the container's pod; undefined when it knows nothing (not a kubelet container). */
  pod(containerId: string): Promise<PodMeta | undefined>;
  /** Running containers named `containerName` in the pod `podUid`, newest first. */
  findInPod(podUid: string, containerName: string): Promise<string[]>;
  close(): void;
}

/** Labels the kubelet puts on every container; they survive a container restart, its ID does not. */
export const POD_UID_LABEL = 'io.kubernetes.pod.uid';
export const CONTAINER_NAME_LABEL = 'io.kubernetes.container.name';
export const POD_NAMESPACE_LABEL = 'io.kubernetes.pod.namespace';
/** kubelet's annotation of where a pod came from; `file` is a static pod (a manifest on the node). */
export const CONFIG_SOURCE_ANNOTATION = 'kubernetes.io/config.source';

/** A container's pod, as far as one runtime can tell. */
export interface PodMeta {
  namespace?: string;
  /** Only CRI's sandbox carries the pod's annotations; containerd's own API cannot tell. */
  staticPod?: boolean;
}
