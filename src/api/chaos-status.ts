/**
 * The status every chaos kind shares: one lifecycle (src/controller/engine), so one shape of status, conditions and
 * target records. A kind's own proof lives in optional fields that only it writes (NetworkChaos: `evidence`,
 * `verification`, `network`; StressChaos: `stress`), so every kind keeps the one status type.
 */
import { conditions, dnsLabel, dnsSubdomain, maxSeed, time } from './common.ts';
import type { PrinterColumn } from './resource.ts';
import { array, boolean, enumeration, integer, map, object, optional, required, string, type ObjectSchema } from './schema.ts';

const chaosConditionTypes = ['Selected', 'AllInjected', 'AllRecovered', 'Paused', 'Aborted', 'Failed'] as const;

const targetPhase = enumeration(
  'TargetPhase',
  'Where one target stands: `Selected` (picked, nothing injected yet, or a dry run), `Injected`, `Recovered`, `Failed`.',
  ['Selected', 'Injected', 'Recovered', 'Failed'],
);

const counterOf = (what: string) => integer(what, { format: 'int64', minimum: 0 });

/** What the kernel counted for one of a target's network faults: the proof that packets went through it. */
const faultCounter = object('FaultCounter', 'The kernel\'s counters of one qdisc or nftables rule kerris installed for a target, read from inside its network namespace.', {
  device: required(string('The interface the counters were read on; for ingress tc faults, the IFB device kerris redirects incoming traffic to (e.g. `kerris-ifb0`).', { maxLength: 15 })),
  direction: required(enumeration('CounterDirection', 'Which traffic the counted fault acts on: `egress` leaves the target, `ingress` arrives at it.', ['egress', 'ingress'])),
  kind: required(string('What counted: `netem`, `tbf` or `htb` (tc qdiscs) or `nft` (an nftables rule).', { maxLength: 16 })),
  fault: required(string('The fault the counter belongs to: the action, e.g. `delay` or `partition`.', { maxLength: 16 })),
  packets: required(counterOf('Packets the fault has handled since it was installed.')),
  bytes: optional(counterOf('Bytes the fault has handled since it was installed.')),
  dropped: optional(counterOf('Packets the qdisc dropped (loss, partition, or a full queue).')),
  overlimits: optional(counterOf('Times a shaper held packets back for exceeding its rate (tbf, htb).')),
});

const networkEvidence = object('NetworkEvidence', 'NetworkChaos only: what the kernel counted for the target\'s faults, as the node daemon last read it.', {
  observedAt: required(time('When the daemon read the counters.')),
  counters: required(array('One entry per qdisc or rule kerris installed for the target.', faultCounter, { maxItems: 32 })),
});

const resourceUsage = object('ResourceUsage', 'A target container\'s use of its resources, read from its cgroup.', {
  cpuMillicores: required(integer('CPU time used per second, in thousandths of a CPU (`500` is half a core).', { format: 'int64', minimum: 0 })),
  memoryWorkingSetBytes: required(integer('Memory in use less the inactive file cache: the working set, as the kubelet counts it.', { format: 'int64', minimum: 0 })),
});

const stressEvidence = object('StressEvidence', 'StressChaos only: the target container\'s CPU and memory before and while stressed, as the node daemon read them from its cgroup (`during`\'s CPU over the last 5 s or more; it appears once the stressors have run that long).', {
  observedAt: required(time('When the daemon last read them.')),
  // Read just before the stressors started, and at the last reading while they ran (its CPU over the last 5 s or
  // more of them: the evidence appears once they have run that long).
  before: required(resourceUsage),
  during: required(resourceUsage),
  stressors: required(integer('Stressor processes alive in the container at the last reading.', { format: 'int32', minimum: 0 })),
});

const networkVerification = object('NetworkVerification', 'NetworkChaos only, with `spec.verify`: the effect measured from inside the target, against what was configured.', {
  verdict: required(enumeration('VerificationVerdict', '`Verified`: the measured effect matches the configured one; `NotVerified`: it does not; `Unmeasured`: it could not be measured (no peer answered, or the action has no measurable effect).', ['Verified', 'NotVerified', 'Unmeasured'])),
  configured: optional(string('What was configured, e.g. `delay 100ms to 10.0.0.7`.', { maxLength: 256 })),
  measured: optional(string('What was measured, e.g. `RTT 1.2ms before, 101.5ms during`.', { maxLength: 256 })),
  message: optional(string('How it was measured, or why it could not be, for people.', { maxLength: 1024 })),
});

