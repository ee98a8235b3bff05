/**
 * The NetworkChaos CRD against a real kube-apiserver: every NetworkChaos example Chaos Mesh documents applies
 * with only its apiVersion changed, bad specs are rejected by the apiserver itself with the messages docs/api.md
 * promises, status takes NetworkChaos's evidence, and the requester-access policy asks for `create pods/exec`
 * where the fault lands and `list pods` where the peers are.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { parse, stringify } from 'yaml';
import { repoRoot } from '../../src/api/generate.ts';
import { networkChaosResource, type ChaosStatus, type NetworkChaos, type NetworkChaosSpec } from '../../src/api/generated/types.ts';
import { controlPlane, type ControlPlane } from '../testbed/index.ts';
import { kubectl, kubectlJson } from '../testbed/kubectl.ts';

const suffix = randomBytes(3).toString('hex');
const namespace = `nc-schema-${suffix}`;
const resource = `${networkChaosResource.plural}.${networkChaosResource.group}`;

let plane: ControlPlane;

/**
 * Chaos Mesh's NetworkChaos examples as it publishes them: the website's "Simulate Network Faults" page
 * (delay, partition, bandwidth, netem) and the repository's examples/network-*.yaml (loss, duplicate, corrupt,
 * bandwidth with peakrate, and delay, netem and partition with target and with externalTargets).
 * Written here with their own apiVersion; the test changes only that.
 */
