/** NodeChaos: whole nodes, selected by name or labels and a mode: drained (cordon and evict) or tainted for a while. */
import { chaosStatus, experimentColumns } from './chaos-status.ts';
import { guardChecks, guardSemantics, guardsField } from './guards.ts';
import { dnsSubdomain, duration, immutableFields, maxSeed, qualifiedNameMaxLength, qualifiedNamePattern } from './common.ts';
import { delay, device, direction, loss } from './networkchaos.ts';
import type { KindDefinition } from './resource.ts';
import {
  array, boolean, describedAs, enumeration, integer, message, messageExpression, object, optional, required, string,
  type Field, type ObjectSchema,
} from './schema.ts';
import { labelMap, modeRules, selectorMode } from './selector.ts';

const action = enumeration(
  'NodeChaosAction',
  'What happens to each target node: `node-drain` cordons it and evicts its pods through the Eviction API (PodDisruptionBudgets are honoured), `node-taint` adds `taint`, `kubelet-stop` has the node\'s kerris daemon stop its kubelet (SIGSTOP), so the node goes NotReady, and continue it (SIGCONT) at the end, `node-network` has the daemon delay, lose or cut off the node\'s own traffic (`network`), `node-reboot` has the daemon reboot the node once, on nodes that consent to it. Each but node-reboot lasts `duration` and is undone exactly at the end; a reboot is not undone, and `duration` is how long the experiment lasts.',
  ['node-drain', 'node-taint', 'kubelet-stop', 'node-network', 'node-reboot'],
);

const nodeSelectorSpec: ObjectSchema = object(
  'NodeSelectorSpec',
  'Which nodes are candidates: those named in `nodes`, and those whose labels match `nodeSelectors` (both given: both must match). At least one of them is required, so no NodeChaos picks among every node by default.',
  {
    nodes: optional(array('Nodes by name.', dnsSubdomain('A node name.'), { maxItems: 128, listType: 'set' })),
    nodeSelectors: optional(labelMap('Labels a node must carry, with these values.', 'nodeSelectors')),
  },
  [{
    rule: '(has(self.nodes) && size(self.nodes) > 0) || (has(self.nodeSelectors) && size(self.nodeSelectors) > 0)',
    message: message('selector must name nodes or give nodeSelectors; a NodeChaos never picks among every node by default'),
    reason: 'FieldValueRequired',
  }],
);

const taintEffect = enumeration('TaintEffect', 'A taint effect, as in node.spec.taints.', ['NoSchedule', 'PreferNoSchedule', 'NoExecute']);

const taint = object('NodeChaosTaint', 'The taint `node-taint` adds to each target node for `duration`.', {
  key: required(string('The taint key, a qualified name such as `example.com/chaos`.', { pattern: qualifiedNamePattern, minLength: 1, maxLength: qualifiedNameMaxLength })),
  value: optional(string('The taint value, a label value.', { maxLength: 63, pattern: '^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$' })),
  effect: required(taintEffect),
});

/** At most this many peers scope a node-network fault: the daemon scopes a fault by at most 64 blocks, its exceptions by 16. */
const MAX_NODE_PEERS = 16;

const nodeNetworkAction = enumeration(
  'NodeNetworkAction',
  'What happens to the node\'s traffic: `delay` adds `delay` (netem), `loss` drops `loss` of it at random, `partition` drops all of it.',
  ['delay', 'loss', 'partition'],
);

const peerAddress = string('An IPv4 or IPv6 address (`10.0.0.5`) or CIDR (`10.0.0.0/8`).', {
  maxLength: 43,
  rules: [
    { rule: 'isIP(self) || isCIDR(self)', message: messageExpression(`'must be an IPv4 or IPv6 address or CIDR, got "' + self + '"'`, 'must be an IPv4 or IPv6 address or CIDR, got "<value>"') },
    { rule: '!isCIDR(self) || cidr(self).masked() == cidr(self)', message: messageExpression(`'"' + self + '" has host bits set beyond its prefix; clear them, e.g. 10.0.0.0/8 rather than 10.0.0.1/8'`, '"<value>" has host bits set beyond its prefix; clear them') },
  ],
});

