/**
 * The stress fault on a real containerd, kernel and cgroups (this host is a v1/v2 hybrid: CPU and memory are counted
 * in the v1 cpuacct and memory hierarchies): stress-ng's load and memory as the container's own cgroup counts them,
 * stressors only ever working inside it, gone after a revert and at the deadline, kept and then ended by a daemon
 * restarted after a SIGKILL, and tampered journal records set aside without acting on them.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { ErrorCode, Phase, type InjectionInput, type SyncResponse } from '../../src/daemon/client.ts';
import { DaemonFixture, eventually, journalFiles, type RunningDaemon } from './daemon-fixture.ts';

const EXP = 'exp-stress';
const MIB = 1024 * 1024;
const MIB_N = 1024n * 1024n;

let fixture: DaemonFixture;
let daemon: RunningDaemon;

before(async () => {
  fixture = await DaemonFixture.create('str');
  daemon = await fixture.startDaemon();
});

after(async () => {
  await fixture?.cleanup();
});

function outcomes(response: SyncResponse): Array<[string, string]> {
  return response.results.map((r) => [r.id, r.ok ? 'ok' : `${ErrorCode[r.errorCode]}: ${r.message}`]);
}

function cgroupFile(controller: string, id: string, file: string): string {
  return join('/sys/fs/cgroup', controller, fixture.containerd.cgroupParent, id, file);
}

async function cpuNs(id: string): Promise<number> {
  return Number((await readFile(cgroupFile('cpuacct', id, 'cpuacct.usage'), 'utf8')).trim());
}

/** The kubelet's working set on cgroup v1: usage less the inactive file cache. */
async function workingSet(id: string): Promise<number> {
  const usage = Number((await readFile(cgroupFile('memory', id, 'memory.usage_in_bytes'), 'utf8')).trim());
  const stat = await readFile(cgroupFile('memory', id, 'memory.stat'), 'utf8');
  return usage - Number(/^total_inactive_file (\d+)$/m.exec(stat)?.[1]);
}

/** CPU the container used per second over `ms`, in cores. */
async function cores(id: string, ms: number): Promise<number> {
  const start = await cpuNs(id);
  const t0 = performance.now();
  await sleep(ms);
  return (await cpuNs(id) - start) / ((performance.now() - t0) * 1e6);
}

interface ProcessSeen {
  pid: number;
  state: string;
  exe: string | undefined;
  cgroup: string;
}

/** Process `pid` as it is now, if it is a stressor: stress-ng, or the launcher (node held-launcher.*). */
async function stressor(pid: string): Promise<ProcessSeen | undefined> {
  const [cmdline, stat, cgroup, exe] = await Promise.all([
    readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => ''), readFile(`/proc/${pid}/stat`, 'utf8').catch(() => ''),
    readFile(`/proc/${pid}/cgroup`, 'utf8').catch(() => ''), readlink(`/proc/${pid}/exe`).catch(() => undefined),
  ]);
  const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
  if (!comm.startsWith('stress-ng') && !cmdline.includes('held-launcher')) return undefined;
  return { pid: Number(pid), state: stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0] ?? '', exe, cgroup };
}

/** Every stressor process on the host. */
async function stressorProcesses(): Promise<ProcessSeen[]> {
  const seen: ProcessSeen[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const found = await stressor(entry);
    if (found !== undefined) seen.push(found);
  }
  return seen;
}

/**
 * Stressor processes seen until `done()`, as often as possible: only processes newer than the watch (pids not there
 * at its start; pids wrap) are looked for, so each round costs a readdir, and each found one is read every round.
 */
async function watchStressors(done: () => boolean): Promise<ProcessSeen[]> {
  const numeric = async (): Promise<number[]> => (await readdir('/proc')).filter((e) => /^\d+$/.test(e)).map(Number);
  const before = new Set(await numeric());
  const seen: ProcessSeen[] = [];
  const known = new Set<number>();
  const looked = new Set<number>();
  while (!done()) {
    for (const pid of await numeric()) {
      if (before.has(pid) || looked.has(pid)) continue;
      looked.add(pid);
      if (await stressor(String(pid)) !== undefined) known.add(pid);
      // The daemon's child before its execve of the launcher is the daemon (node) still: looked at again next round.
      else if ((await readlink(`/proc/${pid}/exe`).catch(() => undefined)) === process.execPath) looked.delete(pid);
    }
    for (const pid of known) {
      const found = await stressor(String(pid));
      if (found !== undefined) seen.push(found);
    }
  }
  return seen;
}

