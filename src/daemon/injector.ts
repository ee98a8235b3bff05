/**
 * The daemon's injections as the API sees them: Sync (declare an experiment's injections on this node), List,
 * RenewLease and start-up. The work is in the parts it composes: the table and its locks (state.ts), the
 * journaled transitions (lifecycle.ts), one module per fault kind (faults/), the lease and deadline clock
 * (guard.ts), restart following (restarts.ts) and start-up reconciliation (reconcile.ts).
 */
import { mapLimit } from '../util/concurrency.ts';
import { monotonicMs, type Clock } from './clock.ts';
import { DaemonError, errorCode, errorMessage } from './errors.ts';
import { EvidenceCache } from './evidence-cache.ts';
import { faultModules, type FaultModule } from './faults/module.ts';
import { Guard } from './guard.ts';
import type { DamagedFile, Journal, JournalRecord } from './journal.ts';
import { Leases } from './leases.ts';
import { Lifecycle, type StepExecutor, type TargetCheck, type Targets } from './lifecycle.ts';
import { daemonMetrics, type DaemonMetrics } from './metrics.ts';
import { reconcileRecord } from './reconcile.ts';
import { RestartFollower } from './restarts.ts';
import { checkDeadline, checkId, checkLeaseTtl, checkScope, checkTarget, specHash, type FaultKind, type InjectionSpec, type RawInjection } from './spec.ts';
import { InjectionTable } from './state.ts';
import { statusOf, type InjectionStatus, type ItemResult } from './status.ts';
import type { Logger } from '../util/log.ts';

export interface InjectorOptions {
  journal: Journal;
  targets: Targets;
  /** What must never be faulted (target-policy.ts). */
  policy: TargetCheck;
  executor: StepExecutor;
  /** The fault kinds this daemon offers, one module each. */
  faults: readonly FaultModule[];
  log: Logger;
  /** How often leases and deadlines are checked; expiry is acted on within this plus the revert time. */
  tickMs?: number;
  /** How often targets are checked for restarts and failed reverts retried. */
  targetCheckMs?: number;
  /** Injections handled at once within one call. */
  concurrency?: number;
  /** Monotonic milliseconds; a controlled clock in unit tests. */
  clock?: Clock;
}

/** A listed item the wire could not decode: it fails on its own, and still counts as listed (it is not removed). */
export interface UndecodableItem {
  id: string;
  invalid: string;
}

export type SyncItem = RawInjection | UndecodableItem;

export interface SyncResult {
  /** One per listed injection, in order. */
  results: ItemResult[];
  /** The experiment's unlisted injections, reverted and forgotten. */
  removed: string[];
  /** The experiment's unlisted injections whose revert failed: kept (reverting) and retried. */
  revertFailed: ItemResult[];
}

export interface ListFilter {
  experiment?: string;
  holder?: string;
  pageSize?: number;
  pageToken?: string;
}

export interface LeaseStatus {
  holder: string;
  ttlMs: number;
  remainingMs: number;
}

export interface ListPage {
  injections: InjectionStatus[];
  leases: LeaseStatus[];
  /** Empty on the last page. */
  nextPageToken: string;
}

export const DEFAULT_PAGE_SIZE = 500;
export const MAX_PAGE_SIZE = 5_000;
/** Evidence reads (a tc and an nft command each) run at once within one List. */
const EVIDENCE_CONCURRENCY = 8;

/** A page token names the last ID of the previous page: pages stay stable while injections come and go. */
function pageToken(lastId: string): string {
  return Buffer.from(lastId, 'utf8').toString('base64url');
}

function afterToken(token: string): string {
  const id = Buffer.from(token, 'base64url').toString('utf8');
  if (pageToken(id) !== token) throw new DaemonError('invalid', `page token ${JSON.stringify(token)} is not one this daemon gave`);
  return id;
}

export class Injector {
  readonly metrics: DaemonMetrics;
  private readonly journal: Journal;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly concurrency: number;
  private readonly table = new InjectionTable();
  private readonly leases = new Leases();
  private readonly lifecycle: Lifecycle;
  private readonly guard: Guard;
  private readonly restarts: RestartFollower;
  private readonly modules: readonly FaultModule[];
  private readonly evidence: EvidenceCache;
  private reconciled = false;
  private damagedFiles: readonly DamagedFile[] = [];

