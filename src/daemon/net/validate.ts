/**
 * Turns untrusted input (gRPC JSON) into a `NetworkFault`. Strict: unknown
 * fields, wrong types and out-of-range values are errors naming the field, so a
 * typo never silently becomes a different fault.
 */
import { cidrText } from './fault.ts';
import type { BandwidthParams, Cidr, Direction, NetworkAction, NetworkFault, Protocol, Scope } from './fault.ts';
import {
  FaultValidationError, describe, parseCidr, parseDeviceName, parseDuration, parseInteger, parsePercent, parsePort, parseRate,
} from './values.ts';

export { FaultValidationError } from './values.ts';

export const MAX_CIDRS = 64;
/** Exceptions are a few peers kept reachable (the kerris controller's pods), each one u32 filter and nft element. */
export const MAX_EXCEPT_CIDRS = 16;
export const MAX_PORTS = 16;
const MAX_LATENCY_MICROS = 60_000_000;
const ETHERNET_FRAME_BYTES = 1514;

type Fields = Readonly<Record<string, unknown>>;

function asObject(path: string, value: unknown, allowed: readonly string[]): Fields {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new FaultValidationError(path, `must be an object, got ${describe(value)}`);
  }
  const prefix = path ? `${path}.` : '';
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) throw new FaultValidationError(`${prefix}${describe(key)}`, `unknown field; expected one of ${allowed.join(', ')}`);
  }
  return value as Fields;
}

function oneOf<T extends string>(path: string, value: unknown, options: readonly T[]): T {
  const match = options.find((o) => o === value);
  if (match === undefined) throw new FaultValidationError(path, `must be one of ${options.join(', ')}, got ${describe(value)}`);
  return match;
}

function asArray(path: string, value: unknown, max: number): readonly unknown[] {
  if (!Array.isArray(value)) throw new FaultValidationError(path, `must be an array, got ${describe(value)}`);
  if (value.length > max) throw new FaultValidationError(path, `must have at most ${max} entries, got ${value.length}`);
  return value;
}

function required(path: string, fields: Fields, key: string): unknown {
  const value = fields[key];
  if (value === undefined) throw new FaultValidationError(path ? `${path}.${key}` : key, 'is required');
  return value;
}

/** A list of address blocks: each parsed, duplicates dropped, sorted (IPv4 first) so equal lists plan and hash alike. */
function cidrList(path: string, value: unknown, max: number): Cidr[] {
  const inputs = value === undefined ? [] : asArray(path, value, max);
  const byText = new Map<string, Cidr>();
  inputs.forEach((c, i) => {
    const cidr = parseCidr(`${path}[${i}]`, c);
    byText.set(cidrText(cidr), cidr);
  });
  return [...byText.values()].sort((a, b) => a.family - b.family || cidrText(a).localeCompare(cidrText(b)));
}

function validateScope(value: unknown): Scope {
  const fields = asObject('scope', value ?? {}, ['direction', 'device', 'cidrs', 'ports', 'protocol', 'exceptCidrs']);
  const direction: Direction = fields['direction'] === undefined ? 'egress' : oneOf('scope.direction', fields['direction'], ['egress', 'ingress', 'both']);
  const protocol: Protocol = fields['protocol'] === undefined ? 'all' : oneOf('scope.protocol', fields['protocol'], ['tcp', 'udp', 'icmp', 'all']);
  const cidrs = cidrList('scope.cidrs', fields['cidrs'], MAX_CIDRS);
  const exceptCidrs = cidrList('scope.exceptCidrs', fields['exceptCidrs'], MAX_EXCEPT_CIDRS);
  const portInputs = fields['ports'] === undefined ? [] : asArray('scope.ports', fields['ports'], MAX_PORTS);
  const ports = [...new Set(portInputs.map((p, i) => parsePort(`scope.ports[${i}]`, p)))].sort((a, b) => a - b);
  if (ports.length > 0 && protocol !== 'tcp' && protocol !== 'udp') {
    throw new FaultValidationError('scope.ports', `ports need protocol tcp or udp, got protocol ${protocol}`);
  }
  const scope: Scope = { direction, cidrs, ports, protocol, exceptCidrs };
  if (fields['device'] !== undefined) scope.device = parseDeviceName('scope.device', fields['device']);
  return scope;
}

