/**
 * NetworkChaos `spec.verify`: what to measure from inside a target (timed TCP connects to its peers, through the
 * daemon's Probe call) and what the measurements before and during the fault come to, against what was configured.
 * Pure, so every verdict can be tested without a cluster. A connect is a round trip (SYN, then SYN-ACK or RST), so
 * it sees what a fault does to a round trip: a partition (nothing answers), a delay (it takes longer), loss (some
 * connects go unanswered: the probe's timeout is under TCP's 1 s SYN retransmission). It cannot see a rate limit,
 * duplicates or corruption, which are reported Unmeasured with the reason.
 */
import type { NetworkChaos } from '../../api/generated/types.ts';
import { parseDuration, parsePercent } from '../../daemon/net/values.ts';
import type { TargetRecord } from '../engine/experiment.ts';
import type { Peers } from './plan.ts';

type Spec = NetworkChaos['spec'];
export type Verification = NonNullable<TargetRecord['verification']>;

/** The daemon probes at most this many addresses per call (ProbeRequest.addresses). */
export const MAX_PROBED_PEERS = 8;
/** The daemon's longest connect timeout (ProbeRequest.timeout_ms). */
const MAX_TIMEOUT_MS = 2_000;
/** Under TCP's initial retransmission timeout (1 s): a lost SYN or reply leaves the connect unanswered. */
const LOSS_TIMEOUT_MS = 900;
/** How long a round trip may take beyond the added delay before a connect counts as unanswered. */
const SLACK_MS = 500;
const PARTITION_COUNT = 5;
const DELAY_COUNT = 10;
/** Enough connects for a loss share within a few percent (3σ of 20% over 200 is 8.5%). */
const LOSS_COUNT = 200;
const MAX_LATENCY_MICROS = 60_000_000;

/** What one target is probed with: the same before and during the fault. */
export interface ProbePlan {
  addresses: string[];
  /** 0: the daemon's default, a port where nothing listens (RST is a round trip). */
  port: number;
  count: number;
  timeoutMs: number;
  /** The measurable parts of the fault, each judged on its own. */
  checks: Check[];
  /** The fault's parts a connect cannot see, for the message. */
  unseen: string[];
}

type Check =
  | { kind: 'partition' }
  | { kind: 'delay'; addedMs: number }
  | { kind: 'loss'; percent: number; share: number };

/** What the daemon measured to one address (ProbeResult). */
export interface Sample {
  address: string;
  sent: number;
  answered: number;
  rttUs: readonly number[];
}

const UNSEEN: Record<'bandwidth' | 'duplicate' | 'corrupt' | 'rate', string> = {
  bandwidth: 'bandwidth: a connect sends a few small packets, which a rate limit lets through at once',
  rate: 'rate: a connect sends a few small packets, which a rate limit lets through at once',
  duplicate: 'duplicate: a duplicated SYN or reply still completes one connect',
  corrupt: 'corrupt: a corrupted packet is dropped by the receiver\'s checksum, which a connect cannot tell from loss',
};

/** One address block of a single address, as an address; wider blocks have no one address to connect to. */
function single(cidr: string): string | undefined {
  const [address = '', prefix] = cidr.split('/');
  return prefix === undefined || prefix === (address.includes(':') ? '128' : '32') ? address : undefined;
}

/** The peers to connect to: single addresses with the port the fault is scoped to (one port per probe), at most 8. */
function peerAddresses(spec: Spec, peers: Peers): { addresses: string[]; port: number } | string {
  if (peers.cidrs === undefined) return 'the fault applies to every peer, so there is no peer to measure; name target or externalTargets';
  // A fault scoped to ports is only seen on them: the probe connects to the first.
  const pairs: Array<[string, number]> = peers.cidrs.flatMap((c) => { const a = single(c); return a === undefined ? [] : [[a, spec.ports?.[0] ?? 0] as [string, number]]; });
  for (const [port, cidrs] of [...peers.byPort].sort(([a], [b]) => a - b)) for (const c of cidrs) { const a = single(c); if (a !== undefined) pairs.push([a, port]); }
  const first = pairs[0];
  if (first === undefined) return 'no peer is a single address (only address blocks), so there is none to connect to';
  const port = first[1];
  const addresses = [...new Set(pairs.filter(([, p]) => p === port).map(([a]) => a))].sort().slice(0, MAX_PROBED_PEERS);
  return { addresses, port };
}

