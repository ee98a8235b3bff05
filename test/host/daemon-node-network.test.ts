/**
 * node-network on a real daemon and kernel, against a sandbox it takes for the node: the daemon runs under
 * `nsenter --net=<node> -- unshare --pid --fork --mount-proc`, so its /proc/1 (the "host's" init) is the sandbox's,
 * and /proc/1/ns/net is the sandbox node's netns, never this machine's. The lab:
 *
 *   host netns  kn…m 10.78.9.1  <->  mgmt0 10.78.9.2   node netns (the daemon serves here; forwarding on)
 *                                    eth0  10.78.1.2   <->  eth0 10.78.1.1, 10.78.1.3   peer netns ("the world")
 *                                    default via 10.78.1.1 dev eth0
 *   pod netns   eth0 10.78.3.2  <->  pod0  10.78.3.1   (the pod's default route: via the node)
 *
 * Checked by traffic: a partition of the node drops its own and the pod's forwarded traffic to the peer, while the
 * excepted peer address still answers and the mgmt link (not a default route's device) is untouched; netfilter loss
 * drops forwarded datagrams; tbf limits forwarded bulk traffic but not the excepted peer's; the lease lapse and the
 * deadline revert by themselves; a restarted daemon (new sandbox pid 1, same node netns) keeps the fault and
 * reverts it; the node's netns equals its snapshot before each fault, with no journal file, table, qdisc or IFB left.
 * This host has no sch_netem: delay is tested in the VM.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, test } from 'node:test';
import { Direction, ErrorCode, FaultKind, Phase, Protocol, type InjectionInput, type NetworkFaultInput, type SyncResponse } from '../../src/daemon/client.ts';
import { snapshotKernelState, type KernelSnapshot } from '../../src/daemon/net/snapshot.ts';
import { makeCertificates, type CertificateSet } from '../../src/daemon/tls-certs.ts';
import { readTlsFiles, type TlsMaterial } from '../../src/daemon/tls.ts';
import { run } from '../../src/util/exec.ts';
import { requireExecutables, requireRoot } from '../testbed/prerequisites.ts';
import { trafficTools, type Netns, type Server, type TrafficTools } from '../vm/scenarios/net-lab.ts';
import { eventually, journalFiles, spawnDaemon, type RunningDaemon } from './daemon-fixture.ts';

const PREFIX = `kn${randomBytes(3).toString('hex')}`;
const NODE_NAME = 'kd-nodenet';
const EXP = 'exp-node-network';
const ID = `${EXP}/node-uid/network`;
const PEER = '10.78.1.1';
const EXCEPTED = '10.78.1.3';
const MGMT = '10.78.9.2';
const PORT = 7000;

const ns = (name: string): Netns => ({ name: `${PREFIX}-${name}`, path: `/run/netns/${PREFIX}-${name}` });
const node = ns('node');
const peer = ns('peer');
const pod = ns('pod');

let dir: string;
let certs: CertificateSet;
let clientTls: TlsMaterial;
let tools: TrafficTools;
let servers: Server[] = [];
const daemons: RunningDaemon[] = [];

async function inNs(where: Netns, script: string): Promise<void> {
  await run(['ip', '-n', where.name, '-batch', '-'], { input: `${script.trim()}\n` });
}

before(async () => {
  await requireRoot('node-network host tests');
  await requireExecutables({ '/usr/sbin/tc': 'iproute2', '/usr/sbin/ip': 'iproute2', '/usr/sbin/nft': 'nftables', '/usr/bin/nsenter': 'util-linux', '/usr/bin/unshare': 'util-linux' });
  dir = await mkdtemp(join(tmpdir(), 'kd-nodenet-'));
  certs = await makeCertificates(join(dir, 'pki'));
  clientTls = await readTlsFiles(certs.client);
  tools = trafficTools();
  for (const n of [node, peer, pod]) await run(['ip', 'netns', 'add', n.name]);
  await run(['ip', 'link', 'add', `${PREFIX}m`, 'type', 'veth', 'peer', 'name', 'mgmt0', 'netns', node.name]);
  await run(['ip', 'addr', 'add', '10.78.9.1/24', 'dev', `${PREFIX}m`]);
  await run(['ip', 'link', 'set', `${PREFIX}m`, 'up']);
  await run(['ip', 'link', 'add', 'eth0', 'netns', node.name, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', peer.name]);
  await run(['ip', 'link', 'add', 'pod0', 'netns', node.name, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', pod.name]);
  await inNs(node, `
link set lo up
addr add ${MGMT}/24 dev mgmt0
link set mgmt0 up
addr add 10.78.1.2/24 dev eth0
link set eth0 up
addr add 10.78.3.1/24 dev pod0
link set pod0 up
route add default via ${PEER} dev eth0`);
  await inNs(peer, `
link set lo up
addr add ${PEER}/24 dev eth0
addr add ${EXCEPTED}/24 dev eth0
link set eth0 up
route add 10.78.3.0/24 via 10.78.1.2 dev eth0`);
  await inNs(pod, `
link set lo up
addr add 10.78.3.2/24 dev eth0
link set eth0 up
route add default via 10.78.3.1 dev eth0`);
  await run(['ip', 'netns', 'exec', node.name, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
  servers = [await tools.serve(peer, ['tcp-serve', String(PORT)])];
});

afterEach(async () => {
  for (const daemon of daemons.splice(0)) await daemon.stop('SIGKILL');
});

after(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  await tools?.stopAll();
  for (const n of [node, peer, pod]) await run(['ip', 'netns', 'del', n.name], { allowFailure: true });
  await run(['ip', 'link', 'del', `${PREFIX}m`], { allowFailure: true });
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

function journalDir(name: string): string {
  return join(dir, `journal-${name}`);
}

/** A daemon that takes the sandbox for its node: its pid namespace's init is in the node netns, and so is it. */
async function startDaemon(journal: string): Promise<RunningDaemon> {
  const daemon = await spawnDaemon({
    containerdSocket: join(dir, 'no-containerd.sock'), journalDir: journal, certs, clientTls, host: MGMT,
    wrap: ['nsenter', `--net=${node.path}`, '--', 'unshare', '--pid', '--fork', '--mount-proc', '--kill-child', '--'],
    extraArgs: ['--node-name', NODE_NAME],
  });
  daemons.push(daemon);
  return daemon;
}

