/**
 * node-drain and node-taint as the engine runs them: held faults on nodes, through the API. Apply writes the change
 * and its record on the node in one patch; a drain then evicts the node's pods through the Eviction API at every
 * pass until none is left; recover reads each node's record and puts back exactly what it says.
 */
import type { EvictedPod, NodeChaos, NodeFaultRecord } from '../../api/generated/types.ts';
import type { KubeClient } from '../../kube/client.ts';
import { isConflict, isNotFound } from '../../kube/errors.ts';
import { nodes, pods } from '../../kube/resources.ts';
import { formatTime } from '../../kube/time.ts';
import type { Pod } from '../../kube/types.ts';
import type { Store } from '../../runtime/store.ts';
import { mapLimit } from '../../util/concurrency.ts';
import type { Fault, RecoverOutcome, TargetRecord } from '../engine/experiment.ts';
import { evictionOutcome, heldRecord, keptOnDrain, planApply, planUndo, readinessSeen, withReplacements, type NodeObject } from './node-changes.ts';

/** The evicted pods a record lists; the rest are counted. */
const EVICTED_RECORDS = 50;
const EVICTION_CONCURRENCY = 4;
const MESSAGE_MAX = 512;

export interface NodeFaultOptions {
  client: KubeClient;
  pods: Store<Pod>;
  nodes: Store<NodeObject>;
  protectedNamespaces: ReadonlySet<string>;
  now: () => Date;
}

const describeError = (error: unknown) => (error instanceof Error ? error.message : String(error));

