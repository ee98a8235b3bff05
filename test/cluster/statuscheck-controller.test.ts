/**
 * The StatusCheck controller against a real kube-apiserver, checking loopback HTTP servers the test starts:
 * Synchronous checks complete at the success or the failure threshold (a hung server times out into a failure),
 * Continuous checks keep only recordsHistoryLimit records and end only on failures or at `duration`, executions
 * are intervalSeconds apart. The CRD is the real StatusCheck schema under a test-only group, so no kerris deployed
 * in the test bed reconciles these objects too. Then the http and kubernetes evaluators on their own: redirects
 * are not followed, headers and body are sent, conditions are found through discovery and workloads read.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { after, before, describe, it, type TestContext } from 'node:test';
import type { StatusCheck, StatusCheckSpec } from '../../src/api/generated/types.ts';
import { customResourceDefinition } from '../../src/api/crd.ts';
import { statusCheck as statusCheckKind } from '../../src/api/statuscheck.ts';
import { evaluateCheck } from '../../src/controller/checks/evaluate.ts';
import { StatusCheckReconciler } from '../../src/controller/statuscheck/reconciler.ts';
import type { KubeClient } from '../../src/kube/client.ts';
import { isApiError, isNotFound } from '../../src/kube/errors.ts';
import { defineResource } from '../../src/kube/resource.ts';
import { coreEvents } from '../../src/kube/resources.ts';
import { parseTime } from '../../src/kube/time.ts';
import type { KubeObject } from '../../src/kube/types.ts';
import { Controller } from '../../src/runtime/controller.ts';
import { EventRecorder } from '../../src/runtime/events.ts';
import { Informer } from '../../src/runtime/informer.ts';
import { specOrLifecycleChanged } from '../../src/runtime/predicates.ts';
import { createLogger } from '../../src/util/log.ts';
import { adminClient, createScratchNamespace, deleteNamespaceAndWait, until } from '../testbed/kube-fixtures.ts';

const GROUP = 'statuscheck.test.kerris.dev';
const VERSION = 'v1alpha1';
const API_VERSION = `${GROUP}/${VERSION}`;
const checks = defineResource<StatusCheck>({ group: GROUP, version: VERSION, plural: 'statuschecks', kind: 'StatusCheck', namespaced: true });
/** The same resource for writing: the generated type pins apiVersion to chaos.kerris.dev, these objects carry the test group. */
const writable = defineResource<KubeObject & { spec: StatusCheckSpec }>({ group: GROUP, version: VERSION, plural: 'statuschecks', kind: 'StatusCheck', namespaced: true });
const crds = defineResource<KubeObject & { status?: { conditions?: { type: string; status: string }[] } }>({ group: 'apiextensions.k8s.io', version: 'v1', plural: 'customresourcedefinitions', kind: 'CustomResourceDefinition', namespaced: false });
const deployments = defineResource<KubeObject & { spec: object }>({ group: 'apps', version: 'v1', plural: 'deployments', kind: 'Deployment', namespaced: true });
const crdName = `statuschecks.${GROUP}`;

let client: KubeClient;
let ns: string;
const servers: Server[] = [];

type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void;

