/**
 * NodeChaos `node-reboot`: each target node's daemon reboots the node once. A one-time action, not a held fault:
 * nothing is undone, and the target is recovered once the node reports a new boot and is Ready again.
 *
 * Never twice: the node's boot ID is recorded when the node is picked (kind.ts, before any request is sent) and every
 * request carries it; the daemon reboots only a node still on that boot. A request repeated after a lost answer, a
 * controller restart or a daemon restart therefore finds the node rebooted already and does nothing.
 */
import type { NodeChaos } from '../../api/generated/types.ts';
import { formatTime } from '../../kube/time.ts';
import type { Store } from '../../runtime/store.ts';
import { mapLimit } from '../../util/concurrency.ts';
import type { Fault, TargetRecord } from '../engine/experiment.ts';
import { clearExperiment } from '../daemons/clear.ts';
import { experimentOf } from '../daemons/injection.ts';
import { DaemonUnavailableError } from '../daemons/fleet.ts';
import { MESSAGE_MAX, notDone, type DaemonNodeFaultOptions } from './daemon-node-fault.ts';
import { isNodeReady, readinessSeen, type NodeObject } from './node-changes.ts';

/** How long after the request a node may take to report a new boot before its target fails. */
export const REBOOT_WAIT_MS = 10 * 60_000;

/** The boot the node runs now, as its kubelet reports it. */
export const bootIdOf = (node: NodeObject | undefined): string | undefined => node?.status?.nodeInfo?.bootID || undefined;

const injectionId = (chaos: NodeChaos, nodeUid: string): string => `${experimentOf(chaos)}/${nodeUid}/reboot`;

export function nodeRebootFault(options: DaemonNodeFaultOptions & { nodes: Store<NodeObject> }): Fault<NodeChaos> {
  const { fleet, nodes, now } = options;
  const at = () => formatTime(now().getTime());

  async function request(chaos: NodeChaos, target: TargetRecord): Promise<TargetRecord> {
    const node = target.name;
    const bootId = target.nodeFault?.bootIdBefore;
    if (bootId === undefined) return { ...target, phase: 'Failed', message: 'nothing done: the node reported no boot ID when it was picked, so a reboot could not be told from a repeat' };
    try {
      const refusal = await fleet.refusal(node, 'node-reboot');
      if (refusal !== undefined) return { ...target, phase: 'Failed', message: `nothing done: ${refusal}`.slice(0, MESSAGE_MAX) };
      const id = injectionId(chaos, target.uid);
      const why = notDone(await fleet.sync(node, experimentOf(chaos), [{ id, target: { node: true }, fault: { kind: 'node-reboot', bootId } }]), id);
      if (why !== undefined) return { ...target, phase: 'Failed', message: `the node was not rebooted: ${why}`.slice(0, MESSAGE_MAX) };
    } catch (error) {
      if (!(error instanceof DaemonUnavailableError)) throw error;
      // Asked again later with the same boot ID: a daemon that did reboot the node is on another boot by then.
      return { ...target, phase: 'Selected', message: `waiting: ${error.message}` };
    }
    return { ...target, node, phase: 'Injected', injectedAt: at(), message: `node ${node}'s kerris daemon reboots it (boot ${bootId})` };
  }

  /** A requested node: rebooted (a new boot ID) and Ready again, still on its way, or not rebooted in time. */
  function assess(target: TargetRecord): TargetRecord {
    if (target.phase !== 'Injected') return target;
    const node = nodes.get(target.name);
    const record = { ...target.nodeFault, ...readinessSeen(node, target.nodeFault ?? {}, at()) };
    const before = record.bootIdBefore;
    const current = bootIdOf(node);
    if (node === undefined) return { ...target, nodeFault: record, phase: 'Failed', message: 'the node is gone' };
    if (current === undefined || current === before) {
      if (now().getTime() - Date.parse(target.injectedAt ?? '') < REBOOT_WAIT_MS) return { ...target, nodeFault: record };
      return { ...target, nodeFault: record, phase: 'Failed', message: `the node did not reboot within ${REBOOT_WAIT_MS / 60_000} minutes of the request (still boot ${before ?? '?'})` };
    }
    const rebooted = { ...record, bootIdAfter: current, rebootedAt: record.rebootedAt ?? at() };
    if (isNodeReady(node) !== true) return { ...target, nodeFault: rebooted, message: `rebooted (boot ${current}); waiting for the node to be Ready again` };
    return { ...target, nodeFault: rebooted, phase: 'Recovered', recoveredAt: at(), message: `rebooted (boot ${before ?? '?'} → ${current}) and Ready again` };
  }

  return {
    holds: false,
    injectedReason: 'Rebooting',
    apply: (chaos, pending) => mapLimit(pending, 16, (t) => request(chaos, t)),
    // Nothing is held; this forgets the daemons' records of the requests.
    recover: (chaos, targets) => clearExperiment(options, experimentOf(chaos), targets.map((t) => ({ ...t, node: t.node ?? t.name })), () => 'the daemon\'s record of the reboot is cleared'),
    observe: (_chaos, targets) => targets.map(assess),
  };
}
