/**
 * Kubeconfigs as managed clusters hand them out, against the real apiserver:
 * an exec credential plugin (a script this test writes, minting ServiceAccount
 * tokens with `kubectl create token`, i.e. the TokenRequest API), a server
 * behind a path prefix, a CONNECT proxy, and the retries of a gateway that
 * answers 429 and 503. The gateway and the proxy are loopback servers this test
 * starts; they forward to the apiserver and count what passes.
 */
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer, type IncomingMessage } from 'node:http';
import { createServer as createHttpsServer, request as httpsRequest } from 'node:https';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { KubeClient } from '../../src/kube/client.ts';
import { ApiError, CredentialPluginError } from '../../src/kube/errors.ts';
import { EXEC_API_VERSIONS, type ExecApiVersion } from '../../src/kube/exec-credential.ts';
import { loadKubeconfigFiles } from '../../src/kube/kubeconfig.ts';
import { defineResource } from '../../src/kube/resource.ts';
import { configMaps, namespaces } from '../../src/kube/resources.ts';
import type { KubeObject } from '../../src/kube/types.ts';
import { controlPlane, type ControlPlane } from '../testbed/index.ts';
import { adminClient, createScratchNamespace, deleteNamespaceAndWait, until } from '../testbed/kube-fixtures.ts';
import { ensureCertificate } from '../testbed/pki.ts';

interface SelfSubjectReview extends KubeObject {
  status?: { userInfo?: { username?: string } };
}
interface TokenReview extends KubeObject {
  spec: { token: string };
  status?: { authenticated?: boolean };
}
const selfSubjectReviews = defineResource<SelfSubjectReview>({ group: 'authentication.k8s.io', version: 'v1', plural: 'selfsubjectreviews', kind: 'SelfSubjectReview', namespaced: false });
const tokenReviews = defineResource<TokenReview>({ group: 'authentication.k8s.io', version: 'v1', plural: 'tokenreviews', kind: 'TokenReview', namespaced: false });
const serviceAccounts = defineResource<KubeObject>({ group: '', version: 'v1', plural: 'serviceaccounts', kind: 'ServiceAccount', namespaced: true });
const secrets = defineResource<KubeObject & { type?: string }>({ group: '', version: 'v1', plural: 'secrets', kind: 'Secret', namespaced: true });
const roles = defineResource<KubeObject & { rules: object[] }>({ group: 'rbac.authorization.k8s.io', version: 'v1', plural: 'roles', kind: 'Role', namespaced: true });
const roleBindings = defineResource<KubeObject & { roleRef: object; subjects: object[] }>({ group: 'rbac.authorization.k8s.io', version: 'v1', plural: 'rolebindings', kind: 'RoleBinding', namespaced: true });

/** What the plugin does on its next runs; the test rewrites it between steps. */
interface PluginState {
  /** invalid-first: an unknown token on the first run, minted ones after. */
  mode: 'token' | 'invalid-token' | 'invalid-first' | 'cert';
  expiresInSeconds: number;
  /** Bind the minted token to this Secret: deleting the Secret invalidates the token. */
  boundSecret?: string;
  /** mode cert: the n-th run hands out certs[n-1] (the last one from then on). */
  certs?: Array<{ cert: string; key: string }>;
}

/** One line per run, written by the plugin. */
interface PluginRun {
  apiVersion: string;
  token?: string;
  expirationTimestamp: string;
  execInfo: { spec?: { interactive?: boolean; cluster?: { server?: string; 'certificate-authority-data'?: string } } };
}

const SA = 'exec-user';

