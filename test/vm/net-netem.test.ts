/**
 * netem faults on a stock Debian kernel in a VM (the host kernel has no
 * sch_netem): the scenarios in test/vm/scenarios run the real engine inside
 * the VM and print what they measured; this file judges the numbers.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { requireExecutables } from '../testbed/prerequisites.ts';
import { netemKernel } from '../testbed/vm/index.ts';
import type { NetemKernel } from '../testbed/vm/index.ts';
import type { NodeCapabilities } from '../../src/daemon/preflight.ts';

const REPO = join(import.meta.dirname, '..', '..');
const SCENARIOS = join(import.meta.dirname, 'scenarios');

let vm: NetemKernel;

before(async () => {
  // The VM runs the host's root file system, so the scenarios' tools must be installed here.
  await requireExecutables({ '/usr/bin/ping': 'iputils-ping', '/usr/sbin/tc': 'iproute2', '/usr/sbin/ip': 'iproute2', '/usr/sbin/nft': 'nftables', '/usr/bin/nsenter': 'util-linux' });
  vm = await netemKernel();
});

async function scenario<T>(file: string): Promise<T> {
  const result = await vm.run([process.execPath, join(SCENARIOS, file)], { cwd: REPO, timeoutMs: 600_000 });
  assert.equal(result.code, 0, `${file} failed in the VM (exit ${result.code}):\n${result.stderr}`);
  return JSON.parse(result.stdout.trim().split('\n').pop() ?? '') as T;
}

const sigma = (p: number, n: number): number => Math.sqrt((p * (1 - p)) / n);

interface DelayReport {
  kernel: NodeCapabilities;
  baseline: { medianMs: number };
  cases: { name: string; latencyMs: number; medianMs: number; received: number; leftovers: string[] }[];
  scoped: { hit: number; spared: number; leftovers: string[] };
  jitter: { latencyMs: number; jitterMs: number; rtts: number[]; stdevMs: number; leftovers: string[] };
  after: { medianMs: number };
}

describe('delay and jitter (ping RTT in the VM)', () => {
  let report: DelayReport;
  before(async () => {
    report = await scenario<DelayReport>('net-delay.ts');
  });

  test('preflight finds sch_netem and everything else kerris uses on the stock kernel', () => {
    const { netem, tbf, htb, u32, ingressRedirect, ifb, nftables, ipset, failures } = report.kernel;
    assert.deepEqual({ netem, tbf, htb, u32, ingressRedirect, ifb, nftables, ipset, failures }, {
      netem: true, tbf: true, htb: true, u32: true, ingressRedirect: true, ifb: true, nftables: true, ipset: true, failures: {},
    });
    assert.ok(report.baseline.medianMs < 5, `baseline RTT ${report.baseline.medianMs} ms`);
  });

  test('RTT grows by the delay within max(1 ms, 5%), egress and ingress, and the state is restored', (t) => {
    for (const c of report.cases) {
      const increase = c.medianMs - report.baseline.medianMs;
      t.diagnostic(`${c.name}: RTT ${report.baseline.medianMs} -> ${c.medianMs} ms (+${increase.toFixed(2)})`);
      assert.equal(c.received, 40, `${c.name}: pings lost`);
      assert.ok(Math.abs(increase - c.latencyMs) <= Math.max(1, 0.05 * c.latencyMs), `${c.name}: RTT grew by ${increase.toFixed(2)} ms`);
      assert.deepEqual(c.leftovers, [], c.name);
    }
    assert.ok(report.after.medianMs - report.baseline.medianMs < 1, `RTT after recovery ${report.after.medianMs} ms`);
  });

  test('a delay scoped to one peer\'s CIDR and ICMP spares the other peer', () => {
    assert.ok(Math.abs(report.scoped.hit - report.baseline.medianMs - 50) <= 2.5, `scoped peer RTT ${report.scoped.hit} ms`);
    assert.ok(report.scoped.spared - report.baseline.medianMs < 1, `other peer RTT ${report.scoped.spared} ms`);
    assert.deepEqual(report.scoped.leftovers, []);
  });

  test('jitter spreads RTTs like a uniform ±jitter around the latency', (t) => {
    const { rtts, stdevMs, latencyMs, jitterMs } = report.jitter;
    const uniformStdev = jitterMs / Math.sqrt(3);
    const sorted = [...rtts].sort((a, b) => a - b);
    t.diagnostic(`jitter 50±20 ms: mean ${(rtts.reduce((a, b) => a + b, 0) / rtts.length).toFixed(2)} ms, stdev ${stdevMs.toFixed(2)} ms (uniform ${uniformStdev.toFixed(2)}), min ${sorted[0]} max ${sorted[sorted.length - 1]}`);
    assert.ok(rtts.length >= 78, `only ${rtts.length} of 80 pings answered`);
    assert.ok(stdevMs >= 0.5 * uniformStdev && stdevMs <= 1.5 * uniformStdev, `stdev ${stdevMs.toFixed(2)} ms`);
    assert.ok((sorted[0] ?? 0) >= latencyMs - jitterMs - 1, `fastest ${sorted[0]} ms`);
    // The mean of n uniform draws has a standard error of stdev/sqrt(n); 1 ms more covers the baseline RTT.
    const mean = rtts.reduce((a, b) => a + b, 0) / rtts.length;
    assert.ok(Math.abs(mean - latencyMs) <= (3 * uniformStdev) / Math.sqrt(rtts.length) + 1, `mean RTT ${mean.toFixed(2)} ms`);
    assert.deepEqual(report.jitter.leftovers, []);
  });
});

interface Counters { 'Ip.InHdrErrors': number; 'Udp.InDatagrams': number; 'Udp.InCsumErrors': number; 'Udp.RcvbufErrors': number }
/** What the receiving peer saw: its application's check of each probe, and its kernel's counters. */
interface ProbeCase { name: string; sent: number; received: number; duplicates: number; corrupted: number; inversions: number; descents: number; peer: Counters; leftovers?: string[] }
interface NetemReport { baseline: ProbeCase; loss: ProbeCase; duplicate: ProbeCase; corrupt: ProbeCase; reorder: ProbeCase; delayOnly: ProbeCase }

