/**
 * NetworkChaos's schema source, without an apiserver: its value patterns admit only what the node daemon's
 * parsers take (so an admitted object is never refused later by the daemon's grammar), the requester-access
 * policy checks peers' namespaces only where a kind asks for it, and the reference and examples cover the kind.
 */
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parse } from 'yaml';
import { requesterAccessPolicy } from '../../src/api/admission.ts';
import { repoRoot } from '../../src/api/generate.ts';
import { networkChaosResource, type NetworkChaos } from '../../src/api/generated/types.ts';
import { apiReference } from '../../src/api/markdown.ts';
import {
  devicePattern, latencyPattern, MAX_RATE_BITS, MIN_RATE_BITS, networkChaos, percentPattern, RATE_UNIT_BITS, ratePattern,
} from '../../src/api/networkchaos.ts';
import { podChaos } from '../../src/api/podchaos.ts';
import type { CelRule, Schema } from '../../src/api/schema.ts';
import { parseDeviceName, parseDuration, parsePercent, parseRate } from '../../src/daemon/net/values.ts';

const accepts = (parser: () => unknown): boolean => {
  try {
    parser();
    return true;
  } catch {
    return false;
  }
};

/** Text near each grammar, so that random strings land on both sides of the patterns. */
const textFrom = (alphabet: string, maxLength: number) => fc.string({ unit: fc.constantFrom(...alphabet.split('')), maxLength });
const units = ['us', 'ms', 's', 'ns', 'm', 'h', 'µs'];
const durationLike = fc.oneof(
  fc.tuple(fc.integer({ min: 0, max: 2_000_000_000 }), fc.option(textFrom('0123456789', 8), { nil: undefined }), fc.constantFrom(...units))
    .map(([whole, fraction, unit]) => `${whole}${fraction === undefined ? '' : `.${fraction}`}${unit}`),
  textFrom('0123456789.usmh -', 14),
);
const percentLike = fc.oneof(
  fc.tuple(fc.integer({ min: 0, max: 1000 }), fc.option(textFrom('0123456789', 6), { nil: undefined }), fc.boolean())
    .map(([whole, fraction, sign]) => `${whole}${fraction === undefined ? '' : `.${fraction}`}${sign ? '%' : ''}`),
  textFrom('0123456789.%-', 10),
);
const rateLike = fc.oneof(
  fc.tuple(fc.bigInt({ min: 0n, max: 10n ** 13n }), fc.constantFrom(...RATE_UNIT_BITS.map(([unit]) => unit), 'tbit', 'Mbps', 'kibit', ''))
    .map(([n, unit]) => `${n}${unit}`),
  textFrom('0123456789bitkmgps ', 16),
);
const deviceLike = fc.oneof(textFrom('abcdefghijklmnopqrstuvwxyz0123456789_.-@/: ', 18), fc.constantFrom('.', '..', 'eth0', 'eth0@if12', '-x', ''));

describe('NetworkChaos values and the node daemon\'s grammar', () => {
  const matches = (pattern: string, text: string) => new RegExp(pattern).test(text);

  it('admits only latencies the daemon parses, and bounds them as it does (60 s)', () => {
    const seconds: Readonly<Record<string, number>> = { us: 1e-6, ms: 1e-3, s: 1 };
    fc.assert(fc.property(durationLike, (text) => {
      if (!matches(latencyPattern, text)) return true;
      // What the CRD's CEL rule computes with duration(self) <= duration('60s').
      const [, amount = '', unit = ''] = /^([0-9.]+)([a-z]+)$/.exec(text) ?? [];
      const withinBound = Number(amount) * (seconds[unit] ?? Number.NaN) <= 60;
      return accepts(() => parseDuration('latency', text, 60_000_000)) === withinBound;
    }), { numRuns: 5000 });
    for (const text of ['0ms', '250us', '1.5s', '0.125ms', '60s', '60000000us', '0.000001s']) assert.ok(matches(latencyPattern, text) && accepts(() => parseDuration('l', text, 60_000_000)), text);
    for (const text of ['1.5us', '1m', '10ns', '01ms', '1.ms', '10 parsecs', '']) assert.ok(!matches(latencyPattern, text), text);
  });

  it('admits exactly the percentages the daemon parses', () => {
    fc.assert(fc.property(percentLike, (text) => matches(percentPattern, text) === accepts(() => parsePercent('p', text))), { numRuns: 5000 });
  });

  it('admits only rates the daemon parses, with the units it reads, between its bounds', () => {
    fc.assert(fc.property(rateLike, (text) => {
      if (!matches(ratePattern, text)) return true;
      const [unit, bits] = RATE_UNIT_BITS.find(([u]) => text.endsWith(u)) ?? assert.fail(`no unit in ${text}`);
      const value = Number(text.slice(0, -unit.length)) * bits;
      const inBounds = value >= MIN_RATE_BITS && value <= MAX_RATE_BITS;
      // What the CRD's CEL computes is what the daemon computes, so its bounds agree with the daemon's.
      return accepts(() => parseRate('r', text)) === inBounds && (!inBounds || parseRate('r', text) === value);
    }), { numRuns: 5000 });
  });

  it('admits exactly the interface names the daemon takes', () => {
    fc.assert(fc.property(deviceLike, (text) => (matches(devicePattern, text) && text !== '.' && text !== '..') === accepts(() => parseDeviceName('d', text))), { numRuns: 5000 });
  });
});