/** The credential plugin: a real executable, run by the client with argv and the kubeconfig's env. */
const PLUGIN_SOURCE = `#!${process.execPath}
const { execFileSync } = require('node:child_process');
const { appendFileSync, readFileSync } = require('node:fs');
const { KERRIS_TEST_STATE: stateFile, KERRIS_TEST_KUBECTL: kubectl, KERRIS_TEST_ADMIN: admin, KERRIS_TEST_NS: ns } = process.env;
const info = JSON.parse(process.env.KUBERNETES_EXEC_INFO);
const state = JSON.parse(readFileSync(stateFile, 'utf8'));
let runs = 0;
try { runs = readFileSync(stateFile + '.runs', 'utf8').split('\\n').filter(Boolean).length; } catch {}
const status = { expirationTimestamp: new Date(Date.now() + state.expiresInSeconds * 1000).toISOString() };
if (state.mode === 'cert') {
  const pair = state.certs[Math.min(runs, state.certs.length - 1)];
  status.clientCertificateData = readFileSync(pair.cert, 'utf8');
  status.clientKeyData = readFileSync(pair.key, 'utf8');
} else if (state.mode === 'invalid-token' || (state.mode === 'invalid-first' && runs === 0)) {
  status.token = 'not-a-token-the-apiserver-knows';
} else {
  const bound = state.boundSecret ? ['--bound-object-kind', 'Secret', '--bound-object-name', state.boundSecret] : [];
  status.token = execFileSync(kubectl, ['--kubeconfig', admin, 'create', 'token', '${SA}', '-n', ns, '--duration', '10m', ...bound], { encoding: 'utf8' }).trim();
}
appendFileSync(stateFile + '.runs', JSON.stringify({ apiVersion: info.apiVersion, token: status.token, expirationTimestamp: status.expirationTimestamp, execInfo: info }) + '\\n');
process.stdout.write(JSON.stringify({ apiVersion: info.apiVersion, kind: 'ExecCredential', status }));
`;

let plane: ControlPlane;
let admin: KubeClient;
let ns = '';
let dir = '';
let serial = 0;

