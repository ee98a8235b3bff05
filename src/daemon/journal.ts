/**
 * The on-disk journal: one file per injection, holding its spec, its phase and
 * the plan in force with its revert steps. Each change to the kernel is
 * preceded by a durable write (temp file, fsync, rename, fsync of the
 * directory), so that after a crash the daemon knows what to undo.
 */
import { randomBytes, createHash } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { bootId } from './clock.ts';
import { DaemonError, errorMessage } from './errors.ts';
import { parseRecord } from './journal-record.ts';
import type { Plan } from './plan.ts';
import { processStartTime } from './proc.ts';
import type { ResolvedTarget } from './runtime/resolve.ts';
import type { InjectionSpec } from './spec.ts';
import type { NamedProcess } from './stopped.ts';
import { checkHeldProcesses, UnsafePlanError } from './stored-plan.ts';

/**
 * applying: written before the first step runs; after a crash it is reverted.
 * active: every step ran. done: a one-way action (kill) happened; nothing to revert.
 * reverting: written before the first revert step runs; after a crash the revert is finished.
 * not-reapplied: the target restarted and the fault could not be put on its successor.
 */
export type Phase = 'applying' | 'active' | 'done' | 'reverting' | 'not-reapplied';

export interface JournalRecord {
  spec: InjectionSpec;
  specHash: string;
  /** The experiment the injection was synced in; a Sync of it that no longer lists the injection removes it. */
  experiment: string;
  holder: string;
  phase: Phase;
  /** When the daemon ends the injection by itself, on the monotonic clock of this boot (clock.ts). */
  deadlineAt?: number;
  /** Set when the deadline started the revert: once reverted, the record stays as done instead of being forgotten. */
  endedBy?: 'deadline';
  /** For a record with nothing in force (done): what happened, e.g. that its deadline ended it. */
  summary?: string;
  /** The process the plan acts on: a container's task, or for a node fault the host process; absent while not re-applied. */
  target?: ResolvedTarget | NamedProcess;
  /** For network faults: inode of the target's netns, to tell a restart in the same pod netns from a new one. */
  netnsInode?: number;
  /** The plan in force; its revert undoes what this injection did. */
  plan?: Plan;
  /** Times the fault was put on a restarted container. */
  reapplied: number;
  /** The last failure (re-apply or revert), kept so it is reported, never silently lost. */
  error?: string;
}

/** The container task a record's plan acts on; undefined for a node fault's host process, or none. */
export function containerOf(record: JournalRecord): ResolvedTarget | undefined {
  return record.target !== undefined && 'containerId' in record.target ? record.target : undefined;
}

export type Durability = 'durable' | 'atomic';

export interface LeaseRecord {
  /** On the monotonic clock of this boot (clock.ts). */
  expiresAt: number;
  ttlMs: number;
}

/**
 * What was wrong with a file the daemon could not use: empty, torn (not JSON), invalid (not a record of a known
 * format), unsafe-plan (steps kerris could not have written), unreadable (the read failed), leases (the leases file,
 * damaged in any way), unwritable (the journal cannot be written: its lock could not be taken).
 */
export type DamageKind = 'empty' | 'torn' | 'invalid' | 'unsafe-plan' | 'unreadable' | 'leases' | 'unwritable';

export interface DamagedFile {
  /** The file's name in the journal directory. */
  file: string;
  kind: DamageKind;
  reason: string;
  /** Where it was moved, relative to the journal directory; absent when it could not be moved and stays, unused. */
  movedTo?: string;
}

/** What open() found: records and leases of this boot, the IDs of records a reboot made void, and what was damaged. */
export interface JournalContents {
  records: JournalRecord[];
  leases: Map<string, LeaseRecord>;
  droppedAfterReboot: string[];
  damaged: DamagedFile[];
}

