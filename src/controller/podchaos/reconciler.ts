/**
 * The PodChaos reconciler: reads the experiment afresh, decides its next step
 * from spec and status, does it, and records it in status before anything
 * else happens, so that a restarted controller resumes where it stopped.
 */
import { randomInt } from 'node:crypto';
import type { PodChaos, PodChaosStatus, PodChaosTarget } from '../../api/generated/types.ts';
import type { KubeClient } from '../../kube/client.ts';
import { isNotFound } from '../../kube/errors.ts';
import { namespaces, nodes, pods } from '../../kube/resources.ts';
import { formatTime } from '../../kube/time.ts';
import type { Pod } from '../../kube/types.ts';
import { awaitChange, requeueAfter, type Action } from '../../runtime/action.ts';
import { findCondition, setCondition } from '../../runtime/conditions.ts';
import type { EventRecorder } from '../../runtime/events.ts';
import { addFinalizer, removeFinalizer } from '../../runtime/finalizer.ts';
import { mapLimit } from '../../util/concurrency.ts';
import { parseDuration } from './duration.ts';
import { assessRecovery, killTarget, observePod } from './pod-kill.ts';
import { podChaos, RECOVERY_FINALIZER } from './resource.ts';
import {
  admitNamespaces, filterCandidates, pickTargets, selectedNamespaces, SelectorError, targetCount, type CandidatePod, type SafetyPolicy,
} from './selection.ts';
import { countTargets, MAX_TARGET_RECORDS, untrackedCounts } from './status.ts';

export interface PodChaosReconcilerOptions {
  safety: SafetyPolicy;
  /** How often to look for replacements while targets recover; pod events also wake the reconciler. */
  recoveryPollMs?: number;
  /** How many pods are deleted at once. */
  killConcurrency?: number;
  now?: () => Date;
}

const SUPPORTED_ACTIONS = new Set(['pod-kill']);

export class PodChaosReconciler {
  readonly #client: KubeClient;
  readonly #events: EventRecorder;
  readonly #options: Required<PodChaosReconcilerOptions>;

  constructor(client: KubeClient, events: EventRecorder, options: PodChaosReconcilerOptions) {
    this.#client = client;
    this.#events = events;
    this.#options = { recoveryPollMs: 2_000, killConcurrency: 16, now: () => new Date(), ...options };
  }

  async reconcile(key: { namespace: string; name: string }): Promise<Action> {
    let chaos: PodChaos;
    try {
      // The cache may lag our own last status write; decisions are made on the stored object.
      chaos = await this.#client.get(podChaos, key.name, { namespace: key.namespace });
    } catch (error) {
      if (isNotFound(error)) return awaitChange();
      throw error;
    }
    if (chaos.metadata.deletionTimestamp) return this.#finalize(chaos);
    const status = chaos.status ?? {};
    if (status.phase === 'Finished' || status.phase === 'Failed') return awaitChange();
    chaos = await addFinalizer(this.#client, podChaos, chaos, RECOVERY_FINALIZER);
    if (!SUPPORTED_ACTIONS.has(chaos.spec.action)) {
      await this.#fail(chaos, 'Unsupported', `action ${chaos.spec.action} is not supported yet: it acts through the kerris node daemon, which this controller does not drive yet; nothing was done`);
      return awaitChange();
    }
    if (chaos.spec.paused) return this.#holdPaused(chaos);
    if (status.experiment?.pausedAt) chaos = await this.#resume(chaos);
    if (chaos.status?.selected === undefined) return this.#select(chaos);
    const pending = (chaos.status?.targets ?? []).filter((t) => t.phase === 'Selected');
    if (pending.length > 0) chaos = await this.#inject(chaos, pending);
    return this.#observeRecovery(chaos);
  }

  /**
   * Replaces the whole status (a field left out is removed), with optimistic
   * concurrency: a stale view of the experiment fails with a conflict and is
   * retried on a fresh read, never written over newer state.
   */
  async #writeStatus(chaos: PodChaos, status: PodChaosStatus): Promise<PodChaos> {
    const updated = await this.#client.replaceStatus(podChaos, { ...chaos, status: { ...status, observedGeneration: chaos.metadata.generation ?? 0 } });
    // A finished or failed experiment holds nothing, so nothing needs to run before it is deleted.
    return status.phase === 'Finished' || status.phase === 'Failed' ? removeFinalizer(this.#client, podChaos, updated, RECOVERY_FINALIZER) : updated;
  }

  #condition(chaos: PodChaos, status: PodChaosStatus, type: string, value: 'True' | 'False', reason: string, message: string): PodChaosStatus {
    const update = { type, status: value, reason, message, ...(chaos.metadata.generation === undefined ? {} : { observedGeneration: chaos.metadata.generation }) };
    return { ...status, conditions: setCondition(status.conditions, update, this.#options.now().getTime()) };
  }

  #event(chaos: PodChaos, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    return this.#events.record(podChaos, chaos, { type, reason, message });
  }

  async #fail(chaos: PodChaos, reason: string, message: string): Promise<void> {
    const status = this.#condition(chaos, { ...chaos.status, phase: 'Failed', experiment: { ...chaos.status?.experiment, desiredPhase: 'Stop' } }, 'Failed', 'True', reason, message);
    await this.#writeStatus(chaos, status);
    await this.#event(chaos, 'Warning', reason, message);
  }