/** The stressors once stress-ng has forked its `count` worker processes. */
async function heldStressors(count: number): Promise<number[]> {
  return eventually(`${count} stressor processes`, async () => {
    const live = (await stressorProcesses()).filter((p) => p.state !== 'Z');
    return live.length >= count ? live.map((p) => p.pid).sort() : undefined;
  });
}

async function noStressorsLeft(): Promise<void> {
  await eventually('no stressor process anywhere on the host', async () => ((await stressorProcesses()).length === 0 ? true : undefined), 10_000);
}

function inContainer(p: ProcessSeen, id: string): boolean {
  const path = `${fixture.containerd.cgroupParent}/${id}`;
  return ['cpuacct', 'memory'].every((controller) => p.cgroup.split('\n').some((l) => l.split(':')[1]?.split(',').includes(controller) && l.endsWith(`:${path}`)));
}

function stress(id: string, containerId: string, stressors: Extract<InjectionInput['fault'], { kind: 'stress' }>['stressors'], deadlineInMs?: number): InjectionInput {
  return { id, target: { containerId }, fault: { kind: 'stress', stressors }, ...(deadlineInMs === undefined ? {} : { deadlineInMs }) };
}

test('Capabilities offers stress where stress-ng is installed; out-of-bounds stressors are refused with the field and its bounds', async () => {
  assert.ok((await daemon.client.capabilities()).faultKinds.includes(4), 'FAULT_KIND_STRESS');
  await fixture.runContainer('bad1');
  const refused = await daemon.client.sync(EXP, 30_000, [
    stress('bad-1', 'bad1', { cpu: { workers: 65, load: 50 } }), stress('bad-2', 'bad1', { cpu: { workers: 1, load: 0 } }),
    stress('bad-3', 'bad1', { memory: { workers: 1, sizeBytes: 1000n } }), stress('bad-4', 'bad1', {}),
  ]);
  assert.deepEqual(outcomes(refused).map(([id, o]) => [id, o.split(':')[0]]), [['bad-1', 'INVALID'], ['bad-2', 'INVALID'], ['bad-3', 'INVALID'], ['bad-4', 'INVALID']]);
  assert.match(refused.results[0]?.message ?? '', /cpu workers 65 must be between 1 and 64/);
  assert.match(refused.results[2]?.message ?? '', /memory size 1000 bytes must be between 1048576/);
  assert.match(refused.results[3]?.message ?? '', /needs a cpu or a memory stressor/);
  assert.deepEqual(await stressorProcesses(), []);
  await fixture.removeContainer('bad1');
});