const chaosMeshExamples: Readonly<Record<string, string>> = {
  'website delay': `
apiVersion: chaos-mesh.org/v1alpha1
kind: NetworkChaos
metadata:
  name: delay
spec:
  action: delay
  mode: one
  selector:
    namespaces:
      - default
    labelSelectors:
      'app': 'web-show'
  delay:
    latency: '10ms'
    correlation: '100'
    jitter: '0ms'
`,
  'website partition': `
apiVersion: chaos-mesh.org/v1alpha1
kind: NetworkChaos
metadata:
  name: partition
spec:
  action: partition
  mode: all
  selector:
    namespaces:
      - default
    labelSelectors:
      'app': 'app1'
  direction: to
  target:
    mode: all
    selector:
      namespaces:
        - default
      labelSelectors:
        'app': 'app2'
`,
  'website bandwidth': `
apiVersion: chaos-mesh.org/v1alpha1
kind: NetworkChaos
metadata:
  name: bandwidth
spec:
  action: bandwidth
  mode: all
  selector:
    namespaces:
      - default
    labelSelectors:
      'app': 'app1'
  bandwidth:
    rate: '1mbps'
    limit: 20971520
    buffer: 10000
`,
  'website netem': `
apiVersion: chaos-mesh.org/v1alpha1
kind: NetworkChaos
metadata:
  name: network-emulation
spec:
  action: netem
  mode: all
  selector:
    namespaces:
      - default
    labelSelectors:
      'app': 'web-show'
  delay:
    latency: '10ms'
    correlation: '100'
    jitter: '0ms'
  rate:
    rate: '10mbps'
`,
  'repository loss': `
apiVersion: chaos-mesh.org/v1alpha1
kind: NetworkChaos
metadata:
  name: network-loss-example
spec:
  action: loss
  mode: one
  selector:
    labelSelectors:
      "app.kubernetes.io/component": "tikv"
  loss:
    loss: "25"
    correlation: "25"
  duration: "10s"
`,
  'repository duplicate': `
apiVersion: chaos-mesh.org/v1alpha1
kind: NetworkChaos
metadata:
  name: network-duplicate-example
spec:
  action: duplicate
  mode: one
  selector:
    labelSelectors:
      "app.kubernetes.io/component": "tikv"
  duplicate:
    duplicate: "40"
    correlation: "25"
  duration: "10s"
`,
  'repository corrupt': `
apiVersion: chaos-mesh.org/v1alpha1
kind: NetworkChaos
metadata:
  name: network-corrupt-example
spec:
  action: corrupt
  mode: one
  selector:
    labelSelectors:
      "app.kubernetes.io/component": "tikv"
  corrupt:
    corrupt: "40"
    correlation: "25"
  duration: "10s"
`,
  'repository bandwidth with peakrate': `
apiVersion: chaos-mesh.org/v1alpha1
kind: NetworkChaos
metadata:
  name: network-bandwidth-example
spec:
  action: bandwidth
  mode: one
  selector:
    labelSelectors:
      "app.kubernetes.io/component": "tikv"
  bandwidth:
    rate: 100kbps
    limit: 100
    buffer: 10000
    peakrate: 1000000
    minburst: 1000000
  duration: "10s"
`,
  'repository delay': `
apiVersion: chaos-mesh.org/v1alpha1
kind: NetworkChaos
metadata:
  name: network-delay-example
spec:
  action: delay
  mode: one
  selector:
    labelSelectors:
      "app.kubernetes.io/component": "tikv"
  delay:
    latency: "90ms"
    correlation: "25"
    jitter: "90ms"
  duration: "10s"
`,
  'repository delay with target': `
apiVersion: chaos-mesh.org/v1alpha1
kind: NetworkChaos
metadata:
  name: network-delay-example
spec:
  action: delay
  mode: one
  selector:
    namespaces:
      - web
    labelSelectors:
      "app.kubernetes.io/component": "web-app"
  delay:
    latency: "90ms"
    correlation: "25"
    jitter: "90ms"
  direction: to
  target:
    selector:
      namespaces:
        - db
        - storage
      labelSelectors:
        "app.kubernetes.io/component": "pool"
    mode: one
  duration: "10s"
`,
  'repository delay with externalTargets': `
apiVersion: chaos-mesh.org/v1alpha1
kind: NetworkChaos
metadata:
  name: network-delay-example
spec:
  action: delay
  mode: one
  selector:
    labelSelectors:
      "app.kubernetes.io/component": "tikv"
  delay:
    latency: "90ms"
    correlation: "25"
    jitter: "90ms"
  direction: to
  externalTargets:
    - "8.8.8.8"
    - "www.google.com"
    - "8.8.0.0/16"
    - "1.1.1.1:80"
    - "example.com:443"
    - "10.0.0.0/8:22"
  duration: "10s"
`,
  'repository netem': `
apiVersion: chaos-mesh.org/v1alpha1
kind: NetworkChaos
metadata:
  name: network-netem-example
spec:
  action: netem
  mode: one
  selector:
    labelSelectors:
      "app.kubernetes.io/component": "tikv"
  delay:
    latency: "90ms"
    correlation: "25"
    jitter: "90ms"
  loss:
    loss: "25"
    correlation: "25"
  duration: "10s"
`,
  'repository netem with target': `
apiVersion: chaos-mesh.org/v1alpha1
kind: NetworkChaos
metadata:
  name: network-netem-example
spec:
  action: netem
  mode: one
  selector:
    labelSelectors:
      "app.kubernetes.io/component": "tikv"
  delay:
    latency: "90ms"
    correlation: "25"
    jitter: "90ms"
  loss:
    loss: "25"
    correlation: "25"
  direction: to
  target:
    selector:
      labelSelectors:
        "app.kubernetes.io/component": "tikv"
    mode: one
  duration: "10s"
`,
  'repository partition with target': `
apiVersion: chaos-mesh.org/v1alpha1
kind: NetworkChaos
metadata:
  name: network-partition-example
spec:
  action: partition
  mode: one
  selector:
    labelSelectors:
      "app.kubernetes.io/component": "tikv"
  direction: to
  target:
    selector:
      labelSelectors:
        "app.kubernetes.io/component": "tikv"
    mode: one
  duration: "10s"
`,
  'repository partition with externalTargets': `
apiVersion: chaos-mesh.org/v1alpha1
kind: NetworkChaos
metadata:
  name: network-partition-example
spec:
  action: partition
  mode: one
  selector:
    labelSelectors:
      "app.kubernetes.io/component": "tikv"
  direction: to
  externalTargets:
    - "8.8.8.8"
    - "www.google.com"
    - "8.8.0.0/16"
    - "1.1.1.1:80"
    - "example.com:443"
    - "10.0.0.0/8:22"
  duration: "10s"
`,
};

function manifest(name: string, spec: Record<string, unknown>): string {
  return stringify({ apiVersion: networkChaosResource.apiVersion, kind: networkChaosResource.kind, metadata: { name, namespace }, spec });
}

async function create(name: string, spec: Record<string, unknown>, dryRun = false): Promise<{ code: number; output: string }> {
  const args = ['create', ...(dryRun ? ['--dry-run=server'] : []), '-f', '-'];
  const result = await kubectl(plane, args, { input: manifest(name, spec), allowFailure: true });
  return { code: result.code, output: `${result.stdout}${result.stderr}` };
}

