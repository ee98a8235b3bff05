/**
 * A container's use of its resources, read from its cgroup the way the kubelet reads it: CPU time (cgroup v2
 * cpu.stat usage_usec, v1 cpuacct.usage) and the working set (memory in use less the inactive file cache: v2
 * memory.current less memory.stat inactive_file, v1 memory.usage_in_bytes less total_inactive_file).
 */
import { access, readFile } from 'node:fs/promises';
import { posix } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { cgroupDirs } from './cgroup.ts';
import { DaemonError } from './errors.ts';

/** As the wire's ResourceUsage: CPU over `windowMs` in thousandths of a CPU, and the working set then. */
export interface ResourceUsage {
  cpuMillicores: number;
  memoryWorkingSetBytes: number;
  windowMs: number;
}

/** The counters at one moment: CPU time so far, and when (monotonic ms), so a later sample gives the rate between. */
export interface UsageSample {
  cpuNs: number;
  memoryWorkingSetBytes: number;
  at: number;
}

export interface UsageFiles {
  version: 1 | 2;
  /** cpu.stat (v2) or cpuacct.usage (v1). */
  cpu: string;
  /** memory.current (v2) or memory.usage_in_bytes (v1). */
  memory: string;
  /** memory.stat, for the inactive file cache taken off. */
  memoryStat: string;
  /** Read just before the stressors started. */
  before: ResourceUsage;
}

export type UsagePaths = Pick<UsageFiles, 'version' | 'cpu' | 'memory' | 'memoryStat'>;

/** The file names each cgroup version reads, by what they count. */
export const USAGE_FILE_NAMES = {
  2: { cpu: 'cpu.stat', memory: 'memory.current', memoryStat: 'memory.stat', inactive: 'inactive_file' },
  1: { cpu: 'cpuacct.usage', memory: 'memory.usage_in_bytes', memoryStat: 'memory.stat', inactive: 'total_inactive_file' },
} as const;

const readable = (path: string): Promise<boolean> => access(path).then(() => true, () => false);

/**
 * Where process `pid`'s container counts its CPU and memory: cgroup v2 where its v2 cgroup has the memory
 * controller (a v2 host), else the v1 cpuacct and memory hierarchies (v1, or a hybrid whose v2 tree has none).
 */
export async function usagePathsOf(pid: number): Promise<UsagePaths> {
  const dirs = await cgroupDirs(pid);
  const v2 = dirs.find((d) => d.version === 2)?.dir;
  if (v2 !== undefined && await readable(posix.join(v2, 'memory.current'))) {
    const names = USAGE_FILE_NAMES[2];
    return { version: 2, cpu: posix.join(v2, names.cpu), memory: posix.join(v2, names.memory), memoryStat: posix.join(v2, names.memoryStat) };
  }
  const cpuacct = dirs.find((d) => d.version === 1 && d.controllers.includes('cpuacct'))?.dir;
  const memory = dirs.find((d) => d.version === 1 && d.controllers.includes('memory'))?.dir;
  if (cpuacct === undefined || memory === undefined) throw new DaemonError('failed', `process ${pid} has no cgroup of its own that counts its CPU and memory`);
  const names = USAGE_FILE_NAMES[1];
  return { version: 1, cpu: posix.join(cpuacct, names.cpu), memory: posix.join(memory, names.memory), memoryStat: posix.join(memory, names.memoryStat) };
}

function statField(text: string, key: string, file: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${key} `));
  const value = Number(line?.slice(key.length + 1));
  if (line === undefined || !Number.isSafeInteger(value) || value < 0) throw new DaemonError('failed', `${file} has no ${key}`);
  return value;
}

function counter(text: string, file: string): number {
  const value = Number(text.trim());
  if (!Number.isSafeInteger(value) || value < 0) throw new DaemonError('failed', `${file} holds ${JSON.stringify(text.trim())}, not a counter`);
  return value;
}

/** The counters now. */
export async function sampleUsage(paths: UsagePaths, now: () => number): Promise<UsageSample> {
  const [cpu, memory, stat] = await Promise.all([readFile(paths.cpu, 'utf8'), readFile(paths.memory, 'utf8'), readFile(paths.memoryStat, 'utf8')]);
  const at = now();
  const names = USAGE_FILE_NAMES[paths.version];
  const cpuNs = paths.version === 2 ? statField(cpu, 'usage_usec', paths.cpu) * 1_000 : counter(cpu, paths.cpu);
  const inUse = counter(memory, paths.memory);
  return { cpuNs, memoryWorkingSetBytes: Math.max(0, inUse - statField(stat, names.inactive, paths.memoryStat)), at };
}

/** The use between two samples: CPU per second over the window between them, and the later working set. */
export function usageBetween(from: UsageSample, to: UsageSample): ResourceUsage {
  const windowMs = Math.max(1, Math.round(to.at - from.at));
  return { cpuMillicores: Math.max(0, Math.round((to.cpuNs - from.cpuNs) / (windowMs * 1_000))), memoryWorkingSetBytes: to.memoryWorkingSetBytes, windowMs };
}

/** The use over the next `windowMs`: the `before` reading of a stress plan. */
export async function measureUsage(paths: UsagePaths, windowMs: number, now: () => number): Promise<ResourceUsage> {
  const first = await sampleUsage(paths, now);
  await sleep(windowMs);
  return usageBetween(first, await sampleUsage(paths, now));
}
