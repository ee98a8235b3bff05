/**
 * What the CRD schema tests share: creating an object of one kind with a server-side dry run (as a user, when asked),
 * judging the apiserver's answer, and installing the CRDs (and the requester-access policy) as users do.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { repoRoot } from '../../src/api/generate.ts';
import type { ControlPlane } from '../testbed/index.ts';
import { until } from '../testbed/kube-fixtures.ts';
import { kubectl } from '../testbed/kubectl.ts';

interface KindResource {
  apiVersion: string;
  kind: string;
  crdName: string;
}

export interface DryRunResult {
  code: number;
  output: string;
}

/** `plane` is asked for at each call, so a test file can make these before its `before` starts the control plane. */
export function crdFixtures(plane: () => ControlPlane, resource: KindResource, namespace: string) {
  async function create(name: string, spec: Record<string, unknown>, user?: string, ns = namespace): Promise<DryRunResult> {
    const input = stringify({ apiVersion: resource.apiVersion, kind: resource.kind, metadata: { name, namespace: ns }, spec });
    const result = await kubectl(plane(), ['create', '--dry-run=server', ...(user ? [`--as=${user}`] : []), '-f', '-'], { input, allowFailure: true });
    return { code: result.code, output: `${result.stdout}${result.stderr}` };
  }

  /** The apiserver refuses `spec`, saying each of `expected`. */
  async function rejected(spec: Record<string, unknown>, ...expected: string[]): Promise<void> {
    const { code, output } = await create('bad', spec);
    assert.notEqual(code, 0, `the apiserver accepted ${JSON.stringify(spec)}`);
    for (const text of expected) assert.ok(output.includes(text), `expected "${text}" in:\n${output}`);
  }

  async function accepted(spec: Record<string, unknown>): Promise<void> {
    const { code, output } = await create('good', spec);
    assert.equal(code, 0, `rejected ${JSON.stringify(spec)}:\n${output}`);
  }

  /** Polls rather than `kubectl wait`, which fails on a CRD created a moment ago that has no conditions yet. */
  async function waitEstablished(): Promise<void> {
    const established = async () => (await kubectl(plane(), ['get', 'crd', resource.crdName, '-o', 'jsonpath={.status.conditions[?(@.type=="Established")].status}'], { allowFailure: true })).stdout.trim() === 'True';
    await until(established, 60_000, `CRD ${resource.crdName} Established`, 200);
  }

  /**
   * The files users install, the way the reference says to install them (server-side), and then the kind's CRD
   * served; other tests may share the CRDs, so they stay. With `admission`, the requester-access policy too.
   */
  async function install(options: { admission?: boolean } = {}): Promise<void> {
    const files = [join(repoRoot, 'deploy', 'crds'), ...(options.admission ? [join(repoRoot, 'deploy', 'admission')] : [])];
    await kubectl(plane(), ['apply', '--server-side', '--force-conflicts', '--field-manager=kerris-api-test', ...files.flatMap((f) => ['-f', f])]);
    await waitEstablished();
  }

  return { create, rejected, accepted, install };
}
