/** What the benchmarks share: percentiles, and timing how long until something holds. */
import { setTimeout as sleep } from 'node:timers/promises';

/** The nearest-rank percentile p (0–100) of values. */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

/** Polls done every 10 ms; resolves with performance.now() when it first holds, or throws after timeoutMs. */
export async function waitFor(what: string, done: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  const started = performance.now();
  while (!(await done())) {
    if (performance.now() - started > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(10);
  }
  return performance.now();
}
