/**
 * The daemon benchmark: a combined network fault (bandwidth + loss + partition
 * to one CIDR) injected into and recovered from 100 containers, each call
 * through the real gRPC API over mutual TLS, on the host kernel. The containers
 * are real containerd containers, each in a pod-like netns with an eth0.
 *
 * Last line: "daemon: inject p50 X ms p99 Y ms, recover p50 X ms p99 Y ms, rss Z MB (100 containers)".
 */
import assert from 'node:assert/strict';
import { readFile, symlink } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { buildDaemon } from '../src/daemon/build.ts';
import { DaemonClient, Phase, type NetworkFaultInput } from '../src/daemon/client.ts';
import { snapshotKernelState, type KernelSnapshot } from '../src/daemon/net/snapshot.ts';
import { DaemonFixture, journalFiles, REPO } from '../test/host/daemon-fixture.ts';
import { percentile } from './measure.ts';

/**
 * The daemon's node flags in its image: a small young generation keeps a mostly idle daemon's memory low, and an
 * old-space limit far above its needs (about 3 KB an injection) makes V8 collect sooner instead of growing.
 */
const DAEMON_NODE_ARGS = ['--max-semi-space-size=1', '--max-old-space-size=128'];
/** How many containers a run uses: KERRIS_BENCH_CONTAINERS, else `fallback`. */
export function benchContainers(fallback = 100): number {
  const raw = process.env['KERRIS_BENCH_CONTAINERS'] ?? String(fallback);
  const count = Number(raw);
  if (!Number.isInteger(count) || count < 1 || count > 25_000) throw new RangeError(`KERRIS_BENCH_CONTAINERS must be a whole number from 1 to 25000, not ${JSON.stringify(raw)}`);
  return count;
}

/** The combined fault the host kernel allows: bandwidth (tbf) + loss (nftables without sch_netem) + partition to one CIDR. */
export const COMBINED_FAULTS: readonly NetworkFaultInput[] = [
  { action: { case: 'bandwidth', value: { rate: '10mbit', limit: 50_000, buffer: 16_000 } } },
  { action: { case: 'loss', value: { loss: '10' } } },
  { action: { case: 'partition', value: {} }, scope: { cidrs: ['10.250.0.0/16'] } },
];

export interface DaemonBenchOptions {
  /** The network faults every container gets, as the gRPC API takes them. */
  faults: readonly NetworkFaultInput[];
  containers: number;
  /** What the first target's tc state must show while the faults are in (the partition's nftables rule is always checked). */
  expectTc: readonly RegExp[];
  /**
   * For slow machines (an emulated CPU): the deadline of each gRPC call, by default the fixture client's 20 s, which
   * a batch of many injections outlasts there; and the lease the injections hold, long enough to outlive the run.
   */
  slow?: { callTimeoutMs: number; leaseTtlMs: number };
}

export interface DaemonBenchResult {
  containers: number;
  injectMs: readonly number[];
  recoverMs: readonly number[];
  /** The daemon's peak RSS (VmHWM). */
  rssPeakMb: number;
}

async function rssMb(pid: number, field: 'VmRSS' | 'VmHWM'): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1]);
  return kb / 1024;
}

/** Memory only this process holds (heap, stacks, malloc): RSS less the pages of the node binary and libraries it maps. */
async function anonymousMb(pid: number): Promise<number> {
  const rollup = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8');
  return Number(/^Anonymous:\s+(\d+) kB/m.exec(rollup)?.[1]) / 1024;
}

async function inParallel<T>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: limit }, async () => {
    while (next < items.length) {
      const index = next++;
      await fn(items[index] as T, index);
    }
  }));
}

