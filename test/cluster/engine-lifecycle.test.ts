/**
 * The experiment engine against a real kube-apiserver, with a chaos kind that
 * only records what the engine asks of it: the seam a new kind plugs into.
 * The engine's clock is set by the test, so durations and pauses are exact.
 * The kind has a test-only resource, so a kerris controller running in the
 * test bed never reconciles these objects too.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { PodChaos, PodChaosSpec } from '../../src/api/generated/types.ts';
import type { Resource } from '../../src/kube/resource.ts';
import type { ChaosKind, Fault, RecoverOutcome, TargetRecord } from '../../src/controller/engine/experiment.ts';
import { ABORT_ANNOTATION, ExperimentEngine, MAX_REQUEUE_MS, RECOVERY_FINALIZER } from '../../src/controller/engine/lifecycle.ts';
import type { KubeClient } from '../../src/kube/client.ts';
import { isNotFound } from '../../src/kube/errors.ts';
import type { Action } from '../../src/runtime/action.ts';
import { EventRecorder } from '../../src/runtime/events.ts';
import type { Verdict } from '../../src/controller/engine/verdict.ts';
import { coreEvents } from '../../src/kube/resources.ts';
import { adminClient, createScratchNamespace, deleteNamespaceAndWait, testResource } from '../testbed/kube-fixtures.ts';

const GROUP = 'engine.test.kerris.dev';
/** PodChaos's shape under a test-only group: the engine needs only a resource with a status subresource. */
let experiments: Resource<PodChaos>;
let removeExperiments: () => Promise<void>;

interface Call { op: 'apply' | 'recover'; pending: string[]; held: string[]; remainingMs?: number | undefined }

/** A held fault that records every call; recover answers `complete` from a list, then true. */
function recordingKind(targets: readonly string[], options: { refuse?: string; incompleteRecoveries?: number; refuseTargets?: readonly string[]; message?: string } = {}) {
  const calls: Call[] = [];
  let incomplete = options.incompleteRecoveries ?? 0;
  const fault: Fault<PodChaos> = {
    holds: true,
    injectedReason: 'Recorded',
    apply: async (_chaos, pending, held, context) => {
      calls.push({ op: 'apply', pending: pending.map((t) => t.name), held: held.map((t) => t.name), remainingMs: context.remainingMs });
      return pending.map((t) => ({ ...t, phase: 'Injected', injectedAt: new Date().toISOString().replace(/\.\d+Z$/, 'Z'), message: options.message ?? 'recorded' }));
    },
    recover: async (_chaos, held): Promise<RecoverOutcome> => {
      calls.push({ op: 'recover', pending: [], held: held.map((t) => t.name) });
      if (incomplete > 0) {
        incomplete -= 1;
        return { targets: [...held], complete: false, message: 'node n1 did not answer' };
      }
      return { targets: held.map((t) => ({ ...t, phase: 'Recovered', recoveredAt: '2026-12-01T00:00:00Z' })), complete: true, message: 'taken away on 1 node(s)' };
    },
    observe: (_chaos, records) => [...records],
  };
  const kind: ChaosKind<PodChaos> = {
    resource: experiments,
    refuse: async () => options.refuse,
    select: async (chaos) => ({
      targets: targets.map((name): TargetRecord => ({ namespace: chaos.metadata.namespace ?? '', name, uid: `uid-${name}`, phase: 'Selected', node: 'n1' })),
      notes: [],
      refused: false,
    }),
    fault: () => fault,
    recheck: (_chaos, records) => records.map((t) => (options.refuseTargets?.includes(t.name) ? { ...t, phase: 'Failed', message: 'refused before acting: not allowed' } : t)),
  };
  return { kind, calls };
}

let client: KubeClient;
let namespace: string;
let clock = Date.parse('2026-12-01T10:00:00Z');
const now = (): Date => new Date(clock);
const advance = (ms: number): void => { clock += ms; };

async function create(name: string, spec: Partial<PodChaosSpec>): Promise<void> {
  await client.create(experiments, {
    apiVersion: `${GROUP}/v1alpha1` as PodChaos['apiVersion'], kind: 'Experiment' as PodChaos['kind'], metadata: { name, namespace },
    spec: { action: 'pod-failure', mode: 'all', selector: {}, ...spec },
  });
}

