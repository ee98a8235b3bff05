/**
 * Reads a network namespace's traffic control and netfilter state: the part
 * the planner needs (qdiscs, links, nftables table names) cheaply, and the
 * whole of it, normalised, for "state after recovery equals state before"
 * checks.
 */
import { run } from '../../util/exec.ts';
import type { Argv } from '../../util/exec.ts';
import { parseNetnsPath } from './values.ts';

export interface QdiscInfo {
  device: string;
  kind: string;
  /** e.g. "0:" for a kernel default, "4b52:" for kerris's root. */
  handle: string;
  /** "root", or the parent handle ("ffff:fff1" for ingress and clsact). */
  parent: string;
}

export interface LinkInfo {
  name: string;
  /** e.g. "ether", "loopback", "ipip" (ip's link_type). */
  type: string;
  up: boolean;
  /**
   * The transmit queue length. A pod's veth often has 0 (a no-queue device), and the kernel sets it to 1000 when a
   * root qdisc is attached, which kerris's revert must give back.
   */
  txqlen: number;
}

/** What the planner needs to prove it touches nothing it does not own. */
export interface TcState {
  links: readonly LinkInfo[];
  qdiscs: readonly QdiscInfo[];
  /** The namespace's nftables tables as `<family> <name>` ("inet kerris"), names only: their rules are not read. */
  nftTables: readonly string[];
}

export interface KernelSnapshot extends TcState {
  /** qdiscs, classes and filters of every device, as tc prints them (no statistics). */
  tc: string;
  nftables: string;
  iptables: string;
  ipsets: string;
}

const TIMEOUT_MS = 10_000;

function inNetns(netns: string, argv: Argv): Argv {
  return ['nsenter', `--net=${netns}`, '--', ...argv];
}

function parseJsonArray(text: string, what: string): Record<string, unknown>[] {
  const value: unknown = JSON.parse(text.trim() === '' ? '[]' : text);
  if (!Array.isArray(value)) throw new TypeError(`${what}: expected a JSON array`);
  return value.filter((v): v is Record<string, unknown> => typeof v === 'object' && v !== null);
}

/**
 * The `<family> <name>` of each table in `nft -j list tables` output. nft wraps its objects in `{"nftables": [...]}`,
 * its metainfo first.
 */
export function nftTableNames(text: string): string[] {
  if (text.trim() === '') return [];
  const value: unknown = JSON.parse(text);
  const objects = typeof value === 'object' && value !== null ? (value as Record<string, unknown>)['nftables'] : undefined;
  if (!Array.isArray(objects)) throw new TypeError('nft -j list tables: expected {"nftables": [...]}');
  return objects.flatMap((o: unknown) => {
    const table = typeof o === 'object' && o !== null ? (o as Record<string, unknown>)['table'] : undefined;
    if (typeof table !== 'object' || table === null) return [];
    const { family, name } = table as Record<string, unknown>;
    return typeof family === 'string' && typeof name === 'string' ? [`${family} ${name}`] : [];
  });
}

/** The three reads run side by side: nsenter and each tool's start-up are most of their time. */
export async function readTcState(netnsPath: string): Promise<TcState> {
  const netns = parseNetnsPath('netns', netnsPath);
  const [links, qdiscs, tables] = await Promise.all([
    run(inNetns(netns, ['ip', '-j', 'link', 'show']), { timeoutMs: TIMEOUT_MS }),
    run(inNetns(netns, ['tc', '-j', 'qdisc', 'show']), { timeoutMs: TIMEOUT_MS }),
    // An nft that exits with an error (no binary, no nf_tables) reads as no tables rather than failing tc-only plans:
    // on such a node no plan creates kerris's table (preflight refuses its partitions and netfilter losses). A timeout
    // still fails the read.
    // Should one be there after all, the apply's `create table` fails and the revert that follows leaves it
    // (execute.ts, revertAfterFailedApply).
    run(inNetns(netns, ['nft', '-j', 'list', 'tables']), { timeoutMs: TIMEOUT_MS, allowFailure: true }),
  ]);
  return {
    links: parseJsonArray(links.stdout, 'ip -j link show').map((l) => ({
      name: String(l['ifname']),
      type: String(l['link_type']),
      up: Array.isArray(l['flags']) && l['flags'].includes('UP'),
      // ip leaves txqlen out of its JSON when it is 0.
      txqlen: typeof l['txqlen'] === 'number' ? l['txqlen'] : 0,
    })),
    qdiscs: parseJsonArray(qdiscs.stdout, 'tc -j qdisc show').map((q) => ({
      device: String(q['dev']),
      kind: String(q['kind']),
      handle: String(q['handle']),
      parent: q['root'] === true ? 'root' : String(q['parent']),
    })),
    nftTables: tables.code === 0 ? nftTableNames(tables.stdout) : [],
  };
}

