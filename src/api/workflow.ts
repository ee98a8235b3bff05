/** Workflow: chaos steps run in series and in parallel, with pauses, schedules and status checks between them. */
import { celRegex, conditions, dnsSubdomainPattern, duration, time } from './common.ts';
import type { KindDefinition } from './resource.ts';
import { embeddableKinds, embeddedSpec, embeddedSpecRules, scheduleFields } from './schedule.ts';
import { statusCheckSpec } from './statuscheck.ts';
import {
  array, boolean, enumeration, integer, message, messageExpression, object, optional, required, string,
  type CelRule, type ObjectSchema,
} from './schema.ts';

/** The template types kerris runs; Chaos Mesh's others (Task, its other chaos kinds) are refused naming them. */
export const templateTypes = ['Serial', 'Parallel', 'Suspend', 'Schedule', 'StatusCheck', ...embeddableKinds.map((k) => k.kind)] as const;

/** The apiserver's CEL cost budget: NetworkChaos's rules on externalTargets, once per template, allow no more. */
export const MAX_TEMPLATES = 10;

const templateName = (description: string) => string(description, { maxLength: 63, minLength: 1, pattern: dnsSubdomainPattern });

const templateType = string(`What the step does: ${templateTypes.map((t) => `\`${t}\``).join(', ')}.`, {
  maxLength: 63,
  minLength: 1,
  knownValues: { typeName: 'TemplateType', values: templateTypes },
  rules: [{
    rule: `self in [${templateTypes.map((t) => `'${t}'`).join(', ')}]`,
    message: messageExpression(
      `self + ' is not a template type a kerris Workflow runs yet; a Workflow step is one of ${templateTypes.join(', ')}'`,
      `<templateType> is not a template type a kerris Workflow runs yet; a Workflow step is one of ${templateTypes.join(', ')}`,
    ),
  }],
});

/** A Task's results; kerris has no Task, so an expression that reads them can never be evaluated. */
const taskVariables = '(^|[^A-Za-z0-9_])(exitCode|stdout)([^A-Za-z0-9_]|$)';

const conditionalBranch = object('ConditionalBranch', 'A step to run after a StatusCheck step, when `expression` holds.', {
  target: required(templateName('The template to run.')),
  expression: optional(string('When to run `target`, over the StatusCheck\'s `result` (`"Success"` or `"Failure"`): `==`, `!=`, `&&`, `||`, `!`, parentheses, string literals and `true`/`false`, as in Chaos Mesh\'s expr language. Empty or omitted: always.', {
    maxLength: 1024,
    rules: [{
      rule: `!self.matches(${celRegex(taskVariables)})`,
      message: message('exitCode and stdout are the results of a Task, which kerris does not have yet; after a StatusCheck, an expression reads result ("Success" or "Failure")'),
    }],
  })),
});

/**
 * The workflow sets each chaos step's duration from `deadline` when the step sets none, so a kind's own demand for a
 * duration (pod-failure's rule, NodeChaos's required field) gives way to the template's rules below, which accept
 * either.
 */
const durationEmbedding = {
  drop: (rule: CelRule): boolean => rule.rule.includes('has(self.duration)'),
  optionalFields: { duration: 'How long the fault lasts, as a Go duration (`30s`, `5m`): counted from injection, time spent paused does not count. When omitted, the step\'s `deadline`, which the step then needs; with both, whichever ends first.' },
};

/** Kinds whose own spec requires `duration`, so that every fault of theirs ends on its own. */
const durationRequired = embeddableKinds.filter((k) => k.spec.fields['duration']?.required === true);

const scheduleStep = object('WorkflowSchedule', 'A Schedule run as a step (Chaos Mesh\'s ChaosOnlyScheduleSpec): the fields of a Schedule\'s spec but `suspend`.', scheduleFields(), embeddedSpecRules);

/** `field` may be set only on templates of these types. */
function onlyFor(field: string, types: readonly string[], why?: string): CelRule {
  const list = types.join(' or ');
  return {
    rule: `!has(self.${field}) || self.templateType in [${types.map((t) => `'${t}'`).join(', ')}]`,
    message: messageExpression(`'${field} is only for templateType ${list}${why ?? ''}; remove it for ' + self.templateType`, `${field} is only for templateType ${list}${why ?? ''}; remove it for <templateType>`),
    fieldPath: `.${field}`,
    reason: 'FieldValueForbidden',
  };
}

function requiredFor(field: string, type: string, why: string): CelRule {
  return { rule: `self.templateType != '${type}' || has(self.${field})`, message: message(`${field} is required when templateType is ${type}${why}`), fieldPath: `.${field}`, reason: 'FieldValueRequired' };
}

const template: ObjectSchema = object('WorkflowTemplate', 'One step of a workflow, run when its parent reaches it.', {
  name: required(templateName('The template\'s name, unique in the workflow; `entry`, `children` and branch targets refer to it.')),
  templateType: required(templateType),
  deadline: optional(duration('The longest the step may run, from its start. When it passes, the step is ended: a chaos step\'s faults are taken away (the run is aborted), a Schedule is deleted, a Suspend, Serial or Parallel ends with every step under it. Required for Suspend and Schedule.')),
  children: optional(array('The templates a Serial step runs one after another, or a Parallel step at once.', templateName('A template name.'), { maxItems: 32 })),
  conditionalBranches: optional(array('After a StatusCheck step: the templates to run next, each when its expression holds. A kerris extension of Chaos Mesh\'s, which branches only after a Task.', conditionalBranch, { maxItems: 16 })),
  abortWithStatusCheck: optional(boolean('StatusCheck only: when the check fails, abort the whole workflow, taking every fault it holds away.')),
  ...Object.fromEntries(embeddableKinds.map((k) => [k.field, optional(embeddedSpec(k.spec, `Workflow${k.kind}Spec`, `The ${k.kind} this step creates, when \`templateType\` is ${k.kind}; as a ${k.kind}'s spec. Its duration defaults to the step's \`deadline\`.`, durationEmbedding))])),
  schedule: optional(scheduleStep),
  // Its own type name: the StatusCheck kind's spec carries immutability rules this one does not.
  statusCheck: optional({ ...statusCheckSpec, typeName: 'WorkflowStatusCheckSpec', description: 'The StatusCheck this step creates, when `templateType` is StatusCheck; as a StatusCheck\'s spec. Its duration defaults to the step\'s `deadline`.' }),
}, [
  onlyFor('children', ['Serial', 'Parallel']),
  onlyFor('conditionalBranches', ['StatusCheck'], ' in kerris (in Chaos Mesh, Task, which kerris does not have yet)'),
  onlyFor('abortWithStatusCheck', ['StatusCheck']),
  onlyFor('schedule', ['Schedule']),
  onlyFor('statusCheck', ['StatusCheck']),
  requiredFor('statusCheck', 'StatusCheck', ''),
  ...embeddableKinds.map((k) => onlyFor(k.field, [k.kind])),
  ...embeddableKinds.map((k) => requiredFor(k.field, k.kind, '')),
  requiredFor('schedule', 'Schedule', ''),
  requiredFor('deadline', 'Suspend', ', since a Suspend only waits'),
  requiredFor('deadline', 'Schedule', ', since a Schedule never ends by itself'),
  {
    rule: "self.templateType != 'PodChaos' || !has(self.podChaos) || self.podChaos.action != 'pod-failure' || has(self.deadline) || has(self.podChaos.duration)",
    message: message('a pod-failure step needs deadline (or podChaos.duration), so that the failure ends on its own'),
    fieldPath: '.deadline',
    reason: 'FieldValueRequired',
  },
  ...durationRequired.map((k): CelRule => ({
    rule: `self.templateType != '${k.kind}' || !has(self.${k.field}) || has(self.deadline) || has(self.${k.field}.duration)`,
    message: message(`a ${k.kind} step needs deadline (or ${k.field}.duration), so that its fault ends on its own`),
    fieldPath: '.deadline',
    reason: 'FieldValueRequired',
  })),
]);

