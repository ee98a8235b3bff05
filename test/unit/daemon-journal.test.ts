import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Journal, type JournalRecord } from '../../src/daemon/journal.ts';
import { processStartTime } from '../../src/daemon/proc.ts';

const FREEZE = '/sys/fs/cgroup/kubepods/pod1/c/cgroup.freeze';
const record = (id: string): JournalRecord => ({
  spec: { id, target: { containerId: 'c' }, fault: { kind: 'container-freeze' } }, specHash: 'h', experiment: 'e', holder: 'ctl', phase: 'applying', reapplied: 0,
  plan: { summary: 's', apply: [{ kind: 'write', path: FREEZE, value: '1' }], revert: [{ kind: 'write', path: FREEZE, value: '0' }] },
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

test('damaged files never stop the start: each is moved to damaged/ with its reason, and the good records load', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kerris-journal-'));
  try {
    const journal = new Journal(dir, { bootId: 'b' });
    await journal.open();
    await journal.write(record('good'));
    await journal.writeLeases(new Map([['ctl', { expiresAt: 9, ttlMs: 5 }]]));
    await journal.close();
    const good = (await readdir(dir)).filter((n) => n.startsWith('injection-'));
    const envelope = (value: unknown) => JSON.stringify({ format: 2, bootId: 'b', value });
    await writeFile(join(dir, 'injection-empty.json'), '');
    await writeFile(join(dir, 'injection-torn.json'), envelope(record('torn')).slice(0, 40));
    await writeFile(join(dir, 'injection-schema.json'), envelope({ ...record('schema'), phase: 'sideways' }));
    await writeFile(join(dir, 'injection-format.json'), JSON.stringify({ format: 7, value: record('format') }));
    const hostile = { ...record('hostile'), plan: { summary: 's', apply: [], revert: [{ kind: 'exec', argv: ['rm', '-rf', '/'] }] } };
    await writeFile(join(dir, 'injection-hostile.json'), envelope(hostile));
    await writeFile(join(dir, 'leases.json'), '{"format":2,"bootId":"b","value":{"ctl":{"expiresAt":');
    const { records, leases, damaged } = await new Journal(dir, { bootId: 'b' }).open();
    assert.deepEqual(records.map((r) => r.spec.id), ['good']);
    assert.deepEqual(leases, new Map(), 'a corrupt leases file counts as no lease: every holder has expired');
    assert.deepEqual(damaged.map((d) => [d.file, d.kind]).sort(), [
      ['injection-empty.json', 'empty'], ['injection-format.json', 'invalid'], ['injection-hostile.json', 'unsafe-plan'],
      ['injection-schema.json', 'invalid'], ['injection-torn.json', 'torn'], ['leases.json', 'leases'],
    ]);
    assert.match(damaged.find((d) => d.file === 'injection-schema.json')?.reason ?? '', /phase "sideways" is not a phase/);
    assert.deepEqual((await readdir(dir)).filter((n) => n.startsWith('injection-') || n === 'leases.json'), good, 'only the good record stays in place');
    const aside = await readdir(join(dir, 'damaged'));
    assert.equal(aside.length, 6, 'nothing deleted');
    assert.deepEqual(damaged.map((d) => d.movedTo?.replace(/^damaged\//, '')).sort(), aside.sort());
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
