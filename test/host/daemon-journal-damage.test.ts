/**
 * The daemon survives its own journal: damaged files next to a good record are set aside, counted and reported,
 * and the good record is still reverted on time; a journal that turns read-only fails an inject without leaving
 * kernel state.
 */
import assert from 'node:assert/strict';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { run } from '../../src/util/exec.ts';
import { DaemonFixture, eventually, journalFiles, type RunningDaemon } from './daemon-fixture.ts';

const EXP = 'exp-damage';
let fixture: DaemonFixture;

before(async () => {
  fixture = await DaemonFixture.create('dmg');
});

after(async () => {
  await fixture?.cleanup();
});

async function metricsText(daemon: RunningDaemon): Promise<string> {
  const ready = daemon.logs.find((l) => l['msg'] === 'daemon ready');
  return (await fetch(`http://127.0.0.1:${String(ready?.['metricsPort'])}/metrics`)).text();
}

test('empty, torn and schema-invalid records and a corrupt leases file: set aside and counted; the good freeze is still reverted on time', async () => {
  await fixture.runContainer('good1');
  const first = await fixture.startDaemon();
  try {
    const synced = await first.client.sync(EXP, 60_000, [{ id: 'good-1', target: { containerId: 'good1' }, fault: { kind: 'container-freeze' } }]);
    assert.equal(synced.results[0]?.ok, true, JSON.stringify(synced));
    await fixture.waitFreezeState('good1', 'FROZEN');
  } finally {
    await first.stop('SIGKILL');
  }
  const dir = fixture.journalDir;
  const [good] = await journalFiles(dir);
  await writeFile(join(dir, 'injection-empty.json'), '');
  await writeFile(join(dir, 'injection-torn.json'), '{"format":2,"bootId":"x","value":{"spec":{"id":"to');
  await writeFile(join(dir, 'injection-schema.json'), JSON.stringify({ format: 2, value: { spec: { id: 'bad' }, phase: 'active', plan: { apply: 'rm -rf /' } } }));
  await writeFile(join(dir, 'leases.json'), '{"format":2,"value":{"kerris-controller":{"expiresAt":1e');

  const daemon = await fixture.startDaemon();
  try {
    // The leases file is unusable, so the holder's lease counts as expired: the good freeze is reverted at once.
    await fixture.waitFreezeState('good1', 'THAWED', 2_000);
    assert.deepEqual((await daemon.client.list()).injections, []);
    const capabilities = await daemon.client.capabilities();
    assert.deepEqual(capabilities.journalDamage.map((d) => [d.file, d.kind]).sort(), [
      ['injection-empty.json', 'empty'], ['injection-schema.json', 'invalid'], ['injection-torn.json', 'torn'], ['leases.json', 'leases'],
    ]);
    const metrics = await metricsText(daemon);
    for (const kind of ['empty', 'invalid', 'torn', 'leases']) assert.match(metrics, new RegExp(`kerris_daemon_journal_damaged_total\\{kind="${kind}"\\} 1`));
    const aside = await readdir(join(dir, 'damaged'));
    assert.deepEqual(aside.sort(), capabilities.journalDamage.map((d) => d.movedTo.replace(/^damaged\//, '')).sort(), 'moved, not deleted');
    assert.ok(!(await journalFiles(dir)).includes(good ?? ''), 'the good record is reverted and removed');
    assert.deepEqual(await journalFiles(dir), []);
    assert.ok(daemon.logs.some((l) => l['msg'] === 'journal: damaged file set aside, not used' && l['kind'] === 'torn'), 'logged with its reason');
  } finally {
    await daemon.stop();
    await fixture.removeContainer('good1');
  }
});

test('a journal that turns read-only during a Sync fails the inject with nothing left in the kernel; the daemon keeps serving', async () => {
  const journalDir = join(fixture.dir, 'ro-journal');
  await mkdir(journalDir);
  await run(['mount', '-t', 'tmpfs', '-o', 'size=4m,mode=0700', 'kerris-test', journalDir]);
  let daemon: RunningDaemon | undefined;
  try {
    await fixture.runContainer('ro1');
    daemon = await fixture.startDaemon([], { journalDir });
    // The holder's first lease is written while the journal is writable, as a controller's first Sync would.
    await daemon.client.sync(EXP, 60_000, []);
    await run(['mount', '-o', 'remount,ro', journalDir]);
    const synced = await daemon.client.sync(EXP, 60_000, [{ id: 'ro-1', target: { containerId: 'ro1' }, fault: { kind: 'container-freeze' } }]);
    const [result] = synced.results;
    assert.equal(result?.ok, false, JSON.stringify(synced));
    assert.match(result?.message ?? '', /nothing applied: the journal cannot record it/);
    assert.equal(await fixture.freezeState('ro1'), 'THAWED', 'never frozen');
    assert.deepEqual((await daemon.client.list()).injections, []);
    const live = daemon;
    await eventually('the daemon to keep serving', async () => (Array.isArray((await live.client.list()).injections) ? true : undefined), 2_000);
    assert.equal(live.child.exitCode, null, 'still running');
  } finally {
    await run(['mount', '-o', 'remount,rw', journalDir], { allowFailure: true });
    await daemon?.stop();
    await run(['umount', journalDir], { allowFailure: true });
    await fixture.removeContainer('ro1');
  }
  assert.deepEqual(await journalFiles(journalDir), [], 'the tmpfs is gone, and the directory below it empty');
});

test('a journal that fills up (ENOSPC) while a fault is held: the revert still happens, is logged, and the daemon keeps serving', async () => {
  const journalDir = join(fixture.dir, 'full-journal');
  await mkdir(journalDir);
  await run(['mount', '-t', 'tmpfs', '-o', 'size=1m,mode=0700', 'kerris-test', journalDir]);
  let daemon: RunningDaemon | undefined;
  try {
    await fixture.runContainer('full1');
    daemon = await fixture.startDaemon([], { journalDir });
    const held = await daemon.client.sync(EXP, 60_000, [{ id: 'full-1', target: { containerId: 'full1' }, fault: { kind: 'container-freeze' } }]);
    assert.equal(held.results[0]?.ok, true, JSON.stringify(held));
    await fixture.waitFreezeState('full1', 'FROZEN');
    // Fill the file system to the last block: the revert's journal write ("reverting") meets ENOSPC.
    const filler = join(journalDir, 'filler');
    await run(['dd', 'if=/dev/zero', `of=${filler}`, 'bs=4k'], { allowFailure: true });
    const recovered = await daemon.client.sync(EXP, 60_000, []);
    assert.deepEqual(recovered.removed, ['full-1'], JSON.stringify(recovered));
    assert.equal(await fixture.freezeState('full1'), 'THAWED', 'the fault ended although its revert could not be journaled');
    assert.ok(daemon.logs.some((l) => l['msg'] === 'could not journal a revert; reverting anyway' && String(l['error']).includes('ENOSPC')), 'the journal failure is logged with its cause');
    assert.deepEqual((await daemon.client.list()).injections, []);
    assert.equal(daemon.child.exitCode, null, 'still running');
    await rm(filler);
    const again = await daemon.client.sync(EXP, 60_000, [{ id: 'full-2', target: { containerId: 'full1' }, fault: { kind: 'container-freeze' } }]);
    assert.equal(again.results[0]?.ok, true, 'with space again, faults are journaled and applied as before');
    assert.deepEqual((await daemon.client.sync(EXP, 60_000, [])).removed, ['full-2']);
  } finally {
    await daemon?.stop();
    await run(['umount', journalDir], { allowFailure: true });
    await fixture.removeContainer('full1');
  }
  assert.deepEqual(await journalFiles(journalDir), [], 'the tmpfs is gone, and the directory below it empty');
});

test('a journal that turns read-only while a fault is held: the revert still ends the fault; the record it cannot remove is reported and retried until it can', async () => {
  const journalDir = join(fixture.dir, 'ro-revert-journal');
  await mkdir(journalDir);
  await run(['mount', '-t', 'tmpfs', '-o', 'size=4m,mode=0700', 'kerris-test', journalDir]);
  let daemon: RunningDaemon | undefined;
  try {
    await fixture.runContainer('rorev1');
    daemon = await fixture.startDaemon([], { journalDir });
    const held = await daemon.client.sync(EXP, 60_000, [{ id: 'rorev-1', target: { containerId: 'rorev1' }, fault: { kind: 'container-freeze' } }]);
    assert.equal(held.results[0]?.ok, true, JSON.stringify(held));
    await fixture.waitFreezeState('rorev1', 'FROZEN');
    await run(['mount', '-o', 'remount,ro', journalDir]);
    const recovered = await daemon.client.sync(EXP, 60_000, []);
    assert.equal(await fixture.freezeState('rorev1'), 'THAWED', 'the fault ended although the journal is read-only');
    assert.deepEqual(recovered.revertFailed.map((r) => r.id), ['rorev-1'], 'the record it could not remove is reported, not hidden');
    assert.match(recovered.revertFailed[0]?.message ?? '', /reverted, but its journal record could not be removed/);
    await run(['mount', '-o', 'remount,rw', journalDir]);
    const live = daemon;
    await eventually('the record to be removed once the journal is writable', async () => ((await live.client.list()).injections.length === 0 ? true : undefined), 15_000, 200);
    assert.deepEqual(await journalFiles(journalDir), []);
    assert.equal(await fixture.freezeState('rorev1'), 'THAWED', 'never frozen again');
  } finally {
    await run(['mount', '-o', 'remount,rw', journalDir], { allowFailure: true });
    await daemon?.stop();
    await run(['umount', journalDir], { allowFailure: true });
    await fixture.removeContainer('rorev1');
  }
});
