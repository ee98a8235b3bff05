/**
 * pod-failure and container-kill: faults the node daemon puts on a target
 * pod's containers. For each node the controller states the whole set of the
 * experiment's injections there (one Sync call), so a repeat after a restart
 * is a no-op and recovery is the empty set, which also clears anything the
 * records do not list.
 */
import type { PodChaos } from '../../api/generated/types.ts';
import type { InjectionInput } from '../../daemon/client.ts';
import { formatTime } from '../../kube/time.ts';
import type { Pod } from '../../kube/types.ts';
import { mapLimit } from '../../util/concurrency.ts';
import type { Fault, RecoverOutcome, TargetRecord } from '../engine/experiment.ts';
import { clearExperiment } from '../daemons/clear.ts';
import { containersOf, namedContainers, type TargetContainer } from '../daemons/containers.ts';
import { daemonDeadlineMs, experimentOf } from '../daemons/injection.ts';
import { DaemonUnavailableError, type DaemonFleet, type ItemOutcome } from '../daemons/fleet.ts';
import type { ClusterView } from '../targets/cluster-view.ts';

export interface ContainerFaultOptions {
  fleet: DaemonFleet;
  view: ClusterView;
  now: () => Date;
}

const injectionId = (chaos: PodChaos, target: TargetRecord, container: string): string => `${experimentOf(chaos)}/${target.uid}/${container}`;

/** The containers a target's fault acts on: all of them for pod-failure; `containerNames`, or the first, for container-kill. */
function chosenContainers(chaos: PodChaos, pod: Pod): { containers: TargetContainer[]; problem?: string } {
  if (chaos.spec.action !== 'pod-failure') return namedContainers(pod, chaos.spec.containerNames);
  const all = containersOf(pod);
  const missing = all.filter((c) => c.containerId === '');
  return missing.length > 0 ? { containers: [], problem: `container(s) ${missing.map((c) => c.name).join(', ')} not started yet` } : { containers: all };
}

interface Planned {
  target: TargetRecord;
  containers: TargetContainer[];
  injections: InjectionInput[];
}

