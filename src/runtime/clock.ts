/**
 * The two clocks a process has. Durations and deadlines are measured on the
 * monotonic one, which a wall-clock step (NTP, `date -s`, a VM resumed) cannot
 * move; the wall clock only stamps times that people and other processes read.
 * Injectable so a test can step the wall clock and show that nothing depends on it.
 */
export interface Clock {
  /** Milliseconds on a clock that only moves forward at a steady rate; its zero means nothing. */
  monotonicMs(): number;
  /** Milliseconds since the epoch, as the wall clock says now. */
  wallMs(): number;
}

/** performance.now() is monotonic and is the clock setTimeout runs on, so a timer set from it fires when it says. */
export const systemClock: Clock = {
  monotonicMs: () => performance.now(),
  wallMs: () => Date.now(),
};
