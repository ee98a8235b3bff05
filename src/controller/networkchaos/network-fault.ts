/**
 * NetworkChaos's fault, held by the node daemons: each target pod gets one network injection with every fault of
 * the spec, scoped to the peers as they are now. For each node the controller states the whole set of the
 * experiment's injections there (one Sync), so a repeat is a no-op, a target that is gone loses its injection,
 * and a change of peers is a new injection that replaces the old one (its ID carries the faults' hash).
 */
import { createHash } from 'node:crypto';
import type { NetworkChaos } from '../../api/generated/types.ts';
import type { InjectionInput } from '../../daemon/client.ts';
import { formatTime } from '../../kube/time.ts';
import { mapLimit } from '../../util/concurrency.ts';
import type { ApplyContext, Fault, TargetRecord } from '../engine/experiment.ts';
import { clearExperiment } from '../daemons/clear.ts';
import { withNetworkEvidence } from '../daemons/network-evidence.ts';
import { daemonDeadlineMs, experimentOf, runtimeId } from '../daemons/injection.ts';
import { DaemonUnavailableError, type DaemonFleet, type ItemOutcome } from '../daemons/fleet.ts';
import type { ClusterView } from '../targets/cluster-view.ts';
import type { Resolver } from './external-targets.ts';
import { peersOf, type PeerReport } from './peers.ts';
import { expectedRtt, NetworkPlanError, networkFaults } from './plan.ts';
import { targetProbe, unmeasured, verdict, type ProbePlan, type Sample, type Verification } from './verify.ts';

export interface NetworkFaultOptions {
  fleet: DaemonFleet;
  view: ClusterView;
  resolve: Resolver;
  now: () => Date;
}

/**
 * With `spec.verify`, targets of one node probed at once: each probe is a process in the daemon's memory limit,
 * and the daemon runs two at a time anyway.
 */
const PROBES_PER_NODE = 2;

const INJECTED_REASONS: Record<NetworkChaos['spec']['action'], string> = {
  netem: 'Degraded', delay: 'Delayed', loss: 'Dropping', duplicate: 'Duplicating', corrupt: 'Corrupting', partition: 'Partitioned', bandwidth: 'Limited',
};


/** What the records say of the fault, for people. */
function describe(chaos: NetworkChaos, report: PeerReport): string {
  const { spec } = chaos;
  const peers = report.peers.cidrs === undefined ? 'all peers' : `${report.count} peer address(es)`;
  return `${spec.action} ${spec.direction ?? 'to'} ${peers}${spec.device ? ` on ${spec.device}` : ''}`;
}

/** The verdict of one target from what its probes came to. */
function verificationOf(chaos: NetworkChaos, probe: ProbePlan | string, before: Sample[] | string | undefined, during: Sample[] | string | undefined): Verification {
  if (typeof probe === 'string') return unmeasured(probe);
  if (typeof before === 'string') return unmeasured(`the probe before the fault failed: ${before}`);
  if (typeof during === 'string') return unmeasured(`the probe during the fault failed: ${during}`);
  if (before === undefined || during === undefined) return unmeasured('not probed');
  return verdict(chaos.spec, probe, before, during);
}

interface Planned {
  target: TargetRecord;
  injection: InjectionInput;
}

