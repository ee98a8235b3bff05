import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatFieldSelector, formatLabelSelector } from '../../src/kube/selectors.ts';

describe('selectors', () => {
  it('writes label selectors in the apiserver syntax, in a stable order', () => {
    assert.equal(formatLabelSelector({}), '');
    assert.equal(formatLabelSelector({
      matchLabels: { tier: 'web', 'app.kubernetes.io/name': 'shop' },
      matchExpressions: [
        { key: 'env', operator: 'In', values: ['prod', 'canary'] },
        { key: 'zone', operator: 'NotIn', values: ['b'] },
        { key: 'chaos', operator: 'Exists' },
        { key: 'legacy', operator: 'DoesNotExist' },
      ],
    }), 'app.kubernetes.io/name=shop,tier=web,env in (canary,prod),zone notin (b),chaos,!legacy');
  });

  it('refuses keys and values that would change the meaning of the selector', () => {
    assert.throws(() => formatLabelSelector({ matchLabels: { 'a,b': 'c' } }), /qualified name/);
    assert.throws(() => formatLabelSelector({ matchLabels: { a: 'x,b=y' } }), /label value/);
    assert.throws(() => formatLabelSelector({ matchExpressions: [{ key: 'a', operator: 'In', values: [] }] }), /at least one value/);
    assert.throws(() => formatLabelSelector({ matchExpressions: [{ key: 'a', operator: 'Exists', values: ['x'] }] }), /no values/);
  });

  it('writes field selectors with escaped values', () => {
    assert.equal(formatFieldSelector({ 'spec.nodeName': 'node-1' }, { 'status.phase': 'Failed' }), 'spec.nodeName=node-1,status.phase!=Failed');
    assert.equal(formatFieldSelector({ 'metadata.name': 'a,b=c' }), 'metadata.name=a\\,b\\=c');
    assert.throws(() => formatFieldSelector({ 'bad field': 'x' }), /field path/);
  });
});
