/**
 * A client-side rate limit on requests to the apiserver: a token bucket of
 * `burst` tokens refilled at `qps` per second. Each request takes a token,
 * waiting its turn when the bucket is empty; reservations are first come,
 * first served, so a waiting request is never overtaken.
 */
import { abortableSleep } from './retry.ts';

export interface RateLimit {
  qps: number;
  burst: number;
}

export function validateRateLimit(limit: RateLimit): void {
  if (!(limit.qps > 0) || !Number.isFinite(limit.qps) || !Number.isInteger(limit.burst) || limit.burst < 1) {
    throw new RangeError(`rate limit ${JSON.stringify(limit)} needs a finite qps > 0 and an integer burst >= 1`);
  }
}

export class TokenBucket {
  readonly limit: RateLimit;
  readonly #now: () => number;
  /** Tokens at #at; negative when requests have reserved tokens not yet refilled. */
  #tokens: number;
  #at: number;

  /** `now` is in ms (monotonic by default); tests pass their own clock. */
  constructor(limit: RateLimit, now: () => number = () => performance.now()) {
    validateRateLimit(limit);
    this.limit = limit;
    this.#now = now;
    this.#tokens = limit.burst;
    this.#at = now();
  }

  /** Takes a token and says how many ms to wait before using it (0: at once). */
  reserve(): number {
    const now = this.#now();
    this.#tokens = Math.min(this.limit.burst, this.#tokens + ((now - this.#at) * this.limit.qps) / 1000);
    this.#at = now;
    this.#tokens -= 1;
    return this.#tokens >= 0 ? 0 : (-this.#tokens * 1000) / this.limit.qps;
  }

  /** Gives back a reserved token that will not be used (its request was aborted while waiting). */
  cancel(): void {
    this.#tokens = Math.min(this.limit.burst, this.#tokens + 1);
  }

  /** Waits for a token; an abort stops the wait and gives the token back. */
  async take(signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    const wait = this.reserve();
    if (wait === 0) return;
    try {
      await abortableSleep(wait, signal);
    } catch (error) {
      this.cancel();
      throw error;
    }
  }
}
