/**
 * Guards end to end: kerris deployed on the test bed, a fault that breaks the sample app, and a guard on the app's
 * HTTP endpoint. The breach aborts the experiment and every fault is taken away within 5 s of the guard's window; the
 * verdict says Aborted and names the guard and what it saw; the same with a Prometheus query against a real Prometheus.
 * A guard on one step of a Workflow aborts the whole workflow. A guard that keeps passing lets the fault run its
 * course, with a score of 100.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { clusterNode, type ClusterNode, type ControlPlane } from '../testbed/index.ts';
import { deployKerris, removeKerris } from '../testbed/kerris.ts';
import { stringify } from 'yaml';
import type { NetworkChaos, Workflow } from '../../src/api/generated/types.ts';
import { kubectl, kubectlJson } from '../testbed/kubectl.ts';
import { startPrometheus } from '../testbed/prometheus.ts';
import { answersHttp, appPods } from '../testbed/sample-app.ts';
import { chaosFixtures, condition, type ChaosFixtures, type EventJson } from './chaos-fixtures.ts';

let plane: ControlPlane;
let node: ClusterNode;
let fx: ChaosFixtures;

/** Polls until check is true; returns the time it first was, on this machine's monotonic clock. */
async function when(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (await check()) return performance.now();
    if (performance.now() > deadline) assert.fail(`${what} not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface PodIp { status: { podIP?: string } }

describe('guards on the real cluster', { timeout: 600_000 }, () => {
  before(async () => {
    ({ plane, node } = await clusterNode());
    fx = chaosFixtures(plane, 'e2e-guard');
    await deployKerris(plane, node, { replicas: 1 });
  });

  after(async () => {
    await fx?.cleanUp();
    await removeKerris(plane);
  });

  it('a guard on the app\'s HTTP endpoint aborts a pod-failure that breaks it: every pod answers again within 5 s of the window, verdict Aborted', async () => {
    const namespace = await fx.newApp(3);
    const pods = await appPods(plane, namespace);
    const ips = await Promise.all(pods.map(async (p) => (await kubectlJson<PodIp>(plane, ['get', 'pod', p.name, '-n', namespace])).status.podIP ?? ''));
    const [guarded] = ips;
    assert.ok(guarded, 'the app\'s pods have addresses');
    const FOR_MS = 3_000;
    await fx.applyChaos(namespace, 'broken', {
      action: 'pod-failure', mode: 'all', duration: '10m',
      guards: [{ name: 'web-answers', for: '3s', intervalSeconds: 1, timeoutSeconds: 1, http: { url: `http://${guarded}:8080/`, criteria: { statusCode: '200' } } }],
    });
    // The app stops answering once frozen: the guard's window starts at its first failed evaluation, at most 1 s later.
    const broken = await when('the app stops answering', 60_000, async () => !await answersHttp(guarded, 500));
    const healed = await when('every pod answers again', 30_000, async () => (await Promise.all(ips.map((ip) => answersHttp(ip, 500)))).every(Boolean));
    const lateMs = healed - broken - FOR_MS;
    assert.ok(lateMs <= 5_000 + 1_000, `every fault was taken away ${(lateMs / 1000).toFixed(1)} s after the ${FOR_MS / 1000} s window (the window starts up to 1 s after the app broke)`);

    const chaos = await fx.waitChaos(namespace, 'broken', 'Aborted', (c) => c.status?.phase === 'Aborted' && c.status.verdict !== undefined);
    assert.equal(chaos.status?.verdict?.result, 'Aborted');
    assert.match(chaos.status?.verdict?.reason ?? '', /^guard web-answers breached: /);
    assert.deepEqual(chaos.status?.targets?.map((t) => t.phase), ['Recovered', 'Recovered', 'Recovered']);
    assert.equal(condition(chaos, 'AllRecovered')?.status, 'True');
    const guard = chaos.status?.guards?.[0];
    assert.equal(guard?.state, 'Breached');
    assert.ok((guard?.checks ?? 0) >= 3, `the guard was evaluated while the fault was held: ${JSON.stringify(guard)}`);
    assert.ok((chaos.status?.verdict?.score ?? 100) < 100, 'the failed checks lower the score');
    const events = await kubectlJson<{ items: EventJson[] }>(plane, ['get', 'events', '-n', namespace, '--field-selector', 'involvedObject.name=broken']);
    assert.ok(events.items.some((e) => e.reason === 'GuardBreached' && e.type === 'Warning' && e.message.includes('web-answers')), 'a GuardBreached Event says which guard');
    assert.ok(events.items.some((e) => e.reason === 'Aborted'));
    await fx.waitAppReady(namespace);
  });

  it('a Prometheus guard (a real Prometheus and blackbox exporter probing the app) aborts a pod-failure once probe_success drops', async () => {
    const namespace = await fx.newApp(3);
    const pods = await appPods(plane, namespace);
    const ips = await Promise.all(pods.map(async (p) => (await kubectlJson<PodIp>(plane, ['get', 'pod', p.name, '-n', namespace])).status.podIP ?? ''));
    // On the node's address, so the controller in its pod can query it; the exporter probes the pods from the host.
    const prometheus = await startPrometheus({ probe: ips.map((ip) => `http://${ip}:8080/`), host: node.internalIP });
    try {
      await prometheus.waitForProbes();
      await fx.applyChaos(namespace, 'watched', {
        action: 'pod-failure', mode: 'all', duration: '10m',
        guards: [{ name: 'all-probes-up', for: '2s', prometheus: { url: prometheus.url, query: 'min(probe_success{probe="probe"})', comparison: { operator: '==', value: '1' } } }],
      });
      const chaos = await fx.waitChaos(namespace, 'watched', 'Aborted by the Prometheus guard', (c) => c.status?.phase === 'Aborted' && c.status.verdict !== undefined, 90_000);
      assert.match(chaos.status?.verdict?.reason ?? '', /^guard all-probes-up breached: /);
      assert.equal(chaos.status?.guards?.[0]?.state, 'Breached');
      assert.match(chaos.status?.guards?.[0]?.observed ?? '', /0/, `what the query returned while the pods were frozen: ${JSON.stringify(chaos.status?.guards)}`);
      assert.deepEqual(chaos.status?.targets?.map((t) => t.phase), ['Recovered', 'Recovered', 'Recovered']);
      await when('every pod answers again', 30_000, async () => (await Promise.all(ips.map((ip) => answersHttp(ip, 500)))).every(Boolean));
    } finally {
      await prometheus.stop();
    }
  });

  it('a guard on one step of a Workflow aborts the whole workflow: the other step\'s fault is taken away too, verdict Aborted naming the guard', async () => {
    const namespace = await fx.newApp(3);
    const pods = await appPods(plane, namespace);
    const [guarded] = await Promise.all(pods.map(async (p) => (await kubectlJson<PodIp>(plane, ['get', 'pod', p.name, '-n', namespace])).status.podIP ?? ''));
    const selector = { labelSelectors: { app: 'web' } };
    await kubectl(plane, ['apply', '-f', '-'], {
      input: stringify({
        apiVersion: 'chaos.kerris.dev/v1alpha1', kind: 'Workflow', metadata: { name: 'day', namespace },
        spec: {
          entry: 'main',
          templates: [
            { name: 'main', templateType: 'Parallel', children: ['freeze', 'throttle'] },
            { name: 'freeze', templateType: 'PodChaos', deadline: '5m', podChaos: {
              action: 'pod-failure', mode: 'all', selector, duration: '5m',
              guards: [{ name: 'web-answers', for: '2s', http: { url: `http://${guarded}:8080/`, criteria: { statusCode: '200' } } }],
            } },
            { name: 'throttle', templateType: 'NetworkChaos', deadline: '5m', networkChaos: { action: 'bandwidth', mode: 'all', selector, duration: '5m', bandwidth: { rate: '1mbps', limit: 20971520, buffer: 10000 } } },
          ],
        },
      }),
    });
    const deadline = Date.now() + 120_000;
    let workflow: Workflow | undefined;
    while (Date.now() < deadline) {
      workflow = await kubectlJson<Workflow>(plane, ['get', 'workflows', 'day', '-n', namespace]);
      if (workflow.status?.verdict !== undefined) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.equal(workflow?.status?.phase, 'Aborted', JSON.stringify(workflow?.status, null, 1));
    assert.equal(workflow?.status?.verdict?.result, 'Aborted');
    assert.match(workflow?.status?.verdict?.reason ?? '', /guard web-answers breached/);
    const throttle = await kubectlJson<NetworkChaos>(plane, ['get', 'networkchaos', 'day-throttle', '-n', namespace]);
    assert.equal(throttle.status?.phase, 'Aborted', 'the step without a guard was aborted with the workflow');
    assert.ok((throttle.status?.targets ?? []).length === 3 && throttle.status?.targets?.every((t) => t.phase === 'Recovered'), JSON.stringify(throttle.status?.targets));
    await fx.waitAppReady(namespace);
  });

  it('a guard that keeps passing lets the fault run its course: Passed, score 100', async () => {
    const namespace = await fx.newApp(3);
    await fx.applyChaos(namespace, 'steady', {
      action: 'pod-failure', mode: 'one', duration: '6s', seed: 1,
      guards: [{ name: 'enough-replicas', kubernetes: { workload: { kind: 'Deployment', name: 'web', minAvailable: 1 } } }],
    });
    const chaos = await fx.waitChaos(namespace, 'steady', 'Finished with a verdict', (c) => c.status?.verdict !== undefined, 90_000);
    assert.equal(chaos.status?.phase, 'Finished');
    assert.equal(chaos.status?.verdict?.result, 'Passed', JSON.stringify(chaos.status?.verdict));
    assert.equal(chaos.status?.verdict?.score, 100);
    assert.ok((chaos.status?.guards?.[0]?.checks ?? 0) >= 3, JSON.stringify(chaos.status?.guards));
  });
});
