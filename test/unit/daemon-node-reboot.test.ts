/**
 * node-reboot's parts that never reboot: the boot ID's validation (request and journal record), the boot-ID decision,
 * the consent file, and, through an Injector on a real journal, that a request naming another boot is done without
 * doing anything and that a journaled reboot is kept as done across a restart and not asked again by the same Sync.
 *
 * Safety: no test here gives the module the boot ID this machine runs; each one it is given is checked first
 * (otherBoot), so the reboot path's action is never built, let alone run.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { parseConfig } from '../../src/daemon/config.ts';
import { DaemonError } from '../../src/daemon/errors.ts';
import { CONSENT_FILE, consentRefusal, nodeReboot, normalizeNodeReboot, rebootDecision } from '../../src/daemon/faults/node-reboot.ts';
import { Injector } from '../../src/daemon/injector.ts';
import { Journal, type JournalRecord } from '../../src/daemon/journal.ts';
import { parseRecord, RecordSchemaError } from '../../src/daemon/journal-record.ts';
import { checkScope, specHash, type InjectionSpec } from '../../src/daemon/spec.ts';
import { createLogger } from '../../src/util/log.ts';

const quiet = createLogger({}, () => undefined);
const EXP = 'exp-reboot';
let dir: string;
let thisBoot: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kerris-reboot-'));
  thisBoot = (await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim();
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A boot ID that is not this machine's: the only kind a test may hand the module. */
function otherBoot(): string {
  const id = randomUUID();
  assert.notEqual(id, thisBoot, 'a test must never name the boot this machine runs');
  return id;
}

async function consentingDir(name: string): Promise<string> {
  const config = join(dir, name);
  await mkdir(config, { recursive: true });
  await writeFile(join(config, CONSENT_FILE), '');
  return config;
}

test('the boot ID is a lower-case UUID, named as the wire names it; anything else is invalid', () => {
  const id = '3f1c2a4e-8b7d-4c1e-9a2b-5d6e7f801234';
  assert.deepEqual(normalizeNodeReboot({ kind: 'node-reboot', bootId: id }), { kind: 'node-reboot', bootId: id });
  for (const bad of ['', id.toUpperCase(), `{${id}}`, `${id}\n`, ` ${id}`, id.slice(0, 35), `${id}0`, id.replaceAll('-', ''), id.replace('3f', 'g3'), '../../etc/passwd']) {
    assert.throws(() => normalizeNodeReboot({ kind: 'node-reboot', bootId: bad }),
      (error: unknown) => error instanceof DaemonError && error.code === 'invalid' && /^node_reboot\.boot_id .* must be a boot ID: a lower-case UUID/.test(error.message), JSON.stringify(bad));
  }
  assert.throws(() => normalizeNodeReboot({ kind: 'kubelet-stop' }), /got a kubelet-stop fault/);
  assert.throws(() => checkScope('node-reboot', { containerId: 'c1' }), /node-reboot is a node fault: its target is the node itself/);
  checkScope('node-reboot', { node: true });
});

test('the decision: another boot than the one asked for is a reboot that happened already, and nothing is done; the same boot is rebooted', () => {
  const asked = '11111111-2222-4333-8444-555555555555';
  const now = '66666666-7777-4888-9999-aaaaaaaaaaaa';
  assert.deepEqual(rebootDecision(asked, now), { reboot: false, summary: `already rebooted: the node runs boot ${now}, not ${asked}; nothing done` });
  assert.deepEqual(rebootDecision(asked, asked), { reboot: true, summary: `reboot the node (boot ${asked}): sync, then reboot through /proc/sysrq-trigger` });
});

