/** Facts about a process from /proc: whether the process we resolved is still the same one. */
import { readdir, readFile, stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { DaemonError } from './errors.ts';

/** How often a process's state is looked at while the daemon waits for it to change. */
const POLL_MS = 5;

/** Polls `check` on the monotonic clock until it gives a value; DaemonError('failed') naming `what` after timeoutMs. */
export async function until<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (performance.now() > deadline) throw new DaemonError('failed', `timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(POLL_MS);
  }
}

/**
 * Start time of pid in clock ticks since boot (field 22 of /proc/<pid>/stat), or undefined if it is gone.
 * A pid plus its start time names one process for good, even after the pid is reused.
 */
export async function processStartTime(pid: number, procRoot = '/proc'): Promise<number | undefined> {
  const text = await readFile(`${procRoot}/${pid}/stat`, 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  return startTimeFromStat(text);
}

/** The comm field may hold spaces and parentheses, so fields are counted from the last ')'. */
export function startTimeFromStat(text: string): number | undefined {
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state); field 22 is starttime.
  const value = Number(fields[19]);
  return Number.isInteger(value) && value >= 0 ? value : undefined;
}

/** Process state letter (R, S, D, T, ...) from /proc/<pid>/stat. */
export async function processState(pid: number): Promise<string | undefined> {
  const text = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  return text?.slice(text.lastIndexOf(')') + 2).split(' ')[0];
}

/** Inode of the network namespace pid is in, or undefined if pid is gone. */
export async function netnsInode(pid: number): Promise<number | undefined> {
  return (await stat(`/proc/${pid}/ns/net`).catch(() => undefined))?.ino;
}

export function isPositivePid(pid: number): boolean {
  return Number.isInteger(pid) && pid > 0 && pid <= 4_194_304;
}

/**
 * A path that still names the network namespace with this inode after the process it was found through exited:
 * another process in it (a pod's sandbox holds its netns), or a bind mount of it (/run/netns/<name>).
 */
export async function netnsHolder(inode: number): Promise<string | undefined> {
  for (const entry of await readdir('/proc')) {
    if (!/^[1-9][0-9]*$/.test(entry)) continue;
    if (await netnsInode(Number(entry)) === inode) return `/proc/${entry}/ns/net`;
  }
  const mountinfo = await readFile('/proc/self/mountinfo', 'utf8');
  for (const line of mountinfo.split('\n')) {
    const fields = line.split(' ');
    if (fields[3] === `net:[${inode}]` && fields[4] !== undefined && /^(\/var)?\/run\/netns\/[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(fields[4])) return fields[4];
  }
  return undefined;
}
