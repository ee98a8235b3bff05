/**
 * Schedules end to end: kerris deployed on the test bed and a Schedule `@every 10s` of a pod-kill of the sample app
 * with Forbid and historyLimit 2. Runs start on their slots (the spread is measured), never two at once, and two are
 * kept. A controller outage across slots: the slots missed are reported once (status and one MissedSchedule Event),
 * none is run later than startingDeadlineSeconds, and the schedule goes on at the next slot. A Schedule of a
 * StressChaos: its run's stressors load the container's own cgroup, and are gone once the Schedule is deleted.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import type { PodChaos, Schedule, StressChaos } from '../../src/api/generated/types.ts';
import { ContainerdRuntime } from '../../src/daemon/runtime/containerd.ts';
import { clusterNode, type ClusterNode, type ControlPlane } from '../testbed/index.ts';
import { deployKerris, removeKerris } from '../testbed/kerris.ts';
import { kubectl, kubectlJson } from '../testbed/kubectl.ts';
import { ContainerCgroup, hostStressors, isStressNg, whereStressorsAre } from '../testbed/node/cgroup-usage.ts';
import { SAMPLE_APP } from '../testbed/sample-app.ts';
import { chaosFixtures, condition, pollFor, type ChaosFixtures, type EventJson } from './chaos-fixtures.ts';

let plane: ControlPlane;
let node: ClusterNode;
let fx: ChaosFixtures;
let containerd: ContainerdRuntime | undefined;

const PERIOD_MS = 10_000;
const SCHEDULED_AT = 'chaos.kerris.dev/scheduled-at';

async function applySchedule(namespace: string, name: string, extra: Partial<Schedule['spec']> = {}): Promise<void> {
  const manifest = {
    apiVersion: 'chaos.kerris.dev/v1alpha1', kind: 'Schedule', metadata: { name, namespace },
    spec: {
      schedule: '@every 10s', type: 'PodChaos', concurrencyPolicy: 'Forbid', historyLimit: 2,
      podChaos: { action: 'pod-kill', mode: 'one', selector: { labelSelectors: { app: SAMPLE_APP } } },
      ...extra,
    },
  };
  await kubectl(plane, ['apply', '-f', '-'], { input: stringify(manifest) });
}

const getSchedule = (namespace: string, name: string): Promise<Schedule> => kubectlJson<Schedule>(plane, ['get', 'schedules', name, '-n', namespace]);

async function runsOf(namespace: string, name: string): Promise<PodChaos[]> {
  const list = await kubectlJson<{ items: PodChaos[] }>(plane, ['get', 'podchaos', '-n', namespace, '-l', `chaos.kerris.dev/schedule=${name}`]);
  return list.items.filter((r) => r.metadata.deletionTimestamp === undefined);
}

const runEnded = (r: PodChaos): boolean => ['Finished', 'Aborted', 'Failed'].includes(r.status?.phase ?? '');
const slotOf = (r: PodChaos): number => Date.parse(r.metadata.annotations?.[SCHEDULED_AT] ?? '');

interface Watched { firstSeenMs: Map<string, number>; slots: Map<string, number>; maxActive: number; maxKept: number }

/** Polls the runs until `untilMs`: when each was first seen, the most active at once, and the most kept a second after a slot. */
async function watchRuns(namespace: string, name: string, untilMs: number, seen: Watched = { firstSeenMs: new Map(), slots: new Map(), maxActive: 0, maxKept: 0 }): Promise<Watched> {
  while (Date.now() < untilMs) {
    const runs = await runsOf(namespace, name);
    const now = Date.now();
    for (const r of runs) {
      const runName = r.metadata.name ?? '';
      if (!seen.firstSeenMs.has(runName)) {
        seen.firstSeenMs.set(runName, now);
        seen.slots.set(runName, slotOf(r));
      }
    }
    seen.maxActive = Math.max(seen.maxActive, runs.filter((r) => !runEnded(r)).length);
    // The newest run is created a moment before the oldest is pruned, in the same reconcile: count once settled.
    const latestSlot = Math.max(0, ...runs.map(slotOf));
    if (now - latestSlot > 1_000) seen.maxKept = Math.max(seen.maxKept, runs.length);
    await sleep(100);
  }
  return seen;
}

