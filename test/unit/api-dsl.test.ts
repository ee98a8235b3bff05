import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parse } from 'yaml';
import { durationMaxLength, durationPattern, immutableFields } from '../../src/api/common.ts';
import { repoRoot } from '../../src/api/generate.ts';
import { toOpenApi } from '../../src/api/openapi.ts';
import { podChaos } from '../../src/api/podchaos.ts';
import {
  array, boolean, describedAs, enumeration, integer, namedSchemas, object, optional, required, SchemaNameClash, string,
  type CelRule, type Schema,
} from '../../src/api/schema.ts';
import { typescriptModule } from '../../src/api/typescript.ts';
import { apiReference } from '../../src/api/markdown.ts';
import { podChaosResource, type PodChaos } from '../../src/api/generated/types.ts';

describe('schema DSL', () => {
  const colour = enumeration('Colour', 'A colour.', ['red', 'blue']);
  const thing = object('Thing', 'A thing.', {
    colour: required(colour),
    size: optional(integer('How big.', { format: 'int32', minimum: 1, maximum: 9 })),
    tags: optional(array('Tags.', string('A tag.', { maxLength: 8 }), { maxItems: 4, listType: 'set' })),
  });

  it('renders OpenAPI with required fields, bounds and list types', () => {
    assert.deepEqual(toOpenApi(thing), {
      type: 'object',
      description: 'A thing.',
      properties: {
        colour: { type: 'string', description: 'A colour.', enum: ['red', 'blue'] },
        size: { type: 'integer', description: 'How big.', format: 'int32', minimum: 1, maximum: 9 },
        tags: { type: 'array', description: 'Tags.', items: { type: 'string', description: 'A tag.', maxLength: 8 }, maxItems: 4, 'x-kubernetes-list-type': 'set' },
      },
      required: ['colour'],
    });
  });

  it('lets a named type be reused with another description, but not two shapes share a name', () => {
    const holder = object('Holder', 'Holds.', { a: required(thing), b: optional(describedAs(thing, 'Another thing.')) });
    assert.deepEqual(namedSchemas([holder]).map((s) => s.kind === 'string' ? s.knownValues.typeName : s.typeName), ['Holder', 'Thing', 'Colour']);
    const impostor = object('Thing', 'Not the same.', { on: required(boolean('On.')) });
    assert.throws(() => namedSchemas([object('Both', 'Both.', { a: required(thing), b: required(impostor) })]), SchemaNameClash);
  });

  it('guards optional fields against being added or removed, not only changed', () => {
    const rules = immutableFields(thing.fields, ['tags'], 'spec');
    assert.deepEqual(rules.map((r) => r.rule), [
      'self.colour == oldSelf.colour',
      'has(self.size) == has(oldSelf.size) && (!has(self.size) || self.size == oldSelf.size)',
    ]);
  });
});

describe('duration pattern', () => {
  const matches = (text: string): boolean => new RegExp(durationPattern).test(text);
  it('accepts Go durations', () => {
    for (const ok of ['30s', '5m', '1h30m', '0.5ms', '1.5h', '100us', '2µs', '10ns', '1h2m3s4ms']) assert.ok(matches(ok), ok);
  });
  it('refuses signs, bare numbers, unknown units and empty text', () => {
    for (const bad of ['-5s', '+5s', '5', 's', '', '1d', '1H', '5 m', '1.s', '123456s']) assert.ok(!matches(bad), bad);
  });

  it('accepts any sum of unsigned components and refuses it with a sign', () => {
    const component = fc.tuple(fc.integer({ min: 0, max: 99999 }), fc.option(fc.integer({ min: 0, max: 999999999 }), { nil: undefined }), fc.constantFrom('ns', 'us', 'µs', 'ms', 's', 'm', 'h'))
      .map(([whole, fraction, unit]) => `${whole}${fraction === undefined ? '' : `.${fraction}`}${unit}`);
    fc.assert(fc.property(fc.array(component, { minLength: 1, maxLength: 4 }), (parts) => {
      const text = parts.join('');
      return matches(text) && !matches(`-${text}`) && !matches(`+${text}`);
    }));
  });

  it('cannot express a duration beyond int64 nanoseconds within the length limit', () => {
    const longest = '99999h'.repeat(Math.floor(durationMaxLength / '99999h'.length));
    assert.ok(matches(longest));
    const hours = 99999 * (longest.length / '99999h'.length);
    assert.ok(hours * 3600e9 < 2 ** 63, `${hours} h overflows`);
  });
});

describe('generated TypeScript', () => {
  it('declares every named schema of the API', () => {
    const module = typescriptModule({ group: 'g.example', version: 'v1', kinds: [podChaos] });
    for (const named of namedSchemas([podChaos.spec, podChaos.status])) {
      const name = named.kind === 'string' ? named.knownValues.typeName : named.typeName;
      assert.match(module, new RegExp(`export (interface|type) ${name}\\b`));
    }
  });

  it('exports the REST coordinates the controller needs', () => {
    assert.equal(podChaosResource.group, 'chaos.kerris.dev');
    assert.equal(podChaosResource.version, 'v1alpha1');
    assert.equal(podChaosResource.plural, 'podchaos');
    assert.equal(podChaosResource.kind, 'PodChaos');
    assert.equal(podChaosResource.crdName, 'podchaos.chaos.kerris.dev');
  });
});

describe('docs/api.md', () => {
  const reference = apiReference({ group: 'chaos.kerris.dev', version: 'v1alpha1', kinds: [podChaos] }, '');

  it('documents every spec and status field', () => {
    for (const schema of [podChaos.spec, podChaos.status]) {
      for (const field of Object.keys(schema.fields)) assert.ok(reference.includes(`| \`${field}\` |`), field);
    }
  });

  it('quotes every rule message, so users can look an error up', () => {
    const rules: CelRule[] = [];
    const visit = (schema: Schema): void => {
      rules.push(...(schema.rules ?? []));
      if (schema.kind === 'object') Object.values(schema.fields).forEach((f) => visit(f.schema));
      if (schema.kind === 'array') visit(schema.items);
      if (schema.kind === 'map') visit(schema.values);
    };
    visit(podChaos.spec);
    visit(podChaos.status);
    assert.ok(rules.length > 10);
    for (const rule of rules) {
      const text = 'text' in rule.message ? rule.message.text : rule.message.shown;
      assert.ok(reference.includes(`\`${text}\``), text);
    }
  });

  it('lists the differences from Chaos Mesh, including the kerris-only fields', () => {
    for (const topic of ['Pause', 'Dry run', 'Seed', 'Duration']) assert.match(reference, new RegExp(`\\| ${topic} \\|`));
  });
});

describe('examples', () => {
  it('are PodChaos objects of this API version whose fields the schema defines', async () => {
    const files = (await readdir(join(repoRoot, 'examples'))).filter((f) => f.startsWith('podchaos-') && f.endsWith('.yaml'));
    assert.ok(files.length >= 2);
    for (const file of files) {
      const example = parse(await readFile(join(repoRoot, 'examples', file), 'utf8')) as PodChaos;
      assert.equal(example.apiVersion, podChaosResource.apiVersion, file);
      assert.equal(example.kind, podChaosResource.kind, file);
      for (const field of Object.keys(example.spec)) assert.ok(field in podChaos.spec.fields, `${file}: spec.${field}`);
    }
  });
});
