/**
 * The StatusCheck CRD against a real kube-apiserver: Chaos Mesh's documented StatusCheck examples are accepted with
 * only apiVersion changed, kerris's own checks too, and bad specs are rejected with the messages docs/api.md shows.
 * Creations are server-side dry runs (full validation, CEL included, nothing stored), except the one that shows the
 * spec cannot change; its URL is a closed loopback port, should a deployed kerris run it.
 *
 * Sources of the Chaos Mesh examples: chaos-mesh/chaos-mesh examples/statuscheck-example.yaml, and the `statusCheck`
 * specs of chaos-mesh/website docs/status-check-in-workflow.md ("Status Check in Workflow", chaos-mesh.org), which
 * a Workflow's StatusCheck template embeds and a StatusCheck object holds as its spec.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse, stringify } from 'yaml';
import { repoRoot } from '../../src/api/generate.ts';
import { statusCheckResource } from '../../src/api/generated/types.ts';
import { controlPlane, type ControlPlane } from '../testbed/index.ts';
import { kubectl } from '../testbed/kubectl.ts';
import { until } from '../testbed/kube-fixtures.ts';

const namespace = `statuscheck-schema-${randomBytes(3).toString('hex')}`;
const resource = `${statusCheckResource.plural}.${statusCheckResource.group}`;
let plane: ControlPlane;
let crdExistedBefore = false;

/** Chaos Mesh's own manifests, as published, before their apiVersion is changed. */
const chaosMeshExamples: Record<string, string> = {
  'examples/statuscheck-example.yaml': `
apiVersion: chaos-mesh.org/v1alpha1
kind: StatusCheck
metadata:
  name: status-check-example
spec:
  type: HTTP
  http:
    url: http://123.123.123.123
    method: GET
    criteria:
      statusCode: "200"
`,
  'docs: Define a HTTP StatusCheck node': `
mode: Continuous
type: HTTP
intervalSeconds: 1
timeoutSeconds: 1
http:
  url: http://123.123.123.123
  method: GET
  criteria:
    statusCode: "200"
`,
  'docs: Status Check Result': `
mode: Continuous
type: HTTP
successThreshold: 1
failureThreshold: 3
http:
  url: http://123.123.123.123
  method: GET
  criteria:
    statusCode: "200"
`,
  'docs: abort the workflow': `
mode: Continuous
type: HTTP
http:
  url: http://123.123.123.123
  method: GET
  criteria:
    statusCode: "200"
`,
  'docs: Continuous Status Check': `
mode: Continuous
type: HTTP
intervalSeconds: 1
successThreshold: 1
failureThreshold: 3
http:
  url: http://123.123.123.123
  method: GET
  criteria:
    statusCode: "200"
`,
  'docs: One shot Status Check': `
mode: Synchronous
type: HTTP
intervalSeconds: 1
successThreshold: 1
failureThreshold: 3
http:
  url: http://123.123.123.123
  method: GET
  criteria:
    statusCode: "200"
`,
  'docs: field description (duration, recordsHistoryLimit, headers, body, a range)': `
mode: Synchronous
type: HTTP
duration: 100s
timeoutSeconds: 1
intervalSeconds: 1
failureThreshold: 3
successThreshold: 1
recordsHistoryLimit: 100
http:
  url: http://123.123.123.123
  method: POST
  headers:
    Content-Type: [application/json]
  body: '{"a":"b"}'
  criteria:
    statusCode: "200-400"
`,
};

/** A whole manifest, or a spec alone, as a kerris StatusCheck named `name`. */
function ported(name: string, source: string): Record<string, unknown> {
  const doc = parse(source) as Record<string, unknown>;
  const spec = 'spec' in doc ? doc['spec'] : doc;
  return { apiVersion: statusCheckResource.apiVersion, kind: statusCheckResource.kind, metadata: { name, namespace }, spec };
}

