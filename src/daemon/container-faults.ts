/** Plans for faults on a whole container: freezing all its processes (pod-failure). */
import { freezerOfPid, type Freezer } from './cgroup.ts';
import type { Plan } from './plan.ts';
import type { ResolvedTarget } from './runtime/resolve.ts';

export function freezePlan(containerId: string, freezer: Freezer): Plan {
  return {
    summary: `freeze container ${containerId} (cgroup v${freezer.version} ${freezer.dir})`,
    apply: [{ kind: 'write', path: freezer.file, value: freezer.frozen }],
    revert: [{ kind: 'write', path: freezer.file, value: freezer.thawed }],
  };
}

export async function planFreeze(target: ResolvedTarget): Promise<Plan> {
  return freezePlan(target.containerId, await freezerOfPid(target.pid));
}