  async #holdPaused(chaos: PodChaos): Promise<Action> {
    if (findCondition(chaos.status?.conditions, 'Paused')?.status === 'True') return awaitChange();
    const now = this.#options.now();
    const message = chaos.status?.selected === undefined ? 'paused before it started; nothing is injected until spec.paused is false' : 'paused; a kill already done cannot be undone, and the duration clock is stopped';
    const status = this.#condition(chaos, {
      ...chaos.status,
      phase: 'Paused',
      experiment: { ...chaos.status?.experiment, desiredPhase: 'Stop', pausedAt: formatTime(now.getTime()) },
    }, 'Paused', 'True', 'PausedBySpec', message);
    await this.#writeStatus(chaos, status);
    await this.#event(chaos, 'Normal', 'Paused', message);
    return awaitChange();
  }

  async #resume(chaos: PodChaos): Promise<PodChaos> {
    const experiment = chaos.status?.experiment ?? { desiredPhase: 'Run' };
    // Only a pause after injection stops the duration clock; before it, the clock has not started.
    const pausedMs = chaos.status?.injectedAt ? Math.max(0, this.#options.now().getTime() - Date.parse(experiment.pausedAt ?? '')) : 0;
    const { pausedAt: _, ...rest } = experiment;
    const status = this.#condition(chaos, {
      ...chaos.status,
      phase: chaos.status?.selected === undefined ? 'Pending' : 'Running',
      experiment: { ...rest, desiredPhase: 'Run', pausedSeconds: (experiment.pausedSeconds ?? 0) + Math.round(pausedMs / 1000) },
    }, 'Paused', 'False', 'Resumed', 'spec.paused is false');
    const updated = await this.#writeStatus(chaos, status);
    await this.#event(chaos, 'Normal', 'Resumed', 'the experiment goes on');
    return updated;
  }

  /** Lists candidates and picks the targets: the one step that decides who is hit. */
  async #select(chaos: PodChaos): Promise<Action> {
    const namespace = chaos.metadata.namespace ?? '';
    const wanted = selectedNamespaces(chaos.spec.selector, namespace);
    const existing = await Promise.all(wanted.map(async (name) => {
      try {
        const ns = await this.#client.get(namespaces, name);
        return { name, annotations: ns.metadata.annotations ?? {} };
      } catch (error) {
        if (isNotFound(error)) return undefined;
        throw error;
      }
    }));
    const { admitted, refused } = admitNamespaces(existing.filter((n) => n !== undefined), this.#options.safety);
    const missing = wanted.filter((name) => !existing.some((n) => n?.name === name));
    const listed = (await Promise.all(admitted.map((ns) => this.#client.listAll(pods, { namespace: ns })))).flatMap((s) => s.items);
    const nodeLabels = new Map<string, Record<string, string>>();
    if (chaos.spec.selector.nodeSelectors) {
      for (const node of (await this.#client.listAll(nodes)).items) nodeLabels.set(node.metadata.name ?? '', node.metadata.labels ?? {});
    }
    const seed = chaos.spec.seed ?? randomInt(0, 2 ** 47);
    let chosen: CandidatePod[];
    try {
      const candidates = filterCandidates(listed.map(toCandidate), chaos.spec.selector, new Set(admitted), nodeLabels);
      chosen = pickTargets(candidates, targetCount(chaos.spec.mode, chaos.spec.value, candidates.length, seed), seed);
    } catch (error) {
      if (!(error instanceof SelectorError)) throw error;
      await this.#fail(chaos, 'InvalidSelector', error.message);
      return awaitChange();
    }
    const owners = new Map(listed.map((p) => [p.metadata.uid ?? '', p.metadata.ownerReferences?.find((o) => o.controller)]));
    const notes = [
      ...refused.map((r) => r.reason === 'Protected'
        ? `namespace ${r.namespace} is protected and never targeted unless the operator allows it`
        : `namespace ${r.namespace} has not opted in (annotation chaos.kerris.dev/inject=enabled)`),
      ...missing.map((name) => `namespace ${name} does not exist`),
    ];
    const now = this.#options.now();
    let status: PodChaosStatus = { ...chaos.status, seed, startTime: chaos.status?.startTime ?? formatTime(now.getTime()) };
    if (chosen.length === 0) {
      const message = ['the selector matched no pods', ...notes].join('; ');
      status = this.#condition(chaos, status, 'Selected', 'False', refused.length > 0 ? 'NamespaceRefused' : 'NoTargets', message);
      status = this.#condition(chaos, { ...status, phase: 'Failed', selected: 0, experiment: { desiredPhase: 'Stop' } }, 'Failed', 'True', refused.length > 0 ? 'NamespaceRefused' : 'NoTargets', message);
      await this.#writeStatus(chaos, status);
      await this.#event(chaos, 'Warning', refused.length > 0 ? 'NamespaceRefused' : 'NoTargets', message);
      return awaitChange();
    }
    const records: PodChaosTarget[] = chosen.slice(0, MAX_TARGET_RECORDS).map((pod) => {
      const owner = owners.get(pod.uid);
      return {
        namespace: pod.namespace, name: pod.name, uid: pod.uid, phase: 'Selected',
        ...(pod.nodeName ? { node: pod.nodeName } : {}),
        ...(owner ? { owner: { kind: owner.kind, name: owner.name, uid: owner.uid } } : {}),
      };
    });
    const message = [`picked ${chosen.length} of the candidate pods with seed ${seed}`, ...notes].join('; ');
    status = this.#condition(chaos, {
      ...status,
      ...countTargets(records, { selected: chosen.length - records.length, injected: 0, recovered: 0, failed: 0 }),
      targets: records,
      targetsTruncated: chosen.length - records.length,
      phase: chaos.spec.dryRun ? 'Finished' : 'Running',
      experiment: { desiredPhase: chaos.spec.dryRun ? 'Stop' : 'Run' },
    }, 'Selected', 'True', 'TargetsPicked', message);
    if (chaos.spec.dryRun) status = this.#condition(chaos, status, 'AllInjected', 'False', 'DryRun', 'dry run: nothing was injected');
    const updated = await this.#writeStatus(chaos, status);
    await this.#event(chaos, 'Normal', 'Selected', `${message}: ${chosen.slice(0, 10).map((p) => `${p.namespace}/${p.name}`).join(', ')}${chosen.length > 10 ? ', …' : ''}`);
    if (chaos.spec.dryRun) {
      await this.#event(chaos, 'Normal', 'DryRun', 'dry run finished: targets reported in status, nothing injected');
      return awaitChange();
    }
    return this.#observeRecovery(await this.#inject(updated, records, chosen.slice(MAX_TARGET_RECORDS)));
  }

  /**
   * Kills the pending targets. Targets beyond the record limit are killed in
   * the same pass as they were picked and only counted: a restart in between
   * leaves them unkilled and counted as failed, never killed twice.
   */
  async #inject(chaos: PodChaos, pending: readonly PodChaosTarget[], unrecorded: readonly CandidatePod[] = []): Promise<PodChaos> {
    const grace = chaos.spec.gracePeriod ?? 0;
    const killed = await mapLimit(pending, this.#options.killConcurrency, (t) => killTarget(this.#client, t, grace, this.#options.now));
    const unrecordedKills = await mapLimit(unrecorded, this.#options.killConcurrency, (pod) =>
      killTarget(this.#client, { namespace: pod.namespace, name: pod.name, uid: pod.uid, phase: 'Selected' }, grace, this.#options.now));
    const byUid = new Map(killed.map((t) => [t.uid, t]));
    const records = (chaos.status?.targets ?? []).map((t) => byUid.get(t.uid) ?? t);
    const untracked = untrackedCounts(chaos.status);
    const lostToRestart = unrecorded.length === 0 && (chaos.status?.targetsTruncated ?? 0) > untracked.injected + untracked.failed
      ? (chaos.status?.targetsTruncated ?? 0) - untracked.injected - untracked.failed : 0;
    untracked.injected += unrecordedKills.filter((t) => t.phase === 'Injected').length;
    untracked.failed += unrecordedKills.filter((t) => t.phase === 'Failed').length + lostToRestart;
    const counts = countTargets(records, untracked);
    const now = formatTime(this.#options.now().getTime());
    const failures = [...killed, ...unrecordedKills].filter((t) => t.phase === 'Failed');
    let status: PodChaosStatus = { ...chaos.status, ...counts, targets: records, injectedAt: chaos.status?.injectedAt ?? now, phase: 'Running' };
    status = failures.length === 0 && lostToRestart === 0
      ? this.#condition(chaos, status, 'AllInjected', 'True', 'Killed', `killed ${counts.injected} pod(s)`)
      : this.#condition(chaos, status, 'AllInjected', 'False', 'InjectionFailed',
        [`${failures.length + lostToRestart} of ${counts.selected} target(s) could not be killed`, ...failures.slice(0, 3).map((t) => `${t.namespace}/${t.name}: ${t.message ?? ''}`),
          ...(lostToRestart > 0 ? [`${lostToRestart} target(s) beyond the record limit were lost by a controller restart before the kill`] : [])].join('; '));
    const updated = await this.#writeStatus(chaos, status);
    for (const target of killed.filter((t) => t.phase === 'Injected')) await this.#event(chaos, 'Normal', 'Killed', `pod ${target.namespace}/${target.name}: ${target.message ?? ''}`);
    if (unrecordedKills.length > 0) await this.#event(chaos, 'Normal', 'Killed', `${unrecordedKills.length} more pod(s) beyond the record limit`);
    for (const target of failures) await this.#event(chaos, 'Warning', 'InjectionFailed', `pod ${target.namespace}/${target.name}: ${target.message ?? ''}`);
    return updated;
  }

  /** Looks for each killed target's replacement; finishes once all recovered and the duration is over. */
  async #observeRecovery(chaos: PodChaos): Promise<Action> {
    const status = chaos.status ?? {};
    const records = status.targets ?? [];
    const now = this.#options.now();
    const namespacesHit = [...new Set(records.filter((t) => t.phase === 'Injected').map((t) => t.namespace))];
    const live = (await Promise.all(namespacesHit.map((ns) => this.#client.listAll(pods, { namespace: ns })))).flatMap((s) => s.items.map(observePod));
    const claimed = new Set(records.filter((t) => t.replacedBy).map((t) => `${t.namespace}/${t.replacedBy}`));
    const assessed = records.map((t) => assessRecovery(t, live, claimed, status.startTime ?? '', now));
    const newlyRecovered = assessed.filter((t, i) => t.phase === 'Recovered' && records[i]?.phase !== 'Recovered');
    const counts = countTargets(assessed, untrackedCounts(status));
    const waiting = assessed.filter((t) => t.phase === 'Injected');
    const lastRecovery = assessed.map((t) => t.recoveredAt ?? '').sort().at(-1);

    const heldMs = status.injectedAt ? now.getTime() - Date.parse(status.injectedAt) - (status.experiment?.pausedSeconds ?? 0) * 1000 : 0;
    const durationMs = chaos.spec.duration ? parseDuration(chaos.spec.duration) : 0;
    const remainingMs = Math.max(0, durationMs - heldMs);
    const done = waiting.length === 0 && remainingMs === 0;

    let next: PodChaosStatus = { ...status, ...counts, targets: assessed };
    next = waiting.length === 0
      ? this.#condition(chaos, { ...next, ...(lastRecovery ? { recoveredAt: lastRecovery } : {}) }, 'AllRecovered', 'True', 'Recovered', `${counts.recovered} target(s) recovered${counts.failed > 0 ? `, ${counts.failed} failed` : ''}${(status.targetsTruncated ?? 0) > 0 ? `; ${status.targetsTruncated} target(s) beyond the record limit are not tracked` : ''}`)
      : this.#condition(chaos, next, 'AllRecovered', 'False', 'Recovering', `${waiting.length} target(s) not recovered yet: ${waiting.slice(0, 3).map((t) => `${t.namespace}/${t.name}: ${t.message ?? ''}`).join('; ')}`);
    if (done) next = { ...next, phase: 'Finished', experiment: { ...next.experiment, desiredPhase: 'Stop' } };
    const changed = JSON.stringify(next) !== JSON.stringify(status);
    if (changed) await this.#writeStatus(chaos, next);
    for (const target of newlyRecovered) await this.#event(chaos, 'Normal', 'Recovered', `pod ${target.namespace}/${target.name}: ${target.message ?? ''}`);
    if (done && changed) {
      await this.#event(chaos, 'Normal', 'Finished', `all ${counts.selected} target(s) handled: ${counts.recovered} recovered, ${counts.failed} failed`);
      return awaitChange();
    }
    if (done) return awaitChange();
    return requeueAfter(waiting.length > 0 ? Math.min(this.#options.recoveryPollMs, Math.max(remainingMs, 1)) : remainingMs);
  }

  /** Deletion: take every fault away, then let the object go. pod-kill leaves nothing to undo. */
  async #finalize(chaos: PodChaos): Promise<Action> {
    if (!(chaos.metadata.finalizers ?? []).includes(RECOVERY_FINALIZER)) return awaitChange();
    await removeFinalizer(this.#client, podChaos, chaos, RECOVERY_FINALIZER);
    await this.#event(chaos, 'Normal', 'Recovered', 'deleted: nothing left to take away');
    return awaitChange();
  }
}

function toCandidate(pod: Pod): CandidatePod {
  return {
    namespace: pod.metadata.namespace ?? '',
    name: pod.metadata.name ?? '',
    uid: pod.metadata.uid ?? '',
    labels: pod.metadata.labels ?? {},
    annotations: pod.metadata.annotations ?? {},
    phase: pod.status?.phase ?? 'Unknown',
    ...(pod.spec?.nodeName ? { nodeName: pod.spec.nodeName } : {}),
    terminating: pod.metadata.deletionTimestamp !== undefined,
  };
}
