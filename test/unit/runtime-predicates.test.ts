import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { annotationChanged, anyOf, specOrLifecycleChanged } from '../../src/runtime/predicates.ts';

const base = { metadata: { name: 'x', generation: 1, resourceVersion: '1', labels: { a: '1' }, annotations: { n: 'v' } } };
const changed = (metadata: object) => ({ metadata: { ...base.metadata, resourceVersion: '2', ...metadata } });

describe('update predicates', () => {
  it('ignore status-only writes and see spec, deletion and finalizer changes', () => {
    assert.equal(specOrLifecycleChanged(base, changed({})), false);
    assert.equal(specOrLifecycleChanged(base, changed({ generation: 2 })), true);
    assert.equal(specOrLifecycleChanged(base, changed({ deletionTimestamp: '2026-11-25T20:00:00Z' })), true);
    assert.equal(specOrLifecycleChanged(base, changed({ finalizers: ['kerris.dev/cleanup'] })), true);
  });

  it('see one annotation set, changed or removed, and combine', () => {
    const abort = annotationChanged('chaos.kerris.dev/abort');
    assert.equal(abort(base, changed({ annotations: { n: 'v' } })), false);
    assert.equal(abort(base, changed({ annotations: { n: 'w' } })), false, 'another annotation');
    assert.equal(abort(base, changed({ annotations: { n: 'v', 'chaos.kerris.dev/abort': '' } })), true, 'set, even to an empty reason');
    assert.equal(abort(changed({ annotations: { 'chaos.kerris.dev/abort': 'a' } }), base), true, 'removed');
    assert.equal(anyOf(specOrLifecycleChanged, abort)(base, changed({ annotations: { 'chaos.kerris.dev/abort': 'x' } })), true);
    assert.equal(anyOf(specOrLifecycleChanged, abort)(base, changed({})), false);
  });
});
