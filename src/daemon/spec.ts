/**
 * What a controller asks for, as a value: an injection is an ID, a target
 * (a container, or the node itself) and one fault. Its hash decides idempotency: the same ID with the
 * same spec is the same injection, the same ID with another spec is a conflict.
 */
import { createHash } from 'node:crypto';
import { DaemonError } from './errors.ts';

export interface ContainerTarget {
  containerId: string;
  /** With containerName: finds the container again after it restarted under a new ID. */
  podUid?: string;
  containerName?: string;
}

/** The node itself: the target of node faults, which act on a host process (kubelet-stop), the node's own network namespace (node-network) or the node as a whole (node-reboot) rather than a container. */
export interface NodeTarget {
  node: true;
}

export type TargetRef = ContainerTarget | NodeTarget;

/** What a fault kind is put on; a kind is put on one scope only. */
export type TargetScope = 'container' | 'node';

export function isNodeTarget(target: TargetRef): target is NodeTarget {
  return 'node' in target;
}

export function scopeOf(target: TargetRef): TargetScope {
  return isNodeTarget(target) ? 'node' : 'container';
}

/** How a target is named in messages: its container ID, or "the node". */
export function targetName(target: TargetRef): string {
  return isNodeTarget(target) ? 'the node' : `container ${target.containerId}`;
}

/** Processes that keep CPUs busy, each `load` percent of one. */
export interface CpuStress {
  workers: number;
  load: number;
}

/** Processes that hold `sizeBytes` resident in all, split evenly over them. */
export interface MemoryStress {
  workers: number;
  sizeBytes: number;
  oomScoreAdj: number;
}

/** Stressors run in the target's cgroups (faults/stress.ts); at least one of the two. */
export interface StressSpec {
  kind: 'stress';
  cpu?: CpuStress;
  memory?: MemoryStress;
}

export type FaultSpec =
  | { kind: 'container-kill' }
  | { kind: 'container-freeze' }
  /** Network faults in the normal form their validator returns; planned together in one netns. */
  | { kind: 'network'; faults: readonly unknown[] }
  | StressSpec
  /** The node's kubelet stopped (SIGSTOP) for the injection's life (faults/kubelet-stop.ts). */
  | { kind: 'kubelet-stop' }
  /** Network faults like `network`'s, in the node's own network namespace (faults/node-network.ts). */
  | { kind: 'node-network'; faults: readonly unknown[] }
  /** The node rebooted once, only while it still runs boot `bootId` (faults/node-reboot.ts). */
  | { kind: 'node-reboot'; bootId: string };

export type FaultKind = FaultSpec['kind'];

/** What each kind is put on: a fault on the other scope is invalid. */
const KIND_SCOPES: Readonly<Record<FaultKind, TargetScope>> = {
  'container-kill': 'container', 'container-freeze': 'container', network: 'container', stress: 'container', 'kubelet-stop': 'node', 'node-network': 'node',
  'node-reboot': 'node',
};

export function scopeOfKind(kind: FaultKind): TargetScope {
  return KIND_SCOPES[kind];
}

/** Throws DaemonError('invalid') when `kind` is not put on targets like `target`. */
export function checkScope(kind: FaultKind, target: TargetRef): void {
  const scope = scopeOfKind(kind);
  if (scope === scopeOf(target)) return;
  throw new DaemonError('invalid', scope === 'node'
    ? `${kind} is a node fault: its target is the node itself (target.node), not a container`
    : `${kind} is put on a container: its target names a container, not the node`);
}

export interface InjectionSpec {
  id: string;
  target: TargetRef;
  fault: FaultSpec;
}

/** A fault as a request carries it: network faults still raw, in the form their validator accepts. */
export type RawFault =
  | { kind: 'container-kill' } | { kind: 'container-freeze' } | { kind: 'network'; faults: readonly unknown[] }
  /** Sizes as the wire carries them (uint64), checked by faults/stress.ts. */
  | { kind: 'stress'; cpu?: { workers: number; load: number }; memory?: { workers: number; sizeBytes: bigint; oomScoreAdj: number } }
  | { kind: 'kubelet-stop' } | { kind: 'node-network'; faults: readonly unknown[] } | { kind: 'node-reboot'; bootId: string };