async function accepted(name: string, spec: Record<string, unknown>): Promise<void> {
  const { code, output } = await create(name, spec, true);
  assert.equal(code, 0, `rejected ${JSON.stringify(spec)}:\n${output}`);
}

async function rejected(name: string, spec: Record<string, unknown>, ...expected: string[]): Promise<void> {
  const { code, output } = await create(name, spec, true);
  assert.notEqual(code, 0, `the apiserver accepted ${JSON.stringify(spec)}`);
  for (const text of expected) assert.ok(output.includes(text), `expected "${text}" in:\n${output}`);
}

async function patchSpec(name: string, spec: Record<string, unknown>): Promise<{ code: number; output: string }> {
  const result = await kubectl(plane, ['patch', '-n', namespace, resource, name, '--type=merge', '-p', JSON.stringify({ spec })], { allowFailure: true });
  return { code: result.code, output: `${result.stdout}${result.stderr}` };
}

/** Polls rather than `kubectl wait`, which fails on a CRD created a moment ago that has no conditions yet. */
async function waitEstablished(): Promise<void> {
  const deadline = Date.now() + 60_000;
  const jsonPath = '{.status.conditions[?(@.type=="Established")].status}';
  for (;;) {
    const result = await kubectl(plane, ['get', 'crd', networkChaosResource.crdName, '-o', `jsonpath=${jsonPath}`], { allowFailure: true });
    if (result.stdout.trim() === 'True') return;
    if (Date.now() > deadline) throw new Error(`CRD ${networkChaosResource.crdName} not Established within 60 s: ${result.stdout}${result.stderr}`);
    await sleep(200);
  }
}

const web = { mode: 'all', selector: { labelSelectors: { app: 'web' } } } as const;
const delay100 = { ...web, action: 'delay', delay: { latency: '100ms' } } satisfies NetworkChaosSpec;

