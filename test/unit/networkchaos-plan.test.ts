/** NetworkChaos's pure steps: external targets, the daemon faults a spec becomes, and level-triggered targets. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { NetworkChaos } from '../../src/api/generated/types.ts';
import { Direction, Protocol } from '../../src/daemon/client.ts';
import type { Pod } from '../../src/kube/types.ts';
import { ExternalTargetError, parseExternalTarget, resolveExternalTargets } from '../../src/controller/networkchaos/external-targets.ts';
import { expectedRtt, MAX_CIDRS_PER_SCOPE, NetworkPlanError, networkFaults } from '../../src/controller/networkchaos/plan.ts';
import type { ClusterView } from '../../src/controller/targets/cluster-view.ts';
import { followPods } from '../../src/controller/targets/select-pods.ts';

type Spec = NetworkChaos['spec'];
const spec = (extra: Partial<Spec>): Spec => ({ action: 'partition', mode: 'all', selector: {}, ...extra } as Spec);

describe('externalTargets', () => {
  it('reads addresses, blocks, host names and the host:port forms', () => {
    assert.deepEqual(parseExternalTarget('10.0.0.1'), { kind: 'cidr', cidr: '10.0.0.1/32' });
    assert.deepEqual(parseExternalTarget('10.0.0.0/8'), { kind: 'cidr', cidr: '10.0.0.0/8' });
    assert.deepEqual(parseExternalTarget('10.0.0.1:443'), { kind: 'cidr', cidr: '10.0.0.1/32', port: 443 });
    assert.deepEqual(parseExternalTarget('fd00::1'), { kind: 'cidr', cidr: 'fd00::1/128' });
    assert.deepEqual(parseExternalTarget('fd00::/64'), { kind: 'cidr', cidr: 'fd00::/64' });
    assert.deepEqual(parseExternalTarget('[fd00::1]:8080'), { kind: 'cidr', cidr: 'fd00::1/128', port: 8080 });
    assert.deepEqual(parseExternalTarget('www.Example.com'), { kind: 'host', host: 'www.example.com' });
    assert.deepEqual(parseExternalTarget('db.svc:5432'), { kind: 'host', host: 'db.svc', port: 5432 });
    assert.deepEqual(parseExternalTarget('10.0.0.0/8:22'), { kind: 'cidr', cidr: '10.0.0.0/8', port: 22 });
  });

  it('refuses what is none of them, naming the entry', () => {
    for (const bad of ['10.0.0.1/33', 'fd00::/129', '10.0.0.1:0', '10.0.0.1:70000', 'host:port', '-bad.example', '[10.0.0.1]:80', '1.2.3', 'a b', '']) {
      assert.throws(() => parseExternalTarget(bad), (error: unknown) => error instanceof ExternalTargetError && error.message.includes(JSON.stringify(bad)), bad);
    }
  });

  it('resolves host names to every address, grouped by port, and reports the ones that do not resolve', async () => {
    const resolve = async (host: string): Promise<string[]> => {
      if (host === 'db.svc') return ['10.1.0.2', 'fd00::2', '10.1.0.2'];
      throw new Error('ENOTFOUND');
    };
    const out = await resolveExternalTargets(['db.svc:5432', '192.0.2.0/24', 'gone.example'].map(parseExternalTarget), resolve);
    assert.deepEqual(out.cidrs, ['192.0.2.0/24']);
    assert.deepEqual([...out.byPort], [[5432, ['10.1.0.2/32', 'fd00::2/128']]]);
    assert.deepEqual(out.resolved, [{ host: 'db.svc', addresses: ['10.1.0.2', 'fd00::2'] }]);
    assert.deepEqual(out.unresolved, ['gone.example: ENOTFOUND']);
  });
});

describe('the daemon faults of a spec', () => {
  it('maps direction, device, protocol and ports; no peers means every peer', () => {
    const [fault] = networkFaults(spec({ direction: 'from', device: 'eth0', protocol: 'tcp', ports: [80] }), { cidrs: undefined, byPort: new Map() });
    assert.deepEqual(fault?.scope, { direction: Direction.INGRESS, device: 'eth0', cidrs: [], ports: [80], protocol: Protocol.TCP });
    assert.deepEqual(fault?.action, { case: 'partition', value: {} });
  });

  it('netem carries each action it names, and a delay its reorder', () => {
    const faults = networkFaults(spec({
      action: 'netem', delay: { latency: '10ms', jitter: '1ms', reorder: { reorder: '5', gap: 3 } }, loss: { loss: '2' }, corrupt: { corrupt: '1', correlation: '25' },
    }), { cidrs: ['10.0.0.1/32'], byPort: new Map() });
    assert.deepEqual(faults.map((f) => f.action?.case), ['delay', 'reorder', 'loss', 'corrupt']);
    assert.deepEqual(faults[0]?.action?.value, { latency: '10ms', jitter: '1ms' });
    assert.deepEqual(faults[1]?.action?.value, { reorder: '5', gap: 3 });
    assert.ok(faults.every((f) => f.scope?.direction === Direction.EGRESS && f.scope.cidrs?.[0] === '10.0.0.1/32'));
  });

  it('an action other than netem takes only its own field; peers asked for but none found give no fault at all', () => {
    const lossy = spec({ action: 'loss', loss: { loss: '20' }, delay: { latency: '1ms' } });
    assert.deepEqual(networkFaults(lossy, { cidrs: undefined, byPort: new Map() }).map((f) => f.action?.case), ['loss']);
    assert.deepEqual(networkFaults(lossy, { cidrs: [], byPort: new Map() }), [], 'never widened to every peer');
  });

  it('netem rate becomes a token bucket sized for the rate', () => {
    const [fault] = networkFaults(spec({ action: 'netem', rate: { rate: '8mbit' } }), { cidrs: undefined, byPort: new Map() });
    assert.deepEqual(fault?.action, { case: 'bandwidth', value: { rate: '8mbit', buffer: 4000, limit: 100000 } });
  });

  it('splits many peers into scopes of 64, a host:port peer by its TCP port, and refuses more than a node holds', () => {
    const cidrs = Array.from({ length: 130 }, (_, i) => `10.0.${Math.floor(i / 250)}.${i % 250}/32`);
    const faults = networkFaults(spec({ action: 'bandwidth', bandwidth: { rate: '1mbps', limit: 20000, buffer: 10000, peakrate: 2000000, minburst: 1500 } }), { cidrs, byPort: new Map([[443, ['192.0.2.1/32']]]) });
    assert.deepEqual(faults.map((f) => f.scope?.cidrs?.length), [MAX_CIDRS_PER_SCOPE, MAX_CIDRS_PER_SCOPE, 2, 1]);
    assert.deepEqual(faults.slice(3).map((f) => [f.scope?.ports, f.scope?.protocol]), [[[443], Protocol.TCP]]);
    assert.deepEqual(faults[0]?.action?.value, { rate: '1mbps', limit: 20000, buffer: 10000, peakrate: '2000000bit', minburst: 1500 });
    const many = Array.from({ length: 17 * MAX_CIDRS_PER_SCOPE }, (_, i) => `10.${Math.floor(i / 65536)}.${Math.floor(i / 256) % 256}.${i % 256}/32`);
    assert.throws(() => networkFaults(spec({}), { cidrs: many, byPort: new Map() }), NetworkPlanError);
  });

  it('says what round trip to expect, per direction', () => {
    assert.match(expectedRtt(spec({ action: 'delay', delay: { latency: '100ms' } })) ?? '', /^\+100ms per round trip/);
    assert.match(expectedRtt(spec({ action: 'delay', direction: 'both', delay: { latency: '100ms', jitter: '10ms' } })) ?? '', /^\+2 × 100ms ± 10ms per round trip/);
    assert.equal(expectedRtt(spec({ action: 'loss', loss: { loss: '5' } })), undefined);
  });
});

describe('level-triggered targets', () => {
  const pod = (name: string, uid: string, extra: Partial<Pod['metadata']> = {}): Pod => ({
    metadata: { namespace: 'app', name, uid, labels: { app: 'web' }, ...extra },
    spec: { nodeName: 'n1', containers: [{ name: 'c', image: 'i' }] },
    status: { phase: 'Running', podIP: '10.0.0.9' },
  });
  const viewOf = (pods: Pod[]): ClusterView => ({
    namespace: (name) => (name === 'app' ? { metadata: { name } } : undefined),
    podsIn: (namespace) => pods.filter((p) => p.metadata.namespace === namespace),
    pod: (namespace, name) => pods.find((p) => p.metadata.namespace === namespace && p.metadata.name === name),
    nodeLabels: () => new Map([['n1', {}]]),
    nodeMemoryBytes: () => undefined,
  });
  const safety = { protectedNamespaces: new Set<string>(), requireOptIn: false };
  const held = (name: string, uid: string) => ({ namespace: 'app', name, uid, phase: 'Injected' as const, node: 'n1' });
  const at = '2026-12-01T00:00:00Z';

  it('mode all: a gone target is Recovered, a new pod is appended as Selected, a known pod is never picked twice', () => {
    const view = viewOf([pod('web-b', 'b'), pod('web-c', 'c'), pod('web-d', 'd', { deletionTimestamp: at })]);
    const records = [held('web-a', 'a'), held('web-b', 'b'), { ...held('web-d', 'd') }, { namespace: 'app', name: 'web-x', uid: 'x', phase: 'Failed' as const }];
    const next = followPods(view, { mode: 'all', selector: { labelSelectors: { app: 'web' } } }, 'app', safety, 1, records, at);
    assert.deepEqual(next.map((t) => [t.name, t.phase]), [['web-a', 'Recovered'], ['web-b', 'Injected'], ['web-d', 'Recovered'], ['web-x', 'Failed'], ['web-c', 'Selected']]);
    assert.equal(next[0]?.recoveredAt, at);
    assert.match(next[2]?.message ?? '', /being deleted/);
  });

  it('a count is held: a replacement is picked only for a target that is gone', () => {
    const view = viewOf([pod('web-b', 'b'), pod('web-c', 'c'), pod('web-e', 'e')]);
    const spec2 = { mode: 'fixed' as const, value: '2', selector: {} };
    const kept = followPods(view, spec2, 'app', safety, 3, [held('web-b', 'b'), held('web-c', 'c')], at);
    assert.equal(kept.length, 2, 'nothing added while the count holds');
    const replaced = followPods(view, spec2, 'app', safety, 3, [held('web-a', 'a'), held('web-b', 'b')], at);
    assert.deepEqual(replaced.map((t) => [t.name, t.phase]), [['web-a', 'Recovered'], ['web-b', 'Injected'], [replaced[2]?.name, 'Selected']]);
    assert.ok(['web-c', 'web-e'].includes(replaced[2]?.name ?? ''));
  });
});