  constructor(options: InjectorOptions) {
    this.journal = options.journal;
    this.log = options.log;
    this.clock = options.clock ?? monotonicMs;
    this.concurrency = options.concurrency ?? 32;
    this.metrics = daemonMetrics(() => this.activeCounts());
    const faults = faultModules(options.faults);
    this.modules = options.faults;
    this.lifecycle = new Lifecycle({
      journal: this.journal, table: this.table, policy: options.policy, executor: options.executor, targets: options.targets, faults, metrics: this.metrics, log: this.log,
    });
    this.guard = new Guard({
      table: this.table, leases: this.leases, lifecycle: this.lifecycle, journal: this.journal, clock: this.clock, metrics: this.metrics, log: this.log,
      tickMs: options.tickMs ?? 250, concurrency: this.concurrency,
    });
    this.restarts = new RestartFollower({ table: this.table, lifecycle: this.lifecycle, metrics: this.metrics, log: this.log, everyMs: options.targetCheckMs ?? 1_000 });
    this.evidence = new EvidenceCache(this.clock, this.log);
  }

  /**
   * The kinds this node can apply now. A kind it cannot keeps its module (its journaled injections are still
   * reverted) but is not offered; a kind whose ability changes while the daemon runs (a process that may restart)
   * is asked each time.
   */
  async faultKinds(): Promise<FaultKind[]> {
    const offered = await Promise.all(this.modules.map(async (m) => m.unavailable === undefined && await m.unavailableNow?.() === undefined));
    return this.modules.filter((_, i) => offered[i]).map((m) => m.kind);
  }

  /** Reads the journal, finishes what a crash interrupted, re-verifies what is in force, then starts the clocks. */
  async start(): Promise<void> {
    const { records, leases, droppedAfterReboot, damaged } = await this.journal.open();
    this.damagedFiles = damaged;
    for (const file of damaged) {
      this.metrics.journalDamaged.inc({ kind: file.kind });
      this.log.error('journal: damaged file set aside, not used', { dir: this.journal.dir, ...file });
    }
    if (droppedAfterReboot.length > 0) {
      this.log.warn('journal: dropped injections of an earlier boot; their kernel state is gone with it', { injections: droppedAfterReboot });
    }
    this.leases.load(leases);
    for (const record of records) {
      // A holder with injections but no lease of this boot is treated as expired: nothing may outlive its lease.
      this.leases.ensure(record.holder);
      await reconcileRecord(record, this.table, this.lifecycle, this.log);
    }
    // A journal that cannot be written must not stop the clocks: they are what reverts the faults on time.
    await this.journal.writeLeases(this.leases.snapshot()).catch((error: unknown) => {
      this.log.error('journal: could not write the leases at start-up', { dir: this.journal.dir, error: errorMessage(error) });
    });
    this.reconciled = true;
    this.log.info('journal reconciled', { dir: this.journal.dir, injections: this.table.size, leases: this.leases.snapshot().size });
    this.guard.start();
    this.restarts.start();
  }

  /** Stops the clocks and waits for work in flight. Faults stay: their leases and deadlines revert them. */
  async stop(): Promise<void> {
    await Promise.all([this.guard.stop(), this.restarts.stop()]);
    await this.table.settled();
    await this.journal.close();
  }

  /** The journal files found damaged at start-up (moved to damaged/, not used); Capabilities reports them. */
  get damaged(): readonly DamagedFile[] {
    return this.damagedFiles;
  }

  /** The journal is reconciled (start() finished). */
  get ready(): boolean {
    return this.reconciled;
  }

  /**
   * The lease and deadline loop completed a pass within the last few ticks. While the journal is still being
   * reconciled the loop has not started; that is /readyz's concern (and a startup probe's), not a liveness failure.
   */
  get healthy(): boolean {
    return !this.reconciled || this.guard.healthy();
  }

  /**
   * Renews `holder`'s lease. A new holder's lease is durable before any record names it. A known holder's renewal
   * is written behind: if a crash loses it, the older expiry on disk only makes the restarted daemon revert
   * sooner, never later.
   */
  private async renewLease(holder: string, ttlMs: number): Promise<void> {
    checkId('holder', holder);
    checkLeaseTtl(ttlMs);
    const known = this.leases.get(holder) !== undefined;
    this.leases.renew(holder, ttlMs, this.clock());
    this.guard.renewed(holder);
    const written = this.journal.writeLeases(this.leases.snapshot());
    if (known) written.catch((error: unknown) => { this.log.error('lease write failed', { holder, error: errorMessage(error) }); });
    else await written;
  }