/** NodeChaos only: a pod a drain evicted, and where its controller put the pod that replaced it. */
const evictedPod = object('EvictedPod', 'A pod `node-drain` evicted through the Eviction API, and its replacement once seen.', {
  namespace: required(dnsLabel('The pod\'s namespace.')),
  name: required(dnsSubdomain('The pod\'s name.')),
  uid: required(string('The pod\'s UID.', { maxLength: 64 })),
  ownerUid: optional(string('The UID of the workload controller that owned it, whose new pod is its replacement.', { maxLength: 64 })),
  evictedAt: required(time('When the apiserver accepted the eviction.')),
  replacedBy: optional(dnsSubdomain('The pod its controller created in its place.')),
  replacementNode: optional(string('The node the replacement was scheduled to.', { maxLength: 253 })),
});

const nodeFault = object('NodeFaultRecord', 'NodeChaos only: what kerris changed on the node, what it was before, and what it saw while the fault was held.', {
  wasUnschedulable: optional(boolean('`node-drain`: the node was already cordoned before kerris acted; it stays cordoned afterwards.')),
  cordoned: optional(boolean('`node-drain`: kerris cordoned the node (spec.unschedulable), and uncordons it at the end.')),
  taint: optional(object('AddedTaint', '`node-taint`: the taint kerris added, removed exactly at the end.', {
    key: required(string('The taint key.', { maxLength: 317 })),
    value: optional(string('The taint value.', { maxLength: 63 })),
    effect: required(string('The taint effect.', { maxLength: 16 })),
  })),
  notReadyAt: optional(time('When the node was seen NotReady (its Ready condition\'s last transition) while the fault was held or being taken away.')),
  readyAt: optional(time('When it was seen Ready again after that.')),
  kubeletStopped: optional(boolean('`kubelet-stop`: the node\'s kerris daemon stopped its kubelet (SIGSTOP) when the target was injected.')),
  network: optional(string('`node-network`: the fault the node\'s kerris daemon put on the node\'s own interfaces, e.g. `partition both, every peer, except the kerris controller\'s pods`.', { maxLength: 512 })),
  undoneAt: optional(time('`kubelet-stop`, `node-network`: when the node\'s daemon took the fault away (the kubelet continued with SIGCONT, the network restored); recovery then waits for the node to be Ready again.')),
  bootIdBefore: optional(string('`node-reboot`: the node\'s boot ID (`status.nodeInfo.bootID`) when it was picked; the daemon reboots only a node still on this boot.', { maxLength: 64 })),
  bootIdAfter: optional(string('`node-reboot`: the boot ID the node reported after it rebooted.', { maxLength: 64 })),
  rebootedAt: optional(time('`node-reboot`: when the controller first saw the node report a new boot ID.')),
  endedByNode: optional(time('`node-network`: when the controller found that the node\'s daemon had taken the fault away by itself, before the end of `duration` (its lease lapsed while the fault cut it off from the controller, or it restarted). It is not put back.')),
  evicted: optional(array('The pods evicted from the node, first 50.', evictedPod, { maxItems: 50 })),
  evictedTruncated: optional(integer('Evicted pods beyond those listed.', { format: 'int32', minimum: 0 })),
  remaining: optional(integer('`node-drain`: pods still on the node that are to be evicted (a PodDisruptionBudget refused them so far, or the eviction failed).', { format: 'int32', minimum: 0 })),
  refusals: optional(integer('`node-drain`: evictions a PodDisruptionBudget refused (HTTP 429) and that were asked again at a later pass.', { format: 'int32', minimum: 0 })),
  lastRefusal: optional(string('The last refusal, as the apiserver worded it.', { maxLength: 512 })),
});

