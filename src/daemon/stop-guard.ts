/**
 * The guard of a process a fault stopped (stopped.ts):
 * `node stop-guard.js <name> <pid> <start time> <daemon pid> <daemon start time> <deadline ms | none>`.
 * Every 250 ms it looks at the daemon that started it: once that pid no longer has that start time (or is a zombie),
 * or once the deadline on CLOCK_MONOTONIC (process.hrtime, the clock of the daemon's deadlines, the same for every
 * process of this boot) has passed, it continues the stopped process, if it is still the same one (comm and start
 * time), and exits. It exits as well once that process is gone: there is nothing left to guard. The daemon's
 * revert ends it with SIGKILL.
 */
import { readFileSync } from 'node:fs';
import { parseStat } from './held.ts';

const EVERY_MS = 250;

interface Watched {
  pid: number;
  startTime: number;
}

function integer(value: string | undefined): number {
  return value !== undefined && /^[0-9]{1,19}$/.test(value) ? Number(value) : Number.NaN;
}

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** Alive with the start time it had: not gone, not another process under its pid, not a zombie. */
function alive(process: Watched, comm?: string): boolean {
  const text = read(`/proc/${process.pid}/stat`);
  const stat = text === undefined ? undefined : parseStat(text);
  if (stat === undefined || stat.startTime !== process.startTime || stat.state === 'Z') return false;
  return comm === undefined || read(`/proc/${process.pid}/comm`)?.replace(/\n$/, '') === comm;
}

const [name, pid, startTime, daemonPid, daemonStartTime, deadline] = process.argv.slice(2);
const stopped = { pid: integer(pid), startTime: integer(startTime) };
const daemon = { pid: integer(daemonPid), startTime: integer(daemonStartTime) };
const deadlineMs = deadline === 'none' ? undefined : integer(deadline);
if (name === undefined || [stopped.pid, stopped.startTime, daemon.pid, daemon.startTime, deadlineMs ?? 0].some((n) => !Number.isSafeInteger(n))) {
  process.stderr.write('usage: stop-guard <name> <pid> <start time> <daemon pid> <daemon start time> <deadline ms | none>\n');
  process.exit(2);
}

/** Whether the guard's work is over: the process is gone, or was continued because the daemon is gone or the deadline passed. */
function check(): boolean {
  if (!alive(stopped, name)) return true;
  const due = deadlineMs !== undefined && process.hrtime.bigint() / 1_000_000n >= BigInt(deadlineMs);
  if (alive(daemon) && !due) return false;
  // Checked again just before: a pid freed a moment ago is never signalled in its next owner.
  if (alive(stopped, name)) {
    try {
      process.kill(stopped.pid, 'SIGCONT');
    } catch {
      // Gone in between: nothing to continue.
    }
  }
  return true;
}

if (check()) process.exit(0);
process.stdout.write('watching\n');
const timer = setInterval(() => {
  if (check()) {
    clearInterval(timer);
    process.exit(0);
  }
}, EVERY_MS);
