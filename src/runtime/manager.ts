/**
 * Runs an operator process: informers (on every replica, so a new leader
 * starts with a warm cache), controllers (only while leading), and the health
 * server. Stopping happens in order: /readyz turns 503, controllers drain,
 * the Lease is released, informers stop, the server closes.
 */
import { createLogger, type Logger } from '../util/log.ts';
import { HealthServer } from './health-server.ts';
import { LeaderElector, type ElectionEnd, type LeaderElectionOptions } from './leader-election.ts';
import type { RuntimeMetrics } from './runtime-metrics.ts';

export interface Runnable {
  readonly name: string;
  run(signal: AbortSignal): Promise<unknown>;
}

export interface SyncingRunnable extends Runnable {
  readonly synced: boolean;
}

export type LeaderElectionConfig = Omit<LeaderElectionOptions, 'onStartedLeading' | 'onStoppedLeading' | 'metrics' | 'logger'>;

export interface ManagerOptions {
  informers: readonly SyncingRunnable[];
  controllers: readonly Runnable[];
  /** Without it this process always leads (a single replica). */
  leaderElection?: LeaderElectionConfig;
  health?: { port: number; host?: string };
  metrics: RuntimeMetrics;
  logger?: Logger;
}

export class Manager {
  readonly elector: LeaderElector | undefined;
  readonly #options: ManagerOptions;
  readonly #log: Logger;
  readonly #health: HealthServer | undefined;
  #port: number | undefined;

  constructor(options: ManagerOptions) {
    this.#options = options;
    this.#log = options.logger ?? createLogger({ component: 'manager' });
    this.elector = options.leaderElection
      ? new LeaderElector({
        ...options.leaderElection,
        metrics: options.metrics,
        logger: this.#log,
        onStartedLeading: (signal) => this.#runControllers(signal),
      })
      : undefined;
    this.#health = options.health
      ? new HealthServer({
        port: options.health.port,
        ...(options.health.host ? { host: options.health.host } : {}),
        registry: options.metrics.registry,
        readiness: [
          { name: 'informers not synced', ready: () => options.informers.every((i) => i.synced) },
          { name: 'leader election state unknown', ready: () => this.elector === undefined || this.elector.state !== 'unknown' },
        ],
      })
      : undefined;
  }

  /** The health server's port, once run() has started it. */
  get port(): number | undefined {
    return this.#port;
  }

  /** Runs until the signal aborts ('stopped') or the Lease is lost ('lost': exit, and let a restart campaign anew). */
  async run(signal: AbortSignal): Promise<ElectionEnd> {
    if (this.#health) this.#port = await this.#health.start();
    if (signal.aborted) this.#health?.markShuttingDown();
    else signal.addEventListener('abort', () => this.#health?.markShuttingDown(), { once: true });
    const informers = new AbortController();
    const informerRuns = this.#options.informers.map((informer) => informer.run(informers.signal).catch((error: unknown) => {
      this.#log.error('informer stopped with an error', { informer: informer.name, error });
    }));
    let end: ElectionEnd = 'stopped';
    try {
      end = this.elector ? await this.elector.run(signal) : (await this.#runControllers(signal), 'stopped');
    } finally {
      this.#health?.markShuttingDown();
      informers.abort();
      await Promise.all(informerRuns);
      await this.#health?.stop();
      this.#log.info('stopped', { end });
    }
    return end;
  }

  async #runControllers(signal: AbortSignal): Promise<void> {
    await Promise.all(this.#options.controllers.map((controller) => controller.run(signal).catch((error: unknown) => {
      this.#log.error('controller stopped with an error', { controller: controller.name, error });
    })));
  }
}
