/** Schedule: runs a chaos experiment (PodChaos, NetworkChaos, StressChaos, NodeChaos) again and again, on a cron schedule. */
import { celRegex, conditions, dnsLabel, dnsSubdomain, time } from './common.ts';
import { networkChaos } from './networkchaos.ts';
import { nodeChaos } from './nodechaos.ts';
import { podChaos } from './podchaos.ts';
import { stressChaos } from './stresschaos.ts';
import type { KindDefinition } from './resource.ts';
import {
  array, boolean, describedAs, enumeration, integer, message, messageExpression, object, optional, required, string,
  type CelRule, type Field, type ObjectSchema,
} from './schema.ts';

/** The chaos kinds a Schedule or a Workflow step can create: the kinds kerris has. */
export const embeddableKinds = [
  { kind: 'PodChaos', field: 'podChaos', spec: podChaos.spec },
  { kind: 'NetworkChaos', field: 'networkChaos', spec: networkChaos.spec },
  { kind: 'StressChaos', field: 'stressChaos', spec: stressChaos.spec },
  { kind: 'NodeChaos', field: 'nodeChaos', spec: nodeChaos.spec },
] as const;

/** How an embedding departs from the kind's own spec, for rules its holder states instead. */
export interface Embedding {
  /** Rules of the kind's spec the embedding drops. */
  readonly drop?: (rule: CelRule) => boolean;
  /** Fields the kind requires that the embedding makes optional, with the description they have there; optional ones stay as they are. */
  readonly optionalFields?: Readonly<Record<string, string>>;
}

/**
 * An embedded chaos spec is a template, not a running experiment: the rules that keep a running experiment's spec
 * fixed (transition rules on oldSelf) do not apply to it, and `embedding` names what else its holder replaces.
 */
export function embeddedSpec(spec: ObjectSchema, typeName: string, description: string, embedding: Embedding = {}): ObjectSchema {
  const rules = (spec.rules ?? []).filter((rule) => !rule.rule.includes('oldSelf') && !(embedding.drop?.(rule) ?? false));
  const loosened = embedding.optionalFields ?? {};
  const fields = Object.fromEntries(Object.entries(spec.fields).map(([name, field]) => {
    const description = loosened[name];
    return [name, description === undefined || !field.required ? field : optional(describedAs(field.schema, description))];
  }));
  return object(typeName, description, fields, rules);
}

const kindNames = embeddableKinds.map((k) => `'${k.kind}'`).join(', ');
/** `PodChaos, NetworkChaos, StressChaos or NodeChaos`. */
const kindList = `${embeddableKinds.slice(0, -1).map((k) => k.kind).join(', ')} or ${embeddableKinds.at(-1)?.kind ?? ''}`;

/** `type`: a kind kerris has, or a refusal naming the kind asked for. */
function chaosType(description: string): ReturnType<typeof string> {
  return string(description, {
    maxLength: 63,
    minLength: 1,
    knownValues: { typeName: 'ScheduleTemplateType', values: embeddableKinds.map((k) => k.kind) },
    rules: [{
      rule: `self in [${kindNames}]`,
      message: messageExpression(`self + ' is not a kind a kerris Schedule runs yet; a Schedule runs ${kindList}'`, `<type> is not a kind a kerris Schedule runs yet; a Schedule runs ${kindList}`),
    }],
  });
}

/** Cron with an optional seconds field, a descriptor (`@hourly`) or `@every <duration>`; an optional `TZ=`/`CRON_TZ=` prefix. */
export const cronPattern = '^((CRON_)?TZ=[A-Za-z0-9_+/-]{1,64} )?(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|@every ([0-9]{1,5}(\\.[0-9]{1,9})?(ms|s|m|h))+|[0-9A-Za-z*/,?#L-]+( [0-9A-Za-z*/,?#L-]+){4,5})$';

const scheduleExpression = string(
  'When to run, in the controller\'s parser: five cron fields (minute hour day-of-month month day-of-week), or six with seconds first; a descriptor (`@yearly`, `@annually`, `@monthly`, `@weekly`, `@daily`, `@midnight`, `@hourly`); or `@every <duration>` (`@every 10s`, `@every 1h30m`). A `CRON_TZ=<zone> ` prefix is read as `timeZone`.',
  {
    maxLength: 256,
    minLength: 1,
    rules: [{
      rule: `self.matches(${celRegex(cronPattern)})`,
      message: messageExpression(
        "'must be cron (5 fields, or 6 with seconds), @hourly and the like, or @every <duration>, got \"' + self + '\"'",
        'must be cron (5 fields, or 6 with seconds), @hourly and the like, or @every <duration>, got "<schedule>"',
      ),
    }],
  },
);

