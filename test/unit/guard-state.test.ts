/** A guard's standing over its evaluations: the `for` window, counts, and a breach that stays. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { advance, pending, type GuardStanding } from '../../src/controller/guards/state.ts';

const ok = { ok: true, observed: 'HTTP 200', message: '' };
const bad = { ok: false, observed: 'HTTP 503', message: 'not 200-399' };

function run(steps: ReadonlyArray<[number, typeof ok]>, forMs: number): GuardStanding {
  return steps.reduce((standing, [at, evaluation]) => advance(standing, evaluation, forMs, at), pending(0));
}

describe('a guard\'s standing', () => {
  it('is breached only after failing without a pass for its whole window', () => {
    assert.equal(run([[0, bad], [1000, bad], [2000, bad]], 3000).state, 'Failing');
    const breached = run([[0, bad], [1000, bad], [2000, bad], [3000, bad]], 3000);
    assert.equal(breached.state, 'Breached');
    assert.equal(breached.failingSinceMs, 0);
    assert.equal(run([[0, bad], [1000, bad], [2000, ok], [3000, bad], [5000, bad]], 3000).state, 'Failing', 'a pass starts the window again');
  });

  it('without a window, the first failure breaches it; a breach stays', () => {
    const breached = run([[0, ok], [1000, bad]], 0);
    assert.equal(breached.state, 'Breached');
    assert.equal(advance(breached, ok, 0, 2000), breached);
  });

  it('counts every evaluation and the passes, and keeps when the state was entered', () => {
    const standing = run([[0, ok], [1000, ok], [2000, bad], [3000, ok]], 10_000);
    assert.deepEqual([standing.state, standing.checks, standing.passed, standing.sinceMs], ['Passing', 4, 3, 3000]);
    assert.equal(run([[0, ok], [1000, ok]], 0).sinceMs, 0, 'passing since the first pass');
  });
});