const workflowSpec: ObjectSchema = object('WorkflowSpec', 'The steps of a workflow and where it starts. Fixed at creation.', {
  entry: required(templateName('The template the workflow starts with.')),
  templates: required(array('Every step the workflow may run.', template, { minItems: 1, maxItems: MAX_TEMPLATES, listType: 'map', mapKeys: ['name'] })),
}, [
  {
    rule: 'self.templates.exists(t, t.name == self.entry)',
    message: messageExpression("'entry ' + self.entry + ' is not the name of a template'", 'entry <entry> is not the name of a template'),
    fieldPath: '.entry',
    reason: 'FieldValueInvalid',
  },
  {
    rule: 'self.templates.all(t, !has(t.children) || t.children.all(c, self.templates.exists(u, u.name == c)))',
    message: message('every name in children must be the name of a template'),
    fieldPath: '.templates',
    reason: 'FieldValueInvalid',
  },
  {
    rule: 'self.templates.all(t, !has(t.conditionalBranches) || t.conditionalBranches.all(b, self.templates.exists(u, u.name == b.target)))',
    message: message('every conditionalBranches[].target must be the name of a template'),
    fieldPath: '.templates',
    reason: 'FieldValueInvalid',
  },
  { rule: 'self == oldSelf', message: message('spec cannot change while the workflow exists; delete and recreate it'), reason: 'FieldValueForbidden' },
]);