export function nodeFault(options: NodeFaultOptions, action: 'node-drain' | 'node-taint'): Fault<NodeChaos> {
  const { client, now } = options;
  const at = () => formatTime(now().getTime());

  /** Cordons or taints one node, recording what it was; Selected again when the node changed under the write. */
  async function inject(chaos: NodeChaos, target: TargetRecord): Promise<TargetRecord> {
    let node: NodeObject;
    try {
      node = await client.get(nodes, target.name);
    } catch (error) {
      if (isNotFound(error)) return { ...target, phase: 'Failed', message: 'the node is gone' };
      throw error;
    }
    if (node.metadata.uid !== target.uid) return { ...target, phase: 'Failed', message: 'the node was recreated since it was picked' };
    const plan = planApply(node, { uid: chaos.metadata.uid ?? '', name: `${chaos.metadata.namespace ?? ''}/${chaos.metadata.name ?? ''}` }, action, chaos.spec.taint);
    if (plan.kind === 'refused') return { ...target, phase: 'Failed', message: plan.message };
    let record: NodeFaultRecord = plan.record.taint ? { taint: plan.record.taint } : { cordoned: plan.record.cordoned === true, wasUnschedulable: plan.record.cordoned !== true };
    if (plan.kind === 'patch') {
      try {
        await client.patch(nodes, target.name, { type: 'merge', body: plan.patch });
      } catch (error) {
        if (isConflict(error)) return { ...target, message: 'the node changed while kerris wrote to it; trying again' };
        return { ...target, phase: 'Failed', message: `patch failed: ${describeError(error)}` };
      }
    }
    if (target.nodeFault) record = { ...target.nodeFault, ...record };
    const what = record.taint ? `tainted ${record.taint.key}${record.taint.value ? `=${record.taint.value}` : ''}:${record.taint.effect}`
      : record.cordoned ? 'cordoned' : 'already cordoned before; kerris leaves it so';
    return { ...target, phase: 'Injected', injectedAt: target.injectedAt ?? at(), nodeFault: record, message: what };
  }

  /** One eviction pass over a drained node: every pod still to go is asked to leave; a budget's refusal waits for the next pass. */
  async function drainPass(target: TargetRecord): Promise<TargetRecord> {
    const record = target.nodeFault ?? {};
    const evictedUids = new Set((record.evicted ?? []).map((e) => e.uid));
    const all = options.pods.list();
    const onNode = all.filter((p) => p.spec?.nodeName === target.name && keptOnDrain(p, options.protectedNamespaces) === undefined && !evictedUids.has(p.metadata.uid ?? ''));
    const outcomes = await mapLimit(onNode, EVICTION_CONCURRENCY, async (pod) => {
      const askedAt = at();
      let error: unknown;
      try {
        await client.createSubresource(pods, pod.metadata.name ?? '', 'eviction', {
          apiVersion: 'policy/v1', kind: 'Eviction',
          metadata: { name: pod.metadata.name, namespace: pod.metadata.namespace },
          // The very pod that was seen: a same-named successor is not evicted in its place.
          deleteOptions: { preconditions: { uid: pod.metadata.uid } },
        }, { namespace: pod.metadata.namespace ?? '' });
      } catch (caught) {
        error = caught;
      }
      return { pod, askedAt, outcome: evictionOutcome(error) };
    });
    const evicted: EvictedPod[] = [...(record.evicted ?? [])];
    let truncated = record.evictedTruncated ?? 0;
    let refusals = record.refusals ?? 0;
    let lastRefusal = record.lastRefusal;
    let remaining = 0;
    for (const { pod, askedAt, outcome } of outcomes) {
      if (outcome.kind === 'evicted') {
        const owner = pod.metadata.ownerReferences?.find((o) => o.controller);
        const entry: EvictedPod = { namespace: pod.metadata.namespace ?? '', name: pod.metadata.name ?? '', uid: pod.metadata.uid ?? '', evictedAt: askedAt, ...(owner ? { ownerUid: owner.uid } : {}) };
        if (evicted.length < EVICTED_RECORDS) evicted.push(entry);
        else truncated += 1;
      } else if (outcome.kind === 'refused') {
        refusals += 1;
        remaining += 1;
        lastRefusal = `${pod.metadata.namespace ?? ''}/${pod.metadata.name ?? ''}: ${outcome.message}`.slice(0, MESSAGE_MAX);
      } else if (outcome.kind === 'failed') {
        remaining += 1;
        lastRefusal = `${pod.metadata.namespace ?? ''}/${pod.metadata.name ?? ''}: ${outcome.message}`.slice(0, MESSAGE_MAX);
      }
    }
    const namespaces = new Set(evicted.map((e) => e.namespace));
    const next: NodeFaultRecord = {
      ...record,
      ...(evicted.length > 0 ? { evicted: withReplacements(evicted, all.filter((p) => namespaces.has(p.metadata.namespace ?? ''))) } : {}),
      ...(truncated > 0 ? { evictedTruncated: truncated } : {}),
      remaining, refusals,
      ...(lastRefusal !== undefined ? { lastRefusal } : {}),
      ...readiness(target.name, record),
    };
    const count = evicted.length + truncated;
    const held = record.cordoned ? 'cordoned' : 'already cordoned before';
    const message = `${held}; ${count} pod(s) evicted${remaining > 0 ? `, ${remaining} still to go (${refusals} refusal(s) by a PodDisruptionBudget so far)` : ''}`;
    return { ...target, nodeFault: next, message };
  }

  const readiness = (name: string, record: NodeFaultRecord) => readinessSeen(options.nodes.get(name), record, at());

  async function apply(chaos: NodeChaos, pending: readonly TargetRecord[], held: readonly TargetRecord[]): Promise<TargetRecord[]> {
    const injected = await mapLimit(pending, EVICTION_CONCURRENCY, (t) => inject(chaos, t));
    if (action === 'node-taint') {
      return pending.length > 0 ? injected : held.flatMap((t) => {
        const seen = { ...t.nodeFault, ...readiness(t.name, t.nodeFault ?? {}) };
        return JSON.stringify(seen) === JSON.stringify(t.nodeFault ?? {}) ? [] : [{ ...t, nodeFault: seen }];
      });
    }
    // The pass that injects reports its own targets; a restate (nothing pending) retries every held node's evictions.
    const draining = pending.length > 0 ? injected : held;
    return mapLimit(draining, EVICTION_CONCURRENCY, (t) => (t.phase === 'Injected' ? drainPass(t) : Promise.resolve(t)));
  }

  async function recover(chaos: NodeChaos, targets: readonly TargetRecord[]): Promise<RecoverOutcome> {
    const uid = chaos.metadata.uid ?? '';
    // Every node that may hold this experiment's change, whatever phase status gives it: a restart between the patch
    // and the status write leaves a record Selected, and the node's own annotation still says what was done.
    const names = new Set([
      ...targets.map((t) => t.name),
      ...(chaos.status?.targets ?? []).map((t) => t.name),
      ...options.nodes.list().filter((n) => heldRecord(n)?.uid === uid).map((n) => n.metadata.name ?? ''),
    ]);
    const problems: string[] = [];
    const done = new Map<string, string>();
    for (const name of [...names].sort()) {
      try {
        const node = await client.get(nodes, name);
        const held = heldRecord(node);
        const patch = planUndo(node, uid);
        if (patch !== undefined) await client.patch(nodes, name, { type: 'merge', body: patch });
        done.set(name, held?.uid !== uid ? 'nothing of this experiment left on the node'
          : held.taint ? `taint ${held.taint.key}:${held.taint.effect} removed` : held.cordoned ? 'uncordoned' : 'left cordoned, as it was before');
      } catch (error) {
        if (isNotFound(error)) done.set(name, 'the node is gone');
        else problems.push(`node ${name}: ${isConflict(error) ? 'changed while kerris restored it; trying again' : describeError(error)}`);
      }
    }
    const recoveredAt = at();
    const recovered = targets.map((t): TargetRecord => {
      const what = done.get(t.name);
      return what === undefined ? t : { ...t, phase: 'Recovered', recoveredAt, message: what, ...(t.nodeFault ? { nodeFault: { ...t.nodeFault, ...readiness(t.name, t.nodeFault) } } : {}) };
    });
    return problems.length === 0
      ? { targets: recovered, complete: true, message: `${done.size} node(s) restored` }
      : { targets: recovered, complete: false, message: problems.join('; ') };
  }

  return {
    holds: true,
    injectedReason: action === 'node-drain' ? 'Cordoned' : 'Tainted',
    apply,
    recover,
    // Held faults are followed by apply and recover; there is no one-time action to watch.
    observe: (_chaos, targets) => [...targets],
  };
}
