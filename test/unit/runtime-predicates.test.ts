import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { annotationsChanged, anyOf, labelsChanged, specOrLifecycleChanged } from '../../src/runtime/predicates.ts';

const base = { metadata: { name: 'x', generation: 1, resourceVersion: '1', labels: { a: '1' }, annotations: { n: 'v' } } };
const changed = (metadata: object) => ({ metadata: { ...base.metadata, resourceVersion: '2', ...metadata } });

describe('update predicates', () => {
  it('ignore status-only writes and see spec, deletion and finalizer changes', () => {
    assert.equal(specOrLifecycleChanged(base, changed({})), false);
    assert.equal(specOrLifecycleChanged(base, changed({ generation: 2 })), true);
    assert.equal(specOrLifecycleChanged(base, changed({ deletionTimestamp: '2026-11-25T20:00:00Z' })), true);
    assert.equal(specOrLifecycleChanged(base, changed({ finalizers: ['kerris.dev/cleanup'] })), true);
  });

  it('compare labels and annotations by content, and combine', () => {
    assert.equal(labelsChanged(base, changed({ labels: { a: '1' } })), false);
    assert.equal(labelsChanged(base, changed({ labels: { a: '2' } })), true);
    assert.equal(labelsChanged(base, changed({ labels: { a: '1', b: '1' } })), true);
    assert.equal(annotationsChanged(base, changed({ annotations: {} })), true);
    assert.equal(anyOf(labelsChanged, annotationsChanged)(base, changed({ annotations: { n: 'w' } })), true);
    assert.equal(anyOf(labelsChanged, annotationsChanged)(base, changed({ generation: 5 })), false);
  });
});
