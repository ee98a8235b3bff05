/** The Workflow planner: steps started, ended, aborted by deadline or by the workflow, and the verdict, without a cluster. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { WorkflowSpec, WorkflowStatus, WorkflowTemplate } from '../../src/api/generated/types.ts';
import { childName } from '../../src/controller/workflow/children.ts';
import { checkExpression, evaluateExpression, ExpressionError } from '../../src/controller/workflow/expression.ts';
import { planWorkflow, statusCheckResult, type Observation, type Plan } from '../../src/controller/workflow/plan.ts';

const T0 = Date.parse('2026-12-01T10:00:00.000Z');
const kill: WorkflowTemplate = { name: 'kill', templateType: 'PodChaos', podChaos: { action: 'pod-kill', mode: 'one', selector: {} } };
const freeze: WorkflowTemplate = { name: 'freeze', templateType: 'PodChaos', deadline: '10s', podChaos: { action: 'pod-failure', mode: 'one', selector: {}, duration: '10m' } };
const pause: WorkflowTemplate = { name: 'pause', templateType: 'Suspend', deadline: '5s' };
const check: WorkflowTemplate = {
  name: 'check', templateType: 'StatusCheck', abortWithStatusCheck: true, deadline: '30s',
  statusCheck: { http: { url: 'http://x', criteria: { statusCode: '200' } } },
};
const serial = (...children: string[]): WorkflowTemplate => ({ name: 'main', templateType: 'Serial', children });
const parallel = (...children: string[]): WorkflowTemplate => ({ name: 'main', templateType: 'Parallel', children });
const spec = (...templates: WorkflowTemplate[]): WorkflowSpec => ({ entry: 'main', templates });

const chaos = (phase: string, extra: Partial<Extract<Observation, { kind: 'chaos' }>> = {}): Observation => ({ kind: 'chaos', phase, abortRequested: false, ...extra });

/** Runs one reconcile's plan. */
function plan(workflow: WorkflowSpec, status: WorkflowStatus | undefined, nowMs: number, observations: Record<string, Observation> = {}, abortRequest?: string): Plan {
  return planWorkflow({ spec: workflow, status, abortRequest, observations: new Map(Object.entries(observations)), objectName: (n) => childName('wf', n), nowMs, generation: 1 });
}
const node = (p: Plan, name: string) => p.status.nodes?.find((n) => n.name === name);

