/**
 * The injector's logic with fake targets and a recording executor (no kernel): idempotency, conflicts, failed
 * applies, Sync removing what is no longer listed, lease expiry and deadlines on a controlled monotonic clock,
 * paging, and start-up reconciliation of a journal a crash (or a reboot) left behind.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, test } from 'node:test';
import { statusToWire } from '../../src/daemon/api.ts';
import { DaemonError } from '../../src/daemon/errors.ts';
import { ApplyError, StepError } from '../../src/daemon/execute.ts';
import { containerKill } from '../../src/daemon/faults/container-kill.ts';
import { networkFault } from '../../src/daemon/faults/network.ts';
import { Injector } from '../../src/daemon/injector.ts';
import { Journal } from '../../src/daemon/journal.ts';
import type { StepExecutor, Targets } from '../../src/daemon/lifecycle.ts';
import type { Evidence, PlanCounters } from '../../src/daemon/net/evidence.ts';
import { ifbUndo, nftUndo, rootUndo } from '../../src/daemon/net/undo.ts';
import type { Plan, Step } from '../../src/daemon/plan.ts';
import { processStartTime } from '../../src/daemon/proc.ts';
import type { ResolvedTarget } from '../../src/daemon/runtime/resolve.ts';
import type { RawInjection } from '../../src/daemon/spec.ts';
import { CommandError } from '../../src/util/exec.ts';
import { createLogger } from '../../src/util/log.ts';

const silent = createLogger({}, () => undefined);
const BOOT = 'boot-1';
let dir: string;
let clock: number;

/** What the fake network engine was asked to read, and whether its reads fail. */
let evidenceReads: Array<{ pid: number; counters: PlanCounters | undefined; inode: number | undefined }>;
let evidenceFails: boolean;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kerris-injector-'));
  clock = 1_000_000;
  evidenceReads = [];
  evidenceFails = false;
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
      const text = step.kind === 'exec' ? step.input ?? step.argv.join(' ') : step.kind === 'write' ? `${step.path}=${step.value}` : step.kind;
      if (text === this.failOn) throw new Error(`${text} failed`);
      this.ran.push(`apply ${text}`);
    }
  }
  async revert(steps: readonly Step[]): Promise<void> {
    if (this.failReverts) throw new Error('revert failed');
    for (const step of steps) this.ran.push(`revert ${step.kind === 'exec' ? step.argv.join(' ') : step.kind === 'write' ? `${step.path}=${step.value}` : step.kind}`);
  }
}

/** Targets that resolve to this test process (alive, with a real start time), so the restart check sees them running. */
async function fakeTargets(): Promise<Targets & { killed: string[]; kill(containerId: string): Promise<string> }> {
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
  return networkFault({
    validate: (input: unknown): Record<string, unknown> => {
      if (typeof input !== 'object' || input === null || !('action' in input)) throw new Error('action is required');
      return input as Record<string, unknown>;
    },
    plan: async (_target: { pid: number }, faults: readonly unknown[]) => plan(faults),
    planNode: async (_netns: string, faults: readonly unknown[]) => plan(faults),
    /** One tbf counter whose packets count the reads, so a test sees which reading it got. */
    evidence: async (target: { pid: number }, stored: Plan, inode: number | undefined): Promise<Evidence[]> => {
      evidenceReads.push({ pid: target.pid, counters: stored.counters, inode });
      if (evidenceFails) throw new Error('nsenter: reading the counters failed');
      const packets = evidenceReads.length;
      return [{ device: 'eth0', direction: 'egress', kind: 'tbf', fault: 'bandwidth', packets, bytes: packets * 1500, dropped: 0, overlimits: 2 ** 40 }];
    },
  });
}

/** A plan as the network planner writes it (the journal keeps only such plans), on this process's netns. */
const NETNS = `/proc/${process.pid}/ns/net`;
const PLAN: Plan = {
  summary: 'two steps',
  apply: [{ kind: 'exec', argv: ['ip', '-batch', '-'], netns: NETNS, input: 'step one' }, { kind: 'exec', argv: ['tc', '-batch', '-'], netns: NETNS, input: 'step two' }],
  revert: [rootUndo(NETNS, 'eth0'), ifbUndo(NETNS, 'kerris-ifb0')],
  counters: { qdiscs: [{ device: 'eth0', direction: 'egress', on: 'eth0', handle: '4b70:', kind: 'tbf', faults: ['bandwidth'] }], nft: true },
};
const UNDO_TWO = 'tc qdisc del dev eth0 root handle 4b52:';
const UNDO_ONE = 'ip link del dev kerris-ifb0';

