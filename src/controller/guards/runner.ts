/**
 * The guard runner: while an experiment's fault is held, the leading controller evaluates each of its `spec.guards`
 * every `intervalSeconds`, and when one has failed for its whole `for` window it aborts the experiment (the abort
 * annotation, which wakes the engine at once; the engine takes every fault away and ends it Aborted). It writes how
 * each guard stands to `status.guards` (a merge patch of that field only, on a change of state and every few
 * seconds), which the verdict's score is made from.
 *
 * Windows live in memory, on the monotonic clock: a new leader starts them afresh, so a leader change can delay an
 * abort by up to one window but never cause one.
 */
import type { Guard, GuardStatus } from '../../api/generated/types.ts';
import type { KubeClient } from '../../kube/client.ts';
import { isNotFound } from '../../kube/errors.ts';
import type { Resource } from '../../kube/resource.ts';
import { formatTime } from '../../kube/time.ts';
import { systemClock, type Clock } from '../../runtime/clock.ts';
import type { EventRecorder } from '../../runtime/events.ts';
import type { Runnable } from '../../runtime/manager.ts';
import { sleep } from '../../runtime/sleep.ts';
import type { Store } from '../../runtime/store.ts';
import type { Logger } from '../../util/log.ts';
import { evaluateCheck } from '../checks/evaluate.ts';
import { parseDuration } from '../engine/duration.ts';
import type { Experiment } from '../engine/experiment.ts';
import { ABORT_ANNOTATION } from '../engine/lifecycle.ts';
import { advance, pending, type GuardEvaluation, type GuardStanding } from './state.ts';

export interface GuardedKind {
  resource: Resource<Experiment>;
  store: Store<Experiment>;
}

export interface GuardRunnerOptions {
  client: KubeClient;
  kinds: readonly GuardedKind[];
  events: EventRecorder;
  log: Logger;
  clock?: Clock;
  now?: () => Date;
  /** How often the runner looks for due guards. */
  tickMs?: number;
  /** How often a guard's counts are written while its state does not change. */
  flushMs?: number;
}

interface GuardRun {
  guard: Guard;
  standing: GuardStanding;
  nextDueMs: number;
  inFlight: boolean;
}

interface Watched {
  resource: Resource<Experiment>;
  namespace: string;
  name: string;
  guards: Map<string, GuardRun>;
  lastFlushMs: number;
  /** Counts changed since the last write. */
  dirty: boolean;
  /** A state changed: write at the next tick. */
  urgent: boolean;
  /** The abort was asked for and the apiserver took it. */
  aborted: boolean;
  /** An ask is on its way. */
  breaching: boolean;
}

const DEFAULT_TICK_MS = 200;
const DEFAULT_FLUSH_MS = 5_000;

/** The fault is held: the experiment runs and has injected, and no abort was asked for yet. */
function isHeld(chaos: Experiment): boolean {
  return chaos.status?.phase === 'Running' && chaos.status.injectedAt !== undefined && chaos.metadata.annotations?.[ABORT_ANNOTATION] === undefined;
}