function nodeNetwork(faults: readonly NetworkFaultInput[], extra: Partial<InjectionInput> = {}): InjectionInput {
  return { id: ID, target: { node: true }, fault: { kind: 'node-network', faults }, ...extra };
}

const partition: NetworkFaultInput = { scope: { direction: Direction.BOTH, exceptCidrs: [`${EXCEPTED}/32`] }, action: { case: 'partition', value: {} } };

function outcome(response: SyncResponse): string {
  const [result] = response.results;
  return result === undefined ? 'no result' : result.ok ? 'ok' : `${ErrorCode[result.errorCode]}: ${result.message}`;
}

async function connects(from: Netns, host: string): Promise<boolean> {
  return (await tools.traffic<{ ok: boolean }>(from, ['tcp-connect', host, String(PORT), '1000'])).ok;
}

/** node→peer, pod→peer (forwarded), node→excepted, pod→excepted. */
async function reach(): Promise<boolean[]> {
  return Promise.all([connects(node, PEER), connects(pod, PEER), connects(node, EXCEPTED), connects(pod, EXCEPTED)]);
}

async function kerrisState(): Promise<{ table: boolean; qdiscs: string; links: string }> {
  const table = (await run(['ip', 'netns', 'exec', node.name, 'nft', 'list', 'table', 'inet', 'kerris'], { allowFailure: true })).code === 0;
  const qdiscs = (await run(['ip', 'netns', 'exec', node.name, 'tc', 'qdisc', 'show'])).stdout;
  const links = (await run(['ip', '-n', node.name, '-br', 'link'])).stdout;
  return { table, qdiscs, links };
}

/** Nothing of kerris in the node's netns, its state as before, and no journal file. */
async function nothingLeft(journal: string, before: KernelSnapshot): Promise<void> {
  assert.deepEqual(await snapshotKernelState(node.path), before, 'the node netns equals its snapshot before the fault');
  const state = await kerrisState();
  assert.equal(state.table, false, 'no inet kerris table');
  assert.doesNotMatch(state.qdiscs, /4b52:|ingress/, 'no kerris qdisc');
  assert.doesNotMatch(state.links, /kerris-ifb/, 'no IFB');
  assert.deepEqual(await journalFiles(journal), [], 'no journal file left');
}

