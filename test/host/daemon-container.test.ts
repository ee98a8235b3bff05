/**
 * The daemon on a real containerd: PID resolution through containerd's API,
 * container-kill, freeze/thaw, idempotency, mTLS with client names and
 * certificate rotation, and refused starts, each through the gRPC API of a
 * daemon process, each checking that nothing is left behind.
 */
import * as grpc from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { mkdir, readFile, rename, symlink, writeFile } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { createSecureContext } from 'node:tls';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { methods } from '../../src/daemon/api.ts';
import { DaemonClient, ErrorCode, FaultKind, Phase, type SyncResponse } from '../../src/daemon/client.ts';
import { callUnary } from '../../src/daemon/grpc-unary.ts';
import { processState } from '../../src/daemon/proc.ts';
import { ContainerdRuntime } from '../../src/daemon/runtime/containerd.ts';
import { CriRuntime } from '../../src/daemon/runtime/cri.ts';
import { TargetResolver } from '../../src/daemon/runtime/resolve.ts';
import { makeCertificates, signClient } from '../../src/daemon/tls-certs.ts';
import { readTlsFiles } from '../../src/daemon/tls.ts';
import { DaemonFixture, eventually, journalFiles, MAIN, NAMESPACE, readCounter, type RunningDaemon } from './daemon-fixture.ts';

const COUNTER = ['/bin/sh', '-c', 'i=0; while true; do i=$((i+1)); echo $i > /tmp/count; sleep 0.05; done'];
const EXP = 'exp-ctr';

/** Each item's [id, ok or its error code]. */
function outcomes(response: SyncResponse): Array<[string, string]> {
  return response.results.map((r) => [r.id, r.ok ? 'ok' : ErrorCode[r.errorCode]]);
}

let fixture: DaemonFixture;
let daemon: RunningDaemon;

before(async () => {
  fixture = await DaemonFixture.create('ctr');
  daemon = await fixture.startDaemon();
});

after(async () => {
  await fixture?.cleanup();
});

/** What the daemon and the kernel hold for a container: compared before and after each fault. */
async function state(id: string): Promise<unknown> {
  const listed = await daemon.client.list();
  return {
    freezer: await fixture.freezeState(id),
    injections: listed.injections.map((i) => i.id),
    journal: await journalFiles(fixture.journalDir),
  };
}

test('a container ID resolves to its task pid through containerd\'s Tasks/Get; CRI answers not-found for a container it does not manage', async () => {
  const pid = await fixture.runContainer('resolve1');
  const resolver = new TargetResolver([new ContainerdRuntime({ socket: fixture.containerd.socket, namespace: NAMESPACE })]);
  try {
    const target = await resolver.resolve('resolve1');
    assert.equal(target.pid, pid, 'the pid ctr reports');
    assert.match(target.runtime, /^containerd /);
    await assert.rejects(resolver.resolve('no-such-container'), (error: Error & { code?: string }) => error.code === 'not-found');
  } finally {
    resolver.close();
  }
  const cri = new CriRuntime({ socket: fixture.containerd.socket });
  try {
    // ctr's containers are not CRI's: the real CRI service answers NOT_FOUND, which proves the hand-written messages reach it.
    await assert.rejects(cri.taskPid('resolve1'), (error: Error & { code?: string }) => error.code === 'not-found');
  } finally {
    cri.close();
  }
});

