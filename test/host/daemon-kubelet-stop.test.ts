/**
 * kubelet-stop on a real daemon, kernel and /proc, against a stand-in kubelet: a copy of /bin/sleep under a name of
 * this run's own (`--kubelet-process` names it, so a real kubelet of a test bed on this host is never touched). It
 * is stopped (state T) while held and runs again after the revert, at the deadline, when the lease lapses, and,
 * through its guard, within about a second of a SIGKILLed daemon; a daemon started on that journal reverts and drops
 * the record; two processes of the name are refused with both named and nothing stopped; tampered records are set
 * aside unrun; and no guard process or journal file is left behind.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFile, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, test } from 'node:test';
import { ErrorCode, FaultKind, Phase, type InjectionInput, type SyncResponse } from '../../src/daemon/client.ts';
import { makeCertificates, type CertificateSet } from '../../src/daemon/tls-certs.ts';
import { readTlsFiles, type TlsMaterial } from '../../src/daemon/tls.ts';
import { eventually, journalFiles, spawnDaemon, type RunningDaemon } from './daemon-fixture.ts';

/** Unique to this run, at most 15 characters (a comm holds 15). */
const NAME = `kubelet-kt${process.pid.toString(36)}`.slice(0, 15);
const EXP = 'exp-kubelet';
const ID = `${EXP}/node-uid/kubelet`;

let dir: string;
let certs: CertificateSet;
let clientTls: TlsMaterial;
let binary: string;
const standIns: ChildProcess[] = [];
const daemons: RunningDaemon[] = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kd-kubelet-'));
  certs = await makeCertificates(join(dir, 'pki'));
  clientTls = await readTlsFiles(certs.client);
  binary = join(dir, NAME);
  await copyFile('/bin/sleep', binary);
});

afterEach(async () => {
  for (const daemon of daemons.splice(0)) await daemon.stop('SIGKILL');
  // Whatever a failed test left: continued, then ended.
  for (const child of standIns.splice(0)) {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      process.kill(child.pid, 'SIGCONT');
      child.kill('SIGKILL');
    }
  }
  for (const pid of await guards()) process.kill(pid, 'SIGKILL');
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function journalDir(name: string): string {
  return join(dir, `journal-${name}`);
}

async function startDaemon(journal: string, processName = NAME): Promise<RunningDaemon> {
  // No containerd: a node fault needs none, and the daemon starts without a runtime.
  const daemon = await spawnDaemon({
    containerdSocket: join(dir, 'no-containerd.sock'), journalDir: journal, certs, clientTls, extraArgs: ['--kubelet-process', processName],
  });
  daemons.push(daemon);
  return daemon;
}

/** A stand-in kubelet: the copy of sleep, running until the test ends it. */
async function startStandIn(): Promise<number> {
  const child = spawn(binary, ['3600'], { stdio: 'ignore' });
  standIns.push(child);
  const pid = child.pid ?? assert.fail('the stand-in did not start');
  await eventually(`${NAME} ${pid} running`, async () => ((await state(pid)) === 'S' ? true : undefined));
  return pid;
}

async function state(pid: number): Promise<string | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  return stat?.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
}

/** The live guard processes of this run's stand-in (their argv names it). */
async function guards(): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const argv = (await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '')).split('\0');
    if (argv.some((a) => /stop-guard\.[jt]s$/.test(a)) && argv.includes(NAME) && await state(Number(entry)) !== 'Z') found.push(Number(entry));
  }
  return found;
}

function kubeletStop(deadlineInMs?: number): InjectionInput {
  return { id: ID, target: { node: true }, fault: { kind: 'kubelet-stop' }, ...(deadlineInMs === undefined ? {} : { deadlineInMs }) };
}

function outcome(response: SyncResponse): string {
  const [result] = response.results;
  return result === undefined ? 'no result' : result.ok ? 'ok' : `${ErrorCode[result.errorCode]}: ${result.message}`;
}

async function running(pid: number, timeoutMs = 5_000): Promise<void> {
  await eventually(`${NAME} ${pid} running again`, async () => ((await state(pid)) === 'S' ? true : undefined), timeoutMs, 20);
}

async function nothingLeft(journal: string): Promise<void> {
  await eventually('no guard process left', async () => ((await guards()).length === 0 ? true : undefined));
  assert.deepEqual(await journalFiles(journal), [], 'no journal file left');
}

