/**
 * When a request to the apiserver is sent again, and after how long. Only
 * what cannot have changed anything is repeated: a 429 (the apiserver's
 * priority and fairness turned the request away before handling it), and for
 * safe verbs (GET, which includes a watch's initial request) a 5xx or a
 * connection that was refused or reset. A write that failed with 5xx or a reset
 * may have happened, so it is the caller's to decide.
 */

export interface RetryPolicy {
  /** Attempts in all, the first one included; 1 disables retries. */
  maxAttempts: number;
  /** Backoff before the first retry when the apiserver gave no Retry-After. */
  initialMs: number;
  maxMs: number;
  factor: number;
  /** Fraction of each backoff taken away at random, in [0, 1], so that clients that failed together do not return together. */
  jitter: number;
  /** A Retry-After longer than this is not waited for: the error goes to the caller. */
  maxRetryAfterMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 5, initialMs: 250, maxMs: 8_000, factor: 2, jitter: 0.5, maxRetryAfterMs: 30_000 };

/** What one attempt ended with: an HTTP status (with its Retry-After header), or a connection error's code. */
export type AttemptOutcome =
  | { status: number; retryAfter: string | undefined }
  | { errorCode: string | undefined };

const RETRIED_STATUS_FOR_SAFE = new Set([500, 502, 503, 504]);
const RETRIED_CONNECTION_ERRORS = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ECONNABORTED']);

export function validateRetry(policy: RetryPolicy): void {
  const { maxAttempts, initialMs, maxMs, factor, jitter, maxRetryAfterMs } = policy;
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1 || !(initialMs > 0) || !(maxMs >= initialMs) || !(factor >= 1) || !(jitter >= 0 && jitter <= 1) || !(maxRetryAfterMs >= 0)) {
    throw new RangeError(`retry policy ${JSON.stringify(policy)} needs an integer maxAttempts >= 1, 0 < initialMs <= maxMs, factor >= 1, 0 <= jitter <= 1 and maxRetryAfterMs >= 0`);
  }
}

/**
 * The wait in ms before sending the request again after attempt number
 * `attempt` (1 for the first) ended with `outcome`, or undefined when it is
 * not sent again. `now` and `random` are for tests.
 */
export function retryDelay(
  policy: RetryPolicy, method: string, outcome: AttemptOutcome, attempt: number,
  now: number = Date.now(), random: () => number = Math.random,
): number | undefined {
  if (attempt >= policy.maxAttempts) return undefined;
  const safe = method === 'GET';
  if ('errorCode' in outcome) {
    return safe && outcome.errorCode !== undefined && RETRIED_CONNECTION_ERRORS.has(outcome.errorCode) ? backoff(policy, attempt, random) : undefined;
  }
  if (outcome.status !== 429 && !(safe && RETRIED_STATUS_FOR_SAFE.has(outcome.status))) return undefined;
  const asked = outcome.retryAfter === undefined ? undefined : parseRetryAfter(outcome.retryAfter, now);
  if (asked === undefined) return backoff(policy, attempt, random);
  return asked <= policy.maxRetryAfterMs ? asked : undefined;
}

/** An HTTP date as servers send it (IMF-fixdate), e.g. "Tue, 01 Dec 2026 10:00:05 GMT". */
const HTTP_DATE = /^[A-Za-z]{3}, \d{2} [A-Za-z]{3} \d{4} \d{2}:\d{2}:\d{2} GMT$/;

/** Retry-After in ms: delay-seconds or an HTTP date (RFC 9110 §10.2.3); undefined when it is neither. */
export function parseRetryAfter(value: string, now: number = Date.now()): number | undefined {
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  if (!HTTP_DATE.test(text)) return undefined;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

function backoff(policy: RetryPolicy, attempt: number, random: () => number): number {
  const exponent = Math.min(attempt - 1, 64);
  const capped = Math.min(policy.maxMs, policy.initialMs * policy.factor ** exponent);
  return capped * (1 - policy.jitter * random());
}

/** Waits ms, or rejects with the signal's reason as soon as it aborts. */
export function abortableSleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