const nodeNetwork = object(
  'NodeNetworkSpec',
  'The fault `node-network` puts on each target node\'s own interfaces, in the node\'s network namespace: the node\'s own traffic (kubelet, host-network pods) and the pod traffic it forwards through them alike.',
  {
    action: required(nodeNetworkAction),
    direction: optional(describedAs(direction, 'Which packets are hit: `to` what the node sends out of the device, `from` what it receives on it, `both` both. Omitted means `both`: a node cut off is cut off both ways.')),
    delay: optional(delay),
    loss: optional(loss),
    device: optional(device('The node\'s interface to act on, e.g. `eth0`. Omitted: the interfaces of the node\'s default routes (never pod veths or the CNI bridge).')),
    externalTargets: optional(array(`Only traffic with these peers is hit, at most ${MAX_NODE_PEERS} addresses or CIDRs (no host names or ports: the node\'s own peers are infrastructure, named by address). Omitted: traffic with every peer.`, peerAddress, { maxItems: MAX_NODE_PEERS, listType: 'set' })),
    keepDaemonLease: optional(boolean('Leaves the path between the kerris controller\'s pods and the node\'s daemon untouched, so the daemon keeps hearing its lease and the fault is held for all of `duration`. Without it a `partition` also cuts the daemon off: its lease lapses (`--daemon-lease-ttl`, 10 s by default) and it takes the fault away by itself, which ends the fault on that node early.')),
  },
  [
    { rule: "self.action != 'delay' || has(self.delay)", message: message('delay is required when network.action is delay'), fieldPath: '.delay', reason: 'FieldValueRequired' },
    { rule: "self.action != 'loss' || has(self.loss)", message: message('loss is required when network.action is loss'), fieldPath: '.loss', reason: 'FieldValueRequired' },
    { rule: "self.action == 'delay' || !has(self.delay)", message: message('delay applies only to network.action delay; remove it'), fieldPath: '.delay', reason: 'FieldValueForbidden' },
    { rule: "self.action == 'loss' || !has(self.loss)", message: message('loss applies only to network.action loss; remove it'), fieldPath: '.loss', reason: 'FieldValueForbidden' },
  ],
);

const specFields: Readonly<Record<string, Field>> = {
  action: required(action),
  selector: required(nodeSelectorSpec),
  mode: required(describedAs(selectorMode, 'How many of the candidate nodes become targets: `one`, `all`, `fixed` (`value` nodes), `fixed-percent` (`value` percent, rounded up), `random-max-percent` (a random share from 1 to `value` percent, rounded up). Picks are random; `seed` makes them repeatable.')),
  value: optional(string('How many to pick: a node count for `fixed`, a percentage from 1 to 100 for `fixed-percent` and `random-max-percent`. A string, as in Chaos Mesh. Not used with `one` and `all`.', { maxLength: 8 })),
  taint: optional(taint),
  network: optional(nodeNetwork),
  allowControllerNode: optional(boolean('Allows a target to be a node the kerris controller needs: the one node that runs every Ready controller replica. Without it (and without the controller\'s `--allow-controller-node`) such a node is never a target.')),
  duration: required(duration('How long each node stays drained, tainted, with its kubelet stopped or its network degraded, as a Go duration (`30s`, `5m`); for `node-reboot`, how long the experiment lasts (it also waits for the node to be back). Counted from injection; time spent paused does not count. Required, so that every node fault ends on its own.')),
  seed: optional(integer(`Seed for the random pick of targets, 0 to ${maxSeed}. When omitted the controller chooses one and reports it in status.seed.`, { format: 'int64', minimum: 0, maximum: maxSeed })),
  paused: optional(boolean('Pauses the experiment: every node is uncordoned or untainted, and nothing new is done until it is set back to false. The only spec field that may change after creation.')),
  dryRun: optional(boolean('Selects and reports the target nodes in status without touching them.')),
  guards: guardsField,
};

