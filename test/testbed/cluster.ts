/** The whole test-bed cluster: control plane, and optionally the node; what `npm run cluster` drives. */
import { CONTROL_PLANE_DIR, stopControlPlane } from './control-plane.ts';
import { stopNode } from './node/index.ts';

/** Stops the node first (its pods, mounts and network), then the control plane, and removes all state. */
export async function stopCluster(dir = CONTROL_PLANE_DIR): Promise<void> {
  await stopNode(dir);
  await stopControlPlane(dir);
}
