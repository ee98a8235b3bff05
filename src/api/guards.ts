/**
 * Guards (a kerris extension on every chaos kind): checks of the steady state evaluated while the fault is held.
 * One that keeps failing for its `for` window aborts the experiment: every fault is taken away at once, and the
 * verdict is Aborted with the guard and what it saw. The checks are StatusCheck's (checks.ts).
 */
import { dnsLabel, duration } from './common.ts';
import { checkFields, checkRules } from './checks.ts';
import { array, integer, message, object, optional, required, type Field } from './schema.ts';

export const MAX_GUARDS = 16;

const guard = object('Guard', 'A check of the steady state, evaluated while the fault is held; failing for `for` aborts the experiment.', {
  name: required(dnsLabel('The guard\'s name, unique in the list; it names the guard in status, Events and the verdict.')),
  for: optional(duration('How long the check must fail without a pass in between before the guard is breached, as in a Prometheus alert\'s `for`. When omitted, the first failing evaluation breaches it.')),
  intervalSeconds: optional(integer('Seconds between evaluations; 1 when omitted.', { format: 'int32', minimum: 1, maximum: 300 })),
  timeoutSeconds: optional(integer('Seconds an evaluation may take before it counts as failed; 1 when omitted, and never more than intervalSeconds.', { format: 'int32', minimum: 1, maximum: 60 })),
  ...checkFields,
}, [
  ...checkRules,
  {
    rule: '(has(self.timeoutSeconds) ? self.timeoutSeconds : 1) <= (has(self.intervalSeconds) ? self.intervalSeconds : 1)',
    message: message('timeoutSeconds cannot exceed intervalSeconds: an evaluation must end before the next one starts'),
    fieldPath: '.timeoutSeconds',
  },
]);

/** The checks a chaos kind's guards hold, for the admission policy (KindDefinition.checks). */
export const guardChecks = (spec: string): readonly string[] => [`has(${spec}.guards) ? ${spec}.guards : []`];

/** `spec.guards`, the same on every chaos kind. */
export const guardsField: Field = optional(array(
  'Checks of the steady state while the fault is held (a kerris extension): when one fails for its `for` window, every target is recovered at once and the experiment ends Aborted. Evaluated by the leading controller; see docs/checks.md.',
  guard,
  {
    maxItems: MAX_GUARDS,
    listType: 'map',
    mapKeys: ['name'],
  },
));

/** The semantics of guards, aborts and the verdict, the same for every chaos kind (docs/api.md). */
export const guardSemantics = {
  title: 'Guards, abort and the verdict',
  body: `
\`spec.guards\` (a kerris extension) lists checks of the steady state, each with a \`name\` and exactly one of \`http\` (Chaos Mesh's StatusCheck request), \`prometheus\` (an instant query and a comparison) and \`kubernetes\` (a workload's available replicas or an object's condition). While the fault is held, the leading controller evaluates each every \`intervalSeconds\` (1), each evaluation bounded by \`timeoutSeconds\` (1). A guard that fails without a pass in between for its whole \`for\` window (the first failure when omitted) is **breached**: the controller sets the abort annotation, every target is recovered at once, the phase becomes \`Aborted\`, a Warning Event \`GuardBreached\` names the guard and what it saw, and the verdict says so. \`status.guards\` shows each guard's state (\`Pending\`, \`Passing\`, \`Failing\`, \`Breached\`), what it last saw, and its counts. The windows are kept in the leader's memory: a new leader starts them afresh, which can delay an abort by one window but never causes one. The checks run from the controller's pod, with its network and its rights; so a \`kubernetes\` check is admitted only if its creator may \`get\` what it reads (the workload, or the object whose condition it reads, by its kind's plural), asked of the apiserver's authorizer by the admission policy, and an \`http\` or \`prometheus\` check reaches whatever the controller's pod can reach (limit it with a NetworkPolicy on the controller).

**Abort.** The annotation \`chaos.kerris.dev/abort\` (its value is the reason) stops an experiment now, whoever sets it (a guard, \`kubectl kerris abort\`, a person): nothing more is injected, every held fault is taken away, and it ends \`Aborted\`; the condition \`Aborted\` carries the reason. Unlike a delete, it keeps the record.

**Verdict.** Once the experiment ends, \`status.verdict\` says \`Passed\` (every target injected and recovered, no guard breached, no \`spec.verify\` measurement contradicting the configured effect), \`Failed\` or \`Aborted\`, with a resilience score from 0 to 100: with guards, the share of their evaluations that passed while the fault was held; without, 100 for \`Passed\` and 0 otherwise. The metrics \`kerris_experiment_verdicts_total{kind,result}\` and \`kerris_experiment_resilience_score{kind}\` count them. A dry run has no verdict.`,
};
