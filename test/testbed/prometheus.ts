/**
 * A private Prometheus with a blackbox exporter, for the Prometheus check's tests: Debian's binaries, run by the test
 * with their own config and data under a temporary directory, on loopback ports, scraping every second. The exporter
 * probes the URLs given (the sample app, or an HTTP server the test controls), so `probe_success{target="<url>"}`
 * says whether each answered 2xx. stop() kills both and removes the directory.
 *
 * The Debian packages ship systemd units that start both system-wide on 9090 and 9115 when systemd runs; the test
 * bed stops and disables them (ensureNoSystemServices), so nothing of theirs holds a port or scrapes behind a test.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { open, mkdtemp, rm, writeFile, readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { run } from '../../src/util/exec.ts';
import { requireExecutables } from './prerequisites.ts';

export const PROMETHEUS_BIN = '/usr/bin/prometheus';
export const BLACKBOX_BIN = '/usr/bin/prometheus-blackbox-exporter';
const SYSTEM_UNITS = ['prometheus.service', 'prometheus-blackbox-exporter.service'] as const;
const READY_TIMEOUT_MS = 60_000;

export interface PrivatePrometheus {
  /** The server's base URL, e.g. `http://127.0.0.1:40123`, as a check's `prometheus.url` takes it. */
  readonly url: string;
  readonly blackboxUrl: string;
  readonly dir: string;
  /** Resolves once the server has a sample of `probe_success` for every probed URL. */
  waitForProbes(timeoutMs?: number): Promise<void>;
  /** Kills both processes and removes the directory. */
  stop(): Promise<void>;
}

export class PrometheusStartError extends Error {
  readonly log: string;
  constructor(message: string, log: string) {
    super(`${message}\n--- log ---\n${log.slice(-4000)}`);
    this.name = 'PrometheusStartError';
    this.log = log;
  }
}

/** A port nobody listens on now at `host` (the process gets it a moment later; a clash fails its start loudly). */
async function freePort(host = '127.0.0.1'): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no loopback port to listen on');
  return address.port;
}

/** Where systemd runs, the packages' own services are stopped and disabled; elsewhere nothing started them. */
export async function ensureNoSystemServices(): Promise<void> {
  const init = await readFile('/proc/1/comm', 'utf8').catch(() => '');
  if (init.trim() !== 'systemd') return;
  for (const unit of SYSTEM_UNITS) {
    const active = await run(['systemctl', 'is-active', unit], { allowFailure: true });
    const enabled = await run(['systemctl', 'is-enabled', unit], { allowFailure: true });
    if (active.stdout.trim() === 'active' || enabled.stdout.trim() === 'enabled') await run(['systemctl', 'disable', '--now', unit]);
  }
}

interface Started {
  readonly child: ChildProcess;
  readonly logFile: string;
}

async function startProcess(argv: readonly [string, ...string[]], logFile: string): Promise<Started> {
  const log = await open(logFile, 'a');
  try {
    const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', log.fd, log.fd] });
    await new Promise<void>((resolve, reject) => {
      child.once('error', (error) => reject(new Error(`could not start ${argv[0]}: ${error.message}`)));
      child.once('spawn', () => resolve());
    });
    return { child, logFile };
  } finally {
    await log.close();
  }
}

async function kill(started: Started): Promise<void> {
  const { child } = started;
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

/** Polls `url` until it answers 200, or fails with the process's log when it exits or the time is up. */
async function waitReady(url: string, started: Started, what: string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (started.child.exitCode !== null || started.child.signalCode !== null) {
      throw new PrometheusStartError(`${what} exited (${started.child.exitCode ?? started.child.signalCode}) before it was ready`, await readFile(started.logFile, 'utf8').catch(() => ''));
    }
    const ok = await fetch(url, { signal: AbortSignal.timeout(1_000) }).then((r) => r.ok, () => false);
    if (ok) return;
    if (Date.now() > deadline) throw new PrometheusStartError(`${what} not ready at ${url} within ${READY_TIMEOUT_MS / 1000} s`, await readFile(started.logFile, 'utf8').catch(() => ''));
    await sleep(100);
  }
}

/**
 * Starts the exporter and the server. Each probed URL is one scrape target of the job `probe`, its label `target`
 * set to the URL; the exporter's `http_2xx` module follows no redirect and gives up after 1 s. The server listens on
 * `host` (loopback unless told): the test-bed node's address lets the in-cluster controller query it.
 */
export async function startPrometheus(options: { probe: readonly string[]; host?: string }): Promise<PrivatePrometheus> {
  const host = options.host ?? '127.0.0.1';
  await requireExecutables({ [PROMETHEUS_BIN]: 'prometheus', [BLACKBOX_BIN]: 'prometheus-blackbox-exporter' });
  await ensureNoSystemServices();
  const dir = await mkdtemp(join(tmpdir(), 'kerris-prometheus-'));
  const started: Started[] = [];
  try {
    const blackboxPort = await freePort();
    const blackboxConfig = join(dir, 'blackbox.yml');
    await writeFile(blackboxConfig, stringify({
      modules: { http_2xx: { prober: 'http', timeout: '1s', http: { follow_redirects: false, preferred_ip_protocol: 'ip4' } } },
    }));
    const blackbox = await startProcess([BLACKBOX_BIN, `--config.file=${blackboxConfig}`, `--web.listen-address=127.0.0.1:${blackboxPort}`], join(dir, 'blackbox.log'));
    started.push(blackbox);
    const blackboxUrl = `http://127.0.0.1:${blackboxPort}`;
    await waitReady(`${blackboxUrl}/metrics`, blackbox, 'the blackbox exporter');

    const port = await freePort(host);
    const config = join(dir, 'prometheus.yml');
    await writeFile(config, stringify({
      global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
      scrape_configs: options.probe.map((target, index) => ({
        job_name: `probe-${index}`,
        metrics_path: '/probe',
        params: { module: ['http_2xx'], target: [target] },
        static_configs: [{ targets: [`127.0.0.1:${blackboxPort}`], labels: { target, probe: 'probe' } }],
      })),
    }));
    const server = await startProcess([
      PROMETHEUS_BIN, `--config.file=${config}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=${host}:${port}`,
      // The Debian build looks for its console templates in /etc; none are needed.
      `--web.console.templates=${join(dir, 'consoles')}`, `--web.console.libraries=${join(dir, 'console_libraries')}`,
    ], join(dir, 'prometheus.log'));
    started.push(server);
    const url = `http://${host}:${port}`;
    await waitReady(`${url}/-/ready`, server, 'prometheus');

    const stop = async (): Promise<void> => {
      for (const child of [...started].reverse()) await kill(child);
      await rm(dir, { recursive: true, force: true });
    };
    const waitForProbes = async (timeoutMs = 30_000): Promise<void> => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const answer = await fetch(`${url}/api/v1/query?${new URLSearchParams({ query: 'count(probe_success{probe="probe"})' })}`).then((r) => r.json() as Promise<{ data?: { result?: { value?: [number, string] }[] } }>);
        if (Number(answer.data?.result?.[0]?.value?.[1] ?? 0) >= options.probe.length) return;
        if (Date.now() > deadline) throw new PrometheusStartError(`prometheus has no probe_success for every probed URL within ${timeoutMs / 1000} s`, await readFile(server.logFile, 'utf8').catch(() => ''));
        await sleep(200);
      }
    };
    return { url, blackboxUrl, dir, waitForProbes, stop };
  } catch (error) {
    for (const child of [...started].reverse()) await kill(child);
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}
