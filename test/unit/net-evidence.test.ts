/**
 * Reading evidence: the kernel's counters of kerris's qdiscs and nftables rules, parsed from what tc and nft print
 * and tied to the faults the planner put there. The fixtures are real output of this build host (iproute2 6.1.0,
 * nftables 1.0.6, Linux 6.18), captured with the plans built below applied in a namespace and traffic sent through.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { EvidenceParseError, nftEvidence, qdiscEvidence, summed } from '../../src/daemon/net/evidence.ts';
import type { Evidence, QdiscCounter } from '../../src/daemon/net/evidence.ts';
import { planNetworkFaults } from '../../src/daemon/net/plan.ts';
import { validateNetworkFault } from '../../src/daemon/net/validate.ts';
import type { NodeCapabilities } from '../../src/daemon/preflight.ts';

/** Like the build host: no sch_netem, so loss falls back to nftables. */
const caps: NodeCapabilities = {
  node: 'n', netem: false, tbf: true, htb: true, u32: true, ingressRedirect: true, ifb: true, nftables: true, ipset: true, iptablesBackend: 'nft', cgroup: 'hybrid', failures: {},
};
const netns = '/run/netns/kwt';
const state = { links: [{ name: 'lo', type: 'loopback', up: true, txqlen: 1000 }, { name: 'eth0', type: 'ether', up: true, txqlen: 1000 }], qdiscs: [{ device: 'eth0', kind: 'noqueue', handle: '0:', parent: 'root' }], nftTables: [] };

/**
 * The plan of the first fixtures: 200 UDP datagrams of 1400 bytes sent at a 1 mbit cap (tbf drops and throttles),
 * UDP to port 9 cut (the sender stops at the first EPERM), 40 pings in over IPv6 at 50% loss, 30 pings in over
 * IPv4 at a 1 mbit cap through the IFB.
 */
const plan = planNetworkFaults({ netns, devices: ['eth0'] }, [
  { action: 'bandwidth', bandwidth: { rate: '1mbit', limit: 3000, buffer: 3000 }, scope: { cidrs: ['10.99.0.0/24'], protocol: 'udp' } },
  { action: 'bandwidth', bandwidth: { rate: '1mbit', limit: 3000, buffer: 3000 }, scope: { direction: 'ingress', cidrs: ['10.99.0.0/24'] } },
  { action: 'partition', scope: { cidrs: ['10.99.0.0/24'], protocol: 'udp', ports: [9] } },
  { action: 'loss', loss: { loss: '50' }, scope: { direction: 'ingress', cidrs: ['fd99::/64'] } },
].map(validateNetworkFault), caps, state);

/** `tc -s -j qdisc show` with that plan applied: kerris's root htb and its tbf on eth0, the ingress hook, the IFB's tree. */
const TC_QDISCS = '[{"kind":"noqueue","handle":"0:","dev":"lo","root":true,"refcnt":2,"options":{},"bytes":0,"packets":0,"drops":0,"overlimits":0,"requeues":0,"backlog":0,"qlen":0},{"kind":"htb","handle":"4b52:","dev":"eth0","root":true,"refcnt":3,"options":{"r2q":10,"default":"0x1","direct_packets_stat":0,"direct_qlen":1000},"bytes":50622,"packets":59,"drops":196,"overlimits":59,"requeues":0,"backlog":0,"qlen":0},{"kind":"tbf","handle":"4b70:","dev":"eth0","parent":"4b52:10","options":{"rate":125000,"burst":3000,"lat":0},"bytes":5768,"packets":4,"drops":196,"overlimits":200,"requeues":0,"backlog":0,"qlen":0},{"kind":"ingress","handle":"ffff:","dev":"eth0","parent":"ffff:fff1","options":{},"bytes":49448,"packets":76,"drops":0,"overlimits":0,"requeues":0,"backlog":0,"qlen":0},{"kind":"htb","handle":"4b52:","dev":"kerris-ifb0","root":true,"refcnt":2,"options":{"r2q":10,"default":"0x1","direct_packets_stat":0,"direct_qlen":32},"bytes":49070,"packets":75,"drops":1,"overlimits":75,"requeues":0,"backlog":0,"qlen":0},{"kind":"tbf","handle":"4b70:","dev":"kerris-ifb0","parent":"4b52:10","options":{"rate":125000,"burst":3000,"lat":0},"bytes":44178,"packets":33,"drops":1,"overlimits":47,"requeues":0,"backlog":0,"qlen":0}]';