/** Waits (on real time) until the injector's ticks have produced the expected state; a loaded machine may take a while. */
async function ticksUntil(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`not within ${timeoutMs} ms: ${what}`);
    await sleep(10);
  }
}

async function injector(executor: StepExecutor, targets?: Targets & { kill(containerId: string): Promise<string> }, bootId = BOOT, plan = PLAN): Promise<Injector> {
  const t = targets ?? await fakeTargets();
  const i = new Injector({
    journal: new Journal(dir, { bootId }), targets: t, executor, policy: { check: async () => undefined, checkNode: async () => undefined, checkNodeNetns: async () => undefined }, log: silent, clock: () => clock, tickMs: 10, targetCheckMs: 60_000,
    faults: [containerKill(t, silent), networkEngine(() => plan)],
  });
  await i.start();
  return i;
}

const net = (id: string, deadlineInMs?: number): RawInjection => ({
  id, target: { containerId: 'c1' }, fault: { kind: 'network', faults: [{ action: 'loss' }] }, ...(deadlineInMs === undefined ? {} : { deadlineInMs }),
});
const ids = (i: Injector): string[] => i.list().injections.map((s) => s.id);
const codes = (results: ReadonlyArray<{ id: string; error?: { code: string } }>) => results.map((r) => [r.id, r.error?.code ?? 'ok']);

test('the same injection twice applies once; another spec under the same ID is a conflict; an empty Sync recovers, twice', async () => {
  const executor = new RecordingExecutor();
  const i = await injector(executor);
  try {
    const first = await i.sync('ctl', 'exp', 10_000, [net('a')]);
    const second = await i.sync('ctl', 'exp', 10_000, [net('a')]);
    assert.deepEqual([...codes(first.results), ...codes(second.results)], [['a', 'ok'], ['a', 'ok']]);
    assert.deepEqual(executor.ran, ['apply step one', 'apply step two']);
    const conflict = await i.sync('ctl', 'exp', 10_000, [{ ...net('a'), target: { containerId: 'c2' } }]);
    assert.deepEqual(codes(conflict.results), [['a', 'conflict']]);
    const elsewhere = await i.sync('ctl', 'other', 10_000, [net('a')]);
    assert.deepEqual(codes(elsewhere.results), [['a', 'conflict']], 'an ID belongs to one experiment');
    assert.deepEqual((await i.sync('ctl', 'exp', 10_000, [])).removed, ['a']);
    assert.deepEqual((await i.sync('ctl', 'exp', 10_000, [])).removed, []);
    assert.deepEqual(executor.ran.slice(2), [`revert ${UNDO_TWO}`, `revert ${UNDO_ONE}`]);
    assert.deepEqual(await readdir(dir).then((names) => names.filter((n) => n.startsWith('injection-'))), []);
  } finally {
    await i.stop();
  }
});

test('a Sync removes only the unlisted injections of its own experiment and holder', async () => {
  const executor = new RecordingExecutor();
  const i = await injector(executor);
  try {
    await i.sync('ctl', 'exp', 10_000, [net('a'), net('b')]);
    await i.sync('ctl', 'other', 10_000, [net('c')]);
    await i.sync('ctl-2', 'exp', 10_000, [net('d')]);
    const result = await i.sync('ctl', 'exp', 10_000, [net('b')]);
    assert.deepEqual(result.removed, ['a']);
    assert.deepEqual(ids(i), ['b', 'c', 'd']);
  } finally {
    await i.sync('ctl', 'exp', 10_000, []);
    await i.sync('ctl', 'other', 10_000, []);
    await i.sync('ctl-2', 'exp', 10_000, []);
    assert.deepEqual(ids(i), []);
    await i.stop();
  }
});

