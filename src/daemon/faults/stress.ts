/**
 * stress: stress-ng's stressors held in the target container's cgroups for the injection's life, so they count
 * against its limits and show in its metrics. One stress-ng runs both kinds: `--cpu N --cpu-load L` and
 * `--vm N --vm-bytes <total> --vm-populate --vm-keep --vm-hang 0` (each worker maps and fills its share once, then
 * holds it without touching it again, so memory stress costs no CPU). stress-ng 0.15 (Debian 12) splits --vm-bytes
 * over the --vm workers itself; measured: --vm 2 --vm-bytes 64m gave two workers of 32 MiB resident.
 * `--timeout 0` runs until kerris ends it; `--oomable` keeps stress-ng from respawning a worker the OOM killer ended
 * (held.ts: an ended stressor is reported, never restarted); `--no-oom-adjust` leaves the oom_score_adj kerris
 * writes (the request's, 0 for CPU alone) instead of stress-ng's own.
 *
 * Only the cgroups are entered, not the target's mount, pid or network namespaces: stress-ng and its libraries come
 * from the daemon image's filesystem (the target's image has no stress-ng), and nothing of the target's is touched
 * but the cgroups its limits and metrics are read from.
 */
import { randomBytes } from 'node:crypto';
import { access, constants } from 'node:fs/promises';
import { totalmem } from 'node:os';
import { cgroupDirs } from '../cgroup.ts';
import type { Clock } from '../clock.ts';
import { DaemonError } from '../errors.ts';
import { sessionMembers } from '../held.ts';
import type { Plan } from '../plan.ts';
import type { ResolvedTarget } from '../runtime/resolve.ts';
import type { CpuStress, FaultSpec, MemoryStress, RawFault, StressSpec } from '../spec.ts';
import { measureUsage, sampleUsage, usageBetween, usagePathsOf, type ResourceUsage, type UsageSample } from '../usage.ts';
import { run } from '../../util/exec.ts';
import type { ContainerFaultModule, StressEvidence } from './module.ts';

/** Where stress-ng may be: the daemon image's /usr/bin, or a local install. A stored plan naming another is refused. */
export const STRESS_NG_PATHS = ['/usr/bin/stress-ng', '/usr/local/bin/stress-ng', '/bin/stress-ng'] as const;
export const MAX_WORKERS = 64;
export const MIN_MEMORY_BYTES = 1024 * 1024;
/** The `before` reading's CPU window. */
export const BEFORE_WINDOW_MS = 1_000;
/**
 * The shortest window the `now` reading's CPU is given over. A shorter one, or one reaching back before the
 * stressors ran, shows a duty-cycled load (cpu `load` below 100) or the start-up as less than it is.
 */
export const NOW_WINDOW_MS = 5_000;
const MIB = 1024 * 1024;

/** The first stress-ng that runs, or undefined: then the node has no stress faults. */
export async function findStressNg(): Promise<string | undefined> {
  for (const path of STRESS_NG_PATHS) {
    if (!await access(path, constants.X_OK).then(() => true, () => false)) continue;
    const version = await run([path, '--version'], { timeoutMs: 10_000, allowFailure: true }).catch(() => undefined);
    if (version?.code === 0) return path;
  }
  return undefined;
}

function check(ok: boolean, message: string): void {
  if (!ok) throw new DaemonError('invalid', `stress: ${message}`);
}

function workers(what: string, value: number): number {
  check(Number.isInteger(value) && value >= 1 && value <= MAX_WORKERS, `${what} workers ${value} must be between 1 and ${MAX_WORKERS}`);
  return value;
}

/** The canonical form of a stress request; throws DaemonError('invalid') naming the field and its bounds. */
export function normalizeStress(raw: Extract<RawFault, { kind: 'stress' }>, nodeMemoryBytes: number): StressSpec {
  check(raw.cpu !== undefined || raw.memory !== undefined, 'needs a cpu or a memory stressor, or both');
  const spec: StressSpec = { kind: 'stress' };
  if (raw.cpu !== undefined) {
    const { load } = raw.cpu;
    check(Number.isInteger(load) && load >= 1 && load <= 100, `cpu load ${load} must be between 1 and 100 (percent of one CPU per worker)`);
    spec.cpu = { workers: workers('cpu', raw.cpu.workers), load };
  }
  if (raw.memory !== undefined) {
    const { sizeBytes, oomScoreAdj } = raw.memory;
    check(sizeBytes >= BigInt(MIN_MEMORY_BYTES) && sizeBytes <= BigInt(nodeMemoryBytes),
      `memory size ${sizeBytes} bytes must be between ${MIN_MEMORY_BYTES} (1 MiB) and the node's memory, ${nodeMemoryBytes}`);
    check(Number.isInteger(oomScoreAdj) && oomScoreAdj >= -1000 && oomScoreAdj <= 1000, `memory oom_score_adj ${oomScoreAdj} must be between -1000 and 1000`);
    spec.memory = { workers: workers('memory', raw.memory.workers), sizeBytes: Number(sizeBytes), oomScoreAdj };
  }
  return spec;
}

/** What each memory worker holds: the total split evenly, as stress-ng splits --vm-bytes (the remainder, under one byte a worker, is dropped). */
export function memoryPerWorker(memory: MemoryStress): number {
  return Math.floor(memory.sizeBytes / memory.workers);
}

