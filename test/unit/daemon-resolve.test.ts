import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DaemonError } from '../../src/daemon/errors.ts';
import { TargetResolver } from '../../src/daemon/runtime/resolve.ts';
import type { ContainerRuntime, PodMeta } from '../../src/daemon/runtime/types.ts';

/** A runtime that knows some containers (all running as this test process), or fails as unreachable. */
function runtime(name: string, known: readonly string[], unreachable = false, pods: Readonly<Record<string, PodMeta>> = {}): ContainerRuntime {
  const fail = (id: string): never => {
    throw unreachable ? new DaemonError('unavailable', `${name} is down`) : new DaemonError('not-found', `${name} has no ${id}`);
  };
  return {
    name, socket: `/run/${name}.sock`,
    taskPid: async (id) => (known.includes(id) ? process.pid : fail(id)),
    kill: async (id) => { if (!known.includes(id)) fail(id); },
    pod: async (id) => (unreachable ? fail(id) : pods[id]),
    findInPod: async () => [...known],
    close: () => undefined,
  };
}

test('runtimes are asked in order; the first that knows the container answers', async () => {
  const resolver = new TargetResolver([runtime('containerd', ['a']), runtime('cri', ['a', 'b'])]);
  assert.equal((await resolver.resolve('a')).runtime, 'containerd /run/containerd.sock');
  const b = await resolver.resolve('b');
  assert.equal(b.runtime, 'cri /run/cri.sock');
  assert.equal(b.pid, process.pid);
  assert.ok(b.startTime > 0, 'the pid comes with its start time');
});

test('unknown everywhere is not-found; a runtime that cannot be reached makes it unavailable', async () => {
  await assert.rejects(new TargetResolver([runtime('containerd', []), runtime('cri', [])]).resolve('x'), (e: DaemonError) => e.code === 'not-found');
  await assert.rejects(new TargetResolver([runtime('containerd', [], true), runtime('cri', [])]).resolve('x'), (e: DaemonError) => e.code === 'unavailable');
});

test('with no runtime yet, each call looks again, and uses the runtime once it appears', async () => {
  let appeared: ContainerRuntime[] = [];
  const resolver = new TargetResolver([], async () => appeared);
  await assert.rejects(resolver.resolve('a'), (e: DaemonError) => e.code === 'unavailable' && /no container runtime/.test(e.message));
  appeared = [runtime('containerd', ['a'])];
  assert.equal((await resolver.resolve('a')).pid, process.pid);
  assert.equal(resolver.runtimes.length, 1);
});

test('a container\'s pod is merged from every runtime: containerd\'s labels, CRI\'s sandbox annotations; no runtime answering fails', async () => {
  const resolver = new TargetResolver([
    runtime('containerd', ['a'], false, { a: { namespace: 'kube-system' } }),
    runtime('cri', ['a'], false, { a: { staticPod: true } }),
  ]);
  assert.deepEqual(await resolver.pod('a'), { namespace: 'kube-system', staticPod: true });
  assert.equal(await resolver.pod('ctr-only'), undefined, 'not a kubelet container');
  await assert.rejects(new TargetResolver([runtime('containerd', [], true)]).pod('a'), { code: 'unavailable' });
});
