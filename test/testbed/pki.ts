import { join } from 'node:path';
import { run } from '../../src/util/exec.ts';
import { pathExists } from '../../src/util/fs.ts';

export interface KeyPair {
  cert: string;
  key: string;
}

export interface CertificateRequest {
  /** File stem in the directory: `<file>.crt`, `<file>.key`. */
  file: string;
  commonName: string;
  organization?: string;
  ips?: readonly string[];
  dnsNames?: readonly string[];
  usage: 'server' | 'client' | 'server+client';
}

/** Subject parts go into openssl's -subj, where '/' and '=' would start new fields. */
const SUBJECT_PART = /^[A-Za-z0-9:._@ -]{1,64}$/;

function subject(commonName: string, organization?: string): string {
  for (const part of [commonName, organization]) {
    if (part !== undefined && !SUBJECT_PART.test(part)) throw new Error(`certificate subject part ${JSON.stringify(part)} has characters openssl -subj would misread`);
  }
  return organization === undefined ? `/CN=${commonName}` : `/O=${organization}/CN=${commonName}`;
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'] as const;

/** Creates a CA in dir (ca.crt, ca.key) unless one is already there. */
export async function ensureCertificateAuthority(dir: string, commonName: string): Promise<KeyPair> {
  const pair = { cert: join(dir, 'ca.crt'), key: join(dir, 'ca.key') };
  if (await pathExists(pair.cert) && await pathExists(pair.key)) return pair;
  await run(['openssl', 'req', '-x509', ...EC_KEY, '-keyout', pair.key, '-out', pair.cert, '-days', '3650',
    '-subj', subject(commonName), '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  return pair;
}

/** Issues a certificate signed by ca, unless dir already holds one under that name. */
export async function ensureCertificate(dir: string, ca: KeyPair, request: CertificateRequest): Promise<KeyPair> {
  const pair = { cert: join(dir, `${request.file}.crt`), key: join(dir, `${request.file}.key`) };
  if (await pathExists(pair.cert) && await pathExists(pair.key)) return pair;
  const csr = join(dir, `${request.file}.csr`);
  const sans = [...(request.ips ?? []).map((ip) => `IP:${ip}`), ...(request.dnsNames ?? []).map((d) => `DNS:${d}`)];
  const usage = { server: 'serverAuth', client: 'clientAuth', 'server+client': 'serverAuth,clientAuth' }[request.usage];
  await run(['openssl', 'req', '-new', ...EC_KEY, '-keyout', pair.key, '-out', csr,
    '-subj', subject(request.commonName, request.organization),
    '-addext', `extendedKeyUsage=${usage}`, '-addext', 'keyUsage=critical,digitalSignature,keyEncipherment',
    ...(sans.length > 0 ? ['-addext', `subjectAltName=${sans.join(',')}`] : [])]);
  await run(['openssl', 'x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial',
    '-days', '365', '-copy_extensions', 'copyall', '-out', pair.cert]);
  return pair;
}

/** A key pair for signing service-account tokens (private key and its public half). */
export async function ensureSigningKey(dir: string, file: string): Promise<{ privateKey: string; publicKey: string }> {
  const keys = { privateKey: join(dir, `${file}.key`), publicKey: join(dir, `${file}.pub`) };
  if (await pathExists(keys.privateKey) && await pathExists(keys.publicKey)) return keys;
  await run(['openssl', 'ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', keys.privateKey]);
  await run(['openssl', 'ec', '-in', keys.privateKey, '-pubout', '-out', keys.publicKey]);
  return keys;
}
