/**
 * Building blocks every chaos kind shares: names, durations, times, conditions
 * and the rule that keeps a running experiment's spec from changing under it.
 */
import {
  array, enumeration, integer, message, messageExpression, object, optional, required, string,
  type CelRule, type Field, type ObjectSchema, type StringSchema,
} from './schema.ts';

/** The largest seed a JavaScript number holds exactly; the controller reads it as a number. */
export const maxSeed = Number.MAX_SAFE_INTEGER;

/** RFC 1123 label: namespaces, container names. */
export const dnsLabelPattern = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
/** RFC 1123 subdomain: pod and node names. */
export const dnsSubdomainPattern = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
/** A Kubernetes qualified name (label and annotation keys): optional DNS-subdomain prefix and a name. */
export const qualifiedNamePattern = '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$';
/** Longest qualified name: a 253-character prefix, a slash and a 63-character name. */
export const qualifiedNameMaxLength = 317;

/**
 * Go's time.ParseDuration syntax without a sign, so a negative duration cannot be written.
 * At most five integer digits a component and 32 characters in all keep the sum below
 * int64 nanoseconds (about 2.5 million hours), where CEL's duration() would fail.
 */
export const durationPattern = '^([0-9]{1,5}(\\.[0-9]{1,9})?(ns|us|µs|ms|s|m|h))+$';
export const durationMaxLength = 32;

/** A regex as a single-quoted CEL string literal: CEL reads backslash escapes, so they double. */
export function celRegex(pattern: string): string {
  return `'${pattern.replaceAll('\\', '\\\\')}'`;
}

export function dnsLabel(description: string): StringSchema {
  return string(description, { pattern: dnsLabelPattern, minLength: 1, maxLength: 63 });
}

export function dnsSubdomain(description: string): StringSchema {
  return string(description, { pattern: dnsSubdomainPattern, minLength: 1, maxLength: 253 });
}

export function time(description: string): StringSchema {
  return string(description, { format: 'date-time', maxLength: 64 });
}

/** The longest a single experiment may hold a fault. */
export const MAX_DURATION = '720h';

/**
 * A positive Go-style duration such as `30s`, `5m` or `1h30m`. CEL rules rather than an OpenAPI
 * pattern check it, so a bad value gets a message that says what is wrong instead of a regex.
 */
export function duration(description: string): StringSchema {
  const pattern = celRegex(durationPattern);
  return string(description, {
    maxLength: durationMaxLength,
    rules: [
      {
        rule: "!self.startsWith('-')",
        message: messageExpression("'cannot be negative, got \"' + self + '\"; write e.g. 30s, 5m or 1h30m'", 'cannot be negative, got "<duration>"; write e.g. 30s, 5m or 1h30m'),
      },
      {
        rule: `self.startsWith('-') || self.matches(${pattern})`,
        message: messageExpression(
          "'must be a Go duration such as 30s, 5m or 1h30m (units h, m, s, ms, us, ns), got \"' + self + '\"'",
          'must be a Go duration such as 30s, 5m or 1h30m (units h, m, s, ms, us, ns), got "<duration>"',
        ),
      },
      {
        // Only well-formed text reaches duration(), which would fail on anything else.
        rule: `!self.matches(${pattern}) || duration(self) > duration('0s')`,
        message: message('must be longer than zero, e.g. 30s, 5m or 1h30m'),
      },
      {
        rule: `!self.matches(${pattern}) || duration(self) <= duration('${MAX_DURATION}')`,
        message: messageExpression(`'must be at most ${MAX_DURATION} (30 days), got "' + self + '"; a longer or repeating experiment is a schedule'`, `must be at most ${MAX_DURATION} (30 days), got "<duration>"; a longer or repeating experiment is a schedule`),
      },
    ],
  });
}

/** The standard metav1.Condition shape, with the apiserver's own bounds. */
export function condition(typeName: string, knownTypes: { typeName: string; values: readonly string[] }): ObjectSchema {
  return object(typeName, 'One aspect of the experiment\'s state, in the standard Kubernetes condition shape (metav1.Condition).', {
    type: required(string('What the condition is about, in CamelCase.', {
      pattern: '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$',
      maxLength: 316,
      knownValues: knownTypes,
    })),
    status: required(enumeration('ConditionStatus', 'Whether the condition holds.', ['True', 'False', 'Unknown'])),
    observedGeneration: optional(integer('The metadata.generation the condition was computed from.', { format: 'int64', minimum: 0 })),
    lastTransitionTime: required(time('When status last changed.')),
    reason: required(string('Why, as a CamelCase word a program can match on.', {
      pattern: '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$',
      minLength: 1,
      maxLength: 1024,
    })),
    message: required(string('Why, for people. May be empty.', { maxLength: 32768 })),
  });
}

/** The list of conditions, merged by `type` under server-side apply. Each kind names its own condition type. */
export function conditions(typeName: string, knownTypes: { typeName: string; values: readonly string[] }): Field {
  return optional(array('The experiment\'s conditions, one per type.', condition(typeName, knownTypes), {
    maxItems: 16,
    listType: 'map',
    mapKeys: ['type'],
  }));
}

/**
 * Transition rules that keep each named spec field as it was at creation. The rules sit on
 * the spec object rather than on the fields, because a rule on an optional field is not
 * evaluated when the field is added or removed.
 */
export function immutableFields(spec: Readonly<Record<string, Field>>, mutable: readonly string[], path: string): CelRule[] {
  return Object.entries(spec)
    .filter(([name]) => !mutable.includes(name))
    .map(([name, field]) => ({
      rule: field.required
        ? `self.${name} == oldSelf.${name}`
        : `has(self.${name}) == has(oldSelf.${name}) && (!has(self.${name}) || self.${name} == oldSelf.${name})`,
      message: message(`${path}.${name} cannot change while the experiment exists; delete and recreate it`),
      fieldPath: `.${name}`,
      reason: 'FieldValueForbidden',
    }));
}
