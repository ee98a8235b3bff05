import { generatedHeader } from './crd.ts';
import { resourceMetadata, type ApiGroupVersion, type KindDefinition } from './resource.ts';
import { namedSchemas, type CelRule, type NamedSchema, type Schema } from './schema.ts';

/** Renders docs/api.md: the reference for every kind of the group version. */
export function apiReference(api: ApiGroupVersion, intro: string): string {
  const out: string[] = [
    '# kerris API reference',
    '',
    `<!-- ${generatedHeader} -->`,
    '',
    intro.trim(),
    '',
    `Group \`${api.group}\`, version \`${api.version}\`. Kinds: ${api.kinds.map((kind) => `[${kind.kind}](#${anchor(kind.kind)})`).join(', ')}.`,
  ];
  for (const kind of api.kinds) out.push('', ...kindSection(api, kind));
  return `${out.join('\n')}\n`;
}

function kindSection(api: ApiGroupVersion, kind: KindDefinition): string[] {
  const meta = resourceMetadata(api, kind);
  const out = [
    `## ${kind.kind}`,
    '',
    kind.description,
    '',
    '| | |',
    '|---|---|',
    `| apiVersion | \`${meta.apiVersion}\` |`,
    `| kind | \`${meta.kind}\` (list: \`${meta.listKind}\`) |`,
    `| resource | \`${meta.plural}\` (CRD \`${meta.crdName}\`), namespaced |`,
    `| short names | ${meta.shortNames.map(code).join(', ')} |`,
    `| categories | ${meta.categories.map(code).join(', ')} (\`kubectl get ${meta.categories[0] ?? meta.plural}\` lists every kind in the category) |`,
    '',
    '### Columns of `kubectl get`',
    '',
    '| column | from | shown |',
    '|---|---|---|',
    ...kind.printerColumns.map((column) => `| ${column.name} | \`${column.jsonPath}\` — ${cell(column.description)} | ${column.priority === 1 ? 'with `-o wide`' : 'always'} |`),
  ];
  for (const section of kind.semantics) out.push('', `### ${section.title}`, '', section.body.trim());
  out.push('', '### Types', '', `\`spec\` is a [${kind.spec.typeName}](#${anchor(kind.spec.typeName)}), \`status\` a [${kind.status.typeName}](#${anchor(kind.status.typeName)}).`);
  for (const named of namedSchemas([kind.spec, kind.status])) out.push('', ...typeSection(named));
  out.push(
    '',
    '### Differences from Chaos Mesh',
    '',
    `A Chaos Mesh ${kind.kind} manifest ports by changing \`apiVersion\` to \`${meta.apiVersion}\`, unless it relies on one of these differences.`,
    '',
    '| topic | Chaos Mesh | kerris |',
    '|---|---|---|',
    ...kind.differencesFromChaosMesh.map((d) => `| ${cell(d.topic)} | ${cell(d.chaosMesh)} | ${cell(d.kerris)} |`),
  );
  return out;
}

function typeSection(named: NamedSchema): string[] {
  switch (named.kind) {
    case 'object': {
      const out = [
        `#### ${named.typeName}`,
        '',
        named.description,
        '',
        '| field | type | required | description | constraints |',
        '|---|---|---|---|---|',
      ];
      for (const [name, field] of Object.entries(named.fields)) {
        out.push(`| \`${name}\` | ${typeCell(field.schema)} | ${field.required ? 'yes' : 'no'} | ${cell(field.schema.description)} | ${cell(constraints(field.schema).join('; '))} |`);
      }
      const rules = nestedRules(named);
      if (rules.length > 0) {
        out.push('', 'The apiserver checks these rules and answers with the message shown:', '');
        for (const { where, rule } of rules) out.push(`- ${where}${ruleLine(rule)}`);
      }
      return out;
    }
    case 'enum':
      return [`#### ${named.typeName}`, '', named.description, '', `One of ${named.values.map(code).join(', ')}.`];
    case 'string':
      return [
        `#### ${named.knownValues.typeName}`,
        '',
        named.description,
        '',
        `Usual values: ${named.knownValues.values.map(code).join(', ')}. Other values are allowed.`,
      ];
  }
}

/** Rules on the object itself and on its scalar, array and map fields (named types list their own). */
function nestedRules(named: Extract<NamedSchema, { kind: 'object' }>): { where: string; rule: CelRule }[] {
  const out = (named.rules ?? []).map((rule) => ({ where: rule.fieldPath === undefined ? '' : `on \`${rule.fieldPath.slice(1)}\`: `, rule }));
  for (const [name, field] of Object.entries(named.fields)) {
    const visit = (schema: Schema, path: string): void => {
      if (schema.kind === 'object' || schema.kind === 'enum') return;
      for (const rule of schema.rules ?? []) out.push({ where: `on \`${path}\`: `, rule });
      if (schema.kind === 'array') visit(schema.items, `${path}[*]`);
      if (schema.kind === 'map') visit(schema.values, `${path}[*]`);
    };
    visit(field.schema, name);
  }
  return out;
}

function ruleLine(rule: CelRule): string {
  const transition = rule.rule.includes('oldSelf') ? ' (on update)' : '';
  const text = 'text' in rule.message ? rule.message.text : rule.message.shown;
  return `\`${text}\`${transition}; rule: \`${rule.rule}\``;
}

function typeCell(schema: Schema): string {
  switch (schema.kind) {
    case 'string':
      return schema.format === 'date-time' ? 'string (RFC 3339 time)' : 'string';
    case 'integer':
      return `integer (${schema.format})`;
    case 'boolean':
      return 'boolean';
    case 'enum':
    case 'object':
      return `[${schema.typeName}](#${anchor(schema.typeName)})`;
    case 'array':
      return `list of ${typeCell(schema.items)}`;
    case 'map':
      return `map of ${typeCell(schema.values)}`;
  }
}

function constraints(schema: Schema): string[] {
  switch (schema.kind) {
    case 'string': {
      const out: string[] = [];
      if (schema.pattern !== undefined) out.push(`matches \`${schema.pattern}\``);
      out.push(schema.minLength === undefined ? `at most ${schema.maxLength} characters` : `${schema.minLength} to ${schema.maxLength} characters`);
      if (schema.knownValues !== undefined) out.push(`usually ${schema.knownValues.values.map(code).join(', ')}`);
      return out;
    }
    case 'enum':
      return [`one of ${schema.values.map(code).join(', ')}`];
    case 'integer': {
      if (schema.minimum !== undefined && schema.maximum !== undefined) return [`${schema.minimum} to ${schema.maximum}`];
      if (schema.minimum !== undefined) return [`at least ${schema.minimum}`];
      if (schema.maximum !== undefined) return [`at most ${schema.maximum}`];
      return [];
    }
    case 'boolean':
    case 'object':
      return [];
    case 'array': {
      const count = schema.minItems === undefined ? `at most ${schema.maxItems} items` : `${schema.minItems} to ${schema.maxItems} items`;
      const unique = schema.listType === 'set' ? ['items unique'] : [];
      const keyed = schema.mapKeys === undefined ? [] : [`keyed by ${schema.mapKeys.map(code).join(', ')}`];
      const items = constraints(schema.items).map((c) => `each ${c}`);
      return [count, ...unique, ...keyed, ...items];
    }
    case 'map':
      return [`keys: ${schema.keyDescription}`, `at most ${schema.maxProperties} entries`, ...constraints(schema.values).map((c) => `each value ${c}`)];
  }
}

function cell(text: string): string {
  return text.replaceAll('|', '\\|').replaceAll('\n\n', '<br><br>').replaceAll('\n', ' ');
}

function code(text: string): string {
  return `\`${text}\``;
}

function anchor(heading: string): string {
  return heading.toLowerCase().replace(/[^a-z0-9 -]/g, '').replaceAll(' ', '-');
}
