/** Which answers the client sends again, after how long, and that an abort ends the wait. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { abortableSleep, DEFAULT_RETRY, parseRetryAfter, retryDelay, validateRetry, type RetryPolicy } from '../../src/kube/retry.ts';

const policy: RetryPolicy = { maxAttempts: 4, initialMs: 100, maxMs: 1_000, factor: 2, jitter: 0.5, maxRetryAfterMs: 5_000 };
const now = Date.parse('2026-12-01T10:00:00Z');
const noJitter = (): number => 0;
const status = (code: number, retryAfter?: string) => ({ status: code, retryAfter });

describe('retryDelay', () => {
  it('retries 429 for every verb, honouring Retry-After in seconds or as a date', () => {
    for (const method of ['GET', 'POST', 'PATCH', 'PUT', 'DELETE']) assert.equal(retryDelay(policy, method, status(429, '2'), 1, now), 2_000, method);
    assert.equal(retryDelay(policy, 'POST', status(429, new Date(now + 3_000).toUTCString()), 1, now), 3_000);
    assert.equal(retryDelay(policy, 'POST', status(429, '0'), 1, now), 0);
  });

  it('backs off exponentially with jitter when there is no Retry-After, capped', () => {
    assert.deepEqual([1, 2, 3].map((a) => retryDelay(policy, 'GET', status(429), a, now, noJitter)), [100, 200, 400]);
    const wide: RetryPolicy = { ...policy, maxAttempts: 10 };
    assert.equal(retryDelay(wide, 'GET', status(503), 9, now, noJitter), 1_000, 'capped at maxMs');
    assert.equal(retryDelay(policy, 'GET', status(503), 1, now, () => 0.999), 100 * (1 - 0.5 * 0.999), 'jitter only shortens');
    assert.equal(retryDelay(policy, 'GET', status(429, 'soon'), 1, now, noJitter), 100, 'an unreadable Retry-After falls back to backoff');
  });

  it('retries 5xx for GET only: a write may have happened', () => {
    for (const code of [500, 502, 503, 504]) assert.equal(retryDelay(policy, 'GET', status(code), 1, now, noJitter), 100, String(code));
    for (const method of ['POST', 'PATCH', 'PUT', 'DELETE']) assert.equal(retryDelay(policy, method, status(503, '1'), 1, now), undefined, method);
    assert.equal(retryDelay(policy, 'GET', status(501), 1, now), undefined, '501 will not change');
  });

  it('never retries other client errors', () => {
    for (const code of [400, 401, 403, 404, 409, 410, 422]) assert.equal(retryDelay(policy, 'GET', status(code), 1, now), undefined, String(code));
  });

  it('retries refused and reset connections for GET only', () => {
    for (const errorCode of ['ECONNREFUSED', 'ECONNRESET', 'EPIPE']) assert.equal(retryDelay(policy, 'GET', { errorCode }, 1, now, noJitter), 100, errorCode);
    assert.equal(retryDelay(policy, 'POST', { errorCode: 'ECONNRESET' }, 1, now), undefined);
    assert.equal(retryDelay(policy, 'GET', { errorCode: 'CERT_HAS_EXPIRED' }, 1, now), undefined, 'a TLS failure does not heal');
    assert.equal(retryDelay(policy, 'GET', { errorCode: undefined }, 1, now), undefined, 'our own idle timeout is not retried');
  });

  it('stops after maxAttempts, and when Retry-After is longer than it will wait', () => {
    assert.equal(retryDelay(policy, 'GET', status(429, '1'), 3, now), 1_000);
    assert.equal(retryDelay(policy, 'GET', status(429, '1'), 4, now), undefined);
    assert.equal(retryDelay(policy, 'GET', status(429, '6'), 1, now), undefined);
    assert.equal(retryDelay({ ...policy, maxAttempts: 1 }, 'GET', status(503), 1, now), undefined, 'maxAttempts 1 disables retries');
  });

  it('refuses a policy that makes no sense', () => {
    validateRetry(DEFAULT_RETRY);
    assert.throws(() => validateRetry({ ...policy, maxAttempts: 0 }), RangeError);
    assert.throws(() => validateRetry({ ...policy, maxMs: 10 }), RangeError);
    assert.throws(() => validateRetry({ ...policy, jitter: 2 }), RangeError);
  });
});

describe('parseRetryAfter', () => {
  it('reads seconds and HTTP dates, and nothing else', () => {
    assert.equal(parseRetryAfter(' 7 ', now), 7_000);
    assert.equal(parseRetryAfter('Tue, 01 Dec 2026 10:00:05 GMT', now), 5_000);
    assert.equal(parseRetryAfter('Tue, 01 Dec 2026 09:59:00 GMT', now), 0, 'a date in the past means now');
    assert.equal(parseRetryAfter('-1', now), undefined);
    assert.equal(parseRetryAfter('later', now), undefined);
  });
});

describe('abortableSleep', () => {
  it('ends its wait as soon as the signal aborts', async () => {
    const controller = new AbortController();
    const began = performance.now();
    const waiting = abortableSleep(60_000, controller.signal);
    setTimeout(() => controller.abort(new Error('stopped')), 20);
    await assert.rejects(waiting, /stopped/);
    assert.ok(performance.now() - began < 5_000);
    await assert.rejects(abortableSleep(10, AbortSignal.abort(new Error('already'))), /already/);
  });
});