test('partition of the node: its own and its pods\' forwarded traffic to the peer are cut both ways, the excepted peer and the daemon\'s own link are not; evidence counts the drops; the revert restores the netns exactly', async () => {
  const journal = journalDir('partition');
  const before = await snapshotKernelState(node.path);
  assert.deepEqual(await reach(), [true, true, true, true], 'everything reachable before');
  const daemon = await startDaemon(journal);
  const caps = await daemon.client.capabilities();
  assert.ok(caps.faultKinds.includes(FaultKind.NODE_NETWORK), 'Capabilities offers node-network');
  assert.equal(caps.node, NODE_NAME);

  const synced = await daemon.client.sync(EXP, 30_000, [nodeNetwork([partition])]);
  assert.equal(outcome(synced), 'ok');
  const injection = synced.results[0]?.injection;
  assert.equal(injection?.phase, Phase.ACTIVE);
  assert.equal(injection?.kind, FaultKind.NODE_NETWORK);
  assert.equal(injection?.target?.node, true);
  assert.match(injection?.summary ?? '', /^network faults in \/proc\/1\/ns\/net: partition both except 10\.78\.1\.3\/32$/);
  assert.deepEqual(await reach(), [false, false, true, true], 'node→peer and pod→peer cut; the excepted peer still answers');
  // The pod's traffic is forwarded: the forward chains dropped it, counted with the node's own under eth0.
  const listed = await daemon.client.list({ experiment: EXP, evidence: true });
  const evidence = listed.injections[0]?.evidence ?? [];
  const dropped = (direction: string) => evidence.filter((e) => e.device === 'eth0' && e.direction === direction && e.kind === 'nft' && e.fault === 'partition').reduce((n, e) => n + Number(e.dropped), 0);
  assert.ok(dropped('egress') > 0, `egress drops counted: ${JSON.stringify(evidence, (_, v: unknown) => (typeof v === 'bigint' ? Number(v) : v))}`);
  const { stdout: table } = await run(['ip', 'netns', 'exec', node.name, 'nft', 'list', 'table', 'inet', 'kerris']);
  assert.match(table, /chain egress_forward \{[^}]*hook forward[^}]*oifname "eth0" ip daddr @except0v4 accept[^}]*oifname "eth0" counter packets [1-9]\d* bytes \d+ drop comment "partition"/s,
    'the forward chain dropped the pod\'s packets after accepting the excepted peer\'s');

  const removed = await daemon.client.sync(EXP, 30_000, []);
  assert.deepEqual(removed.removed, [ID]);
  assert.deepEqual(await reach(), [true, true, true, true], 'everything reachable after the revert');
  await nothingLeft(journal, before);
});

test('netfilter loss (no sch_netem here) drops forwarded datagrams, and bandwidth (tbf on eth0) slows forwarded bulk traffic but not the excepted peer\'s', async () => {
  const journal = journalDir('loss-bandwidth');
  const before = await snapshotKernelState(node.path);
  const daemon = await startDaemon(journal);
  const except = [`${EXCEPTED}/32`];
  const synced = await daemon.client.sync(EXP, 30_000, [nodeNetwork([
    { scope: { protocol: Protocol.UDP, exceptCidrs: except }, action: { case: 'loss', value: { loss: '50' } } },
    { scope: { protocol: Protocol.TCP, exceptCidrs: except }, action: { case: 'bandwidth', value: { rate: '2mbit', limit: 30_000, buffer: 3_000 } } },
  ])]);
  assert.equal(outcome(synced), 'ok');
  const count = 200;
  const delivered = async (host: string): Promise<number> => {
    const receiving = tools.traffic<{ received: number }>(peer, ['udp-recv', '7100', String(3_000)]);
    await new Promise((resolve) => setTimeout(resolve, 400));
    await tools.traffic(pod, ['udp-send', host, '7100', String(count)]);
    return (await receiving).received;
  };
  const lost = await delivered(PEER);
  assert.ok(lost > count * 0.25 && lost < count * 0.75, `about half of ${count} forwarded datagrams delivered, got ${lost}`);
  assert.equal(await delivered(EXCEPTED), count, 'every datagram to the excepted peer delivered');
  const bulk = async (host: string): Promise<number> => (await tools.traffic<{ bitsPerSecond: number }>(pod, ['tcp-bulk', host, String(PORT), '3'])).bitsPerSecond / 1e6;
  const limited = await bulk(PEER);
  const free = await bulk(EXCEPTED);
  assert.ok(limited < 3, `forwarded bulk to the peer limited to about 2 Mbit/s, got ${limited.toFixed(2)}`);
  assert.ok(free > 20, `bulk to the excepted peer unlimited, got ${free.toFixed(2)} Mbit/s`);
  const listed = await daemon.client.list({ experiment: EXP, evidence: true });
  const tbf = listed.injections[0]?.evidence.find((e) => e.kind === 'tbf' && e.device === 'eth0');
  assert.ok(tbf !== undefined && tbf.packets > 0n, 'tbf counters read in the node netns');
  await daemon.client.sync(EXP, 30_000, []);
  await nothingLeft(journal, before);
});

