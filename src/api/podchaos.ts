/** PodChaos: kill pods, kill containers, or make pods fail for a while. */
import { chaosStatus, experimentColumns } from './chaos-status.ts';
import { guardChecks, guardSemantics, guardsField } from './guards.ts';
import { dnsLabel, duration, immutableFields, maxSeed } from './common.ts';
import type { KindDefinition } from './resource.ts';
import {
  array, boolean, enumeration, integer, message, messageExpression, object, optional, required,
  type Field, type ObjectSchema,
} from './schema.ts';
import { podSelectorFields, podSelectorRules } from './selector.ts';



const action = enumeration(
  'PodChaosAction',
  'What happens to each target: `pod-kill` deletes the pod, `pod-failure` freezes its containers for `duration` and then thaws them, `container-kill` kills the containers named in `containerNames` (the first container when omitted).',
  ['pod-kill', 'pod-failure', 'container-kill'],
);

const specFields: Readonly<Record<string, Field>> = {
  action: required(action),
  ...podSelectorFields,
  containerNames: optional(array('The containers to kill with `container-kill`; when omitted, the pod\'s first container (as in Chaos Mesh). Not allowed with other actions.', dnsLabel('A container name.'), { minItems: 1, maxItems: 32, listType: 'set' })),
  gracePeriod: optional(integer('Seconds the pod gets to shut down when `pod-kill` deletes it. When omitted, the pod\'s own `terminationGracePeriodSeconds`; 0 deletes it at once (a force delete: a StatefulSet\'s replacement may start before the old container has stopped). Only for `pod-kill`.', { format: 'int64', minimum: 0, maximum: 86400 })),
  duration: optional(duration('How long the fault is held, as a Go duration (`30s`, `5m`, `1h30m`). Required for `pod-failure`. For the kill actions it is how long the experiment stays Running after the kill. Counted from injection; time spent paused does not count.')),
  seed: optional(integer(`Seed for the random pick of targets, 0 to ${maxSeed}. The same seed over the same candidate pods picks the same targets. When omitted the controller chooses one and reports it in status.seed.`, { format: 'int64', minimum: 0, maximum: maxSeed })),
  paused: optional(boolean('Pauses the experiment: faults that can be taken away are, and nothing new is injected until it is set back to false. The only spec field that may change after creation.')),
  dryRun: optional(boolean('Selects and reports the targets in status without injecting anything.')),
  guards: guardsField,
};

const podChaosSpec: ObjectSchema = object(
  'PodChaosSpec',
  'What a PodChaos does and to which pods. Fixed at creation except `paused`.',
  specFields,
  [
    ...podSelectorRules,
    {
      rule: "self.action == 'container-kill' || !has(self.containerNames)",
      message: messageExpression("'containerNames applies only to action container-kill; remove it for ' + self.action", 'containerNames applies only to action container-kill; remove it for <action>'),
      fieldPath: '.containerNames',
      reason: 'FieldValueForbidden',
    },
    {
      rule: "self.action != 'pod-failure' || has(self.duration)",
      message: message('duration is required when action is pod-failure, so that the failure ends on its own'),
      fieldPath: '.duration',
      reason: 'FieldValueRequired',
    },
    {
      rule: "self.action == 'pod-kill' || !has(self.gracePeriod) || self.gracePeriod == 0",
      message: messageExpression("'gracePeriod applies only to action pod-kill; remove it for ' + self.action", 'gracePeriod applies only to action pod-kill; remove it for <action>'),
      fieldPath: '.gracePeriod',
      reason: 'FieldValueForbidden',
    },
    ...immutableFields(specFields, ['paused'], 'spec'),
  ],
);


