/**
 * NodeChaos `kubelet-stop`, held by the node daemons: each target node's daemon stops the node's kubelet until the
 * injection is taken away (or its deadline passes, its lease lapses, or the daemon dies: daemon.proto KubeletStop).
 * The node goes NotReady on its own; recovery is done once it is Ready again. A daemon that let go (it restarted)
 * stops the kubelet again for the rest of the duration.
 */
import type { Fault } from '../engine/experiment.ts';
import type { NodeChaos } from '../../api/generated/types.ts';
import { daemonNodeFault, type DaemonNodeFaultOptions } from './daemon-node-fault.ts';

export function kubeletStopFault(options: DaemonNodeFaultOptions): Fault<NodeChaos> {
  return daemonNodeFault(options, {
    kind: 'kubelet-stop',
    idSuffix: 'kubelet',
    injectedReason: 'KubeletStopped',
    fault: () => ({ kind: 'kubelet-stop' }),
    injected: (node) => ({ message: `the kubelet is stopped by node ${node}'s kerris daemon`, record: { kubeletStopped: true } }),
    undone: 'the kubelet is continued',
    notApplied: 'the kubelet was not stopped',
    noLongerHeld: 'the kubelet is no longer held stopped',
    restate: 'again',
    evidence: false,
  });
}