describe('workflow planner', () => {
  it('Serial: pod-kill, a 5 s Suspend, a second chaos, each started when the one before ended', () => {
    const w = spec(serial('kill', 'pause', 'freeze'), kill, pause, freeze);
    let p = plan(w, undefined, T0);
    assert.equal(p.status.phase, 'Running');
    assert.deepEqual(p.create.map((c) => [c.kind, c.name]), [['PodChaos', 'wf-kill']]);
    assert.equal(node(p, 'main')?.startTime, '2026-12-01T10:00:00.000Z');
    p = plan(w, p.status, T0 + 1000, { kill: chaos('Running') });
    assert.equal(p.create.length, 0);
    assert.equal(p.changed, false);
    p = plan(w, p.status, T0 + 3000, { kill: chaos('Finished', { verdict: { score: 100, reason: 'ok' } }) });
    assert.equal(node(p, 'kill')?.phase, 'Succeeded');
    assert.equal(node(p, 'kill')?.endReason, 'Completed');
    assert.equal(node(p, 'kill')?.score, 100);
    assert.equal(node(p, 'pause')?.startTime, '2026-12-01T10:00:03.000Z');
    assert.equal(p.wakeAtMs, T0 + 8000, 'the Suspend ends 5 s after its recorded start');
    // A restarted controller reads the same start from status: too early, nothing changes.
    p = plan(w, p.status, T0 + 7999);
    assert.equal(node(p, 'pause')?.endTime, undefined);
    p = plan(w, p.status, T0 + 8000);
    assert.equal(node(p, 'pause')?.endTime, '2026-12-01T10:00:08.000Z');
    assert.equal(node(p, 'pause')?.endReason, 'Completed', 'a Suspend\'s deadline is its own end');
    assert.deepEqual(p.create.map((c) => c.name), ['wf-freeze']);
    assert.deepEqual(node(p, 'main')?.children, ['kill', 'pause', 'freeze']);
    p = plan(w, p.status, T0 + 9000, { freeze: chaos('Finished', { verdict: { score: 80, reason: 'guards' } }) });
    assert.equal(p.status.phase, 'Finished');
    assert.equal(node(p, 'main')?.phase, 'Succeeded');
    assert.deepEqual(p.status.verdict && { result: p.status.verdict.result, score: p.status.verdict.score }, { result: 'Passed', score: 90 });
    assert.equal(p.status.conditions?.find((c) => c.type === 'Accomplished')?.status, 'True');
  });

  it('Parallel starts every child at once and ends when the last has', () => {
    const w = spec(parallel('kill', 'pause'), kill, pause);
    let p = plan(w, undefined, T0);
    assert.deepEqual(p.status.nodes?.map((n) => n.name), ['main', 'kill', 'pause']);
    assert.deepEqual(p.create.map((c) => c.name), ['wf-kill']);
    p = plan(w, p.status, T0 + 2000, { kill: chaos('Finished') });
    assert.equal(node(p, 'main')?.endTime, undefined, 'the Suspend still runs');
    p = plan(w, p.status, T0 + 5000);
    assert.equal(node(p, 'main')?.phase, 'Succeeded');
    assert.equal(p.status.phase, 'Finished');
  });

  it('a chaos step past its deadline gets the abort annotation and ends DeadlineExceeded, Succeeded, when its faults are gone', () => {
    const w = spec(serial('freeze'), freeze);
    let p = plan(w, undefined, T0);
    assert.equal(node(p, 'freeze')?.deadlineTime, '2026-12-01T10:00:10.000Z');
    assert.equal(p.wakeAtMs, T0 + 10_000);
    p = plan(w, p.status, T0 + 10_000, { freeze: chaos('Running') });
    assert.deepEqual(p.abort, [{ kind: 'PodChaos', name: 'wf-freeze', reason: 'workflow step freeze: its deadline passed' }]);
    assert.equal(node(p, 'freeze')?.phase, 'Running');
    assert.equal(node(p, 'freeze')?.endReason, 'DeadlineExceeded');
    p = plan(w, p.status, T0 + 10_300, { freeze: chaos('Recovering', { abortRequested: true }) });
    assert.equal(p.abort.length, 0, 'the annotation is set once');
    p = plan(w, p.status, T0 + 10_600, { freeze: chaos('Aborted', { abortRequested: true, verdict: { score: 0, reason: 'aborted' } }) });
    assert.equal(node(p, 'freeze')?.phase, 'Succeeded');
    assert.equal(node(p, 'freeze')?.endTime, '2026-12-01T10:00:10.600Z');
    assert.equal(node(p, 'freeze')?.score, 100, 'a deadline is not a failure: without guards it scores 100');
    assert.equal(p.status.verdict?.result, 'Passed');
  });

  it('a Serial past its deadline ends the running child (ParentEnded) and starts no more', () => {
    const w = spec({ ...serial('freeze', 'kill'), deadline: '3s' }, freeze, kill);
    let p = plan(w, undefined, T0);
    p = plan(w, p.status, T0 + 3000, { freeze: chaos('Running') });
    assert.equal(node(p, 'freeze')?.endReason, 'ParentEnded');
    assert.equal(p.abort[0]?.name, 'wf-freeze');
    p = plan(w, p.status, T0 + 3500, { freeze: chaos('Aborted', { abortRequested: true }) });
    assert.equal(node(p, 'kill'), undefined);
    assert.equal(node(p, 'main')?.endReason, 'DeadlineExceeded');
    assert.equal(p.status.phase, 'Finished');
  });

  it('a failed StatusCheck with abortWithStatusCheck aborts every running experiment, then the workflow is Aborted', () => {
    const w = spec(parallel('freeze', 'check'), freeze, check);
    let p = plan(w, undefined, T0);
    assert.deepEqual(p.create.map((c) => c.kind), ['PodChaos', 'StatusCheck']);
    p = plan(w, p.status, T0 + 4000, { freeze: chaos('Running'), check: { kind: 'statuscheck', completedReason: 'FailureThresholdExceed', message: 'HTTP 503' } });
    assert.equal(node(p, 'check')?.result, 'Failure');
    assert.deepEqual(p.abort.map((a) => a.name), ['wf-freeze']);
    assert.equal(p.status.conditions?.find((c) => c.type === 'Aborted')?.reason, 'StatusCheckFailed');
    assert.equal(p.status.phase, 'Running', 'Aborted only once the faults are gone');
    p = plan(w, p.status, T0 + 5000, { freeze: chaos('Aborted', { abortRequested: true }) });
    assert.equal(node(p, 'freeze')?.phase, 'Aborted');
    assert.equal(p.status.phase, 'Aborted');
    assert.equal(p.status.verdict?.result, 'Aborted');
  });

  it('the abort annotation on the Workflow aborts every step: experiments annotated, StatusChecks and Schedules deleted', () => {
    const sched: WorkflowTemplate = { name: 'sched', templateType: 'Schedule', deadline: '1m', schedule: { schedule: '@every 10s', type: 'PodChaos', podChaos: { action: 'pod-kill', mode: 'one', selector: {} } } };
    const w = spec(parallel('freeze', 'check', 'sched', 'pause'), freeze, check, sched, pause);
    let p = plan(w, undefined, T0);
    const run = { kind: 'PodChaos' as const, name: 'wf-sched-1796112000', abortRequested: false };
    p = plan(w, p.status, T0 + 1000, { freeze: chaos('Running'), check: { kind: 'statuscheck' }, sched: { kind: 'schedule', exists: true, activeRuns: [run] } }, 'game day over');
    assert.deepEqual(p.abort.map((a) => [a.name, a.reason]), [['wf-freeze', 'workflow step freeze: the workflow is ending'], ['wf-sched-1796112000', 'workflow step sched: the workflow is ending']]);
    assert.deepEqual(p.remove, [{ kind: 'StatusCheck', name: 'wf-check' }, { kind: 'Schedule', name: 'wf-sched' }]);
    assert.equal(node(p, 'pause')?.phase, 'Aborted');
    assert.equal(node(p, 'check')?.phase, 'Aborted');
    assert.equal(p.status.conditions?.find((c) => c.type === 'Aborted')?.message, 'abort requested: game day over');
    p = plan(w, p.status, T0 + 1500, { freeze: chaos('Aborted', { abortRequested: true }), sched: { kind: 'schedule', exists: false, activeRuns: [{ ...run, abortRequested: true }] } }, 'game day over');
    assert.equal(node(p, 'sched')?.endTime, undefined, 'a Schedule step ends when no run of it holds a fault');
    assert.equal(p.status.phase, 'Running');
    p = plan(w, p.status, T0 + 2000, { sched: { kind: 'schedule', exists: false, activeRuns: [] } }, 'game day over');
    assert.equal(p.status.phase, 'Aborted');
    assert.ok(p.status.nodes?.every((n) => n.phase === 'Aborted'), JSON.stringify(p.status.nodes));
  });

  it('a failed experiment fails the workflow; an experiment aborted by its guard aborts it', () => {
    const w = spec(parallel('kill', 'freeze'), kill, freeze);
    let p = plan(w, plan(w, undefined, T0).status, T0 + 1000, { kill: chaos('Failed', { message: 'no pod matched' }), freeze: chaos('Running') });
    assert.equal(p.status.conditions?.find((c) => c.type === 'Failed')?.message, 'step kill failed: no pod matched');
    assert.equal(p.abort[0]?.name, 'wf-freeze');
    p = plan(w, p.status, T0 + 2000, { freeze: chaos('Aborted', { abortRequested: true }) });
    assert.equal(p.status.phase, 'Failed');
    assert.equal(p.status.verdict?.result, 'Failed');

    let q = plan(w, plan(w, undefined, T0).status, T0 + 1000, { kill: chaos('Running'), freeze: chaos('Aborted', { verdict: { score: 40, reason: 'guard web breached: HTTP 503' } }) });
    assert.equal(q.status.conditions?.find((c) => c.type === 'Aborted')?.reason, 'StepAborted');
    assert.equal(q.abort[0]?.name, 'wf-kill');
    q = plan(w, q.status, T0 + 2000, { kill: chaos('Aborted', { abortRequested: true, verdict: { score: 0, reason: 'aborted' } }) });
    assert.equal(q.status.phase, 'Aborted');
    assert.equal(q.status.verdict?.score, 20, 'the mean of the chaos steps\' scores');
  });

  it('conditionalBranches after a StatusCheck start the targets whose expression holds over result', () => {
    const probe: WorkflowTemplate = {
      name: 'probe', templateType: 'StatusCheck', statusCheck: { http: { url: 'http://x', criteria: { statusCode: '200' } } },
      conditionalBranches: [{ target: 'kill', expression: 'result == "Failure"' }, { target: 'pause', expression: "result != 'Failure'" }, { target: 'freeze' }],
    };
    const w: WorkflowSpec = { entry: 'probe', templates: [probe, kill, pause, freeze] };
    let p = plan(w, undefined, T0);
    p = plan(w, p.status, T0 + 1000, { probe: { kind: 'statuscheck', completedReason: 'SuccessThresholdExceed' } });
    assert.equal(node(p, 'probe')?.result, 'Success');
    assert.deepEqual(node(p, 'probe')?.children, ['pause', 'freeze']);
    assert.equal(node(p, 'probe')?.endTime, undefined, 'it ends when its branches have');
  });

  it('an expression outside the language fails the workflow before anything runs', () => {
    const bad: WorkflowTemplate = { ...check, conditionalBranches: [{ target: 'kill', expression: 'result == ' }] };
    const p = plan({ entry: 'check', templates: [bad, kill] }, undefined, T0);
    assert.equal(p.status.phase, 'Failed');
    assert.equal(p.create.length, 0);
    const failed = p.status.conditions?.find((c) => c.type === 'Failed');
    assert.equal(failed?.reason, 'InvalidExpression');
    assert.match(failed?.message ?? '', /template check: branch to kill: expression "result == ": /);
  });

  it('a finished workflow is left alone, even with an abort annotation', () => {
    const w = spec(serial(), kill);
    const done = plan(w, undefined, T0);
    assert.equal(done.status.phase, 'Finished');
    const again = plan(w, done.status, T0 + 1000, {}, 'late');
    assert.equal(again.changed, false);
    assert.equal(again.status.phase, 'Finished');
  });

  it('a StatusCheck\'s result: Failure at its failure threshold, or a Synchronous one whose duration passed', () => {
    assert.equal(statusCheckResult('FailureThresholdExceed', 'Continuous'), 'Failure');
    assert.equal(statusCheckResult('DurationExceed', undefined), 'Failure');
    assert.equal(statusCheckResult('DurationExceed', 'Continuous'), 'Success');
    assert.equal(statusCheckResult('SuccessThresholdExceed', 'Synchronous'), 'Success');
  });

  it('child names are <workflow>-<node>, shortened with a hash past 63 characters', () => {
    assert.equal(childName('day', 'kill-2'), 'day-kill-2');
    const long = childName('a'.repeat(60), 'kill');
    assert.equal(long.length, 63);
    assert.notEqual(long, childName('a'.repeat(60), 'kilt'));
  });
});

describe('conditional branch expressions', () => {
  it('evaluates ==, !=, &&, ||, !, parentheses and literals over result', () => {
    const holds = (text: string, result: 'Success' | 'Failure') => evaluateExpression(checkExpression(text), result);
    assert.equal(holds('result == "Success"', 'Success'), true);
    assert.equal(holds("result != 'Success'", 'Success'), false);
    assert.equal(holds('!(result == "Success") || false', 'Failure'), true);
    assert.equal(holds('result == "Failure" && true', 'Failure'), true);
    assert.equal(holds('', 'Failure'), true);
  });

  it('refuses what is outside the language, naming why', () => {
    assert.throws(() => checkExpression('exitCode == 0'), ExpressionError);
    assert.throws(() => checkExpression('result'), /is a string where a condition/);
    assert.throws(() => checkExpression('(result == "x"'), /not closed/);
    assert.throws(() => checkExpression('result === "x"'), ExpressionError);
  });
});
