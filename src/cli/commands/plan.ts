/**
 * `kubectl kerris plan -f FILE`: the blast radius of each experiment in the file before anything runs. Exits 3 when
 * a plan is unsafe, unless --allow-unsafe; nothing is created either way (the apiserver sees a dry run only).
 */
import { readFile } from 'node:fs/promises';
import { parseAllDocuments } from 'yaml';
import { chaosApi } from '../../api/group.ts';
import type { Session } from '../context.ts';
import { CliError, EXIT, UsageError } from '../errors.ts';
import { kindNamed, type AnyChaos } from '../experiments.ts';
import { listFormat, serialise } from '../output.ts';
import { planBlastRadius, type Plan } from '../plan/blast-radius.ts';
import { gatherNodePlanInput, gatherPlanInput } from '../plan/gather.ts';
import { planNodeBlastRadius, type NodePlan } from '../plan/node-blast-radius.ts';
import { renderNodePlan, renderPlan } from '../plan/render.ts';

const API_VERSION = `${chaosApi.group}/${chaosApi.version}`;

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** The chaos objects of a manifest file ("-": standard input), each checked for a kind kerris has. */
export async function readManifests(file: string, defaultNamespace: string): Promise<AnyChaos[]> {
  const text = file === '-' ? await readStdin() : await readFile(file, 'utf8').catch((e: Error) => { throw new UsageError(`-f ${file}: ${e.message}`); });
  const objects: AnyChaos[] = [];
  for (const [index, document] of parseAllDocuments(text).entries()) {
    if (document.errors.length > 0) throw new UsageError(`${file}: document ${index + 1} is not YAML: ${document.errors[0]?.message ?? ''}`);
    const value: unknown = document.toJS();
    if (value === null || value === undefined) continue;
    const object = value as { apiVersion?: unknown; kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } };
    const where = `${file}: document ${index + 1}`;
    if (typeof object.kind !== 'string' || typeof object.apiVersion !== 'string') throw new UsageError(`${where} has no apiVersion or kind`);
    if (object.apiVersion !== API_VERSION) {
      const hint = object.apiVersion.startsWith('chaos-mesh.org/') ? `; a Chaos Mesh manifest ports by changing apiVersion to ${API_VERSION}` : '';
      throw new UsageError(`${where}: apiVersion ${object.apiVersion} is not ${API_VERSION}${hint}`);
    }
    kindNamed(object.kind);
    if (typeof object.metadata?.name !== 'string') throw new UsageError(`${where}: metadata.name is missing`);
    objects.push({ ...(value as AnyChaos), metadata: { ...(value as AnyChaos).metadata, namespace: typeof object.metadata.namespace === 'string' ? object.metadata.namespace : defaultNamespace } });
  }
  if (objects.length === 0) throw new UsageError(`${file} holds no chaos experiment`);
  return objects;
}

export async function planCommand(session: Session, output: string | undefined, file: string, allowUnsafe: boolean): Promise<{ text: string; exitCode: number }> {
  const format = listFormat(output, ['table', 'json', 'yaml']);
  const plans: (Plan | NodePlan)[] = [];
  for (const chaos of await readManifests(file, session.namespace)) {
    // A NodeChaos's selector picks nodes; its blast radius is the pods on them, not pods it selects.
    plans.push(chaos.kind === 'NodeChaos'
      ? planNodeBlastRadius(await gatherNodePlanInput(session.client, chaos, session.kerrisNamespace))
      : planBlastRadius(await gatherPlanInput(session.client, chaos, session.kerrisNamespace)));
  }
  const render = (p: Plan | NodePlan) => ('pick' in p ? renderNodePlan(p) : renderPlan(p));
  const text = format === 'table' || format === 'wide' ? plans.map(render).join('\n') : serialise(plans.length === 1 ? plans[0] : { apiVersion: 'v1', kind: 'List', items: plans }, format);
  const unsafe = plans.filter((p) => !p.safe);
  if (unsafe.length === 0 || allowUnsafe) return { text, exitCode: EXIT.ok };
  process.stdout.write(text);
  throw new CliError(`${unsafe.map((p) => `${p.experiment.kind} ${p.experiment.namespace}/${p.experiment.name}`).join(', ')}: unsafe (see the findings); --allow-unsafe to accept`, EXIT.unsafe);
}
