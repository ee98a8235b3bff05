import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { formatNetworkFault } from '../../src/daemon/net/format.ts';
import { FaultValidationError, validateNetworkFault } from '../../src/daemon/net/validate.ts';

/** One valid fault per action; each test below breaks exactly one field of one of them. */
const valid: Readonly<Record<string, Record<string, unknown>>> = {
  delay: { action: 'delay', delay: { latency: '100ms', jitter: '10ms', correlation: '25' }, scope: { direction: 'egress', device: 'eth0', cidrs: ['10.0.0.0/8'], ports: [80], protocol: 'tcp' } },
  loss: { action: 'loss', loss: { loss: '10', correlation: '5' } },
  duplicate: { action: 'duplicate', duplicate: { duplicate: '1', correlation: '0' } },
  corrupt: { action: 'corrupt', corrupt: { corrupt: '0.5', correlation: '0' } },
  reorder: { action: 'reorder', reorder: { reorder: '25', correlation: '50', gap: 5, latency: '10ms' } },
  bandwidth: { action: 'bandwidth', bandwidth: { rate: '10mbit', limit: 20000, buffer: 10000, peakrate: '20mbit', minburst: 1600 } },
  partition: { action: 'partition', scope: { direction: 'both', cidrs: ['2001:db8::/32'] } },
};

/** Every field that reaches a command: [fault, path into it]. */
const fields: readonly [string, readonly (string | number)[]][] = [
  ['delay', ['action']],
  ['delay', ['scope', 'direction']],
  ['delay', ['scope', 'device']],
  ['delay', ['scope', 'cidrs', 0]],
  ['delay', ['scope', 'ports', 0]],
  ['delay', ['scope', 'protocol']],
  ['delay', ['delay', 'latency']],
  ['delay', ['delay', 'jitter']],
  ['delay', ['delay', 'correlation']],
  ['loss', ['loss', 'loss']],
  ['loss', ['loss', 'correlation']],
  ['duplicate', ['duplicate', 'duplicate']],
  ['duplicate', ['duplicate', 'correlation']],
  ['corrupt', ['corrupt', 'corrupt']],
  ['corrupt', ['corrupt', 'correlation']],
  ['reorder', ['reorder', 'reorder']],
  ['reorder', ['reorder', 'correlation']],
  ['reorder', ['reorder', 'gap']],
  ['reorder', ['reorder', 'latency']],
  ['bandwidth', ['bandwidth', 'rate']],
  ['bandwidth', ['bandwidth', 'limit']],
  ['bandwidth', ['bandwidth', 'buffer']],
  ['bandwidth', ['bandwidth', 'peakrate']],
  ['bandwidth', ['bandwidth', 'minburst']],
  ['partition', ['scope', 'cidrs', 0]],
];

function withField(fault: Record<string, unknown>, path: readonly (string | number)[], value: unknown): Record<string, unknown> {
  const copy = structuredClone(fault);
  let node: Record<string | number, unknown> = copy;
  for (const key of path.slice(0, -1)) {
    node[key] ??= typeof path[path.indexOf(key) + 1] === 'number' ? [] : {};
    node = node[key] as Record<string | number, unknown>;
  }
  node[path[path.length - 1] ?? ''] = value;
  return copy;
}