test('container-kill SIGKILLs every process of the container through Tasks/Kill, once', async () => {
  const pid = await fixture.runContainer('kill1', { argv: COUNTER });
  const before = await journalFiles(fixture.journalDir);
  const result = await daemon.client.sync(EXP, 30_000, [{ id: 'kill-1', target: { containerId: 'kill1' }, fault: { kind: 'container-kill' } }]);
  assert.deepEqual(outcomes(result), [['kill-1', 'ok']]);
  assert.equal(result.results[0]?.injection?.phase, Phase.DONE);
  assert.equal(result.results[0]?.injection?.holder, 'kerris-controller', 'the caller is its certificate\'s name');
  await eventually('the task to stop', async () => ((await fixture.taskStatus('kill1')) === 'STOPPED' ? true : undefined));
  assert.equal(await processState(pid), undefined, 'the container process is gone');

  // The same injection again is the same injection: no second kill of whatever runs now.
  const again = await daemon.client.sync(EXP, 30_000, [{ id: 'kill-1', target: { containerId: 'kill1' }, fault: { kind: 'container-kill' } }]);
  assert.deepEqual(outcomes(again), [['kill-1', 'ok']]);
  assert.equal(daemon.logs.filter((l) => l['msg'] === 'container killed').length, 1, 'not killed a second time');

  const recovered = await daemon.client.sync(EXP, 30_000, []);
  assert.deepEqual(recovered.removed, ['kill-1']);
  assert.deepEqual(await journalFiles(fixture.journalDir), before, 'journal after == before');
  assert.deepEqual((await daemon.client.list()).injections, []);
});

test('container-freeze freezes every process (the cgroup reports frozen, the counter stops) and an empty Sync thaws them; state after == before', async () => {
  const pid = await fixture.runContainer('freeze1', { argv: COUNTER });
  await eventually('the counter to start', async () => ((await readCounter(pid).catch(() => 0)) > 0 ? true : undefined));
  const before = await state('freeze1');
  assert.equal((before as { freezer: string }).freezer, 'THAWED');

  const result = await daemon.client.sync(EXP, 30_000, [{ id: 'freeze-1', target: { containerId: 'freeze1' }, fault: { kind: 'container-freeze' } }]);
  assert.deepEqual(outcomes(result), [['freeze-1', 'ok']]);
  assert.equal(result.results[0]?.injection?.pid, pid);
  assert.match(result.results[0]?.injection?.summary ?? '', /cgroup v2 /, 'cgroup v2\'s freezer on this v1/v2 hybrid');
  await fixture.waitFreezeState('freeze1', 'FROZEN');
  const frozenAt = await readCounter(pid);
  await sleep(500);
  assert.equal(await readCounter(pid), frozenAt, 'the counter does not advance while frozen');

  const recovered = await daemon.client.sync(EXP, 30_000, []);
  assert.deepEqual([recovered.removed, recovered.revertFailed], [['freeze-1'], []]);
  await eventually('the counter to advance again', async () => ((await readCounter(pid)) > frozenAt + 2 ? true : undefined));
  assert.deepEqual(await state('freeze1'), before, 'kernel and daemon state after == before');
  await fixture.removeContainer('freeze1');
});

test('idempotency: the same injection twice is one injection, the same ID with another spec is a conflict, recovering twice is a no-op', async () => {
  const pid = await fixture.runContainer('idem1', { argv: COUNTER });
  const before = await state('idem1');
  const spec = { id: 'idem-1', target: { containerId: 'idem1' }, fault: { kind: 'container-freeze' as const } };
  const first = await daemon.client.sync(EXP, 30_000, [spec]);
  const second = await daemon.client.sync(EXP, 30_000, [spec]);
  assert.deepEqual([...outcomes(first), ...outcomes(second)], [['idem-1', 'ok'], ['idem-1', 'ok']]);
  assert.equal(daemon.logs.filter((l) => l['msg'] === 'injection applied' && l['id'] === 'idem-1').length, 1, 'applied once');
  assert.equal((await daemon.client.list()).injections.length, 1, 'one injection listed');
  assert.deepEqual(outcomes(await daemon.client.sync(EXP, 30_000, [spec, spec])), [['idem-1', 'INVALID'], ['idem-1', 'INVALID']], 'one ID listed twice');

  const conflict = await daemon.client.sync(EXP, 30_000, [{ ...spec, fault: { kind: 'container-kill' } }]);
  assert.deepEqual(outcomes(conflict), [['idem-1', 'CONFLICT']]);
  assert.equal(await fixture.freezeState('idem1'), 'FROZEN', 'the conflicting spec changed nothing: still frozen');
  assert.notEqual(await processState(pid), undefined, 'and not killed');

  assert.deepEqual((await daemon.client.sync(EXP, 30_000, [])).removed, ['idem-1']);
  const twice = await daemon.client.sync(EXP, 30_000, []);
  assert.deepEqual([twice.results, twice.removed, twice.revertFailed], [[], [], []]);
  assert.deepEqual(await state('idem1'), before);
  await fixture.removeContainer('idem1');
});