/** The fields a Schedule and a Workflow's Schedule step share (Chaos Mesh's ChaosOnlyScheduleSpec), but `suspend`. */
export function scheduleFields(): Record<string, Field> {
  return {
    schedule: required(scheduleExpression),
    timeZone: optional(string('The IANA time zone the cron fields are read in, e.g. `Europe/Berlin`; `UTC` when omitted. A kerris addition.', {
      maxLength: 64,
      minLength: 1,
      pattern: '^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$',
    })),
    startingDeadlineSeconds: optional(integer('How late a run may still start, in seconds after its slot. A slot found later than that (after a controller outage, or while a run held it back under `Forbid`) is counted as missed instead. When omitted, the latest slot due always runs.', { format: 'int64', minimum: 1, maximum: 31_536_000 })),
    concurrencyPolicy: optional(enumeration('ConcurrencyPolicy', '`Forbid` (the default; `""` means the same): a slot that comes while a run is still active waits for it, and runs then if `startingDeadlineSeconds` allows; `Allow`: runs may overlap.', ['Forbid', 'Allow', ''])),
    historyLimit: optional(integer('How many runs to keep, active ones included; older finished runs are deleted. Active runs are never deleted. 1 when omitted.', { format: 'int32', minimum: 1, maximum: 100 })),
    type: required(chaosType(`The kind each run creates: ${kindList}.`)),
    ...Object.fromEntries(embeddableKinds.map((k) => [k.field, optional(embeddedSpec(k.spec, `Scheduled${k.kind}Spec`, `The spec of each ${k.kind} run, when \`type\` is ${k.kind}; as a ${k.kind}'s spec.`))])),
  };
}

/** Exactly the embedded spec `type` names is set. */
export const embeddedSpecRules: CelRule[] = embeddableKinds.flatMap((k): CelRule[] => [
  {
    rule: `self.type != '${k.kind}' || has(self.${k.field})`,
    message: message(`${k.field} is required when type is ${k.kind}`),
    fieldPath: `.${k.field}`,
    reason: 'FieldValueRequired',
  },
  {
    rule: `self.type == '${k.kind}' || !has(self.${k.field})`,
    message: messageExpression(`'${k.field} is only for type ${k.kind}; remove it for ' + self.type`, `${k.field} is only for type ${k.kind}; remove it for <type>`),
    fieldPath: `.${k.field}`,
    reason: 'FieldValueForbidden',
  },
]);

const scheduleSpec: ObjectSchema = object(
  'ScheduleSpec',
  'When to run which chaos. May change at any time; a change applies from the next run.',
  {
    ...scheduleFields(),
    suspend: optional(boolean('Stops new runs while true; active runs go on. Slots that pass meanwhile are not run later, nor counted as missed. A kerris addition: Chaos Mesh pauses a Schedule with an annotation.')),
  },
  embeddedSpecRules,
);

const reference = object('ChildReference', 'A chaos object the controller created.', {
  apiVersion: required(string('Its apiVersion.', { maxLength: 253 })),
  kind: required(string('Its kind.', { maxLength: 63 })),
  namespace: required(dnsLabel('Its namespace.')),
  name: required(dnsSubdomain('Its name.')),
  uid: optional(string('Its UID.', { maxLength: 64 })),
});

const scheduleConditionTypes = ['Scheduled', 'Suspended', 'Failed'] as const;

