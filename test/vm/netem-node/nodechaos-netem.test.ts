// NodeChaos node-network on the netem node (Debian's stock kernel in the test bed's VM, joined to the cluster): the
// controller on the host node drives the node's own daemon, and every check is what a user would see from outside the
// node: the kubelet's port cut off or slower, the node NotReady and Ready again. A partition that does not keep the
// daemon's lease path cuts the daemon off too: its lease lapses and it heals the node by itself, with no one calling
// recover, and the fault is not put back. After each experiment the node's own tc, nftables and links are as before.
// Last, node-reboot reboots the VM in place, once, and only a node that consents (the netem node) is offered it.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test, type TestContext } from 'node:test';
import { stringify } from 'yaml';
import type { ChaosTarget, NodeChaos } from '../../../src/api/generated/types.ts';
import type { ControlPlane, NetemNode } from '../../testbed/index.ts';
import { NODE_NAME } from '../../testbed/node/index.ts';
import { FaultKind } from '../../../src/daemon/proto/gen/daemon_pb.js';
import { daemonClientAs, DAEMON_SELECTOR, KERRIS_NAMESPACE } from '../../testbed/kerris.ts';
import { kubectl, kubectlJson } from '../../testbed/kubectl.ts';
import { NETEM_NETWORK, NETEM_NODE_NAME } from '../../testbed/netem-node/index.ts';
import { median, netemSession, type NetemSession } from '../../testbed/netem-node/pods.ts';
import { createNamespace, deleteNamespace, eventually } from '../../testbed/node/testing.ts';

let plane: ControlPlane;
let netem: NetemNode;
let session: NetemSession | undefined;
const namespace = `netem-nodechaos-${randomBytes(3).toString('hex')}`;
/** What the user reaches on the node from outside: its kubelet, at the node's InternalIP. */
const KUBELET = { host: NETEM_NETWORK.nodeAddress, port: 10250 } as const;
/** The controller's --daemon-lease-ttl in the test bed (the default). */
const LEASE_TTL_MS = 10_000;
/** kube-controller-manager's --node-monitor-grace-period (the default) and --node-monitor-period. */
const NODE_MONITOR_GRACE_MS = 50_000;
const NODE_MONITOR_PERIOD_MS = 5_000;
/** The netem node's kubelet renews its node Lease every 10 s: the grace runs from the last renewal. */
const NODE_LEASE_RENEW_MS = 10_000;

/** Milliseconds until a TCP connect to the node's kubelet is answered, or undefined if it is not within timeoutMs. */
function connectMs(timeoutMs = 2_000): Promise<number | undefined> {
  return new Promise((resolve) => {
    const started = performance.now();
    const socket = connect(KUBELET);
    const done = (value: number | undefined) => {
      socket.destroy();
      resolve(value);
    };
    socket.setTimeout(timeoutMs, () => done(undefined));
    socket.once('connect', () => done(performance.now() - started));
    socket.once('error', () => done(undefined));
  });
}

async function daemonPod(): Promise<string> {
  const pods = await kubectlJson<{ items: { metadata: { name: string; deletionTimestamp?: string } }[] }>(plane, ['get', 'pods', '-n', KERRIS_NAMESPACE, '-l', DAEMON_SELECTOR, `--field-selector=spec.nodeName=${NETEM_NODE_NAME}`]);
  const pod = pods.items.find((p) => p.metadata.deletionTimestamp === undefined);
  if (pod === undefined) throw new Error(`no kerris daemon pod on ${NETEM_NODE_NAME}`);
  return pod.metadata.name;
}

/**
 * What kerris could leave in the node's own network namespace: qdiscs, filters and classes of its interfaces, links
 * and the whole nftables ruleset, read through the node's daemon pod (hostPID, privileged) in the namespace of PID 1.
 * Pods' veths come and go with pods, so their lines are left out.
 */
