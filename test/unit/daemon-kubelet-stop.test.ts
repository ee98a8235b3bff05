/**
 * kubelet-stop's pure parts: the flag, the node target on the wire and in a spec, which kind goes on which scope,
 * finding the kubelet in a /proc of fixtures, the refusals, and the stored-plan rules (a genuine plan loads as
 * written; another signal, process, marker or step is set aside). A starting daemon reverts and drops a record
 * it finds, with a recording executor.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { create } from '@bufbuild/protobuf';
import { injectionFromWire, injectionToWire, targetFromWire } from '../../src/daemon/api.ts';
import { parseConfig } from '../../src/daemon/config.ts';
import { kubeletAmbiguity, kubeletStop, kubeletStopPlan } from '../../src/daemon/faults/kubelet-stop.ts';
import { faultModules } from '../../src/daemon/faults/module.ts';
import { Injector } from '../../src/daemon/injector.ts';
import { Journal, type JournalRecord } from '../../src/daemon/journal.ts';
import { parseRecord, RecordSchemaError } from '../../src/daemon/journal-record.ts';
import type { StepExecutor } from '../../src/daemon/lifecycle.ts';
import type { Plan, Step } from '../../src/daemon/plan.ts';
import { InjectionSpecSchema, TargetSchema } from '../../src/daemon/proto/gen/daemon_pb.js';
import { checkScope, checkTarget, specHash, type InjectionSpec } from '../../src/daemon/spec.ts';
import { trustedPlan, UnsafePlanError } from '../../src/daemon/stored-plan.ts';
import { commOfExe, processesNamed, type NamedProcess } from '../../src/daemon/stopped.ts';
import { nodeRefusal, refusal, type TargetFacts } from '../../src/daemon/target-policy.ts';
import { createLogger } from '../../src/util/log.ts';

const KUBELET: NamedProcess = { name: 'kubelet', pid: 4_000_001, startTime: 777 };
const DAEMON = { pid: 4_000_002, startTime: 555 };
const MARKER = '0123456789abcdef0123456789abcdef';
const CGROUPS = ['/sys/fs/cgroup/unified/system.slice/kubelet.service/cgroup.procs', '/sys/fs/cgroup/pids/cgroup.procs'];
const genuine = (): Plan => kubeletStopPlan(KUBELET, DAEMON, 90_000.5, CGROUPS, MARKER);

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kerris-kubelet-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('--kubelet-process: kubelet by default, k3s or any process name of 1 to 15 characters; a path, a blank or 16 characters are refused', () => {
  assert.equal(parseConfig([], {}).kubeletProcess, 'kubelet');
  assert.equal(parseConfig(['--kubelet-process', 'k3s'], {}).kubeletProcess, 'k3s');
  assert.equal(parseConfig([], { KERRIS_DAEMON_KUBELET_PROCESS: 'kubelet-kt1' }).kubeletProcess, 'kubelet-kt1');
  assert.equal(parseConfig(['--kubelet-process', 'a23456789012345'], {}).kubeletProcess, 'a23456789012345');
  for (const bad of ['', '/usr/bin/kubelet', 'a/b', 'kube let', 'a234567890123456', 'kube\nlet']) {
    assert.throws(() => parseConfig(['--kubelet-process', bad], {}), /--kubelet-process .* must be a process name/, JSON.stringify(bad));
  }
});

test('the node target on the wire: { node: true } both ways; a node with container fields is invalid', () => {
  const wire = create(InjectionSpecSchema, injectionToWire({ id: 'e/n/kubelet', target: { node: true }, fault: { kind: 'kubelet-stop' }, deadlineInMs: 5_000 }));
  assert.equal(wire.target?.node, true);
  assert.equal(wire.target?.containerId, '');
  assert.equal(wire.fault?.kind.case, 'kubeletStop');
  assert.deepEqual(injectionFromWire(wire), { id: 'e/n/kubelet', target: { node: true }, fault: { kind: 'kubelet-stop' }, deadlineInMs: 5_000 });
  assert.throws(() => targetFromWire(create(TargetSchema, { node: true, containerId: 'c1' })), /a node target \(target.node\) names no container/);
  assert.deepEqual(targetFromWire(create(TargetSchema, { containerId: 'c1' })), { containerId: 'c1' });
});

test('each kind on its own scope: kubelet-stop on the node only, container faults on containers only', () => {
  assert.deepEqual(checkTarget({ node: true }), { node: true });
  checkScope('kubelet-stop', { node: true });
  checkScope('container-freeze', { containerId: 'c1' });
  assert.throws(() => checkScope('kubelet-stop', { containerId: 'c1' }), /kubelet-stop is a node fault: its target is the node itself/);
  for (const kind of ['container-kill', 'container-freeze', 'network', 'stress'] as const) {
    assert.throws(() => checkScope(kind, { node: true }), new RegExp(`${kind} is put on a container`));
  }
  const module = kubeletStop({ processName: 'kubelet', node: 'n1' });
  assert.throws(() => faultModules([{ ...module, kind: 'container-kill' }]), /the container-kill module is put on a node/);
  assert.equal(faultModules([module]).get('kubelet-stop'), module);
});

/** A fake /proc entry: stat (state, start time), comm, and exe (a link, or none for a kernel thread). */
async function fakeProcess(root: string, pid: number, comm: string, exe: string | undefined, state = 'S', startTime = 100 + pid): Promise<void> {
  await mkdir(join(root, String(pid)), { recursive: true });
  const fields = [state, '1', String(pid), String(pid), ...Array.from({ length: 15 }, () => '0'), String(startTime), '0'];
  await writeFile(join(root, String(pid), 'stat'), `${pid} (${comm}) ${fields.join(' ')}\n`);
  await writeFile(join(root, String(pid), 'comm'), `${comm}\n`);
  if (exe !== undefined) await symlink(exe, join(root, String(pid), 'exe'));
}

