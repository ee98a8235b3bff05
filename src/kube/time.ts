/** The apiserver's two time formats: metav1.Time (seconds) and metav1.MicroTime (microseconds). */
import type { MicroTime } from './types.ts';

/** RFC 3339 to the second, as metav1.Time: `2026-11-25T20:01:02Z`. */
export function formatTime(epochMs: number): string {
  return new Date(Math.floor(epochMs / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

/**
 * RFC 3339 with six fraction digits, as metav1.MicroTime requires (the
 * apiserver refuses three): `2026-11-25T20:01:02.123456Z`. epochMs may carry
 * a fraction, e.g. from performance.timeOrigin + performance.now().
 */
export function formatMicroTime(epochMs: number): MicroTime {
  const wholeMs = Math.floor(epochMs);
  const micros = Math.min(999, Math.floor((epochMs - wholeMs) * 1000));
  const iso = new Date(wholeMs).toISOString();
  return `${iso.slice(0, 23)}${String(micros).padStart(3, '0')}Z`;
}

/** The current time, with microseconds where the clock has them. */
export const nowMicroTime = (): MicroTime => formatMicroTime(performance.timeOrigin + performance.now());

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/;

/** Milliseconds since the epoch (with a fraction for sub-millisecond digits) of an RFC 3339 time. */
export function parseTime(value: string): number {
  const match = RFC3339.exec(value);
  if (!match) throw new Error(`${JSON.stringify(value)} is not an RFC 3339 time`);
  const [, year, month, day, hour, minute, second, fraction = '', zone = 'Z'] = match;
  const base = Date.UTC(Number(year), Number(month) - 1, Number(day), Number(hour), Number(minute), Number(second));
  const offsetMs = zone === 'Z' ? 0 : (zone.startsWith('-') ? -1 : 1) * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6))) * 60_000;
  const fractionMs = fraction === '' ? 0 : Number(`0.${fraction}`) * 1000;
  return base + fractionMs - offsetMs;
}
