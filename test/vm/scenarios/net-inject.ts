/**
 * Scenario helpers: inject faults on a lab's target through the real engine
 * (validate, read state, plan, execute), run a measurement, revert, and report
 * whether the namespace's state came back exactly; plus ping and counters.
 */
import { applyPlan, revertPlan } from '../../../src/daemon/execute.ts';
import { planNetworkFaults } from '../../../src/daemon/net/plan.ts';
import { readTcState, snapshotKernelState } from '../../../src/daemon/net/snapshot.ts';
import type { KernelSnapshot } from '../../../src/daemon/net/snapshot.ts';
import { validateNetworkFault } from '../../../src/daemon/net/validate.ts';
import type { NodeCapabilities } from '../../../src/daemon/preflight.ts';
import type { Lab, Netns } from './net-lab.ts';

export interface Injected<T> {
  value: T;
  /** Every part of the kernel snapshot that differs after recovery (empty when restored exactly). */
  leftovers: string[];
}

function differences(before: KernelSnapshot, after: KernelSnapshot): string[] {
  return (Object.keys(before) as (keyof KernelSnapshot)[])
    .filter((key) => JSON.stringify(before[key]) !== JSON.stringify(after[key]))
    .map((key) => `${key}: before ${JSON.stringify(before[key])} after ${JSON.stringify(after[key])}`);
}

export async function injected<T>(lab: Lab, caps: NodeCapabilities, inputs: readonly unknown[], measure: () => Promise<T>): Promise<Injected<T>> {
  const netns = lab.target.path;
  const before = await snapshotKernelState(netns);
  const plan = planNetworkFaults({ netns, devices: lab.peers.map((p) => p.device) }, inputs.map(validateNetworkFault), caps, await readTcState(netns));
  await applyPlan(plan);
  let value: T;
  try {
    value = await measure();
  } finally {
    await revertPlan(plan);
  }
  return { value, leftovers: differences(before, await snapshotKernelState(netns)) };
}

/** Round-trip times in ms of `count` pings from `from` to `host`, one every `intervalS` seconds (lost ones omitted). */
export async function pingRtts(lab: Lab, from: Netns, host: string, count: number, intervalS = 0.05): Promise<number[]> {
  const result = await lab.exec(from, ['ping', '-n', '-c', String(count), '-i', String(intervalS), '-W', '3', host], { allowFailure: true, timeoutMs: 120_000 });
  return [...result.stdout.matchAll(/time=([0-9.]+) ms/g)].map((m) => Number(m[1]));
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[mid] ?? NaN) : ((sorted[mid - 1] ?? NaN) + (sorted[mid] ?? NaN)) / 2;
}

export function stdev(values: readonly number[]): number {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  return Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length);
}

export type SnmpCounters = Record<string, number>;

/** The namespace's /proc/net/snmp as "Proto.Field" -> value (e.g. "Udp.InDatagrams"). */
export async function snmp(lab: Lab, ns: Netns): Promise<SnmpCounters> {
  const text = (await lab.exec(ns, ['cat', '/proc/net/snmp'])).stdout.trim().split('\n');
  const counters: SnmpCounters = {};
  for (let i = 0; i + 1 < text.length; i += 2) {
    const [proto, ...names] = (text[i] ?? '').split(/\s+/);
    const values = (text[i + 1] ?? '').split(/\s+/).slice(1);
    names.forEach((name, j) => { counters[`${(proto ?? '').replace(/:$/, '')}.${name}`] = Number(values[j]); });
  }
  return counters;
}

export function counterDelta(before: SnmpCounters, after: SnmpCounters, keys: readonly string[]): SnmpCounters {
  return Object.fromEntries(keys.map((k) => [k, (after[k] ?? 0) - (before[k] ?? 0)]));
}