test('the kubelet is the live process whose comm and executable name are the name; others are not taken for it', async () => {
  const proc = join(dir, 'proc');
  await fakeProcess(proc, 10, 'kubelet', '/usr/bin/kubelet');
  await fakeProcess(proc, 11, 'kubelet', '/usr/bin/bash'); // renamed itself
  await fakeProcess(proc, 12, 'kubelet', undefined); // a kernel thread
  await fakeProcess(proc, 13, 'kubelet', '/usr/bin/kubelet', 'Z'); // a zombie
  await fakeProcess(proc, 14, 'k3s', '/var/lib/rancher/k3s/data/abc/bin/k3s');
  await fakeProcess(proc, 15, 'containerd', '/var/lib/rancher/k3s/data/abc/bin/k3s'); // k3s's containerd, the same binary
  await fakeProcess(proc, 16, 'kubelet', '/opt/kubelet (deleted)'); // replaced on disk while it runs
  await mkdir(join(proc, 'self'), { recursive: true });
  assert.deepEqual(await processesNamed('kubelet', proc), [{ name: 'kubelet', pid: 10, startTime: 110 }, { name: 'kubelet', pid: 16, startTime: 116 }]);
  assert.deepEqual(await processesNamed('k3s', proc), [{ name: 'k3s', pid: 14, startTime: 114 }]);
  assert.deepEqual(await processesNamed('nothing', proc), []);
  assert.equal(commOfExe('/usr/local/bin/a-very-long-kubelet-name'), 'a-very-long-kub');
  assert.equal(commOfExe('/tmp/kubelet-kt1 (deleted)'), 'kubelet-kt1');
});

test('none or several kubelets: refused, naming what was found', () => {
  assert.equal(kubeletAmbiguity('kubelet', 'n1', [KUBELET]), undefined);
  assert.equal(kubeletAmbiguity('kubelet', 'n1', []), 'no process named kubelet (comm and executable) runs on node n1; the daemon\'s --kubelet-process names the kubelet');
  assert.equal(kubeletAmbiguity('kubelet', 'n1', [KUBELET, { ...KUBELET, pid: 42 }]),
    '2 processes named kubelet run on node n1 (pids 4000001, 42): kerris stops the one kubelet only, and cannot tell which it is');
});

test('the policy: a node fault never acts on the daemon or its parents, and a kind only on its own scope', () => {
  assert.equal(nodeRefusal('kubelet-stop', 7, [100, 50, 1]), undefined);
  assert.match(nodeRefusal('kubelet-stop', 50, [100, 50, 1]) ?? '', /process 50 is the daemon or one of its parents/);
  assert.match(nodeRefusal('kubelet-stop', 1, [100, 50, 1]) ?? '', /daemon or one of its parents/);
  assert.match(nodeRefusal('container-freeze', 7, [100]) ?? '', /container-freeze is put on a container, never on the node/);
  const facts: TargetFacts = { pid: 7, netns: 1, hostNetns: 2, ownNetns: 3, ownAncestry: [100], cgroups: [], ownCgroups: [], pod: undefined };
  assert.match(refusal('kubelet-stop', facts, new Set()) ?? '', /kubelet-stop is a node fault: it is never put on a container/);
});

