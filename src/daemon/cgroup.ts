/**
 * Where a process's freezer is: the v1 freezer hierarchy when the node has one
 * (also on a v1/v2 hybrid), else the unified v2 hierarchy's cgroup.freeze.
 */
import { readFile } from 'node:fs/promises';
import { posix } from 'node:path';
import { DaemonError } from './errors.ts';

export interface Freezer {
  version: 1 | 2;
  /** The cgroup's directory. */
  dir: string;
  /** The file written to freeze and thaw. */
  file: string;
  frozen: string;
  thawed: string;
}

export interface CgroupLine {
  hierarchy: string;
  controllers: string[];
  path: string;
}

/** Parses /proc/<pid>/cgroup ("id:controllers:path" a line). */
export function parseProcCgroup(text: string): CgroupLine[] {
  return text.split('\n').filter((line) => line !== '').map((line) => {
    const first = line.indexOf(':');
    const second = line.indexOf(':', first + 1);
    if (first < 0 || second < 0) throw new DaemonError('failed', `unexpected /proc/<pid>/cgroup line ${JSON.stringify(line)}`);
    const controllers = line.slice(first + 1, second);
    return { hierarchy: line.slice(0, first), controllers: controllers === '' ? [] : controllers.split(','), path: line.slice(second + 1) };
  });
}

/** A cgroup path from the kernel, checked so that joining it below a mount point stays below it. */
function safeCgroupPath(path: string): string {
  // The kernel never writes '..' here; a path with one is not the kernel's, and is refused before normalizing hides it.
  const normal = posix.normalize(path);
  if (!path.startsWith('/') || path.split('/').includes('..') || /[\0\n]/.test(path)) {
    throw new DaemonError('failed', `refusing cgroup path ${JSON.stringify(path)}`);
  }
  return normal;
}

/** Freezing the root cgroup would freeze the node (v2 has no cgroup.freeze there at all). */
function notRoot(path: string): string {
  if (path === '/') throw new DaemonError('failed', 'the process is in the root cgroup; refusing to freeze it');
  return path;
}

/** Mount points of cgroup hierarchies, from /proc/self/mountinfo: v1 by controller, and the v2 mount. */
export interface CgroupMounts {
  v1: ReadonlyMap<string, string>;
  v2: string | undefined;
}

export function parseCgroupMounts(mountinfo: string): CgroupMounts {
  const v1 = new Map<string, string>();
  let v2: string | undefined;
  for (const line of mountinfo.split('\n')) {
    const [left, right] = line.split(' - ');
    if (left === undefined || right === undefined) continue;
    const mountPoint = left.split(' ')[4];
    const [fsType, , superOptions] = right.split(' ');
    if (mountPoint === undefined) continue;
    if (fsType === 'cgroup2') v2 ??= mountPoint;
    else if (fsType === 'cgroup' && superOptions !== undefined) {
      for (const option of superOptions.split(',')) if (!v1.has(option)) v1.set(option, mountPoint);
    }
  }
  return { v1, v2 };
}

/** The freezer of a process, given its /proc/<pid>/cgroup and the node's cgroup mounts. */
export function freezerOf(lines: readonly CgroupLine[], mounts: CgroupMounts): Freezer {
  const v1Line = lines.find((l) => l.controllers.includes('freezer'));
  const v1Mount = mounts.v1.get('freezer');
  if (v1Line !== undefined && v1Mount !== undefined) {
    const dir = posix.join(v1Mount, notRoot(safeCgroupPath(v1Line.path)));
    return { version: 1, dir, file: posix.join(dir, 'freezer.state'), frozen: 'FROZEN', thawed: 'THAWED' };
  }
  const v2Line = lines.find((l) => l.hierarchy === '0' && l.controllers.length === 0);
  if (v2Line !== undefined && mounts.v2 !== undefined) {
    const dir = posix.join(mounts.v2, notRoot(safeCgroupPath(v2Line.path)));
    return { version: 2, dir, file: posix.join(dir, 'cgroup.freeze'), frozen: '1', thawed: '0' };
  }
  throw new DaemonError('failed', 'no freezer: neither a v1 freezer hierarchy nor cgroup2 is mounted for this process');
}

export async function freezerOfPid(pid: number): Promise<Freezer> {
  const [cgroups, mountinfo] = await Promise.all([
    readFile(`/proc/${pid}/cgroup`, 'utf8').catch(() => undefined),
    readFile('/proc/self/mountinfo', 'utf8'),
  ]);
  if (cgroups === undefined) throw new DaemonError('not-found', `process ${pid} is gone`);
  return freezerOf(parseProcCgroup(cgroups), parseCgroupMounts(mountinfo));
}
