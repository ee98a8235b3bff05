/** A Schedule's slots and plan: next runs in a time zone, @every on a grid, Forbid, missed runs counted once, startingDeadlineSeconds. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseSchedule, planSchedule, ScheduleError, type PlanInput } from '../../src/controller/schedule/slots.ts';

const t = (iso: string): number => Date.parse(iso);
const base = t('2026-03-01T00:00:00Z');

describe('schedule slots', () => {
  it('reads five and six cron fields and descriptors in the time zone asked for', () => {
    assert.equal(parseSchedule('5 * * * *', undefined, base).after(base), t('2026-03-01T00:05:00Z'));
    assert.equal(parseSchedule('*/10 * * * * *', undefined, base).after(base + 1000), base + 10_000);
    assert.equal(parseSchedule('@hourly', undefined, base).after(base + 1), t('2026-03-01T01:00:00Z'));
    // 09:00 in Berlin is 08:00 UTC in winter.
    assert.equal(parseSchedule('0 9 * * *', 'Europe/Berlin', base).after(base), t('2026-03-01T08:00:00Z'));
    assert.equal(parseSchedule('CRON_TZ=Asia/Tokyo 0 9 * * *', undefined, base).after(base), t('2026-03-01T00:00:00Z') + 24 * 3600_000);
  });

  it('puts @every slots on a grid from the anchor', () => {
    const slots = parseSchedule('@every 10s', undefined, base + 3000);
    assert.equal(slots.after(base + 3000), base + 13_000);
    assert.equal(slots.after(base + 13_000), base + 23_000);
    assert.equal(slots.after(base + 17_500), base + 23_000);
  });

  it('refuses what it cannot read, saying why', () => {
    assert.throws(() => parseSchedule('bad', undefined, base), ScheduleError);
    assert.throws(() => parseSchedule('* * * * *', 'Nope/Zone', base), /Nope\/Zone/);
    assert.throws(() => parseSchedule('@every 10x', undefined, base), /@every/);
    assert.throws(() => parseSchedule('@every 100ms', undefined, base), /shorter than 1s/);
  });
});

describe('schedule plan', () => {
  const every10 = parseSchedule('@every 10s', undefined, base);
  const input = (over: Partial<PlanInput>): PlanInput => ({ slots: every10, nowMs: base, lastMs: base, startingDeadlineSeconds: undefined, forbid: true, activeRuns: 0, suspend: false, ...over });

  it('waits for the next slot, then runs it', () => {
    assert.deepEqual(planSchedule(input({ nowMs: base + 4000 })), { lastMs: base, nextMs: base + 10_000 });
    assert.deepEqual(planSchedule(input({ nowMs: base + 10_200 })), { runMs: base + 10_000, lastMs: base + 10_000, nextMs: base + 20_000 });
  });

  it('after an outage runs only the latest slot and reports the others once', () => {
    const plan = planSchedule(input({ nowMs: base + 35_000 }));
    assert.deepEqual(plan, { runMs: base + 30_000, lastMs: base + 30_000, nextMs: base + 40_000, missed: { count: 2, firstMs: base + 10_000, lastMs: base + 20_000 } });
    // The next look, from the new status.time, counts nothing again.
    assert.equal(planSchedule(input({ nowMs: base + 36_000, lastMs: plan.lastMs })).missed, undefined);
  });

  it('under Forbid holds a due slot while a run is active, then runs it', () => {
    const held = planSchedule(input({ nowMs: base + 11_000, activeRuns: 1 }));
    assert.deepEqual(held, { lastMs: base, nextMs: base + 20_000, held: true });
    assert.equal(planSchedule(input({ nowMs: base + 11_000, activeRuns: 1, forbid: false })).runMs, base + 10_000);
    assert.equal(planSchedule(input({ nowMs: base + 12_000, activeRuns: 0 })).runMs, base + 10_000);
  });

  it('counts a slot later than startingDeadlineSeconds as missed, and does not run it', () => {
    const plan = planSchedule(input({ nowMs: base + 16_000, startingDeadlineSeconds: 5 }));
    assert.deepEqual(plan, { lastMs: base + 10_000, nextMs: base + 20_000, missed: { count: 1, firstMs: base + 10_000, lastMs: base + 10_000 } });
    assert.equal(planSchedule(input({ nowMs: base + 14_000, startingDeadlineSeconds: 5 })).runMs, base + 10_000);
    assert.deepEqual(planSchedule(input({ nowMs: base + 12_000, startingDeadlineSeconds: 5, activeRuns: 1 })).heldUntilMs, base + 15_000);
  });

  it('passes slots over while suspended, neither run nor missed', () => {
    assert.deepEqual(planSchedule(input({ nowMs: base + 25_000, suspend: true })), { lastMs: base + 20_000, nextMs: base + 30_000 });
  });
});
