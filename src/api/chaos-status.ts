/** The status every chaos kind shares: one lifecycle (src/controller/engine), so one shape of status, conditions and target records. */
import { conditions, dnsLabel, dnsSubdomain, maxSeed, time } from './common.ts';
import { array, enumeration, integer, map, object, optional, required, string, type ObjectSchema } from './schema.ts';

const chaosConditionTypes = ['Selected', 'AllInjected', 'AllRecovered', 'Paused', 'Failed'] as const;

const targetPhase = enumeration(
  'TargetPhase',
  'Where one target stands: `Selected` (picked, nothing injected yet, or a dry run), `Injected`, `Recovered`, `Failed`.',
  ['Selected', 'Injected', 'Recovered', 'Failed'],
);

const chaosTarget = object('ChaosTarget', 'One target pod and what happened to it.', {
  namespace: required(dnsLabel('The pod\'s namespace.')),
  name: required(dnsSubdomain('The pod\'s name.')),
  uid: required(string('The pod\'s UID, so a pod recreated under the same name is not mistaken for the target.', { maxLength: 64 })),
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
});

const chaosPhase = enumeration(
  'ChaosPhase',
  'Where the experiment stands: `Pending` (not started), `Running` (faults held), `Paused`, `Recovering` (taking faults away), `Finished` (all done and recovered, or a dry run reported), `Failed` (it could not proceed; see the Failed condition).',
  ['Pending', 'Running', 'Paused', 'Recovering', 'Finished', 'Failed'],
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
});
