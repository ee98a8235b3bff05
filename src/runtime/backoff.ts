/** Exponential backoff with jitter, capped: how long to wait before the next attempt. */

export interface BackoffPolicy {
  /** Delay before the first retry. */
  initialMs: number;
  /** No delay is longer than this. */
  maxMs: number;
  /** Growth per attempt. */
  factor: number;
  /**
   * Fraction of the delay taken away at random, in [0, 1]. Jitter only
   * shortens, so the cap holds and retries at the cap still spread out.
   */
  jitter: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { initialMs: 200, maxMs: 30_000, factor: 2, jitter: 0.2 };

export function validateBackoff(policy: BackoffPolicy): void {
  const { initialMs, maxMs, factor, jitter } = policy;
  if (!(initialMs > 0) || !(maxMs >= initialMs) || !(factor >= 1) || !(jitter >= 0 && jitter <= 1)) {
    throw new RangeError(`backoff policy ${JSON.stringify(policy)} needs 0 < initialMs <= maxMs, factor >= 1 and 0 <= jitter <= 1`);
  }
}

/** The delay before retry number `attempt` (0 for the first retry); `random` returns values in [0, 1). */
export function backoffDelay(policy: BackoffPolicy, attempt: number, random: () => number = Math.random): number {
  if (!Number.isInteger(attempt) || attempt < 0) throw new RangeError(`attempt ${attempt} is not a non-negative integer`);
  // Beyond this exponent the product would only overflow; the cap has long been reached.
  const exponent = Math.min(attempt, 1024);
  const capped = Math.min(policy.maxMs, policy.initialMs * policy.factor ** exponent);
  return capped * (1 - policy.jitter * random());
}

/** Counts consecutive failures of one loop and says how long to wait after each. */
export class Backoff {
  readonly policy: BackoffPolicy;
  readonly #random: () => number;
  #attempt = 0;

  constructor(policy: BackoffPolicy = DEFAULT_BACKOFF, random: () => number = Math.random) {
    validateBackoff(policy);
    this.policy = policy;
    this.#random = random;
  }

  get attempts(): number {
    return this.#attempt;
  }

  /** The delay for this failure; each call counts one more. */
  next(): number {
    const delay = backoffDelay(this.policy, this.#attempt, this.#random);
    this.#attempt += 1;
    return delay;
  }

  reset(): void {
    this.#attempt = 0;
  }
}
