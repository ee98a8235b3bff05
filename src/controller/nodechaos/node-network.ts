/**
 * NodeChaos `node-network`, held by the node daemons: each target node's daemon puts `spec.network` on the node's
 * own interfaces (its network namespace: the node's traffic and the pod traffic it forwards alike). A partition
 * that does not keep the daemon's lease path cuts the daemon off from the controller too: its lease lapses and it
 * takes the fault away by itself, and the controller then records the node as ended by the node, never putting the
 * fault back (that would cut it off again and again). With `keepDaemonLease` the controller's pods are excepted, so
 * the daemon keeps its lease and the fault holds for all of `duration`.
 */
import type { NodeChaos, NodeNetworkSpec } from '../../api/generated/types.ts';
import type { NetworkFaultInput } from '../../daemon/client.ts';
import type { Fault } from '../engine/experiment.ts';
import { DIRECTIONS, delayActions, lossAction, type Action } from '../networkchaos/plan.ts';
import { daemonNodeFault, type DaemonNodeFaultOptions } from './daemon-node-fault.ts';

export interface NodeNetworkOptions extends DaemonNodeFaultOptions {
  /** The addresses of the kerris controller's pods now (every replica, leader or not), once each, sorted: the daemons' lease path. */
  controllerAddresses: () => string[];
}

const INJECTED_REASONS: Record<NodeNetworkSpec['action'], string> = { delay: 'NodeDelayed', loss: 'NodeDropping', partition: 'NodePartitioned' };

function actions(network: NodeNetworkSpec): Action[] {
  switch (network.action) {
    case 'partition': return [{ case: 'partition', value: {} }];
    case 'delay': return network.delay === undefined ? [] : delayActions(network.delay);
    case 'loss': return network.loss === undefined ? [] : [lossAction(network.loss)];
  }
}

/** The daemon's faults for `network`, excepting `except` (the controller's pods, with keepDaemonLease). */
export function nodeNetworkFaults(network: NodeNetworkSpec, except: readonly string[]): NetworkFaultInput[] {
  const scope = {
    direction: DIRECTIONS[network.direction ?? 'both'],
    ...(network.device === undefined ? {} : { device: network.device }),
    cidrs: [...(network.externalTargets ?? [])],
    exceptCidrs: [...except],
  };
  return actions(network).map((action) => ({ scope, action }));
}

const DIRECTION_WORDS: Record<NonNullable<NodeNetworkSpec['direction']>, string> = { to: 'outgoing', from: 'incoming', both: 'both ways' };

const percent = (value: string): string => (value.endsWith('%') ? value : `${value}%`);

/** The fault as status and Events say it, e.g. `partition, both ways, on the default-route interfaces, with every peer`. */
export function describeNodeNetwork(network: NodeNetworkSpec, except: readonly string[]): string {
  const what = network.action === 'delay' ? `delay ${network.delay?.latency ?? ''}${network.delay?.jitter ? ` ± ${network.delay.jitter}` : ''}`
    : network.action === 'loss' ? `loss ${percent(network.loss?.loss ?? '')}` : 'partition';
  const peers = network.externalTargets === undefined || network.externalTargets.length === 0 ? 'every peer' : network.externalTargets.join(', ');
  const kept = network.keepDaemonLease === true ? `, except the kerris controller's pods (${except.join(', ')})` : '';
  return `${what}, ${DIRECTION_WORDS[network.direction ?? 'both']}, on ${network.device ?? 'the default-route interfaces'}, with ${peers}${kept}`;
}

export function nodeNetworkFault(options: NodeNetworkOptions, chaos: NodeChaos): Fault<NodeChaos> {
  const network = chaos.spec.network;
  /** The exceptions, fixed at injection (a node-network fault is never stated again). */
  const except = (): string[] | { refusal: string } => {
    if (network?.keepDaemonLease !== true) return [];
    const addresses = options.controllerAddresses();
    return addresses.length > 0 ? addresses : { refusal: 'network.keepDaemonLease: no kerris controller pod has an address to keep reachable' };
  };
  return daemonNodeFault(options, {
    kind: 'node-network',
    idSuffix: 'network',
    injectedReason: network === undefined ? 'NodeDegraded' : INJECTED_REASONS[network.action],
    fault: () => {
      if (network === undefined) return { refusal: 'spec.network is missing' };
      const kept = except();
      return 'refusal' in kept ? kept : { kind: 'node-network', faults: nodeNetworkFaults(network, kept) };
    },
    // Said from the faults sent, so status names exactly the exceptions the node got.
    injected: (node, sent) => {
      const kept = sent.kind === 'node-network' ? sent.faults[0]?.scope?.exceptCidrs ?? [] : [];
      const summary = network === undefined ? '' : describeNodeNetwork(network, kept);
      return { message: `node ${node}'s kerris daemon holds ${summary}`, record: { network: summary } };
    },
    undone: 'the network fault is taken away',
    notApplied: 'the network fault was not put on the node',
    noLongerHeld: 'the network fault is no longer held',
    // A partition without keepDaemonLease ends when the daemon's lease lapses; the same goes for any node fault the daemon let go.
    restate: 'once',
    evidence: true,
    unanswered: () => (network?.action === 'partition' && network.keepDaemonLease !== true
      ? 'the partition cut the node\'s kerris daemon off before its answer came back, as it does without network.keepDaemonLease: the daemon takes it away by itself when its lease lapses'
      : undefined),
  });
}
