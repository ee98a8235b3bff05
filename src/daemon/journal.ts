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
import type { Plan } from './plan.ts';
import { processStartTime } from './proc.ts';
import type { ResolvedTarget } from './runtime/resolve.ts';
import type { InjectionSpec } from './spec.ts';

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
  /** The process the plan acts on; absent while not re-applied. */
  target?: ResolvedTarget;
  /** For network faults: inode of the target's netns, to tell a restart in the same pod netns from a new one. */
  netnsInode?: number;
  /** The plan in force; its revert undoes what this injection did. */
  plan?: Plan;
  /** Times the fault was put on a restarted container. */
  reapplied: number;
  /** The last failure (re-apply or revert), kept so it is reported, never silently lost. */
  error?: string;
}

export type Durability = 'durable' | 'atomic';

export interface LeaseRecord {
  /** On the monotonic clock of this boot (clock.ts). */
  expiresAt: number;
  ttlMs: number;
}

/** What open() found: records of this boot, leases of this boot, and the IDs of records a reboot made void. */
export interface JournalContents {
  records: JournalRecord[];
  leases: Map<string, LeaseRecord>;
  droppedAfterReboot: string[];
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
   * removes the records of an earlier boot: the kernel state they describe died with it.
   */
  async open(): Promise<JournalContents> {
    this.boot ??= await bootId();
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await this.lock();
    const names = await readdir(this.dir);
    for (const name of names) if (name.includes('.tmp-')) await rm(join(this.dir, name), { force: true });
    const records: JournalRecord[] = [];
    const droppedAfterReboot: string[] = [];
    for (const name of names.filter((n) => n.startsWith(INJECTION_PREFIX) && n.endsWith('.json'))) {
      const envelope = this.decode<JournalRecord>(name, await readFile(join(this.dir, name), 'utf8'));
      if (envelope.format === V1_FORMAT) {
        records.push({ ...envelope.value, experiment: envelope.value.experiment ?? '' });
      } else if (envelope.bootId !== this.bootId) {
        droppedAfterReboot.push(envelope.value.spec.id);
        await rm(join(this.dir, name), { force: true });
      } else {
        records.push(envelope.value);
      }
    }
    const leasesText = await readFile(join(this.dir, LEASES_FILE), 'utf8').catch(() => undefined);
    const leases = leasesText === undefined ? undefined : this.decode<Record<string, LeaseRecord>>(LEASES_FILE, leasesText);
    const current = leases !== undefined && leases.format === FORMAT && leases.bootId === this.bootId;
    return { records, leases: new Map(Object.entries(current ? leases.value : {})), droppedAfterReboot };
  }

  private decode<T>(name: string, text: string): Envelope<T> {
    try {
      const parsed = JSON.parse(text) as Envelope<T>;
      if (parsed.format !== FORMAT && parsed.format !== V1_FORMAT) throw new Error(`format ${parsed.format}, expected ${FORMAT}`);
      return parsed;
    } catch (error) {
      throw new JournalError(`journal file ${join(this.dir, name)} is unreadable: ${errorMessage(error)}`, { cause: error });
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
      if (durability === 'durable') await this.syncDir();
    } catch (error) {
      await rm(temp, { force: true });
      throw new JournalError(`could not write journal file ${final}: ${errorMessage(error)}`, { cause: error });
    }
  }

  /** A rename is durable only once the directory holding it is synced. */
  private async syncDir(): Promise<void> {
    const dir = await open(this.dir, 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }
}
