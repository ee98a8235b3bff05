/**
 * The X.509 writer, read back by node's X509Certificate and by openssl, and
 * used for real: TLS 1.3 handshakes over loopback with node:tls and with
 * grpc-js through the daemon's own credentials (src/daemon/tls.ts).
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createServer, type TLSSocket } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { clientCredentials, serverCredentials, type TlsMaterial } from '../../src/daemon/tls.ts';
import { CA_COMMON_NAME, CONTROLLER_COMMON_NAME, DAEMON_COMMON_NAME, daemonServerName } from '../../src/controller/certificates/identities.ts';
import { BACKDATE_MS, issueCa, issueLeaf, keyIdentifier, privateKeyPem, subjectKeyIdentifier, type IssuedCertificate, type LeafUsage, type Signer } from '../../src/controller/certificates/x509.ts';
import { run } from '../../src/util/exec.ts';

const DAY = 86_400_000;
const now = new Date();
const serverName = daemonServerName('kerris-system');

const signerOf = (ca: IssuedCertificate): Signer => ({ privateKey: ca.privateKey, keyId: ca.keyId, commonName: CA_COMMON_NAME });
const leaf = (ca: IssuedCertificate, commonName: string, usage: LeafUsage, dnsNames: string[] = []): IssuedCertificate =>
  issueLeaf(signerOf(ca), { commonName, dnsNames, usage, now, lifetimeMs: 30 * DAY });
const material = (bundle: readonly IssuedCertificate[], cert: IssuedCertificate): TlsMaterial =>
  ({ ca: Buffer.from(bundle.map((c) => c.pem).join('')), cert: Buffer.from(cert.pem), key: Buffer.from(privateKeyPem(cert.privateKey)) });

const ca = issueCa({ commonName: CA_COMMON_NAME, now, lifetimeMs: 5 * 365 * DAY });
const otherCa = issueCa({ commonName: CA_COMMON_NAME, now, lifetimeMs: 365 * DAY });
const server = leaf(ca, DAEMON_COMMON_NAME, 'serverAuth', [serverName]);
const client = leaf(ca, CONTROLLER_COMMON_NAME, 'clientAuth');

let dir = '';
before(async () => { dir = await mkdtemp(join(tmpdir(), 'kerris-x509-')); });
after(async () => { await rm(dir, { recursive: true, force: true }); });

async function openssl(cert: IssuedCertificate, ...args: string[]): Promise<string> {
  const file = join(dir, `${cert.keyId.toString('hex')}.pem`);
  await writeFile(file, cert.pem);
  return (await run(['openssl', 'x509', '-in', file, '-noout', ...args])).stdout;
}

describe('issueCa', () => {
  it('writes a self-signed P-256 CA that node reads: CA:true, pathlen 0, keyCertSign+cRLSign, subjectKeyIdentifier', async () => {
    const cert = new X509Certificate(ca.der);
    assert.equal(cert.subject, `CN=${CA_COMMON_NAME}`);
    assert.equal(cert.issuer, `CN=${CA_COMMON_NAME}`);
    assert.equal(cert.ca, true);
    assert.ok(cert.verify(cert.publicKey), 'self-signed');
    assert.equal(cert.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    assert.equal(cert.validFromDate.getTime(), Math.floor((now.getTime() - BACKDATE_MS) / 1000) * 1000, 'backdated for clock skew');
    assert.equal(cert.validToDate.getTime(), Math.floor((now.getTime() + 5 * 365 * DAY) / 1000) * 1000);
    assert.deepEqual(subjectKeyIdentifier(ca.der), keyIdentifier(cert.publicKey));
    const text = await openssl(ca, '-ext', 'basicConstraints,keyUsage,subjectKeyIdentifier');
    assert.match(text, /Basic Constraints: critical\s+CA:TRUE, pathlen:0/);
    assert.match(text, /Key Usage: critical\s+Certificate Sign, CRL Sign/);
    assert.match(text, new RegExp(ca.keyId.toString('hex').toUpperCase().match(/../g)?.join(':') ?? 'none'));
    assert.match(await openssl(ca, '-text'), /Signature Algorithm: ecdsa-with-SHA256/);
  });
});

describe('issueLeaf', () => {
  it('writes a leaf signed by the CA: CA:false, digitalSignature, one extKeyUsage, DNS names, authorityKeyIdentifier, 16-byte positive serial', async () => {
    const cert = new X509Certificate(server.der);
    const issuer = new X509Certificate(ca.der);
    assert.equal(cert.subject, `CN=${DAEMON_COMMON_NAME}`);
    assert.equal(cert.subjectAltName, `DNS:${serverName}`);
    assert.equal(cert.ca, false);
    assert.ok(cert.checkIssued(issuer));
    assert.ok(cert.verify(issuer.publicKey));
    assert.ok(!cert.verify(new X509Certificate(otherCa.der).publicKey), 'another CA did not sign it');
    assert.deepEqual(cert.keyUsage, ['1.3.6.1.5.5.7.3.1']);
    assert.deepEqual(new X509Certificate(client.der).keyUsage, ['1.3.6.1.5.5.7.3.2']);
    assert.equal(cert.serialNumber.length, 32, '16 octets');
    assert.ok(Number.parseInt(cert.serialNumber.slice(0, 1), 16) < 8, 'top bit clear: positive');
    assert.ok(cert.validFromDate.getTime() < now.getTime() && now.getTime() < cert.validToDate.getTime());
    assert.ok(cert.checkHost(serverName));
    const text = await openssl(server, '-ext', 'basicConstraints,keyUsage,extendedKeyUsage,authorityKeyIdentifier');
    assert.match(text, /Basic Constraints: critical\s+CA:FALSE/);
    assert.match(text, /Key Usage: critical\s+Digital Signature\n/);
    assert.match(text, /Extended Key Usage:\s*\n\s+TLS Web Server Authentication\n/);
    assert.match(text.replaceAll(':', '').toLowerCase(), new RegExp(ca.keyId.toString('hex')), 'authorityKeyIdentifier names the CA key');
  });

  it('never outlives its issuer, and refuses names that are not DNS names', () => {
    const short = issueLeaf(signerOf(ca), { commonName: 'x', dnsNames: [], usage: 'clientAuth', now, lifetimeMs: 30 * DAY, notAfterAtMost: new Date(now.getTime() + DAY) });
    assert.equal(new X509Certificate(short.der).validToDate.getTime(), Math.floor((now.getTime() + DAY) / 1000) * 1000);
    assert.throws(() => issueLeaf(signerOf(ca), { commonName: 'x', dnsNames: ['Bad_Name'], usage: 'serverAuth', now, lifetimeMs: DAY }), /not a lower-case DNS name/);
  });
});

interface Outcome { accepted: boolean; peer: string; error: string }

const CLIENT_REFUSED_FIRST = 'the client refused the server first';

/**
 * One TLS 1.3 handshake over loopback. The server requires a client
 * certificate from its bundle; the client checks the server against its
 * bundle and `servername`. Each side's verdict is what it saw.
 */
