/**
 * DaemonCertificates against a real kube-apiserver, running as the
 * kerris-controller ServiceAccount with exactly the certificate Role of
 * deploy/controller/rbac.yaml (bound in a scratch namespace): creation once,
 * idempotence, repair of a damaged Secret, and a CA rotation that strands
 * nobody, checked with real TLS 1.3 handshakes.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connect, createServer } from 'node:tls';
import { parseAllDocuments } from 'yaml';
import { DaemonCertificates } from '../../src/controller/certificates/daemon-certificates.ts';
import { CA_SECRET_NAME, CONTROLLER_COMMON_NAME, DAEMON_TLS_SECRET_NAME } from '../../src/controller/certificates/identities.ts';
import { CA_LIFETIME_MS } from '../../src/controller/certificates/rotation.ts';
import type { TlsMaterial } from '../../src/daemon/tls.ts';
import { KubeClient } from '../../src/kube/client.ts';
import { ApiError, isNotFound } from '../../src/kube/errors.ts';
import { loadInCluster } from '../../src/kube/kubeconfig.ts';
import { defineResource } from '../../src/kube/resource.ts';
import { secrets, type Secret } from '../../src/kube/resources.ts';
import type { KubeObject } from '../../src/kube/types.ts';
import { createLogger } from '../../src/util/log.ts';
import { controlPlane } from '../testbed/index.ts';
import { adminClient, createScratchNamespace, deleteNamespaceAndWait, until } from '../testbed/kube-fixtures.ts';
import { REPO_ROOT } from '../testbed/paths.ts';

const serviceAccounts = defineResource<KubeObject>({ group: '', version: 'v1', plural: 'serviceaccounts', kind: 'ServiceAccount', namespaced: true });
const roles = defineResource<KubeObject>({ group: 'rbac.authorization.k8s.io', version: 'v1', plural: 'roles', kind: 'Role', namespaced: true });
const roleBindings = defineResource<KubeObject & { subjects: { namespace?: string }[] }>({ group: 'rbac.authorization.k8s.io', version: 'v1', plural: 'rolebindings', kind: 'RoleBinding', namespaced: true });

const ROLE = 'kerris-controller-certificates';
const log = createLogger({ test: 'certificates' }, () => {});

let admin: KubeClient;
let asController: KubeClient;
let ns = '';
let dir = '';

before(async () => {
  const plane = await controlPlane();
  admin = await adminClient();
  ns = await createScratchNamespace(admin, 'kerris-certs');
  await admin.create(serviceAccounts, { metadata: { name: 'kerris-controller', namespace: ns } });
  // The Role and RoleBinding exactly as shipped, moved into the scratch namespace.
  const manifests = parseAllDocuments(await readFile(join(REPO_ROOT, 'deploy', 'controller', 'rbac.yaml'), 'utf8')).map((d) => d.toJS() as KubeObject & { subjects?: { namespace?: string }[] });
  const role = manifests.find((m) => m.kind === 'Role' && m.metadata.name === ROLE);
  const binding = manifests.find((m) => m.kind === 'RoleBinding' && m.metadata.name === ROLE);
  assert.ok(role && binding, `deploy/controller/rbac.yaml has the Role and RoleBinding ${ROLE}`);
  await admin.create(roles, { ...role, metadata: { ...role.metadata, namespace: ns } });
  await admin.create(roleBindings, { ...binding, metadata: { ...binding.metadata, namespace: ns }, subjects: (binding.subjects ?? []).map((s) => ({ ...s, namespace: ns })) });

  const tokenPath = `/api/v1/namespaces/${ns}/serviceaccounts/kerris-controller/token`;
  const res = await admin.transport.request({ method: 'POST', path: tokenPath, body: JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 3600 } }) });
  const token = (JSON.parse(res.body) as { status?: { token?: string } }).status?.token;
  assert.ok(token, 'a token for kerris-controller');
  dir = await mkdtemp(join(tmpdir(), 'kerris-certs-sa-'));
  await copyFile(plane.caCert, join(dir, 'ca.crt'));
  await writeFile(join(dir, 'namespace'), ns);
  await writeFile(join(dir, 'token'), token);
  const server = new URL(plane.server);
  asController = new KubeClient(await loadInCluster({ KUBERNETES_SERVICE_HOST: server.hostname, KUBERNETES_SERVICE_PORT: server.port }, dir));
  // RBAC reaches the authorizer a moment after the binding is created: wait until a read of a managed name is NotFound, not Forbidden.
  await until(() => asController.get(secrets, CA_SECRET_NAME, { namespace: ns }).then(() => true, (e: unknown) => isNotFound(e)), 10_000, 'the certificate Role to take effect');
});

after(async () => {
  asController?.close();
  await rm(dir, { recursive: true, force: true });
  await deleteNamespaceAndWait(admin, ns);
  admin.close();
});

const decode = (secret: Secret, key: string): Buffer => Buffer.from(secret.data?.[key] ?? '', 'base64');
const daemonMaterial = (secret: Secret): TlsMaterial => ({ ca: decode(secret, 'ca.crt'), cert: decode(secret, 'tls.crt'), key: decode(secret, 'tls.key') });
const certificates = (pem: Buffer): X509Certificate[] => (pem.toString().match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? []).map((c) => new X509Certificate(c));

/** A TLS 1.3 handshake as daemon (server, client certificate required) and controller (client, name pinned); resolves with the client CN the daemon saw. */
async function handshake(daemon: TlsMaterial, controller: TlsMaterial, servername: string): Promise<string> {
  const server = createServer({ ...daemon, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.3' });
  try {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    assert.ok(address && typeof address === 'object');
    const seen = new Promise<string>((resolve, reject) => {
      server.on('secureConnection', (socket) => { resolve(String(socket.getPeerCertificate().subject?.CN ?? '')); socket.end('ok'); });
      server.on('tlsClientError', (error) => reject(new Error(`the daemon refused the controller: ${error.message}`)));
    });
    const answered = new Promise<void>((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port: address.port, servername, ...controller, minVersion: 'TLSv1.3' });
      socket.once('data', () => { socket.end(); resolve(); });
      socket.on('error', (error) => reject(new Error(`the controller refused the daemon: ${error.message}`)));
    });
    const [cn] = await Promise.all([seen, answered]);
    return cn;
  } finally {
    server.close();
  }
}

