/**
 * What the experiment engine knows of a chaos object, and the seam a chaos
 * kind plugs into. The engine owns the lifecycle (finalizer, desired phase,
 * duration, records, conditions, Events, dry run); a kind only picks targets,
 * applies the fault to targets and takes it away again.
 */
import type { ChaosStatus, ChaosTarget } from '../../api/generated/types.ts';
import type { Resource } from '../../kube/resource.ts';
import type { KubeObject } from '../../kube/types.ts';

export type { ChaosStatus };
export type TargetRecord = ChaosTarget;
export type TargetPhase = ChaosTarget['phase'];

/** The spec fields every chaos kind has and the engine reads. */
export interface ExperimentSpec {
  duration?: string;
  paused?: boolean;
  dryRun?: boolean;
  seed?: number;
}

export interface Experiment extends KubeObject {
  spec: ExperimentSpec;
  status?: ChaosStatus;
}

/** The outcome of picking: every target (records are kept for the first MAX_TARGET_RECORDS), and notes for people. */
export interface Selection {
  targets: TargetRecord[];
  /** Why candidates were left out (refused namespaces, missing namespaces). */
  notes: string[];
  /** Set when nothing was picked because the policy refused every candidate asked for (namespaces, protected nodes). */
  refused: boolean;
  /** The Failed reason when `refused`; `NamespaceRefused` when absent. */
  refusedReason?: string;
}

/**
 * How Events and messages name a kind's targets. Pods (`pod demo/web-1`) unless the kind says otherwise: a node
 * target (NodeChaos) is cluster-scoped, its record's namespace is empty, and it reads `node worker-2`.
 */
export interface TargetNaming {
  /** One target, e.g. `pod`. */
  readonly noun: string;
  /** Several, e.g. `pods`. */
  readonly plural: string;
  /** The target's name in messages, e.g. `demo/web-1`. */
  name(target: TargetRecord): string;
}

export const POD_TARGETS: TargetNaming = { noun: 'pod', plural: 'pods', name: (t) => `${t.namespace}/${t.name}` };

/** A spec the controller cannot run, found before anything is touched. */
export class SelectionError extends Error {
  override name = 'SelectionError';
}

/** Status fields a kind reports of itself, beside the target records the engine keeps (NetworkChaos's peers). */
export type KindStatus = Pick<ChaosStatus, 'network'>;

/** What a kind needs to know while applying, and where it reports what it found out. */
export interface ApplyContext {
  /** Milliseconds of the duration still to run; undefined when the experiment has no duration. */
  remainingMs: number | undefined;
  /** Records kind-specific status; the engine writes the last report with the records of this pass. */
  report(status: KindStatus): void;
}

/** The result of taking faults away: updated records and whether every place that may hold them has answered. */
export interface RecoverOutcome {
  targets: TargetRecord[];
  /** False while some node could not be asked or answered with a fault left; the engine retries. */
  complete: boolean;
  message: string;
}

/** One fault a kind can apply: what the engine asks of it once the targets are picked. */
export interface Fault<T extends Experiment> {
  /** True when the fault stays in force until it is taken away (pod-failure, network); false for one-time actions (kills). */
  readonly holds: boolean;
  /** The Event reason and the AllInjected reason for an applied target, e.g. Killed or Frozen. */
  readonly injectedReason: string;
  /**
   * Applies the fault to `pending` (phase Selected) and returns their new records, in the same order. `held` are the
   * targets already injected, for kinds whose node calls state the whole desired set. In the pass that picks them,
   * `pending` also holds the targets beyond the record limit, which are applied and then only counted. While the fault
   * is held it is stated again with `pending` empty; a kind whose held fault keeps working (NodeChaos retrying the
   * evictions a PodDisruptionBudget refused) may then return the `held` records that changed, and the engine writes them.
   */
  apply(chaos: T, pending: readonly TargetRecord[], held: readonly TargetRecord[], context: ApplyContext): Promise<TargetRecord[]>;
  /** Takes a held fault away from every target of the experiment. One-time actions have nothing to take away. */
  recover(chaos: T, targets: readonly TargetRecord[]): Promise<RecoverOutcome>;
  /** For injected targets of one-time actions: whether each has recovered (replaced, restarted), from the cache. */
  observe(chaos: T, targets: readonly TargetRecord[]): TargetRecord[];
  /**
   * Held faults that can prove themselves: the held targets' records, in the same order, with what their nodes read
   * from the kernel now (counters of what the fault did). Asked at every restate; the engine writes what changed.
   */
  evidence?(chaos: T, held: readonly TargetRecord[]): Promise<TargetRecord[]>;
}

export interface ChaosKind<T extends Experiment> {
  readonly resource: Resource<T>;
  /** How Events and messages name the targets; pods when absent. */
  readonly naming?: TargetNaming;
  /** Why this spec cannot run here, or undefined. Asked before targets are picked; nothing is touched before it passes. */
  refuse(chaos: T): Promise<string | undefined>;
  /** Picks the targets: the one step that decides who is hit. Throws SelectionError for a spec that cannot select. */
  select(chaos: T, seed: number): Promise<Selection>;
  /**
   * Checks the policy again for targets about to be acted on, whatever status says: those the spec or the policy no
   * longer allow come back Failed with the reason. Asked before every apply, never before taking a fault away.
   */
  recheck(chaos: T, targets: readonly TargetRecord[]): TargetRecord[];
  /**
   * Level-triggered kinds only (absent: targets are picked once). While a held fault runs, the target records as
   * they should be now, in the same order with new ones appended: a target whose pod is gone comes back Recovered,
   * a pod the spec picks now (a new pod under `mode: all`, a replacement that keeps a count) comes back Selected.
   * Asked before every restate, with the experiment's seed.
   */
  follow?(chaos: T, targets: readonly TargetRecord[], seed: number): TargetRecord[];
  /** The fault this experiment applies. */
  fault(chaos: T): Fault<T>;
}