before(async () => {
  plane = await controlPlane();
  admin = await adminClient();
  ns = await createScratchNamespace(admin, 'kerris-exec');
  dir = await mkdtemp(join(tmpdir(), 'kerris-exec-'));
  await admin.create(serviceAccounts, { metadata: { name: SA, namespace: ns } });
  await admin.create(roles, { metadata: { name: 'read-configmaps', namespace: ns }, rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list', 'watch'] }] });
  await admin.create(roleBindings, {
    metadata: { name: SA, namespace: ns },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'read-configmaps' },
    subjects: [{ kind: 'ServiceAccount', name: SA, namespace: ns }],
  });
  await admin.create(configMaps, { metadata: { name: 'readable', namespace: ns }, data: { k: 'v' } });
  await writeFile(join(dir, 'plugin.cjs'), PLUGIN_SOURCE);
  await chmod(join(dir, 'plugin.cjs'), 0o755);
});

after(async () => {
  await deleteNamespaceAndWait(admin, ns);
  admin.close();
  await rm(dir, { recursive: true, force: true });
});

interface KubeconfigSpec {
  apiVersion?: ExecApiVersion;
  state?: PluginState;
  server?: string;
  proxyUrl?: string;
  /** An exec stanza other than the test's plugin. */
  exec?: Record<string, unknown>;
}

/** Writes a kubeconfig whose user runs the plugin (by a path relative to the kubeconfig's folder), and the plugin's state. */
async function kubeconfig(spec: KubeconfigSpec): Promise<{ path: string; stateFile: string; runs: () => Promise<PluginRun[]>; setState: (state: PluginState) => Promise<void> }> {
  serial += 1;
  const stateFile = join(dir, `state-${serial}.json`);
  const setState = (state: PluginState): Promise<void> => writeFile(stateFile, JSON.stringify(state));
  await setState(spec.state ?? { mode: 'token', expiresInSeconds: 600 });
  const exec = spec.exec ?? {
    apiVersion: spec.apiVersion ?? 'client.authentication.k8s.io/v1', command: './plugin.cjs', interactiveMode: 'Never', provideClusterInfo: true,
    env: [
      { name: 'KERRIS_TEST_STATE', value: stateFile }, { name: 'KERRIS_TEST_KUBECTL', value: plane.kubectl },
      { name: 'KERRIS_TEST_ADMIN', value: plane.kubeconfig }, { name: 'KERRIS_TEST_NS', value: ns },
    ],
  };
  const path = join(dir, `kubeconfig-${serial}.yaml`);
  await writeFile(path, stringify({
    apiVersion: 'v1', kind: 'Config',
    clusters: [{ name: 'c', cluster: { server: spec.server ?? plane.server, 'certificate-authority': plane.caCert, ...(spec.proxyUrl ? { 'proxy-url': spec.proxyUrl } : {}) } }],
    users: [{ name: 'sa', user: { exec } }],
    contexts: [{ name: 'x', context: { cluster: 'c', user: 'sa', namespace: ns } }],
    'current-context': 'x',
  }));
  const runs = async (): Promise<PluginRun[]> => (await readFile(`${stateFile}.runs`, 'utf8').catch(() => '')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as PluginRun);
  return { path, stateFile, runs, setState };
}

async function clientFor(path: string): Promise<KubeClient> {
  return new KubeClient(await loadKubeconfigFiles([path]));
}

const whoAmI = async (client: KubeClient): Promise<string | undefined> => (await client.create(selfSubjectReviews, { metadata: {} })).status?.userInfo?.username;

for (const apiVersion of EXEC_API_VERSIONS) {
  describe(`exec credential plugin, ${apiVersion}`, () => {
    it('authenticates as the ServiceAccount whose token it mints: allowed reads pass, the rest is 403', async (t) => {
      const { path, runs } = await kubeconfig({ apiVersion });
      const client = await clientFor(path);
      t.after(() => client.close());
      assert.equal(await whoAmI(client), `system:serviceaccount:${ns}:${SA}`);
      assert.deepEqual((await client.get(configMaps, 'readable')).data, { k: 'v' });
      await assert.rejects(client.list(namespaces), (e) => e instanceof ApiError && e.status === 403 && e.message.includes(`system:serviceaccount:${ns}:${SA}`));
      const [run] = await runs();
      assert.equal(run?.apiVersion, apiVersion, 'the plugin was asked for the configured apiVersion');
      assert.equal(run?.execInfo.spec?.interactive, false, 'and told it has no terminal');
      assert.equal(run?.execInfo.spec?.cluster?.server, new URL(plane.server).href, 'provideClusterInfo hands over the server');
      assert.equal(run?.execInfo.spec?.cluster?.['certificate-authority-data'], (await readFile(plane.caCert)).toString('base64'));
    });

    it('runs once for many concurrent requests while the credential is valid, and again after its expiry', async (t) => {
      const { path, runs } = await kubeconfig({ apiVersion, state: { mode: 'token', expiresInSeconds: 4 } });
      const client = await clientFor(path);
      t.after(() => client.close());
      const began = Date.now();
      await Promise.all(Array.from({ length: 20 }, () => client.get(configMaps, 'readable')));
      const firstRun = Date.now() - began;
      for (let i = 0; i < 10; i++) await client.list(configMaps, { namespace: ns, limit: 1 });
      const seen = await runs();
      assert.equal(seen.length, 1, '30 requests, 20 of them concurrent, shared one plugin run');
      const expiry = Date.parse(seen[0]?.expirationTimestamp ?? '');
      assert.ok(Date.now() < expiry, `the requests ran before the expiry (${firstRun} ms for the first batch, plugin included)`);
      t.diagnostic(`the first 20 concurrent requests took ${firstRun} ms, one plugin run (kubectl create token) included`);
      await until(() => Date.now() >= expiry, 10_000, 'the credential to expire');
      await client.get(configMaps, 'readable');
      assert.equal((await runs()).length, 2, 'an expired credential is fetched again');
    });

    it('runs again when the apiserver rejects the credential (401), once per request', async (t) => {
      const { path, runs, setState } = await kubeconfig({ apiVersion, state: { mode: 'invalid-first', expiresInSeconds: 600 } });
      const client = await clientFor(path);
      t.after(() => client.close());
      assert.deepEqual((await client.get(configMaps, 'readable')).data, { k: 'v' }, 'the 401 made the client run the plugin again and send again');
      assert.equal((await runs()).length, 2);
      await client.get(configMaps, 'readable');
      assert.equal((await runs()).length, 2, 'the accepted credential is kept');

      await setState({ mode: 'invalid-token', expiresInSeconds: 600 });
      const bad = await clientFor(path);
      t.after(() => bad.close());
      await assert.rejects(bad.get(configMaps, 'readable'), (e) => e instanceof ApiError && e.status === 401);
      assert.equal((await runs()).length, 4, 'a plugin whose fresh credential is rejected too is run once more, then the 401 is the answer');
    });
  });
}

describe('exec credential plugin, a token that stops being valid', () => {
  it('runs again when the object its token is bound to is deleted', async (t) => {
    const anchor = 'anchor';
    await admin.create(secrets, { metadata: { name: anchor, namespace: ns } });
    const { path, runs, setState } = await kubeconfig({ state: { mode: 'token', expiresInSeconds: 600, boundSecret: anchor } });
    const client = await clientFor(path);
    t.after(() => client.close());
    await client.get(configMaps, 'readable');
    const token = (await runs())[0]?.token ?? '';
    await setState({ mode: 'token', expiresInSeconds: 600 });
    await admin.delete(secrets, anchor, { namespace: ns });
    // The apiserver caches successful token authentications for some seconds; wait until it rejects this one.
    const waited = await until(async () => (await admin.create(tokenReviews, { metadata: {}, spec: { token } })).status?.authenticated !== true, 30_000, 'the bound token to be rejected', 250);
    t.diagnostic(`the token bound to the deleted Secret was rejected ${waited} ms after the deletion`);
    assert.deepEqual((await client.get(configMaps, 'readable')).data, { k: 'v' }, 'the 401 made the client fetch a new credential and send again');
    assert.equal((await runs()).length, 2);
  });
});

describe('exec credential plugin failures', () => {
  it('hands out client certificates, and the connection presents the new one after expiry', async (t) => {
    const ca = { cert: plane.caCert, key: plane.caKey };
    const certs = [
      await ensureCertificate(dir, ca, { file: 'exec-cert-a', commonName: 'kerris-exec-cert-a', usage: 'client' }),
      await ensureCertificate(dir, ca, { file: 'exec-cert-b', commonName: 'kerris-exec-cert-b', usage: 'client' }),
    ];
    const { path, runs } = await kubeconfig({ state: { mode: 'cert', expiresInSeconds: 3, certs } });
    const client = await clientFor(path);
    t.after(() => client.close());
    assert.equal(await whoAmI(client), 'kerris-exec-cert-a');
    assert.equal(await whoAmI(client), 'kerris-exec-cert-a', 'the same connection, the same certificate');
    const expiry = Date.parse((await runs())[0]?.expirationTimestamp ?? '');
    await until(() => Date.now() >= expiry, 10_000, 'the certificate credential to expire');
    assert.equal(await whoAmI(client), 'kerris-exec-cert-b', 'a new TLS connection with the new certificate');
    assert.equal((await runs()).length, 2);
  });

  it('names a plugin that exits non-zero, with its stderr', async (t) => {
    await writeFile(join(dir, 'failing.sh'), '#!/bin/sh\necho "token for profile dev expired: run aws sso login" >&2\nexit 3\n');
    await chmod(join(dir, 'failing.sh'), 0o755);
    const { path } = await kubeconfig({ exec: { apiVersion: 'client.authentication.k8s.io/v1', command: './failing.sh', args: ['--profile', 'dev'], interactiveMode: 'Never' } });
    const client = await clientFor(path);
    t.after(() => client.close());
    await assert.rejects(client.get(configMaps, 'readable'), (e) => {
      assert.ok(e instanceof CredentialPluginError, String(e));
      assert.equal(e.command, join(dir, 'failing.sh'));
      assert.match(e.message, /credential plugin .*failing\.sh \(user sa, .*kubeconfig-\d+\.yaml \(context x\)\): .*exited with 3: token for profile dev expired: run aws sso login/);
      assert.equal(e.stderr, 'token for profile dev expired: run aws sso login');
      return true;
    });
  });

  it('shows the installHint of a plugin that is not installed', async (t) => {
    const hint = 'kerris-test-login is not installed: apt install kerris-test-login';
    const { path } = await kubeconfig({ exec: { apiVersion: 'client.authentication.k8s.io/v1beta1', command: 'kerris-test-login-not-installed', installHint: hint } });
    const client = await clientFor(path);
    t.after(() => client.close());
    await assert.rejects(client.get(configMaps, 'readable'), (e) => e instanceof CredentialPluginError
      && e.message.includes('kerris-test-login-not-installed') && e.message.includes('not found on PATH') && e.message.endsWith(hint));
  });
});

/** A gateway on loopback that serves the apiserver under a path prefix, as Rancher does, and answers scripted errors first. */
async function startGateway(prefix: string) {
  const pair = await ensureCertificate(dir, { cert: plane.caCert, key: plane.caKey }, { file: 'gateway', commonName: 'kerris-test-gateway', ips: ['127.0.0.1'], usage: 'server' });
  const ca = await readFile(plane.caCert);
  const upstream = new URL(plane.server);
  const seen: string[] = [];
  const scripted: Array<{ status: number; retryAfter?: string }> = [];
  const server = createHttpsServer({ cert: await readFile(pair.cert), key: await readFile(pair.key) }, (req, res) => {
    seen.push(`${req.method} ${req.url}`);
    const answer = scripted.shift();
    if (answer) {
      res.writeHead(answer.status, { 'content-type': 'application/json', ...(answer.retryAfter ? { 'retry-after': answer.retryAfter } : {}) });
      res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code: answer.status, reason: answer.status === 429 ? 'TooManyRequests' : 'ServiceUnavailable', message: 'scripted by the test gateway' }));
      return;
    }
    if (!req.url?.startsWith(`${prefix}/`)) {
      res.writeHead(404).end(`not under ${prefix}`);
      return;
    }
    const forward = httpsRequest({
      host: upstream.hostname, port: upstream.port, method: req.method, path: req.url.slice(prefix.length), ca, agent: false,
      headers: { ...req.headers, host: upstream.host },
    }, (up: IncomingMessage) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    forward.on('error', () => res.destroy());
    res.on('close', () => forward.destroy());
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}${prefix}`,
    seen,
    scripted,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

describe('server URL with a path prefix, and retries', () => {
  const prefix = '/k8s/clusters/c-kerris';
  let gateway: Awaited<ReturnType<typeof startGateway>>;
  let client: KubeClient;

  before(async () => {
    gateway = await startGateway(prefix);
    client = await clientFor((await kubeconfig({ server: gateway.url })).path);
  });
  after(async () => {
    client.close();
    await gateway.close();
  });

  it('keeps the prefix before every API path, watches included', async () => {
    gateway.seen.length = 0;
    assert.deepEqual((await client.get(configMaps, 'readable')).data, { k: 'v' });
    const list = await client.list(configMaps, { namespace: ns });
    const events: string[] = [];
    for await (const event of client.watch(configMaps, { namespace: ns, resourceVersion: list.metadata.resourceVersion, timeoutSeconds: 1 })) events.push(event.type);
    assert.ok(gateway.seen.length >= 3 && gateway.seen.every((line) => line.split(' ')[1]?.startsWith(`${prefix}/api/v1/namespaces/${ns}/configmaps`)), gateway.seen.join('\n'));
  });

  it('waits out 429 with Retry-After, for reads and writes alike', async () => {
    gateway.seen.length = 0;
    gateway.scripted.push({ status: 429, retryAfter: '1' }, { status: 429, retryAfter: '1' });
    const began = Date.now();
    assert.deepEqual((await client.get(configMaps, 'readable')).data, { k: 'v' });
    const took = Date.now() - began;
    assert.equal(gateway.seen.length, 3, 'two 429s, then the answer');
    assert.ok(took >= 2_000 && took < 5_000, `waited the two Retry-After seconds (${took} ms)`);
    gateway.scripted.push({ status: 429, retryAfter: '1' });
    assert.equal(await whoAmI(client), `system:serviceaccount:${ns}:${SA}`, 'a POST turned away with 429 was not handled, so it is sent again');
  });

  it('retries 503 for a GET but not for a POST, and gives up on a Retry-After longer than it waits', async () => {
    gateway.seen.length = 0;
    gateway.scripted.push({ status: 503 });
    await client.get(configMaps, 'readable');
    assert.equal(gateway.seen.length, 2, 'GET: 503, then the answer');
    gateway.seen.length = 0;
    gateway.scripted.push({ status: 503 });
    await assert.rejects(whoAmI(client), (e) => e instanceof ApiError && e.status === 503);
    assert.equal(gateway.seen.length, 1, 'a POST that may have happened is not sent again');
    gateway.seen.length = 0;
    gateway.scripted.push({ status: 429, retryAfter: '120' });
    await assert.rejects(client.get(configMaps, 'readable'), (e) => e instanceof ApiError && e.status === 429);
    assert.equal(gateway.seen.length, 1);
  });

  it('stops waiting for a retry when the signal aborts', async () => {
    gateway.scripted.push({ status: 429, retryAfter: '20' });
    const began = Date.now();
    await assert.rejects(client.get(configMaps, 'readable', { signal: AbortSignal.timeout(300) }), (e) => e instanceof DOMException && e.name === 'TimeoutError');
    assert.ok(Date.now() - began < 3_000, `the abort ended the 20 s wait (${Date.now() - began} ms)`);
  });
});

/** An HTTP CONNECT proxy on loopback that tunnels to whatever it is asked for, and records each CONNECT. */
async function startProxy() {
  const connects: string[] = [];
  const sockets = new Set<Socket>();
  const server = createHttpServer((_req, res) => res.writeHead(405).end());
  server.on('connect', (req: IncomingMessage, clientSocket: Socket, head: Buffer) => {
    connects.push(req.url ?? '');
    const target = new URL(`http://${req.url ?? ''}`);
    const upstream = connect({ host: target.hostname.replace(/^\[|\]$/g, ''), port: Number(target.port) }, () => {
      clientSocket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(clientSocket);
      clientSocket.pipe(upstream);
    });
    for (const s of [clientSocket, upstream]) {
      sockets.add(s);
      s.on('error', () => { clientSocket.destroy(); upstream.destroy(); });
      s.on('close', () => { sockets.delete(s); clientSocket.destroy(); upstream.destroy(); });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    connects,
    close: () => new Promise<void>((resolve) => { for (const s of sockets) s.destroy(); server.close(() => resolve()); }),
  };
}

