/**
 * A minimal X.509 v3 writer over node:crypto: ECDSA P-256 keys, SHA-256
 * signatures, and exactly the extensions kerris's CA and leaves need
 * (RFC 5280). node's X509Certificate reads what this writes.
 */
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import {
  bitString, boolean, explicit, implicitPrimitive, namedBits, objectIdentifier, octetString, sequence, set, smallInteger, time,
  unsignedInteger, utf8String,
} from './der.ts';

const OID = {
  commonName: '2.5.4.3',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
} as const;

/** keyUsage bit positions (RFC 5280 4.2.1.3). */
const KEY_USAGE = { digitalSignature: 0, keyCertSign: 5, cRLSign: 6 } as const;

/** notBefore is set this far back, so a peer whose clock is a little behind still accepts a fresh certificate. */
export const BACKDATE_MS = 5 * 60_000;

export interface KeyPair {
  privateKey: KeyObject;
  publicKey: KeyObject;
}

/** A signed certificate, its key, and the key identifier leaves it signs will name. */
export interface IssuedCertificate {
  der: Buffer;
  pem: string;
  privateKey: KeyObject;
  keyId: Buffer;
}

/** The key pair and key identifier of a CA, enough to sign leaves. */
export interface Signer {
  privateKey: KeyObject;
  keyId: Buffer;
  commonName: string;
}

export const generateKeyPair = (): KeyPair => generateKeyPairSync('ec', { namedCurve: 'P-256' });

/**
 * RFC 7093 method 1: the leftmost 160 bits of SHA-256 over the subjectPublicKey
 * bits (the uncompressed point 04‖x‖y), so the identifier does not need SHA-1.
 */
export function keyIdentifier(publicKey: KeyObject): Buffer {
  const jwk = publicKey.export({ format: 'jwk' });
  if (jwk.crv !== 'P-256' || jwk.x === undefined || jwk.y === undefined) throw new Error(`key identifier: not a P-256 public key (${jwk.crv ?? jwk.kty})`);
  const point = Buffer.concat([Buffer.from([0x04]), Buffer.from(jwk.x, 'base64url'), Buffer.from(jwk.y, 'base64url')]);
  return createHash('sha256').update(point).digest().subarray(0, 20);
}

const name = (commonName: string): Buffer => sequence(set(sequence(objectIdentifier(OID.commonName), utf8String(commonName))));

const extension = (oid: string, critical: boolean, value: Buffer): Buffer =>
  sequence(objectIdentifier(oid), ...(critical ? [boolean(true)] : []), octetString(value));

/** 16 random bytes with the top bit clear (positive) and the next set (no leading zero octet to strip): always 16 octets. */
function serialNumber(): Buffer {
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x40;
  return unsignedInteger(bytes);
}

interface Body {
  subject: string;
  issuer: string;
  publicKey: KeyObject;
  notBefore: Date;
  notAfter: Date;
  extensions: readonly Buffer[];
  signingKey: KeyObject;
}

function signCertificate(body: Body): Buffer {
  const algorithm = sequence(objectIdentifier(OID.ecdsaWithSha256));
  const tbs = sequence(
    explicit(0, smallInteger(2)),
    serialNumber(),
    algorithm,
    name(body.issuer),
    sequence(time(body.notBefore), time(body.notAfter)),
    name(body.subject),
    body.publicKey.export({ type: 'spki', format: 'der' }),
    explicit(3, sequence(...body.extensions)),
  );
  // crypto.sign gives ECDSA-Sig-Value in DER, which is what the signatureValue bits hold.
  return sequence(tbs, algorithm, bitString(sign('sha256', tbs, body.signingKey)));
}

const toPem = (der: Buffer): string => `-----BEGIN CERTIFICATE-----\n${der.toString('base64').replace(/.{1,64}/g, '$&\n')}-----END CERTIFICATE-----\n`;

function checkValidity(notBefore: Date, notAfter: Date): void {
  if (!(notAfter.getTime() > notBefore.getTime())) throw new Error(`certificate validity: notAfter ${notAfter.toISOString()} is not after notBefore ${notBefore.toISOString()}`);
}

