/** Label and field selectors in the apiserver's query syntax, built from structured values. */

export interface LabelRequirement {
  key: string;
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
  values?: readonly string[];
}

export interface LabelSelector {
  matchLabels?: Readonly<Record<string, string>>;
  matchExpressions?: readonly LabelRequirement[];
}

const KEY = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const FIELD = /^[a-zA-Z][a-zA-Z0-9.]*$/;

function checkKey(key: string): void {
  const name = key.slice(key.indexOf('/') + 1);
  if (!KEY.test(key) || name.length > 63 || key.length - name.length > 254) throw new Error(`label key ${JSON.stringify(key)} is not a qualified name`);
}

function checkValue(key: string, value: string): void {
  if (value.length > 63 || !VALUE.test(value)) throw new Error(`label ${key}: value ${JSON.stringify(value)} is not a label value`);
}

/**
 * `app=web,tier in (a,b),!legacy`. Every key and value is checked, since a
 * comma or parenthesis in one would change what the selector means.
 * An empty selector gives '' (everything).
 */
export function formatLabelSelector(selector: LabelSelector): string {
  const parts: string[] = [];
  for (const [key, value] of Object.entries(selector.matchLabels ?? {}).sort(([a], [b]) => a.localeCompare(b))) {
    checkKey(key);
    checkValue(key, value);
    parts.push(`${key}=${value}`);
  }
  for (const { key, operator, values = [] } of selector.matchExpressions ?? []) {
    checkKey(key);
    for (const value of values) checkValue(key, value);
    switch (operator) {
      case 'In':
      case 'NotIn':
        if (values.length === 0) throw new Error(`label ${key}: operator ${operator} needs at least one value`);
        parts.push(`${key} ${operator === 'In' ? 'in' : 'notin'} (${[...values].sort().join(',')})`);
        break;
      case 'Exists':
      case 'DoesNotExist':
        if (values.length > 0) throw new Error(`label ${key}: operator ${operator} takes no values`);
        parts.push(operator === 'Exists' ? key : `!${key}`);
        break;
    }
  }
  return parts.join(',');
}

/** `spec.nodeName=node-1,status.phase!=Failed`; values are escaped as the apiserver expects. */
export function formatFieldSelector(equal: Readonly<Record<string, string>>, notEqual: Readonly<Record<string, string>> = {}): string {
  const escape = (value: string): string => value.replace(/\\/g, '\\\\').replace(/,/g, '\\,').replace(/=/g, '\\=');
  const parts: string[] = [];
  for (const [operator, fields] of [['=', equal], ['!=', notEqual]] as const) {
    for (const [field, value] of Object.entries(fields)) {
      if (!FIELD.test(field)) throw new Error(`field ${JSON.stringify(field)} is not a field path`);
      parts.push(`${field}${operator}${escape(value)}`);
    }
  }
  return parts.join(',');
}
