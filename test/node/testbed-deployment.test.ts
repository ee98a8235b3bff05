import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { clusterNode, type ControlPlane } from '../testbed/index.ts';
import { kubectl } from '../testbed/kubectl.ts';
import type { ClusterNode } from '../testbed/node/index.ts';
import { createNamespace, deleteNamespace, eventually, pods, running, workloadDeployment, type Pod } from '../testbed/node/testing.ts';

const NAMESPACE = `kerris-node-deploy-${process.pid}`;
const APP = 'echo';
const SELECTOR = `app=${APP}`;

function inSubnet(ip: string, subnet: string): boolean {
  // The pod subnet is a /24: compare the first three octets.
  const [network, bits] = subnet.split('/');
  assert.equal(bits, '24', `pod subnet ${subnet} is a /24`);
  return ip.split('.').slice(0, 3).join('.') === network?.split('.').slice(0, 3).join('.');
}

describe('a Deployment on the test-bed node', () => {
  let plane: ControlPlane;
  let node: ClusterNode;
  const listing = async (): Promise<string> => (await kubectl(plane, ['get', 'pods', '-n', NAMESPACE, '-o', 'wide'], { allowFailure: true })).stdout;

  before(async () => {
    ({ plane, node } = await clusterNode());
    await createNamespace(plane, NAMESPACE);
  });

  after(async () => {
    if (plane) await deleteNamespace(plane, NAMESPACE);
  });

  it('reaches 3 Running replicas, each with its own pod IP from the node\'s pod subnet', async () => {
    const started = Date.now();
    await kubectl(plane, ['apply', '-f', '-'], { input: workloadDeployment(node, NAMESPACE, APP, 3) });
    const up = await eventually('3 Running pods', 90_000, async () => {
      const list = running(await pods(plane, NAMESPACE, SELECTOR));
      return list.length === 3 ? list : undefined;
    }, listing);
    process.stderr.write(`deployment: 3 pods Running in ${Date.now() - started} ms\n`);
    const ips = up.map((p) => p.status.podIP ?? '');
    assert.equal(new Set(ips).size, 3, `distinct pod IPs: ${ips.join(' ')}`);
    for (const ip of ips) assert.ok(inSubnet(ip, node.podSubnet), `${ip} is in ${node.podSubnet}`);
    for (const pod of up) assert.equal(pod.spec.nodeName, node.name);
  });

  it('pod A reaches pod B over TCP (kubectl exec, through apiserver and kubelet)', async () => {
    const [a, b] = running(await pods(plane, NAMESPACE, SELECTOR));
    assert.ok(a && b, 'two running pods');
    const bIP = b.status.podIP ?? '';
    const token = `kerris-${process.pid}-${Date.now()}`;
    const echo = await kubectl(plane, ['exec', '-n', NAMESPACE, a.metadata.name, '--', 'sh', '-c', `echo ${token} | nc -w 3 ${bIP} 7000`]);
    assert.equal(echo.stdout.trim(), token, 'B\'s TCP echo server sent the token back to A');
    // busybox's own wget -T crashes (exit 139); timeout bounds it instead.
    const http = await kubectl(plane, ['exec', '-n', NAMESPACE, a.metadata.name, '--', 'timeout', '5', 'wget', '-q', '-O', '-', `http://${bIP}:8080/`]);
    assert.equal(http.stdout.trim(), b.metadata.name, 'B answers HTTP with its own name');
  });

  it('a deleted pod is replaced by the ReplicaSet: a new name, and 3 Running again', async () => {
    const before: Pod[] = running(await pods(plane, NAMESPACE, SELECTOR));
    const victim = before[0];
    assert.ok(victim);
    const started = Date.now();
    await kubectl(plane, ['delete', 'pod', '-n', NAMESPACE, victim.metadata.name, '--wait=false']);
    const after = await eventually('3 Running pods without the deleted one', 90_000, async () => {
      const list = await pods(plane, NAMESPACE, SELECTOR);
      const up = running(list);
      return up.length === 3 && !list.some((p) => p.metadata.name === victim.metadata.name) ? up : undefined;
    }, listing);
    process.stderr.write(`deployment: deleted pod replaced and gone in ${Date.now() - started} ms\n`);
    const oldNames = new Set(before.map((p) => p.metadata.name));
    const fresh = after.filter((p) => !oldNames.has(p.metadata.name));
    assert.equal(fresh.length, 1, `exactly one new pod: ${after.map((p) => p.metadata.name).join(' ')}`);
  });
});