test('held: the kubelet is stopped while the injection is active and runs again after its revert; the guard ends with it', async () => {
  const journal = journalDir('held');
  const pid = await startStandIn();
  const daemon = await startDaemon(journal);
  assert.ok((await daemon.client.capabilities()).faultKinds.includes(FaultKind.KUBELET_STOP), 'Capabilities offers kubelet-stop');
  const synced = await daemon.client.sync(EXP, 30_000, [kubeletStop()]);
  assert.equal(outcome(synced), 'ok');
  assert.equal(synced.results[0]?.injection?.phase, Phase.ACTIVE);
  assert.equal(synced.results[0]?.injection?.pid, pid, 'the status names the kubelet\'s pid');
  assert.equal(synced.results[0]?.injection?.target?.node, true);
  assert.equal(await state(pid), 'T', 'stopped');
  const [guard] = await guards();
  assert.ok(guard !== undefined, 'a guard runs while it is stopped');
  const environ = await readFile(`/proc/${guard}/environ`, 'latin1');
  assert.match(environ, /(^|\0)KERRIS_HELD=[0-9a-f]{32}\0/, 'the guard carries its marker');
  assert.equal((await readFile(`/proc/${guard}/stat`, 'utf8')).split(') ')[1]?.split(' ')[3], String(guard), 'in a session of its own');
  // Held a while: nothing continues it but the revert.
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  assert.equal(await state(pid), 'T', 'still stopped a second later');

  const removed = await daemon.client.sync(EXP, 30_000, []);
  assert.deepEqual(removed.removed, [ID]);
  assert.equal(await state(pid), 'S', 'continued by the revert');
  await nothingLeft(journal);
});

test('a kubelet-stop is put on the node only, and the node only gets node faults', async () => {
  const pid = await startStandIn();
  const daemon = await startDaemon(journalDir('scope'));
  const response = await daemon.client.sync(EXP, 30_000, [
    { id: 'a', target: { containerId: 'c1' }, fault: { kind: 'kubelet-stop' } },
    { id: 'b', target: { node: true }, fault: { kind: 'container-freeze' } },
  ]);
  assert.deepEqual(response.results.map((r) => [r.id, ErrorCode[r.errorCode]]), [['a', 'INVALID'], ['b', 'INVALID']]);
  assert.match(response.results[0]?.message ?? '', /kubelet-stop is a node fault/);
  assert.match(response.results[1]?.message ?? '', /container-freeze is put on a container/);
  assert.equal(await state(pid), 'S');
  await nothingLeft(journalDir('scope'));
});

test('at its deadline the kubelet runs again, and the injection is listed as done', async (t) => {
  const journal = journalDir('deadline');
  const pid = await startStandIn();
  const daemon = await startDaemon(journal);
  assert.equal(outcome(await daemon.client.sync(EXP, 30_000, [kubeletStop(1_500)])), 'ok');
  assert.equal(await state(pid), 'T');
  const started = performance.now();
  await running(pid, 5_000);
  const waited = performance.now() - started;
  assert.ok(waited < 3_500, `continued ${Math.round(waited)} ms after the sync, deadline 1500 ms`);
  t.diagnostic(`continued ${Math.round(waited)} ms after the sync returned (deadline 1500 ms from its receipt)`);
  await eventually('phase done', async () => {
    const [listed] = (await daemon.client.list({ experiment: EXP })).injections;
    return listed?.phase === Phase.DONE && /ended at its deadline/.test(listed.summary) ? true : undefined;
  });
  assert.equal(outcome(await daemon.client.sync(EXP, 30_000, [kubeletStop(1_500)])), 'ok', 'a repeated Sync does not stop it again');
  assert.equal(await state(pid), 'S');
  await daemon.client.sync(EXP, 30_000, []);
  await nothingLeft(journal);
});

test('a lease that lapses continues the kubelet', async () => {
  const journal = journalDir('lease');
  const pid = await startStandIn();
  const daemon = await startDaemon(journal);
  assert.equal(outcome(await daemon.client.sync(EXP, 1_000, [kubeletStop()])), 'ok');
  assert.equal(await state(pid), 'T');
  await running(pid, 4_000);
  await eventually('the injection reverted and forgotten', async () => ((await daemon.client.list({})).injections.length === 0 ? true : undefined));
  await nothingLeft(journal);
});

test('a SIGKILLed daemon: the guard continues the kubelet within a second; the next daemon reverts and drops the record', async (t) => {
  const journal = journalDir('kill');
  const pid = await startStandIn();
  const first = await startDaemon(journal);
  assert.equal(outcome(await first.client.sync(EXP, 60_000, [kubeletStop(600_000)])), 'ok');
  assert.equal(await state(pid), 'T');
  assert.equal((await journalFiles(journal)).length, 1, 'journaled');
  const killedAt = performance.now();
  await first.stop('SIGKILL');
  await running(pid, 3_000);
  const took = performance.now() - killedAt;
  assert.ok(took < 1_500, `continued ${Math.round(took)} ms after the daemon died`);
  t.diagnostic(`the guard continued the kubelet ${Math.round(took)} ms after the SIGKILL`);
  await eventually('the guard exits once it continued the kubelet', async () => ((await guards()).length === 0 ? true : undefined));

  const second = await startDaemon(journal);
  assert.deepEqual((await second.client.list({})).injections, [], 'not adopted, although its lease and deadline hold');
  assert.ok(second.logs.some((l) => l['msg'] === 'reconcile: reverting and dropping an injection its kind never adopts after a restart' && l['id'] === ID));
  assert.equal(await state(pid), 'S');
  await nothingLeft(journal);
  // The controller puts it on again if its experiment still holds.
  assert.equal(outcome(await second.client.sync(EXP, 60_000, [kubeletStop()])), 'ok');
  assert.equal(await state(pid), 'T');
  await second.client.sync(EXP, 60_000, []);
  assert.equal(await state(pid), 'S');
  await nothingLeft(journal);
});

