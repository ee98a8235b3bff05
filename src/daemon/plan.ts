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

/** Ends what the spawn (or guard) step with `marker` started: SIGKILL to its whole session, then waits until none is left. */
export interface KillStep {
  kind: 'kill';
  marker: string;
  /** Set (and journaled) once the process is started, before it is continued. */
  process?: HeldProcess;
}

/** The signals a plan may send: stop a process for the fault's life, and continue it at its end. */
export type PlanSignal = 'SIGSTOP' | 'SIGCONT';

/**
 * Sends `signal` to one host process, named by its comm, pid and start time (signal.ts): a process that is gone, or
 * another one under a reused pid, is never signalled (the step counts as absent). SIGSTOP waits until it is stopped.
 */
export interface SignalStep {
  kind: 'signal';
  signal: PlanSignal;
  /** The process's comm (/proc/<pid>/comm), checked with its start time before it is signalled. */
  name: string;
  process: HeldProcess;
}

/**
 * Starts the guard of a stopped process (guard-process.ts): a small Node process in a session of its own, carrying
 * `marker`, written into `cgroups` (the stopped process's own, so that whatever ends the daemon's container does not
 * end its guard), that continues `process` (same comm and start time) once `daemon` is gone or at `deadlineAt`, then
 * exits. Ended by the kill step of the same marker.
 */
export interface GuardStep {
  kind: 'guard';
  marker: string;
  /** The process it continues, and its comm. */
  name: string;
  process: HeldProcess;
  /** The daemon that started it: when this pid no longer has this start time, the guard continues `process`. */
  daemon: HeldProcess;
  /** On CLOCK_MONOTONIC in milliseconds (clock.ts), the same for every process of this boot; absent: none. */
  deadlineAt?: number;
  /** The cgroup.procs files it is written into. */
  cgroups: readonly string[];
}

export type Step = ExecStep | WriteStep | SpawnStep | KillStep | SignalStep | GuardStep;

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
