/**
 * What a journal record's plan may hold, checked when the journal is read. Reconciliation runs stored steps as
 * root in other pods' namespaces, so a stored plan is trusted only as far as kerris could have written it: a freeze
 * plan is rebuilt from the freezer file it names, a network plan's revert is rebuilt step by step from the undo
 * builders (net/undo.ts), a stress plan is rebuilt from the record's stressors, a kubelet-stop plan is rebuilt from
 * its guard step (one process, named alike in every step; SIGSTOP applied, SIGCONT reverted), and anything else
 * (another argv[0], another path, another namespace, another signal or process) refuses the record.
 */
import { posix } from 'node:path';
import { freezePlan } from './faults/container-freeze.ts';
import { kubeletStopPlan } from './faults/kubelet-stop.ts';
import { STRESS_NG_PATHS, stressArgs, stressOomScoreAdj, stressPlan } from './faults/stress.ts';
import type { Freezer } from './cgroup.ts';
import { carriesMarker, isAlive, MARKER_PATTERN } from './held.ts';
import { IFB_NAME, ifbUndo, ingressUndo, nftUndo, rootUndo, txqueuelenUndo } from './net/undo.ts';
import { parseDeviceName } from './net/values.ts';
import type { ExecStep, HeldProcess, Plan, Step } from './plan.ts';
import { isPositivePid } from './proc.ts';
import { canonicalJson, type FaultSpec, type StressSpec } from './spec.ts';
import { processNow, PROCESS_NAME } from './stopped.ts';
import { USAGE_FILE_NAMES, type UsageFiles } from './usage.ts';

/** A stored plan kerris could not have written. */
export class UnsafePlanError extends Error {
  override name = 'UnsafePlanError';
}

/** Where the daemon's cgroup freezer files live (the host's tree, mounted by the DaemonSet at the same path). */
export const CGROUP_ROOT = '/sys/fs/cgroup';

/** The network-namespace path kerris plans through for a target process. */
export function targetNetns(pid: number): string {
  return `/proc/${pid}/ns/net`;
}

/** `path` if it is a file in a cgroup below CGROUP_ROOT (named `name`, when given). */
function cgroupFile(what: string, path: string, name?: string): string {
  if (posix.normalize(path) !== path || !path.startsWith(`${CGROUP_ROOT}/`) || /[\0\n]/.test(path) || (name !== undefined && posix.basename(path) !== name)) {
    throw new UnsafePlanError(`${what} path ${JSON.stringify(path)} is not ${name ?? 'a file'} below ${CGROUP_ROOT}`);
  }
  return path;
}

/**
 * A stress plan, rebuilt from the record's own (validated) stressors: stress-ng at one of its known paths with
 * exactly the arguments kerris gives those stressors, the request's oom_score_adj, cgroup.procs files below the
 * cgroup root, one kill of the same marker; usage files of one cgroup version with their own names.
 */
function trustedStress(spec: StressSpec, plan: Plan): Plan {
  const [spawn, ...moreApply] = plan.apply;
  if (spawn?.kind !== 'spawn' || moreApply.length > 0) throw new UnsafePlanError('a stress plan applies exactly one spawn step');
  const [stressNg, ...args] = spawn.argv;
  const path = STRESS_NG_PATHS.find((p) => p === stressNg);
  if (path === undefined) throw new UnsafePlanError(`stress plan runs ${JSON.stringify(stressNg)}, not stress-ng at ${STRESS_NG_PATHS.join(', ')}`);
  if (canonicalJson(args) !== canonicalJson(stressArgs(spec))) throw new UnsafePlanError(`stress plan's arguments ${JSON.stringify(args)} are not those kerris gives its stressors`);
  if (!MARKER_PATTERN.test(spawn.marker)) throw new UnsafePlanError(`stress plan's marker ${JSON.stringify(spawn.marker)} is not one kerris makes`);
  if (spawn.oomScoreAdj !== stressOomScoreAdj(spec)) throw new UnsafePlanError(`stress plan's oom_score_adj ${spawn.oomScoreAdj} is not its stressors'`);
  const cgroups = spawn.cgroups.map((file) => cgroupFile('stress cgroup', file, 'cgroup.procs'));
  if (cgroups.length === 0 || new Set(cgroups).size !== cgroups.length) throw new UnsafePlanError('a stress plan names each of its cgroups once, and at least one');
  const [kill, ...moreRevert] = plan.revert;
  if (kill?.kind !== 'kill' || kill.marker !== spawn.marker || moreRevert.length > 0) throw new UnsafePlanError('a stress plan reverts with exactly one kill of its own marker');
  const usage = plan.usage;
  if (usage === undefined) throw new UnsafePlanError('a stress plan without its usage files');
  const names = USAGE_FILE_NAMES[usage.version];
  const trustedUsage: UsageFiles = {
    ...usage, cpu: cgroupFile('usage', usage.cpu, names.cpu), memory: cgroupFile('usage', usage.memory, names.memory), memoryStat: cgroupFile('usage', usage.memoryStat, names.memoryStat),
  };
  const rebuilt = stressPlan('', spec, path, cgroups, spawn.marker);
  return {
    summary: plan.summary, apply: rebuilt.apply,
    revert: [{ kind: 'kill', marker: spawn.marker, ...(kill.process === undefined ? {} : { process: kill.process }) }], usage: trustedUsage,
  };
}

