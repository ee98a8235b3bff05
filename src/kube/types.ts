/**
 * The Kubernetes object shapes the client and runtime read or write. Only the
 * fields kerris uses are typed; the apiserver owns the full schemas.
 */
import type { ListMeta, ObjectMeta } from '../api/object-meta.ts';

export type { ListMeta, ObjectMeta, OwnerReference } from '../api/object-meta.ts';

/** Anything the apiserver stores: a kind, an apiVersion and metadata. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
}

export interface List<T extends KubeObject> {
  apiVersion?: string;
  kind?: string;
  metadata: ListMeta;
  items: T[];
}

/** A metav1.MicroTime: RFC 3339 with exactly six fraction digits, e.g. `2026-11-25T20:01:02.123456Z`. */
export type MicroTime = string;

/** metav1.Status: what the apiserver answers with on errors, some deletes and watch ERROR events. */
export interface Status {
  apiVersion?: string;
  kind: 'Status';
  metadata?: ListMeta;
  status?: 'Success' | 'Failure';
  message?: string;
  reason?: string;
  details?: StatusDetails;
  code?: number;
}

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: StatusCause[];
  retryAfterSeconds?: number;
}

export interface StatusCause {
  reason?: string;
  message?: string;
  field?: string;
}

export interface ObjectReference {
  apiVersion?: string;
  kind?: string;
  namespace?: string;
  name?: string;
  uid?: string;
  resourceVersion?: string;
  fieldPath?: string;
}

export interface Namespace extends KubeObject {
  status?: { phase?: 'Active' | 'Terminating' };
}

export interface ConfigMap extends KubeObject {
  data?: Record<string, string>;
  binaryData?: Record<string, string>;
  immutable?: boolean;
}

export interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  /** Quantities as the apiserver returns them, e.g. `{ limits: { memory: '128Mi' } }`. */
  resources?: { limits?: Record<string, string>; requests?: Record<string, string> };
}

export interface PodCondition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
}

export interface ContainerStatus {
  name: string;
  containerID?: string;
  image?: string;
  ready: boolean;
  restartCount: number;
}

export interface Pod extends KubeObject {
  spec?: {
    nodeName?: string;
    hostNetwork?: boolean;
    containers: Container[];
    restartPolicy?: 'Always' | 'OnFailure' | 'Never';
    terminationGracePeriodSeconds?: number;
  };
  status?: {
    phase?: 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown';
    podIP?: string;
    /** Every address of the pod, IPv4 and IPv6 on a dual-stack cluster; podIP is the first. */
    podIPs?: { ip: string }[];
    hostIP?: string;
    conditions?: PodCondition[];
    containerStatuses?: ContainerStatus[];
  };
}

export interface LeaseSpec {
  holderIdentity?: string | null;
  leaseDurationSeconds?: number | null;
  acquireTime?: MicroTime | null;
  renewTime?: MicroTime | null;
  leaseTransitions?: number | null;
}

/** coordination.k8s.io/v1 Lease. */
export interface Lease extends KubeObject {
  spec?: LeaseSpec;
}

export type EventType = 'Normal' | 'Warning';

/** core/v1 Event. */
export interface CoreEvent extends KubeObject {
  involvedObject: ObjectReference;
  reason?: string;
  message?: string;
  type?: EventType;
  count?: number;
  firstTimestamp?: string | null;
  lastTimestamp?: string | null;
  eventTime?: MicroTime | null;
  source?: { component?: string; host?: string };
  action?: string;
  reportingComponent?: string;
  reportingInstance?: string;
}

/** The object of a BOOKMARK event: only its resourceVersion (and annotations) mean anything. */
export interface Bookmark {
  apiVersion?: string;
  kind?: string;
  metadata: { resourceVersion: string; annotations?: Record<string, string> };
}

export type WatchEvent<T extends KubeObject> =
  | { type: 'ADDED' | 'MODIFIED' | 'DELETED'; object: T }
  | { type: 'BOOKMARK'; object: Bookmark }
  | { type: 'ERROR'; object: Status };

export function isStatus(value: unknown): value is Status {
  return typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === 'Status';
}
