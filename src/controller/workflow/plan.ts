/**
 * A Workflow's progress as a pure function of its spec, its status, what its children look like now and the wall
 * clock: which steps start, which end (on their own, by deadline, or because the workflow is ending), which objects
 * get the abort annotation or are deleted, when to look again, and the status that records it all. The reconciler
 * only gathers the observations and carries the plan out, so every rule here is tested without a cluster.
 */
import type {
  ScheduleTemplateType, WorkflowCondition, WorkflowNode, WorkflowNodeEndReason, WorkflowNodePhase, WorkflowPhase, WorkflowSpec,
  WorkflowStatus, WorkflowTemplate, WorkflowVerdict,
} from '../../api/generated/types.ts';
import { scheduleTemplateTypeValues } from '../../api/generated/types.ts';
import { parseTime } from '../../kube/time.ts';
import { setCondition } from '../../runtime/conditions.ts';
import { parseDuration } from '../engine/duration.ts';
import { checkExpression, evaluateExpression, ExpressionError } from './expression.ts';

/** The most nodes status keeps (the CRD's bound); a loop of branches that would go past it fails the workflow. */
export const MAX_NODES = 128;

/** The chaos kinds a step (or a Schedule step's run) creates: those a Schedule runs. */
export type ChaosStepKind = ScheduleTemplateType;

/** What a step's object looks like now; only steps that have not ended are observed. */
export type Observation =
  | {
    kind: 'chaos';
    /** The experiment's phase; Finished, Aborted and Failed are its end. */
    phase: string | undefined;
    /** Whether it carries the abort annotation already. */
    abortRequested: boolean;
    /** Its verdict's score and reason, once it has one. */
    verdict?: { score: number; reason: string };
    /** The share of its guard evaluations that passed, 0 to 100; undefined without guard evaluations. */
    guardScore?: number;
    /** Why it failed or was aborted, from its condition. */
    message?: string;
  }
  | { kind: 'statuscheck'; /** The Completed condition's reason once it is True. */ completedReason?: string; message?: string }
  | {
    kind: 'schedule';
    /** Whether the Schedule is still there (it may be on its way out). */
    exists: boolean;
    /** Its runs that have not ended, found by the Schedule's label: they hold faults, even after the Schedule is gone. */
    activeRuns: readonly { kind: ChaosStepKind; name: string; abortRequested: boolean }[];
  }
  /** The object is not there (any more). */
  | { kind: 'missing' };

export type ChildKind = ChaosStepKind | 'StatusCheck' | 'Schedule';

export interface Creation { node: string; template: WorkflowTemplate; kind: ChildKind; name: string }

export interface PlanInput {
  spec: WorkflowSpec;
  status: WorkflowStatus | undefined;
  /** The value of the Workflow's abort annotation, when it has one. */
  abortRequest: string | undefined;
  /** By node name; nodes that have not ended and have an object. A node absent here is not observed. */
  observations: ReadonlyMap<string, Observation>;
  /** The name of a node's object: `<workflow>-<node>`, shortened (children.ts). */
  objectName: (node: string) => string;
  nowMs: number;
  generation: number;
}

export interface PlannedEvent { type: 'Normal' | 'Warning'; reason: string; message: string }

export interface Plan {
  status: WorkflowStatus;
  create: Creation[];
  /** Chaos objects to give the abort annotation, with its value. */
  abort: { kind: ChaosStepKind; name: string; reason: string }[];
  /** StatusChecks and Schedules to delete. */
  remove: { kind: 'StatusCheck' | 'Schedule'; name: string }[];
  events: PlannedEvent[];
  /** The earliest wall time a deadline or a Suspend's end needs a look; undefined when only changes matter. */
  wakeAtMs: number | undefined;
  /** Whether status changed: an unchanged plan needs no write. */
  changed: boolean;
}

const TERMINAL_WORKFLOW: ReadonlySet<string> = new Set(['Finished', 'Aborted', 'Failed']);
const CHAOS_ENDED: ReadonlySet<string> = new Set(['Finished', 'Aborted', 'Failed']);
const CHAOS_STEP_KINDS: ReadonlySet<string> = new Set(scheduleTemplateTypeValues);
const isChaos = (type: string): type is ChaosStepKind => CHAOS_STEP_KINDS.has(type);
export const hasEndedNode = (node: WorkflowNode): boolean => node.endTime !== undefined;
const iso = (ms: number): string => new Date(ms).toISOString();