test('consent is the file allow-node-reboot in the node\'s settings directory: missing, or not a file, is a refusal that says what to create', async () => {
  const config = join(dir, 'consent');
  await mkdir(config, { recursive: true });
  assert.equal(await consentRefusal(config, 'n1'),
    `node-reboot: node n1 does not consent to reboots: ${config}/allow-node-reboot is missing (create /etc/kerris/allow-node-reboot on nodes kerris may reboot)`);
  await mkdir(join(config, CONSENT_FILE));
  assert.match(await consentRefusal(config, 'n1') ?? '', /allow-node-reboot is not a file/);
  await rm(join(config, CONSENT_FILE), { recursive: true });
  await writeFile(join(config, CONSENT_FILE), '');
  assert.equal(await consentRefusal(config, 'n1'), undefined);
  assert.match(await consentRefusal(join(dir, 'no-such-dir'), 'n1') ?? '', /does not consent to reboots: .*no-such-dir\/allow-node-reboot is missing/);
});

test('the module: not offered and refused (unavailable) without consent; with it, a request for another boot is an action that does nothing', async () => {
  const without = join(dir, 'without');
  await mkdir(without, { recursive: true });
  const refusing = nodeReboot({ node: 'n1', configDir: without, log: quiet });
  assert.match(await refusing.unavailableNow?.() ?? '', /^node-reboot: node n1 does not consent to reboots/);
  await assert.rejects(refusing.prepare({ kind: 'node-reboot', bootId: otherBoot() }, { deadlineAt: undefined }),
    (error: unknown) => error instanceof DaemonError && error.code === 'unavailable' && /does not consent to reboots/.test(error.message));

  const consenting = nodeReboot({ node: 'n1', configDir: await consentingDir('with'), log: quiet });
  // With consent, what may still be missing is the kernel's trigger (this test host's kernel has no sysrq).
  const unavailable = await consenting.unavailableNow?.();
  assert.ok(unavailable === undefined || /cannot be rebooted through \/proc\/sysrq-trigger/.test(unavailable), unavailable);
  const asked = otherBoot();
  const action = await consenting.prepare({ kind: 'node-reboot', bootId: asked }, { deadlineAt: undefined });
  assert.equal(action.summary, `already rebooted: the node runs boot ${thisBoot}, not ${asked}; nothing done`);
  await action.run();
});

test('through the injector: a request for another boot is done at once and listed with its summary; a journaled reboot stays done across a restart and the same Sync does not ask again', async () => {
  const journalDir = join(dir, 'journal');
  const configDir = await consentingDir('injector');
  const start = async (): Promise<Injector> => {
    const injector = new Injector({
      journal: new Journal(journalDir, { bootId: 'boot-1' }), log: quiet, clock: () => 1_000, tickMs: 60_000, targetCheckMs: 60_000,
      executor: { apply: () => Promise.reject(new Error('node-reboot runs no plan')), revert: () => Promise.reject(new Error('node-reboot reverts nothing')) },
      targets: { resolve: () => Promise.reject(new Error('no containers here')), findRestarted: () => Promise.reject(new Error('no containers here')) },
      policy: { check: async () => undefined, checkNode: async () => undefined, checkNodeNetns: async () => undefined },
      faults: [nodeReboot({ node: 'n1', configDir, log: quiet })],
    });
    await injector.start();
    return injector;
  };

  // A reboot that was answered and journaled (done) before the daemon restarted: its boot named, never this machine's.
  const rebooted = otherBoot();
  const fault = { kind: 'node-reboot', bootId: rebooted } as const;
  const spec: InjectionSpec = { id: `${EXP}/node-uid/reboot`, target: { node: true }, fault };
  const summary = `reboot the node (boot ${rebooted}): sync, then reboot through /proc/sysrq-trigger`;
  const journal = new Journal(journalDir, { bootId: 'boot-1' });
  await journal.open();
  const done: JournalRecord = { spec, specHash: specHash(spec), experiment: EXP, holder: 'kerris-controller', phase: 'done', summary, reapplied: 0 };
  assert.deepEqual(parseRecord(JSON.parse(JSON.stringify(done))), done, 'the record reads back as written');
  await journal.write(done);
  await journal.writeLeases(new Map([['kerris-controller', { expiresAt: 1e12, ttlMs: 60_000 }]]));
  await journal.close();

  let injector = await start();
  try {
    assert.deepEqual(injector.list().injections.map((s) => [s.id, s.phase, s.summary]), [[spec.id, 'done', summary]], 'kept as done: an action that ran');
    const again = await injector.sync('kerris-controller', EXP, 60_000, [{ id: spec.id, target: { node: true }, fault, deadlineInMs: 0 }]);
    assert.equal(again.results[0]?.error, undefined);
    assert.equal(again.results[0]?.injection?.summary, summary, 'the same Sync finds the record and prepares nothing again');

    const asked = otherBoot();
    const other = await injector.sync('kerris-controller', 'exp-other', 60_000, [{ id: 'exp-other/node-uid/reboot', target: { node: true }, fault: { kind: 'node-reboot', bootId: asked } }]);
    assert.equal(other.results[0]?.error, undefined);
    assert.equal(other.results[0]?.injection?.phase, 'done');
    assert.equal(other.results[0]?.injection?.summary, `already rebooted: the node runs boot ${thisBoot}, not ${asked}; nothing done`);
    assert.equal(other.results[0]?.injection?.pid, 0, 'no process is its target');

    const bad = await injector.sync('kerris-controller', 'exp-bad', 60_000, [{ id: 'exp-bad/x', target: { node: true }, fault: { kind: 'node-reboot', bootId: 'not-a-boot' } }]);
    assert.equal(bad.results[0]?.error?.code, 'invalid');
    assert.match(bad.results[0]?.error?.message ?? '', /node_reboot\.boot_id "not-a-boot" must be a boot ID/);
  } finally {
    await injector.stop();
  }
  injector = await start();
  try {
    assert.deepEqual(injector.list().injections.map((s) => [s.id, s.phase]).sort(), [['exp-other/node-uid/reboot', 'done'], [spec.id, 'done']]);
  } finally {
    await injector.stop();
  }
});

