/**
 * The netfilter half of kerris's network faults: partition, and loss where the
 * kernel has no netem. Everything lives in one nftables table, `inet kerris`,
 * that kerris creates (failing if it exists) and deletes whole, so rules that
 * others own are never touched and nothing is left behind. One `inet` table
 * covers IPv4 and IPv6, and works whether the node's iptables is legacy or nft.
 */
import { cidrText } from './fault.ts';
import type { Cidr, Ppm, Scope } from './fault.ts';

export const NFT_TABLE = 'kerris';

export type NetfilterSide = 'egress' | 'ingress';

/** The faults nftables carries out. */
export type NetfilterFault = 'partition' | 'loss';

/** One rule: packets of `scope` on `devices`, seen on `side`, are dropped (partition), or dropped with probability `loss`. */
export type NetfilterRule = { side: NetfilterSide; devices: readonly string[]; scope: Scope } & ({ fault: 'partition' } | { fault: 'loss'; loss: Ppm });

/** Packets on `devices`, seen on `side`, to (egress) or from (ingress) `cidrs` are accepted before any rule drops them. */
export interface NetfilterExcept {
  side: NetfilterSide;
  devices: readonly string[];
  cidrs: readonly Cidr[];
}

export interface NftScriptOptions {
  /** Accepts that go first in each chain of their side. */
  excepts?: readonly NetfilterExcept[];
  /**
   * Also hook the forward path: in the node's own namespace, pod traffic crossing the node's devices is forwarded,
   * never output or input, so each side gets a second chain (`<side>_forward`) with the same rules.
   */
  forward?: boolean;
}

/** The chain of each side and hook; evidence.ts reads a rule's direction from its chain's name. */
export const NFT_CHAINS: readonly { name: string; side: NetfilterSide; hook: 'output' | 'input' | 'forward' }[] = [
  { name: 'egress', side: 'egress', hook: 'output' },
  { name: 'ingress', side: 'ingress', hook: 'input' },
  { name: 'egress_forward', side: 'egress', hook: 'forward' },
  { name: 'ingress_forward', side: 'ingress', hook: 'forward' },
];

/** numgen draws from 0..999999, so a loss in millionths is directly its threshold. */
const NUMGEN_MODULUS = 1_000_000;

function setKey(cidrs: readonly Cidr[]): string {
  return cidrs.map(cidrText).join(',');
}

function quoteList(devices: readonly string[]): string {
  return `{ ${devices.map((d) => `"${d}"`).join(', ')} }`;
}

function families(cidrs: readonly Cidr[]): (4 | 6)[] {
  return ([4, 6] as const).filter((f) => cidrs.some((c) => c.family === f));
}

/** The `nft -f -` input that creates the table; it fails whole if `inet kerris` already exists. */
export function nftScript(rules: readonly NetfilterRule[], options: NftScriptOptions = {}): string {
  const sets = new Map<string, { name: string; family: 4 | 6; cidrs: readonly Cidr[] }>();
  const setFor = (prefix: 'peers' | 'except', family: 4 | 6, cidrs: readonly Cidr[]): string => {
    const key = `${prefix}|${family}|${setKey(cidrs)}`;
    let set = sets.get(key);
    if (!set) {
      set = { name: `${prefix}${[...sets.keys()].filter((k) => k.startsWith(`${prefix}|`)).length}v${family}`, family, cidrs };
      sets.set(key, set);
    }
    return set.name;
  };
  const chains: Record<NetfilterSide, string[]> = { egress: [], ingress: [] };
  // An accept ends only its own chain, so each chain that drops carries the accepts of its side before its drops.
  const accepts: Record<NetfilterSide, string[]> = { egress: [], ingress: [] };
  for (const except of options.excepts ?? []) {
    const egress = except.side === 'egress';
    for (const family of families(except.cidrs)) {
      accepts[except.side].push(`${egress ? 'oifname' : 'iifname'} ${quoteList(except.devices)} ${family === 4 ? 'ip' : 'ip6'} ${egress ? 'daddr' : 'saddr'} @${setFor('except', family, except.cidrs.filter((c) => c.family === family))} accept`);
    }
  }
  for (const rule of rules) {
    const egress = rule.side === 'egress';
    const device = `${egress ? 'oifname' : 'iifname'} ${quoteList(rule.devices)}`;
    const address = egress ? 'daddr' : 'saddr';
    const port = egress ? 'dport' : 'sport';
    // numgen's range ends at modulus - 1, so a 100% loss is a plain drop. The counter sits right before the drop, so
    // it counts exactly the packets dropped; the comment names the fault, so the counters say whose drops they are.
    const drop = `counter drop comment "${rule.fault}"`;
    const verdict = rule.fault === 'partition' || rule.loss >= NUMGEN_MODULUS ? drop : `numgen random mod ${NUMGEN_MODULUS} < ${rule.loss} ${drop}`;
    const { scope } = rule;
    const ruleFamilies: readonly (4 | 6 | undefined)[] = scope.cidrs.length === 0 ? [undefined] : families(scope.cidrs);
    for (const family of ruleFamilies) {
      const parts = [device];
      if (family !== undefined) parts.push(`${family === 4 ? 'ip' : 'ip6'} ${address} @${setFor('peers', family, scope.cidrs.filter((c) => c.family === family))}`);
      if (scope.protocol === 'icmp') {
        parts.push(family === 4 ? 'meta l4proto icmp' : family === 6 ? 'meta l4proto ipv6-icmp' : 'meta l4proto { icmp, ipv6-icmp }');
      } else if (scope.protocol !== 'all') {
        parts.push(`meta l4proto ${scope.protocol}`);
      }
      if (scope.ports.length > 0) parts.push(`th ${port} { ${scope.ports.join(', ')} }`);
      parts.push(verdict);
      chains[rule.side].push(parts.join(' '));
    }
  }
  const lines = [`create table inet ${NFT_TABLE}`, `table inet ${NFT_TABLE} {`];
  for (const set of sets.values()) {
    lines.push(`  set ${set.name} { type ${set.family === 4 ? 'ipv4_addr' : 'ipv6_addr'}; flags interval; auto-merge; elements = { ${set.cidrs.map(cidrText).join(', ')} } }`);
  }
  for (const chain of NFT_CHAINS) {
    if (chains[chain.side].length === 0 || (chain.hook === 'forward' && options.forward !== true)) continue;
    lines.push(`  chain ${chain.name} {`, `    type filter hook ${chain.hook} priority -10; policy accept;`);
    for (const rule of [...accepts[chain.side], ...chains[chain.side]]) lines.push(`    ${rule}`);
    lines.push('  }');
  }
  lines.push('}');
  return `${lines.join('\n')}\n`;
}
