import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { canonicalJson, checkId, checkLeaseTtl, checkTarget, specHash, type InjectionSpec } from '../../src/daemon/spec.ts';
import { DaemonError } from '../../src/daemon/errors.ts';

const spec: InjectionSpec = { id: 'a', target: { containerId: 'c1', podUid: 'u-1', containerName: 'app' }, fault: { kind: 'network', faults: [{ action: 'loss', loss: { loss: '10' } }] } };

function shuffleKeys(value: unknown, seed: number): unknown {
  if (Array.isArray(value)) return value.map((v) => shuffleKeys(v, seed));
  if (typeof value !== 'object' || value === null) return value;
  const entries = Object.entries(value);
  const rotated = entries.slice(seed % Math.max(1, entries.length)).concat(entries.slice(0, seed % Math.max(1, entries.length))).reverse();
  return Object.fromEntries(rotated.map(([k, v]) => [k, shuffleKeys(v, seed + 1)]));
}

test('canonical JSON ignores key order at every depth, and keeps array order', () => {
  fc.assert(fc.property(fc.jsonValue(), fc.nat(20), (value, seed) => {
    assert.equal(canonicalJson(shuffleKeys(value, seed)), canonicalJson(value));
  }));
  assert.notEqual(canonicalJson([1, 2]), canonicalJson([2, 1]));
});

test('the spec hash covers target and fault, not the ID order of fields', () => {
  const reordered: InjectionSpec = { fault: spec.fault, target: { containerName: 'app', podUid: 'u-1', containerId: 'c1' }, id: 'a' };
  assert.equal(specHash(reordered), specHash(spec));
  assert.notEqual(specHash({ ...spec, target: { containerId: 'c2' } }), specHash(spec));
  assert.notEqual(specHash({ ...spec, fault: { kind: 'container-freeze' } }), specHash(spec));
});

test('targets are checked before they reach a runtime call or a path', () => {
  for (const containerId of ['', '../etc', 'a b', 'a;rm', '-flag', 'x'.repeat(129)]) {
    assert.throws(() => checkTarget({ containerId }), (e: DaemonError) => e.code === 'invalid', containerId);
  }
  assert.throws(() => checkTarget({ containerId: 'c', podUid: 'u' }), /both or neither/);
  assert.throws(() => checkTarget({ containerId: 'c', podUid: 'u', containerName: 'Bad_Name' }), /DNS label/);
  assert.deepEqual(checkTarget({ containerId: 'c', podUid: 'u', containerName: 'app' }), { containerId: 'c', podUid: 'u', containerName: 'app' });
});

test('injection IDs take the controller\'s <chaos uid>/<pod uid>/<container> form; spaces, newlines and leading dots do not pass', () => {
  checkId('injection ID', '0b1c2d3e-aaaa-4bbb-8ccc-111122223333/9f8e7d6c-aaaa-4bbb-8ccc-444455556666/app');
  for (const bad of ['', '/abs', '.hidden', 'a b', 'a\nb', 'x'.repeat(254)]) assert.throws(() => checkId('injection ID', bad), /must match/, JSON.stringify(bad));
});

test('lease TTLs are bounded', () => {
  assert.throws(() => checkLeaseTtl(999), /between/);
  assert.throws(() => checkLeaseTtl(3_600_001), /between/);
  assert.throws(() => checkLeaseTtl(1.5e3 + 0.5), /between/);
  checkLeaseTtl(1_000);
});