describe('DaemonCertificates as kerris-controller', () => {
  it('creates both Secrets once, then changes nothing; the material connects controller and daemon', async () => {
    const issuer = new DaemonCertificates({ client: asController, namespace: ns, log });
    const first = await issuer.ensure();
    assert.deepEqual(first.issued, ['ca', 'daemon-server']);
    assert.match(first.reason ?? '', /no CA yet/);
    const ca = await admin.get(secrets, CA_SECRET_NAME, { namespace: ns });
    const tls = await admin.get(secrets, DAEMON_TLS_SECRET_NAME, { namespace: ns });
    assert.equal(ca.type, 'Opaque');
    assert.equal(tls.type, 'kubernetes.io/tls');
    for (const secret of [ca, tls]) {
      assert.deepEqual(secret.metadata.labels, { 'app.kubernetes.io/name': 'kerris', 'app.kubernetes.io/component': 'certificates' });
      assert.ok(Date.parse(secret.metadata.annotations?.['certificates.kerris.dev/not-after'] ?? '') > Date.now(), 'expiry annotated');
    }
    assert.deepEqual(Object.keys(ca.data ?? {}).sort(), ['ca.crt', 'ca.key']);
    assert.deepEqual(Object.keys(tls.data ?? {}).sort(), ['ca.crt', 'tls.crt', 'tls.key']);
    assert.equal(new X509Certificate(decode(tls, 'tls.crt')).subjectAltName, `DNS:kerris-daemon.${ns}.svc`, 'the name follows the namespace');

    assert.deepEqual(await issuer.ensure(), { issued: [] });
    assert.equal((await admin.get(secrets, CA_SECRET_NAME, { namespace: ns })).metadata.resourceVersion, ca.metadata.resourceVersion);
    assert.equal((await admin.get(secrets, DAEMON_TLS_SECRET_NAME, { namespace: ns })).metadata.resourceVersion, tls.metadata.resourceVersion);
    assert.deepEqual(await new DaemonCertificates({ client: asController, namespace: ns, log }).ensure(), { issued: [] }, 'another replica agrees');

    const material = await issuer.clientMaterial();
    assert.equal(await issuer.clientMaterial(), material, 'cached: the same object while nothing changed');
    assert.equal(await handshake(daemonMaterial(tls), material, issuer.daemonServerName), CONTROLLER_COMMON_NAME);
  });

  it('replaces a Secret edited to garbage, and says why', async () => {
    const issuer = new DaemonCertificates({ client: asController, namespace: ns, log });
    const tls = await admin.get(secrets, DAEMON_TLS_SECRET_NAME, { namespace: ns });
    await admin.replace(secrets, { ...tls, data: { ...tls.data, 'tls.crt': Buffer.from('garbage').toString('base64') } });
    const result = await issuer.ensure();
    assert.deepEqual(result.issued, ['daemon-server']);
    assert.match(result.reason ?? '', /daemon serving certificate: replaced: tls.crt holds no PEM block/);
    const repaired = await admin.get(secrets, DAEMON_TLS_SECRET_NAME, { namespace: ns });
    assert.equal(await handshake(daemonMaterial(repaired), await issuer.clientMaterial(), issuer.daemonServerName), CONTROLLER_COMMON_NAME);

    // A type cannot change in place: a serving Secret recreated as Opaque is deleted (guarded by its uid) and created again.
    await admin.delete(secrets, DAEMON_TLS_SECRET_NAME, { namespace: ns });
    await admin.create(secrets, { metadata: { name: DAEMON_TLS_SECRET_NAME, namespace: ns }, type: 'Opaque', data: repaired.data });
    const retyped = await issuer.ensure();
    assert.match(retyped.reason ?? '', /type Opaque instead of kubernetes.io\/tls/);
    assert.equal((await admin.get(secrets, DAEMON_TLS_SECRET_NAME, { namespace: ns })).type, 'kubernetes.io/tls');
  });

  it('may not touch any other Secret', async () => {
    await admin.create(secrets, { metadata: { name: 'someone-else', namespace: ns }, data: { k: Buffer.from('v').toString('base64') } });
    await assert.rejects(asController.get(secrets, 'someone-else', { namespace: ns }), (e) => e instanceof ApiError && e.status === 403);
    await assert.rejects(asController.list(secrets, { namespace: ns }), (e) => e instanceof ApiError && e.status === 403);
  });

  it('rotates the CA without stranding anyone: the old CA stays in the bundle, old client material keeps working', async () => {
    // Start over with a CA made so long ago that it is due for re-keying 20 minutes ago; then live to now.
    for (const name of [CA_SECRET_NAME, DAEMON_TLS_SECRET_NAME]) await admin.delete(secrets, name, { namespace: ns });
    const realNow = Date.now();
    const rotateAt = realNow - 20 * 60_000;
    let clock = rotateAt - (CA_LIFETIME_MS * 2) / 3 - 86_400_000;
    const now = () => new Date(clock);
    const leader = new DaemonCertificates({ client: asController, namespace: ns, log, now });
    const replica = new DaemonCertificates({ client: asController, namespace: ns, log, now });
    assert.deepEqual((await leader.ensure()).issued, ['ca', 'daemon-server']);
    const [oldCa] = certificates(decode(await admin.get(secrets, CA_SECRET_NAME, { namespace: ns }), 'ca.crt'));
    assert.ok(oldCa);

    clock = rotateAt;
    const oldClient = await replica.clientMaterial();
    assert.ok(new X509Certificate(oldClient.cert).checkIssued(oldCa), 'the replica holds a client certificate from the old CA');
    const step1 = await leader.ensure();
    assert.deepEqual(step1.issued, ['ca', 'daemon-server'], step1.reason);
    assert.match(step1.reason ?? '', /new CA added to the bundle/);
    const midway = await admin.get(secrets, DAEMON_TLS_SECRET_NAME, { namespace: ns });
    const bundle = certificates(decode(midway, 'ca.crt'));
    assert.equal(bundle.length, 2);
    assert.equal(bundle[1]?.fingerprint256, oldCa.fingerprint256, 'the old CA stays in the bundle, after the new one');
    assert.ok(new X509Certificate(decode(midway, 'tls.crt')).checkIssued(oldCa), 'while the new CA propagates, the daemon is served from the old one');
    assert.equal(await handshake(daemonMaterial(midway), oldClient, leader.daemonServerName), CONTROLLER_COMMON_NAME, 'a replica that has not re-read the CA Secret yet still connects');

    // Within CA_REFRESH_MS every replica re-reads the CA Secret: same certificate, both CAs in its bundle.
    clock = rotateAt + 2 * 60_000;
    const refreshed = await replica.clientMaterial();
    assert.notEqual(refreshed, oldClient, 'a changed bundle is a new material object');
    assert.ok(refreshed.cert.equals(oldClient.cert), 'the client certificate from the old CA is kept while the new CA propagates');
    assert.equal(certificates(refreshed.ca).length, 2);

    clock = realNow;
    const step2 = await leader.ensure();
    assert.deepEqual(step2.issued, ['daemon-server'], step2.reason);
    const rotated = await admin.get(secrets, DAEMON_TLS_SECRET_NAME, { namespace: ns });
    const [newCa, stillOld] = certificates(decode(rotated, 'ca.crt'));
    assert.ok(newCa && stillOld?.fingerprint256 === oldCa.fingerprint256);
    assert.ok(new X509Certificate(decode(rotated, 'tls.crt')).checkIssued(newCa), 'the daemon is re-issued by the new CA');
    const newClient = await new DaemonCertificates({ client: asController, namespace: ns, log, now }).clientMaterial();
    assert.ok(new X509Certificate(newClient.cert).checkIssued(newCa), 'a fresh replica signs with the new CA');
    const renewed = await replica.clientMaterial();
    assert.ok(!renewed.cert.equals(oldClient.cert));
    assert.ok(new X509Certificate(renewed.cert).checkIssued(newCa), 'the old replica moves to the new CA on its next refresh');

    // Every mix of old and new material still connects.
    const name = leader.daemonServerName;
    assert.equal(await handshake(daemonMaterial(rotated), refreshed, name), CONTROLLER_COMMON_NAME, 'client certificate from the old CA, daemon on the new bundle and CA');
    assert.equal(await handshake(daemonMaterial(midway), newClient, name), CONTROLLER_COMMON_NAME, 'new client, daemon still on the midway Secret');
    assert.equal(await handshake(daemonMaterial(rotated), newClient, name), CONTROLLER_COMMON_NAME, 'new client, new daemon');
  });
});
