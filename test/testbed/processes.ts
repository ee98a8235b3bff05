import { spawn } from 'node:child_process';
import { open, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { processAlive } from '../../src/util/process.ts';

/** A long-running test-bed process that outlives the command that started it. */
export interface ServiceSpec {
  name: string;
  argv: readonly [string, ...string[]];
  logFile: string;
  pidFile: string;
  env?: NodeJS.ProcessEnv;
}

/** Starts the service in its own session, with output to its log file, and records its pid. */
export async function startService(spec: ServiceSpec): Promise<number> {
  const log = await open(spec.logFile, 'a');
  try {
    const child = spawn(spec.argv[0], spec.argv.slice(1), {
      detached: true,
      stdio: ['ignore', log.fd, log.fd],
      env: spec.env ?? process.env,
    });
    const pid = await new Promise<number>((resolve, reject) => {
      child.once('error', (error) => reject(new Error(`${spec.name}: could not start ${spec.argv[0]}: ${error.message}`)));
      child.once('spawn', () => resolve(child.pid ?? -1));
    });
    child.unref();
    await writeFile(spec.pidFile, `${pid}\n`);
    return pid;
  } finally {
    await log.close();
  }
}

/** The pid recorded in pidFile if that process still runs the same executable, else undefined. */
export async function runningPid(pidFile: string, executable: string): Promise<number | undefined> {
  const text = await readFile(pidFile, 'utf8').catch(() => '');
  const pid = Number.parseInt(text, 10);
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  // A recycled pid belongs to some other program; never signal it.
  const exe = await readlink(`/proc/${pid}/exe`).catch(() => '');
  return exe === executable ? pid : undefined;
}

/** SIGTERM, then SIGKILL after graceMs; resolves when the process is gone. */
export async function stopService(pidFile: string, executable: string, graceMs = 10_000): Promise<void> {
  const pid = await runningPid(pidFile, executable);
  if (pid !== undefined) {
    process.kill(pid, 'SIGTERM');
    const deadline = Date.now() + graceMs;
    while (processAlive(pid) && Date.now() < deadline) await sleep(50);
    if (processAlive(pid)) process.kill(pid, 'SIGKILL');
    while (processAlive(pid) && !(await isZombie(pid))) await sleep(20);
  }
  await rm(pidFile, { force: true });
}

async function isZombie(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  return stat === '' || / Z /.test(stat.slice(stat.lastIndexOf(')')));
}