test('a daemon that starts while the kubelet is still stopped (its guard gone too) continues it at once', async () => {
  const journal = journalDir('restart');
  const pid = await startStandIn();
  const first = await startDaemon(journal);
  assert.equal(outcome(await first.client.sync(EXP, 60_000, [kubeletStop()])), 'ok');
  // The worst case: the guard gone before the daemon (killed by hand), the kubelet still stopped.
  for (const guard of await guards()) process.kill(guard, 'SIGKILL');
  await first.stop('SIGKILL');
  assert.equal(await state(pid), 'T', 'nothing continued it');
  await startDaemon(journal);
  assert.equal(await state(pid), 'S', 'continued before the daemon served');
  await nothingLeft(journal);
});

test('two processes of the name: refused with both named, nothing stopped; none: refused, and not offered', async () => {
  const journal = journalDir('two');
  const one = await startStandIn();
  const two = await startStandIn();
  const daemon = await startDaemon(journal);
  assert.ok(!(await daemon.client.capabilities()).faultKinds.includes(FaultKind.KUBELET_STOP), 'not offered while it is ambiguous');
  const refused = await daemon.client.sync(EXP, 30_000, [kubeletStop()]);
  assert.equal(refused.results[0]?.errorCode, ErrorCode.INVALID);
  const message = refused.results[0]?.message ?? '';
  assert.match(message, new RegExp(`2 processes named ${NAME}`));
  assert.ok(message.includes(String(one)) && message.includes(String(two)), message);
  assert.deepEqual([await state(one), await state(two)], ['S', 'S'], 'nothing stopped');
  await nothingLeft(journal);

  const none = await startDaemon(journalDir('none'), 'kubelet-kt-none');
  assert.ok(!(await none.client.capabilities()).faultKinds.includes(FaultKind.KUBELET_STOP), 'not offered without a kubelet');
  const missing = await none.client.sync(EXP, 30_000, [kubeletStop()]);
  assert.equal(missing.results[0]?.errorCode, ErrorCode.UNAVAILABLE);
  assert.match(missing.results[0]?.message ?? '', /no process named kubelet-kt-none/);
});

/** A journaled kubelet-stop record of a daemon that was SIGKILLed (its guard then continued the stand-in). */
async function journaledRecord(journal: string, pid: number): Promise<string> {
  const daemon = await startDaemon(journal);
  assert.equal(outcome(await daemon.client.sync(EXP, 60_000, [kubeletStop()])), 'ok');
  await daemon.stop('SIGKILL');
  await running(pid);
  const [file] = await journalFiles(journal);
  return join(journal, file ?? assert.fail('no journal file'));
}

test('tampered records (another signal, another process) are set aside as unsafe-plan, unrun', async () => {
  const pid = await startStandIn();
  type StoredPlan = { apply: Array<Record<string, unknown>>; revert: Array<Record<string, unknown>> };
  const tampers: Record<string, (plan: StoredPlan, decoy: { pid: number; startTime: number }) => void> = {
    // SIGKILL instead of SIGCONT: the stand-in would die.
    kill: (plan) => { const [cont] = plan.revert; if (cont !== undefined) cont['signal'] = 'SIGKILL'; },
    // The revert aimed at another process of the name, which someone else stopped: it would be continued.
    other: (plan, decoy) => { const [cont] = plan.revert; if (cont !== undefined) cont['process'] = decoy; },
  };
  for (const [name, tamper] of Object.entries(tampers)) {
    const journal = journalDir(`tamper-${name}`);
    const file = await journaledRecord(journal, pid);
    // Started after the record was written (two of the name would have been refused), and stopped by the test.
    const decoy = await startStandIn();
    process.kill(decoy, 'SIGSTOP');
    const decoyStart = Number((await readFile(`/proc/${decoy}/stat`, 'utf8')).split(') ')[1]?.split(' ')[19]);
    const envelope = JSON.parse(await readFile(file, 'utf8')) as { value: { plan: StoredPlan } };
    tamper(envelope.value.plan, { pid: decoy, startTime: decoyStart });
    await writeFile(file, JSON.stringify(envelope));
    const daemon = await startDaemon(journal);
    const damage = (await daemon.client.capabilities()).journalDamage;
    assert.deepEqual(damage.map((d) => d.kind), ['unsafe-plan'], `${name}: ${JSON.stringify(damage)}`);
    assert.match(damage[0]?.movedTo ?? '', /^damaged\//);
    assert.deepEqual((await daemon.client.list({})).injections, []);
    assert.equal(await state(pid), 'S', `${name}: the stand-in lives, running`);
    assert.equal(await state(decoy), 'T', `${name}: the decoy was not signalled`);
    await nothingLeft(journal);
    await daemon.stop('SIGKILL');
    process.kill(decoy, 'SIGCONT');
    process.kill(decoy, 'SIGKILL');
  }
});
