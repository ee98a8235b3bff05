/**
 * Leases and deadlines run on the monotonic clock, so a step of the wall clock changes nothing: the daemon runs under
 * libfaketime with only its wall clock stepped (DONT_FAKE_MONOTONIC), never the machine's, by an hour forward and
 * back while a fault is held and across a restart. The fault must neither end early nor outlive its lease.
 */
import assert from 'node:assert/strict';
import { access, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { DaemonFixture, eventually, journalFiles, type RunningDaemon } from './daemon-fixture.ts';

const LIBFAKETIME = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';
const EXP = 'exp-clock';
const HOUR_MS = 3_600_000;

let fixture: DaemonFixture;
/** libfaketime reads the offset from this file at every call (FAKETIME_NO_CACHE), so a test steps the clock by writing it. */
let offsetFile: string;

before(async () => {
  await access(LIBFAKETIME).catch(() => { throw new Error(`missing prerequisite: ${LIBFAKETIME} (apt-get install libfaketime); the wall-clock step tests need it`); });
  fixture = await DaemonFixture.create('clk');
  offsetFile = join(fixture.dir, 'faketime');
  await writeFile(offsetFile, '+0\n');
});

after(async () => {
  await fixture?.cleanup();
});

const step = (offset: string): Promise<void> => writeFile(offsetFile, `${offset}\n`);
const fakedClock = { LD_PRELOAD: LIBFAKETIME, FAKETIME_TIMESTAMP_FILE: '', FAKETIME_NO_CACHE: '1', DONT_FAKE_MONOTONIC: '1' };
const startFaked = (): Promise<RunningDaemon> => fixture.startDaemon([], { env: { ...fakedClock, FAKETIME_TIMESTAMP_FILE: offsetFile } });

/** The daemon's own idea of the time (the Date header its HTTP server sets) minus the real time: the step it lives with. */
async function daemonSkewMs(daemon: RunningDaemon): Promise<number> {
  const ready = daemon.logs.find((l) => l['msg'] === 'daemon ready');
  const response = await fetch(`http://127.0.0.1:${String(ready?.['metricsPort'])}/healthz`);
  await response.text();
  return Date.parse(response.headers.get('date') ?? '') - Date.now();
}

/** Waits until the daemon lives `offsetMs` off the real time (Node caches its Date header for up to a second). */
async function skewed(daemon: RunningDaemon, offsetMs: number): Promise<void> {
  let last = 0;
  await eventually(`the daemon's wall clock ${offsetMs} ms off (last seen ${last} ms)`, async () => {
    last = await daemonSkewMs(daemon);
    return Math.abs(last - offsetMs) < 60_000 ? true : undefined;
  }, 3_000, 100);
}

test('the wall clock stepped an hour forward and back while a fault is held: it lasts exactly its lease', async () => {
  const daemon = await startFaked();
  try {
    await fixture.runContainer('step1');
    // Long enough for both steps and their checks to happen while it is held.
    const leaseMs = 12_000;
    assert.equal((await daemon.client.sync(EXP, leaseMs, [{ id: 'step-1', target: { containerId: 'step1' }, fault: { kind: 'container-freeze' } }])).results[0]?.ok, true);
    await fixture.waitFreezeState('step1', 'FROZEN');
    const sent = Date.now();
    const renewed = await daemon.client.renewLease(leaseMs);
    const expiresAt = sent + renewed.remainingMs;

    await step('+1h');
    await skewed(daemon, HOUR_MS);
    await sleep(1_000);
    assert.equal(await fixture.freezeState('step1'), 'FROZEN', 'an hour forward does not end the lease');
    await step('-1h');
    await skewed(daemon, -HOUR_MS);

    const thawedAt = await eventually('the lease to lapse', async () => ((await fixture.freezeState('step1')) === 'THAWED' ? Date.now() : undefined), leaseMs + 5_000, 10);
    assert.ok(thawedAt >= expiresAt, `not before the lease lapsed (${thawedAt - expiresAt} ms)`);
    assert.ok(thawedAt - expiresAt <= 2_000, `reverted ${thawedAt - expiresAt} ms after the lease lapsed, an hour back notwithstanding`);
    assert.deepEqual(await journalFiles(fixture.journalDir), []);
  } finally {
    await daemon.stop();
    await step('+0');
    await fixture.removeContainer('step1');
  }
});

test('a restart with the wall clock an hour ahead, then an hour behind: the journaled lease keeps its monotonic expiry', async () => {
  await fixture.runContainer('step2');
  let daemon = await startFaked();
  const leaseMs = 8_000;
  try {
    const sent = Date.now();
    const synced = await daemon.client.sync(EXP, leaseMs, [{ id: 'step-2', target: { containerId: 'step2' }, fault: { kind: 'container-freeze' } }]);
    assert.equal(synced.results[0]?.ok, true);
    const expiresAt = sent + leaseMs;
    await fixture.waitFreezeState('step2', 'FROZEN');
    await daemon.stop('SIGTERM');

    // A daemon that trusted the wall clock would see the lease an hour past and revert at once.
    await step('+1h');
    daemon = await startFaked();
    await skewed(daemon, HOUR_MS);
    await sleep(1_000);
    assert.equal(await fixture.freezeState('step2'), 'FROZEN', 'an hour ahead at start: the fault is still held');
    await daemon.stop('SIGTERM');

    // One that trusted it the other way would hold the fault for another hour.
    await step('-1h');
    daemon = await startFaked();
    await skewed(daemon, -HOUR_MS);
    const thawedAt = await eventually('the lease to lapse', async () => ((await fixture.freezeState('step2')) === 'THAWED' ? Date.now() : undefined), 15_000, 10);
    assert.ok(thawedAt >= expiresAt, `not before the lease lapsed (${thawedAt - expiresAt} ms)`);
    assert.ok(thawedAt - expiresAt <= 2_000, `reverted ${thawedAt - expiresAt} ms after the lease lapsed`);
    assert.deepEqual(await journalFiles(fixture.journalDir), []);
  } finally {
    await daemon.stop();
    await step('+0');
    await fixture.removeContainer('step2');
  }
});
