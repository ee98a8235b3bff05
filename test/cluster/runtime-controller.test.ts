/**
 * The controller runtime against a real kube-apiserver, on a test-only custom
 * resource: reconcile and requeue, backoff after errors, related-object
 * watches, concurrency, finalizers, status conditions, Events.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { KubeClient } from '../../src/kube/client.ts';
import { isNotFound } from '../../src/kube/errors.ts';
import type { Resource } from '../../src/kube/resource.ts';
import { configMaps, coreEvents, namespaces } from '../../src/kube/resources.ts';
import type { KubeObject } from '../../src/kube/types.ts';
import { awaitChange, requeueAfter, retryWithBackoff, type Action } from '../../src/runtime/action.ts';
import { setCondition, findCondition, type Condition } from '../../src/runtime/conditions.ts';
import { Controller, type ReconcileContext } from '../../src/runtime/controller.ts';
import { EventRecorder } from '../../src/runtime/events.ts';
import { hasFinalizer, withFinalizer } from '../../src/runtime/finalizer.ts';
import { Informer } from '../../src/runtime/informer.ts';
import { RuntimeMetrics } from '../../src/runtime/runtime-metrics.ts';
import { specOrLifecycleChanged } from '../../src/runtime/predicates.ts';
import { patchStatus } from '../../src/runtime/status.ts';
import { keyFor } from '../../src/runtime/store.ts';
import { controlPlane } from '../testbed/index.ts';
import { testResource, until } from '../testbed/kube-fixtures.ts';

interface Probe extends KubeObject {
  spec?: { mode?: string };
  status?: { conditions?: Condition[]; applied?: number };
}

const GROUP = 'runtime.test.kerris.dev';
let probes: Resource<Probe>;
let removeProbes: () => Promise<void>;
const FINALIZER = 'runtime.test.kerris.dev/cleanup';

const ns = `kerris-controller-${randomBytes(3).toString('hex')}`;
let client: KubeClient;

const gone = (get: () => Promise<unknown>) => async (): Promise<boolean> => get().then(() => false, (e: unknown) => { if (isNotFound(e)) return true; throw e; });

before(async () => {
  const plane = await controlPlane();
  client = await KubeClient.fromEnvironment({ env: { KUBECONFIG: plane.kubeconfig } });
  ({ resource: probes, remove: removeProbes } = await testResource<Probe>(client, { group: GROUP, version: 'v1', kind: 'Probe', plural: 'probes' }));
  await client.create(namespaces, { metadata: { name: ns } });
});

after(async () => {
  await client.delete(namespaces, ns);
  await until(gone(() => client.get(namespaces, ns)), 90_000, `namespace ${ns} to go away`);
  await removeProbes();
  client.close();
});

/** Runs informers and a controller until the returned stop() is called, or the test ends. */
function start(t: TestContext, informers: ReadonlyArray<Informer<Probe> | Informer<KubeObject>>, controller: Controller<Probe>) {
  const signal = new AbortController();
  const runs = [...informers.map((i) => i.run(signal.signal)), controller.run(signal.signal)];
  const stop = async (): Promise<void> => {
    signal.abort();
    await Promise.all(runs);
  };
  t.after(stop);
  return stop;
}

const probeInformer = (labelSelector: string) => new Informer<Probe>({ client, resource: probes, namespace: ns, labelSelector });

