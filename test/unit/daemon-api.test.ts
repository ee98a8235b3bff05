import assert from 'node:assert/strict';
import { fromBinary } from '@bufbuild/protobuf';
import { test } from 'node:test';
import { daemonService, faultFromWire, injectionFromWire, injectionToWire, methods, type InjectionInput } from '../../src/daemon/api.ts';
import { parseConfig } from '../../src/daemon/config.ts';
import { Registry, Counter, Histogram } from '../../src/daemon/metrics.ts';
import { createNetworkEngine } from '../../src/daemon/net/engine.ts';
import { Direction, Protocol, SyncRequestSchema } from '../../src/daemon/proto/gen/daemon_pb.js';

test('an injection survives the wire: client encoding, server decoding, one path per method from the generated code', () => {
  const injections: InjectionInput[] = [
    { id: 'k', target: { containerId: 'c1' }, fault: { kind: 'container-kill' } },
    { id: 'f', target: { containerId: 'c2', podUid: 'u', containerName: 'app' }, fault: { kind: 'container-freeze' }, deadlineInMs: 30_000 },
    {
      id: 'n', target: { containerId: 'c3' }, fault: {
        kind: 'network', faults: [
          { scope: { direction: Direction.INGRESS, cidrs: ['10.0.0.0/8'], ports: [80], protocol: Protocol.TCP }, action: { case: 'loss', value: { loss: '5' } } },
          { action: { case: 'bandwidth', value: { rate: '1mbit', limit: 20_000, buffer: 1_600 } } },
        ],
      },
    },
    {
      id: 'nn', target: { node: true }, deadlineInMs: 60_000, fault: {
        kind: 'node-network', faults: [{ scope: { direction: Direction.BOTH, exceptCidrs: ['10.42.0.0/16', 'fd00::1'] }, action: { case: 'partition', value: {} } }],
      },
    },
    { id: 'nr', target: { node: true }, fault: { kind: 'node-reboot', bootId: '3f1c2a4e-8b7d-4c1e-9a2b-5d6e7f801234' } },
  ];
  assert.equal(methods.sync.path, '/kerris.daemon.v2.NodeDaemon/Sync');
  assert.deepEqual(Object.keys(daemonService), ['sync', 'list', 'renewLease', 'capabilities', 'probe']);
  assert.equal(methods.probe.path, '/kerris.daemon.v2.NodeDaemon/Probe');
  const bytes = methods.sync.serialize({ experiment: 'exp', leaseTtlMs: 5000, injections: injections.map(injectionToWire) });
  const decoded = daemonService.sync.requestDeserialize(bytes);
  assert.deepEqual(fromBinary(SyncRequestSchema, bytes), decoded);
  assert.equal(decoded.experiment, 'exp');
  assert.equal(decoded.leaseTtlMs, 5000);
  assert.deepEqual(decoded.injections.map(injectionFromWire), [
    { id: 'k', target: { containerId: 'c1' }, fault: { kind: 'container-kill' }, deadlineInMs: 0 },
    { id: 'f', target: { containerId: 'c2', podUid: 'u', containerName: 'app' }, fault: { kind: 'container-freeze' }, deadlineInMs: 30_000 },
    {
      id: 'n', target: { containerId: 'c3' }, deadlineInMs: 0, fault: {
        kind: 'network', faults: [
          { action: 'loss', scope: { direction: 'ingress', protocol: 'tcp', cidrs: ['10.0.0.0/8'], ports: [80] }, loss: { loss: '5' } },
          { action: 'bandwidth', scope: {}, bandwidth: { rate: '1mbit', limit: 20_000, buffer: 1_600 } },
        ],
      },
    },
    {
      id: 'nn', target: { node: true }, deadlineInMs: 60_000,
      fault: { kind: 'node-network', faults: [{ action: 'partition', scope: { direction: 'both', exceptCidrs: ['10.42.0.0/16', 'fd00::1'] } }] },
    },
    { id: 'nr', target: { node: true }, deadlineInMs: 0, fault: { kind: 'node-reboot', bootId: '3f1c2a4e-8b7d-4c1e-9a2b-5d6e7f801234' } },
  ]);
  assert.equal(decoded.injections[3]?.fault?.kind.case, 'nodeNetwork');
  assert.equal(decoded.injections[4]?.fault?.kind.case, 'nodeReboot');
});

test('typed network faults reach the validator as its input form: it accepts them, and names what is missing', () => {
  const engine = createNetworkEngine({ capabilities: () => Promise.reject(new Error('not planned here')) });
  const wire = (fault: InjectionInput['fault']) => faultFromWire(daemonService.sync.requestDeserialize(methods.sync.serialize({
    injections: [injectionToWire({ id: 'x', target: { containerId: 'c' }, fault })],
  })).injections[0]?.fault);
  const ok = wire({ kind: 'network', faults: [{ action: { case: 'delay', value: { latency: '100ms', jitter: '10ms' } } }, { action: { case: 'partition', value: {} } }] });
  assert.equal(ok.kind, 'network');
  assert.deepEqual(ok.kind === 'network' ? ok.faults.map((f) => engine.validate(f)['action']) : [], ['delay', 'partition']);
  const missing = wire({ kind: 'network', faults: [{ action: { case: 'delay', value: {} } }] });
  assert.throws(() => (missing.kind === 'network' ? missing.faults.map((f) => engine.validate(f)) : []), /delay\.latency: is required/);
  const noAction = wire({ kind: 'network', faults: [{}] });
  assert.throws(() => (noAction.kind === 'network' ? noAction.faults.map((f) => engine.validate(f)) : []), /action/);
  assert.throws(() => faultFromWire(undefined), /needs a fault/);
});

test('flags win over environment variables; bad values are refused', () => {
  const env = { KERRIS_DAEMON_LISTEN: '127.0.0.1:1', KERRIS_DAEMON_JOURNAL_DIR: '/var/lib/j' };
  const config = parseConfig(['--listen', '[::1]:9443', '--metrics-listen', 'off'], env);
  assert.equal(config.listen, '[::1]:9443');
  assert.equal(config.metrics, undefined);
  assert.equal(config.journalDir, '/var/lib/j');
  assert.equal(config.revertOnShutdown, false);
  assert.equal(config.containerdSocket, undefined, 'detected when not given');
  assert.deepEqual(config.clientNames, ['kerris-controller'], 'the controller, unless named');
  assert.deepEqual(parseConfig(['--client-names', 'a, b'], {}).clientNames, ['a', 'b']);
  assert.throws(() => parseConfig(['--client-names', ' , '], {}), /at least one client/);
  assert.deepEqual(parseConfig(['--metrics-listen', '0.0.0.0:9464'], {}).metrics, { host: '0.0.0.0', port: 9464 }, 'probes from the kubelet');
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
  histogram.observe({ method: 'Sync' }, 0.05);
  histogram.observe({ method: 'Sync' }, 0.5);
  const text = registry.render();
  assert.match(text, /^c_total\{kind="a\\"b"\} 1$/m);
  assert.match(text, /^h_seconds_bucket\{method="Sync",le="0.1"\} 1$/m);
  assert.match(text, /^h_seconds_bucket\{method="Sync",le="1"\} 2$/m);
  assert.match(text, /^h_seconds_bucket\{method="Sync",le="\+Inf"\} 2$/m);
  assert.match(text, /^h_seconds_count\{method="Sync"\} 2$/m);
});
