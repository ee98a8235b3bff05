/**
 * The daemon on a real containerd: PID resolution through containerd's API,
 * container-kill, freeze/thaw, idempotency and mTLS, each through the gRPC
 * API of a daemon process, each checking that nothing is left behind.
 */
import * as grpc from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createSecureContext } from 'node:tls';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { methods } from '../../src/daemon/api.ts';
import { DaemonClient } from '../../src/daemon/client.ts';
import { callUnary } from '../../src/daemon/grpc-unary.ts';
import { processState } from '../../src/daemon/proc.ts';
import { ContainerdRuntime } from '../../src/daemon/runtime/containerd.ts';
import { CriRuntime } from '../../src/daemon/runtime/cri.ts';
import { TargetResolver } from '../../src/daemon/runtime/resolve.ts';
import { makeCertificates, signClient } from '../../src/daemon/tls-certs.ts';
import { readTlsFiles } from '../../src/daemon/tls.ts';
import { DaemonFixture, eventually, journalFiles, NAMESPACE, readCounter, type RunningDaemon } from './daemon-fixture.ts';

const COUNTER = ['/bin/sh', '-c', 'i=0; while true; do i=$((i+1)); echo $i > /tmp/count; sleep 0.05; done'];
const HOLDER = 'test-controller';

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
  const result = await daemon.client.inject(HOLDER, 30_000, [{ id: 'kill-1', target: { containerId: 'kill1' }, fault: { kind: 'container-kill' } }]);
  assert.equal(result.results[0]?.ok, true, JSON.stringify(result));
  assert.equal(result.results[0]?.injection?.phase, 'done');
  await eventually('the task to stop', async () => ((await fixture.taskStatus('kill1')) === 'STOPPED' ? true : undefined));
  assert.equal(await processState(pid), undefined, 'the container process is gone');

  // The same injection again is the same injection: no second kill of whatever runs now.
  const again = await daemon.client.inject(HOLDER, 30_000, [{ id: 'kill-1', target: { containerId: 'kill1' }, fault: { kind: 'container-kill' } }]);
  assert.equal(again.results[0]?.ok, true);
  assert.equal(again.results[0]?.injection?.appliedAtMs, result.results[0]?.injection?.appliedAtMs, 'not applied a second time');

  const recovered = await daemon.client.recover(['kill-1']);
  assert.equal(recovered.results[0]?.ok, true);
  assert.deepEqual(await journalFiles(fixture.journalDir), before, 'journal after == before');
  assert.deepEqual((await daemon.client.list()).injections, []);
});

test('container-freeze freezes every process (the cgroup reports frozen, the counter stops) and recover thaws them; state after == before', async () => {
  const pid = await fixture.runContainer('freeze1', { argv: COUNTER });
  await eventually('the counter to start', async () => ((await readCounter(pid).catch(() => 0)) > 0 ? true : undefined));
  const before = await state('freeze1');
  assert.equal((before as { freezer: string }).freezer, 'THAWED');

  const result = await daemon.client.inject(HOLDER, 30_000, [{ id: 'freeze-1', target: { containerId: 'freeze1' }, fault: { kind: 'container-freeze' } }]);
  assert.equal(result.results[0]?.ok, true, JSON.stringify(result));
  assert.equal(result.results[0]?.injection?.pid, pid);
  assert.match(result.results[0]?.injection?.summary ?? '', /cgroup v2 /, 'cgroup v2\'s freezer on this v1/v2 hybrid');
  await fixture.waitFreezeState('freeze1', 'FROZEN');
  const frozenAt = await readCounter(pid);
  await sleep(500);
  assert.equal(await readCounter(pid), frozenAt, 'the counter does not advance while frozen');

  const recovered = await daemon.client.recover(['freeze-1']);
  assert.equal(recovered.results[0]?.ok, true, JSON.stringify(recovered));
  await eventually('the counter to advance again', async () => ((await readCounter(pid)) > frozenAt + 2 ? true : undefined));
  assert.deepEqual(await state('freeze1'), before, 'kernel and daemon state after == before');
  await fixture.removeContainer('freeze1');
});