test('a failed apply is reverted, reported, and leaves no record', async () => {
  const executor = new RecordingExecutor();
  executor.failOn = 'step two';
  const i = await injector(executor);
  try {
    const { results: [result] } = await i.sync('ctl', 'exp', 10_000, [net('b')]);
    assert.equal(result?.error?.code, 'failed');
    assert.match(result?.error?.message ?? '', /step two failed/);
    assert.deepEqual(executor.ran, ['apply step one', `revert ${UNDO_TWO}`, `revert ${UNDO_ONE}`]);
    assert.deepEqual(i.list().injections, []);
    assert.equal(i.metrics.failed.get({ kind: 'network', operation: 'inject' }), 1);
  } finally {
    await i.stop();
  }
});

test('a failed apply whose nft -f was refused reverts without deleting the table it met', async () => {
  // As applySteps reports it: the IFBs made, then `create table` refused because the table exists (another's).
  const plan: Plan = { ...PLAN, apply: [PLAN.apply[0] as Step, { kind: 'exec', argv: ['nft', '-f', '-'], netns: NETNS, input: 'create table inet kerris' }], revert: [ifbUndo(NETNS, 'kerris-ifb0'), nftUndo(NETNS)] };
  const executor = new (class extends RecordingExecutor {
    override async apply(steps: readonly Step[]): Promise<void> {
      this.ran.push('apply step one');
      const [, nft] = steps;
      assert.ok(nft !== undefined);
      const refused = new StepError(1, nft, new CommandError({ argv: ['nft', '-f', '-'], code: 1, signal: null, stdout: '', stderr: 'Error: Could not process rule: File exists\n' }, 'exited with 1'));
      throw new ApplyError(refused, new Map<number, 'done' | StepError>([[0, 'done'], [1, refused]]));
    }
  })();
  const i = await injector(executor, undefined, BOOT, plan);
  try {
    const { results: [result] } = await i.sync('ctl', 'exp', 10_000, [net('t')]);
    assert.equal(result?.error?.code, 'failed');
    assert.deepEqual(executor.ran, ['apply step one', `revert ${UNDO_ONE}`]);
    assert.deepEqual(i.list().injections, []);
  } finally {
    await i.stop();
  }
});

test('invalid input fails its own item only', async () => {
  const i = await injector(new RecordingExecutor());
  try {
    const { results } = await i.sync('ctl', 'exp', 10_000, [
      net('ok'),
      { id: 'bad id!', target: { containerId: 'c1' }, fault: { kind: 'container-kill' } },
      { id: 'nofault', target: { containerId: 'c1' }, fault: { kind: 'network', faults: [{}] } },
      { id: 'gone', target: { containerId: 'missing' }, fault: { kind: 'network', faults: [{ action: 'loss' }] } },
      { id: 'freeze', target: { containerId: 'c1' }, fault: { kind: 'container-freeze' } },
      { id: 'late', target: { containerId: 'c1' }, fault: { kind: 'network', faults: [{ action: 'loss' }] }, deadlineInMs: -1 },
      { id: 'undecodable', invalid: 'an injection needs a target' },
      net('twice'), net('twice'),
    ]);
    assert.deepEqual(codes(results), [
      ['ok', 'ok'], ['bad id!', 'invalid'], ['nofault', 'invalid'], ['gone', 'not-found'], ['freeze', 'invalid'], ['late', 'invalid'],
      ['undecodable', 'invalid'], ['twice', 'invalid'], ['twice', 'invalid'],
    ]);
    assert.match(results[4]?.error?.message ?? '', /not available in this daemon build/);
  } finally {
    await i.stop();
  }
});

test('an expired lease reverts all of its holder\'s injections and no other holder\'s', async () => {
  const executor = new RecordingExecutor();
  const i = await injector(executor);
  try {
    await i.sync('short', 'exp', 1_000, [net('s1'), net('s2')]);
    await i.sync('long', 'exp', 60_000, [net('l1')]);
    clock += 999;
    await sleep(50);
    assert.equal(i.list().injections.length, 3, 'nothing reverted before expiry');
    clock += 1;
    await ticksUntil(() => i.list().injections.length === 1, 'the expired holder\'s injections reverted');
    assert.deepEqual(ids(i), ['l1']);
    assert.deepEqual(i.list().leases.map((l) => l.holder), ['long']);
    assert.equal(i.metrics.leaseExpiries.get(), 1);
    assert.equal(i.metrics.recovered.get({ reason: 'lease-expired' }), 2);
  } finally {
    await i.stop();
  }
});