/** `nft -j list table inet kerris` with that plan applied. */
const NFT_TABLE = '{"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}}, {"table": {"family": "inet", "name": "kerris", "handle": 2}}, {"set": {"family": "inet", "name": "peers0v4", "table": "kerris", "type": "ipv4_addr", "handle": 3, "flags": ["interval"], "elem": [{"prefix": {"addr": "10.99.0.0", "len": 24}}]}}, {"set": {"family": "inet", "name": "peers1v6", "table": "kerris", "type": "ipv6_addr", "handle": 4, "flags": ["interval"], "elem": [{"prefix": {"addr": "fd99::", "len": 64}}]}}, {"chain": {"family": "inet", "table": "kerris", "name": "egress", "handle": 1, "type": "filter", "hook": "output", "prio": -10, "policy": "accept"}}, {"chain": {"family": "inet", "table": "kerris", "name": "ingress", "handle": 2, "type": "filter", "hook": "input", "prio": -10, "policy": "accept"}}, {"rule": {"family": "inet", "table": "kerris", "chain": "egress", "handle": 5, "comment": "partition", "expr": [{"match": {"op": "==", "left": {"meta": {"key": "oifname"}}, "right": "eth0"}}, {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": "@peers0v4"}}, {"match": {"op": "==", "left": {"payload": {"protocol": "udp", "field": "dport"}}, "right": 9}}, {"counter": {"packets": 1, "bytes": 1428}}, {"drop": null}]}}, {"rule": {"family": "inet", "table": "kerris", "chain": "ingress", "handle": 6, "comment": "loss", "expr": [{"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "eth0"}}, {"match": {"op": "==", "left": {"payload": {"protocol": "ip6", "field": "saddr"}}, "right": "@peers1v6"}}, {"match": {"op": "<", "left": {"numgen": {"mode": "random", "mod": 1000000, "offset": 0}}, "right": 500000}}, {"counter": {"packets": 16, "bytes": 1632}}, {"drop": null}]}}]}';

/**
 * `nft -j list table inet kerris` with ICMP cut both ways on eth0 and lo and TCP port 80 to one peer cut on the way
 * out (3 pings on lo and a connect dropped on the way out, 5 pings in): rules over two devices, two rules of one fault.
 */
const NFT_TWO_DEVICES = '{"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}}, {"table": {"family": "inet", "name": "kerris", "handle": 3}}, {"set": {"family": "inet", "name": "peers0v4", "table": "kerris", "type": "ipv4_addr", "handle": 3, "flags": ["interval"], "elem": ["10.99.0.2"]}}, {"chain": {"family": "inet", "table": "kerris", "name": "egress", "handle": 1, "type": "filter", "hook": "output", "prio": -10, "policy": "accept"}}, {"chain": {"family": "inet", "table": "kerris", "name": "ingress", "handle": 2, "type": "filter", "hook": "input", "prio": -10, "policy": "accept"}}, {"rule": {"family": "inet", "table": "kerris", "chain": "egress", "handle": 6, "comment": "partition", "expr": [{"match": {"op": "==", "left": {"meta": {"key": "oifname"}}, "right": {"set": ["lo", "eth0"]}}}, {"match": {"op": "==", "left": {"meta": {"key": "l4proto"}}, "right": {"set": ["icmp", "ipv6-icmp"]}}}, {"counter": {"packets": 3, "bytes": 252}}, {"drop": null}]}}, {"rule": {"family": "inet", "table": "kerris", "chain": "egress", "handle": 8, "comment": "partition", "expr": [{"match": {"op": "==", "left": {"meta": {"key": "oifname"}}, "right": {"set": ["lo", "eth0"]}}}, {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": "@peers0v4"}}, {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 80}}, {"counter": {"packets": 1, "bytes": 60}}, {"drop": null}]}}, {"rule": {"family": "inet", "table": "kerris", "chain": "ingress", "handle": 11, "comment": "partition", "expr": [{"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": {"set": ["lo", "eth0"]}}}, {"match": {"op": "==", "left": {"meta": {"key": "l4proto"}}, "right": {"set": ["icmp", "ipv6-icmp"]}}}, {"counter": {"packets": 5, "bytes": 420}}, {"drop": null}]}}]}';

