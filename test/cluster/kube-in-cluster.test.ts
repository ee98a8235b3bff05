/**
 * In-cluster configuration against a real kube-apiserver: a service-account
 * token from the TokenRequest API, laid out as the kubelet mounts it, and
 * rotated under a running client.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { KubeClient } from '../../src/kube/client.ts';
import { ApiError, isNotFound } from '../../src/kube/errors.ts';
import { loadInCluster } from '../../src/kube/kubeconfig.ts';
import { defineResource } from '../../src/kube/resource.ts';
import { configMaps, namespaces } from '../../src/kube/resources.ts';
import type { KubeObject } from '../../src/kube/types.ts';
import { controlPlane, type ControlPlane } from '../testbed/index.ts';

interface TokenRequest extends KubeObject {
  spec: { audiences?: string[]; expirationSeconds?: number };
  status?: { token: string; expirationTimestamp: string };
}

const serviceAccounts = defineResource<KubeObject>({ group: '', version: 'v1', plural: 'serviceaccounts', kind: 'ServiceAccount', namespaced: true });
const roles = defineResource<KubeObject & { rules: object[] }>({ group: 'rbac.authorization.k8s.io', version: 'v1', plural: 'roles', kind: 'Role', namespaced: true });
const roleBindings = defineResource<KubeObject & { roleRef: object; subjects: object[] }>({ group: 'rbac.authorization.k8s.io', version: 'v1', plural: 'rolebindings', kind: 'RoleBinding', namespaced: true });

const ns = `kerris-incluster-${randomBytes(3).toString('hex')}`;
let plane: ControlPlane;
let admin: KubeClient;
let dir = '';

before(async () => {
  plane = await controlPlane();
  admin = await KubeClient.fromEnvironment({ env: { KUBECONFIG: plane.kubeconfig } });
  dir = await mkdtemp(join(tmpdir(), 'kerris-sa-'));
  await admin.create(namespaces, { metadata: { name: ns } });
  await admin.create(serviceAccounts, { metadata: { name: 'reader', namespace: ns } });
  await admin.create(roles, { metadata: { name: 'read-configmaps', namespace: ns }, rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list'] }] });
  await admin.create(roleBindings, {
    metadata: { name: 'reader', namespace: ns },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'read-configmaps' },
    subjects: [{ kind: 'ServiceAccount', name: 'reader', namespace: ns }],
  });
  await admin.create(configMaps, { metadata: { name: 'readable', namespace: ns }, data: { k: 'v' } });
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
  await admin.delete(namespaces, ns);
  const deadline = Date.now() + 60_000;
  while (await admin.get(namespaces, ns).then(() => true, (e: unknown) => { if (isNotFound(e)) return false; throw e; })) {
    assert.ok(Date.now() < deadline, `namespace ${ns} still exists a minute after deletion`);
    await sleep(250);
  }
  admin.close();
});

async function issueToken(): Promise<string> {
  const tokenPath = `/api/v1/namespaces/${ns}/serviceaccounts/reader/token`;
  const res = await admin.transport.request({ method: 'POST', path: tokenPath, body: JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 600 } }) });
  const token = (JSON.parse(res.body) as TokenRequest).status?.token;
  assert.ok(token, 'the TokenRequest API issued a token');
  return token;
}

describe('in-cluster configuration', () => {
  it('authenticates with the mounted token, reads the namespace file, and follows token rotation', async () => {
    await copyFile(plane.caCert, join(dir, 'ca.crt'));
    await writeFile(join(dir, 'namespace'), ns);
    await writeFile(join(dir, 'token'), await issueToken());
    const server = new URL(plane.server);
    const config = await loadInCluster({ KUBERNETES_SERVICE_HOST: server.hostname, KUBERNETES_SERVICE_PORT: server.port }, dir);
    const client = new KubeClient(config);
    try {
      assert.equal(client.defaultNamespace, ns);
      assert.deepEqual((await client.get(configMaps, 'readable')).data, { k: 'v' }, 'the service account reads what its Role allows');
      await assert.rejects(client.get(namespaces, ns), (e) => e instanceof ApiError && e.status === 403, 'and is refused the rest, as itself');

      await writeFile(join(dir, 'token'), 'not-a-valid-token');
      await assert.rejects(client.get(configMaps, 'readable'), (e) => e instanceof ApiError && e.reason === 'Unauthorized', 'the next request sends the file as it is now');

      await writeFile(join(dir, 'token'), await issueToken());
      assert.deepEqual((await client.get(configMaps, 'readable')).data, { k: 'v' }, 'a rotated token is picked up without a restart');
    } finally {
      client.close();
    }
  });
});
