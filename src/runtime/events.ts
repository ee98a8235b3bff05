/**
 * Records core/v1 Events about objects. A repeat of the same event (same
 * object, type, reason, action and message) within the aggregation window
 * bumps the existing Event's count and lastTimestamp instead of creating
 * another. Recording is best effort: a failure is logged, never thrown,
 * because an Event must not fail a reconcile.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { KubeClient } from '../kube/client.ts';
import { isNotFound } from '../kube/errors.ts';
import { apiVersionOf, type Resource } from '../kube/resource.ts';
import { coreEvents } from '../kube/resources.ts';
import { formatTime } from '../kube/time.ts';
import type { CoreEvent, EventType, KubeObject } from '../kube/types.ts';
import { createLogger, type Logger } from '../util/log.ts';

export interface EventRecorderOptions {
  client: KubeClient;
  /** Who reports, as a qualified name: `kerris.dev/controller`. */
  reportingController: string;
  /** Which replica reports; defaults to the host name. */
  reportingInstance?: string;
  /** Repeats within this window are aggregated. */
  aggregateWindowMs?: number;
  /** Distinct events remembered for aggregation. */
  maxRemembered?: number;
  logger?: Logger;
  now?: () => number;
}

export interface EventSpec {
  type: EventType;
  /** CamelCase: `FaultInjected`. */
  reason: string;
  message: string;
  /** What was done: `Inject`. */
  action?: string;
}

interface Remembered {
  name: string;
  namespace: string;
  count: number;
  lastMs: number;
}

const REASON = /^[A-Za-z][A-Za-z0-9]*$/;
const QUALIFIED = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
/** The apiserver's limit on an Event's message (in bytes; characters are a safe proxy after truncation). */
const MAX_MESSAGE = 1024;

export class EventRecorder {
  readonly #client: KubeClient;
  readonly #controller: string;
  readonly #instance: string;
  readonly #windowMs: number;
  readonly #max: number;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #seen = new Map<string, Remembered>();
  /** One write at a time per aggregation key, so a count is never bumped twice from the same value. */
  readonly #pending = new Map<string, Promise<void>>();

  constructor(options: EventRecorderOptions) {
    if (!QUALIFIED.test(options.reportingController)) throw new Error(`reportingController ${JSON.stringify(options.reportingController)} is not a qualified name`);
    this.#client = options.client;
    this.#controller = options.reportingController;
    this.#instance = options.reportingInstance ?? hostname();
    this.#windowMs = options.aggregateWindowMs ?? 10 * 60_000;
    this.#max = options.maxRemembered ?? 4096;
    this.#log = (options.logger ?? createLogger()).child({ component: 'events' });
    this.#now = options.now ?? Date.now;
  }

  /** Records the event about object; resolves once written (or once the failure is logged). */
  async record<T extends KubeObject>(resource: Resource<T>, object: T, event: EventSpec): Promise<void> {
    if (!REASON.test(event.reason)) throw new Error(`event reason ${JSON.stringify(event.reason)} is not CamelCase`);
    const { name, namespace, uid } = object.metadata;
    if (!name) throw new Error('cannot record an event about an object without a name');
    const message = event.message.length > MAX_MESSAGE ? `${event.message.slice(0, MAX_MESSAGE - 3)}...` : event.message;
    const key = JSON.stringify([resource.group, resource.kind, namespace ?? '', name, uid ?? '', event.type, event.reason, event.action ?? '', message]);
    const previous = this.#pending.get(key) ?? Promise.resolve();
    const write = previous.then(() => this.#write(key, resource, object, { ...event, message })).catch((error: unknown) => {
      this.#log.warn('could not record event', { reason: event.reason, object: `${namespace ?? ''}/${name}`, error });
    });
    this.#pending.set(key, write);
    await write;
    if (this.#pending.get(key) === write) this.#pending.delete(key);
  }

  async #write<T extends KubeObject>(key: string, resource: Resource<T>, object: T, event: EventSpec): Promise<void> {
    const nowMs = this.#now();
    const remembered = this.#seen.get(key);
    if (remembered && nowMs - remembered.lastMs < this.#windowMs) {
      try {
        await this.#client.patch(coreEvents, remembered.name, {
          type: 'merge',
          body: { count: remembered.count + 1, lastTimestamp: formatTime(nowMs) },
        }, { namespace: remembered.namespace });
        this.#remember(key, { ...remembered, count: remembered.count + 1, lastMs: nowMs });
        return;
      } catch (error) {
        // The Event expired (event TTL) or was deleted: start a new one.
        if (!isNotFound(error)) throw error;
      }
    }
    const created = await this.#client.create(coreEvents, this.#newEvent(resource, object, event, nowMs));
    this.#remember(key, { name: created.metadata.name ?? '', namespace: created.metadata.namespace ?? '', count: 1, lastMs: nowMs });
  }

  #newEvent<T extends KubeObject>(resource: Resource<T>, object: T, event: EventSpec, nowMs: number): CoreEvent {
    const { name = '', namespace, uid, resourceVersion } = object.metadata;
    // Events about cluster-scoped objects live in "default", as kubectl looks for them there.
    const eventNamespace = namespace ?? 'default';
    const time = formatTime(nowMs);
    return {
      metadata: { name: `${name}.${randomBytes(8).toString('hex')}`, namespace: eventNamespace },
      involvedObject: {
        apiVersion: apiVersionOf(resource), kind: resource.kind, name,
        ...(namespace ? { namespace } : {}), ...(uid ? { uid } : {}), ...(resourceVersion ? { resourceVersion } : {}),
      },
      type: event.type,
      reason: event.reason,
      message: event.message,
      ...(event.action ? { action: event.action } : {}),
      count: 1,
      firstTimestamp: time,
      lastTimestamp: time,
      source: { component: this.#controller, host: this.#instance },
      reportingComponent: this.#controller,
      reportingInstance: this.#instance,
    };
  }

  #remember(key: string, value: Remembered): void {
    this.#seen.delete(key);
    this.#seen.set(key, value);
    // A Map iterates in insertion order: the first key is the least recently written.
    while (this.#seen.size > this.#max) {
      const oldest = this.#seen.keys().next();
      if (oldest.done) break;
      this.#seen.delete(oldest.value);
    }
  }
}
