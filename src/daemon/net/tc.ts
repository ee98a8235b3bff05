/**
 * The tc tree kerris owns on one device (or on the IFB that carries a device's
 * ingress). Its shape is fixed, so ownership is provable from handles alone:
 *
 *   4b52: htb (root, default class 4b52:1 for untouched traffic)
 *   ├─ 4b52:1    htb class, unlimited
 *   └─ 4b52:1N   htb class, unlimited, one per distinct scope N (0..15)
 *        └─ 4b6N: netem   (delay, jitter, loss, duplicate, corrupt, reorder)
 *             └─ 4b7N: tbf (bandwidth)        or tbf directly under the class
 *
 * u32 filters at the root steer each scope's packets into its class.
 */
import { cidrText } from './fault.ts';
import type { BandwidthParams, Cidr, Micros, Ppm, Scope } from './fault.ts';

export const ROOT_MAJOR = 0x4b52;
const NETEM_MAJOR = 0x4b60;
const TBF_MAJOR = 0x4b70;
const FIRST_SCOPE_MINOR = 0x10;
export const MAX_SCOPES_PER_DEVICE = 16;
export const ROOT_HANDLE = `${ROOT_MAJOR.toString(16)}:`;

/** The handle of the netem of a device's scope class `index` (its position in treeLines' `classes`). */
export function netemHandle(index: number): string {
  return `${(NETEM_MAJOR + index).toString(16)}:`;
}

/** The handle of the tbf of a device's scope class `index`. */
export function tbfHandle(index: number): string {
  return `${(TBF_MAJOR + index).toString(16)}:`;
}

/** A class rate so high it never limits: unmatched traffic and netem-only scopes pass as before. */
const UNLIMITED = 'rate 100gbit quantum 60000';
/** netem's own queue must hold a delay's worth of packets, or a delay turns into loss. */
const NETEM_LIMIT = 100_000;

export interface NetemParams {
  latency: Micros;
  jitter: Micros;
  delayCorrelation: Ppm;
  loss?: { loss: Ppm; correlation: Ppm };
  duplicate?: { duplicate: Ppm; correlation: Ppm };
  corrupt?: { corrupt: Ppm; correlation: Ppm };
  reorder?: { reorder: Ppm; correlation: Ppm; gap: number };
}

/** The faults of one scope on one device and side, merged into one class. */
export interface ScopeClass {
  scope: Scope;
  netem?: NetemParams;
  tbf?: BandwidthParams;
}

/** Which end of a packet the scope's addresses and ports describe: the peer is the destination on egress. */
export type PeerEnd = 'dst' | 'src';

function percent(ppm: Ppm): string {
  return `${ppm / 10_000}%`;
}

export function netemArgs(p: NetemParams): string {
  const args = ['netem', 'limit', String(NETEM_LIMIT)];
  if (p.latency > 0 || p.jitter > 0) {
    args.push('delay', `${p.latency}us`, `${p.jitter}us`, percent(p.delayCorrelation));
  }
  if (p.loss) args.push('loss', percent(p.loss.loss), percent(p.loss.correlation));
  if (p.duplicate) args.push('duplicate', percent(p.duplicate.duplicate), percent(p.duplicate.correlation));
  if (p.corrupt) args.push('corrupt', percent(p.corrupt.corrupt), percent(p.corrupt.correlation));
  if (p.reorder) args.push('reorder', percent(p.reorder.reorder), percent(p.reorder.correlation), 'gap', String(p.reorder.gap));
  return args.join(' ');
}

export function tbfArgs(b: BandwidthParams): string {
  const args = ['tbf', 'rate', `${b.rate}bit`, 'burst', String(b.buffer), 'limit', String(b.limit)];
  if (b.peakrate !== undefined && b.minburst !== undefined) args.push('peakrate', `${b.peakrate}bit`, 'minburst', String(b.minburst));
  return args.join(' ');
}

const ipProtocolNumbers = { tcp: 6, udp: 17 } as const;

