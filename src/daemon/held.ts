/**
 * Processes a fault holds for its life (stress-ng's stressors): started stopped, put into the target's cgroups, then
 * continued; ended with SIGKILL to their whole session. A spawn step's launcher (held-launcher.ts) starts in a
 * session of its own (setsid), so the session ID is its pid and every process it forks stays in that session;
 * the kernel keeps a session's ID allocated while any member lives, so "the session of pid P, started no earlier
 * than P" names exactly the held tree. stress-ng rewrites its workers' argv and environment memory (their process
 * titles), so the marker in the environment only finds the launcher and the stress-ng parent: it is for a daemon
 * that stopped between starting the launcher and journaling its pid, when the launcher is still stopped.
 */
import { spawn } from 'node:child_process';
import { readdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { DaemonError, errorMessage } from './errors.ts';
import type { HeldProcess, KillStep, Plan, SpawnStep } from './plan.ts';
import { until } from './proc.ts';

/** The environment variable carrying a spawn step's marker. */
export const MARKER_ENV = 'KERRIS_HELD';
export const MARKER_PATTERN = /^[0-9a-f]{32}$/;
/** The launcher beside this file: .ts when the daemon runs from source, .js in its build. */
const LAUNCHER = join(import.meta.dirname, `held-launcher${extname(import.meta.filename)}`);

/** The fields of /proc/<pid>/stat the daemon uses; the comm field may hold anything, so fields count from the last ')'. */
export interface ProcStat {
  state: string;
  session: number;
  startTime: number;
}

export function parseStat(text: string): ProcStat | undefined {
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state); field 6 is the session, field 22 the start time.
  const session = Number(fields[3]);
  const startTime = Number(fields[19]);
  const state = fields[0];
  if (state === undefined || !Number.isInteger(session) || !Number.isInteger(startTime)) return undefined;
  return { state, session, startTime };
}

async function procStat(pid: number): Promise<ProcStat | undefined> {
  const text = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  return text === undefined ? undefined : parseStat(text);
}

/** Alive: the same process (pid and start time), not a zombie. */
export async function isAlive(process: HeldProcess): Promise<boolean> {
  const stat = await procStat(process.pid);
  return stat !== undefined && stat.startTime === process.startTime && stat.state !== 'Z';
}

async function pids(): Promise<number[]> {
  return (await readdir('/proc')).filter((e) => /^[1-9][0-9]*$/.test(e)).map(Number);
}

/**
 * Live processes of `leader`'s session: the held tree, the leader included. A session's ID stays allocated while any
 * member lives, so when pid `leader.pid` now names another process (another start time) the held tree is all gone,
 * and that process's session, whatever it is, is not looked at.
 */
export async function sessionMembers(leader: HeldProcess): Promise<number[]> {
  const now = await procStat(leader.pid);
  if (now !== undefined && now.startTime !== leader.startTime) return [];
  const members: number[] = [];
  for (const pid of await pids()) {
    const stat = await procStat(pid);
    if (stat !== undefined && stat.session === leader.pid && stat.startTime >= leader.startTime && stat.state !== 'Z') members.push(pid);
  }
  return members;
}

/** Whether process `pid` carries `marker` in its environment (the launcher, and the stress-ng parent it becomes). */
export async function carriesMarker(pid: number, marker: string): Promise<boolean> {
  const environ = await readFile(`/proc/${pid}/environ`, 'latin1').catch(() => undefined);
  return environ !== undefined && `\0${environ}`.includes(`\0${MARKER_ENV}=${marker}\0`);
}

/** Session leaders whose environment carries `marker`: a launcher (or the stress-ng it became) whose pid was not journaled. */
async function markedLeaders(marker: string): Promise<HeldProcess[]> {
  const found: HeldProcess[] = [];
  for (const pid of await pids()) {
    if (!await carriesMarker(pid, marker)) continue;
    const stat = await procStat(pid);
    if (stat !== undefined && stat.session === pid && stat.state !== 'Z') found.push({ pid, startTime: stat.startTime });
  }
  return found;
}

/** A cgroup.procs file under the cgroup mount, without `..`, NUL or newline: where a held process may be written. */
export function isCgroupProcsFile(file: string): boolean {
  return file.startsWith('/sys/fs/cgroup/') && file.endsWith('/cgroup.procs') && !file.split('/').includes('..') && !/[\0\n]/.test(file);
}

/** Writes `pid` into each cgroup.procs file, then checks that each lists it (a write the kernel refused silently). */
export async function moveIntoCgroups(pid: number, files: readonly string[], what: string): Promise<void> {
  for (const file of files) await writeFile(file, `${pid}\n`);
  for (const file of files) {
    if (!(await readFile(file, 'utf8')).split('\n').includes(String(pid))) throw new DaemonError('failed', `${file} does not list the ${what} ${pid} after it was written there`);
  }
}

