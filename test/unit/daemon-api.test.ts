import assert from 'node:assert/strict';
import { test } from 'node:test';
import { daemonService, faultFromWire, injectionFromWire, injectionToWire, methods, type InjectRequest } from '../../src/daemon/api.ts';
import { parseConfig } from '../../src/daemon/config.ts';
import { Registry, Counter, Histogram } from '../../src/daemon/metrics.ts';
import type { RawInjection } from '../../src/daemon/injector.ts';

test('an injection survives the wire: client encoding, server decoding', () => {
  const injections: RawInjection[] = [
    { id: 'k', target: { containerId: 'c1' }, fault: { kind: 'container-kill' } },
    { id: 'f', target: { containerId: 'c2', podUid: 'u', containerName: 'app' }, fault: { kind: 'container-freeze' } },
    { id: 'n', target: { containerId: 'c3' }, fault: { kind: 'network', faults: [{ action: 'loss', loss: { loss: '5' } }] } },
  ];
  const bytes = methods.inject.serialize({ holder: 'ctl', leaseTtlMs: 5000, injections: injections.map(injectionToWire) });
  const method = daemonService['Inject'];
  assert.ok(method);
  const decoded = method.requestDeserialize(bytes) as InjectRequest;
  assert.equal(decoded.holder, 'ctl');
  assert.equal(decoded.leaseTtlMs, 5000);
  assert.deepEqual(decoded.injections.map(injectionFromWire), injections);
});

test('a fault must be one of the kinds, and network faults must be JSON', () => {
  assert.throws(() => faultFromWire(null), /needs a fault/);
  assert.throws(() => faultFromWire({ network: { faultsJson: ['{'] } }), /not JSON/);
});

test('flags win over environment variables; bad values are refused', () => {
  const env = { KERRIS_DAEMON_LISTEN: '127.0.0.1:1', KERRIS_DAEMON_JOURNAL_DIR: '/var/lib/j' };
  const config = parseConfig(['--listen', '[::1]:9443', '--metrics-listen', 'off'], env);
  assert.equal(config.listen, '[::1]:9443');
  assert.equal(config.metrics, undefined);
  assert.equal(config.journalDir, '/var/lib/j');
  assert.equal(config.revertOnShutdown, false);
  assert.equal(config.containerdSocket, undefined, 'detected when not given');
  assert.deepEqual(config.clientNames, [], 'any client the CA signed, unless named');
  assert.deepEqual(parseConfig(['--client-names', 'a, b'], {}).clientNames, ['a', 'b']);
  assert.throws(() => parseConfig(['--listen', 'nowhere'], {}), /host:port/);
  assert.throws(() => parseConfig(['--journal-dir', 'relative'], {}), /absolute/);
  assert.throws(() => parseConfig(['--containerd-socket', '/run/../etc/x'], {}), /absolute/);
  assert.throws(() => parseConfig(['--unknown', 'x'], {}));
});

test('metrics render in the Prometheus text format, histogram buckets cumulative', () => {
  const registry = new Registry();
  const counter = registry.add(new Counter('c_total', 'a counter'));
  const histogram = registry.add(new Histogram('h_seconds', 'a histogram', [0.1, 1]));
  counter.inc({ kind: 'a"b' });
  histogram.observe({ method: 'Inject' }, 0.05);
  histogram.observe({ method: 'Inject' }, 0.5);
  const text = registry.render();
  assert.match(text, /^c_total\{kind="a\\"b"\} 1$/m);
  assert.match(text, /^h_seconds_bucket\{method="Inject",le="0.1"\} 1$/m);
  assert.match(text, /^h_seconds_bucket\{method="Inject",le="1"\} 2$/m);
  assert.match(text, /^h_seconds_bucket\{method="Inject",le="\+Inf"\} 2$/m);
  assert.match(text, /^h_seconds_count\{method="Inject"\} 2$/m);
});