const chaosTarget = object('ChaosTarget', 'One target (a pod; a node for NodeChaos) and what happened to it.', {
  namespace: required(string('The pod\'s namespace; empty for a node, which is cluster-scoped.', { maxLength: 63, pattern: '^([a-z0-9]([-a-z0-9]*[a-z0-9])?)?$' })),
  name: required(dnsSubdomain('The pod\'s or node\'s name.')),
  uid: required(string('The pod\'s or node\'s UID, so an object recreated under the same name is not mistaken for the target.', { maxLength: 64 })),
  node: optional(string('The node the pod ran on when selected.', { maxLength: 253 })),
  owner: optional(object('TargetOwner', 'The workload controller that owned the pod when it was picked, whose new pod counts as its replacement.', {
    kind: required(string('The owner\'s kind, e.g. ReplicaSet or StatefulSet.', { maxLength: 63 })),
    name: required(dnsSubdomain('The owner\'s name.')),
    uid: required(string('The owner\'s UID.', { maxLength: 64 })),
  })),
  containers: optional(array('The containers acted on (container-kill and pod-failure).', string('A container name.', { maxLength: 63 }), { maxItems: 32 })),
  restartCounts: optional(map('Each acted-on container\'s restartCount when the fault was injected: `container-kill` is proven by it rising, `pod-failure` leaves it unchanged.', integer('A restart count.', { format: 'int32', minimum: 0 }), { maxProperties: 32, keyDescription: 'container names' })),
  phase: required(targetPhase),
  injectedAt: optional(time('When the fault reached this pod.')),
  recoveredAt: optional(time('When this pod was whole again: restored, restarted, or replaced and Ready.')),
  replacedBy: optional(string('After pod-kill, the name of the pod its controller created in its place.', { maxLength: 253 })),
  message: optional(string('What went wrong, or any other note, for people.', { maxLength: 1024 })),
  evidence: optional(networkEvidence),
  stress: optional(stressEvidence),
  verification: optional(networkVerification),
  nodeFault: optional(nodeFault),
});

const networkStatus = object('NetworkStatus', 'NetworkChaos only: what the fault is scoped to, and what to expect from it.', {
  expectedRtt: optional(string('What a round trip between a target and a peer should show while the fault is held, e.g. `+100ms per round trip`.', { maxLength: 256 })),
  resolved: optional(array('The host names in `spec.externalTargets` and the addresses they resolved to.', object('ResolvedHost', 'One host name of `spec.externalTargets` and its addresses.', {
    host: required(string('The host name, without a port.', { maxLength: 253 })),
    addresses: required(array('The IPv4 and IPv6 addresses it resolved to.', string('An IP address.', { maxLength: 64 }), { maxItems: 32 })),
  }), { maxItems: 64 })),
  peers: optional(integer('How many peer addresses (of `target` pods and `externalTargets`) the fault is scoped to; absent when it applies to every peer.', { format: 'int32', minimum: 0 })),
});

const guardState = object('GuardStatus', 'One guard of `spec.guards`, as the controller last evaluated it while the fault was held.', {
  name: required(string('The guard\'s name in `spec.guards`.', { maxLength: 63 })),
  state: required(enumeration('GuardState', '`Pending` (not evaluated yet), `Passing`, `Failing` (failing for less than its `for` window), `Breached` (failing for its whole window: the experiment was aborted).', ['Pending', 'Passing', 'Failing', 'Breached'])),
  observed: optional(string('What the last evaluation saw, e.g. `HTTP 503` or `value 0.42`.', { maxLength: 256 })),
  message: optional(string('Why the last evaluation failed, for people.', { maxLength: 1024 })),
  since: optional(time('When the guard entered its state.')),
  lastCheckedAt: optional(time('When it was last evaluated.')),
  checks: optional(integer('Evaluations made while the fault was held.', { format: 'int64', minimum: 0 })),
  passed: optional(integer('Of those, the ones that passed.', { format: 'int64', minimum: 0 })),
});

const verdict = object('ChaosVerdict', 'How the experiment ended, set once it ended: what a game day records.', {
  result: required(enumeration('VerdictResult', '`Passed`: every target was injected and recovered, no guard was breached and no measured effect contradicts the configured one; `Failed`: it could not run, a target failed, or the measured effect contradicts it; `Aborted`: stopped early on request or by a guard.', ['Passed', 'Failed', 'Aborted'])),
  score: required(integer('The resilience score, 0 to 100: with guards, the share of their evaluations that passed while the fault was held; without guards, 100 for Passed and 0 otherwise.', { format: 'int32', minimum: 0, maximum: 100 })),
  reason: required(string('Why, in a sentence.', { maxLength: 1024 })),
  concludedAt: required(time('When the verdict was reached.')),
});

