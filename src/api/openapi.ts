import type { CelRule, Schema } from './schema.ts';

/** The subset of apiextensions.k8s.io/v1 JSONSchemaProps that kerris emits. */
export interface JsonSchemaProps {
  type: 'object' | 'array' | 'string' | 'integer' | 'boolean';
  description?: string;
  format?: string;
  enum?: string[];
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  maxItems?: number;
  maxProperties?: number;
  items?: JsonSchemaProps;
  properties?: Record<string, JsonSchemaProps>;
  required?: string[];
  additionalProperties?: JsonSchemaProps;
  'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  'x-kubernetes-list-map-keys'?: string[];
  'x-kubernetes-validations'?: ValidationRule[];
}

export interface ValidationRule {
  rule: string;
  message?: string;
  messageExpression?: string;
  fieldPath?: string;
  reason?: string;
}

/** Renders a schema node as a structural OpenAPI v3 schema; key order is fixed, so output is stable. */
export function toOpenApi(schema: Schema): JsonSchemaProps {
  const out = body(schema);
  if (schema.rules !== undefined && schema.rules.length > 0) out['x-kubernetes-validations'] = schema.rules.map(toValidationRule);
  return out;
}

function body(schema: Schema): JsonSchemaProps {
  switch (schema.kind) {
    case 'string': {
      const out: JsonSchemaProps = { type: 'string', description: schema.description };
      if (schema.format !== undefined) out.format = schema.format;
      if (schema.pattern !== undefined) out.pattern = schema.pattern;
      if (schema.minLength !== undefined) out.minLength = schema.minLength;
      out.maxLength = schema.maxLength;
      return out;
    }
    case 'enum':
      return { type: 'string', description: schema.description, enum: [...schema.values] };
    case 'integer': {
      const out: JsonSchemaProps = { type: 'integer', description: schema.description, format: schema.format };
      if (schema.minimum !== undefined) out.minimum = schema.minimum;
      if (schema.maximum !== undefined) out.maximum = schema.maximum;
      return out;
    }
    case 'boolean':
      return { type: 'boolean', description: schema.description };
    case 'array': {
      const out: JsonSchemaProps = { type: 'array', description: schema.description, items: toOpenApi(schema.items) };
      if (schema.minItems !== undefined) out.minItems = schema.minItems;
      out.maxItems = schema.maxItems;
      if (schema.listType !== undefined) out['x-kubernetes-list-type'] = schema.listType;
      if (schema.mapKeys !== undefined) out['x-kubernetes-list-map-keys'] = [...schema.mapKeys];
      return out;
    }
    case 'map':
      return {
        type: 'object',
        description: schema.description,
        maxProperties: schema.maxProperties,
        additionalProperties: toOpenApi(schema.values),
      };
    case 'object': {
      const properties: Record<string, JsonSchemaProps> = {};
      const required: string[] = [];
      for (const [name, field] of Object.entries(schema.fields)) {
        properties[name] = toOpenApi(field.schema);
        if (field.required) required.push(name);
      }
      const out: JsonSchemaProps = { type: 'object', description: schema.description, properties };
      if (required.length > 0) out.required = required;
      return out;
    }
  }
}

function toValidationRule(rule: CelRule): ValidationRule {
  const out: ValidationRule = { rule: rule.rule };
  if ('text' in rule.message) out.message = rule.message.text;
  else out.messageExpression = rule.message.expression;
  if (rule.fieldPath !== undefined) out.fieldPath = rule.fieldPath;
  if (rule.reason !== undefined) out.reason = rule.reason;
  return out;
}
