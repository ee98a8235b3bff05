/**
 * Graceful shutdown: the first SIGTERM or SIGINT aborts the returned signal
 * (everything that runs takes it and winds down). A second signal, or the
 * force deadline passing, exits at once with code 1.
 */
import type { Logger } from '../util/log.ts';

export interface ShutdownOptions {
  signals?: readonly NodeJS.Signals[];
  /** After the first signal, exit anyway once this has passed. */
  forceAfterMs?: number;
  logger?: Logger;
  exit?: (code: number) => void;
}

export interface ShutdownHandle {
  signal: AbortSignal;
  /** Removes the signal handlers (for tests and embedding). */
  dispose(): void;
}

export function onShutdownSignals(options: ShutdownOptions = {}): ShutdownHandle {
  const signals = options.signals ?? ['SIGTERM', 'SIGINT'];
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const controller = new AbortController();
  let force: NodeJS.Timeout | undefined;
  const handler = (name: NodeJS.Signals): void => {
    if (controller.signal.aborted) {
      options.logger?.warn('second signal; exiting now', { signal: name });
      exit(1);
      return;
    }
    options.logger?.info('shutting down', { signal: name, forceAfterMs: options.forceAfterMs });
    controller.abort(new Error(`received ${name}`));
    if (options.forceAfterMs !== undefined) {
      force = setTimeout(() => {
        options.logger?.error('shutdown took too long; exiting', { forceAfterMs: options.forceAfterMs });
        exit(1);
      }, options.forceAfterMs);
      force.unref();
    }
  };
  for (const name of signals) process.on(name, handler);
  return {
    signal: controller.signal,
    dispose: () => {
      for (const name of signals) process.off(name, handler);
      clearTimeout(force);
    },
  };
}
