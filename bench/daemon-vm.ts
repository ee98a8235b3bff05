/**
 * The daemon benchmark on the stock Debian kernel, in the VM (the host kernel has no sch_netem): the same run as
 * bench/daemon.ts (real containerd containers, the daemon over gRPC with mTLS) with the host's combined fault plus a
 * netem delay. qemu emulates the CPU (TCG), so the figures are much slower than the host's: reported, not aimed.
 *
 * Boots the VM once; test/vm/scenarios/bench-daemon.ts does the work inside. KERRIS_BENCH_CONTAINERS picks the
 * container count (default 100).
 *
 * Last line: "daemon (stock-kernel VM, emulated): inject p50 X ms p99 Y ms, recover p50 X ms p99 Y ms, rss Z MB (N containers, with netem delay)".
 */
import { join } from 'node:path';
import { netnsList, REPO } from '../test/host/daemon-fixture.ts';
import { requireExecutables } from '../test/testbed/prerequisites.ts';
import { netemKernel, vmLeftovers } from '../test/testbed/vm/index.ts';
import type { VmBenchReport } from '../test/vm/scenarios/bench-daemon.ts';
import { benchContainers, summary } from './daemon.ts';

/** As many containers as on the host; KERRIS_BENCH_CONTAINERS overrides it. */
const VM_CONTAINERS = 100;
/**
 * Each container costs the guest about 10 MB (its own runc shim, mostly): with the VM's default 1 GB the lowest
 * MemAvailable was 282 MB with 30 containers and 185 MB with 40, and 100 ran out of memory. One emulated CPU stays.
 */
const VM_MEMORY_MB = 3072;
const SCENARIO = join(REPO, 'test', 'vm', 'scenarios', 'bench-daemon.ts');
/** Boot, 100 containers, two daemon starts and 400 calls, all under TCG: generous, but a hung run still ends. */
const TIMEOUT_MS = 60 * 60_000;

export class VmBenchmarkError extends Error {
  override name = 'VmBenchmarkError';
}

function log(line: string): void {
  process.stdout.write(`${line}\n`);
}

function parseReport(stdout: string): VmBenchReport {
  const last = stdout.trimEnd().split('\n').pop() ?? '';
  let value: unknown;
  try {
    value = JSON.parse(last);
  } catch {
    throw new VmBenchmarkError(`the in-VM benchmark did not end with its JSON report; its last line: ${JSON.stringify(last)}`);
  }
  const report = value as Partial<VmBenchReport>;
  const numbers = (list: unknown): boolean => Array.isArray(list) && list.length > 0 && list.every((n) => typeof n === 'number' && Number.isFinite(n));
  if (typeof report.containers !== 'number' || !numbers(report.injectMs) || !numbers(report.recoverMs)
    || typeof report.rssPeakMb !== 'number' || typeof report.kernel !== 'string') {
    throw new VmBenchmarkError(`the in-VM benchmark's report lacks figures: ${last}`);
  }
  return report as VmBenchReport;
}

/** What this run may have left on the host: its qemu, its run folder, or a namespace that appeared during the run. */
async function hostLeftovers(netnsBefore: ReadonlySet<string>): Promise<string[]> {
  const { qemuPids, runDirs } = await vmLeftovers();
  return [
    ...qemuPids.map((pid) => `qemu process ${pid}`),
    ...runDirs.map((dir) => `VM run folder ${dir}`),
    ...(await netnsList()).filter((name) => name.startsWith('kd-bench-') && !netnsBefore.has(name)).map((name) => `netns ${name}`),
  ];
}

export async function main(): Promise<void> {
  const containers = benchContainers(VM_CONTAINERS);
  // The guest runs the host's root file system, so the tools it uses must be installed here.
  await requireExecutables({
    '/usr/bin/containerd': 'containerd', '/usr/sbin/runc': 'runc', '/usr/sbin/ip': 'iproute2', '/usr/sbin/tc': 'iproute2',
    '/usr/sbin/nft': 'nftables', '/usr/bin/nsenter': 'util-linux', '/usr/bin/mount': 'mount',
  });
  const vm = await netemKernel();
  const netnsBefore = new Set(await netnsList());
  process.stderr.write(`booting the stock-kernel VM (${vm.kernelVersion}, qemu TCG) for ${containers} containers; its output follows when it ends\n`);
  const outcome = await vm.run([process.execPath, SCENARIO], {
    cwd: REPO,
    timeoutMs: TIMEOUT_MS,
    memoryMb: VM_MEMORY_MB,
    env: { KERRIS_BENCH_CONTAINERS: String(containers), KERRIS_BENCH_NOTE: 'one emulated vCPU, qemu TCG' },
  }).then((ran) => ({ ran }), (error: unknown) => ({ error }));
  const left = await hostLeftovers(netnsBefore);
  if (left.length > 0) {
    const failed = 'error' in outcome ? `; the run itself failed: ${outcome.error instanceof Error ? outcome.error.message : String(outcome.error)}` : '';
    throw new VmBenchmarkError(`the VM run left on the host: ${left.join(', ')}${failed}`);
  }
  if ('error' in outcome) throw outcome.error;
  const result = outcome.ran;
  const output = result.stdout.trimEnd().split('\n');
  if (result.stderr.trim() !== '') process.stderr.write(`${result.stderr.trimEnd()}\n`);
  if (result.code !== 0) {
    log(output.join('\n'));
    throw new VmBenchmarkError(`the in-VM benchmark failed with exit code ${result.code}`);
  }
  const report = parseReport(result.stdout);
  log(output.slice(0, -1).join('\n'));
  log(`VM: boot ${result.guestStartS.toFixed(1)} s guest time, benchmark ${(result.guestEndS - result.guestStartS).toFixed(1)} s guest time, `
    + `${(result.wallMs / 1000).toFixed(0)} s wall in all; host left clean (no qemu, run folder or netns)`);
  if (report.containers !== 100) {
    log(`note: ${report.containers} containers (KERRIS_BENCH_CONTAINERS), not the host benchmark's 100`);
  }
  log(`daemon (stock-kernel VM, emulated): ${summary(report)} (${report.containers} containers, with netem delay)`);
}