const scheduleStatus: ObjectSchema = object('ScheduleStatus', 'What the controller observed and did. Written only by the controller.', {
  observedGeneration: optional(integer('The metadata.generation this status describes.', { format: 'int64', minimum: 0 })),
  time: optional(time('The slot of the last run created, or of the last slot passed over as missed: the point from which the next slots are counted. Chaos Mesh\'s name for the last schedule time.')),
  nextScheduleTime: optional(time('The next slot.')),
  active: optional(array('Runs that have not ended yet.', reference, { maxItems: 100 })),
  runs: optional(integer('How many runs this Schedule has created.', { format: 'int64', minimum: 0 })),
  missedRuns: optional(integer('How many slots passed without a run (controller away, run held back under Forbid, or later than startingDeadlineSeconds), over the Schedule\'s life.', { format: 'int64', minimum: 0 })),
  lastMissed: optional(object('MissedRuns', 'The last time slots were found missed: reported once, with an Event `MissedSchedule`.', {
    count: required(integer('How many slots were missed.', { format: 'int64', minimum: 1 })),
    first: required(time('The first missed slot.')),
    last: required(time('The last missed slot.')),
    reportedAt: required(time('When the controller found them.')),
  })),
  conditions: conditions('ScheduleCondition', { typeName: 'ScheduleConditionType', values: scheduleConditionTypes }),
});

