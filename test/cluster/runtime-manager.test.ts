/**
 * A whole operator process against a real kube-apiserver: health endpoints,
 * metrics, leader-gated controllers, and a graceful SIGTERM shutdown that
 * drains running reconciles and releases the Lease.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { KubeClient } from '../../src/kube/client.ts';
import { configMaps, leases } from '../../src/kube/resources.ts';
import type { ConfigMap } from '../../src/kube/types.ts';
import { awaitChange } from '../../src/runtime/action.ts';
import { Controller } from '../../src/runtime/controller.ts';
import { Informer } from '../../src/runtime/informer.ts';
import { Manager } from '../../src/runtime/manager.ts';
import { RuntimeMetrics } from '../../src/runtime/runtime-metrics.ts';
import { onShutdownSignals } from '../../src/runtime/shutdown.ts';
import { adminClient, createScratchNamespace, deleteNamespaceAndWait, until } from '../testbed/kube-fixtures.ts';

let ns: string;
let client: KubeClient;

before(async () => {
  client = await adminClient();
  ns = await createScratchNamespace(client, 'kerris-manager');
});

after(async () => {
  await deleteNamespaceAndWait(client, ns);
  client.close();
});

async function get(port: number, path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: res.status, body: await res.text() };
}

describe('Manager', () => {
  it('serves health and metrics, reconciles while leading, and on SIGTERM drains, releases the Lease and closes', async (t) => {
    const metrics = new RuntimeMetrics();
    const informer = new Informer<ConfigMap>({ client, resource: configMaps, namespace: ns, labelSelector: 'suite=manager', observer: metrics.informerObserver('configmaps') });
    const reconciled: string[] = [];
    let inFlight = 0;
    const controller = new Controller<ConfigMap>({
      name: 'manager-test', informer, metrics, drainTimeoutMs: 5_000,
      reconcile: async (cm) => {
        inFlight += 1;
        // Slow enough that SIGTERM arrives while one runs.
        await sleep(cm.metadata.name === 'slow' ? 1_000 : 0);
        reconciled.push(cm.metadata.name ?? '');
        inFlight -= 1;
        return awaitChange();
      },
    });
    const manager = new Manager({
      informers: [informer], controllers: [controller], metrics,
      health: { port: 0, host: '127.0.0.1' },
      leaderElection: { client, namespace: ns, name: 'kerris-manager-test', identity: 'manager-a', leaseDurationMs: 3_000, renewDeadlineMs: 2_000, retryPeriodMs: 300 },
    });
    const shutdown = onShutdownSignals({ forceAfterMs: 30_000, exit: (code) => assert.fail(`the shutdown forced an exit with ${code}`) });
    t.after(() => shutdown.dispose());
    const running = manager.run(shutdown.signal);
    await until(() => manager.port !== undefined, 5_000, 'the health server');
    const port = manager.port ?? 0;
    assert.equal((await get(port, '/healthz')).status, 200);
    await until(async () => (await get(port, '/readyz')).status === 200, 10_000, '/readyz to turn ready (synced and leading)');
    assert.equal(manager.elector?.isLeader, true);

    await client.create(configMaps, { metadata: { name: 'quick', namespace: ns, labels: { suite: 'manager' } } });
    await until(() => reconciled.includes('quick'), 10_000, 'the reconcile of quick');
    const scraped = await get(port, '/metrics');
    assert.equal(scraped.status, 200);
    for (const line of [
      `kerris_leader_election_is_leader{lease="${ns}/kerris-manager-test"} 1`,
      'kerris_reconcile_total{controller="manager-test",result="success"} 1',
      'kerris_informer_lists_total{informer="configmaps"} 1',
      'kerris_workqueue_adds_total{name="manager-test"} 1',
    ]) assert.ok(scraped.body.includes(`${line}\n`), `/metrics has ${line}`);

    await client.create(configMaps, { metadata: { name: 'slow', namespace: ns, labels: { suite: 'manager' } } });
    await until(() => inFlight === 1, 10_000, 'the slow reconcile to start');
    process.kill(process.pid, 'SIGTERM');
    await until(() => shutdown.signal.aborted, 1_000, 'SIGTERM to abort the signal');
    const readyz = await get(port, '/readyz');
    assert.equal(readyz.status, 503, 'not ready while shutting down');
    assert.match(readyz.body, /shutting down/);
    assert.equal(await running, 'stopped');
    assert.ok(reconciled.includes('slow'), 'the running reconcile finished before the process stopped');
    const lease = await client.get(leases, 'kerris-manager-test', { namespace: ns });
    assert.ok(!lease.spec?.holderIdentity, 'the Lease was released');
    await assert.rejects(get(port, '/healthz'), 'the health server is closed');
    assert.match(metrics.registry.render(), new RegExp(`kerris_leader_election_is_leader\\{lease="${ns}/kerris-manager-test"\\} 0\\n`));
  });
});