describe('proxy-url', () => {
  it('tunnels every connection through the http proxy with CONNECT, watches included', async (t) => {
    const proxy = await startProxy();
    t.after(() => proxy.close());
    const client = await clientFor((await kubeconfig({ proxyUrl: proxy.url })).path);
    t.after(() => client.close());
    assert.equal(await whoAmI(client), `system:serviceaccount:${ns}:${SA}`);
    // Concurrent requests open several connections: each one must go through the proxy.
    await Promise.all(Array.from({ length: 6 }, () => client.get(configMaps, 'readable')));
    const list = await client.list(configMaps, { namespace: ns });
    for await (const event of client.watch(configMaps, { namespace: ns, resourceVersion: list.metadata.resourceVersion, timeoutSeconds: 1 })) assert.ok(event);
    const target = new URL(plane.server).host;
    assert.ok(proxy.connects.length >= 2 && proxy.connects.every((c) => c === target), `CONNECTs: ${proxy.connects.join(', ')}`);
    t.diagnostic(`${proxy.connects.length} CONNECT(s) to ${target} for 8 requests (6 of them concurrent) and a watch`);
  });

  it('says so when the proxy refuses the tunnel', async (t) => {
    const refusing = createHttpServer();
    refusing.on('connect', (_req: IncomingMessage, socket: Socket) => socket.end('HTTP/1.1 407 Proxy Authentication Required\r\n\r\n'));
    await new Promise<void>((resolve) => refusing.listen(0, '127.0.0.1', resolve));
    t.after(() => new Promise<void>((resolve) => refusing.close(() => resolve())));
    const port = (refusing.address() as AddressInfo).port;
    const client = await clientFor((await kubeconfig({ proxyUrl: `http://127.0.0.1:${port}` })).path);
    t.after(() => client.close());
    await assert.rejects(client.get(configMaps, 'readable'), (e) => e instanceof Error && e.message.includes(`proxy 127.0.0.1:${port} refused a tunnel to ${new URL(plane.server).host}: 407`));
  });
});
