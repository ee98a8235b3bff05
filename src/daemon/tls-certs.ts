/**
 * Makes a CA and certificates signed by it with openssl (argv only): for
 * tests, benchmarks and first installs. Production installs bring their own.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../util/exec.ts';
import type { TlsFiles } from './tls.ts';

const OPENSSL = 'openssl';
const NAME = /^[A-Za-z0-9][A-Za-z0-9.-]{0,62}$/;

export interface CertificateSet {
  dir: string;
  ca: { cert: string; key: string };
  server: TlsFiles;
  client: TlsFiles;
}

async function key(path: string): Promise<void> {
  await run([OPENSSL, 'genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', path]);
}

async function signed(dir: string, name: string, ca: { cert: string; key: string }, extensions: string): Promise<{ cert: string; key: string }> {
  if (!NAME.test(name)) throw new Error(`certificate name ${JSON.stringify(name)} must match ${NAME.source}`);
  const keyFile = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const ext = join(dir, `${name}.ext`);
  const cert = join(dir, `${name}.crt`);
  await key(keyFile);
  await run([OPENSSL, 'req', '-new', '-key', keyFile, '-subj', `/CN=${name}`, '-out', csr]);
  await writeFile(ext, extensions);
  await run([OPENSSL, 'x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-days', '365', '-sha256', '-extfile', ext, '-out', cert]);
  return { cert, key: keyFile };
}

/** A CA, a server certificate for `serverNames` (DNS names or IPs) and a client certificate named `clientName`. */
export async function makeCertificates(dir: string, options: { serverNames?: readonly string[]; clientName?: string } = {}): Promise<CertificateSet> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const ca = { cert: join(dir, 'ca.crt'), key: join(dir, 'ca.key') };
  await key(ca.key);
  await run([OPENSSL, 'req', '-x509', '-new', '-key', ca.key, '-subj', '/CN=kerris-daemon-ca', '-days', '365', '-sha256', '-out', ca.cert]);
  const names = options.serverNames ?? ['localhost', '127.0.0.1'];
  const san = names.map((n) => (/^[0-9.]+$/.test(n) || n.includes(':') ? `IP:${n}` : `DNS:${n}`)).join(',');
  const server = await signed(dir, 'server', ca, `basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=${san}\n`);
  const client = await signClient({ dir, ca }, options.clientName ?? 'kerris-controller');
  return { dir, ca, server: { ca: ca.cert, ...server }, client };
}

/** Another client certificate from the same CA, named `name` (its CN). */
export async function signClient(set: Pick<CertificateSet, 'dir' | 'ca'>, name: string): Promise<TlsFiles> {
  const client = await signed(set.dir, name, set.ca, 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n');
  return { ca: set.ca.cert, ...client };
}