test('the lease lapses: the daemon reverts the node\'s partition by itself; the deadline ends another', async () => {
  const journal = journalDir('lapse');
  const before = await snapshotKernelState(node.path);
  const daemon = await startDaemon(journal);
  assert.equal(outcome(await daemon.client.sync(EXP, 1_000, [nodeNetwork([partition])])), 'ok');
  assert.equal(await connects(pod, PEER), false, 'cut while the lease holds');
  const lapsed = Date.now();
  await eventually('the partition reverted at the lease lapse', async () => ((await kerrisState()).table ? undefined : true), 10_000, 50);
  assert.ok(Date.now() - lapsed < 4_000, `reverted within 4 s of the last renewal (${Date.now() - lapsed} ms)`);
  assert.equal(await connects(pod, PEER), true);
  await nothingLeft(journal, before);

  const deadline = await daemon.client.sync(EXP, 60_000, [nodeNetwork([partition], { deadlineInMs: 1_500 })]);
  assert.equal(outcome(deadline), 'ok');
  assert.equal(await connects(node, PEER), false, 'cut until the deadline');
  await eventually('ended at its deadline', async () => {
    const listed = await daemon.client.list({ experiment: EXP });
    return listed.injections[0]?.phase === Phase.DONE ? true : undefined;
  }, 10_000, 50);
  assert.equal((await kerrisState()).table, false);
  assert.equal(await connects(node, PEER), true);
  await daemon.client.sync(EXP, 60_000, []);
  await nothingLeft(journal, before);
});

test('a restarted daemon (a new sandbox init, the same node netns) keeps the node\'s fault from its journal and reverts it', async () => {
  const journal = journalDir('restart');
  const before = await snapshotKernelState(node.path);
  const first = await startDaemon(journal);
  assert.equal(outcome(await first.client.sync(EXP, 30_000, [nodeNetwork([partition])])), 'ok');
  await first.stop('SIGTERM');
  assert.equal((await kerrisState()).table, true, 'a stopping daemon leaves the fault in place');
  assert.equal(await connects(pod, PEER), false);
  const second = await startDaemon(journal);
  const listed = await second.client.list({ experiment: EXP, evidence: true });
  assert.equal(listed.injections[0]?.phase, Phase.ACTIVE, 'adopted from the journal');
  assert.equal(listed.injections[0]?.error, '', 'nothing reported gone: the netns is the same');
  assert.ok((listed.injections[0]?.evidence ?? []).some((e) => e.fault === 'partition'), 'its counters read through the new init');
  assert.equal(await connects(pod, PEER), false, 'still cut');
  assert.deepEqual((await second.client.sync(EXP, 30_000, [])).removed, [ID]);
  assert.equal(await connects(pod, PEER), true);
  await nothingLeft(journal, before);
});

test('node-network is put on the node only; without a default route and a device it is refused, naming the node', async () => {
  const journal = journalDir('refusals');
  const before = await snapshotKernelState(node.path);
  const daemon = await startDaemon(journal);
  const onContainer = await daemon.client.sync(EXP, 30_000, [{ id: ID, target: { containerId: 'c1' }, fault: { kind: 'node-network', faults: [partition] } }]);
  assert.match(outcome(onContainer), /^INVALID: node-network is a node fault/);
  const empty = await daemon.client.sync(EXP, 30_000, [nodeNetwork([])]);
  assert.match(outcome(empty), /^INVALID: a node-network injection needs at least one fault/);
  await run(['ip', '-n', node.name, 'route', 'del', 'default']);
  try {
    const refused = await daemon.client.sync(EXP, 30_000, [nodeNetwork([partition])]);
    assert.match(outcome(refused), new RegExp(`^INVALID: node ${NODE_NAME} has no default route \\(IPv4 or IPv6\\) in its network namespace, so fault 0 \\(partition\\) has no device`));
    const named = await daemon.client.sync(EXP, 30_000, [nodeNetwork([{ ...partition, scope: { ...partition.scope, device: 'eth0' } }])]);
    assert.equal(outcome(named), 'ok', 'a fault naming its device needs no default route');
    assert.equal(await connects(node, PEER), false);
    await daemon.client.sync(EXP, 30_000, []);
  } finally {
    await run(['ip', '-n', node.name, 'route', 'add', 'default', 'via', PEER, 'dev', 'eth0'], { allowFailure: true });
  }
  await nothingLeft(journal, before);
});
