/**
 * The last reading of each injection's kernel counters (net/evidence.ts), so that a controller listing often never
 * makes the daemon spawn more than one read per injection every EVIDENCE_EVERY_MS. Readings are kept per plan and
 * target process: a fault put on again (a restarted container) starts afresh, and a dropped plan takes its reading
 * with it.
 */
import type { Clock } from './clock.ts';
import { errorMessage } from './errors.ts';
import type { FaultEvidence, FaultModule } from './faults/module.ts';
import type { JournalRecord } from './journal.ts';
import type { Plan } from './plan.ts';
import type { Logger } from '../util/log.ts';

/** How often an injection's counters are read at most. */
export const EVIDENCE_EVERY_MS = 2_000;

export interface EvidenceReading {
  evidence: FaultEvidence;
  /** How old the counters are; 0 while none was ever read. */
  ageMs: number;
}

interface Reading {
  pid: number;
  /** When the last read started, successful or not. */
  startedAt: number;
  /** When the read that gave `evidence` started. */
  readAt: number | undefined;
  evidence: FaultEvidence;
  pending: Promise<void> | undefined;
}

const NONE: EvidenceReading = { evidence: {}, ageMs: 0 };

export class EvidenceCache {
  private readonly readings = new WeakMap<Plan, Reading>();
  private readonly clock: Clock;
  private readonly log: Logger;

  constructor(clock: Clock, log: Logger) {
    this.clock = clock;
    this.log = log;
  }

  /**
   * The evidence of an active injection's plan: read again when the last read started EVIDENCE_EVERY_MS ago or more
   * (calls meanwhile share it), else the last reading. A read that fails keeps the last reading, growing older.
   */
  async of(record: JournalRecord, module: FaultModule | undefined): Promise<EvidenceReading> {
    const { plan, target } = record;
    if (record.phase !== 'active' || plan === undefined || target === undefined || module?.evidence === undefined) return NONE;
    let reading = this.readings.get(plan);
    if (reading === undefined || reading.pid !== target.pid) {
      reading = { pid: target.pid, startedAt: -Infinity, readAt: undefined, evidence: {}, pending: undefined };
      this.readings.set(plan, reading);
    }
    const now = this.clock();
    if (reading.pending === undefined && now - reading.startedAt >= EVIDENCE_EVERY_MS) {
      const current = reading;
      current.startedAt = now;
      current.pending = module.evidence(plan, target, record.netnsInode).then((evidence) => {
        current.evidence = evidence;
        current.readAt = now;
      }, (error: unknown) => {
        this.log.warn('evidence: reading the counters failed; the last reading stays', { id: record.spec.id, pid: target.pid, error: errorMessage(error) });
      }).finally(() => {
        current.pending = undefined;
      });
    }
    await reading.pending;
    return { evidence: reading.evidence, ageMs: reading.readAt === undefined ? 0 : Math.max(0, Math.round(this.clock() - reading.readAt)) };
  }
}