describe('the planner says where the counters are', () => {
  test('each tbf and netem with its faults, on the device or on its IFB for ingress, and whether there is a table', () => {
    assert.deepEqual(plan.counters, {
      qdiscs: [
        { device: 'eth0', direction: 'egress', on: 'eth0', handle: '4b70:', kind: 'tbf', faults: ['bandwidth'] },
        { device: 'eth0', direction: 'ingress', on: 'kerris-ifb0', handle: '4b70:', kind: 'tbf', faults: ['bandwidth'] },
      ],
      nft: true,
    });
  });

  test('a netem that carries several faults names them all; bandwidth on the same scope is its tbf child', () => {
    const withNetem = planNetworkFaults({ netns, devices: ['eth0'] }, [
      { action: 'delay', delay: { latency: '10ms' }, scope: { protocol: 'udp' } },
      { action: 'loss', loss: { loss: '5' }, scope: { protocol: 'udp' } },
      { action: 'bandwidth', bandwidth: { rate: '1mbit', limit: 3000, buffer: 3000 }, scope: { protocol: 'udp' } },
      { action: 'reorder', reorder: { reorder: '5', latency: '1ms' } },
    ].map(validateNetworkFault), { ...caps, netem: true }, state);
    assert.deepEqual(withNetem.counters, {
      qdiscs: [
        { device: 'eth0', direction: 'egress', on: 'eth0', handle: '4b60:', kind: 'netem', faults: ['delay', 'loss'] },
        { device: 'eth0', direction: 'egress', on: 'eth0', handle: '4b70:', kind: 'tbf', faults: ['bandwidth'] },
        { device: 'eth0', direction: 'egress', on: 'eth0', handle: '4b61:', kind: 'netem', faults: ['reorder'] },
      ],
      nft: false,
    });
  });
});

describe('qdisc counters', () => {
  test('the tbf on the device and the one on its IFB, as the faults they carry; nothing else in the namespace', () => {
    assert.deepEqual(qdiscEvidence(TC_QDISCS, plan.counters?.qdiscs ?? []), [
      { device: 'eth0', direction: 'egress', kind: 'tbf', fault: 'bandwidth', packets: 4, bytes: 5768, dropped: 196, overlimits: 200 },
      { device: 'eth0', direction: 'ingress', kind: 'tbf', fault: 'bandwidth', packets: 33, bytes: 44178, dropped: 1, overlimits: 47 },
    ]);
  });

  test('a qdisc that is no longer there, or not of the kind the plan made, has no counters', () => {
    const gone: QdiscCounter[] = [{ device: 'eth1', direction: 'egress', on: 'eth1', handle: '4b70:', kind: 'tbf', faults: ['bandwidth'] }];
    assert.deepEqual(qdiscEvidence(TC_QDISCS, gone), []);
    const wrongKind: QdiscCounter[] = [{ device: 'eth0', direction: 'egress', on: 'eth0', handle: '4b70:', kind: 'netem', faults: ['delay'] }];
    assert.deepEqual(qdiscEvidence(TC_QDISCS, wrongKind), []);
  });

  test('a netem reports its counters under each fault it carries', () => {
    // This host's kernel has no sch_netem: the entry is the real eth0 tbf above with netem's kind, handle and
    // options. tc prints the same statistics fields for every qdisc kind (print_tcstats_attr).
    const netem = JSON.stringify([{
      kind: 'netem', handle: '4b60:', dev: 'eth0', parent: '4b52:10', options: { limit: 100000, delay: { delay: 0.01, jitter: 0, correlation: 0 }, 'loss-random': { loss: 0.05, correlation: 0 }, ecn: false, gap: 0 },
      bytes: 5768, packets: 4, drops: 196, overlimits: 0, requeues: 0, backlog: 0, qlen: 0,
    }]);
    const counters: QdiscCounter[] = [{ device: 'eth0', direction: 'egress', on: 'eth0', handle: '4b60:', kind: 'netem', faults: ['delay', 'loss'] }];
    assert.deepEqual(qdiscEvidence(netem, counters).map((e) => [e.fault, e.packets, e.dropped]), [['delay', 4, 196], ['loss', 4, 196]]);
  });

  test('output that is not tc\'s is refused with what is wrong', () => {
    const counters = plan.counters?.qdiscs ?? [];
    assert.throws(() => qdiscEvidence('qdisc tbf 4b70: dev eth0', counters), (error: unknown) => error instanceof EvidenceParseError && /not JSON/.test(error.message));
    assert.throws(() => qdiscEvidence('{}', counters), /expected a JSON array/);
    const negative = TC_QDISCS.replace('"packets":4,', '"packets":-4,');
    assert.throws(() => qdiscEvidence(negative, counters), /tc qdisc tbf 4b70: on eth0: packets is -4, not a counter/);
    const text = TC_QDISCS.replace('"drops":196,"overlimits":200', '"drops":"196","overlimits":200');
    assert.throws(() => qdiscEvidence(text, counters), /drops is "196"/);
  });
});