const nodePhase = enumeration('WorkflowNodePhase', '`Pending`, `Running`, `Succeeded` (it ran to its end or its deadline), `Failed`, `Aborted`.', ['Pending', 'Running', 'Succeeded', 'Failed', 'Aborted']);

const workflowNode = object('WorkflowNode', 'One step as it ran: a template reached by the workflow.', {
  name: required(string('The node\'s name, unique in the workflow: the template\'s name, with `-<n>` when the template runs more than once.', { maxLength: 80 })),
  template: required(templateName('The template it runs.')),
  templateType: required(string('The template\'s type.', { maxLength: 63 })),
  parent: optional(string('The node that started it; absent for the entry.', { maxLength: 80 })),
  phase: required(nodePhase),
  startTime: optional(time('When it started.')),
  deadlineTime: optional(time('When its deadline passes.')),
  endTime: optional(time('When it ended: for a chaos step, when its faults were all taken away.')),
  endReason: optional(enumeration('WorkflowNodeEndReason', '`Completed`: it ran to its own end; `DeadlineExceeded`: its deadline ended it; `ParentEnded`: the step above it ended first; `Failed`; `Aborted`.', ['Completed', 'DeadlineExceeded', 'ParentEnded', 'Failed', 'Aborted'])),
  object: optional(object('WorkflowNodeObject', 'The object the controller created for the step (chaos, Schedule or StatusCheck), with an ownerReference to the Workflow.', {
    kind: required(string('Its kind.', { maxLength: 63 })),
    name: required(string('Its name, in the Workflow\'s namespace.', { maxLength: 253 })),
  })),
  children: optional(array('The nodes it started, in order.', string('A node name.', { maxLength: 80 }), { maxItems: 48 })),
  result: optional(enumeration('StatusCheckResult', 'StatusCheck steps: the check\'s result.', ['Success', 'Failure'])),
  score: optional(integer('Chaos steps: the resilience score the step counts with in the workflow\'s verdict, 0 to 100: its experiment\'s verdict score, except that an experiment ended by the step\'s deadline scores as its guards did (100 without guards), since the deadline, not a failure, stopped it.', { format: 'int32', minimum: 0, maximum: 100 })),
  message: optional(string('What happened, for people.', { maxLength: 1024 })),
});

const workflowConditionTypes = ['Accomplished', 'Aborted', 'Failed'] as const;

const workflowStatus: ObjectSchema = object('WorkflowStatus', 'What the controller observed and did. Written only by the controller.', {
  observedGeneration: optional(integer('The metadata.generation this status describes.', { format: 'int64', minimum: 0 })),
  phase: optional(enumeration('WorkflowPhase', '`Running`, `Finished` (every step ended), `Aborted` (on request or by a StatusCheck with abortWithStatusCheck; every fault taken away), `Failed` (a step failed or the workflow cannot run; see the Failed condition).', ['Running', 'Finished', 'Aborted', 'Failed'])),
  entryNode: optional(string('The entry step\'s node.', { maxLength: 80 })),
  startTime: optional(time('When the workflow started.')),
  endTime: optional(time('When it ended.')),
  nodes: optional(array('Every step reached so far, with its start and end.', workflowNode, { maxItems: 128 })),
  verdict: optional(object('WorkflowVerdict', 'How the workflow ended, set once in the status write that ends it.', {
    result: required(enumeration('WorkflowVerdictResult', '`Passed`: it finished and no step failed or was aborted; `Failed`: a step failed or it could not run; `Aborted`: stopped early, on request (the abort annotation), by a StatusCheck with abortWithStatusCheck, or by an experiment aborted under it (a guard).', ['Passed', 'Failed', 'Aborted'])),
    score: required(integer('The resilience score, 0 to 100: the mean of its chaos steps\' `score`, rounded; without chaos steps, 100 for Passed and 0 otherwise.', { format: 'int32', minimum: 0, maximum: 100 })),
    reason: required(string('Why, in a sentence.', { maxLength: 1024 })),
    concludedAt: required(time('When the verdict was reached.')),
  })),
  conditions: conditions('WorkflowCondition', { typeName: 'WorkflowConditionType', values: workflowConditionTypes }),
});

