/** The informer against a real kube-apiserver: cache and handlers, watch restarts, stalls, relist after 410. */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { KubeClient } from '../../src/kube/client.ts';
import type { Resource } from '../../src/kube/resource.ts';
import { configMaps, coreEvents } from '../../src/kube/resources.ts';
import type { KubeObject } from '../../src/kube/types.ts';
import { Informer, type RestartReason } from '../../src/runtime/informer.ts';
import { keyOf } from '../../src/runtime/store.ts';
import { controlPlane, type ControlPlane } from '../testbed/index.ts';
import { adminClient, createScratchNamespace, deleteNamespaceAndWait, until } from '../testbed/kube-fixtures.ts';

let ns: string;
let plane: ControlPlane;
let client: KubeClient;

before(async () => {
  plane = await controlPlane();
  client = await adminClient();
  ns = await createScratchNamespace(client, 'kerris-informer');
});

after(async () => {
  await deleteNamespaceAndWait(client, ns);
  client.close();
});

/** An informer plus a log of what its handlers and observer heard. */
function observed<T extends KubeObject>(resource: Resource<T>, options: { watchTimeoutSeconds?: number; idleTimeoutMs?: number; labelSelector?: string } = {}) {
  const heard: string[] = [];
  const restarts: RestartReason[] = [];
  let lists = 0;
  const informer = new Informer<T>({
    client, resource, namespace: ns, ...options,
    backoff: { initialMs: 50, maxMs: 1_000, factor: 2, jitter: 0.2 },
    observer: { watchRestarted: (reason) => restarts.push(reason), listed: () => { lists += 1; } },
  });
  informer.addHandlers({
    added: (o) => heard.push(`added ${o.metadata.name}`),
    updated: (_old, o) => heard.push(`updated ${o.metadata.name}`),
    deleted: (o) => heard.push(`deleted ${o.metadata.name}`),
  });
  return { informer, heard, restarts, lists: () => lists };
}

/** The cache equals a fresh list: same keys, same resourceVersions. */
async function cacheMatchesList<T extends KubeObject>(informer: Informer<T>, resource: Resource<T>, labelSelector?: string): Promise<boolean> {
  const list = await client.list(resource, { namespace: ns, ...(labelSelector ? { labelSelector } : {}) });
  const want = list.items.map((o) => `${keyOf(o)}@${o.metadata.resourceVersion}`).sort();
  const have = informer.store.list().map((o) => `${keyOf(o)}@${o.metadata.resourceVersion}`).sort();
  return JSON.stringify(want) === JSON.stringify(have);
}

/** etcd's client URL, read from the running kube-apiserver's command line. */
async function etcdUrl(): Promise<string> {
  const pid = (await readFile(join(plane.stateDir, 'run', 'kube-apiserver.pid'), 'utf8')).trim();
  const argv = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0');
  const flag = argv.find((a) => a.startsWith('--etcd-servers='));
  if (!flag) throw new Error(`kube-apiserver (pid ${pid}) has no --etcd-servers flag`);
  const url = flag.slice('--etcd-servers='.length).split(',')[0] ?? '';
  if (!url.startsWith('http://127.0.0.1:')) throw new Error(`etcd at ${url} is not on loopback`);
  return url;
}

/** Compacts etcd's history up to its current revision, as the apiserver does every few minutes. */
async function compactEtcd(): Promise<number> {
  const etcd = await etcdUrl();
  const range = await (await fetch(`${etcd}/v3/kv/range`, { method: 'POST', body: JSON.stringify({ key: Buffer.from('/').toString('base64') }) })).json() as { header: { revision: string } };
  const revision = range.header.revision;
  const compacted = await fetch(`${etcd}/v3/kv/compaction`, { method: 'POST', body: JSON.stringify({ revision, physical: true }) });
  assert.equal(compacted.status, 200, `etcd compaction: ${await compacted.text()}`);
  return Number(revision);
}

