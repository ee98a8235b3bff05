import { generatedHeader } from './crd.ts';
import { resourceMetadata, type ApiGroupVersion } from './resource.ts';
import { namedSchemas, type NamedSchema, type Schema } from './schema.ts';

/** Renders the TS module of types and runtime metadata for every kind of the group version. */
export function typescriptModule(api: ApiGroupVersion): string {
  const lines: string[] = [
    `// ${generatedHeader}`,
    '',
    "import type { ListMeta, ObjectMeta } from '../object-meta.ts';",
    '',
    `export const group = ${quote(api.group)};`,
    `export const version = ${quote(api.version)};`,
    `export const apiVersion = ${quote(`${api.group}/${api.version}`)};`,
  ];
  for (const kind of api.kinds) {
    const meta = resourceMetadata(api, kind);
    lines.push('', `/** How to address ${kind.kind} objects over REST. */`);
    lines.push(`export const ${lowerFirst(kind.kind)}Resource = {`);
    for (const [key, value] of Object.entries(meta)) lines.push(`  ${key}: ${literal(value)},`);
    lines.push('} as const;');
    lines.push('', docComment(kind.description, ''));
    lines.push(`export interface ${kind.kind} {`);
    lines.push(`  apiVersion: ${quote(meta.apiVersion)};`);
    lines.push(`  kind: ${quote(kind.kind)};`);
    lines.push('  metadata: ObjectMeta;');
    lines.push(`  spec: ${kind.spec.typeName};`);
    lines.push(`  status?: ${kind.status.typeName};`);
    lines.push('}');
    lines.push('', `export interface ${meta.listKind} {`);
    lines.push(`  apiVersion: ${quote(meta.apiVersion)};`);
    lines.push(`  kind: ${quote(meta.listKind)};`);
    lines.push('  metadata: ListMeta;');
    lines.push(`  items: ${kind.kind}[];`);
    lines.push('}');
  }
  for (const named of namedSchemas(api.kinds.flatMap((kind) => [kind.spec, kind.status]))) {
    lines.push('', ...declaration(named));
  }
  return `${lines.join('\n')}\n`;
}

function declaration(named: NamedSchema): string[] {
  switch (named.kind) {
    case 'object': {
      const out = [docComment(named.description, ''), `export interface ${named.typeName} {`];
      for (const [name, field] of Object.entries(named.fields)) {
        out.push(docComment(field.schema.description, '  '));
        out.push(`  ${name}${field.required ? '' : '?'}: ${typeOf(field.schema)};`);
      }
      out.push('}');
      return out;
    }
    case 'enum':
      return [
        docComment(named.description, ''),
        `export type ${named.typeName} = ${named.values.map(quote).join(' | ')};`,
        `export const ${lowerFirst(named.typeName)}Values: readonly ${named.typeName}[] = [${named.values.map(quote).join(', ')}];`,
      ];
    case 'string':
      return [
        `/** Values ${named.knownValues.typeName} usually holds; the field itself accepts any string. */`,
        `export type ${named.knownValues.typeName} = ${named.knownValues.values.map(quote).join(' | ')};`,
        `export const ${lowerFirst(named.knownValues.typeName)}Values: readonly ${named.knownValues.typeName}[] = [${named.knownValues.values.map(quote).join(', ')}];`,
      ];
  }
}

function typeOf(schema: Schema): string {
  switch (schema.kind) {
    case 'string':
      return 'string';
    case 'integer':
      return 'number';
    case 'boolean':
      return 'boolean';
    case 'enum':
    case 'object':
      return schema.typeName;
    case 'array': {
      const item = typeOf(schema.items);
      return item.includes(' ') ? `(${item})[]` : `${item}[]`;
    }
    case 'map':
      return `Record<string, ${typeOf(schema.values)}>`;
  }
}

function docComment(text: string, indent: string): string {
  const body = text.replaceAll('*/', '*\\/').split('\n');
  if (body.length === 1) return `${indent}/** ${body[0]} */`;
  return [`${indent}/**`, ...body.map((line) => (line === '' ? `${indent} *` : `${indent} * ${line}`)), `${indent} */`].join('\n');
}

function literal(value: string | boolean | readonly string[]): string {
  if (typeof value === 'boolean') return String(value);
  if (typeof value === 'string') return quote(value);
  return `[${value.map(quote).join(', ')}]`;
}

function quote(value: string): string {
  return `'${value.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;
}

function lowerFirst(name: string): string {
  return name.charAt(0).toLowerCase() + name.slice(1);
}
