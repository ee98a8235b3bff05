/** The kerris controller process: `node src/controller/main.ts [flags]`. */
import { KubeClient } from '../kube/client.ts';
import { onShutdownSignals } from '../runtime/shutdown.ts';
import { createLogger } from '../util/log.ts';
import { ConfigError, parseConfig } from './config.ts';
import { buildOperator } from './operator.ts';

const logger = createLogger({ component: 'kerris-controller' });

/**
 * The controller's share of the apiserver: parallel reconciles each read,
 * patch status and record Events, and a start-up lists every collection it
 * watches; the client's default (sized for a person's command line) would queue
 * them. The apiserver's priority and fairness still answers 429 beyond its own
 * share, which the client waits out.
 */
const CONTROLLER_RATE_LIMIT = { qps: 50, burst: 100 };

async function main(): Promise<number> {
  const config = parseConfig(process.argv.slice(2), process.env);
  const client = await KubeClient.fromEnvironment({}, { rateLimit: CONTROLLER_RATE_LIMIT });
  const shutdown = onShutdownSignals({ logger, forceAfterMs: 25_000 });
  logger.info('starting', {
    namespace: config.namespace, identity: config.identity, protectedNamespaces: [...config.protectedNamespaces],
    requireOptIn: config.requireOptIn, leaderElection: config.leaderElection,
  });
  const end = await buildOperator(client, config, logger).run(shutdown.signal);
  client.close();
  // A lost Lease means another replica may act now: exit non-zero so this one restarts and campaigns anew.
  return end === 'lost' ? 1 : 0;
}

main().then((code) => { process.exitCode = code; }, (error: unknown) => {
  logger.error(error instanceof ConfigError ? 'bad configuration' : 'failed', { error });
  process.exitCode = error instanceof ConfigError ? 2 : 1;
});
