import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { KubeConfigError } from '../../src/kube/errors.ts';
import { loadClusterConfig, loadInCluster, loadKubeconfigFiles } from '../../src/kube/kubeconfig.ts';

let dir = '';
before(async () => { dir = await mkdtemp(join(tmpdir(), 'kerris-kubeconfig-')); });
after(async () => { await rm(dir, { recursive: true, force: true }); });

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
    assert.equal(await config.authorization(), 'Bearer secret');
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
    assert.equal(config.clientCert?.toString(), 'CERT');
    assert.equal(config.clientKey?.toString(), 'KEY');
    assert.equal(config.namespace, 'default');
    assert.equal(await config.authorization(), undefined);
  });

  it('re-reads a token file on every request', async () => {
    const token = await write('token', 'one\n');
    const path = await write('tf.yaml', {
      clusters: [{ name: 'c', cluster: { server: 'https://h' } }],
      users: [{ name: 'u', user: { tokenFile: token } }],
      contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
    });
    const config = await loadKubeconfigFiles([path], 'x');
    assert.equal(await config.authorization(), 'Bearer one');
    await writeFile(token, 'two');
    assert.equal(await config.authorization(), 'Bearer two');
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
    assert.equal(await config.authorization(), 'Bearer first');
    await writeFile(join(sa, 'token'), 'rotated');
    assert.equal(await config.authorization(), 'Bearer rotated');
    await assert.rejects(loadInCluster({}, sa), KubeConfigError);
  });

  it('says what is wrong with a bad kubeconfig', async () => {
    const noContext = await write('nc.yaml', { clusters: [{ name: 'c', cluster: { server: 'https://h' } }] });
    await assert.rejects(loadKubeconfigFiles([noContext]), /no current-context/);
    const exec = await write('exec.yaml', {
      clusters: [{ name: 'c', cluster: { server: 'https://h' } }],
      users: [{ name: 'u', user: { exec: { command: 'aws' } } }],
      contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
    });
    await assert.rejects(loadKubeconfigFiles([exec], 'x'), /exec, which kerris does not support/);
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
});
