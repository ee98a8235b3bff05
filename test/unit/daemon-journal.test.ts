import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Journal, JournalError, type JournalRecord } from '../../src/daemon/journal.ts';
import { processStartTime } from '../../src/daemon/proc.ts';

const record = (id: string): JournalRecord => ({
  spec: { id, target: { containerId: 'c' }, fault: { kind: 'container-freeze' } }, specHash: 'h', experiment: 'e', holder: 'ctl', phase: 'applying', reapplied: 0,
  plan: { summary: 's', apply: [{ kind: 'write', path: '/x', value: '1' }], revert: [{ kind: 'write', path: '/x', value: '0' }] },
});

test('records and leases survive a reopen; temp files of interrupted writes are dropped; a removed record is gone', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kerris-journal-'));
  try {
    const journal = new Journal(dir);
    await journal.open();
    await journal.write(record('a'));
    await journal.write({ ...record('b'), phase: 'active' }, 'atomic');
    await journal.write(record('c'));
    await journal.remove('c');
    await Promise.all([1, 2, 3].map((n) => journal.writeLeases(new Map([['ctl', { expiresAt: n, ttlMs: 5 }]]))));
    await writeFile(join(dir, 'injection-deadbeef.json.tmp-123'), '{"half');
    const { records, leases } = await new Journal(dir).open();
    assert.deepEqual(records.map((r) => [r.spec.id, r.phase]).sort(), [['a', 'applying'], ['b', 'active']]);
    assert.deepEqual([...leases], [['ctl', { expiresAt: 3, ttlMs: 5 }]], 'the newest lease snapshot wins');
    assert.deepEqual((await readdir(dir)).filter((n) => n.includes('.tmp-')), []);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a journal locked by a live process refuses to open; a lock left by a dead one is taken over', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kerris-journal-'));
  try {
    await writeFile(join(dir, 'daemon.lock'), `1 ${await processStartTime(1)}`);
    await assert.rejects(new Journal(dir).open(), /in use by process 1/);
    await writeFile(join(dir, 'daemon.lock'), '1 12345');
    const journal = new Journal(dir);
    await journal.open();
    await journal.close();
    assert.deepEqual((await readdir(dir)).filter((n) => n === 'daemon.lock'), [], 'released on close');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('an unreadable journal file stops the start-up rather than being ignored', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kerris-journal-'));
  try {
    await writeFile(join(dir, 'injection-0123.json'), 'not json');
    await assert.rejects(new Journal(dir).open(), JournalError);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
