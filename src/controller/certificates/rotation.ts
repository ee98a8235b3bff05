/**
 * When to issue what: a pure function of the clock and of what the Secrets
 * hold, so the whole life of a CA can be tested with a fake clock.
 *
 * The rule that keeps injections flowing through a CA change: a new CA goes
 * into every bundle first, and signs nothing that is handed out until it has
 * sat there for CA_PROPAGATION_MS — long enough for the kubelet to refresh
 * the daemon's mounted Secret and for every controller replica to re-read the
 * CA Secret. Until then the previous CA stays the active one. The old CA stays
 * in the bundle until it expires, so material issued from it keeps verifying.
 */
import { BACKDATE_MS } from './x509.ts';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

export const CA_LIFETIME_MS = 5 * 365 * DAY;
/** A CA is re-keyed when less than this share of its life is left. */
export const CA_REKEY_FRACTION = 1 / 3;
/**
 * The kubelet refreshes a mounted Secret within its sync period plus its cache
 * TTL (one minute each by default), and the controller re-reads the CA Secret
 * every CA_REFRESH_MS; fifteen minutes covers both with a wide margin.
 */
export const CA_PROPAGATION_MS = 15 * MINUTE;
export const SERVER_LIFETIME_MS = 30 * DAY;
export const SERVER_RENEW_BEFORE_MS = 10 * DAY;
export const CLIENT_LIFETIME_MS = 24 * HOUR;
export const CLIENT_RENEW_BEFORE_MS = 8 * HOUR;
/** How often a replica re-reads the CA Secret for its bundle and active CA. */
export const CA_REFRESH_MS = MINUTE;
/** How often the leader should call ensure(): a new CA becomes active within this after its propagation time. */
export const ENSURE_INTERVAL_MS = 5 * MINUTE;

/** Stands for the CA this step issues, in a plan's `cas`. */
export const NEW_CA = 'new';

export interface CaSummary {
  /** Stable identity of the certificate (its SHA-256 fingerprint). */
  id: string;
  notBefore: Date;
  notAfter: Date;
}

export interface LeafSummary {
  /** The CA whose key signed it, or undefined when none of the known CAs did. */
  issuerId: string | undefined;
  notAfter: Date;
  dnsNames: readonly string[];
}

/** A Secret as read: absent, present but unusable (with why), or parsed. */
export type Observed<T> =
  | { state: 'missing' }
  | { state: 'damaged'; reason: string }
  | { state: 'present'; value: T };

export interface CurrentCertificates {
  /** The CA Secret's certificates, newest first. */
  cas: Observed<readonly CaSummary[]>;
  /** The daemon's serving Secret: the bundle it trusts (CA ids, in order) and its certificate. */
  server: Observed<{ bundle: readonly string[]; certificate: LeafSummary }>;
  /** The DNS name the serving certificate must carry, alone. */
  serverName: string;
}

export interface RotationPlan {
  /** The CA Secret after this step, newest first: ids of CAs kept, and NEW_CA for one to issue now. */
  cas: string[];
  writeCas: boolean;
  /** The CA (an entry of `cas`) to issue the daemon's serving certificate from; undefined keeps the current one. */
  issueServerFrom: string | undefined;
  /** Write the serving Secret: a new certificate, or the bundle changed. */
  writeServer: boolean;
  /** Why anything is written; empty when nothing is. */
  reasons: string[];
}

const publishedAt = (ca: CaSummary): number => ca.notBefore.getTime() + BACKDATE_MS;

/**
 * The CA that signs what is handed out now: the newest one that has been in
 * the bundles for CA_PROPAGATION_MS; when none has (a first install, or every
 * older CA expired), the oldest still valid. `cas` is newest first.
 */
export function activeCa<T extends CaSummary>(cas: readonly T[], now: Date): T | undefined {
  const valid = cas.filter((ca) => ca.notAfter.getTime() > now.getTime());
  return valid.find((ca) => publishedAt(ca) + CA_PROPAGATION_MS <= now.getTime()) ?? valid.at(-1);
}

const lifeLeft = (ca: CaSummary, now: Date): number => (ca.notAfter.getTime() - now.getTime()) / (ca.notAfter.getTime() - ca.notBefore.getTime());

export function planRotation(now: Date, current: CurrentCertificates): RotationPlan {
  const reasons: string[] = [];
  let known: readonly CaSummary[] = [];
  if (current.cas.state === 'present') known = current.cas.value;
  else if (current.cas.state === 'damaged') reasons.push(`CA Secret replaced: ${current.cas.reason}`);
  else reasons.push('no CA yet');

  const kept = known.filter((ca) => ca.notAfter.getTime() > now.getTime());
  for (const ca of known) if (!kept.includes(ca)) reasons.push(`CA ${ca.id} expired at ${ca.notAfter.toISOString()}: dropped from the bundle`);
  const newest = kept[0];
  const rekey = newest === undefined || lifeLeft(newest, now) < CA_REKEY_FRACTION;
  if (newest !== undefined && rekey) reasons.push(`CA ${newest.id} has less than ${Math.round(CA_REKEY_FRACTION * 100)}% of its life left (until ${newest.notAfter.toISOString()}): new CA added to the bundle`);
  const fresh: CaSummary = { id: NEW_CA, notBefore: new Date(now.getTime() - BACKDATE_MS), notAfter: new Date(now.getTime() + CA_LIFETIME_MS) };
  const cas = rekey ? [fresh, ...kept] : kept;
  const writeCas = rekey || kept.length !== known.length || current.cas.state !== 'present';
  // Never undefined: cas holds at least a fresh CA when nothing valid is left.
  const active = activeCa(cas, now) ?? fresh;

  const serverReason = serverIssueReason(now, current, active.id);
  if (serverReason) reasons.push(`daemon serving certificate: ${serverReason}`);
  const ids = cas.map((ca) => ca.id);
  const bundleStale = current.server.state === 'present' && !sameList(current.server.value.bundle, ids);
  if (bundleStale && !serverReason) reasons.push('daemon bundle differs from the CA Secret');
  return { cas: ids, writeCas, issueServerFrom: serverReason ? active.id : undefined, writeServer: serverReason !== undefined || bundleStale, reasons };
}

function serverIssueReason(now: Date, current: CurrentCertificates, activeId: string): string | undefined {
  const server = current.server;
  if (server.state === 'missing') return 'none yet';
  if (server.state === 'damaged') return `replaced: ${server.reason}`;
  const certificate = server.value.certificate;
  if (certificate.issuerId !== activeId) return `not issued by the active CA ${activeId}`;
  if (!sameList(certificate.dnsNames, [current.serverName])) return `names ${certificate.dnsNames.join(', ') || '(none)'} instead of ${current.serverName}`;
  const left = certificate.notAfter.getTime() - now.getTime();
  if (left < SERVER_RENEW_BEFORE_MS) return `expires at ${certificate.notAfter.toISOString()}, within ${SERVER_RENEW_BEFORE_MS / DAY} days`;
  return undefined;
}

/** Why this replica's client certificate must be re-issued, or undefined to keep it. */
export function clientRenewalReason(now: Date, certificate: LeafSummary | undefined, activeId: string): string | undefined {
  if (certificate === undefined) return 'none yet';
  if (certificate.issuerId !== activeId) return `not issued by the active CA ${activeId}`;
  if (certificate.notAfter.getTime() - now.getTime() < CLIENT_RENEW_BEFORE_MS) return `expires at ${certificate.notAfter.toISOString()}`;
  return undefined;
}

const sameList = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && a.every((item, i) => item === b[i]);
