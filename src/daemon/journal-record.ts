/**
 * A journal record read back from disk is input like any other: a torn write, a hand edit or a file from another
 * version can hold anything. `parseRecord` turns the decoded JSON into a JournalRecord or says why it is not one,
 * and keeps only plans kerris could have written (stored-plan.ts).
 */
import type { JournalRecord, Phase } from './journal.ts';
import type { PlanCounters, QdiscCounter } from './net/evidence.ts';
import { NETWORK_ACTIONS, type NetworkAction } from './net/fault.ts';
import { parseDeviceName } from './net/values.ts';
import type { Step } from './plan.ts';
import { checkBootId, checkId, checkScope, checkTarget, isNodeTarget, type FaultSpec, type TargetRef } from './spec.ts';
import { PLAN_SIGNALS, PROCESS_NAME, type NamedProcess } from './stopped.ts';
import type { ResolvedTarget } from './runtime/resolve.ts';
import { normalizeStress } from './faults/stress.ts';
import { trustedPlan, UnsafePlanError } from './stored-plan.ts';
import type { ResourceUsage, UsageFiles } from './usage.ts';

export class RecordSchemaError extends Error {
  override name = 'RecordSchemaError';
}

const PHASES: ReadonlySet<string> = new Set<Phase>(['applying', 'active', 'done', 'reverting', 'not-reapplied']);

type Fields = Record<string, unknown>;

function fail(path: string, what: string): never {
  throw new RecordSchemaError(`${path} ${what}`);
}

function object(path: string, value: unknown): Fields {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(path, 'is not an object');
  return value as Fields;
}

function string(path: string, value: unknown): string {
  if (typeof value !== 'string') fail(path, 'is not a string');
  return value;
}

function integer(path: string, value: unknown, min = 0): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) fail(path, `is not an integer >= ${min}`);
  return value;
}

function finite(path: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) fail(path, 'is not a finite number');
  return value;
}

function optional<T>(fields: Fields, key: string, parse: (path: string, value: unknown) => T): T | undefined {
  return fields[key] === undefined ? undefined : parse(key, fields[key]);
}

function strings(path: string, value: unknown): string[] {
  if (!Array.isArray(value)) fail(path, 'is not a list');
  return value.map((v, i) => string(`${path}[${i}]`, v));
}

function heldProcess(path: string, value: unknown): { pid: number; startTime: number } {
  const h = object(path, value);
  return { pid: integer(`${path}.pid`, h['pid'], 1), startTime: integer(`${path}.startTime`, h['startTime']) };
}

function processName(path: string, value: unknown): string {
  const name = string(path, value);
  if (!PROCESS_NAME.test(name)) fail(path, `is not a process name (${PROCESS_NAME.source})`);
  return name;
}

function step(path: string, value: unknown): Step {
  const s = object(path, value);
  if (s['kind'] === 'signal') {
    const signal = string(`${path}.signal`, s['signal']);
    // Well-formed but another signal than kerris sends: a plan it could not have written, not a torn record.
    const sent = PLAN_SIGNALS.find((known) => known === signal);
    if (sent === undefined) throw new UnsafePlanError(`${path} sends ${JSON.stringify(signal)}; kerris sends only ${PLAN_SIGNALS.join(' and ')}`);
    return {
      kind: 'signal', signal: sent, name: processName(`${path}.name`, s['name']), process: heldProcess(`${path}.process`, s['process']),
    };
  }
  if (s['kind'] === 'guard') {
    const deadlineAt = optional(s, 'deadlineAt', (p, v) => finite(`${path}.${p}`, v));
    return {
      kind: 'guard', marker: string(`${path}.marker`, s['marker']), name: processName(`${path}.name`, s['name']), process: heldProcess(`${path}.process`, s['process']),
      daemon: heldProcess(`${path}.daemon`, s['daemon']), ...(deadlineAt === undefined ? {} : { deadlineAt }), cgroups: strings(`${path}.cgroups`, s['cgroups']),
    };
  }
  if (s['kind'] === 'write') return { kind: 'write', path: string(`${path}.path`, s['path']), value: string(`${path}.value`, s['value']) };
  if (s['kind'] === 'spawn') {
    return {
      kind: 'spawn', marker: string(`${path}.marker`, s['marker']), argv: strings(`${path}.argv`, s['argv']), cgroups: strings(`${path}.cgroups`, s['cgroups']),
      oomScoreAdj: integer(`${path}.oomScoreAdj`, s['oomScoreAdj'], -1000),
    };
  }
  if (s['kind'] === 'kill') {
    const held = optional(s, 'process', (p, v) => heldProcess(`${path}.${p}`, v));
    return { kind: 'kill', marker: string(`${path}.marker`, s['marker']), ...(held === undefined ? {} : { process: held }) };
  }
  if (s['kind'] !== 'exec') fail(`${path}.kind`, 'is none of exec, write, spawn, kill, signal, guard');
  return {
    kind: 'exec', argv: strings(`${path}.argv`, s['argv']),
    ...(s['netns'] === undefined ? {} : { netns: string(`${path}.netns`, s['netns']) }),
    ...(s['input'] === undefined ? {} : { input: string(`${path}.input`, s['input']) }),
    ...(s['absentIf'] === undefined ? {} : { absentIf: strings(`${path}.absentIf`, s['absentIf']) }),
  };
}