/**
 * The devices of default routes in `ip -j route show default` output, in order, each once: a route's `dev`, or each
 * next hop's of a multipath route. The planner validates each name before it reaches a command.
 */
export function defaultRouteDevices(routes: readonly Record<string, unknown>[]): string[] {
  const devices: string[] = [];
  const add = (dev: unknown): void => {
    if (typeof dev === 'string' && !devices.includes(dev)) devices.push(dev);
  };
  for (const route of routes) {
    add(route['dev']);
    if (Array.isArray(route['nexthops'])) for (const hop of route['nexthops']) if (typeof hop === 'object' && hop !== null) add((hop as Record<string, unknown>)['dev']);
  }
  return devices;
}

/** The devices of the namespace's IPv4 and IPv6 default routes (engine.ts: where a node's faults land by default). */
export async function readDefaultRouteDevices(netnsPath: string): Promise<string[]> {
  const netns = parseNetnsPath('netns', netnsPath);
  const [v4, v6] = await Promise.all([4, 6].map((family) => run(inNetns(netns, ['ip', '-j', `-${family}`, 'route', 'show', 'default']), { timeoutMs: TIMEOUT_MS })));
  return defaultRouteDevices([...parseJsonArray(v4?.stdout ?? '', 'ip -j -4 route show default'), ...parseJsonArray(v6?.stdout ?? '', 'ip -j -6 route show default')]);
}

/** Runs argv in the namespace; a tool that is not installed reads as "unavailable" rather than failing the snapshot. */
async function capture(netns: string, argv: Argv): Promise<string> {
  const result = await run(inNetns(netns, argv), { timeoutMs: TIMEOUT_MS, allowFailure: true });
  if (result.code !== 0) return `${argv[0]}: unavailable (${result.stderr.trim().split('\n')[0] ?? ''})\n`;
  return result.stdout;
}

function normaliseIptables(text: string): string {
  return text.split('\n').filter((l) => !l.startsWith('#')).map((l) => l.replace(/\[\d+:\d+\]/g, '[0:0]')).join('\n');
}

function normaliseNft(text: string): string {
  return text.replace(/counter packets \d+ bytes \d+/g, 'counter');
}

/** The namespace's whole tc, nftables, iptables (both backends, both families) and ipset state. */
export async function snapshotKernelState(netnsPath: string): Promise<KernelSnapshot> {
  const netns = parseNetnsPath('netns', netnsPath);
  const state = await readTcState(netns);
  const perDevice = state.links.map((l) => l.name).flatMap((d) => [`class show dev ${d}`, `filter show dev ${d}`, `filter show dev ${d} ingress`]);
  const tcBatch = await run(inNetns(netns, ['tc', '-batch', '-']), { input: `qdisc show\n${perDevice.join('\n')}\n`, timeoutMs: TIMEOUT_MS });
  const saves: Argv[] = [['iptables-legacy-save'], ['ip6tables-legacy-save'], ['iptables-nft-save'], ['ip6tables-nft-save']];
  const [nftables, ipsets, ...iptables] = await Promise.all([
    capture(netns, ['nft', 'list', 'ruleset']),
    capture(netns, ['ipset', 'save']),
    ...saves.map((argv) => capture(netns, argv)),
  ]);
  return {
    ...state,
    tc: tcBatch.stdout,
    nftables: normaliseNft(nftables),
    iptables: iptables.map((text, i) => `== ${saves[i]?.[0]}\n${normaliseIptables(text)}`).join('\n'),
    ipsets: ipsets ?? '',
  };
}
