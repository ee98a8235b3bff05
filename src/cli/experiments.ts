/** The chaos kinds the CLI knows, and how a name on the command line finds an experiment. */
import type { NetworkChaos, NodeChaos, PodChaos, StressChaos } from '../api/generated/types.ts';
import type { Experiment } from '../controller/engine/experiment.ts';
import { networkChaos } from '../controller/networkchaos/resource.ts';
import { nodeChaos } from '../controller/nodechaos/resource.ts';
import { podChaos } from '../controller/podchaos/resource.ts';
import { stressChaos } from '../controller/stresschaos/resource.ts';
import type { KubeClient } from '../kube/client.ts';
import { isNotFound } from '../kube/errors.ts';
import type { Resource } from '../kube/resource.ts';
import { CliError, UsageError } from './errors.ts';

export type AnyChaos = PodChaos | NetworkChaos | StressChaos | NodeChaos;

export interface ChaosKindInfo {
  kind: AnyChaos['kind'];
  resource: Resource<Experiment>;
  /** What a person may type: plural, singular, short name, and the fully qualified plural. */
  names: readonly string[];
}

export const CHAOS_KINDS: readonly ChaosKindInfo[] = [
  { kind: 'PodChaos', resource: podChaos as unknown as Resource<Experiment>, names: ['podchaos', 'pchaos', 'podchaos.chaos.kerris.dev'] },
  { kind: 'NetworkChaos', resource: networkChaos as unknown as Resource<Experiment>, names: ['networkchaos', 'netchaos', 'networkchaos.chaos.kerris.dev'] },
  { kind: 'StressChaos', resource: stressChaos as unknown as Resource<Experiment>, names: ['stresschaos', 'schaos', 'stresschaos.chaos.kerris.dev'] },
  { kind: 'NodeChaos', resource: nodeChaos as unknown as Resource<Experiment>, names: ['nodechaos', 'ndchaos', 'nodechaos.chaos.kerris.dev'] },
];

export function kindNamed(name: string): ChaosKindInfo {
  const lower = name.toLowerCase();
  const found = CHAOS_KINDS.find((k) => k.kind.toLowerCase() === lower || k.names.includes(lower));
  if (found === undefined) throw new UsageError(`${JSON.stringify(name)} is not a chaos kind kerris has; use ${CHAOS_KINDS.map((k) => k.names[0]).join(' or ')}`);
  return found;
}

export interface Found {
  info: ChaosKindInfo;
  chaos: Experiment;
}

/** `kind/name` or a bare name, looked up in every kind; a bare name two kinds share must be qualified. */
export async function findExperiment(client: KubeClient, namespace: string, ref: string): Promise<Found> {
  const slash = ref.indexOf('/');
  const kinds = slash < 0 ? CHAOS_KINDS : [kindNamed(ref.slice(0, slash))];
  const name = slash < 0 ? ref : ref.slice(slash + 1);
  const found: Found[] = [];
  for (const info of kinds) {
    try {
      found.push({ info, chaos: await client.get(info.resource, name, { namespace }) });
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }
  if (found.length === 0) throw new CliError(`no chaos experiment ${ref} in namespace ${namespace}`);
  if (found.length > 1) throw new UsageError(`${name} names a ${found.map((f) => f.info.kind).join(' and a ')} in ${namespace}; say which, e.g. ${found[0]?.info.names[0]}/${name}`);
  return found[0] as Found;
}