describe('NetworkChaos validation by the apiserver', { timeout: 300_000 }, () => {
  before(async () => {
    plane = await controlPlane();
    // The files users install, the way the reference says to install them; other tests may share the CRDs, so they stay.
    await kubectl(plane, ['apply', '--server-side', '--force-conflicts', '--field-manager=kerris-api-test', '-f', join(repoRoot, 'deploy', 'crds')]);
    await waitEstablished();
    await kubectl(plane, ['create', 'namespace', namespace]);
  });

  after(async () => {
    if (!plane) return;
    await kubectl(plane, ['delete', 'namespace', namespace, '--ignore-not-found', '--wait=true', '--timeout=120s'], { timeoutMs: 130_000 });
    const ns = await kubectl(plane, ['get', 'namespace', namespace], { allowFailure: true });
    assert.notEqual(ns.code, 0, `namespace ${namespace} is left behind`);
  });

  it('accepts every NetworkChaos example Chaos Mesh documents, with only apiVersion changed', async () => {
    for (const [title, text] of Object.entries(chaosMeshExamples)) {
      assert.ok(text.includes('apiVersion: chaos-mesh.org/v1alpha1\n'), title);
      const ported = text.replace('apiVersion: chaos-mesh.org/v1alpha1\n', `apiVersion: ${networkChaosResource.apiVersion}\n`);
      const result = await kubectl(plane, ['create', '--dry-run=server', '-n', namespace, '-f', '-'], { input: ported, allowFailure: true });
      assert.equal(result.code, 0, `${title}: ${result.stderr}`);
    }
  });

  it('stores a ported example as sent', async () => {
    const text = chaosMeshExamples['repository delay with externalTargets'] ?? assert.fail('example missing');
    const ported = text.replace('chaos-mesh.org/v1alpha1', networkChaosResource.apiVersion);
    const result = await kubectl(plane, ['create', '-n', namespace, '-f', '-'], { input: ported, allowFailure: true });
    assert.equal(result.code, 0, result.stderr);
    const stored = await kubectlJson<NetworkChaos>(plane, ['get', '-n', namespace, resource, 'network-delay-example']);
    assert.deepEqual(stored.spec, (parse(ported) as NetworkChaos).spec);
  });

  it('rejects an unknown action, naming the supported ones', async () => {
    await rejected('bad-action', { ...delay100, action: 'explode' },
      'spec.action: Unsupported value: "explode": supported values: "netem", "delay", "loss", "duplicate", "corrupt", "partition", "bandwidth"');
  });

  it('requires the action\'s own field, and netem at least one netem fault', async () => {
    for (const field of ['delay', 'loss', 'duplicate', 'corrupt', 'bandwidth']) {
      await rejected(`no-${field}`, { ...web, action: field }, `spec.${field}: Required value: ${field} is required when action is ${field}`);
    }
    await rejected('netem-empty', { ...web, action: 'netem' }, 'action netem needs at least one of delay, loss, duplicate, corrupt or rate');
    await accepted('netem-rate', { ...web, action: 'netem', rate: { rate: '10mbit' } });
    await accepted('partition-alone', { ...web, action: 'partition' });
  });

  it('rejects the fields of another action, naming the ones they belong to', async () => {
    await rejected('delay-loss', { ...delay100, loss: { loss: '10' } },
      'spec.loss: Forbidden: loss applies only to actions loss and netem, not to action delay; to combine netem faults, use action netem');
    await rejected('partition-delay', { ...web, action: 'partition', delay: { latency: '10ms' } },
      'delay applies only to actions delay and netem, not to action partition; remove it');
    await rejected('netem-bandwidth', { ...web, action: 'netem', delay: { latency: '10ms' }, bandwidth: { rate: '1mbps', limit: 10000, buffer: 10000 } },
      'bandwidth applies only to action bandwidth, not to action netem; to limit throughput with netem, use rate');
    await rejected('bandwidth-rate', { ...web, action: 'bandwidth', bandwidth: { rate: '1mbps', limit: 10000, buffer: 10000 }, rate: { rate: '1mbps' } },
      'rate applies only to action netem, not to action bandwidth; with action bandwidth, use bandwidth.rate');
  });

  it('rejects bandwidth without rate, and bounds the token bucket as tc and the node daemon take it', async () => {
    const bucket = { ...web, action: 'bandwidth' };
    await rejected('bw-norate', { ...bucket, bandwidth: { limit: 10000, buffer: 10000 } }, 'spec.bandwidth.rate: Required value');
    await rejected('bw-unit', { ...bucket, bandwidth: { rate: '1Mbps', limit: 10000, buffer: 10000 } },
      'must be a rate such as "1mbps" or "10mbit": a whole number and one of bit, kbit, mbit, gbit, bps, kbps, mbps, gbps (bps is bytes per second), got "1Mbps"');
    await rejected('bw-slow', { ...bucket, bandwidth: { rate: '7999bit', limit: 10000, buffer: 10000 } }, 'must be from 8kbit (1kbps) to 100gbit, got "7999bit"');
    await rejected('bw-fast', { ...bucket, bandwidth: { rate: '13gbps', limit: 10000, buffer: 10000 } }, 'must be from 8kbit (1kbps) to 100gbit, got "13gbps"');
    await rejected('bw-buffer', { ...bucket, bandwidth: { rate: '1mbps', limit: 10000, buffer: 1000 } },
      'buffer must be at least 1514 bytes (one Ethernet frame): tbf drops every packet larger than its bucket');
    await rejected('bw-peak-only', { ...bucket, bandwidth: { rate: '1mbps', limit: 10000, buffer: 10000, peakrate: 20000000 } },
      'spec.bandwidth.minburst: Required value: peakrate needs minburst');
    await rejected('bw-minburst-only', { ...bucket, bandwidth: { rate: '1mbps', limit: 10000, buffer: 10000, minburst: 1514 } },
      'minburst applies only with a peakrate; remove it or set peakrate');
    // 1mbps is 8,000,000 bits per second.
    await rejected('bw-peak-low', { ...bucket, bandwidth: { rate: '1mbps', limit: 10000, buffer: 10000, peakrate: 8000000, minburst: 1514 } },
      'peakrate, in bits per second, must exceed rate (1mbps)');
    await accepted('bw-peak', { ...bucket, bandwidth: { rate: '1mbps', limit: 10000, buffer: 10000, peakrate: 8000001, minburst: 1514 } });
    await accepted('bw-peak-none', { ...bucket, bandwidth: { rate: '1mbps', limit: 10000, buffer: 10000, peakrate: 0, minburst: 0 } });
    for (const [i, rate] of ['8kbit', '1kbps', '100gbit', '12gbps'].entries()) await accepted(`bw-rate-${i}`, { ...bucket, bandwidth: { rate, limit: 1, buffer: 1514 } });
  });

  it('rejects a latency the daemon could not apply: "10 parsecs", a unit it does not take, above 60s', async () => {
    const latency = (value: string) => ({ ...delay100, delay: { latency: value } });
    await rejected('lat-parsecs', latency('10 parsecs'),
      'spec.delay.latency: Invalid value: "string": must be a duration such as "100ms", "1.5s" or "250us" (units us, ms and s), got "10 parsecs"');
    await rejected('lat-minutes', latency('1m'), 'got "1m"');
    await rejected('lat-submicro', latency('1.5us'), 'got "1.5us"');
    await rejected('lat-long', latency('61s'), 'spec.delay.latency: Invalid value: "string": must be at most 60s, got "61s"');
    await rejected('jitter-bad', { ...delay100, delay: { latency: '10ms', jitter: '-1ms' } }, 'spec.delay.jitter', 'got "-1ms"');
    for (const [i, value] of ['0ms', '250us', '1.5s', '100ms', '0.125ms', '60s', '60000000us'].entries()) await accepted(`lat-${i}`, latency(value));
  });

  it('takes percentages from 0 to 100 with up to 4 decimals, as strings', async () => {
    const loss = (value: string, correlation?: string) => ({ ...web, action: 'loss', loss: { loss: value, ...(correlation === undefined ? {} : { correlation }) } });
    for (const [i, value] of ['0', '25', '12.5', '12.5%', '0.0001', '100', '100.0000%'].entries()) await accepted(`pct-${i}`, loss(value));
    await rejected('pct-150', loss('150'), 'spec.loss.loss: Invalid value: "string": must be a percentage from 0 to 100 with at most 4 decimals, such as "25", "12.5" or "0.5%", got "150"');
    await rejected('pct-decimals', loss('0.00001'), 'got "0.00001"');
    await rejected('corr-101', loss('10', '101'), 'spec.loss.correlation', 'got "101"');
    await rejected('dup-corr', { ...web, action: 'duplicate', duplicate: { duplicate: '5', correlation: 'lots' } }, 'spec.duplicate.correlation', 'got "lots"');
  });

  it('reorders only with a latency above 0', async () => {
    await rejected('reorder-nolatency', { ...delay100, delay: { latency: '0ms', reorder: { reorder: '50', gap: 5 } } },
      'reorder needs a latency above 0: netem reorders by sending some packets at once while the rest wait latency');
    await accepted('reorder', { ...delay100, delay: { latency: '10ms', reorder: { reorder: '50', correlation: '50', gap: 0 } } });
  });

  it('takes ports only with protocol tcp or udp, and not next to host:port peers', async () => {
    await rejected('ports-noproto', { ...delay100, ports: [80] }, 'spec.protocol: Invalid value: "object": ports need protocol tcp or udp, got no protocol (all)');
    await rejected('ports-icmp', { ...delay100, ports: [80], protocol: 'icmp' }, 'ports need protocol tcp or udp, got protocol icmp');
    await rejected('ports-range', { ...delay100, ports: [0], protocol: 'tcp' }, 'spec.ports[0]');
    await rejected('ports-many', { ...delay100, ports: Array.from({ length: 17 }, (_, i) => i + 1), protocol: 'tcp' }, 'spec.ports: Too many: 17: must have at most 16 items');
    await rejected('ports-both', { ...delay100, ports: [443], protocol: 'tcp', externalTargets: ['example.com:443'] },
      'give the peers\' ports either in ports or as host:port in externalTargets, not both');
    await rejected('hostport-icmp', { ...delay100, protocol: 'icmp', externalTargets: ['1.1.1.1:80'] },
      'externalTargets with a port need protocol tcp or udp (omitted means tcp for them), got protocol icmp');
    await accepted('ports-udp', { ...delay100, ports: [53, 5353], protocol: 'udp', externalTargets: ['10.96.0.10', 'fd00::/8'] });
    await accepted('protocol-icmp', { ...delay100, protocol: 'icmp' });
  });

  it('checks every externalTargets entry: addresses, CIDRs with clear host bits, host names, ports, IPv6', async () => {
    const to = (...externalTargets: string[]) => ({ ...delay100, externalTargets });
    const shape = 'must be an IPv4 or IPv6 address, a CIDR or a host name, optionally with :port ([address]:port for IPv6), got';
    await rejected('cidr-33', to('10.0.0.0/33'), `spec.externalTargets[0]: Invalid value: "string": ${shape} "10.0.0.0/33"`);
    await rejected('cidr-v6-129', to('2001:db8::/129'), `${shape} "2001:db8::/129"`);
    await rejected('bad-ipv4', to('300.1.1.1'), `${shape} "300.1.1.1"`);
    await rejected('leading-zero', to('010.0.0.1'), `${shape} "010.0.0.1"`);
    await rejected('bad-host', to('exa mple.com'), `${shape} "exa mple.com"`);
    await rejected('v6-noport-brackets', to('[2001:db8::1]'), `${shape} "[2001:db8::1]"`);
    await rejected('host-bits', to('8.8.8.8', '10.0.0.1/8'),
      'spec.externalTargets[1]: Invalid value: "string": "10.0.0.1/8" has host bits set beyond its prefix; clear them, e.g. 10.0.0.0/8 rather than 10.0.0.1/8');
    await rejected('port-0', to('1.1.1.1:0'), 'the port must be from 1 to 65535, got "1.1.1.1:0"');
    await rejected('port-big', to('example.com:65536'), 'the port must be from 1 to 65535, got "example.com:65536"');
    await rejected('too-many', to(...Array.from({ length: 65 }, (_, i) => `10.0.${i}.0/24`)), 'spec.externalTargets: Too many: 65: must have at most 64 items');
    await accepted('v6', to('2001:db8::1', '2001:db8::/32', '[2001:db8::1]:443', '[2001:db8::/32]:22', '::1', 'fe80::/10'));
    await accepted('v4', to('8.8.8.8', '8.8.0.0/16', '0.0.0.0/0', '1.1.1.1:80', '10.0.0.0/8:22', '192.168.1.1/32:65535'));
    await accepted('hosts', to('example.com', 'www.google.com:443', 'db', 'db.shop.svc.cluster.local.', 'xn--bcher-kva.example'));
    await accepted('from-external', { ...delay100, direction: 'from', externalTargets: ['1.1.1.1'] });
  });

  it('rejects a device name the kernel would not take, a 16-character one among them', async () => {
    const message = 'must be a network interface name such as eth0: 1 to 15 of A-Z a-z 0-9 _ . -, not starting with -, got';
    await rejected('dev-16', { ...delay100, device: 'abcdefghijklmnop' }, `spec.device: Invalid value: "string": ${message} "abcdefghijklmnop"`);
    for (const [i, device] of ['eth0@if12', '-eth0', 'eth 0', 'eth/0', '..', ''].entries()) await rejected(`dev-bad-${i}`, { ...delay100, device }, `${message} "${device}"`);
    for (const [i, device] of ['eth0', 'abcdefghijklmno', 'veth_1.2-x', '.hidden'].entries()) await accepted(`dev-ok-${i}`, { ...delay100, device });
  });

  it('checks target\'s mode and value as the targets\'', async () => {
    await rejected('target-fixed', { ...delay100, target: { mode: 'fixed', selector: {} } }, 'spec.target.value: Required value: value is required when mode is fixed');
    await rejected('target-pct', { ...delay100, target: { mode: 'fixed-percent', value: '150', selector: {} } },
      'value is a percentage when mode is fixed-percent: it must be a whole number from 1 to 100, got "150"');
    await rejected('target-nomode', { ...delay100, target: { selector: {} } }, 'spec.target.mode: Required value');
    await rejected('direction', { ...delay100, direction: 'sideways' }, 'spec.direction: Unsupported value: "sideways": supported values: "to", "from", "both"');
    await accepted('target-both', { ...delay100, direction: 'both', target: { mode: 'fixed', value: '2', selector: { namespaces: ['db'] } } });
  });

  it('refuses fields Chaos Mesh has and kerris does not, rather than ignoring them', async () => {
    await rejected('target-device', { ...delay100, targetDevice: 'eth0' }, 'unknown field "spec.targetDevice"');
    await rejected('remote', { ...delay100, remoteCluster: 'east' }, 'unknown field "spec.remoteCluster"');
  });

  it('keeps the spec fixed but paused, as PodChaos', async () => {
    assert.equal((await create('immutable', delay100)).code, 0);
    const changed = await patchSpec('immutable', { delay: { latency: '200ms' } });
    assert.ok(changed.output.includes('spec.delay: Forbidden: spec.delay cannot change while the experiment exists; delete and recreate it'), changed.output);
    const added = await patchSpec('immutable', { externalTargets: ['1.1.1.1'] });
    assert.ok(added.output.includes('spec.externalTargets cannot change while the experiment exists'), added.output);
    for (const paused of [true, false]) {
      const { code, output } = await patchSpec('immutable', { paused });
      assert.equal(code, 0, output);
    }
    const stored = await kubectlJson<NetworkChaos>(plane, ['get', '-n', namespace, resource, 'immutable']);
    assert.deepEqual(stored.spec, { ...delay100, paused: false });
  });

  it('takes NetworkChaos\'s evidence, verification and network status, and shows it in kubectl get', async () => {
    assert.equal((await create('with-status', delay100)).code, 0);
    const status = {
      phase: 'Running', selected: 2, injected: 2, observedGeneration: 1,
      network: { expectedRtt: '+100ms per round trip', resolved: [{ host: 'example.com', addresses: ['93.184.215.14', '2606:2800:21f:cb07:6820:80da:af6b:8b2c'] }], peers: 3 },
      targets: [{
        namespace, name: 'web-1', uid: 'u-1', phase: 'Injected', injectedAt: '2026-01-02T03:04:05Z',
        evidence: { observedAt: '2026-01-02T03:04:15Z', counters: [
          { device: 'eth0', direction: 'egress', kind: 'netem', fault: 'delay', packets: 120, bytes: 9000, dropped: 0, overlimits: 0 },
          { device: 'kerris-ifb0', direction: 'ingress', kind: 'nft', fault: 'partition', packets: 7 },
        ] },
        verification: { verdict: 'Verified', configured: 'delay 100ms to 3 peers', measured: 'RTT 0.2ms before, 100.4ms during', message: 'ICMP echo to 10.0.0.7' },
      }],
    } satisfies ChaosStatus;
    // A dry run, since a kerris controller may share the test bed and write this status itself.
    const patchStatus = (type: 'merge' | 'json', patch: unknown) => kubectl(plane, ['patch', '-n', namespace, resource, 'with-status', '--subresource=status', '--dry-run=server', '-o', 'json', `--type=${type}`, '-p', JSON.stringify(patch)], { allowFailure: true });
    const patched = await patchStatus('merge', { status });
    assert.equal(patched.code, 0, patched.stderr);
    const stored = (JSON.parse(patched.stdout) as NetworkChaos).status;
    assert.deepEqual({ network: stored?.network, targets: stored?.targets }, { network: status.network, targets: status.targets });
    const badVerdict = await patchStatus('merge', { status: { ...status, targets: [{ ...status.targets[0], verification: { verdict: 'Probably' } }] } });
    assert.ok(badVerdict.stderr.includes('supported values: "Verified", "NotVerified", "Unmeasured"'), badVerdict.stderr);
    const longDevice = await patchStatus('merge', { status: { ...status, targets: [{ ...status.targets[0], evidence: { observedAt: '2026-01-02T03:04:15Z', counters: [{ device: 'a'.repeat(16), direction: 'egress', kind: 'tbf', fault: 'bandwidth', packets: 1 }] } }] } });
    assert.ok(longDevice.stderr.includes('Too long: may not be more than 15 bytes'), longDevice.stderr);

    const table = await kubectl(plane, ['get', '-n', namespace, 'nchaos', 'with-status']);
    const [header, row] = table.stdout.trim().split('\n').map((line) => line.trim().split(/\s+/));
    assert.deepEqual(header, ['NAME', 'ACTION', 'PHASE', 'TARGETS', 'VERDICT', 'AGE']);
    assert.deepEqual(row?.slice(0, 2), ['with-status', 'delay']);
    const wide = await kubectl(plane, ['get', '-n', namespace, 'nchaos', 'with-status', '-o', 'wide']);
    assert.match(wide.stdout.split('\n')[0] ?? '', /^NAME\s+ACTION\s+DIRECTION\s+MODE\s+PHASE\s+TARGETS\s+INJECTED\s+PEERS\s+DURATION\s+PAUSED\s+DRY-RUN\s+VERDICT\s+SCORE\s+AGE$/);
    const inCategory = await kubectl(plane, ['get', '-n', namespace, 'chaos', '-o', 'name']);
    assert.ok(inCategory.stdout.includes(`${resource}/with-status`), inCategory.stdout);
  });

  it('accepts every NetworkChaos example in examples/', async () => {
    const files = (await readdir(join(repoRoot, 'examples'))).filter((f) => f.startsWith('networkchaos-') && f.endsWith('.yaml'));
    assert.ok(files.length >= 4);
    for (const file of files) {
      const text = await readFile(join(repoRoot, 'examples', file), 'utf8');
      const result = await kubectl(plane, ['create', '--dry-run=server', '-n', namespace, '-f', '-'], {
        input: text.replace(/namespace: demo\n/, `namespace: ${namespace}\n`),
        allowFailure: true,
      });
      assert.equal(result.code, 0, `${file}: ${result.stderr}`);
    }
  });
});

