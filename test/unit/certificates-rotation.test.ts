/**
 * planRotation with a fake clock: a whole CA life and the next, in steps of
 * an hour (as often as the leader calls ensure() for a day after a CA
 * change), with daemons and controller replicas that see the Secrets a step
 * late. Nobody may ever hold material the other
 * side refuses: that is what "no dropped injection" means.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  activeCa, CA_LIFETIME_MS, CA_PROPAGATION_MS, CLIENT_LIFETIME_MS, clientRenewalReason, ENSURE_INTERVAL_MS, NEW_CA, planRotation,
  SERVER_LIFETIME_MS, SERVER_RENEW_BEFORE_MS, type CaSummary, type CurrentCertificates, type LeafSummary,
} from '../../src/controller/certificates/rotation.ts';
import { BACKDATE_MS } from '../../src/controller/certificates/x509.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const NAME = 'kerris-daemon.kerris-system.svc';
const START = new Date('2026-12-01T00:00:00Z');

interface World {
  cas: CaSummary[];
  server: { bundle: string[]; certificate: LeafSummary } | undefined;
}

const current = (world: World): CurrentCertificates => ({
  cas: world.cas.length > 0 ? { state: 'present', value: world.cas } : { state: 'missing' },
  server: world.server ? { state: 'present', value: world.server } : { state: 'missing' },
  serverName: NAME,
});

/** What ensure() does with a plan, on summaries instead of certificates. */
function apply(world: World, now: Date, serial: { n: number }): { world: World; wrote: boolean; newCa: boolean } {
  const plan = planRotation(now, current(world));
  const fresh: CaSummary = { id: `ca-${plan.cas.includes(NEW_CA) ? (serial.n += 1) : 0}`, notBefore: new Date(now.getTime() - BACKDATE_MS), notAfter: new Date(now.getTime() + CA_LIFETIME_MS) };
  const cas = plan.cas.map((id) => (id === NEW_CA ? fresh : world.cas.find((ca) => ca.id === id))).filter((ca): ca is CaSummary => ca !== undefined);
  const ids = cas.map((ca) => ca.id);
  let server = world.server;
  if (plan.issueServerFrom !== undefined) {
    const issuer = cas.find((ca) => ca.id === (plan.issueServerFrom === NEW_CA ? fresh.id : plan.issueServerFrom));
    assert.ok(issuer, 'the serving certificate is issued from a CA in the new bundle');
    server = { bundle: ids, certificate: { issuerId: issuer.id, notAfter: new Date(Math.min(now.getTime() + SERVER_LIFETIME_MS, issuer.notAfter.getTime())), dnsNames: [NAME] } };
  } else if (plan.writeServer && server) server = { ...server, bundle: ids };
  assert.equal(plan.writeCas || plan.writeServer, plan.reasons.length > 0, `a write has a reason and only a write: ${plan.reasons.join('; ')}`);
  return { world: { cas, server }, wrote: plan.writeCas || plan.writeServer, newCa: plan.cas.includes(NEW_CA) };
}

