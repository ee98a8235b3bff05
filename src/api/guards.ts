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
