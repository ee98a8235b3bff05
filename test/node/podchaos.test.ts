/**
 * PodChaos end to end: the controller runs inside the test-bed cluster as a
 * pod, from the locally built image, under deploy/'s ServiceAccount and RBAC,
 * and acts on a real Deployment on a real node.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { clusterNode, type ClusterNode, type ControlPlane } from '../testbed/index.ts';
import { deployKerris, KERRIS_NAMESPACE, removeKerris } from '../testbed/kerris.ts';
import { kubectl, kubectlJson } from '../testbed/kubectl.ts';
import { appPods, SAMPLE_APP } from '../testbed/sample-app.ts';
import { chaosFixtures, condition, finished, type ChaosFixtures } from './chaos-fixtures.ts';

let plane: ControlPlane;
let node: ClusterNode;
let fx: ChaosFixtures;

describe('PodChaos on the real cluster, controller in-cluster', { timeout: 900_000 }, () => {
  before(async () => {
    ({ plane, node } = await clusterNode());
    fx = chaosFixtures(plane, 'e2e-pc');
    await deployKerris(plane, node, { replicas: 2 });
  });

  after(async () => {
    // Experiments go first, while the controller still runs to take their faults away.
    await fx.cleanUp();
    await removeKerris(plane);
  });

  it('pod-kill of 1 of 3 replicas: the pod is gone, the ReplicaSet brings the count back to 3, and status says by whom', async () => {
    const namespace = await fx.newApp();
    const before = await appPods(plane, namespace);
    await fx.applyChaos(namespace, 'kill-one', { seed: 42 });
    // The finalizer goes in the write after the one that says Finished, so a read in between still sees it.
    const chaos = await fx.waitChaos(namespace, 'kill-one', 'Finished with no finalizer', (c) => finished(c) && (c.metadata.finalizers ?? []).length === 0);
    assert.equal(chaos.status?.phase, 'Finished');
    assert.deepEqual(chaos.metadata.finalizers ?? [], [], 'a finished experiment holds nothing, so no finalizer keeps it');
    assert.equal(chaos.status?.selected, 1);
    assert.equal(chaos.status?.recovered, 1);
    const [target] = chaos.status?.targets ?? [];
    assert.ok(target && before.some((p) => p.uid === target.uid), 'the target was one of the app\'s pods');
    const after = await fx.waitAppReady(namespace);
    assert.ok(!after.some((p) => p.uid === target.uid), 'the killed pod is gone');
    assert.ok(target.replacedBy && after.some((p) => p.name === target.replacedBy), `the replacement ${target.replacedBy} runs`);
    assert.equal(after.filter((p) => before.some((b) => b.uid === p.uid)).length, 2, 'the two other pods were not touched');
    assert.equal(condition(chaos, 'AllInjected')?.status, 'True');
    assert.equal(condition(chaos, 'AllRecovered')?.status, 'True');
    const reasons = (await fx.chaosEvents(namespace, 'kill-one')).map((e) => e.reason);
    for (const reason of ['Selected', 'Killed', 'Recovered', 'Finished']) assert.ok(reasons.includes(reason), `Event ${reason} in ${reasons.join(',')}`);
  });

  it('fixed-percent rounds up: 50% of 3 kills 2; all kills 3; each is replaced', async () => {
    const half = await fx.newApp();
    await fx.applyChaos(half, 'half', { mode: 'fixed-percent', value: '50' });
    const halfDone = await fx.waitChaos(half, 'half', 'Finished', finished);
    assert.equal(halfDone.status?.selected, 2);
    assert.equal(halfDone.status?.recovered, 2);

    const all = await fx.newApp();
    const before = await appPods(plane, all);
    await fx.applyChaos(all, 'all', { mode: 'all' });
    const allDone = await fx.waitChaos(all, 'all', 'Finished', finished);
    assert.equal(allDone.status?.selected, 3);
    assert.equal(allDone.status?.recovered, 3);
    const after = await fx.waitAppReady(all);
    assert.ok(after.every((p) => !before.some((b) => b.uid === p.uid)), 'every original pod was replaced');
    assert.equal(new Set(allDone.status?.targets?.map((t) => t.replacedBy)).size, 3, 'three distinct replacements');
  });

  it('pod-kill without gracePeriod deletes gracefully, with the pod\'s own grace period; gracePeriod: 0 must be asked for', async () => {
    const namespace = await fx.newApp();
    // Pods that take their time to stop: a grace period of 60 s, and a command that ignores SIGTERM.
    await kubectl(plane, ['patch', 'deployment', SAMPLE_APP, '-n', namespace, '--type=strategic', '-p', JSON.stringify({
      spec: { template: { spec: { terminationGracePeriodSeconds: 60, containers: [{ name: SAMPLE_APP, command: ['/bin/sh', '-c', 'trap "" TERM; httpd -f -p 8080 -h /'] }] } } },
    })]);
    await kubectl(plane, ['rollout', 'status', `deployment/${SAMPLE_APP}`, '-n', namespace, '--timeout=180s'], { timeoutMs: 200_000 });
    await fx.waitAppReady(namespace);
    await fx.applyChaos(namespace, 'graceful', { seed: 8 });
    const chaos = await fx.waitChaos(namespace, 'graceful', 'killed', (c) => c.status?.targets?.[0]?.phase === 'Injected' || c.status?.targets?.[0]?.phase === 'Recovered');
    const target = chaos.status?.targets?.[0];
    const killed = (await fx.chaosEvents(namespace, 'graceful')).find((e) => e.reason === 'Killed');
    assert.match(killed?.message ?? '', /deleted with the pod's own grace period/, JSON.stringify(chaos.status));
    const pod = await kubectlJson<{ metadata: { deletionTimestamp?: string; deletionGracePeriodSeconds?: number } }>(plane, ['get', 'pod', target?.name ?? '', '-n', namespace]);
    assert.ok(pod.metadata.deletionTimestamp, 'the pod is terminating, not gone at once');
    assert.equal(pod.metadata.deletionGracePeriodSeconds, 60, 'with its own grace period, not a force delete');
    // These pods would each take a minute to go: end them at once so the namespace can be deleted.
    await kubectl(plane, ['scale', `deployment/${SAMPLE_APP}`, '-n', namespace, '--replicas=0']);
    await kubectl(plane, ['delete', 'pods', '--all', '-n', namespace, '--grace-period=0', '--force'], { allowFailure: true });
  });

  it('the same seed picks the same targets; a dry run shows them and touches nothing', async () => {
    const namespace = await fx.newApp();
    const before = await appPods(plane, namespace);
    const picks: string[][] = [];
    for (const name of ['preview-a', 'preview-b']) {
      await fx.applyChaos(namespace, name, { mode: 'fixed', value: '2', seed: 12345, dryRun: true });
      const chaos = await fx.waitChaos(namespace, name, 'Finished', finished);
      assert.equal(condition(chaos, 'AllInjected')?.reason, 'DryRun');
      assert.ok(chaos.status?.targets?.every((t) => t.phase === 'Selected'));
      picks.push((chaos.status?.targets ?? []).map((t) => t.name).sort());
    }
    assert.deepEqual(picks[0], picks[1]);
    assert.deepEqual((await appPods(plane, namespace)).map((p) => p.uid), before.map((p) => p.uid), 'a dry run kills nothing');

    await fx.applyChaos(namespace, 'real', { mode: 'fixed', value: '2', seed: 12345 });
    const real = await fx.waitChaos(namespace, 'real', 'Finished', finished);
    assert.deepEqual((real.status?.targets ?? []).map((t) => t.name).sort(), picks[0], 'the real run kills what the dry run showed');
    assert.equal(real.status?.seed, 12345);
  });

  it('pause holds the experiment; resume goes on; paused time does not count toward duration', async () => {
    const namespace = await fx.newApp();
    const before = await appPods(plane, namespace);
    await fx.applyChaos(namespace, 'paused', { paused: true, duration: '8s' });
    const held = await fx.waitChaos(namespace, 'paused', 'Paused', (c) => c.status?.phase === 'Paused');
    assert.equal(condition(held, 'Paused')?.status, 'True');
    await sleep(3_000);
    assert.deepEqual((await appPods(plane, namespace)).map((p) => p.uid), before.map((p) => p.uid), 'nothing is killed while paused');

    await kubectl(plane, ['patch', 'podchaos', 'paused', '-n', namespace, '--type=merge', '-p', '{"spec":{"paused":false}}']);
    await fx.waitChaos(namespace, 'paused', 'Running after resume', (c) => c.status?.phase === 'Running' && c.status.injectedAt !== undefined);
    await kubectl(plane, ['patch', 'podchaos', 'paused', '-n', namespace, '--type=merge', '-p', '{"spec":{"paused":true}}']);
    await fx.waitChaos(namespace, 'paused', 'Paused mid-run', (c) => c.status?.phase === 'Paused');
    await sleep(10_000);
    const stillPaused = await fx.getChaos(namespace, 'paused');
    assert.equal(stillPaused.status?.phase, 'Paused', 'a paused experiment does not finish although its duration has passed in wall time');

    const resumedAt = Date.now();
    await kubectl(plane, ['patch', 'podchaos', 'paused', '-n', namespace, '--type=merge', '-p', '{"spec":{"paused":false}}']);
    const done = await fx.waitChaos(namespace, 'paused', 'Finished', finished, 30_000);
    assert.equal(done.status?.phase, 'Finished');
    assert.ok((done.status?.experiment?.pausedSeconds ?? 0) >= 9, `paused time recorded: ${done.status?.experiment?.pausedSeconds}`);
    assert.ok(Date.now() - resumedAt >= 2_000, 'the rest of the duration still had to run after resuming');
    const reasons = (await fx.chaosEvents(namespace, 'paused')).map((e) => e.reason);
    assert.ok(reasons.includes('Paused') && reasons.includes('Resumed'), reasons.join(','));
  });

  it('deleting a running experiment recovers first, then the object goes', async () => {
    const namespace = await fx.newApp();
    await fx.applyChaos(namespace, 'doomed', { duration: '10m' });
    const running = await fx.waitChaos(namespace, 'doomed', 'Running', (c) => c.status?.phase === 'Running' && condition(c, 'AllInjected')?.status === 'True');
    assert.ok(running.metadata.finalizers?.includes('chaos.kerris.dev/recover'), 'a running experiment is held by its recovery finalizer');
    await kubectl(plane, ['delete', 'podchaos', 'doomed', '-n', namespace, '--wait=true', '--timeout=30s'], { timeoutMs: 40_000 });
    const gone = await kubectl(plane, ['get', 'podchaos', 'doomed', '-n', namespace], { allowFailure: true });
    assert.match(gone.stderr, /NotFound/);
    await fx.waitAppReady(namespace);
  });

  it('a controller restarted between its kill and its record neither kills twice nor forgets the target', async () => {
    const namespace = await fx.newApp();
    await fx.scaleController(0);
    try {
      const [victim] = await appPods(plane, namespace);
      assert.ok(victim);
      await fx.applyChaos(namespace, 'crash', { seed: 1 });
      // What a controller that died right after its kill leaves behind: a target recorded as picked, and the pod gone.
      const startTime = new Date(Date.now() - 1_000).toISOString().replace(/\.\d+Z$/, 'Z');
      const status = {
        phase: 'Running', seed: 1, startTime, selected: 1, injected: 0, recovered: 0, failed: 0, targetsTruncated: 0,
        experiment: { desiredPhase: 'Run' },
        targets: [{ namespace, name: victim.name, uid: victim.uid, phase: 'Selected', owner: await ownerOf(namespace, victim.name) }],
      };
      await kubectl(plane, ['patch', 'podchaos', 'crash', '-n', namespace, '--subresource=status', '--type=merge', '-p', JSON.stringify({ status })]);
      await kubectl(plane, ['delete', 'pod', victim.name, '-n', namespace, '--grace-period=0', '--wait=true']);
      const survivors = await fx.waitAppReady(namespace);
      await fx.scaleController(2);
      const chaos = await fx.waitChaos(namespace, 'crash', 'Finished', finished);
      const [target] = chaos.status?.targets ?? [];
      assert.equal(target?.uid, victim.uid, 'the recorded target is kept');
      assert.equal(target?.phase, 'Recovered');
      assert.ok(survivors.some((p) => p.name === target?.replacedBy), `replacement ${target?.replacedBy} found`);
      assert.deepEqual((await appPods(plane, namespace)).map((p) => p.uid), survivors.map((p) => p.uid), 'no second pod was killed');
    } finally {
      await fx.scaleController(2);
    }
  });

  it('a controller killed mid-experiment hands over to the other replica, which finishes without killing again', async () => {
    const namespace = await fx.newApp();
    await fx.applyChaos(namespace, 'handover', { duration: '15s', seed: 3 });
    await fx.waitChaos(namespace, 'handover', 'injected', (c) => condition(c, 'AllInjected')?.status === 'True');
    const afterKill = await fx.waitAppReady(namespace);
    const lease = await kubectlJson<{ spec: { holderIdentity: string } }>(plane, ['get', 'lease', 'kerris-controller', '-n', KERRIS_NAMESPACE]);
    await kubectl(plane, ['delete', 'pod', lease.spec.holderIdentity, '-n', KERRIS_NAMESPACE, '--grace-period=0', '--force'], { allowFailure: true });
    const chaos = await fx.waitChaos(namespace, 'handover', 'Finished', finished, 90_000);
    assert.equal(chaos.status?.selected, 1);
    assert.equal(chaos.status?.recovered, 1);
    assert.deepEqual((await appPods(plane, namespace)).map((p) => p.uid), afterKill.map((p) => p.uid), 'the new leader killed nothing more');
    const newLease = await kubectlJson<{ spec: { holderIdentity: string } }>(plane, ['get', 'lease', 'kerris-controller', '-n', KERRIS_NAMESPACE]);
    assert.notEqual(newLease.spec.holderIdentity, lease.spec.holderIdentity);
    await fx.scaleController(2);
  });

  it('with two controllers running, only the leader acts', async () => {
    await fx.scaleController(2);
    const namespace = await fx.newApp();
    await fx.applyChaos(namespace, 'leader', {});
    await fx.waitChaos(namespace, 'leader', 'Finished', finished);
    const lease = await kubectlJson<{ spec: { holderIdentity: string } }>(plane, ['get', 'lease', 'kerris-controller', '-n', KERRIS_NAMESPACE]);
    const reporters = new Set((await fx.chaosEvents(namespace, 'leader')).map((e) => e.reportingInstance));
    assert.deepEqual([...reporters], [lease.spec.holderIdentity], 'every Event came from the Lease holder');
  });

  it('a protected namespace is refused even when the selector names it, and nothing there is touched', async () => {
    const namespace = await fx.newApp();
    const guard = `kerris-e2e-guard-${process.pid}`;
    await kubectl(plane, ['run', guard, '-n', 'kube-system', `--image=${node.images.workload}`, '--image-pull-policy=Never', `--labels=app=${SAMPLE_APP}`]);
    try {
      const before = await kubectlJson<{ metadata: { uid: string } }>(plane, ['get', 'pod', guard, '-n', 'kube-system']);
      await fx.applyChaos(namespace, 'by-namespace', { mode: 'all', selector: { namespaces: ['kube-system'], labelSelectors: { app: SAMPLE_APP } } });
      await fx.applyChaos(namespace, 'by-name', { mode: 'all', selector: { pods: { 'kube-system': [guard] } } });
      for (const name of ['by-namespace', 'by-name']) {
        const chaos = await fx.waitChaos(namespace, name, 'Failed', finished);
        assert.equal(chaos.status?.phase, 'Failed');
        assert.equal(condition(chaos, 'Selected')?.reason, 'NamespaceRefused');
        assert.match(condition(chaos, 'Selected')?.message ?? '', /namespace kube-system is protected/);
      }
      const after = await kubectlJson<{ metadata: { uid: string; deletionTimestamp?: string } }>(plane, ['get', 'pod', guard, '-n', 'kube-system']);
      assert.equal(after.metadata.uid, before.metadata.uid);
      assert.equal(after.metadata.deletionTimestamp, undefined);
    } finally {
      await kubectl(plane, ['delete', 'pod', guard, '-n', 'kube-system', '--grace-period=0', '--ignore-not-found']);
    }
  });

  it('a target written into status by someone else is checked against the policy again: a kube-system pod is never touched', async () => {
    const namespace = await fx.newApp();
    const guard = `kerris-e2e-tamper-${process.pid}`;
    await kubectl(plane, ['run', guard, '-n', 'kube-system', `--image=${node.images.workload}`, '--image-pull-policy=Never', `--labels=app=${SAMPLE_APP}`]);
    await fx.scaleController(0);
    try {
      const victim = await kubectlJson<{ metadata: { uid: string } }>(plane, ['get', 'pod', guard, '-n', 'kube-system']);
      await fx.applyChaos(namespace, 'tampered', { seed: 1 });
      // What whoever may write podchaos/status could leave: a kube-system pod recorded as picked.
      const status = {
        phase: 'Running', seed: 1, startTime: new Date().toISOString().replace(/\.\d+Z$/, 'Z'), selected: 1, injected: 0, recovered: 0, failed: 0, targetsTruncated: 0,
        experiment: { desiredPhase: 'Run' },
        targets: [{ namespace: 'kube-system', name: guard, uid: victim.metadata.uid, phase: 'Selected' }],
      };
      await kubectl(plane, ['patch', 'podchaos', 'tampered', '-n', namespace, '--subresource=status', '--type=merge', '-p', JSON.stringify({ status })]);
      await fx.scaleController(2);
      const chaos = await fx.waitChaos(namespace, 'tampered', 'the tampered target refused', (c) => c.status?.targets?.[0]?.phase === 'Failed');
      assert.match(chaos.status?.targets?.[0]?.message ?? '', /refused before acting: namespace kube-system is not one the selector reaches/);
      const after = await kubectlJson<{ metadata: { uid: string; deletionTimestamp?: string } }>(plane, ['get', 'pod', guard, '-n', 'kube-system']);
      assert.equal(after.metadata.uid, victim.metadata.uid);
      assert.equal(after.metadata.deletionTimestamp, undefined, 'the kube-system pod was not deleted');
      assert.ok((await fx.chaosEvents(namespace, 'tampered')).some((e) => e.reason === 'Refused'));
    } finally {
      await fx.scaleController(2);
      await kubectl(plane, ['delete', 'pod', guard, '-n', 'kube-system', '--grace-period=0', '--ignore-not-found']);
    }
  });

  it('in opt-in mode, only namespaces annotated chaos.kerris.dev/inject=enabled are targeted', async () => {
    await deployKerris(plane, node, { replicas: 2, args: ['--require-opt-in'] });
    try {
      const closed = await fx.newApp();
      const closedPods = await appPods(plane, closed);
      await fx.applyChaos(closed, 'not-opted-in', {});
      const refused = await fx.waitChaos(closed, 'not-opted-in', 'Failed', finished);
      assert.equal(condition(refused, 'Selected')?.reason, 'NamespaceRefused');
      assert.match(condition(refused, 'Selected')?.message ?? '', /has not opted in \(annotation chaos\.kerris\.dev\/inject=enabled\)/);
      assert.deepEqual((await appPods(plane, closed)).map((p) => p.uid), closedPods.map((p) => p.uid), 'nothing was touched');

      const open = await fx.newApp();
      await kubectl(plane, ['annotate', 'namespace', open, 'chaos.kerris.dev/inject=enabled']);
      await fx.applyChaos(open, 'opted-in', {});
      const done = await fx.waitChaos(open, 'opted-in', 'Finished', finished);
      assert.equal(done.status?.phase, 'Finished');
      assert.equal(done.status?.recovered, 1);
    } finally {
      await deployKerris(plane, node, { replicas: 2 });
    }
  });

  it('says so when the selector matches nothing, and touches nothing', async () => {
    const namespace = await fx.newApp();
    const before = await appPods(plane, namespace);
    await fx.applyChaos(namespace, 'nothing', { selector: { labelSelectors: { app: 'no-such-app' } } });
    const nothing = await fx.waitChaos(namespace, 'nothing', 'Failed', finished);
    assert.equal(condition(nothing, 'Selected')?.reason, 'NoTargets');
    assert.match(condition(nothing, 'Selected')?.message ?? '', /matched no pods/);
    assert.deepEqual((await appPods(plane, namespace)).map((p) => p.uid), before.map((p) => p.uid));
  });
});

async function ownerOf(namespace: string, pod: string): Promise<{ kind: string; name: string; uid: string }> {
  const object = await kubectlJson<{ metadata: { ownerReferences: { kind: string; name: string; uid: string; controller?: boolean }[] } }>(plane, ['get', 'pod', pod, '-n', namespace]);
  const owner = object.metadata.ownerReferences.find((o) => o.controller);
  assert.ok(owner);
  return { kind: owner.kind, name: owner.name, uid: owner.uid };
}
