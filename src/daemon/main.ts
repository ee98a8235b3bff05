/**
 * The kerris node daemon: `node src/daemon/main.ts [--flag value ...]` (see config.ts for flags and env).
 *
 * On SIGTERM/SIGINT it stops serving and exits WITHOUT reverting faults, unless --revert-on-shutdown=true.
 * A daemon restart (upgrade, eviction, OOM kill) must not end or flap the experiments running on its node:
 * every fault is in the journal with its lease, the restarted daemon reconciles the journal against the kernel,
 * and whatever lease lapsed meanwhile is reverted at start-up. A controller that is gone stops renewing, and
 * the daemon reverts on expiry. Only uninstalling the daemon for good needs --revert-on-shutdown=true.
 */
import { applySteps, revertSteps } from './execute.ts';
import { parseConfig, USAGE } from './config.ts';
import { errorMessage } from './errors.ts';
import { Injector } from './injector.ts';
import { Journal } from './journal.ts';
import { startMetricsServer } from './metrics-server.ts';
import { createNetworkEngine } from './net/engine.ts';
import { detectCapabilities } from './preflight.ts';
import { detectRuntimes, TargetResolver } from './runtime/resolve.ts';
import { startServer } from './server.ts';
import { readTlsFiles } from './tls.ts';
import { createLogger } from '../util/log.ts';

const FAULT_KINDS = ['container-kill', 'container-freeze', 'network'];

async function main(): Promise<void> {
  const log = createLogger({ component: 'kerris-daemon' });
  let config;
  try {
    config = parseConfig(process.argv.slice(2), process.env);
  } catch (error) {
    process.stderr.write(`${errorMessage(error)}\n${USAGE}\n`);
    process.exitCode = 2;
    return;
  }
  const tls = await readTlsFiles(config.tls);
  // Without a runtime no new fault can be resolved, but the journal must still be reconciled and leases enforced:
  // the daemon starts anyway, says so, and looks for the runtime again on each injection until it appears.
  const detect = () => detectRuntimes({
    containerdSocket: config.containerdSocket,
    criSocket: config.criSocket,
    containerdNamespace: config.containerdNamespace,
  });
  const runtimes = await detect().catch((error: unknown) => {
    log.error('no container runtime yet; injections fail until one appears', { error: errorMessage(error) });
    return [];
  });
  const resolver = new TargetResolver(runtimes, detect);
  const capabilities = () => detectCapabilities(config.nodeName);
  const executorLog = log.child({ component: 'execute' });
  const injector = new Injector({
    journal: new Journal(config.journalDir),
    targets: resolver,
    executor: { apply: (steps) => applySteps(steps, { log: executorLog }), revert: (steps) => revertSteps(steps, { log: executorLog }) },
    network: createNetworkEngine({ capabilities }),
    log,
  });
  await injector.start();
  const server = await startServer({
    injector,
    tls,
    listen: config.listen,
    log,
    allowedClients: config.clientNames,
    capabilities: async () => ({
      runtimes: resolver.runtimes.map((r) => `${r.name} ${r.socket}`),
      faultKinds: FAULT_KINDS,
      networkJson: JSON.stringify(await capabilities()),
    }),
  });
  const metrics = config.metrics === undefined ? undefined : await startMetricsServer(injector.metrics.registry, config.metrics.host, config.metrics.port);
  log.info('daemon ready', { node: config.nodeName, port: server.port, metricsPort: metrics?.port, runtimes: resolver.runtimes.map((r) => `${r.name} ${r.socket}`) });

  const revertOnShutdown = config.revertOnShutdown;
  let stopping = false;
  const shutdown = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info('shutting down', { signal, revertOnShutdown });
    await server.stop();
    if (revertOnShutdown) {
      const failed = await injector.revertAll('shutdown');
      if (failed.length > 0) log.error('revert on shutdown left injections in the journal', { failed });
    }
    await injector.stop();
    await metrics?.stop();
    resolver.close();
    log.info('stopped', { signal });
  };
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      shutdown(signal).catch((error: unknown) => {
        log.error('shutdown failed', { error: errorMessage(error) });
        process.exitCode = 1;
      });
    });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`kerris-daemon: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
  process.exit(1);
});
