import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { Backoff, backoffDelay, validateBackoff } from '../../src/runtime/backoff.ts';

const policy = { initialMs: 100, maxMs: 10_000, factor: 2, jitter: 0.5 };

describe('backoff', () => {
  it('doubles from the initial delay up to the cap without jitter', () => {
    const exact = { ...policy, jitter: 0 };
    assert.deepEqual([0, 1, 2, 3, 6, 7, 8, 50, 5000].map((n) => backoffDelay(exact, n)), [100, 200, 400, 800, 6_400, 10_000, 10_000, 10_000, 10_000]);
  });

  it('jitter only shortens, by at most the jitter fraction', () => {
    fc.assert(fc.property(fc.nat(200), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (attempt, r) => {
      const capped = Math.min(policy.maxMs, policy.initialMs * 2 ** attempt);
      const delay = backoffDelay(policy, attempt, () => r);
      return delay <= capped && delay >= capped * (1 - policy.jitter) && delay <= policy.maxMs;
    }));
  });

  it('never decreases with the attempt number for a fixed random draw', () => {
    fc.assert(fc.property(fc.nat(100), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (attempt, r) =>
      backoffDelay(policy, attempt + 1, () => r) >= backoffDelay(policy, attempt, () => r)));
  });

  it('spreads delays at the cap', () => {
    const draws = [0, 0.25, 0.5, 0.75, 0.99];
    const delays = draws.map((r) => backoffDelay(policy, 40, () => r));
    assert.equal(new Set(delays).size, draws.length);
  });

  it('counts attempts and starts over after reset', () => {
    const backoff = new Backoff({ ...policy, jitter: 0 });
    assert.deepEqual([backoff.next(), backoff.next(), backoff.next()], [100, 200, 400]);
    assert.equal(backoff.attempts, 3);
    backoff.reset();
    assert.equal(backoff.next(), 100);
  });

  it('refuses nonsense policies and attempts', () => {
    assert.throws(() => validateBackoff({ ...policy, initialMs: 0 }), RangeError);
    assert.throws(() => validateBackoff({ ...policy, maxMs: 50 }), RangeError);
    assert.throws(() => validateBackoff({ ...policy, factor: 0.5 }), RangeError);
    assert.throws(() => validateBackoff({ ...policy, jitter: 1.5 }), RangeError);
    assert.throws(() => backoffDelay(policy, -1), RangeError);
    assert.throws(() => backoffDelay(policy, 1.5), RangeError);
  });
});
