/**
 * The injection table: the records the daemon holds, by ID, and one lock per ID so that a Sync, a lease expiry,
 * a deadline and a restart check never work on the same injection at once.
 */
import type { JournalRecord } from './journal.ts';

export class InjectionTable {
  private readonly records = new Map<string, JournalRecord>();
  private readonly locks = new Map<string, Promise<unknown>>();

  get(id: string): JournalRecord | undefined {
    return this.records.get(id);
  }

  /** Whether `record` is still the one held under its ID (not reverted or replaced while a caller waited). */
  holds(record: JournalRecord): boolean {
    return this.records.get(record.spec.id) === record;
  }

  set(record: JournalRecord): void {
    this.records.set(record.spec.id, record);
  }

  delete(id: string): void {
    this.records.delete(id);
  }

  get size(): number {
    return this.records.size;
  }

  /** A snapshot: callers may change the table while they walk it. */
  all(): JournalRecord[] {
    return [...this.records.values()];
  }

  /** Runs fn once every earlier call for the same ID has finished (whether it failed or not). */
  async locked<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(id) ?? Promise.resolve();
    const run = previous.then(fn, fn);
    const tail = run.then(() => undefined, () => undefined);
    this.locks.set(id, tail);
    try {
      return await run;
    } finally {
      if (this.locks.get(id) === tail) this.locks.delete(id);
    }
  }

  /** Resolves when the work queued so far on every ID has finished. */
  async settled(): Promise<void> {
    await Promise.all([...this.locks.values()]);
  }
}
