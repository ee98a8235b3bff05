/** Pure status arithmetic shared by every chaos kind: counts over target records. */
import type { ChaosTarget } from '../../api/generated/types.ts';
import type { ChaosStatus } from './experiment.ts';

/** At most this many targets get a record in status; the counts cover all of them. */
export const MAX_TARGET_RECORDS = 100;

export interface Counts {
  selected: number;
  injected: number;
  recovered: number;
  failed: number;
}

const recordedIn = (records: readonly ChaosTarget[], phase: ChaosTarget['phase']): number => records.filter((r) => r.phase === phase).length;

/** Counts over recorded targets plus those without a record, whose fate `untracked` describes. */
export function countTargets(records: readonly ChaosTarget[], untracked: Counts): Counts {
  return {
    selected: records.length + untracked.selected,
    injected: recordedIn(records, 'Injected') + untracked.injected,
    recovered: recordedIn(records, 'Recovered') + untracked.recovered,
    failed: recordedIn(records, 'Failed') + untracked.failed,
  };
}

/**
 * What status tells of the targets that have no record (beyond
 * MAX_TARGET_RECORDS): the counts minus what the records account for.
 * Their recovery is not tracked one by one.
 */
export function untrackedCounts(status: ChaosStatus | undefined): Counts {
  const records = status?.targets ?? [];
  return {
    selected: status?.targetsTruncated ?? 0,
    injected: Math.max(0, (status?.injected ?? 0) - recordedIn(records, 'Injected')),
    recovered: 0,
    failed: Math.max(0, (status?.failed ?? 0) - recordedIn(records, 'Failed')),
  };
}
