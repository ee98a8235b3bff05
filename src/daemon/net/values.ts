/**
 * Parsers for the single values that end up in tc, ip and nft input. Each one
 * accepts a narrow, documented grammar and throws `FaultValidationError`
 * otherwise, so nothing unparsed ever reaches a command.
 */
import type { Cidr, Micros, Ppm } from './fault.ts';

/** A field of a fault that failed validation; `path` locates it, e.g. `scope.cidrs[2]`. */
export class FaultValidationError extends Error {
  override name = 'FaultValidationError';
  readonly path: string;
  readonly reason: string;
  constructor(path: string, reason: string) {
    super(`${path || '(fault)'}: ${reason}`);
    this.path = path;
    this.reason = reason;
  }
}

/** A short, printable rendering of a rejected value for error messages (never the raw value). */
export function describe(value: unknown): string {
  const text = typeof value === 'string' ? JSON.stringify(value) : typeof value === 'object' ? (Array.isArray(value) ? 'an array' : value === null ? 'null' : 'an object') : String(value);
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

function requireString(path: string, value: unknown, maxLength: number): string {
  if (typeof value !== 'string') throw new FaultValidationError(path, `must be a string, got ${describe(value)}`);
  if (value.length > maxLength) throw new FaultValidationError(path, `must be at most ${maxLength} characters`);
  return value;
}

/** Kernel interface names: 1..15 bytes, no '/', ':' or whitespace; kerris also keeps to [A-Za-z0-9_.-] and no leading '-'. */
export function parseDeviceName(path: string, value: unknown): string {
  const name = requireString(path, value, 15);
  if (!/^[A-Za-z0-9_.][A-Za-z0-9_.-]{0,14}$/.test(name) || name === '.' || name === '..') {
    throw new FaultValidationError(path, `${describe(value)} is not a valid interface name (1-15 of A-Z a-z 0-9 _ . -, not starting with '-')`);
  }
  return name;
}

/** A network namespace path the daemon may enter: /proc/<pid>/ns/net or a file under /run/netns or /var/run/netns. */
export function parseNetnsPath(path: string, value: unknown): string {
  const text = requireString(path, value, 256);
  if (!/^\/proc\/[1-9][0-9]{0,9}\/ns\/net$/.test(text) && !/^(\/var)?\/run\/netns\/[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(text)) {
    throw new FaultValidationError(path, `${describe(value)} is not a network namespace path (/proc/<pid>/ns/net or /run/netns/<name>)`);
  }
  return text;
}

function parseIPv4(text: string): number[] | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  const octets: number[] = [];
  for (const part of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part)) return undefined;
    const n = Number(part);
    if (n > 255) return undefined;
    octets.push(n);
  }
  return octets;
}

/** Parses an IPv6 address (with optional trailing dotted quad) into 8 groups. */
function parseIPv6(text: string): number[] | undefined {
  if (!/^[0-9A-Fa-f:.]{2,45}$/.test(text)) return undefined;
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const parseGroups = (part: string, allowV4: boolean): number[] | undefined => {
    if (part === '') return [];
    const groups: number[] = [];
    const items = part.split(':');
    for (let i = 0; i < items.length; i++) {
      const item = items[i] ?? '';
      if (allowV4 && i === items.length - 1 && item.includes('.')) {
        const v4 = parseIPv4(item);
        if (!v4) return undefined;
        groups.push(((v4[0] ?? 0) << 8) | (v4[1] ?? 0), ((v4[2] ?? 0) << 8) | (v4[3] ?? 0));
      } else {
        if (!/^[0-9A-Fa-f]{1,4}$/.test(item)) return undefined;
        groups.push(parseInt(item, 16));
      }
    }
    return groups;
  };
  if (halves.length === 1) {
    const groups = parseGroups(text, true);
    return groups && groups.length === 8 ? groups : undefined;
  }
  const head = parseGroups(halves[0] ?? '', false);
  const tail = parseGroups(halves[1] ?? '', true);
  if (!head || !tail || head.length + tail.length > 7) return undefined;
  return [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
}

/** RFC 5952 text: lower case, no leading zeros, the longest run of two or more zero groups shortened to '::'. */
function formatIPv6(groups: readonly number[]): string {
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) { bestStart = i; bestLength = j - i; }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}

function clearsHostBits(bytes: readonly number[], prefix: number): boolean {
  for (let bit = prefix; bit < bytes.length * 8; bit++) {
    if (((bytes[bit >> 3] ?? 0) >> (7 - (bit & 7))) & 1) return false;
  }
  return true;
}