describe('requester access for NetworkChaos', () => {
  const policyOf = (kinds: typeof podChaos[]) => parse(requesterAccessPolicy({ group: 'chaos.kerris.dev', version: 'v1alpha1', kinds }).split('\n---\n')[0] ?? '') as {
    spec: { variables: { name: string; expression: string }[]; validations: { expression: string; messageExpression?: string; message?: string }[] };
  };

  it('asks for create pods/exec and list pods where the fault lands, and list pods where target reaches', () => {
    const { spec } = policyOf([podChaos, networkChaos]);
    // The kind's access checks; the guards' read check (admission.ts checkValidations) has its own message.
    const network = spec.validations.filter((v) => v.expression.startsWith("request.kind.kind != 'NetworkChaos'") && v.messageExpression !== undefined);
    assert.equal(network.length, 3);
    assert.match(network[0]?.expression ?? '', /variables\.namespaces\.all\(ns, authorizer\.group\(''\)\.resource\('pods'\)\.subresource\('exec'\)\.namespace\(ns\)\.check\('create'\)/);
    assert.match(network[1]?.expression ?? '', /variables\.namespaces\.all\(.*check\('list'\)/);
    assert.match(network[2]?.expression ?? '', /variables\.targetNamespaces\.all\(.*check\('list'\)/);
    assert.match(network[0]?.messageExpression ?? '', /you may not create pods\/exec in every namespace this NetworkChaos reaches \(/);
    assert.match(network[2]?.messageExpression ?? '', /you may not list pods in every namespace this NetworkChaos reaches through its target \(/);
  });

  it('reads target\'s namespaces only when it is set, by the same rule as the selector\'s', () => {
    const variables = policyOf([podChaos, networkChaos]).spec.variables;
    assert.deepEqual(variables.map((v) => v.name), ['namespaces', 'targetNamespaces']);
    const [own, target] = variables.map((v) => v.expression);
    assert.equal(target, `!has(object.spec.target) ? [] : ${own?.replaceAll('object.spec.selector', 'object.spec.target.selector')}`);
  });

  it('leaves a policy for kinds without peers as it was: one variable, the selector\'s', () => {
    assert.deepEqual(policyOf([podChaos]).spec.variables.map((v) => v.name), ['namespaces']);
  });
});

describe('NetworkChaos in docs/api.md and examples/', () => {
  const reference = apiReference({ group: 'chaos.kerris.dev', version: 'v1alpha1', kinds: [networkChaos] }, '');

  it('documents every spec and status field and quotes every rule message', () => {
    for (const schema of [networkChaos.spec, networkChaos.status]) {
      for (const field of Object.keys(schema.fields)) assert.ok(reference.includes(`| \`${field}\` |`), field);
    }
    const rules: CelRule[] = [];
    const visit = (schema: Schema): void => {
      rules.push(...(schema.rules ?? []));
      if (schema.kind === 'object') Object.values(schema.fields).forEach((f) => visit(f.schema));
      if (schema.kind === 'array') visit(schema.items);
      if (schema.kind === 'map') visit(schema.values);
    };
    visit(networkChaos.spec);
    assert.ok(rules.length > 30);
    for (const rule of rules) {
      const text = 'text' in rule.message ? rule.message.text : rule.message.shown;
      assert.ok(reference.includes(`\`${text}\``), text);
    }
  });

  it('lists a difference from Chaos Mesh for each kerris-only field and each field Chaos Mesh has and kerris not', () => {
    for (const topic of ['Pause', 'Dry run', 'Seed', 'Duration', '`ports`, `protocol`', '`verify` and evidence', 'IPv6', 'Ingress (`from`, `both`)', '`remoteCluster`', 'Peers (`target`)']) {
      assert.ok(networkChaos.differencesFromChaosMesh.some((d) => d.topic === topic), topic);
    }
  });

  it('has examples of this API version whose fields the schema defines', async () => {
    const files = (await readdir(join(repoRoot, 'examples'))).filter((f) => f.startsWith('networkchaos-') && f.endsWith('.yaml'));
    assert.deepEqual(files.sort(), ['networkchaos-bandwidth.yaml', 'networkchaos-delay.yaml', 'networkchaos-loss.yaml', 'networkchaos-partition.yaml']);
    for (const file of files) {
      const example = parse(await readFile(join(repoRoot, 'examples', file), 'utf8')) as NetworkChaos;
      assert.equal(example.apiVersion, networkChaosResource.apiVersion, file);
      assert.equal(example.kind, networkChaosResource.kind, file);
      for (const field of Object.keys(example.spec)) assert.ok(field in networkChaos.spec.fields, `${file}: spec.${field}`);
    }
  });
});
