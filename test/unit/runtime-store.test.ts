import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { keyFor, keyOf, splitKey, Store } from '../../src/runtime/store.ts';
import type { ConfigMap } from '../../src/kube/types.ts';

const cm = (name: string, resourceVersion: string, namespace: string | null = 'ns'): ConfigMap => ({ metadata: { name, resourceVersion, ...(namespace ? { namespace } : {}) } });

describe('Store', () => {
  it('keys objects by namespace/name, or name when cluster-scoped, and splits keys back', () => {
    assert.equal(keyOf(cm('a', '1')), 'ns/a');
    assert.equal(keyOf(cm('node-1', '1', null)), 'node-1');
    assert.equal(keyFor('ns', 'a'), 'ns/a');
    assert.deepEqual(splitKey('ns/a'), { namespace: 'ns', name: 'a' });
    assert.deepEqual(splitKey('node-1'), { namespace: undefined, name: 'node-1' });
    assert.throws(() => keyOf({ metadata: {} }), /no key/);
  });

  it('tells what a fresh list changed: added, updated (new resourceVersion), deleted', () => {
    const store = new Store<ConfigMap>();
    store.upsert(cm('same', '1'));
    store.upsert(cm('changed', '1'));
    store.upsert(cm('vanished', '1'));
    const diff = store.replace([cm('same', '1'), cm('changed', '2'), cm('new', '3')]);
    assert.deepEqual(diff.added.map((o) => o.metadata.name), ['new']);
    assert.deepEqual(diff.updated.map(({ old, object }) => `${old.metadata.resourceVersion}->${object.metadata.resourceVersion}`), ['1->2']);
    assert.deepEqual(diff.deleted.map((o) => o.metadata.name), ['vanished']);
    assert.deepEqual(store.keys().sort(), ['ns/changed', 'ns/new', 'ns/same']);
  });

  it('returns what an upsert or delete replaced', () => {
    const store = new Store<ConfigMap>();
    assert.equal(store.upsert(cm('a', '1')), undefined);
    assert.equal(store.upsert(cm('a', '2'))?.metadata.resourceVersion, '1');
    assert.equal(store.delete('ns/a')?.metadata.resourceVersion, '2');
    assert.equal(store.delete('ns/a'), undefined);
    assert.equal(store.size, 0);
  });

  it('lists one namespace\'s objects, kept current through upserts, deletes and a relist', () => {
    const store = new Store<ConfigMap>();
    store.upsert(cm('a', '1', 'one'));
    store.upsert(cm('b', '1', 'two'));
    store.upsert(cm('a', '2', 'one'));
    const names = (ns: string) => store.inNamespace(ns).map((o) => `${o.metadata.name}@${o.metadata.resourceVersion}`).sort();
    assert.deepEqual(names('one'), ['a@2']);
    assert.deepEqual(names('two'), ['b@1']);
    store.delete('two/b');
    assert.deepEqual(names('two'), []);
    store.replace([cm('c', '3', 'two'), cm('a', '2', 'one')]);
    assert.deepEqual(names('one'), ['a@2']);
    assert.deepEqual(names('two'), ['c@3']);
    assert.deepEqual(names('none'), []);
  });
});