/**
 * 2: times on the monotonic clock, with the boot they count from. 1 (kerris-daemon v1): wall-clock times, no boot;
 * its records are read with their lease taken as lapsed, so the upgraded daemon reverts them.
 */
const FORMAT = 2;
const V1_FORMAT = 1;
const LEASES_FILE = 'leases.json';
const INJECTION_PREFIX = 'injection-';
const LOCK_FILE = 'daemon.lock';
/** Damaged files are moved here, never deleted: they are evidence, and may name state an operator must undo by hand. */
export const DAMAGED_DIR = 'damaged';
/** Errors of the storage itself: the journal cannot be written, which must not stop the daemon guarding faults. */
const STORAGE_ERRORS: ReadonlySet<string> = new Set(['ENOSPC', 'EDQUOT', 'EROFS', 'EIO']);

export function isStorageError(error: unknown): boolean {
  for (let e: unknown = error; e instanceof Error; e = e.cause) {
    if (STORAGE_ERRORS.has((e as NodeJS.ErrnoException).code ?? '')) return true;
  }
  return false;
}

async function ownLockText(): Promise<string> {
  return `${process.pid} ${await processStartTime(process.pid)}`;
}

export class JournalError extends DaemonError {
  override name = 'JournalError';
  constructor(message: string, options?: ErrorOptions) {
    super('failed', message, options);
  }
}

/** The file of an injection: named by a hash of its ID, so the ID never becomes a path. */
function injectionFile(id: string): string {
  return `${INJECTION_PREFIX}${createHash('sha256').update(id).digest('hex').slice(0, 40)}.json`;
}

interface Envelope<T> {
  format: number;
  bootId?: string;
  value: T;
}

export class Journal {
  readonly dir: string;
  private boot: string | undefined;
  private leaseWrite: Promise<void> | undefined;
  private pendingLeases: ReadonlyMap<string, LeaseRecord> | undefined;

  /** `boot`: the boot ID to write and to accept; the kernel's by default (tests simulate a reboot with another). */
  constructor(dir: string, options: { bootId?: string } = {}) {
    this.dir = dir;
    this.boot = options.bootId;
  }

  private get bootId(): string {
    if (this.boot === undefined) throw new JournalError(`journal ${this.dir} is not open`);
    return this.boot;
  }

  /**
   * Creates the directory, drops temp files of writes a crash interrupted (their rename never happened), and
   * removes the records of an earlier boot: the kernel state they describe died with it. A file that cannot be used
   * never stops the start: it is moved to damaged/ and reported, and the other records are loaded. A journal that
   * cannot be written (full, read-only) is read anyway, so the faults it holds are still reverted on time.
   */
  async open(): Promise<JournalContents> {
    this.boot ??= await bootId();
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const damaged: DamagedFile[] = [];
    try {
      await this.lock();
    } catch (error) {
      if (!isStorageError(error)) throw error;
      damaged.push({ file: LOCK_FILE, kind: 'unwritable', reason: errorMessage(error) });
    }
    const names = await readdir(this.dir);
    for (const name of names) if (name.includes('.tmp-')) await rm(join(this.dir, name), { force: true }).catch(() => undefined);
    const records: JournalRecord[] = [];
    const droppedAfterReboot: string[] = [];
    for (const name of names.filter((n) => n.startsWith(INJECTION_PREFIX) && n.endsWith('.json'))) {
      const read = await this.readFile(name);
      if ('missing' in read) continue;
      if ('kind' in read) {
        damaged.push(await this.setAside(name, read.kind, read.reason));
        continue;
      }
      const { envelope } = read;
      let record: JournalRecord;
      try {
        record = parseRecord(envelope.value, envelope.format === V1_FORMAT);
        // Processes are only compared within their own boot; a record of another is dropped below.
        if (envelope.format !== FORMAT || envelope.bootId === this.bootId) await checkHeldProcesses(record.plan);
      } catch (error) {
        damaged.push(await this.setAside(name, error instanceof UnsafePlanError ? 'unsafe-plan' : 'invalid', errorMessage(error)));
        continue;
      }
      if (envelope.format === FORMAT && envelope.bootId !== this.bootId) {
        droppedAfterReboot.push(record.spec.id);
        await rm(join(this.dir, name), { force: true }).catch(() => undefined);
      } else {
        records.push(record);
      }
    }
    return { records, leases: await this.readLeases(damaged), droppedAfterReboot, damaged };
  }

