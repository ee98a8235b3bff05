/** What the daemon reports about an injection: its record as seen now, with times as durations. */
import type { ErrorCode } from './errors.ts';
import type { JournalRecord, Phase } from './journal.ts';
import type { StressEvidence } from './faults/module.ts';
import type { Evidence } from './net/evidence.ts';
import { isNodeTarget, type FaultKind, type TargetRef } from './spec.ts';

export interface InjectionStatus {
  id: string;
  experiment: string;
  specHash: string;
  holder: string;
  target: TargetRef;
  kind: FaultKind;
  phase: Phase;
  summary: string;
  pid: number;
  reapplied: number;
  error: string;
  /** Until the daemon ends the injection by itself; undefined: no deadline. */
  deadlineRemainingMs: number | undefined;
  /** Until the holder's lease lapses; 0 once it has. */
  leaseRemainingMs: number;
  /** The kernel's counters of the fault, when the List asked for them (evidence-cache.ts). */
  evidence?: readonly Evidence[];
  /** A stress injection's cgroup usage before and while stressed, when the List asked for evidence. */
  stress?: StressEvidence;
  /** How old `evidence` (or `stress`) is; 0 while none was read. */
  evidenceAgeMs?: number;
}

export interface ItemResult {
  id: string;
  /** Absent when the item succeeded. */
  error?: { code: ErrorCode; message: string };
  /** The injection's state after the call; absent when there is none. */
  injection?: InjectionStatus;
}

/** `leaseExpiresAt` and `now` on the daemon's monotonic clock (clock.ts). */
export function statusOf(record: JournalRecord, leaseExpiresAt: number | undefined, now: number): InjectionStatus {
  return {
    id: record.spec.id,
    experiment: record.experiment,
    specHash: record.specHash,
    holder: record.holder,
    target: record.spec.target,
    kind: record.spec.fault.kind,
    phase: record.phase,
    summary: record.plan?.summary ?? record.summary ?? `${record.spec.fault.kind} ${isNodeTarget(record.spec.target) ? 'of the node' : record.spec.target.containerId}`,
    pid: record.target?.pid ?? 0,
    reapplied: record.reapplied,
    error: record.error ?? '',
    deadlineRemainingMs: record.deadlineAt === undefined ? undefined : Math.max(0, Math.ceil(record.deadlineAt - now)),
    leaseRemainingMs: Math.max(0, Math.ceil((leaseExpiresAt ?? 0) - now)),
  };
}
