/** Reading the certificate Secrets: damage is reported, never thrown; cert-manager's CA layout is read too. */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { readCaSecret, readServerSecret } from '../../src/controller/certificates/secrets.ts';
import { issueCa, issueLeaf, privateKeyPem } from '../../src/controller/certificates/x509.ts';
import { makeCertificates } from '../../src/daemon/tls-certs.ts';
import type { Secret } from '../../src/kube/resources.ts';
import { run } from '../../src/util/exec.ts';

const b64 = (text: string): string => Buffer.from(text).toString('base64');
const now = new Date();
const ca = issueCa({ commonName: 'kerris-daemon-ca', now, lifetimeMs: 86_400_000 });
const other = issueCa({ commonName: 'kerris-daemon-ca', now, lifetimeMs: 86_400_000 });
const caData = { 'ca.crt': b64(ca.pem), 'ca.key': b64(privateKeyPem(ca.privateKey)) };

let dir = '';
before(async () => { dir = await mkdtemp(join(tmpdir(), 'kerris-secrets-')); });
after(async () => { await rm(dir, { recursive: true, force: true }); });

describe('readCaSecret', () => {
  it('reads kerris\'s layout', () => {
    const read = readCaSecret({ metadata: {}, data: caData });
    assert.equal(read.state, 'present');
    assert.equal(read.state === 'present' && read.value[0]?.certificate.fingerprint256, new X509Certificate(ca.der).fingerprint256);
  });

  const damaged: [string, Secret['data'], RegExp][] = [
    ['no data', undefined, /tls.crt is missing/],
    ['garbage', { 'ca.crt': b64('garbage'), 'ca.key': caData['ca.key'] }, /ca.crt holds no PEM block/],
    ['a key of another CA', { 'ca.crt': caData['ca.crt'], 'ca.key': b64(privateKeyPem(other.privateKey)) }, /the key does not belong to the certificate/],
    ['a leaf instead of a CA', { 'ca.crt': b64(issueLeaf({ privateKey: ca.privateKey, keyId: ca.keyId, commonName: 'x' }, { commonName: 'l', dnsNames: [], usage: 'clientAuth', now, lifetimeMs: 3_600_000 }).pem), 'ca.key': caData['ca.key'] }, /the key does not belong|not a CA/],
    ['two certificates, one key', { 'ca.crt': b64(ca.pem + other.pem), 'ca.key': caData['ca.key'] }, /2 certificates but ca.key 1 keys/],
    ['a broken PEM body', { 'ca.crt': b64('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'), 'ca.key': caData['ca.key'] }, /not a certificate/],
  ];
  for (const [what, data, reason] of damaged) {
    it(`reports ${what} as damaged, with why`, () => {
      const read = readCaSecret({ metadata: {}, ...(data ? { data } : {}) });
      assert.equal(read.state, 'damaged');
      assert.match(read.state === 'damaged' ? read.reason : '', reason);
    });
  }

  it('reads cert-manager\'s layout (an openssl CA), and leaves name its own subjectKeyIdentifier', async () => {
    const set = await makeCertificates(dir);
    const read = readCaSecret({ metadata: {}, type: 'kubernetes.io/tls', data: { 'tls.crt': b64(await readFile(set.ca.cert, 'utf8')), 'tls.key': b64(await readFile(set.ca.key, 'utf8')) } });
    assert.equal(read.state, 'present', read.state === 'damaged' ? read.reason : '');
    const signer = read.state === 'present' ? read.value[0]?.signer : undefined;
    assert.ok(signer);
    const leaf = issueLeaf(signer, { commonName: 'kerris-controller', dnsNames: [], usage: 'clientAuth', now, lifetimeMs: 3_600_000 });
    const leafFile = join(dir, 'leaf.pem');
    await writeFile(leafFile, leaf.pem);
    const verified = await run(['openssl', 'verify', '-CAfile', set.ca.cert, leafFile], { allowFailure: true });
    assert.equal(verified.code, 0, verified.stdout + verified.stderr);
    const hex = (text: string): string => (text.match(/([0-9A-F]{2}:){19}[0-9A-F]{2}/)?.[0] ?? 'none');
    const ski = hex((await run(['openssl', 'x509', '-in', set.ca.cert, '-noout', '-ext', 'subjectKeyIdentifier'])).stdout);
    const aki = hex((await run(['openssl', 'x509', '-in', leafFile, '-noout', '-ext', 'authorityKeyIdentifier'])).stdout);
    assert.notEqual(ski, 'none', 'openssl gave its CA a subjectKeyIdentifier (SHA-1, not kerris\'s method)');
    assert.equal(aki, ski);
  });
});

describe('readServerSecret', () => {
  const cas = (() => { const read = readCaSecret({ metadata: {}, data: caData }); return read.state === 'present' ? read.value : []; })();
  const leaf = issueLeaf({ privateKey: ca.privateKey, keyId: ca.keyId, commonName: 'kerris-daemon-ca' }, { commonName: 'kerris-daemon', dnsNames: ['kerris-daemon.ns.svc'], usage: 'serverAuth', now, lifetimeMs: 3_600_000 });
  const data = { 'ca.crt': b64(ca.pem), 'tls.crt': b64(leaf.pem), 'tls.key': b64(privateKeyPem(leaf.privateKey)) };

  it('names the CA that signed the serving certificate, and its names', () => {
    const read = readServerSecret({ metadata: {}, type: 'kubernetes.io/tls', data }, cas);
    assert.equal(read.state, 'present');
    assert.deepEqual(read.state === 'present' && { ...read.value.certificate, notAfter: undefined }, { issuerId: cas[0]?.id, notAfter: undefined, dnsNames: ['kerris-daemon.ns.svc'] });
  });

  it('reports a wrong type or a mismatched key as damaged', () => {
    const wrongType = readServerSecret({ metadata: {}, type: 'Opaque', data }, cas);
    assert.match(wrongType.state === 'damaged' ? wrongType.reason : '', /type Opaque instead of kubernetes.io\/tls/);
    const wrongKey = readServerSecret({ metadata: {}, type: 'kubernetes.io/tls', data: { ...data, 'tls.key': b64(privateKeyPem(other.privateKey)) } }, cas);
    assert.match(wrongKey.state === 'damaged' ? wrongKey.reason : '', /does not belong/);
  });
});
