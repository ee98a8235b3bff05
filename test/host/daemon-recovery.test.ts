/**
 * Recovery that never leaks: lease expiry and deadlines revert by themselves
 * within 2 s, a SIGKILLed daemon finds a consistent state from its journal, a
 * graceful restart keeps faults under their leases and deadlines, and a
 * restarted container gets its fault back (or is reported as not re-applied).
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { freezerOfPid } from '../../src/daemon/cgroup.ts';
import { DaemonClient, Phase } from '../../src/daemon/client.ts';
import { monotonicMs } from '../../src/daemon/clock.ts';
import { freezePlan } from '../../src/daemon/faults/container-freeze.ts';
import { Journal } from '../../src/daemon/journal.ts';
import { snapshotKernelState } from '../../src/daemon/net/snapshot.ts';
import { processStartTime } from '../../src/daemon/proc.ts';
import { specHash, type InjectionSpec } from '../../src/daemon/spec.ts';
import { signClient } from '../../src/daemon/tls-certs.ts';
import { readTlsFiles } from '../../src/daemon/tls.ts';
import { DaemonFixture, eventually, journalFiles, netnsList, readCounter, type RunningDaemon } from './daemon-fixture.ts';

const COUNTER = ['/bin/sh', '-c', 'i=0; while true; do i=$((i+1)); echo $i > /tmp/count; sleep 0.05; done'];
const HOLDER = 'kerris-controller';
const EXP = 'exp-rec';

let fixture: DaemonFixture;
let netnsBefore: string[];

/** Only this file's namespaces: other test files may run at the same time. */
async function ownNetns(): Promise<string[]> {
  return (await netnsList()).filter((n) => n.startsWith('kd-rec-'));
}

before(async () => {
  netnsBefore = await ownNetns();
  fixture = await DaemonFixture.create('rec');
});

after(async () => {
  await fixture?.cleanup();
  assert.deepEqual(await ownNetns(), netnsBefore, 'network namespaces after == before');
});

function freezerState(id: string): Promise<string> {
  return fixture.freezeState(id);
}

async function metric(daemon: RunningDaemon, name: string): Promise<number> {
  const ready = daemon.logs.find((l) => l['msg'] === 'daemon ready');
  const text = await (await fetch(`http://127.0.0.1:${String(ready?.['metricsPort'])}/metrics`)).text();
  return text.split('\n').filter((l) => l.startsWith(name)).reduce((sum, l) => sum + Number(l.split(' ').at(-1)), 0);
}

test('an injection whose lease is not renewed is reverted by the daemon within 2 s of expiry; renewal keeps it', async () => {
  const daemon = await fixture.startDaemon();
  try {
    const pid = await fixture.runContainer('lease1', { argv: COUNTER });
    const leaseMs = 1_500;
    const injected = await daemon.client.sync(EXP, leaseMs, [{ id: 'lease-1', target: { containerId: 'lease1' }, fault: { kind: 'container-freeze' } }]);
    assert.equal(injected.results[0]?.ok, true, JSON.stringify(injected));
    await fixture.waitFreezeState('lease1', 'FROZEN');

    // Renewed per holder, the injection outlives several lease periods.
    const renewUntil = Date.now() + 3 * leaseMs;
    let expiresAt = 0;
    while (Date.now() < renewUntil) {
      const sent = Date.now();
      const renewed = await daemon.client.renewLease(leaseMs);
      assert.equal(renewed.injections, 1);
      // The daemon renews on receipt, after `sent`: the lease lapses no earlier than this.
      expiresAt = sent + renewed.remainingMs;
      await sleep(leaseMs / 3);
      assert.equal(await freezerState('lease1'), 'FROZEN', 'still frozen while renewed');
    }
    const listed = await daemon.client.list({ holder: HOLDER });
    assert.ok((listed.leases[0]?.remainingMs ?? 0) <= leaseMs, 'the lease is listed with its remaining time');

    const thawedAt = await eventually('the lease to expire and the container to thaw', async () => ((await freezerState('lease1')) === 'THAWED' ? Date.now() : undefined), 10_000, 10);
    const late = thawedAt - expiresAt;
    assert.ok(late >= 0, `not reverted before expiry (${late} ms)`);
    assert.ok(late <= 2_000, `reverted ${late} ms after expiry, limit 2000 ms`);
    const resumedFrom = await readCounter(pid);
    await eventually('the counter to advance', async () => ((await readCounter(pid)) > resumedFrom ? true : undefined));
    assert.deepEqual((await daemon.client.list()).injections, []);
    assert.deepEqual(await journalFiles(fixture.journalDir), []);
    assert.equal(await metric(daemon, 'kerris_daemon_lease_expiries_total'), 1);
    assert.equal(await metric(daemon, 'kerris_daemon_injections_recovered_total{reason="lease-expired"}'), 1);
  } finally {
    await daemon.stop();
    await fixture.removeContainer('lease1');
  }
});