test('a batch reports each item: an invalid or unknown target fails alone, the rest apply', async () => {
  await fixture.runContainer('batch1');
  const response = await daemon.client.sync(EXP, 30_000, [
    { id: 'batch-ok', target: { containerId: 'batch1' }, fault: { kind: 'container-freeze' } },
    { id: 'batch-missing', target: { containerId: 'not-there' }, fault: { kind: 'container-freeze' } },
    { id: 'batch-bad', target: { containerId: '../etc' }, fault: { kind: 'container-freeze' } },
    { id: 'batch-net', target: { containerId: 'batch1' }, fault: { kind: 'network', faults: [{ action: { case: 'delay', value: { latency: '1 ; reboot' } } }] } },
  ]);
  assert.deepEqual(outcomes(response), [['batch-ok', 'ok'], ['batch-missing', 'NOT_FOUND'], ['batch-bad', 'INVALID'], ['batch-net', 'INVALID']]);
  assert.match(response.results[3]?.message ?? '', /delay\.latency/);
  assert.deepEqual((await daemon.client.sync(EXP, 30_000, [])).removed, ['batch-ok']);
  assert.deepEqual(await journalFiles(fixture.journalDir), []);
  await fixture.removeContainer('batch1');
});

test('mTLS: clients without a certificate, with one from another CA, or without TLS are refused', async () => {
  const address = `127.0.0.1:${daemon.port}`;
  const serverCa = await readFile(fixture.certs.ca.cert);
  const attempt = async (credentials: grpc.ChannelCredentials): Promise<grpc.status> => {
    const client = new grpc.Client(address, credentials, { 'grpc.ssl_target_name_override': 'localhost' });
    try {
      await callUnary(client, methods.list, {}, new grpc.Metadata(), 5_000);
      return grpc.status.OK;
    } catch (error) {
      return (error as grpc.ServiceError).code;
    } finally {
      client.close();
    }
  };
  assert.notEqual(await attempt(grpc.credentials.createSsl(serverCa)), grpc.status.OK, 'no client certificate');
  assert.notEqual(await attempt(grpc.credentials.createInsecure()), grpc.status.OK, 'no TLS at all');
  const other = await makeCertificates(join(fixture.dir, 'other-pki'));
  const otherClient = await readTlsFiles(other.client);
  assert.notEqual(await attempt(grpc.credentials.createSsl(serverCa, otherClient.key, otherClient.cert)), grpc.status.OK, 'certificate of another CA');
  const tls12 = createSecureContext({ ca: serverCa, cert: fixture.clientTls.cert, key: fixture.clientTls.key, maxVersion: 'TLSv1.2' });
  assert.notEqual(await attempt(grpc.credentials.createFromSecureContext(tls12)), grpc.status.OK, 'a valid certificate over TLS 1.2');
  // The positive control: the same call with the node CA's client certificate is answered.
  const good = new DaemonClient({ address, tls: fixture.clientTls, serverName: 'localhost' });
  try {
    assert.ok(Array.isArray((await good.list()).injections));
  } finally {
    good.close();
  }
});

