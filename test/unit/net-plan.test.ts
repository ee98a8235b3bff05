import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { FaultConflictError, ForeignStateError, UnsupportedFaultError } from '../../src/daemon/net/errors.ts';
import type { NetworkFault } from '../../src/daemon/net/fault.ts';
import { planNetworkFaults } from '../../src/daemon/net/plan.ts';
import { defaultRouteDevices, nftTableNames, type QdiscInfo, type TcState } from '../../src/daemon/net/snapshot.ts';
import { FaultValidationError, validateNetworkFault } from '../../src/daemon/net/validate.ts';
import type { ExecStep, Plan } from '../../src/daemon/plan.ts';
import type { NodeCapabilities } from '../../src/daemon/preflight.ts';

const stock: NodeCapabilities = {
  node: 'node-a', netem: true, tbf: true, htb: true, u32: true, ingressRedirect: true, ifb: true,
  nftables: true, ipset: true, iptablesBackend: 'nft', cgroup: 'v2', failures: {},
};
/** Like the build host: no sch_netem. */
const noNetem: NodeCapabilities = { ...stock, node: 'node-b', netem: false, failures: { netem: 'Error: Specified qdisc kind is unknown.' } };

const netns = '/proc/4242/ns/net';
const target = { netns, devices: ['eth0'] };

function state(qdiscs: readonly QdiscInfo[] = [], extraLinks: readonly string[] = []): TcState {
  return {
    links: ['lo', 'eth0', ...extraLinks].map((name) => ({ name, type: name === 'lo' ? 'loopback' : 'ether', up: true, txqlen: 1000 })),
    qdiscs: [{ device: 'eth0', kind: 'noqueue', handle: '0:', parent: 'root' }, ...qdiscs],
    nftTables: [],
  };
}

function faults(...inputs: unknown[]): NetworkFault[] {
  return inputs.map(validateNetworkFault);
}

function exec(step: Plan['apply'][number] | undefined): ExecStep {
  assert.ok(step?.kind === 'exec');
  return step;
}

