/**
 * node-reboot on a real daemon, journal and /proc, without ever rebooting this machine: its --node-config-dir is a
 * directory of this run's own, and every boot ID it is sent is checked first not to be the one this machine runs
 * (notThisBoot), so the daemon's reboot path is never reached. Without the consent file the kind is not offered and a
 * request is UNAVAILABLE with the reason; with it, a request naming another boot is done at once, says the node
 * rebooted already, does nothing (this machine's boot ID is unchanged, nothing is scheduled) and is kept as done across
 * a daemon restart; a boot ID that is not a lower-case UUID is INVALID; no journal file is left behind.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { access, constants, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, test } from 'node:test';
import { ErrorCode, FaultKind, Phase, type InjectionInput, type SyncResponse } from '../../src/daemon/client.ts';
import { makeCertificates, type CertificateSet } from '../../src/daemon/tls-certs.ts';
import { readTlsFiles, type TlsMaterial } from '../../src/daemon/tls.ts';
import { eventually, journalFiles, spawnDaemon, type RunningDaemon } from './daemon-fixture.ts';

const NODE = 'kd-reboot-node';
const EXP = 'exp-reboot';
const ID = `${EXP}/node-uid/reboot`;
const BOOT_ID_FILE = '/proc/sys/kernel/random/boot_id';

let dir: string;
let certs: CertificateSet;
let clientTls: TlsMaterial;
let thisBoot: string;
const daemons: RunningDaemon[] = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kd-reboot-'));
  certs = await makeCertificates(join(dir, 'pki'));
  clientTls = await readTlsFiles(certs.client);
  thisBoot = await readBootId();
});

afterEach(async () => {
  for (const daemon of daemons.splice(0)) await daemon.stop('SIGKILL');
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
  // Had anything rebooted this machine, nothing would run here; this says the boot never changed under the tests.
  assert.equal(await readBootId(), thisBoot);
});

async function readBootId(): Promise<string> {
  return (await readFile(BOOT_ID_FILE, 'utf8')).trim();
}

/** A boot ID this machine does not run, checked against the kernel's now: the only kind these tests ever send. */
async function notThisBoot(): Promise<string> {
  const id = randomUUID();
  const now = await readBootId();
  assert.notEqual(id, now, 'refusing to send the boot ID this machine runs: it would reboot it');
  assert.notEqual(id, thisBoot);
  return id;
}

/** A settings directory of this run's own, with the consent file or without. */
async function configDir(name: string, consent: boolean): Promise<string> {
  const config = join(dir, `config-${name}`);
  await mkdir(config, { recursive: true });
  if (consent) await writeFile(join(config, 'allow-node-reboot'), '');
  return config;
}

async function startDaemon(journal: string, config: string): Promise<RunningDaemon> {
  // No containerd: a node fault needs none, and the daemon starts without a runtime.
  const daemon = await spawnDaemon({
    containerdSocket: join(dir, 'no-containerd.sock'), journalDir: join(dir, `journal-${journal}`), certs, clientTls,
    extraArgs: ['--node-config-dir', config, '--node-name', NODE],
  });
  daemons.push(daemon);
  return daemon;
}

function reboot(bootId: string, id = ID): InjectionInput {
  return { id, target: { node: true }, fault: { kind: 'node-reboot', bootId } };
}

function outcome(response: SyncResponse): string {
  const [result] = response.results;
  return result === undefined ? 'no result' : result.ok ? 'ok' : `${ErrorCode[result.errorCode]}: ${result.message}`;
}

/** Stops the daemon gracefully and waits for its last log line, so what it logged is all there. */
async function stopAndReadLogs(daemon: RunningDaemon): Promise<ReadonlyArray<Record<string, unknown>>> {
  await daemon.stop('SIGTERM');
  await eventually('the daemon\'s last log line', async () => (daemon.logs.some((l) => l['msg'] === 'stopped') ? true : undefined));
  return daemon.logs;
}