test('Capabilities names the runtimes, the fault kinds and the node\'s network capabilities; /metrics counts what happened', async () => {
  const capabilities = await daemon.client.capabilities();
  assert.deepEqual(capabilities.runtimes, [`containerd ${fixture.containerd.socket}`, `cri ${fixture.containerd.socket}`]);
  assert.equal(capabilities.apiVersion, 2);
  // stress: the test bed installs stress-ng (test/testbed/setup.ts). node-network: the network faults, in this
  // machine's own namespace. Not kubelet-stop (no kubelet runs here) nor node-reboot (no consent file, no sysrq).
  assert.deepEqual(capabilities.faultKinds, [FaultKind.CONTAINER_KILL, FaultKind.CONTAINER_FREEZE, FaultKind.NETWORK, FaultKind.STRESS, FaultKind.NODE_NETWORK]);
  assert.equal(capabilities.network?.tbf, true, 'this kernel has tbf');
  assert.equal(capabilities.network?.netem, false, 'this kernel has no sch_netem');

  const ready = daemon.logs.find((l) => l['msg'] === 'daemon ready');
  const metrics = await (await fetch(`http://127.0.0.1:${String(ready?.['metricsPort'])}/metrics`)).text();
  assert.match(metrics, /^kerris_daemon_injections_applied_total\{kind="container-freeze"\} [1-9]/m);
  assert.match(metrics, /^kerris_daemon_injections_applied_total\{kind="container-kill"\} 1$/m);
  assert.match(metrics, /^kerris_daemon_injections_failed_total\{kind="container-freeze",operation="inject"\} [1-9]/m);
  assert.match(metrics, /^kerris_daemon_rpc_duration_seconds_count\{method="Sync",code="OK"\} [1-9]/m);
  assert.match(metrics, /^# TYPE kerris_daemon_injections_active gauge$/m);
  const probe = async (path: string): Promise<number> => (await fetch(`http://127.0.0.1:${String(ready?.['metricsPort'])}${path}`)).status;
  assert.deepEqual([await probe('/healthz'), await probe('/readyz')], [200, 200]);
});

test('a certificate from the right CA but not an allowed client name is refused with PERMISSION_DENIED', async () => {
  const strict = await fixture.startDaemon(['--client-names', 'kerris-controller,other-controller'], { journalDir: join(fixture.dir, 'journal-strict') });
  const intruderTls = await readTlsFiles(await signClient(fixture.certs, 'intruder'));
  const intruder = new DaemonClient({ address: `127.0.0.1:${strict.port}`, tls: intruderTls, serverName: 'localhost' });
  try {
    await assert.rejects(intruder.list(), (error: grpc.ServiceError) => error.code === grpc.status.PERMISSION_DENIED);
    assert.deepEqual((await strict.client.list()).injections, [], 'the controller\'s certificate is accepted');
    assert.ok(strict.logs.some((l) => l['msg'] === 'rpc refused: client certificate not allowed' && l['client'] === 'intruder'));
  } finally {
    intruder.close();
    await strict.stop();
  }
});

/** Runs the daemon with args until it exits; what it printed and its exit code. */
async function refusedStart(args: readonly string[]): Promise<{ code: number | null; stderr: string }> {
  const server = fixture.certs.server;
  const child = spawn(process.execPath, [MAIN, '--listen', '127.0.0.1:0', '--metrics-listen', 'off', '--tls-ca', server.ca, '--tls-cert', server.cert,
    '--tls-key', server.key, '--containerd-socket', fixture.containerd.socket, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString('utf8'); });
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  return { code, stderr };
}

test('the daemon refuses to start (exit code 2) when it could not guard faults: no client names, TLS unreadable, journal not writable', async () => {
  const journal = ['--journal-dir', join(fixture.dir, 'journal-refused')];
  const noNames = await refusedStart([...journal, '--client-names', '']);
  assert.deepEqual([noNames.code, /--client-names must name at least one client/.test(noNames.stderr)], [2, true], noNames.stderr);
  const noTls = await refusedStart([...journal, '--tls-key', join(fixture.dir, 'missing.key')]);
  assert.deepEqual([noTls.code, /refusing to start.*TLS files unreadable/.test(noTls.stderr)], [2, true], noTls.stderr);
  // A file where the journal directory should be: no record could ever be written before a kernel change.
  const blocker = join(fixture.dir, 'not-a-dir');
  await writeFile(blocker, '');
  const noJournal = await refusedStart(['--journal-dir', join(blocker, 'journal')]);
  assert.deepEqual([noJournal.code, /refusing to start.*journal/.test(noJournal.stderr)], [2, true], noJournal.stderr);
});

/** A Secret volume as the kubelet writes it: files behind `..data`, a symlink it swaps to a new directory. */
async function secretVolume(dir: string, version: string, files: { ca: string | Buffer; cert: string | Buffer; key: string | Buffer }): Promise<void> {
  const data = join(dir, `..${version}`);
  await mkdir(data, { recursive: true });
  for (const [name, content] of [['ca.crt', files.ca], ['tls.crt', files.cert], ['tls.key', files.key]] as const) await writeFile(join(data, name), content);
  await symlink(`..${version}`, join(dir, '..data_tmp'));
  await rename(join(dir, '..data_tmp'), join(dir, '..data'));
}

test('rotation to a new CA: the daemon follows its Secret volume, new calls succeed with the new client certificate, open connections keep working', async () => {
  const volume = join(fixture.dir, 'tls-volume');
  const old = fixture.certs;
  await secretVolume(volume, 'v1', { ca: await readFile(old.ca.cert), cert: await readFile(old.server.cert), key: await readFile(old.server.key) });
  for (const name of ['ca.crt', 'tls.crt', 'tls.key']) await symlink(join('..data', name), join(volume, name));
  const rotating = await fixture.startDaemon(['--tls-ca', join(volume, 'ca.crt'), '--tls-cert', join(volume, 'tls.crt'), '--tls-key', join(volume, 'tls.key'),
    '--tls-refresh-ms', '200'], { journalDir: join(fixture.dir, 'journal-rotating') });
  const address = `127.0.0.1:${rotating.port}`;
  const next = await makeCertificates(join(fixture.dir, 'pki-next'));
  const bundle = Buffer.concat([await readFile(old.ca.cert), await readFile(next.ca.cert)]);
  const nextTls = { ...await readTlsFiles(next.client), ca: bundle };
  const nextClient = new DaemonClient({ address, tls: nextTls, serverName: 'localhost', timeoutMs: 5_000 });
  try {
    await assert.rejects(nextClient.list(), 'the new CA is not trusted yet');
    nextClient.close();
    assert.deepEqual((await rotating.client.list()).injections, [], 'the old client has a connection open');
    // Overlap: the new server certificate, and a bundle trusting clients of both CAs.
    await secretVolume(volume, 'v2', { ca: bundle, cert: await readFile(next.server.cert), key: await readFile(next.server.key) });
    await eventually('a new connection with the new client certificate', async () => {
      const client = new DaemonClient({ address, tls: nextTls, serverName: 'localhost', timeoutMs: 5_000 });
      try {
        return (await client.capabilities()).apiVersion === 2 ? true : undefined;
      } catch {
        return undefined;
      } finally {
        client.close();
      }
    }, 10_000, 100);
    assert.deepEqual((await rotating.client.list()).injections, [], 'the connection opened before the rotation still works');
    assert.ok(rotating.logs.some((l) => l['msg'] === 'TLS files reloaded; new connections use them'));
    const tls12 = createSecureContext({ ca: bundle, cert: nextTls.cert, key: nextTls.key, maxVersion: 'TLSv1.2' });
    const old12 = new grpc.Client(address, grpc.credentials.createFromSecureContext(tls12), { 'grpc.ssl_target_name_override': 'localhost' });
    try {
      await assert.rejects(callUnary(old12, methods.list, {}, new grpc.Metadata(), 5_000), 'TLS 1.3 is still the minimum after a reload');
    } finally {
      old12.close();
    }
  } finally {
    nextClient.close();
    await rotating.stop();
  }
});
