/** The REST client against a real kube-apiserver: verbs, patch kinds, typed errors, watch. */
import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { KubeClient } from '../../src/kube/client.ts';
import { ApiError, isAlreadyExists, isConflict, isInvalid, isNotFound } from '../../src/kube/errors.ts';
import { configMaps, pods } from '../../src/kube/resources.ts';
import { isStatus, type ConfigMap, type WatchEvent } from '../../src/kube/types.ts';
import { adminClient, createScratchNamespace, deleteNamespaceAndWait } from '../testbed/kube-fixtures.ts';

let ns: string;
let client: KubeClient;

before(async () => {
  client = await adminClient();
  ns = await createScratchNamespace(client, 'kerris-kube');
});

after(async () => {
  await deleteNamespaceAndWait(client, ns);
  client.close();
});

describe('KubeClient', () => {
  it('creates, reads, lists with selectors, replaces and deletes', async () => {
    const created = await client.create(configMaps, { metadata: { name: 'crud', namespace: ns, labels: { app: 'a' } }, data: { k: 'v' } });
    assert.ok(created.metadata.uid);
    await client.create(configMaps, { metadata: { name: 'other', namespace: ns, labels: { app: 'b' } } });
    const read = await client.get(configMaps, 'crud', { namespace: ns });
    assert.deepEqual(read.data, { k: 'v' });
    const selected = await client.list(configMaps, { namespace: ns, labelSelector: 'app=a' });
    assert.deepEqual(selected.items.map((c) => `${c.apiVersion}/${c.kind}/${c.metadata.name}`), ['v1/ConfigMap/crud'], 'list items carry kind and apiVersion, as watched objects do');
    const byField = await client.list(configMaps, { namespace: ns, fieldSelector: 'metadata.name=other' });
    assert.deepEqual(byField.items.map((c) => c.metadata.name), ['other']);
    const replaced = await client.replace(configMaps, { ...read, data: { k: 'w' } });
    assert.deepEqual(replaced.data, { k: 'w' });
    // A PUT with the stale resourceVersion loses.
    await assert.rejects(client.replace(configMaps, { ...read, data: { k: 'x' } }), (e) => isConflict(e) && e.status === 409);
    const all = await client.listAll(configMaps, { namespace: ns, limit: 1 });
    const names = all.items.map((c) => c.metadata.name);
    assert.ok(names.includes('crud') && names.includes('other') && Number(all.resourceVersion) > 0, `pages of one are joined into one snapshot: ${names.join(', ')}`);
    const gone = await client.delete(configMaps, 'crud', { namespace: ns });
    assert.ok(isStatus(gone));
    await assert.rejects(client.get(configMaps, 'crud', { namespace: ns }), (e) => isNotFound(e) && e.reason === 'NotFound');
  });

  it('patches by merge, JSON patch and server-side apply', async () => {
    await client.create(configMaps, { metadata: { name: 'patched', namespace: ns }, data: { a: '1' } });
    const merged = await client.patch(configMaps, 'patched', { type: 'merge', body: { data: { b: '2', a: null } } }, { namespace: ns });
    assert.deepEqual(merged.data, { b: '2' });
    const json = await client.patch(configMaps, 'patched', { type: 'json', operations: [
      { op: 'test', path: '/metadata/resourceVersion', value: merged.metadata.resourceVersion },
      { op: 'add', path: '/data/c', value: '3' },
    ] }, { namespace: ns });
    assert.deepEqual(json.data, { b: '2', c: '3' });
    await assert.rejects(client.patch(configMaps, 'patched', { type: 'json', operations: [{ op: 'test', path: '/metadata/resourceVersion', value: '1' }] }, { namespace: ns }), isInvalid);
    const applied = await client.patch(configMaps, 'patched', { type: 'apply', fieldManager: 'kerris-a', body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'patched' }, data: { owned: 'a' } } }, { namespace: ns });
    assert.equal(applied.data?.['owned'], 'a');
    const conflict = client.patch(configMaps, 'patched', { type: 'apply', fieldManager: 'kerris-b', body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'patched' }, data: { owned: 'b' } } }, { namespace: ns });
    await assert.rejects(conflict, (e) => isConflict(e));
    const forced = await client.patch(configMaps, 'patched', { type: 'apply', fieldManager: 'kerris-b', force: true, body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'patched' }, data: { owned: 'b' } } }, { namespace: ns });
    assert.equal(forced.data?.['owned'], 'b');
  });

  it('patches the status subresource, which a main-resource patch cannot touch', async () => {
    await client.create(pods, { metadata: { name: 'status', namespace: ns }, spec: { containers: [{ name: 'c', image: 'kerris.invalid/none' }] } });
    const condition = { type: 'KerrisProbe', status: 'True' as const, reason: 'Tested', message: 'set through /status', lastTransitionTime: '2026-11-25T20:00:00Z' };
    const main = await client.patch(pods, 'status', { type: 'merge', body: { status: { conditions: [condition] } } }, { namespace: ns });
    assert.ok(!main.status?.conditions?.some((c) => c.type === 'KerrisProbe'), 'the main resource ignores status');
    const patched = await client.patchStatus(pods, 'status', { type: 'strategic', body: { status: { conditions: [condition] } } }, { namespace: ns });
    assert.ok(patched.status?.conditions?.some((c) => c.type === 'KerrisProbe' && c.reason === 'Tested'));
    await client.delete(pods, 'status', { namespace: ns, gracePeriodSeconds: 0 });
  });

  it('deletes with preconditions and a grace period', async () => {
    const cm = await client.create(configMaps, { metadata: { name: 'pre', namespace: ns } });
    await assert.rejects(client.delete(configMaps, 'pre', { namespace: ns, preconditions: { uid: 'not-the-uid' } }), isConflict);
    await assert.rejects(client.delete(configMaps, 'pre', { namespace: ns, preconditions: { resourceVersion: '1' } }), isConflict);
    await client.delete(configMaps, 'pre', { namespace: ns, gracePeriodSeconds: 0, preconditions: { uid: cm.metadata.uid ?? '', resourceVersion: cm.metadata.resourceVersion ?? '' } });
    await assert.rejects(client.get(configMaps, 'pre', { namespace: ns }), isNotFound);
  });

  it('types its errors: AlreadyExists, Invalid, NotFound', async () => {
    await client.create(configMaps, { metadata: { name: 'dup', namespace: ns } });
    await assert.rejects(client.create(configMaps, { metadata: { name: 'dup', namespace: ns } }), (e) => isAlreadyExists(e) && e.status === 409);
    await assert.rejects(client.create(configMaps, { metadata: { name: 'Not_Valid', namespace: ns } }), (e) => e instanceof ApiError && e.status === 422 && e.reason === 'Invalid' && (e.details?.causes?.length ?? 0) > 0);
    await assert.rejects(client.delete(configMaps, 'never-was', { namespace: ns }), (e) => isNotFound(e) && e.details?.name === 'never-was');
  });

  it('reuses its connection across requests (keep-alive)', async (t) => {
    // A fresh client, so earlier tests' sockets do not count.
    const fresh = new KubeClient(client.transport.config);
    t.after(() => fresh.close());
    let opened = 0;
    const onSocket = (): void => { opened += 1; };
    subscribe('net.client.socket', onSocket);
    t.after(() => unsubscribe('net.client.socket', onSocket));
    for (let i = 0; i < 50; i++) await fresh.list(configMaps, { namespace: ns, limit: 1 });
    t.diagnostic(`50 sequential requests opened ${opened} connection(s)`);
    assert.equal(opened, 1);
  });

  it('watches ADDED, MODIFIED, DELETED with a selector, ends at timeoutSeconds and stops on abort', async () => {
    const start = await client.list(configMaps, { namespace: ns });
    const events: Array<WatchEvent<ConfigMap>> = [];
    const began = Date.now();
    const watching = (async () => {
      for await (const event of client.watch(configMaps, { namespace: ns, resourceVersion: start.metadata.resourceVersion, allowWatchBookmarks: true, timeoutSeconds: 3, labelSelector: 'watch=me' })) events.push(event);
    })();
    await client.create(configMaps, { metadata: { name: 'w', namespace: ns, labels: { watch: 'me' } } });
    await client.patch(configMaps, 'w', { type: 'merge', body: { data: { x: '1' } } }, { namespace: ns });
    await client.create(configMaps, { metadata: { name: 'not-watched', namespace: ns } });
    await client.delete(configMaps, 'w', { namespace: ns });
    await watching;
    const elapsed = Date.now() - began;
    assert.ok(elapsed >= 2_500 && elapsed < 10_000, `the apiserver ended the watch after timeoutSeconds (took ${elapsed} ms)`);
    const changes = events.filter((e) => e.type !== 'BOOKMARK');
    assert.deepEqual(changes.map((e) => `${e.type} ${e.type === 'ERROR' ? '' : e.object.metadata.name}`), ['ADDED w', 'MODIFIED w', 'DELETED w']);

    const abort = new AbortController();
    const stopped = (async () => {
      let n = 0;
      for await (const _ of client.watch(configMaps, { namespace: ns, signal: abort.signal })) n += 1;
      return n;
    })();
    await sleep(300);
    const abortedAt = Date.now();
    abort.abort();
    await stopped;
    assert.ok(Date.now() - abortedAt < 1_000, 'abort ends the watch at once');
  });
});