export const workflow: KindDefinition = {
  kind: 'Workflow',
  plural: 'workflows',
  singular: 'workflow',
  shortNames: ['wf-chaos', 'chaosworkflow'],
  categories: ['chaos', 'kerris'],
  description: 'Workflow runs chaos steps one after another (Serial) or at once (Parallel), with pauses (Suspend), schedules and status checks between them, each ended on its deadline, and records when each step started and ended.',
  spec: workflowSpec,
  status: workflowStatus,
  printerColumns: [
    { name: 'Entry', type: 'string', jsonPath: '.spec.entry', description: 'spec.entry' },
    { name: 'Phase', type: 'string', jsonPath: '.status.phase', description: 'where the workflow stands' },
    { name: 'Started', type: 'date', jsonPath: '.status.startTime', description: 'when it started', priority: 1 },
    { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp', description: 'time since creation' },
  ],
  requesterAccess: [],
  checks: (spec) => [`${spec}.templates.filter(t, has(t.statusCheck)).map(t, t.statusCheck)`],
  embeds: embeddableKinds.flatMap((k) => [
    { kind: k.kind, holders: 'object.spec.templates', field: k.field, place: 'a template of this Workflow' },
    { kind: k.kind, holders: "object.spec.templates.filter(t, has(t.schedule)).map(t, t.schedule)", field: k.field, place: 'a Schedule template of this Workflow' },
  ]),
  semantics: [
    {
      title: 'Who may create one',
      body: `
Steps are created by the controller's ServiceAccount, so the requester-access policy (\`kerris-requester-access\`, see PodChaos) checks the Workflow itself when it is created, against every embedded spec: for each template (and each Schedule template's embedded spec), its creator must pass the checks of that template's kind against its selectors, e.g. \`you may not delete pods in every namespace a template of this Workflow reaches with its podChaos; …\`, and a NodeChaos template's checks cluster-wide, e.g. \`you may not update nodes/status cluster-wide, as a template of this Workflow needs for its nodeChaos (kubelet-stop); …\`. The spec is fixed at creation.`,
    },
    {
      title: 'Steps',
      body: `
The controller starts at \`entry\` and records each step it reaches in \`status.nodes\` with \`startTime\`, \`endTime\` and \`endReason\`:
- \`Serial\` runs \`children\` one after another, each once the one before has ended; \`Parallel\` starts them all at once. Either ends when its children have.
- \`PodChaos\`, \`NetworkChaos\`, \`StressChaos\`, \`NodeChaos\`: creates \`<workflow>-<node>\` from the embedded spec with an ownerReference to the Workflow; its \`duration\` is the template's \`deadline\` when it sets none, so a pod-failure, a NetworkChaos or a StressChaos ends on its own. A NodeChaos requires a duration, so its step needs \`deadline\` or \`nodeChaos.duration\` (refused at admission otherwise), and a NodeChaos always ends on its own. The step ends when the experiment does, with every fault taken away.
- \`Suspend\` waits for \`deadline\`, counted from its \`startTime\` in status, so a restarted controller resumes the same wait.
- \`Schedule\` creates a Schedule from \`schedule\`, which runs until \`deadline\`; then it is deleted (no slot runs after it), its runs that have not ended get the abort annotation, and the step ends once the Schedule is gone and none of its runs holds a fault. Its ended runs go with it (ownerReferences).
- \`StatusCheck\` creates a StatusCheck from \`statusCheck\` and ends with its result: \`Failure\` when it completed with \`FailureThresholdExceed\`, or (\`mode: Synchronous\`) when its duration or the step's deadline passed without \`SuccessThresholdExceed\`; \`Success\` otherwise (a Continuous check that lasted its duration without failing). A StatusCheck still running at the step's deadline is deleted. With \`abortWithStatusCheck: true\`, a \`Failure\` aborts the workflow. Otherwise \`conditionalBranches\` start every target whose \`expression\` holds over \`result\`.
- Child objects are named \`<workflow>-<node>\` (longer than 63 characters: shortened, with a hash of the full name), so a controller that restarts halfway never creates a step's object twice.

\`deadline\` ends a step on time, counted from its start: a chaos step's experiment gets the abort annotation \`chaos.kerris.dev/abort\`, so its faults are taken away at once, and the step ends (\`endReason: DeadlineExceeded\`) when they are; a Serial or Parallel ends every step under it the same way (\`ParentEnded\`). A step ended by its deadline has \`Succeeded\`, as in Chaos Mesh. While a step is being ended (its faults being taken away, its Schedule's runs recovering), it stays \`Running\` with \`endReason\` already set; \`endTime\` is written when it has ended.

A step that fails (its experiment \`Failed\`, its object refused or deleted by someone else) fails the workflow: what still runs is aborted, and the phase is \`Failed\` with the step named in the condition. The annotation \`chaos.kerris.dev/abort\` on the Workflow aborts it the same way, phase \`Aborted\`: every running experiment under it gets the abort annotation, every StatusCheck and Schedule under it is deleted. So does an experiment under it that was aborted by something else (its guard, or its own abort annotation). The phase becomes \`Aborted\` or \`Failed\` once every step has ended, each with its faults taken away; the condition of that type is True from the moment the workflow began to end. Deleting the Workflow deletes every object it created, each taking its faults away first.`,
    },
    {
      title: 'Conditional branches',
      body: `
Chaos Mesh evaluates \`conditionalBranches\` only after a \`Task\` step, over its \`exitCode\` and \`stdout\`. kerris has no Task yet: an expression naming \`exitCode\` or \`stdout\` is refused at admission, and branches are allowed after a \`StatusCheck\` step instead, over \`result\`, e.g. \`result == "Failure"\`. The language is the part of Chaos Mesh's expr that applies: \`==\`, \`!=\`, \`&&\`, \`||\`, \`!\`, parentheses, \`"…"\`/\`'…'\` strings, \`true\`, \`false\`. An expression outside it fails the workflow before anything runs (condition \`Failed\`, reason \`InvalidExpression\`, naming the template and the expression). Every branch whose expression holds runs, at once; the StatusCheck step ends when they have. A target may be a template already run (a loop), up to 128 nodes in all.`,
    },
    {
      title: 'Status',
      body: `
\`phase\`, \`startTime\`, \`endTime\`, \`entryNode\` and \`nodes\`: one record per step reached (name, template, type, parent, phase, \`startTime\`, \`deadlineTime\`, \`endTime\`, \`endReason\`, the object created, the nodes it started, a StatusCheck's \`result\`, a message). Conditions: \`Accomplished\` (every step ended), \`Aborted\`, \`Failed\`. Node times carry milliseconds. \`verdict\` (\`result\` Passed, Failed or Aborted; \`score\`, the mean of the chaos steps' \`score\`; \`reason\`) is written in the status write that ends the workflow; a Workflow's own verdict counts only its chaos steps, not its StatusChecks (a failed StatusCheck shows in the result).`,
    },
  ],
  differencesFromChaosMesh: [
    { topic: 'apiVersion', chaosMesh: '`chaos-mesh.org/v1alpha1`', kerris: '`chaos.kerris.dev/v1alpha1`' },
    { topic: '`templateType`', chaosMesh: 'Task, Serial, Parallel, Suspend, Schedule, StatusCheck and every chaos kind.', kerris: `${templateTypes.join(', ')}. Any other (\`Task\`, \`IOChaos\`, …) is refused at admission naming it, before anything runs: \`Task is not a template type a kerris Workflow runs yet; …\`.` },
    { topic: 'Chaos `duration` in a step', chaosMesh: 'Refused: the step\'s `deadline` is the duration.', kerris: 'Allowed: the experiment ends at its duration or the deadline, whichever comes first; without it the deadline is the duration.' },
    { topic: 'Deadline', chaosMesh: 'Optional everywhere but Suspend; a Schedule step without one never ends.', kerris: 'Required for Suspend and Schedule, and for a pod-failure or NodeChaos step without duration. A chaos step ended by it is aborted (faults taken away at once) and its end recorded when they are.' },
    { topic: '`conditionalBranches`', chaosMesh: 'After a Task, over `exitCode` and `stdout`, in the expr language.', kerris: 'After a StatusCheck, over `result`, in the comparison subset of expr; `exitCode`/`stdout` refused at admission.' },
    { topic: 'A failing step', chaosMesh: 'The workflow goes on with the next steps.', kerris: 'The workflow stops: what runs is aborted, phase `Failed`.' },
    { topic: 'Nodes', chaosMesh: 'A WorkflowNode object per step.', kerris: '`status.nodes` of the Workflow, at most 128; no WorkflowNode kind.' },
    { topic: 'Template names', chaosMesh: 'DNS-1123 subdomains up to 253 characters.', kerris: 'Up to 63 characters, at most 10 templates (the apiserver\'s CEL cost budget over the embedded NetworkChaos rules), 32 children each.' },
    { topic: 'Changes', chaosMesh: 'Its webhook validates updates like creations.', kerris: 'The spec is fixed at creation (CEL).' },
    { topic: 'Abort', chaosMesh: 'Only through a StatusCheck with abortWithStatusCheck.', kerris: 'Also the annotation `chaos.kerris.dev/abort` on the Workflow.' },
  ],
};
