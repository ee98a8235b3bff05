/**
 * Network faults on the host kernel (no sch_netem): partition, bandwidth and
 * netfilter loss, each checked by the traffic a user would see, scoped by
 * CIDR, port, protocol and direction, and each followed by the check that the
 * target namespace's tc, nftables, iptables and ipset state equals the state
 * before. Needs root.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { applyPlan, revertPlan } from '../../src/daemon/execute.ts';
import { planNetworkFaults } from '../../src/daemon/net/plan.ts';
import { readTcState, snapshotKernelState } from '../../src/daemon/net/snapshot.ts';
import { validateNetworkFault } from '../../src/daemon/net/validate.ts';
import { detectCapabilities } from '../../src/daemon/preflight.ts';
import type { NodeCapabilities } from '../../src/daemon/preflight.ts';
import { requireExecutables, requireRoot } from '../testbed/prerequisites.ts';
import { createLab } from '../vm/scenarios/net-lab.ts';
import type { Lab, Netns, Peer } from '../vm/scenarios/net-lab.ts';

let lab: Lab;
let caps: NodeCapabilities;
let peer0: Peer;
let peer1: Peer;

before(async () => {
  await requireRoot('network fault host tests');
  await requireExecutables({ '/usr/sbin/tc': 'iproute2', '/usr/sbin/ip': 'iproute2', '/usr/sbin/nft': 'nftables', '/usr/bin/nsenter': 'util-linux', '/usr/sbin/ipset': 'ipset', '/usr/sbin/iptables-legacy-save': 'iptables' });
  caps = await detectCapabilities('host-test');
  lab = await createLab(2);
  [peer0, peer1] = lab.peers as [Peer, Peer];
});

after(async () => {
  await lab?.close();
});

/** Injects `inputs` on the lab's target, runs `body`, reverts, and checks the namespace is exactly as before. */
async function withFaults(inputs: readonly unknown[], body: () => Promise<void>): Promise<void> {
  const netns = lab.target.path;
  const before = await snapshotKernelState(netns);
  const plan = planNetworkFaults({ netns, devices: lab.peers.map((p) => p.device) }, inputs.map(validateNetworkFault), caps, await readTcState(netns));
  await applyPlan(plan);
  try {
    await body();
  } finally {
    await revertPlan(plan);
    assert.deepEqual(await snapshotKernelState(netns), before, 'kernel state after recovery differs from before');
  }
}

interface Connect { ok: boolean; ms: number; error?: string }

function connects(from: Netns, host: string, port: number): Promise<boolean> {
  return lab.traffic<Connect>(from, ['tcp-connect', host, String(port), '1500']).then((r) => r.ok);
}

/** One-way UDP: how many of `count` datagrams sent from `from` reach `to`. */
async function udpDelivered(from: Netns, to: Netns, host: string, port: number, count = 50): Promise<number> {
  const receiving = lab.traffic<{ received: number }>(to, ['udp-recv', String(port), String(count * 2 + 2500)]);
  await new Promise((r) => setTimeout(r, 400));
  await lab.traffic(from, ['udp-send', host, String(port), String(count)]);
  return (await receiving).received;
}

async function bulkMbit(from: Netns, host: string, port: number, seconds = 3): Promise<number> {
  const result = await lab.traffic<{ bitsPerSecond: number }>(from, ['tcp-bulk', host, String(port), String(seconds)]);
  return result.bitsPerSecond / 1e6;
}