type Ending = { mode: 'Aborted' | 'Failed'; reason: string; message: string };

/** A StatusCheck's result from how it completed: only a Synchronous check that never reached success has failed by its duration. */
export function statusCheckResult(completedReason: string, mode: string | undefined): 'Success' | 'Failure' {
  if (completedReason === 'FailureThresholdExceed') return 'Failure';
  if (completedReason === 'DurationExceed' && mode !== 'Continuous') return 'Failure';
  return 'Success';
}

/** Every expression of every branch, parsed: the first bad one, named, or undefined. */
function invalidExpression(spec: WorkflowSpec): string | undefined {
  for (const t of spec.templates) {
    for (const b of t.conditionalBranches ?? []) {
      try {
        checkExpression(b.expression ?? '');
      } catch (error) {
        if (!(error instanceof ExpressionError)) throw error;
        return `template ${t.name}: branch to ${b.target}: expression ${JSON.stringify(b.expression ?? '')}: ${error.message}`;
      }
    }
  }
  return undefined;
}

export function planWorkflow(input: PlanInput): Plan {
  const { spec, nowMs } = input;
  const previous = input.status ?? {};
  const status: WorkflowStatus = structuredClone(previous);
  const plan: Plan = { status, create: [], abort: [], remove: [], events: [], wakeAtMs: undefined, changed: false };
  if (TERMINAL_WORKFLOW.has(status.phase ?? '')) return plan;
  const templates = new Map(spec.templates.map((t) => [t.name, t]));
  const nodes: WorkflowNode[] = status.nodes ?? [];
  status.nodes = nodes;
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const condition = (type: WorkflowCondition['type'], value: 'True' | 'False', reason: string, message: string): void => {
    status.conditions = setCondition(status.conditions, { type, status: value, reason, message, observedGeneration: input.generation }, nowMs);
  };
  const removeOnce = (kind: 'StatusCheck' | 'Schedule', name: string): void => {
    if (!plan.remove.some((r) => r.name === name)) plan.remove.push({ kind, name });
  };
  const wake = (ms: number): void => {
    plan.wakeAtMs = plan.wakeAtMs === undefined ? ms : Math.min(plan.wakeAtMs, ms);
  };

  let ending: Ending | undefined;
  /** Whether the current pass changed anything: the passes repeat until one does not. */
  let progress = false;
  for (const type of ['Failed', 'Aborted'] as const) {
    const c = status.conditions?.find((x) => x.type === type && x.status === 'True');
    if (c) ending = { mode: type, reason: c.reason, message: c.message };
  }
  const beginEnding = (next: Ending): void => {
    if (ending !== undefined) return;
    ending = next;
    condition(next.mode, 'True', next.reason, next.message);
    plan.events.push({ type: 'Warning', reason: next.mode === 'Aborted' ? 'Aborting' : 'Failing', message: next.message });
  };

  function startNode(template: WorkflowTemplate, parent: WorkflowNode | undefined): WorkflowNode | undefined {
    if (nodes.length >= MAX_NODES) {
      beginEnding({ mode: 'Failed', reason: 'TooManyNodes', message: `template ${template.name} would be node ${MAX_NODES + 1}; a workflow runs at most ${MAX_NODES} nodes` });
      return undefined;
    }
    const runs = nodes.filter((n) => n.template === template.name).length;
    const name = runs === 0 ? template.name : `${template.name}-${runs + 1}`;
    const node: WorkflowNode = { name, template: template.name, templateType: template.templateType, phase: 'Running', startTime: iso(nowMs) };
    if (parent) {
      node.parent = parent.name;
      parent.children = [...(parent.children ?? []), name];
    }
    if (template.deadline !== undefined) node.deadlineTime = iso(nowMs + parseDuration(template.deadline));
    const kind = template.templateType;
    if (isChaos(kind) || kind === 'StatusCheck' || kind === 'Schedule') {
      node.object = { kind, name: input.objectName(name) };
      plan.create.push({ node: name, template, kind, name: node.object.name });
    } else if (kind !== 'Serial' && kind !== 'Parallel' && kind !== 'Suspend') {
      node.phase = 'Failed';
      node.endReason = 'Failed';
      node.endTime = iso(nowMs);
      node.message = `${kind} is not a template type kerris has`;
    }
    nodes.push(node);
    byName.set(name, node);
    return node;
  }

  function end(node: WorkflowNode, phase: WorkflowNodePhase, reason: WorkflowNodeEndReason, message?: string): void {
    node.phase = phase;
    node.endReason = reason;
    node.endTime = iso(nowMs);
    if (message !== undefined) node.message = message;
    progress = true;
  }
  /** The phase a node being ended gets once it has: Aborted when the workflow is aborting it, else Succeeded. */
  const endedPhase = (node: WorkflowNode): WorkflowNodePhase => (node.endReason === 'Aborted' ? 'Aborted' : 'Succeeded');
  /** Marks a node as being ended; what that means for its object happens in step(). */
  function requestEnd(node: WorkflowNode, reason: WorkflowNodeEndReason): void {
    if (hasEndedNode(node) || node.endReason !== undefined) return;
    node.endReason = reason;
    progress = true;
  }
  const childrenOf = (node: WorkflowNode): WorkflowNode[] => (node.children ?? []).flatMap((c) => byName.get(c) ?? []);

  /** Advances one node that has not ended; returns nothing, sets `progress` when it changed anything. */
  function step(node: WorkflowNode): void {
    const template = templates.get(node.template);
    if (template === undefined) {
      end(node, 'Failed', 'Failed', `template ${node.template} is gone from the spec`);
      return;
    }
    const type = node.templateType;
    const deadlineMs = node.deadlineTime === undefined ? undefined : parseTime(node.deadlineTime);
    if (node.endReason === undefined && deadlineMs !== undefined) {
      if (nowMs < deadlineMs) wake(deadlineMs);
      // A Suspend's deadline is its own end (Completed), not a cut short.
      else if (type !== 'Suspend') requestEnd(node, 'DeadlineExceeded');
    }
    const endingAs = node.endReason;
    const kids = childrenOf(node);
    if (endingAs !== undefined) {
      for (const k of kids) requestEnd(k, endingAs === 'Aborted' ? 'Aborted' : 'ParentEnded');
    }
    const observed = input.observations.get(node.name);
    if (isChaos(type)) {
      const name = node.object?.name ?? input.objectName(node.name);
      if (observed === undefined) return; // created in this pass: seen next time
      if (observed.kind === 'missing') {
        if (endingAs !== undefined) end(node, endedPhase(node), endingAs, `its ${type} ${name} is gone`);
        else end(node, 'Failed', 'Failed', `its ${type} ${name} was deleted before it ended`);
        return;
      }
      if (observed.kind !== 'chaos') return;
      if (observed.phase !== undefined && CHAOS_ENDED.has(observed.phase)) {
        const byDeadline = endingAs === 'DeadlineExceeded' || endingAs === 'ParentEnded';
        node.score = byDeadline && observed.phase === 'Aborted' ? observed.guardScore ?? 100 : observed.verdict?.score ?? (observed.phase === 'Finished' ? 100 : 0);
        if (observed.phase === 'Failed') end(node, 'Failed', 'Failed', observed.message ?? `its ${type} failed`);
        else if (endingAs !== undefined) end(node, endedPhase(node), endingAs);
        else if (observed.phase === 'Aborted') end(node, 'Aborted', 'Aborted', observed.verdict?.reason ?? observed.message ?? `its ${type} was aborted`);
        else end(node, 'Succeeded', 'Completed');
        return;
      }
      if (endingAs !== undefined && !observed.abortRequested) {
        if (!plan.abort.some((a) => a.name === name)) plan.abort.push({ kind: type, name, reason: abortReason(node, endingAs) });
      }
      return;
    }
    if (type === 'Suspend') {
      if (endingAs !== undefined) end(node, endedPhase(node), endingAs);
      else if (deadlineMs !== undefined && nowMs >= deadlineMs) end(node, 'Succeeded', 'Completed');
      return;
    }
    if (type === 'Schedule') {
      if (observed === undefined || observed.kind !== 'schedule') return;
      if (endingAs === undefined) {
        if (!observed.exists) end(node, 'Failed', 'Failed', `its Schedule ${node.object?.name ?? ''} was deleted before its deadline`);
        return;
      }
      // Deleted, so no slot runs any more; its active runs are aborted here rather than left to the garbage
      // collector, and the step ends once none holds a fault.
      if (observed.exists) removeOnce('Schedule', node.object?.name ?? '');
      for (const run of observed.activeRuns) {
        if (!run.abortRequested && !plan.abort.some((a) => a.name === run.name)) plan.abort.push({ kind: run.kind, name: run.name, reason: abortReason(node, endingAs) });
      }
      if (!observed.exists && observed.activeRuns.length === 0) end(node, endedPhase(node), endingAs);
      return;
    }
    if (type === 'StatusCheck') {
      stepStatusCheck(node, template, observed, endingAs, kids);
      return;
    }
    // Serial and Parallel.
    const names = template.children ?? [];
    if (endingAs === undefined && ending === undefined) {
      if (type === 'Parallel' && node.children === undefined) {
        node.children = [];
        for (const c of names) {
          const t = templates.get(c);
          if (t) startNode(t, node);
        }
        progress = true;
        return;
      }
      if (type === 'Serial' && kids.every(hasEndedNode) && kids.length < names.length) {
        if (node.children === undefined) node.children = [];
        const t = templates.get(names[kids.length] ?? '');
        if (t) startNode(t, node);
        progress = true;
        return;
      }
    }
    if (kids.every(hasEndedNode) && (endingAs !== undefined || ending !== undefined || kids.length >= names.length)) {
      if (endingAs !== undefined) end(node, endedPhase(node), endingAs);
      else if (ending !== undefined) end(node, 'Aborted', 'Aborted');
      else end(node, 'Succeeded', 'Completed');
    }
  }

  function stepStatusCheck(node: WorkflowNode, template: WorkflowTemplate, observed: Observation | undefined, endingAs: WorkflowNodeEndReason | undefined, kids: WorkflowNode[]): void {
    const name = node.object?.name ?? '';
    if (node.result === undefined) {
      if (observed === undefined) return;
      if (observed.kind === 'statuscheck' && observed.completedReason !== undefined) {
        node.result = statusCheckResult(observed.completedReason, template.statusCheck?.mode);
        node.message = observed.message ?? observed.completedReason;
        progress = true;
      } else if (endingAs === 'DeadlineExceeded') {
        // The check did not complete within the step's deadline: judged as if its duration had passed.
        node.result = statusCheckResult('DurationExceed', template.statusCheck?.mode);
        node.message = 'the step\'s deadline passed before the check completed';
        removeOnce('StatusCheck', name);
        progress = true;
      } else if (observed.kind === 'missing') {
        end(node, endingAs === undefined ? 'Failed' : endedPhase(node), endingAs ?? 'Failed', endingAs === undefined ? `its StatusCheck ${name} was deleted before it completed` : undefined);
        return;
      } else if (endingAs !== undefined) {
        // No faults to take away: the check is stopped and the step ends at once.
        removeOnce('StatusCheck', name);
        end(node, endedPhase(node), endingAs);
        return;
      } else {
        return;
      }
      if (node.result === 'Failure' && template.abortWithStatusCheck === true) {
        beginEnding({ mode: 'Aborted', reason: 'StatusCheckFailed', message: `StatusCheck ${node.name} failed (${node.message ?? ''}) and has abortWithStatusCheck` });
      }
    }
    const result = node.result;
    if (node.children === undefined && endingAs === undefined && ending === undefined) {
      node.children = [];
      for (const b of template.conditionalBranches ?? []) {
        const target = templates.get(b.target);
        if (target && evaluateExpression(checkExpression(b.expression ?? ''), result)) startNode(target, node);
      }
      progress = true;
      return;
    }
    if (kids.every(hasEndedNode)) {
      const reason = endingAs ?? (ending === undefined ? 'Completed' : 'Aborted');
      end(node, reason === 'Aborted' ? 'Aborted' : 'Succeeded', reason);
    }
  }

  // The first look: validate what the apiserver cannot (expressions), then start the entry.
  if (status.startTime === undefined) {
    status.phase = 'Running';
    status.startTime = iso(nowMs);
    plan.changed = true;
    const invalid = invalidExpression(spec);
    const entry = templates.get(spec.entry);
    if (invalid !== undefined || entry === undefined) {
      const message = invalid ?? `entry ${spec.entry} is not a template`;
      condition('Failed', 'True', invalid === undefined ? 'InvalidSpec' : 'InvalidExpression', message);
      finish('Failed', message);
      plan.events.push({ type: 'Warning', reason: 'Failed', message });
      return plan;
    }
    const node = startNode(entry, undefined);
    status.entryNode = node?.name ?? entry.name;
    plan.events.push({ type: 'Normal', reason: 'Started', message: `started at ${entry.name}` });
  }

  if (input.abortRequest !== undefined) {
    beginEnding({ mode: 'Aborted', reason: 'AbortRequested', message: `abort requested: ${input.abortRequest || 'annotation chaos.kerris.dev/abort'}` });
  }

  progress = true;
  for (let pass = 0; progress && pass < 4 * MAX_NODES; pass += 1) {
    progress = false;
    if (ending === undefined) {
      const failed = nodes.find((n) => n.phase === 'Failed');
      const aborted = nodes.find((n) => n.phase === 'Aborted');
      if (failed) beginEnding({ mode: 'Failed', reason: 'StepFailed', message: `step ${failed.name} failed: ${failed.message ?? ''}` });
      else if (aborted) beginEnding({ mode: 'Aborted', reason: 'StepAborted', message: `step ${aborted.name} was aborted: ${aborted.message ?? ''}` });
    }
    if (ending !== undefined) for (const n of nodes) requestEnd(n, 'Aborted');
    for (const n of [...nodes]) if (!hasEndedNode(n)) step(n);
    if (progress) plan.changed = true;
  }

  const entry = status.entryNode === undefined ? undefined : byName.get(status.entryNode);
  if (entry !== undefined && hasEndedNode(entry) && nodes.every(hasEndedNode)) {
    const phase: WorkflowPhase = ending?.mode ?? 'Finished';
    finish(phase, ending?.message ?? 'every step ended');
    plan.events.push({ type: phase === 'Finished' ? 'Normal' : 'Warning', reason: phase, message: `${status.verdict?.result ?? ''}: ${status.verdict?.reason ?? ''}` });
  }
  if (JSON.stringify(status) !== JSON.stringify(previous)) plan.changed = true;
  if (plan.changed) status.observedGeneration = input.generation;
  return plan;

  function finish(phase: WorkflowPhase, message: string): void {
    status.phase = phase;
    status.endTime = iso(nowMs);
    condition('Accomplished', phase === 'Finished' ? 'True' : 'False', phase === 'Finished' ? 'AllStepsEnded' : phase, message);
    status.verdict = verdictOf(phase, nodes, message, nowMs);
    plan.changed = true;
  }
}

function abortReason(node: WorkflowNode, reason: WorkflowNodeEndReason): string {
  if (reason === 'DeadlineExceeded') return `workflow step ${node.name}: its deadline passed`;
  if (reason === 'ParentEnded') return `workflow step ${node.name}: the step above it ended`;
  return `workflow step ${node.name}: the workflow is ending`;
}

/** Passed, Failed or Aborted as the phase says; the score is the mean of the chaos steps' scores. */
export function verdictOf(phase: WorkflowPhase, nodes: readonly WorkflowNode[], message: string, nowMs: number): WorkflowVerdict {
  const scores = nodes.filter((n) => isChaos(n.templateType) && n.score !== undefined).map((n) => n.score ?? 0);
  const result = phase === 'Finished' ? 'Passed' : phase === 'Failed' ? 'Failed' : 'Aborted';
  const score = scores.length === 0 ? (result === 'Passed' ? 100 : 0) : Math.round(scores.reduce((a, b) => a + b, 0) / scores.length);
  const reason = phase === 'Finished'
    ? `every step ended; ${scores.length} chaos step(s)${scores.length === 0 ? '' : `, mean score ${score}`}`
    : message;
  return { result, score, reason: reason.slice(0, 1024), concludedAt: iso(nowMs) };
}
