/**
 * The injector's logic with fake targets and a recording executor (no kernel):
 * idempotency, conflicts, failed applies, lease expiry on a controlled clock,
 * and start-up reconciliation of a journal a crash left behind.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, test } from 'node:test';
import { DaemonError } from '../../src/daemon/errors.ts';
import { Injector, type StepExecutor, type Targets } from '../../src/daemon/injector.ts';
import { Journal } from '../../src/daemon/journal.ts';
import type { Plan, Step } from '../../src/daemon/plan.ts';
import { processStartTime } from '../../src/daemon/proc.ts';
import type { ResolvedTarget } from '../../src/daemon/runtime/resolve.ts';
import { createLogger } from '../../src/util/log.ts';

const silent = createLogger({}, () => undefined);
let dir: string;
let clock: number;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kerris-injector-'));
  clock = 1_000_000;
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

class RecordingExecutor implements StepExecutor {
  readonly ran: string[] = [];
  failOn: string | undefined;
  failReverts = false;
  async apply(steps: readonly Step[]): Promise<void> {
    for (const step of steps) {
      const text = step.kind === 'exec' ? step.argv.join(' ') : `${step.path}=${step.value}`;
      if (text === this.failOn) throw new Error(`${text} failed`);
      this.ran.push(`apply ${text}`);
    }
  }
  async revert(steps: readonly Step[]): Promise<void> {
    if (this.failReverts) throw new Error('revert failed');
    for (const step of steps) this.ran.push(`revert ${step.kind === 'exec' ? step.argv.join(' ') : `${step.path}=${step.value}`}`);
  }
}

/** Targets that resolve to this test process (alive, with a real start time), so the restart check sees them running. */
async function fakeTargets(): Promise<Targets & { killed: string[] }> {
  const startTime = await processStartTime(process.pid) ?? 0;
  const killed: string[] = [];
  return {
    killed,
    resolve: async (containerId): Promise<ResolvedTarget> => {
      if (containerId === 'missing') throw new DaemonError('not-found', 'no such container');
      return { containerId, pid: process.pid, startTime, runtime: 'fake' };
    },
    kill: async (containerId) => { killed.push(containerId); return 'fake'; },
    findRestarted: async () => { throw new DaemonError('not-found', 'none'); },
  };
}

function networkEngine(plan: (faults: readonly unknown[]) => Plan) {
  return {
    validate: (input: unknown): Record<string, unknown> => {
      if (typeof input !== 'object' || input === null || !('action' in input)) throw new Error('action is required');
      return input as Record<string, unknown>;
    },
    plan: async (_target: { pid: number }, faults: readonly unknown[]) => plan(faults),
  };
}

const PLAN: Plan = {
  summary: 'two steps',
  apply: [{ kind: 'exec', argv: ['step', 'one'] }, { kind: 'exec', argv: ['step', 'two'] }],
  revert: [{ kind: 'exec', argv: ['undo', 'two'] }, { kind: 'exec', argv: ['undo', 'one'] }],
};

/** Waits (on real time) until the injector's ticks have produced the expected state; a loaded machine may take a while. */
async function ticksUntil(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`not within ${timeoutMs} ms: ${what}`);
    await sleep(10);
  }
}

async function injector(executor: StepExecutor, targets?: Targets): Promise<Injector> {
  const i = new Injector({
    journal: new Journal(dir), targets: targets ?? await fakeTargets(), executor, log: silent, now: () => clock, tickMs: 10, targetCheckMs: 60_000,
    network: networkEngine(() => PLAN),
  });
  await i.start();
  return i;
}

const net = (id: string) => ({ id, target: { containerId: 'c1' }, fault: { kind: 'network' as const, faults: [{ action: 'loss' }] } });

test('the same injection twice applies once; another spec under the same ID is a conflict; recover twice is a no-op', async () => {
  const executor = new RecordingExecutor();
  const i = await injector(executor);
  try {
    const [first] = await i.inject('ctl', 10_000, [net('a')]);
    const [second] = await i.inject('ctl', 10_000, [net('a')]);
    assert.equal(first?.ok, true);
    assert.equal(second?.ok, true);
    assert.deepEqual(executor.ran, ['apply step one', 'apply step two']);
    const [conflict] = await i.inject('ctl', 10_000, [{ ...net('a'), target: { containerId: 'c2' } }]);
    assert.deepEqual([conflict?.ok, conflict?.errorCode], [false, 'conflict']);
    await i.recover(['a']);
    await i.recover(['a']);
    assert.deepEqual(executor.ran.slice(2), ['revert undo two', 'revert undo one']);
    assert.deepEqual(await readdir(dir).then((names) => names.filter((n) => n.startsWith('injection-'))), []);
  } finally {
    await i.stop();
  }
});