function log(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** "inject p50 X ms p99 Y ms, recover p50 X ms p99 Y ms, rss Z MB": the figures of a run's last line. */
export function summary(result: DaemonBenchResult): string {
  return `inject p50 ${percentile(result.injectMs, 50).toFixed(1)} ms p99 ${percentile(result.injectMs, 99).toFixed(1)} ms, `
    + `recover p50 ${percentile(result.recoverMs, 50).toFixed(1)} ms p99 ${percentile(result.recoverMs, 99).toFixed(1)} ms, rss ${result.rssPeakMb.toFixed(0)} MB`;
}

/**
 * Runs the benchmark on whatever kernel this process runs on and prints what it sees along the way; every check
 * failing throws. Nothing is left: containers, netns and containerd go with the fixture.
 */
export async function measureDaemon(options: DaemonBenchOptions): Promise<DaemonBenchResult> {
  const { faults, containers } = options;
  const started = Date.now();
  const fixture = await DaemonFixture.create('bench');
  let slowClient: DaemonClient | undefined;
  try {
    const ids = Array.from({ length: containers }, (_, i) => `bench${i}`);
    const netns: string[] = [];
    await inParallel(ids, 4, async (id, i) => {
      netns[i] = await fixture.addPodNetns(`kd-bench-${i}`, 100 + Math.floor(i / 250), i % 250);
      await fixture.runContainer(id, { netns: netns[i] });
    });
    log(`setup: ${containers} containers in their own netns in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const before: KernelSnapshot[] = [];
    for (const [i, path] of netns.entries()) before[i] = await snapshotKernelState(path);

    // For reference: the daemon run from its TypeScript sources, idle.
    const fromSources = await fixture.startDaemon([], { nodeArgs: DAEMON_NODE_ARGS });
    const rssSourcesIdle = await rssMb(fromSources.pid, 'VmRSS');
    await fromSources.stop();

    // Measured: the daemon as its image runs it, built to JavaScript (see src/daemon/build.ts).
    const buildDir = join(fixture.dir, 'build');
    const entry = await buildDaemon(buildDir);
    await symlink(join(REPO, 'node_modules'), join(buildDir, 'node_modules'));
    const daemon = await fixture.startDaemon([], { entry, nodeArgs: DAEMON_NODE_ARGS });
    const rssIdle = await rssMb(daemon.pid, 'VmRSS');
    slowClient = options.slow === undefined ? undefined
      : new DaemonClient({ address: `127.0.0.1:${daemon.port}`, tls: fixture.clientTls, serverName: 'localhost', timeoutMs: options.slow.callTimeoutMs });
    const client = slowClient ?? daemon.client;
    const leaseTtlMs = options.slow?.leaseTtlMs ?? 120_000;
    // One call first, so the TLS handshake and the capability probe are not in the first sample.
    await client.capabilities();

    const injectMs: number[] = [];
    for (const id of ids) {
      const t = performance.now();
      // One experiment per container, so that each Sync applies (or, empty, recovers) exactly one injection.
      const response = await client.sync(`bench-${id}`, leaseTtlMs, [{ id: `net-${id}`, target: { containerId: id }, fault: { kind: 'network', faults } }]);
      injectMs.push(performance.now() - t);
      assert.equal(response.results[0]?.ok, true, `inject ${id}: ${JSON.stringify(response.results[0])}`);
    }
    const listed = await client.list({ pageSize: containers });
    assert.equal(listed.injections.filter((i) => i.phase === Phase.ACTIVE).length, containers, 'every injection active');
    const during = await snapshotKernelState(netns[0] ?? '');
    for (const expected of options.expectTc) assert.match(during.tc, expected, `tc state while injected shows ${expected}`);
    assert.match(during.nftables, /10\.250\.0\.0\/16/, 'partition rule in place');

    const recoverMs: number[] = [];
    for (const id of ids) {
      const t = performance.now();
      const response = await client.sync(`bench-${id}`, leaseTtlMs, []);
      recoverMs.push(performance.now() - t);
      assert.deepEqual([response.removed, response.revertFailed], [[`net-${id}`], []], `recover ${id}`);
    }

    // The batch path, as a controller with many targets on one node would use it.
    const batch = ids.map((id) => ({ id: `batch-${id}`, target: { containerId: id }, fault: { kind: 'network' as const, faults } }));
    let t = performance.now();
    const batchInject = await client.sync('bench-batch', leaseTtlMs, batch);
    const batchInjectMs = performance.now() - t;
    assert.ok(batchInject.results.every((r) => r.ok), 'batch inject');
    t = performance.now();
    const batchRecover = await client.sync('bench-batch', leaseTtlMs, []);
    const batchRecoverMs = performance.now() - t;
    assert.deepEqual([batchRecover.removed.length, batchRecover.revertFailed], [batch.length, []], 'batch recover');

    const metricsPort = String(daemon.logs.find((l) => l['msg'] === 'daemon ready')?.['metricsPort']);
    const scraped = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    const heapMb = Number(/^nodejs_heap_used_bytes (\d+)/m.exec(scraped)?.[1]) / 1048576;
    const rssPeak = await rssMb(daemon.pid, 'VmHWM');
    const rssNow = await rssMb(daemon.pid, 'VmRSS');
    const anonymousNow = await anonymousMb(daemon.pid);
    for (const [i, path] of netns.entries()) assert.deepEqual(await snapshotKernelState(path), before[i], `netns ${path}: kernel state after == before`);
    assert.deepEqual(await journalFiles(fixture.journalDir), [], 'journal empty');
    await daemon.stop();

    const timings = daemon.logs.filter((l) => l['msg'] === 'inject timing' && String(l['id']).startsWith('net-'));
    const phases = ['resolveMs', 'planMs', 'journalMs', 'applyMs', 'commitMs'];
    const recoverTimings = daemon.logs.filter((l) => l['msg'] === 'recover timing' && String(l['id']).startsWith('net-'));
    const recoverPhases = ['journalMs', 'revertMs', 'forgetMs'];
    log(`inside the daemon, recover p50 per phase: ${recoverPhases.map((p) => `${p.replace(/Ms$/, '')} ${percentile(recoverTimings.map((l) => Number(l[p])), 50).toFixed(1)} ms`).join(', ')}`);
    log(`inside the daemon, inject p50 per phase: ${phases.map((p) => `${p.replace(/Ms$/, '')} ${percentile(timings.map((l) => Number(l[p])), 50).toFixed(1)} ms`).join(', ')}`);
    log(`batch of ${containers}: inject ${batchInjectMs.toFixed(0)} ms, recover ${batchRecoverMs.toFixed(0)} ms`);
    log(`daemon rss (built JavaScript, node ${DAEMON_NODE_ARGS.join(' ')}): idle ${rssIdle.toFixed(1)} MB, after run ${rssNow.toFixed(1)} MB (V8 heap in use ${heapMb.toFixed(1)} MB), peak ${rssPeak.toFixed(1)} MB; `
      + `from TypeScript sources idle ${rssSourcesIdle.toFixed(1)} MB`);
    log(`daemon memory of its own after the run (anonymous pages; the rest of RSS is the mapped node binary, ~50 MB, shared page cache): ${anonymousNow.toFixed(1)} MB`);
    log(`machine load average during the run: ${loadavg().map((l) => l.toFixed(2)).join(' ')} (${process.env['KERRIS_BENCH_NOTE'] ?? 'shared machine'})`);
    log('kernel state of every netns after == before; journal empty');
    return { containers, injectMs, recoverMs, rssPeakMb: rssPeak };
  } finally {
    slowClient?.close();
    await fixture.cleanup();
  }
}

export async function main(): Promise<void> {
  const result = await measureDaemon({ faults: COMBINED_FAULTS, containers: benchContainers(), expectTc: [/tbf/] });
  log(`daemon: ${summary(result)} (${result.containers} containers)`);
}
