/**
 * node-network (NodeChaos): the network faults of `network` (net/), put in the node's own network namespace rather
 * than a container's: the host's, which the daemon reaches as /proc/1/ns/net (it runs with hostPID). They hit the
 * node's own traffic and the pod traffic it forwards over its devices: by default the devices of its default routes
 * (engine.ts), with nftables forward chains beside output and input (plan.ts). `scope.exceptCidrs` keeps peers out of
 * every fault, e.g. the path from the kerris controller to this daemon, so the daemon keeps hearing its lease while
 * its node is partitioned, and reverts by itself when it stops hearing it.
 *
 * The namespace lives as long as the node, so nothing about it is followed: its record names pid 1 and the netns
 * inode, is reconciled across daemon restarts like a container's network fault, and is reverted when its lease or
 * deadline lapses. A namespace that already holds kerris's tree (a NetworkChaos on a hostNetwork pod never gets
 * there: the target policy refuses it) is refused by the planner, as in a container.
 */
import { stat } from 'node:fs/promises';
import { DaemonError } from '../errors.ts';
import type { NetworkEngine } from '../net/engine.ts';
import { processNow } from '../stopped.ts';
import type { FaultSpec, RawFault } from '../spec.ts';
import type { NodeNetns, NodeNetnsModule } from './module.ts';
import { networkPlanError, validatedNetworkFault } from './network.ts';

/** The host's init: under hostPID, /proc/1 is the node's, and its netns is the node's own. */
const NODE_NETNS_HOLDER = 1;

export interface NodeNetworkOptions {
  engine: NetworkEngine;
  node: string;
}

export function nodeNetwork(options: NodeNetworkOptions): NodeNetnsModule {
  const { engine, node } = options;
  const path = `/proc/${NODE_NETNS_HOLDER}/ns/net`;
  return {
    kind: 'node-network',
    scope: 'node',
    on: 'netns',
    normalize(raw: RawFault): FaultSpec {
      if (raw.kind !== 'node-network') throw new DaemonError('invalid', `the node-network module got a ${raw.kind} fault`);
      if (raw.faults.length === 0) throw new DaemonError('invalid', 'a node-network injection needs at least one fault');
      return { kind: 'node-network', faults: raw.faults.map((f, i) => validatedNetworkFault(engine, f, i)) };
    },
    async locate(): Promise<NodeNetns> {
      const [holder, inode] = await Promise.all([processNow(NODE_NETNS_HOLDER), stat(path).then((s) => s.ino, () => undefined)]);
      if (holder === undefined || inode === undefined) {
        throw new DaemonError('unavailable', `node-network: the daemon cannot read node ${node}'s network namespace (${path}); it needs hostPID and CAP_SYS_PTRACE`);
      }
      return { path, holder: { name: holder.comm, pid: NODE_NETNS_HOLDER, startTime: holder.startTime }, inode };
    },
    async prepare(fault, netns) {
      if (fault.kind !== 'node-network') throw new DaemonError('invalid', `the node-network module got a ${fault.kind} fault`);
      try {
        return { kind: 'plan', plan: await engine.planNode(netns.path, fault.faults) };
      } catch (error) {
        throw networkPlanError(error);
      }
    },
    evidence: async (plan, target, netnsInode) => ({ network: await engine.evidence(target, plan, netnsInode) }),
  };
}