/** A self-signed CA that signs leaves only (pathlen 0), valid from now minus BACKDATE_MS for lifetimeMs. */
export function issueCa(options: { commonName: string; now: Date; lifetimeMs: number }): IssuedCertificate {
  const keys = generateKeyPair();
  const keyId = keyIdentifier(keys.publicKey);
  const notBefore = new Date(options.now.getTime() - BACKDATE_MS);
  const notAfter = new Date(options.now.getTime() + options.lifetimeMs);
  checkValidity(notBefore, notAfter);
  const der = signCertificate({
    subject: options.commonName,
    issuer: options.commonName,
    publicKey: keys.publicKey,
    notBefore,
    notAfter,
    signingKey: keys.privateKey,
    extensions: [
      extension(OID.basicConstraints, true, sequence(boolean(true), smallInteger(0))),
      extension(OID.keyUsage, true, namedBits([KEY_USAGE.keyCertSign, KEY_USAGE.cRLSign])),
      extension(OID.subjectKeyIdentifier, false, octetString(keyId)),
    ],
  });
  return { der, pem: toPem(der), privateKey: keys.privateKey, keyId };
}

export type LeafUsage = 'serverAuth' | 'clientAuth';

export interface LeafOptions {
  commonName: string;
  dnsNames: readonly string[];
  usage: LeafUsage;
  now: Date;
  lifetimeMs: number;
  /** Never later than this (the CA's notAfter): a leaf cannot outlive its issuer. */
  notAfterAtMost?: Date;
}

const DNS_NAME = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$/;

/** An end-entity certificate for one usage, signed by `issuer`. */
export function issueLeaf(issuer: Signer, options: LeafOptions): IssuedCertificate {
  for (const dns of options.dnsNames) {
    if (!DNS_NAME.test(dns)) throw new Error(`certificate ${options.commonName}: ${JSON.stringify(dns)} is not a lower-case DNS name`);
  }
  const keys = generateKeyPair();
  const notBefore = new Date(options.now.getTime() - BACKDATE_MS);
  const wanted = options.now.getTime() + options.lifetimeMs;
  const notAfter = new Date(options.notAfterAtMost ? Math.min(wanted, options.notAfterAtMost.getTime()) : wanted);
  checkValidity(notBefore, notAfter);
  const extensions = [
    extension(OID.basicConstraints, true, sequence()),
    extension(OID.keyUsage, true, namedBits([KEY_USAGE.digitalSignature])),
    extension(OID.extKeyUsage, false, sequence(objectIdentifier(OID[options.usage]))),
    ...(options.dnsNames.length > 0 ? [extension(OID.subjectAltName, false, sequence(...options.dnsNames.map((dns) => implicitPrimitive(2, Buffer.from(dns, 'ascii')))))] : []),
    extension(OID.subjectKeyIdentifier, false, octetString(keyIdentifier(keys.publicKey))),
    extension(OID.authorityKeyIdentifier, false, sequence(implicitPrimitive(0, issuer.keyId))),
  ];
  const der = signCertificate({
    subject: options.commonName,
    issuer: issuer.commonName,
    publicKey: keys.publicKey,
    notBefore,
    notAfter,
    signingKey: issuer.privateKey,
    extensions,
  });
  return { der, pem: toPem(der), privateKey: keys.privateKey, keyId: keyIdentifier(keys.publicKey) };
}

/** PKCS#8 PEM, the form `tls.key` and node's TLS options take. */
export const privateKeyPem = (key: KeyObject): string => String(key.export({ type: 'pkcs8', format: 'pem' }));

const SKI_OID = Buffer.from([0x06, 0x03, 0x55, 0x1d, 0x0e]);

/**
 * The subjectKeyIdentifier a certificate carries, if any. A leaf's
 * authorityKeyIdentifier must repeat its issuer's exactly, and a CA kerris
 * did not make (cert-manager's) computes it its own way, so it is read, not
 * recomputed. node does not expose the extension; the value is found after
 * its OID as OCTET STRING { OCTET STRING keyId }.
 */
export function subjectKeyIdentifier(der: Buffer): Buffer | undefined {
  for (let at = der.indexOf(SKI_OID); at >= 0; at = der.indexOf(SKI_OID, at + 1)) {
    let i = at + SKI_OID.length;
    if (der[i] === 0x01 && der[i + 1] === 0x01) i += 3;
    const outer = der[i + 1] ?? 0;
    const inner = der[i + 3] ?? 0;
    if (der[i] === 0x04 && der[i + 2] === 0x04 && outer < 0x80 && inner === outer - 2 && i + 4 + inner <= der.length) {
      return Buffer.from(der.subarray(i + 4, i + 4 + inner));
    }
  }
  return undefined;
}
