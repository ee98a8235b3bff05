/**
 * A host process a fault stops for its life (the kubelet, faults/kubelet-stop.ts): found in /proc by its name,
 * signalled only while it is the same process (comm and start time), and guarded by a process of its own
 * (stop-guard.ts) that continues it if the daemon dies first. A stopped kubelet cannot restart a dead daemon, so
 * nothing else would.
 *
 * The guard runs in a session of its own (setsid) with the step's marker in its environment, like a held stressor
 * (held.ts), so the same kill step ends it; and it is written into the stopped process's cgroups, out of the
 * daemon's: when the daemon's container ends, its runtime kills every process left in the container's cgroup (runc
 * does for a container that shares the host's pid namespace), and the guard must outlive exactly that.
 */
import { spawn } from 'node:child_process';
import { readdir, readFile, readlink } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { DaemonError, errorMessage } from './errors.ts';
import { isCgroupProcsFile, killHeld, MARKER_ENV, MARKER_PATTERN, moveIntoCgroups, parseStat, type ProcStat } from './held.ts';
import type { GuardStep, HeldProcess, PlanSignal, SignalStep } from './plan.ts';
import { isPositivePid, until } from './proc.ts';

/** A process name as the kernel keeps it (comm: at most 15 bytes), printable, without blanks or '/'. */
export const PROCESS_NAME = /^[\x21-\x2e\x30-\x7e]{1,15}$/;
export const PLAN_SIGNALS: readonly PlanSignal[] = ['SIGSTOP', 'SIGCONT'];
/** The guard script beside this file: .ts when the daemon runs from source, .js in its build. */
const GUARD_SCRIPT = join(import.meta.dirname, `stop-guard${extname(import.meta.filename)}`);
/** The guard's heap: it reads a few /proc files every 250 ms and holds nothing. */
const GUARD_HEAP_MB = 16;

/** A host process named by its comm, pid and start time. */
export interface NamedProcess extends HeldProcess {
  name: string;
}

/** What /proc says of a process now: its stat fields and comm, or undefined once it is gone. */
export interface ProcessNow extends ProcStat {
  comm: string;
}

export async function processNow(pid: number, procRoot = '/proc'): Promise<ProcessNow | undefined> {
  const [stat, comm] = await Promise.all([
    readFile(`${procRoot}/${pid}/stat`, 'utf8').catch(() => undefined), readFile(`${procRoot}/${pid}/comm`, 'utf8').catch(() => undefined),
  ]);
  const parsed = stat === undefined ? undefined : parseStat(stat);
  return parsed === undefined || comm === undefined ? undefined : { ...parsed, comm: comm.replace(/\n$/, '') };
}

/** Whether `now` is still `named`, alive: same comm and start time, not a zombie. */
export function isSame(named: NamedProcess, now: ProcessNow | undefined): now is ProcessNow {
  return now !== undefined && now.startTime === named.startTime && now.comm === named.name && now.state !== 'Z';
}

/** An executable's name as a comm holds it: the file name, cut to 15 bytes, without the " (deleted)" of a replaced binary. */
export function commOfExe(exe: string): string {
  return basename(exe.replace(/ \(deleted\)$/, '')).slice(0, 15);
}

/**
 * The live processes whose comm is `name` and whose executable's file name is too (cut as comm is), so a process
 * that only renamed itself, or a thread of another program, is not taken for it. Kernel threads have no executable.
 */
export async function processesNamed(name: string, procRoot = '/proc'): Promise<NamedProcess[]> {
  const found: NamedProcess[] = [];
  for (const entry of await readdir(procRoot)) {
    if (!/^[1-9][0-9]*$/.test(entry)) continue;
    const pid = Number(entry);
    const now = await processNow(pid, procRoot);
    if (now === undefined || now.comm !== name || now.state === 'Z') continue;
    const exe = await readlink(`${procRoot}/${pid}/exe`).catch(() => undefined);
    if (exe !== undefined && commOfExe(exe) === name) found.push({ name, pid, startTime: now.startTime });
  }
  return found;
}

function bad(what: string): never {
  throw new TypeError(what);
}

function checkNamed(what: string, name: string, process: HeldProcess): void {
  if (!PROCESS_NAME.test(name)) bad(`${what}: process name ${JSON.stringify(name)} is not ${PROCESS_NAME.source}`);
  if (!isPositivePid(process.pid) || !Number.isSafeInteger(process.startTime) || process.startTime < 0) bad(`${what}: process ${JSON.stringify(process)} is not a pid and start time`);
}

/**
 * Sends the step's signal to its process if it is still that process; 'absent' when it is gone or another process
 * now has its pid, which is never signalled. A SIGSTOP waits until the kernel reports the process stopped.
 */