describe('schedules on the real cluster', { timeout: 600_000 }, () => {
  before(async () => {
    ({ plane, node } = await clusterNode());
    fx = chaosFixtures(plane, 'e2e-sched');
    await deployKerris(plane, node, { replicas: 1 });
  });

  after(async () => {
    await fx?.cleanUp();
    containerd?.close();
    await removeKerris(plane);
  });

  it('@every 10s of a pod-kill, Forbid, historyLimit 2: runs on its slots, never two at once, keeps two', async () => {
    const namespace = await fx.newApp(3);
    await applySchedule(namespace, 'kills');
    const seen = await watchRuns(namespace, 'kills', Date.now() + 4.5 * PERIOD_MS);
    const lags = [...seen.firstSeenMs].map(([run, at]) => at - (seen.slots.get(run) ?? 0));
    process.stderr.write(`schedule: ${lags.length} runs, first seen after their slot: ${lags.join(', ')} ms (100 ms polls)\n`);
    assert.ok(lags.length >= 4, `at least 4 runs in 45 s: ${lags.length}`);
    assert.ok(lags.every((l) => l >= 0 && l <= 1_500), `every run started within 1.5 s of its slot: ${lags.join(', ')}`);
    const slots = [...seen.slots.values()].sort((a, b) => a - b);
    assert.ok(slots.every((s, i) => i === 0 || s - (slots[i - 1] ?? 0) === PERIOD_MS), `one run per 10 s slot: ${slots.map((s) => new Date(s).toISOString()).join(', ')}`);
    assert.equal(seen.maxActive, 1, 'never two runs at once');
    assert.equal(seen.maxKept, 2, 'two runs kept once the newest slot\'s reconcile is done');
    const schedule = await getSchedule(namespace, 'kills');
    assert.ok((schedule.status?.runs ?? 0) >= lags.length);
    assert.equal(schedule.status?.missedRuns ?? 0, 0);
    const kept = await runsOf(namespace, 'kills');
    assert.deepEqual(kept.map(slotOf).sort(), slots.slice(-2), 'the two newest are kept');
    await kubectl(plane, ['delete', 'schedule', 'kills', '-n', namespace, '--wait=true']);
    await fx.waitAppReady(namespace);
  });

  it('a controller outage across slots: the missed runs are reported once, none runs later than startingDeadlineSeconds, and the next slot runs', async () => {
    const namespace = await fx.newApp(3);
    const STARTING_DEADLINE_S = 3;
    await applySchedule(namespace, 'outage', { startingDeadlineSeconds: STARTING_DEADLINE_S });
    let seen = await watchRuns(namespace, 'outage', Date.now() + 1.5 * PERIOD_MS);
    assert.ok(seen.firstSeenMs.size >= 1, 'a run before the outage');
    await fx.scaleController(0);
    const downMs = Date.now();
    await sleep(25_000);
    await fx.scaleController(1);
    const upMs = Date.now();
    seen = await watchRuns(namespace, 'outage', Date.now() + 2 * PERIOD_MS, seen);
    const schedule = await getSchedule(namespace, 'outage');
    const runSlots = new Set(seen.slots.values());
    // The slots while no controller ran: none may run later than startingDeadlineSeconds after it.
    const lateRuns = [...seen.firstSeenMs].filter(([run, at]) => at - (seen.slots.get(run) ?? 0) > STARTING_DEADLINE_S * 1000 + 1_500);
    assert.deepEqual(lateRuns, [], 'no run started later than startingDeadlineSeconds after its slot');
    const anchor = Date.parse(schedule.metadata.creationTimestamp ?? '');
    const outageSlots: number[] = [];
    for (let s = anchor + PERIOD_MS; s <= upMs; s += PERIOD_MS) if (s > downMs) outageSlots.push(s);
    const missedSlots = outageSlots.filter((s) => !runSlots.has(s));
    process.stderr.write(`schedule outage: ${((upMs - downMs) / 1000).toFixed(1)} s, slots ${outageSlots.map((s) => new Date(s).toISOString()).join(', ')}; run ${outageSlots.length - missedSlots.length}, missed ${missedSlots.length}; status ${JSON.stringify(schedule.status?.lastMissed)}\n`);
    assert.ok(missedSlots.length >= 1, 'a slot fell in the outage and was not run');
    assert.equal(schedule.status?.missedRuns, missedSlots.length, 'status counts each missed slot');
    assert.equal(schedule.status?.lastMissed?.count, missedSlots.length, 'reported together');
    assert.equal(Date.parse(schedule.status?.lastMissed?.first ?? ''), missedSlots[0]);
    const events = await kubectlJson<{ items: (EventJson & { count?: number; series?: { count: number } })[] }>(plane, ['get', 'events', '-n', namespace, '--field-selector', 'involvedObject.kind=Schedule,involvedObject.name=outage']);
    const missed = events.items.filter((e) => e.reason === 'MissedSchedule');
    assert.equal(missed.length, 1, `one MissedSchedule Event: ${JSON.stringify(missed)}`);
    assert.ok((missed[0]?.count ?? 1) === 1 && missed[0]?.series === undefined, 'reported once, not repeated');
    assert.match(missed[0]?.message ?? '', new RegExp(`^missed ${missedSlots.length} run\\(s\\) `));
    const after = [...seen.slots.values()].filter((s) => s > upMs);
    assert.ok(after.length >= 1, 'the schedule runs again after the outage');
    await kubectl(plane, ['delete', 'schedule', 'outage', '-n', namespace, '--wait=true']);
    await fx.waitAppReady(namespace);
  });
  it('@every 10s of a StressChaos: its run stresses the container in its own cgroup, and deleting the Schedule ends the stressors', async () => {
    const namespace = await fx.newApp(1);
    containerd ??= new ContainerdRuntime({ socket: node.containerdSocket });
    const [pod] = (await kubectlJson<{ items: { status: { containerStatuses?: { containerID?: string }[] } }[] }>(plane, ['get', 'pods', '-n', namespace])).items;
    const cgroup = await ContainerCgroup.of(containerd, pod?.status.containerStatuses?.[0]?.containerID);
    const idle = await cgroup.coresOver(3_000);
    const manifest = {
      apiVersion: 'chaos.kerris.dev/v1alpha1', kind: 'Schedule', metadata: { name: 'stress', namespace },
      spec: {
        schedule: '@every 10s', type: 'StressChaos', historyLimit: 1,
        stressChaos: { mode: 'one', selector: { labelSelectors: { app: SAMPLE_APP } }, stressors: { cpu: { workers: 1, load: 50 } }, duration: '40s' },
      },
    };
    await kubectl(plane, ['apply', '-f', '-'], { input: stringify(manifest) });
    const run = await pollFor('a StressChaos run of the Schedule, injected', 60_000, async () => {
      const runs = await kubectlJson<{ items: StressChaos[] }>(plane, ['get', 'stresschaos', '-n', namespace, '-l', 'chaos.kerris.dev/schedule=stress']);
      return runs.items.find((r) => condition(r, 'AllInjected')?.status === 'True');
    });
    assert.deepEqual(run.metadata.ownerReferences?.map((o) => [o.kind, o.name]), [['Schedule', 'stress']]);
    assert.ok(!Number.isNaN(Date.parse(run.metadata.annotations?.[SCHEDULED_AT] ?? '')), 'the run names its slot');
    await pollFor('stress-ng in the container\'s own cgroup', 10_000, async () => ([...(await cgroup.processes()).values()].some(isStressNg) ? true : undefined))
      .catch(async (error: unknown) => assert.fail(`${String(error)}; the container's ${cgroup.describe()}; ${await whereStressorsAre()}`));
    const loaded = await cgroup.coresOver(10_000);
    process.stderr.write(`scheduled stress: ${idle.toFixed(3)} cores idle, ${loaded.toFixed(3)} over 10 s with load 50\n`);
    assert.ok(Math.abs(loaded - idle - 0.5) <= 0.1, `the container used ${loaded.toFixed(3)} cores (idle ${idle.toFixed(3)}), not 0.5 ± 0.1 more`);
    // Forbid: the next slots wait for the run, whose 40 s outlast them.
    const runs = await kubectlJson<{ items: StressChaos[] }>(plane, ['get', 'stresschaos', '-n', namespace, '-l', 'chaos.kerris.dev/schedule=stress']);
    assert.equal(runs.items.length, 1, `one run while it is active: ${runs.items.map((r) => r.metadata.name).join(', ')}`);
    // The garbage collector deletes the run with the Schedule; its finalizer takes the stressors away first.
    await kubectl(plane, ['delete', 'schedule', 'stress', '-n', namespace, '--wait=true']);
    await pollFor('no stress-ng left on the host after the Schedule is deleted', 30_000, async () => ((await hostStressors()).size === 0 ? true : undefined))
      .catch(async (error: unknown) => assert.fail(`${String(error)}; ${await whereStressorsAre()}`));
  });
});