function storedProcess(what: string, process: HeldProcess): HeldProcess {
  if (!isPositivePid(process.pid) || !Number.isSafeInteger(process.startTime) || process.startTime < 0) {
    throw new UnsafePlanError(`${what} ${JSON.stringify(process)} is not a pid and start time`);
  }
  return { pid: process.pid, startTime: process.startTime };
}

/**
 * A kubelet-stop plan, rebuilt from its guard step: the guard, then SIGSTOP, of the one process the guard names;
 * reverted by SIGCONT to it and the kill of the guard's marker. Any other signal, process, marker or extra step, and
 * a process other than the record's target (`pid`), refuses it.
 */
function trustedKubeletStop(pid: number | undefined, plan: Plan): Plan {
  const [guard] = plan.apply;
  if (guard?.kind !== 'guard') throw new UnsafePlanError('a kubelet-stop plan starts its guard first');
  if (!PROCESS_NAME.test(guard.name)) throw new UnsafePlanError(`kubelet-stop plan's process name ${JSON.stringify(guard.name)} is not ${PROCESS_NAME.source}`);
  if (!MARKER_PATTERN.test(guard.marker)) throw new UnsafePlanError(`kubelet-stop plan's marker ${JSON.stringify(guard.marker)} is not one kerris makes`);
  const process = storedProcess('kubelet-stop plan\'s process', guard.process);
  if (pid !== undefined && pid !== process.pid) throw new UnsafePlanError(`kubelet-stop plan stops pid ${process.pid}, not the record's target ${pid}`);
  const daemon = storedProcess('kubelet-stop plan\'s daemon', guard.daemon);
  if (guard.deadlineAt !== undefined && !(Number.isFinite(guard.deadlineAt) && guard.deadlineAt > 0)) throw new UnsafePlanError(`kubelet-stop plan's deadline ${guard.deadlineAt} is not a time`);
  const cgroups = guard.cgroups.map((file) => cgroupFile('guard cgroup', file, 'cgroup.procs'));
  if (new Set(cgroups).size !== cgroups.length) throw new UnsafePlanError('a kubelet-stop plan names each of its guard\'s cgroups once');
  const rebuilt = kubeletStopPlan({ name: guard.name, ...process }, daemon, guard.deadlineAt, cgroups, guard.marker);
  const kill = plan.revert[1];
  const held = kill?.kind === 'kill' && kill.marker === guard.marker && kill.process !== undefined ? { process: storedProcess('kubelet-stop plan\'s guard', kill.process) } : {};
  const revert = rebuilt.revert.map((step) => (step.kind === 'kill' ? { ...step, ...held } : step));
  if (canonicalJson(plan.apply) !== canonicalJson(rebuilt.apply) || canonicalJson(plan.revert) !== canonicalJson(revert)) {
    throw new UnsafePlanError('a kubelet-stop plan is its guard and SIGSTOP of one process, reverted by SIGCONT to it and the end of the guard; this one is not');
  }
  return { summary: plan.summary, apply: rebuilt.apply, revert };
}

/** The freezer a stored freeze plan names, or why it cannot be one of kerris's. */
function storedFreezer(step: Step | undefined): Freezer {
  if (step?.kind !== 'write') throw new UnsafePlanError('a freeze plan applies exactly one write to a freezer file');
  const path = cgroupFile('freezer', step.path);
  const dir = posix.dirname(path);
  if (posix.basename(path) === 'cgroup.freeze' && step.value === '1') return { version: 2, dir, file: path, frozen: '1', thawed: '0' };
  if (posix.basename(path) === 'freezer.state' && step.value === 'FROZEN') return { version: 1, dir, file: path, frozen: 'FROZEN', thawed: 'THAWED' };
  throw new UnsafePlanError(`write of ${JSON.stringify(step.value)} to ${JSON.stringify(path)} is not a freeze`);
}

/** The one undo step `step` must equal, rebuilt from its device or IFB name. */
function rebuiltUndo(netns: string, step: Step): ExecStep {
  const rebuilt = undoLike(netns, step);
  if (step.kind !== 'exec' || canonicalJson(rebuilt.argv) !== canonicalJson(step.argv)) throw new UnsafePlanError(`revert step ${JSON.stringify(step)} is not an undo kerris writes`);
  return rebuilt;
}

