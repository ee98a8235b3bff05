/** StatusCheck: run one check of the steady state over and over, and record when it succeeds or fails. */
import { checkFields, checkRules } from './checks.ts';
import { conditions, duration, immutableFields, time } from './common.ts';
import type { KindDefinition } from './resource.ts';
import {
  array, enumeration, integer, messageExpression, object, optional, required, string,
  type Field, type ObjectSchema,
} from './schema.ts';

/** Chaos Mesh's defaults (its kubebuilder markers and webhook); the CRD has no defaults, the controller applies these. */
export const STATUS_CHECK_DEFAULTS = {
  mode: 'Synchronous',
  type: 'HTTP',
  timeoutSeconds: 1,
  intervalSeconds: 10,
  failureThreshold: 3,
  successThreshold: 1,
  recordsHistoryLimit: 100,
} as const;

export const MAX_RECORDS_HISTORY = 1000;

const statusCheckConditionTypes = ['Completed', 'DurationExceed', 'FailureThresholdExceed', 'SuccessThresholdExceed'] as const;

const mode = enumeration(
  'StatusCheckMode',
  '`Synchronous` (when omitted): ends as soon as `successThreshold` successes or `failureThreshold` failures in a row are reached, or `duration` is. `Continuous`: keeps checking until `failureThreshold` failures in a row, or `duration`, or until deleted.',
  ['Synchronous', 'Continuous'],
);

const checkType = enumeration(
  'StatusCheckType',
  'Which check runs: `HTTP` (when omitted, as in Chaos Mesh) needs `http`, `Prometheus` needs `prometheus`, `Kubernetes` needs `kubernetes`.',
  ['HTTP', 'Prometheus', 'Kubernetes'],
);

const seconds = (description: string, maximum: number) => integer(description, { format: 'int32', minimum: 1, maximum });

const specFields: Readonly<Record<string, Field>> = {
  mode: optional(mode),
  type: optional(checkType),
  duration: optional(duration('How long the whole status check may run, as a Go duration (`30s`, `5m`), counted from its start. When it passes first, the check completes with `DurationExceed`. Without it a Continuous check runs until it fails or is deleted.')),
  timeoutSeconds: optional(seconds(`Seconds after which one execution counts as a failure. ${STATUS_CHECK_DEFAULTS.timeoutSeconds} when omitted, at most 300.`, 300)),
  intervalSeconds: optional(seconds(`Seconds from the start of one execution to the start of the next. ${STATUS_CHECK_DEFAULTS.intervalSeconds} when omitted, at most 86400.`, 86400)),
  failureThreshold: optional(seconds(`How many failures in a row make the status check failed. ${STATUS_CHECK_DEFAULTS.failureThreshold} when omitted.`, 1000)),
  successThreshold: optional(seconds(`How many successes in a row make a Synchronous status check successful. ${STATUS_CHECK_DEFAULTS.successThreshold} when omitted; accepted and unused with Continuous, as in Chaos Mesh.`, 1000)),
  recordsHistoryLimit: optional(seconds(`How many records \`status.records\` keeps, the newest. ${STATUS_CHECK_DEFAULTS.recordsHistoryLimit} when omitted, at most ${MAX_RECORDS_HISTORY}.`, MAX_RECORDS_HISTORY)),
  ...checkFields,
};

/** The type named by `type` (HTTP when omitted) must be the check given. */
const typeMatchesCheck = {
  rule: "(has(self.type) ? self.type : 'HTTP') == (has(self.http) ? 'HTTP' : has(self.prometheus) ? 'Prometheus' : has(self.kubernetes) ? 'Kubernetes' : (has(self.type) ? self.type : 'HTTP'))",
  message: messageExpression(
    "'type ' + (has(self.type) ? self.type : 'HTTP (the default)') + ' needs its own field: HTTP needs http, Prometheus needs prometheus, Kubernetes needs kubernetes'",
    'type <type> needs its own field: HTTP needs http, Prometheus needs prometheus, Kubernetes needs kubernetes',
  ),
  fieldPath: '.type',
  reason: 'FieldValueInvalid',
} as const;