describe('planRotation over a whole CA life', () => {
  it('re-keys at two thirds of the CA life, keeps the old CA until it expires, and never strands a daemon or a controller', () => {
    const serial = { n: 0 };
    let world: World = { cas: [], server: undefined };
    let client: LeafSummary | undefined;
    let previous = world;
    const rekeys: Date[] = [];
    const serverIssues: Date[] = [];
    let maxCas = 0;
    let caChangedAt = START.getTime();
    const end = START.getTime() + 2 * CA_LIFETIME_MS;
    for (let t = START.getTime(); t < end; t += t - caChangedAt < DAY ? ENSURE_INTERVAL_MS : HOUR) {
      const now = new Date(t);
      const step = apply(world, now, serial);
      if (step.newCa) rekeys.push(now);
      if (step.world.cas.length !== world.cas.length) caChangedAt = t;
      if (step.world.server?.certificate !== world.server?.certificate) serverIssues.push(now);
      previous = t === START.getTime() ? step.world : world;
      world = step.world;
      assert.equal(planRotation(now, current(world)).reasons.length, 0, `idempotent at ${now.toISOString()}`);
      maxCas = Math.max(maxCas, world.cas.length);

      // A replica re-reads the CA Secret at least every CA_REFRESH_MS (< a step) and renews its client certificate.
      const active = activeCa(world.cas, now);
      assert.ok(active, `an active CA at ${now.toISOString()}`);
      if (clientRenewalReason(now, client, active.id) !== undefined) {
        client = { issuerId: active.id, notAfter: new Date(Math.min(t + CLIENT_LIFETIME_MS, active.notAfter.getTime())), dnsNames: [] };
      }

      // Daemons may still have the serving Secret of the step before (kubelet lag), controller replicas the CA Secret of the step before.
      for (const daemon of [previous.server, world.server]) {
        assert.ok(daemon && client, 'material exists from the first step on');
        assert.ok(daemon.bundle.includes(client.issuerId ?? ''), `${now.toISOString()}: a daemon trusts the controller's client certificate (${client.issuerId} in ${daemon.bundle.join(',')})`);
        assert.ok(client.notAfter.getTime() > t && daemon.certificate.notAfter.getTime() > t, `${now.toISOString()}: nothing in use has expired`);
        for (const view of [previous.cas, world.cas]) {
          assert.ok(view.some((ca) => ca.id === daemon.certificate.issuerId && ca.notAfter.getTime() > t), `${now.toISOString()}: a controller trusts the daemon's serving certificate`);
        }
      }
    }
    // The first CA at once, then one re-key each time a CA has a third of its life left.
    assert.equal(rekeys.length, 3, rekeys.map((d) => d.toISOString()).join(', '));
    const firstRekeyAt = (rekeys[1]?.getTime() ?? 0) - START.getTime();
    assert.ok(Math.abs(firstRekeyAt - (CA_LIFETIME_MS * 2) / 3) <= HOUR + BACKDATE_MS, `re-keyed ${firstRekeyAt / DAY} days in`);
    assert.equal(maxCas, 2, 'at most the old and the new CA in a bundle');
    // Serving certificates renew within their last SERVER_RENEW_BEFORE_MS, plus one re-issue per CA change.
    const gaps = serverIssues.slice(1).map((d, i) => d.getTime() - (serverIssues[i]?.getTime() ?? 0));
    assert.ok(gaps.every((gap) => gap >= CA_PROPAGATION_MS && gap <= SERVER_LIFETIME_MS - SERVER_RENEW_BEFORE_MS + HOUR + BACKDATE_MS), `gaps in days: ${[...new Set(gaps.map((g) => Math.round(g / DAY)))].join(',')}`);
  });

  it('signs with a new CA only once it has been in the bundle for the propagation time', () => {
    const oldCa: CaSummary = { id: 'old', notBefore: new Date(START.getTime() - (CA_LIFETIME_MS * 3) / 4), notAfter: new Date(START.getTime() + CA_LIFETIME_MS / 4) };
    const server = { bundle: ['old'], certificate: { issuerId: 'old', notAfter: new Date(START.getTime() + 20 * DAY), dnsNames: [NAME] } };
    const first = planRotation(START, { cas: { state: 'present', value: [oldCa] }, server: { state: 'present', value: server }, serverName: NAME });
    assert.deepEqual(first.cas, [NEW_CA, 'old']);
    assert.equal(first.issueServerFrom, undefined, 'the daemon keeps a certificate from the old CA while the new one propagates');
    assert.equal(first.writeServer, true, 'but its bundle gets the new CA at once');
    const fresh: CaSummary = { id: 'new', notBefore: new Date(START.getTime() - BACKDATE_MS), notAfter: new Date(START.getTime() + CA_LIFETIME_MS) };
    const cas = [fresh, oldCa];
    assert.equal(activeCa(cas, new Date(START.getTime() + CA_PROPAGATION_MS - 1))?.id, 'old');
    assert.equal(activeCa(cas, new Date(START.getTime() + CA_PROPAGATION_MS))?.id, 'new');
    const later = planRotation(new Date(START.getTime() + CA_PROPAGATION_MS), { cas: { state: 'present', value: cas }, server: { state: 'present', value: { ...server, bundle: ['new', 'old'] } }, serverName: NAME });
    assert.equal(later.issueServerFrom, 'new');
    assert.match(later.reasons.join(), /not issued by the active CA new/);
  });
});

