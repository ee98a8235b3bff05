/**
 * Stored plans are trusted only as far as kerris could have written them: genuine plans load unchanged (their
 * revert rebuilt from the undo builders), and hostile records (any argv[0], any path, any namespace) are refused.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { freezePlan } from '../../src/daemon/faults/container-freeze.ts';
import { parseRecord, RecordSchemaError } from '../../src/daemon/journal-record.ts';
import { planNetworkFaults } from '../../src/daemon/net/plan.ts';
import { validateNetworkFault } from '../../src/daemon/net/validate.ts';
import type { Plan, Step } from '../../src/daemon/plan.ts';
import type { NodeCapabilities } from '../../src/daemon/preflight.ts';
import { stressArgs } from '../../src/daemon/faults/stress.ts';
import type { FaultSpec, StressSpec } from '../../src/daemon/spec.ts';
import type { UsageFiles } from '../../src/daemon/usage.ts';
import { targetNetns, trustedPlan, UnsafePlanError } from '../../src/daemon/stored-plan.ts';

const PID = 4242;
const NETNS = targetNetns(PID);
const caps: NodeCapabilities = {
  node: 'n', netem: true, tbf: true, htb: true, u32: true, ingressRedirect: true, ifb: true, nftables: true, ipset: true, iptablesBackend: 'nft', cgroup: 'v2', failures: {},
};
const tcState = { links: [{ name: 'eth0', type: 'ether', up: true, txqlen: 0 }, { name: 'net1', type: 'ether', up: true, txqlen: 1000 }], qdiscs: [], nftTables: [] };

/** Every kind of state the planner makes: egress and ingress tc trees on two devices, nftables, IFBs. */
function genuineNetworkPlan(): Plan {
  return planNetworkFaults({ netns: NETNS, devices: ['eth0', 'net1'] }, [
    { action: 'delay', delay: { latency: '10ms' }, scope: { direction: 'both' } },
    { action: 'partition', scope: { cidrs: ['10.0.0.0/8'] } },
  ].map(validateNetworkFault), caps, tcState);
}

const FREEZER = { version: 2 as const, dir: '/sys/fs/cgroup/kubepods/pod1/c1', file: '/sys/fs/cgroup/kubepods/pod1/c1/cgroup.freeze', frozen: '1', thawed: '0' };

test('genuine plans load as planned: network reverts rebuilt equal, freeze plans rebuilt from their freezer file', () => {
  const network = genuineNetworkPlan();
  assert.ok(network.revert.length >= 6, 'ingress, root, nft and IFB undos');
  assert.deepEqual(trustedPlan({ kind: 'network', faults: [] }, PID, network), network);
  const freeze = freezePlan('c1', FREEZER);
  assert.deepEqual(trustedPlan({ kind: 'container-freeze' }, PID, freeze), freeze);
  const v1 = freezePlan('c1', { version: 1, dir: '/sys/fs/cgroup/freezer/k/c1', file: '/sys/fs/cgroup/freezer/k/c1/freezer.state', frozen: 'FROZEN', thawed: 'THAWED' });
  assert.deepEqual(trustedPlan({ kind: 'container-freeze' }, undefined, v1), v1);
});

test('a node-network plan is kept only as the planner writes it in the node\'s netns, through pid 1', () => {
  const plan = planNetworkFaults({ netns: targetNetns(1), devices: ['eth0'], kind: 'node' }, [
    { action: 'partition', scope: { direction: 'both', exceptCidrs: ['10.42.0.0/16'] } },
    { action: 'bandwidth', bandwidth: { rate: '1mbit', limit: 20000, buffer: 1600 }, scope: { direction: 'ingress' } },
  ].map(validateNetworkFault), caps, tcState);
  assert.deepEqual(trustedPlan({ kind: 'node-network', faults: [] }, 1, plan), plan);
  assert.throws(() => trustedPlan({ kind: 'node-network', faults: [] }, PID, genuineNetworkPlan()), /a node-network plan runs in \/proc\/1\/ns\/net, not through pid 4242/);
  assert.throws(() => trustedPlan({ kind: 'node-network', faults: [] }, 1, genuineNetworkPlan()), UnsafePlanError, 'steps in another netns than /proc/1/ns/net');
});

test('a stored ingress undo is rebuilt with its ownership guard, even when the record was written without one', () => {
  const genuine = genuineNetworkPlan();
  const bare = genuine.revert.map((step) => (step.kind === 'exec' ? { kind: step.kind, argv: step.argv, netns: step.netns } : step));
  const ingress = trustedPlan({ kind: 'network', faults: [] }, PID, { ...genuine, revert: bare }).revert.filter((s) => s.kind === 'exec' && s.argv.at(-1) === 'ingress');
  assert.equal(ingress.length, 2);
  for (const step of ingress) assert.ok(step.kind === 'exec' && step.onlyIf?.stdoutIncludes === 'Redirect to device kerris-ifb');
});

