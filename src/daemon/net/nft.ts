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

/** numgen draws from 0..999999, so a loss in millionths is directly its threshold. */
const NUMGEN_MODULUS = 1_000_000;

function setKey(cidrs: readonly Cidr[]): string {
  return cidrs.map(cidrText).join(',');
}

function quoteList(devices: readonly string[]): string {
  return `{ ${devices.map((d) => `"${d}"`).join(', ')} }`;
}

/** The `nft -f -` input that creates the table; it fails whole if `inet kerris` already exists. */
export function nftScript(rules: readonly NetfilterRule[]): string {
  const sets = new Map<string, { name: string; family: 4 | 6; cidrs: readonly Cidr[] }>();
  const setFor = (family: 4 | 6, cidrs: readonly Cidr[]): string => {
    const key = `${family}|${setKey(cidrs)}`;
    let set = sets.get(key);
    if (!set) {
      set = { name: `peers${sets.size}v${family}`, family, cidrs };
      sets.set(key, set);
    }
    return set.name;
  };
  const chains: Record<NetfilterSide, string[]> = { egress: [], ingress: [] };
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
    const families: readonly (4 | 6 | undefined)[] = scope.cidrs.length === 0
      ? [undefined]
      : ([4, 6] as const).filter((f) => scope.cidrs.some((c) => c.family === f));
    for (const family of families) {
      const parts = [device];
      if (family !== undefined) parts.push(`${family === 4 ? 'ip' : 'ip6'} ${address} @${setFor(family, scope.cidrs.filter((c) => c.family === family))}`);
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
  for (const side of ['egress', 'ingress'] as const) {
    if (chains[side].length === 0) continue;
    lines.push(`  chain ${side} {`, `    type filter hook ${side === 'egress' ? 'output' : 'input'} priority -10; policy accept;`);
    for (const rule of chains[side]) lines.push(`    ${rule}`);
    lines.push('  }');
  }
  lines.push('}');
  return `${lines.join('\n')}\n`;
}
