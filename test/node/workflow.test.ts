/**
 * Workflows end to end: kerris deployed on the test bed, the sample app, and Workflows of real steps. A Serial
 * workflow records each step's start and end in order and its Suspend lasts its deadline; a Parallel one starts its
 * steps together; a deadline ends a held pod-failure on time (the frozen pods answer HTTP again); a StatusCheck that
 * fails with abortWithStatusCheck aborts the running experiment and the whole workflow.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import type { PodChaos, Workflow, WorkflowNode, WorkflowTemplate } from '../../src/api/generated/types.ts';
import { clusterNode, type ClusterNode, type ControlPlane } from '../testbed/index.ts';
import { deployKerris, removeKerris } from '../testbed/kerris.ts';
import { kubectl, kubectlJson } from '../testbed/kubectl.ts';
import { answersHttp, appPods, SAMPLE_APP } from '../testbed/sample-app.ts';
import { chaosFixtures, type ChaosFixtures } from './chaos-fixtures.ts';

let plane: ControlPlane;
let node: ClusterNode;
let fx: ChaosFixtures;

const selector = { labelSelectors: { app: SAMPLE_APP } };

async function applyWorkflow(namespace: string, name: string, entry: string, templates: WorkflowTemplate[]): Promise<void> {
  const manifest = { apiVersion: 'chaos.kerris.dev/v1alpha1', kind: 'Workflow', metadata: { name, namespace }, spec: { entry, templates } };
  await kubectl(plane, ['apply', '-f', '-'], { input: stringify(manifest) });
}

const getWorkflow = (namespace: string, name: string): Promise<Workflow> => kubectlJson<Workflow>(plane, ['get', 'workflows', name, '-n', namespace]);

async function waitWorkflow(namespace: string, name: string, what: string, done: (w: Workflow) => boolean, timeoutMs = 120_000): Promise<Workflow> {
  const deadline = Date.now() + timeoutMs;
  let last: Workflow | undefined;
  while (Date.now() < deadline) {
    last = await getWorkflow(namespace, name);
    if (done(last)) return last;
    await new Promise((r) => setTimeout(r, 250));
  }
  const steps = await kubectlJson<{ items: PodChaos[] }>(plane, ['get', 'podchaos', '-n', namespace]);
  const stepStatus = steps.items.map((c) => ({ name: c.metadata.name, phase: c.status?.phase, targets: c.status?.targets?.map((t) => [t.name, t.phase, t.message]), conditions: c.status?.conditions?.filter((x) => x.status === 'True') }));
  assert.fail(`workflow ${namespace}/${name}: ${what} not reached in ${timeoutMs} ms; status: ${JSON.stringify(last?.status, null, 1)}; its experiments: ${JSON.stringify(stepStatus, null, 1)}`);
}

const ended = (w: Workflow): boolean => ['Finished', 'Aborted', 'Failed'].includes(w.status?.phase ?? '');

function nodeOf(w: Workflow, name: string): WorkflowNode & { startMs: number; endMs: number } {
  const n = w.status?.nodes?.find((x) => x.name === name);
  assert.ok(n?.startTime && n.endTime, `node ${name} has a start and an end: ${JSON.stringify(n)}`);
  return { ...n, startMs: Date.parse(n.startTime), endMs: Date.parse(n.endTime) };
}

async function podIps(namespace: string): Promise<string[]> {
  const pods = await appPods(plane, namespace);
  return Promise.all(pods.map(async (p) => (await kubectlJson<{ status: { podIP?: string } }>(plane, ['get', 'pod', p.name, '-n', namespace])).status.podIP ?? ''));
}

/** Polls until check holds; returns the wall time it first did. */
async function when(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return Date.now();
    if (Date.now() > deadline) assert.fail(`${what} not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('workflows on the real cluster', { timeout: 900_000 }, () => {
  before(async () => {
    ({ plane, node } = await clusterNode());
    fx = chaosFixtures(plane, 'e2e-wf');
    await deployKerris(plane, node, { replicas: 1 });
  });

  after(async () => {
    await fx?.cleanUp();
    await removeKerris(plane);
  });

  it('Serial: pod-kill, Suspend 5 s, pod-failure: each step starts when the one before ended, the Suspend lasts 5 s, verdict Passed', async () => {
    const namespace = await fx.newApp(3);
    await applyWorkflow(namespace, 'day', 'main', [
      { name: 'main', templateType: 'Serial', children: ['kill', 'pause', 'freeze'] },
      { name: 'kill', templateType: 'PodChaos', podChaos: { action: 'pod-kill', mode: 'one', selector } },
      { name: 'pause', templateType: 'Suspend', deadline: '5s' },
      { name: 'freeze', templateType: 'PodChaos', podChaos: { action: 'pod-failure', mode: 'one', selector, duration: '3s' } },
    ]);
    const w = await waitWorkflow(namespace, 'day', 'an end', ended, 180_000);
    assert.equal(w.status?.phase, 'Finished', JSON.stringify(w.status, null, 1));
    const [main, kill, pause, freeze] = ['main', 'kill', 'pause', 'freeze'].map((n) => nodeOf(w, n)) as [ReturnType<typeof nodeOf>, ReturnType<typeof nodeOf>, ReturnType<typeof nodeOf>, ReturnType<typeof nodeOf>];
    assert.deepEqual(main.children, ['kill', 'pause', 'freeze']);
    assert.ok(main.startMs <= kill.startMs && kill.endMs <= pause.startMs && pause.endMs <= freeze.startMs && freeze.endMs <= main.endMs, JSON.stringify(w.status?.nodes));
    const suspendMs = pause.endMs - pause.startMs;
    process.stderr.write(`serial: kill ${kill.endMs - kill.startMs} ms, suspend ${suspendMs} ms (5000 asked), freeze ${freeze.endMs - freeze.startMs} ms; gaps ${pause.startMs - kill.endMs} ms, ${freeze.startMs - pause.endMs} ms\n`);
    assert.ok(suspendMs >= 5_000 && suspendMs <= 6_000, `the Suspend lasted ${suspendMs} ms`);
    // The engine counts duration from status.injectedAt, which is whole seconds: a fault may end up to 1 s early.
    assert.ok(freeze.endMs - freeze.startMs >= 2_000, 'the pod-failure held its 3 s, less the second injectedAt drops');
    assert.ok(w.status?.nodes?.every((n) => n.phase === 'Succeeded'));
    assert.equal(w.status?.verdict?.result, 'Passed');
    assert.equal(w.status?.verdict?.score, 100);
    const child = await kubectlJson<PodChaos>(plane, ['get', 'podchaos', 'day-kill', '-n', namespace]);
    assert.equal(child.metadata.ownerReferences?.[0]?.kind, 'Workflow');
    assert.equal(child.status?.phase, 'Finished');
    await fx.waitAppReady(namespace);
  });

  it('Parallel: every step starts at once; the workflow ends when the last has', async () => {
    const namespace = await fx.newApp(3);
    // Different pods, so the kill does not delete the pod the other step freezes.
    const [first, second] = await appPods(plane, namespace);
    const only = (pod: string | undefined) => ({ pods: { [namespace]: [pod ?? ''] } });
    await applyWorkflow(namespace, 'wide', 'main', [
      { name: 'main', templateType: 'Parallel', children: ['kill', 'freeze', 'pause'] },
      { name: 'kill', templateType: 'PodChaos', podChaos: { action: 'pod-kill', mode: 'one', selector: only(first?.name) } },
      { name: 'freeze', templateType: 'PodChaos', podChaos: { action: 'pod-failure', mode: 'one', selector: only(second?.name), duration: '4s' } },
      { name: 'pause', templateType: 'Suspend', deadline: '3s' },
    ]);
    const w = await waitWorkflow(namespace, 'wide', 'an end', ended, 120_000);
    assert.equal(w.status?.phase, 'Finished', JSON.stringify(w.status, null, 1));
    const nodes = ['kill', 'freeze', 'pause'].map((n) => nodeOf(w, n));
    const main = nodeOf(w, 'main');
    const starts = nodes.map((n) => n.startMs);
    const spread = Math.max(...starts) - Math.min(...starts);
    process.stderr.write(`parallel: start spread ${spread} ms; ends after start ${nodes.map((n) => n.endMs - main.startMs).join(', ')} ms; workflow ${main.endMs - main.startMs} ms\n`);
    assert.ok(spread <= 100, `the steps started together (spread ${spread} ms)`);
    assert.equal(main.endMs, Math.max(...nodes.map((n) => n.endMs)), 'the Parallel ended with its last step');
    assert.ok(nodes[1] && nodes[1].endMs - nodes[1].startMs >= 3_000, 'the pod-failure held its 4 s, less the second injectedAt drops');
    await fx.waitAppReady(namespace);
  });

  it('deadline: a pod-failure held for 10m ends at its 10 s deadline, the frozen pods answer HTTP again within seconds of it', async () => {
    const namespace = await fx.newApp(3);
    const ips = await podIps(namespace);
    await applyWorkflow(namespace, 'held', 'main', [
      { name: 'main', templateType: 'Serial', children: ['freeze'] },
      { name: 'freeze', templateType: 'PodChaos', deadline: '10s', podChaos: { action: 'pod-failure', mode: 'all', selector, duration: '10m' } },
    ]);
    await when('the app stops answering', 60_000, async () => !(await Promise.all(ips.map((ip) => answersHttp(ip, 500)))).some(Boolean));
    const running = await waitWorkflow(namespace, 'held', 'a deadline recorded', (w) => w.status?.nodes?.find((n) => n.name === 'freeze')?.deadlineTime !== undefined);
    const deadlineMs = Date.parse(running.status?.nodes?.find((n) => n.name === 'freeze')?.deadlineTime ?? '');
    const healed = await when('every pod answers again', 60_000, async () => (await Promise.all(ips.map((ip) => answersHttp(ip, 500)))).every(Boolean));
    const lateMs = healed - deadlineMs;
    process.stderr.write(`deadline: every frozen pod answered ${lateMs} ms after the deadline\n`);
    assert.ok(lateMs >= 0, `the pods answered ${-lateMs} ms before the deadline`);
    assert.ok(lateMs <= 4_000, `the pods answered ${lateMs} ms after the deadline`);
    const w = await waitWorkflow(namespace, 'held', 'an end', ended);
    const freeze = nodeOf(w, 'freeze');
    assert.equal(freeze.endReason, 'DeadlineExceeded');
    assert.equal(freeze.phase, 'Succeeded');
    assert.equal(w.status?.phase, 'Finished');
    assert.equal(freeze.score, 100, 'a deadline is not a failure');
    const child = await kubectlJson<PodChaos>(plane, ['get', 'podchaos', 'held-freeze', '-n', namespace]);
    assert.equal(child.status?.phase, 'Aborted');
    assert.deepEqual(child.status?.targets?.map((t) => t.phase), ['Recovered', 'Recovered', 'Recovered']);
  });

  it('abortWithStatusCheck: a StatusCheck that fails (HTTP 503) aborts the running pod-failure and the workflow', async () => {
    const namespace = await fx.newApp(3);
    const ips = await podIps(namespace);
    let failing = false;
    let firstFailureAt: number | undefined;
    const server: Server = createServer((_req, res) => {
      if (failing && firstFailureAt === undefined) firstFailureAt = Date.now();
      res.writeHead(failing ? 503 : 200).end();
    });
    await new Promise<void>((resolve) => server.listen(0, node.internalIP, resolve));
    const url = `http://${node.internalIP}:${(server.address() as AddressInfo).port}/`;
    try {
      await applyWorkflow(namespace, 'checked', 'main', [
        { name: 'main', templateType: 'Parallel', children: ['freeze', 'probe'] },
        { name: 'freeze', templateType: 'PodChaos', deadline: '5m', podChaos: { action: 'pod-failure', mode: 'all', selector, duration: '10m' } },
        {
          name: 'probe', templateType: 'StatusCheck', abortWithStatusCheck: true, deadline: '5m',
          statusCheck: { mode: 'Continuous', intervalSeconds: 1, timeoutSeconds: 1, failureThreshold: 2, http: { url, criteria: { statusCode: '200' } } },
        },
      ]);
      await when('the app stops answering', 60_000, async () => !(await Promise.all(ips.map((ip) => answersHttp(ip, 500)))).some(Boolean));
      failing = true;
      const healed = await when('every pod answers again', 60_000, async () => (await Promise.all(ips.map((ip) => answersHttp(ip, 500)))).every(Boolean));
      assert.ok(firstFailureAt !== undefined, 'the check saw a 503');
      process.stderr.write(`abortWithStatusCheck: every frozen pod answered ${healed - firstFailureAt} ms after the check's first 503 (failureThreshold 2, interval 1 s)\n`);
      assert.ok(healed - firstFailureAt <= 1_000 + 5_000, `recovered ${healed - firstFailureAt} ms after the first 503`);
      const w = await waitWorkflow(namespace, 'checked', 'an end', ended);
      assert.equal(w.status?.phase, 'Aborted', JSON.stringify(w.status, null, 1));
      assert.equal(w.status?.conditions?.find((c) => c.type === 'Aborted')?.reason, 'StatusCheckFailed');
      assert.equal(w.status?.verdict?.result, 'Aborted');
      assert.equal(nodeOf(w, 'probe').result, 'Failure');
      assert.equal(nodeOf(w, 'freeze').phase, 'Aborted');
      const child = await kubectlJson<PodChaos>(plane, ['get', 'podchaos', 'checked-freeze', '-n', namespace]);
      assert.equal(child.status?.phase, 'Aborted');
      assert.ok(child.metadata.annotations?.['chaos.kerris.dev/abort'], 'the experiment got the abort annotation');
      assert.deepEqual(child.status?.targets?.map((t) => t.phase), ['Recovered', 'Recovered', 'Recovered']);
    } finally {
      server.close();
    }
  });

  it('a Schedule step runs until its deadline, then is deleted and its active run aborted; a StatusCheck\'s branches follow its result', async () => {
    const namespace = await fx.newApp(3);
    const server: Server = createServer((_req, res) => res.writeHead(200).end());
    await new Promise<void>((resolve) => server.listen(0, node.internalIP, resolve));
    const url = `http://${node.internalIP}:${(server.address() as AddressInfo).port}/`;
    const runs = async () => (await kubectlJson<{ items: PodChaos[] }>(plane, ['get', 'podchaos', '-n', namespace, '-l', 'chaos.kerris.dev/schedule=branches-sched'])).items;
    try {
      await applyWorkflow(namespace, 'branches', 'main', [
        { name: 'main', templateType: 'Serial', children: ['sched', 'probe'] },
        {
          name: 'sched', templateType: 'Schedule', deadline: '8s',
          schedule: { schedule: '@every 3s', type: 'PodChaos', historyLimit: 5, podChaos: { action: 'pod-kill', mode: 'one', selector } },
        },
        {
          name: 'probe', templateType: 'StatusCheck', deadline: '30s',
          statusCheck: { intervalSeconds: 1, timeoutSeconds: 1, successThreshold: 1, http: { url, criteria: { statusCode: '200' } } },
          conditionalBranches: [{ target: 'pause', expression: 'result == "Success"' }, { target: 'kill', expression: 'result == "Failure"' }],
        },
        { name: 'pause', templateType: 'Suspend', deadline: '2s' },
        { name: 'kill', templateType: 'PodChaos', podChaos: { action: 'pod-kill', mode: 'one', selector } },
      ]);
      const slots = new Set<string>();
      const collect = async () => {
        for (const r of await runs()) slots.add(r.metadata.annotations?.['chaos.kerris.dev/scheduled-at'] ?? '');
      };
      await when('a run of the Schedule step', 15_000, async () => (await collect(), slots.size > 0));
      await when('the workflow ends', 90_000, async () => (await collect(), ended(await getWorkflow(namespace, 'branches'))));
      const w = await getWorkflow(namespace, 'branches');
      assert.equal(w.status?.phase, 'Finished', JSON.stringify(w.status, null, 1));
      const sched = nodeOf(w, 'sched');
      assert.equal(sched.endReason, 'DeadlineExceeded');
      assert.equal(sched.phase, 'Succeeded');
      const heldMs = sched.endMs - sched.startMs;
      process.stderr.write(`schedule step: ended ${heldMs} ms after its start (deadline 8 s); runs at ${[...slots].join(', ')}\n`);
      // The Schedule is deleted at the deadline, so no slot after it runs; its active run is aborted at once.
      assert.ok(heldMs >= 8_000 && heldMs <= 8_000 + 2_000, `the Schedule step lasted ${heldMs} ms`);
      assert.ok([...slots].every((at) => Date.parse(at) <= Date.parse(sched.deadlineTime ?? '')), `no run after the deadline: ${[...slots].join(', ')}`);
      const left = await kubectlJson<{ items: unknown[] }>(plane, ['get', 'schedules', '-n', namespace]);
      assert.equal(left.items.length, 0, 'the Schedule is gone');
      assert.ok((await runs()).every((r) => ['Finished', 'Aborted'].includes(r.status?.phase ?? '')), 'none of its runs holds a fault (the garbage collector deletes them)');
      const probe = nodeOf(w, 'probe');
      assert.equal(probe.result, 'Success');
      assert.deepEqual(probe.children, ['pause']);
      assert.equal(nodeOf(w, 'pause').parent, 'probe');
      assert.equal(w.status?.nodes?.some((n) => n.name === 'kill'), false, 'the Failure branch did not run');
      assert.ok(probe.endMs >= nodeOf(w, 'pause').endMs, 'the StatusCheck step ended with its branch');
    } finally {
      server.close();
    }
    await fx.waitAppReady(namespace);
  });

  it('a Suspend keeps its clock across a controller outage: it ends when its recorded start plus deadline says', async () => {
    const namespace = await fx.newApp(3);
    await applyWorkflow(namespace, 'patient', 'main', [
      { name: 'main', templateType: 'Serial', children: ['pause', 'kill'] },
      { name: 'pause', templateType: 'Suspend', deadline: '40s' },
      { name: 'kill', templateType: 'PodChaos', podChaos: { action: 'pod-kill', mode: 'one', selector } },
    ]);
    await waitWorkflow(namespace, 'patient', 'the Suspend started', (w) => w.status?.nodes?.some((n) => n.name === 'pause') ?? false);
    await fx.scaleController(0);
    const downAt = Date.now();
    await new Promise((r) => setTimeout(r, 10_000));
    await fx.scaleController(1);
    process.stderr.write(`suspend restart: controller away ${((Date.now() - downAt) / 1000).toFixed(1)} s\n`);
    const w = await waitWorkflow(namespace, 'patient', 'an end', ended, 120_000);
    assert.equal(w.status?.phase, 'Finished', JSON.stringify(w.status, null, 1));
    const pause = nodeOf(w, 'pause');
    const heldMs = pause.endMs - pause.startMs;
    process.stderr.write(`suspend restart: the 40 s Suspend lasted ${heldMs} ms\n`);
    assert.ok(heldMs >= 40_000 && heldMs <= 41_000, `the Suspend lasted ${heldMs} ms across the restart`);
    assert.ok(nodeOf(w, 'kill').startMs >= pause.endMs);
    await fx.waitAppReady(namespace);
  });

  it('the abort annotation on a Workflow aborts every step; deleting a Workflow recovers its experiments first', async () => {
    const namespace = await fx.newApp(3);
    const ips = await podIps(namespace);
    const templates: WorkflowTemplate[] = [
      { name: 'main', templateType: 'Parallel', children: ['freeze', 'pause'] },
      { name: 'freeze', templateType: 'PodChaos', deadline: '5m', podChaos: { action: 'pod-failure', mode: 'all', selector, duration: '10m' } },
      { name: 'pause', templateType: 'Suspend', deadline: '5m' },
    ];
    const allAnswer = async () => (await Promise.all(ips.map((ip) => answersHttp(ip, 500)))).every(Boolean);
    const noneAnswers = async () => !(await Promise.all(ips.map((ip) => answersHttp(ip, 500)))).some(Boolean);
    await applyWorkflow(namespace, 'stopped', 'main', templates);
    await when('the app stops answering', 60_000, noneAnswers);
    const annotated = Date.now();
    await kubectl(plane, ['annotate', 'workflow', 'stopped', '-n', namespace, 'chaos.kerris.dev/abort=game day over']);
    const healed = await when('every pod answers again', 30_000, allAnswer);
    process.stderr.write(`workflow abort: every frozen pod answered ${healed - annotated} ms after the annotation\n`);
    const w = await waitWorkflow(namespace, 'stopped', 'an end', ended, 30_000);
    assert.equal(w.status?.phase, 'Aborted');
    assert.equal(w.status?.conditions?.find((c) => c.type === 'Aborted')?.message, 'abort requested: game day over');
    assert.deepEqual(w.status?.nodes?.map((n) => [n.name, n.phase]), [['main', 'Aborted'], ['freeze', 'Aborted'], ['pause', 'Aborted']]);

    await applyWorkflow(namespace, 'deleted', 'main', templates);
    await when('the app stops answering', 60_000, noneAnswers);
    await kubectl(plane, ['delete', 'workflow', 'deleted', '-n', namespace, '--wait=true']);
    await when('every pod answers again', 30_000, allAnswer);
    await when('its experiment is gone', 60_000, async () => (await kubectlJson<{ items: PodChaos[] }>(plane, ['get', 'podchaos', '-n', namespace])).items.every((c) => c.metadata.name !== 'deleted-freeze'));
  });
});