describe('planRotation on odd states', () => {
  const ca: CaSummary = { id: 'ca', notBefore: START, notAfter: new Date(START.getTime() + CA_LIFETIME_MS) };
  const good = { bundle: ['ca'], certificate: { issuerId: 'ca', notAfter: new Date(START.getTime() + 25 * DAY), dnsNames: [NAME] } };
  const plan = (cas: CurrentCertificates['cas'], server: CurrentCertificates['server'], now = new Date(START.getTime() + DAY)) => planRotation(now, { cas, server, serverName: NAME });

  it('does nothing when all is current', () => {
    assert.deepEqual(plan({ state: 'present', value: [ca] }, { state: 'present', value: good }), { cas: ['ca'], writeCas: false, issueServerFrom: undefined, writeServer: false, reasons: [] });
  });

  it('replaces a damaged CA Secret with a new CA that is active at once, and says why', () => {
    const p = plan({ state: 'damaged', reason: 'ca.crt is missing' }, { state: 'present', value: good });
    assert.deepEqual([p.cas, p.writeCas, p.issueServerFrom], [[NEW_CA], true, NEW_CA]);
    assert.match(p.reasons.join(';'), /CA Secret replaced: ca.crt is missing/);
  });

  it('replaces a damaged serving Secret from the active CA', () => {
    const p = plan({ state: 'present', value: [ca] }, { state: 'damaged', reason: 'tls.key is not a private key' });
    assert.deepEqual([p.writeCas, p.issueServerFrom, p.writeServer], [false, 'ca', true]);
    assert.match(p.reasons.join(';'), /replaced: tls.key is not a private key/);
  });

  it('re-issues a serving certificate with other names, or near its end', () => {
    assert.match(plan({ state: 'present', value: [ca] }, { state: 'present', value: { ...good, certificate: { ...good.certificate, dnsNames: ['other.svc'] } } }).reasons.join(), /names other.svc instead of/);
    assert.equal(plan({ state: 'present', value: [ca] }, { state: 'present', value: good }, new Date(good.certificate.notAfter.getTime() - SERVER_RENEW_BEFORE_MS + 1)).issueServerFrom, 'ca');
  });

  it('rewrites only the bundle when it differs from the CA Secret', () => {
    const p = plan({ state: 'present', value: [ca] }, { state: 'present', value: { ...good, bundle: ['ca', 'stale'] } });
    assert.deepEqual([p.writeServer, p.issueServerFrom, p.reasons], [true, undefined, ['daemon bundle differs from the CA Secret']]);
  });

  it('after a long outage with every CA expired, starts over with a CA active at once', () => {
    const p = plan({ state: 'present', value: [ca] }, { state: 'present', value: good }, new Date(ca.notAfter.getTime() + DAY));
    assert.deepEqual([p.cas, p.issueServerFrom], [[NEW_CA], NEW_CA]);
    assert.match(p.reasons.join(';'), /expired/);
  });
});

describe('clientRenewalReason', () => {
  const cert: LeafSummary = { issuerId: 'ca', notAfter: new Date(START.getTime() + CLIENT_LIFETIME_MS), dnsNames: [] };
  it('keeps a client certificate until 8 h before its end, or until the active CA changes', () => {
    assert.equal(clientRenewalReason(START, cert, 'ca'), undefined);
    assert.match(clientRenewalReason(new Date(cert.notAfter.getTime() - 8 * 3_600_000 + 1), cert, 'ca') ?? '', /expires/);
    assert.match(clientRenewalReason(START, cert, 'new') ?? '', /not issued by the active CA new/);
    assert.equal(clientRenewalReason(START, undefined, 'ca'), 'none yet');
  });
});