export async function sendSignal(step: SignalStep, timeoutMs: number): Promise<'done' | 'absent'> {
  if (!PLAN_SIGNALS.includes(step.signal)) bad(`signal step: ${JSON.stringify(step.signal)} is none of ${PLAN_SIGNALS.join(', ')}`);
  checkNamed('signal step', step.name, step.process);
  const named: NamedProcess = { name: step.name, ...step.process };
  const what = `${step.name} (pid ${step.process.pid})`;
  if (!isSame(named, await processNow(step.process.pid))) return 'absent';
  try {
    process.kill(step.process.pid, step.signal);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return 'absent';
    throw new DaemonError('failed', `${step.signal} to ${what}: ${errorMessage(error)}`, { cause: error });
  }
  if (step.signal === 'SIGSTOP') {
    await until(`${what} to stop`, timeoutMs, async () => {
      const now = await processNow(step.process.pid);
      if (!isSame(named, now)) throw new DaemonError('failed', `${what} ended as it was stopped`);
      return now.state === 'T' ? true : undefined;
    });
  }
  return 'done';
}

function checkGuard(step: GuardStep): void {
  if (!MARKER_PATTERN.test(step.marker)) bad(`guard step: marker ${JSON.stringify(step.marker)} is not ${MARKER_PATTERN.source}`);
  checkNamed('guard step', step.name, step.process);
  checkNamed('guard step', 'daemon', step.daemon);
  if (step.deadlineAt !== undefined && !(Number.isFinite(step.deadlineAt) && step.deadlineAt > 0)) bad(`guard step: deadline ${step.deadlineAt} is not a time`);
  for (const file of step.cgroups) if (!isCgroupProcsFile(file)) bad(`guard step: ${JSON.stringify(file)} is not a cgroup.procs file`);
}

/** The guard's argv after node's own: what it continues, whom it watches, until when ("none": no deadline). */
export function guardArgs(step: GuardStep): string[] {
  return [
    GUARD_SCRIPT, step.name, String(step.process.pid), String(step.process.startTime), String(step.daemon.pid), String(step.daemon.startTime),
    step.deadlineAt === undefined ? 'none' : String(Math.ceil(step.deadlineAt)),
  ];
}

export interface GuardOptions {
  /** Journals the guard by pid and start time once it runs, before it is moved or anything is stopped. */
  started: (process: HeldProcess) => Promise<void>;
  timeoutMs: number;
}

/**
 * Starts the step's guard and returns once it is journaled, watching (it says so on its stdout), and in every one of
 * the step's cgroups. On any failure it is killed and the error thrown: nothing is stopped without a guard.
 */
export async function startGuard(step: GuardStep, options: GuardOptions): Promise<HeldProcess> {
  checkGuard(step);
  const child = spawn(process.execPath, [`--max-old-space-size=${GUARD_HEAP_MB}`, ...guardArgs(step)], {
    detached: true, stdio: ['ignore', 'pipe', 'ignore'], cwd: '/', env: { PATH: '/usr/local/bin:/usr/bin:/bin', [MARKER_ENV]: step.marker },
  });
  let exited: string | undefined;
  child.once('exit', (code, signal) => { exited = `exited with ${signal ?? code}`; });
  const failedToStart = new Promise<never>((_, reject) => child.once('error', reject));
  failedToStart.catch(() => undefined);
  let said = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => { said += chunk; });
  // The guard outlives the daemon by design; nothing here waits for it.
  child.unref();
  const pid = child.pid;
  if (pid === undefined) throw new DaemonError('failed', `could not start the guard: ${await failedToStart.catch(errorMessage)}`);
  let guard: HeldProcess | undefined;
  try {
    await until('the guard to watch', options.timeoutMs, async () => {
      if (said.includes('watching\n')) return true;
      if (exited !== undefined) throw new DaemonError('failed', `the guard ${exited} before it watched${said === '' ? '' : `: ${said.trim()}`}`);
      return undefined;
    });
    const stat = parseStat(await readFile(`/proc/${pid}/stat`, 'utf8'));
    if (stat === undefined || stat.session !== pid) throw new DaemonError('failed', `the guard ${pid} is not the leader of a session of its own`);
    guard = { pid, startTime: stat.startTime };
    await options.started(guard);
    await moveIntoCgroups(pid, step.cgroups, 'guard');
    return guard;
  } catch (error) {
    await killHeld({ kind: 'kill', marker: step.marker, ...(guard === undefined ? {} : { process: guard }) }, options.timeoutMs).catch(() => undefined);
    throw error;
  } finally {
    // Its stdout is only for saying it watches; a guard that outlives the daemon must not hold the daemon's pipe.
    child.stdout.destroy();
  }
}