const get = (name: string): Promise<PodChaos> => client.get(experiments, name, { namespace });
/** Every verdict an engine told, in order. */
const verdicts: Verdict[] = [];
const engineFor = (kind: ChaosKind<PodChaos>, maxTargets?: number) => new ExperimentEngine(client, new EventRecorder({ client, reportingController: 'chaos.kerris.dev/test' }), kind, {
  now, recoveryPollMs: 1_000, onVerdict: (_chaos, verdict) => { verdicts.push(verdict); }, ...(maxTargets ? { maxTargets } : {}),
});
const waitMs = (action: Action): number => ('requeueAfterMs' in action ? action.requeueAfterMs : Number.POSITIVE_INFINITY);

describe('the experiment engine on a real apiserver', () => {
  before(async () => {
    client = await adminClient();
    ({ resource: experiments, remove: removeExperiments } = await testResource<PodChaos>(client, { group: GROUP, version: 'v1alpha1', kind: 'Experiment', plural: 'experiments' }));
    namespace = await createScratchNamespace(client, 'engine');
  });

  after(async () => {
    // A test that failed half way leaves its object holding the finalizer, with no controller to drop it.
    for (const left of namespace ? (await client.listAll(experiments, { namespace })).items : []) {
      await client.patch(experiments, left.metadata.name ?? '', { type: 'merge', body: { metadata: { finalizers: null } } }, { namespace }).catch(() => undefined);
    }
    if (namespace) await deleteNamespaceAndWait(client, namespace);
    await removeExperiments?.();
    client?.close();
  });

  it('holds a fault for its duration, restates it while held, takes it away on pause, re-applies on resume, and counts no paused time', async () => {
    const { kind, calls } = recordingKind(['a', 'b']);
    const engine = engineFor(kind);
    await create('held', { duration: '10s' });
    let action = await engine.reconcile({ namespace, name: 'held' });
    let chaos = await get('held');
    assert.equal(chaos.status?.phase, 'Running');
    assert.deepEqual(calls, [{ op: 'apply', pending: ['a', 'b'], held: [], remainingMs: 10_000 }], 'selected and applied in one pass, with the whole duration left');
    assert.ok(chaos.metadata.finalizers?.includes(RECOVERY_FINALIZER));
    assert.ok(waitMs(action) <= 10_000);

    // The test's clock and the apiserver's injectedAt agree only to the second: set the clock to what was recorded.
    clock = Date.parse(chaos.status?.injectedAt ?? '');
    advance(4_000);
    action = await engine.reconcile({ namespace, name: 'held' });
    assert.deepEqual(calls.at(-1), { op: 'apply', pending: [], held: ['a', 'b'], remainingMs: 6_000 }, 'restated while held, with what is left');
    assert.equal(waitMs(action), 6_000);

    await client.patch(experiments, 'held', { type: 'merge', body: { spec: { paused: true } } }, { namespace });
    await engine.reconcile({ namespace, name: 'held' });
    chaos = await get('held');
    assert.equal(chaos.status?.phase, 'Paused');
    assert.deepEqual(calls.at(-1), { op: 'recover', pending: [], held: ['a', 'b'] });
    assert.deepEqual(chaos.status?.targets?.map((t) => t.phase), ['Selected', 'Selected'], 'taken away, to be applied again on resume');

    advance(100_000);
    assert.deepEqual(await engine.reconcile({ namespace, name: 'held' }), { awaitChange: true }, 'a paused experiment waits for a change');
    await client.patch(experiments, 'held', { type: 'merge', body: { spec: { paused: false } } }, { namespace });
    action = await engine.reconcile({ namespace, name: 'held' });
    assert.deepEqual(calls.at(-1), { op: 'apply', pending: ['a', 'b'], held: [], remainingMs: 6_000 }, 'resumed with the rest of the duration, paused time not counted');
    chaos = await get('held');
    assert.equal(chaos.status?.experiment?.pausedSeconds, 100);

    advance(6_000);
    await engine.reconcile({ namespace, name: 'held' });
    chaos = await get('held');
    assert.equal(chaos.status?.phase, 'Finished');
    assert.equal(calls.at(-1)?.op, 'recover');
    assert.deepEqual(chaos.status?.targets?.map((t) => t.phase), ['Recovered', 'Recovered']);
    assert.deepEqual(chaos.metadata.finalizers ?? [], [], 'a finished experiment holds nothing');
    assert.deepEqual(chaos.status?.verdict, { result: 'Passed', score: 100, reason: 'all 2 target(s) injected and recovered', concludedAt: chaos.status?.verdict?.concludedAt ?? '' });
    assert.equal(verdicts.at(-1)?.result, 'Passed', 'the verdict is told once, for metrics');
  });

  it('an abort takes every held fault away now, retries until every node has answered, and ends Aborted with the reason', async () => {
    const { kind, calls } = recordingKind(['a', 'b'], { incompleteRecoveries: 1 });
    const engine = engineFor(kind);
    await create('aborted', {});
    await engine.reconcile({ namespace, name: 'aborted' });
    assert.equal((await get('aborted')).status?.phase, 'Running', 'held until deleted: no duration');
    await client.patch(experiments, 'aborted', { type: 'merge', body: { metadata: { annotations: { [ABORT_ANNOTATION]: 'game day over' } } } }, { namespace });
    let action = await engine.reconcile({ namespace, name: 'aborted' });
    let chaos = await get('aborted');
    assert.equal(chaos.status?.phase, 'Recovering', 'a node that did not answer keeps it recovering');
    assert.equal(chaos.status?.conditions?.find((c) => c.type === 'Aborted')?.reason, 'Aborting');
    assert.ok(waitMs(action) <= 1_000, 'and it is asked again soon');
    action = await engine.reconcile({ namespace, name: 'aborted' });
    chaos = await get('aborted');
    assert.equal(chaos.status?.phase, 'Aborted');
    assert.deepEqual(calls.filter((c) => c.op === 'recover').map((c) => c.held), [['a', 'b'], ['a', 'b']]);
    assert.equal(calls.filter((c) => c.op === 'apply').length, 1, 'nothing applied after the abort');
    assert.deepEqual(chaos.status?.targets?.map((t) => t.phase), ['Recovered', 'Recovered']);
    const aborted = chaos.status?.conditions?.find((c) => c.type === 'Aborted');
    assert.equal(aborted?.status, 'True');
    assert.match(aborted?.message ?? '', /^game day over; /);
    assert.equal(chaos.status?.conditions?.find((c) => c.type === 'AllRecovered')?.status, 'True');
    assert.deepEqual(chaos.metadata.finalizers ?? [], [], 'an aborted experiment holds nothing');
    assert.equal(chaos.status?.verdict?.result, 'Aborted');
    assert.match(chaos.status?.verdict?.reason ?? '', /^game day over; /);
    assert.deepEqual(action, { awaitChange: true });
    assert.deepEqual(await engine.reconcile({ namespace, name: 'aborted' }), { awaitChange: true }, 'and stays aborted');
    assert.equal(calls.length, 3);
    const events = await client.listAll(coreEvents, { namespace, fieldSelector: `involvedObject.name=aborted` });
    assert.ok(events.items.some((e) => e.reason === 'Aborted' && /game day over/.test(e.message ?? '')), 'an Aborted Event says why');
  });

  it('an abort before the start injects nothing', async () => {
    const { kind, calls } = recordingKind(['a']);
    await create('aborted-early', {});
    await client.patch(experiments, 'aborted-early', { type: 'merge', body: { metadata: { annotations: { [ABORT_ANNOTATION]: '' } } } }, { namespace });
    await engineFor(kind).reconcile({ namespace, name: 'aborted-early' });
    const chaos = await get('aborted-early');
    assert.equal(chaos.status?.phase, 'Aborted');
    assert.match(chaos.status?.conditions?.find((c) => c.type === 'Aborted')?.message ?? '', /aborted before anything was injected/);
    assert.deepEqual(calls, []);
  });

  it('a deleted experiment keeps its finalizer until every node has answered that the fault is gone', async () => {
    const { kind, calls } = recordingKind(['a'], { incompleteRecoveries: 2 });
    const engine = engineFor(kind);
    await create('doomed', { duration: '1h' });
    await engine.reconcile({ namespace, name: 'doomed' });
    await client.delete(experiments, 'doomed', { namespace });
    for (let i = 0; i < 2; i++) {
      assert.equal(waitMs(await engine.reconcile({ namespace, name: 'doomed' })), 1_000, 'retried while recovery is incomplete');
      assert.ok((await get('doomed')).metadata.finalizers?.includes(RECOVERY_FINALIZER), 'still held');
    }
    await engine.reconcile({ namespace, name: 'doomed' });
    assert.equal(calls.filter((c) => c.op === 'recover').length, 3);
    await assert.rejects(get('doomed'), (error: unknown) => isNotFound(error), 'gone once recovery completed');
  });

  it('a duration of 720h is waited out in steps no longer than MAX_REQUEUE_MS, never a timer Node would cut to 1 ms', async () => {
    const { kind } = recordingKind(['a']);
    const engine = engineFor(kind);
    await create('long', { duration: '720h' });
    const first = await engine.reconcile({ namespace, name: 'long' });
    const second = await engine.reconcile({ namespace, name: 'long' });
    for (const action of [first, second]) assert.ok(waitMs(action) > 1_000 && waitMs(action) <= MAX_REQUEUE_MS, `waits ${waitMs(action)} ms`);
  });

  it('a kind that refuses the spec fails it before anything is picked or applied', async () => {
    const { kind, calls } = recordingKind(['a'], { refuse: 'no daemon can do this here' });
    await create('refused', { duration: '10s' });
    await engineFor(kind).reconcile({ namespace, name: 'refused' });
    const chaos = await get('refused');
    assert.equal(chaos.status?.phase, 'Failed');
    assert.equal(chaos.status?.conditions?.find((c) => c.type === 'Failed')?.reason, 'Unsupported');
    assert.equal(chaos.status?.selected, undefined);
    assert.deepEqual(calls, []);
  });

  it('asks the kind to recheck the policy before acting: a refused target is recorded Failed and never applied', async () => {
    const { kind, calls } = recordingKind(['a', 'kube-thing'], { refuseTargets: ['kube-thing'] });
    await create('recheck', { duration: '10s' });
    await engineFor(kind).reconcile({ namespace, name: 'recheck' });
    const chaos = await get('recheck');
    assert.deepEqual(calls[0], { op: 'apply', pending: ['a'], held: [], remainingMs: 10_000 });
    const refused = chaos.status?.targets?.find((t) => t.name === 'kube-thing');
    assert.equal(refused?.phase, 'Failed');
    assert.match(refused?.message ?? '', /refused before acting/);
    assert.equal(chaos.status?.failed, 1);
  });

  it('an experiment none of whose targets could be injected ends Failed with their reasons, instead of waiting for a duration that never starts', async () => {
    const { kind, calls } = recordingKind(['kube-a', 'kube-b'], { refuseTargets: ['kube-a', 'kube-b'] });
    await create('nothing', { duration: '10s' });
    const action = await engineFor(kind).reconcile({ namespace, name: 'nothing' });
    const chaos = await get('nothing');
    assert.deepEqual(calls, [], 'nothing applied');
    assert.equal(chaos.status?.phase, 'Failed');
    const failed = chaos.status?.conditions?.find((c) => c.type === 'Failed');
    assert.equal(failed?.reason, 'NothingInjected');
    assert.match(failed?.message ?? '', new RegExp(`^no target could be injected: ${namespace}/kube-a: refused before acting: not allowed; ${namespace}/kube-b: refused before acting`));
    assert.equal(chaos.status?.verdict?.result, 'Failed');
    assert.deepEqual(action, { awaitChange: true }, 'nothing more to do until the object changes');
  });

  it('cuts a kind\'s overlong message to what status holds, so the status write still succeeds', async () => {
    const { kind } = recordingKind(['a'], { message: `error: ${'x'.repeat(5_000)}` });
    await create('long-message', { duration: '10s' });
    await engineFor(kind).reconcile({ namespace, name: 'long-message' });
    const message = (await get('long-message')).status?.targets?.[0]?.message ?? '';
    assert.equal(message.length, 1024);
    assert.ok(message.endsWith('…'));
  });

  it('an experiment that picks more targets than the cap fails before anything is applied', async () => {
    const { kind, calls } = recordingKind(['a', 'b', 'c']);
    await create('too-many', { duration: '10s' });
    await engineFor(kind, 2).reconcile({ namespace, name: 'too-many' });
    const chaos = await get('too-many');
    assert.equal(chaos.status?.phase, 'Failed');
    assert.equal(chaos.status?.conditions?.find((c) => c.type === 'Failed')?.reason, 'TooManyTargets');
    assert.match(chaos.status?.conditions?.find((c) => c.type === 'Failed')?.message ?? '', /picked 3 pods, more than the 2/);
    assert.deepEqual(calls, []);
  });
  it('follows a level-triggered kind while it holds without a duration: a gone target Recovered, a new pick injected in the same pass with Events, evidence and reports written, held until deleted', async () => {
    const { kind, calls } = recordingKind(['a', 'b']);
    let world = ['a', 'b'];
    const base = kind.fault({} as PodChaos);
    const fault: Fault<PodChaos> = {
      ...base,
      apply: async (chaos, pending, held, context) => {
        context.report({ network: { peers: world.length } });
        return base.apply(chaos, pending, held, context);
      },
      evidence: async (_chaos, held) => held.map((t) => ({ ...t, evidence: { observedAt: '2026-12-01T10:00:00Z', counters: [{ device: 'eth0', direction: 'egress', kind: 'nft', fault: 'partition', packets: 5, dropped: 5 }] } })),
    };
    const following: ChaosKind<PodChaos> = {
      ...kind,
      fault: () => fault,
      follow: (chaos, records) => [
        ...records.map((r) => (world.includes(r.name) ? r : { ...r, phase: 'Recovered' as const, recoveredAt: '2026-12-01T10:00:00Z', message: 'the pod is gone' })),
        ...world.filter((n) => !records.some((r) => r.name === n)).map((name): TargetRecord => ({ namespace: chaos.metadata.namespace ?? '', name, uid: `uid-${name}`, phase: 'Selected', node: 'n1' })),
      ],
    };
    const engine = engineFor(following);
    await create('follow', {});
    await engine.reconcile({ namespace, name: 'follow' });
    let chaos = await get('follow');
    assert.equal(chaos.status?.network?.peers, 2, 'the kind\'s report is in status');
    assert.deepEqual(calls.at(-1), { op: 'apply', pending: ['a', 'b'], held: [], remainingMs: undefined });

    world = ['b', 'c'];
    advance(3_600_000);
    const action = await engine.reconcile({ namespace, name: 'follow' });
    chaos = await get('follow');
    assert.deepEqual(chaos.status?.targets?.map((t) => [t.name, t.phase]), [['a', 'Recovered'], ['b', 'Injected'], ['c', 'Injected']]);
    assert.deepEqual(calls.at(-1), { op: 'apply', pending: ['c'], held: ['b'], remainingMs: undefined }, 'the new pick applied with the held set');
    assert.deepEqual([chaos.status?.selected, chaos.status?.injected, chaos.status?.recovered], [3, 2, 1]);
    assert.equal(chaos.status?.phase, 'Running', 'no duration: held an hour later');
    assert.ok(waitMs(action) <= 15_000);
    const events = (await client.list(coreEvents, { namespace, fieldSelector: 'involvedObject.name=follow' })).items.map((e) => `${e.reason ?? ''}: ${e.message ?? ''}`);
    assert.ok(events.some((e) => e.startsWith('TargetGone: pod') && e.includes('/a')), events.join('\n'));
    assert.ok(events.some((e) => e.startsWith('TargetAdded: pod') && e.includes('/c')), events.join('\n'));

    await engine.reconcile({ namespace, name: 'follow' });
    chaos = await get('follow');
    assert.deepEqual(calls.at(-1), { op: 'apply', pending: [], held: ['b', 'c'], remainingMs: undefined }, 'restated');
    assert.deepEqual(chaos.status?.targets?.map((t) => t.evidence?.counters[0]?.dropped), [undefined, 5, 5], 'evidence on the held targets only');

    await client.delete(experiments, 'follow', { namespace });
    await engine.reconcile({ namespace, name: 'follow' });
    assert.deepEqual(calls.at(-1), { op: 'recover', pending: [], held: ['b', 'c'] });
    await assert.rejects(get('follow'), isNotFound);
  });
  it('a target the kind leaves Selected (its node\'s daemon not reachable yet) is waited for, not failed, and applied at a later pass', async () => {
    const { kind, calls } = recordingKind(['a']);
    const base = kind.fault({} as PodChaos);
    let reachable = false;
    const fault: Fault<PodChaos> = {
      ...base,
      apply: async (chaos, pending, held, context) => (reachable
        ? base.apply(chaos, pending, held, context)
        : pending.map((t) => ({ ...t, phase: 'Selected' as const, message: 'waiting: node n1: no Ready kerris daemon pod runs there' }))),
    };
    const engine = engineFor({ ...kind, fault: () => fault });
    await create('waits', { duration: '10m' });
    await engine.reconcile({ namespace, name: 'waits' });
    let chaos = await get('waits');
    assert.equal(chaos.status?.targets?.[0]?.phase, 'Selected');
    assert.equal(chaos.status?.conditions?.find((c) => c.type === 'AllInjected')?.reason, 'Waiting');
    assert.match(chaos.status?.conditions?.find((c) => c.type === 'AllInjected')?.message ?? '', /1 target\(s\) wait to be injected; .*no Ready kerris daemon/);
    assert.equal(chaos.status?.failed, 0, 'not counted as failed');
    reachable = true;
    await engine.reconcile({ namespace, name: 'waits' });
    chaos = await get('waits');
    assert.equal(chaos.status?.targets?.[0]?.phase, 'Injected', 'applied at the next pass');
    assert.equal(chaos.status?.conditions?.find((c) => c.type === 'AllInjected')?.status, 'True');
    assert.deepEqual(calls.map((c) => c.op), ['apply'], 'the kind\'s real apply ran once, when it could');
  });
});