function checkSpawn(step: SpawnStep): void {
  const bad = (what: string): never => { throw new TypeError(`spawn step: ${what}`); };
  if (!MARKER_PATTERN.test(step.marker)) bad(`marker ${JSON.stringify(step.marker)} is not ${MARKER_PATTERN.source}`);
  if (!step.argv[0]?.startsWith('/') || step.argv.some((a) => a.includes('\0'))) bad('argv[0] must be an absolute path and no argument may hold a NUL');
  for (const file of step.cgroups) if (!isCgroupProcsFile(file)) bad(`${JSON.stringify(file)} is not a cgroup.procs file`);
  if (!Number.isInteger(step.oomScoreAdj) || step.oomScoreAdj < -1000 || step.oomScoreAdj > 1000) bad(`oom_score_adj ${step.oomScoreAdj}`);
}

export interface SpawnOptions {
  /** Called with the stopped launcher's identity before it is attached or continued: journals it. */
  started: (process: HeldProcess) => Promise<void>;
  timeoutMs: number;
}

/**
 * Starts `step`'s process: the launcher in its own session, stopped; then `started` (the journal), the writes into
 * every cgroup and oom_score_adj, a check that each cgroup lists it, and SIGCONT; returns once it is `argv[0]`.
 * On any failure the launcher is killed (it never ran a stressor) and the error thrown.
 */
export async function spawnHeld(step: SpawnStep, options: SpawnOptions): Promise<HeldProcess> {
  checkSpawn(step);
  const [file] = step.argv;
  const child = spawn(process.execPath, ['--max-old-space-size=16', LAUNCHER, ...step.argv], {
    detached: true, stdio: 'ignore', cwd: '/', env: { PATH: '/usr/local/bin:/usr/bin:/bin', [MARKER_ENV]: step.marker },
  });
  let exited: string | undefined;
  child.once('exit', (code, signal) => { exited = `exited with ${signal ?? code}`; });
  const failedToStart = new Promise<never>((_, reject) => child.once('error', reject));
  failedToStart.catch(() => undefined);
  // The held process outlives a daemon restart (its lease and deadline still bind it); nothing here waits for it.
  child.unref();
  const pid = child.pid;
  if (pid === undefined) throw new DaemonError('failed', `could not start the launcher: ${await failedToStart.catch(errorMessage)}`);
  let held: HeldProcess | undefined;
  try {
    held = await until('the launcher to stop itself', options.timeoutMs, async () => {
      if (exited !== undefined) throw new DaemonError('failed', `the launcher ${exited} before it stopped`);
      const stat = await procStat(pid);
      return stat?.state === 'T' ? { pid, startTime: stat.startTime } : undefined;
    });
    await options.started(held);
    // Still stopped: nothing runs before it is in every cgroup of the target.
    await moveIntoCgroups(pid, step.cgroups, 'launcher');
    await writeFile(`/proc/${pid}/oom_score_adj`, `${step.oomScoreAdj}\n`);
    process.kill(pid, 'SIGCONT');
    await until(`${file} to start`, options.timeoutMs, async () => {
      if (exited !== undefined) throw new DaemonError('failed', `${file} ${exited} as it started`);
      const exe = await readlink(`/proc/${pid}/exe`).catch(() => undefined);
      return exe !== undefined && exe !== process.execPath ? true : undefined;
    });
    return held;
  } catch (error) {
    // Stopped or just continued, it is killed with whatever it forked; the caller's revert finds nothing left.
    await killHeld({ kind: 'kill', marker: step.marker, ...(held === undefined ? {} : { process: held }) }, options.timeoutMs).catch(() => undefined);
    throw error;
  }
}

/**
 * SIGKILLs the held tree of `step` (its journaled process's session, and any marked launcher's) until none is left,
 * so that nothing can fork past it. Already gone is done.
 */
export async function killHeld(step: KillStep, timeoutMs: number): Promise<void> {
  if (!MARKER_PATTERN.test(step.marker)) throw new TypeError(`kill step: marker ${JSON.stringify(step.marker)} is not ${MARKER_PATTERN.source}`);
  const leaders = await markedLeaders(step.marker);
  if (step.process !== undefined && !leaders.some((l) => l.pid === step.process?.pid)) leaders.push(step.process);
  const members = async (): Promise<number[]> => (await Promise.all(leaders.map(sessionMembers))).flat();
  await until(`the processes of ${step.marker} to end`, timeoutMs, async () => {
    const left = await members();
    if (left.length === 0) return true;
    for (const pid of left) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
      }
    }
    return undefined;
  });
}

/** The start of the error an injection gets when its held process ended on its own. */
export const HELD_ENDED = 'a held process ended on its own';

/**
 * Why `plan`'s held processes count as ended outside kerris (the container's OOM killer, a kill by hand), or
 * undefined while each journaled one is alive. They are not started again: what ended one would end the next, in a
 * loop, and the experiment has had its effect; the injection stays active (its revert is a no-op) and says so.
 */
export async function heldEnded(plan: Plan): Promise<string | undefined> {
  const ended: HeldProcess[] = [];
  for (const step of plan.revert) {
    if (step.kind === 'kill' && step.process !== undefined && !await isAlive(step.process)) ended.push(step.process);
  }
  if (ended.length === 0) return undefined;
  return `${HELD_ENDED} (pid ${ended.map((p) => p.pid).join(', ')}), e.g. killed by the container's memory limit; not restarted`;
}
