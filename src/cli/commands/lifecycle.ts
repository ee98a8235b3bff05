/**
 * `pause`, `resume` and `abort`: the only writes the CLI makes to an experiment. Pause and resume set spec.paused,
 * the one spec field that may change; abort sets the abort annotation and waits until the controller has taken every
 * fault away (phase Aborted), showing where it stands meanwhile.
 */
import { ABORT_ANNOTATION } from '../../controller/engine/lifecycle.ts';
import type { Experiment } from '../../controller/engine/experiment.ts';
import { sleep } from '../../runtime/sleep.ts';
import type { Session } from '../context.ts';
import { CliError, EXIT } from '../errors.ts';
import { findExperiment } from '../experiments.ts';
import { progress } from '../progress.ts';

const DONE: ReadonlySet<string> = new Set(['Finished', 'Aborted', 'Failed']);

export async function setPaused(session: Session, ref: string, paused: boolean): Promise<string> {
  const { info, chaos } = await findExperiment(session.client, session.namespace, ref);
  const name = chaos.metadata.name ?? '';
  if (DONE.has(chaos.status?.phase ?? '')) throw new CliError(`${info.names[0]}/${name} is ${chaos.status?.phase}; there is nothing to ${paused ? 'pause' : 'resume'}`);
  if ((chaos.spec.paused ?? false) === paused) return `${info.names[0]}/${name} is already ${paused ? 'paused' : 'running'}\n`;
  await session.client.patch(info.resource, name, { type: 'merge', body: { spec: { paused } } }, { namespace: session.namespace });
  return `${info.names[0]}/${name} ${paused ? 'paused: held faults are taken away, the duration clock stops' : 'resumed'}\n`;
}

/** How far the abort has come, in one line. */
function standing(chaos: Experiment): string {
  const s = chaos.status ?? {};
  const condition = s.conditions?.find((c) => c.type === 'Aborted');
  return `${s.phase ?? 'Pending'}: ${s.injected ?? 0} injected, ${s.recovered ?? 0} recovered, ${s.failed ?? 0} failed${condition?.status === 'False' ? ` (${condition.message})` : ''}`;
}

export interface AbortOptions {
  reason?: string;
  wait: boolean;
  timeoutMs: number;
}

export async function abortCommand(session: Session, ref: string, options: AbortOptions): Promise<string> {
  const { info, chaos } = await findExperiment(session.client, session.namespace, ref);
  const name = chaos.metadata.name ?? '';
  const label = `${info.names[0]}/${name}`;
  if (DONE.has(chaos.status?.phase ?? '')) return `${label} is already ${chaos.status?.phase}\n`;
  const reason = options.reason ?? `aborted with kubectl kerris at ${new Date().toISOString()}`;
  await session.client.patch(info.resource, name, { type: 'merge', body: { metadata: { annotations: { [ABORT_ANNOTATION]: reason } } } }, { namespace: session.namespace });
  if (!options.wait) return `${label} abort requested\n`;
  const shown = progress();
  const deadline = performance.now() + options.timeoutMs;
  for (;;) {
    const now = await session.client.get(info.resource, name, { namespace: session.namespace });
    const phase = now.status?.phase ?? '';
    if (phase === 'Aborted') {
      shown.done(`${label} aborted: ${standing(now)}`);
      return '';
    }
    if (phase === 'Finished' || phase === 'Failed') {
      shown.done(`${label} ended ${phase} before the abort took effect: ${standing(now)}`);
      return '';
    }
    shown.update(`${label} aborting… ${standing(now)}`);
    if (performance.now() > deadline) {
      shown.done(`${label} not yet recovered: ${standing(now)}`);
      throw new CliError(`${label}: the controller has not recovered every target within ${Math.round(options.timeoutMs / 1000)} s; it keeps trying (kubectl kerris describe ${label})`, EXIT.failed);
    }
    await sleep(500);
  }
}