/** u32 match clauses for one address family; undefined when the scope cannot match that family. */
function familyMatches(scope: Scope, family: 4 | 6, end: PeerEnd): string[][] | undefined {
  const cidrs: readonly (Cidr | undefined)[] = scope.cidrs.length > 0 ? scope.cidrs.filter((c) => c.family === family) : [undefined];
  if (cidrs.length === 0) return undefined;
  const ip = family === 4 ? 'ip' : 'ip6';
  const protocol = scope.protocol === 'all' ? []
    : [`match ${ip} protocol ${scope.protocol === 'icmp' ? (family === 4 ? 1 : 58) : ipProtocolNumbers[scope.protocol]} 0xff`];
  const ports: readonly (number | undefined)[] = scope.ports.length > 0 ? scope.ports : [undefined];
  const port = end === 'dst' ? 'dport' : 'sport';
  const matches: string[][] = [];
  for (const cidr of cidrs) {
    for (const p of ports) {
      const clauses = [
        ...(cidr ? [`match ${ip} ${end} ${cidrText(cidr)}`] : []),
        ...protocol,
        // Fixed offsets: ports are found only behind a 20-byte IPv4 header or a bare IPv6 header.
        ...(p !== undefined ? [`match ${ip} ${port} ${p} 0xffff`] : []),
      ];
      matches.push(clauses.length > 0 ? clauses : ['match u32 0 0']);
    }
  }
  return matches;
}

/**
 * tc batch lines that build kerris's tree on `device`; `end` says where the scopes' peers are. Packets of the
 * `except` peers are steered into the untouched default class by filters ahead of every scope's (priorities 1 and
 * 2, the scopes' then follow), so no class of a fault sees them.
 */
export function treeLines(device: string, classes: readonly ScopeClass[], end: PeerEnd, except: readonly Cidr[] = []): string[] {
  if (classes.length > MAX_SCOPES_PER_DEVICE) throw new RangeError(`at most ${MAX_SCOPES_PER_DEVICE} scopes per device`);
  const root = ROOT_MAJOR.toString(16);
  const lines = [
    `qdisc add dev ${device} root handle ${root}: htb default 1`,
    `class add dev ${device} parent ${root}: classid ${root}:1 htb ${UNLIMITED}`,
  ];
  for (const cidr of except) {
    const family = cidr.family === 4 ? 'ip' : 'ip6';
    lines.push(`filter add dev ${device} parent ${root}: protocol ${cidr.family === 4 ? 'ip' : 'ipv6'} prio ${cidr.family === 4 ? 1 : 2} u32 match ${family} ${end} ${cidrText(cidr)} flowid ${root}:1`);
  }
  const first = except.length > 0 ? 3 : 1;
  classes.forEach((cls, i) => {
    const classId = `${root}:${(FIRST_SCOPE_MINOR + i).toString(16)}`;
    lines.push(`class add dev ${device} parent ${root}: classid ${classId} htb ${UNLIMITED}`);
    let parent = classId;
    if (cls.netem) {
      const handle = netemHandle(i);
      lines.push(`qdisc add dev ${device} parent ${parent} handle ${handle} ${netemArgs(cls.netem)}`);
      parent = `${handle}1`;
    }
    if (cls.tbf) lines.push(`qdisc add dev ${device} parent ${parent} handle ${tbfHandle(i)} ${tbfArgs(cls.tbf)}`);
    const unscoped = cls.scope.cidrs.length === 0 && cls.scope.ports.length === 0 && cls.scope.protocol === 'all';
    if (unscoped) {
      lines.push(`filter add dev ${device} parent ${root}: protocol all prio ${first + 2 * i} u32 match u32 0 0 flowid ${classId}`);
      return;
    }
    // A filter priority holds one protocol, so IPv4 and IPv6 filters of a scope take neighbouring priorities.
    for (const family of [4, 6] as const) {
      const matches = familyMatches(cls.scope, family, end);
      const prio = first + 2 * i + (family === 4 ? 0 : 1);
      for (const clauses of matches ?? []) {
        lines.push(`filter add dev ${device} parent ${root}: protocol ${family === 4 ? 'ip' : 'ipv6'} prio ${prio} u32 ${clauses.join(' ')} flowid ${classId}`);
      }
    }
  });
  return lines;
}

/** Sends everything arriving on `device` through `ifb`, where kerris's ingress tree runs as egress. */
export function ingressRedirectLines(device: string, ifb: string): string[] {
  return [
    `qdisc add dev ${device} handle ffff: ingress`,
    `filter add dev ${device} parent ffff: protocol all prio 1 u32 match u32 0 0 action mirred egress redirect dev ${ifb}`,
  ];
}