function steps(path: string, value: unknown): Step[] {
  if (!Array.isArray(value)) fail(path, 'is not a list');
  return value.map((v, i) => step(`${path}[${i}]`, v));
}

function oneOf<T extends string>(path: string, value: unknown, allowed: readonly T[]): T {
  const found = allowed.find((a) => a === value);
  if (found === undefined) fail(path, `is not one of ${allowed.join(', ')}`);
  return found;
}

/** The handle a qdisc of `kind` has in kerris's tree (tc.ts): 4b6N: for netem, 4b7N: for tbf. */
const COUNTER_HANDLE = { netem: /^4b6[0-9a-f]:$/, tbf: /^4b7[0-9a-f]:$/ } as const;

function qdiscCounter(path: string, value: unknown): QdiscCounter {
  const q = object(path, value);
  const kind = oneOf(`${path}.kind`, q['kind'], ['netem', 'tbf'] as const);
  const handle = string(`${path}.handle`, q['handle']);
  if (!COUNTER_HANDLE[kind].test(handle)) fail(`${path}.handle`, `is not the handle of one of kerris's ${kind} qdiscs`);
  if (!Array.isArray(q['faults'])) fail(`${path}.faults`, 'is not a list');
  const faults = q['faults'].map((f, i): NetworkAction => oneOf(`${path}.faults[${i}]`, f, NETWORK_ACTIONS));
  return {
    device: checked(`${path}.device`, () => parseDeviceName('device', q['device'])),
    direction: oneOf(`${path}.direction`, q['direction'], ['egress', 'ingress'] as const),
    on: checked(`${path}.on`, () => parseDeviceName('on', q['on'])),
    handle, kind, faults,
  };
}

/** Only ever compared with what tc and nft print, never put in a command; checked all the same. */
function counters(path: string, value: unknown): PlanCounters {
  const c = object(path, value);
  if (typeof c['nft'] !== 'boolean') fail(`${path}.nft`, 'is not a boolean');
  if (!Array.isArray(c['qdiscs'])) fail(`${path}.qdiscs`, 'is not a list');
  return { qdiscs: c['qdiscs'].map((q, i) => qdiscCounter(`${path}.qdiscs[${i}]`, q)), nft: c['nft'] };
}

function resourceUsage(path: string, value: unknown): ResourceUsage {
  const u = object(path, value);
  return { cpuMillicores: integer(`${path}.cpuMillicores`, u['cpuMillicores']), memoryWorkingSetBytes: integer(`${path}.memoryWorkingSetBytes`, u['memoryWorkingSetBytes']), windowMs: integer(`${path}.windowMs`, u['windowMs']) };
}

/** Only ever read, never written or run; their paths are checked by stored-plan.ts all the same. */
function usageFiles(path: string, value: unknown): UsageFiles {
  const u = object(path, value);
  const version = u['version'] === 1 || u['version'] === 2 ? u['version'] : fail(`${path}.version`, 'is neither 1 nor 2');
  return {
    version, cpu: string(`${path}.cpu`, u['cpu']), memory: string(`${path}.memory`, u['memory']), memoryStat: string(`${path}.memoryStat`, u['memoryStat']),
    before: resourceUsage(`${path}.before`, u['before']),
  };
}

/** A stressor's integer field, as the validator takes it. */
function stressField(path: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) fail(path, 'is not an integer');
  return value;
}

function stressFault(f: Fields): FaultSpec {
  const cpu = optional(f, 'cpu', (path, v) => {
    const c = object(`spec.fault.${path}`, v);
    return { workers: stressField('spec.fault.cpu.workers', c['workers']), load: stressField('spec.fault.cpu.load', c['load']) };
  });
  const memory = optional(f, 'memory', (path, v) => {
    const m = object(`spec.fault.${path}`, v);
    return {
      workers: stressField('spec.fault.memory.workers', m['workers']), sizeBytes: BigInt(stressField('spec.fault.memory.sizeBytes', m['sizeBytes'])),
      oomScoreAdj: stressField('spec.fault.memory.oomScoreAdj', m['oomScoreAdj']),
    };
  });
  // The same bounds as a request's, but not this node's memory now: a record is not refused because the node shrank.
  return checked('spec.fault', () => normalizeStress({ kind: 'stress', ...(cpu === undefined ? {} : { cpu }), ...(memory === undefined ? {} : { memory }) }, Number.MAX_SAFE_INTEGER));
}