  /** The leases of this boot. A damaged leases file counts as none: every holder's lease has then expired. */
  private async readLeases(damaged: DamagedFile[]): Promise<Map<string, LeaseRecord>> {
    const read = await this.readFile(LEASES_FILE);
    if ('missing' in read) return new Map();
    if ('kind' in read) {
      damaged.push(await this.setAside(LEASES_FILE, 'leases', `${read.kind}: ${read.reason}`));
      return new Map();
    }
    const { envelope } = read;
    if (envelope.format !== FORMAT || envelope.bootId !== this.bootId) return new Map();
    const value = envelope.value;
    const leases = new Map<string, LeaseRecord>();
    const reason = typeof value !== 'object' || value === null || Array.isArray(value) ? 'the leases are not an object' : undefined;
    for (const [holder, lease] of reason === undefined ? Object.entries(value as object) : []) {
      const { expiresAt, ttlMs } = (typeof lease === 'object' && lease !== null ? lease : {}) as Partial<LeaseRecord>;
      if (typeof expiresAt !== 'number' || !Number.isFinite(expiresAt) || typeof ttlMs !== 'number' || !Number.isFinite(ttlMs)) {
        damaged.push(await this.setAside(LEASES_FILE, 'leases', `the lease of ${JSON.stringify(holder)} is not {expiresAt, ttlMs}`));
        return new Map();
      }
      leases.set(holder, { expiresAt, ttlMs });
    }
    if (reason !== undefined) {
      damaged.push(await this.setAside(LEASES_FILE, 'leases', reason));
      return new Map();
    }
    return leases;
  }

  /** A file's envelope, or what is wrong with it. */
  private async readFile(name: string): Promise<{ envelope: Envelope<unknown> } | { missing: true } | { kind: DamageKind; reason: string }> {
    let text: string;
    try {
      text = await readFile(join(this.dir, name), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { missing: true };
      return { kind: 'unreadable', reason: errorMessage(error) };
    }
    if (text.trim() === '') return { kind: 'empty', reason: 'the file is empty' };
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      return { kind: 'torn', reason: `not JSON: ${errorMessage(error)}` };
    }
    const envelope = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as Partial<Envelope<unknown>>;
    if (envelope.format !== FORMAT && envelope.format !== V1_FORMAT) return { kind: 'invalid', reason: `format ${JSON.stringify(envelope.format)}, expected ${FORMAT}` };
    if (envelope.bootId !== undefined && typeof envelope.bootId !== 'string') return { kind: 'invalid', reason: 'bootId is not a string' };
    return { envelope: { format: envelope.format, ...(envelope.bootId === undefined ? {} : { bootId: envelope.bootId }), value: envelope.value } };
  }

  /** Moves a damaged file to damaged/<time>-<name>; if even that fails it stays where it is, unused, and is reported. */
  private async setAside(name: string, kind: DamageKind, reason: string): Promise<DamagedFile> {
    const aside = join(DAMAGED_DIR, `${new Date().toISOString().replace(/[:.]/g, '-')}-${name}`);
    try {
      await mkdir(join(this.dir, DAMAGED_DIR), { recursive: true, mode: 0o700 });
      await rename(join(this.dir, name), join(this.dir, aside));
      await syncDir(join(this.dir, DAMAGED_DIR));
      await syncDir(this.dir);
      return { file: name, kind, reason, movedTo: aside };
    } catch (error) {
      return { file: name, kind, reason: `${reason} (could not be moved aside: ${errorMessage(error)})` };
    }
  }

