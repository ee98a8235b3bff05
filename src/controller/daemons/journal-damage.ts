/**
 * Tells people about journal files a node daemon found damaged and set aside at its start (Capabilities'
 * journal_damage): the faults they recorded are held by nobody, so whatever kernel state they named must be checked
 * by hand. Each file gets one Warning Event on the daemon pod that reported it, and a log line. Leader only, like the
 * other daemon loops, so two replicas never report the same file twice.
 */
import { pods } from '../../kube/resources.ts';
import type { EventRecorder } from '../../runtime/events.ts';
import type { Runnable } from '../../runtime/manager.ts';
import { sleep } from '../../runtime/sleep.ts';
import type { Logger } from '../../util/log.ts';
import { DaemonUnavailableError, type DaemonFleet } from './fleet.ts';

/** How often the daemons are asked; a new daemon pod is asked at the next look. */
export const JOURNAL_DAMAGE_INTERVAL_MS = 60_000;

export function journalDamageReporter(fleet: DaemonFleet, events: EventRecorder, log: Logger, intervalMs = JOURNAL_DAMAGE_INTERVAL_MS): Runnable {
  /** `<daemon pod uid>/<file>` already reported by this replica. */
  const reported = new Set<string>();
  async function look(): Promise<void> {
    for (const node of fleet.nodes()) {
      let found;
      try {
        found = await fleet.journalDamage(node);
      } catch (error) {
        if (error instanceof DaemonUnavailableError) continue;
        throw error;
      }
      for (const damage of found.damage) {
        const key = `${found.pod.metadata.uid ?? ''}/${damage.file}`;
        if (reported.has(key)) continue;
        reported.add(key);
        const where = damage.movedTo === '' ? 'it could not be moved aside' : `moved to ${damage.movedTo} in the journal directory`;
        const message = `node ${node}: journal file ${damage.file} is ${damage.kind} (${damage.reason}); ${where}. The fault it recorded is held by nobody: check that node's kernel state by hand, then delete the file`;
        log.warn('daemon journal damage', { node, file: damage.file, kind: damage.kind, reason: damage.reason, movedTo: damage.movedTo });
        await events.record(pods, found.pod, { type: 'Warning', reason: 'JournalDamaged', message });
      }
    }
  }
  return {
    name: 'daemon-journal-damage',
    async run(signal) {
      do {
        try {
          await look();
        } catch (error) {
          log.error('asking the daemons about their journals failed; retrying', { error });
        }
      } while (await sleep(intervalMs, signal));
    },
  };
}