test('a freeze record\'s revert is rebuilt from its apply, whatever revert was stored', () => {
  const stored = { ...freezePlan('c1', FREEZER), revert: [{ kind: 'write' as const, path: '/etc/passwd', value: 'x' }] };
  assert.deepEqual(trustedPlan({ kind: 'container-freeze' }, PID, stored).revert, [{ kind: 'write', path: FREEZER.file, value: '0' }]);
});

const STRESS: StressSpec = { kind: 'stress', cpu: { workers: 1, load: 50 } };
const MARKER = '0123456789abcdef0123456789abcdef';
const USAGE: UsageFiles = {
  version: 1, cpu: '/sys/fs/cgroup/cpuacct/k/c1/cpuacct.usage', memory: '/sys/fs/cgroup/memory/k/c1/memory.usage_in_bytes', memoryStat: '/sys/fs/cgroup/memory/k/c1/memory.stat',
  before: { cpuMillicores: 0, memoryWorkingSetBytes: 0, windowMs: 1000 },
};
const hostileText = fc.oneof(fc.string(), fc.constantFrom('tc', 'nft', 'ip', 'nsenter', 'rm', 'sh', '/bin/sh', 'eth0', 'ingress', 'root', 'del', 'kerris-ifb0', '../', '/etc/shadow'));
const hostileStep: fc.Arbitrary<Step> = fc.oneof(
  fc.record({
    kind: fc.constant('exec' as const),
    argv: fc.array(hostileText, { maxLength: 9 }),
    netns: fc.option(fc.constantFrom(NETNS, '/proc/1/ns/net', '/run/netns/x', '/proc/4242/ns/../ns/net'), { nil: undefined }),
    input: fc.option(fc.string(), { nil: undefined }),
  }, { requiredKeys: ['kind', 'argv'] }),
  fc.record({
    kind: fc.constant('write' as const),
    path: fc.oneof(fc.string(), fc.constantFrom(FREEZER.file, '/sys/fs/cgroup/cgroup.freeze', '/sys/fs/cgroup/../../etc/x/cgroup.freeze', '/proc/sysrq-trigger')),
    value: fc.constantFrom('1', '0', 'FROZEN', 'c'),
  }),
  fc.record({
    kind: fc.constant('spawn' as const),
    marker: fc.constantFrom(MARKER, 'x', '../..'),
    argv: fc.oneof(fc.constant(['/usr/bin/stress-ng', ...stressArgs(STRESS)]), fc.constant(['/bin/sh', ...stressArgs(STRESS)]), fc.array(hostileText, { maxLength: 6 })),
    cgroups: fc.array(fc.constantFrom('/sys/fs/cgroup/cpu/k/c1/cgroup.procs', '/sys/fs/cgroup/cpu/../../etc/cgroup.procs', '/etc/passwd', '/sys/fs/cgroup/cpu/k/c1/tasks'), { maxLength: 3 }),
    oomScoreAdj: fc.constantFrom(0, -1000, 5),
  }),
  fc.record({ kind: fc.constant('kill' as const), marker: fc.constantFrom(MARKER, 'x') }),
);

/** The only steps a kept plan may replay: the planner's own shapes, in the target's netns, or a freezer write. */
function isKerrisStep(step: Step): boolean {
  if (step.kind === 'write') return /^\/sys\/fs\/cgroup\/([A-Za-z0-9_.:@-]+\/)*(cgroup\.freeze|freezer\.state)$/.test(step.path) && !step.path.includes('/../');
  if (step.kind === 'kill') return /^[0-9a-f]{32}$/.test(step.marker);
  if (step.kind === 'spawn') {
    return /^[0-9a-f]{32}$/.test(step.marker) && step.argv[0] === '/usr/bin/stress-ng'
      && step.cgroups.every((c) => /^\/sys\/fs\/cgroup\/([A-Za-z0-9_.:@=,-]+\/)*cgroup\.procs$/.test(c) && !c.includes('/../'));
  }
  // Kubelet-stop plans are the subject of daemon-kubelet-stop.test.ts; none of this file's fuzzed network plans has one.
  if (step.kind === 'signal' || step.kind === 'guard') return false;
  if (step.netns !== NETNS) return false;
  const [tool, ...args] = step.argv;
  const text = args.join(' ');
  if (tool === 'tc') return /^(-batch -|qdisc del dev [A-Za-z0-9_.-]+ (ingress|root handle 4b52:))$/.test(text);
  if (tool === 'nft') return text === '-f -' || text === 'delete table inet kerris';
  if (tool === 'ip') return /^(-batch -|link del dev kerris-ifb[0-9]{1,2})$/.test(text);
  return false;
}

test('hostile plans are refused or reduced to kerris\'s own steps, never run as stored', () => {
  const faults: FaultSpec[] = [{ kind: 'network', faults: [] }, { kind: 'container-freeze' }, STRESS];
  fc.assert(fc.property(fc.constantFrom(...faults), fc.array(hostileStep, { maxLength: 4 }), fc.array(hostileStep, { maxLength: 4 }),
    (kind, apply, revert) => {
      let kept: Plan;
      try {
        kept = trustedPlan(kind, PID, { summary: 's', apply, revert, ...(kind.kind === 'stress' ? { usage: USAGE } : {}) });
      } catch (error) {
        assert.ok(error instanceof UnsafePlanError, String(error));
        return;
      }
      for (const step of [...kept.apply, ...kept.revert]) assert.ok(isKerrisStep(step), JSON.stringify(step));
      for (const step of kept.revert) assert.ok(step.kind !== 'exec' || step.input === undefined, 'a revert carries no stored input');
    }), { numRuns: 2_000 });
});