/** One listed injection of a Sync, before validation. */
export interface RawInjection {
  id: string;
  target: TargetRef;
  fault: RawFault;
  /** Ends the injection this long after the daemon first received it; 0 or absent: no deadline. */
  deadlineInMs?: number;
}

/** Injection IDs and holders; the controller's IDs are `<chaos uid>/<pod uid>/<container>`. Never used as a path. */
export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,252}$/;
const CONTAINER_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
const POD_UID = /^[A-Za-z0-9][A-Za-z0-9-]{0,63}$/;
const CONTAINER_NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
/** A boot ID as the kernel prints it (/proc/sys/kernel/random/boot_id) and the kubelet reports it: a lower-case UUID. */
export const BOOT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
export const MIN_LEASE_MS = 1_000;
export const MAX_LEASE_MS = 3_600_000;
/** A week: an experiment longer than that is renewed by a controller, not held by a node's deadline. */
export const MAX_DEADLINE_MS = 7 * 24 * 3_600_000;

function check(ok: boolean, message: string): void {
  if (!ok) throw new DaemonError('invalid', message);
}

export function checkId(what: string, value: string): void {
  check(ID_PATTERN.test(value), `${what} ${JSON.stringify(value)} must match ${ID_PATTERN.source}`);
}

/** Throws DaemonError('invalid'), naming `field`, unless `value` is a boot ID (BOOT_ID). */
export function checkBootId(field: string, value: string): string {
  check(BOOT_ID.test(value), `${field} ${JSON.stringify(value)} must be a boot ID: a lower-case UUID (36 characters, hex digits and dashes, as in /proc/sys/kernel/random/boot_id)`);
  return value;
}

export function checkLeaseTtl(ttlMs: number): void {
  check(Number.isInteger(ttlMs) && ttlMs >= MIN_LEASE_MS && ttlMs <= MAX_LEASE_MS, `lease TTL ${ttlMs} ms must be between ${MIN_LEASE_MS} and ${MAX_LEASE_MS} ms`);
}

export function checkDeadline(deadlineInMs: number): void {
  check(Number.isInteger(deadlineInMs) && deadlineInMs >= 0 && deadlineInMs <= MAX_DEADLINE_MS, `deadline ${deadlineInMs} ms must be between 0 (none) and ${MAX_DEADLINE_MS} ms`);
}

/** A node target is `{ node: true }` and nothing else; a container target is checked field by field. */
export function checkTarget(target: TargetRef): TargetRef {
  if (isNodeTarget(target)) {
    check(target.node === true && Object.keys(target).length === 1, 'a node target names the node only (no container fields)');
    return { node: true };
  }
  return checkContainerTarget(target);
}

export function checkContainerTarget(target: ContainerTarget): ContainerTarget {
  check(CONTAINER_ID.test(target.containerId), `container ID ${JSON.stringify(target.containerId)} must match ${CONTAINER_ID.source}`);
  const { podUid, containerName } = target;
  check((podUid === undefined) === (containerName === undefined), 'pod UID and container name come together (both or neither)');
  if (podUid !== undefined) check(POD_UID.test(podUid), `pod UID ${JSON.stringify(podUid)} must match ${POD_UID.source}`);
  if (containerName !== undefined) check(CONTAINER_NAME.test(containerName), `container name ${JSON.stringify(containerName)} is not a DNS label`);
  return { containerId: target.containerId, ...(podUid !== undefined && containerName !== undefined ? { podUid, containerName } : {}) };
}

/** JSON with object keys sorted, so equal specs hash equally whatever order their fields came in. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** Hash of what the injection does and to whom; the lease holder is not part of it (a new leader may adopt it). */
export function specHash(spec: InjectionSpec): string {
  return createHash('sha256').update(canonicalJson({ target: spec.target, fault: spec.fault })).digest('hex');
}
