/**
 * The seam where a daemon fault plugs in. The injector's lifecycle (journal, apply, commit, revert, leases,
 * deadlines, restarts) is the same for every kind; a kind only says how its request is validated and what it does
 * to a resolved target. A new fault is one new module here, registered in main.ts.
 */
import type { Evidence } from '../net/evidence.ts';
import type { Plan } from '../plan.ts';
import type { ResolvedTarget } from '../runtime/resolve.ts';
import type { FaultKind, FaultSpec, RawFault } from '../spec.ts';

/** What putting a fault on a target does: a plan stays in force until its revert runs; an action happens once. */
export type Effect =
  | { kind: 'plan'; plan: Plan }
  | { kind: 'action'; summary: string; run: () => Promise<void> };

export interface FaultModule {
  readonly kind: FaultKind;
  /**
   * Whether the fault lives in the target's network namespace: a container restarted inside the same pod netns
   * still has it, so the daemon follows it instead of applying it twice.
   */
  readonly inNetns: boolean;
  /** Validates a request's fault into the canonical form that is hashed and journaled; throws DaemonError('invalid'). */
  normalize(raw: RawFault): FaultSpec;
  /** What applying the (normalized) fault to target does, worked out before anything is touched. */
  prepare(fault: FaultSpec, target: ResolvedTarget): Promise<Effect>;
  /**
   * The kernel's counters of `plan`, in force on `target` in the netns with inode `netnsInode`; only kinds whose
   * plans the kernel counts (network) have it.
   */
  evidence?(plan: Plan, target: ResolvedTarget, netnsInode: number | undefined): Promise<readonly Evidence[]>;
}

export type FaultModules = ReadonlyMap<FaultKind, FaultModule>;

export function faultModules(modules: readonly FaultModule[]): FaultModules {
  return new Map(modules.map((m) => [m.kind, m]));
}
