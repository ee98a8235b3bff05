/**
 * The kerris node daemon: `node src/daemon/main.ts [--flag value ...]` (see config.ts for flags and env).
 *
 * It refuses to start (exit code 2) when it could not guard the faults it would apply: no allowed client names,
 * TLS files unreadable, or a journal locked by another live daemon. A full or read-only journal, or damaged files in it,
 * do not stop it: the faults it holds must still be reverted on time (README, "Damaged journal files").
 *
 * On SIGTERM/SIGINT it stops serving and exits WITHOUT reverting faults, unless --revert-on-shutdown=true. A node
 * reboot already answered and scheduled (faults/node-reboot.ts, about a second) still happens: its timer keeps
 * the process until it fires.
 * A daemon restart (upgrade, eviction, OOM kill) must not end or flap the experiments running on its node:
 * every fault is in the journal with its lease and deadline, the restarted daemon reconciles the journal against
 * the kernel, and whatever lapsed meanwhile is reverted at start-up. A controller that is gone stops renewing, and
 * the daemon reverts on expiry. Only uninstalling the daemon for good needs --revert-on-shutdown=true.
 */
import { monotonicMs } from './clock.ts';
import { parseConfig, USAGE, type DaemonConfig } from './config.ts';
import { errorMessage } from './errors.ts';
import { applySteps, revertSteps } from './execute.ts';
import { containerFreeze } from './faults/container-freeze.ts';
import { containerKill } from './faults/container-kill.ts';
import { kubeletStop } from './faults/kubelet-stop.ts';
import { networkFault } from './faults/network.ts';
import { nodeNetwork } from './faults/node-network.ts';
import { nodeReboot } from './faults/node-reboot.ts';
import { findStressNg, stressFault } from './faults/stress.ts';
import { Injector } from './injector.ts';
import { Journal } from './journal.ts';
import { startMetricsServer } from './metrics-server.ts';
import { createNetworkEngine } from './net/engine.ts';
import { detectCapabilities } from './preflight.ts';
import { detectRuntimes, TargetResolver } from './runtime/resolve.ts';
import { Prober } from './probe/probe.ts';
import { startServer, type RunningServer } from './server.ts';
import { TargetPolicy } from './target-policy.ts';
import { readTlsFiles, type TlsMaterial } from './tls.ts';
import { createLogger } from '../util/log.ts';

/** Exit code of a start the daemon refuses (bad flags, or faults it could not guard). */
const REFUSED = 2;

class RefusedStart extends Error {
  override name = 'RefusedStart';
}

async function guarded<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    throw new RefusedStart(`${what}: ${errorMessage(error)}`, { cause: error });
  }
}

async function main(): Promise<void> {
  const log = createLogger({ component: 'kerris-daemon' });
  let config: DaemonConfig;
  try {
    config = parseConfig(process.argv.slice(2), process.env);
  } catch (error) {
    process.stderr.write(`${errorMessage(error)}\n${USAGE}\n`);
    process.exitCode = REFUSED;
    return;
  }
  const tls: TlsMaterial = await guarded('TLS files', () => readTlsFiles(config.tls));
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
  const policy = new TargetPolicy({ protectedNamespaces: config.protectedNamespaces, pod: (containerId) => resolver.pod(containerId) });
  // Found once: without it the node offers no stress faults (Capabilities leaves the kind out), but still reverts journaled ones.
  const stressNg = await findStressNg();
  if (stressNg === undefined) log.warn('no stress-ng found; stress faults are unavailable on this node', { node: config.nodeName });
  // One engine for container and node network faults: the same validation, planner and preflight.
  const network = createNetworkEngine({ capabilities });
  const injector = new Injector({
    journal: new Journal(config.journalDir),
    targets: resolver,
    policy,
    executor: {
      apply: (steps, started) => applySteps(steps, { log: executorLog, ...(started === undefined ? {} : { started }) }),
      revert: (steps) => revertSteps(steps, { log: executorLog }),
    },
    faults: [
      containerKill(resolver, log), containerFreeze, networkFault(network),
      stressFault({ stressNg, node: config.nodeName, clock: monotonicMs }),
      kubeletStop({ processName: config.kubeletProcess, node: config.nodeName }),
      nodeNetwork({ engine: network, node: config.nodeName }),
      nodeReboot({ node: config.nodeName, configDir: config.nodeConfigDir, log }),
    ],
    log,
  });
  let server: RunningServer | undefined;
  const metrics = config.metrics === undefined ? undefined : await startMetricsServer(injector.metrics.registry, {
    healthy: () => injector.healthy,
    ready: () => injector.ready && server !== undefined,
  }, config.metrics.host, config.metrics.port);
  await guarded(`journal ${config.journalDir}`, () => injector.start());
  server = await startServer({
    injector,
    tls,
    rotation: { files: config.tls, refreshMs: config.tlsRefreshMs, log },
    listen: config.listen,
    log,
    node: config.nodeName,
    allowedClients: config.clientNames,
    capabilities: async () => ({ runtimes: resolver.runtimes.map((r) => `${r.name} ${r.socket}`), network: await capabilities() }),
    prober: new Prober({ targets: resolver, policy }),
  });
  const serving = server;
  log.info('daemon ready', { node: config.nodeName, protectedNamespaces: config.protectedNamespaces, kubeletProcess: config.kubeletProcess, nodeConfigDir: config.nodeConfigDir, port: serving.port, metricsPort: metrics?.port, runtimes: resolver.runtimes.map((r) => `${r.name} ${r.socket}`) });

  const revertOnShutdown = config.revertOnShutdown;
  let stopping = false;
  const shutdown = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log.info('shutting down', { signal, revertOnShutdown });
    await serving.stop();
    if (revertOnShutdown) {
      const failed = await injector.revertAll();
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
  if (error instanceof RefusedStart) {
    process.stderr.write(`kerris-daemon: refusing to start, faults could not be guarded: ${error.message}\n`);
    process.exit(REFUSED);
  }
  process.stderr.write(`kerris-daemon: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
  process.exit(1);
});
