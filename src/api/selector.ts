/**
 * How an experiment picks its target pods: a selector that narrows the candidates and a mode
 * that picks among them. Chaos Mesh's field names and meanings, shared by every chaos kind
 * (PodChaos inlines them in its spec; NetworkChaos will reuse them for its `target`).
 */
import { celRegex, dnsLabel, dnsLabelPattern, dnsSubdomain, qualifiedNameMaxLength, qualifiedNamePattern } from './common.ts';
import {
  array, enumeration, map, message, messageExpression, object, optional, required, string,
  type CelRule, type Field, type MapSchema, type ObjectSchema,
} from './schema.ts';

function qualifiedKeysRule(what: string): CelRule {
  return {
    rule: `self.all(k, k.size() <= ${qualifiedNameMaxLength} && k.matches(${celRegex(qualifiedNamePattern)}))`,
    message: message(`${what} keys must be qualified names such as app or example.com/tier`),
  };
}

export function labelMap(description: string, what: string): MapSchema {
  return map(description, string('Label value.', { maxLength: 63, pattern: '^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$' }), {
    maxProperties: 32,
    keyDescription: 'label keys (qualified names)',
    rules: [qualifiedKeysRule(what)],
  });
}

const expressionOperator = enumeration('SelectorOperator', 'How a label requirement compares the key\'s value with `values`.', ['In', 'NotIn', 'Exists', 'DoesNotExist']);

const labelSelectorRequirement: ObjectSchema = object(
  'LabelSelectorRequirement',
  'A requirement on one label, as in a Kubernetes label selector\'s matchExpressions.',
  {
    key: required(string('The label key.', { pattern: qualifiedNamePattern, minLength: 1, maxLength: qualifiedNameMaxLength })),
    operator: required(expressionOperator),
    values: optional(array('Values for In and NotIn; empty for Exists and DoesNotExist.', string('A label value.', { maxLength: 63 }), { maxItems: 32 })),
  },
  [{
    rule: "self.operator in ['In', 'NotIn'] ? has(self.values) && size(self.values) > 0 : !has(self.values) || size(self.values) == 0",
    message: messageExpression(
      "self.operator in ['In', 'NotIn'] ? 'operator ' + self.operator + ' needs at least one value' : 'operator ' + self.operator + ' takes no values'",
      'operator <In|NotIn> needs at least one value / operator <Exists|DoesNotExist> takes no values',
    ),
    fieldPath: '.values',
  }],
);

const podPhase = enumeration('PodPhase', 'A pod phase, as in pod.status.phase.', ['Pending', 'Running', 'Succeeded', 'Failed', 'Unknown']);

const podSelectorSpec: ObjectSchema = object(
  'PodSelectorSpec',
  'Which pods are candidates. Every field given must match (they are ANDed), except `pods`, which names pods directly and ignores the other fields. An empty selector matches every pod in the experiment\'s namespace.',
  {
    namespaces: optional(array('Namespaces to pick pods from. Empty means the experiment\'s own namespace.', dnsLabel('A namespace name.'), { maxItems: 64, listType: 'set' })),
    labelSelectors: optional(labelMap('Labels a pod must carry, with these values.', 'labelSelectors')),
    expressionSelectors: optional(array('Label requirements a pod must meet, as in matchExpressions.', labelSelectorRequirement, { maxItems: 16 })),
    annotationSelectors: optional(map('Annotations a pod must carry, with these values.', string('Annotation value.', { maxLength: 1024 }), {
      maxProperties: 32,
      keyDescription: 'annotation keys (qualified names)',
      rules: [qualifiedKeysRule('annotationSelectors')],
    })),
    fieldSelectors: optional(map('Pod fields that must have these values, as in a Kubernetes field selector (e.g. `metadata.name`, `spec.nodeName`, `status.phase`).', string('Field value.', { maxLength: 253 }), {
      maxProperties: 16,
      keyDescription: 'pod field paths such as metadata.name',
      rules: [{
        rule: `self.all(k, k.size() <= 128 && k.matches(${celRegex('^[A-Za-z][A-Za-z0-9]*(\\.[A-Za-z][A-Za-z0-9]*)+$')}))`,
        message: message('fieldSelectors keys must be pod field paths such as metadata.name or spec.nodeName'),
      }],
    })),
    podPhaseSelectors: optional(array('Phases a pod must be in (any of them). Empty means any phase.', podPhase, { maxItems: 5, listType: 'set' })),
    nodes: optional(array('Nodes a pod must run on (any of them).', dnsSubdomain('A node name.'), { maxItems: 128, listType: 'set' })),
    nodeSelectors: optional(labelMap('Labels the pod\'s node must carry, with these values.', 'nodeSelectors')),
    pods: optional(map('Pods by name, per namespace. When set, exactly these pods are the candidates and every other selector field is ignored.', array('Pod names in this namespace.', dnsSubdomain('A pod name.'), { minItems: 1, maxItems: 128, listType: 'set' }), {
      maxProperties: 16,
      keyDescription: 'namespace names',
      rules: [{
        rule: `self.all(k, k.size() <= 63 && k.matches(${celRegex(dnsLabelPattern)}))`,
        message: message('pods keys must be namespace names'),
      }],
    })),
  },
);