describe('partition (nftables)', () => {
  let servers: { stop(): Promise<void> }[] = [];
  before(async () => {
    servers = await Promise.all([
      lab.serve(peer0.netns, ['tcp-serve', '7000']), lab.serve(peer1.netns, ['tcp-serve', '7000']), lab.serve(lab.target, ['tcp-serve', '7000']),
    ]);
  });
  after(async () => { await Promise.all(servers.map((s) => s.stop())); });

  test('both directions to one peer\'s CIDRs: TCP connects fail each way, other peers and recovery unaffected', async () => {
    const reach = async (): Promise<boolean[]> => Promise.all([
      connects(lab.target, peer0.ipv4, 7000), connects(peer0.netns, peer0.targetIpv4, 7000),
      connects(lab.target, peer0.ipv6, 7000), connects(peer0.netns, peer0.targetIpv6, 7000),
      connects(lab.target, peer1.ipv4, 7000), connects(peer1.netns, peer1.targetIpv4, 7000),
    ]);
    assert.deepEqual(await reach(), [true, true, true, true, true, true], 'lab is connected before the fault');
    await withFaults([{ action: 'partition', scope: { direction: 'both', cidrs: [`${peer0.ipv4}/32`, `${peer0.ipv6}/128`] } }], async () => {
      assert.deepEqual(await reach(), [false, false, false, false, true, true]);
    });
    assert.deepEqual(await reach(), [true, true, true, true, true, true], 'connectivity is back after recovery');
  });

  test('egress only, one UDP port: that port is cut outbound; other ports and inbound traffic flow', async () => {
    await withFaults([{ action: 'partition', scope: { direction: 'egress', cidrs: ['10.77.1.0/24'], protocol: 'udp', ports: [7001] } }], async () => {
      const [blocked, otherPort, inbound] = await Promise.all([
        udpDelivered(lab.target, peer0.netns, peer0.ipv4, 7001),
        udpDelivered(lab.target, peer0.netns, peer0.ipv4, 7002),
        udpDelivered(peer0.netns, lab.target, peer0.targetIpv4, 7003),
      ]);
      assert.equal(blocked, 0);
      assert.equal(otherPort, 50);
      assert.equal(inbound, 50);
    });
  });

  test('ingress only, one device: inbound from that link is cut; outbound UDP still arrives', async () => {
    await withFaults([{ action: 'partition', scope: { direction: 'ingress', device: peer0.device } }], async () => {
      const [inbound, outbound, otherLink] = await Promise.all([
        udpDelivered(peer0.netns, lab.target, peer0.targetIpv4, 7004),
        udpDelivered(lab.target, peer0.netns, peer0.ipv4, 7005),
        udpDelivered(peer1.netns, lab.target, peer1.targetIpv4, 7006),
      ]);
      assert.deepEqual([inbound, outbound, otherLink], [0, 50, 50]);
    });
  });
});