/** An IPv4 or IPv6 address block ("10.0.0.0/8", "2001:db8::/32"); a bare address means a single host. */
export function parseCidr(path: string, value: unknown): Cidr {
  const text = requireString(path, value, 49);
  const slash = text.indexOf('/');
  const addressText = slash < 0 ? text : text.slice(0, slash);
  const prefixText = slash < 0 ? undefined : text.slice(slash + 1);
  const v4 = parseIPv4(addressText);
  const v6 = v4 ? undefined : parseIPv6(addressText);
  if (!v4 && !v6) throw new FaultValidationError(path, `${describe(value)} is not an IPv4 or IPv6 address or CIDR`);
  const family = v4 ? 4 : 6;
  const maxPrefix = v4 ? 32 : 128;
  if (prefixText !== undefined && !/^(0|[1-9][0-9]{0,2})$/.test(prefixText)) {
    throw new FaultValidationError(path, `${describe(value)} has an invalid prefix length`);
  }
  const prefix = prefixText === undefined ? maxPrefix : Number(prefixText);
  if (prefix > maxPrefix) throw new FaultValidationError(path, `prefix length ${prefix} exceeds ${maxPrefix} for IPv${family}`);
  const bytes = v4 ?? (v6 ?? []).flatMap((g) => [g >> 8, g & 0xff]);
  if (!clearsHostBits(bytes, prefix)) {
    throw new FaultValidationError(path, `${describe(value)} has host bits set beyond /${prefix}`);
  }
  return { family, address: v4 ? v4.join('.') : formatIPv6(v6 ?? []), prefix };
}

export function parsePort(path: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 65535) {
    throw new FaultValidationError(path, `must be an integer port in 1..65535, got ${describe(value)}`);
  }
  return value;
}

/**
 * A percentage as a number or a decimal string ("12.5", "12.5%"), 0..100 with
 * at most four decimals, returned in millionths.
 */
export function parsePercent(path: string, value: unknown): Ppm {
  let text: string;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new FaultValidationError(path, `must be a percentage in 0..100, got ${describe(value)}`);
    text = String(value);
  } else {
    text = requireString(path, value, 9).replace(/%$/, '');
  }
  const match = /^(0|[1-9][0-9]{0,2})(?:\.([0-9]{1,4}))?$/.exec(text);
  if (!match) throw new FaultValidationError(path, `must be a percentage in 0..100 with at most 4 decimals, got ${describe(value)}`);
  const ppm = Number(match[1]) * 10_000 + Number((match[2] ?? '').padEnd(4, '0'));
  if (ppm > 1_000_000) throw new FaultValidationError(path, `must be at most 100, got ${describe(value)}`);
  return ppm;
}

const durationUnits: Readonly<Record<string, number>> = { us: 1, ms: 1_000, s: 1_000_000 };

/** A duration with a unit ("100ms", "1.5s", "250us"), a whole number of microseconds within [0, maxMicros]. */
export function parseDuration(path: string, value: unknown, maxMicros: Micros): Micros {
  const text = requireString(path, value, 16);
  const match = /^(0|[1-9][0-9]{0,8})(?:\.([0-9]{1,6}))?(us|ms|s)$/.exec(text);
  if (!match) throw new FaultValidationError(path, `must be a duration like "100ms", "1.5s" or "250us", got ${describe(value)}`);
  const unit = durationUnits[match[3] ?? ''] ?? 1;
  const fraction = match[2] ?? '';
  const fractionMicros = fraction === '' ? 0 : (Number(fraction) * unit) / 10 ** fraction.length;
  if (!Number.isInteger(fractionMicros)) throw new FaultValidationError(path, `must be a whole number of microseconds, got ${describe(value)}`);
  const micros = Number(match[1]) * unit + fractionMicros;
  if (micros > maxMicros) throw new FaultValidationError(path, `must be at most ${maxMicros / 1_000_000}s, got ${describe(value)}`);
  return micros;
}

/** tc's rate units: bit-based (bit, kbit, mbit, gbit) and byte-based (bps, kbps, mbps, gbps), SI multiples. */
const rateUnits: Readonly<Record<string, number>> = {
  bit: 1, kbit: 1e3, mbit: 1e6, gbit: 1e9,
  bps: 8, kbps: 8e3, mbps: 8e6, gbps: 8e9,
};

export const MIN_RATE_BITS = 8_000;
export const MAX_RATE_BITS = 100e9;

/** A rate like "10mbit" or "1mbps" (tc semantics: bps is bytes per second), in bits per second. */
export function parseRate(path: string, value: unknown): number {
  const text = requireString(path, value, 20);
  const match = /^([1-9][0-9]{0,11})(bit|kbit|mbit|gbit|bps|kbps|mbps|gbps)$/.exec(text);
  if (!match) throw new FaultValidationError(path, `must be a rate like "10mbit" or "1mbps", got ${describe(value)}`);
  const bits = Number(match[1]) * (rateUnits[match[2] ?? ''] ?? 1);
  if (bits < MIN_RATE_BITS || bits > MAX_RATE_BITS) {
    throw new FaultValidationError(path, `must be between 8kbit and 100gbit, got ${describe(value)}`);
  }
  return bits;
}

/** A whole number within [min, max]; strings are not accepted, so "10 ; rm" never becomes 10. */
export function parseInteger(path: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new FaultValidationError(path, `must be an integer in ${min}..${max}, got ${describe(value)}`);
  }
  return value;
}
