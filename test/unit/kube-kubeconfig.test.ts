import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { KubeConfigError } from '../../src/kube/errors.ts';
import { ExecCredentialSource, type ExecPlugin } from '../../src/kube/exec-credential.ts';
import { loadClusterConfig, loadInCluster, loadKubeconfigFiles, type ClusterConfig } from '../../src/kube/kubeconfig.ts';

let dir = '';
before(async () => { dir = await mkdtemp(join(tmpdir(), 'kerris-kubeconfig-')); });
after(async () => { await rm(dir, { recursive: true, force: true }); });

const authorization = async (config: ClusterConfig): Promise<string | undefined> => (await config.credentials.current()).authorization;

const write = async (name: string, content: unknown): Promise<string> => {
  const path = join(dir, name);
  await writeFile(path, typeof content === 'string' ? content : stringify(content));
  return path;
};

describe('kubeconfig', () => {
  it('reads files relative to the kubeconfig, the context namespace and a static token', async () => {
    await mkdir(join(dir, 'pki'), { recursive: true });
    await write('pki/ca.crt', 'CA');
    const path = await write('a.yaml', {
      clusters: [{ name: 'c', cluster: { server: 'https://127.0.0.1:6443', 'certificate-authority': 'pki/ca.crt' } }],
      users: [{ name: 'u', user: { token: 'secret' } }],
      contexts: [{ name: 'ctx', context: { cluster: 'c', user: 'u', namespace: 'chaos' } }],
      'current-context': 'ctx',
    });
    const config = await loadKubeconfigFiles([path]);
    assert.equal(config.server.href, 'https://127.0.0.1:6443/');
    assert.equal(config.ca?.toString(), 'CA');
    assert.equal(config.namespace, 'chaos');
    assert.equal(await authorization(config), 'Bearer secret');
  });

  it('decodes -data fields and merges $KUBECONFIG files, first definition winning', async () => {
    const first = await write('first.yaml', {
      clusters: [{ name: 'c', cluster: { server: 'https://10.0.0.1', 'certificate-authority-data': Buffer.from('CA1').toString('base64') } }],
      'current-context': 'ctx',
    });
    const second = await write('second.yaml', {
      clusters: [{ name: 'c', cluster: { server: 'https://10.0.0.2' } }],
      users: [{ name: 'u', user: { 'client-certificate-data': Buffer.from('CERT').toString('base64'), 'client-key-data': Buffer.from('KEY').toString('base64') } }],
      contexts: [{ name: 'ctx', context: { cluster: 'c', user: 'u' } }],
      'current-context': 'other',
    });
    const config = await loadClusterConfig({ env: { KUBECONFIG: `${first}:${join(dir, 'missing.yaml')}:${second}` } });
    assert.equal(config.server.host, '10.0.0.1');
    assert.equal(config.ca?.toString(), 'CA1');
    const { clientCertificate } = await config.credentials.current();
    assert.equal(clientCertificate?.cert.toString(), 'CERT');
    assert.equal(clientCertificate?.key.toString(), 'KEY');
    assert.equal(config.namespace, 'default');
    assert.equal(await authorization(config), undefined);
  });

  it('re-reads a token file on every request', async () => {
    const token = await write('token', 'one\n');
    const path = await write('tf.yaml', {
      clusters: [{ name: 'c', cluster: { server: 'https://h' } }],
      users: [{ name: 'u', user: { tokenFile: token } }],
      contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
    });
    const config = await loadKubeconfigFiles([path], 'x');
    assert.equal(await authorization(config), 'Bearer one');
    await writeFile(token, 'two');
    assert.equal(await authorization(config), 'Bearer two');
  });

  it('uses the service account in a pod, and picks up a rotated token', async () => {
    const sa = join(dir, 'sa');
    await mkdir(sa, { recursive: true });
    await writeFile(join(sa, 'ca.crt'), 'CA');
    await writeFile(join(sa, 'namespace'), 'kerris');
    await writeFile(join(sa, 'token'), 'first');
    const home = join(dir, 'empty-home');
    const config = await loadClusterConfig({ env: { KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443' }, home, serviceAccountDir: sa });
    assert.equal(config.server.href, 'https://[fd00::1]/');
    assert.equal(config.namespace, 'kerris');
    assert.equal(await authorization(config), 'Bearer first');
    await writeFile(join(sa, 'token'), 'rotated');
    assert.equal(await authorization(config), 'Bearer rotated');
    await assert.rejects(loadInCluster({}, sa), KubeConfigError);
  });

  it('says what is wrong with a bad kubeconfig', async () => {
    const noContext = await write('nc.yaml', { clusters: [{ name: 'c', cluster: { server: 'https://h' } }] });
    await assert.rejects(loadKubeconfigFiles([noContext]), /no current-context/);
    const http = await write('http.yaml', { clusters: [{ name: 'c', cluster: { server: 'http://h' } }], contexts: [{ name: 'x', context: { cluster: 'c' } }] });
    await assert.rejects(loadKubeconfigFiles([http], 'x'), /not https/);
    const halfCert = await write('half.yaml', {
      clusters: [{ name: 'c', cluster: { server: 'https://h' } }],
      users: [{ name: 'u', user: { 'client-certificate-data': 'QQ==' } }],
      contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
    });
    await assert.rejects(loadKubeconfigFiles([halfCert], 'x'), /without its key/);
    await assert.rejects(loadKubeconfigFiles([await write('bad.yaml', 'clusters: [')]), /not YAML/);
    await assert.rejects(loadClusterConfig({ env: {}, home: join(dir, 'nowhere') }), /no cluster found/);
  });

  /** A kubeconfig with one cluster, one user and context x. */
  const single = (name: string, user: object, cluster: object = { server: 'https://h:6443' }): Promise<string> => write(name, {
    clusters: [{ name: 'c', cluster }],
    users: [{ name: 'u', user }],
    contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
    'current-context': 'x',
  });

  const pluginOf = async (path: string): Promise<ExecPlugin> => {
    const { credentials } = await loadKubeconfigFiles([path]);
    assert.ok(credentials instanceof ExecCredentialSource, 'an exec user gets the exec credential source');
    return credentials.plugin;
  };

  it('refuses auth-provider, naming the exec plugin that replaces it', async () => {
    const cases: Array<[string, RegExp]> = [
      ['gcp', /auth-provider gcp, which Kubernetes removed from its clients in 1\.26.*use an exec credential plugin instead: gke-gcloud-auth-plugin/],
      ['azure', /auth-provider azure.*kubelogin \(https:\/\/azure\.github\.io\/kubelogin/],
      ['oidc', /auth-provider oidc.*an OIDC exec plugin such as kubelogin \(`kubectl oidc-login`/],
      ['openstack', /auth-provider openstack.*the exec credential plugin your provider ships/],
    ];
    for (const [name, message] of cases) {
      const path = await single(`ap-${name}.yaml`, { 'auth-provider': { name, config: { 'access-token': 'x' } } });
      await assert.rejects(loadKubeconfigFiles([path]), (e) => e instanceof KubeConfigError && message.test(e.message), name);
    }
  });

  it('refuses basic authentication, removed from the apiserver in 1.19', async () => {
    const path = await single('basic.yaml', { username: 'admin', password: 'secret' });
    await assert.rejects(loadKubeconfigFiles([path]), (e) => e instanceof KubeConfigError
      && e.message.includes('user u uses basic authentication (username/password), which kube-apiserver removed in Kubernetes 1.19; use a token, a client certificate or an exec credential plugin'));
  });

  it('reads an exec plugin: args, env, install hint, a relative command from the kubeconfig folder, a bare one from PATH', async () => {
    const relative = await pluginOf(await single('exec-rel.yaml', {
      exec: {
        apiVersion: 'client.authentication.k8s.io/v1', command: './bin/get-token', args: ['--cluster', 'c1'],
        env: [{ name: 'AWS_PROFILE', value: 'dev' }], installHint: 'install get-token', interactiveMode: 'Never',
      },
    }));
    assert.equal(relative.command, join(dir, 'bin/get-token'));
    assert.deepEqual(relative.args, ['--cluster', 'c1']);
    assert.deepEqual(relative.env, [{ name: 'AWS_PROFILE', value: 'dev' }]);
    assert.equal(relative.installHint, 'install get-token');
    assert.equal(relative.apiVersion, 'client.authentication.k8s.io/v1');
    assert.equal(relative.cluster, undefined, 'no cluster info unless provideClusterInfo');
    const bare = await pluginOf(await single('exec-bare.yaml', { exec: { apiVersion: 'client.authentication.k8s.io/v1beta1', command: 'aws' } }));
    assert.equal(bare.command, 'aws');
    assert.equal((await pluginOf(await single('exec-abs.yaml', { exec: { apiVersion: 'client.authentication.k8s.io/v1beta1', command: '/opt/x/plugin' } }))).command, '/opt/x/plugin');
  });

  it('hands the cluster to a plugin that asks for it (provideClusterInfo)', async () => {
    const plugin = await pluginOf(await single('exec-info.yaml', {
      exec: { apiVersion: 'client.authentication.k8s.io/v1', command: 'p', interactiveMode: 'IfAvailable', provideClusterInfo: true },
    }, {
      server: 'https://h:6443/prefix', 'certificate-authority-data': Buffer.from('CA').toString('base64'), 'tls-server-name': 'api.internal',
      'proxy-url': 'http://proxy:3128', extensions: [{ name: 'client.authentication.k8s.io/exec', extension: { audience: 'a' } }],
    }));
    assert.deepEqual(plugin.cluster, {
      server: 'https://h:6443/prefix', 'tls-server-name': 'api.internal', 'certificate-authority-data': Buffer.from('CA').toString('base64'),
      'proxy-url': 'http://proxy:3128', config: { audience: 'a' },
    });
  });

  it('refuses exec configurations it cannot run', async () => {
    const always = await single('exec-always.yaml', { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: 'p', interactiveMode: 'Always' } });
    await assert.rejects(loadKubeconfigFiles([always]), /interactiveMode is Always, but kerris never gives a credential plugin a terminal/);
    const alpha = await single('exec-alpha.yaml', { exec: { apiVersion: 'client.authentication.k8s.io/v1alpha1', command: 'p' } });
    await assert.rejects(loadKubeconfigFiles([alpha]), /v1alpha1 is not supported; use client\.authentication\.k8s\.io\/v1 or client\.authentication\.k8s\.io\/v1beta1/);
    const both = await single('exec-token.yaml', { token: 't', exec: { apiVersion: 'client.authentication.k8s.io/v1', command: 'p' } });
    await assert.rejects(loadKubeconfigFiles([both]), /both exec and token: keep one way to authenticate/);
    const noCommand = await single('exec-nocmd.yaml', { exec: { apiVersion: 'client.authentication.k8s.io/v1' } });
    await assert.rejects(loadKubeconfigFiles([noCommand]), /exec\.command is missing/);
  });

  it('keeps a server path prefix and reads an http proxy; other proxy schemes are refused', async () => {
    const prefixed = await loadKubeconfigFiles([await single('prefix.yaml', { token: 't' }, { server: 'https://rancher.example/k8s/clusters/c-abc', 'proxy-url': 'http://user:pw@127.0.0.1:3128' })]);
    assert.equal(prefixed.server.pathname, '/k8s/clusters/c-abc');
    assert.equal(prefixed.proxyUrl?.host, '127.0.0.1:3128');
    const socks = await single('socks.yaml', { token: 't' }, { server: 'https://h', 'proxy-url': 'socks5://127.0.0.1:1080' });
    await assert.rejects(loadKubeconfigFiles([socks]), /proxy-url socks5:\/\/ proxies are not supported by kerris \(only http:\/\/ proxies, which tunnel with CONNECT\)/);
  });
});
