/**
 * The PodChaos CRD against a real kube-apiserver: bad specs are rejected by the
 * apiserver itself with the messages docs/api.md promises, good ones pass, and
 * only `paused` may change after creation.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { repoRoot } from '../../src/api/generate.ts';
import { podChaosResource, type PodChaos, type PodChaosSpec } from '../../src/api/generated/types.ts';
import { controlPlane, type ControlPlane } from '../testbed/index.ts';
import { kubectl, kubectlJson } from '../testbed/kubectl.ts';

const namespace = `api-validation-${randomBytes(3).toString('hex')}`;
const resource = `${podChaosResource.plural}.${podChaosResource.group}`;

let plane: ControlPlane;
let crdExistedBefore = false;

function manifest(name: string, spec: Record<string, unknown>): string {
  return stringify({ apiVersion: podChaosResource.apiVersion, kind: podChaosResource.kind, metadata: { name, namespace }, spec });
}

/** Creates the object for real; resolves with kubectl's exit code and combined output. */
async function create(name: string, spec: Record<string, unknown>): Promise<{ code: number; output: string }> {
  const result = await kubectl(plane, ['create', '-f', '-'], { input: manifest(name, spec), allowFailure: true });
  return { code: result.code, output: `${result.stdout}${result.stderr}` };
}

async function patchSpec(name: string, spec: Record<string, unknown>): Promise<{ code: number; output: string }> {
  const result = await kubectl(plane, ['patch', '-n', namespace, resource, name, '--type=merge', '-p', JSON.stringify({ spec })], { allowFailure: true });
  return { code: result.code, output: `${result.stdout}${result.stderr}` };
}

async function rejected(name: string, spec: Record<string, unknown>, ...expected: string[]): Promise<void> {
  const { code, output } = await create(name, spec);
  assert.notEqual(code, 0, `the apiserver accepted ${JSON.stringify(spec)}`);
  for (const text of expected) assert.ok(output.includes(text), `expected "${text}" in:\n${output}`);
  const left = await kubectl(plane, ['get', '-n', namespace, resource, name], { allowFailure: true });
  assert.notEqual(left.code, 0, `${name} exists although creating it failed`);
}

/**
 * Polls rather than `kubectl wait`, which fails with "status.conditions accessor error" when it
 * reads a CRD created a moment ago that has no conditions yet.
 */
async function waitEstablished(): Promise<void> {
  const deadline = Date.now() + 60_000;
  const jsonPath = '{.status.conditions[?(@.type=="Established")].status}';
  for (;;) {
    const result = await kubectl(plane, ['get', 'crd', podChaosResource.crdName, '-o', `jsonpath=${jsonPath}`], { allowFailure: true });
    if (result.stdout.trim() === 'True') return;
    if (Date.now() > deadline) throw new Error(`CRD ${podChaosResource.crdName} not Established within 60 s: ${result.stdout}${result.stderr}`);
    await sleep(200);
  }
}

const killOne = { action: 'pod-kill', mode: 'one', selector: { labelSelectors: { app: 'web' } } } satisfies PodChaosSpec;