function undoLike(netns: string, step: Step): ExecStep {
  if (step.kind !== 'exec') throw new UnsafePlanError(`a network revert has only commands (got a ${step.kind} step)`);
  const [tool, ...args] = step.argv;
  const device = (value: string | undefined): string => {
    try {
      return parseDeviceName('device', value);
    } catch (error) {
      throw new UnsafePlanError(`revert step ${JSON.stringify(step.argv)} names no valid device`, { cause: error });
    }
  };
  if (tool === 'tc' && args[4] === 'ingress') return ingressUndo(netns, device(args[3]));
  if (tool === 'tc' && args[4] === 'root') return rootUndo(netns, device(args[3]));
  if (tool === 'nft') return nftUndo(netns);
  if (tool === 'ip' && args[1] === 'set' && args[4] === 'txqueuelen') return txqueuelenUndo(netns, device(args[3]));
  if (tool === 'ip' && IFB_NAME.test(args[3] ?? '')) return ifbUndo(netns, device(args[3]));
  throw new UnsafePlanError(`revert step ${JSON.stringify(step.argv)} is none kerris writes (tc qdisc del, nft delete table, ip link del of its IFB, txqueuelen 0 back on a device that had none)`);
}

/** The apply steps a network plan may hold: the three batch commands the planner emits, in the target's netns. */
const NETWORK_APPLY = new Set([['ip', '-batch', '-'], ['nft', '-f', '-'], ['tc', '-batch', '-']].map((argv) => canonicalJson(argv)));

function checkNetworkApply(netns: string, step: Step): Step {
  if (step.kind !== 'exec' || step.netns !== netns || !NETWORK_APPLY.has(canonicalJson(step.argv)) || step.absentIf !== undefined) {
    throw new UnsafePlanError(`apply step ${JSON.stringify(step)} is not one of the planner's batch commands in ${netns}`);
  }
  return step;
}

/**
 * The plan to keep for a record of `fault` whose fault was put on process `pid`: rebuilt where the code can, else
 * checked step by step. Throws UnsafePlanError for anything kerris could not have written.
 */
export function trustedPlan(fault: FaultSpec, pid: number | undefined, plan: Plan): Plan {
  const { kind } = fault;
  if (fault.kind === 'stress') return trustedStress(fault, plan);
  if (plan.usage !== undefined) throw new UnsafePlanError(`a ${kind} plan has no usage files`);
  if (fault.kind === 'kubelet-stop') {
    if (plan.counters !== undefined) throw new UnsafePlanError('a kubelet-stop plan has no counters');
    return trustedKubeletStop(pid, plan);
  }
  if (kind === 'container-kill') throw new UnsafePlanError('a container-kill has nothing to revert, so no plan');
  if (kind === 'container-freeze') {
    if (plan.apply.length !== 1) throw new UnsafePlanError(`a freeze plan has one apply step, not ${plan.apply.length}`);
    const rebuilt = freezePlan('', storedFreezer(plan.apply[0]));
    // The summary is only shown; it keeps what was stored.
    return { summary: plan.summary, apply: rebuilt.apply, revert: rebuilt.revert };
  }
  if (pid === undefined) throw new UnsafePlanError('a network plan without the target process it was planned for');
  // The node's own netns is only ever reached through the host's init (faults/node-network.ts).
  if (kind === 'node-network' && pid !== 1) throw new UnsafePlanError(`a node-network plan runs in /proc/1/ns/net, not through pid ${pid}`);
  const netns = targetNetns(pid);
  for (const step of plan.revert) {
    if (step.kind === 'exec' && step.netns !== netns) throw new UnsafePlanError(`revert step runs in ${JSON.stringify(step.netns)}, not the target's ${netns}`);
  }
  return {
    summary: plan.summary, apply: plan.apply.map((step) => checkNetworkApply(netns, step)), revert: plan.revert.map((step) => rebuiltUndo(netns, step)),
    // Only ever compared with what tc and nft print (journal-record.ts checked their shape), so kept as stored.
    ...(plan.counters === undefined ? {} : { counters: plan.counters }),
  };
}

/**
 * A kill step's process, where it is alive, must be the one kerris started: it carries the step's marker. A record
 * naming another live process (a hand edit, a file from elsewhere) would have the daemon SIGKILL its session. A
 * signal step's process, where its pid has its start time, must have its comm too.
 */
export async function checkHeldProcesses(plan: Plan | undefined): Promise<void> {
  for (const step of plan?.revert ?? []) {
    if (step.kind === 'signal') {
      const now = await processNow(step.process.pid);
      if (now !== undefined && now.startTime === step.process.startTime && now.comm !== step.name) {
        throw new UnsafePlanError(`process ${step.process.pid} is alive but is ${JSON.stringify(now.comm)}, not the ${step.name} the record names`);
      }
      continue;
    }
    if (step.kind !== 'kill' || step.process === undefined || !await isAlive(step.process)) continue;
    if (!await carriesMarker(step.process.pid, step.marker)) {
      throw new UnsafePlanError(`process ${step.process.pid} is alive but is not the held process the record names (it lacks its marker)`);
    }
  }
}
