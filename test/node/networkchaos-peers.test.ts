/**
 * NetworkChaos peers that are not pods of the cluster, through the operator on the real cluster: an IPv6 block (the
 * test-bed cluster is IPv4-only, so the test gives two pods IPv6 addresses of their own on their shared bridge), and
 * a host name the controller resolves, recorded in status.network.resolved. What must be hit is, what must not is
 * not, and each pod's network state is as before afterwards.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { snapshotKernelState } from '../../src/daemon/net/snapshot.ts';
import { LEASE_NAME } from '../../src/controller/operator.ts';
import { KERRIS_NAMESPACE } from '../testbed/kerris.ts';
import { kubectl, kubectlJson } from '../testbed/kubectl.ts';
import type { PodNetns } from '../testbed/pod-netns.ts';
import { condition } from './chaos-fixtures.ts';
import { networkCluster, until, type AppPod } from './network-fixtures.ts';

const net = networkCluster('e2e-peers');
const { tools } = net;
const SERVE_PORT = 7500;

const connects = async (from: PodNetns, host: string, port: number): Promise<boolean> =>
  (await tools.traffic<{ ok: boolean }>(from, ['tcp-connect', host, String(port), '1000'])).ok;

describe('NetworkChaos peers outside the cluster\'s pods', { timeout: 600_000 }, () => {
  it('an IPv6 block in externalTargets: IPv6 to it is cut, IPv4 to the same pod and IPv6 to others are not', async () => {
    const namespace = await net.fx.newApp(3);
    const [a, b, c] = await net.appPods(namespace) as [AppPod, AppPod, AppPod];
    // Addresses on the pods' shared bridge segment, reachable without a route; they go with the pods.
    const v6 = { a: 'fd42:6b65::a', b: 'fd42:6b65::b', c: 'fd42:6b65::c' };
    for (const [pod, address] of [[a, v6.a], [b, v6.b], [c, v6.c]] as const) await tools.exec(pod.netns, ['ip', '-6', 'addr', 'add', `${address}/64`, 'dev', 'eth0', 'nodad']);
    const before = await Promise.all([a, b, c].map((p) => snapshotKernelState(p.netns.path)));
    const servers = await Promise.all([b, c].map((p) => tools.serve(p.netns, ['tcp-serve', String(SERVE_PORT)])));
    try {
      await until('IPv6 between the pods', 10_000, async () => await connects(a.netns, v6.b, SERVE_PORT) && await connects(a.netns, v6.c, SERVE_PORT));
      await net.fx.applyChaos(namespace, 'v6', { action: 'partition', selector: { pods: { [namespace]: [a.name] } }, externalTargets: [`${v6.b}/128`] });
      await until('IPv6 to B cut', 5_000, async () => !await connects(a.netns, v6.b, SERVE_PORT));
      assert.ok(await connects(a.netns, b.ip, SERVE_PORT), 'IPv4 to the same pod is not hit');
      assert.ok(await connects(a.netns, v6.c, SERVE_PORT), 'IPv6 to another pod is not hit');
      await kubectl(net.plane, ['delete', 'networkchaos', 'v6', '-n', namespace, '--wait=true', '--timeout=60s'], { timeoutMs: 90_000 });
      await until('IPv6 to B whole again', 5_000, async () => connects(a.netns, v6.b, SERVE_PORT));
    } finally {
      await Promise.all(servers.map((s) => s.stop()));
    }
    assert.deepEqual(await Promise.all([a, b, c].map((p) => snapshotKernelState(p.netns.path))), before, 'every pod\'s network state as before');
  });

  it('a host name in externalTargets is resolved by the controller, recorded in status, and its address cut', async () => {
    const namespace = await net.fx.newApp(2);
    const [a, b] = await net.appPods(namespace) as [AppPod, AppPod];
    // The one name the leading controller's resolver surely knows besides localhost: its own pod's host name
    // (the kubelet writes it into the pod's /etc/hosts), which is the pod name.
    const leader = (await kubectlJson<{ spec: { holderIdentity?: string } }>(net.plane, ['get', 'lease', LEASE_NAME, '-n', KERRIS_NAMESPACE])).spec.holderIdentity ?? '';
    const leaderIp = (await kubectlJson<{ status: { podIP?: string } }>(net.plane, ['get', 'pod', leader, '-n', KERRIS_NAMESPACE])).status.podIP ?? '';
    const healthPort = 8080;
    const before = await snapshotKernelState(a.netns.path);
    assert.ok(await connects(a.netns, leaderIp, healthPort), 'A reaches the controller before');
    await net.fx.applyChaos(namespace, 'byname', { action: 'partition', selector: { pods: { [namespace]: [a.name] } }, externalTargets: [`${leader}:${healthPort}`] });
    const running = await net.fx.waitChaos(namespace, 'byname', 'injected', (x) => condition(x, 'AllInjected')?.status === 'True');
    assert.deepEqual(running.status?.network?.resolved, [{ host: leader, addresses: [leaderIp] }], 'what the name resolved to is in status');
    await until('A cut from the controller\'s port', 5_000, async () => !await connects(a.netns, leaderIp, healthPort));
    assert.ok(await connects(a.netns, b.ip, 7000), 'A still reaches B');
    await kubectl(net.plane, ['delete', 'networkchaos', 'byname', '-n', namespace, '--wait=true', '--timeout=60s'], { timeoutMs: 90_000 });
    await until('A reaches the controller again', 5_000, async () => connects(a.netns, leaderIp, healthPort));
    assert.deepEqual(await snapshotKernelState(a.netns.path), before);
  });
});
