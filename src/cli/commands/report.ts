/** `kubectl kerris report NAME [-o html|json]`: one experiment's record, as a self-contained HTML page or as JSON. */
import { writeFile } from 'node:fs/promises';
import type { Session } from '../context.ts';
import { UsageError } from '../errors.ts';
import { findExperiment } from '../experiments.ts';
import { buildReport, type ReportedChaos } from '../report/model.ts';
import { renderHtml } from '../report/html.ts';
import { eventsOf } from './describe.ts';

export async function reportCommand(session: Session, ref: string, output: string | undefined, file: string | undefined): Promise<string> {
  const format = output ?? 'html';
  if (format !== 'html' && format !== 'json') throw new UsageError(`-o ${format}: a report is html or json`);
  const { info, chaos } = await findExperiment(session.client, session.namespace, ref);
  const experiment = { ...chaos, apiVersion: 'chaos.kerris.dev/v1alpha1', kind: info.kind } as ReportedChaos;
  const report = buildReport({ experiment, events: await eventsOf(session.client, chaos), generatedAt: new Date() });
  const text = format === 'json' ? `${JSON.stringify(report, null, 2)}\n` : renderHtml(report);
  if (file === undefined) return text;
  await writeFile(file, text);
  return `report of ${info.names[0]}/${chaos.metadata.name ?? ''} written to ${file}\n`;
}