test('the plan: guard first, then SIGSTOP of the one process; its revert SIGCONT to it, then the guard\'s end', () => {
  const plan = genuine();
  assert.deepEqual(plan.apply.map((s) => s.kind), ['guard', 'signal']);
  assert.deepEqual(plan.apply[1], { kind: 'signal', signal: 'SIGSTOP', name: 'kubelet', process: { pid: KUBELET.pid, startTime: KUBELET.startTime } });
  assert.deepEqual(plan.revert, [{ kind: 'signal', signal: 'SIGCONT', name: 'kubelet', process: { pid: KUBELET.pid, startTime: KUBELET.startTime } }, { kind: 'kill', marker: MARKER }]);
  const guard = plan.apply[0];
  assert.ok(guard?.kind === 'guard');
  assert.deepEqual([guard.daemon, guard.deadlineAt, guard.cgroups], [DAEMON, 90_000.5, CGROUPS]);
  assert.equal('deadlineAt' in (kubeletStopPlan(KUBELET, DAEMON, undefined, [], MARKER).apply[0] ?? {}), false, 'no deadline: none passed');
});

const NODE_SPEC: InjectionSpec = { id: 'exp/node-uid/kubelet', target: { node: true }, fault: { kind: 'kubelet-stop' } };

function record(plan: Plan, overrides: Partial<Record<string, unknown>> = {}): Record<string, unknown> {
  return {
    spec: NODE_SPEC, specHash: specHash(NODE_SPEC), experiment: 'exp', holder: 'kerris-controller', phase: 'active', reapplied: 0, deadlineAt: 90_000.5,
    target: KUBELET, plan, ...overrides,
  };
}

/** A JSON copy of the genuine plan, changed by `edit`: what a hand edit of the journal file could make. */
function tampered(edit: (plan: { apply: Array<Record<string, unknown>>; revert: Array<Record<string, unknown>> }) => void): Plan {
  const plan = JSON.parse(JSON.stringify(genuine())) as { apply: Array<Record<string, unknown>>; revert: Array<Record<string, unknown>> };
  edit(plan);
  return plan as unknown as Plan;
}

test('a genuine kubelet-stop record loads as written, its guard\'s pid included', () => {
  const held = { ...genuine(), revert: [genuine().revert[0] as Step, { kind: 'kill' as const, marker: MARKER, process: { pid: 4_000_003, startTime: 9 } }] };
  const loaded = parseRecord(JSON.parse(JSON.stringify(record(held))));
  assert.deepEqual(loaded.plan, held);
  assert.deepEqual(loaded.target, KUBELET);
  assert.deepEqual(loaded.spec.target, { node: true });
  assert.deepEqual(trustedPlan({ kind: 'kubelet-stop' }, KUBELET.pid, genuine()), genuine());
});

