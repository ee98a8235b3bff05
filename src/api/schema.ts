/**
 * A tiny typed schema DSL. One value of these types is the single source for
 * the CRD's structural schema, the generated TypeScript types and docs/api.md,
 * so every node carries what all three need: bounds for the apiserver's CEL
 * cost estimator, a name for TypeScript, and prose for the reference.
 */

/** The `reason` values the apiserver accepts on an `x-kubernetes-validations` rule. */
export type RuleReason = 'FieldValueInvalid' | 'FieldValueForbidden' | 'FieldValueRequired' | 'FieldValueDuplicate';

/** A CEL rule, rendered as one `x-kubernetes-validations` entry. */
export interface CelRule {
  readonly rule: string;
  /**
   * A fixed message, or a CEL expression that builds one (it may quote the bad value);
   * `shown` is that message for the reference, with <placeholders> for the variable parts.
   */
  readonly message: { readonly text: string } | { readonly expression: string; readonly shown: string };
  /** Where the apiserver reports the error, relative to the node the rule sits on, e.g. `.value`. */
  readonly fieldPath?: string;
  readonly reason?: RuleReason;
}

interface Documented {
  readonly description: string;
  readonly rules?: readonly CelRule[];
}

export interface StringSchema extends Documented {
  readonly kind: 'string';
  readonly maxLength: number;
  readonly minLength?: number;
  readonly pattern?: string;
  readonly format?: 'date-time';
  /** Values this string usually holds; documented and exported as a TS union, not enforced. */
  readonly knownValues?: { readonly typeName: string; readonly values: readonly string[] };
}

/** A closed set of strings: an OpenAPI `enum` and a TS union type named `typeName`. */
export interface EnumSchema extends Documented {
  readonly kind: 'enum';
  readonly typeName: string;
  readonly values: readonly string[];
}

export interface IntegerSchema extends Documented {
  readonly kind: 'integer';
  readonly format: 'int32' | 'int64';
  readonly minimum?: number;
  readonly maximum?: number;
}

export interface BooleanSchema extends Documented {
  readonly kind: 'boolean';
}

export interface ArraySchema extends Documented {
  readonly kind: 'array';
  readonly items: Schema;
  readonly maxItems: number;
  readonly minItems?: number;
  /** `map` lists are merged by `mapKeys` under server-side apply; `set` lists hold unique scalars. */
  readonly listType?: 'atomic' | 'set' | 'map';
  readonly mapKeys?: readonly string[];
}

/** A JSON object with free-form keys: OpenAPI `additionalProperties`, TS `Record<string, T>`. */
export interface MapSchema extends Documented {
  readonly kind: 'map';
  readonly values: Schema;
  readonly maxProperties: number;
  /** What the keys are, for the reference (keys are checked by CEL rules, not structurally). */
  readonly keyDescription: string;
}

export interface Field {
  readonly schema: Schema;
  readonly required: boolean;
}

/** A JSON object with fixed fields: a named TS interface and a section in the reference. */
export interface ObjectSchema extends Documented {
  readonly kind: 'object';
  readonly typeName: string;
  readonly fields: Readonly<Record<string, Field>>;
}

export type Schema = StringSchema | EnumSchema | IntegerSchema | BooleanSchema | ArraySchema | MapSchema | ObjectSchema;

type Options<T extends Schema> = Omit<T, 'kind' | 'description'>;

export function string(description: string, options: Options<StringSchema>): StringSchema {
  return { kind: 'string', description, ...options };
}

export function enumeration(typeName: string, description: string, values: readonly string[], rules?: readonly CelRule[]): EnumSchema {
  return rules === undefined
    ? { kind: 'enum', typeName, description, values }
    : { kind: 'enum', typeName, description, values, rules };
}

export function integer(description: string, options: Options<IntegerSchema>): IntegerSchema {
  return { kind: 'integer', description, ...options };
}

export function boolean(description: string): BooleanSchema {
  return { kind: 'boolean', description };
}

export function array(description: string, items: Schema, options: Omit<Options<ArraySchema>, 'items'>): ArraySchema {
  return { kind: 'array', description, items, ...options };
}

export function map(description: string, values: Schema, options: Omit<Options<MapSchema>, 'values'>): MapSchema {
  return { kind: 'map', description, values, ...options };
}

export function object(typeName: string, description: string, fields: Readonly<Record<string, Field>>, rules?: readonly CelRule[]): ObjectSchema {
  return rules === undefined
    ? { kind: 'object', typeName, description, fields }
    : { kind: 'object', typeName, description, fields, rules };
}

export function required(schema: Schema): Field {
  return { schema, required: true };
}

export function optional(schema: Schema): Field {
  return { schema, required: false };
}

/** The same schema with the description a particular field gives it. */
export function describedAs<T extends Schema>(schema: T, description: string): T {
  return { ...schema, description };
}

/** The same schema with more rules. */
export function withRules<T extends Schema>(schema: T, rules: readonly CelRule[]): T {
  return { ...schema, rules: [...(schema.rules ?? []), ...rules] };
}

export function message(text: string): { readonly text: string } {
  return { text };
}

export function messageExpression(expression: string, shown: string): { readonly expression: string; readonly shown: string } {
  return { expression, shown };
}

/** Named types (objects, enums, known-value strings) in first-reached depth-first order. */
export type NamedSchema = ObjectSchema | EnumSchema | (StringSchema & { readonly knownValues: NonNullable<StringSchema['knownValues']> });

export class SchemaNameClash extends Error {
  readonly typeName: string;
  constructor(typeName: string) {
    super(`two different schemas are both named ${typeName}; give one of them another typeName`);
    this.name = 'SchemaNameClash';
    this.typeName = typeName;
  }
}

export function namedSchemas(roots: readonly Schema[]): NamedSchema[] {
  const found = new Map<string, NamedSchema>();
  const visit = (schema: Schema): void => {
    const named = nameOf(schema);
    if (named !== undefined) {
      const previous = found.get(named.name);
      if (previous !== undefined) {
        if (!sameType(previous, named.schema)) throw new SchemaNameClash(named.name);
        return;
      }
      found.set(named.name, named.schema);
    }
    if (schema.kind === 'object') for (const field of Object.values(schema.fields)) visit(field.schema);
    if (schema.kind === 'array') visit(schema.items);
    if (schema.kind === 'map') visit(schema.values);
  };
  roots.forEach(visit);
  return [...found.values()];
}

function nameOf(schema: Schema): { name: string; schema: NamedSchema } | undefined {
  if (schema.kind === 'object' || schema.kind === 'enum') return { name: schema.typeName, schema };
  if (schema.kind === 'string' && schema.knownValues !== undefined) {
    return { name: schema.knownValues.typeName, schema: { ...schema, knownValues: schema.knownValues } };
  }
  return undefined;
}

/** Reuse may change a description, never the shape. */
function sameType(a: Schema, b: Schema): boolean {
  return JSON.stringify(shape(a)) === JSON.stringify(shape(b));
}

function shape(schema: Schema): unknown {
  switch (schema.kind) {
    case 'object':
      return { ...schema, description: '', fields: Object.fromEntries(Object.entries(schema.fields).map(([k, f]) => [k, { ...f, schema: shape(f.schema) }])) };
    case 'array':
      return { ...schema, description: '', items: shape(schema.items) };
    case 'map':
      return { ...schema, description: '', values: shape(schema.values) };
    default:
      return { ...schema, description: '' };
  }
}
