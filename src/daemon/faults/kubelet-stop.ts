/**
 * kubelet-stop (NodeChaos): the node's kubelet stopped with SIGSTOP for the injection's life and continued with
 * SIGCONT at its end, so the node goes NotReady (its lease and status stop being renewed) and Ready again. Its
 * target is the node itself; the kubelet is the one host process (the daemon runs with hostPID) whose comm and
 * executable name are `--kubelet-process` (stopped.ts): none or several is a refusal naming what was found.
 *
 * The plan, journaled before the first step: start the guard (stopped.ts, stop-guard.ts), which continues the
 * kubelet if the daemon dies or the deadline passes, then SIGSTOP; its revert is SIGCONT, then the guard's end. Every
 * signal names the kubelet by comm, pid and start time, so a process that took over its pid is never signalled.
 *
 * A daemon that starts with such a record was started by a running kubelet (a stopped one starts nothing), so the
 * record is never adopted: it is reverted (a no-op if the guard already continued the kubelet) and dropped, and the
 * controller puts it on again if its experiment still holds (`revertedAtStart`).
 */
import { randomBytes } from 'node:crypto';
import { posix } from 'node:path';
import { cgroupDirs } from '../cgroup.ts';
import { DaemonError } from '../errors.ts';
import type { HeldProcess, Plan } from '../plan.ts';
import { processStartTime } from '../proc.ts';
import type { FaultSpec, RawFault } from '../spec.ts';
import { processesNamed, processNow, type NamedProcess } from '../stopped.ts';
import type { NodeProcessModule } from './module.ts';

/** The plan that stops `kubelet`, guarded against the end of `daemon` and the deadline, with the guard in `cgroups`. */
export function kubeletStopPlan(kubelet: NamedProcess, daemon: HeldProcess, deadlineAt: number | undefined, cgroups: readonly string[], marker: string): Plan {
  const process: HeldProcess = { pid: kubelet.pid, startTime: kubelet.startTime };
  return {
    summary: `stop the kubelet ${kubelet.name} (pid ${kubelet.pid}) with SIGSTOP; a guard continues it if the daemon ends first`,
    apply: [
      { kind: 'guard', marker, name: kubelet.name, process, daemon, ...(deadlineAt === undefined ? {} : { deadlineAt }), cgroups: [...cgroups] },
      { kind: 'signal', signal: 'SIGSTOP', name: kubelet.name, process },
    ],
    revert: [{ kind: 'signal', signal: 'SIGCONT', name: kubelet.name, process }, { kind: 'kill', marker }],
  };
}

/** Why `found` (the processes of that name) is not exactly one kubelet, or undefined when it is. */
export function kubeletAmbiguity(name: string, node: string, found: readonly NamedProcess[]): string | undefined {
  if (found.length === 1) return undefined;
  if (found.length === 0) return `no process named ${name} (comm and executable) runs on node ${node}; the daemon's --kubelet-process names the kubelet`;
  return `${found.length} processes named ${name} run on node ${node} (pids ${found.map((p) => p.pid).join(', ')}): kerris stops the one kubelet only, and cannot tell which it is`;
}

export interface KubeletStopOptions {
  /** --kubelet-process. */
  processName: string;
  node: string;
}

export function kubeletStop(options: KubeletStopOptions): NodeProcessModule {
  const { processName, node } = options;
  const locate = async (): Promise<NamedProcess> => {
    const found = await processesNamed(processName);
    const ambiguity = kubeletAmbiguity(processName, node, found);
    const [kubelet] = found;
    if (ambiguity !== undefined || kubelet === undefined) throw new DaemonError(found.length === 0 ? 'unavailable' : 'invalid', `kubelet-stop: ${ambiguity}`);
    return kubelet;
  };
  return {
    kind: 'kubelet-stop',
    scope: 'node',
    on: 'process',
    revertedAtStart: 'a starting daemon was started by a running kubelet, so the kubelet-stop is over; the controller puts it on again if its experiment still holds',
    async unavailableNow() {
      const kubelet = await locate().catch((error: unknown) => (error instanceof DaemonError ? error.message : String(error)));
      if (typeof kubelet === 'string') return kubelet;
      try {
        // Signal 0 asks whether the daemon may signal it at all (root, or CAP_KILL), without sending anything.
        process.kill(kubelet.pid, 0);
        return undefined;
      } catch (error) {
        return `kubelet-stop: the daemon may not signal ${processName} (pid ${kubelet.pid}) on node ${node}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`;
      }
    },
    normalize(raw: RawFault): FaultSpec {
      if (raw.kind !== 'kubelet-stop') throw new DaemonError('invalid', `the kubelet-stop module got a ${raw.kind} fault`);
      return { kind: 'kubelet-stop' };
    },
    locate,
    async prepare(fault, kubelet, injection) {
      if (fault.kind !== 'kubelet-stop') throw new DaemonError('invalid', `the kubelet-stop module got a ${fault.kind} fault`);
      // Its revert continues it: a kubelet someone else stopped is left as it is, not continued by kerris later.
      if ((await processNow(kubelet.pid))?.state === 'T') {
        throw new DaemonError('conflict', `kubelet-stop: ${kubelet.name} (pid ${kubelet.pid}) on node ${node} is stopped already, not by this injection; left alone`);
      }
      const startTime = await processStartTime(process.pid);
      if (startTime === undefined) throw new DaemonError('failed', 'kubelet-stop: the daemon cannot read its own start time');
      // The guard joins the kubelet's cgroups, out of the daemon's (including a root cgroup, where the kubelet is in one).
      const cgroups = (await cgroupDirs(kubelet.pid, true)).map((d) => posix.join(d.dir, 'cgroup.procs'));
      return { kind: 'plan', plan: kubeletStopPlan(kubelet, { pid: process.pid, startTime }, injection.deadlineAt, cgroups, randomBytes(16).toString('hex')) };
    },
  };
}
