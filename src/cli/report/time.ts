/** How the report writes times for people: always in UTC, so the same report reads the same anywhere. */

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

/** `12:00:05` (with `.250` when the time has milliseconds and `millis` is asked for). */
export function clockTime(ms: number, millis = false): string {
  const d = new Date(ms);
  const base = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
  return millis && d.getUTCMilliseconds() !== 0 ? `${base}.${pad(d.getUTCMilliseconds(), 3)}` : base;
}

/** `2026-01-05` */
export function calendarDate(ms: number): string {
  const d = new Date(ms);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
}

/** `2026-01-05 12:00:05.250 UTC` */
export function dateTime(ms: number): string {
  return `${calendarDate(ms)} ${clockTime(ms, true)} UTC`;
}

/** A span for people: `850 ms`, `12.5 s`, `3 min 20 s`, `2 h 5 min`. */
export function span(seconds: number): string {
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 60) return `${Number(seconds.toFixed(1))} s`;
  const whole = Math.round(seconds);
  if (whole < 3600) return `${Math.floor(whole / 60)} min${whole % 60 ? ` ${whole % 60} s` : ''}`;
  const minutes = Math.round(whole / 60);
  return `${Math.floor(minutes / 60)} h${minutes % 60 ? ` ${minutes % 60} min` : ''}`;
}