function fault(value: unknown): FaultSpec {
  const f = object('spec.fault', value);
  if (f['kind'] === 'container-kill' || f['kind'] === 'container-freeze' || f['kind'] === 'kubelet-stop') return { kind: f['kind'] };
  if (f['kind'] === 'stress') return stressFault(f);
  if (f['kind'] === 'node-reboot') {
    const bootId = string('spec.fault.bootId', f['bootId']);
    return { kind: 'node-reboot', bootId: checked('spec.fault.bootId', () => checkBootId('boot ID', bootId)) };
  }
  if (f['kind'] !== 'network' && f['kind'] !== 'node-network') fail('spec.fault.kind', 'is not a fault kind this daemon knows');
  if (!Array.isArray(f['faults'])) fail('spec.fault.faults', 'is not a list');
  return { kind: f['kind'], faults: f['faults'] };
}

function checked<T>(path: string, check: () => T): T {
  try {
    return check();
  } catch (error) {
    throw new RecordSchemaError(`${path}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
}

/** An injection's target: `{ node: true }` alone, or a container. */
function specTarget(t: Fields): TargetRef {
  if (t['node'] !== undefined) {
    if (t['node'] !== true || Object.keys(t).length !== 1) fail('spec.target', 'is a node target with other fields, or a node that is not true');
    return { node: true };
  }
  return checked('spec.target', () => checkTarget({
    containerId: string('spec.target.containerId', t['containerId']),
    ...(t['podUid'] === undefined ? {} : { podUid: string('spec.target.podUid', t['podUid']) }),
    ...(t['containerName'] === undefined ? {} : { containerName: string('spec.target.containerName', t['containerName']) }),
  }));
}

/** The process a plan acts on, of the target's kind: a container's task, or the node's host process. */
function resolvedTarget(target: TargetRef, path: string, t: Fields): ResolvedTarget | NamedProcess {
  const pid = integer(`${path}.pid`, t['pid'], 1);
  const startTime = integer(`${path}.startTime`, t['startTime']);
  if (isNodeTarget(target)) return { name: processName(`${path}.name`, t['name']), pid, startTime };
  return { containerId: string(`${path}.containerId`, t['containerId']), pid, startTime, runtime: string(`${path}.runtime`, t['runtime']) };
}

/** `value` as a record; `v1` records (kerris-daemon v1) may lack the experiment. */
export function parseRecord(value: unknown, v1 = false): JournalRecord {
  const r = object('record', value);
  const s = object('spec', r['spec']);
  const id = string('spec.id', s['id']);
  checked('spec.id', () => checkId('injection ID', id));
  const target = specTarget(object('spec.target', s['target']));
  const spec = { id, target, fault: fault(s['fault']) };
  checked('spec', () => checkScope(spec.fault.kind, target));
  const phase = string('phase', r['phase']);
  if (!PHASES.has(phase)) fail('phase', `${JSON.stringify(phase)} is not a phase`);
  const holder = string('holder', r['holder']);
  checked('holder', () => checkId('holder', holder));
  const resolved = optional(r, 'target', (path, v) => resolvedTarget(target, path, object(path, v)));
  const stored = optional(r, 'plan', (path, v) => {
    const p = object(path, v);
    return {
      summary: string(`${path}.summary`, p['summary']), apply: steps(`${path}.apply`, p['apply']), revert: steps(`${path}.revert`, p['revert']),
      ...(p['counters'] === undefined ? {} : { counters: counters(`${path}.counters`, p['counters']) }),
      ...(p['usage'] === undefined ? {} : { usage: usageFiles(`${path}.usage`, p['usage']) }),
    };
  });
  const endedBy = optional(r, 'endedBy', string);
  if (endedBy !== undefined && endedBy !== 'deadline') fail('endedBy', 'is not "deadline"');
  const record: JournalRecord = {
    spec, specHash: string('specHash', r['specHash']), experiment: v1 && r['experiment'] === undefined ? '' : string('experiment', r['experiment']),
    holder, phase: phase as Phase, reapplied: integer('reapplied', r['reapplied'] ?? 0),
  };
  const deadlineAt = optional(r, 'deadlineAt', finite);
  if (deadlineAt !== undefined) record.deadlineAt = deadlineAt;
  if (endedBy !== undefined) record.endedBy = 'deadline';
  const summary = optional(r, 'summary', string);
  if (summary !== undefined) record.summary = summary;
  if (resolved !== undefined) record.target = resolved;
  const netnsInode = optional(r, 'netnsInode', (path, v) => integer(path, v, 1));
  if (netnsInode !== undefined) record.netnsInode = netnsInode;
  if (stored !== undefined) record.plan = trustedPlan(spec.fault, resolved?.pid, stored);
  if (record.plan !== undefined && isNodeTarget(target)) {
    if (resolved === undefined || !('name' in resolved)) fail('target', 'is missing: a node fault\'s plan acts on the host process its record names');
    // Every signal of the plan names the record's target: same pid (trustedPlan), same name and start time.
    for (const step of record.plan.revert) {
      if (step.kind === 'signal' && (step.name !== resolved.name || step.process.startTime !== resolved.startTime)) fail('target', 'is not the process the plan signals');
    }
  }
  const error = optional(r, 'error', string);
  if (error !== undefined) record.error = error;
  return record;
}
