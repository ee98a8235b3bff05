/**
 * The Workflow controller: reads the workflow and the objects of its steps that have not ended, asks the planner
 * (plan.ts) what follows, and carries it out: creates steps' objects, sets the abort annotation on experiments,
 * deletes StatusChecks and Schedules, writes status. Times of record live in status, so a restarted controller
 * picks the same deadlines and Suspend ends up; the wait for the next one is the Workflow's requeue.
 */
import type { Workflow, WorkflowNode } from '../../api/generated/types.ts';
import type { KubeClient } from '../../kube/client.ts';
import { isAlreadyExists, isApiError, isNotFound } from '../../kube/errors.ts';
import { awaitChange, requeueAfter, type Action } from '../../runtime/action.ts';
import type { EventRecorder } from '../../runtime/events.ts';
import { ABORT_ANNOTATION } from '../engine/lifecycle.ts';
import { chaosResources, hasEnded, isChaosKind } from '../schedule/chaos-objects.ts';
import { SCHEDULE_LABEL } from '../schedule/reconciler.ts';
import { schedules } from '../schedule/resource.ts';
import { childName, childObject, childResources, observe } from './children.ts';
import { hasEndedNode, planWorkflow, type ChildKind, type Creation, type Observation, type Plan } from './plan.ts';
import { workflows } from './resource.ts';

/** While steps run, look again at least this often: their changes wake the workflow, this bounds a missed watch event. */
const POLL_MS = 10_000;

/** A refusal no retry can change: the step fails, and with it the workflow. */
const isRefusal = (error: unknown): boolean => isApiError(error) && [400, 403, 422].includes(error.status);

export interface WorkflowReconcilerOptions {
  client: KubeClient;
  events: EventRecorder;
  now?: () => number;
}

export class WorkflowReconciler {
  readonly #client: KubeClient;
  readonly #events: EventRecorder;
  readonly #now: () => number;

  constructor(options: WorkflowReconcilerOptions) {
    this.#client = options.client;
    this.#events = options.events;
    this.#now = options.now ?? Date.now;
  }

  async reconcile(key: { namespace: string; name: string }): Promise<Action> {
    let workflow: Workflow;
    try {
      // The cache may lag our own last status write; decisions are made on the stored object.
      workflow = await this.#client.get(workflows, key.name, { namespace: key.namespace });
    } catch (error) {
      if (isNotFound(error)) return awaitChange();
      throw error;
    }
    // Steps carry an ownerReference: the garbage collector deletes them, and each experiment recovers before it goes.
    if (workflow.metadata.deletionTimestamp) return awaitChange();
    const name = workflow.metadata.name ?? key.name;
    const observations = await this.#observe(workflow);
    const nowMs = this.#now();
    const plan = planWorkflow({
      spec: workflow.spec,
      status: workflow.status,
      abortRequest: workflow.metadata.annotations?.[ABORT_ANNOTATION],
      observations,
      objectName: (node) => childName(name, node),
      nowMs,
      generation: workflow.metadata.generation ?? 0,
    });
    if (!plan.changed && plan.create.length === 0 && plan.abort.length === 0 && plan.remove.length === 0) return this.#wait(plan, nowMs);
    const refused = await this.#apply(workflow, plan);
    for (const [node, message] of refused) failNode(plan.status.nodes ?? [], node, message, nowMs);
    const written = await this.#client.replaceStatus(workflows, { ...workflow, status: plan.status }, { namespace: key.namespace });
    for (const event of plan.events) await this.#events.record(workflows, written, { ...event, action: 'Run' });
    // A refused step fails the workflow on the next look, which ends what still runs.
    if (refused.size > 0) return requeueAfter(0);
    return this.#wait(plan, nowMs);
  }

