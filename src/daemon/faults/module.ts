/**
 * The seam where a daemon fault plugs in. The injector's lifecycle (journal, apply, commit, revert, leases,
 * deadlines, restarts) is the same for every kind; a kind only says how its request is validated and what it does
 * to a resolved target: a container (most kinds), or, for node faults, what on the node it acts on: one host
 * process (kubelet-stop), the node's own network namespace (node-network), or the running kernel as a whole
 * (node-reboot). A new fault is one new module here, registered in main.ts.
 */
import type { Evidence } from '../net/evidence.ts';
import type { HeldProcess, Plan } from '../plan.ts';
import type { ResolvedTarget } from '../runtime/resolve.ts';
import { scopeOfKind, type FaultKind, type FaultSpec, type RawFault } from '../spec.ts';
import type { NamedProcess } from '../stopped.ts';
import type { ResourceUsage } from '../usage.ts';

/** What a stress injection's target uses, from its cgroup, before and while stressed (faults/stress.ts). */
export interface StressEvidence {
  before: ResourceUsage;
  /** Over the last NOW_WINDOW_MS or more while stressed; undefined until the stressors have run that long. */
  now?: ResourceUsage;
  /** Stressor processes alive. */
  stressors: number;
}

/** A reading of what a fault in force does, by the kind that reads it: network counters, or a stressed target's usage. */
export interface FaultEvidence {
  network?: readonly Evidence[];
  stress?: StressEvidence;
}

/** What putting a fault on a target does: a plan stays in force until its revert runs; an action happens once. */
export type Effect =
  | { kind: 'plan'; plan: Plan }
  | { kind: 'action'; summary: string; run: () => Promise<void> };

interface ModuleBase {
  readonly kind: FaultKind;
  /**
   * Why this node cannot apply the kind (a missing tool), naming the node; absent when it can. Such a kind is left
   * out of Capabilities and its new injections are refused, while its journaled ones are still reverted.
   */
  readonly unavailable?: string;
  /** Like `unavailable`, for kinds whose ability changes while the daemon runs (a process that may restart): asked for each Capabilities. */
  unavailableNow?(): Promise<string | undefined>;
  /**
   * Why a journaled injection of this kind that a starting daemon finds is reverted and dropped rather than adopted;
   * absent: it is reconciled (kept while its lease and deadline hold).
   */
  readonly revertedAtStart?: string;
  /** Validates a request's fault into the canonical form that is hashed and journaled; throws DaemonError('invalid'). */
  normalize(raw: RawFault): FaultSpec;
  /**
   * What `plan`, in force on the record's target process (in the netns with inode `netnsInode` for network faults),
   * is seen to do: the kernel's counters of a network plan, a stressed container's cgroup usage. Kinds with nothing
   * to read lack it.
   */
  evidence?(plan: Plan, target: HeldProcess, netnsInode: number | undefined): Promise<FaultEvidence>;
}

/** A fault put on a container (TargetRef with a container ID). */
export interface ContainerFaultModule extends ModuleBase {
  readonly scope: 'container';
  /**
   * Whether the fault lives in the target's network namespace: a container restarted inside the same pod netns
   * still has it, so the daemon follows it instead of applying it twice.
   */
  readonly inNetns: boolean;
  /** What applying the (normalized) fault to target does, worked out before anything is touched. */
  prepare(fault: FaultSpec, target: ResolvedTarget): Promise<Effect>;
}

/** What a node fault's plan may need to know of its injection. */
export interface NodeInjection {
  /** When the daemon ends the injection, on the monotonic clock (clock.ts); absent: no deadline. */
  deadlineAt: number | undefined;
}

/**
 * A fault put on the node itself (the target `{ node: true }`) that acts on one host process, which the module finds
 * when the fault is put on (a process that restarted is another one), and which the target policy checks first.
 */
export interface NodeProcessModule extends ModuleBase {
  readonly scope: 'node';
  readonly on: 'process';
  /** The host process the fault acts on now; throws DaemonError (naming what was found) when there is not exactly one. */
  locate(): Promise<NamedProcess>;
  /** What applying the (normalized) fault to `process` does, worked out before anything is touched. */
  prepare(fault: FaultSpec, process: NamedProcess, injection: NodeInjection): Promise<Effect>;
}

/**
 * The node's own network namespace, as the daemon (hostPID) reaches it: through the host's init, pid 1. It lives
 * as long as the node, so nothing about it is followed or found again; its inode says it is still the same one.
 */
export interface NodeNetns {
  /** `/proc/1/ns/net`: where the plan's commands run. */
  path: string;
  /** pid 1 as found when the fault was put on: the record's target, through which its plan names the netns. */
  holder: NamedProcess;
  inode: number;
}

/** A fault put on the node itself that lives in the node's own network namespace (the host's), not a process. */
export interface NodeNetnsModule extends ModuleBase {
  readonly scope: 'node';
  readonly on: 'netns';
  /** The node's network namespace now; throws DaemonError when the daemon cannot reach it. */
  locate(): Promise<NodeNetns>;
  /** What applying the (normalized) fault in `netns` does, worked out before anything is touched. */
  prepare(fault: FaultSpec, netns: NodeNetns, injection: NodeInjection): Promise<Effect>;
}

/** A one-time action on the node's running kernel as a whole: nothing on the node to find first, nothing held. */
export type NodeAction = Extract<Effect, { kind: 'action' }>;

/**
 * A fault put on the node itself that acts on its running kernel (node-reboot): there is no process or namespace to
 * locate, and its effect is always a one-time action, never a plan (a plan needs a target its record names). The
 * module itself decides whether the node allows it (the node's consent).
 */
export interface NodeKernelModule extends ModuleBase {
  readonly scope: 'node';
  readonly on: 'kernel';
  /** What applying the (normalized) fault does, worked out (and refused, when the node does not allow it) before anything is touched. */
  prepare(fault: FaultSpec, injection: NodeInjection): Promise<NodeAction>;
}

export type NodeFaultModule = NodeProcessModule | NodeNetnsModule | NodeKernelModule;

export type FaultModule = ContainerFaultModule | NodeFaultModule;

export type FaultModules = ReadonlyMap<FaultKind, FaultModule>;

export function faultModules(modules: readonly FaultModule[]): FaultModules {
  for (const m of modules) {
    if (m.scope !== scopeOfKind(m.kind)) throw new TypeError(`the ${m.kind} module is put on a ${m.scope}, but ${m.kind} faults are put on a ${scopeOfKind(m.kind)}`);
  }
  return new Map(modules.map((m) => [m.kind, m]));
}
