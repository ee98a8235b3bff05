import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { addFinalizerPatch, removeFinalizerPatch, validateFinalizer } from '../../src/runtime/finalizer.ts';

const F = 'kerris.dev/cleanup';

describe('finalizer patches', () => {
  it('creates the list guarded by the resourceVersion when there is none', () => {
    assert.deepEqual(addFinalizerPatch({ metadata: { name: 'x', resourceVersion: '7' } }, F), [
      { op: 'test', path: '/metadata/resourceVersion', value: '7' },
      { op: 'add', path: '/metadata/finalizers', value: [F] },
    ]);
  });

  it('appends to the list guarded by the list as read', () => {
    assert.deepEqual(addFinalizerPatch({ metadata: { name: 'x', finalizers: ['other/f'] } }, F), [
      { op: 'test', path: '/metadata/finalizers', value: ['other/f'] },
      { op: 'replace', path: '/metadata/finalizers', value: ['other/f', F] },
    ]);
  });

  it('removes only its own finalizer, and does nothing when there is nothing to do', () => {
    assert.deepEqual(removeFinalizerPatch({ metadata: { finalizers: ['a/b', F, 'c/d'] } }, F), [
      { op: 'test', path: '/metadata/finalizers', value: ['a/b', F, 'c/d'] },
      { op: 'replace', path: '/metadata/finalizers', value: ['a/b', 'c/d'] },
    ]);
    assert.equal(removeFinalizerPatch({ metadata: { finalizers: ['a/b'] } }, F), undefined);
    assert.equal(addFinalizerPatch({ metadata: { finalizers: [F] } }, F), undefined);
  });

  it('wants domain-qualified finalizer names', () => {
    assert.throws(() => validateFinalizer('cleanup'), /domain-qualified/);
    assert.throws(() => validateFinalizer('Kerris.dev/x'), /domain-qualified/);
    validateFinalizer(F);
  });
});
