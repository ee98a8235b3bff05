/**
 * A pod's network namespace on the test-bed node, named so that the network lab's traffic tools can run in it
 * (`ip netns attach`, which only bind-mounts the namespace: detaching leaves the pod's network as it was).
 */
import { randomBytes } from 'node:crypto';
import type { ContainerdRuntime } from '../../src/daemon/runtime/containerd.ts';
import { run } from '../../src/util/exec.ts';
import type { Netns } from '../vm/scenarios/net-lab.ts';

export interface PodNetns extends Netns {
  detach(): Promise<void>;
}

/** The namespace of the pod whose container is `containerID` as pod status names it (`containerd://<id>`). */
export async function attachPodNetns(containerd: ContainerdRuntime, containerID: string | undefined): Promise<PodNetns> {
  const pid = await containerd.taskPid((containerID ?? '').replace(/^containerd:\/\//, ''));
  const name = `kp${randomBytes(4).toString('hex')}`;
  await run(['ip', 'netns', 'attach', name, String(pid)]);
  return { name, path: `/run/netns/${name}`, detach: async () => { await run(['ip', 'netns', 'del', name], { allowFailure: true }); } };
}