  #wait(plan: Plan, nowMs: number): Action {
    const phase = plan.status.phase;
    if (phase === 'Finished' || phase === 'Aborted' || phase === 'Failed') return awaitChange();
    const untilWake = plan.wakeAtMs === undefined ? POLL_MS : Math.max(0, plan.wakeAtMs - nowMs);
    return requeueAfter(Math.min(POLL_MS, untilWake));
  }

  /** The objects of the steps that have not ended, read live (a just-created one may not be in a cache yet). */
  async #observe(workflow: Workflow): Promise<Map<string, Observation>> {
    const observations = new Map<string, Observation>();
    const running = (workflow.status?.nodes ?? []).filter((n) => !hasEndedNode(n) && n.object !== undefined);
    await Promise.all(running.map(async (node) => {
      const object = node.object;
      if (object === undefined || !isChildKind(object.kind)) return;
      if (object.kind === 'Schedule') {
        observations.set(node.name, await this.#observeSchedule(workflow, node, object.name));
        return;
      }
      try {
        const found = await this.#client.get(childResources[object.kind], object.name, { namespace: workflow.metadata.namespace ?? '' });
        observations.set(node.name, observe(object.kind, found));
      } catch (error) {
        if (!isNotFound(error)) throw error;
        observations.set(node.name, observe(object.kind, undefined));
      }
    }));
    return observations;
  }

  /**
   * A Schedule step's Schedule and its runs not ended, found by the Schedule's name label: the garbage collector
   * may delete the Schedule before its runs (it may not know their kind yet), so their faults are judged by themselves.
   */
  async #observeSchedule(workflow: Workflow, node: WorkflowNode, name: string): Promise<Observation> {
    const namespace = workflow.metadata.namespace ?? '';
    let exists = true;
    try {
      await this.#client.get(schedules, name, { namespace });
    } catch (error) {
      if (!isNotFound(error)) throw error;
      exists = false;
    }
    const type = workflow.spec.templates.find((t) => t.name === node.template)?.schedule?.type ?? '';
    if (!isChaosKind(type)) return { kind: 'schedule', exists, activeRuns: [] };
    const runs = await this.#client.list(chaosResources[type], { namespace, labelSelector: `${SCHEDULE_LABEL}=${name}` });
    const activeRuns = runs.items.filter((r) => !hasEnded(r)).map((r) => ({ kind: type, name: r.metadata.name ?? '', abortRequested: r.metadata.annotations?.[ABORT_ANNOTATION] !== undefined }));
    return { kind: 'schedule', exists, activeRuns };
  }

  /** Carries the plan out; returns the steps whose object the apiserver refused, with why. */
  async #apply(workflow: Workflow, plan: Plan): Promise<Map<string, string>> {
    const namespace = workflow.metadata.namespace ?? '';
    const refused = new Map<string, string>();
    for (const creation of plan.create) {
      try {
        await this.#create(workflow, creation);
      } catch (error) {
        if (!isRefusal(error)) throw error;
        refused.set(creation.node, `its ${creation.kind} ${creation.name} was refused: ${(error as Error).message}`);
      }
    }
    for (const abort of plan.abort) {
      try {
        await this.#client.patch(childResources[abort.kind], abort.name, { type: 'merge', body: { metadata: { annotations: { [ABORT_ANNOTATION]: abort.reason } } } }, { namespace });
      } catch (error) {
        if (!isNotFound(error)) throw error;
      }
    }
    for (const removal of plan.remove) {
      try {
        await this.#client.delete(childResources[removal.kind], removal.name, { namespace });
      } catch (error) {
        if (!isNotFound(error)) throw error;
      }
    }
    return refused;
  }

  async #create(workflow: Workflow, creation: Creation): Promise<void> {
    const object = childObject(workflow, creation.kind, creation.name, creation.node, creation.template);
    try {
      await this.#client.create(childResources[creation.kind], object, { namespace: object.metadata.namespace ?? '' });
    } catch (error) {
      // Created before a restart or a failed status write: the step's object exists, and is this one.
      if (!isAlreadyExists(error)) throw error;
    }
  }
}

function isChildKind(kind: string): kind is ChildKind {
  return isChaosKind(kind) || kind === 'StatusCheck' || kind === 'Schedule';
}

function failNode(nodes: WorkflowNode[], name: string, message: string, nowMs: number): void {
  const node = nodes.find((n) => n.name === name);
  if (node === undefined || hasEndedNode(node)) return;
  node.phase = 'Failed';
  node.endReason = 'Failed';
  node.endTime = new Date(nowMs).toISOString();
  node.message = message.slice(0, 1024);
}
