/**
 * Reconciles one StatusCheck: when an execution is due it runs the check, appends the record, counts the streak and
 * completes the check at a threshold or at the end of `duration`; otherwise it waits for the next one. The counts
 * live in status, so a restarted controller continues them; the last start is also kept in memory on the monotonic
 * clock, because status times are whole seconds and an extra wake-up must not run an execution early.
 */
import type { StatusCheck } from '../../api/generated/types.ts';
import type { KubeClient } from '../../kube/client.ts';
import { parseTime } from '../../kube/time.ts';
import { awaitChange, requeueAfter, type Action } from '../../runtime/action.ts';
import { systemClock, type Clock } from '../../runtime/clock.ts';
import type { EventRecorder } from '../../runtime/events.ts';
import { patchStatus } from '../../runtime/status.ts';
import type { Resource } from '../../kube/resource.ts';
import { keyOf, type ObjectKey } from '../../runtime/store.ts';
import type { Logger } from '../../util/log.ts';
import { evaluateCheck } from '../checks/evaluate.ts';
import { deadlineMs, durationExceeded, isCompleted, recordOutcome, settingsOf, type CompletionReason } from './progress.ts';
import { statusChecks } from './resource.ts';

const FIELD_MANAGER = 'kerris-controller';

export interface StatusCheckReconcilerOptions {
  readonly client: KubeClient;
  readonly events: EventRecorder;
  readonly clock?: Clock;
  /** statuschecks.chaos.kerris.dev; a test gives the same schema under its own group, which no deployed kerris reconciles. */
  readonly resource?: Resource<StatusCheck>;
}

export class StatusCheckReconciler {
  readonly #client: KubeClient;
  readonly #events: EventRecorder;
  readonly #clock: Clock;
  readonly #resource: Resource<StatusCheck>;
  /** Monotonic start of each check's last execution in this process. */
  readonly #lastStart = new Map<ObjectKey, number>();

  constructor(options: StatusCheckReconcilerOptions) {
    this.#client = options.client;
    this.#events = options.events;
    this.#clock = options.clock ?? systemClock;
    this.#resource = options.resource ?? statusChecks;
  }

  async reconcile(check: StatusCheck, signal: AbortSignal, log: Logger): Promise<Action> {
    const key = keyOf(check);
    if (check.metadata.deletionTimestamp !== undefined || isCompleted(check.status)) {
      this.#lastStart.delete(key);
      return awaitChange();
    }
    const settings = settingsOf(check.spec);
    const generation = check.metadata.generation;
    const now = this.#clock.wallMs();
    const deadline = deadlineMs(check.status, settings, now);
    if (deadline !== undefined && now >= deadline) {
      await this.#write(check, durationExceeded(check.status, settings, now, generation));
      await this.#completed(check, 'DurationExceed', 'duration passed with neither threshold reached');
      this.#lastStart.delete(key);
      return awaitChange();
    }
    const waitMs = this.#untilDue(key, check, settings.intervalMs, now);
    if (waitMs > 0) return requeueAfter(Math.min(waitMs, deadline === undefined ? waitMs : deadline - now));

    const startedMono = this.#clock.monotonicMs();
    const startedWall = this.#clock.wallMs();
    this.#lastStart.set(key, startedMono);
    const result = await evaluateCheck(check.spec, { kube: this.#client, namespace: check.metadata.namespace ?? '', timeoutMs: settings.timeoutMs, signal });
    const step = recordOutcome(check.status, settings, result, startedWall, this.#clock.wallMs(), generation);
    await this.#write(check, step.status);
    log.debug('status check executed', { ok: result.ok, observed: result.observed, completed: step.completed });
    if (step.completed !== undefined) {
      await this.#completed(check, step.completed, result.message);
      this.#lastStart.delete(key);
      return awaitChange();
    }
    const elapsed = this.#clock.monotonicMs() - startedMono;
    const next = Math.max(0, settings.intervalMs - elapsed);
    const end = deadline === undefined ? next : Math.max(0, deadline - this.#clock.wallMs());
    return requeueAfter(Math.min(next, end));
  }

  /** Milliseconds until the next execution: from this process's own last start, else from the last record's. */
  #untilDue(key: ObjectKey, check: StatusCheck, intervalMs: number, nowWall: number): number {
    const mono = this.#lastStart.get(key);
    if (mono !== undefined) return mono + intervalMs - this.#clock.monotonicMs();
    const last = check.status?.records?.at(-1)?.startTime;
    return last === undefined ? 0 : parseTime(last) + intervalMs - nowWall;
  }

  /** Optimistic: a status read from a stale cache is refused (409) and the reconcile retried, never written over. */
  async #write(check: StatusCheck, status: NonNullable<StatusCheck['status']>): Promise<void> {
    await patchStatus(this.#client, this.#resource, check, status, { optimistic: true, fieldManager: FIELD_MANAGER });
  }

  async #completed(check: StatusCheck, reason: CompletionReason, detail: string): Promise<void> {
    await this.#events.record(this.#resource, check, {
      type: reason === 'FailureThresholdExceed' ? 'Warning' : 'Normal',
      reason,
      action: 'Check',
      message: `status check completed: ${reason}: ${detail}`,
    });
  }
}