describe('loss, duplicate, corrupt and reorder (UDP probes checked by the receiver, and its counters, in the VM)', () => {
  let report: NetemReport;
  before(async () => {
    report = await scenario<NetemReport>('net-netem.ts');
  });

  test('without a fault every probe arrives once, intact and in order', () => {
    const { baseline } = report;
    assert.deepEqual(
      [baseline.received, baseline.peer['Udp.InDatagrams'], baseline.duplicates, baseline.corrupted, baseline.inversions, baseline.peer['Udp.RcvbufErrors']],
      [baseline.sent, baseline.sent, 0, 0, 0, 0],
    );
  });

  test('loss 10%: the receiver gets 10% fewer probes, within 3 sigma over 2000', (t) => {
    const { loss } = report;
    const lost = 1 - loss.received / loss.sent;
    t.diagnostic(`lost ${(lost * 100).toFixed(2)}% of ${loss.sent}`);
    assert.ok(Math.abs(lost - 0.1) <= 3 * sigma(0.1, loss.sent), `lost ${(lost * 100).toFixed(2)}%`);
    assert.equal(loss.peer['Udp.InDatagrams'], loss.received);
    assert.deepEqual(loss.leftovers, []);
  });

  test('duplicate 10%: the receiver gets 10% extra copies, in its application and its kernel counters', (t) => {
    const { duplicate } = report;
    const extra = duplicate.duplicates / duplicate.sent;
    t.diagnostic(`duplicated ${(extra * 100).toFixed(2)}% of ${duplicate.sent}`);
    assert.ok(Math.abs(extra - 0.1) <= 3 * sigma(0.1, duplicate.sent), `duplicated ${(extra * 100).toFixed(2)}%`);
    assert.equal(duplicate.received, duplicate.sent);
    assert.equal(duplicate.peer['Udp.InDatagrams'], duplicate.sent + duplicate.duplicates);
    assert.deepEqual(duplicate.leftovers, []);
  });

  test('corrupt 10%: damaged probes show in the receiver\'s checksum counters and never reach it', (t) => {
    const { corrupt } = report;
    // netem flips one bit in the 106-byte frame; a flip in the 6-byte source MAC harms nothing, any other is dropped somewhere.
    const expected = 0.1 * (1 - 6 / 106);
    const damaged = 1 - corrupt.peer['Udp.InDatagrams'] / corrupt.sent;
    t.diagnostic(`damaged ${(damaged * 100).toFixed(2)}% (expected ${(expected * 100).toFixed(2)}%): Udp.InCsumErrors ${corrupt.peer['Udp.InCsumErrors']}, Ip.InHdrErrors ${corrupt.peer['Ip.InHdrErrors']}`);
    assert.ok(Math.abs(damaged - expected) <= 3 * sigma(expected, corrupt.sent), `damaged ${(damaged * 100).toFixed(2)}%`);
    assert.ok(corrupt.peer['Udp.InCsumErrors'] > 0 && corrupt.peer['Ip.InHdrErrors'] > 0);
    assert.equal(corrupt.corrupted, 0, 'a corrupted payload passed the kernel\'s checksums');
    assert.deepEqual(corrupt.leftovers, []);
  });

  test('reorder: sequence numbers arrive out of order; the same delay without reorder keeps them in order', (t) => {
    const { reorder, delayOnly } = report;
    t.diagnostic(`reorder 25% gap 5: ${reorder.descents} of ${reorder.received} probes overtook others (${reorder.inversions} arrived late); delay only: ${delayOnly.inversions}`);
    assert.equal(reorder.received, reorder.sent);
    assert.ok(reorder.descents / reorder.received >= 0.03, `only ${reorder.descents} overtakers`);
    assert.deepEqual([delayOnly.received, delayOnly.inversions], [delayOnly.sent, 0]);
    assert.deepEqual([reorder.leftovers, delayOnly.leftovers], [[], []]);
  });
});