describe('NetworkChaos requester authorisation at admission (ValidatingAdmissionPolicy)', { timeout: 180_000 }, () => {
  const home = `nc-home-${suffix}`;
  const peers = `nc-peers-${suffix}`;
  const user = `nc-user-${suffix}`;

  function role(ns: string, rules: readonly { resources: string[]; verbs: string[] }[]): string {
    return [
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'nc-user', namespace: ns }, rules: [
        { apiGroups: ['chaos.kerris.dev'], resources: ['networkchaos'], verbs: ['create', 'get'] },
        ...rules.map((r) => ({ apiGroups: [''], ...r })),
      ] },
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'nc-user', namespace: ns }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'nc-user' }, subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: user }] },
    ].map((doc) => stringify(doc)).join('---\n');
  }

  async function createAsUser(spec: Record<string, unknown>): Promise<{ code: number; output: string }> {
    const input = stringify({ apiVersion: networkChaosResource.apiVersion, kind: networkChaosResource.kind, metadata: { name: 'access', namespace: home }, spec });
    const result = await kubectl(plane, ['create', '--dry-run=server', `--as=${user}`, '-f', '-'], { input, allowFailure: true });
    return { code: result.code, output: `${result.stdout}${result.stderr}` };
  }

  /** RBAC changes and a new policy reach the apiserver's admission a moment later. */
  async function eventually(spec: Record<string, unknown>, done: (r: { code: number; output: string }) => boolean): Promise<{ code: number; output: string }> {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const result = await createAsUser(spec);
      if (done(result) || Date.now() > deadline) return result;
      await sleep(250);
    }
  }

  before(async () => {
    plane = await controlPlane();
    await kubectl(plane, ['apply', '--server-side', '--force-conflicts', '--field-manager=kerris-api-test', '-f', join(repoRoot, 'deploy', 'crds'), '-f', join(repoRoot, 'deploy', 'admission')]);
    await waitEstablished();
    await kubectl(plane, ['create', 'namespace', home]);
    await kubectl(plane, ['create', 'namespace', peers]);
    await kubectl(plane, ['apply', '-f', '-'], { input: role(home, [{ resources: ['pods'], verbs: ['list'] }]) });
  });

  after(async () => {
    await kubectl(plane, ['delete', 'namespace', home, peers, '--ignore-not-found', '--wait=true', '--timeout=60s'], { timeoutMs: 70_000 });
  });

  it('asks for create pods/exec where the fault lands, naming the namespaces', async () => {
    const result = await eventually(delay100, (r) => r.output.includes('you may not create pods/exec'));
    assert.notEqual(result.code, 0);
    assert.ok(result.output.includes(`you may not create pods/exec in every namespace this NetworkChaos reaches (${home}); kerris does only what its requester could do by hand`), result.output);
  });

  it('asks for list pods where target reaches, and nothing there otherwise', async () => {
    await kubectl(plane, ['apply', '-f', '-'], { input: role(home, [{ resources: ['pods'], verbs: ['list'] }, { resources: ['pods/exec'], verbs: ['create'] }]) });
    const atHome = await eventually(delay100, (r) => r.code === 0);
    assert.equal(atHome.code, 0, `admitted with exec and list at home and no target: ${atHome.output}`);
    const withPeers = { ...delay100, target: { mode: 'all', selector: { namespaces: [peers] } } };
    const refused = await createAsUser(withPeers);
    assert.notEqual(refused.code, 0);
    assert.ok(refused.output.includes(`you may not list pods in every namespace this NetworkChaos reaches through its target (${peers})`), refused.output);
    await kubectl(plane, ['apply', '-f', '-'], { input: role(peers, [{ resources: ['pods'], verbs: ['list'] }]) });
    const admitted = await eventually(withPeers, (r) => r.code === 0);
    assert.equal(admitted.code, 0, `admitted once the user may list the peers' pods, without exec there: ${admitted.output}`);
  });
});