async function nodeNetworkState(): Promise<string> {
  const pod = await daemonPod();
  const inNode = (argv: readonly string[]) => kubectl(plane, ['exec', '-n', KERRIS_NAMESPACE, pod, '-c', 'daemon', '--', 'nsenter', '-t', '1', '-n', '--', ...argv], { timeoutMs: 120_000 });
  const parts = await Promise.all([
    ['tc', 'qdisc', 'show'], ['tc', 'filter', 'show', 'dev', 'eth0'], ['tc', 'class', 'show', 'dev', 'eth0'], ['ip', '-o', 'link', 'show'], ['nft', 'list', 'ruleset'],
  ].map(async (argv) => (await inNode(argv)).stdout.split('\n').filter((l) => !/\bveth[0-9a-f]+\b/.test(l)).join('\n')));
  return parts.join('\n--\n');
}

async function applyNodeChaos(name: string, spec: Partial<NodeChaos['spec']>): Promise<void> {
  const manifest = { apiVersion: 'chaos.kerris.dev/v1alpha1', kind: 'NodeChaos', metadata: { name, namespace }, spec: { action: 'node-network', mode: 'one', selector: { nodes: [NETEM_NODE_NAME] }, ...spec } };
  await kubectl(plane, ['apply', '-f', '-'], { input: stringify(manifest) });
}

const getChaos = (name: string) => kubectlJson<NodeChaos>(plane, ['get', 'nodechaos', name, '-n', namespace]);
const targetOf = (c: NodeChaos): ChaosTarget | undefined => c.status?.targets?.[0];
const finished = (c: NodeChaos) => c.status?.phase === 'Finished' || c.status?.phase === 'Failed';

/** Polls the experiment, calling `each` on every read (the observations that run throughout), until `done`. */
async function waitChaos(name: string, what: string, done: (c: NodeChaos) => boolean, each: (c: NodeChaos) => Promise<void> = async () => {}, timeoutMs = 240_000): Promise<NodeChaos> {
  let last: NodeChaos | undefined;
  return eventually(`${name}: ${what}`, timeoutMs, async () => {
    last = await getChaos(name);
    await each(last);
    return done(last) ? last : undefined;
  }, async () => JSON.stringify(last?.status, null, 1));
}

interface NodeJson { spec?: { taints?: { key: string; effect: string }[] }; status?: { conditions?: { type: string; status: string }[]; nodeInfo?: { bootID?: string } } }
const nodeTaints = async () => ((await kubectlJson<NodeJson>(plane, ['get', 'node', NETEM_NODE_NAME])).spec?.taints ?? []).map((t) => `${t.key}:${t.effect}`).sort();

/** Deletes the experiment, then checks the node is as it was found: its network state, its taints, no injection left. */
async function leftAsFound(name: string, before: { state: string; taints: string[] }): Promise<void> {
  await kubectl(plane, ['delete', 'nodechaos', name, '-n', namespace, '--wait=true', '--timeout=120s'], { timeoutMs: 150_000 });
  assert.equal(await nodeNetworkState(), before.state, `${name}: the node's own network state is as before`);
  // The node lifecycle controller takes its unreachable taints away once the kubelet reports again.
  for (const deadline = Date.now() + 90_000; ;) {
    const taints = await nodeTaints();
    if (JSON.stringify(taints) === JSON.stringify(before.taints)) break;
    if (Date.now() > deadline) assert.fail(`${name}: the node's taints are not as found 90 s later: ${taints.join(', ')} vs ${before.taints.join(', ')}`);
    await sleep(500);
  }
  const { client } = await daemonClientAs(plane, 'kerris-controller', NETEM_NODE_NAME);
  try {
    const listed = await client.list({ experiment: '' });
    assert.deepEqual(listed.injections.filter((i) => i.experiment.includes(`/${name}`)).map((i) => i.id), [], `${name}: the daemon holds nothing of it`);
  } finally {
    client.close();
  }
}

