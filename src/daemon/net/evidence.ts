/**
 * Evidence that a network fault is happening: the kernel's own counters of what kerris put in a target's network
 * namespace (packets delayed, lost, held back for a rate, cut), each tied to the fault it counts.
 *
 * - tc: `tc -s -j qdisc show` lists every qdisc of every device in the namespace, IFBs included, in one command.
 *   Only the qdiscs the plan names (its `counters.qdiscs`: a netem 4b6N: or tbf 4b7N: on a device or its IFB) are
 *   read, because only the planner knows which faults a netem carries (a reorder's latency looks like a delay).
 * - nftables: `nft -j list table inet kerris` lists kerris's table only. Each of its rules ends in
 *   `counter drop comment "<fault>"`, so the table says by itself which fault each counter belongs to.
 *
 * Parsing is kept apart from running the commands, so it is tested on real output (test/unit/net-evidence.test.ts).
 */
import { run } from '../../util/exec.ts';
import type { NetworkAction } from './fault.ts';
import { NFT_CHAINS, NFT_TABLE } from './nft.ts';
import type { NetfilterFault, NetfilterSide } from './nft.ts';
import { parseNetnsPath } from './values.ts';

export type EvidenceKind = 'netem' | 'tbf' | 'nft';

/** One counter of a fault in force, summed over the qdiscs or rules that carry that fault on that device and side. */
export interface Evidence {
  /** The target's interface (for ingress tc faults too); an nftables rule over several names them comma-separated. */
  device: string;
  direction: NetfilterSide;
  kind: EvidenceKind;
  fault: NetworkAction;
  /** Packets that went through (netem, tbf), or were dropped (nft). */
  packets: number;
  bytes: number;
  dropped: number;
  /** Times a tbf held packets back for their rate; 0 for nft. */
  overlimits: number;
}

/** One of kerris's qdiscs in a plan and the faults whose packets it handles (written by plan.ts, kept in the journal). */
export interface QdiscCounter {
  /** The target's interface the faults are on. */
  device: string;
  direction: NetfilterSide;
  /** The device the qdisc is on: `device` itself on egress, its IFB (kerris-ifbN) on ingress. */
  on: string;
  /** 4b6N: (netem) or 4b7N: (tbf). */
  handle: string;
  kind: 'netem' | 'tbf';
  faults: readonly NetworkAction[];
}

/** Where a network plan's counters are. */
export interface PlanCounters {
  qdiscs: readonly QdiscCounter[];
  /** Whether the plan creates the `inet kerris` table. */
  nft: boolean;
}

/** Command output that is not what tc or nft print. */
export class EvidenceParseError extends Error {
  override name = 'EvidenceParseError';
}

/** A read of the counters that failed; `netns` names the namespace. */
export class EvidenceReadError extends Error {
  override name = 'EvidenceReadError';
  readonly netns: string;
  constructor(netns: string, message: string, options?: ErrorOptions) {
    super(`evidence in ${netns}: ${message}`, options);
    this.netns = netns;
  }
}

type Fields = Record<string, unknown>;

