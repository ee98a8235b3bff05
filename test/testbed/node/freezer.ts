/** A container's cgroup freezer on the test-bed node, as tests and benchmarks read it to see a freeze for real. */
import { readFile } from 'node:fs/promises';
import { freezerOfPid, type Freezer } from '../../../src/daemon/cgroup.ts';
import type { ContainerdRuntime } from '../../../src/daemon/runtime/containerd.ts';

/** The freezer of a container named as `pod.status.containerStatuses[].containerID` names it (`containerd://<id>`). */
export async function containerFreezer(containerd: ContainerdRuntime, containerID: string | undefined): Promise<Freezer> {
  return freezerOfPid(await containerd.taskPid((containerID ?? '').replace(/^containerd:\/\//, '')));
}

export async function isFrozen(freezer: Freezer): Promise<boolean> {
  return (await readFile(freezer.file, 'utf8')).trim() === freezer.frozen;
}

/** The control file and what it holds now, to compare before and after. */
export async function freezerFile(freezer: Freezer): Promise<string> {
  return `${freezer.file}=${(await readFile(freezer.file, 'utf8')).trim()}`;
}