const nodeChaosSpec: ObjectSchema = object(
  'NodeChaosSpec',
  'What a NodeChaos does and to which nodes. Fixed at creation except `paused`.',
  specFields,
  [
    ...modeRules('nodes'),
    {
      rule: "self.action != 'node-taint' || has(self.taint)",
      message: message('taint is required when action is node-taint'),
      fieldPath: '.taint',
      reason: 'FieldValueRequired',
    },
    {
      rule: "self.action == 'node-taint' || !has(self.taint)",
      message: messageExpression("'taint applies only to action node-taint; remove it for ' + self.action", 'taint applies only to action node-taint; remove it for <action>'),
      fieldPath: '.taint',
      reason: 'FieldValueForbidden',
    },
    {
      rule: "self.action != 'node-network' || has(self.network)",
      message: message('network is required when action is node-network'),
      fieldPath: '.network',
      reason: 'FieldValueRequired',
    },
    {
      rule: "self.action == 'node-network' || !has(self.network)",
      message: messageExpression("'network applies only to action node-network; remove it for ' + self.action", 'network applies only to action node-network; remove it for <action>'),
      fieldPath: '.network',
      reason: 'FieldValueForbidden',
    },
    ...immutableFields(specFields, ['paused'], 'spec'),
  ],
);

export const nodeChaos: KindDefinition = {
  kind: 'NodeChaos',
  plural: 'nodechaos',
  singular: 'nodechaos',
  shortNames: ['ndchaos'],
  categories: ['chaos', 'kerris'],
  description: 'NodeChaos drains or taints whole nodes, stops their kubelet, degrades their network or reboots them, picked by name or labels and a mode, and undoes exactly what it did.',
  spec: nodeChaosSpec,
  status: chaosStatus,
  printerColumns: experimentColumns([
    { name: 'Action', type: 'string', jsonPath: '.spec.action', description: 'what happens to each node' },
    { name: 'Mode', type: 'string', jsonPath: '.spec.mode', description: 'how nodes are picked', priority: 1 },
  ], { targets: 'nodes', injected: 'how many nodes are drained, tainted, stopped or degraded now' }),
  checks: guardChecks,
  // Cordoning and tainting are patches of the node; a drain evicts pods in whichever namespaces run there.
  requesterAccess: [
    { verb: 'patch', group: '', resource: 'nodes', namespacesOf: 'cluster' },
    { verb: 'create', group: '', resource: 'pods', subresource: 'eviction', namespacesOf: 'cluster' },
    { verb: 'list', group: '', resource: 'nodes', namespacesOf: 'cluster' },
    // Stopping a kubelet makes its node NotReady: what writing the node's status does by hand.
    { verb: 'update', group: '', resource: 'nodes', subresource: 'status', namespacesOf: 'cluster', onlyWhen: { condition: (spec) => `${spec}.action == 'kubelet-stop'`, what: 'kubelet-stop' } },
    // Cutting a node off makes it NotReady too, and degrades every pod on it: the same by-hand equivalent.
    { verb: 'update', group: '', resource: 'nodes', subresource: 'status', namespacesOf: 'cluster', onlyWhen: { condition: (spec) => `${spec}.action == 'node-network'`, what: 'node-network' } },
    // A reboot makes the node NotReady and kills every container on it: what deleting its pods does by hand.
    { verb: 'update', group: '', resource: 'nodes', subresource: 'status', namespacesOf: 'cluster', onlyWhen: { condition: (spec) => `${spec}.action == 'node-reboot'`, what: 'node-reboot' } },
    { verb: 'delete', group: '', resource: 'pods', namespacesOf: 'cluster', onlyWhen: { condition: (spec) => `${spec}.action == 'node-reboot'`, what: 'node-reboot' } },
  ],
  semantics: [
    {
      title: 'Who may create one',
      body: `
A NodeChaos is namespaced like every chaos kind (its Events, guards and RBAC for the object itself live in a namespace), while the nodes it acts on are cluster-scoped. Creating one is allowed only if its creator may, cluster-wide, \`patch nodes\` (cordon, taint), \`create pods/eviction\` (a drain evicts pods in whatever namespaces run on the node) and \`list nodes\`: what \`kubectl drain\` and \`kubectl taint\` need. \`kubelet-stop\`, \`node-network\` and \`node-reboot\` also need \`update nodes/status\` cluster-wide: a stopped kubelet, a node cut off or rebooting makes its node NotReady, which is what writing the node's status does by hand (no Kubernetes permission names a process, an interface or a reboot on the node; this is the one whose effect is the same). \`node-reboot\` needs \`delete pods\` cluster-wide as well: a reboot kills every container on the node, whatever its namespace. The apiserver checks it at admission through the ValidatingAdmissionPolicy \`kerris-requester-access\`; a refusal reads \`you may not patch nodes cluster-wide, as this NodeChaos needs; kerris does only what its requester could do by hand\`. Before every action on a node the controller checks again that it still matches the selector and the protected rules below.`,
    },
    {
      title: 'Picking nodes, and the protected rules',
      body: `
The candidates are the nodes \`selector.nodes\` names and \`selector.nodeSelectors\` matches. \`mode\` and \`value\` pick among them with the seeded draw PodChaos uses (ordered by name, so the same seed over the same nodes picks the same ones).

Two rules protect the cluster, whatever the selector says; nothing is touched when they refuse:
- The node that runs every Ready replica of the kerris controller (the pods with the controller's labels in its namespace) is never a candidate: draining it would stop the component that undoes the fault. \`spec.allowControllerNode: true\` or the controller's \`--allow-controller-node\` lift it. When the replicas run on several nodes, a pick that takes all of them is refused (\`ControllerNodes\`).
- At most \`--max-node-share\` percent of the cluster's nodes (34 by default, never less than one node) may be targets of one experiment; a larger pick fails with \`TooManyNodes\`.

A refused node is named in the \`Selected\` condition and Event (\`node kerris-node runs every Ready kerris controller replica (kerris-system/kerris-controller-…); set spec.allowControllerNode: true to allow it\`); when nothing is left the experiment is \`Failed\` with reason \`ControllerNode\`.`,
    },
    {
      title: 'Actions and undo',
      body: `
- \`node-drain\` cordons the node (\`spec.unschedulable: true\`), then evicts every pod on it except DaemonSet pods, mirror (static) pods, pods already terminating and pods in the protected namespaces, through the Eviction API (\`policy/v1\`), so PodDisruptionBudgets are honoured: an eviction the budget refuses now (HTTP 429) is asked again at later passes (every few seconds, and when a pod in the namespace changes), never turned into a delete. \`targets[].nodeFault.evicted\` lists the pods evicted, with \`replacedBy\` and \`replacementNode\`: the new pod of the same controller and where it was scheduled; \`refusals\` counts the 429s met. At the end the node is uncordoned, unless it was already cordoned before (\`wasUnschedulable\`): it is left as it was found. Evicted pods are not brought back; their controllers already replaced them.
- \`node-taint\` adds \`taint\` to the node and at the end removes exactly that taint; every other taint stays. A node that already has a taint with the same key and effect is refused (its target \`Failed\`), since removing it at the end would take away a taint kerris did not add.

What kerris did is written on the node itself, in the same write that does it: the annotation \`chaos.kerris.dev/node-chaos\` names the experiment (its UID) and whether kerris cordoned the node or which taint it added. The undo reads it, restores exactly that and removes the annotation in one write guarded by the node's resourceVersion, so it can be repeated safely: after a controller restart, an abort, a pause or the object's deletion (the finalizer waits for it) the node is put back once. One NodeChaos holds a node at a time; a second one refuses that node.

- \`kubelet-stop\` asks the node's kerris daemon to stop the node's kubelet: the one host process named \`kubelet\` (the daemon's \`--kubelet-process\`, e.g. \`k3s\` on k3s), found through the host's PID namespace. The daemon journals the process (pid and start time) before it sends SIGSTOP, and its undo is SIGCONT to that very process (a recycled pid is never signalled). The node's containers keep running, but nothing on the node is managed: no probes, no restarts, no new pods, no status. After the controller manager's \`--node-monitor-grace-period\` (40–50 s by default) the node is NotReady and tainted \`node.kubernetes.io/unreachable\`; after that taint's toleration (300 s by default) its pods are evicted, so a \`duration\` under five minutes rehearses a hung kubelet without evictions, a longer one a lost node. The kubelet is continued at the end of \`duration\`, on abort, pause or deletion, when the daemon's lease lapses (it no longer hears the controller), at its own deadline, and by a guard process the daemon leaves beside it if the daemon itself dies: a stopped kubelet could not restart it. A daemon that restarts continues the kubelet and the controller stops it again while the experiment holds. Recovery completes once the node is Ready again (or 5 minutes after the kubelet was continued, said in the message, if it never is). The controller keeps using the node's daemon while the node is NotReady: the pods' readiness the node lifecycle controller then writes says nothing of the daemon.

- \`node-network\` asks each node's kerris daemon to put \`network\` (\`delay\`, \`loss\` or \`partition\`, optionally only with the peers \`externalTargets\` names) on the node's own interfaces: by default those of its default routes (never pod veths or the CNI bridge), or \`network.device\`. It acts in the node's network namespace, so it hits the node's own traffic (the kubelet's heartbeats, host-network pods) and the pod traffic the node forwards through those interfaces alike; \`direction\` is \`both\` unless set. The daemon journals the change before making it and its undo is exact (qdiscs, filters and the \`inet kerris\` table removed; nothing else is touched); a node whose namespace already holds kerris's tree or table (a NetworkChaos on a host-network pod) is refused. \`targets[].evidence\` carries the kernel's counters of the fault, as for NetworkChaos, and \`nodeFault.network\` says what was put on.
  - **The lease path.** The controller reaches each daemon over the network the fault may cut. A \`partition\` without \`network.keepDaemonLease\` cuts the daemon off too: it stops hearing its lease and, after \`--daemon-lease-ttl\` (10 s by default), takes the fault away by itself. The controller then finds the fault gone, records the target \`Recovered\` with \`nodeFault.endedByNode\`, and does not put it back (that would cut the node off again and again). So such a partition rehearses a short cut that heals itself; to hold a partition for all of \`duration\` (long enough for the node to go NotReady and its pods to be marked unready), set \`keepDaemonLease: true\`: the daemon then excepts the addresses of the kerris controller's pods (every replica's, fixed at injection) from the fault, in both directions, and keeps its lease. A controller pod started later (a rollout) is not excepted; the lease then lapses and the fault ends as above. The same is true of any node-network fault whose daemon let go (it restarted): it is not put back.
  - Recovery takes the fault away and, as for \`kubelet-stop\`, completes once the node is Ready again (at most 5 minutes later). A partition long enough (the controller manager's grace period) makes the node NotReady and tainted \`unreachable\`, with the same side effects as a stopped kubelet.

- \`node-reboot\` asks each node's kerris daemon to reboot the node, once. Only a node that consents is rebooted: the file \`/etc/kerris/allow-node-reboot\` on the node (the daemon's read-only \`node-config\` host path, the chart's \`daemon.hostPaths.nodeConfig\`); elsewhere the daemon does not offer \`node-reboot\` and the target fails naming the node, untouched. The controller records the node's boot ID (\`status.nodeInfo.bootID\`) when it picks it (\`nodeFault.bootIdBefore\`) and sends it with the request; the daemon reboots only while the node still runs that boot, so a request repeated after a lost answer, a controller restart or a daemon restart never reboots the node twice. The daemon answers first, then syncs the filesystems and reboots through the kernel (\`/proc/sysrq-trigger\`): an abrupt restart, like a power cycle with the disks synced, not a clean shutdown of the node's services. The target is \`Recovered\` once the node reports a new boot ID (\`bootIdAfter\`, \`rebootedAt\`) and is Ready again; a node that has not rebooted 10 minutes after the request fails. A reboot cannot be undone: pausing or aborting stops nothing already asked. \`duration\` is how long the experiment lasts before it finishes (at least until the node is back).

\`targets[].nodeFault.notReadyAt\` and \`readyAt\` record the node's Ready condition going False and back while the fault is held and while it is taken away (the API actions do not make a node NotReady themselves; \`kubelet-stop\` does).`,
    },
    {
      title: 'Pausing, dry runs and status',
      body: `
- \`paused: true\` undoes every node (uncordon, untaint) and does nothing new; \`paused: false\` drains or taints again. \`dryRun: true\` picks and reports the nodes without touching them.
- Every spec field except \`paused\` is fixed at creation.
- Target records name nodes: \`namespace\` is empty, \`name\` and \`uid\` are the node's; Events say \`node <name>\`. The counts and conditions are those of every chaos kind.`,
    },
    guardSemantics,
  ],
  differencesFromChaosMesh: [
    { topic: 'The kind', chaosMesh: 'None: Chaos Mesh has no node-level kind for the API actions (its PhysicalMachineChaos needs an agent on the machine). Litmus has `node-drain` and `node-taint` experiments, run as Jobs with `kubectl drain`/`kubectl taint`.', kerris: 'A NodeChaos object on the shared experiment engine: status, conditions, Events, guards, verdict, pause and abort like every kerris kind.' },
    { topic: 'PodDisruptionBudgets', chaosMesh: 'Litmus\'s node-drain runs `kubectl drain` with `--ignore-daemonsets --delete-emptydir-data --force`; a budget that blocks it fails the experiment on its timeout, with the node left cordoned until its revert step runs.', kerris: 'Evictions only, never deletes: a 429 is retried at later passes and counted in status; the drain goes as fast as the budget lets it.' },
    { topic: 'Undo', chaosMesh: 'Litmus uncordons at the end whatever the node\'s state before, and removes the taint by key; a killed experiment pod leaves the node cordoned or tainted.', kerris: 'Exact: a node cordoned before stays cordoned, only kerris\'s own taint (key and effect) is removed, a same-key taint already there is refused; the record sits on the node, so a restarted controller or a deleted object still undoes it once.' },
    { topic: 'Safety', chaosMesh: 'Litmus drains whichever node it is given (`TARGET_NODE`), including the one running its own operator.', kerris: 'Never the node running every Ready kerris controller replica unless allowed, never more than `--max-node-share` of the nodes; the requester must be allowed to patch nodes and evict pods.' },
    { topic: 'A stopped kubelet', chaosMesh: 'Chaos Mesh has none in Kubernetes (chaosd stops processes on a physical machine); Litmus\'s kubelet-service-kill runs `systemctl stop kubelet` over a privileged helper pod, and a helper that dies leaves the kubelet stopped.', kerris: 'SIGSTOP and SIGCONT of the very process, journaled first, undone by lease lapse and deadline on the node, and by a guard process if the daemon dies.' },
    { topic: 'A node\'s own network', chaosMesh: 'Chaos Mesh has no node-level network fault in Kubernetes: a machine\'s network needs chaosd there (PhysicalMachineChaos). Krkn and ChaosBlade apply tc on nodes from a privileged helper pod or DaemonSet.', kerris: 'A node fault held by the node\'s daemon under its lease and deadline: a node cut off from the controller takes the fault away by itself; `keepDaemonLease` keeps the lease path for a partition that must last.' },
    { topic: 'A rebooted node', chaosMesh: 'Chaos Mesh reboots machines only through chaosd (PhysicalMachineChaos); Litmus\'s node-restart reboots a node over SSH, Krkn through the cloud provider\'s or IPMI API, given credentials to them.', kerris: 'The node\'s own daemon, only on nodes that consent (a file on the node), at most once per request: the request names the boot it is for.' },
    { topic: 'Proof', chaosMesh: 'Litmus reports pass or fail of its probes.', kerris: 'Per node: when it was cordoned or tainted and restored, which pods were evicted and where their replacements went, NotReady/Ready times seen.' },
  ],
};