describe('nftables counters', () => {
  test('each rule\'s counter as the fault its comment names, on the side its chain is, on the devices it matches', () => {
    assert.deepEqual(nftEvidence(NFT_TABLE), [
      { device: 'eth0', direction: 'egress', kind: 'nft', fault: 'partition', packets: 1, bytes: 1428, dropped: 1, overlimits: 0 },
      { device: 'eth0', direction: 'ingress', kind: 'nft', fault: 'loss', packets: 16, bytes: 1632, dropped: 16, overlimits: 0 },
    ]);
  });

  test('a rule over several devices names them all; two rules of one fault on one side add up', () => {
    assert.deepEqual(summed(nftEvidence(NFT_TWO_DEVICES)), [
      { device: 'eth0,lo', direction: 'egress', kind: 'nft', fault: 'partition', packets: 4, bytes: 312, dropped: 4, overlimits: 0 },
      { device: 'eth0,lo', direction: 'ingress', kind: 'nft', fault: 'partition', packets: 5, bytes: 420, dropped: 5, overlimits: 0 },
    ]);
  });

  test('rules kerris does not write are not counted: another table, no fault comment, no counter', () => {
    const parsed = JSON.parse(NFT_TABLE) as { nftables: Array<Record<string, { [key: string]: unknown }>> };
    const rules = parsed.nftables.filter((item) => item['rule'] !== undefined);
    const variants = [
      rules.map((r) => ({ rule: { ...r['rule'], table: 'foreign' } })),
      rules.map((r) => ({ rule: { ...r['rule'], comment: 'someone else' } })),
      rules.map((r) => ({ rule: { ...r['rule'], chain: 'output' } })),
      rules.map((r) => ({ rule: { ...r['rule'], expr: (r['rule']?.['expr'] as unknown[]).filter((e) => !JSON.stringify(e).startsWith('{"counter"')) } })),
    ];
    for (const nftables of variants) assert.deepEqual(nftEvidence(JSON.stringify({ nftables })), []);
  });

  test('output that is not nft\'s is refused with what is wrong', () => {
    assert.throws(() => nftEvidence('table inet kerris {'), EvidenceParseError);
    assert.throws(() => nftEvidence('[]'), /expected \{"nftables": \[\.\.\.\]\}/);
    assert.throws(() => nftEvidence(NFT_TABLE.replace('"packets": 16', '"packets": 1.5')), /nft rule 6 in chain ingress: packets is 1.5, not a counter/);
    assert.throws(() => nftEvidence(NFT_TABLE.replace('"right": "eth0"', '"right": 7')), /nft rule 5 in chain egress: interface match 7/);
  });
});

test('counters of one fault on one device and side add up, in a stable order', () => {
  const e = (fault: Evidence['fault'], device: string, packets: number): Evidence => ({ device, direction: 'egress', kind: 'tbf', fault, packets, bytes: packets * 100, dropped: 1, overlimits: 2 });
  assert.deepEqual(summed([e('bandwidth', 'eth1', 1), e('bandwidth', 'eth0', 2), e('bandwidth', 'eth0', 3)]), [
    { ...e('bandwidth', 'eth0', 5), dropped: 2, overlimits: 4 },
    e('bandwidth', 'eth1', 1),
  ]);
});
