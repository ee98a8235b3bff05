// The netem node: a second Kubernetes node of the test-bed cluster in the kernel VM, whose kernel (Debian's stock one)
// has sch_netem. It is Ready, labelled and tainted so that only pods meant for it land there; a pod pinned to it runs;
// netem in that pod's network namespace delays pings between two pods on the node by the delay it was given, and
// removing it gives the qdiscs back as they were; the kerris daemon there is Ready and finds netem.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { ClusterNode, ControlPlane, NetemNode } from '../../testbed/index.ts';
import { daemonClientAs, kerrisOnNetemNode } from '../../testbed/kerris.ts';
import { kubectl, kubectlJson } from '../../testbed/kubectl.ts';
import { KERNEL_LABEL, NETEM_NODE_NAME, NETEM_TAINT, netemNodeObject, netemNodeTimings } from '../../testbed/netem-node/index.ts';
import { median, netemExec, netemSession, ping, startNetemPods, type NetemSession } from '../../testbed/netem-node/pods.ts';
import { createNamespace, deleteNamespace, eventually } from '../../testbed/node/testing.ts';
import { requireExecutables } from '../../testbed/prerequisites.ts';

const DELAY_MS = 100;
const PINGS = 20;

let plane: ControlPlane;
let node: ClusterNode;
let netem: NetemNode;
const namespace = `netem-node-${randomBytes(3).toString('hex')}`;
/** The netem node for this file: stopped again at the end if this file started it, so the cluster is left as found. */
let session: NetemSession | undefined;

describe('the netem node: a Kubernetes node on Debian\'s stock kernel in the VM', { timeout: 1_200_000 }, () => {
  before(async () => {
    // The guest runs the host's tools through the shared root; the node itself checks qemu, the tap and containerd.
    await requireExecutables({ '/usr/sbin/ip': 'iproute2', '/usr/bin/ctr': 'containerd', '/usr/sbin/runc': 'runc', '/usr/sbin/tc': 'iproute2' });
    session = await netemSession();
    ({ plane, node, netem } = session);
    await createNamespace(plane, namespace);
  });

  after(async () => {
    if (session === undefined) return;
    await deleteNamespace(plane, namespace);
    await session.release();
  });

  test('the node is Ready, runs the stock kernel, and is labelled and tainted', async (t) => {
    const object = await netemNodeObject(plane);
    const ready = object.status?.conditions?.find((c) => c.type === 'Ready');
    assert.equal(ready?.status, 'True', `Ready: ${JSON.stringify(ready)}`);
    assert.equal(object.metadata?.labels?.[KERNEL_LABEL.key], KERNEL_LABEL.value);
    assert.deepEqual(object.spec?.taints?.map((taint) => ({ key: taint.key, value: taint.value, effect: taint.effect })), [{ ...NETEM_TAINT }]);
    assert.equal(object.status?.nodeInfo?.kernelVersion, netem.kernelVersion);
    const host = await kubectlJson<{ status?: { nodeInfo?: { kernelVersion?: string } } }>(plane, ['get', 'node', node.name]);
    assert.notEqual(host.status?.nodeInfo?.kernelVersion, netem.kernelVersion, 'the netem node runs another kernel than the host node');
    const timings = await netemNodeTimings(plane);
    t.diagnostic(`${netem.name}: kernel ${netem.kernelVersion}, InternalIP ${netem.internalIP}, pods ${netem.podSubnet}; `
      + `guest booted in ${timings?.bootS} s, Ready ${timings?.readyS} s after qemu started`);
  });

  test('the kerris daemon on the node is Ready, reachable from the host at its pod IP, and finds sch_netem', async () => {
    // The cluster is shared: a redeploy by someone else replaces the daemon pod (and its certificate) at any time, so
    // an unreachable pod is looked up again, for a while.
    const { capabilities, podName } = await eventually('Capabilities from the daemon on the netem node', 120_000, async () => {
      const found = await kerrisOnNetemNode(plane, node).then(() => daemonClientAs(plane, 'kerris-controller', NETEM_NODE_NAME)).catch(() => undefined);
      if (found === undefined) return undefined;
      try {
        return { capabilities: await found.client.capabilities(), podName: found.podName };
      } catch {
        return undefined;
      } finally {
        found.client.close();
      }
    }, async () => (await kubectl(plane, ['get', 'pods', '-n', 'kerris-system', '-o', 'wide'], { allowFailure: true })).stdout);
    assert.equal(capabilities.node, NETEM_NODE_NAME, `${podName} names its node`);
    assert.equal(capabilities.network?.netem, true, `netem on ${podName}: ${JSON.stringify(capabilities.network?.failures)}`);
  });

  test(`netem delay ${DELAY_MS}ms in a pod's network namespace adds ${DELAY_MS} ms to the RTT to a pod on the same node, and is removed without a trace`, async (t) => {
    const [a, b] = await startNetemPods(plane, netem, namespace, ['a', 'b']);
    assert.ok(a && b);
    const target = b.ip;
    const exec = (pod: string, container: 'workload' | 'tc', argv: readonly string[]): Promise<string> => netemExec(plane, namespace, pod, container, argv);
    const pingRtts = async (pod: string, address: string): Promise<number[]> => (await ping(plane, namespace, pod, address, PINGS)).map((r) => r.ms);

    const qdiscBefore = await exec('a', 'tc', ['tc', 'qdisc', 'show', 'dev', 'eth0']);
    const baseline = await pingRtts('a', target);
    await exec('a', 'tc', ['tc', 'qdisc', 'add', 'dev', 'eth0', 'root', 'netem', 'delay', `${DELAY_MS}ms`]);
    const qdiscDelayed = await exec('a', 'tc', ['tc', 'qdisc', 'show', 'dev', 'eth0']);
    const delayed = await pingRtts('a', target);
    await exec('a', 'tc', ['tc', 'qdisc', 'del', 'dev', 'eth0', 'root']);
    const qdiscAfter = await exec('a', 'tc', ['tc', 'qdisc', 'show', 'dev', 'eth0']);
    const recovered = await pingRtts('a', target);

    for (const [phase, rtts] of Object.entries({ baseline, delayed, recovered })) assert.equal(rtts.length, PINGS, `${phase}: pings lost (${rtts.join(' ')})`);
    const increase = median(delayed) - median(baseline);
    t.diagnostic(`RTT median a -> b: baseline ${median(baseline)} ms, netem ${median(delayed)} ms (+${increase.toFixed(2)}), after removal ${median(recovered)} ms`);
    assert.match(qdiscDelayed, new RegExp(`qdisc netem \\S+ root .*delay ${DELAY_MS}ms`));
    // Only a's egress is delayed, so each echo request waits once: +DELAY_MS. TCG adds jitter, hence medians and 10%.
    assert.ok(Math.abs(increase - DELAY_MS) <= DELAY_MS / 10, `RTT grew by ${increase.toFixed(2)} ms, expected ${DELAY_MS} ± ${DELAY_MS / 10}`);
    assert.ok(median(recovered) < median(baseline) + 5, `RTT after removing netem is ${median(recovered)} ms, baseline was ${median(baseline)}`);
    assert.equal(qdiscAfter, qdiscBefore, 'the qdiscs of eth0 are as before');
  });
});