test('a journal record of node-reboot must carry a boot ID; --node-config-dir defaults to the DaemonSet\'s mount and must be absolute', () => {
  const record = (bootId: unknown) => ({
    spec: { id: 'e/n/reboot', target: { node: true }, fault: { kind: 'node-reboot', bootId } }, specHash: 'h', experiment: 'e', holder: 'kerris-controller', phase: 'done', reapplied: 0,
  });
  assert.equal(parseRecord(record('3f1c2a4e-8b7d-4c1e-9a2b-5d6e7f801234')).spec.fault.kind, 'node-reboot');
  for (const bad of [undefined, 7, 'ABC', '3F1C2A4E-8B7D-4C1E-9A2B-5D6E7F801234']) {
    assert.throws(() => parseRecord(record(bad)), (error: unknown) => error instanceof RecordSchemaError && /spec\.fault\.bootId/.test(error.message), String(bad));
  }
  assert.throws(() => parseRecord({ ...record('3f1c2a4e-8b7d-4c1e-9a2b-5d6e7f801234'), spec: { id: 'e/n/reboot', target: { containerId: 'c1' }, fault: { kind: 'node-reboot', bootId: '3f1c2a4e-8b7d-4c1e-9a2b-5d6e7f801234' } } }),
    /node-reboot is a node fault/);
  assert.equal(parseConfig([], {}).nodeConfigDir, '/host/etc/kerris');
  assert.equal(parseConfig(['--node-config-dir', '/etc/kerris-test'], {}).nodeConfigDir, '/etc/kerris-test');
  assert.equal(parseConfig([], { KERRIS_DAEMON_NODE_CONFIG_DIR: '/srv/kerris' }).nodeConfigDir, '/srv/kerris');
  assert.throws(() => parseConfig(['--node-config-dir', 'etc/kerris'], {}), /--node-config-dir "etc\/kerris" must be an absolute path/);
  assert.throws(() => parseConfig(['--node-config-dir', '/etc/../root'], {}), /must be an absolute path/);
});