describe('planNetworkFaults', () => {
  test('the benchmark fault (bandwidth + loss + partition to one CIDR) on a node without netem', () => {
    const plan = planNetworkFaults(target, faults(
      { action: 'bandwidth', bandwidth: { rate: '10mbit', limit: 100000, buffer: 10000 }, scope: { cidrs: ['10.96.0.0/12'] } },
      { action: 'loss', loss: { loss: '10' }, scope: { cidrs: ['10.96.0.0/12'] } },
      { action: 'partition', scope: { cidrs: ['10.96.0.0/12'], protocol: 'tcp', ports: [443, 80] } },
    ), noNetem, state());
    assert.deepEqual(plan.apply.map((s) => exec(s).argv), [['nft', '-f', '-'], ['tc', '-batch', '-']]);
    assert.equal(exec(plan.apply[0]).input, [
      'create table inet kerris',
      'table inet kerris {',
      '  set peers0v4 { type ipv4_addr; flags interval; auto-merge; elements = { 10.96.0.0/12 } }',
      '  chain egress {',
      '    type filter hook output priority -10; policy accept;',
      '    oifname { "eth0" } ip daddr @peers0v4 numgen random mod 1000000 < 100000 counter drop comment "loss"',
      '    oifname { "eth0" } ip daddr @peers0v4 meta l4proto tcp th dport { 80, 443 } counter drop comment "partition"',
      '  }',
      '}',
      '',
    ].join('\n'));
    assert.equal(exec(plan.apply[1]).input, [
      'qdisc add dev eth0 root handle 4b52: htb default 1',
      'class add dev eth0 parent 4b52: classid 4b52:1 htb rate 100gbit quantum 60000',
      'class add dev eth0 parent 4b52: classid 4b52:10 htb rate 100gbit quantum 60000',
      'qdisc add dev eth0 parent 4b52:10 handle 4b70: tbf rate 10000000bit burst 10000 limit 100000',
      'filter add dev eth0 parent 4b52: protocol ip prio 1 u32 match ip dst 10.96.0.0/12 flowid 4b52:10',
      '',
    ].join('\n'));
    assert.deepEqual(plan.revert, [
      { kind: 'exec', netns, argv: ['tc', 'qdisc', 'del', 'dev', 'eth0', 'root', 'handle', '4b52:'], absentIf: ['Invalid handle', 'Cannot find specified qdisc on specified device', 'Cannot find device "eth0"'] },
      { kind: 'exec', netns, argv: ['nft', 'delete', 'table', 'inet', 'kerris'], absentIf: ['Could not process rule: No such file or directory'] },
    ]);
    assert.ok(plan.apply.every((s) => exec(s).netns === netns));
    assert.deepEqual(plan.counters, { qdiscs: [{ device: 'eth0', direction: 'egress', on: 'eth0', handle: '4b70:', kind: 'tbf', faults: ['bandwidth'] }], nft: true });
  });

  test('netem faults on one scope merge into one netem, with bandwidth as its tbf child', () => {
    const scope = { cidrs: ['2001:db8::/32', '192.0.2.0/24'], protocol: 'udp', ports: [53] };
    const plan = planNetworkFaults(target, faults(
      { action: 'delay', delay: { latency: '100ms', jitter: '10ms', correlation: '25' }, scope },
      { action: 'loss', loss: { loss: '1.5', correlation: '10' }, scope },
      { action: 'duplicate', duplicate: { duplicate: '2' }, scope },
      { action: 'corrupt', corrupt: { corrupt: '0.1' }, scope },
      { action: 'reorder', reorder: { reorder: '25', correlation: '50', gap: 5 }, scope },
      { action: 'bandwidth', bandwidth: { rate: '1mbps', limit: 20000, buffer: 3000, peakrate: '2mbps', minburst: 1600 }, scope },
      { action: 'delay', delay: { latency: '5ms' } },
    ), stock, state());
    assert.deepEqual(plan.apply.map((s) => exec(s).argv), [['tc', '-batch', '-']]);
    assert.equal(exec(plan.apply[0]).input, [
      'qdisc add dev eth0 root handle 4b52: htb default 1',
      'class add dev eth0 parent 4b52: classid 4b52:1 htb rate 100gbit quantum 60000',
      'class add dev eth0 parent 4b52: classid 4b52:10 htb rate 100gbit quantum 60000',
      'qdisc add dev eth0 parent 4b52:10 handle 4b60: netem limit 100000 delay 100000us 10000us 25% loss 1.5% 10% duplicate 2% 0% corrupt 0.1% 0% reorder 25% 50% gap 5',
      'qdisc add dev eth0 parent 4b60:1 handle 4b70: tbf rate 8000000bit burst 3000 limit 20000 peakrate 16000000bit minburst 1600',
      'filter add dev eth0 parent 4b52: protocol ip prio 1 u32 match ip dst 192.0.2.0/24 match ip protocol 17 0xff match ip dport 53 0xffff flowid 4b52:10',
      'filter add dev eth0 parent 4b52: protocol ipv6 prio 2 u32 match ip6 dst 2001:db8::/32 match ip6 protocol 17 0xff match ip6 dport 53 0xffff flowid 4b52:10',
      'class add dev eth0 parent 4b52: classid 4b52:11 htb rate 100gbit quantum 60000',
      'qdisc add dev eth0 parent 4b52:11 handle 4b61: netem limit 100000 delay 5000us 0us 0%',
      'filter add dev eth0 parent 4b52: protocol all prio 3 u32 match u32 0 0 flowid 4b52:11',
      '',
    ].join('\n'));
  });

  test('a catch-all scope goes after specific ones, whatever the order of the faults', () => {
    const plan = planNetworkFaults(target, faults(
      { action: 'delay', delay: { latency: '5ms' } },
      { action: 'delay', delay: { latency: '50ms' }, scope: { protocol: 'icmp' } },
    ), stock, state());
    const lines = (exec(plan.apply[0]).input ?? '').split('\n').filter((l) => l.startsWith('filter'));
    assert.deepEqual(lines, [
      'filter add dev eth0 parent 4b52: protocol ip prio 1 u32 match ip protocol 1 0xff flowid 4b52:10',
      'filter add dev eth0 parent 4b52: protocol ipv6 prio 2 u32 match ip6 protocol 58 0xff flowid 4b52:10',
      'filter add dev eth0 parent 4b52: protocol all prio 3 u32 match u32 0 0 flowid 4b52:11',
    ]);
  });

  test('ingress goes through an IFB that exists before traffic is redirected, and is removed last', () => {
    const plan = planNetworkFaults(target, faults(
      { action: 'bandwidth', bandwidth: { rate: '10mbit', limit: 100000, buffer: 10000 }, scope: { direction: 'ingress', cidrs: ['10.0.0.0/8'], protocol: 'tcp', ports: [5001] } },
    ), noNetem, state());
    assert.deepEqual(plan.apply.map((s) => exec(s).argv), [['ip', '-batch', '-'], ['tc', '-batch', '-']]);
    assert.equal(exec(plan.apply[0]).input, 'link add name kerris-ifb0 type ifb\nlink set dev kerris-ifb0 up\n');
    const tc = (exec(plan.apply[1]).input ?? '').trim().split('\n');
    assert.equal(tc[0], 'qdisc add dev kerris-ifb0 root handle 4b52: htb default 1');
    assert.ok(tc.includes('filter add dev kerris-ifb0 parent 4b52: protocol ip prio 1 u32 match ip src 10.0.0.0/8 match ip protocol 6 0xff match ip sport 5001 0xffff flowid 4b52:10'));
    assert.deepEqual(tc.slice(-2), [
      'qdisc add dev eth0 handle ffff: ingress',
      'filter add dev eth0 parent ffff: protocol all prio 1 u32 match u32 0 0 action mirred egress redirect dev kerris-ifb0',
    ]);
    assert.deepEqual(plan.revert.map((s) => exec(s).argv), [
      ['tc', 'qdisc', 'del', 'dev', 'eth0', 'ingress'],
      ['ip', 'link', 'del', 'dev', 'kerris-ifb0'],
    ]);
  });

  test('a device with no transmit queue (a pod\'s veth) gets its txqueuelen 0 back after the root qdisc goes, since the kernel sets 1000 when one is attached', () => {
    const noQueue: TcState = { ...state(), links: state().links.map((l) => (l.name === 'eth0' ? { ...l, txqlen: 0 } : l)) };
    const plan = planNetworkFaults(target, faults({ action: 'bandwidth', scope: { direction: 'egress' }, bandwidth: { rate: '1mbit', limit: 10000, buffer: 2000 } }), noNetem, noQueue);
    assert.deepEqual(plan.revert.map((step) => exec(step).argv), [['tc', 'qdisc', 'del', 'dev', 'eth0', 'root', 'handle', '4b52:'], ['ip', 'link', 'set', 'dev', 'eth0', 'txqueuelen', '0']]);
    const queued = planNetworkFaults(target, faults({ action: 'bandwidth', scope: { direction: 'egress' }, bandwidth: { rate: '1mbit', limit: 10000, buffer: 2000 } }), noNetem, state());
    assert.deepEqual(queued.revert.map((step) => exec(step).argv), [['tc', 'qdisc', 'del', 'dev', 'eth0', 'root', 'handle', '4b52:']], 'a queue length of its own is left alone');
  });

  test('a revert is grouped by tool (tc, then ip), so it runs as one batch of each; nft goes beside them', () => {
    const twoQueueless: TcState = {
      links: ['lo', 'eth0', 'eth1'].map((name) => ({ name, type: name === 'lo' ? 'loopback' : 'ether', up: true, txqlen: name === 'lo' ? 1000 : 0 })),
      qdiscs: [],
      nftTables: [],
    };
    const plan = planNetworkFaults({ netns, devices: ['eth0', 'eth1'] }, faults(
      { action: 'bandwidth', scope: { direction: 'both' }, bandwidth: { rate: '1mbit', limit: 10000, buffer: 2000 } },
      { action: 'partition', scope: { cidrs: ['10.0.0.0/8'] } },
    ), noNetem, twoQueueless);
    assert.deepEqual(plan.revert.map((step) => exec(step).argv.join(' ')), [
      'tc qdisc del dev eth0 ingress', 'tc qdisc del dev eth1 ingress',
      'tc qdisc del dev eth0 root handle 4b52:', 'tc qdisc del dev eth1 root handle 4b52:',
      'ip link set dev eth0 txqueuelen 0', 'ip link set dev eth1 txqueuelen 0',
      'nft delete table inet kerris',
      'ip link del dev kerris-ifb0', 'ip link del dev kerris-ifb1',
    ]);
  });

  test('netfilter loss of 100% is a plain drop (numgen cannot compare with its modulus)', () => {
    const plan = planNetworkFaults(target, faults({ action: 'loss', loss: { loss: 100 } }, { action: 'loss', loss: { loss: 0.0001 }, scope: { direction: 'ingress' } }), noNetem, state());
    const rules = (exec(plan.apply[0]).input ?? '').split('\n').filter((l) => l.includes('ifname'));
    assert.deepEqual(rules, ['    oifname { "eth0" } counter drop comment "loss"', '    iifname { "eth0" } numgen random mod 1000000 < 1 counter drop comment "loss"']);
  });

  test('partition in both directions drops on output and input', () => {
    const plan = planNetworkFaults(target, faults({ action: 'partition', scope: { direction: 'both' } }), noNetem, state());
    assert.match(exec(plan.apply[0]).input ?? '', /chain egress \{\n.*\n {4}oifname \{ "eth0" \} counter drop comment "partition"\n {2}\}\n {2}chain ingress \{\n.*\n {4}iifname \{ "eth0" \} counter drop comment "partition"\n/);
  });

  test('the node\'s own namespace: partition and nft loss also hook forward, egress by oifname and daddr, ingress by iifname and saddr; excepted peers are accepted first in every chain', () => {
    const node = { netns: '/proc/1/ns/net', devices: ['eth0', 'eth1'], kind: 'node' as const };
    const links = ['eth1'];
    const except = ['10.42.0.0/16', 'fd00::/64'];
    const plan = planNetworkFaults(node, faults(
      { action: 'partition', scope: { direction: 'both', cidrs: ['192.0.2.0/24'], exceptCidrs: except } },
      { action: 'loss', loss: { loss: '20' }, scope: { device: 'eth1', exceptCidrs: ['10.42.0.0/16'] } },
    ), noNetem, state([{ device: 'eth1', kind: 'noqueue', handle: '0:', parent: 'root' }], links));
    assert.deepEqual(plan.apply.map((s) => exec(s).argv), [['nft', '-f', '-']]);
    assert.equal(exec(plan.apply[0]).input, [
      'create table inet kerris',
      'table inet kerris {',
      '  set except0v4 { type ipv4_addr; flags interval; auto-merge; elements = { 10.42.0.0/16 } }',
      '  set except1v6 { type ipv6_addr; flags interval; auto-merge; elements = { fd00::/64 } }',
      '  set peers0v4 { type ipv4_addr; flags interval; auto-merge; elements = { 192.0.2.0/24 } }',
      '  chain egress {',
      '    type filter hook output priority -10; policy accept;',
      '    oifname { "eth0", "eth1" } ip daddr @except0v4 accept',
      '    oifname { "eth0", "eth1" } ip6 daddr @except1v6 accept',
      '    oifname { "eth0", "eth1" } ip daddr @peers0v4 counter drop comment "partition"',
      '    oifname { "eth1" } numgen random mod 1000000 < 200000 counter drop comment "loss"',
      '  }',
      '  chain ingress {',
      '    type filter hook input priority -10; policy accept;',
      '    iifname { "eth0", "eth1" } ip saddr @except0v4 accept',
      '    iifname { "eth0", "eth1" } ip6 saddr @except1v6 accept',
      '    iifname { "eth0", "eth1" } ip saddr @peers0v4 counter drop comment "partition"',
      '  }',
      '  chain egress_forward {',
      '    type filter hook forward priority -10; policy accept;',
      '    oifname { "eth0", "eth1" } ip daddr @except0v4 accept',
      '    oifname { "eth0", "eth1" } ip6 daddr @except1v6 accept',
      '    oifname { "eth0", "eth1" } ip daddr @peers0v4 counter drop comment "partition"',
      '    oifname { "eth1" } numgen random mod 1000000 < 200000 counter drop comment "loss"',
      '  }',
      '  chain ingress_forward {',
      '    type filter hook forward priority -10; policy accept;',
      '    iifname { "eth0", "eth1" } ip saddr @except0v4 accept',
      '    iifname { "eth0", "eth1" } ip6 saddr @except1v6 accept',
      '    iifname { "eth0", "eth1" } ip saddr @peers0v4 counter drop comment "partition"',
      '  }',
      '}',
      '',
    ].join('\n'));
    assert.deepEqual(plan.revert, [{ kind: 'exec', netns: '/proc/1/ns/net', argv: ['nft', 'delete', 'table', 'inet', 'kerris'], absentIf: ['Could not process rule: No such file or directory'] }]);
    assert.match(plan.summary, /^network faults in \/proc\/1\/ns\/net: partition both peers 192\.0\.2\.0\/24 except 10\.42\.0\.0\/16,fd00::\/64; loss egress dev eth1 except 10\.42\.0\.0\/16$/);
    // The same faults in a container's namespace: no forward chains, nothing else changes.
    const container = planNetworkFaults({ ...node, netns, kind: 'container' }, faults({ action: 'partition', scope: { exceptCidrs: ['10.42.0.0/16'] } }), noNetem, state([], links));
    assert.equal(exec(container.apply[0]).input, [
      'create table inet kerris',
      'table inet kerris {',
      '  set except0v4 { type ipv4_addr; flags interval; auto-merge; elements = { 10.42.0.0/16 } }',
      '  chain egress {',
      '    type filter hook output priority -10; policy accept;',
      '    oifname { "eth0", "eth1" } ip daddr @except0v4 accept',
      '    oifname { "eth0", "eth1" } counter drop comment "partition"',
      '  }',
      '}',
      '',
    ].join('\n'));
  });

  test('excepted peers are steered into the untouched default class ahead of every scope, on the device (dst) and on the IFB (src)', () => {
    const node = { netns: '/proc/1/ns/net', devices: ['eth0'], kind: 'node' as const };
    const plan = planNetworkFaults(node, faults(
      { action: 'bandwidth', bandwidth: { rate: '1mbit', limit: 20000, buffer: 1600 }, scope: { direction: 'both', exceptCidrs: ['10.42.0.7', '2001:db8::/32'] } },
      { action: 'loss', loss: { loss: '5' }, scope: { cidrs: ['192.0.2.0/24'] } },
    ), stock, state());
    assert.deepEqual(plan.apply.map((s) => exec(s).argv), [['ip', '-batch', '-'], ['tc', '-batch', '-']]);
    assert.equal(exec(plan.apply[1]).input, [
      'qdisc add dev eth0 root handle 4b52: htb default 1',
      'class add dev eth0 parent 4b52: classid 4b52:1 htb rate 100gbit quantum 60000',
      'filter add dev eth0 parent 4b52: protocol ip prio 1 u32 match ip dst 10.42.0.7/32 flowid 4b52:1',
      'filter add dev eth0 parent 4b52: protocol ipv6 prio 2 u32 match ip6 dst 2001:db8::/32 flowid 4b52:1',
      'class add dev eth0 parent 4b52: classid 4b52:10 htb rate 100gbit quantum 60000',
      'qdisc add dev eth0 parent 4b52:10 handle 4b60: netem limit 100000 loss 5% 0%',
      'filter add dev eth0 parent 4b52: protocol ip prio 3 u32 match ip dst 192.0.2.0/24 flowid 4b52:10',
      'class add dev eth0 parent 4b52: classid 4b52:11 htb rate 100gbit quantum 60000',
      'qdisc add dev eth0 parent 4b52:11 handle 4b71: tbf rate 1000000bit burst 1600 limit 20000',
      'filter add dev eth0 parent 4b52: protocol all prio 5 u32 match u32 0 0 flowid 4b52:11',
      'qdisc add dev kerris-ifb0 root handle 4b52: htb default 1',
      'class add dev kerris-ifb0 parent 4b52: classid 4b52:1 htb rate 100gbit quantum 60000',
      'filter add dev kerris-ifb0 parent 4b52: protocol ip prio 1 u32 match ip src 10.42.0.7/32 flowid 4b52:1',
      'filter add dev kerris-ifb0 parent 4b52: protocol ipv6 prio 2 u32 match ip6 src 2001:db8::/32 flowid 4b52:1',
      'class add dev kerris-ifb0 parent 4b52: classid 4b52:10 htb rate 100gbit quantum 60000',
      'qdisc add dev kerris-ifb0 parent 4b52:10 handle 4b70: tbf rate 1000000bit burst 1600 limit 20000',
      'filter add dev kerris-ifb0 parent 4b52: protocol all prio 3 u32 match u32 0 0 flowid 4b52:10',
      'qdisc add dev eth0 handle ffff: ingress',
      'filter add dev eth0 parent ffff: protocol all prio 1 u32 match u32 0 0 action mirred egress redirect dev kerris-ifb0',
      '',
    ].join('\n'));
  });

  test('the node\'s faults may name any of its links beside its default routes\' devices, each checked to exist', () => {
    const node = { netns: '/proc/1/ns/net', devices: [], kind: 'node' as const };
    const plan = planNetworkFaults(node, faults({ action: 'partition', scope: { device: 'eth1', direction: 'ingress' } }), noNetem, state([], ['eth1']));
    assert.match(exec(plan.apply[0]).input ?? '', /chain ingress_forward \{\n.*\n {4}iifname \{ "eth1" \} counter drop comment "partition"\n/);
    assert.throws(() => planNetworkFaults(node, faults({ action: 'partition' }), noNetem, state()), /target\.devices is empty/);
    assert.throws(() => planNetworkFaults({ ...node, devices: ['eth0'] }, faults({ action: 'partition', scope: { device: 'eth7' } }), noNetem, state()), /device eth7 does not exist in \/proc\/1\/ns\/net/);
    const ifbs = planNetworkFaults({ ...node, devices: ['eth0'] }, faults({ action: 'bandwidth', bandwidth: { rate: '1mbit', limit: 20000, buffer: 1600 }, scope: { device: 'eth1', direction: 'ingress' } }), stock, state([], ['eth1']));
    assert.equal(exec(ifbs.apply[0]).input, 'link add name kerris-ifb1 type ifb\nlink set dev kerris-ifb1 up\n', 'a named device takes the IFB index after the default devices');
    // A container's faults stay on its own devices.
    assert.throws(() => planNetworkFaults(target, faults({ action: 'partition', scope: { device: 'eth1' } }), noNetem, state([], ['eth1'])), /eth1 is not one of the target's devices/);
  });

  test('a node\'s default devices are its default routes\' (ip -j route show default, IPv4 then IPv6, multipath next hops), each once', () => {
    assert.deepEqual(defaultRouteDevices([
      { dst: 'default', gateway: '192.0.2.1', dev: 'eth0', protocol: 'dhcp', flags: [] },
      { dst: 'default', flags: [], nexthops: [{ gateway: '198.51.100.1', dev: 'eth1', weight: 1, flags: [] }, { gateway: '198.51.100.2', dev: 'bond0', weight: 1, flags: [] }] },
      { dst: 'default', gateway: 'fe80::1', dev: 'eth0', metric: 1024, flags: [], pref: 'medium' },
    ]), ['eth0', 'eth1', 'bond0']);
    assert.deepEqual(defaultRouteDevices([]), []);
  });

  test('the tables the planner checks come from nft -j list tables (this host\'s nft 1.0.6 output), metainfo skipped', () => {
    const listed = '{"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}}, '
      + '{"table": {"family": "ip", "name": "filter", "handle": 7}}, {"table": {"family": "inet", "name": "kerris", "handle": 9}}]}\n';
    assert.deepEqual(nftTableNames(listed), ['ip filter', 'inet kerris']);
    assert.deepEqual(nftTableNames('{"nftables": [{"metainfo": {"version": "1.0.6", "json_schema_version": 1}}]}\n'), []);
    assert.deepEqual(nftTableNames(''), []);
    assert.throws(() => nftTableNames('[]'), /expected \{"nftables": \[\.\.\.\]\}/);
  });

  test('a node that cannot do a fault rejects the whole set with every reason, naming the node', () => {
    const set = faults(
      { action: 'delay', delay: { latency: '10ms' } },
      { action: 'partition' },
      { action: 'loss', loss: { loss: '5', correlation: '25' } },
      { action: 'reorder', reorder: { reorder: '5', latency: '1ms' }, scope: { direction: 'ingress' } },
    );
    assert.throws(() => planNetworkFaults(target, set, { ...noNetem, ifb: false }, state()), (error: unknown) => {
      assert.ok(error instanceof UnsupportedFaultError);
      assert.equal(error.node, 'node-b');
      assert.deepEqual(error.reasons, [
        'kernel has no sch_netem: delay unavailable on node node-b',
        'kernel has no sch_netem: loss with correlation unavailable on node node-b (only uncorrelated loss falls back to nftables)',
        'kernel has no sch_netem: reorder unavailable on node node-b',
        'kernel has no ifb: ingress reorder unavailable on node node-b',
      ]);
      return true;
    });
    assert.throws(() => planNetworkFaults(target, faults({ action: 'partition' }), { ...stock, nftables: false }, state()), /^UnsupportedFaultError: kernel has no nf_tables: partition unavailable on node node-a$/);
    assert.throws(() => planNetworkFaults(target, faults({ action: 'bandwidth', bandwidth: { rate: '1mbit', limit: 1, buffer: 2000 } }), { ...stock, tbf: false }, state()), /kernel has no sch_tbf: bandwidth unavailable on node node-a/);
  });

  test('state kerris did not create is refused, never replaced', () => {
    const delay = faults({ action: 'delay', delay: { latency: '10ms' } });
    const foreign = state([{ device: 'eth0', kind: 'tbf', handle: '8001:', parent: 'root' }]).qdiscs.slice(1);
    assert.throws(() => planNetworkFaults(target, delay, stock, { ...state(), qdiscs: foreign }), (error: unknown) =>
      error instanceof ForeignStateError && /root qdisc tbf 8001: that kerris did not create/.test(error.message));
    const ours = [{ device: 'eth0', kind: 'htb', handle: '4b52:', parent: 'root' }];
    assert.throws(() => planNetworkFaults(target, delay, stock, { ...state(), qdiscs: ours }), /already carries kerris's tree/);
    const ingress = faults({ action: 'delay', delay: { latency: '10ms' }, scope: { direction: 'ingress' } });
    assert.throws(() => planNetworkFaults(target, ingress, stock, state([{ device: 'eth0', kind: 'ingress', handle: 'ffff:', parent: 'ffff:fff1' }])), /already has a ingress qdisc/);
    assert.throws(() => planNetworkFaults(target, ingress, stock, state([], ['kerris-ifb0'])), /kerris-ifb0 already exists/);
    // Multiqueue devices start with a default mq root (handle 0:), which is the kernel's, not someone's choice.
    planNetworkFaults(target, delay, stock, { ...state(), qdiscs: [{ device: 'eth0', kind: 'mq', handle: '0:', parent: 'root' }] });
  });

  test('a namespace that already holds kerris\'s nftables table is refused for a plan that needs the table, before anything runs', () => {
    const held: TcState = { ...state(), nftTables: ['ip filter', 'inet kerris'] };
    const refusal = `network namespace ${netns} already holds kerris's nftables table inet kerris (another injection's, or a leftover): refused, nothing changed; revert the active plan before applying a new one`;
    const refused = (error: unknown): boolean => error instanceof ForeignStateError && error.subject === 'inet kerris' && error.message === refusal;
    assert.throws(() => planNetworkFaults(target, faults({ action: 'partition' }), stock, held), refused);
    // Loss falls back to nftables without netem, so it needs the table too.
    assert.throws(() => planNetworkFaults(target, faults({ action: 'loss', loss: { loss: '10' } }), noNetem, held), refused);
    // Two node-network faults share the node's own namespace: the second is refused like a container's.
    const node = { netns: '/proc/1/ns/net', devices: ['eth0'], kind: 'node' as const };
    assert.throws(() => planNetworkFaults(node, faults({ action: 'partition', scope: { cidrs: ['10.0.0.0/8'] } }), stock, held), (error: unknown) =>
      error instanceof ForeignStateError && error.message.startsWith('network namespace /proc/1/ns/net already holds kerris\'s nftables table inet kerris'));
    // A plan without nftables rules neither creates nor deletes the table, so the table is no obstacle to it.
    const delay = planNetworkFaults(target, faults({ action: 'delay', delay: { latency: '10ms' } }), stock, held);
    assert.ok(delay.revert.every((s) => exec(s).argv[0] !== 'nft'));
    // Other tables, even of kerris's name in another family, are not kerris's.
    const others: TcState = { ...state(), nftTables: ['inet foreign', 'ip kerris', 'inet kerris2'] };
    assert.deepEqual(planNetworkFaults(target, faults({ action: 'partition' }), stock, others).apply.map((s) => exec(s).argv), [['nft', '-f', '-']]);
  });

  test('contradictory faults are refused', () => {
    assert.throws(() => planNetworkFaults(target, faults({ action: 'delay', delay: { latency: '1ms' } }, { action: 'delay', delay: { latency: '2ms' } }), stock, state()), FaultConflictError);
    assert.throws(() => planNetworkFaults(target, faults({ action: 'reorder', reorder: { reorder: '10' } }), stock, state()), /needs a latency/);
    assert.throws(() => planNetworkFaults(target, faults({ action: 'delay', delay: { latency: '1ms' } }, { action: 'reorder', reorder: { reorder: '10', latency: '2ms' } }), stock, state()), /has latency 2000us but the delay/);
    assert.throws(() => planNetworkFaults(target, faults({ action: 'delay', delay: { latency: '1ms' }, scope: { device: 'eth1' } }), stock, state()), /eth1 is not one of the target's devices/);
    assert.throws(() => planNetworkFaults({ netns, devices: ['eth9'] }, faults({ action: 'delay', delay: { latency: '1ms' } }), stock, state()), /eth9 does not exist/);
  });

  test('no faults plan nothing', () => {
    const plan = planNetworkFaults(target, [], stock, state());
    assert.deepEqual([plan.apply, plan.revert, plan.counters], [[], [], undefined]);
  });

  test('hand-built faults and targets that skip validation are refused before any step exists', () => {
    const [delay] = faults({ action: 'delay', delay: { latency: '1ms' } });
    assert.ok(delay);
    const hostileDevice = { ...delay, scope: { ...delay.scope, device: 'eth0 root; reboot' } };
    assert.throws(() => planNetworkFaults(target, [hostileDevice], stock, state()), FaultValidationError);
    const hostileCidr = { ...delay, scope: { ...delay.scope, cidrs: [{ family: 4 as const, address: '10.0.0.0 flowid 1:1', prefix: 8 }] } };
    assert.throws(() => planNetworkFaults(target, [hostileCidr], stock, state()), FaultValidationError);
    assert.throws(() => planNetworkFaults({ netns: '/proc/1/ns/net; id', devices: ['eth0'] }, [delay], stock, state()), FaultValidationError);
    assert.throws(() => planNetworkFaults({ netns, devices: ['-eth0'] }, [delay], stock, state()), FaultValidationError);
  });

  test('every command a plan gives is an argv of safe tokens, and every undo step tolerates absence', () => {
    const scope = fc.record({
      direction: fc.constantFrom('egress', 'ingress', 'both'),
      cidrs: fc.array(fc.oneof(fc.ipV4().map((a) => `${a}/32`), fc.ipV6().map((a) => `${a}/128`)), { maxLength: 3 }),
      ports: fc.array(fc.integer({ min: 1, max: 65535 }), { maxLength: 3 }),
      protocol: fc.constantFrom('tcp', 'udp'),
      exceptCidrs: fc.array(fc.oneof(fc.ipV4().map((a) => `${a}/32`), fc.ipV6().map((a) => `${a}/128`)), { maxLength: 2 }),
    });
    const percent = fc.integer({ min: 0, max: 1_000_000 }).map((p) => String(p / 10_000));
    const fault = fc.oneof(
      fc.record({ action: fc.constant('delay'), delay: fc.record({ latency: fc.integer({ min: 1, max: 10 ** 6 }).map((u) => `${u}us`), correlation: percent }), scope }),
      fc.record({ action: fc.constant('loss'), loss: fc.record({ loss: percent }), scope }),
      fc.record({ action: fc.constant('bandwidth'), bandwidth: fc.record({ rate: fc.integer({ min: 8, max: 10 ** 6 }).map((k) => `${k}kbit`), limit: fc.integer({ min: 1, max: 2 ** 20 }), buffer: fc.integer({ min: 1514, max: 2 ** 20 }) }), scope }),
      fc.record({ action: fc.constant('partition'), scope }),
    );
    const safeToken = /^[A-Za-z0-9_.:/%{}",<@-]+$/;
    // nft's grammar adds ";" and "=" (statement ends, "elements ="); they appear only in kerris's fixed set and chain headers.
    const nftSafeToken = /^[A-Za-z0-9_.:/%{}",<@;=-]+$/;
    fc.assert(fc.property(fc.uniqueArray(fault, { maxLength: 4, selector: (f) => `${f.action}` }), fc.boolean(), fc.constantFrom('container', 'node'), (inputs, netem, kind) => {
      const doable = netem ? inputs : inputs.filter((f) => f.action !== 'delay');
      const plan = planNetworkFaults({ ...target, kind }, faults(...doable), netem ? stock : noNetem, state());
      for (const step of [...plan.apply, ...plan.revert].map(exec)) {
        const alphabet = step.argv[0] === 'nft' ? nftSafeToken : safeToken;
        for (const token of [...step.argv, ...(step.input ?? '').split(/\s+/).filter(Boolean)]) assert.match(token, alphabet);
      }
      assert.ok(plan.revert.every((s) => (exec(s).absentIf ?? []).length > 0));
    }), { numRuns: 300 });
  });
});
