/**
 * The stress fault's pure parts: the bounds of every stressor field (with the messages a user sees), the argv
 * stress-ng gets, the memory split, the wire conversion, and which stored stress plans a restarted daemon keeps.
 */
import assert from 'node:assert/strict';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { test } from 'node:test';
import { injectionFromWire, injectionToWire } from '../../src/daemon/api.ts';
import { memoryPerWorker, normalizeStress, stressArgs, stressOomScoreAdj, stressPlan } from '../../src/daemon/faults/stress.ts';
import { parseStat } from '../../src/daemon/held.ts';
import { parseRecord } from '../../src/daemon/journal-record.ts';
import type { Plan } from '../../src/daemon/plan.ts';
import { InjectionSpecSchema } from '../../src/daemon/proto/gen/daemon_pb.js';
import type { RawFault, StressSpec } from '../../src/daemon/spec.ts';
import { UnsafePlanError } from '../../src/daemon/stored-plan.ts';
import type { UsageFiles } from '../../src/daemon/usage.ts';

const GIB = 1024 ** 3;
const MIB = 1024 ** 2;
type RawStress = Extract<RawFault, { kind: 'stress' }>;

function refusal(raw: Omit<RawStress, 'kind'>): string {
  try {
    normalizeStress({ kind: 'stress', ...raw }, 8 * GIB);
  } catch (error) {
    return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  }
  return 'accepted';
}

