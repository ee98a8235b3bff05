/**
 * Two failures at once, on the real cluster: the node daemon cut off from every controller (its gRPC port blocked
 * in its pod's network namespace) while the leading controller is killed and the other replica takes over. The
 * daemon must end the fault by itself when the lease lapses; once it is reachable again the new leader restates the
 * fault for the rest of the duration, held once, never twice; deleting the experiment leaves nothing behind.
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { snapshotKernelState } from '../../src/daemon/net/snapshot.ts';
import { run } from '../../src/util/exec.ts';
import { runtimeId } from '../../src/controller/daemons/injection.ts';
import { LEASE_NAME } from '../../src/controller/operator.ts';
import { daemonClientAs, KERRIS_NAMESPACE } from '../testbed/kerris.ts';
import { kubectl, kubectlJson } from '../testbed/kubectl.ts';
import { condition } from './chaos-fixtures.ts';
import { networkCluster, until, type AppPod } from './network-fixtures.ts';

/** The controller's lease on each daemon (deploy/controller: --daemon-lease-ttl). */
const LEASE_TTL_MS = 10_000;

const net = networkCluster('e2e-cut');

describe('a daemon cut off during a leader failover', { timeout: 600_000 }, () => {
  it('the daemon ends the fault when the lease lapses; the new leader restates it once; delete leaves nothing', async (t: TestContext) => {
    const namespace = await net.fx.newApp(2);
    const [a, b] = await net.appPods(namespace) as [AppPod, AppPod];
    const aNet = a.netns;
    const before = await snapshotKernelState(aNet.path);
    const connects = async (): Promise<boolean> => (await net.tools.traffic<{ ok: boolean }>(aNet, ['tcp-connect', b.ip, '7000', '1000'])).ok;

    await net.fx.applyChaos(namespace, 'cut', {
      action: 'partition', duration: '10m', selector: { pods: { [namespace]: [a.name] } }, target: { mode: 'all', selector: { pods: { [namespace]: [b.name] } } },
    });
    const chaos = await net.fx.waitChaos(namespace, 'cut', 'injected', (c) => condition(c, 'AllInjected')?.status === 'True');
    await until('partitioned', 5_000, async () => !await connects());

    // Cut: nothing reaches the daemon's gRPC port.
    const { client, podName } = await daemonClientAs(net.plane, 'kerris-controller');
    client.close();
    const daemon = await kubectlJson<{ status: { containerStatuses?: Array<{ containerID?: string }> } }>(net.plane, ['get', 'pod', podName, '-n', KERRIS_NAMESPACE]);
    const daemonPid = await net.containerd.taskPid(runtimeId(daemon.status.containerStatuses?.[0]?.containerID));
    const nft = (script: string) => run(['nsenter', '-t', String(daemonPid), '-n', 'nft', '-f', '-'], { input: script });
    await nft('table inet kerris_test_cut {\n  chain input {\n    type filter hook input priority -10;\n    tcp dport 9443 drop\n  }\n}\n');
    const cutAt = Date.now();
    try {
      // Failover: the leader is killed at once; the other replica takes the Lease.
      const lease = await kubectlJson<{ spec: { holderIdentity?: string } }>(net.plane, ['get', 'lease', LEASE_NAME, '-n', KERRIS_NAMESPACE]);
      const leader = lease.spec.holderIdentity ?? '';
      assert.ok(leader !== '', 'a leader holds the Lease');
      await kubectl(net.plane, ['delete', 'pod', leader, '-n', KERRIS_NAMESPACE, '--grace-period=0', '--force'], { allowFailure: true });
      const revertedMs = await until('the daemon to end the fault by itself', LEASE_TTL_MS + 10_000, connects);
      t.diagnostic(`cut + leader killed → fault ended by the daemon after ${revertedMs} ms (lease TTL ${LEASE_TTL_MS} ms)`);
      assert.ok(Date.now() - cutAt <= LEASE_TTL_MS + 2_000 + 1_500, `ended within the lease TTL + 2 s of the cut (${Date.now() - cutAt} ms)`);
      await until('a new leader', 60_000, async () => {
        const now = await kubectlJson<{ spec: { holderIdentity?: string } }>(net.plane, ['get', 'lease', LEASE_NAME, '-n', KERRIS_NAMESPACE]);
        return (now.spec.holderIdentity ?? leader) !== leader;
      });
    } finally {
      await nft('delete table inet kerris_test_cut\n');
    }
    // Reachable again: the new leader states the held fault for the rest of the duration.
    const restatedMs = await until('the new leader restates the partition', 60_000, async () => !await connects());
    t.diagnostic(`reconnected → partition restated by the new leader after ${restatedMs} ms`);
    const { client: check } = await daemonClientAs(net.plane, 'kerris-controller');
    try {
      const held = await check.list({ experiment: chaos.metadata.uid ?? '' });
      assert.equal(held.injections.length, 1, `held once, not ${held.injections.length} times`);
    } finally {
      check.close();
    }
    assert.equal((await net.fx.getChaos(namespace, 'cut')).status?.phase, 'Running');

    await kubectl(net.plane, ['delete', 'networkchaos', 'cut', '-n', namespace, '--wait=true', '--timeout=60s'], { timeoutMs: 90_000 });
    await until('whole again', 5_000, connects);
    assert.deepEqual(await snapshotKernelState(aNet.path), before, 'A\'s network state as before');
  });
});
