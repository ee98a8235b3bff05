import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { run } from '../../src/util/exec.ts';
import { controlPlane, type ControlPlane } from '../testbed/index.ts';
import { kubectl } from '../testbed/kubectl.ts';
import { withLock } from '../testbed/lock.ts';
import { cgroupHierarchies, cgroupTreeProcesses } from '../testbed/node/cgroups.ts';
import { KUBELET_CGROUP_ROOT } from '../testbed/node/kubelet.ts';
import { processesReferencing } from '../testbed/node/procs.ts';
import { mountPoints } from '../testbed/node/mounts.ts';
import { nodeLeftovers, POD_NETWORK, readSysctls, startNode, stopNode } from '../testbed/node/index.ts';
import { RUN_DIR } from '../testbed/paths.ts';
import { createNamespace, deleteNamespace, eventually, pods, running, workloadDeployment } from '../testbed/node/testing.ts';

const NAMESPACE = `kerris-node-stop-${process.pid}`;

/**
 * The host state a node touches, in a form that compares equal when nothing changed. Scoped to what a node can
 * create, since other tests on the machine add their own interfaces, cgroups and rules meanwhile.
 */
async function hostState(stateDir: string) {
  const lines = async (argv: readonly [string, ...string[]]): Promise<string[]> =>
    (await run(argv, { allowFailure: true })).stdout.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
  const subnetPrefix = POD_NETWORK.subnet.slice(0, POD_NETWORK.subnet.lastIndexOf('.') + 1);
  const ours = (line: string): boolean => /\b(KUBE|CNI)-/.test(line) || line.includes(POD_NETWORK.bridge) || line.includes(subnetPrefix);
  const iptables: Record<string, string[]> = {};
  for (const save of ['iptables-save', 'ip6tables-save', 'iptables-legacy-save', 'ip6tables-legacy-save'] as const) {
    iptables[save] = (await lines([save])).filter(ours);
  }
  const cgroups: string[] = [];
  for (const hierarchy of await cgroupHierarchies()) {
    for (const name of await readdir(hierarchy)) if (name.startsWith('kerris-node') || name.startsWith('kubepods')) cgroups.push(join(hierarchy, name));
  }
  return {
    links: (await lines(['ip', '-o', 'link', 'show'])).map((l) => l.split(': ')[1]?.split('@')[0] ?? '')
      .filter((name) => /^veth[0-9a-f]{8}$/.test(name) || name === POD_NETWORK.bridge).sort(),
    netns: (await lines(['ip', 'netns', 'list'])).filter((name) => name.startsWith('cni-')),
    mounts: (await mountPoints()).filter((point) => point.startsWith(stateDir) || point.includes('/netns/cni-')).sort(),
    cgroups,
    sysctls: await readSysctls(),
    iptables,
  };
}

/** A process's identity that survives pid reuse: pid and start time; undefined once it is gone or a zombie. */
function processIdentity(pid: number): string | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // Fields after the parenthesised command: state is the 1st, start time the 20th.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return fields[0] === 'Z' ? undefined : `${pid}@${fields[19]}`;
}

describe('stopping and restarting the test-bed node', () => {
  let plane: ControlPlane | undefined;

  after(async () => {
    // Leave the shared test bed as other tests expect it: a Ready node.
    if (!plane) return;
    const p = plane;
    await withLock(join(RUN_DIR, 'node.lock'), () => startNode(p));
    await deleteNamespace(p, NAMESPACE);
  });

  it('leaves no processes, mounts, netns, veths, bridge, cgroups, iptables rules or changed sysctls behind', async () => {
    plane = await controlPlane();
    const p = plane;
    await withLock(join(RUN_DIR, 'node.lock'), () => stopNode(p.stateDir));
    const before = await hostState(p.stateDir);

    const node = await withLock(join(RUN_DIR, 'node.lock'), () => startNode(p));
    await createNamespace(p, NAMESPACE);
    await kubectl(p, ['apply', '-f', '-'], { input: workloadDeployment(node, NAMESPACE, 'busy', 2) });
    await eventually('2 Running pods', 90_000, async () => {
      const up = running(await pods(p, NAMESPACE, 'app=busy'));
      return up.length === 2 ? up : undefined;
    }, async () => (await kubectl(p, ['get', 'pods', '-n', NAMESPACE, '-o', 'wide'], { allowFailure: true })).stdout);

    // The check sees a running node's traces, so an empty list after stop means they were removed.
    const whileRunning = await nodeLeftovers(p.stateDir);
    for (const trace of ['process', 'mount', 'cgroup', `bridge ${POD_NETWORK.bridge}`, 'interface veth', 'file /var/log/containers/', 'iptables-save: ']) {
      assert.ok(whileRunning.some((l) => l.startsWith(trace)), `a running node shows a ${trace}: ${whileRunning.join('\n')}`);
    }
    assert.notDeepEqual((await hostState(p.stateDir)).links, before.links, 'pods add interfaces while the node runs');

    const started = Date.now();
    await withLock(join(RUN_DIR, 'node.lock'), () => stopNode(p.stateDir));
    process.stderr.write(`stopNode with 2 pods took ${Date.now() - started} ms\n`);

    assert.deepEqual(await nodeLeftovers(p.stateDir), []);
    assert.deepEqual(await hostState(p.stateDir), before);
  });

  it('startNode after kubelet and containerd were SIGKILLed clears their remains and the pods run again', async () => {
    const p = plane ?? await controlPlane();
    plane = p;
    await withLock(join(RUN_DIR, 'node.lock'), () => startNode(p));
    // After a restart the API still shows the pods Running from before; their processes tell that they run now.
    const twoRunning = () => eventually('2 Running pods with their processes', 90_000, async () => {
      const up = running(await pods(p, NAMESPACE, 'app=busy'));
      const ids = (await cgroupTreeProcesses(KUBELET_CGROUP_ROOT)).map(processIdentity).filter((id) => id !== undefined);
      return up.length === 2 && ids.length >= 4 ? ids : undefined;
    }, async () => (await kubectl(p, ['get', 'pods', '-n', NAMESPACE, '-o', 'wide'], { allowFailure: true })).stdout);
    // pause and the workload's shell, httpd and nc, in each of 2 pods.
    const podProcesses = await twoRunning();

    const daemons = (await processesReferencing(join(p.stateDir, 'node'))).filter((q) => /\/(kubelet|containerd)$/.test(q.argv[0] ?? ''));
    assert.equal(daemons.length, 2, `kubelet and containerd: ${daemons.map((d) => d.argv[0]).join(' ')}`);
    for (const daemon of daemons) process.kill(daemon.pid, 'SIGKILL');

    await withLock(join(RUN_DIR, 'node.lock'), () => startNode(p));
    const restarted = await twoRunning();
    assert.ok(restarted.every((id) => !podProcesses.includes(id)), 'the pods run in new processes');
    const survivors = podProcesses.filter((id) => processIdentity(Number(id.split('@')[0])) === id);
    assert.deepEqual(survivors, [], 'no process of the killed node\'s pods survives the restart');
  });
});
