/** What every fault the node daemons hold names the same way: the experiment, the container, the deadline. */
import type { KubeObject } from '../../kube/types.ts';

/** The chaos object's UID names the experiment on every node. */
export const experimentOf = (chaos: KubeObject): string => chaos.metadata.uid ?? '';

/** containerStatuses carry `<runtime>://<id>`; the daemon takes the runtime's own ID. */
export function runtimeId(containerID: string | undefined): string {
  return containerID?.replace(/^[a-z0-9.+-]+:\/\//, '') ?? '';
}

/**
 * A daemon-side deadline a little past the duration: the controller normally takes the fault away itself and
 * records it; the daemon's own deadline is the backstop when the controller cannot.
 */
const DEADLINE_MARGIN_MS = 3_000;
/** The daemon's deadline field is 32 bits of milliseconds. */
const MAX_DEADLINE_MS = 2 ** 32 - 1;

/** The deadline to send with a fault that has `remainingMs` of its duration left. */
export function daemonDeadlineMs(remainingMs: number): number {
  return Math.min(MAX_DEADLINE_MS, remainingMs + DEADLINE_MARGIN_MS);
}
