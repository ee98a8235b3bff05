/**
 * `kubectl kerris plan -f` for a NodeChaos, the real executable against the real apiserver: Node objects without a
 * kubelet (their Ready status kept fresh by the test, tainted so nothing else is scheduled there), a Deployment's
 * pods and a bare pod bound to one, a PodDisruptionBudget the disruption controller fills in, a controller replica
 * on another, and the controller's flags in a Deployment. The plan reads all of it and creates nothing.
 */
import assert from 'node:assert/strict';
import { run, type RunResult } from '../../src/util/exec.ts';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import type { NodeChaos } from '../../src/api/generated/types.ts';
import type { NodePlan } from '../../src/cli/plan/node-blast-radius.ts';
import { CONTROLLER_LABELS } from '../../src/controller/nodechaos/kind.ts';
import { pickNodes } from '../../src/controller/nodechaos/node-selection.ts';
import { controlPlane, type ControlPlane } from '../testbed/index.ts';
import { kubectl, kubectlJson } from '../testbed/kubectl.ts';
import { createNamespace } from '../testbed/node/testing.ts';
import { REPO_ROOT } from '../testbed/paths.ts';

const BIN = join(REPO_ROOT, 'bin', 'kubectl-kerris');
const suffix = randomBytes(3).toString('hex');
const kerrisNs = `plan-kerris-${suffix}`;
const appNs = `plan-app-${suffix}`;
const [nodeA, nodeB, nodeC] = ['a', 'b', 'c'].map((n) => `plan-${suffix}-${n}`) as [string, string, string];
const LABEL = 'kerris.test/plan';
let plane: ControlPlane;
let heartbeat: NodeJS.Timeout | undefined;

/** The CLI with the test bed's kubeconfig, `input` on its standard input; its exit code and output, whatever they are. */
function kerris(args: readonly string[], input: string): Promise<RunResult> {
  return run([BIN, '--kerris-namespace', kerrisNs, ...args], { env: { ...process.env, KUBECONFIG: plane.kubeconfig }, input, allowFailure: true });
}

const nodeChaos = (name: string, spec: Partial<NodeChaos['spec']>): string => stringify({
  apiVersion: 'chaos.kerris.dev/v1alpha1', kind: 'NodeChaos', metadata: { name, namespace: appNs },
  spec: { action: 'node-drain', mode: 'one', selector: { nodeSelectors: { [LABEL]: suffix } }, duration: '2m', ...spec },
});

/** Stands in for a kubelet: the node's Ready condition, renewed, so the node lifecycle controller leaves its pods alone. */
async function postReady(names: readonly string[]): Promise<void> {
  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const status = { status: { conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'test', lastHeartbeatTime: now, lastTransitionTime: now }] } };
  for (const name of names) await kubectl(plane, ['patch', 'node', name, '--subresource=status', '--type=merge', '-p', JSON.stringify(status)]);
}

/** Marks pods Running and Ready, as their kubelet would. */
async function podsReady(namespace: string, names: readonly string[]): Promise<void> {
  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const status = { status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: now }, { type: 'PodScheduled', status: 'True', lastTransitionTime: now }] } };
  for (const name of names) await kubectl(plane, ['patch', 'pod', name, '-n', namespace, '--subresource=status', '--type=merge', '-p', JSON.stringify(status)]);
}

async function until<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) assert.fail(`${what} within 60 s`);
    await sleep(250);
  }
}

