/**
 * A plan is what the daemon will do to a node, as a value: it can be printed,
 * tested and diffed before anything is touched, and it is written to the
 * journal before its first step runs, so that its undo survives a crash.
 */
import type { PlanCounters } from './net/evidence.ts';

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

export type Step = ExecStep | WriteStep;

export interface Plan {
  /** One line a person can read: what this plan does and to whom. */
  summary: string;
  apply: readonly Step[];
  /** Exact undo of `apply`, safe to run after any prefix of it has run. */
  revert: readonly Step[];
  /** Where the kernel counts what a network plan does, and for which fault (net/evidence.ts reads them). */
  counters?: PlanCounters;
}
