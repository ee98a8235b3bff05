/**
 * The objects a Workflow's steps create, and what the planner needs to know of them: names derived from the
 * workflow and the node (so a retry never creates twice), specs from the templates (a step's deadline as the
 * default duration), and an Observation of each object as it stands.
 */
import { createHash } from 'node:crypto';
import type { Schedule, StatusCheck, Workflow, WorkflowTemplate } from '../../api/generated/types.ts';
import { apiVersion } from '../../api/generated/types.ts';
import type { Resource } from '../../kube/resource.ts';
import type { KubeObject } from '../../kube/types.ts';
import { ABORT_ANNOTATION } from '../engine/lifecycle.ts';
import { chaosResources, controllerReference, type ChaosObject } from '../schedule/chaos-objects.ts';
import { schedules } from '../schedule/resource.ts';
import { statusChecks } from '../statuscheck/resource.ts';
import type { ChildKind, Observation } from './plan.ts';

export const WORKFLOW_LABEL = 'chaos.kerris.dev/workflow';
export const WORKFLOW_UID_LABEL = 'chaos.kerris.dev/workflow-uid';
export const WORKFLOW_NODE_ANNOTATION = 'chaos.kerris.dev/workflow-node';
/** A label value's limit; the names stay below it so they can be selected by. */
const NAME_MAX = 63;

export type ChildObject = ChaosObject | StatusCheck | Schedule;

export const childResources: Readonly<Record<ChildKind, Resource<ChildObject>>> = {
  ...chaosResources,
  StatusCheck: statusChecks as Resource<ChildObject>,
  Schedule: schedules as Resource<ChildObject>,
};

/** `<workflow>-<node>`; longer than 63 characters, cut and suffixed with a hash of the whole, so names never collide. */
export function childName(workflowName: string, node: string): string {
  const full = `${workflowName}-${node}`;
  if (full.length <= NAME_MAX) return full;
  const hash = createHash('sha256').update(full).digest('hex').slice(0, 8);
  return `${full.slice(0, NAME_MAX - 9).replace(/[-.]+$/, '')}-${hash}`;
}

const labelValue = (name: string): string => (name.length <= NAME_MAX ? name : name.slice(0, NAME_MAX).replace(/[-_.]+$/, ''));

/** The spec of a step's object: the embedded spec, with the step's deadline as its duration when it sets none. */
function childSpec(kind: ChildKind, template: WorkflowTemplate): object {
  const withDeadline = <S extends { duration?: string }>(spec: S | undefined): S => {
    if (spec === undefined) throw new Error(`template ${template.name} of type ${kind} has no spec for it`);
    const duration = spec.duration ?? template.deadline;
    return duration === undefined ? spec : { ...spec, duration };
  };
  switch (kind) {
    case 'PodChaos': return withDeadline(template.podChaos);
    case 'NetworkChaos': return withDeadline(template.networkChaos);
    case 'StressChaos': return withDeadline(template.stressChaos);
    // NodeChaos requires a duration; admission makes a step without one have a deadline.
    case 'NodeChaos': return withDeadline(template.nodeChaos);
    case 'StatusCheck': return withDeadline(template.statusCheck);
    case 'Schedule': {
      if (template.schedule === undefined) throw new Error(`template ${template.name} of type Schedule has no schedule`);
      return template.schedule;
    }
  }
}

export function childObject(workflow: Workflow, kind: ChildKind, name: string, node: string, template: WorkflowTemplate): ChildObject {
  return {
    apiVersion,
    kind,
    metadata: {
      name,
      namespace: workflow.metadata.namespace ?? '',
      labels: { [WORKFLOW_LABEL]: labelValue(workflow.metadata.name ?? ''), [WORKFLOW_UID_LABEL]: workflow.metadata.uid ?? '' },
      annotations: { [WORKFLOW_NODE_ANNOTATION]: node },
      ownerReferences: [controllerReference(workflow, apiVersion, 'Workflow')],
    },
    spec: childSpec(kind, template),
  } as ChildObject;
}

const trueCondition = (object: { status?: { conditions?: { type: string; status: string; reason: string; message: string }[] } }, type: string) =>
  object.status?.conditions?.find((c) => c.type === type && c.status === 'True');

export function chaosObservation(chaos: ChaosObject): Observation {
  const status = chaos.status;
  const verdict = status?.verdict;
  const guarded = (status?.guards ?? []).some((g) => (g.checks ?? 0) > 0);
  const failed = trueCondition(chaos, 'Failed') ?? trueCondition(chaos, 'Aborted');
  return {
    kind: 'chaos',
    phase: status?.phase,
    abortRequested: chaos.metadata.annotations?.[ABORT_ANNOTATION] !== undefined,
    ...(verdict ? { verdict: { score: verdict.score, reason: verdict.reason } } : {}),
    // With guard evaluations the verdict's score is their share; without, it would be 0 for any abort.
    ...(guarded && verdict ? { guardScore: verdict.score } : {}),
    ...(failed ? { message: failed.message } : {}),
  };
}

export function statusCheckObservation(check: StatusCheck): Observation {
  const completed = trueCondition(check, 'Completed');
  if (completed === undefined) return { kind: 'statuscheck' };
  const last = check.status?.records?.at(-1);
  return { kind: 'statuscheck', completedReason: completed.reason, message: `${completed.reason}${last?.observed ? `; last observed ${last.observed}` : ''}` };
}

/** A chaos or StatusCheck step's object as the planner sees it; a Schedule step is observed with its runs (reconciler.ts). */
export function observe(kind: Exclude<ChildKind, 'Schedule'>, object: KubeObject | undefined): Observation {
  if (object === undefined) return { kind: 'missing' };
  if (kind === 'StatusCheck') return statusCheckObservation(object as StatusCheck);
  return chaosObservation(object as ChaosObject);
}
