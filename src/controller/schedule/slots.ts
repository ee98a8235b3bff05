/**
 * A Schedule's slots and what to do about them: pure, so the next-run and missed-run rules are tested without a
 * cluster. Times are wall-clock milliseconds: a slot is a time of day people wrote down, not a duration.
 */
import { Cron } from 'croner';
import { parseDuration } from '../engine/duration.ts';

/** The slots of one schedule expression: the first one strictly after a time. */
export interface Slots {
  after(ms: number): number | undefined;
}

/** A schedule the controller cannot read; the message says what to fix. */
export class ScheduleError extends Error {
  override name = 'ScheduleError';
}

const EVERY = /^@every (.+)$/;
const ZONE_PREFIX = /^(?:CRON_)?TZ=(\S+) (.*)$/;

/**
 * Reads `expression` in `timeZone` (UTC when absent). `@every <d>` slots lie on a grid from `anchorMs` (the
 * Schedule's creation), so a late run does not move the later ones. A `CRON_TZ=`/`TZ=` prefix, as robfig/cron
 * reads it for Chaos Mesh, names the zone when `timeZone` does not.
 */
export function parseSchedule(expression: string, timeZone: string | undefined, anchorMs: number): Slots {
  let text = expression.trim();
  let zone = timeZone;
  const prefixed = ZONE_PREFIX.exec(text);
  if (prefixed) {
    zone ??= prefixed[1];
    text = prefixed[2] ?? '';
  }
  const every = EVERY.exec(text);
  if (every) {
    let periodMs: number;
    try {
      periodMs = parseDuration(every[1] ?? '');
    } catch (error) {
      throw new ScheduleError(`@every needs a duration such as 10s or 1h30m: ${(error as Error).message}`);
    }
    if (periodMs < 1000) throw new ScheduleError(`@every ${every[1]} is shorter than 1s, the shortest period`);
    return { after: (ms) => anchorMs + (Math.floor((ms - anchorMs) / periodMs) + 1) * periodMs };
  }
  const tz = zone ?? 'UTC';
  let cron: Cron;
  try {
    cron = new Cron(text, { timezone: tz, paused: true });
    cron.nextRun(new Date(anchorMs));
  } catch (error) {
    throw new ScheduleError(`cannot read schedule ${JSON.stringify(expression)} in time zone ${tz}: ${(error as Error).message}`);
  }
  return { after: (ms) => cron.nextRun(new Date(ms))?.getTime() ?? undefined };
}

/** Past this many due slots the count stops: a schedule every second over a long outage is not walked to the end. */
export const MAX_COUNTED_SLOTS = 100_000;

export interface PlanInput {
  slots: Slots;
  nowMs: number;
  /** The last slot acted on (status.time), or the Schedule's creation. */
  lastMs: number;
  startingDeadlineSeconds: number | undefined;
  /** Forbid: no new run while one is active. */
  forbid: boolean;
  activeRuns: number;
  suspend: boolean;
}

export interface Missed {
  count: number;
  firstMs: number;
  lastMs: number;
}

export interface Plan {
  /** The slot to create a run for now. */
  runMs?: number;
  /** Slots passed over now: reported once. */
  missed?: Missed;
  /** The new status.time: slots up to it are done with. */
  lastMs: number;
  /** The next slot after now. */
  nextMs: number | undefined;
  /** Forbid holds a due slot back until the active run ends. */
  held?: true;
  /** When the held slot's startingDeadlineSeconds passes: then it is missed. */
  heldUntilMs?: number;
}

/** Every slot in (lastMs, nowMs], counted, with the first, the one before the last, and the last. */
function dueSlots(slots: Slots, lastMs: number, nowMs: number): { count: number; firstMs?: number; previousMs?: number; latestMs?: number } {
  let count = 0;
  let firstMs: number | undefined;
  let previousMs: number | undefined;
  let latestMs: number | undefined;
  for (let s = slots.after(lastMs); s !== undefined && s <= nowMs && count < MAX_COUNTED_SLOTS; s = slots.after(s)) {
    count += 1;
    firstMs ??= s;
    previousMs = latestMs;
    latestMs = s;
  }
  return { count, ...(firstMs === undefined ? {} : { firstMs }), ...(previousMs === undefined ? {} : { previousMs }), ...(latestMs === undefined ? {} : { latestMs }) };
}

export function planSchedule(input: PlanInput): Plan {
  const { slots, nowMs } = input;
  const due = dueSlots(slots, input.lastMs, nowMs);
  const nextMs = slots.after(nowMs);
  if (due.latestMs === undefined || due.firstMs === undefined) return { lastMs: input.lastMs, nextMs };
  // Suspended slots are neither run nor missed: the person asked for none.
  if (input.suspend) return { lastMs: due.latestMs, nextMs };
  const older: Missed | undefined = due.count > 1 && due.previousMs !== undefined
    ? { count: due.count - 1, firstMs: due.firstMs, lastMs: due.previousMs }
    : undefined;
  const deadlineMs = input.startingDeadlineSeconds === undefined ? undefined : due.latestMs + input.startingDeadlineSeconds * 1000;
  if (deadlineMs !== undefined && nowMs > deadlineMs) {
    return { lastMs: due.latestMs, nextMs, missed: { count: due.count, firstMs: due.firstMs, lastMs: due.latestMs } };
  }
  if (input.forbid && input.activeRuns > 0) {
    return { lastMs: input.lastMs, nextMs, held: true, ...(deadlineMs === undefined ? {} : { heldUntilMs: deadlineMs }) };
  }
  return { runMs: due.latestMs, lastMs: due.latestMs, nextMs, ...(older ? { missed: older } : {}) };
}