export function containerFault(options: ContainerFaultOptions): (action: 'pod-failure' | 'container-kill') => Fault<PodChaos> {
  const { fleet, view, now } = options;

  /** What each target needs on its node, or why it cannot have it. */
  function plan(chaos: PodChaos, target: TargetRecord, deadlineInMs: number): Planned | TargetRecord {
    const pod = view.pod(target.namespace, target.name);
    if (pod === undefined || pod.metadata.uid !== target.uid) return { ...target, phase: 'Failed', message: 'the pod is gone' };
    const { containers, problem } = chosenContainers(chaos, pod);
    if (problem !== undefined) return { ...target, phase: 'Failed', message: problem };
    const fault = { kind: chaos.spec.action === 'pod-failure' ? 'container-freeze' as const : 'container-kill' as const };
    return {
      target: { ...target, ...(target.node ? {} : pod.spec?.nodeName ? { node: pod.spec.nodeName } : {}) },
      containers,
      injections: containers.map((c) => ({
        id: injectionId(chaos, target, c.name),
        target: { containerId: c.containerId, podUid: target.uid, containerName: c.name },
        fault,
        ...(fault.kind === 'container-freeze' ? { deadlineInMs } : {}),
      })),
    };
  }

  function applied(chaos: PodChaos, planned: Planned, items: ReadonlyMap<string, ItemOutcome>, held: boolean): TargetRecord {
    const outcomes = planned.injections.map((i) => items.get(i.id));
    // A held target whose container restarted since has a new container ID, so its spec no longer matches what the
    // daemon holds under the same ID: the daemon follows restarts itself, and the fault is still in force.
    const failed = outcomes.filter((o) => o === undefined || (!o.ok && !(held && o.code === 'conflict')));
    if (failed.length > 0) {
      return { ...planned.target, phase: 'Failed', message: failed.map((o) => (o ? `${o.id.split('/').at(-1) ?? ''}: ${o.code}: ${o.message}` : 'no answer')).join('; ').slice(0, 1000) };
    }
    if (held) return planned.target;
    const names = planned.containers.map((c) => c.name);
    return {
      ...planned.target,
      phase: 'Injected',
      injectedAt: formatTime(now().getTime()),
      containers: names,
      restartCounts: Object.fromEntries(planned.containers.map((c) => [c.name, c.restartCount])),
      message: chaos.spec.action === 'pod-failure' ? `froze ${names.join(', ')}` : `killed ${names.join(', ')}`,
    };
  }

  async function apply(chaos: PodChaos, pending: readonly TargetRecord[], held: readonly TargetRecord[], remainingMs: number | undefined): Promise<TargetRecord[]> {
    const deadlineInMs = daemonDeadlineMs(remainingMs ?? 0);
    const heldUids = new Set(held.map((t) => t.uid));
    const results = new Map<string, TargetRecord>();
    const byNode = new Map<string, Planned[]>();
    for (const target of [...held, ...pending]) {
      const planned = plan(chaos, target, deadlineInMs);
      if (!('injections' in planned)) {
        if (!heldUids.has(target.uid)) results.set(target.uid, planned);
        continue;
      }
      const node = planned.target.node ?? '';
      byNode.set(node, [...(byNode.get(node) ?? []), planned]);
    }
    // Every node that is to act must be able to, before any node acts: nothing is half-applied for want of a fault kind.
    const kind = chaos.spec.action === 'pod-failure' ? 'container-freeze' : 'container-kill';
    if (pending.length > 0) {
      const refusals = (await mapLimit([...byNode.keys()], 16, (node) => fleet.refusal(node, kind).catch((error: unknown) => {
        if (error instanceof DaemonUnavailableError) return error.message;
        throw error;
      }))).filter((r) => r !== undefined);
      if (refusals.length > 0) {
        const message = `nothing applied: ${refusals.slice(0, 3).join('; ')}`;
        return pending.map((t) => results.get(t.uid) ?? { ...t, phase: 'Failed', message });
      }
    }
    await mapLimit([...byNode], 16, async ([node, planned]) => {
      let desired = planned;
      for (let pass = 0; pass < 2; pass++) {
        let items: Map<string, ItemOutcome>;
        try {
          const sync = await fleet.sync(node, experimentOf(chaos), desired.flatMap((p) => p.injections));
          items = new Map(sync.items.map((i) => [i.id, i]));
        } catch (error) {
          if (!(error instanceof DaemonUnavailableError)) throw error;
          for (const p of desired) if (!heldUids.has(p.target.uid)) results.set(p.target.uid, { ...p.target, phase: 'Failed', message: error.message });
          return;
        }
        const records = desired.map((p) => applied(chaos, p, items, heldUids.has(p.target.uid)));
        for (const record of records) if (!heldUids.has(record.uid)) results.set(record.uid, record);
        // A target that failed on some of its containers must not stay half-faulted: state the set again without it.
        const kept = desired.filter((_, i) => records[i]?.phase !== 'Failed');
        if (kept.length === desired.length) return;
        desired = kept;
      }
    });
    return pending.map((t) => results.get(t.uid) ?? { ...t, phase: 'Failed', message: 'not applied' });
  }

  /** Clears the experiment on every node with a daemon, and on every node a target ran on. */
  function recover(chaos: PodChaos, targets: readonly TargetRecord[]): Promise<RecoverOutcome> {
    const verb = chaos.spec.action === 'pod-failure' ? 'thawed' : 'cleared';
    return clearExperiment(options, experimentOf(chaos), targets, (t) => `${verb} ${(t.containers ?? []).join(', ')}`);
  }

  /** container-kill: recovered once every killed container restarted (its restartCount rose) and is ready. */
  function observe(chaos: PodChaos, targets: readonly TargetRecord[]): TargetRecord[] {
    if (chaos.spec.action === 'pod-failure') return [...targets];
    return targets.map((target) => {
      if (target.phase !== 'Injected') return target;
      const pod = view.pod(target.namespace, target.name);
      if (pod === undefined || pod.metadata.uid !== target.uid) return { ...target, phase: 'Recovered', recoveredAt: formatTime(now().getTime()), message: 'the pod is gone' };
      const live = containersOf(pod);
      const before = target.restartCounts ?? {};
      const rows = (target.containers ?? []).map((name) => ({ name, before: before[name] ?? 0, now: live.find((c) => c.name === name) }));
      const proof = rows.map((r) => `${r.name} restartCount ${r.before} → ${r.now?.restartCount ?? '?'}`).join(', ');
      if (rows.every((r) => r.now !== undefined && r.now.restartCount > r.before && r.now.ready)) {
        return { ...target, phase: 'Recovered', recoveredAt: formatTime(now().getTime()), message: `restarted and ready: ${proof}` };
      }
      return { ...target, message: `killed; waiting for the restart: ${proof}` };
    });
  }

  return (action) => ({
    holds: action === 'pod-failure',
    injectedReason: action === 'pod-failure' ? 'Frozen' : 'Killed',
    apply: (chaos, pending, held, context) => apply(chaos, pending, held, context.remainingMs),
    recover,
    observe,
  });
}