/** The spec Workflow's StatusCheck template embeds as it is (src/api/workflow.ts). */
export const statusCheckSpec: ObjectSchema = object(
  'StatusCheckSpec',
  'What a StatusCheck checks, how often, and when it is done. Fixed at creation.',
  specFields,
  [...checkRules, typeMatchesCheck],
);

/** The same spec, and once created it does not change: records and thresholds would mean nothing across a change. */
const statusCheckObjectSpec: ObjectSchema = {
  ...statusCheckSpec,
  rules: [...(statusCheckSpec.rules ?? []), ...immutableFields(specFields, [], 'spec')],
};

const record = object('StatusCheckRecord', 'One execution of the check.', {
  startTime: required(time('When the execution started.')),
  outcome: required(enumeration('StatusCheckOutcome', '`Success` or `Failure`.', ['Success', 'Failure'])),
  observed: optional(string('What was observed, short: `HTTP 503`, `probe_success{instance="web"} = 0`, `availableReplicas 1`.', { maxLength: 256 })),
  message: optional(string('Why it failed, or what it compared, for people.', { maxLength: 512 })),
});

const statusCheckStatus: ObjectSchema = object('StatusCheckStatus', 'What the controller observed. Written only by the controller.', {
  observedGeneration: optional(integer('The metadata.generation this status describes.', { format: 'int64', minimum: 0 })),
  startTime: optional(time('When the first execution started.')),
  completionTime: optional(time('When the status check completed (the `Completed` condition became True).')),
  count: optional(integer('How many executions ran in all.', { format: 'int64', minimum: 0 })),
  consecutiveSuccesses: optional(integer('Successes in a row up to the last execution.', { format: 'int32', minimum: 0 })),
  consecutiveFailures: optional(integer('Failures in a row up to the last execution.', { format: 'int32', minimum: 0 })),
  conditions: conditions('StatusCheckCondition', { typeName: 'StatusCheckConditionType', values: statusCheckConditionTypes }),
  records: optional(array(`The latest executions, oldest first; at most \`recordsHistoryLimit\` (${MAX_RECORDS_HISTORY} at most).`, record, { maxItems: MAX_RECORDS_HISTORY })),
});

