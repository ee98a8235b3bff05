/**
 * A replayed revert never removes state another component added: the ingress undo deletes an ingress qdisc only
 * while its filter redirects to one of kerris's IFBs. Runs in a network namespace of its own.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { revertSteps } from '../../src/daemon/execute.ts';
import { ingressUndo } from '../../src/daemon/net/undo.ts';
import { run } from '../../src/util/exec.ts';

const NAME = `kd-guard-${process.pid}`;
const NETNS = `/var/run/netns/${NAME}`;
const inNetns = (argv: readonly string[]) => run(['ip', 'netns', 'exec', NAME, ...argv]);
const ingress = async (): Promise<boolean> => (await inNetns(['tc', 'qdisc', 'show', 'dev', 'lo'])).stdout.includes('qdisc ingress ffff:');

before(async () => {
  await run(['ip', 'netns', 'add', NAME]);
  await inNetns(['ip', 'link', 'set', 'lo', 'up']);
});

after(async () => {
  await run(['ip', 'netns', 'delete', NAME], { allowFailure: true });
  assert.ok(!(await run(['ip', 'netns', 'list'])).stdout.includes(NAME), 'the namespace is gone');
});

test('an ingress qdisc another component added is left alone; kerris\'s own, redirecting to its IFB, is removed', async () => {
  await inNetns(['tc', 'qdisc', 'add', 'dev', 'lo', 'handle', 'ffff:', 'ingress']);
  await revertSteps([ingressUndo(NETNS, 'lo')]);
  assert.equal(await ingress(), true, 'someone else\'s ingress qdisc stays');
  await inNetns(['tc', 'qdisc', 'del', 'dev', 'lo', 'ingress']);

  await inNetns(['ip', 'link', 'add', 'kerris-ifb0', 'type', 'ifb']);
  await inNetns(['tc', 'qdisc', 'add', 'dev', 'lo', 'handle', 'ffff:', 'ingress']);
  await inNetns(['tc', 'filter', 'add', 'dev', 'lo', 'parent', 'ffff:', 'protocol', 'all', 'prio', '1', 'u32', 'match', 'u32', '0', '0', 'action', 'mirred', 'egress', 'redirect', 'dev', 'kerris-ifb0']);
  await revertSteps([ingressUndo(NETNS, 'lo')]);
  assert.equal(await ingress(), false, 'kerris\'s ingress qdisc is removed');
  await revertSteps([ingressUndo(NETNS, 'lo')]);
  await inNetns(['ip', 'link', 'del', 'kerris-ifb0']);
  assert.equal((await inNetns(['tc', 'qdisc', 'show', 'dev', 'lo'])).stdout.includes('ingress'), false, 'nothing left behind');
});