const chaosPhase = enumeration(
  'ChaosPhase',
  'Where the experiment stands: `Pending` (not started), `Running` (faults held), `Paused`, `Recovering` (taking faults away), `Finished` (all done and recovered, or a dry run reported), `Aborted` (stopped early on request, every fault taken away; see the Aborted condition), `Failed` (it could not proceed; see the Failed condition).',
  ['Pending', 'Running', 'Paused', 'Recovering', 'Finished', 'Aborted', 'Failed'],
);

/** The status every chaos kind has: the experiment engine (src/controller/engine) writes it the same way for all. */
export const chaosStatus: ObjectSchema = object('ChaosStatus', 'What the controller observed and did. Written only by the controller.', {
  observedGeneration: optional(integer('The metadata.generation this status describes.', { format: 'int64', minimum: 0 })),
  phase: optional(chaosPhase),
  conditions: conditions('ChaosCondition', { typeName: 'ChaosConditionType', values: chaosConditionTypes }),
  seed: optional(integer('The seed the targets were picked with: spec.seed, or the one the controller chose.', { format: 'int64', minimum: 0, maximum: maxSeed })),
  startTime: optional(time('When the controller started the experiment.')),
  injectedAt: optional(time('When the first target was injected.')),
  recoveredAt: optional(time('When the last target recovered.')),
  selected: optional(integer('How many targets were picked.', { format: 'int32', minimum: 0 })),
  injected: optional(integer('How many targets are injected now.', { format: 'int32', minimum: 0 })),
  recovered: optional(integer('How many targets have recovered.', { format: 'int32', minimum: 0 })),
  failed: optional(integer('How many targets could not be injected or recovered.', { format: 'int32', minimum: 0 })),
  targets: optional(array('Per-target records, at most 100; the counts above cover every target.', chaosTarget, { maxItems: 100 })),
  targetsTruncated: optional(integer('How many targets have no record in `targets` because the list is full.', { format: 'int32', minimum: 0 })),
  experiment: optional(object('ExperimentStatus', 'Where the controller is steering the experiment, as in Chaos Mesh.', {
    desiredPhase: required(enumeration('DesiredPhase', '`Run` while faults should be held, `Stop` once paused, finished or deleted.', ['Run', 'Stop'])),
    pausedAt: optional(time('When the current pause began; absent while not paused.')),
    pausedSeconds: optional(integer('Seconds spent paused after injection so far; they do not count toward `duration`.', { format: 'int64', minimum: 0 })),
  })),
  network: optional(networkStatus),
  guards: optional(array('The guards of `spec.guards` and how they stand; written by the leading controller\'s guard runner.', guardState, { maxItems: 16 })),
  verdict: optional(verdict),
});

/**
 * The `kubectl get` columns of a chaos kind: its own in front (`action`, `mode`), then those every chaos kind shows,
 * with the kind's `extra` ones after the counts. `targets` names what is picked (pods, nodes) and `injected` says
 * what an injected target is undergoing.
 */
export function experimentColumns(own: readonly PrinterColumn[], options: { targets: string; injected: string; extra?: readonly PrinterColumn[] }): PrinterColumn[] {
  return [
    ...own,
    { name: 'Phase', type: 'string', jsonPath: '.status.phase', description: 'where the experiment stands' },
    { name: 'Targets', type: 'integer', jsonPath: '.status.selected', description: `how many ${options.targets} were picked` },
    { name: 'Injected', type: 'integer', jsonPath: '.status.injected', description: options.injected, priority: 1 },
    ...(options.extra ?? []),
    { name: 'Paused', type: 'boolean', jsonPath: '.spec.paused', description: 'spec.paused', priority: 1 },
    { name: 'Dry-Run', type: 'boolean', jsonPath: '.spec.dryRun', description: 'spec.dryRun', priority: 1 },
    { name: 'Verdict', type: 'string', jsonPath: '.status.verdict.result', description: 'Passed, Failed or Aborted, once it ended' },
    { name: 'Score', type: 'integer', jsonPath: '.status.verdict.score', description: 'the resilience score, 0 to 100', priority: 1 },
    { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp', description: 'time since creation' },
  ];
}
