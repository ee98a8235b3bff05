/**
 * NodeChaos end to end on the test bed's real node, with kerris deployed from this checkout: the protected rule
 * refuses the node that runs every controller replica; with it allowed, node-drain cordons the node and evicts the
 * app's pods through the Eviction API while a PodDisruptionBudget (minAvailable 1 of 2) holds: the second eviction
 * is refused (429) and asked again, never both replicas gone at once, and the node is uncordoned at the end.
 * node-taint adds exactly its taint and removes exactly it, leaving a taint that was there before. Each test checks
 * that the node is left as it was found. (kerris's own pods and the daemon stay: protected namespace, DaemonSet.)
 * kubelet-stop has the node's daemon stop the test bed's real kubelet: the node goes NotReady within the controller
 * manager's grace period, and once the kubelet is continued it is Ready again, its unreachable taints gone.
 */
import { readFile } from 'node:fs/promises';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it, type TestContext } from 'node:test';
import { stringify } from 'yaml';
import type { NodeChaos } from '../../src/api/generated/types.ts';
import { HELD_ANNOTATION } from '../../src/controller/nodechaos/node-changes.ts';
import { clusterNode, type ClusterNode, type ControlPlane } from '../testbed/index.ts';
import { nodeKubeletPid } from '../testbed/node/index.ts';
import { deployKerris, removeKerris } from '../testbed/kerris.ts';
import { kubectl, kubectlJson } from '../testbed/kubectl.ts';
import { appPods, deploySampleApp, SAMPLE_APP } from '../testbed/sample-app.ts';

let plane: ControlPlane;
let node: ClusterNode;
const namespace = `e2e-node-${randomBytes(3).toString('hex')}`;

interface NodeJson { metadata: { annotations?: Record<string, string> }; spec?: { unschedulable?: boolean; taints?: { key: string; value?: string; effect: string }[] } }
interface EventJson { reason: string; message: string; type: string }

const nodeState = async () => {
  const n = await kubectlJson<NodeJson>(plane, ['get', 'node', node.name]);
  return { unschedulable: n.spec?.unschedulable === true, taints: (n.spec?.taints ?? []).map((t) => ({ key: t.key, value: t.value, effect: t.effect })), held: n.metadata.annotations?.[HELD_ANNOTATION] };
};

async function applyNodeChaos(name: string, spec: Partial<NodeChaos['spec']>): Promise<void> {
  const manifest = { apiVersion: 'chaos.kerris.dev/v1alpha1', kind: 'NodeChaos', metadata: { name, namespace }, spec: { mode: 'one', selector: { nodes: [node.name] }, ...spec } };
  await kubectl(plane, ['apply', '-f', '-'], { input: stringify(manifest) });
}

const getChaos = (name: string) => kubectlJson<NodeChaos>(plane, ['get', 'nodechaos', name, '-n', namespace]);

/** Polls the experiment, calling `each` on every read (the checks that must hold throughout), until `done`. */
async function waitChaos(name: string, what: string, done: (c: NodeChaos) => boolean, each: (c: NodeChaos) => Promise<void> = async () => {}, timeoutMs = 120_000): Promise<NodeChaos> {
  const deadline = Date.now() + timeoutMs;
  let last: NodeChaos | undefined;
  while (Date.now() < deadline) {
    last = await getChaos(name);
    await each(last);
    if (done(last)) return last;
    await sleep(250);
  }
  assert.fail(`${name}: ${what} not reached in ${timeoutMs} ms; status: ${JSON.stringify(last?.status, null, 1)}`);
}

/** kube-controller-manager's --node-monitor-grace-period (the test bed keeps the default) and --node-monitor-period. */
const NODE_MONITOR_GRACE_MS = 50_000;
const NODE_MONITOR_PERIOD_MS = 5_000;
/** The kubelet renews its node Lease every 10 s (a quarter of its 40 s duration): the grace runs from the last renewal. */
const NODE_LEASE_RENEW_MS = 10_000;