test('every stressor field is bounded, and a refusal names the field and its bounds', () => {
  assert.equal(refusal({}), 'DaemonError: stress: needs a cpu or a memory stressor, or both');
  assert.equal(refusal({ cpu: { workers: 0, load: 50 } }), 'DaemonError: stress: cpu workers 0 must be between 1 and 64');
  assert.equal(refusal({ cpu: { workers: 65, load: 50 } }), 'DaemonError: stress: cpu workers 65 must be between 1 and 64');
  assert.equal(refusal({ cpu: { workers: 1, load: 0 } }), 'DaemonError: stress: cpu load 0 must be between 1 and 100 (percent of one CPU per worker)');
  assert.equal(refusal({ cpu: { workers: 1, load: 101 } }), 'DaemonError: stress: cpu load 101 must be between 1 and 100 (percent of one CPU per worker)');
  assert.equal(refusal({ cpu: { workers: 64, load: 100 } }), 'accepted');
  assert.equal(refusal({ cpu: { workers: 1, load: 1 } }), 'accepted');
  const memory = (sizeBytes: bigint, oomScoreAdj = 0, workers = 1) => refusal({ memory: { workers, sizeBytes, oomScoreAdj } });
  assert.equal(memory(BigInt(MIB) - 1n), `DaemonError: stress: memory size ${MIB - 1} bytes must be between 1048576 (1 MiB) and the node's memory, ${8 * GIB}`);
  assert.equal(memory(BigInt(MIB)), 'accepted');
  assert.equal(memory(BigInt(8 * GIB)), 'accepted');
  assert.match(memory(BigInt(8 * GIB) + 1n), /must be between 1048576 \(1 MiB\) and the node's memory/);
  assert.match(memory(2n ** 64n - 1n), /must be between/, 'a uint64 beyond any node');
  assert.equal(memory(BigInt(64 * MIB), -1001), 'DaemonError: stress: memory oom_score_adj -1001 must be between -1000 and 1000');
  assert.equal(memory(BigInt(64 * MIB), 1001), 'DaemonError: stress: memory oom_score_adj 1001 must be between -1000 and 1000');
  assert.equal(memory(BigInt(64 * MIB), 0, 65), 'DaemonError: stress: memory workers 65 must be between 1 and 64');
  assert.deepEqual(normalizeStress({ kind: 'stress', memory: { workers: 2, sizeBytes: BigInt(64 * MIB), oomScoreAdj: -1000 } }, 8 * GIB),
    { kind: 'stress', memory: { workers: 2, sizeBytes: 64 * MIB, oomScoreAdj: -1000 } });
});

test('stress-ng\'s argv: no timeout (kerris ends it), no respawn after an OOM kill, kerris\'s oom_score_adj, memory filled once and held', () => {
  const base = ['--timeout', '0', '--quiet', '--oomable', '--no-oom-adjust', '--temp-path', '/tmp'];
  assert.deepEqual(stressArgs({ kind: 'stress', cpu: { workers: 2, load: 50 } }), [...base, '--cpu', '2', '--cpu-load', '50']);
  assert.deepEqual(stressArgs({ kind: 'stress', memory: { workers: 1, sizeBytes: 64 * MIB, oomScoreAdj: 0 } }),
    [...base, '--vm', '1', '--vm-bytes', `${64 * MIB}b`, '--vm-populate', '--vm-keep', '--vm-hang', '0']);
  assert.deepEqual(stressArgs({ kind: 'stress', cpu: { workers: 1, load: 10 }, memory: { workers: 3, sizeBytes: 100 * MIB, oomScoreAdj: 500 } }),
    [...base, '--cpu', '1', '--cpu-load', '10', '--vm', '3', '--vm-bytes', `${Math.floor(100 * MIB / 3) * 3}b`, '--vm-populate', '--vm-keep', '--vm-hang', '0']);
  assert.equal(stressOomScoreAdj({ kind: 'stress', cpu: { workers: 1, load: 10 } }), 0, 'CPU alone: 0, not the daemon\'s own');
  assert.equal(stressOomScoreAdj({ kind: 'stress', memory: { workers: 1, sizeBytes: MIB, oomScoreAdj: -20 } }), -20);
});

test('memory is split evenly over the workers, rounded down (stress-ng splits --vm-bytes itself)', () => {
  assert.equal(memoryPerWorker({ workers: 1, sizeBytes: 64 * MIB, oomScoreAdj: 0 }), 64 * MIB);
  assert.equal(memoryPerWorker({ workers: 2, sizeBytes: 64 * MIB, oomScoreAdj: 0 }), 32 * MIB);
  assert.equal(memoryPerWorker({ workers: 3, sizeBytes: MIB, oomScoreAdj: 0 }), 349_525);
  assert.equal(memoryPerWorker({ workers: 64, sizeBytes: MIB + 63, oomScoreAdj: 0 }), MIB / 64);
});

test('a stress injection crosses the wire with its uint64 size intact', () => {
  const wire = injectionToWire({ id: 'x', target: { containerId: 'c' }, fault: { kind: 'stress', stressors: { cpu: { workers: 2, load: 30 }, memory: { workers: 1, sizeBytes: 2n ** 40n, oomScoreAdj: -5 } } } });
  const decoded = fromBinary(InjectionSpecSchema, toBinary(InjectionSpecSchema, create(InjectionSpecSchema, wire)));
  assert.deepEqual(injectionFromWire(decoded).fault, { kind: 'stress', cpu: { workers: 2, load: 30 }, memory: { workers: 1, sizeBytes: 2n ** 40n, oomScoreAdj: -5 } });
  const cpuOnly = fromBinary(InjectionSpecSchema, toBinary(InjectionSpecSchema, create(InjectionSpecSchema, injectionToWire({ id: 'y', target: { containerId: 'c' }, fault: { kind: 'stress', stressors: { cpu: { workers: 1, load: 1 } } } }))));
  assert.deepEqual(injectionFromWire(cpuOnly).fault, { kind: 'stress', cpu: { workers: 1, load: 1 } });
});

test('/proc/<pid>/stat: state, session and start time are read past a comm with spaces and parentheses', () => {
  assert.deepEqual(parseStat('4242 (stress-ng (x) y) T 1 4242 4242 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 987654 0 0'), { state: 'T', session: 4242, startTime: 987654 });
});

const SPEC: StressSpec = { kind: 'stress', cpu: { workers: 1, load: 50 }, memory: { workers: 1, sizeBytes: 64 * MIB, oomScoreAdj: 100 } };
const MARKER = 'aa'.repeat(16);
const CGROUPS = ['/sys/fs/cgroup/cpu/k/c1/cgroup.procs', '/sys/fs/cgroup/memory/k/c1/cgroup.procs', '/sys/fs/cgroup/unified/k/c1/cgroup.procs'];
const USAGE: UsageFiles = {
  version: 1, cpu: '/sys/fs/cgroup/cpuacct/k/c1/cpuacct.usage', memory: '/sys/fs/cgroup/memory/k/c1/memory.usage_in_bytes', memoryStat: '/sys/fs/cgroup/memory/k/c1/memory.stat',
  before: { cpuMillicores: 3, memoryWorkingSetBytes: 500_000, windowMs: 1_000 }
};
const PLAN: Plan = { ...stressPlan('c1', SPEC, '/usr/bin/stress-ng', CGROUPS, MARKER), revert: [{ kind: 'kill', marker: MARKER, process: { pid: 4242, startTime: 99 } }], usage: USAGE };

function record(plan: unknown, fault: unknown = SPEC): unknown {
  return {
    spec: { id: 'a', target: { containerId: 'c1' }, fault }, specHash: 'h', experiment: 'e', holder: 'ctl', phase: 'active', reapplied: 0,
    target: { containerId: 'c1', pid: 77, startTime: 5, runtime: 'containerd' }, plan: JSON.parse(JSON.stringify(plan)),
  };
}

test('a genuine stress record is kept as written, its process and usage included', () => {
  assert.deepEqual(parseRecord(record(PLAN)).plan, PLAN);
  const unjournaled = { ...PLAN, revert: [{ kind: 'kill', marker: MARKER }] };
  assert.deepEqual(parseRecord(record(unjournaled)).plan?.revert, [{ kind: 'kill', marker: MARKER }], 'stopped before its pid was journaled: found by its marker');
});

test('a stress record kerris could not have written is refused: its program, arguments, oom_score_adj, cgroups, marker, kill or usage files', () => {
  const spawn = PLAN.apply[0];
  assert.ok(spawn?.kind === 'spawn');
  const tampered: Array<[string, unknown, RegExp]> = [
    ['another program', { ...PLAN, apply: [{ ...spawn, argv: ['/bin/sh', ...spawn.argv.slice(1)] }] }, /runs "\/bin\/sh", not stress-ng/],
    ['another argument', { ...PLAN, apply: [{ ...spawn, argv: [...spawn.argv, '--exec', '1'] }] }, /arguments .* are not those kerris gives/],
    ['arguments of other stressors', PLAN, /arguments .* are not those kerris gives/],
    ['another oom_score_adj', { ...PLAN, apply: [{ ...spawn, oomScoreAdj: -1000 }] }, /oom_score_adj -1000 is not its stressors'/],
    ['a cgroup outside the tree', { ...PLAN, apply: [{ ...spawn, cgroups: ['/sys/fs/cgroup/cpu/../../../etc/cgroup.procs'] }] }, /is not cgroup.procs below/],
    ['a file that is no cgroup.procs', { ...PLAN, apply: [{ ...spawn, cgroups: ['/sys/fs/cgroup/cpu/k/c1/tasks'] }] }, /is not cgroup.procs below/],
    ['no cgroup', { ...PLAN, apply: [{ ...spawn, cgroups: [] }] }, /at least one/],
    ['a marker kerris does not make', { ...PLAN, apply: [{ ...spawn, marker: 'x' }], revert: [{ kind: 'kill', marker: 'x' }] }, /marker "x" is not one kerris makes/],
    ['a kill of another marker', { ...PLAN, revert: [{ kind: 'kill', marker: 'bb'.repeat(16) }] }, /exactly one kill of its own marker/],
    ['a second apply step', { ...PLAN, apply: [spawn, { kind: 'write', path: '/proc/sysrq-trigger', value: 'c' }] }, /exactly one spawn step/],
    ['an exec revert', { ...PLAN, revert: [{ kind: 'exec', argv: ['rm', '-rf', '/'] }] }, /exactly one kill/],
    ['usage read outside the tree', { ...PLAN, usage: { ...USAGE, memoryStat: '/etc/shadow' } }, /usage path "\/etc\/shadow"/],
    ['usage files of the other version', { ...PLAN, usage: { ...USAGE, version: 2 } }, /is not cpu.stat below/],
    ['no usage', { ...PLAN, usage: undefined }, /without its usage files/],
  ];
  for (const [what, plan, reason] of tampered) {
    const fault = what === 'arguments of other stressors' ? { ...SPEC, cpu: { workers: 2, load: 50 } } : SPEC;
    assert.throws(() => parseRecord(record(plan, fault)), (error: unknown) => error instanceof UnsafePlanError && reason.test(error.message), what);
  }
  assert.throws(() => parseRecord(record(PLAN, { ...SPEC, cpu: { workers: 0, load: 50 } })), /cpu workers 0 must be between/, 'stressors out of bounds');
  assert.throws(() => parseRecord(record({ ...PLAN, revert: [{ kind: 'kill', marker: MARKER, process: { pid: 0, startTime: 1 } }] })), /process.pid/);
  assert.throws(() => parseRecord(record({ ...PLAN, usage: { ...USAGE, cpu: '/sys/fs/cgroup/cpuacct/k/c1/cpuacct.usage' } }, { kind: 'container-freeze' })), UnsafePlanError, 'usage files on a freeze plan');
});