test('a journal record left in "applying" by a crash is reverted at start-up', async () => {
  const pid = await fixture.runContainer('crash0');
  // What a daemon leaves when it dies right after its first step: the record says applying, the kernel is FROZEN.
  const plan = freezePlan('crash0', await freezerOfPid(pid));
  const spec: InjectionSpec = { id: 'crash-0', target: { containerId: 'crash0' }, fault: { kind: 'container-freeze' } };
  const journal = new Journal(fixture.journalDir);
  await journal.open();
  await journal.writeLeases(new Map([[HOLDER, { expiresAt: monotonicMs() + 60_000, ttlMs: 60_000 }]]));
  await journal.write({
    spec, specHash: specHash(spec), experiment: EXP, holder: HOLDER, phase: 'applying', plan, reapplied: 0,
    target: { containerId: 'crash0', pid, startTime: await processStartTime(pid) ?? 0, runtime: 'containerd' },
  });
  await journal.close();
  const [step] = plan.apply;
  assert.ok(step?.kind === 'write');
  await writeFile(step.path, step.value);
  await fixture.waitFreezeState('crash0', 'FROZEN');

  const daemon = await fixture.startDaemon();
  try {
    await fixture.waitFreezeState('crash0', 'THAWED', 1_000);
    assert.deepEqual((await daemon.client.list()).injections, []);
    assert.deepEqual(await journalFiles(fixture.journalDir), []);
  } finally {
    await daemon.stop();
    await fixture.removeContainer('crash0');
  }
});