test('a tampered kubelet-stop plan is unsafe: another signal, another process, another marker, an extra or missing step', () => {
  const unsafe: Record<string, Plan> = {
    'SIGKILL reverted': tampered((p) => { (p.revert[0] ?? {})['signal'] = 'SIGKILL'; }),
    'SIGCONT applied': tampered((p) => { (p.apply[1] ?? {})['signal'] = 'SIGCONT'; }),
    'SIGCONT to another pid': tampered((p) => { (p.revert[0] ?? {})['process'] = { pid: 1, startTime: 0 }; }),
    'SIGCONT to another start time': tampered((p) => { (p.revert[0] ?? {})['process'] = { pid: KUBELET.pid, startTime: 1 }; }),
    'SIGSTOP of another pid': tampered((p) => { (p.apply[1] ?? {})['process'] = { pid: 1, startTime: 0 }; }),
    'a guard of another process': tampered((p) => { (p.apply[0] ?? {})['process'] = { pid: 1, startTime: 0 }; }),
    'the kill of another marker': tampered((p) => { (p.revert[1] ?? {})['marker'] = 'fedcba9876543210fedcba9876543210'; }),
    'a marker kerris does not make': tampered((p) => { (p.apply[0] ?? {})['marker'] = 'x'; (p.revert[1] ?? {})['marker'] = 'x'; }),
    'a guard cgroup outside the cgroup tree': tampered((p) => { (p.apply[0] ?? {})['cgroups'] = ['/etc/cgroup.procs']; }),
    'a guard cgroup file of another name': tampered((p) => { (p.apply[0] ?? {})['cgroups'] = ['/sys/fs/cgroup/pids/tasks']; }),
    'an extra revert step': tampered((p) => { p.revert.push({ kind: 'signal', signal: 'SIGCONT', name: 'kubelet', process: { pid: 1, startTime: 0 } }); }),
    'an extra apply step': tampered((p) => { p.apply.push({ kind: 'write', path: '/sys/fs/cgroup/x/cgroup.freeze', value: '1' }); }),
    'no guard': tampered((p) => { p.apply.shift(); }),
    'no revert': tampered((p) => { p.revert.length = 0; }),
    'an exec step': tampered((p) => { p.revert[0] = { kind: 'exec', argv: ['kill', '-CONT', String(KUBELET.pid)] }; }),
  };
  for (const [what, plan] of Object.entries(unsafe)) {
    assert.throws(() => parseRecord(JSON.parse(JSON.stringify(record(plan)))), (error: unknown) => error instanceof UnsafePlanError || error instanceof RecordSchemaError, what);
  }
  assert.throws(() => trustedPlan({ kind: 'kubelet-stop' }, 99, genuine()), /stops pid 4000001, not the record's target 99/);
  const killing = tampered((p) => { (p.revert[0] ?? {})['signal'] = 'SIGKILL'; });
  assert.throws(() => parseRecord(JSON.parse(JSON.stringify(record(killing)))), (error: unknown) => error instanceof UnsafePlanError && /sends "SIGKILL"; kerris sends only SIGSTOP and SIGCONT/.test(error.message));
});

test('a kubelet-stop record with another target is invalid: a container, a node with fields, a target of another name', () => {
  const plan = genuine();
  const invalid: Record<string, Record<string, unknown>> = {
    'on a container': record(plan, { spec: { ...NODE_SPEC, target: { containerId: 'c1' } } }),
    'a container fault on the node': record(plan, { spec: { ...NODE_SPEC, fault: { kind: 'container-freeze' } } }),
    'a node with a container ID': record(plan, { spec: { ...NODE_SPEC, target: { node: true, containerId: 'c1' } } }),
    'a node that is not true': record(plan, { spec: { ...NODE_SPEC, target: { node: 'yes' } } }),
    'a target of another name': record(plan, { target: { ...KUBELET, name: 'k3s' } }),
    'a target of another start time': record(plan, { target: { ...KUBELET, startTime: 1 } }),
    'a target that is a container': record(plan, { target: { containerId: 'c1', pid: KUBELET.pid, startTime: KUBELET.startTime, runtime: 'r' } }),
    'no target': record(plan, { target: undefined }),
    'a name that is a path': record(kubeletStopPlan({ ...KUBELET, name: '/bin/sh' }, DAEMON, undefined, [], MARKER), { target: { ...KUBELET, name: '/bin/sh' } }),
  };
  for (const [what, value] of Object.entries(invalid)) {
    assert.throws(() => parseRecord(JSON.parse(JSON.stringify(value))), (error: unknown) => error instanceof UnsafePlanError || error instanceof RecordSchemaError, what);
  }
});

class RecordingExecutor implements StepExecutor {
  readonly reverted: Step[][] = [];
  async apply(): Promise<void> {
    throw new Error('nothing is applied at start-up');
  }
  async revert(steps: readonly Step[]): Promise<void> {
    this.reverted.push([...steps]);
  }
}

test('a starting daemon reverts and drops an active kubelet-stop record, its lease and deadline notwithstanding; one ended at its deadline stays done', async () => {
  const journalDir = join(dir, 'journal');
  const journal = new Journal(journalDir, { bootId: 'boot-1' });
  await journal.open();
  const active = parseRecord(record(genuine(), { deadlineAt: 1e12 })) as JournalRecord;
  await journal.write(active);
  const done: JournalRecord = { ...parseRecord(record(genuine())), spec: { ...NODE_SPEC, id: 'exp/other/kubelet' }, phase: 'done', summary: 'ended at its deadline: stop the kubelet' };
  delete done.plan;
  delete done.target;
  await journal.write(done);
  await journal.writeLeases(new Map([['kerris-controller', { expiresAt: 1e12, ttlMs: 60_000 }]]));
  await journal.close();

  const executor = new RecordingExecutor();
  const injector = new Injector({
    journal: new Journal(journalDir, { bootId: 'boot-1' }), executor, log: createLogger({}, () => undefined), clock: () => 1_000, tickMs: 60_000, targetCheckMs: 60_000,
    targets: { resolve: () => Promise.reject(new Error('no containers here')), findRestarted: () => Promise.reject(new Error('no containers here')) },
    policy: { check: async () => undefined, checkNode: async () => undefined, checkNodeNetns: async () => undefined }, faults: [kubeletStop({ processName: 'kubelet-kt-none', node: 'n1' })],
  });
  await injector.start();
  try {
    assert.deepEqual(executor.reverted, [genuine().revert], 'its revert ran: SIGCONT, then the guard\'s end');
    assert.deepEqual(injector.list().injections.map((s) => [s.id, s.phase]), [['exp/other/kubelet', 'done']]);
    assert.equal((await readdir(journalDir)).filter((n) => n.startsWith('injection-')).length, 1, 'the active record\'s file is gone');
    assert.deepEqual(await injector.faultKinds(), [], 'not offered while no kubelet-kt-none runs');
  } finally {
    await injector.stop();
  }
});
