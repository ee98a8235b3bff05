/** The kerris controller process: `node src/controller/main.ts [flags]`. */
import { KubeClient } from '../kube/client.ts';
import { onShutdownSignals } from '../runtime/shutdown.ts';
import { createLogger } from '../util/log.ts';
import { ConfigError, parseConfig } from './config.ts';
import { buildOperator } from './operator.ts';

const logger = createLogger({ component: 'kerris-controller' });

async function main(): Promise<number> {
  const config = parseConfig(process.argv.slice(2), process.env);
  const client = await KubeClient.fromEnvironment();
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