function isFields(value: unknown): value is Fields {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new EvidenceParseError(`${what}: not JSON: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
}

/** A kernel counter: tc and nft print them as JSON numbers, whole and never negative. */
function count(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw new EvidenceParseError(`${what} is ${JSON.stringify(value)}, not a counter`);
  return value;
}

/** The counters of `qdiscs` in the output of `tc -s -j qdisc show`; a qdisc that is not there (any more) has none. */
export function qdiscEvidence(tcJson: string, qdiscs: readonly QdiscCounter[]): Evidence[] {
  const listed = parseJson(tcJson, 'tc -s -j qdisc show');
  if (!Array.isArray(listed)) throw new EvidenceParseError('tc -s -j qdisc show: expected a JSON array');
  const evidence: Evidence[] = [];
  for (const counter of qdiscs) {
    const found = listed.find((q): q is Fields => isFields(q) && q['dev'] === counter.on && q['handle'] === counter.handle && q['kind'] === counter.kind);
    if (found === undefined) continue;
    const what = `tc qdisc ${counter.kind} ${counter.handle} on ${counter.on}`;
    const stats = {
      packets: count(found['packets'], `${what}: packets`),
      bytes: count(found['bytes'], `${what}: bytes`),
      dropped: count(found['drops'], `${what}: drops`),
      overlimits: count(found['overlimits'], `${what}: overlimits`),
    };
    for (const fault of counter.faults) evidence.push({ device: counter.device, direction: counter.direction, kind: counter.kind, fault, ...stats });
  }
  return evidence;
}

function netfilterFault(comment: unknown): NetfilterFault | undefined {
  return comment === 'partition' || comment === 'loss' ? comment : undefined;
}

/** A chain's side: the output and input chains, and on the node the forward chains, which count the pod traffic it forwards. */
const CHAIN_SIDES: ReadonlyMap<string, NetfilterSide> = new Map(NFT_CHAINS.map((c) => [c.name, c.side]));

/** The interfaces a rule of kerris's matches: its `oifname`/`iifname` match, a name or a set of names. */
function ruleDevices(expr: readonly unknown[], what: string): string {
  for (const item of expr) {
    if (!isFields(item) || !isFields(item['match'])) continue;
    const { left, right } = item['match'];
    if (!isFields(left) || !isFields(left['meta']) || !['oifname', 'iifname'].includes(String(left['meta']['key']))) continue;
    const names = typeof right === 'string' ? [right] : isFields(right) && Array.isArray(right['set']) ? right['set'] : undefined;
    if (names === undefined || names.length === 0 || !names.every((n): n is string => typeof n === 'string')) throw new EvidenceParseError(`${what}: interface match ${JSON.stringify(right)}`);
    return [...names].sort().join(',');
  }
  throw new EvidenceParseError(`${what}: no interface match`);
}

/**
 * The counters of the rules in the output of `nft -j list table inet kerris`. Rules without a counter or a fault
 * comment (none kerris writes now) have none.
 */
export function nftEvidence(nftJson: string): Evidence[] {
  const parsed = parseJson(nftJson, 'nft -j list table');
  if (!isFields(parsed) || !Array.isArray(parsed['nftables'])) throw new EvidenceParseError('nft -j list table: expected {"nftables": [...]}');
  const evidence: Evidence[] = [];
  for (const item of parsed['nftables']) {
    const rule = isFields(item) ? item['rule'] : undefined;
    if (!isFields(rule) || rule['family'] !== 'inet' || rule['table'] !== NFT_TABLE) continue;
    const direction = CHAIN_SIDES.get(String(rule['chain']));
    const fault = netfilterFault(rule['comment']);
    const expr = rule['expr'];
    if (direction === undefined || fault === undefined || !Array.isArray(expr)) continue;
    const counter = expr.find((e): e is { counter: Fields } => isFields(e) && isFields(e['counter']));
    if (counter === undefined) continue;
    const what = `nft rule ${String(rule['handle'])} in chain ${direction}`;
    const packets = count(counter.counter['packets'], `${what}: packets`);
    evidence.push({
      device: ruleDevices(expr, what), direction, kind: 'nft', fault,
      packets, bytes: count(counter.counter['bytes'], `${what}: bytes`), dropped: packets, overlimits: 0,
    });
  }
  return evidence;
}

/** One entry per device, direction, kind and fault (several scopes of one fault add up), in a stable order. */
export function summed(evidence: readonly Evidence[]): Evidence[] {
  const byKey = new Map<string, Evidence>();
  for (const e of evidence) {
    const key = [e.device, e.direction, e.kind, e.fault].join('|');
    const seen = byKey.get(key);
    if (seen === undefined) byKey.set(key, { ...e });
    else {
      seen.packets += e.packets;
      seen.bytes += e.bytes;
      seen.dropped += e.dropped;
      seen.overlimits += e.overlimits;
    }
  }
  return [...byKey.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, e]) => e);
}

const TIMEOUT_MS = 10_000;
/** What nft says when the table is not there: the fault's rules are gone, so there is nothing to count. */
const NO_TABLE = 'No such file or directory';

async function inNetns(netns: string, argv: readonly [string, ...string[]]): Promise<{ stdout: string; absent: boolean }> {
  const result = await run(['nsenter', `--net=${netns}`, '--', ...argv], { timeoutMs: TIMEOUT_MS, allowFailure: true });
  if (result.code === 0) return { stdout: result.stdout, absent: false };
  if (argv[0] === 'nft' && result.signal === null && result.stderr.includes(NO_TABLE)) return { stdout: '', absent: true };
  throw new EvidenceReadError(netns, `${argv.join(' ')} exited with ${result.code}: ${result.stderr.trim()}`);
}

/**
 * Reads the counters of `counters` in the namespace at `netnsPath`: at most one tc and one nft command, side by side,
 * each only when the plan has something of its kind.
 */
export async function readEvidence(netnsPath: string, counters: PlanCounters): Promise<Evidence[]> {
  const netns = parseNetnsPath('netns', netnsPath);
  const [tc, nft] = await Promise.all([
    counters.qdiscs.length === 0 ? undefined : inNetns(netns, ['tc', '-s', '-j', 'qdisc', 'show']),
    counters.nft ? inNetns(netns, ['nft', '-j', 'list', 'table', 'inet', NFT_TABLE]) : undefined,
  ]);
  try {
    return summed([
      ...(tc === undefined ? [] : qdiscEvidence(tc.stdout, counters.qdiscs)),
      ...(nft === undefined || nft.absent ? [] : nftEvidence(nft.stdout)),
    ]);
  } catch (error) {
    throw new EvidenceReadError(netns, error instanceof Error ? error.message : String(error), { cause: error });
  }
}