test('a deadline ends the injection by itself though the lease is renewed; a later Sync may shorten it, never lengthen or re-apply it', async () => {
  const executor = new RecordingExecutor();
  const i = await injector(executor);
  try {
    await i.sync('ctl', 'exp', 60_000, [net('d', 5_000), net('s', 5_000)]);
    clock += 1_000;
    const again = await i.sync('ctl', 'exp', 60_000, [net('d', 60_000), net('s', 1_000)]);
    assert.deepEqual(again.results.map((r) => r.injection?.deadlineRemainingMs), [4_000, 1_000], 'd not lengthened, s shortened');
    clock += 1_000;
    await ticksUntil(() => i.list().injections.find((s) => s.id === 's')?.phase === 'done', 's ended at its shortened deadline');
    assert.equal(i.list().injections.find((s) => s.id === 'd')?.phase, 'active');
    clock += 3_000;
    await i.renew('ctl', 60_000);
    await ticksUntil(() => i.metrics.recovered.get({ reason: 'deadline' }) === 2, 'd ended at its first deadline');
    assert.deepEqual(i.list().injections.map((s) => s.phase), ['done', 'done']);
    const ran = executor.ran.length;
    const after = await i.sync('ctl', 'exp', 60_000, [net('d', 5_000), net('s', 5_000)]);
    assert.deepEqual(after.results.map((r) => [r.injection?.phase, r.injection?.summary.startsWith('ended at its deadline')]), [['done', true], ['done', true]]);
    assert.equal(executor.ran.length, ran, 'an ended injection is not applied again');
    assert.deepEqual((await i.sync('ctl', 'exp', 60_000, [])).removed, ['d', 's']);
    assert.deepEqual(executor.ran.filter((r) => r.startsWith('revert')).length, 4, 'each reverted once');
  } finally {
    await i.stop();
  }
});

test('container-kill is a one-way action: killed once, listed as done, nothing to revert', async () => {
  const executor = new RecordingExecutor();
  const targets = await fakeTargets();
  const i = await injector(executor, targets);
  try {
    const spec: RawInjection = { id: 'k', target: { containerId: 'c9' }, fault: { kind: 'container-kill' } };
    await i.sync('ctl', 'exp', 10_000, [spec]);
    await i.sync('ctl', 'exp', 10_000, [spec]);
    assert.deepEqual(targets.killed, ['c9']);
    assert.equal(i.list().injections[0]?.phase, 'done');
    await i.sync('ctl', 'exp', 10_000, []);
    assert.deepEqual(executor.ran, []);
    assert.deepEqual(i.list().injections, []);
  } finally {
    await i.stop();
  }
});

test('List pages in stable ID order; injections added meanwhile never shift a page', async () => {
  const i = await injector(new RecordingExecutor());
  try {
    await i.sync('ctl', 'exp', 10_000, ['e', 'b', 'a', 'd', 'c'].map((id) => net(id)));
    const first = i.list({ pageSize: 2 });
    assert.deepEqual([first.injections.map((s) => s.id), first.leases.length], [['a', 'b'], 1]);
    await i.sync('ctl', 'exp', 10_000, ['a', 'aa', 'b', 'c', 'd', 'e'].map((id) => net(id)));
    const second = i.list({ pageSize: 2, pageToken: first.nextPageToken });
    const third = i.list({ pageSize: 2, pageToken: second.nextPageToken });
    assert.deepEqual([second.injections.map((s) => s.id), second.leases, third.injections.map((s) => s.id), third.nextPageToken], [['c', 'd'], [], ['e'], '']);
    assert.deepEqual(i.list({ experiment: 'nope' }).injections, []);
    assert.throws(() => i.list({ pageToken: '!!' }), DaemonError);
    await i.sync('ctl', 'exp', 10_000, []);
  } finally {
    await i.stop();
  }
});

