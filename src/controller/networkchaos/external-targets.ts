/**
 * `externalTargets` as Chaos Mesh writes them (an address, a CIDR, a host name, each optionally with `:port`, and
 * `[v6]:port`) parsed into what the daemon scopes a fault by: address blocks, with the port when one was given.
 * Host names are resolved to every A and AAAA record when the fault is stated, and what they resolved to is
 * reported in status.
 */
import { isIP } from 'node:net';

export type ExternalTarget =
  | { kind: 'cidr'; cidr: string; port?: number }
  | { kind: 'host'; host: string; port?: number };

export class ExternalTargetError extends Error {
  override name = 'ExternalTargetError';
}

const HOST_NAME = /^(?=.{1,253}$)([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*\.?$/i;

function port(text: string, entry: string): number {
  const value = /^[0-9]{1,5}$/.test(text) ? Number(text) : NaN;
  if (!(value >= 1 && value <= 65535)) throw new ExternalTargetError(`externalTargets: ${JSON.stringify(entry)}: the port must be 1 to 65535`);
  return value;
}

/** An address as a single-address block; a block as written, checked. */
function block(text: string, entry: string): string {
  const [address = '', prefix, ...rest] = text.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) throw new ExternalTargetError(`externalTargets: ${JSON.stringify(entry)} is not an IP address, CIDR or host name`);
  const max = family === 4 ? 32 : 128;
  if (prefix === undefined) return `${address}/${max}`;
  const bits = /^[0-9]{1,3}$/.test(prefix) ? Number(prefix) : NaN;
  if (!(bits >= 0 && bits <= max)) throw new ExternalTargetError(`externalTargets: ${JSON.stringify(entry)}: the prefix length must be 0 to ${max}`);
  return `${address}/${bits}`;
}

export function parseExternalTarget(entry: string): ExternalTarget {
  const bracketed = /^\[([^\]]+)\](?::([^:]*))?$/.exec(entry);
  if (bracketed) {
    const cidr = block(bracketed[1] ?? '', entry);
    if (!cidr.includes(':')) throw new ExternalTargetError(`externalTargets: ${JSON.stringify(entry)}: brackets are for IPv6 addresses`);
    return bracketed[2] === undefined ? { kind: 'cidr', cidr } : { kind: 'cidr', cidr, port: port(bracketed[2], entry) };
  }
  // More than one colon is an IPv6 address or block, which takes a port only in brackets.
  if ((entry.match(/:/g) ?? []).length > 1) return { kind: 'cidr', cidr: block(entry, entry) };
  const [host = '', portText] = entry.split(':');
  const withPort = portText === undefined ? {} : { port: port(portText, entry) };
  if (host.includes('/') || isIP(host) !== 0) return { kind: 'cidr', cidr: block(host, entry), ...withPort };
  if (!HOST_NAME.test(host) || /^[0-9.]+$/.test(host)) throw new ExternalTargetError(`externalTargets: ${JSON.stringify(entry)} is not an IP address, CIDR or host name`);
  return { kind: 'host', host: host.toLowerCase().replace(/\.$/, ''), ...withPort };
}

/** Resolves a host name to its addresses; the default is the system resolver (A and AAAA). */
export type Resolver = (host: string) => Promise<string[]>;

export interface ResolvedTargets {
  /** Address blocks with no port of their own. */
  cidrs: string[];
  /** Address blocks by the port written with them. */
  byPort: Map<number, string[]>;
  resolved: { host: string; addresses: string[] }[];
  /** Host names that did not resolve, with the resolver's reason. */
  unresolved: string[];
}

export async function resolveExternalTargets(targets: readonly ExternalTarget[], resolve: Resolver): Promise<ResolvedTargets> {
  const out: ResolvedTargets = { cidrs: [], byPort: new Map(), resolved: [], unresolved: [] };
  const add = (cidr: string, at: number | undefined): void => {
    if (at === undefined) out.cidrs.push(cidr);
    else out.byPort.set(at, [...(out.byPort.get(at) ?? []), cidr]);
  };
  for (const target of targets) {
    if (target.kind === 'cidr') {
      add(target.cidr, target.port);
      continue;
    }
    let addresses: string[];
    try {
      addresses = [...new Set(await resolve(target.host))].sort();
    } catch (error) {
      out.unresolved.push(`${target.host}: ${error instanceof Error ? error.message : String(error)}`);
      continue;
    }
    if (!out.resolved.some((r) => r.host === target.host)) out.resolved.push({ host: target.host, addresses });
    for (const address of addresses) add(`${address}/${isIP(address) === 6 ? 128 : 32}`, target.port);
  }
  return out;
}
