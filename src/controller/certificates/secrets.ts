/**
 * The two Secrets as kerris reads and writes them. Reading never throws: what
 * cannot be used comes back `damaged` with why, and the issuer replaces it.
 *
 * kerris-daemon-ca (Opaque): `ca.crt` every CA still trusted, newest first,
 * and `ca.key` their keys in the same order. cert-manager's layout for a CA
 * (`tls.crt` and `tls.key`, one CA) is read too, for `--certificates=external`.
 * kerris-daemon-tls (kubernetes.io/tls): `ca.crt` the same CA bundle,
 * `tls.crt` and `tls.key` the daemon's serving certificate.
 */
import { createPrivateKey, createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import type { Secret } from '../../kube/resources.ts';
import type { CaSummary, LeafSummary, Observed } from './rotation.ts';
import { keyIdentifier, subjectKeyIdentifier, type Signer } from './x509.ts';

export const LABELS: Readonly<Record<string, string>> = { 'app.kubernetes.io/name': 'kerris', 'app.kubernetes.io/component': 'certificates' };
/** When the Secret's newest certificate expires, for people and alerts; kerris itself reads the certificates. */
export const NOT_AFTER_ANNOTATION = 'certificates.kerris.dev/not-after';
export const CA_SECRET_TYPE = 'Opaque';
export const TLS_SECRET_TYPE = 'kubernetes.io/tls';

export interface CaEntry extends CaSummary {
  certificate: X509Certificate;
  signer: Signer;
  keyPem: string;
}

export interface ServerEntry {
  /** CA ids of `ca.crt`, in order. */
  bundle: string[];
  certificate: LeafSummary;
  certPem: string;
  keyPem: string;
}

const PEM = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n[\s\S]*?\r?\n-----END \1-----/g;

class Damage extends Error {}

function pemBlocks(text: string, what: string, labels: readonly string[]): string[] {
  const blocks = [...text.matchAll(PEM)];
  if (blocks.length === 0) throw new Damage(`${what} holds no PEM block`);
  for (const block of blocks) if (!labels.includes(block[1] ?? '')) throw new Damage(`${what} holds a ${block[1]} block`);
  return blocks.map((block) => `${block[0]}\n`);
}

function field(secret: Secret, key: string): string {
  const value = secret.data?.[key];
  if (value === undefined || value === '') throw new Damage(`${key} is missing`);
  return Buffer.from(value, 'base64').toString('utf8');
}

function certificate(pem: string, what: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (error) {
    throw new Damage(`${what} is not a certificate: ${(error as Error).message}`);
  }
}

function privateKey(pem: string, what: string): KeyObject {
  try {
    return createPrivateKey(pem);
  } catch (error) {
    throw new Damage(`${what} is not a private key: ${(error as Error).message}`);
  }
}

const spki = (key: KeyObject): Buffer => key.export({ type: 'spki', format: 'der' });

function checkPair(cert: X509Certificate, key: KeyObject, what: string): void {
  if (!spki(cert.publicKey).equals(spki(createPublicKey(key)))) throw new Damage(`${what}: the key does not belong to the certificate`);
}

/** A short stable name for a certificate, for plans and messages. */
export const certificateId = (cert: X509Certificate): string => `sha256:${cert.fingerprint256.replaceAll(':', '').slice(0, 16).toLowerCase()}`;

const commonName = (cert: X509Certificate): string => /(?:^|\n)CN=([^\n]*)/.exec(cert.subject)?.[1] ?? '';

interface Layout { cert: string; key: string }

function caEntry(cert: X509Certificate, keyPem: string, layout: Layout, index: number): CaEntry {
  const what = `${layout.cert} #${index + 1}`;
  const key = privateKey(keyPem, `${layout.key} #${index + 1}`);
  checkPair(cert, key, what);
  if (!cert.ca) throw new Damage(`${what} is not a CA certificate`);
  if (!cert.verify(cert.publicKey)) throw new Damage(`${what} is not self-signed`);
  return {
    id: certificateId(cert),
    notBefore: cert.validFromDate,
    notAfter: cert.validToDate,
    certificate: cert,
    signer: { privateKey: key, keyId: subjectKeyIdentifier(cert.raw) ?? keyIdentifier(cert.publicKey), commonName: commonName(cert) },
    keyPem,
  };
}

/** The entry of a CA just issued, as the CA Secret will hold it. */
export const caEntryOf = (certPem: string, keyPem: string): CaEntry => caEntry(certificate(certPem, 'new CA'), keyPem, { cert: 'new CA', key: 'new CA key' }, 0);

function observe<T>(secret: Secret | undefined, read: (secret: Secret) => T): Observed<T> {
  if (secret === undefined) return { state: 'missing' };
  try {
    return { state: 'present', value: read(secret) };
  } catch (error) {
    if (error instanceof Damage) return { state: 'damaged', reason: error.message };
    throw error;
  }
}

/** The CAs of the CA Secret, newest first. */
export function readCaSecret(secret: Secret | undefined): Observed<CaEntry[]> {
  return observe(secret, (s) => {
    const layout: Layout = s.data?.['ca.key'] !== undefined ? { cert: 'ca.crt', key: 'ca.key' } : { cert: 'tls.crt', key: 'tls.key' };
    const certs = pemBlocks(field(s, layout.cert), layout.cert, ['CERTIFICATE']).map((pem, i) => certificate(pem, `${layout.cert} #${i + 1}`));
    const keys = pemBlocks(field(s, layout.key), layout.key, ['PRIVATE KEY', 'EC PRIVATE KEY']);
    // cert-manager's CA Secret holds one key; its tls.crt may carry a chain after the CA itself.
    const pairs = layout.key === 'tls.key' ? certs.slice(0, 1) : certs;
    if (keys.length !== pairs.length) throw new Damage(`${layout.cert} holds ${pairs.length} certificates but ${layout.key} ${keys.length} keys`);
    const entries = pairs.map((cert, i) => caEntry(cert, keys[i] ?? '', layout, i));
    return entries.sort((a, b) => b.notBefore.getTime() - a.notBefore.getTime());
  });
}

const dnsNames = (cert: X509Certificate): string[] =>
  (cert.subjectAltName ?? '').split(', ').filter((entry) => entry.startsWith('DNS:')).map((entry) => entry.slice(4));

/** The leaf's summary against the known CAs: which of them signed it. */
export function leafSummary(cert: X509Certificate, cas: readonly CaEntry[]): LeafSummary {
  const issuer = cas.find((ca) => cert.checkIssued(ca.certificate) && cert.verify(ca.certificate.publicKey));
  return { issuerId: issuer?.id, notAfter: cert.validToDate, dnsNames: dnsNames(cert) };
}

/** The daemon's serving Secret, judged against the CAs of the CA Secret. */
export function readServerSecret(secret: Secret | undefined, cas: readonly CaEntry[]): Observed<ServerEntry> {
  return observe(secret, (s) => {
    if (s.type !== TLS_SECRET_TYPE) throw new Damage(`type ${s.type ?? '(none)'} instead of ${TLS_SECRET_TYPE}`);
    const bundle = pemBlocks(field(s, 'ca.crt'), 'ca.crt', ['CERTIFICATE']).map((pem, i) => certificateId(certificate(pem, `ca.crt #${i + 1}`)));
    const [certPem] = pemBlocks(field(s, 'tls.crt'), 'tls.crt', ['CERTIFICATE']);
    const [keyPem] = pemBlocks(field(s, 'tls.key'), 'tls.key', ['PRIVATE KEY', 'EC PRIVATE KEY']);
    if (certPem === undefined || keyPem === undefined) throw new Damage('tls.crt or tls.key is empty');
    const cert = certificate(certPem, 'tls.crt');
    checkPair(cert, privateKey(keyPem, 'tls.key'), 'tls.crt');
    return { bundle, certificate: leafSummary(cert, cas), certPem, keyPem };
  });
}

const base64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');

/** The CA bundle every party trusts: each CA still valid, newest first. */
export const bundlePem = (cas: readonly CaEntry[]): string => cas.map((ca) => ca.certificate.toString()).join('');

function metadata(name: string, namespace: string, notAfter: Date): Secret['metadata'] {
  return { name, namespace, labels: { ...LABELS }, annotations: { [NOT_AFTER_ANNOTATION]: notAfter.toISOString() } };
}

export function caSecret(name: string, namespace: string, cas: readonly CaEntry[]): Secret {
  const newest = cas[0];
  if (newest === undefined) throw new Error(`CA Secret ${name}: no CA to write`);
  return { metadata: metadata(name, namespace, newest.notAfter), type: CA_SECRET_TYPE, data: { 'ca.crt': base64(bundlePem(cas)), 'ca.key': base64(cas.map((ca) => ca.keyPem).join('')) } };
}

export function serverSecret(name: string, namespace: string, cas: readonly CaEntry[], leaf: { certPem: string; keyPem: string; notAfter: Date }): Secret {
  return {
    metadata: metadata(name, namespace, leaf.notAfter),
    type: TLS_SECRET_TYPE,
    data: { 'ca.crt': base64(bundlePem(cas)), 'tls.crt': base64(leaf.certPem), 'tls.key': base64(leaf.keyPem) },
  };
}