test('start-up reverts what a crash left mid-change and keeps what was committed, with its lease and deadline', async () => {
  const executor = new RecordingExecutor();
  const first = await injector(executor);
  await first.sync('ctl', 'exp', 60_000, [net('kept', 30_000), net('cut')]);
  await first.stop();
  // Make "cut" look like the daemon died after journaling it but before committing it.
  const journal = new Journal(dir, { bootId: BOOT });
  const { records } = await journal.open();
  const cut = records.find((r) => r.spec.id === 'cut');
  assert.ok(cut);
  await journal.write({ ...cut, phase: 'applying' });
  await journal.close();

  clock += 10_000;
  const after = new RecordingExecutor();
  const second = await injector(after);
  try {
    assert.deepEqual(after.ran, [`revert ${UNDO_TWO}`, `revert ${UNDO_ONE}`], 'only the interrupted one is reverted');
    const [kept] = second.list().injections;
    assert.deepEqual([kept?.id, kept?.phase, kept?.leaseRemainingMs, kept?.deadlineRemainingMs], ['kept', 'active', 50_000, 20_000]);
  } finally {
    await second.sync('ctl', 'exp', 60_000, []);
    await second.stop();
  }
});

test('after a reboot the journal\'s records are dropped: the kernel state they describe is gone', async () => {
  const first = await injector(new RecordingExecutor());
  await first.sync('ctl', 'exp', 60_000, [net('old')]);
  await first.stop();
  const after = new RecordingExecutor();
  const second = await injector(after, undefined, 'boot-2');
  try {
    assert.deepEqual([ids(second), second.list().leases, after.ran], [[], [], []]);
    assert.deepEqual(await readdir(dir).then((names) => names.filter((n) => n.startsWith('injection-'))), []);
  } finally {
    await second.stop();
  }
});

test('a revert that fails on lease expiry is kept, reported and retried until it succeeds; the expiry is counted once', async () => {
  const executor = new RecordingExecutor();
  const i = await injector(executor);
  try {
    await i.sync('gone', 'exp', 1_000, [net('r1')]);
    executor.failReverts = true;
    clock += 1_000;
    await ticksUntil(() => (i.list().injections[0]?.error ?? '') !== '', 'the failed revert reported');
    const [stuck] = i.list().injections;
    assert.deepEqual([stuck?.id, stuck?.phase], ['r1', 'reverting']);
    assert.match(stuck?.error ?? '', /revert failed/);
    assert.equal(i.metrics.leaseExpiries.get(), 1, 'counted once, though retried on every tick');
    executor.failReverts = false;
    await ticksUntil(() => i.list().injections.length === 0, 'the retried revert succeeded');
    assert.deepEqual(i.list().leases, []);
    assert.equal(i.metrics.leaseExpiries.get(), 1);
  } finally {
    await i.stop();
  }
});

test('/healthz follows the lease loop: healthy while it ticks, not once it stopped', async () => {
  const i = await injector(new RecordingExecutor());
  assert.equal(i.healthy, true);
  assert.equal(i.ready, true);
  await i.stop();
  assert.equal(i.healthy, false);
});

test('damaged journal files next to good records: the start goes on, the good one ends at its deadline, the bad ones are counted and reported', async () => {
  const first = await injector(new RecordingExecutor());
  await first.sync('ctl', 'exp', 60_000, [net('good', 5_000)]);
  await first.stop();
  await writeFile(join(dir, 'injection-empty.json'), '');
  await writeFile(join(dir, 'injection-torn.json'), '{"format":2,"bootId":"boot-1","value":{"spec":');
  await writeFile(join(dir, 'leases.json'), 'garbage');
  const after = new RecordingExecutor();
  const second = await injector(after);
  try {
    assert.deepEqual(second.damaged.map((d) => d.kind).sort(), ['empty', 'leases', 'torn']);
    assert.equal(second.metrics.journalDamaged.get({ kind: 'torn' }), 1);
    assert.match(second.metrics.registry.render(), /kerris_daemon_journal_damaged_total\{kind="leases"\} 1/);
    // The leases file is gone, so the holder counts as expired at once: nothing outlives its lease.
    await ticksUntil(() => ids(second).length === 0, 'the good record reverted as its lease is unknown');
    assert.deepEqual(after.ran, [`revert ${UNDO_TWO}`, `revert ${UNDO_ONE}`]);
    assert.deepEqual((await readdir(join(dir, 'damaged'))).length, 3);
  } finally {
    await second.stop();
  }
});