  async renew(holder: string, ttlMs: number): Promise<{ remainingMs: number; injections: number }> {
    await this.renewLease(holder, ttlMs);
    return { remainingMs: ttlMs, injections: this.table.all().filter((r) => r.holder === holder).length };
  }

  /**
   * Makes `experiment`'s injections held by `holder` on this node exactly `items`: applies the listed ones not held
   * yet, reverts and forgets the others. Every item succeeds or fails on its own.
   */
  async sync(holder: string, experiment: string, ttlMs: number, items: readonly SyncItem[]): Promise<SyncResult> {
    const receivedAt = this.clock();
    checkId('experiment', experiment);
    await this.renewLease(holder, ttlMs);
    const listed = new Set(items.map((i) => i.id));
    const { removed, revertFailed } = await this.removeUnlisted(holder, experiment, listed);
    const counts = new Map<string, number>();
    for (const item of items) counts.set(item.id, (counts.get(item.id) ?? 0) + 1);
    const results = await mapLimit(items, this.concurrency, async (raw): Promise<ItemResult> => {
      try {
        if ('invalid' in raw) throw new DaemonError('invalid', raw.invalid);
        if ((counts.get(raw.id) ?? 0) > 1) throw new DaemonError('invalid', `injection ID ${JSON.stringify(raw.id)} is listed more than once`);
        const { spec, deadlineInMs } = this.normalize(raw);
        const record = await this.syncOne(holder, experiment, spec, deadlineInMs, receivedAt);
        return { id: raw.id, injection: this.status(record) };
      } catch (error) {
        this.metrics.failed.inc({ kind: 'invalid' in raw ? 'unknown' : raw.fault.kind, operation: 'inject' });
        this.log.warn('sync item failed', { id: raw.id, holder, experiment, error: errorMessage(error) });
        const current = this.table.get(raw.id);
        return { id: raw.id, error: { code: errorCode(error), message: errorMessage(error) }, ...(current === undefined ? {} : { injection: this.status(current) }) };
      }
    });
    return { results, removed, revertFailed };
  }

  private async removeUnlisted(holder: string, experiment: string, listed: ReadonlySet<string>): Promise<Omit<SyncResult, 'results'>> {
    const removed: string[] = [];
    const revertFailed: ItemResult[] = [];
    const unlisted = this.table.all().filter((r) => r.experiment === experiment && r.holder === holder && !listed.has(r.spec.id));
    await mapLimit(unlisted, this.concurrency, (record) => this.table.locked(record.spec.id, async () => {
      if (!this.table.holds(record) || record.holder !== holder) return;
      try {
        await this.lifecycle.revert(record, 'request');
        removed.push(record.spec.id);
      } catch (error) {
        revertFailed.push({ id: record.spec.id, error: { code: errorCode(error), message: errorMessage(error) }, injection: this.status(record) });
      }
    }));
    return { removed: removed.sort(), revertFailed };
  }

  private normalize(raw: RawInjection): { spec: InjectionSpec; deadlineInMs: number } {
    checkId('injection ID', raw.id);
    const deadlineInMs = raw.deadlineInMs ?? 0;
    checkDeadline(deadlineInMs);
    const target = checkTarget(raw.target);
    checkScope(raw.fault.kind, target);
    const fault = this.lifecycle.module(raw.fault.kind).normalize(raw.fault);
    return { spec: { id: raw.id, target, fault }, deadlineInMs };
  }

  private async syncOne(holder: string, experiment: string, spec: InjectionSpec, deadlineInMs: number, receivedAt: number): Promise<JournalRecord> {
    const hash = specHash(spec);
    const deadlineAt = deadlineInMs > 0 ? receivedAt + deadlineInMs : undefined;
    return this.table.locked(spec.id, async () => {
      const existing = this.table.get(spec.id);
      if (existing === undefined) return this.lifecycle.apply({ spec, specHash: hash, experiment, holder, deadlineAt });
      if (existing.experiment !== experiment) {
        throw new DaemonError('conflict', `injection ${spec.id} belongs to experiment ${JSON.stringify(existing.experiment)}, not ${JSON.stringify(experiment)}`);
      }
      if (existing.specHash !== hash) {
        throw new DaemonError('conflict', `injection ${spec.id} exists with a different spec (hash ${existing.specHash.slice(0, 12)}, asked ${hash.slice(0, 12)})`);
      }
      let changed = false;
      if (existing.holder !== holder) {
        // Another allowed client syncing what a predecessor applied adopts it under its own lease.
        existing.holder = holder;
        changed = true;
      }
      // A deadline may come closer, never move away: a lost or late Sync cannot hold a fault past its duration.
      if (deadlineAt !== undefined && existing.phase !== 'done' && (existing.deadlineAt === undefined || deadlineAt < existing.deadlineAt)) {
        existing.deadlineAt = deadlineAt;
        changed = true;
      }
      if (changed) await this.journal.write(existing);
      return existing;
    });
  }