/** A process's state letter (field 3 of /proc/<pid>/stat: R, S, T for stopped...), undefined once it is gone. */
async function processState(pid: number): Promise<string | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  return stat?.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
}

const ended = (c: NodeChaos) => ['Finished', 'Failed', 'Aborted'].includes(c.status?.phase ?? '') && (c.metadata.finalizers ?? []).length === 0;
const events = async (name: string) => (await kubectlJson<{ items: EventJson[] }>(plane, ['get', 'events', '-n', namespace, '--field-selector', `involvedObject.kind=NodeChaos,involvedObject.name=${name}`])).items;

describe('NodeChaos on the real node, controller in-cluster', { timeout: 900_000 }, () => {
  let found: Awaited<ReturnType<typeof nodeState>>;

  before(async () => {
    ({ plane, node } = await clusterNode());
    await deployKerris(plane, node, { replicas: 2 });
    await kubectl(plane, ['create', 'namespace', namespace]);
    found = await nodeState();
    assert.equal(found.held, undefined, 'no NodeChaos holds the node before the tests');
  });

  after(async () => {
    // Experiments go first, while the controller still runs to undo them; then the node must be as found.
    await kubectl(plane, ['delete', 'namespace', namespace, '--ignore-not-found', '--wait=true', '--timeout=120s'], { timeoutMs: 150_000 });
    const left = await nodeState();
    await removeKerris(plane);
    assert.deepEqual(left, found, 'the node is left as it was found');
  });

  it('refuses to drain the node that runs every Ready controller replica, and touches nothing', async () => {
    await applyNodeChaos('drain-controller-node', { action: 'node-drain', duration: '30s' });
    const chaos = await waitChaos('drain-controller-node', 'Failed', ended);
    assert.equal(chaos.status?.phase, 'Failed');
    const failed = chaos.status?.conditions?.find((c) => c.type === 'Failed');
    assert.equal(failed?.reason, 'ControllerNode');
    assert.match(failed?.message ?? '', new RegExp(`^node ${node.name} runs every Ready kerris controller replica \\(kerris-system/kerris-controller-[^)]+, kerris-system/kerris-controller-[^)]+\\); set spec.allowControllerNode: true to allow it$`));
    assert.equal(chaos.status?.selected, 0);
    assert.ok((await events('drain-controller-node')).some((e) => e.type === 'Warning' && e.reason === 'ControllerNode' && e.message === failed?.message));
    assert.deepEqual(await nodeState(), found, 'the node was not touched');
  });

  it('node-drain with a PodDisruptionBudget: evicts one replica, the budget refuses the other (429, asked again), never both gone; cordoned while held, uncordoned at the end', async () => {
    await deploySampleApp(plane, namespace, 2);
    await kubectl(plane, ['apply', '-f', '-'], { input: stringify({ apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name: SAMPLE_APP, namespace }, spec: { minAvailable: 1, selector: { matchLabels: { app: SAMPLE_APP } } } }) });
    // The budget must count both pods before the drain starts, or it would refuse the first eviction too.
    for (const deadline = Date.now() + 30_000; ;) {
      const pdb = await kubectlJson<{ status?: { disruptionsAllowed?: number } }>(plane, ['get', 'pdb', SAMPLE_APP, '-n', namespace]);
      if (pdb.status?.disruptionsAllowed === 1) break;
      if (Date.now() > deadline) assert.fail(`PodDisruptionBudget never allowed a disruption: ${JSON.stringify(pdb.status)}`);
      await sleep(250);
    }
    const original = await appPods(plane, namespace);
    let minServing = Infinity;
    let sawCordoned = false;
    await applyNodeChaos('drain', { action: 'node-drain', duration: '25s', allowControllerNode: true, seed: 1 });
    const chaos = await waitChaos('drain', 'Finished', ended, async (c) => {
      const serving = (await appPods(plane, namespace)).filter((p) => p.ready && !p.terminating).length;
      minServing = Math.min(minServing, serving);
      if (c.status?.phase === 'Running' && c.status.injected === 1) sawCordoned ||= (await nodeState()).unschedulable;
    });
    assert.equal(chaos.status?.phase, 'Finished', JSON.stringify(chaos.status));
    assert.ok(minServing >= 1, `at least one replica served throughout (least seen: ${minServing})`);
    assert.ok(sawCordoned, 'the node was cordoned while the drain was held');
    const [target] = chaos.status?.targets ?? [];
    assert.equal(target?.name, node.name);
    assert.equal(target?.namespace, '', 'a node target has no namespace');
    assert.equal(target?.phase, 'Recovered');
    assert.equal(target?.message, 'uncordoned');
    const record = target?.nodeFault;
    assert.equal(record?.cordoned, true);
    assert.equal(record?.evicted?.length, 1, `one replica evicted: ${JSON.stringify(record)}`);
    assert.ok(original.some((p) => p.uid === record?.evicted?.[0]?.uid), 'the evicted pod was one of the app\'s');
    assert.ok((record?.refusals ?? 0) >= 2, `the budget's refusal was met and asked again: ${record?.refusals} refusal(s)`);
    assert.match(record?.lastRefusal ?? '', /disruption budget/);
    assert.equal(record?.remaining, 1, 'the other replica was never evicted');
    assert.ok(record?.evicted?.[0]?.replacedBy, 'the replacement is named');
    const reasons = (await events('drain')).map((e) => e.reason);
    for (const reason of ['Selected', 'Cordoned', 'Recovered', 'Finished']) assert.ok(reasons.includes(reason), `Event ${reason} in ${reasons.join(',')}`);
    const state = await nodeState();
    assert.equal(state.unschedulable, false, 'uncordoned at the end');
    assert.equal(state.held, undefined, 'kerris\'s record is gone from the node');
    // Uncordoned, the replacement runs again beside the replica the budget kept.
    for (const deadline = Date.now() + 90_000; ;) {
      const pods = (await appPods(plane, namespace)).filter((p) => !p.terminating);
      if (pods.length === 2 && pods.every((p) => p.ready)) {
        assert.ok(pods.some((p) => p.name === record?.evicted?.[0]?.replacedBy), `the recorded replacement ${record?.evicted?.[0]?.replacedBy} runs`);
        break;
      }
      if (Date.now() > deadline) assert.fail(`app not back to 2 Ready pods: ${JSON.stringify(pods)}`);
      await sleep(250);
    }
  });

  it('node-taint adds exactly its taint for the duration and removes exactly it; a taint there before stays', async () => {
    const before = { key: 'kerris.dev/test-before', value: namespace, effect: 'PreferNoSchedule' };
    await kubectl(plane, ['taint', 'node', node.name, `${before.key}=${before.value}:${before.effect}`]);
    try {
      const withBefore = await nodeState();
      const taint = { key: 'kerris.dev/chaos-test', value: 'held', effect: 'PreferNoSchedule' as const };
      let sawTaint = false;
      await applyNodeChaos('taint', { action: 'node-taint', duration: '8s', allowControllerNode: true, taint });
      const chaos = await waitChaos('taint', 'Finished', ended, async (c) => {
        if (c.status?.phase !== 'Running' || c.status.injected !== 1) return;
        const state = await nodeState();
        if (state.taints.some((t) => t.key === taint.key)) {
          sawTaint = true;
          assert.deepEqual(state.taints, [...withBefore.taints, taint], 'its taint added after the others, nothing else changed');
        }
      });
      assert.equal(chaos.status?.phase, 'Finished', JSON.stringify(chaos.status));
      assert.ok(sawTaint, 'the taint was on the node while held');
      assert.deepEqual(chaos.status?.targets?.[0]?.nodeFault?.taint, taint);
      assert.equal(chaos.status?.targets?.[0]?.message, `taint ${taint.key}:${taint.effect} removed`);
      assert.deepEqual(await nodeState(), withBefore, 'exactly its taint removed; the one there before stays');
    } finally {
      await kubectl(plane, ['taint', 'node', node.name, `${before.key}:${before.effect}-`]);
    }
  });

  it('kubelet-stop: the daemon stops the real kubelet, the node goes NotReady within the grace period, and at the end the kubelet runs again and the node is Ready, its unreachable taints gone', async (t: TestContext) => {
    const pid = await nodeKubeletPid(node);
    assert.ok(pid !== undefined, 'the test bed\'s kubelet runs');
    assert.notEqual(await processState(pid), 'T', 'the kubelet runs before the test');
    let sawStopped = false;
    let sawNotReady = false;
    await applyNodeChaos('kubelet', { action: 'kubelet-stop', duration: '90s', allowControllerNode: true });
    const chaos = await waitChaos('kubelet', 'Finished', ended, async (c) => {
      const target = c.status?.targets?.[0];
      if (target?.phase !== 'Injected') return;
      sawStopped ||= await processState(pid) === 'T';
      sawNotReady ||= target.nodeFault?.notReadyAt !== undefined;
    }, 300_000);
    assert.equal(chaos.status?.phase, 'Finished', JSON.stringify(chaos.status));
    assert.ok(sawStopped, 'the kubelet was seen stopped (state T) while the fault was held');
    assert.ok(sawNotReady, 'status said NotReady while the fault was held');
    const [target] = chaos.status?.targets ?? [];
    assert.equal(target?.phase, 'Recovered');
    assert.match(target?.message ?? '', /^the kubelet is continued; the node is Ready again since /);
    const { notReadyAt, readyAt } = target?.nodeFault ?? {};
    const stoppedAt = Date.parse(target?.injectedAt ?? '');
    assert.ok(notReadyAt !== undefined && readyAt !== undefined, `NotReady and Ready again recorded: ${JSON.stringify(target?.nodeFault)}`);
    // Whole seconds on both sides: the condition's transition time and injectedAt.
    const notReadyAfterMs = Date.parse(notReadyAt) - stoppedAt;
    // The grace runs from the kubelet's last heartbeat, up to one Lease renewal before the stop.
    assert.ok(notReadyAfterMs >= NODE_MONITOR_GRACE_MS - NODE_LEASE_RENEW_MS - 2_000 && notReadyAfterMs <= NODE_MONITOR_GRACE_MS + NODE_MONITOR_PERIOD_MS + 5_000, `NotReady ${notReadyAfterMs} ms after the kubelet was stopped, not within the grace period of ${NODE_MONITOR_GRACE_MS} ms from its last heartbeat (+ one monitor period)`);
    const readyAfterMs = Date.parse(readyAt) - Date.parse(target?.recoveredAt ?? '');
    t.diagnostic(`kubelet stopped at ${target?.injectedAt}, node NotReady ${notReadyAfterMs} ms later; continued at ${target?.recoveredAt}, Ready again ${readyAfterMs} ms later`);
    assert.ok(readyAfterMs >= -1_000 && readyAfterMs <= 30_000, `Ready again ${readyAfterMs} ms after the kubelet was continued`);
    assert.ok((await events('kubelet')).some((e) => e.reason === 'KubeletStopped'), 'a KubeletStopped Event');
    assert.equal(await nodeKubeletPid(node), pid, 'the same kubelet process runs on: continued, not restarted');
    assert.notEqual(await processState(pid), 'T');
    // The node lifecycle controller takes its unreachable taints away once the kubelet reports again.
    for (const deadline = Date.now() + 60_000; ;) {
      const state = await nodeState();
      if (JSON.stringify(state) === JSON.stringify(found)) break;
      if (Date.now() > deadline) assert.fail(`the node is not as it was found 60 s after it was Ready again: ${JSON.stringify(state)} vs ${JSON.stringify(found)}`);
      await sleep(500);
    }
  });
});