describe('NodeChaos node-network on the stock-kernel node, through the operator', { timeout: 1_800_000 }, () => {
  before(async () => {
    session = await netemSession();
    ({ plane, netem } = session);
    await createNamespace(plane, namespace);
  });

  after(async () => {
    if (session === undefined) return;
    await deleteNamespace(plane, namespace);
    await session.release();
  });

  test('partition without keepDaemonLease: the node is cut off, the daemon loses its lease and heals the node by itself; the fault is not put back', async (t: TestContext) => {
    const found = { state: await nodeNetworkState(), taints: await nodeTaints() };
    assert.ok(await connectMs(5_000) !== undefined, 'the kubelet answers before the fault');
    let cutAt: number | undefined;
    let healedAt: number | undefined;
    let cutAgain = false;
    const timeline: string[] = [];
    await applyNodeChaos('cut', { network: { action: 'partition' }, duration: '75s' });
    const chaos = await waitChaos('cut', 'Finished', finished, async (c) => {
      const target = targetOf(c);
      const seen = `${target?.phase ?? '-'}: ${target?.message ?? ''}`;
      if (!timeline.at(-1)?.endsWith(seen)) timeline.push(`${new Date().toISOString()} ${seen}`);
      // From the apply on, whatever status says yet: the cut may come before the controller hears back.
      const answered = await connectMs() !== undefined;
      if (!answered && cutAt === undefined) timeline.push(`${new Date().toISOString()} the kubelet does not answer`);
      if (answered && cutAt !== undefined && healedAt === undefined) timeline.push(`${new Date().toISOString()} the kubelet answers again`);
      if (!answered && cutAt === undefined) cutAt = Date.now();
      if (answered && cutAt !== undefined && healedAt === undefined) healedAt = Date.now();
      // Once healed, the node must stay reachable for the rest of the experiment: the fault is never put back.
      if (!answered && healedAt !== undefined) cutAgain = true;
    }, 240_000);
    const target = targetOf(chaos);
    t.diagnostic(`timeline:\n${timeline.join('\n')}`);
    t.diagnostic(`injected at ${target?.injectedAt}; kubelet unreachable from ${cutAt === undefined ? '-' : new Date(cutAt).toISOString()} to ${healedAt === undefined ? '-' : new Date(healedAt).toISOString()}; endedByNode ${target?.nodeFault?.endedByNode}`);
    assert.equal(chaos.status?.phase, 'Finished', JSON.stringify(chaos.status));
    assert.ok(cutAt !== undefined, 'the kubelet was seen cut off after the apply');
    assert.ok(healedAt !== undefined, 'the kubelet answered again before the end of the duration');
    assert.ok(!cutAgain, 'the node was cut off again after it healed: the fault was put back');
    assert.equal(target?.phase, 'Recovered');
    assert.ok(target?.nodeFault?.endedByNode !== undefined, `endedByNode recorded: ${JSON.stringify(target?.nodeFault)}`);
    assert.match(target?.message ?? '', /by node kerris-netem's kerris daemon itself/);
    assert.match(target?.nodeFault?.network ?? '', /^partition, both ways, on the default-route interfaces, with every peer$/);
    // The daemon reverts once its lease has lapsed: one TTL after the controller's last renewal got through.
    const cutForMs = healedAt - cutAt;
    t.diagnostic(`cut off for ${cutForMs} ms (lease TTL ${LEASE_TTL_MS} ms)`);
    assert.ok(cutForMs <= LEASE_TTL_MS + 8_000, `cut off for ${cutForMs} ms, more than the lease TTL ${LEASE_TTL_MS} ms (+8 s for the daemon's tick and the 2 s probes)`);
    // Healed by the daemon, not by the end of the duration: well before it.
    assert.ok(Date.parse(target?.nodeFault?.endedByNode ?? '') < Date.parse(target?.injectedAt ?? '') + 60_000, 'ended by the node well before the duration');
    await leftAsFound('cut', found);
  });

  test('partition with keepDaemonLease: held for the whole duration, the node goes NotReady and is Ready again after', async (t: TestContext) => {
    const found = { state: await nodeNetworkState(), taints: await nodeTaints() };
    let cut = false;
    let sawNotReady = false;
    const observed = new Set<string>();
    let drops = 0;
    await applyNodeChaos('held', { network: { action: 'partition', keepDaemonLease: true }, duration: '90s' });
    const chaos = await waitChaos('held', 'Finished', finished, async (c) => {
      const target = targetOf(c);
      if (target?.phase !== 'Injected' || target.recoveredAt !== undefined || target.nodeFault?.undoneAt !== undefined) return;
      assert.equal(target.nodeFault?.endedByNode, undefined, 'the daemon kept its lease and the fault');
      cut ||= await connectMs() === undefined;
      sawNotReady ||= target.nodeFault?.notReadyAt !== undefined;
      // Fresh counters while the node is cut off: the controller still reaches the daemon through the exception.
      if (target.evidence !== undefined) observed.add(target.evidence.observedAt);
      drops = Math.max(drops, ...(target.evidence?.counters ?? []).filter((k) => k.fault === 'partition').map((k) => k.dropped ?? 0));
    }, 300_000);
    const [target] = chaos.status?.targets ?? [];
    assert.equal(chaos.status?.phase, 'Finished', JSON.stringify(chaos.status));
    assert.equal(target?.phase, 'Recovered');
    assert.equal(target?.nodeFault?.endedByNode, undefined);
    assert.match(target?.nodeFault?.network ?? '', /^partition, both ways, on the default-route interfaces, with every peer, except the kerris controller's pods \(\d+\.\d+\.\d+\.\d+(, \d+\.\d+\.\d+\.\d+)*\)$/);
    assert.ok(cut, 'the kubelet was seen cut off while the fault was held');
    assert.ok(sawNotReady, 'status said NotReady while the fault was held');
    assert.ok(observed.size >= 2, `the evidence was read again while the node was cut off (observedAt: ${[...observed].join(', ')})`);
    assert.ok(drops > 0, 'the partition counted dropped packets');
    const { notReadyAt, readyAt } = target?.nodeFault ?? {};
    assert.ok(notReadyAt !== undefined && readyAt !== undefined, `NotReady and Ready again recorded: ${JSON.stringify(target?.nodeFault)}`);
    const notReadyAfterMs = Date.parse(notReadyAt) - Date.parse(target?.injectedAt ?? '');
    assert.ok(notReadyAfterMs >= NODE_MONITOR_GRACE_MS - NODE_LEASE_RENEW_MS - 2_000 && notReadyAfterMs <= NODE_MONITOR_GRACE_MS + NODE_MONITOR_PERIOD_MS + 10_000, `NotReady ${notReadyAfterMs} ms after the cut, not within the grace period of ${NODE_MONITOR_GRACE_MS} ms from the last heartbeat`);
    const readyAfterMs = Date.parse(readyAt) - Date.parse(target?.nodeFault?.undoneAt ?? '');
    t.diagnostic(`cut at ${target?.injectedAt}, NotReady ${notReadyAfterMs} ms later; taken away at ${target?.nodeFault?.undoneAt}, Ready again ${readyAfterMs} ms later; ${drops} packets dropped; evidence read ${observed.size} times`);
    assert.ok(readyAfterMs >= -1_000 && readyAfterMs <= 60_000, `Ready again ${readyAfterMs} ms after the partition was taken away`);
    assert.match(target?.message ?? '', /^the network fault is taken away; the node is Ready again since /);
    assert.ok(await connectMs(5_000) !== undefined, 'the kubelet answers after the fault');
    await leftAsFound('held', found);
  });

  test('delay 100ms on what the node sends: a connect to its kubelet takes 100 ± 15 ms longer, netem counts it', async (t: TestContext) => {
    const found = { state: await nodeNetworkState(), taints: await nodeTaints() };
    const sample = async (): Promise<number> => {
      const times: number[] = [];
      for (let i = 0; i < 15; i++) {
        const ms = await connectMs(5_000);
        assert.ok(ms !== undefined, 'the kubelet answers');
        times.push(ms);
      }
      return median(times);
    };
    const baseline = await sample();
    await applyNodeChaos('slow', { network: { action: 'delay', direction: 'to', delay: { latency: '100ms' } }, duration: '5m' });
    const injected = await waitChaos('slow', 'injected', (c) => targetOf(c)?.phase === 'Injected' || finished(c));
    assert.equal(targetOf(injected)?.phase, 'Injected', JSON.stringify(injected.status));
    const during = await sample();
    const proven = await waitChaos('slow', 'netem evidence', (c) => (targetOf(c)?.evidence?.counters ?? []).some((k) => k.kind === 'netem' && k.packets > 0), undefined, 60_000);
    t.diagnostic(`connect to the kubelet: ${baseline.toFixed(1)} ms before, ${during.toFixed(1)} ms during (+${(during - baseline).toFixed(1)}); evidence ${JSON.stringify(targetOf(proven)?.evidence?.counters)}`);
    assert.ok(Math.abs(during - baseline - 100) <= 15, `a connect took ${(during - baseline).toFixed(1)} ms longer, expected 100 ± 15`);
    await leftAsFound('slow', found);
    const after = await sample();
    assert.ok(after < baseline + 15, `a connect takes ${after.toFixed(1)} ms after the delete, ${baseline.toFixed(1)} ms before`);
  });
  // Last: the reboot restarts every pod on the node, the daemon too.
  test('node-reboot: only a consenting node is offered it; the netem node reboots once, in place, and is Ready again on a new boot; a repeated request does nothing', async (t: TestContext) => {
    const { client: hostDaemon } = await daemonClientAs(plane, 'kerris-controller', NODE_NAME);
    const { client: netemDaemon } = await daemonClientAs(plane, 'kerris-controller', NETEM_NODE_NAME);
    try {
      // The host node is the machine the tests run on: it has no consent file, so its daemon does not offer reboots.
      assert.ok(!(await hostDaemon.capabilities()).faultKinds.includes(FaultKind.NODE_REBOOT), `the host node's daemon offers node-reboot`);
      assert.ok((await netemDaemon.capabilities()).faultKinds.includes(FaultKind.NODE_REBOOT), 'the netem node (which consents) is offered node-reboot');
    } finally {
      hostDaemon.close();
      netemDaemon.close();
    }
    const boots = async () => (await readFile(join(netem.stateDir, 'share', 'logs', 'guest.log'), 'utf8')).split('\n').filter((l) => l.endsWith('netem-node: started')).length;
    const bootsBefore = await boots();
    const bootBefore = (await kubectlJson<NodeJson>(plane, ['get', 'node', NETEM_NODE_NAME])).status?.nodeInfo?.bootID;
    assert.ok(bootBefore !== undefined && bootBefore !== '', 'the node reports its boot ID');
    await applyNodeChaos('reboot', { action: 'node-reboot', duration: '2m' });
    const chaos = await waitChaos('reboot', 'Finished', finished, undefined, 900_000);
    const target = targetOf(chaos);
    t.diagnostic(`requested at ${target?.injectedAt}; rebooted (seen) at ${target?.nodeFault?.rebootedAt}; Ready again at ${target?.recoveredAt}; boot ${target?.nodeFault?.bootIdBefore} → ${target?.nodeFault?.bootIdAfter}`);
    assert.equal(chaos.status?.phase, 'Finished', JSON.stringify(chaos.status));
    assert.equal(target?.phase, 'Recovered', JSON.stringify(target));
    assert.equal(target?.nodeFault?.bootIdBefore, bootBefore);
    const bootAfter = (await kubectlJson<NodeJson>(plane, ['get', 'node', NETEM_NODE_NAME])).status?.nodeInfo?.bootID;
    assert.notEqual(bootAfter, bootBefore, 'the node runs a new boot');
    assert.equal(target?.nodeFault?.bootIdAfter, bootAfter);
    assert.match(target?.message ?? '', /^rebooted \(boot [0-9a-f-]+ → [0-9a-f-]+\) and Ready again$/);
    assert.equal(await boots(), bootsBefore + 1, 'the guest booted exactly once more');
    // The same request again, as a lost answer or a restart would repeat it: the daemon names the boot it now runs, and does nothing.
    await kubectl(plane, ['delete', 'nodechaos', 'reboot', '-n', namespace, '--wait=true', '--timeout=120s'], { timeoutMs: 150_000 });
    const { client } = await daemonClientAs(plane, 'kerris-controller', NETEM_NODE_NAME);
    try {
      const experiment = `${namespace}/repeat`;
      const sync = await client.sync(experiment, 30_000, [{ id: `${experiment}/node/reboot`, target: { node: true }, fault: { kind: 'node-reboot', bootId: bootBefore } }]);
      const [item] = sync.results;
      t.diagnostic(`a repeated request: ${item?.ok} ${item?.message} ${item?.injection?.summary}`);
      assert.equal(item?.ok, true, JSON.stringify(item));
      assert.match(item?.injection?.summary ?? '', /already rebooted/);
      await client.sync(experiment, 30_000, []);
    } finally {
      client.close();
    }
    assert.equal((await kubectlJson<NodeJson>(plane, ['get', 'node', NETEM_NODE_NAME])).status?.nodeInfo?.bootID, bootAfter, 'still the same boot');
    assert.equal(await boots(), bootsBefore + 1, 'no other boot');
  });
});