async function dryRun(name: string, spec: Record<string, unknown>): Promise<{ code: number; output: string }> {
  const manifest = stringify({ apiVersion: statusCheckResource.apiVersion, kind: statusCheckResource.kind, metadata: { name, namespace }, spec });
  const result = await kubectl(plane, ['create', '--dry-run=server', '-f', '-'], { input: manifest, allowFailure: true });
  return { code: result.code, output: `${result.stdout}${result.stderr}` };
}

async function accepted(name: string, spec: Record<string, unknown>): Promise<void> {
  const { code, output } = await dryRun(name, spec);
  assert.equal(code, 0, `the apiserver refused ${JSON.stringify(spec)}:\n${output}`);
}

async function rejected(name: string, spec: Record<string, unknown>, ...expected: string[]): Promise<void> {
  const { code, output } = await dryRun(name, spec);
  assert.notEqual(code, 0, `the apiserver accepted ${JSON.stringify(spec)}`);
  for (const text of expected) assert.ok(output.includes(text), `expected "${text}" in:\n${output}`);
}

const http = (url: string, statusCode = '200') => ({ url, criteria: { statusCode } });
const local = http('http://127.0.0.1:1/healthz');

describe('StatusCheck validation by the apiserver', { timeout: 180_000 }, () => {
  before(async () => {
    plane = await controlPlane();
    crdExistedBefore = (await kubectl(plane, ['get', 'crd', statusCheckResource.crdName], { allowFailure: true })).code === 0;
    await kubectl(plane, ['apply', '--server-side', '--force-conflicts', '--field-manager=kerris-api-test', '-f', join(repoRoot, 'deploy', 'crds', `${statusCheckResource.group}_${statusCheckResource.plural}.yaml`)]);
    await until(async () => (await kubectl(plane, ['get', 'crd', statusCheckResource.crdName, '-o', 'jsonpath={.status.conditions[?(@.type=="Established")].status}'], { allowFailure: true })).stdout.trim() === 'True', 60_000, `${statusCheckResource.crdName} established`, 200);
    await kubectl(plane, ['create', 'namespace', namespace]);
  });

  after(async () => {
    if (!plane) return;
    await kubectl(plane, ['delete', 'namespace', namespace, '--ignore-not-found', '--wait=true', '--timeout=120s']);
    if (!crdExistedBefore) await kubectl(plane, ['delete', 'crd', statusCheckResource.crdName, '--ignore-not-found', '--wait=true', '--timeout=60s']);
    assert.notEqual((await kubectl(plane, ['get', 'namespace', namespace], { allowFailure: true })).code, 0, `namespace ${namespace} is left behind`);
  });

  it('accepts Chaos Mesh\'s documented examples with only apiVersion changed', async () => {
    for (const [source, text] of Object.entries(chaosMeshExamples)) {
      const object = ported('cm-example', text);
      const result = await kubectl(plane, ['create', '--dry-run=server', '-f', '-'], { input: stringify(object), allowFailure: true });
      assert.equal(result.code, 0, `${source} was refused:\n${result.stdout}${result.stderr}`);
    }
  });

  it('accepts the kerris checks: prometheus, a workload, a condition', async () => {
    await accepted('prom', { type: 'Prometheus', prometheus: { url: 'http://prometheus.monitoring.svc:9090', query: 'probe_success{job="shop"}', comparison: { operator: '>=', value: '0.99' } } });
    await accepted('workload', { type: 'Kubernetes', mode: 'Continuous', kubernetes: { workload: { kind: 'Deployment', name: 'web', namespace: 'shop', minAvailable: 2 } } });
    await accepted('condition', { type: 'Kubernetes', kubernetes: { condition: { apiVersion: 'v1', kind: 'Node', name: 'kerris-node', type: 'Ready', status: 'True' } } });
    await accepted('https', { http: { ...http('https://web.shop.svc:8443/ready', '300-399'), headers: { "X-Api-Key's": ['a', 'b'] } } });
  });

  it('needs exactly one check, and the type that names it', async () => {
    await rejected('none', { mode: 'Synchronous' }, 'give exactly one of http, prometheus and kubernetes');
    await rejected('two', { http: local, kubernetes: { workload: { kind: 'Deployment', name: 'web', minAvailable: 1 } } }, 'give exactly one of http, prometheus and kubernetes');
    await rejected('mismatch', { type: 'Prometheus', http: local }, 'type Prometheus needs its own field: HTTP needs http, Prometheus needs prometheus, Kubernetes needs kubernetes');
    await rejected('default-type', { kubernetes: { workload: { kind: 'Deployment', name: 'web', minAvailable: 1 } } }, 'type HTTP (the default) needs its own field');
    await rejected('k8s-both', {
      type: 'Kubernetes',
      kubernetes: { workload: { kind: 'Deployment', name: 'web', minAvailable: 1 }, condition: { apiVersion: 'v1', kind: 'Node', name: 'node-1', type: 'Ready', status: 'True' } },
    }, 'give exactly one of workload and condition');
  });

  it('takes only absolute http(s) URLs and well-formed criteria and headers', async () => {
    await rejected('ftp', { http: http('ftp://files.example/x') }, 'must be an absolute http:// or https:// URL with a host, such as "http://web.shop.svc:8080/healthz", got "ftp://files.example/x"');
    await rejected('relative', { http: http('/healthz') }, 'must be an absolute http:// or https:// URL with a host');
    await rejected('prom-url', { type: 'Prometheus', prometheus: { url: 'file:///etc/passwd', query: 'up', comparison: { operator: '==', value: '1' } } }, 'must be an absolute http:// or https:// URL with a host');
    await rejected('code-syntax', { http: http('http://web/', '2xx') }, 'must be a status code such as "200" or an inclusive range such as "200-399", got "2xx"');
    await rejected('code-zero', { http: http('http://web/', '0') }, 'status codes run from 1 to 999, got "0"');
    await rejected('code-reversed', { http: http('http://web/', '400-200') }, 'a range goes from the lower code to the higher, e.g. "200-399", got "400-200"');
    await rejected('header', { http: { ...local, headers: { 'Bad Header': ['x'] } } }, 'header names must be HTTP tokens');
    await rejected('method', { http: { ...local, method: 'PUT' } }, 'Unsupported value: "PUT"');
  });

  it('checks the comparison and the bounds', async () => {
    const prom = (comparison: Record<string, unknown>) => ({ type: 'Prometheus', prometheus: { url: 'http://prom:9090', query: 'up', comparison } });
    await rejected('value', prom({ operator: '>', value: 'high' }), 'must be a decimal number such as "1", "0.99" or "2.5e-3", got "high"');
    await rejected('operator', prom({ operator: '=~', value: '1' }), 'Unsupported value: "=~"');
    await rejected('duration', { http: local, duration: '-5s' }, 'cannot be negative, got "-5s"');
    await rejected('history', { http: local, recordsHistoryLimit: 1001 }, 'should be less than or equal to 1000');
    await rejected('interval', { http: local, intervalSeconds: 0 }, 'should be greater than or equal to 1');
    await rejected('min-available', { type: 'Kubernetes', kubernetes: { workload: { kind: 'Deployment', name: 'web', minAvailable: 0 } } }, 'should be greater than or equal to 1');
    await rejected('kind', { type: 'Kubernetes', kubernetes: { workload: { kind: 'ReplicaSet', name: 'web', minAvailable: 1 } } }, 'Unsupported value: "ReplicaSet"');
  });

  it('refuses a change to the spec once created, naming the field', async () => {
    const manifest = stringify(ported('fixed', stringify({ mode: 'Continuous', intervalSeconds: 60, http: local })));
    await kubectl(plane, ['create', '-f', '-'], { input: manifest });
    const change = await kubectl(plane, ['patch', '-n', namespace, resource, 'fixed', '--type=merge', '-p', JSON.stringify({ spec: { intervalSeconds: 30 } })], { allowFailure: true });
    assert.notEqual(change.code, 0);
    assert.match(`${change.stdout}${change.stderr}`, /spec\.intervalSeconds cannot change while the experiment exists; delete and recreate it/);
  });
});
