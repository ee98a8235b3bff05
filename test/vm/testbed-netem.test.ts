// The stock-kernel VM gives kerris a real sch_netem (the host kernel has none): a delay shows up
// in ping RTTs, and every module the fault engines use loads and works. After each VM run,
// nothing of it is left on the host.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { netemKernel, vmLeftovers, type NetemKernel, type NetemKernelRunResult } from '../testbed/vm/index.ts';

const SCENARIOS = join(import.meta.dirname, 'scenarios');

async function runScenario(kernel: NetemKernel, name: string): Promise<{ result: NetemKernelRunResult; json: unknown }> {
  assert.deepEqual(await vmLeftovers(), { qemuPids: [], runDirs: [] }, 'a VM of an earlier run is still there');
  const result = await kernel.run([process.execPath, join(SCENARIOS, name)], { timeoutMs: 300_000 });
  assert.deepEqual(await vmLeftovers(), { qemuPids: [], runDirs: [] }, 'the VM run left qemu or its run folder behind');
  assert.equal(result.code, 0, `${name} failed:\n${result.stderr}`);
  return { result, json: JSON.parse(result.stdout) };
}

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length / 2;
  return Number.isInteger(mid) ? ((sorted[mid - 1] ?? NaN) + (sorted[mid] ?? NaN)) / 2 : sorted[Math.floor(mid)] ?? NaN;
};

interface NetemReport {
  before: unknown;
  after: unknown;
  qdiscBefore: string;
  qdiscDelayed: string;
  qdiscAfter: string;
  baselineMs: number[];
  delayedMs: number[];
  recoveredMs: number[];
}

interface ModulesReport {
  modules: string[];
  checks: { name: string; ok: boolean; stderr: string }[];
  netnsBefore: string;
  netnsAfter: string;
}

describe('kernel VM: sch_netem and the modules kerris needs', async () => {
  const kernel = await netemKernel();

  test('netem delay 50ms on one end of a veth pair adds 50 ± 5 ms to the ping RTT', async (t) => {
    const { result, json } = await runScenario(kernel, 'testbed-netem.ts');
    const report = json as NetemReport;
    // The scenario pings 30 times per phase; a lost reply would mean the link, not the delay, changed.
    for (const phase of ['baselineMs', 'delayedMs', 'recoveredMs'] as const) assert.equal(report[phase].length, 30, `${phase}: ${report[phase].join(' ')}`);
    // Medians: under TCG the first ping (ARP) and an occasional one that meets a busy host are slow.
    const baseline = median(report.baselineMs);
    const delayed = median(report.delayedMs);
    const recovered = median(report.recoveredMs);
    t.diagnostic(`RTT median: baseline ${baseline} ms, with netem ${delayed} ms, after removal ${recovered} ms; VM ${Math.round(result.wallMs)} ms wall`);
    // netem sits on the root qdisc of one veth end only, so only the echo requests wait: +50 ms, not +100.
    assert.match(report.qdiscDelayed, /^qdisc netem \S+ root .*delay 50ms/);
    const increase = delayed - baseline;
    assert.ok(Math.abs(increase - 50) <= 5, `RTT grew by ${increase.toFixed(2)} ms, expected 50 ± 5 (baseline ${baseline}, delayed ${delayed})`);
    assert.ok(recovered < baseline + 5, `RTT after removing netem is ${recovered} ms, baseline was ${baseline}`);
    // Removing the fault gives the kernel state back as it was.
    assert.equal(report.qdiscAfter, report.qdiscBefore);
    assert.deepEqual(report.after, report.before);
  });

  test('the modules kerris needs are loaded at boot and their features work', async () => {
    const { json } = await runScenario(kernel, 'testbed-modules.ts');
    const report = json as ModulesReport;
    const loaded = new Set(report.modules);
    for (const name of ['sch_netem', 'sch_tbf', 'sch_htb', 'sch_prio', 'sch_ingress', 'ifb', 'cls_u32', 'act_mirred', 'veth',
      'ip_set', 'ip_set_hash_ip', 'ip_set_hash_net', 'ip_set_hash_ipport', 'ip_set_hash_netport', 'ip_set_list_set',
      'x_tables', 'ip_tables', 'xt_statistic', 'xt_set', 'xt_mark', 'nf_tables', 'nft_compat']) {
      assert.ok(kernel.modules.includes(name), `${name} is not in the boot module list`);
    }
    const missing = kernel.modules.filter((m) => !loaded.has(m));
    assert.deepEqual(missing, [], `modules the VM should have loaded at boot are not in /proc/modules`);
    const failed = report.checks.filter((c) => !c.ok);
    assert.deepEqual(failed, [], `kernel features failed:\n${failed.map((c) => `${c.name}: ${c.stderr}`).join('\n')}`);
    assert.equal(report.checks.length, 9);
    assert.equal(report.netnsAfter, report.netnsBefore);
  });
});
