/** The target policy's decisions, on facts as /proc and the runtime give them. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig } from '../../src/daemon/config.ts';
import { parseProcCgroup } from '../../src/daemon/cgroup.ts';
import { nodeNetnsRefusal, refusal, type TargetFacts } from '../../src/daemon/target-policy.ts';

const PROTECTED = new Set(['kube-system', 'kerris-system']);
const pod: TargetFacts = {
  pid: 500, netns: 4026532001, hostNetns: 4026531992, ownNetns: 4026532999, ownAncestry: [100, 90, 1],
  cgroups: parseProcCgroup('0::/kubepods/besteffort/pod-a/c1\n'),
  ownCgroups: parseProcCgroup('0::/kubepods/burstable/pod-kerris/d1\n'),
  pod: { namespace: 'demo', staticPod: false },
};

test('an ordinary pod may take every fault', () => {
  for (const kind of ['network', 'container-freeze', 'container-kill', 'stress'] as const) assert.equal(refusal(kind, pod, PROTECTED), undefined);
});

test('a hostNetwork pod is refused network faults only', () => {
  const host = { ...pod, netns: pod.hostNetns };
  assert.match(refusal('network', host, PROTECTED) ?? '', /host's network namespace/);
  assert.equal(refusal('container-freeze', host, PROTECTED), undefined);
  assert.match(refusal('network', { ...pod, netns: pod.ownNetns }, PROTECTED) ?? '', /daemon's network namespace/);
  assert.match(refusal('network', { ...pod, netns: undefined }, PROTECTED) ?? '', /no network namespace/);
});

test('the daemon itself is never frozen or killed: its process tree, its cgroup or one above it', () => {
  assert.match(refusal('container-kill', { ...pod, pid: 90 }, PROTECTED) ?? '', /daemon or one of its parents/);
  for (const path of ['/kubepods/burstable/pod-kerris/d1', '/kubepods/burstable/pod-kerris', '/']) {
    const facts = { ...pod, cgroups: parseProcCgroup(`0::${path}\n`) };
    assert.match(refusal('container-freeze', facts, PROTECTED) ?? '', /holds the daemon itself/, path);
    assert.match(refusal('container-kill', facts, PROTECTED) ?? '', /kill the daemon/, path);
    assert.match(refusal('stress', facts, PROTECTED) ?? '', /would load the daemon's own cgroup and limits/, path);
  }
  assert.equal(refusal('container-freeze', { ...pod, cgroups: parseProcCgroup('0::/kubepods/burstable/pod-kerris-2/x\n') }, PROTECTED), undefined, 'a sibling with a common prefix');
});

test('node-network is the one fault whose target is the host\'s netns: that one, readable, and only as a node fault', () => {
  assert.equal(nodeNetnsRefusal('node-network', 4026531840, 4026531840), undefined);
  assert.match(nodeNetnsRefusal('node-network', undefined, 4026531840) ?? '', /cannot be read: the daemon needs hostPID/);
  assert.match(nodeNetnsRefusal('node-network', 4026532001, 4026531840) ?? '', /netns 4026532001 is not the node's own/);
  assert.match(nodeNetnsRefusal('network', 4026531840, 4026531840) ?? '', /network is put on a container/);
  assert.match(refusal('node-network', { ...pod, netns: 4026531840, hostNetns: 4026531840 }, PROTECTED) ?? '', /node-network is a node fault/);
});

test('static pods and protected namespaces are refused every fault', () => {
  for (const kind of ['network', 'container-freeze', 'container-kill'] as const) {
    assert.match(refusal(kind, { ...pod, pod: { namespace: 'demo', staticPod: true } }, PROTECTED) ?? '', /static pod/);
    assert.match(refusal(kind, { ...pod, pod: { namespace: 'kube-system' } }, PROTECTED) ?? '', /namespace kube-system is protected/);
  }
  assert.equal(refusal('container-kill', { ...pod, pod: undefined }, PROTECTED), undefined, 'a container with no pod (not kubelet\'s) has only the process checks');
});

test('--protected-namespaces defaults to kube-system and always adds the daemon\'s own namespace', () => {
  assert.deepEqual(parseConfig([], {}).protectedNamespaces, ['kube-system']);
  assert.deepEqual(parseConfig([], { POD_NAMESPACE: 'kerris-system' }).protectedNamespaces, ['kube-system', 'kerris-system']);
  assert.deepEqual(parseConfig(['--protected-namespaces', 'a, b'], { POD_NAMESPACE: 'kerris-system' }).protectedNamespaces, ['a', 'b', 'kerris-system']);
});