describe('Controller', () => {
  it('reconciles each object, requeues after the asked delay, and counts it in metrics', async (t) => {
    const informer = probeInformer('suite=requeue');
    const times = new Map<string, number[]>();
    const metrics = new RuntimeMetrics();
    const controller = new Controller<Probe>({
      name: 'requeue', informer, metrics,
      reconcile: async (probe, ctx): Promise<Action> => {
        times.set(ctx.key, [...(times.get(ctx.key) ?? []), Date.now()]);
        return probe.spec?.mode === 'periodic' ? requeueAfter(300) : awaitChange();
      },
    });
    const stop = start(t, [informer], controller);
    await client.create(probes, { metadata: { name: 'periodic', namespace: ns, labels: { suite: 'requeue' } }, spec: { mode: 'periodic' } });
    await client.create(probes, { metadata: { name: 'once', namespace: ns, labels: { suite: 'requeue' } }, spec: { mode: 'once' } });
    await until(() => (times.get(keyFor(ns, 'periodic'))?.length ?? 0) >= 4, 10_000, 'four reconciles of the periodic probe');
    await stop();
    const periodic = times.get(keyFor(ns, 'periodic')) ?? [];
    const gaps = periodic.slice(1).map((t, i) => t - (periodic[i] ?? 0));
    assert.ok(gaps.every((g) => g >= 290 && g < 1_500), `requeued about every 300 ms: ${gaps.join(', ')}`);
    assert.equal(times.get(keyFor(ns, 'once'))?.length, 1, 'awaitChange reconciles only on changes');
    const text = metrics.registry.render();
    assert.match(text, /kerris_reconcile_total\{controller="requeue",result="requeue_after"\} [4-9]/);
    assert.match(text, /kerris_reconcile_total\{controller="requeue",result="success"\} 1\n/);
  });

  it('backs off a failing key exponentially, then forgets its failures after a success', async (t) => {
    const informer = probeInformer('suite=backoff');
    const attempts: Array<{ at: number; retries: number }> = [];
    const controller = new Controller<Probe>({
      name: 'backoff', informer,
      backoff: { initialMs: 100, maxMs: 5_000, factor: 2, jitter: 0 },
      reconcile: async (_probe, ctx) => {
        attempts.push({ at: Date.now(), retries: ctx.retries });
        if (attempts.length <= 4) throw new Error(`failure ${attempts.length}`);
        return awaitChange();
      },
    });
    const stop = start(t, [informer], controller);
    await client.create(probes, { metadata: { name: 'flaky', namespace: ns, labels: { suite: 'backoff' } } });
    await until(() => attempts.length >= 5, 10_000, 'five attempts');
    assert.deepEqual(attempts.map((a) => a.retries), [0, 1, 2, 3, 4]);
    const gaps = attempts.slice(1).map((a, i) => a.at - (attempts[i]?.at ?? 0));
    for (const [i, expected] of [100, 200, 400, 800].entries()) {
      const gap = gaps[i] ?? 0;
      assert.ok(gap >= expected - 5 && gap < expected + 400, `retry ${i + 1} after ${gap} ms, expected about ${expected}`);
    }
    assert.equal(controller.queue.retries(keyFor(ns, 'flaky')), 0, 'a success forgets the failures');
    await stop();
  });

  it('lets an error policy pick the next step instead of backing off', async (t) => {
    const informer = probeInformer('suite=policy');
    const attempts: number[] = [];
    const controller = new Controller<Probe>({
      name: 'policy', informer,
      backoff: { initialMs: 5_000, maxMs: 5_000, factor: 1, jitter: 0 },
      reconcile: async () => {
        attempts.push(Date.now());
        if (attempts.length <= 2) throw new Error('dependency not ready');
        return awaitChange();
      },
      errorPolicy: (error) => (error instanceof Error && error.message === 'dependency not ready' ? requeueAfter(250) : retryWithBackoff()),
    });
    const stop = start(t, [informer], controller);
    await client.create(probes, { metadata: { name: 'waits', namespace: ns, labels: { suite: 'policy' } } });
    await until(() => attempts.length >= 3, 4_000, 'three attempts, 250 ms apart rather than the 5 s backoff');
    const gaps = attempts.slice(1).map((at, i) => at - (attempts[i] ?? 0));
    assert.ok(gaps.every((g) => g >= 245 && g < 1_000), `retried after the policy's delay: ${gaps.join(', ')}`);
    assert.equal(controller.queue.retries(keyFor(ns, 'waits')), 0, 'the policy\'s requeue is not a backoff');
    await stop();
  });

  it('reconciles primaries when related objects change, through watches()', async (t) => {
    const informer = probeInformer('suite=related');
    const related = new Informer<KubeObject>({ client, resource: configMaps, namespace: ns, labelSelector: 'suite=related' });
    const reasons: string[] = [];
    const controller = new Controller<Probe>({
      name: 'related', informer,
      reconcile: async (probe) => {
        const cms = related.store.list().filter((cm) => cm.metadata.annotations?.['probe'] === probe.metadata.name);
        reasons.push(`${probe.metadata.name}:${cms.length}`);
        return awaitChange();
      },
    }).watches(related, (cm) => {
      const target = cm.metadata.annotations?.['probe'];
      return target ? [keyFor(cm.metadata.namespace, target)] : [];
    });
    const stop = start(t, [informer, related], controller);
    await client.create(probes, { metadata: { name: 'target', namespace: ns, labels: { suite: 'related' } } });
    await until(() => reasons.includes('target:0'), 10_000, 'the first reconcile');
    await client.create(configMaps, { metadata: { name: 'points-at-target', namespace: ns, labels: { suite: 'related' }, annotations: { probe: 'target' } } });
    await until(() => reasons.includes('target:1'), 10_000, 'a reconcile caused by the ConfigMap');
    await client.delete(configMaps, 'points-at-target', { namespace: ns });
    await until(() => reasons.filter((r) => r === 'target:0').length >= 2, 10_000, 'a reconcile caused by the deletion');
    await stop();
  });

  it('runs keys in parallel up to its concurrency, never one key twice at once', async (t) => {
    const informer = probeInformer('suite=parallel');
    const active = new Set<string>();
    let maxActive = 0;
    let overlap = 0;
    const done = new Map<string, number>();
    const controller = new Controller<Probe>({
      name: 'parallel', informer, concurrency: 3,
      reconcile: async (_probe, ctx) => {
        if (active.has(ctx.key)) overlap += 1;
        active.add(ctx.key);
        maxActive = Math.max(maxActive, active.size);
        await sleep(150);
        active.delete(ctx.key);
        done.set(ctx.key, (done.get(ctx.key) ?? 0) + 1);
        return (done.get(ctx.key) ?? 0) < 3 ? requeueAfter(1) : awaitChange();
      },
    });
    const stop = start(t, [informer], controller);
    await Promise.all(['p1', 'p2', 'p3', 'p4', 'p5'].map((name) => client.create(probes, { metadata: { name, namespace: ns, labels: { suite: 'parallel' } } })));
    await until(() => done.size === 5 && [...done.values()].every((n) => n >= 3), 15_000, 'three reconciles of each probe');
    await stop();
    assert.equal(maxActive, 3);
    assert.equal(overlap, 0);
  });

  it('stops within the drain deadline even when a reconcile ignores its signal', async (t) => {
    const informer = probeInformer('suite=drain');
    let signalled = false;
    let started = false;
    const controller = new Controller<Probe>({
      name: 'drain', informer, drainTimeoutMs: 300,
      reconcile: async (_probe, ctx) => {
        started = true;
        ctx.signal.addEventListener('abort', () => { signalled = true; }, { once: true });
        await sleep(3_000);
        return awaitChange();
      },
    });
    const stop = start(t, [informer], controller);
    await client.create(probes, { metadata: { name: 'stubborn', namespace: ns, labels: { suite: 'drain' } } });
    await until(() => started, 10_000, 'the reconcile to start');
    const stopping = Date.now();
    await stop();
    const took = Date.now() - stopping;
    assert.ok(took >= 290 && took < 1_500, `stopped ${took} ms after the signal, at the 300 ms drain deadline`);
    assert.equal(signalled, true, 'the running reconcile saw its signal abort');
    // The abandoned reconcile still runs; let it end before the next test.
    await sleep(2_800);
  });

  it('holds deletion with a finalizer until cleanup ran, writes status conditions through /status, and records Events', async (t) => {
    const informer = probeInformer('suite=lifecycle');
    const cleaned: string[] = [];
    const transitions: string[] = [];
    const recorder = new EventRecorder({ client, reportingController: 'runtime.test.kerris.dev/controller', reportingInstance: 'test' });
    const controller = new Controller<Probe>({
      name: 'lifecycle', informer,
      // Own status writes must not trigger reconciles: only spec changes and deletion do.
      shouldEnqueueUpdate: specOrLifecycleChanged,
      reconcile: (probe, ctx: ReconcileContext) => withFinalizer(client, probes, FINALIZER, probe, {
        apply: async (current) => {
          const applied = (current.status?.applied ?? 0) + 1;
          const conditions = setCondition(current.status?.conditions, { type: 'Ready', status: 'True', reason: 'Applied', message: `applied ${applied} times`, observedGeneration: current.metadata.generation ?? 0 });
          transitions.push(findCondition(conditions, 'Ready')?.lastTransitionTime ?? '');
          await patchStatus(client, probes, current, { conditions, applied });
          await recorder.record(probes, current, { type: 'Normal', reason: 'Applied', message: 'probe applied', action: 'Apply' });
          // The last round comes more than a second after the first, so a kept lastTransitionTime can be told from a rewritten one.
          return applied < 3 ? requeueAfter(1_100) : awaitChange();
        },
        cleanup: async (current) => {
          cleaned.push(ctx.name);
          await recorder.record(probes, current, { type: 'Warning', reason: 'CleanedUp', message: 'probe cleaned up', action: 'Cleanup' });
          return awaitChange();
        },
      }),
    });
    const stop = start(t, [informer], controller);
    await client.create(probes, { metadata: { name: 'life', namespace: ns, labels: { suite: 'lifecycle' } }, spec: { mode: 'x' } });
    await until(async () => (await client.get(probes, 'life', { namespace: ns })).status?.applied === 3, 15_000, 'three applies');
    const live = await client.get(probes, 'life', { namespace: ns });
    assert.ok(hasFinalizer(live, FINALIZER), 'the finalizer was added');
    const ready = findCondition(live.status?.conditions, 'Ready');
    assert.equal(ready?.status, 'True');
    assert.equal(ready?.message, 'applied 3 times');
    assert.equal(ready?.observedGeneration, 1);
    assert.equal(transitions.length, 3);
    assert.equal(transitions[2], transitions[0], 'lastTransitionTime stays while the status does not change');
    assert.deepEqual(live.spec, { mode: 'x' }, 'the status write left the spec alone');

    await client.delete(probes, 'life', { namespace: ns });
    await until(gone(() => client.get(probes, 'life', { namespace: ns })), 15_000, 'the probe to be deleted once cleaned up');
    assert.deepEqual(cleaned, ['life']);
    await stop();

    const events = await client.list(coreEvents, { namespace: ns, fieldSelector: `involvedObject.name=life,involvedObject.uid=${live.metadata.uid ?? ''}` });
    const byReason = new Map(events.items.map((e) => [e.reason, e]));
    assert.equal(events.items.length, 2, `one Event per distinct reason: ${events.items.map((e) => e.reason).join(', ')}`);
    const applied = byReason.get('Applied');
    assert.equal(applied?.count, 3, 'the repeated Event was aggregated');
    assert.equal(applied?.type, 'Normal');
    assert.equal(applied?.reportingComponent, 'runtime.test.kerris.dev/controller');
    assert.equal(applied?.reportingInstance, 'test');
    assert.deepEqual({ kind: applied?.involvedObject.kind, apiVersion: applied?.involvedObject.apiVersion }, { kind: 'Probe', apiVersion: `${GROUP}/v1` });
    assert.equal(byReason.get('CleanedUp')?.type, 'Warning');
  });
});
