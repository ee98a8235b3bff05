import assert from 'node:assert/strict';
import { test } from 'node:test';
import { freezerCandidates, parseCgroupMounts, parseProcCgroup } from '../../src/daemon/cgroup.ts';
import { freezePlan } from '../../src/daemon/faults/container-freeze.ts';
import { startTimeFromStat } from '../../src/daemon/proc.ts';
import { pidFromInfo } from '../../src/daemon/runtime/cri.ts';

const HYBRID_MOUNTS = [
  '31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755',
  '32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu',
  '37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer',
  '41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw',
].join('\n');
const V2_MOUNTS = '30 23 0:27 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate';

test('on a v1/v2 hybrid, cgroup v2\'s cgroup.freeze comes first (frozen tasks stay killable), the v1 freezer second', () => {
  const lines = parseProcCgroup('6:freezer:/kubepods/pod1/abc\n1:cpu:/kubepods/pod1/abc\n0::/kubepods/pod1/abc\n');
  const [v2, v1, ...rest] = freezerCandidates(lines, parseCgroupMounts(HYBRID_MOUNTS));
  assert.deepEqual(v2, { version: 2, dir: '/sys/fs/cgroup/unified/kubepods/pod1/abc', file: '/sys/fs/cgroup/unified/kubepods/pod1/abc/cgroup.freeze', frozen: '1', thawed: '0' });
  assert.deepEqual(v1, { version: 1, dir: '/sys/fs/cgroup/freezer/kubepods/pod1/abc', file: '/sys/fs/cgroup/freezer/kubepods/pod1/abc/freezer.state', frozen: 'FROZEN', thawed: 'THAWED' });
  assert.deepEqual(rest, []);
  assert.ok(v1);
  assert.deepEqual(freezePlan('abc', v1), {
    summary: 'freeze container abc (cgroup v1 /sys/fs/cgroup/freezer/kubepods/pod1/abc)',
    apply: [{ kind: 'write', path: v1.file, value: 'FROZEN' }],
    revert: [{ kind: 'write', path: v1.file, value: 'THAWED' }],
  });
});

test('a hybrid whose runtime leaves containers in the v2 root cgroup uses the v1 freezer', () => {
  const candidates = freezerCandidates(parseProcCgroup('6:freezer:/docker/abc\n0::/\n'), parseCgroupMounts(HYBRID_MOUNTS));
  assert.deepEqual(candidates.map((c) => c.version), [1]);
});

test('on pure cgroup v2, cgroup.freeze of the unified path is used', () => {
  const [freezer, ...rest] = freezerCandidates(parseProcCgroup('0::/kubepods.slice/cri-abc.scope\n'), parseCgroupMounts(V2_MOUNTS));
  assert.equal(freezer?.file, '/sys/fs/cgroup/kubepods.slice/cri-abc.scope/cgroup.freeze');
  assert.deepEqual([freezer?.frozen, freezer?.thawed, rest.length], ['1', '0', 0]);
});

test('root cgroups (freezing them would freeze the node) are never candidates; paths with ".." are refused', () => {
  assert.deepEqual(freezerCandidates(parseProcCgroup('6:freezer:/\n0::/\n'), parseCgroupMounts(HYBRID_MOUNTS)), []);
  assert.deepEqual(freezerCandidates(parseProcCgroup('1:cpu:/x\n'), parseCgroupMounts('')), []);
  assert.throws(() => freezerCandidates(parseProcCgroup('6:freezer:/a/../../etc\n'), parseCgroupMounts(HYBRID_MOUNTS)), /refusing cgroup path/);
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
