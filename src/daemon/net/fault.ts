/**
 * The daemon's model of a network fault: already validated, in kernel units,
 * independent of the CRD. `validateNetworkFault` is the only way to make one.
 */

/** A share of packets in millionths: 1_000_000 is 100 %, 1 is 0.0001 %. */
export type Ppm = number;

/** A time span in whole microseconds. */
export type Micros = number;

export type Direction = 'egress' | 'ingress' | 'both';

export type Protocol = 'tcp' | 'udp' | 'icmp' | 'all';

/** An address block with its host bits clear, in canonical text form. */
export interface Cidr {
  family: 4 | 6;
  /** Canonical address: dotted quad, or RFC 5952 for IPv6. */
  address: string;
  prefix: number;
}

/**
 * Which packets a fault hits. Addresses and ports are the remote peer's:
 * destination on egress, source on ingress. Empty lists match everything.
 */
export interface Scope {
  direction: Direction;
  /** One of the target's devices; when absent, all of them. */
  device?: string;
  cidrs: readonly Cidr[];
  ports: readonly number[];
  protocol: Protocol;
  /**
   * Peers the fault never touches, whatever else matches: packets to them on egress, from them on ingress. The
   * exceptions of all faults on one device and side hold for all of them (one accept, one filter per device).
   */
  exceptCidrs: readonly Cidr[];
}

export interface DelayParams {
  latency: Micros;
  jitter: Micros;
  correlation: Ppm;
}

export interface LossParams {
  loss: Ppm;
  correlation: Ppm;
}

export interface DuplicateParams {
  duplicate: Ppm;
  correlation: Ppm;
}

export interface CorruptParams {
  corrupt: Ppm;
  correlation: Ppm;
}

/**
 * netem reorders by sending some packets at once while delaying the rest, so a
 * reorder needs a latency: its own, or that of a delay fault on the same scope.
 */
export interface ReorderParams {
  reorder: Ppm;
  correlation: Ppm;
  gap: number;
  latency?: Micros;
}

/** tbf parameters; rates in bits per second, sizes in bytes. */
export interface BandwidthParams {
  rate: number;
  limit: number;
  buffer: number;
  peakrate?: number;
  minburst?: number;
}

export type NetworkFault =
  | { action: 'delay'; delay: DelayParams; scope: Scope }
  | { action: 'loss'; loss: LossParams; scope: Scope }
  | { action: 'duplicate'; duplicate: DuplicateParams; scope: Scope }
  | { action: 'corrupt'; corrupt: CorruptParams; scope: Scope }
  | { action: 'reorder'; reorder: ReorderParams; scope: Scope }
  | { action: 'bandwidth'; bandwidth: BandwidthParams; scope: Scope }
  | { action: 'partition'; scope: Scope };

export type NetworkAction = NetworkFault['action'];

export const NETWORK_ACTIONS: readonly NetworkAction[] = ['delay', 'loss', 'duplicate', 'corrupt', 'reorder', 'bandwidth', 'partition'];

export function cidrText(cidr: Cidr): string {
  return `${cidr.address}/${cidr.prefix}`;
}