test('cpu load 50 with one worker: the container\'s own cgroup counts half a core over 10 s, the stressors are only ever in it, and a revert leaves nothing', async () => {
  await fixture.runContainer('cpu1');
  const idle = await cores('cpu1', 1_000);
  // Watches every stressor process while the fault goes on: where it is and what it runs, as often as it can.
  let watching = true;
  const watcher = watchStressors(() => !watching);
  const result = await daemon.client.sync(EXP, 60_000, [stress('cpu-1', 'cpu1', { cpu: { workers: 1, load: 50 } })]);
  await heldStressors(2);
  watching = false;
  const seen = await watcher;
  assert.deepEqual(outcomes(result), [['cpu-1', 'ok']]);
  assert.equal(result.results[0]?.injection?.phase, Phase.ACTIVE);
  assert.match(result.results[0]?.injection?.summary ?? '', /cpu 1 worker\(s\) at 50%/);
  const stressNg = seen.filter((p) => p.exe?.endsWith('/stress-ng') === true);
  assert.ok(stressNg.length > 0, 'stress-ng was seen');
  assert.deepEqual(stressNg.filter((p) => !inContainer(p, 'cpu1')), [], 'stress-ng never ran outside the container\'s cgroups');
  const stoppedOutside = seen.filter((p) => p.exe?.endsWith('/stress-ng') !== true && p.state === 'T');
  assert.ok(stoppedOutside.length > 0, 'the launcher was seen stopped before it was continued');

  const live = await stressorProcesses();
  assert.ok(live.length >= 2, `stress-ng and its worker: ${JSON.stringify(live)}`);
  assert.deepEqual(live.filter((p) => !inContainer(p, 'cpu1')), [], 'every stressor is in the container\'s cpuacct and memory cgroups');

  const first = await daemon.client.list({ evidence: true });
  const load = await cores('cpu1', 10_000);
  const evidence = (await daemon.client.list({ evidence: true })).injections[0]?.stress;
  process.stderr.write(`cpu load 50: idle ${idle.toFixed(3)} cores, stressed ${load.toFixed(3)} cores over 10 s; evidence ${JSON.stringify(evidence, (_, v: unknown) => (typeof v === 'bigint' ? String(v) : v))}\n`);
  assert.ok(load >= 0.4 && load <= 0.6, `0.5 ± 0.1 of a core, got ${load}`);
  assert.ok(first.injections[0]?.stress !== undefined, 'evidence from the first List');
  assert.equal(first.injections[0]?.stress?.now, undefined, 'no CPU reading yet at the first List: its window would be shorter than 5 s');
  assert.ok(evidence !== undefined && evidence.now !== undefined && evidence.before !== undefined);
  assert.ok(evidence.before.cpuMillicores < 100, `before: ${evidence.before.cpuMillicores} millicores`);
  assert.ok(evidence.now.windowMs >= 9_000, `the window since the previous reading: ${evidence.now.windowMs} ms`);
  assert.ok(Math.abs(evidence.now.cpuMillicores - load * 1000) <= 100, `evidence ${evidence.now.cpuMillicores} millicores agrees with ${Math.round(load * 1000)}`);
  assert.equal(evidence.stressors, live.length);

  const recovered = await daemon.client.sync(EXP, 60_000, []);
  assert.deepEqual([recovered.removed, recovered.revertFailed], [['cpu-1'], []]);
  await noStressorsLeft();
  const after = await cores('cpu1', 2_000);
  assert.ok(after < 0.1, `load falls back: ${after} cores`);
  assert.deepEqual(await journalFiles(fixture.journalDir), []);
  await fixture.removeContainer('cpu1');
});

test('memory 64 MiB with one worker: the working set rises by 64 MiB ± 10% at the oom_score_adj asked, and the deadline takes it away', async () => {
  await fixture.runContainer('mem1');
  const before = await workingSet('mem1');
  const result = await daemon.client.sync(EXP, 60_000, [stress('mem-1', 'mem1', { memory: { workers: 1, sizeBytes: 64n * 1024n * 1024n, oomScoreAdj: 100 } }, 15_000)]);
  assert.deepEqual(outcomes(result), [['mem-1', 'ok']]);
  // The first List starts the evidence's window; a reading comes with the first List 5 s or more after it.
  await daemon.client.list({ evidence: true });
  await eventually('the memory to be held', async () => ((await workingSet('mem1')) - before > 60 * MIB ? true : undefined), 10_000);
  const evidence = await eventually('a reading while stressed', async () => {
    const stress = (await daemon.client.list({ evidence: true })).injections[0]?.stress;
    return stress?.now === undefined ? undefined : stress;
  }, 10_000, 500);
  const rise = (await workingSet('mem1')) - before;
  process.stderr.write(`memory 64 MiB: working set ${(before / MIB).toFixed(1)} MiB before, +${(rise / MIB).toFixed(2)} MiB stressed; evidence ${JSON.stringify(evidence, (_, v: unknown) => (typeof v === 'bigint' ? String(v) : v))}\n`);
  assert.ok(Math.abs(rise - 64 * MIB) <= 6.4 * MIB, `64 MiB ± 10%, rose ${rise / MIB} MiB`);
  const live = await stressorProcesses();
  for (const p of live) {
    assert.ok(inContainer(p, 'mem1'), `${p.pid} in the container's cgroups`);
    assert.equal((await readFile(`/proc/${p.pid}/oom_score_adj`, 'utf8')).trim(), '100', `${p.pid}'s oom_score_adj`);
  }
  assert.ok(evidence?.now !== undefined && evidence.before !== undefined);
  const evidenceRise = Number(evidence.now.memoryWorkingSetBytes - evidence.before.memoryWorkingSetBytes);
  assert.ok(Math.abs(evidenceRise - rise) <= 4 * MIB, `the evidence's rise ${evidenceRise / MIB} MiB agrees with ${rise / MIB} MiB`);

  await eventually('the deadline to end it', async () => ((await daemon.client.list()).injections[0]?.phase === Phase.DONE ? true : undefined), 20_000);
  await noStressorsLeft();
  const rest = (await workingSet('mem1')) - before;
  assert.ok(rest < 4 * MIB, `the working set falls back: ${rest / MIB} MiB over before`);
  assert.deepEqual((await daemon.client.sync(EXP, 60_000, [])).removed, ['mem-1']);
  await fixture.removeContainer('mem1');
});

