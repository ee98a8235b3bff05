/**
 * A NetworkChaos spec and its peers as the daemons' network faults: pure, so the plan for a target can be printed,
 * tested and compared before any node is asked. Chaos Mesh's `direction` is the direction of the packets between
 * the selected pods and their peers: `to` faults what the selected pods send to the peers (their egress), `from`
 * what they receive from them (their ingress, done on the selected pods themselves), `both` both.
 */
import type { DelaySpec, LossSpec, NetworkChaos } from '../../api/generated/types.ts';
import { Direction, Protocol, type NetworkFaultInput } from '../../daemon/client.ts';
import { parseRate } from '../../daemon/net/values.ts';

type Spec = NetworkChaos['spec'];

/** The daemon scopes a fault by at most this many address blocks (src/daemon/net/validate.ts). */
export const MAX_CIDRS_PER_SCOPE = 64;
/** One tc class per distinct scope, at most 16 (src/daemon/net/README.md). */
export const MAX_SCOPES = 16;

/** Who the fault is scoped to: address blocks with no port of their own, and blocks by port. */
export interface Peers {
  /** Undefined: every peer (no `target`, no `externalTargets`). */
  cidrs: string[] | undefined;
  byPort: ReadonlyMap<number, readonly string[]>;
}

export class NetworkPlanError extends Error {
  override name = 'NetworkPlanError';
}

export const DIRECTIONS: Record<NonNullable<Spec['direction']>, Direction> = { to: Direction.EGRESS, from: Direction.INGRESS, both: Direction.BOTH };
const PROTOCOLS: Record<NonNullable<Spec['protocol']>, Protocol> = { all: Protocol.ALL, tcp: Protocol.TCP, udp: Protocol.UDP, icmp: Protocol.ICMP };

export type Action = NetworkFaultInput['action'];

/** A DelaySpec in the daemon's terms: the delay, and the reorder that rides on its latency. NodeChaos shares it. */
export function delayActions(delay: DelaySpec): Action[] {
  const { latency, jitter, correlation, reorder } = delay;
  const out: Action[] = [{ case: 'delay', value: { latency, ...(jitter ? { jitter } : {}), ...(correlation ? { correlation } : {}) } }];
  if (reorder) out.push({ case: 'reorder', value: { reorder: reorder.reorder, ...(reorder.correlation ? { correlation: reorder.correlation } : {}), ...(reorder.gap ? { gap: reorder.gap } : {}) } });
  return out;
}

/** A LossSpec in the daemon's terms. NodeChaos shares it. */
export function lossAction(loss: LossSpec): Action {
  return { case: 'loss', value: { loss: loss.loss, ...(loss.correlation ? { correlation: loss.correlation } : {}) } };
}

/** The netem-like and shaping actions the spec asks for, in the daemon's terms. */
function actions(spec: Spec): Action[] {
  const out: Action[] = [];
  const wants = (field: 'delay' | 'loss' | 'duplicate' | 'corrupt' | 'bandwidth'): boolean => spec.action === field || (spec.action === 'netem' && spec[field] !== undefined);
  if (spec.action === 'partition') return [{ case: 'partition', value: {} }];
  if (wants('delay') && spec.delay) out.push(...delayActions(spec.delay));
  if (wants('loss') && spec.loss) out.push(lossAction(spec.loss));
  if (wants('duplicate') && spec.duplicate) out.push({ case: 'duplicate', value: { duplicate: spec.duplicate.duplicate, ...(spec.duplicate.correlation ? { correlation: spec.duplicate.correlation } : {}) } });
  if (wants('corrupt') && spec.corrupt) out.push({ case: 'corrupt', value: { corrupt: spec.corrupt.corrupt, ...(spec.corrupt.correlation ? { correlation: spec.corrupt.correlation } : {}) } });
  if (wants('bandwidth') && spec.bandwidth) {
    const { rate, limit, buffer, peakrate, minburst } = spec.bandwidth;
    // A bare peakrate is bits per second, as tc reads it; 0 means none.
    out.push({ case: 'bandwidth', value: { rate, limit, buffer, ...(peakrate ? { peakrate: `${peakrate}bit`, minburst: minburst ?? 0 } : {}) } });
  } else if (spec.action === 'netem' && spec.rate) {
    out.push({ case: 'bandwidth', value: { rate: spec.rate.rate, ...netemRateBucket(parseRate('rate.rate', spec.rate.rate)) } });
  }
  return out;
}

/**
 * netem's `rate` has no bucket of its own to set, so kerris shapes it with a token bucket sized for the rate: a
 * burst of 4 ms at full rate (at least one frame) and a queue of 100 ms, so TCP keeps its throughput.
 */
function netemRateBucket(bitsPerSecond: number): { limit: number; buffer: number } {
  const bytesPerMs = bitsPerSecond / 8 / 1000;
  return { buffer: Math.max(1_600, Math.ceil(bytesPerMs * 4)), limit: Math.max(16_000, Math.ceil(bytesPerMs * 100)) };
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/**
 * The faults one target gets: every action on every scope. Throws NetworkPlanError when the peers need more scopes
 * than a node can hold.
 */
export function networkFaults(spec: Spec, peers: Peers): NetworkFaultInput[] {
  const direction = DIRECTIONS[spec.direction ?? 'to'];
  const protocol = PROTOCOLS[spec.protocol ?? 'all'];
  const scopes: { cidrs: string[]; ports: number[]; protocol: Protocol }[] = [];
  if (peers.cidrs === undefined) scopes.push({ cidrs: [], ports: spec.ports ?? [], protocol });
  else for (const cidrs of chunks([...new Set(peers.cidrs)].sort(), MAX_CIDRS_PER_SCOPE)) scopes.push({ cidrs, ports: spec.ports ?? [], protocol });
  // A port written with an external target (`host:port`) is a TCP port unless `protocol: udp` says otherwise.
  const portProtocol = protocol === Protocol.UDP ? Protocol.UDP : Protocol.TCP;
  for (const [port, cidrs] of [...peers.byPort].sort(([a], [b]) => a - b)) {
    for (const chunk of chunks([...new Set(cidrs)].sort(), MAX_CIDRS_PER_SCOPE)) scopes.push({ cidrs: chunk, ports: [port], protocol: portProtocol });
  }
  if (scopes.length > MAX_SCOPES) {
    throw new NetworkPlanError(`the peers need ${scopes.length} scopes (${MAX_CIDRS_PER_SCOPE} addresses each, one per port), more than the ${MAX_SCOPES} a node can hold; narrow target or externalTargets`);
  }
  return scopes.flatMap((scope) => actions(spec).map((action) => ({
    scope: { direction, ...(spec.device ? { device: spec.device } : {}), cidrs: scope.cidrs, ports: scope.ports, protocol: scope.protocol },
    action,
  })));
}

/** What a user should expect a round trip to a peer to show, for status: Chaos Mesh delays each packet once. */
export function expectedRtt(spec: Spec): string | undefined {
  if (spec.delay === undefined || !(spec.action === 'delay' || spec.action === 'netem')) return undefined;
  const { latency, jitter } = spec.delay;
  const spread = jitter ? ` ± ${jitter}` : '';
  switch (spec.direction ?? 'to') {
    case 'to': return `+${latency}${spread} per round trip: the delay is on the packets the targets send to their peers, not on the replies`;
    case 'from': return `+${latency}${spread} per round trip: the delay is on the packets the targets receive from their peers`;
    case 'both': return `+2 × ${latency}${spread} per round trip: each way is delayed once`;
  }
}