export const selectorMode = enumeration(
  'SelectorMode',
  'How many of the candidate pods become targets: `one` picks one, `all` takes all, `fixed` picks `value` pods, `fixed-percent` picks `value` percent (rounded up), `random-max-percent` picks a random share from 1 to `value` percent (rounded up). Picks are random; `seed` makes them repeatable.',
  ['one', 'all', 'fixed', 'fixed-percent', 'random-max-percent'],
);

/**
 * The fields that pick targets. PodChaos inlines them in its spec; a kind that needs a second
 * set (NetworkChaos's `target`) nests them in an object carrying `podSelectorRules`.
 */
export const podSelectorFields: Readonly<Record<string, Field>> = {
  selector: required(podSelectorSpec),
  mode: required(selectorMode),
  value: optional(string('How many to pick: a pod count for `fixed`, a percentage from 1 to 100 for `fixed-percent` and `random-max-percent`. A string, as in Chaos Mesh. Not used with `one` and `all`.', { maxLength: 8 })),
};

/** Rules that tie `value` to `mode`, counting `noun` (`pods`, `nodes`); they sit on the object that holds both. */
export function modeRules(noun: string): readonly CelRule[] {
  return [
    {
      rule: "!(self.mode in ['fixed', 'fixed-percent', 'random-max-percent']) || has(self.value)",
      message: messageExpression("'value is required when mode is ' + self.mode", 'value is required when mode is <mode>'),
      fieldPath: '.value',
      reason: 'FieldValueRequired',
    },
    {
      rule: "self.mode != 'fixed' || !has(self.value) || self.value.matches('^[1-9][0-9]{0,5}$')",
      message: messageExpression(
        `'value must be a whole number of ${noun} from 1 to 999999 when mode is fixed, got \"' + self.value + '\"'`,
        `value must be a whole number of ${noun} from 1 to 999999 when mode is fixed, got "<value>"`,
      ),
      fieldPath: '.value',
    },
    {
      rule: "!(self.mode in ['fixed-percent', 'random-max-percent']) || !has(self.value) || (self.value.matches('^[0-9]{1,3}$') && int(self.value) >= 1 && int(self.value) <= 100)",
      message: messageExpression(
        "'value is a percentage when mode is ' + self.mode + ': it must be a whole number from 1 to 100, got \"' + self.value + '\"'",
        'value is a percentage when mode is <mode>: it must be a whole number from 1 to 100, got "<value>"',
      ),
      fieldPath: '.value',
    },
    {
      rule: "!(self.mode in ['one', 'all']) || !has(self.value) || self.value == ''",
      message: messageExpression("'value has no meaning when mode is ' + self.mode + '; remove it'", 'value has no meaning when mode is <mode>; remove it'),
      fieldPath: '.value',
      reason: 'FieldValueForbidden',
    },
  ];
}

export const podSelectorRules: readonly CelRule[] = modeRules('pods');
