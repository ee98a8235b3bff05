/** The containers of a target pod that a node daemon fault acts on, with the runtime IDs the daemon finds them by. */
import type { Pod } from '../../kube/types.ts';
import { runtimeId } from './injection.ts';

export interface TargetContainer {
  name: string;
  /** Empty while the container has not started. */
  containerId: string;
  restartCount: number;
  ready: boolean;
}

export function containersOf(pod: Pod): TargetContainer[] {
  return (pod.status?.containerStatuses ?? []).map((c) => ({ name: c.name, containerId: runtimeId(c.containerID), restartCount: c.restartCount, ready: c.ready }));
}

/**
 * The running containers `names` picks, or the pod's first container when names is omitted (Chaos Mesh's meaning of
 * `containerNames`); a problem for people when one of them is not running.
 */
export function namedContainers(pod: Pod, names: readonly string[] | undefined): { containers: TargetContainer[]; problem?: string } {
  const all = containersOf(pod);
  const wanted = names ?? (pod.spec?.containers[0] ? [pod.spec.containers[0].name] : []);
  const found = wanted.map((name) => all.find((c) => c.name === name && c.containerId !== ''));
  const missing = wanted.filter((_, i) => found[i] === undefined);
  if (missing.length > 0) return { containers: [], problem: `no running container named ${missing.join(', ')} in the pod (it has ${all.map((c) => c.name).join(', ') || 'none'})` };
  return { containers: found.filter((c) => c !== undefined) };
}