/** stress-ng's argv for `spec`, after the path of stress-ng itself. */
export function stressArgs(spec: StressSpec): string[] {
  // The daemon's root filesystem is read-only: stress-ng refuses to start unless its temp path is writable (an
  // emptyDir at /tmp in the DaemonSet). The cpu and vm stressors write nothing there.
  const args = ['--timeout', '0', '--quiet', '--oomable', '--no-oom-adjust', '--temp-path', '/tmp'];
  if (spec.cpu !== undefined) args.push('--cpu', String(spec.cpu.workers), '--cpu-load', String(spec.cpu.load));
  if (spec.memory !== undefined) {
    args.push('--vm', String(spec.memory.workers), '--vm-bytes', `${memoryPerWorker(spec.memory) * spec.memory.workers}b`, '--vm-populate', '--vm-keep', '--vm-hang', '0');
  }
  return args;
}

/** The oom_score_adj of the stressors: the request's, or 0 for CPU alone (not the daemon's own, which kubelet may have lowered). */
export function stressOomScoreAdj(spec: StressSpec): number {
  return spec.memory?.oomScoreAdj ?? 0;
}

function describe(cpu: CpuStress | undefined, memory: MemoryStress | undefined): string {
  const parts: string[] = [];
  if (cpu !== undefined) parts.push(`cpu ${cpu.workers} worker(s) at ${cpu.load}%`);
  if (memory !== undefined) {
    parts.push(`memory ${Math.round(memory.sizeBytes / MIB * 10) / 10} MiB in ${memory.workers} worker(s) of ${memoryPerWorker(memory)} bytes`);
  }
  return parts.join(', ');
}

function stressOf(fault: FaultSpec): StressSpec {
  if (fault.kind !== 'stress') throw new DaemonError('invalid', `the stress module got a ${fault.kind} fault`);
  return fault;
}

/** The plan that holds `spec`'s stressors in cgroups `cgroups` (their cgroup.procs files), from stress-ng at `stressNg`. */
export function stressPlan(containerId: string, spec: StressSpec, stressNg: string, cgroups: readonly string[], marker: string): Omit<Plan, 'usage'> {
  return {
    summary: `stress container ${containerId}: ${describe(spec.cpu, spec.memory)} (stress-ng in ${cgroups.length} cgroup(s))`,
    apply: [{ kind: 'spawn', marker, argv: [stressNg, ...stressArgs(spec)], cgroups: [...cgroups], oomScoreAdj: stressOomScoreAdj(spec) }],
    revert: [{ kind: 'kill', marker }],
  };
}

export interface StressOptions {
  /** stress-ng's path, undefined when the node has none. */
  stressNg: string | undefined;
  node: string;
  clock: Clock;
}

export function stressFault(options: StressOptions): ContainerFaultModule {
  const { stressNg, node, clock } = options;
  /** Each plan's samples while stressed, oldest first: the newest one NOW_WINDOW_MS old or more starts the window. */
  const samples = new WeakMap<Plan, UsageSample[]>();
  return {
    kind: 'stress',
    scope: 'container',
    inNetns: false,
    ...(stressNg === undefined ? { unavailable: `node ${node} has no stress-ng (the daemon image ships the Debian package stress-ng)` } : {}),
    normalize(raw: RawFault): FaultSpec {
      if (raw.kind !== 'stress') throw new DaemonError('invalid', `the stress module got a ${raw.kind} fault`);
      if (stressNg === undefined) throw new DaemonError('invalid', `stress faults are unavailable: node ${node} has no stress-ng`);
      return normalizeStress(raw, totalmem());
    },
    async prepare(fault, target: ResolvedTarget) {
      const spec = stressOf(fault);
      if (stressNg === undefined) throw new DaemonError('invalid', `stress faults are unavailable: node ${node} has no stress-ng`);
      const dirs = await cgroupDirs(target.pid);
      if (dirs.length === 0) throw new DaemonError('failed', `container ${target.containerId} has no cgroup of its own to stress in`);
      const paths = await usagePathsOf(target.pid);
      const before = await measureUsage(paths, BEFORE_WINDOW_MS, clock);
      const plan = stressPlan(target.containerId, spec, stressNg, dirs.map((d) => `${d.dir}/cgroup.procs`), randomBytes(16).toString('hex'));
      return { kind: 'plan', plan: { ...plan, usage: { ...paths, before } } };
    },
    async evidence(plan: Plan): Promise<{ stress: StressEvidence }> {
      const { usage } = plan;
      if (usage === undefined) throw new DaemonError('failed', 'a stress plan without its usage files');
      const sample = await sampleUsage(usage, clock);
      const kept = [...(samples.get(plan) ?? []), sample];
      const start = kept.findLastIndex((s) => sample.at - s.at >= NOW_WINDOW_MS);
      samples.set(plan, kept.slice(Math.max(0, start)));
      // The first sample is the first reading of an active plan, so the window never reaches back before the stressors ran.
      const from = kept[start];
      const now: ResourceUsage | undefined = from === undefined ? undefined : usageBetween(from, sample);
      let stressors = 0;
      for (const step of plan.revert) {
        if (step.kind === 'kill' && step.process !== undefined) stressors += (await sessionMembers(step.process)).length;
      }
      return { stress: { before: usage.before, ...(now === undefined ? {} : { now }), stressors } };
    },
  };
}
