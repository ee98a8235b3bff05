/**
 * The informer behind a loopback TCP proxy that can reset or freeze its
 * connections to the real kube-apiserver: a watch broken mid-stream, and one
 * that stays open but goes silent, must both be restarted without losing events.
 */
import assert from 'node:assert/strict';
import { createConnection, createServer, type AddressInfo, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { KubeClient } from '../../src/kube/client.ts';
import { DEFAULT_RETRY } from '../../src/kube/retry.ts';
import { configMaps } from '../../src/kube/resources.ts';
import type { ConfigMap } from '../../src/kube/types.ts';
import { Informer, type RestartReason } from '../../src/runtime/informer.ts';
import { keyOf } from '../../src/runtime/store.ts';
import { adminClient, createScratchNamespace, deleteNamespaceAndWait, until } from '../testbed/kube-fixtures.ts';

let ns: string;
let admin: KubeClient;

/** Forwards 127.0.0.1:<port> to the apiserver; cut() resets every open connection, freeze() stops forwarding on them. */
async function startProxy(target: URL) {
  const pairs = new Set<{ client: Socket; upstream: Socket }>();
  const server = createServer((clientSocket) => {
    const upstream = createConnection({ host: target.hostname, port: Number(target.port) });
    const pair = { client: clientSocket, upstream };
    pairs.add(pair);
    clientSocket.pipe(upstream);
    upstream.pipe(clientSocket);
    const forget = (): void => {
      pairs.delete(pair);
      clientSocket.destroy();
      upstream.destroy();
    };
    clientSocket.on('error', forget).on('close', forget);
    upstream.on('error', forget).on('close', forget);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    connections: () => pairs.size,
    cut(): void {
      for (const { client } of pairs) client.resetAndDestroy();
    },
    freeze(): void {
      for (const { client, upstream } of pairs) {
        upstream.unpipe(client);
        client.unpipe(upstream);
        upstream.pause();
      }
    },
    async close(): Promise<void> {
      for (const { client, upstream } of pairs) {
        client.destroy();
        upstream.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

before(async () => {
  admin = await adminClient();
  ns = await createScratchNamespace(admin, 'kerris-faults');
});

after(async () => {
  await deleteNamespaceAndWait(admin, ns);
  admin.close();
});

async function proxiedInformer(t: { after(fn: () => Promise<void>): void }, label: string, idleTimeoutMs: number) {
  const proxy = await startProxy(admin.transport.config.server);
  // The test counts the informer's own restarts: a reset that hits the watch's first request would otherwise be
  // retried inside the transport, unseen.
  const client = new KubeClient({ ...admin.transport.config, server: new URL(`https://127.0.0.1:${proxy.port}`) }, { retry: { ...DEFAULT_RETRY, maxAttempts: 1 } });
  const restarts: RestartReason[] = [];
  const heard = new Set<string>();
  const informer = new Informer<ConfigMap>({
    client, resource: configMaps, namespace: ns, labelSelector: `suite=${label}`, idleTimeoutMs,
    backoff: { initialMs: 50, maxMs: 500, factor: 2, jitter: 0.2 },
    observer: { watchRestarted: (reason) => restarts.push(reason) },
  });
  informer.addHandlers({ added: (o) => heard.add(`added ${o.metadata.name}`), deleted: (o) => heard.add(`deleted ${o.metadata.name}`) });
  const stop = new AbortController();
  const running = informer.run(stop.signal);
  t.after(async () => {
    stop.abort();
    await running;
    client.close();
    await proxy.close();
  });
  await informer.waitForSync(AbortSignal.timeout(10_000));
  return { proxy, informer, restarts, heard };
}

async function cacheMatchesList(informer: Informer<ConfigMap>, label: string): Promise<boolean> {
  const list = await admin.list(configMaps, { namespace: ns, labelSelector: `suite=${label}` });
  const want = list.items.map((o) => `${keyOf(o)}@${o.metadata.resourceVersion}`).sort();
  const have = informer.store.list().map((o) => `${keyOf(o)}@${o.metadata.resourceVersion}`).sort();
  return JSON.stringify(want) === JSON.stringify(have);
}

describe('Informer under network faults', () => {
  it('restarts a watch whose connection is reset mid-stream and misses nothing', async (t) => {
    const { proxy, informer, restarts, heard } = await proxiedInformer(t, 'reset', 60_000);
    const names: string[] = [];
    for (let i = 0; i < 40; i++) {
      const name = `c${i}`;
      names.push(name);
      await admin.create(configMaps, { metadata: { name, namespace: ns, labels: { suite: 'reset' } } });
      if (i % 4 === 0) await admin.delete(configMaps, name, { namespace: ns });
      if (i % 10 === 9) {
        await until(() => proxy.connections() > 0, 5_000, 'the informer to reconnect');
        proxy.cut();
      }
    }
    await until(() => cacheMatchesList(informer, 'reset'), 15_000, 'the cache to match a fresh list');
    for (const [i, name] of names.entries()) {
      assert.ok(heard.has(`added ${name}`), `heard ${name} added`);
      if (i % 4 === 0) assert.ok(heard.has(`deleted ${name}`), `heard ${name} deleted`);
    }
    assert.ok(restarts.filter((r) => r === 'error').length >= 3, `each reset restarted the watch (${restarts.join(',')})`);
    t.diagnostic(`4 connection resets during 40 writes: restarts ${restarts.join(',')}`);
  });

  it('restarts a watch whose connection stays open but goes silent', async (t) => {
    const { proxy, restarts, heard } = await proxiedInformer(t, 'frozen', 1_000);
    proxy.freeze();
    await admin.create(configMaps, { metadata: { name: 'during-freeze', namespace: ns, labels: { suite: 'frozen' } } });
    const frozeAt = Date.now();
    await until(() => heard.has('added during-freeze'), 10_000, 'the change made while the old connection was frozen');
    const recovered = Date.now() - frozeAt;
    assert.ok(restarts.includes('stalled'), `the watchdog restarted the watch (${restarts.join(',')})`);
    assert.ok(recovered >= 900 && recovered < 5_000, `recovered after the 1 s idle timeout: ${recovered} ms`);
    t.diagnostic(`silent connection detected and the missed change delivered after ${recovered} ms (idle timeout 1000 ms)`);
  });
});