const both = (spec: Spec): boolean => spec.direction === 'both';

/** What to probe a target with, or why its fault cannot be measured (Unmeasured, with the reason). */
export function probePlan(spec: Spec): Omit<ProbePlan, 'addresses' | 'port'> | string {
  if (spec.protocol === 'udp' || spec.protocol === 'icmp') return `the fault is on ${spec.protocol} only, and the probe's TCP connects are not`;
  const checks: Check[] = [];
  const unseen: string[] = [];
  const has = (field: 'delay' | 'loss' | 'duplicate' | 'corrupt' | 'bandwidth' | 'rate'): boolean => spec.action === field || (spec.action === 'netem' && spec[field] !== undefined);
  if (spec.action === 'partition') checks.push({ kind: 'partition' });
  if (has('delay') && spec.delay) checks.push({ kind: 'delay', addedMs: (parseDuration('delay.latency', spec.delay.latency, MAX_LATENCY_MICROS) / 1_000) * (both(spec) ? 2 : 1) });
  if (has('loss') && spec.loss) {
    const percent = parsePercent('loss.loss', spec.loss.loss) / 10_000;
    // Both ways, a connect is lost when its SYN or its reply is.
    checks.push({ kind: 'loss', percent, share: both(spec) ? 1 - (1 - percent / 100) ** 2 : percent / 100 });
  }
  for (const field of ['bandwidth', 'rate', 'duplicate', 'corrupt'] as const) if (has(field)) unseen.push(UNSEEN[field]);
  if (checks.length === 0) return `a TCP connect cannot measure it (${unseen.join('; ')})`;
  const addedMs = checks.reduce((sum, c) => sum + (c.kind === 'delay' ? c.addedMs : 0), 0);
  const loss = checks.some((c) => c.kind === 'loss');
  const timeoutMs = loss ? LOSS_TIMEOUT_MS : Math.min(MAX_TIMEOUT_MS, Math.ceil(addedMs) + SLACK_MS * 2);
  if (addedMs + SLACK_MS > timeoutMs) {
    return loss
      ? `a delay of ${addedMs} ms per round trip leaves no time to tell a lost connect from a slow one before TCP retransmits (1 s)`
      : `a delay of ${addedMs} ms per round trip is more than a probe's ${MAX_TIMEOUT_MS} ms connect can time`;
  }
  const count = loss ? LOSS_COUNT : checks.some((c) => c.kind === 'delay') ? DELAY_COUNT : PARTITION_COUNT;
  return { count, timeoutMs, checks, unseen };
}

/** The probe for one target: its plan and its peers, or why it cannot be measured. */
export function targetProbe(spec: Spec, peers: Peers): ProbePlan | string {
  const plan = probePlan(spec);
  if (typeof plan === 'string') return plan;
  const to = peerAddresses(spec, peers);
  return typeof to === 'string' ? to : { ...plan, ...to };
}

export function unmeasured(message: string, configured?: string): Verification {
  return { verdict: 'Unmeasured', ...(configured === undefined ? {} : { configured: clip(configured, 256) }), message: clip(message, 1024) };
}

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] ?? NaN : ((sorted[mid - 1] ?? NaN) + (sorted[mid] ?? NaN)) / 2;
}

const ms = (us: number): string => (us / 1_000).toFixed(1);
const pct = (share: number): string => `${Number((share * 100).toFixed(1))}%`;

function peersText(addresses: readonly string[]): string {
  return addresses.length <= 1 ? addresses[0] ?? '' : `${addresses[0] ?? ''} (+${addresses.length - 1} more)`;
}

