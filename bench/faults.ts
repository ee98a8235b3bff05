/**
 * The fault matrix: pod-failure held on one pod of the sample app while
 * kerris itself is broken, trial after trial, on the test bed with kerris
 * deployed from this checkout. Each trial checks at its end that every app
 * pod's freezer is as it was before and that the node's daemon holds nothing
 * of the experiment (asked over mTLS as the controller).
 *
 * - controller-killed: every controller pod force-deleted and kept down; the daemon thaws on lease expiry.
 * - daemon-killed: the daemon pod force-deleted mid-failure; its successor finds the journal and thaws at the deadline.
 * - cut: the daemon's gRPC port blocked (nftables in its pod's netns) mid-failure; the daemon thaws on lease
 *   expiry; once unblocked, the controller states the fault again, and it is held once, not twice.
 *
 * Trials per scenario: KERRIS_BENCH_TRIALS (default 20). Last line:
 * "faults: controller-killed N trials, residue 0, worst revert X ms after the controller went (lease TTL 10 s); …".
 */
import assert from 'node:assert/strict';
import type { PodChaos } from '../src/api/generated/types.ts';
import { ContainerdRuntime } from '../src/daemon/runtime/containerd.ts';
import { run } from '../src/util/exec.ts';
import { chaosFixtures } from '../test/node/chaos-fixtures.ts';
import { clusterNode } from '../test/testbed/index.ts';
import { daemonClientAs, deployKerris, KERRIS_NAMESPACE } from '../test/testbed/kerris.ts';
import { kubectl, kubectlJson } from '../test/testbed/kubectl.ts';
import { containerFreezer, freezerFile, isFrozen } from '../test/testbed/node/freezer.ts';
import { waitFor } from './measure.ts';

const LEASE_TTL_MS = 10_000;
const DEADLINE_DURATION_MS = 12_000;

interface PodJson { metadata: { name: string; uid: string }; status: { podIP?: string; containerStatuses?: Array<{ containerID?: string }> } }

function trials(): number {
  const raw = process.env['KERRIS_BENCH_TRIALS'] ?? '20';
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 1_000) throw new RangeError(`KERRIS_BENCH_TRIALS must be a whole number from 1 to 1000, not ${JSON.stringify(raw)}`);
  return n;
}

