/** container-freeze (pod-failure): freezes all the container's processes through its cgroup freezer. */
import { freezerOfPid, type Freezer } from '../cgroup.ts';
import type { Plan } from '../plan.ts';
import type { FaultSpec } from '../spec.ts';
import type { ContainerFaultModule } from './module.ts';

export function freezePlan(containerId: string, freezer: Freezer): Plan {
  return {
    summary: `freeze container ${containerId} (cgroup v${freezer.version} ${freezer.dir})`,
    apply: [{ kind: 'write', path: freezer.file, value: freezer.frozen }],
    revert: [{ kind: 'write', path: freezer.file, value: freezer.thawed }],
  };
}

export const containerFreeze: ContainerFaultModule = {
  kind: 'container-freeze',
  scope: 'container',
  inNetns: false,
  normalize: (): FaultSpec => ({ kind: 'container-freeze' }),
  prepare: async (_fault, target) => ({ kind: 'plan', plan: freezePlan(target.containerId, await freezerOfPid(target.pid)) }),
};