export function guardRunner(options: GuardRunnerOptions): Runnable {
  const clock = options.clock ?? systemClock;
  const now = options.now ?? (() => new Date());
  const flushMs = options.flushMs ?? DEFAULT_FLUSH_MS;
  const watched = new Map<string, Watched>();

  const wallOf = (monotonicMs: number): string => formatTime(now().getTime() - (clock.monotonicMs() - monotonicMs));

  function statusOf(entry: Watched): GuardStatus[] {
    return [...entry.guards.values()].map(({ guard, standing }) => ({
      name: guard.name,
      state: standing.state,
      ...(standing.last ? { observed: standing.last.observed.slice(0, 256) } : {}),
      ...(standing.last && !standing.last.ok ? { message: standing.last.message.slice(0, 1024) } : {}),
      since: wallOf(standing.sinceMs),
      ...(standing.checks > 0 ? { lastCheckedAt: formatTime(now().getTime()) } : {}),
      checks: standing.checks,
      passed: standing.passed,
    }));
  }

  async function flush(entry: Watched): Promise<void> {
    entry.dirty = false;
    entry.urgent = false;
    entry.lastFlushMs = clock.monotonicMs();
    try {
      await options.client.patchStatus(entry.resource, entry.name, { type: 'merge', body: { status: { guards: statusOf(entry) } } }, { namespace: entry.namespace });
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }

  /** Asks for the abort; a failed ask (the apiserver away) is asked again at the next tick, which finds the breach. */
  async function breach(entry: Watched, run: GuardRun, chaos: Experiment): Promise<void> {
    if (entry.breaching) return;
    entry.breaching = true;
    try {
      await askAbort(entry, run, chaos);
    } finally {
      entry.breaching = false;
    }
  }

  async function askAbort(entry: Watched, run: GuardRun, chaos: Experiment): Promise<void> {
    const last = run.standing.last;
    const window = run.guard.for ?? '0s';
    const reason = `guard ${run.guard.name} breached: ${last?.observed ?? ''}${last?.message ? ` (${last.message})` : ''}, failing for ${window}`;
    await flush(entry);
    await options.client.patch(entry.resource, entry.name, { type: 'merge', body: { metadata: { annotations: { [ABORT_ANNOTATION]: reason.slice(0, 4096) } } } }, { namespace: entry.namespace });
    entry.aborted = true;
    options.log.warn('guard breached; aborting the experiment', { namespace: entry.namespace, name: entry.name, guard: run.guard.name, observed: last?.observed });
    await options.events.record(entry.resource, chaos, { type: 'Warning', reason: 'GuardBreached', message: `${reason}; every fault is being taken away` });
  }

  function evaluate(entry: Watched, run: GuardRun, chaos: Experiment): void {
    run.inFlight = true;
    const intervalMs = (run.guard.intervalSeconds ?? 1) * 1000;
    const timeoutMs = (run.guard.timeoutSeconds ?? 1) * 1000;
    run.nextDueMs = clock.monotonicMs() + intervalMs;
    void evaluateCheck(run.guard, { kube: options.client, namespace: entry.namespace, timeoutMs })
      .catch((error: unknown): GuardEvaluation => ({ ok: false, observed: 'error', message: error instanceof Error ? error.message : String(error) }))
      .then(async (evaluation) => {
        run.inFlight = false;
        if (entry.aborted || !watched.has(chaos.metadata.uid ?? '')) return;
        const before = run.standing.state;
        run.standing = advance(run.standing, evaluation, run.guard.for ? parseDuration(run.guard.for) : 0, clock.monotonicMs());
        entry.dirty = true;
        if (run.standing.state !== before) entry.urgent = true;
        if (run.standing.state === 'Breached') await breach(entry, run, chaos);
      })
      .catch((error: unknown) => options.log.error('guard evaluation could not be recorded', { namespace: entry.namespace, name: entry.name, guard: run.guard.name, error }));
  }

  async function tick(): Promise<void> {
    const seen = new Set<string>();
    for (const kind of options.kinds) {
      for (const chaos of kind.store.list()) {
        const guards = (chaos.spec as { guards?: Guard[] }).guards ?? [];
        const uid = chaos.metadata.uid ?? '';
        if (guards.length === 0 || !isHeld(chaos)) continue;
        seen.add(uid);
        let entry = watched.get(uid);
        if (entry === undefined) {
          const start = clock.monotonicMs();
          entry = {
            resource: kind.resource, namespace: chaos.metadata.namespace ?? '', name: chaos.metadata.name ?? '', lastFlushMs: start, dirty: false, urgent: true, aborted: false, breaching: false,
            // After a pause the counts go on from what status holds; only the window starts afresh.
            guards: new Map(guards.map((guard) => {
              const prior = chaos.status?.guards?.find((g) => g.name === guard.name);
              return [guard.name, { guard, standing: { ...pending(start), checks: prior?.checks ?? 0, passed: prior?.passed ?? 0 }, nextDueMs: start, inFlight: false }];
            })),
          };
          watched.set(uid, entry);
        }
        if (entry.aborted) continue;
        const breached = [...entry.guards.values()].find((run) => run.standing.state === 'Breached');
        if (breached !== undefined) {
          await breach(entry, breached, chaos);
          continue;
        }
        for (const run of entry.guards.values()) if (!run.inFlight && clock.monotonicMs() >= run.nextDueMs) evaluate(entry, run, chaos);
        if (entry.urgent || (entry.dirty && clock.monotonicMs() - entry.lastFlushMs >= flushMs)) await flush(entry);
      }
    }
    // Experiments no longer held (ended, paused, aborted, deleted): their last counts are written, then forgotten.
    for (const [uid, entry] of watched) {
      if (seen.has(uid)) continue;
      watched.delete(uid);
      if (entry.dirty && !entry.aborted) await flush(entry);
    }
  }

  return {
    name: 'guards',
    async run(signal) {
      do {
        try {
          await tick();
        } catch (error) {
          options.log.error('the guard runner failed a pass; going on', { error });
        }
      } while (await sleep(options.tickMs ?? DEFAULT_TICK_MS, signal));
    },
  };
}
