import { readdir, readFile } from 'node:fs/promises';
import { QEMU_PROCESS_NAME, RUN_DIR_PARENT, RUN_DIR_PREFIX } from './paths.ts';

/** What a kernel VM run leaves on the host while it runs; both lists are empty once it is over. */
export interface VmLeftovers {
  /** Pids of qemu processes (named kerris-vm) whose parent is `ownerPid`. */
  qemuPids: number[];
  /** Run folders that `ownerPid` made. */
  runDirs: string[];
}

/** The qemu processes named kerris-vm, with their parent pids. */
export async function kernelVmProcesses(): Promise<{ pid: number; ppid: number }[]> {
  const found: { pid: number; ppid: number }[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      // stat is "pid (comm) state ppid ..."; comm may hold spaces, so split after the last ')'.
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (comm === QEMU_PROCESS_NAME) found.push({ pid: Number(entry), ppid });
    } catch {
      // the process ended while we looked
    }
  }
  return found;
}

export async function vmLeftovers(ownerPid: number = process.pid): Promise<VmLeftovers> {
  const qemuPids = (await kernelVmProcesses()).filter((p) => p.ppid === ownerPid).map((p) => p.pid);
  const runDirs = (await readdir(RUN_DIR_PARENT)).filter((name) => name.startsWith(`${RUN_DIR_PREFIX}${ownerPid}-`));
  return { qemuPids, runDirs };
}