function validateBandwidth(value: unknown): BandwidthParams {
  const f = asObject('bandwidth', value, ['rate', 'limit', 'buffer', 'peakrate', 'minburst']);
  const params: BandwidthParams = {
    rate: parseRate('bandwidth.rate', required('bandwidth', f, 'rate')),
    limit: parseInteger('bandwidth.limit', required('bandwidth', f, 'limit'), 1, 2 ** 30),
    // tbf drops any packet larger than its bucket, so a buffer below one frame would silently blackhole traffic.
    buffer: parseInteger('bandwidth.buffer', required('bandwidth', f, 'buffer'), ETHERNET_FRAME_BYTES, 2 ** 26),
  };
  if (f['peakrate'] !== undefined || f['minburst'] !== undefined) {
    params.peakrate = parseRate('bandwidth.peakrate', required('bandwidth', f, 'peakrate'));
    params.minburst = parseInteger('bandwidth.minburst', required('bandwidth', f, 'minburst'), ETHERNET_FRAME_BYTES, 2 ** 20);
    if (params.peakrate <= params.rate) throw new FaultValidationError('bandwidth.peakrate', 'must be greater than bandwidth.rate');
  }
  return params;
}

const paramKeys: Readonly<Record<NetworkAction, readonly string[]>> = {
  delay: ['latency', 'jitter', 'correlation'],
  loss: ['loss', 'correlation'],
  duplicate: ['duplicate', 'correlation'],
  corrupt: ['corrupt', 'correlation'],
  reorder: ['reorder', 'correlation', 'gap', 'latency'],
  bandwidth: ['rate', 'limit', 'buffer', 'peakrate', 'minburst'],
  partition: [],
};

function percentOrZero(path: string, fields: Fields, key: string): number {
  return fields[key] === undefined ? 0 : parsePercent(`${path}.${key}`, fields[key]);
}

/** Validates one fault; throws `FaultValidationError` (field path + reason) on the first problem. */
export function validateNetworkFault(input: unknown): NetworkFault {
  const top = asObject('', input, ['action', 'scope', 'delay', 'loss', 'duplicate', 'corrupt', 'reorder', 'bandwidth']);
  const action = oneOf('action', top['action'], ['delay', 'loss', 'duplicate', 'corrupt', 'reorder', 'bandwidth', 'partition']);
  for (const key of ['delay', 'loss', 'duplicate', 'corrupt', 'reorder', 'bandwidth']) {
    if (key !== action && top[key] !== undefined) throw new FaultValidationError(key, `not allowed with action ${action}`);
  }
  const scope = validateScope(top['scope']);
  const params = action === 'partition' || action === 'bandwidth' ? {} : asObject(action, required('', top, action), paramKeys[action]);
  switch (action) {
    case 'delay': {
      const latency = parseDuration('delay.latency', required('delay', params, 'latency'), MAX_LATENCY_MICROS);
      const jitter = params['jitter'] === undefined ? 0 : parseDuration('delay.jitter', params['jitter'], MAX_LATENCY_MICROS);
      return { action, delay: { latency, jitter, correlation: percentOrZero('delay', params, 'correlation') }, scope };
    }
    case 'loss':
      return { action, loss: { loss: parsePercent('loss.loss', required('loss', params, 'loss')), correlation: percentOrZero('loss', params, 'correlation') }, scope };
    case 'duplicate':
      return { action, duplicate: { duplicate: parsePercent('duplicate.duplicate', required('duplicate', params, 'duplicate')), correlation: percentOrZero('duplicate', params, 'correlation') }, scope };
    case 'corrupt':
      return { action, corrupt: { corrupt: parsePercent('corrupt.corrupt', required('corrupt', params, 'corrupt')), correlation: percentOrZero('corrupt', params, 'correlation') }, scope };
    case 'reorder': {
      const reorder = {
        reorder: parsePercent('reorder.reorder', required('reorder', params, 'reorder')),
        correlation: percentOrZero('reorder', params, 'correlation'),
        gap: params['gap'] === undefined ? 1 : parseInteger('reorder.gap', params['gap'], 1, 1_000_000),
      };
      if (params['latency'] === undefined) return { action, reorder, scope };
      return { action, reorder: { ...reorder, latency: parseDuration('reorder.latency', params['latency'], MAX_LATENCY_MICROS) }, scope };
    }
    case 'bandwidth':
      return { action, bandwidth: validateBandwidth(required('', top, 'bandwidth')), scope };
    case 'partition':
      return { action, scope };
  }
}