test('good records next to damaged ones keep their lease and end at their deadline', async () => {
  const first = await injector(new RecordingExecutor());
  await first.sync('ctl', 'exp', 60_000, [net('good', 5_000)]);
  await first.stop();
  await writeFile(join(dir, 'injection-schema.json'), JSON.stringify({ format: 2, bootId: BOOT, value: { spec: { id: 'x' }, phase: 'active' } }));
  const after = new RecordingExecutor();
  const second = await injector(after);
  try {
    assert.deepEqual(second.damaged.map((d) => d.kind), ['invalid']);
    assert.deepEqual([ids(second), after.ran], [['good'], []], 'kept while its lease and deadline run');
    clock += 5_000;
    await ticksUntil(() => second.list().injections[0]?.phase === 'done', 'the deadline ended it');
    assert.deepEqual(after.ran, [`revert ${UNDO_TWO}`, `revert ${UNDO_ONE}`]);
  } finally {
    await second.sync('ctl', 'exp', 60_000, []);
    await second.stop();
  }
});

test('List with evidence reads an active network injection\'s counters at most every 2 s, shares a read in flight, and keeps the last reading when a read fails', async () => {
  const i = await injector(new RecordingExecutor());
  try {
    await i.sync('ctl', 'exp', 60_000, [net('a'), { id: 'k', target: { containerId: 'c2' }, fault: { kind: 'container-kill' } }]);
    const packets = (page: Awaited<ReturnType<Injector['listWithEvidence']>>) => page.injections.map((s) => [s.id, s.evidence?.map((e) => e.packets), s.evidenceAgeMs]);
    assert.deepEqual(packets(await i.listWithEvidence()), [['a', [1], 0], ['k', [], 0]], 'a kill is done and has no counters');
    clock += 1_500;
    assert.deepEqual(packets(await i.listWithEvidence()), [['a', [1], 1_500], ['k', [], 0]], 'not read again within 2 s');
    assert.equal(i.list().injections[0]?.evidence, undefined, 'a plain List reads nothing');
    clock += 500;
    const [one, two] = await Promise.all([i.listWithEvidence(), i.listWithEvidence()]);
    assert.deepEqual([packets(one)[0], packets(two)[0], evidenceReads.length], [['a', [2], 0], ['a', [2], 0], 2], 'one read for two calls');
    evidenceFails = true;
    clock += 2_000;
    assert.deepEqual(packets(await i.listWithEvidence())[0], ['a', [2], 2_000], 'a failed read keeps the last reading, older');
    assert.equal(evidenceReads.length, 3);
    assert.deepEqual(evidenceReads.map((r) => [r.pid, r.counters]), Array.from({ length: 3 }, () => [process.pid, PLAN.counters]));
    assert.ok(evidenceReads.every((r) => r.inode !== undefined), 'the netns inode the fault was put in is checked');
    const [status] = (await i.listWithEvidence()).injections;
    assert.ok(status !== undefined);
    assert.deepEqual(statusToWire(status).evidence, [{ device: 'eth0', direction: 'egress', kind: 'tbf', fault: 'bandwidth', packets: 2n, bytes: 3000n, dropped: 0n, overlimits: 2n ** 40n }]);
  } finally {
    await i.sync('ctl', 'exp', 60_000, []);
    await i.stop();
  }
});

test('a plan\'s counters survive a daemon restart in the journal, and only active injections are read', async () => {
  const first = await injector(new RecordingExecutor());
  await first.sync('ctl', 'exp', 60_000, [net('a'), net('ending', 1_000)]);
  await first.stop();
  clock += 1_000;
  const second = await injector(new RecordingExecutor());
  try {
    await ticksUntil(() => second.list().injections.find((s) => s.id === 'ending')?.phase === 'done', 'the deadline ended one');
    const page = await second.listWithEvidence();
    assert.deepEqual(page.injections.map((s) => [s.id, s.phase, s.evidence?.length]), [['a', 'active', 1], ['ending', 'done', 0]]);
    assert.deepEqual(evidenceReads.map((r) => r.counters), [PLAN.counters]);
  } finally {
    await second.sync('ctl', 'exp', 60_000, []);
    await second.stop();
  }
});