describe('PodChaos validation by the apiserver', { timeout: 180_000 }, () => {
  before(async () => {
    plane = await controlPlane();
    crdExistedBefore = (await kubectl(plane, ['get', 'crd', podChaosResource.crdName], { allowFailure: true })).code === 0;
    // The files users install, the way the reference says to install them.
    await kubectl(plane, ['apply', '--server-side', '--force-conflicts', '--field-manager=kerris-api-test', '-f', join(repoRoot, 'deploy', 'crds')]);
    await waitEstablished();
    await kubectl(plane, ['create', 'namespace', namespace]);
  });

  after(async () => {
    if (!plane) return;
    await kubectl(plane, ['delete', 'namespace', namespace, '--ignore-not-found', '--wait=true', '--timeout=120s']);
    if (!crdExistedBefore) await kubectl(plane, ['delete', 'crd', podChaosResource.crdName, '--ignore-not-found', '--wait=true', '--timeout=60s']);
    const ns = await kubectl(plane, ['get', 'namespace', namespace], { allowFailure: true });
    assert.notEqual(ns.code, 0, `namespace ${namespace} is left behind`);
    if (!crdExistedBefore) {
      const crd = await kubectl(plane, ['get', 'crd', podChaosResource.crdName], { allowFailure: true });
      assert.notEqual(crd.code, 0, 'the CRD is left behind');
    }
  });

  it('accepts a valid spec and stores it as sent', async () => {
    const { code, output } = await create('valid', { ...killOne, seed: 42, gracePeriod: 5, dryRun: true });
    assert.equal(code, 0, output);
    const stored = await kubectlJson<PodChaos>(plane, ['get', '-n', namespace, resource, 'valid']);
    assert.deepEqual(stored.spec, { ...killOne, seed: 42, gracePeriod: 5, dryRun: true });
  });

  it('rejects an unknown action, naming the supported ones', async () => {
    await rejected('bad-action', { ...killOne, action: 'pod-explode' },
      'spec.action: Unsupported value: "pod-explode": supported values: "pod-kill", "pod-failure", "container-kill"');
  });

  it('rejects a percentage above 100', async () => {
    await rejected('pct-150', { ...killOne, mode: 'fixed-percent', value: '150' },
      'spec.value', 'value is a percentage when mode is fixed-percent: it must be a whole number from 1 to 100, got "150"');
    await rejected('pct-0', { ...killOne, mode: 'random-max-percent', value: '0' },
      'value is a percentage when mode is random-max-percent: it must be a whole number from 1 to 100, got "0"');
  });

  it('accepts the percentage bounds 1 and 100', async () => {
    for (const value of ['1', '100']) {
      const { code, output } = await create(`pct-${value}`, { ...killOne, mode: 'fixed-percent', value });
      assert.equal(code, 0, output);
    }
  });

  it('rejects a negative, zero, malformed or longer than 30 days duration', async () => {
    const failure = { ...killOne, action: 'pod-failure' };
    await rejected('dur-neg', { ...failure, duration: '-5s' }, 'spec.duration', 'cannot be negative, got "-5s"');
    await rejected('dur-zero', { ...failure, duration: '0s' }, 'spec.duration', 'must be longer than zero');
    await rejected('dur-bare', { ...failure, duration: '30' }, 'spec.duration', 'must be a Go duration such as 30s, 5m or 1h30m');
    await rejected('dur-huge', { ...failure, duration: '999999h999999h999999h' }, 'spec.duration', 'must be a Go duration such as 30s, 5m or 1h30m');
    await rejected('dur-long', { ...failure, duration: '721h' }, 'spec.duration', 'must be at most 720h (30 days), got "721h"');
    for (const [name, duration] of [['dur-ok', '1h30m'], ['dur-max', '720h']] as const) {
      const { code, output } = await create(name, { ...failure, duration });
      assert.equal(code, 0, output);
    }
  });

  it('rejects mode fixed without a value, or with one that is not a positive count', async () => {
    await rejected('fixed-none', { ...killOne, mode: 'fixed' }, 'spec.value: Required value: value is required when mode is fixed');
    await rejected('fixed-zero', { ...killOne, mode: 'fixed', value: '0' }, 'value must be a whole number of pods from 1 to 999999 when mode is fixed, got "0"');
  });

  it('ties containerNames, duration and gracePeriod to the action', async () => {
    const firstContainer = await create('ck-none', { ...killOne, action: 'container-kill' });
    assert.equal(firstContainer.code, 0, `container-kill without containerNames kills the first container, as in Chaos Mesh: ${firstContainer.output}`);
    await rejected('pk-names', { ...killOne, containerNames: ['app'] }, 'spec.containerNames: Forbidden: containerNames applies only to action container-kill');
    await rejected('pf-nodur', { ...killOne, action: 'pod-failure' }, 'spec.duration: Required value: duration is required when action is pod-failure');
    await rejected('ck-grace', { ...killOne, action: 'container-kill', containerNames: ['app'], gracePeriod: 30 }, 'gracePeriod applies only to action pod-kill');
  });

  it('rejects malformed selectors with a message per problem', async () => {
    await rejected('sel', { ...killOne, selector: { expressionSelectors: [{ key: 'app', operator: 'In' }], labelSelectors: { 'bad key!': 'x' } } },
      'operator In needs at least one value', 'labelSelectors keys must be qualified names');
  });

  it('refuses to change spec.action on an existing object and leaves it unchanged', async () => {
    assert.equal((await create('immutable', killOne)).code, 0);
    const changed = await patchSpec('immutable', { action: 'pod-failure', duration: '30s' });
    assert.notEqual(changed.code, 0);
    assert.ok(changed.output.includes('spec.action: Forbidden: spec.action cannot change while the experiment exists; delete and recreate it'), changed.output);
    const added = await patchSpec('immutable', { seed: 7 });
    assert.ok(added.output.includes('spec.seed cannot change while the experiment exists'), added.output);
    const stored = await kubectlJson<PodChaos>(plane, ['get', '-n', namespace, resource, 'immutable']);
    assert.deepEqual(stored.spec, killOne);
  });

  it('lets paused flip both ways', async () => {
    assert.equal((await create('pausable', killOne)).code, 0);
    for (const paused of [true, false, true]) {
      const { code, output } = await patchSpec('pausable', { paused });
      assert.equal(code, 0, output);
      const stored = await kubectlJson<PodChaos>(plane, ['get', '-n', namespace, resource, 'pausable']);
      assert.equal(stored.spec.paused, paused);
    }
  });

  it('lets a GitOps tool re-apply the same manifest and flip paused by server-side apply', async () => {
    const apply = (spec: Record<string, unknown>) => kubectl(plane, ['apply', '--server-side', '--field-manager=gitops', '-f', '-'], { input: manifest('gitops', spec), allowFailure: true });
    for (const spec of [killOne, killOne, { ...killOne, paused: true }, killOne]) {
      const result = await apply(spec);
      assert.equal(result.code, 0, result.stderr);
      const stored = await kubectlJson<PodChaos>(plane, ['get', '-n', namespace, resource, 'gitops']);
      assert.deepEqual(stored.spec, spec);
    }
    const changed = await apply({ ...killOne, mode: 'all' });
    assert.ok(changed.stderr.includes('spec.mode: Forbidden: spec.mode cannot change while the experiment exists'), changed.stderr);
  });

  it('takes status through the status subresource and shows it in kubectl get', async () => {
    assert.equal((await create('with-status', killOne)).code, 0);
    const status = { phase: 'Aborted', selected: 3, injected: 0, observedGeneration: 1, verdict: { result: 'Aborted', score: 40, reason: 'guard web breached: HTTP 503', concludedAt: '2026-12-01T10:00:00Z' } };
    await kubectl(plane, ['patch', '-n', namespace, resource, 'with-status', '--subresource=status', '--type=merge', '-p', JSON.stringify({ status })]);
    const table = await kubectl(plane, ['get', '-n', namespace, 'pchaos', 'with-status']);
    const [header, row] = table.stdout.trim().split('\n').map((line) => line.trim().split(/\s+/));
    assert.deepEqual(header, ['NAME', 'ACTION', 'PHASE', 'TARGETS', 'VERDICT', 'AGE']);
    assert.deepEqual(row?.slice(0, 5), ['with-status', 'pod-kill', 'Aborted', '3', 'Aborted']);
    const wide = await kubectl(plane, ['get', '-n', namespace, 'pchaos', 'with-status', '-o', 'wide']);
    assert.match(wide.stdout, /SCORE/);
    assert.match(wide.stdout.split('\n')[1] ?? '', /\s40\s/);
    const inCategory = await kubectl(plane, ['get', '-n', namespace, 'chaos', '-o', 'name']);
    assert.ok(inCategory.stdout.includes(`${resource}/with-status`), inCategory.stdout);
  });

  it('accepts every example in examples/, of every kind', async () => {
    const files = (await readdir(join(repoRoot, 'examples'))).filter((f) => f.endsWith('.yaml'));
    assert.ok(['podchaos-', 'networkchaos-', 'schedule-', 'workflow-'].every((kind) => files.some((f) => f.startsWith(kind))), files.join(', '));
    for (const file of files) {
      const text = await readFile(join(repoRoot, 'examples', file), 'utf8');
      const result = await kubectl(plane, ['create', '--dry-run=server', '-n', namespace, '-f', '-'], {
        input: text.replace(/namespace: demo\n/, `namespace: ${namespace}\n`).replaceAll('namespaces: [demo]', `namespaces: [${namespace}]`),
        allowFailure: true,
      });
      assert.equal(result.code, 0, `${file}: ${result.stderr}`);
    }
  });
});