  list(filter: ListFilter = {}): ListPage {
    const { records, leases, nextPageToken } = this.page(filter);
    return { injections: records.map((r) => this.status(r)), leases, nextPageToken };
  }

  /** Like list, with the evidence of each active injection whose kind has it (network counters, stress usage), read at most every 2 s. */
  async listWithEvidence(filter: ListFilter = {}): Promise<ListPage> {
    const { records, leases, nextPageToken } = this.page(filter);
    // Each read spawns a command or two; a bounded number at once keeps a large page from flooding the node.
    const injections = await mapLimit(records, EVIDENCE_CONCURRENCY, async (record): Promise<InjectionStatus> => {
      // A journaled injection of a kind this build does not offer has no module, and no counters to read.
      const module = this.lifecycle.has(record.spec.fault.kind) ? this.lifecycle.module(record.spec.fault.kind) : undefined;
      const { evidence, ageMs } = await this.evidence.of(record, module);
      return { ...this.status(record), evidence: evidence.network ?? [], ...(evidence.stress === undefined ? {} : { stress: evidence.stress }), evidenceAgeMs: ageMs };
    });
    return { injections, leases, nextPageToken };
  }

  private page(filter: ListFilter): { records: JournalRecord[]; leases: LeaseStatus[]; nextPageToken: string } {
    const pageSize = filter.pageSize === undefined || filter.pageSize === 0 ? DEFAULT_PAGE_SIZE : filter.pageSize;
    if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > MAX_PAGE_SIZE) throw new DaemonError('invalid', `page size ${pageSize} must be between 1 and ${MAX_PAGE_SIZE}`);
    const after = filter.pageToken === undefined || filter.pageToken === '' ? undefined : afterToken(filter.pageToken);
    const matching = this.table.all()
      .filter((r) => (filter.experiment === undefined || r.experiment === filter.experiment) && (filter.holder === undefined || r.holder === filter.holder))
      .filter((r) => after === undefined || r.spec.id > after)
      .sort((a, b) => (a.spec.id < b.spec.id ? -1 : a.spec.id > b.spec.id ? 1 : 0));
    const page = matching.slice(0, pageSize);
    const last = page.at(-1);
    const now = this.clock();
    const leases = after !== undefined ? [] : [...this.leases.snapshot()]
      .filter(([h]) => filter.holder === undefined || h === filter.holder)
      .map(([holder, lease]) => ({ holder, ttlMs: lease.ttlMs, remainingMs: Math.max(0, Math.ceil(lease.expiresAt - now)) }));
    return { records: page, leases, nextPageToken: matching.length > pageSize && last !== undefined ? pageToken(last.spec.id) : '' };
  }

  /** Reverts every injection (uninstalling the daemon); returns those whose revert failed. */
  async revertAll(): Promise<string[]> {
    const failed: string[] = [];
    await mapLimit(this.table.all(), this.concurrency, (record) => this.table.locked(record.spec.id, async () => {
      if (this.table.holds(record)) await this.lifecycle.revert(record, 'shutdown').catch(() => { failed.push(record.spec.id); });
    }));
    return failed;
  }

  private status(record: JournalRecord): InjectionStatus {
    return statusOf(record, this.leases.get(record.holder)?.expiresAt, this.clock());
  }

  private activeCounts(): Array<{ labels: Record<string, string>; value: number }> {
    const counts = new Map<string, { labels: Record<string, string>; value: number }>();
    for (const record of this.table.all()) {
      const labels = { kind: record.spec.fault.kind, phase: record.phase };
      const k = `${labels.kind}/${labels.phase}`;
      counts.set(k, { labels, value: (counts.get(k)?.value ?? 0) + 1 });
    }
    return [...counts.values()];
  }
}
