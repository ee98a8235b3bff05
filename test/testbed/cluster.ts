/** The whole test-bed cluster: control plane, and optionally the node; what `npm run cluster` drives. */
import { CONTROL_PLANE_DIR, stopControlPlane } from './control-plane.ts';
import { stopNetemNode } from './netem-node/index.ts';
import { stopNode } from './node/index.ts';

/** Stops the netem node (its VM, tap and route) and the node (pods, mounts, network), then the control plane, and removes all state. */
export async function stopCluster(dir = CONTROL_PLANE_DIR): Promise<void> {
  await stopNetemNode(dir);
  await stopNode(dir);
  await stopControlPlane(dir);
}
