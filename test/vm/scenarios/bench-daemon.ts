/**
 * Runs inside the stock-kernel VM (`npm run bench -- daemon-vm` starts it): the daemon benchmark of
 * bench/daemon.ts, with the host's combined fault plus a netem delay, on real containerd containers.
 * Prints the benchmark's lines, then one JSON line with the figures for the host to report.
 *
 * The VM's init mounts proc, sys, dev, /run and /tmp but no cgroup file system, which runc needs; this
 * mounts the host's layout (a v1/v2 hybrid) in the throwaway guest, so the containerd fixture runs
 * unchanged there.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { run } from '../../../src/util/exec.ts';
import { benchContainers, COMBINED_FAULTS, measureDaemon, type DaemonBenchResult } from '../../../bench/daemon.ts';
import type { NetworkFaultInput } from '../../../src/daemon/client.ts';

/** init.sh names the guest so; the cgroup mounts below must never happen on the host. */
const GUEST_HOSTNAME = 'kerris-vm';
const CGROUP_ROOT = '/sys/fs/cgroup';
/** The v1 controllers the host mounts, one hierarchy each; cgroup v2 takes the rest at unified/. */
const V1_CONTROLLERS = ['cpu', 'cpuacct', 'cpuset', 'memory', 'devices', 'freezer', 'blkio', 'pids'] as const;

const VM_FAULTS: readonly NetworkFaultInput[] = [...COMBINED_FAULTS, { action: { case: 'delay', value: { latency: '10ms' } } }];

/** Under TCG one injection takes most of a second, so a batch of tens outlasts the default 20 s deadline. */
const SLOW = { callTimeoutMs: 600_000, leaseTtlMs: 1_800_000 };

/** What the scenario's last line carries. */
export type VmBenchReport = DaemonBenchResult & { kernel: string };

class NotInVmError extends Error {
  override name = 'NotInVmError';
}

async function mountCgroups(): Promise<void> {
  const enabled = new Set((await readFile('/proc/cgroups', 'utf8')).split('\n')
    .map((line) => line.split('\t'))
    .filter((cols) => cols[3] === '1')
    .map((cols) => cols[0]));
  const missing = V1_CONTROLLERS.filter((c) => !enabled.has(c));
  if (missing.length > 0) throw new Error(`the guest kernel lacks cgroup controllers ${missing.join(', ')}`);
  await run(['mount', '-t', 'tmpfs', '-o', 'mode=0755', 'cgroup', CGROUP_ROOT]);
  for (const controller of V1_CONTROLLERS) {
    const dir = join(CGROUP_ROOT, controller);
    await mkdir(dir);
    await run(['mount', '-t', 'cgroup', '-o', controller, 'cgroup', dir]);
  }
  await mkdir(join(CGROUP_ROOT, 'unified'));
  await run(['mount', '-t', 'cgroup2', 'cgroup2', join(CGROUP_ROOT, 'unified')]);
}

async function memAvailableMb(): Promise<number> {
  return Number(/^MemAvailable:\s+(\d+) kB/m.exec(await readFile('/proc/meminfo', 'utf8'))?.[1]) / 1024;
}

/** Every container brings a shim: the lowest MemAvailable seen tells whether memory limits the count. */
function watchMemory(): { lowestMb: () => number; stop: () => void } {
  let lowest = Number.POSITIVE_INFINITY;
  const sample = (): void => { memAvailableMb().then((mb) => { lowest = Math.min(lowest, mb); }, () => undefined); };
  sample();
  const timer = setInterval(sample, 2_000);
  return { lowestMb: () => lowest, stop: () => clearInterval(timer) };
}

if (hostname() !== GUEST_HOSTNAME) throw new NotInVmError(`bench-daemon.ts runs only inside the kernel VM (hostname ${GUEST_HOSTNAME}), not on ${hostname()}; use npm run bench -- daemon-vm`);
const kernel = (await readFile('/proc/sys/kernel/osrelease', 'utf8')).trim();
process.stdout.write(`guest kernel ${kernel}; faults ${VM_FAULTS.map((f) => String(f.action?.case)).join(' + ')}\n`);
await mountCgroups();
const memory = watchMemory();
let result: DaemonBenchResult;
try {
  result = await measureDaemon({ faults: VM_FAULTS, containers: benchContainers(), expectTc: [/tbf/, /netem .*delay 10ms/], slow: SLOW });
} finally {
  memory.stop();
  process.stdout.write(`guest memory: lowest MemAvailable during the run ${memory.lowestMb().toFixed(0)} MB of the VM's ${(Number(/^MemTotal:\s+(\d+) kB/m.exec(await readFile('/proc/meminfo', 'utf8'))?.[1]) / 1024).toFixed(0)} MB\n`);
}
const report: VmBenchReport = { ...result, kernel };
process.stdout.write(`${JSON.stringify(report)}\n`);
