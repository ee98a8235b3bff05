import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { findCondition, isConditionTrue, removeCondition, setCondition } from '../../src/runtime/conditions.ts';

const T0 = Date.UTC(2026, 10, 25, 20, 0, 0);
const T1 = T0 + 90_500;

describe('conditions', () => {
  it('adds a condition with the current time, to the second', () => {
    const list = setCondition(undefined, { type: 'Ready', status: 'False', reason: 'Pending', message: 'waiting' }, T0);
    assert.deepEqual(list, [{ type: 'Ready', status: 'False', reason: 'Pending', message: 'waiting', lastTransitionTime: '2026-11-25T20:00:00Z' }]);
  });

  it('keeps lastTransitionTime when the status stays, while reason and message change', () => {
    const first = setCondition([], { type: 'Ready', status: 'False', reason: 'Pending', message: 'a' }, T0);
    const second = setCondition(first, { type: 'Ready', status: 'False', reason: 'StillPending', message: 'b', observedGeneration: 2 }, T1);
    assert.deepEqual(second, [{ type: 'Ready', status: 'False', reason: 'StillPending', message: 'b', observedGeneration: 2, lastTransitionTime: '2026-11-25T20:00:00Z' }]);
  });

  it('moves lastTransitionTime when the status flips', () => {
    const first = setCondition([], { type: 'Ready', status: 'False', reason: 'Pending', message: '' }, T0);
    const second = setCondition(first, { type: 'Ready', status: 'True', reason: 'Injected', message: '' }, T1);
    assert.equal(second[0]?.lastTransitionTime, '2026-11-25T20:01:30Z');
    assert.equal(isConditionTrue(second, 'Ready'), true);
  });

  it('leaves the other conditions and their order alone, and does not mutate its input', () => {
    const input = setCondition(setCondition([], { type: 'A', status: 'True', reason: 'X', message: '' }, T0), { type: 'B', status: 'True', reason: 'Y', message: '' }, T0);
    const frozen = structuredClone(input);
    const out = setCondition(input, { type: 'A', status: 'False', reason: 'Z', message: '' }, T1);
    assert.deepEqual(input, frozen);
    assert.deepEqual(out.map((c) => c.type), ['A', 'B']);
    assert.deepEqual(findCondition(out, 'B'), frozen[1]);
    assert.deepEqual(removeCondition(out, 'A').map((c) => c.type), ['B']);
  });

  it('refuses what the apiserver would refuse', () => {
    assert.throws(() => setCondition([], { type: 'Ready', status: 'True', reason: 'not camel case', message: '' }), /reason/);
    assert.throws(() => setCondition([], { type: 'bad type!', status: 'True', reason: 'Ok', message: '' }), /type/);
    assert.throws(() => setCondition([], { type: 'Ready', status: 'True', reason: 'Ok', message: '', observedGeneration: -1 }), /observedGeneration/);
  });
});