/** A loopback HTTP server; every request it gets is kept with its arrival time. */
async function serve(handler: Handler): Promise<{ url: string; requests: { at: number; method: string; headers: IncomingMessage['headers']; body: string }[] }> {
  const requests: { at: number; method: string; headers: IncomingMessage['headers']; body: string }[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => { body += chunk.toString(); });
    req.on('end', () => {
      requests.push({ at: Date.now(), method: req.method ?? '', headers: req.headers, body });
      handler(req, res, body);
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return { url: `http://127.0.0.1:${address.port}/healthz`, requests };
}

const answer = (status: number): Handler => (_req, res) => { res.writeHead(status).end(); };

/** Runs an informer and the StatusCheck controller until the test ends. */
function runController(t: TestContext): void {
  const informer = new Informer<StatusCheck>({ client, resource: checks, namespace: ns });
  const events = new EventRecorder({ client, reportingController: 'chaos.kerris.dev/controller', reportingInstance: 'statuscheck-test' });
  const reconciler = new StatusCheckReconciler({ client, events, resource: checks });
  const controller = new Controller<StatusCheck>({
    name: 'statuscheck', informer, concurrency: 4, shouldEnqueueUpdate: specOrLifecycleChanged,
    reconcile: (check, ctx) => reconciler.reconcile(check, ctx.signal, ctx.log),
  });
  const stop = new AbortController();
  const runs = [informer.run(stop.signal), controller.run(stop.signal)];
  t.after(async () => {
    stop.abort();
    await Promise.all(runs);
  });
}

async function create(name: string, spec: StatusCheckSpec): Promise<void> {
  await client.create(writable, { apiVersion: API_VERSION, kind: 'StatusCheck', metadata: { name, namespace: ns }, spec });
}

/** Waits until the check is Completed and returns it. */
async function completed(name: string, timeoutMs = 30_000): Promise<StatusCheck> {
  let latest: StatusCheck | undefined;
  await until(async () => {
    latest = await client.get(checks, name, { namespace: ns });
    return latest.status?.conditions?.some((c) => c.type === 'Completed' && c.status === 'True') ?? false;
  }, timeoutMs, `StatusCheck ${name} to complete`, 100);
  assert.ok(latest);
  return latest;
}

const reasonOf = (check: StatusCheck) => check.status?.conditions?.find((c) => c.type === 'Completed')?.reason;
const outcomes = (check: StatusCheck) => check.status?.records?.map((r) => r.outcome);

before(async () => {
  client = await adminClient();
  const crd = customResourceDefinition({ group: GROUP, version: VERSION, kinds: [statusCheckKind] }, statusCheckKind);
  await client.create(crds, crd as unknown as KubeObject).catch((error: unknown) => { if (!isApiError(error, 409)) throw error; });
  await until(async () => (await client.get(crds, crdName)).status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ?? false, 30_000, `${crdName} established`);
  await until(async () => client.list(checks, { limit: 1 }).then(() => true, () => false), 30_000, `${crdName} served`);
  ns = await createScratchNamespace(client, 'kerris-statuscheck');
});

after(async () => {
  for (const server of servers) server.close();
  await deleteNamespaceAndWait(client, ns);
  await client.delete(crds, crdName).catch((error: unknown) => { if (!isNotFound(error)) throw error; });
  await until(async () => client.get(crds, crdName).then(() => false, (error: unknown) => { if (isNotFound(error)) return true; throw error; }), 60_000, `${crdName} to go away`);
  client.close();
});

describe('the StatusCheck controller', { timeout: 180_000 }, () => {
  it('Synchronous: completes at the success threshold, executions intervalSeconds apart, with an Event', async (t) => {
    runController(t);
    const app = await serve(answer(200));
    const started = Date.now();
    await create('sync-success', { mode: 'Synchronous', type: 'HTTP', intervalSeconds: 1, successThreshold: 3, http: { url: app.url, criteria: { statusCode: '200-299' } } });
    const check = await completed('sync-success');
    const tookMs = Date.now() - started;
    assert.equal(reasonOf(check), 'SuccessThresholdExceed');
    assert.equal(check.status?.conditions?.find((c) => c.type === 'SuccessThresholdExceed')?.status, 'True');
    assert.deepEqual(outcomes(check), ['Success', 'Success', 'Success']);
    assert.equal(check.status?.count, 3);
    assert.equal(check.status?.records?.[0]?.observed, 'HTTP 200');
    assert.ok(check.status?.completionTime !== undefined && check.status.startTime !== undefined);
    assert.equal(app.requests.length, 3, 'no execution after completion');
    const gaps = app.requests.slice(1).map((r, i) => r.at - (app.requests[i]?.at ?? 0));
    assert.ok(gaps.every((g) => g >= 950 && g < 2_500), `executions about 1 s apart: ${gaps.join(', ')} ms`);
    process.stdout.write(`# 3 successes at intervalSeconds 1: completed ${tookMs} ms after creation\n`);
    const events = await client.list(coreEvents, { namespace: ns, fieldSelector: `involvedObject.name=sync-success` });
    assert.ok(events.items.some((e) => (e as KubeObject & { reason?: string }).reason === 'SuccessThresholdExceed'), 'an Event says it completed');
  });

  it('Synchronous: a server that never answers times out into failures and completes at the failure threshold', async (t) => {
    runController(t);
    const hung = await serve(() => { /* never answers */ });
    await create('sync-failure', { mode: 'Synchronous', intervalSeconds: 1, timeoutSeconds: 1, failureThreshold: 2, http: { url: hung.url, criteria: { statusCode: '200' } } });
    const check = await completed('sync-failure');
    assert.equal(reasonOf(check), 'FailureThresholdExceed');
    assert.deepEqual(outcomes(check), ['Failure', 'Failure']);
    assert.equal(check.status?.consecutiveFailures, 2);
    assert.equal(check.status?.records?.[0]?.observed, 'no response');
    assert.equal(check.status?.records?.[0]?.message, `GET ${hung.url}: no response within 1 s`);
    assert.match(check.status?.conditions?.find((c) => c.type === 'Completed')?.message ?? '', /^2 failures in a row: /);
  });

  it('Continuous: ignores successes, keeps recordsHistoryLimit records and ends at the failure threshold', async (t) => {
    runController(t);
    let served = 0;
    const app = await serve((_req, res) => { served += 1; res.writeHead(served <= 5 ? 200 : 503).end(); });
    await create('continuous', { mode: 'Continuous', intervalSeconds: 1, successThreshold: 1, failureThreshold: 2, recordsHistoryLimit: 3, http: { url: app.url, criteria: { statusCode: '200' } } });
    const check = await completed('continuous');
    assert.equal(reasonOf(check), 'FailureThresholdExceed');
    assert.equal(check.status?.count, 7, '5 successes did not end it; the 2 failures after them did');
    assert.deepEqual(outcomes(check), ['Success', 'Failure', 'Failure'], 'only the newest 3 records are kept');
    assert.deepEqual(check.status?.records?.map((r) => r.observed), ['HTTP 200', 'HTTP 503', 'HTTP 503']);
    const times = check.status?.records?.map((r) => parseTime(r.startTime)) ?? [];
    assert.ok(times.every((time, i) => i === 0 || time > (times[i - 1] ?? 0)), 'records oldest first');
  });

  it('Continuous: a healthy service runs until duration, then completes with DurationExceed', async (t) => {
    runController(t);
    const app = await serve(answer(204));
    const started = Date.now();
    await create('continuous-duration', { mode: 'Continuous', intervalSeconds: 1, duration: '3s', http: { url: app.url, criteria: { statusCode: '204' } } });
    const check = await completed('continuous-duration');
    const tookMs = Date.now() - started;
    assert.equal(reasonOf(check), 'DurationExceed');
    assert.ok(tookMs >= 3_000 && tookMs < 8_000, `completed ${tookMs} ms after creation, for duration 3s`);
    assert.ok((check.status?.count ?? 0) >= 3 && (check.status?.count ?? 0) <= 4, `ran ${check.status?.count} times in 3 s`);
    assert.ok(outcomes(check)?.every((o) => o === 'Success'));
    const executed = app.requests.length;
    await until(async () => (await client.get(checks, 'continuous-duration', { namespace: ns })).status?.completionTime !== undefined, 5_000, 'completionTime');
    assert.equal(app.requests.length, executed, 'nothing runs once complete');
  });
});

describe('the http evaluator', { timeout: 60_000 }, () => {
  it('sends method, headers and body, and judges a redirect by its own code without following it', async () => {
    const elsewhere = await serve(answer(200));
    const redirecting = await serve((_req, res) => { res.writeHead(302, { location: elsewhere.url }).end(); });
    const context = { kube: client, namespace: ns, timeoutMs: 2_000 };
    const redirect = await evaluateCheck({ http: { url: redirecting.url, criteria: { statusCode: '200' } } }, context);
    assert.deepEqual(redirect, { ok: false, observed: 'HTTP 302', message: `GET ${redirecting.url}: status 302 is not in 200 (a redirect to ${elsewhere.url}, not followed)` });
    assert.equal(elsewhere.requests.length, 0, 'the redirect target got no request');
    assert.equal((await evaluateCheck({ http: { url: redirecting.url, criteria: { statusCode: '300-399' } } }, context)).ok, true);

    const echo = await serve(answer(201));
    const post = await evaluateCheck({ http: { url: echo.url, method: 'POST', headers: { 'X-Token': ['a', 'b'], 'Content-Type': ['application/json'] }, body: '{"a":"b"}', criteria: { statusCode: '201' } } }, context);
    assert.equal(post.ok, true, post.message);
    assert.equal(echo.requests[0]?.method, 'POST');
    assert.equal(echo.requests[0]?.headers['x-token'], 'a, b');
    assert.equal(echo.requests[0]?.headers['content-type'], 'application/json');
    assert.equal(echo.requests[0]?.body, '{"a":"b"}');
  });

  it('reports a refused connection as a failure, never an exception', async () => {
    const closed = await serve(answer(200));
    const server = servers.at(-1);
    await new Promise<void>((resolve) => server?.close(() => resolve()));
    const result = await evaluateCheck({ http: { url: closed.url, criteria: { statusCode: '200' } } }, { kube: client, namespace: ns, timeoutMs: 2_000 });
    assert.deepEqual(result, { ok: false, observed: 'no response', message: `GET ${closed.url}: connection refused (ECONNREFUSED)` });
  });
});

describe('the kubernetes evaluator', { timeout: 60_000 }, () => {
  const context = () => ({ kube: client, namespace: ns, timeoutMs: 5_000 });

  it('finds a condition of any kind through discovery, a CRD\'s included', async () => {
    const closed = await serve(answer(200));
    await new Promise<void>((resolve) => servers.at(-1)?.close(() => resolve()));
    await create('target', { mode: 'Synchronous', intervalSeconds: 1, http: { url: closed.url, criteria: { statusCode: '200' } } });
    const events = new EventRecorder({ client, reportingController: 'chaos.kerris.dev/controller', reportingInstance: 'statuscheck-test' });
    const reconciler = new StatusCheckReconciler({ client, events, resource: checks });
    // One reconcile writes the conditions (Completed False, Running): no controller needs to run.
    await reconciler.reconcile(await client.get(checks, 'target', { namespace: ns }), new AbortController().signal, createLogger());
    const running = await evaluateCheck({ kubernetes: { condition: { apiVersion: API_VERSION, kind: 'StatusCheck', name: 'target', type: 'Completed', status: 'False' } } }, context());
    assert.deepEqual(running, { ok: true, observed: 'Completed=False (Running)', message: `StatusCheck ${ns}/target has Completed=False (Running)` });
    const wanted = await evaluateCheck({ kubernetes: { condition: { apiVersion: API_VERSION, kind: 'StatusCheck', name: 'target', type: 'Completed', status: 'True' } } }, context());
    assert.equal(wanted.ok, false);
    assert.equal(wanted.message, `StatusCheck ${ns}/target has Completed=False (Running), wanted Completed=True: Failure: GET ${closed.url}: connection refused (ECONNREFUSED)`);
  });

  it('says what is missing: a kind, an apiVersion, an object, a condition; and refuses a namespace on a cluster-scoped kind', async () => {
    const cases: [Parameters<typeof evaluateCheck>[0], string][] = [
      [{ kubernetes: { condition: { apiVersion: 'v1', kind: 'Nope', name: 'x', type: 'Ready', status: 'True' } } }, 'apiVersion v1 has no kind Nope'],
      [{ kubernetes: { condition: { apiVersion: 'nope.example.com/v1', kind: 'Thing', name: 'x', type: 'Ready', status: 'True' } } }, 'the cluster serves no apiVersion nope.example.com/v1'],
      [{ kubernetes: { condition: { apiVersion: API_VERSION, kind: 'StatusCheck', name: 'absent', type: 'Completed', status: 'True' } } }, `StatusCheck ${ns}/absent not found`],
      [{ kubernetes: { condition: { apiVersion: 'v1', kind: 'Namespace', name: ns, type: 'NamespaceDeletionContentFailure', status: 'False' } } }, `Namespace ${ns} has no condition NamespaceDeletionContentFailure`],
      [{ kubernetes: { condition: { apiVersion: 'v1', kind: 'Namespace', name: ns, namespace: ns, type: 'Ready', status: 'True' } } }, `Namespace is cluster-scoped; remove namespace ${ns} from the check`],
      [{ kubernetes: { workload: { kind: 'StatefulSet', name: 'absent', minAvailable: 1 } } }, `StatefulSet ${ns}/absent not found`],
    ];
    for (const [check, message] of cases) {
      const result = await evaluateCheck(check, context());
      assert.equal(result.ok, false, message);
      assert.equal(result.message, message);
    }
  });

  it('reads a workload\'s available replicas', async () => {
    await client.create(deployments, {
      metadata: { name: 'web', namespace: ns },
      spec: { replicas: 0, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'registry.invalid/none:1' }] } } },
    });
    const result = await evaluateCheck({ kubernetes: { workload: { kind: 'Deployment', name: 'web', minAvailable: 1 } } }, context());
    assert.deepEqual(result, { ok: false, observed: 'availableReplicas 0', message: `Deployment ${ns}/web has 0 available, fewer than 1` });
  });
});
