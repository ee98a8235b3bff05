/**
 * A container's CPU time, working set and processes as its cgroup counts them, read by tests on the test-bed node
 * apart from the daemon, so a stress test checks the kernel's own figures and not kerris's report of them.
 */
import { readdir, readFile } from 'node:fs/promises';
import type { ContainerdRuntime } from '../../../src/daemon/runtime/containerd.ts';

const ROOT = '/sys/fs/cgroup';

interface Dirs {
  cpu: string;
  memory: string;
  version: 1 | 2;
}

/** The container's cgroup directories, from its task's /proc/<pid>/cgroup (the test runs in the host's cgroup namespace). */
async function dirsOf(pid: number): Promise<Dirs> {
  const lines = (await readFile(`/proc/${pid}/cgroup`, 'utf8')).trim().split('\n').map((l) => l.split(':'));
  const v1 = (controller: string) => lines.find(([, controllers]) => (controllers ?? '').split(',').includes(controller))?.[2];
  const cpu = v1('cpuacct');
  const memory = v1('memory');
  if (cpu !== undefined && memory !== undefined) return { cpu: `${ROOT}/cpuacct${cpu}`, memory: `${ROOT}/memory${memory}`, version: 1 };
  const unified = lines.find(([id]) => id === '0')?.[2];
  if (unified === undefined) throw new Error(`no cpuacct and memory cgroups, and no unified one, for pid ${pid}`);
  return { cpu: `${ROOT}${unified}`, memory: `${ROOT}${unified}`, version: 2 };
}

export interface CgroupSample {
  cpuNs: number;
  workingSetBytes: number;
  /** Milliseconds on the monotonic clock when read. */
  at: number;
}

const statField = (stat: string, field: string): number => Number(new RegExp(`^${field} (\\d+)$`, 'm').exec(stat)?.[1] ?? NaN);

export class ContainerCgroup {
  readonly #dirs: Dirs;

  private constructor(dirs: Dirs) {
    this.#dirs = dirs;
  }

  /** The cgroup of a container named as `pod.status.containerStatuses[].containerID` names it (`containerd://<id>`). */
  static async of(containerd: ContainerdRuntime, containerID: string | undefined): Promise<ContainerCgroup> {
    return new ContainerCgroup(await dirsOf(await containerd.taskPid((containerID ?? '').replace(/^containerd:\/\//, ''))));
  }

  async sample(): Promise<CgroupSample> {
    const { cpu, memory, version } = this.#dirs;
    const at = performance.now();
    if (version === 1) {
      const [usage, inUse, stat] = await Promise.all([readFile(`${cpu}/cpuacct.usage`, 'utf8'), readFile(`${memory}/memory.usage_in_bytes`, 'utf8'), readFile(`${memory}/memory.stat`, 'utf8')]);
      return { cpuNs: Number(usage.trim()), workingSetBytes: Math.max(0, Number(inUse.trim()) - statField(stat, 'total_inactive_file')), at };
    }
    const [cpuStat, current, stat] = await Promise.all([readFile(`${cpu}/cpu.stat`, 'utf8'), readFile(`${memory}/memory.current`, 'utf8'), readFile(`${memory}/memory.stat`, 'utf8')]);
    return { cpuNs: statField(cpuStat, 'usage_usec') * 1000, workingSetBytes: Math.max(0, Number(current.trim()) - statField(stat, 'inactive_file')), at };
  }

  /** Cores used on average over `ms` milliseconds from now. */
  async coresOver(ms: number): Promise<number> {
    const first = await this.sample();
    await new Promise((resolve) => setTimeout(resolve, ms));
    const second = await this.sample();
    return (second.cpuNs - first.cpuNs) / ((second.at - first.at) * 1e6);
  }

  /** The container's cgroup directories, for failure messages. */
  describe(): string {
    return `cgroup v${this.#dirs.version}: cpu ${this.#dirs.cpu}, memory ${this.#dirs.memory}`;
  }

  /** The commands of the processes in the container's cgroup (the memory one on v1), by pid. */
  async processes(): Promise<Map<number, string>> {
    const pids = (await readFile(`${this.#dirs.memory}/cgroup.procs`, 'utf8')).trim().split('\n').filter((l) => l !== '').map(Number);
    const found = new Map<number, string>();
    for (const pid of pids) {
      const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => undefined);
      if (cmdline !== undefined) found.set(pid, cmdline.replaceAll('\0', ' ').trim());
    }
    return found;
  }
}

/** Whether a command line is stress-ng's own (its parent or a worker, which renames itself `stress-ng-cpu …`), not the launcher that becomes it. */
export const isStressNg = (cmdline: string): boolean => /^(\S*\/)?stress-ng(-\S*)?( |$)/.test(cmdline);

/** Where each stressor on the host is, for a failure message: its pid, command line and /proc/<pid>/cgroup. */
export async function whereStressorsAre(): Promise<string> {
  const lines: string[] = [];
  for (const [pid, cmd] of await hostStressors()) lines.push(`${pid} ${cmd}\n${(await readFile(`/proc/${pid}/cgroup`, 'utf8').catch(() => 'gone\n')).trim()}`);
  return lines.length === 0 ? 'no stressor runs on the host' : lines.join('\n');
}

/** Every process on the host whose command line is a stressor's or the launcher that becomes one: what must be gone after a stress test. */
export async function hostStressors(): Promise<Map<number, string>> {
  const found = new Map<number, string>();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    const text = cmdline.replaceAll('\0', ' ').trim();
    if (/(^|\/)stress-ng\b|held-launcher/.test(text)) found.set(Number(entry), text);
  }
  return found;
}
