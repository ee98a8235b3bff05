/**
 * StressChaos's fault, held by the node daemons: each target container gets one stress injection. For each node the
 * controller states the whole set of the experiment's injections there (one Sync), so a repeat is a no-op, a target
 * that is gone loses its stressors, and recovery is the empty set.
 */
import type { StressChaos } from '../../api/generated/types.ts';
import type { InjectionInput } from '../../daemon/client.ts';
import { formatTime } from '../../kube/time.ts';
import { mapLimit } from '../../util/concurrency.ts';
import type { ApplyContext, Fault, TargetRecord } from '../engine/experiment.ts';
import { clearExperiment } from '../daemons/clear.ts';
import { namedContainers } from '../daemons/containers.ts';
import { daemonDeadlineMs, experimentOf } from '../daemons/injection.ts';
import { DaemonUnavailableError, type DaemonFleet, type ItemOutcome, type StressReading } from '../daemons/fleet.ts';
import type { ClusterView } from '../targets/cluster-view.ts';
import { describeStressors, stressorsFor } from './stressors.ts';

export interface StressFaultOptions {
  fleet: DaemonFleet;
  view: ClusterView;
  now: () => Date;
}

interface Planned {
  target: TargetRecord;
  containers: string[];
  injections: InjectionInput[];
  summary: string;
}

const injectionId = (chaos: StressChaos, uid: string, container: string): string => `${experimentOf(chaos)}/${uid}/${container}`;