test('idempotency: the same injection twice is one injection, the same ID with another spec is a conflict, recovering twice is a no-op', async () => {
  const pid = await fixture.runContainer('idem1', { argv: COUNTER });
  const before = await state('idem1');
  const spec = { id: 'idem-1', target: { containerId: 'idem1' }, fault: { kind: 'container-freeze' as const } };
  const first = await daemon.client.inject(HOLDER, 30_000, [spec]);
  const second = await daemon.client.inject(HOLDER, 30_000, [spec, spec]);
  assert.equal(first.results[0]?.ok, true);
  assert.deepEqual(second.results.map((r) => r.ok), [true, true]);
  assert.equal(second.results[0]?.injection?.appliedAtMs, first.results[0]?.injection?.appliedAtMs, 'applied once');
  assert.equal((await daemon.client.list()).injections.length, 1, 'one injection listed');

  const conflict = await daemon.client.inject(HOLDER, 30_000, [{ ...spec, fault: { kind: 'container-kill' } }]);
  assert.equal(conflict.results[0]?.ok, false);
  assert.equal(conflict.results[0]?.errorCode, 'conflict');
  assert.equal(await fixture.freezeState('idem1'), 'FROZEN', 'the conflicting spec changed nothing: still frozen');
  assert.notEqual(await processState(pid), undefined, 'and not killed');

  assert.equal((await daemon.client.recover(['idem-1'])).results[0]?.ok, true);
  const twice = await daemon.client.recover(['idem-1', 'never-injected']);
  assert.deepEqual(twice.results.map((r) => [r.ok, r.injection]), [[true, null], [true, null]]);
  assert.deepEqual(await state('idem1'), before);
  await fixture.removeContainer('idem1');
});

test('a batch reports each item: an invalid or unknown target fails alone, the rest apply', async () => {
  await fixture.runContainer('batch1');
  const response = await daemon.client.inject(HOLDER, 30_000, [
    { id: 'batch-ok', target: { containerId: 'batch1' }, fault: { kind: 'container-freeze' } },
    { id: 'batch-missing', target: { containerId: 'not-there' }, fault: { kind: 'container-freeze' } },
    { id: 'batch-bad', target: { containerId: '../etc' }, fault: { kind: 'container-freeze' } },
    { id: 'batch-net', target: { containerId: 'batch1' }, fault: { kind: 'network', faults: [{ action: 'explode' }] } },
  ]);
  assert.deepEqual(response.results.map((r) => [r.id, r.ok, r.errorCode]), [
    ['batch-ok', true, ''], ['batch-missing', false, 'not-found'], ['batch-bad', false, 'invalid'], ['batch-net', false, 'invalid'],
  ]);
  assert.equal((await daemon.client.recover(['batch-ok'])).results[0]?.ok, true);
  assert.deepEqual(await journalFiles(fixture.journalDir), []);
  await fixture.removeContainer('batch1');
});

test('mTLS: clients without a certificate, with one from another CA, or without TLS are refused', async () => {
  const address = `127.0.0.1:${daemon.port}`;
  const serverCa = await readFile(fixture.certs.ca.cert);
  const attempt = async (credentials: grpc.ChannelCredentials): Promise<grpc.status> => {
    const client = new grpc.Client(address, credentials, { 'grpc.ssl_target_name_override': 'localhost' });
    try {
      await callUnary(client, methods.list, { holder: '' }, new grpc.Metadata(), 5_000);
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
  assert.deepEqual(capabilities.faultKinds, ['container-kill', 'container-freeze', 'network']);
  const network = JSON.parse(capabilities.networkJson) as { tbf: boolean; netem: boolean };
  assert.equal(network.tbf, true, 'this kernel has tbf');
  assert.equal(network.netem, false, 'this kernel has no sch_netem');

  const ready = daemon.logs.find((l) => l['msg'] === 'daemon ready');
  const metrics = await (await fetch(`http://127.0.0.1:${String(ready?.['metricsPort'])}/metrics`)).text();
  assert.match(metrics, /^kerris_daemon_injections_applied_total\{kind="container-freeze"\} [1-9]/m);
  assert.match(metrics, /^kerris_daemon_injections_applied_total\{kind="container-kill"\} 1$/m);
  assert.match(metrics, /^kerris_daemon_injections_failed_total\{kind="container-freeze",operation="inject"\} [1-9]/m);
  assert.match(metrics, /^kerris_daemon_rpc_duration_seconds_count\{method="Inject",code="OK"\} [1-9]/m);
  assert.match(metrics, /^# TYPE kerris_daemon_injections_active gauge$/m);
});

test('with --client-names, a certificate from the right CA but another name is refused with PERMISSION_DENIED', async () => {
  const strict = await fixture.startDaemon(['--client-names', 'kerris-controller'], { journalDir: join(fixture.dir, 'journal-strict') });
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
