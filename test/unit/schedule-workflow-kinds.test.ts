/**
 * StressChaos and NodeChaos as Schedule and Workflow templates, without a cluster: the schema each embedding gets,
 * the admission checks an embedded spec is held to, the objects a Workflow step creates and how the planner runs them.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { requesterAccessPolicy } from '../../src/api/admission.ts';
import type { Workflow, WorkflowSpec, WorkflowTemplate } from '../../src/api/generated/types.ts';
import { chaosApi } from '../../src/api/group.ts';
import { nodeChaos } from '../../src/api/nodechaos.ts';
import { schedule } from '../../src/api/schedule.ts';
import type { ObjectSchema, Schema } from '../../src/api/schema.ts';
import { workflow } from '../../src/api/workflow.ts';
import { chaosResources, isChaosKind, specField } from '../../src/controller/schedule/chaos-objects.ts';
import { childName, childObject } from '../../src/controller/workflow/children.ts';
import { planWorkflow, type Observation, type Plan } from '../../src/controller/workflow/plan.ts';

const T0 = Date.parse('2026-12-01T10:00:00.000Z');

interface Validation { expression: string; message?: string; messageExpression?: string }
const validations = (): Validation[] => (parse(requesterAccessPolicy(chaosApi).split('\n---\n')[0] ?? '') as { spec: { validations: Validation[] } }).spec.validations;

function objectField(parent: ObjectSchema, name: string): ObjectSchema {
  const field: Schema | undefined = parent.fields[name]?.schema;
  assert.ok(field?.kind === 'object', `${parent.typeName}.${name} is an object`);
  return field;
}

function templateSchema(): ObjectSchema {
  const templates = workflow.spec.fields['templates']?.schema;
  assert.ok(templates?.kind === 'array' && templates.items.kind === 'object');
  return templates.items;
}

describe('StressChaos and NodeChaos in Schedules and Workflows', () => {
  it('are embeddable under Chaos Mesh\'s field names, and the controller creates each kind it is given', () => {
    for (const [kind, field] of [['StressChaos', 'stressChaos'], ['NodeChaos', 'nodeChaos']] as const) {
      assert.ok(schedule.spec.fields[field], `Schedule.spec.${field}`);
      assert.ok(templateSchema().fields[field], `a Workflow template's ${field}`);
      assert.ok(isChaosKind(kind));
      assert.equal(specField[kind], field);
      assert.equal(chaosResources[kind].kind, kind);
    }
    assert.equal(isChaosKind('IOChaos'), false);
  });

  it('keeps NodeChaos\'s duration required in a Schedule, and lets a Workflow step take it from its deadline', () => {
    assert.equal(nodeChaos.spec.fields['duration']?.required, true);
    assert.equal(objectField(schedule.spec, 'nodeChaos').fields['duration']?.required, true, 'a run has no deadline to end it');
    const scheduleStep = objectField(templateSchema(), 'schedule');
    assert.equal(objectField(scheduleStep, 'nodeChaos').fields['duration']?.required, true, 'a Schedule step\'s runs have no deadline either');
    assert.equal(objectField(templateSchema(), 'nodeChaos').fields['duration']?.required, false);
    const rule = templateSchema().rules?.find((r) => r.rule.includes('has(self.nodeChaos.duration)'));
    assert.equal(rule?.rule, "self.templateType != 'NodeChaos' || !has(self.nodeChaos) || has(self.deadline) || has(self.nodeChaos.duration)");
    assert.deepEqual(rule?.message, { text: 'a NodeChaos step needs deadline (or nodeChaos.duration), so that its fault ends on its own' });
    // StressChaos's duration is optional anyway: no rule asks a StressChaos step for one.
    assert.equal(templateSchema().rules?.some((r) => r.rule.includes('stressChaos.duration')), false);
  });

  it('holds an embedded NodeChaos to its cluster-wide checks, asked once without a namespace', () => {
    const all = validations();
    const patch = all.filter((v) => v.message?.startsWith('you may not patch nodes cluster-wide'));
    assert.deepEqual(patch.map((v) => v.message), [
      'you may not patch nodes cluster-wide, as this NodeChaos needs; kerris does only what its requester could do by hand',
      'you may not patch nodes cluster-wide, as this Schedule needs for its nodeChaos; kerris does only what its requester could do by hand',
      'you may not patch nodes cluster-wide, as a template of this Workflow needs for its nodeChaos; kerris does only what its requester could do by hand',
      'you may not patch nodes cluster-wide, as a Schedule template of this Workflow needs for its nodeChaos; kerris does only what its requester could do by hand',
    ]);
    assert.equal(patch[1]?.expression, "request.kind.kind != 'Schedule' || [object.spec].all(h, !has(h.nodeChaos)) || authorizer.group('').resource('nodes').check('patch').allowed()");
    assert.ok(all.some((v) => v.expression === "request.kind.kind != 'Workflow' || object.spec.templates.all(h, !has(h.nodeChaos)) || authorizer.group('').resource('pods').subresource('eviction').check('create').allowed()"));
    for (const v of all.filter((x) => x.message?.includes('for its nodeChaos'))) assert.doesNotMatch(v.expression, /\.namespace\(/, v.message);
  });

  it('asks update nodes/status only of kubelet-stop, node-network and node-reboot NodeChaos, each by its own condition over each spec\'s own path', () => {
    const status = validations().filter((v) => v.message?.startsWith('you may not update nodes/status cluster-wide'));
    const paths = [
      (a: string) => `request.kind.kind != 'NodeChaos' || !(object.spec.action == '${a}')`,
      (a: string) => `request.kind.kind != 'Schedule' || [object.spec].all(h, !has(h.nodeChaos) || !(h.nodeChaos.action == '${a}'))`,
      (a: string) => `request.kind.kind != 'Workflow' || object.spec.templates.all(h, !has(h.nodeChaos) || !(h.nodeChaos.action == '${a}'))`,
      (a: string) => `request.kind.kind != 'Workflow' || object.spec.templates.filter(t, has(t.schedule)).map(t, t.schedule).all(h, !has(h.nodeChaos) || !(h.nodeChaos.action == '${a}'))`,
    ];
    // The authorizer is asked only when the action is the check's: the condition before it short-circuits.
    const check = " || authorizer.group('').resource('nodes').subresource('status').check('update').allowed()";
    assert.deepEqual(status.map((v) => v.expression), paths.flatMap((path) => ['kubelet-stop', 'node-network', 'node-reboot'].map((a) => `${path(a)}${check}`)));
    assert.equal(status[3]?.message, 'you may not update nodes/status cluster-wide, as this Schedule needs for its nodeChaos (kubelet-stop); kerris does only what its requester could do by hand');
  });

  it('holds an embedded StressChaos to create pods/exec and list pods where its selector reaches', () => {
    const messages = validations().map((v) => v.message ?? '');
    for (const text of [
      'you may not create pods/exec in every namespace this Schedule reaches with its stressChaos',
      'you may not list pods in every namespace a template of this Workflow reaches with its stressChaos',
      'you may not create pods/exec in every namespace a Schedule template of this Workflow reaches with its stressChaos',
    ]) assert.ok(messages.some((m) => m.startsWith(text)), text);
  });

  describe('a Workflow step', () => {
    const owner: Workflow = { apiVersion: 'chaos.kerris.dev/v1alpha1', kind: 'Workflow', metadata: { name: 'wf', namespace: 'shop', uid: 'u-1' }, spec: { entry: 'main', templates: [] } };
    const drainSpec = { action: 'node-drain', mode: 'one', selector: { nodeSelectors: { pool: 'a' } } } as const;
    const drain: WorkflowTemplate = { name: 'drain', templateType: 'NodeChaos', deadline: '2m', nodeChaos: drainSpec };
    const stress: WorkflowTemplate = { name: 'stress', templateType: 'StressChaos', deadline: '30s', stressChaos: { mode: 'one', selector: {}, stressors: { cpu: { workers: 1 } } } };

    it('creates a NodeChaos whose duration is the step\'s deadline when it sets none, and its own otherwise', () => {
      const object = childObject(owner, 'NodeChaos', 'wf-drain', 'drain', drain);
      assert.equal(object.kind, 'NodeChaos');
      assert.equal((object.spec as { duration?: string }).duration, '2m');
      assert.equal(object.metadata.ownerReferences?.[0]?.kind, 'Workflow');
      const own = childObject(owner, 'NodeChaos', 'wf-drain', 'drain', { ...drain, nodeChaos: { ...drainSpec, duration: '45s' } });
      assert.equal((own.spec as { duration?: string }).duration, '45s');
      assert.equal((childObject(owner, 'StressChaos', 'wf-stress', 'stress', stress).spec as { duration?: string }).duration, '30s');
    });

    it('runs as a chaos step: created, aborted at its deadline under its own kind, ended when its faults are gone', () => {
      const w: WorkflowSpec = { entry: 'main', templates: [{ name: 'main', templateType: 'Serial', children: ['stress', 'drain'] }, stress, drain] };
      const run = (status: Plan['status'] | undefined, nowMs: number, observations: Record<string, Observation> = {}): Plan =>
        planWorkflow({ spec: w, status, abortRequest: undefined, observations: new Map(Object.entries(observations)), objectName: (n) => childName('wf', n), nowMs, generation: 1 });
      let p = run(undefined, T0);
      assert.deepEqual(p.create.map((c) => [c.kind, c.name]), [['StressChaos', 'wf-stress']]);
      p = run(p.status, T0 + 5_000, { stress: { kind: 'chaos', phase: 'Finished', abortRequested: false, verdict: { score: 100, reason: 'ok' } } });
      assert.deepEqual(p.create.map((c) => [c.kind, c.name]), [['NodeChaos', 'wf-drain']]);
      p = run(p.status, T0 + 125_000, { drain: { kind: 'chaos', phase: 'Running', abortRequested: false } });
      assert.deepEqual(p.abort, [{ kind: 'NodeChaos', name: 'wf-drain', reason: 'workflow step drain: its deadline passed' }]);
      p = run(p.status, T0 + 126_000, { drain: { kind: 'chaos', phase: 'Aborted', abortRequested: true } });
      assert.equal(p.status.nodes?.find((n) => n.name === 'drain')?.endReason, 'DeadlineExceeded');
      assert.equal(p.status.phase, 'Finished');
      assert.equal(p.status.verdict?.score, 100, 'a step its deadline ended scores as its guards did');
    });
  });
});
