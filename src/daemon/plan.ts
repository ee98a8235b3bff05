/**
 * A plan is what the daemon will do to a node, as a value: it can be printed,
 * tested and diffed before anything is touched, and it is written to the
 * journal before its first step runs, so that its undo survives a crash.
 */
import type { PlanCounters } from './net/evidence.ts';
import type { UsageFiles } from './usage.ts';

/** Runs argv, inside the network namespace at `netns` when given (via nsenter). */
export interface ExecStep {
  kind: 'exec';
  argv: readonly string[];
  /** Path of the target's network namespace, e.g. /proc/1234/ns/net. */
  netns?: string;
  /** Text fed to the command's standard input (e.g. `tc -batch -`, `iptables-restore`). */
  input?: string;
  /**
   * Undo steps may meet state that is already gone (a crash between two steps,
   * a container that restarted). Such a step names the stderr fragments that
   * mean "already absent", so the undo stays idempotent without hiding real errors.
   */
  absentIf?: readonly string[];
  /**
   * Runs the step only if `argv` (in the same netns) prints `stdoutIncludes`; otherwise the state is not the one
   * kerris made (another component's, added after kerris's went away) and the step counts as absent, untouched.
   */
  onlyIf?: { argv: readonly string[]; stdoutIncludes: string };
}

/** Writes value to a kernel file, e.g. a cgroup freezer's state. */
export interface WriteStep {
  kind: 'write';
  path: string;
  value: string;
}

/**
 * Starts a process the fault holds for its life (a stressor), in its own session, stopped until it has been written
 * into every one of `cgroups` and given `oomScoreAdj` (held.ts): none of its work happens outside those cgroups.
 */
export interface SpawnStep {
  kind: 'spawn';
  /** Unique to this launch, in the launcher's environment: finds it again if the daemon stops before journaling its pid. */
  marker: string;
  /** What the launcher becomes once attached; argv[0] an absolute path. */
  argv: readonly string[];
  /** The cgroup.procs files it is written into, one per hierarchy the target is in. */
  cgroups: readonly string[];
  oomScoreAdj: number;
}

/** A process a spawn step started: pid and start time name it for good, and its session holds its children. */
export interface HeldProcess {
  pid: number;
  startTime: number;
}

/** Ends what the spawn step with `marker` started: SIGKILL to its whole session, then waits until none is left. */
export interface KillStep {
  kind: 'kill';
  marker: string;
  /** Set (and journaled) once the process is started, before it is continued. */
  process?: HeldProcess;
}

export type Step = ExecStep | WriteStep | SpawnStep | KillStep;

export interface Plan {
  /** One line a person can read: what this plan does and to whom. */
  summary: string;
  apply: readonly Step[];
  /** Exact undo of `apply`, safe to run after any prefix of it has run. */
  revert: readonly Step[];
  /** Where the kernel counts what a network plan does, and for which fault (net/evidence.ts reads them). */
  counters?: PlanCounters;
  /** Where a stress plan reads its target's resource use, and what it was just before the stressors started. */
  usage?: UsageFiles;
}