test('SIGKILL of the daemon in the middle of a batch: after restart each fault is fully there with its lease, or fully gone', async () => {
  const ids = Array.from({ length: 12 }, (_, i) => `crash${i + 1}`);
  for (const id of ids) await fixture.runContainer(id);
  const daemon = await fixture.startDaemon();
  // Killed as the first injection commits: the others are at every stage from journaled to applied.
  const halfway = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no injection committed within 30 s')), 30_000);
    daemon.child.stderr?.on('data', (chunk: Buffer) => {
      if (chunk.toString('utf8').includes('"injection applied"')) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  const call = daemon.client.sync(EXP, 60_000, ids.map((id) => ({ id: `inj-${id}`, target: { containerId: id }, fault: { kind: 'container-freeze' as const } })))
    .then(() => 'answered', () => 'cut off');
  await halfway;
  await daemon.stop('SIGKILL');
  await call;

  const restarted = await fixture.startDaemon();
  try {
    const listed = await restarted.client.list();
    const byId = new Map(listed.injections.map((i) => [i.id, i]));
    let present = 0;
    for (const id of ids) {
      const injection = byId.get(`inj-${id}`);
      await eventually(`${id} to settle`, async () => ((await freezerState(id)) === 'CHANGING' ? undefined : true));
      const freezer = await freezerState(id);
      if (injection === undefined) {
        assert.equal(freezer, 'THAWED', `${id}: not listed, so fully gone`);
      } else {
        present += 1;
        assert.equal(injection.phase, Phase.ACTIVE, `${id}: listed, so fully applied`);
        assert.equal(freezer, 'FROZEN', `${id}: listed, so frozen`);
        assert.ok(injection.leaseRemainingMs > 0, `${id}: with its lease`);
      }
    }
    const reconciled = restarted.logs.filter((l) => l['msg'] === 'injection reverted' && l['reason'] === 'reconcile').length;
    process.stdout.write(`# crash mid-batch: ${present} of ${ids.length} fully applied, ${reconciled} reverted from the journal at start-up\n`);
    // Every kernel change made before the kill is either committed or taken back from the journal.
    // (An injection killed before its record was written made no change: it is neither kept nor reverted.)
    assert.ok(present >= 1, 'the injection that committed before the kill is kept');
    assert.equal(listed.injections.length, present, 'nothing listed but these');

    const recovered = await restarted.client.sync(EXP, 60_000, []);
    assert.deepEqual([recovered.removed.length, recovered.revertFailed], [present, []]);
    for (const id of ids) await fixture.waitFreezeState(id, 'THAWED');
    assert.deepEqual(await journalFiles(fixture.journalDir), []);
  } finally {
    await restarted.stop();
    for (const id of ids) await fixture.removeContainer(id);
  }
});

test('a second daemon on the same journal refuses to start while the first runs', async () => {
  const first = await fixture.startDaemon();
  try {
    await assert.rejects(fixture.startDaemon(), /journal .* is in use by process/);
    assert.ok(Array.isArray((await first.client.list()).injections), 'the first one still serves');
  } finally {
    await first.stop();
  }
});

test('graceful shutdown keeps faults; the next daemon re-verifies them, and reverts those whose lease lapsed while it was down', async () => {
  await fixture.runContainer('keep1');
  await fixture.runContainer('lapse1');
  const names = ['--client-names', `${HOLDER},short-holder`];
  const first = await fixture.startDaemon(names);
  const short = new DaemonClient({ address: `127.0.0.1:${first.port}`, tls: await readTlsFiles(await signClient(fixture.certs, 'short-holder')), serverName: 'localhost' });
  assert.equal((await first.client.sync(EXP, 60_000, [{ id: 'keep-1', target: { containerId: 'keep1' }, fault: { kind: 'container-freeze' } }])).results[0]?.ok, true);
  assert.equal((await short.sync(EXP, 1_000, [{ id: 'lapse-1', target: { containerId: 'lapse1' }, fault: { kind: 'container-freeze' } }])).results[0]?.ok, true);
  short.close();
  await first.stop('SIGTERM');
  assert.equal(first.child.exitCode, 0, 'clean exit on SIGTERM');
  await fixture.waitFreezeState('keep1', 'FROZEN');
  assert.equal(await freezerState('keep1'), 'FROZEN', 'not reverted on graceful shutdown');
  await sleep(1_200);

  const second = await fixture.startDaemon(names);
  try {
    await eventually('the lapsed lease to be reverted', async () => ((await freezerState('lapse1')) === 'THAWED' ? true : undefined), 3_000);
    assert.equal(await freezerState('keep1'), 'FROZEN');
    assert.deepEqual((await second.client.list()).injections.map((i) => [i.id, i.phase]), [['keep-1', Phase.ACTIVE]]);
    assert.deepEqual((await second.client.sync(EXP, 60_000, [])).removed, ['keep-1']);
    await fixture.waitFreezeState('keep1', 'THAWED');
    assert.deepEqual(await journalFiles(fixture.journalDir), []);
  } finally {
    await second.stop();
    await fixture.removeContainer('keep1');
    await fixture.removeContainer('lapse1');
  }
});

test('a container that restarts in a new netns gets its network fault back; one with no successor is reported, never lost', async () => {
  const labels = { 'io.kubernetes.pod.uid': 'a1b2c3d4-0000-4000-8000-000000000001', 'io.kubernetes.container.name': 'app' };
  const firstNs = await fixture.addPodNetns('kd-rec-a', 77, 1);
  const secondNs = await fixture.addPodNetns('kd-rec-b', 77, 2);
  const [firstBefore, secondBefore] = [await snapshotKernelState(firstNs), await snapshotKernelState(secondNs)];
  await fixture.runContainer('app-v1', { netns: firstNs, labels });
  const daemon = await fixture.startDaemon();
  try {
    const fault = { action: { case: 'bandwidth' as const, value: { rate: '1mbit', limit: 20_000, buffer: 10_000 } } };
    const injected = await daemon.client.sync(EXP, 60_000, [{
      id: 'net-restart', target: { containerId: 'app-v1', podUid: labels['io.kubernetes.pod.uid'], containerName: 'app' }, fault: { kind: 'network', faults: [fault] },
    }]);
    assert.equal(injected.results[0]?.ok, true, JSON.stringify(injected));
    assert.match((await snapshotKernelState(firstNs)).tc, /tbf/, 'the fault is in the first netns');

    // The container goes away: reported as not re-applied while no successor runs.
    await fixture.removeContainer('app-v1');
    const missing = await eventually('the missing target to be reported', async () => {
      const injection = (await daemon.client.list()).injections[0];
      return injection?.phase === Phase.NOT_REAPPLIED ? injection : undefined;
    });
    assert.match(missing.error, /not re-applied/);
    // It comes back inside the same pod netns: the fault is still there, so it is followed, not applied again.
    const samePid = await fixture.runContainer('app-v1b', { netns: firstNs, labels });
    const followed = await eventually('the daemon to follow the restart in the same netns', async () => {
      const injection = (await daemon.client.list()).injections[0];
      return injection?.pid === samePid && injection.phase === Phase.ACTIVE ? injection : undefined;
    });
    assert.deepEqual([followed.phase, followed.reapplied], [Phase.ACTIVE, 0]);
    assert.equal(((await snapshotKernelState(firstNs)).tc.match(/qdisc tbf/g) ?? []).length, 1, 'one tbf, not two');

    await fixture.removeContainer('app-v1b');
    const newPid = await fixture.runContainer('app-v2', { netns: secondNs, labels });
    const moved = await eventually('the fault to be re-applied on app-v2', async () => {
      const injection = (await daemon.client.list()).injections[0];
      return injection?.reapplied === 1 && injection.phase === Phase.ACTIVE ? injection : undefined;
    });
    assert.equal(moved.pid, newPid);
    assert.match((await snapshotKernelState(secondNs)).tc, /tbf/, 'the fault is in the successor\'s netns');

    await fixture.removeContainer('app-v2');
    const reported = await eventually('the lost target to be reported', async () => {
      const injection = (await daemon.client.list()).injections[0];
      return injection?.phase === Phase.NOT_REAPPLIED ? injection : undefined;
    });
    assert.match(reported.error, /not re-applied/);

    assert.deepEqual((await daemon.client.sync(EXP, 60_000, [])).removed, ['net-restart']);
    assert.deepEqual(await snapshotKernelState(secondNs), secondBefore, 'second netns after == before');
    assert.deepEqual(await snapshotKernelState(firstNs), firstBefore, 'first netns after == before');
    assert.deepEqual(await journalFiles(fixture.journalDir), []);
  } finally {
    await daemon.stop();
  }
});

test('a frozen container still dies on SIGKILL (cgroup v2 freezer); its successor in the pod is frozen again, and an empty Sync thaws it', async () => {
  const labels = { 'io.kubernetes.pod.uid': 'a1b2c3d4-0000-4000-8000-000000000002', 'io.kubernetes.container.name': 'frozen' };
  await fixture.runContainer('frz-v1', { labels, argv: COUNTER });
  const daemon = await fixture.startDaemon();
  try {
    const target = { containerId: 'frz-v1', podUid: labels['io.kubernetes.pod.uid'], containerName: 'frozen' };
    const injected = await daemon.client.sync(EXP, 60_000, [{ id: 'frz-restart', target, fault: { kind: 'container-freeze' } }]);
    assert.equal(injected.results[0]?.ok, true, JSON.stringify(injected));
    await fixture.waitFreezeState('frz-v1', 'FROZEN');

    await fixture.removeContainer('frz-v1');
    const pid = await fixture.runContainer('frz-v2', { labels, argv: COUNTER });
    const moved = await eventually('the freeze to be re-applied on frz-v2', async () => {
      const injection = (await daemon.client.list()).injections[0];
      return injection?.pid === pid && injection.phase === Phase.ACTIVE ? injection : undefined;
    });
    assert.equal(moved.reapplied, 1);
    await fixture.waitFreezeState('frz-v2', 'FROZEN');
    const frozenAt = await readCounter(pid).catch(() => 0);
    await sleep(300);
    assert.equal(await readCounter(pid).catch(() => 0), frozenAt, 'the successor\'s counter does not advance');

    assert.deepEqual((await daemon.client.sync(EXP, 60_000, [])).removed, ['frz-restart']);
    await fixture.waitFreezeState('frz-v2', 'THAWED');
    await eventually('the successor\'s counter to advance', async () => ((await readCounter(pid).catch(() => 0)) > frozenAt ? true : undefined));
    assert.deepEqual(await journalFiles(fixture.journalDir), []);
  } finally {
    await daemon.stop();
    await fixture.removeContainer('frz-v2');
  }
});

test('a deadline ends the fault by itself within 2 s of its time, with the lease renewed, a longer deadline asked, and the daemon restarted meanwhile', async () => {
  const pid = await fixture.runContainer('dl1', { argv: COUNTER });
  const deadlineMs = 4_000;
  const spec = { id: 'dl-1', target: { containerId: 'dl1' }, fault: { kind: 'container-freeze' as const } };
  let daemon = await fixture.startDaemon();
  try {
    const sent = Date.now();
    const first = await daemon.client.sync(EXP, 60_000, [{ ...spec, deadlineInMs: deadlineMs }]);
    assert.equal(first.results[0]?.ok, true, JSON.stringify(first));
    assert.equal(first.results[0]?.injection?.hasDeadline, true);
    await fixture.waitFreezeState('dl1', 'FROZEN');
    const longer = await daemon.client.sync(EXP, 60_000, [{ ...spec, deadlineInMs: 60_000 }]);
    assert.ok((longer.results[0]?.injection?.deadlineRemainingMs ?? Infinity) <= deadlineMs, 'a repeated Sync does not lengthen the deadline');
    // A restart keeps the deadline: it is in the journal on the monotonic clock of this boot.
    await daemon.stop('SIGTERM');
    daemon = await fixture.startDaemon();
    const renewing = setInterval(() => { daemon.client.renewLease(60_000).catch(() => undefined); }, 500);
    try {
      const thawedAt = await eventually('the deadline to thaw the container', async () => ((await freezerState('dl1')) === 'THAWED' ? Date.now() : undefined), 15_000, 10);
      const late = thawedAt - (sent + deadlineMs);
      assert.ok(late >= 0, `not reverted before the deadline (${late} ms)`);
      assert.ok(late <= 2_000, `reverted ${late} ms after the deadline, limit 2000 ms`);
    } finally {
      clearInterval(renewing);
    }
    const resumedFrom = await readCounter(pid);
    await eventually('the counter to advance', async () => ((await readCounter(pid)) > resumedFrom ? true : undefined));
    const ended = await daemon.client.sync(EXP, 60_000, [spec]);
    assert.equal(ended.results[0]?.injection?.phase, Phase.DONE, 'listed as done; a repeated Sync does not freeze it again');
    assert.equal(await freezerState('dl1'), 'THAWED');
    assert.deepEqual((await daemon.client.sync(EXP, 60_000, [])).removed, ['dl-1']);
    assert.deepEqual(await journalFiles(fixture.journalDir), []);
  } finally {
    await daemon.stop();
    await fixture.removeContainer('dl1');
  }
});