async function handshake(serverSide: TlsMaterial, clientSide: TlsMaterial, servername: string): Promise<{ server: Outcome; client: Outcome }> {
  const tlsServer = createServer({ ...serverSide, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.3' });
  const serverOutcome = new Promise<Outcome>((resolve) => {
    tlsServer.on('secureConnection', (socket: TLSSocket) => {
      resolve({ accepted: true, peer: String(socket.getPeerCertificate().subject?.CN ?? ''), error: '' });
      socket.end('ok');
    });
    tlsServer.on('tlsClientError', (error: NodeJS.ErrnoException) => resolve({ accepted: false, peer: '', error: error.code ?? error.message }));
  });
  await new Promise<void>((resolve) => tlsServer.listen(0, '127.0.0.1', resolve));
  const address = tlsServer.address();
  assert.ok(address && typeof address === 'object');
  try {
    const clientOutcome = new Promise<Outcome>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port: address.port, servername, ...clientSide, minVersion: 'TLSv1.3' });
      socket.on('secureConnect', () => {
        // TLS 1.3 finishes the client's side before the server has judged the client's certificate: wait for its answer.
        socket.once('data', () => { resolve({ accepted: true, peer: String(socket.getPeerCertificate().subject?.CN ?? ''), error: socket.getProtocol() ?? '' }); socket.end(); });
      });
      socket.on('error', (error: NodeJS.ErrnoException) => resolve({ accepted: false, peer: '', error: error.code ?? error.message }));
      socket.on('close', () => resolve({ accepted: false, peer: '', error: 'closed' }));
    });
    // A client that refuses the server hangs up before the server has judged anything: then the server's verdict is moot.
    const clientResult = await clientOutcome;
    const serverResult = clientResult.accepted || clientResult.error === 'closed' || clientResult.error === 'ECONNRESET' ? await serverOutcome : { accepted: false, peer: '', error: CLIENT_REFUSED_FIRST };
    return { client: clientResult, server: serverResult };
  } finally {
    tlsServer.close();
  }
}