test('a memory stressor the container\'s limit OOM-kills is reported on the injection, with no stressors left, and not started again', async () => {
  await fixture.runContainer('oom1');
  // The container's own limit, as a pod's resources.limits.memory would set it.
  await writeFile(cgroupFile('memory', 'oom1', 'memory.limit_in_bytes'), String(32 * MIB));
  const result = await daemon.client.sync(EXP, 60_000, [stress('oom-1', 'oom1', { memory: { workers: 1, sizeBytes: 64n * MIB_N, oomScoreAdj: 1000 } })]);
  assert.deepEqual(outcomes(result), [['oom-1', 'ok']]);
  const [file] = await journalFiles(fixture.journalDir);
  type Journaled = { value: { error?: string; plan: { revert: Array<{ process?: { pid: number; startTime: number } }> } } };
  const journaled = async (): Promise<Journaled> => JSON.parse(await readFile(join(fixture.journalDir, file ?? ''), 'utf8')) as Journaled;
  const started = (await journaled()).value.plan.revert[0]?.process;
  assert.ok(started !== undefined, 'the stressor is journaled by pid and start time');
  const failed = await eventually('the injection to report its stressor\'s end', async () => {
    const status = (await daemon.client.list({ evidence: true })).injections[0];
    return status?.error !== '' && status?.stress?.stressors === 0 ? status : undefined;
  }, 15_000);
  assert.equal(failed.phase, Phase.ACTIVE, 'still held until reverted');
  assert.match(failed.error, /a held process ended on its own .*not restarted/);
  const oomKills = /^oom_kill (\d+)$/m.exec(await readFile(cgroupFile('memory', 'oom1', 'memory.oom_control'), 'utf8'))?.[1];
  assert.ok(Number(oomKills) >= 1, `the kernel's OOM killer ended it (oom_kill ${oomKills})`);
  assert.deepEqual(await stressorProcesses(), [], 'none left, and none started again');
  const after = (await journaled()).value;
  assert.deepEqual(after.plan.revert[0]?.process, started, 'the journal still names the one stressor it started: none was started again');
  assert.match(after.error ?? '', /ended on its own/, 'journaled');
  assert.deepEqual((await daemon.client.sync(EXP, 60_000, [])).removed, ['oom-1'], 'its revert has nothing left to kill');
  await fixture.removeContainer('oom1');
});

test('a daemon SIGKILLed while stressing: a new one on its journal keeps the stressors while the lease holds and ends them when it lapses', async () => {
  const journalDir = join(fixture.dir, 'journal-restart');
  await fixture.runContainer('rst1');
  const first = await fixture.startDaemon([], { journalDir });
  const synced = await first.client.sync('exp-restart', 12_000, [stress('rst-1', 'rst1', { cpu: { workers: 1, load: 20 } })]);
  assert.deepEqual(outcomes(synced), [['rst-1', 'ok']]);
  const lapsesAt = performance.now() + 12_000;
  const held = await heldStressors(2);
  await first.stop('SIGKILL');
  assert.deepEqual((await stressorProcesses()).map((p) => p.pid).sort(), held, 'the stressors outlive the daemon');

  const second = await fixture.startDaemon([], { journalDir });
  const listed = await second.client.list({ evidence: true });
  assert.deepEqual(listed.injections.map((i) => [i.id, i.phase, i.error]), [['rst-1', Phase.ACTIVE, '']]);
  assert.equal(listed.injections[0]?.stress?.stressors, held.length, 'found again, by pid and start time');
  assert.ok(performance.now() < lapsesAt - 1_000, 'checked while the lease still holds');
  assert.deepEqual((await stressorProcesses()).map((p) => p.pid).sort(), held, 'kept while the lease holds');

  await eventually('the lapsed lease to end the stressors', async () => ((await stressorProcesses()).length === 0 ? true : undefined), 20_000);
  assert.ok(performance.now() >= lapsesAt - 500, 'not before the lease lapsed');
  await eventually('the journal to be empty', async () => ((await journalFiles(journalDir)).length === 0 ? true : undefined));
  assert.deepEqual((await second.client.list()).injections, []);
  await second.stop('SIGKILL');
  await fixture.removeContainer('rst1');
});