export function networkFault(options: NetworkFaultOptions): (action: NetworkChaos['spec']['action']) => Fault<NetworkChaos> {
  const { fleet, view, now } = options;

  /** The target's injection, or why it cannot have one. */
  function plan(chaos: NetworkChaos, target: TargetRecord, faults: InjectionInput['fault'], hash: string, deadlineInMs: number): Planned | string {
    const pod = view.pod(target.namespace, target.name);
    if (pod === undefined || pod.metadata.uid !== target.uid) return 'the pod is gone';
    if (pod.spec?.hostNetwork) return 'the pod uses its node\'s network namespace; kerris never faults a node\'s network through a pod';
    // Every container of a pod shares its network namespace: any running one leads the daemon there.
    const container = pod.status?.containerStatuses?.find((c) => runtimeId(c.containerID) !== '');
    if (container === undefined) return 'no container of the pod has started yet';
    return {
      target: { ...target, ...(target.node ? {} : pod.spec?.nodeName ? { node: pod.spec.nodeName } : {}) },
      injection: {
        id: `${experimentOf(chaos)}/${target.uid}/net-${hash}`,
        target: { containerId: runtimeId(container.containerID), podUid: target.uid, containerName: container.name },
        fault: faults,
        ...(deadlineInMs > 0 ? { deadlineInMs } : {}),
      },
    };
  }

  async function apply(chaos: NetworkChaos, pending: readonly TargetRecord[], held: readonly TargetRecord[], context: ApplyContext): Promise<TargetRecord[]> {
    const failAll = (message: string): TargetRecord[] => pending.map((t) => ({ ...t, phase: 'Failed', message }));
    const report = await peersOf(chaos, view, chaos.status?.seed ?? 0, options.resolve);
    const rtt = expectedRtt(chaos.spec);
    context.report({ network: { peers: report.count, resolved: report.resolved, ...(rtt ? { expectedRtt: rtt } : {}) } });
    // Peers that cannot be worked out now change nothing: held faults stay as they were, new targets wait.
    if (report.problem !== undefined) return failAll(`nothing applied: ${report.problem}`);
    let faults;
    try {
      faults = networkFaults(chaos.spec, report.peers);
    } catch (error) {
      if (error instanceof NetworkPlanError) return failAll(`nothing applied: ${error.message}`);
      throw error;
    }
    if (faults.length === 0) return failAll('nothing applied: target matches no pod with an address now, and no externalTargets are given');
    const fault = { kind: 'network' as const, faults };
    const hash = createHash('sha256').update(JSON.stringify(faults)).digest('hex').slice(0, 12);
    // Without a duration there is no deadline; the lease still ends the fault if the controller goes away.
    const deadlineInMs = context.remainingMs === undefined ? 0 : daemonDeadlineMs(context.remainingMs);
    const heldUids = new Set(held.map((t) => t.uid));
    const results = new Map<string, TargetRecord>();
    const byNode = new Map<string, Planned[]>();
    // Nodes where a target of this experiment ever ran: a target gone from one still gets its injection taken away.
    for (const record of chaos.status?.targets ?? []) if (record.node !== undefined) byNode.set(record.node, []);
    for (const target of [...held, ...pending]) {
      const planned = plan(chaos, target, fault, hash, deadlineInMs);
      if (typeof planned === 'string') {
        if (!heldUids.has(target.uid)) results.set(target.uid, { ...target, phase: 'Failed', message: planned });
        continue;
      }
      const node = planned.target.node ?? '';
      byNode.set(node, [...(byNode.get(node) ?? []), planned]);
    }
    const summary = describe(chaos, report);
    const known = view.nodeLabels();
    const probe = chaos.spec.verify === true ? targetProbe(chaos.spec, report.peers) : undefined;
    await mapLimit([...byNode].filter(([node]) => known.has(node)), 16, async ([node, planned]) => {
      const fresh = planned.filter((p) => !heldUids.has(p.target.uid));
      // The baseline is measured just before the fault lands, the second measurement just after the Sync put it in.
      const baselines = typeof probe === 'object' ? await measure(node, fresh, probe) : new Map<string, Sample[] | string>();
      let items: Map<string, ItemOutcome>;
      try {
        const sync = await fleet.sync(node, experimentOf(chaos), planned.map((p) => p.injection));
        items = new Map(sync.items.map((i) => [i.id, i]));
      } catch (error) {
        if (!(error instanceof DaemonUnavailableError)) throw error;
        // A daemon that is starting or restarting is not a refusal: the targets stay Selected and are tried again.
        for (const p of fresh) results.set(p.target.uid, { ...p.target, phase: 'Selected', message: `waiting: ${error.message}` });
        return;
      }
      const injected = fresh.filter((p) => items.get(p.injection.id)?.ok === true);
      const during = typeof probe === 'object' ? await measure(node, injected, probe) : new Map<string, Sample[] | string>();
      for (const p of fresh) {
        const outcome = items.get(p.injection.id);
        const verification = probe === undefined ? undefined : verificationOf(chaos, probe, baselines.get(p.target.uid), during.get(p.target.uid));
        results.set(p.target.uid, outcome?.ok
          ? { ...p.target, phase: 'Injected', injectedAt: formatTime(now().getTime()), message: summary, ...(verification ? { verification } : {}) }
          : { ...p.target, phase: 'Failed', message: outcome ? `${outcome.code}: ${outcome.message}` : 'no answer' });
      }
    });
    return pending.map((t) => results.get(t.uid) ?? { ...t, phase: 'Failed', message: 'not applied: the pod has no node' });
  }

  /** Each target's probe results, by pod UID, or why its probe failed. */
  async function measure(node: string, planned: readonly Planned[], probe: ProbePlan): Promise<Map<string, Sample[] | string>> {
    const found = new Map<string, Sample[] | string>();
    await mapLimit(planned, PROBES_PER_NODE, async (p) => {
      try {
        found.set(p.target.uid, await fleet.probe(node, { target: p.injection.target, addresses: probe.addresses, port: probe.port, count: probe.count, timeoutMs: probe.timeoutMs }));
      } catch (error) {
        // A probe that fails leaves the target Unmeasured; the fault itself goes on as usual.
        if (!(error instanceof DaemonUnavailableError)) throw error;
        found.set(p.target.uid, error.message);
      }
    });
    return found;
  }

  return (action) => ({
    holds: true,
    injectedReason: INJECTED_REASONS[action],
    apply,
    recover: (chaos, targets) => clearExperiment(options, experimentOf(chaos), targets, () => 'the fault is taken away'),
    observe: (_chaos, targets) => [...targets],
    evidence: (chaos, held) => withNetworkEvidence(fleet, experimentOf(chaos), held, now().getTime()),
  });
}