describe('kubectl kerris plan -f, NodeChaos, against the apiserver', () => {
  before(async () => {
    plane = await controlPlane();
    await kubectl(plane, ['apply', '--server-side', '--force-conflicts', '-f', join(REPO_ROOT, 'deploy', 'crds'), '-f', join(REPO_ROOT, 'deploy', 'admission')]);
    // Its pods are created at once: the namespaces' default ServiceAccounts must exist first.
    await createNamespace(plane, kerrisNs);
    await createNamespace(plane, appNs);
    const docs: object[] = [
      ...[nodeA, nodeB, nodeC].map((name) => ({
        apiVersion: 'v1', kind: 'Node', metadata: { name, labels: { [LABEL]: suffix } },
        // Nothing of other tests is scheduled onto a node without a kubelet.
        spec: { taints: [{ key: 'kerris.test/no-kubelet', value: 'true', effect: 'NoSchedule' }] },
      })),
      {
        apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'kerris-controller', namespace: kerrisNs },
        // No replicas: only its flags are read; its selector is not the controller's labels, so it adopts no pod.
        spec: { replicas: 0, selector: { matchLabels: { [LABEL]: 'policy' } }, template: { metadata: { labels: { [LABEL]: 'policy' } }, spec: { containers: [{ name: 'controller', image: 'registry.invalid/kerris', args: ['--max-node-share=67%'] }] } } },
      },
      { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'kerris-controller-0', namespace: kerrisNs, labels: { ...CONTROLLER_LABELS } }, spec: { nodeName: nodeA, containers: [{ name: 'controller', image: 'registry.invalid/kerris' }] } },
      {
        apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: appNs },
        spec: { replicas: 2, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { nodeName: nodeB, containers: [{ name: 'web', image: 'registry.invalid/web' }] } } },
      },
      { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name: 'web', namespace: appNs }, spec: { minAvailable: 2, selector: { matchLabels: { app: 'web' } } } },
      { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'bare', namespace: appNs, labels: { app: 'lonely' } }, spec: { nodeName: nodeB, containers: [{ name: 'c', image: 'registry.invalid/bare' }] } },
    ];
    await kubectl(plane, ['apply', '-f', '-'], { input: docs.map((d) => stringify(d)).join('---\n') });
    await postReady([nodeA, nodeB, nodeC]);
    heartbeat = setInterval(() => { postReady([nodeA, nodeB, nodeC]).catch(() => undefined); }, 10_000);
    const web = await until('the Deployment web has 2 pods', async () => {
      const list = await kubectlJson<{ items: { metadata: { name: string } }[] }>(plane, ['get', 'pods', '-n', appNs, '-l', 'app=web']);
      return list.items.length === 2 ? list.items.map((p) => p.metadata.name) : undefined;
    });
    await podsReady(appNs, web);
    await podsReady(kerrisNs, ['kerris-controller-0']);
    await podsReady(appNs, ['bare']);
    // The disruption controller counts them: 2 healthy of 2 wanted, so no eviction is allowed now.
    await until('the budget counts 2 healthy pods', async () => {
      const pdb = await kubectlJson<{ status?: { currentHealthy?: number; disruptionsAllowed?: number } }>(plane, ['get', 'pdb', 'web', '-n', appNs]);
      return pdb.status?.currentHealthy === 2 && pdb.status.disruptionsAllowed === 0 ? true : undefined;
    });
  });

  after(async () => {
    clearInterval(heartbeat);
    // No kubelet confirms these pods' end: their owners go first (so none is made again), then the pods at once.
    await kubectl(plane, ['delete', 'deployments,replicasets', '--all', '-n', appNs, '--cascade=orphan', '--ignore-not-found']);
    for (const ns of [kerrisNs, appNs]) await kubectl(plane, ['delete', 'pods', '--all', '-n', ns, '--grace-period=0', '--force', '--ignore-not-found']);
    await kubectl(plane, ['delete', 'namespace', kerrisNs, appNs, '--ignore-not-found', '--wait=true', '--timeout=60s'], { timeoutMs: 70_000 });
    await kubectl(plane, ['delete', 'node', nodeA, nodeB, nodeC, '--ignore-not-found']);
    const left = await kubectl(plane, ['get', 'namespace', kerrisNs, appNs, '--ignore-not-found', '-o', 'name']);
    const nodesLeft = await kubectl(plane, ['get', 'node', nodeA, nodeB, nodeC, '--ignore-not-found', '-o', 'name']);
    assert.equal(`${left.stdout}${nodesLeft.stdout}`.trim(), '', 'nothing of the test is left');
  });

  it('a drain of every node matched: the controller node refused, the bare pod and the refusing budget unsafe (exit 3); nothing created', async () => {
    const ran = await kerris(['plan', '-f', '-'], nodeChaos('drain-all', { mode: 'all', selector: { nodes: [nodeA, nodeB] } }));
    assert.equal(ran.code, 3, `${ran.stdout}${ran.stderr}`);
    const text = ran.stdout;
    assert.match(text, new RegExp(`Policy: Deployment ${kerrisNs}/kerris-controller \\(--max-node-share=67%\\)`));
    assert.match(text, new RegExp(`${nodeA} +REFUSED +yes +no +\\d+ +\\d+ +\\d+ +node ${nodeA} runs every Ready kerris controller replica \\(${kerrisNs}/kerris-controller-0\\)`));
    assert.match(text, new RegExp(`${nodeB} +picked +yes +no +\\d+ +3 +0 +cordoned and its pods evicted`));
    assert.match(text, new RegExp(`${nodeB} +${appNs}/bare +none: a bare pod +EVICTED`));
    assert.match(text, new RegExp(`${nodeB} +${appNs}/web-[a-z0-9-]+ +Deployment/web +EVICTED`));
    assert.match(text, new RegExp(`${appNs}/web +2 +0 +2 +2 +REFUSES`));
    assert.match(text, new RegExp(`UNSAFE +node ${nodeA} runs every Ready kerris controller replica .*the mode takes every node the selector matches`));
    assert.match(text, new RegExp(`UNSAFE +pod ${appNs}/bare on node ${nodeB} has no controller`));
    assert.match(text, new RegExp(`UNSAFE +PodDisruptionBudget ${appNs}/web allows 0 disruption\\(s\\) now \\(2 healthy, 2 wanted\\).*2 eviction\\(s\\) would be refused`));
    assert.match(text, /patch +nodes +\(cluster-wide\) +yes/);
    assert.match(ran.stderr, /unsafe \(see the findings\); --allow-unsafe to accept/);
    const created = await kubectlJson<{ items: unknown[] }>(plane, ['get', 'nodechaos', '-n', appNs]);
    assert.equal(created.items.length, 0, 'a plan creates nothing');
    const cordoned = await kubectlJson<{ spec?: { unschedulable?: boolean } }>(plane, ['get', 'node', nodeB]);
    assert.equal(cordoned.spec?.unschedulable, undefined, 'a plan cordons nothing');
  });

  it('with a seed, picks exactly the node the controller would pick, and kubelet-stop asks for update nodes/status', async () => {
    const listed = await kubectlJson<{ items: { metadata: { name: string; uid: string; labels?: Record<string, string> } }[] }>(plane, ['get', 'nodes']);
    const all = listed.items.map((n) => ({ namespace: '' as const, name: n.metadata.name, uid: n.metadata.uid, labels: n.metadata.labels ?? {} }));
    for (const seed of [3, 8, 21]) {
      const spec = { mode: 'one' as const, seed, action: 'kubelet-stop' as const, duration: '10m' };
      const ran = await kerris(['plan', '-f', '-', '-o', 'json', '--allow-unsafe'], nodeChaos(`stop-${seed}`, spec));
      assert.equal(ran.code, 0, ran.stderr);
      const plan = JSON.parse(ran.stdout) as NodePlan;
      const expected = pickNodes(all, { selector: { nodeSelectors: { [LABEL]: suffix } }, mode: 'one' }, new Map([[nodeA, [`${kerrisNs}/kerris-controller-0`]]]), { allowControllerNode: false, maxNodeSharePercent: 67 }, seed);
      assert.deepEqual(plan.pick.picked, expected.picked.map((n) => n.name));
      assert.equal(plan.pick.exact, true);
      assert.deepEqual([plan.pick.matching, plan.pick.candidates, plan.pick.clusterNodes], [3, 2, all.length]);
      assert.equal(plan.nodes.find((n) => n.node === nodeA)?.verdict, 'refused');
      assert.ok(plan.access.some((a) => a.verb === 'update' && a.resource === 'nodes/status' && a.namespace === '' && a.allowed), JSON.stringify(plan.access));
      if (plan.pick.picked[0] === nodeB) {
        // 10 minutes unreachable outlasts the default 300 s toleration: the pods go, the bare one for good.
        assert.ok(plan.findings.some((f) => f.severity === 'unsafe' && f.message.includes(`pod ${appNs}/bare on node ${nodeB} has no controller`)), JSON.stringify(plan.findings));
      }
    }
  });

  it('allowControllerNode lets the controller node be picked, with a warning; its own pods are kept (protected namespace)', async () => {
    const ran = await kerris(['plan', '-f', '-', '-o', 'yaml'], nodeChaos('drain-a', { selector: { nodes: [nodeA] }, allowControllerNode: true, seed: 1 }));
    assert.equal(ran.code, 0, `${ran.stdout}${ran.stderr}`);
    assert.match(ran.stdout, new RegExp(`picked:\\n +- ${nodeA}`));
    assert.match(ran.stdout, /allowed by spec.allowControllerNode/);
    assert.match(ran.stdout, /why: "kept: in a protected namespace"|why: 'kept: in a protected namespace'|why: kept: in a protected namespace/);
    assert.match(ran.stdout, /safe: true/);
  });
});