export const podChaos: KindDefinition = {
  kind: 'PodChaos',
  plural: 'podchaos',
  singular: 'podchaos',
  shortNames: ['pchaos'],
  categories: ['chaos', 'kerris'],
  description: 'PodChaos kills pods, kills containers, or makes pods fail for a while, on pods picked by a selector and a mode.',
  spec: podChaosSpec,
  status: chaosStatus,
  printerColumns: experimentColumns([
    { name: 'Action', type: 'string', jsonPath: '.spec.action', description: 'what happens to each target' },
    { name: 'Mode', type: 'string', jsonPath: '.spec.mode', description: 'how targets are picked', priority: 1 },
  ], { targets: 'pods', injected: 'how many targets are injected now' }),
  // Every action makes pods unavailable, which a person can do by hand by deleting them; listing is what a dry run shows.
  checks: guardChecks,
  requesterAccess: [
    { verb: 'delete', group: '', resource: 'pods' },
    { verb: 'list', group: '', resource: 'pods' },
  ],
  semantics: [
    {
      title: 'Who may create one',
      body: `
kerris does only what the person asking could do by hand. Creating a PodChaos is allowed only if its creator may \`delete\` and \`list\` pods in every namespace its selector reaches (the namespaces of \`pods\`, else \`namespaces\`, else the PodChaos's own). The apiserver checks it at admission with its own authorizer, through the ValidatingAdmissionPolicy \`kerris-requester-access\` in \`deploy/admission/\` (installed with \`deploy/\`); a refusal names the namespaces reached, e.g. \`you may not delete pods in every namespace this PodChaos reaches (payments)\`. The same verbs stand for every action: freezing a pod (\`pod-failure\`) or killing its containers makes it as unavailable as deleting it would. A GitOps tool that applies chaos objects needs these rights itself. Then, before every action on a target, the controller checks again that the target lies in a namespace the selector reaches and the safety policy admits, and still matches the selector, whatever \`status\` says.`,
    },
    {
      title: 'Picking targets',
      body: `
The candidates are the pods the \`selector\` matches. \`mode\` and \`value\` then pick the targets among them: \`one\`, \`all\`, \`fixed\` (a count), \`fixed-percent\` (a share, rounded up) or \`random-max-percent\` (a random share from 1% up to \`value\`%, rounded up). A count larger than the number of candidates takes them all.

The pick is random, drawn from \`seed\`: the candidates are ordered by namespace and name before the draw, so the same seed over the same candidate pods picks the same targets whatever order the apiserver lists them in. Without \`seed\` the controller draws one and records it in \`status.seed\`; copy it into \`spec.seed\` to repeat a run.

Targets are picked once, when the experiment starts. Pods created later (a killed pod's replacement, a scale-up) are not added.`,
    },
    {
      title: 'Actions and duration',
      body: `
- \`pod-kill\` deletes each target with \`gracePeriod\` seconds to shut down; without it the pod gets its own \`terminationGracePeriodSeconds\`, as \`kubectl delete pod\` gives it. \`gracePeriod: 0\` must be asked for. It is done once; a workload controller then replaces the pod, and \`targets[].replacedBy\` names the replacement.
- \`container-kill\` kills (SIGKILL, through the container runtime) the containers in \`containerNames\` of each target once, or the pod's first container when \`containerNames\` is omitted, as in Chaos Mesh; the kubelet restarts them. \`targets[].restartCounts\` holds each container's restart count before the kill; the target has recovered when the count has risen and the container is ready again.
- \`pod-failure\` freezes every container of each target (cgroup freezer) for \`duration\`, then thaws it: the processes stop in place, so requests to the pod time out while it stays Running, keeps its IP and is not restarted. No image is changed or pulled. A container restarted while failed is frozen again. \`targets[].injectedAt\` and \`recoveredAt\` say when it was frozen and thawed. Each freeze also carries its own deadline to the node daemon, which thaws by itself when it passes, or when the controller stops renewing its lease.

\`duration\` is counted from injection, and time spent paused does not count. For the kill actions it is how long the experiment stays \`Running\` after the kill before it moves to \`Finished\`; without it the experiment finishes once the kill is done.`,
    },
    {
      title: 'Pausing, dry runs and changes',
      body: `
- \`paused: true\` takes away every fault that can be taken away (\`pod-failure\`) and injects nothing new; \`paused: false\` resumes. A kill already done cannot be undone. The \`Paused\` condition and phase show it. Set it in Git and let your GitOps tool apply it.
- \`dryRun: true\` picks the targets, records them in \`status.targets\` with phase \`Selected\` and moves to \`Finished\` without touching any pod. Use it to see the blast radius first.
- Every spec field except \`paused\` is fixed at creation; the apiserver rejects a change with \`spec.<field> cannot change while the experiment exists; delete and recreate it\`. Deleting the object takes every fault away before the object goes.`,
    },
    {
      title: 'Status',
      body: `
\`status\` stays small however many pods are hit: the counts \`selected\`, \`injected\`, \`recovered\` and \`failed\` cover every target, while \`targets\` keeps records for at most 100 of them and \`targetsTruncated\` says how many have none.

Conditions (type: meaning when True):
- \`Selected\`: the targets are picked (\`status.targets\`, \`status.seed\`).
- \`AllInjected\`: every target is injected.
- \`AllRecovered\`: every target has recovered.
- \`Paused\`: \`spec.paused\` is in effect.
- \`Failed\`: the experiment cannot proceed; \`reason\` says why (\`NoTargets\`, \`NamespaceRefused\`, \`InvalidSelector\`, \`TooManyTargets\`, or \`Unsupported\` when no node daemon can do the action); a target that could not be injected is \`Failed\` in its record, with the reason, and \`AllInjected\` says \`InjectionFailed\`.`,
    },
    guardSemantics,
  ],
  differencesFromChaosMesh: [
    { topic: 'Guards and verdict', chaosMesh: 'None on the experiment; a Workflow\'s StatusCheck (HTTP only) can abort the workflow.', kerris: '`spec.guards` (HTTP, Prometheus, Kubernetes checks with a `for` window) abort the experiment when breached; `status.verdict` with a resilience score.' },
    { topic: 'apiVersion', chaosMesh: '`chaos-mesh.org/v1alpha1`', kerris: '`chaos.kerris.dev/v1alpha1`' },
    { topic: 'Short name', chaosMesh: 'none', kerris: '`pchaos` (`pc` is taken by PriorityClass); categories `chaos` and `kerris`.' },
    { topic: 'Pause', chaosMesh: 'The annotation `experiment.chaos-mesh.org/pause: "true"`; paused time counts toward `duration`.', kerris: '`spec.paused`, the one spec field that may change; paused time does not count toward `duration`. The annotation is not read.' },
    { topic: 'Dry run', chaosMesh: 'None.', kerris: '`spec.dryRun` picks and reports targets without injecting.' },
    { topic: 'Seed', chaosMesh: 'None; the random pick cannot be repeated.', kerris: '`spec.seed` (0 to 2^53−1) makes the pick repeatable; `status.seed` records the one used.' },
    { topic: 'Duration', chaosMesh: 'Counted from the object\'s creation; unbounded.', kerris: 'Counted from injection. Must match Go duration syntax with no sign, be longer than zero and at most 720h (30 days); a longer or repeating experiment is a schedule.' },
    { topic: '`containerNames`', chaosMesh: 'Used by `container-kill`; when empty, the pod\'s first container is killed. Ignored by `pod-kill` and `pod-failure`.', kerris: 'The same meaning for `container-kill` (the first container when omitted); rejected with the other actions instead of ignored.' },
    { topic: '`pod-failure`', chaosMesh: 'Swaps every container\'s image for a pause image: the containers restart (restartCount rises), the image must be pulled, and a controller that dies mid-experiment leaves the pod broken.', kerris: 'Freezes every container in place with the cgroup freezer through the node daemon: nothing restarts, no image changes, and the daemon thaws by itself at the deadline or when the controller\'s lease lapses.' },
    { topic: '`container-kill` proof', chaosMesh: 'None in status.', kerris: '`targets[].restartCounts` before the kill; the target recovers when the count has risen and the container is ready again.' },
    { topic: '`gracePeriod`', chaosMesh: 'Defaults to 0, a force delete. Accepted and ignored with the actions other than `pod-kill`; always serialized, so exported objects carry `gracePeriod: 0`.', kerris: 'Defaults to the pod\'s own grace period (a graceful delete, as by hand); `0` must be written, and exported Chaos Mesh objects carry it, so they keep their meaning. Only with `pod-kill`, at most 86400; `0` is tolerated with the other actions so exported Chaos Mesh objects still apply.' },
    { topic: '`value`', chaosMesh: 'Checked by its webhook: a count above 0 for `fixed`, a percentage in (0, 100] for the percent modes; ignored with `one` and `all`.', kerris: 'The same bounds, checked by the apiserver; with `one` and `all` it must be absent or empty (`value: ""`, which exported Chaos Mesh objects carry, is accepted).' },
    { topic: 'Selector bounds', chaosMesh: 'Unbounded lists and maps.', kerris: 'Bounded (e.g. 64 namespaces, 128 nodes, 16 namespaces × 128 pods in `pods`), and names must be valid Kubernetes names, so the apiserver can check rules cheaply.' },
    { topic: 'Status', chaosMesh: '`experiment.containerRecords[]` with one record per target, unbounded (large experiments hit etcd\'s size limit); conditions carry only `type`, `status` and `reason`.', kerris: 'Counts plus at most 100 `targets` records and `targetsTruncated`; standard conditions; `phase`, `seed`, `startTime`, `injectedAt`, `recoveredAt`. `experiment.desiredPhase` is kept.' },
    { topic: 'Immutability', chaosMesh: 'Its webhook rejects any spec change (pausing is an annotation, so it is not one).', kerris: 'The apiserver rejects a change to any spec field but `paused`, with CEL transition rules naming the field; no webhook to install.' },
    { topic: 'Validation', chaosMesh: 'Mostly in an admission webhook that must be installed, with its certificates, and reachable.', kerris: 'All in the CRD schema (enums, bounds, patterns, CEL), so `kubectl apply --dry-run=server` shows every error with no kerris component running.' },
  ],
};