test('tampered stress records are set aside, not acted on: another program to run, or a live process that is not the stressor', async () => {
  const journalDir = join(fixture.dir, 'journal-tamper');
  await fixture.runContainer('tmp1');
  const first = await fixture.startDaemon([], { journalDir });
  assert.deepEqual(outcomes(await first.client.sync('exp-tamper', 60_000, [stress('tmp-1', 'tmp1', { cpu: { workers: 1, load: 10 } })])), [['tmp-1', 'ok']]);
  await first.stop('SIGKILL');
  const [file] = await journalFiles(journalDir);
  assert.ok(file !== undefined);
  const genuine = JSON.parse(await readFile(join(journalDir, file), 'utf8')) as { value: { phase: string; plan: { apply: Array<{ argv: string[] }>; revert: Array<{ process?: { pid: number; startTime: number } }> } } };
  const held = await heldStressors(2);

  // A bystander in a session of its own, named as the record's stressor.
  const bystander = spawn('/bin/sleep', ['300'], { detached: true, stdio: 'ignore' });
  bystander.unref();
  const bystanderPid = bystander.pid ?? 0;
  const startTime = Number((await readFile(`/proc/${bystanderPid}/stat`, 'utf8')).split(') ')[1]?.split(' ')[19]);
  const otherProgram = structuredClone(genuine);
  const [spawnStep] = otherProgram.value.plan.apply;
  assert.ok(spawnStep !== undefined);
  spawnStep.argv[0] = '/bin/sh';
  const notTheStressor = structuredClone(genuine);
  notTheStressor.value.phase = 'applying';
  const [killStep] = notTheStressor.value.plan.revert;
  assert.ok(killStep !== undefined);
  killStep.process = { pid: bystanderPid, startTime };
  await writeFile(join(journalDir, file), JSON.stringify(otherProgram));
  await writeFile(join(journalDir, 'injection-tampered.json'), JSON.stringify(notTheStressor));

  const second = await fixture.startDaemon([], { journalDir });
  try {
    const damage = (await second.client.capabilities()).journalDamage.map((d) => [d.file, d.kind, d.reason]).sort();
    assert.deepEqual(damage.map(([f, k]) => [f, k]), [[file, 'unsafe-plan'], ['injection-tampered.json', 'unsafe-plan']].sort());
    assert.match(damage.find(([f]) => f === file)?.[2] ?? '', /runs "\/bin\/sh", not stress-ng/);
    assert.match(damage.find(([f]) => f === 'injection-tampered.json')?.[2] ?? '', /not the held process the record names/);
    assert.deepEqual((await second.client.list()).injections, [], 'neither record is held');
    // Set aside means untouched: the bystander lives, and so do the genuine stressors of the record that was altered.
    await sleep(1_000);
    assert.equal((await readFile(`/proc/${bystanderPid}/stat`, 'utf8')).split(') ')[1]?.split(' ')[0] !== 'Z', true, 'the bystander is alive');
    assert.deepEqual((await stressorProcesses()).map((p) => p.pid).sort(), held);
  } finally {
    process.kill(bystanderPid, 'SIGKILL');
    for (const pid of held) process.kill(pid, 'SIGKILL');
    await second.stop('SIGKILL');
  }
  await noStressorsLeft();
  await fixture.removeContainer('tmp1');
});