test('a failed apply is reverted, reported, and leaves no record', async () => {
  const executor = new RecordingExecutor();
  executor.failOn = 'step two';
  const i = await injector(executor);
  try {
    const [result] = await i.inject('ctl', 10_000, [net('b')]);
    assert.deepEqual([result?.ok, result?.errorCode], [false, 'failed']);
    assert.match(result?.error ?? '', /step two failed/);
    assert.deepEqual(executor.ran, ['apply step one', 'revert undo two', 'revert undo one']);
    assert.deepEqual(i.list().injections, []);
    assert.equal(i.metrics.failed.get({ kind: 'network', operation: 'inject' }), 1);
  } finally {
    await i.stop();
  }
});

test('invalid input fails its own item only', async () => {
  const i = await injector(new RecordingExecutor());
  try {
    const results = await i.inject('ctl', 10_000, [
      net('ok'),
      { id: 'bad id!', target: { containerId: 'c1' }, fault: { kind: 'container-freeze' } },
      { id: 'nofault', target: { containerId: 'c1' }, fault: { kind: 'network', faults: [{}] } },
      { id: 'gone', target: { containerId: 'missing' }, fault: { kind: 'network', faults: [{ action: 'loss' }] } },
    ]);
    assert.deepEqual(results.map((r) => [r.id, r.ok, r.errorCode]), [['ok', true, ''], ['bad id!', false, 'invalid'], ['nofault', false, 'invalid'], ['gone', false, 'not-found']]);
  } finally {
    await i.stop();
  }
});

test('an expired lease reverts all of its holder\'s injections and no other holder\'s', async () => {
  const executor = new RecordingExecutor();
  const i = await injector(executor);
  try {
    await i.inject('short', 1_000, [net('s1'), net('s2')]);
    await i.inject('long', 60_000, [net('l1')]);
    clock += 999;
    await sleep(50);
    assert.equal(i.list().injections.length, 3, 'nothing reverted before expiry');
    clock += 1;
    await ticksUntil(() => i.list().injections.length === 1, 'the expired holder\'s injections reverted');
    assert.deepEqual(i.list().injections.map((s) => s.id), ['l1']);
    assert.deepEqual(i.list().leases.map((l) => l.holder), ['long']);
    assert.equal(i.metrics.leaseExpiries.get(), 1);
    assert.equal(i.metrics.recovered.get({ reason: 'lease-expired' }), 2);
  } finally {
    await i.stop();
  }
});

test('container-kill is a one-way action: killed once, listed as done, nothing to revert', async () => {
  const executor = new RecordingExecutor();
  const targets = await fakeTargets();
  const i = await injector(executor, targets);
  try {
    const spec = { id: 'k', target: { containerId: 'c9' }, fault: { kind: 'container-kill' as const } };
    await i.inject('ctl', 10_000, [spec]);
    await i.inject('ctl', 10_000, [spec]);
    assert.deepEqual(targets.killed, ['c9']);
    assert.equal(i.list().injections[0]?.phase, 'done');
    await i.recover(['k']);
    assert.deepEqual(executor.ran, []);
    assert.deepEqual(i.list().injections, []);
  } finally {
    await i.stop();
  }
});

test('start-up reverts what a crash left mid-change and keeps what was committed, with its lease', async () => {
  const executor = new RecordingExecutor();
  const first = await injector(executor);
  await first.inject('ctl', 60_000, [net('kept'), net('cut')]);
  await first.stop();
  // Make "cut" look like the daemon died after journaling it but before committing it.
  const journal = new Journal(dir);
  const { records } = await journal.open();
  const cut = records.find((r) => r.spec.id === 'cut');
  assert.ok(cut);
  await journal.write({ ...cut, phase: 'applying' });

  const after = new RecordingExecutor();
  const second = await injector(after);
  try {
    assert.deepEqual(after.ran, ['revert undo two', 'revert undo one'], 'only the interrupted one is reverted');
    assert.deepEqual(second.list().injections.map((s) => [s.id, s.phase]), [['kept', 'active']]);
    assert.equal(second.list().injections[0]?.leaseExpiresAt, clock + 60_000);
  } finally {
    await second.stop();
  }
});

test('a revert that fails on lease expiry is kept, reported and retried until it succeeds; the expiry is counted once', async () => {
  const executor = new RecordingExecutor();
  const i = await injector(executor);
  try {
    await i.inject('gone', 1_000, [net('r1')]);
    executor.failReverts = true;
    clock += 1_000;
    await ticksUntil(() => i.list().injections[0]?.error !== undefined && i.list().injections[0]?.error !== '', 'the failed revert reported');
    const [stuck] = i.list().injections;
    assert.deepEqual([stuck?.id, stuck?.phase], ['r1', 'reverting']);
    assert.match(stuck?.error ?? '', /revert failed/);
    assert.equal(i.metrics.leaseExpiries.get(), 1, 'counted once, though retried on every tick');
    executor.failReverts = false;
    await ticksUntil(() => i.list().injections.length === 0, 'the retried revert succeeded');
    assert.deepEqual(i.list().injections, []);
    assert.deepEqual(i.list().leases, []);
    assert.equal(i.metrics.leaseExpiries.get(), 1);
  } finally {
    await i.stop();
  }
});
