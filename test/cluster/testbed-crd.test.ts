import assert from 'node:assert/strict';
import { request } from 'node:https';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { controlPlane, type ControlPlane } from '../testbed/index.ts';
import { kubectl, kubectlJson } from '../testbed/kubectl.ts';

const GROUP = 'testbed.kerris.dev';
const crd = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: `widgets.${GROUP}` },
  spec: {
    group: GROUP,
    scope: 'Namespaced',
    names: { plural: 'widgets', singular: 'widget', kind: 'Widget', listKind: 'WidgetList' },
    versions: [{
      name: 'v1',
      served: true,
      storage: true,
      subresources: { status: {} },
      schema: {
        openAPIV3Schema: {
          type: 'object',
          properties: {
            spec: {
              type: 'object',
              required: ['size'],
              properties: { size: { type: 'integer', minimum: 1, maximum: 10 }, colour: { type: 'string', enum: ['red', 'blue'] } },
            },
            status: { type: 'object', properties: { phase: { type: 'string' } } },
          },
        },
      },
    }],
  },
};

interface WatchEvent {
  type: string;
  object: { metadata: { name: string }; status?: { phase?: string } };
}

/** Opens a watch on widgets and resolves with the first event that matches. */
async function watchFor(plane: ControlPlane, resourceVersion: string, matches: (e: WatchEvent) => boolean): Promise<WatchEvent> {
  const [ca, cert, key] = await Promise.all([plane.caCert, join(plane.stateDir, 'pki', 'admin.crt'), join(plane.stateDir, 'pki', 'admin.key')].map((p) => readFile(p)));
  const url = `${plane.server}/apis/${GROUP}/v1/namespaces/default/widgets?watch=1&resourceVersion=${resourceVersion}&timeoutSeconds=20`;
  return new Promise((resolve, reject) => {
    const req = request(url, { ca, cert, key }, (res) => {
      let buffered = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffered += chunk;
        for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
          const event = JSON.parse(buffered.slice(0, nl)) as WatchEvent;
          buffered = buffered.slice(nl + 1);
          if (matches(event)) {
            resolve(event);
            req.destroy();
          }
        }
      });
      res.on('end', () => reject(new Error('watch ended without the expected event')));
    });
    req.on('error', (error) => { if (!req.destroyed) reject(error); });
    req.end();
  });
}

describe('test bed control plane', () => {
  let plane: ControlPlane;

  before(async () => {
    plane = await controlPlane();
    await kubectl(plane, ['apply', '-f', '-'], { input: stringify(crd) });
    await kubectl(plane, ['wait', '--for=condition=Established', `crd/widgets.${GROUP}`, '--timeout=30s']);
  });

  after(async () => {
    await kubectl(plane, ['delete', 'crd', `widgets.${GROUP}`, '--wait=true']);
  });

  it('serves the version it was built as', async () => {
    const version = await kubectlJson<{ serverVersion: { gitVersion: string } }>(plane, ['version']);
    assert.equal(version.serverVersion.gitVersion, 'v1.34.4');
  });

  it('rejects an object that breaks the structural schema, with the apiserver message', async () => {
    const bad = { apiVersion: `${GROUP}/v1`, kind: 'Widget', metadata: { name: 'too-big', namespace: 'default' }, spec: { size: 11, colour: 'green' } };
    const result = await kubectl(plane, ['create', '-f', '-'], { input: stringify(bad), allowFailure: true });
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /spec\.size: Invalid value: 11: spec\.size in body should be less than or equal to 10/);
    assert.match(result.stderr, /spec\.colour: Unsupported value: "green": supported values: "red", "blue"/);
    const list = await kubectlJson<{ items: unknown[] }>(plane, ['get', 'widgets', '-n', 'default']);
    assert.equal(list.items.length, 0, 'a rejected object must not be stored');
  });

  it('patches /status and a watch sees the change', async () => {
    const good = { apiVersion: `${GROUP}/v1`, kind: 'Widget', metadata: { name: 'w1', namespace: 'default' }, spec: { size: 3 } };
    await kubectl(plane, ['create', '-f', '-'], { input: stringify(good) });
    const created = await kubectlJson<{ metadata: { resourceVersion: string } }>(plane, ['get', 'widget', 'w1', '-n', 'default']);
    const seen = watchFor(plane, created.metadata.resourceVersion, (e) => e.type === 'MODIFIED' && e.object.status?.phase === 'Running');
    await kubectl(plane, ['patch', 'widget', 'w1', '-n', 'default', '--subresource=status', '--type=merge', '-p', '{"status":{"phase":"Running"}}']);
    const event = await seen;
    assert.equal(event.object.metadata.name, 'w1');
    // A status write through the main resource is ignored: status belongs to the subresource.
    await kubectl(plane, ['patch', 'widget', 'w1', '-n', 'default', '--type=merge', '-p', '{"status":{"phase":"Ignored"}}']);
    const after = await kubectlJson<{ status: { phase: string } }>(plane, ['get', 'widget', 'w1', '-n', 'default']);
    assert.equal(after.status.phase, 'Running');
  });
});
