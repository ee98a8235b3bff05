import assert from 'node:assert/strict';
import { test } from 'node:test';
import { freezerOf, parseCgroupMounts, parseProcCgroup } from '../../src/daemon/cgroup.ts';
import { freezePlan } from '../../src/daemon/container-faults.ts';
import { startTimeFromStat } from '../../src/daemon/proc.ts';
import { pidFromInfo } from '../../src/daemon/runtime/cri.ts';

const HYBRID_MOUNTS = [
  '31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755',
  '32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu',
  '37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer',
  '41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw',
].join('\n');
const V2_MOUNTS = '30 23 0:27 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate';

test('on a v1/v2 hybrid the v1 freezer is used', () => {
  const lines = parseProcCgroup('6:freezer:/kubepods/pod1/abc\n1:cpu:/kubepods/pod1/abc\n0::/kubepods/pod1/abc\n');
  const freezer = freezerOf(lines, parseCgroupMounts(HYBRID_MOUNTS));
  assert.deepEqual(freezer, {
    version: 1, dir: '/sys/fs/cgroup/freezer/kubepods/pod1/abc', file: '/sys/fs/cgroup/freezer/kubepods/pod1/abc/freezer.state', frozen: 'FROZEN', thawed: 'THAWED',
  });
  assert.deepEqual(freezePlan('abc', freezer), {
    summary: 'freeze container abc (cgroup v1 /sys/fs/cgroup/freezer/kubepods/pod1/abc)',
    apply: [{ kind: 'write', path: freezer.file, value: 'FROZEN' }],
    revert: [{ kind: 'write', path: freezer.file, value: 'THAWED' }],
  });
});

test('on pure cgroup v2, cgroup.freeze of the unified path is used', () => {
  const freezer = freezerOf(parseProcCgroup('0::/kubepods.slice/cri-abc.scope\n'), parseCgroupMounts(V2_MOUNTS));
  assert.equal(freezer.file, '/sys/fs/cgroup/kubepods.slice/cri-abc.scope/cgroup.freeze');
  assert.deepEqual([freezer.frozen, freezer.thawed], ['1', '0']);
});

test('the root cgroup and paths escaping the hierarchy are refused', () => {
  assert.throws(() => freezerOf(parseProcCgroup('6:freezer:/\n'), parseCgroupMounts(HYBRID_MOUNTS)), /root cgroup/);
  assert.throws(() => freezerOf(parseProcCgroup('0::/\n'), parseCgroupMounts(V2_MOUNTS)), /root cgroup/);
  assert.throws(() => freezerOf(parseProcCgroup('6:freezer:/a/../../etc\n'), parseCgroupMounts(HYBRID_MOUNTS)), /refusing cgroup path|root cgroup/);
  assert.throws(() => freezerOf(parseProcCgroup('1:cpu:/x\n'), parseCgroupMounts('')), /no freezer/);
});

test('a process start time is read past a comm holding spaces and parentheses', () => {
  const fields = Array.from({ length: 50 }, (_, i) => String(i + 3));
  assert.equal(startTimeFromStat(`123 (a) b (c)) ${fields.join(' ')}`), 22);
});

test('the pid comes from a verbose CRI status info JSON', () => {
  assert.equal(pidFromInfo({ info: JSON.stringify({ pid: 4242, sandboxID: 'x' }) }), 4242);
  assert.equal(pidFromInfo({ info: '{"pid":0}' }), undefined);
  assert.equal(pidFromInfo({ info: 'not json' }), undefined);
  assert.equal(pidFromInfo({}), undefined);
});