export function stressFault(options: StressFaultOptions): Fault<StressChaos> {
  const { fleet, view, now } = options;

  /** The target's injections, one per chosen container, or why it cannot have them. */
  function plan(chaos: StressChaos, target: TargetRecord, deadlineInMs: number): Planned | string {
    const pod = view.pod(target.namespace, target.name);
    if (pod === undefined || pod.metadata.uid !== target.uid) return 'the pod is gone';
    const { containers, problem } = namedContainers(pod, chaos.spec.containerNames);
    if (problem !== undefined) return problem;
    const injections: InjectionInput[] = [];
    let summary = '';
    for (const container of containers) {
      const stressors = stressorsFor(chaos.spec, pod, container.name, pod.spec?.nodeName ? view.nodeMemoryBytes(pod.spec.nodeName) : undefined);
      if (typeof stressors === 'string') return stressors;
      summary = describeStressors(stressors);
      injections.push({
        id: injectionId(chaos, target.uid, container.name),
        target: { containerId: container.containerId, podUid: target.uid, containerName: container.name },
        fault: { kind: 'stress', stressors },
        ...(deadlineInMs > 0 ? { deadlineInMs } : {}),
      });
    }
    return {
      target: { ...target, ...(target.node ? {} : pod.spec?.nodeName ? { node: pod.spec.nodeName } : {}) },
      containers: containers.map((c) => c.name),
      injections,
      summary,
    };
  }

  /** The record of a target after its node's Sync. */
  function applied(planned: Planned, items: ReadonlyMap<string, ItemOutcome>, held: boolean): TargetRecord {
    // A held container that restarted has a new ID, so its spec no longer matches what the daemon holds under the
    // same injection ID: the daemon follows the restart itself, and the stressors are still its to run.
    const failed = planned.injections.map((i) => items.get(i.id)).filter((o) => o === undefined || (!o.ok && !(held && o.code === 'conflict')));
    if (failed.length > 0) {
      return { ...planned.target, phase: 'Failed', message: failed.map((o) => (o ? `${o.id.split('/').at(-1) ?? ''}: ${o.code}: ${o.message}` : 'no answer')).join('; ').slice(0, 1000) };
    }
    if (held) return planned.target;
    return { ...planned.target, phase: 'Injected', injectedAt: formatTime(now().getTime()), containers: planned.containers, message: `stressing ${planned.containers.join(', ')}: ${planned.summary}` };
  }

  async function apply(chaos: StressChaos, pending: readonly TargetRecord[], held: readonly TargetRecord[], context: ApplyContext): Promise<TargetRecord[]> {
    // Without a duration there is no deadline; the lease still ends the stressors if the controller goes away.
    const deadlineInMs = context.remainingMs === undefined ? 0 : daemonDeadlineMs(context.remainingMs);
    const heldUids = new Set(held.map((t) => t.uid));
    const results = new Map<string, TargetRecord>();
    const byNode = new Map<string, Planned[]>();
    for (const target of [...held, ...pending]) {
      const planned = plan(chaos, target, deadlineInMs);
      if (typeof planned === 'string') {
        if (!heldUids.has(target.uid)) results.set(target.uid, { ...target, phase: 'Failed', message: planned });
        continue;
      }
      const node = planned.target.node ?? '';
      byNode.set(node, [...(byNode.get(node) ?? []), planned]);
    }
    await mapLimit([...byNode], 16, async ([node, planned]) => {
      const fresh = planned.filter((p) => !heldUids.has(p.target.uid));
      let desired = planned;
      try {
        // A node that cannot run stressors (no stress-ng in its daemon) fails its new targets only; the others go on.
        const refusal = fresh.length > 0 ? await fleet.refusal(node, 'stress') : undefined;
        if (refusal !== undefined) {
          for (const p of fresh) results.set(p.target.uid, { ...p.target, phase: 'Failed', message: `nothing applied: ${refusal}` });
          desired = planned.filter((p) => heldUids.has(p.target.uid));
        }
        for (let pass = 0; pass < 2; pass++) {
          const sync = await fleet.sync(node, experimentOf(chaos), desired.flatMap((p) => p.injections));
          const items = new Map(sync.items.map((i) => [i.id, i]));
          const records = desired.map((p) => applied(p, items, heldUids.has(p.target.uid)));
          for (const record of records) if (!heldUids.has(record.uid)) results.set(record.uid, record);
          // A target that failed on some of its containers must not stay half-stressed: state the set again without it.
          const kept = desired.filter((_, i) => records[i]?.phase !== 'Failed');
          if (kept.length === desired.length) return;
          desired = kept;
        }
      } catch (error) {
        if (!(error instanceof DaemonUnavailableError)) throw error;
        // A daemon that is starting or restarting is not a refusal: the targets stay Selected and are tried again.
        for (const p of fresh) results.set(p.target.uid, { ...p.target, phase: 'Selected', message: `waiting: ${error.message}` });
      }
    });
    return pending.map((t) => results.get(t.uid) ?? { ...t, phase: 'Failed', message: 'not applied: the pod has no node' });
  }

  /** Each held target's record with its containers' use of CPU and memory, as its node's daemon read their cgroups. */
  async function evidence(chaos: StressChaos, held: readonly TargetRecord[]): Promise<TargetRecord[]> {
    const byNode = new Map<string, TargetRecord[]>();
    for (const target of held) if (target.node !== undefined) byNode.set(target.node, [...(byNode.get(target.node) ?? []), target]);
    const readings = new Map<string, StressReading>();
    await mapLimit([...byNode.keys()], 16, async (node) => {
      try {
        for (const [id, reading] of await fleet.stressEvidence(node, experimentOf(chaos))) readings.set(id, reading);
      } catch (error) {
        // No evidence this time; the stressors themselves are restated as usual.
        if (!(error instanceof DaemonUnavailableError)) throw error;
      }
    });
    const readAt = now().getTime();
    return held.map((target) => {
      // A pod's containers are summed: the record is the pod's, as `kubectl top pod` shows it.
      const found = (target.containers ?? []).map((c) => readings.get(injectionId(chaos, target.uid, c))).filter((r) => r !== undefined);
      if (found.length === 0) return target;
      const sum = (pick: (r: StressReading) => number): number => found.reduce((total, r) => total + pick(r), 0);
      return {
        ...target,
        stress: {
          observedAt: formatTime(readAt - Math.max(...found.map((r) => r.ageMs))),
          before: { cpuMillicores: sum((r) => r.before.cpuMillicores), memoryWorkingSetBytes: sum((r) => r.before.memoryWorkingSetBytes) },
          during: { cpuMillicores: sum((r) => r.now.cpuMillicores), memoryWorkingSetBytes: sum((r) => r.now.memoryWorkingSetBytes) },
          stressors: sum((r) => r.stressors),
        },
      };
    });
  }

  return {
    holds: true,
    injectedReason: 'Stressed',
    apply,
    recover: (chaos, targets) => clearExperiment(options, experimentOf(chaos), targets, (t) => `the stressors in ${(t.containers ?? []).join(', ')} are stopped`),
    observe: (_chaos, targets) => [...targets],
    evidence,
  };
}