export const statusCheck: KindDefinition = {
  kind: 'StatusCheck',
  plural: 'statuschecks',
  singular: 'statuscheck',
  shortNames: ['schk'],
  categories: ['kerris'],
  description: 'StatusCheck runs one check of a service\'s steady state (an HTTP request, as in Chaos Mesh; a Prometheus query; a workload\'s available replicas or a condition of any object) every `intervalSeconds`, records each outcome and completes when a threshold or its duration is reached. A Workflow\'s StatusCheck template runs one.',
  spec: statusCheckObjectSpec,
  status: statusCheckStatus,
  printerColumns: [
    { name: 'Type', type: 'string', jsonPath: '.spec.type', description: 'which check runs (empty: HTTP)' },
    { name: 'Mode', type: 'string', jsonPath: '.spec.mode', description: 'Synchronous or Continuous (empty: Synchronous)', priority: 1 },
    { name: 'Completed', type: 'string', jsonPath: '.status.conditions[?(@.type=="Completed")].status', description: 'whether the status check is done' },
    { name: 'Reason', type: 'string', jsonPath: '.status.conditions[?(@.type=="Completed")].reason', description: 'why it completed, or how it stands' },
    { name: 'Count', type: 'integer', jsonPath: '.status.count', description: 'executions so far' },
    { name: 'Failures', type: 'integer', jsonPath: '.status.consecutiveFailures', description: 'failures in a row', priority: 1 },
    { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp', description: 'time since creation' },
  ],
  // A StatusCheck only reads: a request anyone in the namespace could send from a pod, or an object (see "Who may create one").
  checks: (spec) => [`[${spec}]`],
  requesterAccess: [],
  semantics: [
    {
      title: 'Running and completing',
      body: `
The controller runs the check every \`intervalSeconds\` (10 when omitted), each execution bounded by \`timeoutSeconds\` (1 when omitted; a timeout is a failure), and counts the outcomes in a row: \`status.consecutiveSuccesses\` and \`status.consecutiveFailures\` (one outcome resets the other count). Every execution is appended to \`status.records\` (\`startTime\`, \`outcome\`, \`observed\`, \`message\`), which keeps the newest \`recordsHistoryLimit\` (100 when omitted); \`status.count\` counts them all.

- \`mode: Synchronous\` (when omitted) completes at the first threshold reached: \`successThreshold\` successes in a row (\`SuccessThresholdExceed\`) or \`failureThreshold\` failures in a row (\`FailureThresholdExceed\`).
- \`mode: Continuous\` keeps checking until \`failureThreshold\` failures in a row, and ignores \`successThreshold\`.
- In both modes \`duration\`, when given, bounds the whole check, counted from \`status.startTime\`: when it passes first, the check completes with \`DurationExceed\`. A Continuous check without \`duration\` runs until it fails or is deleted.

Once complete, nothing more runs: \`status.completionTime\` is set and the conditions stay. The thresholds are counted from the status, so a controller restart (or a leader change) continues the count where it was; executions missed while no controller ran are not made up.`,
    },
    {
      title: 'Conditions',
      body: `
As in Chaos Mesh (type: meaning when True; each carries a \`reason\` and a \`message\` naming the last observation):
- \`Completed\`: the status check is done, for one of the three reasons below (its \`reason\` is \`SuccessThresholdExceed\`, \`FailureThresholdExceed\` or \`DurationExceed\`); False with reason \`Running\` while it runs.
- \`SuccessThresholdExceed\`: \`successThreshold\` successes in a row (Synchronous only).
- \`FailureThresholdExceed\`: \`failureThreshold\` failures in a row: the service was not healthy. A Workflow with \`abortWithStatusCheck\` aborts on it.
- \`DurationExceed\`: \`duration\` passed before either threshold.`,
    },
    {
      title: 'The checks',
      body: `
Exactly one of \`http\`, \`prometheus\` and \`kubernetes\` is given, and \`type\` names it (\`HTTP\` when omitted). A failing target is an outcome (\`Failure\`, with the reason in the record), never an error of the StatusCheck. [docs/checks.md](checks.md) has every failure each check can report.
- \`http\`: the controller sends \`method\` (GET when omitted) to \`url\` with \`headers\` and \`body\`; the outcome is \`Success\` when the response's status code is in \`criteria.statusCode\` (\`200\` or \`200-399\`). Redirects are not followed: a 3xx is judged by its own code, so a check never lands on another host unseen. Any port may be used (fetch's list of blocked ports does not apply). No response within \`timeoutSeconds\`, a refused connection or a TLS error is a \`Failure\`. TLS is verified against the controller's trusted roots.
- \`prometheus\`: the controller asks \`url\`'s \`/api/v1/query\` for \`query\` at that moment; \`Success\` when every sample of the result satisfies \`comparison\` (\`<sample> <operator> <value>\`). An empty result is a \`Failure\` ("the query returned no samples"), as is an error from Prometheus, a result that is neither a vector nor a scalar, and a sample that is NaN.
- \`kubernetes.workload\`: \`Success\` while the Deployment's or StatefulSet's \`status.availableReplicas\` (a DaemonSet's \`status.numberAvailable\`) is at least \`minAvailable\`; a missing workload is a \`Failure\`.
- \`kubernetes.condition\`: \`Success\` while the object's \`status.conditions\` has a condition of \`type\` with \`status\`; a missing object, kind or condition is a \`Failure\`.`,
    },
    {
      title: 'Who may create one',
      body: `
A StatusCheck changes nothing: it sends a request or reads an object, and the admission policy \`kerris-requester-access\` checks nothing for it. What it may reach:
- \`http\` and \`prometheus\` requests leave the controller's pod, so they reach what the controller's network reaches. Anyone who may create a StatusCheck may make the controller send such a request and see its status code (never its body) in \`status.records\`; a NetworkPolicy on \`kerris-system\` limits where it goes.
- \`kubernetes\` reads with the controller's rights, not the creator's: \`get\` on Deployments, StatefulSets and DaemonSets (the ClusterRole \`kerris-controller-checks-workloads\`), and on other kinds only what the cluster's admin adds to the aggregated ClusterRole \`kerris-controller-checks\` (a ClusterRole labelled \`kerris.dev/aggregate-to-checks: "true"\`); a kind it may not read gives a \`Failure\` that says so. The record shows only the condition's status, its reason, or the count of available replicas. The creator's own \`get\` right is not checked at admission: the policy's checks cover the namespaces a pod selector reaches, and a condition check's resource comes from its kind through discovery, which an admission rule cannot do.`,
    },
  ],
  differencesFromChaosMesh: [
    { topic: 'apiVersion', chaosMesh: '`chaos-mesh.org/v1alpha1`', kerris: '`chaos.kerris.dev/v1alpha1`' },
    { topic: 'Types', chaosMesh: '`HTTP` only.', kerris: '`HTTP`, and the additions `Prometheus` (`prometheus`: a PromQL query and a comparison) and `Kubernetes` (`kubernetes`: a workload\'s available replicas, a condition of any object).' },
    { topic: 'Defaults', chaosMesh: 'Written into the object by its webhook and CRD defaults (`mode: Synchronous`, `type: HTTP`, `timeoutSeconds: 1`, `intervalSeconds: 10`, `failureThreshold: 3`, `successThreshold: 1`, `recordsHistoryLimit: 100`, `method: GET`).', kerris: 'The same values, applied by the controller when a field is omitted; the object keeps what was written.' },
    { topic: '`duration`', chaosMesh: 'A Go duration, possibly signed, unbounded.', kerris: 'Positive, at most 720h.' },
    { topic: 'Bounds', chaosMesh: 'Only minimums (1), and `recordsHistoryLimit` at most 1000.', kerris: 'Also `timeoutSeconds` at most 300, `intervalSeconds` at most 86400, thresholds at most 1000; `url` at most 2048 characters, 32 headers of 8 values, a body of 16 KiB.' },
    { topic: '`http.url`', chaosMesh: 'Any URL `url.ParseRequestURI` accepts, checked by its webhook.', kerris: 'An absolute `http://` or `https://` URL with a host, checked by the apiserver.' },
    { topic: '`criteria.statusCode`', chaosMesh: 'A code or a range of codes from 1 to 999, checked by its webhook; a reversed range (`400-200`) is accepted and matches nothing.', kerris: 'The same syntax and bounds, checked by the apiserver; a reversed range is rejected.' },
    { topic: 'Redirects', chaosMesh: 'Followed by Go\'s HTTP client (up to 10), and the last response is judged.', kerris: 'Not followed: the 3xx response itself is judged by `criteria.statusCode`.' },
    { topic: 'Status', chaosMesh: '`records[]` with `startTime` and `outcome`; conditions with `type`, `status`, `reason`, `lastProbeTime`, `lastTransitionTime`.', kerris: '`records[]` also carry `observed` and `message`; `consecutiveSuccesses` and `consecutiveFailures`; standard conditions (`reason`, `message`, `lastTransitionTime`; no `lastProbeTime`: the newest record says when it last ran). `startTime`, `completionTime` and `count` as in Chaos Mesh.' },
    { topic: 'Changes', chaosMesh: 'Accepted.', kerris: 'The spec is fixed at creation (the apiserver rejects a change, naming the field): the records and counts would mean nothing across one.' },
  ],
};