describe('mutual TLS 1.3 with these certificates', () => {
  it('connects the controller to the daemon, each side seeing the other\'s name', async () => {
    const { server: s, client: c } = await handshake(material([ca], server), material([ca], client), serverName);
    assert.deepEqual(s, { accepted: true, peer: CONTROLLER_COMMON_NAME, error: '' });
    assert.deepEqual(c, { accepted: true, peer: DAEMON_COMMON_NAME, error: 'TLSv1.3' });
  });

  it('the daemon refuses a client certificate from another CA', async () => {
    const stranger = leaf(otherCa, CONTROLLER_COMMON_NAME, 'clientAuth');
    const { server: s, client: c } = await handshake(material([ca], server), material([ca], stranger), serverName);
    assert.equal(c.accepted, false, 'the client never gets an answer');
    // node reports the refusal as a tlsClientError (its code varies: ECONNRESET here); it never emits secureConnection.
    assert.ok(!s.accepted && s.error !== '' && s.error !== CLIENT_REFUSED_FIRST, `the server itself refused: ${s.error}`);
  });

  it('the controller refuses a daemon whose certificate lacks the pinned name', async () => {
    const impostor = leaf(ca, DAEMON_COMMON_NAME, 'serverAuth', ['kerris-daemon.elsewhere.svc']);
    const { client: c } = await handshake(material([ca], impostor), material([ca], client), serverName);
    assert.deepEqual(c, { accepted: false, peer: '', error: 'ERR_TLS_CERT_ALTNAME_INVALID' });
  });

  it('a bundle of two CAs accepts material from either (CA rotation)', async () => {
    const oldClient = leaf(otherCa, CONTROLLER_COMMON_NAME, 'clientAuth');
    const newServer = leaf(ca, DAEMON_COMMON_NAME, 'serverAuth', [serverName]);
    const { server: s, client: c } = await handshake(material([ca, otherCa], newServer), material([otherCa, ca], oldClient), serverName);
    assert.equal(s.accepted && c.accepted, true, `${s.error} ${c.error}`);
  });
});

describe('grpc-js through the daemon credentials, dialled by IP and pinned by name', () => {
  const method = {
    path: '/kerris.test.Echo/Peer', requestStream: false, responseStream: false,
    requestSerialize: (b: Buffer) => b, requestDeserialize: (b: Buffer) => b, responseSerialize: (b: Buffer) => b, responseDeserialize: (b: Buffer) => b,
  } as const;

  async function call(serverOverride: string, clientCert = client): Promise<string> {
    const grpcServer = new grpc.Server();
    grpcServer.addService({ peer: method }, {
      peer: ((call, callback) => callback(null, Buffer.from(String(call.getAuthContext().sslPeerCertificate?.subject?.CN ?? '')))) satisfies grpc.handleUnaryCall<Buffer, Buffer>,
    });
    const port = await new Promise<number>((resolve, reject) => grpcServer.bindAsync('127.0.0.1:0', serverCredentials(material([ca], server)), (e, p) => (e ? reject(e) : resolve(p))));
    const grpcClient = new grpc.Client(`127.0.0.1:${port}`, clientCredentials(material([ca], clientCert)), { 'grpc.ssl_target_name_override': serverOverride });
    try {
      return await new Promise<string>((resolve, reject) => {
        grpcClient.makeUnaryRequest(method.path, method.requestSerialize, method.responseDeserialize, Buffer.alloc(0), new grpc.Metadata(), { deadline: Date.now() + 10_000 },
          (error, value) => (error ? reject(error) : resolve(value?.toString() ?? '')));
      });
    } finally {
      grpcClient.close();
      grpcServer.forceShutdown();
    }
  }

  it('reaches the daemon with grpc.ssl_target_name_override = its SAN, and the daemon sees the controller\'s CN', async () => {
    assert.equal(await call(serverName), CONTROLLER_COMMON_NAME);
  });

  it('fails when the pinned name is not the daemon\'s', async () => {
    await assert.rejects(call('kerris-daemon.elsewhere.svc'), (e: grpc.ServiceError) => e.code === grpc.status.UNAVAILABLE);
  });

  it('fails when the client certificate comes from another CA', async () => {
    await assert.rejects(call(serverName, leaf(otherCa, CONTROLLER_COMMON_NAME, 'clientAuth')), (e: grpc.ServiceError) => e.code === grpc.status.UNAVAILABLE);
  });
});
