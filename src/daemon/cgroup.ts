/**
 * Where a process's freezer is: cgroup v2's cgroup.freeze when the process has
 * a v2 cgroup, else the v1 freezer hierarchy's freezer.state.
 */
import { access, constants, readFile } from 'node:fs/promises';
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

/**
 * The freezers a process can be frozen with, best first. cgroup v2's `cgroup.freeze` comes first where the process
 * has a v2 cgroup (also on a v1/v2 hybrid, where runc puts containers in both): a task it froze still dies on SIGKILL,
 * so kubelet can stop or restart a frozen container and a pod under pod-failure can be deleted. The v1 freezer holds
 * even a SIGKILLed task until it is thawed.
 */
export function freezerCandidates(lines: readonly CgroupLine[], mounts: CgroupMounts): Freezer[] {
  const candidates: Freezer[] = [];
  const v2Line = lines.find((l) => l.hierarchy === '0' && l.controllers.length === 0);
  if (v2Line !== undefined && mounts.v2 !== undefined && safeCgroupPath(v2Line.path) !== '/') {
    const dir = posix.join(mounts.v2, safeCgroupPath(v2Line.path));
    candidates.push({ version: 2, dir, file: posix.join(dir, 'cgroup.freeze'), frozen: '1', thawed: '0' });
  }
  const v1Line = lines.find((l) => l.controllers.includes('freezer'));
  const v1Mount = mounts.v1.get('freezer');
  if (v1Line !== undefined && v1Mount !== undefined && safeCgroupPath(v1Line.path) !== '/') {
    const dir = posix.join(v1Mount, safeCgroupPath(v1Line.path));
    candidates.push({ version: 1, dir, file: posix.join(dir, 'freezer.state'), frozen: 'FROZEN', thawed: 'THAWED' });
  }
  return candidates;
}

/** The freezer of a live process: the first candidate whose control file the kernel offers (cgroup.freeze needs 5.2+). */
export async function freezerOfPid(pid: number): Promise<Freezer> {
  const [cgroups, mountinfo] = await Promise.all([
    readFile(`/proc/${pid}/cgroup`, 'utf8').catch(() => undefined),
    readFile('/proc/self/mountinfo', 'utf8'),
  ]);
  if (cgroups === undefined) throw new DaemonError('not-found', `process ${pid} is gone`);
  const candidates = freezerCandidates(parseProcCgroup(cgroups), parseCgroupMounts(mountinfo));
  for (const candidate of candidates) {
    if (await access(candidate.file, constants.W_OK).then(() => true, () => false)) return candidate;
  }
  throw new DaemonError('failed', candidates.length === 0
    ? `process ${pid} is in no freezable cgroup (only root cgroups, which would freeze the node, or no freezer mounted)`
    : `no freezer control file is writable: ${candidates.map((c) => c.file).join(', ')}`);
}

/** A process's cgroup in one mounted hierarchy. */
export interface CgroupDir {
  version: 1 | 2;
  /** The v1 hierarchy's controllers (or its name=…); empty for v2. */
  controllers: readonly string[];
  dir: string;
}

/**
 * The cgroup directories of every mounted hierarchy a process is in, leaving out hierarchies this mount namespace
 * does not mount, and root cgroups (acting on those acts on the whole node) unless `withRoots`: a process only
 * joined to the same cgroups (a guard beside the process it guards) may join a root one too.
 */
export function cgroupDirsOf(lines: readonly CgroupLine[], mounts: CgroupMounts, withRoots = false): CgroupDir[] {
  const dirs: CgroupDir[] = [];
  for (const line of lines) {
    const path = safeCgroupPath(line.path);
    if (path === '/' && !withRoots) continue;
    const isV2 = line.hierarchy === '0' && line.controllers.length === 0;
    const mount = isV2 ? mounts.v2 : mounts.v1.get(line.controllers[0] ?? '');
    if (mount === undefined) continue;
    dirs.push({ version: isV2 ? 2 : 1, controllers: line.controllers, dir: posix.join(mount, path) });
  }
  return dirs;
}

export async function cgroupDirs(pid: number, withRoots = false): Promise<CgroupDir[]> {
  const [cgroups, mountinfo] = await Promise.all([
    readFile(`/proc/${pid}/cgroup`, 'utf8').catch(() => undefined),
    readFile('/proc/self/mountinfo', 'utf8'),
  ]);
  if (cgroups === undefined) throw new DaemonError('not-found', `process ${pid} is gone`);
  return cgroupDirsOf(parseProcCgroup(cgroups), parseCgroupMounts(mountinfo), withRoots);
}
