import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { crdYaml, customResourceDefinition, type CustomResourceDefinition } from '../../src/api/crd.ts';
import { chaosApi } from '../../src/api/group.ts';
import type { JsonSchemaProps } from '../../src/api/openapi.ts';

interface Node {
  path: string;
  schema: JsonSchemaProps;
}

/** Every schema node below root, with a JSON-path-like name for messages. */
function walk(schema: JsonSchemaProps, path: string): Node[] {
  const out: Node[] = [{ path, schema }];
  for (const [name, child] of Object.entries(schema.properties ?? {})) out.push(...walk(child, `${path}.${name}`));
  if (schema.items !== undefined) out.push(...walk(schema.items, `${path}[*]`));
  if (schema.additionalProperties !== undefined) out.push(...walk(schema.additionalProperties, `${path}{*}`));
  return out;
}

/** The CRDs as the apiserver will read them: rendered to YAML and parsed back. */
const crds = chaosApi.kinds.map((kind) => parse(crdYaml(customResourceDefinition(chaosApi, kind))) as CustomResourceDefinition);

for (const crd of crds) {
  const version = crd.spec.versions[0];
  assert.ok(version, `${crd.metadata.name} has a version`);
  const root = version.schema.openAPIV3Schema;
  const spec = root.properties?.['spec'];
  const status = root.properties?.['status'];
  assert.ok(spec && status, `${crd.metadata.name} has spec and status`);
  const nodes = [...walk(spec, '.spec'), ...walk(status, '.status')];
  /** The chaos kinds, which run on the experiment engine; Schedule, Workflow and StatusCheck have their own rules. */
  const experiment = ['PodChaos', 'NetworkChaos'].includes(crd.spec.names.kind);

  describe(`${crd.metadata.name} structural schema`, () => {
    it('gives every node a type', () => {
      const untyped = [root, ...Object.values(root.properties ?? {})].filter((s) => s.type === undefined);
      assert.deepEqual(untyped, []);
      assert.deepEqual(nodes.filter((n) => n.schema.type === undefined).map((n) => n.path), []);
    });

    it('never says additionalProperties: false, which CRD schemas may not', () => {
      const text = JSON.stringify(root);
      assert.doesNotMatch(text, /"additionalProperties":\s*false/);
      for (const node of nodes) {
        if (node.schema.additionalProperties !== undefined) assert.equal(typeof node.schema.additionalProperties, 'object', node.path);
      }
    });

    it('bounds every string, list and map, so CEL cost estimation stays within budget', () => {
      const unbounded = nodes.filter(({ schema }) =>
        (schema.type === 'string' && schema.maxLength === undefined && schema.enum === undefined) ||
        (schema.type === 'array' && schema.maxItems === undefined) ||
        (schema.type === 'object' && schema.additionalProperties !== undefined && schema.maxProperties === undefined));
      assert.deepEqual(unbounded.map((n) => n.path), []);
    });

    it('lists as required only fields it defines', () => {
      for (const { path, schema } of nodes) {
        for (const name of schema.required ?? []) assert.ok(schema.properties?.[name], `${path} requires ${name}, which it does not define`);
      }
    });

    it('keys map lists by required fields', () => {
      for (const { path, schema } of nodes.filter((n) => n.schema['x-kubernetes-list-type'] === 'map')) {
        for (const key of schema['x-kubernetes-list-map-keys'] ?? []) {
          assert.ok(schema.items?.required?.includes(key), `${path} is keyed by ${key}, which its items do not require`);
        }
      }
    });

    it('gives every CEL rule exactly one message and a fieldPath that exists', () => {
      const rules = nodes.flatMap((n) => (n.schema['x-kubernetes-validations'] ?? []).map((rule) => ({ ...n, rule })));
      assert.ok(rules.length > 0);
      for (const { path, schema, rule } of rules) {
        assert.notEqual(rule.message === undefined, rule.messageExpression === undefined, `${path}: ${rule.rule}`);
        if (rule.fieldPath !== undefined) {
          const field = rule.fieldPath.replace(/^\./, '');
          assert.ok(schema.properties?.[field], `${path}: fieldPath ${rule.fieldPath} names no field`);
        }
      }
    });

    if (experiment) it('makes every spec field except paused immutable, with a message naming it', () => {
      const transitions = (spec['x-kubernetes-validations'] ?? []).filter((r) => r.rule.includes('oldSelf'));
      const guarded = transitions.map((r) => r.fieldPath?.replace(/^\./, ''));
      const fields = Object.keys(spec.properties ?? {}).filter((f) => f !== 'paused');
      assert.deepEqual(guarded, fields);
      for (const rule of transitions) {
        assert.equal(rule.message, `spec${rule.fieldPath} cannot change while the experiment exists; delete and recreate it`);
      }
    });

    it('points every printer column at a field the schema has', () => {
      for (const column of version.additionalPrinterColumns) {
        if (column.jsonPath.startsWith('.metadata.')) continue;
        let schema: JsonSchemaProps | undefined = root;
        // A filter such as [?(@.type=="Completed")] picks items of a list: walk into the list's items.
        for (const part of column.jsonPath.replace(/\[\?\([^)]*\)\]/g, '[*]').split('.').slice(1)) {
          const list = part.endsWith('[*]');
          schema = schema?.properties?.[list ? part.slice(0, -3) : part];
          if (list) schema = schema?.items;
        }
        assert.ok(schema, `column ${column.name}: ${column.jsonPath}`);
        const expected = column.type === 'date' ? 'string' : column.type;
        assert.equal(schema.type, expected, `column ${column.name}`);
      }
    });

    if (experiment) it('shows action, phase, target count, verdict and age in plain `kubectl get`', () => {
      const shown = version.additionalPrinterColumns.filter((c) => (c.priority ?? 0) === 0).map((c) => c.name);
      assert.deepEqual(shown, ['Action', 'Phase', 'Targets', 'Verdict', 'Age']);
    });

    it('has a status subresource, short names that do not shadow built-ins, and the kerris category', () => {
      assert.deepEqual(version.subresources, { status: {} });
      assert.ok(!crd.spec.names.shortNames.includes('pc'), 'pc is PriorityClass\'s short name');
      assert.ok(crd.spec.names.categories.includes('kerris'));
      // `kubectl get chaos` lists what injects faults, and what runs them; a StatusCheck only reads.
      assert.equal(crd.spec.names.categories.includes('chaos'), crd.spec.names.kind !== 'StatusCheck');
    });
  });
}