function pathText(path: readonly (string | number)[]): string {
  return path.map((p) => (typeof p === 'number' ? `[${p}]` : p)).join('.').replace(/\.\[/g, '[');
}

/** A value that is valid for the field, so a hostile fragment can hide inside something plausible. */
function plausible(path: readonly (string | number)[]): string {
  const last = String(path[path.length - 1]);
  const samples: Record<string, string> = {
    action: 'delay', direction: 'egress', device: 'eth0', 0: path.includes('ports') ? '80' : '10.0.0.0/8', protocol: 'tcp',
    latency: '100ms', jitter: '10ms', rate: '10mbit', peakrate: '20mbit',
  };
  return samples[last] ?? '10';
}

const shellMeta = fc.constantFrom(';', '|', '&', '$(', '`', '\n', '\r', '\t', ' ', '"', "'", '\\', '>', '<', '*', '?', '!', '#', '~', '{', '}', '(', ')', '\0', '=', ',', '+', '^', '[', ']');
const hostileFragment = fc.array(shellMeta, { minLength: 1, maxLength: 4 }).map((parts) => parts.join(''));
const nonAscii = fc.string({ unit: 'binary', minLength: 1, maxLength: 20 }).filter((s) => /[^\x00-\x7f]/.test(s));

/** Fields that take a JSON integer: a numeric string is as wrong there as any other string. */
const integerFields: ReadonlySet<string> = new Set(['gap', 'limit', 'buffer', 'minburst']);

function hostileFor(path: readonly (string | number)[]): fc.Arbitrary<unknown> {
  const base = plausible(path);
  return fc.oneof(
    fc.tuple(hostileFragment, fc.constantFrom('prefix', 'suffix', 'middle')).map(([h, where]) =>
      where === 'prefix' ? h + base : where === 'suffix' ? base + h : base.slice(0, 1) + h + base.slice(1)),
    fc.tuple(hostileFragment, fc.constantFrom('rm -rf /', 'reboot', '$(id)', 'dev lo root')).map(([h, cmd]) => `${base}${h}${cmd}`),
    nonAscii.map((u) => base + u),
    nonAscii,
    fc.integer({ min: 16, max: 200_000 }).map((n) => base.repeat(Math.ceil(n / base.length)).slice(0, Math.max(n, 50))),
    fc.constantFrom<unknown>(null, true, [], {}, NaN, Infinity, -Infinity, -1, 1e21, '', '-1', '١٠'),
    ...(integerFields.has(String(path[path.length - 1])) || path.includes('ports') ? [fc.constantFrom<unknown>(1.5, 2 ** 53, '10', '0x10', '1e3')] : []),
  );
}

describe('validateNetworkFault', () => {
  test('accepts each sample fault', () => {
    for (const fault of Object.values(valid)) validateNetworkFault(fault);
  });

  for (const [name, path] of fields) {
    test(`rejects hostile values in ${name} ${pathText(path)} with that field's path`, () => {
      fc.assert(fc.property(hostileFor(path), (value) => {
        const input = withField(valid[name] ?? {}, path, value);
        assert.throws(() => validateNetworkFault(input), (error: unknown) => {
          assert.ok(error instanceof FaultValidationError, `expected FaultValidationError, got ${String(error)}`);
          assert.equal(error.path, pathText(path));
          return true;
        });
      }), { numRuns: 300 });
    });
  }

  test('rejects unknown fields anywhere (a typo never silently becomes a different fault)', () => {
    assert.throws(() => validateNetworkFault({ ...valid['delay'], delya: {} }), /unknown field/);
    assert.throws(() => validateNetworkFault(withField(valid['delay'] ?? {}, ['delay', 'latncy'], '1ms')), /delay\."latncy": unknown field/);
    assert.throws(() => validateNetworkFault(withField(valid['delay'] ?? {}, ['scope', 'cidr'], ['10.0.0.0/8'])), /scope\."cidr": unknown field/);
  });

  test('rejects parameters of another action', () => {
    assert.throws(() => validateNetworkFault({ action: 'loss', loss: { loss: 1 }, delay: { latency: '1ms' } }), /delay: not allowed with action loss/);
  });

  test('canonicalises CIDRs and refuses host bits', () => {
    const fault = validateNetworkFault({ action: 'partition', scope: { cidrs: ['2001:DB8:0:0::/64', '10.1.2.3', '::ffff:10.0.0.0/120', '10.1.2.3'] } });
    assert.deepEqual(fault.scope.cidrs.map((c) => `${c.address}/${c.prefix}`), ['10.1.2.3/32', '::ffff:a00:0/120', '2001:db8::/64']);
    assert.throws(() => validateNetworkFault({ action: 'partition', scope: { cidrs: ['10.0.0.1/8'] } }), /host bits set/);
    assert.throws(() => validateNetworkFault({ action: 'partition', scope: { cidrs: ['010.0.0.0/8'] } }), /not an IPv4 or IPv6/);
    assert.throws(() => validateNetworkFault({ action: 'partition', scope: { cidrs: ['fe80::1%eth0'] } }), /not an IPv4 or IPv6/);
    assert.throws(() => validateNetworkFault({ action: 'partition', scope: { cidrs: ['1:2:3:4:5:6:7:8:9'] } }), /not an IPv4 or IPv6/);
    assert.throws(() => validateNetworkFault({ action: 'partition', scope: { cidrs: ['10.0.0.0/33'] } }), /exceeds 32/);
  });

  test('except_cidrs are checked like cidrs (at most 16), canonical, and survive the journal form', () => {
    const fault = validateNetworkFault({ action: 'partition', scope: { direction: 'both', exceptCidrs: ['FD00::1', '10.42.0.0/16', '10.42.0.0/16'] } });
    assert.deepEqual(fault.scope.exceptCidrs.map((c) => `${c.address}/${c.prefix}`), ['10.42.0.0/16', 'fd00::1/128']);
    assert.deepEqual(formatNetworkFault(fault)['scope'], { direction: 'both', protocol: 'all', exceptCidrs: ['10.42.0.0/16', 'fd00::1/128'] });
    assert.deepEqual(validateNetworkFault(formatNetworkFault(fault)), fault);
    assert.deepEqual(validateNetworkFault({ action: 'partition' }).scope.exceptCidrs, []);
    assert.throws(() => validateNetworkFault({ action: 'partition', scope: { exceptCidrs: ['10.0.0.1/8'] } }), /scope\.exceptCidrs\[0\]: .*host bits set/);
    assert.throws(() => validateNetworkFault({ action: 'partition', scope: { exceptCidrs: ['10.0.0.0/8', '10.0.0.0/8 flowid 1:1'] } }), /scope\.exceptCidrs\[1\]/);
    assert.throws(() => validateNetworkFault({ action: 'partition', scope: { exceptCidrs: '10.0.0.0/8' } }), /scope\.exceptCidrs: must be an array/);
    const seventeen = Array.from({ length: 17 }, (_, i) => `10.0.${i}.0/24`);
    assert.throws(() => validateNetworkFault({ action: 'partition', scope: { exceptCidrs: seventeen } }), /scope\.exceptCidrs: must have at most 16 entries, got 17/);
    assert.equal(validateNetworkFault({ action: 'partition', scope: { exceptCidrs: seventeen.slice(1) } }).scope.exceptCidrs.length, 16);
  });

  test('converts units exactly', () => {
    const delay = validateNetworkFault({ action: 'delay', delay: { latency: '1.5s', jitter: '250us', correlation: 12.3456 } });
    assert.deepEqual(delay.action === 'delay' && delay.delay, { latency: 1_500_000, jitter: 250, correlation: 123_456 });
    const bandwidth = validateNetworkFault({ action: 'bandwidth', bandwidth: { rate: '1mbps', limit: 1, buffer: 1514 } });
    assert.equal(bandwidth.action === 'bandwidth' && bandwidth.bandwidth.rate, 8_000_000);
    assert.throws(() => validateNetworkFault({ action: 'delay', delay: { latency: '0.0001ms' } }), /whole number of microseconds/);
    assert.throws(() => validateNetworkFault({ action: 'delay', delay: { latency: '61s' } }), /at most 60s/);
    assert.throws(() => validateNetworkFault({ action: 'loss', loss: { loss: '100.0001' } }), /at most 100/);
    assert.throws(() => validateNetworkFault({ action: 'loss', loss: { loss: 0.00001 } }), /at most 4 decimals/);
  });

  test('ties fields that only make sense together', () => {
    assert.throws(() => validateNetworkFault({ action: 'partition', scope: { ports: [80] } }), /ports need protocol tcp or udp/);
    assert.throws(() => validateNetworkFault({ action: 'bandwidth', bandwidth: { rate: '10mbit', limit: 1, buffer: 1514, peakrate: '20mbit' } }), /bandwidth.minburst: is required/);
    assert.throws(() => validateNetworkFault({ action: 'bandwidth', bandwidth: { rate: '10mbit', limit: 1, buffer: 1514, peakrate: '5mbit', minburst: 1600 } }), /greater than bandwidth.rate/);
    assert.throws(() => validateNetworkFault({ action: 'bandwidth', bandwidth: { rate: '10mbit', limit: 1, buffer: 1000 } }), /bandwidth.buffer/);
  });

  test('the canonical form round-trips: validate(format(f)) equals f', () => {
    const percent = fc.integer({ min: 0, max: 1_000_000 }).map((ppm) => String(ppm / 10_000));
    const duration = fc.integer({ min: 0, max: 60_000_000 }).map((us) => `${us}us`);
    const scope = fc.record({
      direction: fc.constantFrom('egress', 'ingress', 'both'),
      device: fc.stringMatching(/^[a-z][a-z0-9]{0,14}$/),
      cidrs: fc.array(fc.oneof(fc.ipV4().map((a) => `${a}/32`), fc.ipV6().map((a) => `${a}/128`)), { maxLength: 5 }),
      ports: fc.array(fc.integer({ min: 1, max: 65535 }), { maxLength: 5 }),
      protocol: fc.constantFrom('tcp', 'udp'),
    });
    const fault = fc.oneof(
      fc.record({ action: fc.constant('delay'), delay: fc.record({ latency: duration, jitter: duration, correlation: percent }), scope }),
      fc.record({ action: fc.constant('loss'), loss: fc.record({ loss: percent, correlation: percent }), scope }),
      fc.record({ action: fc.constant('reorder'), reorder: fc.record({ reorder: percent, correlation: percent, gap: fc.integer({ min: 1, max: 1000 }), latency: duration }), scope }),
      fc.record({ action: fc.constant('bandwidth'), bandwidth: fc.record({ rate: fc.integer({ min: 1000, max: 100_000_000 }).map((k) => `${k}kbit`), limit: fc.integer({ min: 1, max: 2 ** 30 }), buffer: fc.integer({ min: 1514, max: 2 ** 26 }) }), scope }),
      fc.record({ action: fc.constant('partition'), scope }),
    );
    fc.assert(fc.property(fault, (input) => {
      const once = validateNetworkFault(input);
      assert.deepEqual(validateNetworkFault(formatNetworkFault(once)), once);
    }), { numRuns: 500 });
  });
});