test('one changed field of a genuine network plan refuses it', () => {
  const genuine = genuineNetworkPlan();
  const mutations: Array<(step: Step & { kind: 'exec' }) => Step> = [
    (s) => ({ ...s, argv: ['sh', ...s.argv.slice(1)] }),
    (s) => ({ ...s, netns: '/proc/1/ns/net' }),
    (s) => ({ ...s, argv: [...s.argv.slice(0, 4), 'eth0;reboot', ...s.argv.slice(5)] }),
    (s) => ({ ...s, argv: [...s.argv, 'extra'] }),
  ];
  fc.assert(fc.property(fc.nat(genuine.revert.length - 1), fc.nat(mutations.length - 1), (index, m) => {
    const step = genuine.revert[index];
    const mutate = mutations[m];
    assert.ok(step?.kind === 'exec' && mutate !== undefined);
    const revert = genuine.revert.map((s, i) => (i === index ? mutate(step) : s));
    assert.throws(() => trustedPlan({ kind: 'network', faults: [] }, PID, { ...genuine, revert }), UnsafePlanError);
  }));
});

test('records that are not records are refused with the field that is wrong', () => {
  fc.assert(fc.property(fc.anything(), (value) => {
    assert.throws(() => parseRecord(value), (error: unknown) => error instanceof RecordSchemaError || error instanceof UnsafePlanError);
  }));
  const good = { spec: { id: 'a', target: { containerId: 'c' }, fault: { kind: 'container-freeze' } }, specHash: 'h', experiment: 'e', holder: 'ctl', phase: 'active', reapplied: 0 };
  assert.equal(parseRecord(good).spec.id, 'a');
  assert.throws(() => parseRecord({ ...good, spec: { ...good.spec, id: '../../x' } }), /spec.id/);
  assert.throws(() => parseRecord({ ...good, target: { containerId: 'c', pid: -1, startTime: 1, runtime: 'r' } }), /target.pid/);
  assert.throws(() => parseRecord({ ...good, spec: { ...good.spec, fault: { kind: 'host-reboot' } } }), /spec.fault.kind/);
});

test('a network plan\'s counters load as written; one wrong field refuses the record, naming it', () => {
  const plan = genuineNetworkPlan();
  const qdiscs = plan.counters?.qdiscs ?? [];
  assert.deepEqual(qdiscs.map((q) => [q.device, q.direction, q.on, q.handle, q.kind, q.faults]), [
    ['eth0', 'egress', 'eth0', '4b60:', 'netem', ['delay']], ['eth0', 'ingress', 'kerris-ifb0', '4b60:', 'netem', ['delay']],
    ['net1', 'egress', 'net1', '4b60:', 'netem', ['delay']], ['net1', 'ingress', 'kerris-ifb1', '4b60:', 'netem', ['delay']],
  ]);
  const record = (counters: unknown): unknown => JSON.parse(JSON.stringify({
    spec: { id: 'a', target: { containerId: 'c' }, fault: { kind: 'network', faults: [] } }, specHash: 'h', experiment: 'e', holder: 'ctl', phase: 'active', reapplied: 0,
    target: { containerId: 'c', pid: PID, startTime: 1, runtime: 'r' }, plan: { ...plan, counters },
  }));
  assert.deepEqual(parseRecord(record(plan.counters)).plan?.counters, plan.counters);
  const first = qdiscs[0];
  assert.ok(first !== undefined);
  const wrong: ReadonlyArray<readonly [unknown, RegExp]> = [
    [{ ...first, handle: '8001:' }, /plan\.counters\.qdiscs\[0\]\.handle is not the handle of one of kerris's netem qdiscs/],
    [{ ...first, kind: 'tbf' }, /qdiscs\[0\]\.handle is not the handle of one of kerris's tbf qdiscs/],
    [{ ...first, kind: 'htb' }, /qdiscs\[0\]\.kind is not one of netem, tbf/],
    [{ ...first, device: 'eth0 root' }, /qdiscs\[0\]\.device/],
    [{ ...first, on: '../x' }, /qdiscs\[0\]\.on/],
    [{ ...first, direction: 'both' }, /qdiscs\[0\]\.direction/],
    [{ ...first, faults: ['delay', 'reboot'] }, /qdiscs\[0\]\.faults\[1\] is not one of delay/],
  ];
  for (const [q, message] of wrong) assert.throws(() => parseRecord(record({ qdiscs: [q], nft: false })), (error: unknown) => error instanceof RecordSchemaError && message.test(error.message));
  assert.throws(() => parseRecord(record({ qdiscs: [], nft: 'yes' })), /plan\.counters\.nft is not a boolean/);
});
