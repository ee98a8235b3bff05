/**
 * Leader election decides on the monotonic clock only: stepping a replica's wall clock by an hour either way
 * neither ends a held lease early, nor keeps a cut-off leader leading, nor lets a candidate take a live lease,
 * nor delays its takeover of an abandoned one. The Lease lives in an in-memory stand-in for the apiserver.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CallOptions } from '../../src/kube/client.ts';
import { ApiError } from '../../src/kube/errors.ts';
import { parseTime } from '../../src/kube/time.ts';
import type { Lease } from '../../src/kube/types.ts';
import { createLogger } from '../../src/util/log.ts';
import type { Clock } from '../../src/runtime/clock.ts';
import { LeaderElector, type ElectionEnd, type LeaseClient } from '../../src/runtime/leader-election.ts';

const LEASE_MS = 1_000;
const RENEW_DEADLINE_MS = 800;
const RETRY_MS = 200;
const HOUR_MS = 3_600_000;
/** A candidate that waits too long, or a leader that never steps down, fails its test by timing out. */
const TEST = { timeout: 10_000 };
/** How late a timer may fire on a busy test machine. */
const TIMER_SLACK_MS = 100;

/**
 * One Lease with resourceVersion checks, as the apiserver keeps it. 'fail' refuses every call at once, like an
 * unreachable apiserver; 'hang' answers none until the caller gives up, like a dead connection.
 */
class FakeLeases implements LeaseClient {
  mode: 'answer' | 'fail' | 'hang' = 'answer';
  /** Successful writes: who wrote, and when on the monotonic clock. */
  readonly writes: Array<{ holder: string; atMs: number }> = [];
  /** Calls refused or left hanging. */
  unanswered = 0;
  #lease: Lease | undefined;
  #version = 0;
  readonly #waiters: Array<() => void> = [];

  /** Resolves once check holds, checked again after every write and every call left unanswered. */
  until(check: () => boolean): Promise<void> {
    return new Promise((resolve) => {
      const test = (): void => {
        if (check()) resolve();
        else this.#waiters.push(test);
      };
      test();
    });
  }

  writesBy(holder: string): number[] {
    return this.writes.filter((w) => w.holder === holder).map((w) => w.atMs);
  }