const runtimeId = (id: string | undefined): string => (id ?? '').replace(/^containerd:\/\//, '');

interface Outcome { trials: number; residue: number; worstMs: number }

export async function main(): Promise<void> {
  const { plane, node } = await clusterNode();
  await deployKerris(plane, node, { replicas: 2 });
  const fx = chaosFixtures(plane, 'bench-faults');
  const containerd = new ContainerdRuntime({ socket: node.containerdSocket });
  const count = trials();
  try {
    const namespace = await fx.newApp(3);
    const pods = (await kubectlJson<{ items: PodJson[] }>(plane, ['get', 'pods', '-n', namespace, '-l', 'app=web'])).items;
    const freezers = await Promise.all(pods.map((p) => containerFreezer(containerd, p.status.containerStatuses?.[0]?.containerID)));
    const state = async (): Promise<string> => (await Promise.all(freezers.map(freezerFile))).join(' ');
    const before = await state();
    const frozen = async (): Promise<boolean> => (await Promise.all(freezers.map(isFrozen))).some(Boolean);
    let trialNo = 0;

    /** Applies a pod-failure, waits until frozen, runs the scenario, deletes it, and checks what is left. */
    async function trial(duration: string, scenario: (chaos: PodChaos) => Promise<number>): Promise<{ ms: number; residue: boolean }> {
      trialNo += 1;
      const name = `fault-${trialNo}`;
      await fx.applyChaos(namespace, name, { action: 'pod-failure', duration, seed: trialNo });
      const chaos = await fx.waitChaos(namespace, name, 'injected', (c) => c.status?.conditions?.some((x) => x.type === 'AllInjected' && x.status === 'True') ?? false);
      await waitFor('frozen', frozen, 10_000);
      const ms = await scenario(chaos);
      await kubectl(plane, ['delete', 'podchaos', name, '-n', namespace, '--wait=true', '--timeout=90s'], { timeoutMs: 100_000 });
      const { client } = await daemonClientAs(plane, 'kerris-controller');
      try {
        const left = await client.list({ experiment: chaos.metadata.uid ?? '' });
        return { ms, residue: (await state()) !== before || left.injections.length > 0 };
      } finally {
        client.close();
      }
    }

    async function scenario(label: string, duration: string, body: (chaos: PodChaos) => Promise<number>): Promise<Outcome> {
      const outcome: Outcome = { trials: 0, residue: 0, worstMs: 0 };
      for (let i = 0; i < count; i++) {
        const { ms, residue } = await trial(duration, body);
        outcome.trials += 1;
        if (residue) outcome.residue += 1;
        outcome.worstMs = Math.max(outcome.worstMs, ms);
        process.stdout.write(`${label} trial ${i + 1}: ${ms.toFixed(0)} ms${residue ? ', RESIDUE' : ''}\n`);
      }
      return outcome;
    }

    const controllerKilled = await scenario('controller-killed', '10m', async () => {
      await kubectl(plane, ['scale', 'deployment/kerris-controller', '-n', KERRIS_NAMESPACE, '--replicas=0']);
      await kubectl(plane, ['delete', 'pods', '-n', KERRIS_NAMESPACE, '-l', 'app.kubernetes.io/component=controller', '--grace-period=0', '--force'], { allowFailure: true });
      const gone = performance.now();
      const thawed = await waitFor('thawed by lease expiry', async () => !(await frozen()), LEASE_TTL_MS + 20_000);
      await fx.scaleController(2);
      return thawed - gone;
    });

    const daemonKilled = await scenario('daemon-killed', `${DEADLINE_DURATION_MS / 1000}s`, async (chaos) => {
      const { client, podName } = await daemonClientAs(plane, 'kerris-controller');
      client.close();
      await kubectl(plane, ['delete', 'pod', podName, '-n', KERRIS_NAMESPACE, '--grace-period=0', '--force'], { allowFailure: true });
      await waitFor('thawed at the deadline', async () => !(await frozen()), DEADLINE_DURATION_MS + 30_000);
      // Lateness against the duration's end, on this machine's clock (the apiserver's injectedAt is to the second).
      const late = Date.now() - (Date.parse(chaos.status?.injectedAt ?? '') + DEADLINE_DURATION_MS);
      await kubectl(plane, ['rollout', 'status', 'daemonset/kerris-daemon', '-n', KERRIS_NAMESPACE, '--timeout=120s'], { timeoutMs: 130_000 });
      return Math.max(0, late);
    });

    const cut = await scenario('cut', '10m', async (chaos) => {
      const { client, podName } = await daemonClientAs(plane, 'kerris-controller');
      const daemon = await kubectlJson<{ status: { containerStatuses?: Array<{ containerID?: string }> } }>(plane, ['get', 'pod', podName, '-n', KERRIS_NAMESPACE]);
      const pid = await containerd.taskPid(runtimeId(daemon.status.containerStatuses?.[0]?.containerID));
      const nft = (script: string) => run(['nsenter', '-t', String(pid), '-n', 'nft', '-f', '-'], { input: script });
      await nft('table inet kerris_bench_cut {\n  chain input {\n    type filter hook input priority -10;\n    tcp dport 9443 drop\n  }\n}\n');
      const cutAt = performance.now();
      try {
        await waitFor('thawed by lease expiry', async () => !(await frozen()), LEASE_TTL_MS + 20_000);
      } finally {
        await nft('delete table inet kerris_bench_cut\n');
      }
      const thawMs = performance.now() - cutAt;
      // Reconnected, the controller states the held fault again: held once per container, never twice.
      await waitFor('frozen again after the cut', frozen, 30_000);
      const held = await client.list({ experiment: chaos.metadata.uid ?? '' });
      client.close();
      assert.equal(held.injections.length, 1, `one injection after the cut, not ${held.injections.length}`);
      return thawMs;
    });

    const line = (label: string, o: Outcome, what: string) => `${label} ${o.trials} trials, residue ${o.residue}, worst revert ${o.worstMs.toFixed(0)} ms ${what}`;
    process.stdout.write(`faults: ${line('controller-killed', controllerKilled, 'after the controller went')}; ${line('daemon-killed', daemonKilled, 'after the deadline')}; `
      + `${line('cut', cut, 'after the port was blocked')} (lease TTL ${LEASE_TTL_MS / 1000} s)\n`);
    if (controllerKilled.residue + daemonKilled.residue + cut.residue > 0) process.exitCode = 1;
  } finally {
    containerd.close();
    await fx.cleanUp();
  }
}
