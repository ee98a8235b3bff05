// Runs inside the kernel VM (npm run kernel-vm -- node test/vm/scenarios/testbed-netem.ts).
// Two network namespaces joined by a veth pair; pings from a to b, first plain, then with
// `netem delay 50ms` on a's end of the pair. Only a's egress is delayed: each echo request
// waits 50 ms and the reply does not, so the round trip grows by 50 ms, not 100.
// Prints one JSON object on stdout; the host test asserts on it.
import { run, type Argv } from '../../../src/util/exec.ts';

const NS_A = 'kerris-netem-a';
const NS_B = 'kerris-netem-b';
const VETH_A = 'kn-a';
const VETH_B = 'kn-b';
// RFC 2544's benchmarking range: it never leaves these namespaces.
const ADDR_A = '198.18.0.1';
const ADDR_B = '198.18.0.2';
const PINGS = 30;

const inNs = (ns: string, argv: Argv): Argv => ['ip', 'netns', 'exec', ns, ...argv];

/** What the fault may change and must give back: namespaces, root links, root qdiscs. */
async function kernelState(): Promise<{ netns: string; links: string; qdiscs: string }> {
  const [netns, links, qdiscs] = await Promise.all([
    run(['ip', 'netns', 'list']),
    run(['ip', '-o', 'link', 'show']),
    run(['tc', 'qdisc', 'show']),
  ]);
  return { netns: netns.stdout, links: links.stdout, qdiscs: qdiscs.stdout };
}

/** Round-trip times in ms, one per reply. */
async function ping(): Promise<number[]> {
  const result = await run(inNs(NS_A, ['ping', '-n', '-c', String(PINGS), '-i', '0.05', '-W', '2', ADDR_B]));
  return [...result.stdout.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]));
}

async function vethQdisc(): Promise<string> {
  return (await run(inNs(NS_A, ['tc', 'qdisc', 'show', 'dev', VETH_A]))).stdout.trim();
}

const before = await kernelState();
const report: Record<string, unknown> = { before };
try {
  await run(['ip', 'netns', 'add', NS_A]);
  await run(['ip', 'netns', 'add', NS_B]);
  await run(['ip', 'link', 'add', VETH_A, 'netns', NS_A, 'type', 'veth', 'peer', 'name', VETH_B, 'netns', NS_B]);
  for (const [ns, dev, addr] of [[NS_A, VETH_A, ADDR_A], [NS_B, VETH_B, ADDR_B]] as const) {
    await run(inNs(ns, ['ip', 'addr', 'add', `${addr}/30`, 'dev', dev]));
    await run(inNs(ns, ['ip', 'link', 'set', dev, 'up']));
    await run(inNs(ns, ['ip', 'link', 'set', 'lo', 'up']));
  }
  report['qdiscBefore'] = await vethQdisc();
  report['baselineMs'] = await ping();
  await run(inNs(NS_A, ['tc', 'qdisc', 'add', 'dev', VETH_A, 'root', 'netem', 'delay', '50ms']));
  report['qdiscDelayed'] = await vethQdisc();
  report['delayedMs'] = await ping();
  await run(inNs(NS_A, ['tc', 'qdisc', 'del', 'dev', VETH_A, 'root']));
  report['qdiscAfter'] = await vethQdisc();
  report['recoveredMs'] = await ping();
} finally {
  await run(['ip', 'netns', 'del', NS_A], { allowFailure: true });
  await run(['ip', 'netns', 'del', NS_B], { allowFailure: true });
}
report['after'] = await kernelState();
process.stdout.write(`${JSON.stringify(report)}\n`);