interface Judged {
  ok: boolean;
  configured: string;
  measured: string;
}

function judge(check: Check, spec: Spec, peers: string, before: readonly Sample[], during: readonly Sample[]): Judged {
  const sum = (samples: readonly Sample[], field: 'sent' | 'answered'): number => samples.reduce((n, s) => n + s[field], 0);
  const answered = `answered ${sum(before, 'answered')}/${sum(before, 'sent')} before, ${sum(during, 'answered')}/${sum(during, 'sent')} during`;
  const direction = spec.direction ?? 'to';
  switch (check.kind) {
    case 'partition':
      return { ok: sum(during, 'answered') === 0, configured: `partition ${direction} ${peers}`, measured: answered };
    case 'delay': {
      const configured = `RTT +${Number(check.addedMs.toFixed(3))}ms to ${peers}`;
      const duringRtts = during.flatMap((s) => s.rttUs);
      if (duringRtts.length === 0) return { ok: false, configured, measured: `${answered}: no round trip to time` };
      const beforeUs = median(before.flatMap((s) => s.rttUs));
      const duringUs = median(duringRtts);
      const addedUs = check.addedMs * 1_000;
      const toleranceUs = Math.max(5_000, addedUs * 0.1);
      return { ok: Math.abs(duringUs - beforeUs - addedUs) <= toleranceUs, configured, measured: `RTT ${ms(beforeUs)} ms before, ${ms(duringUs)} ms during (median)` };
    }
    case 'loss': {
      const sent = sum(during, 'sent');
      const beforeShare = sum(before, 'answered') / Math.max(1, sum(before, 'sent'));
      const expected = beforeShare * (1 - check.share);
      const duringShare = sum(during, 'answered') / Math.max(1, sent);
      // Three standard deviations of the answered share over this many connects, and at least one connect.
      const tolerance = Math.max(3 * Math.sqrt((expected * (1 - expected)) / Math.max(1, sent)), 1 / Math.max(1, sent));
      const lost = beforeShare === 0 ? 0 : 1 - duringShare / beforeShare;
      return {
        ok: Math.abs(duringShare - expected) <= tolerance,
        configured: `loss ${check.percent}% ${direction} ${peers}${both(spec) ? ` (${pct(check.share)} of connects, either way)` : ''}`,
        measured: `${answered} (${pct(lost)} lost, ${pct(check.share)} ± ${pct(tolerance)} expected)`,
      };
    }
  }
}

/** The verdict of one target from its probes before and during the fault. */
export function verdict(spec: Spec, plan: ProbePlan, before: readonly Sample[], during: readonly Sample[]): Verification {
  // Only peers that answered before the fault say anything about it.
  const reachable = new Set(before.filter((s) => s.answered > 0).map((s) => s.address));
  const peers = peersText(plan.addresses.filter((a) => reachable.has(a)));
  const how = `${plan.count} TCP connects to ${plan.port === 0 ? 'a closed port (RST answers)' : `port ${plan.port}`} of each of ${plan.addresses.length} peer(s), before and during the fault, from inside the target`;
  const unseen = plan.unseen.length > 0 ? `; not measurable by a connect: ${plan.unseen.join('; ')}` : '';
  if (reachable.size === 0) return unmeasured(`no peer answered before the fault (${plan.addresses.join(', ')}): nothing to compare with${unseen}`);
  const judged = plan.checks.map((check) => judge(check, spec, peers, before.filter((s) => reachable.has(s.address)), during.filter((s) => reachable.has(s.address))));
  const skipped = plan.addresses.length - reachable.size;
  return {
    verdict: judged.every((j) => j.ok) ? 'Verified' : 'NotVerified',
    configured: clip(judged.map((j) => j.configured).join('; '), 256),
    measured: clip(judged.map((j) => j.measured).join('; '), 256),
    message: clip(`${how}${skipped > 0 ? `; ${skipped} peer(s) did not answer before the fault and are left out` : ''}${unseen}`, 1024),
  };
}
