/** The client-side token bucket, on a clock the test moves. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TokenBucket } from '../../src/kube/rate-limit.ts';

function clocked(qps: number, burst: number) {
  let now = 1_000;
  const bucket = new TokenBucket({ qps, burst }, () => now);
  return { bucket, advance: (ms: number): void => { now += ms; } };
}

describe('TokenBucket', () => {
  it('lets a burst through at once, then spaces requests at qps', () => {
    const { bucket } = clocked(10, 3);
    assert.deepEqual([1, 2, 3].map(() => bucket.reserve()), [0, 0, 0]);
    assert.deepEqual([4, 5, 6].map(() => Math.round(bucket.reserve())), [100, 200, 300], 'each waiter queues behind the one before');
  });

  it('refills over time, never beyond the burst', () => {
    const { bucket, advance } = clocked(10, 2);
    bucket.reserve();
    bucket.reserve();
    advance(150);
    assert.equal(bucket.reserve(), 0, '1.5 tokens came back');
    assert.equal(Math.round(bucket.reserve()), 50);
    advance(60_000);
    assert.deepEqual([1, 2, 3].map(() => Math.round(bucket.reserve())), [0, 0, 100], 'an hour of idleness still allows only the burst');
  });

  it('gives back the token of a request that stopped waiting', () => {
    const { bucket } = clocked(1, 1);
    bucket.reserve();
    assert.equal(bucket.reserve(), 1_000);
    bucket.cancel();
    assert.equal(bucket.reserve(), 1_000, 'the next request waits no longer than the cancelled one would have');
  });

  it('take() waits, and an abort ends the wait', async () => {
    const bucket = new TokenBucket({ qps: 50, burst: 1 });
    await bucket.take();
    const began = performance.now();
    await bucket.take();
    const waited = performance.now() - began;
    assert.ok(waited >= 15 && waited < 1_000, `waited ${waited} ms for a token at 50 qps`);
    const slow = new TokenBucket({ qps: 0.01, burst: 1 });
    await slow.take();
    await assert.rejects(slow.take(AbortSignal.timeout(30)), (e) => e instanceof DOMException && e.name === 'TimeoutError');
  });

  it('refuses a limit that makes no sense', () => {
    assert.throws(() => new TokenBucket({ qps: 0, burst: 1 }), RangeError);
    assert.throws(() => new TokenBucket({ qps: 5, burst: 0 }), RangeError);
    assert.throws(() => new TokenBucket({ qps: Number.POSITIVE_INFINITY, burst: 1 }), RangeError);
  });
});