describe('Informer', () => {
  it('fills its cache and tells handlers about creates, updates and deletes', async () => {
    await client.create(configMaps, { metadata: { name: 'before', namespace: ns, labels: { suite: 'basic' } } });
    const { informer, heard } = observed(configMaps, { labelSelector: 'suite=basic' });
    const stop = new AbortController();
    const running = informer.run(stop.signal);
    assert.equal(await informer.waitForSync(AbortSignal.timeout(10_000)), true);
    assert.deepEqual(heard, ['added before']);
    await client.create(configMaps, { metadata: { name: 'after', namespace: ns, labels: { suite: 'basic' } } });
    await client.patch(configMaps, 'after', { type: 'merge', body: { data: { v: '1' } } }, { namespace: ns });
    await client.delete(configMaps, 'before', { namespace: ns });
    await client.create(configMaps, { metadata: { name: 'unselected', namespace: ns } });
    await until(() => heard.length >= 4, 10_000, 'four events');
    assert.deepEqual(heard, ['added before', 'added after', 'updated after', 'deleted before']);
    assert.deepEqual(informer.store.keys(), [`${ns}/after`]);
    assert.equal(informer.store.get(`${ns}/after`)?.data?.['v'], '1');
    stop.abort();
    await running;
  });

  it('delivers a change to handlers within milliseconds of the write', async (t) => {
    const informer = new Informer({ client, resource: configMaps, namespace: ns, labelSelector: 'suite=latency' });
    const seenAt = new Map<string, number>();
    informer.addHandlers({ added: (o) => { seenAt.set(o.metadata.name ?? '', performance.now()); } });
    const stop = new AbortController();
    const running = informer.run(stop.signal);
    t.after(async () => { stop.abort(); await running; });
    await informer.waitForSync(AbortSignal.timeout(10_000));
    const latencies: number[] = [];
    for (let i = 0; i < 100; i++) {
      const name = `l${i}`;
      const sent = performance.now();
      await client.create(configMaps, { metadata: { name, namespace: ns, labels: { suite: 'latency' } } });
      await until(() => seenAt.has(name), 5_000, `${name} to arrive`);
      latencies.push((seenAt.get(name) ?? 0) - sent);
    }
    latencies.sort((a, b) => a - b);
    const p50 = latencies[49] ?? 0;
    const p99 = latencies[98] ?? 0;
    t.diagnostic(`create sent -> handler called: p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms over 100 ConfigMaps`);
    assert.ok(p99 < 1_000, `p99 ${p99} ms`);
  });

  it('restarts watches the apiserver ends and loses no event across restarts', async (t) => {
    const { informer, heard, restarts } = observed(configMaps, { watchTimeoutSeconds: 1, labelSelector: 'suite=restart' });
    const stop = new AbortController();
    const running = informer.run(stop.signal);
    await informer.waitForSync(AbortSignal.timeout(10_000));
    const names: string[] = [];
    const began = Date.now();
    for (let i = 0; Date.now() - began < 5_000; i++) {
      const name = `r${i}`;
      names.push(name);
      await client.create(configMaps, { metadata: { name, namespace: ns, labels: { suite: 'restart' } } });
      if (i % 3 === 0) await client.patch(configMaps, name, { type: 'merge', body: { data: { touched: 'yes' } } }, { namespace: ns });
      if (i % 5 === 0) await client.delete(configMaps, name, { namespace: ns });
      await sleep(20);
    }
    await until(() => cacheMatchesList(informer, configMaps, 'suite=restart'), 10_000, 'the cache to match a fresh list');
    assert.ok(restarts.filter((r) => r === 'closed').length >= 2, `the watch was ended and restarted several times (${restarts.join(',')})`);
    t.diagnostic(`${names.length} objects written over ${restarts.filter((r) => r === 'closed').length} watch restarts; cache matched the list`);
    for (const [i, name] of names.entries()) {
      assert.ok(heard.includes(`added ${name}`), `heard ${name} added`);
      if (i % 3 === 0) assert.ok(heard.includes(`updated ${name}`), `heard ${name} updated`);
      if (i % 5 === 0) assert.ok(heard.includes(`deleted ${name}`), `heard ${name} deleted`);
    }
    stop.abort();
    await running;
  });

  it('restarts a watch that stays silent past the idle timeout, and still sees later changes', async () => {
    const { informer, heard, restarts } = observed(configMaps, { idleTimeoutMs: 600, labelSelector: 'suite=quiet' });
    const stop = new AbortController();
    const running = informer.run(stop.signal);
    await informer.waitForSync(AbortSignal.timeout(10_000));
    await until(() => restarts.filter((r) => r === 'stalled').length >= 2, 10_000, 'two stall restarts');
    await client.create(configMaps, { metadata: { name: 'late', namespace: ns, labels: { suite: 'quiet' } } });
    await until(() => heard.includes('added late'), 10_000, 'the change after the stalls');
    stop.abort();
    await running;
  });

  it('relists when its resourceVersion was compacted away (410), and catches up on what changed', async (t) => {
    const involvedObject = { apiVersion: 'v1', kind: 'ConfigMap', name: 'subject', namespace: ns };
    const event = (name: string) => ({ metadata: { name, namespace: ns }, involvedObject, reason: 'Probe', message: name, type: 'Normal' as const, count: 1, firstTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z') });
    await client.create(coreEvents, event('e1'));
    // core/v1 Events have no watch cache in kube-apiserver: their watches read etcd, whose compaction answers 410.
    const { informer, heard, restarts, lists } = observed(coreEvents);
    const first = new AbortController();
    const running = informer.run(first.signal);
    await informer.waitForSync(AbortSignal.timeout(10_000));
    first.abort();
    await running;
    const staleVersion = Number(informer.resourceVersion);
    await client.delete(coreEvents, 'e1', { namespace: ns });
    await client.create(coreEvents, event('e2'));
    assert.ok(await compactEtcd() > staleVersion);
    const second = new AbortController();
    const resumedAt = Date.now();
    const resumed = informer.run(second.signal);
    await until(() => heard.includes('added e2'), 20_000, 'the relist to find e2');
    t.diagnostic(`caught up through 410 and a relist in ${Date.now() - resumedAt} ms`);
    assert.ok(restarts.includes('gone'), `the watch got 410 (${restarts.join(',')})`);
    assert.equal(lists(), 2);
    assert.deepEqual(heard, ['added e1', 'added e2', 'deleted e1']);
    assert.deepEqual(informer.store.keys(), [`${ns}/e2`]);
    assert.ok(Number(informer.resourceVersion) > staleVersion);
    second.abort();
    await resumed;
  });
});
