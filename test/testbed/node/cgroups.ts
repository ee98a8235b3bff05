import { readdir, readFile, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const CGROUP_V1 = '/sys/fs/cgroup';

/** Raised when processes survive SIGKILL, which only a process stuck in the kernel does. */
export class CgroupError extends Error {
  override name = 'CgroupError';
}

function lines(text: string): string[] {
  return text.split('\n').map((line) => line.trim()).filter((line) => line !== '');
}

/** cgroup v1 hierarchies (cpu, memory, ...) mounted under /sys/fs/cgroup. */
export async function cgroupHierarchies(): Promise<string[]> {
  const entries = await readdir(CGROUP_V1, { withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isDirectory() && e.name !== 'unified').map((e) => join(CGROUP_V1, e.name));
}

/** Removes the cgroup tree at path (relative to each hierarchy), children first; rmdir only succeeds on empty cgroups. */
export async function removeCgroupTree(path: string): Promise<void> {
  for (const hierarchy of await cgroupHierarchies()) await removeDirTree(join(hierarchy, path));
}

async function removeDirTree(dir: string): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => undefined);
  if (entries === undefined) return;
  for (const entry of entries) if (entry.isDirectory()) await removeDirTree(join(dir, entry.name));
  await rmdir(dir);
}

/** Pids in the cgroup tree at path, in any hierarchy. */
export async function cgroupTreeProcesses(path: string): Promise<number[]> {
  const pids = new Set<number>();
  const collect = async (dir: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => undefined);
    if (entries === undefined) return;
    const procs = await readFile(join(dir, 'cgroup.procs'), 'utf8').catch(() => '');
    for (const line of lines(procs)) pids.add(Number(line));
    for (const entry of entries) if (entry.isDirectory()) await collect(join(dir, entry.name));
  };
  for (const hierarchy of await cgroupHierarchies()) await collect(join(hierarchy, path));
  return [...pids];
}

/** SIGKILLs every process in the cgroup tree at path until none is left, then removes the tree. */
export async function killCgroupTree(path: string): Promise<void> {
  const killed = new Set<number>();
  for (let attempt = 0; attempt < 100; attempt++) {
    const pids = await cgroupTreeProcesses(path);
    if (pids.length === 0) {
      await removeCgroupTree(path);
      await waitUntilReaped([...killed], 5_000);
      return;
    }
    for (const pid of pids) {
      killed.add(pid);
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await sleep(50);
  }
  throw new CgroupError(`processes in cgroup ${path} survived SIGKILL: ${(await cgroupTreeProcesses(path)).join(' ')}`);
}

/** A killed process leaves its cgroup before its parent (often init, after a shim died) reaps it. */
async function waitUntilReaped(pids: readonly number[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const pid of pids) {
    while (await readFile(`/proc/${pid}/stat`).then(() => true, () => false) && Date.now() < deadline) await sleep(20);
  }
}

/** cgroups that exist at path in any hierarchy. */
export async function cgroupsAt(path: string): Promise<string[]> {
  const found: string[] = [];
  for (const hierarchy of await cgroupHierarchies()) {
    const full = join(hierarchy, path);
    if (await readdir(full).then(() => true, () => false)) found.push(full);
  }
  return found;
}