  /**
   * Two daemons on one journal would revert each other's faults. The lock file names its holder by pid and start
   * time, so a lock left by a dead daemon (or a reused pid) is taken over, and a live one refuses the start.
   */
  private async lock(): Promise<void> {
    const path = join(this.dir, LOCK_FILE);
    const mine = await ownLockText();
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const file = await open(path, 'wx', 0o600);
        try {
          await file.writeFile(mine);
          await file.sync();
        } finally {
          await file.close();
        }
        return;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw new JournalError(`could not lock journal ${this.dir}: ${errorMessage(error)}`, { cause: error });
      }
      const held = (await readFile(path, 'utf8').catch(() => '')).trim();
      if (held === mine) return;
      const [pid, start] = held.split(' ').map(Number);
      if (pid !== undefined && start !== undefined && Number.isInteger(pid) && pid > 0 && await processStartTime(pid) === start) {
        throw new JournalError(`journal ${this.dir} is in use by process ${pid}; two daemons must never share a journal`);
      }
      await rm(path, { force: true });
    }
    throw new JournalError(`could not lock journal ${this.dir}: another process keeps taking the lock`);
  }

  /** Releases the lock (if this process holds it); the records stay. */
  async close(): Promise<void> {
    const path = join(this.dir, LOCK_FILE);
    if ((await readFile(path, 'utf8').catch(() => '')).trim() === await ownLockText()) await rm(path, { force: true });
  }

  /**
   * Writes a record atomically (temp file + rename). `durable` also syncs file and directory, and is what a record
   * written BEFORE a kernel change needs. A record written after a change (active, done) may skip it: if a machine
   * crash loses it, the previous record (applying) survives in its place and is reverted, which is consistent;
   * a daemon crash cannot lose it, since the page cache outlives the process.
   */
  async write(record: JournalRecord, durability: Durability = 'durable'): Promise<void> {
    await this.replace(injectionFile(record.spec.id), this.encode(record), durability);
  }

  private encode(value: unknown): string {
    return JSON.stringify({ format: FORMAT, bootId: this.bootId, value });
  }

  /** Removal follows a completed revert; a removal lost to a machine crash only means reverting again. */
  async remove(id: string): Promise<void> {
    await rm(join(this.dir, injectionFile(id)), { force: true });
  }

  /**
   * Leases change on every renewal. Writes are coalesced: while one runs, later snapshots replace each other and
   * only the newest is written next, so a burst of renewals costs two writes, and the file never goes backwards.
   */
  writeLeases(leases: ReadonlyMap<string, LeaseRecord>): Promise<void> {
    this.pendingLeases = leases;
    this.leaseWrite ??= this.flushLeases().finally(() => { this.leaseWrite = undefined; });
    return this.leaseWrite;
  }

  private async flushLeases(): Promise<void> {
    while (this.pendingLeases !== undefined) {
      const text = this.encode(Object.fromEntries(this.pendingLeases));
      this.pendingLeases = undefined;
      await this.replace(LEASES_FILE, text, 'durable');
    }
  }

  private async replace(name: string, text: string, durability: Durability): Promise<void> {
    const final = join(this.dir, name);
    const temp = `${final}.tmp-${randomBytes(6).toString('hex')}`;
    try {
      const file = await open(temp, 'w', 0o600);
      try {
        await file.writeFile(text);
        if (durability === 'durable') await file.sync();
      } finally {
        await file.close();
      }
      await rename(temp, final);
      if (durability === 'durable') await syncDir(this.dir);
    } catch (error) {
      await rm(temp, { force: true });
      throw new JournalError(`could not write journal file ${final}: ${errorMessage(error)}`, { cause: error });
    }
  }
}

/** A rename is durable only once the directory holding it is synced. */
async function syncDir(path: string): Promise<void> {
  const dir = await open(path, 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}
