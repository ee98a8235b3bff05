import assert from 'node:assert/strict';
import { readlink, stat } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { run } from '../../src/util/exec.ts';
import { containerdLeftovers, ctr, ctrRunFlags, startContainerd, stopContainerd, type Containerd } from '../testbed/node/containerd.ts';
import { importImage, WORKLOAD_IMAGE, workloadImage } from '../testbed/node/images.ts';
import { processAlive } from '../../src/util/process.ts';

const NAMESPACE = 'kerris-host-test';
const base = `/run/kerris-testbed/host-containerd-${process.pid}`;
const netnsName = `kerris-ctr-${process.pid}`;
const netnsPath = `/var/run/netns/${netnsName}`;

async function netnsNames(): Promise<string[]> {
  const listed = await run(['ip', 'netns', 'list']);
  return listed.stdout.split('\n').map((line) => line.split(' ')[0] ?? '').filter((name) => name !== '');
}

async function taskPid(c: Containerd, id: string): Promise<number> {
  const listed = await ctr(c.socket, NAMESPACE, ['tasks', 'list']);
  const row = listed.stdout.split('\n').map((line) => line.trim().split(/\s+/)).find((cols) => cols[0] === id);
  assert.ok(row, `task ${id} is listed:\n${listed.stdout}`);
  assert.equal(row[2], 'RUNNING');
  return Number(row[1]);
}

before(async () => {
  await run(['ip', 'netns', 'add', netnsName]);
  await run(['ip', 'netns', 'exec', netnsName, 'ip', 'link', 'set', 'lo', 'up']);
});

after(async () => {
  await stopContainerd(`${base}-a`);
  await stopContainerd(`${base}-b`);
  await run(['ip', 'netns', 'delete', netnsName], { allowFailure: true });
  // Other tests on the machine add and remove their own; ours must be gone and none of theirs touched by us.
  assert.ok(!(await netnsNames()).includes(netnsName), `netns ${netnsName} is gone`);
});

test('a private containerd runs a workload-image container in a given netns, and stopContainerd leaves nothing', async () => {
  const dir = `${base}-a`;
  const c = await startContainerd(dir);
  const image = await workloadImage();
  await importImage(c.socket, NAMESPACE, image);

  const id = 'echo1';
  await ctr(c.socket, NAMESPACE, ['run', '--detach', ...ctrRunFlags(c, id), '--with-ns', `network:${netnsPath}`, WORKLOAD_IMAGE, id, '/bin/sleep', '600']);
  const pid = await taskPid(c, id);
  assert.ok(pid > 0);
  assert.equal(await readlink(`/proc/${pid}/exe`), '/bin/busybox', 'the task runs the image\'s busybox');
  const inNetns = (await readlink(`/proc/${pid}/ns/net`)).match(/\[(\d+)\]/)?.[1];
  assert.equal(inNetns, String((await stat(netnsPath)).ino), 'the task lives in the netns it was given');

  // The image's tools work inside: ping over the netns's loopback through `ctr tasks exec`.
  const ping = await ctr(c.socket, NAMESPACE, ['tasks', 'exec', '--fifo-dir', c.fifoDir, '--exec-id', 'ping1', id, '/bin/ping', '-c', '1', '-W', '2', '127.0.0.1']);
  assert.match(ping.stdout, /1 packets received/);

  await stopContainerd(dir);
  assert.equal(processAlive(pid), false, 'the container process is gone');
  assert.deepEqual(await containerdLeftovers(dir), []);
});

test('stopContainerd cleans up after containerd was SIGKILLed with a container running', async () => {
  const dir = `${base}-b`;
  const c = await startContainerd(dir);
  await importImage(c.socket, NAMESPACE, await workloadImage());
  const id = 'orphan1';
  await ctr(c.socket, NAMESPACE, ['run', '--detach', ...ctrRunFlags(c, id), WORKLOAD_IMAGE, id, '/bin/sleep', '600']);
  const pid = await taskPid(c, id);
  process.kill(c.pid, 'SIGKILL');

  await stopContainerd(dir);
  assert.equal(processAlive(pid), false, 'the container process is gone');
  assert.deepEqual(await containerdLeftovers(dir), []);
});
