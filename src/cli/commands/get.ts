/** `kubectl kerris get [KIND] [NAME]`: experiments of every kerris kind, or of one, as a table or as objects. */
import type { Experiment } from '../../controller/engine/experiment.ts';
import { apiVersionOf } from '../../kube/resource.ts';
import type { Session } from '../context.ts';
import { CHAOS_KINDS, findExperiment, kindNamed, type ChaosKindInfo } from '../experiments.ts';
import { age, listFormat, serialise, table } from '../output.ts';

interface Row {
  info: ChaosKindInfo;
  chaos: Experiment;
}

/** What the spec asks for in a few words: the action, and NetworkChaos's main parameter. */
export function actionOf(chaos: Experiment): string {
  const spec = chaos.spec as unknown as Record<string, unknown>;
  return typeof spec['action'] === 'string' ? spec['action'] : '';
}

function columns(row: Row, wide: boolean, withNamespace: boolean, now: number): string[] {
  const { chaos, info } = row;
  const status = chaos.status ?? {};
  const spec = chaos.spec as unknown as Record<string, unknown>;
  const cells = [
    ...(withNamespace ? [chaos.metadata.namespace ?? ''] : []),
    `${info.names[0]}/${chaos.metadata.name ?? ''}`,
    actionOf(chaos),
    status.phase ?? 'Pending',
    String(status.selected ?? 0),
    String(status.injected ?? 0),
    String(status.recovered ?? 0),
    String(status.failed ?? 0),
    chaos.spec.duration ?? '-',
    age(chaos.metadata.creationTimestamp, now),
  ];
  if (!wide) return cells;
  const nodes = [...new Set((status.targets ?? []).map((t) => t.node).filter((n): n is string => n !== undefined))].sort();
  const verdicts = (status.targets ?? []).map((t) => t.verification?.verdict).filter((v): v is NonNullable<typeof v> => v !== undefined);
  const verdict = status.verdict ? `${status.verdict.result} ${status.verdict.score}` : '-';
  return [...cells, String(spec['mode'] ?? ''), chaos.spec.paused ? 'true' : 'false', chaos.spec.dryRun ? 'true' : 'false', nodes.join(',') || '-', verdicts.join(',') || '-', verdict];
}

export async function getCommand(session: Session, output: string | undefined, kindArg: string | undefined, name: string | undefined): Promise<string> {
  const format = listFormat(output);
  const namespace = session.allNamespaces ? undefined : session.namespace;
  let rows: Row[];
  if (name !== undefined) {
    const ref = kindArg === undefined ? name : `${kindArg}/${name}`;
    rows = [await findExperiment(session.client, session.namespace, ref)];
  } else {
    const kinds = kindArg === undefined || kindArg === 'all' ? CHAOS_KINDS : [kindNamed(kindArg)];
    rows = [];
    for (const info of kinds) {
      const list = await session.client.listAll(info.resource, namespace === undefined ? {} : { namespace });
      rows.push(...list.items.map((chaos) => ({ info, chaos: { ...chaos, apiVersion: apiVersionOf(info.resource), kind: info.kind } as Experiment })));
    }
  }
  rows.sort((a, b) => (a.chaos.metadata.namespace ?? '').localeCompare(b.chaos.metadata.namespace ?? '') || a.info.kind.localeCompare(b.info.kind) || (a.chaos.metadata.name ?? '').localeCompare(b.chaos.metadata.name ?? ''));
  if (format === 'json' || format === 'yaml') {
    const objects = rows.map((r) => r.chaos);
    return serialise(name !== undefined ? objects[0] : { apiVersion: 'v1', kind: 'List', items: objects }, format);
  }
  if (rows.length === 0) return `No chaos experiments found${namespace === undefined ? '' : ` in ${namespace} namespace`}.\n`;
  const withNamespace = session.allNamespaces;
  const headers = [...(withNamespace ? ['namespace'] : []), 'name', 'action', 'phase', 'targets', 'injected', 'recovered', 'failed', 'duration', 'age',
    ...(format === 'wide' ? ['mode', 'paused', 'dry-run', 'nodes', 'verified', 'verdict'] : [])];
  const now = Date.now();
  return table(headers, rows.map((r) => columns(r, format === 'wide', withNamespace, now)));
}
