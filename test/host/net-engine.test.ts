/**
 * The network engine as the daemon's injector calls it: raw faults validated
 * into their journalled form, then planned for a real process's namespace
 * (found through /proc/<pid>/ns/net) and executed. Needs root.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { after, before, test } from 'node:test';
import { applyPlan, revertPlan } from '../../src/daemon/execute.ts';
import { createNetworkEngine } from '../../src/daemon/net/engine.ts';
import { snapshotKernelState } from '../../src/daemon/net/snapshot.ts';
import { FaultValidationError } from '../../src/daemon/net/validate.ts';
import { detectCapabilities } from '../../src/daemon/preflight.ts';
import { requireExecutables, requireRoot } from '../testbed/prerequisites.ts';
import { createLab } from '../vm/scenarios/net-lab.ts';
import type { Lab } from '../vm/scenarios/net-lab.ts';

let lab: Lab;
let holder: ChildProcess;

before(async () => {
  await requireRoot('network engine host test');
  await requireExecutables({ '/usr/sbin/tc': 'iproute2', '/usr/sbin/ip': 'iproute2', '/usr/sbin/nft': 'nftables', '/usr/bin/nsenter': 'util-linux' });
  lab = await createLab(2);
  // A process living in the target namespace, as a container's init would.
  holder = spawn('ip', ['netns', 'exec', lab.target.name, 'sleep', '600'], { stdio: 'ignore' });
  await new Promise((resolve) => holder.once('spawn', resolve));
});

after(async () => {
  if (holder && holder.exitCode === null) {
    const exited = new Promise((resolve) => holder.once('exit', resolve));
    holder.kill('SIGKILL');
    await exited;
  }
  await lab?.close();
});

test('validate gives the canonical form, and plan applies it to every up Ethernet link of the process\'s namespace', async () => {
  const engine = createNetworkEngine({ capabilities: () => detectCapabilities('host-test') });
  const journalled = engine.validate({ action: 'bandwidth', bandwidth: { rate: '1mbps', limit: 10000, buffer: 2000 }, scope: { cidrs: ['FD77:1::0/64'] } });
  assert.deepEqual(journalled, { action: 'bandwidth', bandwidth: { rate: '8000000bit', limit: 10000, buffer: 2000 }, scope: { direction: 'egress', protocol: 'all', cidrs: ['fd77:1::/64'] } });
  assert.throws(() => engine.validate({ action: 'partition', scope: { device: 'eth0;reboot' } }), FaultValidationError);

  const pid = holder.pid ?? 0;
  const before = await snapshotKernelState(lab.target.path);
  const plan = await engine.plan({ pid }, [journalled, { action: 'partition', scope: { cidrs: ['10.77.2.0/24'] } }]);
  assert.match(plan.summary, new RegExp(`^network faults in /proc/${pid}/ns/net: `));
  await applyPlan(plan);
  try {
    const during = await snapshotKernelState(lab.target.path);
    assert.match(during.tc, /qdisc htb 4b52: dev eth0 root/);
    assert.match(during.tc, /qdisc htb 4b52: dev eth1 root/);
    assert.doesNotMatch(during.tc, /qdisc htb 4b52: dev lo /);
    assert.match(during.nftables, /oifname \{ "eth0", "eth1" \} ip daddr @peers0v4 counter drop comment "partition"/);
  } finally {
    await revertPlan(plan);
  }
  assert.deepEqual(await snapshotKernelState(lab.target.path), before);
  await assert.rejects(engine.plan({ pid }, [{ action: 'delay', delay: { latency: '1ms' } }]), /kernel has no sch_netem: delay unavailable on node host-test/);
});