test('without the consent file: node-reboot is not offered, and a request is UNAVAILABLE naming the file to create; nothing is journaled', async () => {
  const config = await configDir('none', false);
  const daemon = await startDaemon('none', config);
  const kinds = (await daemon.client.capabilities()).faultKinds;
  assert.ok(!kinds.includes(FaultKind.NODE_REBOOT), 'node-reboot is not offered');
  assert.ok(kinds.includes(FaultKind.NODE_NETWORK), 'the other node faults still are');
  const synced = await daemon.client.sync(EXP, 30_000, [reboot(await notThisBoot())]);
  assert.equal(outcome(synced),
    `UNAVAILABLE: node-reboot: node ${NODE} does not consent to reboots: ${config}/allow-node-reboot is missing (create /etc/kerris/allow-node-reboot on nodes kerris may reboot)`);
  assert.equal(synced.results[0]?.injection, undefined, 'no injection is held');
  assert.deepEqual(await journalFiles(join(dir, 'journal-none')), []);
  assert.equal(await readBootId(), thisBoot);
});

test('with the consent file, a request for another boot is done at once, says the node rebooted already, and does nothing; it stays done across a restart', async () => {
  const config = await configDir('consent', true);
  const daemon = await startDaemon('consent', config);
  // The kind is offered where the kernel has the sysrq trigger and the daemon may write it (this test host's kernel may have none).
  const trigger = await access('/proc/sysrq-trigger', constants.W_OK).then(() => true, () => false);
  assert.equal((await daemon.client.capabilities()).faultKinds.includes(FaultKind.NODE_REBOOT), trigger, `offered exactly when /proc/sysrq-trigger is writable (${trigger})`);

  const asked = await notThisBoot();
  const synced = await daemon.client.sync(EXP, 30_000, [reboot(asked)]);
  assert.equal(outcome(synced), 'ok');
  const injection = synced.results[0]?.injection;
  assert.equal(injection?.phase, Phase.DONE);
  assert.equal(injection?.kind, FaultKind.NODE_REBOOT);
  assert.equal(injection?.summary, `already rebooted: the node runs boot ${thisBoot}, not ${asked}; nothing done`);
  assert.match(injection?.summary ?? '', /already rebooted/);
  assert.equal(injection?.pid, 0);
  assert.equal((await journalFiles(join(dir, 'journal-consent'))).length, 1, 'journaled, as every action is');

  // The same Sync again: the record answers, nothing is prepared again.
  const again = await daemon.client.sync(EXP, 30_000, [reboot(asked)]);
  assert.equal(outcome(again), 'ok');
  assert.equal(again.results[0]?.injection?.summary, injection?.summary);

  const logs = await stopAndReadLogs(daemon);
  assert.ok(!logs.some((l) => l['msg'] === 'node reboot scheduled' || l['msg'] === 'rebooting the node now'), 'no reboot was scheduled');

  const restarted = await startDaemon('consent', config);
  const listed = await restarted.client.list({ experiment: EXP });
  assert.deepEqual(listed.injections.map((i) => [i.id, i.phase, i.summary]), [[ID, Phase.DONE, injection?.summary]], 'kept as done across the restart');
  const cleared = await restarted.client.sync(EXP, 30_000, []);
  assert.deepEqual(cleared.removed, [ID]);
  assert.deepEqual(await journalFiles(join(dir, 'journal-consent')), [], 'no journal file left');
  assert.equal(await readBootId(), thisBoot, 'this machine runs the same boot');
});

test('a boot ID that is not a lower-case UUID is INVALID, naming the field; a node-reboot on a container is INVALID too', async () => {
  const config = await configDir('invalid', true);
  const daemon = await startDaemon('invalid', config);
  const other = await notThisBoot();
  for (const bad of ['', 'not-a-boot', other.toUpperCase(), `${other}\n`, other.replaceAll('-', '')]) {
    const synced = await daemon.client.sync(EXP, 30_000, [reboot(bad)]);
    assert.equal(outcome(synced), `INVALID: node_reboot.boot_id ${JSON.stringify(bad)} must be a boot ID: a lower-case UUID (36 characters, hex digits and dashes, as in /proc/sys/kernel/random/boot_id)`);
  }
  const onContainer = await daemon.client.sync(EXP, 30_000, [{ id: ID, target: { containerId: 'c1' }, fault: { kind: 'node-reboot', bootId: other } }]);
  assert.match(outcome(onContainer), /^INVALID: node-reboot is a node fault: its target is the node itself/);
  assert.deepEqual(await journalFiles(join(dir, 'journal-invalid')), []);
  assert.equal(await readBootId(), thisBoot);
});
