import { readdir, readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ProcessInfo {
  pid: number;
  argv: string[];
}

export async function processes(): Promise<ProcessInfo[]> {
  const found: ProcessInfo[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const raw = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (raw === '') continue;
    found.push({ pid: Number(entry), argv: raw.split('\0').filter((arg) => arg !== '') });
  }
  return found;
}

/** Processes other than this one with dir, or a path in it, in an argument (also as in --flag=<path>). */
export async function processesReferencing(dir: string): Promise<ProcessInfo[]> {
  const self = process.pid;
  return (await processes()).filter((p) => p.pid !== self && p.argv.some((arg) => arg.endsWith(dir) || arg.includes(`${dir}/`)));
}

/**
 * SIGKILLs every process referencing dir until none is left. beforeGone runs for each killed process, for
 * cleanup that process would have done itself.
 */
export async function killProcessesReferencing(dir: string, beforeGone: (p: ProcessInfo) => Promise<void> = async () => {}): Promise<void> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const left = await processesReferencing(dir);
    if (left.length === 0) return;
    for (const p of left) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        // already gone
      }
      await beforeGone(p);
    }
    await sleep(50);
  }
  throw new Error(`processes referencing ${dir} survived SIGKILL: ${(await processesReferencing(dir)).map((p) => p.pid).join(' ')}`);
}
