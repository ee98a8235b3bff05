/**
 * What tests ask the test bed for. Each call returns a ready environment,
 * shared by every test of one run, and starts it if nothing runs yet. A
 * missing prerequisite throws PrerequisiteError; nothing is ever skipped.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { CONTROL_PLANE_DIR, runningControlPlane, startControlPlane, type ControlPlane } from './control-plane.ts';
import { deployedDaemonImage } from './kerris.ts';
import { withLock } from './lock.ts';
import { startNetemNode, type NetemNode } from './netem-node/index.ts';
import { startNode, type ClusterNode } from './node/index.ts';
import { RUN_DIR } from './paths.ts';

export type { ControlPlane } from './control-plane.ts';
export type { ClusterNode } from './node/index.ts';
export type { NetemNode } from './netem-node/index.ts';
export { PrerequisiteError } from './prerequisites.ts';

export async function controlPlane(): Promise<ControlPlane> {
  const running = await runningControlPlane(CONTROL_PLANE_DIR);
  if (running) return running;
  await mkdir(RUN_DIR, { recursive: true });
  return withLock(join(RUN_DIR, 'cluster.lock'), async () => (await runningControlPlane(CONTROL_PLANE_DIR)) ?? startControlPlane(CONTROL_PLANE_DIR));
}

/** A control plane with one Ready node (kubelet, containerd, CNI), started if none runs. */
export async function clusterNode(): Promise<{ plane: ControlPlane; node: ClusterNode }> {
  const plane = await controlPlane();
  const node = await withLock(join(RUN_DIR, 'node.lock'), () => startNode(plane));
  return { plane, node };
}

/**
 * The cluster with its node and the netem node: a second node in the kernel VM (Debian's stock kernel, with
 * sch_netem), labelled kerris.dev/kernel=stock and tainted kerris.dev/netem-node=true:NoSchedule. Started if it
 * does not run; if kerris is deployed, the daemon image it runs is imported at boot, so its daemon pod starts there.
 */
export async function netemNode(): Promise<{ plane: ControlPlane; node: ClusterNode; netem: NetemNode }> {
  const { plane, node } = await clusterNode();
  const netem = await withLock(join(RUN_DIR, 'netem-node.lock'), async () => {
    const daemon = await deployedDaemonImage(plane);
    return startNetemNode(plane, node, daemon === undefined ? [] : [daemon]);
  });
  return { plane, node, netem };
}