describe('bandwidth (htb + tbf)', () => {
  const RATE_MBIT = 20;
  const tolerance = (mbit: number): boolean => Math.abs(mbit - RATE_MBIT) <= RATE_MBIT * 0.1;
  let servers: { stop(): Promise<void> }[] = [];
  before(async () => {
    servers = await Promise.all([
      lab.serve(peer0.netns, ['tcp-serve', '5001']), lab.serve(peer0.netns, ['tcp-serve', '5002']),
      lab.serve(peer1.netns, ['tcp-serve', '5001']), lab.serve(lab.target, ['tcp-serve', '5001']),
    ]);
  });
  after(async () => { await Promise.all(servers.map((s) => s.stop())); });

  test(`egress to one CIDR and TCP port is capped at ${RATE_MBIT} mbit (±10%); other ports and peers are not`, async (t) => {
    const bandwidth = { rate: `${RATE_MBIT}mbit`, limit: 200_000, buffer: 10_000 };
    await withFaults([{ action: 'bandwidth', bandwidth, scope: { cidrs: ['10.77.1.0/24'], protocol: 'tcp', ports: [5001] } }], async () => {
      const capped = await bulkMbit(lab.target, peer0.ipv4, 5001);
      t.diagnostic(`egress capped transfer: ${capped.toFixed(2)} mbit`);
      assert.ok(tolerance(capped), `capped transfer ran at ${capped.toFixed(2)} mbit, expected ${RATE_MBIT} ±10%`);
      const otherPort = await bulkMbit(lab.target, peer0.ipv4, 5002, 2);
      const otherPeer = await bulkMbit(lab.target, peer1.ipv4, 5001, 2);
      assert.ok(otherPort > RATE_MBIT * 3, `other port ran at ${otherPort.toFixed(1)} mbit`);
      assert.ok(otherPeer > RATE_MBIT * 3, `other peer ran at ${otherPeer.toFixed(1)} mbit`);
    });
    const free = await bulkMbit(lab.target, peer0.ipv4, 5001, 2);
    assert.ok(free > RATE_MBIT * 3, `after recovery the transfer ran at only ${free.toFixed(1)} mbit`);
  });

  test('a device with no transmit queue (as a pod\'s veth often is) has none again after recovery, though the kernel gives it one while the cap holds', async () => {
    const device = peer1.device;
    const txqlen = async (): Promise<string> => (await lab.exec(lab.target, ['cat', `/sys/class/net/${device}/tx_queue_len`])).stdout.trim();
    await lab.exec(lab.target, ['ip', 'link', 'set', 'dev', device, 'txqueuelen', '0']);
    try {
      const bandwidth = { rate: `${RATE_MBIT}mbit`, limit: 200_000, buffer: 10_000 };
      // withFaults compares the whole state after recovery, the links' queue lengths included.
      await withFaults([{ action: 'bandwidth', bandwidth, scope: { device, cidrs: ['10.77.2.0/24'] } }], async () => {
        assert.equal(await txqlen(), '1000', 'the kernel gave the device a queue when the root qdisc was attached');
      });
      assert.equal(await txqlen(), '0');
    } finally {
      await lab.exec(lab.target, ['ip', 'link', 'set', 'dev', device, 'txqueuelen', '1000']);
    }
  });

  test(`ingress over IPv6 (through an IFB) is capped at ${RATE_MBIT} mbit (±10%)`, async (t) => {
    const bandwidth = { rate: `${RATE_MBIT}mbit`, limit: 200_000, buffer: 10_000 };
    await withFaults([{ action: 'bandwidth', bandwidth, scope: { direction: 'ingress', cidrs: ['fd77:1::/64'] } }], async () => {
      const capped = await bulkMbit(peer0.netns, peer0.targetIpv6, 5001);
      t.diagnostic(`ingress capped transfer: ${capped.toFixed(2)} mbit`);
      assert.ok(tolerance(capped), `inbound transfer ran at ${capped.toFixed(2)} mbit, expected ${RATE_MBIT} ±10%`);
      const outbound = await bulkMbit(lab.target, peer0.ipv6, 5001, 2);
      assert.ok(outbound > RATE_MBIT * 3, `outbound ran at ${outbound.toFixed(1)} mbit`);
    });
  });
});

describe('loss without netem (nftables numgen)', () => {
  let echoes: { stop(): Promise<void> }[] = [];
  before(async () => {
    echoes = await Promise.all([lab.serve(peer0.netns, ['udp-echo', '7100']), lab.serve(peer1.netns, ['udp-echo', '7100'])]);
  });
  after(async () => { await Promise.all(echoes.map((s) => s.stop())); });

  interface ProbeResult { sent: number; received: number }

  test('egress loss of 20% to one CIDR: 2000 probes lose 20% within 3 sigma; the other peer loses none', async (t) => {
    const LOSS = 0.2;
    const PROBES = 2000;
    await withFaults([{ action: 'loss', loss: { loss: '20' }, scope: { cidrs: ['10.77.1.0/24'] } }], async () => {
      const [hit, spared] = await Promise.all([
        lab.traffic<ProbeResult>(lab.target, ['udp-probe', peer0.ipv4, '7100', String(PROBES), '1']),
        lab.traffic<ProbeResult>(lab.target, ['udp-probe', peer1.ipv4, '7100', '500', '1']),
      ]);
      const lost = 1 - hit.received / hit.sent;
      const sigma = Math.sqrt((LOSS * (1 - LOSS)) / PROBES);
      t.diagnostic(`lost ${(lost * 100).toFixed(2)}% of ${hit.sent} probes`);
      assert.ok(Math.abs(lost - LOSS) <= 3 * sigma, `lost ${(lost * 100).toFixed(2)}%, expected 20% ± ${(3 * sigma * 100).toFixed(2)}%`);
      assert.equal(spared.received, spared.sent);
    });
  });
});