export const schedule: KindDefinition = {
  kind: 'Schedule',
  plural: 'schedules',
  singular: 'schedule',
  shortNames: ['chaosschedule'],
  categories: ['chaos', 'kerris'],
  description: `Schedule creates a ${kindList} from its template at each slot of a cron schedule, keeps the last few, and reports slots it missed.`,
  spec: scheduleSpec,
  status: scheduleStatus,
  printerColumns: [
    { name: 'Schedule', type: 'string', jsonPath: '.spec.schedule', description: 'spec.schedule' },
    { name: 'Type', type: 'string', jsonPath: '.spec.type', description: 'the kind each run creates' },
    { name: 'Last', type: 'date', jsonPath: '.status.time', description: 'the last slot' },
    { name: 'Runs', type: 'integer', jsonPath: '.status.runs', description: 'runs created' },
    { name: 'Missed', type: 'integer', jsonPath: '.status.missedRuns', description: 'slots missed', priority: 1 },
    { name: 'Suspend', type: 'boolean', jsonPath: '.spec.suspend', description: 'spec.suspend', priority: 1 },
    { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp', description: 'time since creation' },
  ],
  // Checked against the embedded spec (admission.ts): a Schedule's runs are created by the controller, not by its requester.
  requesterAccess: [],
  embeds: embeddableKinds.map((k) => ({ kind: k.kind, holders: '[object.spec]', field: k.field, place: 'this Schedule' })),
  embedsMutable: true,
  semantics: [
    {
      title: 'Who may create one',
      body: `
Each run is created by the controller's ServiceAccount, so the requester-access policy (\`kerris-requester-access\`, see PodChaos) checks the Schedule itself when it is created: its creator must pass the checks of the kind \`type\` names, against the embedded spec's selectors (\`podChaos.selector\`, \`networkChaos.selector\` and \`networkChaos.target.selector\`, \`stressChaos.selector\`), e.g. \`you may not delete pods in every namespace this Schedule reaches with its podChaos; kerris does only what its requester could do by hand\`. A NodeChaos's checks are cluster-wide, as for a NodeChaos itself (\`patch nodes\`, \`create pods/eviction\`, \`list nodes\`, and \`update nodes/status\` for \`kubelet-stop\` alone): \`you may not patch nodes cluster-wide, as this Schedule needs for its nodeChaos; …\`. A change of the embedded spec later is checked the same way (the policy matches updates of Schedules), so nobody can widen a Schedule past their own rights.`,
    },
    {
      title: 'Slots and runs',
      body: `
\`schedule\` is read with [croner](https://github.com/hexagon/croner) in \`timeZone\` (UTC when omitted): five cron fields, or six with seconds first, \`?\`, \`L\` and \`#\` included; the descriptors \`@yearly\`/\`@annually\`, \`@monthly\`, \`@weekly\`, \`@daily\`/\`@midnight\` and \`@hourly\`. \`@every <duration>\` makes slots every \`<duration>\` counted from the Schedule's creation, not from the last run, so a slow run does not push the later ones back. A schedule the controller cannot read makes the \`Failed\` condition say why, and nothing runs.

At each slot the controller creates the run \`<schedule name>-<slot in Unix seconds>\`, with the embedded spec, the labels \`chaos.kerris.dev/schedule\` and \`chaos.kerris.dev/schedule-uid\`, the annotation \`chaos.kerris.dev/scheduled-at\` (the slot) and an ownerReference to the Schedule, so deleting the Schedule deletes its runs, each taking its faults away first. The name comes from the slot, so a controller that restarts halfway never creates a slot's run twice. Slots are found on the wall clock; the controller waits for the next one as a requeue of the Schedule, not with a timer of its own.`,
    },
    {
      title: 'Concurrency, missed runs and history',
      body: `
- \`concurrencyPolicy: Forbid\` (the default): while a run is active (not \`Finished\`, \`Aborted\` or \`Failed\`) no other starts; a slot that comes meanwhile waits for it and runs as soon as it ends, if \`startingDeadlineSeconds\` still allows. \`Allow\`: each slot runs whatever runs already.
- Missed runs: when the controller finds several slots due at once (it was away, or a run held them back), only the latest runs; the others are counted once in \`status.missedRuns\`, described in \`status.lastMissed\` and reported by one Event \`MissedSchedule\` with their count. They are never run late, one after another. A slot older than \`startingDeadlineSeconds\` is missed too.
- Runs that overlap under \`Allow\` are separate experiments: a NodeChaos run refuses a node an earlier run still holds, since one NodeChaos holds a node at a time.
- \`historyLimit\` (1 when omitted) runs are kept, active ones included; older finished ones are deleted, oldest first. An active run is never deleted, so more than \`historyLimit\` may exist while they run under \`Allow\`.
- \`suspend: true\` stops new runs; active runs go on (pause or abort them as any experiment). Slots passed while suspended are neither run nor counted as missed when it is set back to false.`,
    },
    {
      title: 'Status',
      body: `
\`time\` is the last slot acted on (run or passed over), \`nextScheduleTime\` the next; \`active\` lists runs not ended; \`runs\` and \`missedRuns\` count over the Schedule's life. Conditions: \`Scheduled\` (True while slots are being run), \`Suspended\`, \`Failed\` (the schedule or time zone cannot be read).`,
    },
  ],
  differencesFromChaosMesh: [
    { topic: 'apiVersion', chaosMesh: '`chaos-mesh.org/v1alpha1`', kerris: '`chaos.kerris.dev/v1alpha1`' },
    { topic: '`type`', chaosMesh: 'Any chaos kind, or `Workflow` with `workflow`.', kerris: `${kindList}; any other kind is refused at admission naming it (\`IOChaos is not a kind a kerris Schedule runs yet; a Schedule runs ${kindList}\`).` },
    { topic: 'Time zone', chaosMesh: 'The chaos-controller-manager\'s own time zone (or a `CRON_TZ=` prefix).', kerris: '`spec.timeZone` (IANA name), else a `CRON_TZ=`/`TZ=` prefix, else UTC; never the controller\'s.' },
    { topic: 'Pause', chaosMesh: 'The annotation `experiment.chaos-mesh.org/pause: "true"` stops new runs and pauses the running ones.', kerris: '`spec.suspend: true` stops new runs only; running ones go on (pause them with their own `spec.paused`). The annotation is not read.' },
    { topic: '`@every`', chaosMesh: 'Counted from the previous run.', kerris: 'Counted from the Schedule\'s creation, on a fixed grid, so slots do not drift.' },
    { topic: 'Missed runs', chaosMesh: 'With `startingDeadlineSeconds` unset, every missed slot since the last run is looked for and the latest is run; nothing reports the others.', kerris: 'The latest due slot runs; the others are counted in `status.missedRuns` and `status.lastMissed` and reported once with an Event `MissedSchedule`.' },
    { topic: '`historyLimit`', chaosMesh: 'Omitted means 0: every finished run is deleted.', kerris: 'Omitted means 1, so the last run\'s proof stays; at most 100.' },
    { topic: '`startingDeadlineSeconds`', chaosMesh: '0 or unset: no deadline.', kerris: 'Unset: no deadline; when set, at least 1.' },
    { topic: 'Run names', chaosMesh: '`<schedule>-<6 random characters>`; the Schedule\'s name is limited to 57 characters.', kerris: '`<schedule>-<slot in Unix seconds>`, deterministic (names over 42 characters are shortened with a hash).' },
    { topic: 'Status', chaosMesh: '`time` and `active`.', kerris: 'Also `nextScheduleTime`, `runs`, `missedRuns`, `lastMissed` and conditions.' },
    { topic: 'Validation', chaosMesh: 'An admission webhook parses the cron expression.', kerris: 'The CRD schema checks its shape; the controller parses it and reports a bad one in the `Failed` condition.' },
  ],
};