  lease(): Lease | undefined {
    return structuredClone(this.#lease);
  }

  async get(_resource: unknown, _name: string, options: CallOptions): Promise<Lease> {
    await this.#reach(options.signal);
    if (!this.#lease) throw new ApiError(404, 'NotFound', 'leases "test" not found');
    return structuredClone(this.#lease);
  }

  async create(_resource: unknown, object: Lease, options: CallOptions): Promise<Lease> {
    await this.#reach(options.signal);
    if (this.#lease) throw new ApiError(409, 'AlreadyExists', 'leases "test" already exists');
    return this.#store(object);
  }

  async replace(_resource: unknown, object: Lease, options: CallOptions): Promise<Lease> {
    await this.#reach(options.signal);
    if (object.metadata.resourceVersion !== this.#lease?.metadata.resourceVersion) throw new ApiError(409, 'Conflict', 'the object has been modified');
    return this.#store(object);
  }

  #store(object: Lease): Lease {
    this.#version += 1;
    this.#lease = { ...structuredClone(object), metadata: { ...object.metadata, resourceVersion: String(this.#version) } };
    this.writes.push({ holder: object.spec?.holderIdentity ?? '', atMs: performance.now() });
    this.#wake();
    return structuredClone(this.#lease);
  }

  async #reach(signal: AbortSignal | undefined): Promise<void> {
    if (this.mode === 'answer') return;
    this.unanswered += 1;
    this.#wake();
    if (this.mode === 'fail') throw new Error('connect ECONNREFUSED');
    await new Promise((_, reject) => signal?.addEventListener('abort', () => reject(signal.reason), { once: true }));
  }

  #wake(): void {
    for (const waiter of this.#waiters.splice(0)) waiter();
  }
}

/** The real monotonic clock beside a wall clock the test can step. */
function steppableClock(offsetMs = 0): Clock & { step(ms: number): void } {
  return {
    monotonicMs: () => performance.now(),
    wallMs: () => Date.now() + offsetMs,
    step: (ms) => { offsetMs += ms; },
  };
}

/** A running candidate whose leader work records when its signal aborted, and whether it still led then. */
function candidate(leases: FakeLeases, identity: string, clock: Clock, releaseOnStop = true) {
  const controller = new AbortController();
  let startedLeading!: () => void;
  const leading = new Promise<void>((resolve) => { startedLeading = resolve; });
  const workStopped: { atMs: number; stillLeader: boolean }[] = [];
  const elector = new LeaderElector({
    client: leases, namespace: 'test', name: 'test', identity, clock, releaseOnStop,
    leaseDurationMs: LEASE_MS, renewDeadlineMs: RENEW_DEADLINE_MS, retryPeriodMs: RETRY_MS,
    logger: createLogger({}, () => {}),
    onStartedLeading: (signal) => {
      startedLeading();
      return new Promise<void>((resolve) => signal.addEventListener('abort', () => {
        workStopped.push({ atMs: performance.now(), stillLeader: elector.isLeader });
        resolve();
      }, { once: true }));
    },
  });
  const ended: Promise<ElectionEnd> = elector.run(controller.signal);
  return { elector, leading, ended, workStopped, stop: (): Promise<ElectionEnd> => { controller.abort(); return ended; } };
}

describe('leader election on the monotonic clock', () => {
  it('keeps a held lease through wall-clock steps of an hour either way, even when the renewal after a step fails', TEST, async () => {
    const leases = new FakeLeases();
    const clock = steppableClock();
    const a = candidate(leases, 'a', clock);
    await a.leading;
    for (const stepMs of [HOUR_MS, -2 * HOUR_MS]) {
      // The step falls between the last renewal that succeeded and a renewal that fails.
      const before = leases.unanswered;
      leases.mode = 'fail';
      await leases.until(() => leases.unanswered > before);
      clock.step(stepMs);
      await leases.until(() => leases.unanswered > before + 1);
      leases.mode = 'answer';
      // Renewals resume and carry on past a whole renew deadline measured from the failure.
      const resumedAfter = leases.writesBy('a').length;
      await leases.until(() => leases.writesBy('a').length >= resumedAfter + RENEW_DEADLINE_MS / RETRY_MS);
      assert.equal(a.elector.isLeader, true, `a still leads after a wall-clock step of ${stepMs / HOUR_MS} h and a failed renewal`);
      assert.equal(a.workStopped.length, 0, 'its work was never stopped');
    }
    assert.equal(await a.stop(), 'stopped');
  });

  for (const offsetMs of [HOUR_MS, -HOUR_MS]) {
    it(`a candidate whose wall clock is ${offsetMs > 0 ? 'an hour ahead' : 'an hour behind'} leaves a live lease alone and takes an abandoned one after leaseDuration`, TEST, async () => {
      const leases = new FakeLeases();
      const a = candidate(leases, 'a', steppableClock(), false);
      await a.leading;
      const b = candidate(leases, 'b', steppableClock(offsetMs));
      await leases.until(() => b.elector.state !== 'unknown');
      assert.equal(b.elector.state, 'following', 'b found the lease held');
      const followingAtMs = performance.now();
      await leases.until(() => leases.writesBy('a').some((atMs) => atMs > followingAtMs + 2 * LEASE_MS));
      assert.equal(b.elector.isLeader, false, 'b waited while a renewed, though a\'s renewTime looks an hour off to b');
      assert.equal(a.elector.isLeader, true);

      assert.equal(await a.stop(), 'stopped', 'a crashed without releasing');
      const abandonedAtMs = leases.writesBy('a').at(-1) ?? 0;
      await b.leading;
      const takeoverMs = (leases.writesBy('b')[0] ?? 0) - abandonedAtMs;
      assert.ok(takeoverMs >= LEASE_MS, `b saw the record unchanged for leaseDuration before taking over: ${Math.round(takeoverMs)} ms`);
      // b sees the last renewal at its next try, and takes over at its first try leaseDuration after that.
      assert.ok(takeoverMs < LEASE_MS + 2 * 2.2 * RETRY_MS + TIMER_SLACK_MS, `b took over without waiting longer: ${Math.round(takeoverMs)} ms`);
      const stamped = parseTime(leases.lease()?.spec?.renewTime ?? '') - Date.now();
      assert.ok(Math.abs(stamped - offsetMs) < 1_000, 'the Lease carries b\'s wall-clock time, for people to read');
      assert.equal(await b.stop(), 'stopped');
    });
  }

  for (const [stepMs, mode] of [[HOUR_MS, 'fail'], [-HOUR_MS, 'fail'], [HOUR_MS, 'hang'], [-HOUR_MS, 'hang']] as const) {
    it(`a cut-off leader (every call ${mode === 'fail' ? 'refused' : 'hanging'}) steps down at its renew deadline after a ${stepMs > 0 ? 'forward' : 'backward'} wall-clock step`, TEST, async () => {
      const leases = new FakeLeases();
      const clock = steppableClock();
      const a = candidate(leases, 'a', clock);
      await a.leading;
      await leases.until(() => leases.writesBy('a').length >= 3);
      // Cut off first, then the step: the last renewal that succeeded was stamped before it.
      leases.mode = mode;
      await leases.until(() => leases.unanswered > 0);
      clock.step(stepMs);
      assert.equal(await a.ended, 'lost');
      const lastRenewalMs = leases.writesBy('a').at(-1) ?? 0;
      const [stopped] = a.workStopped;
      assert.ok(stopped, 'the leader work was stopped');
      const sinceRenewalMs = stopped.atMs - lastRenewalMs;
      // The deadline runs from the start of the last successful attempt, a hair before its write.
      assert.ok(sinceRenewalMs > RENEW_DEADLINE_MS - 20, `not before its renew deadline: ${Math.round(sinceRenewalMs)} ms`);
      assert.ok(sinceRenewalMs < RENEW_DEADLINE_MS + TIMER_SLACK_MS, `at its renew deadline, not later: ${Math.round(sinceRenewalMs)} ms`);
      assert.ok(sinceRenewalMs < LEASE_MS, 'before any other candidate could take over');
      assert.equal(stopped.stillLeader, false, 'it no longer counted itself leader when its work was told to stop');
    });
  }
});
