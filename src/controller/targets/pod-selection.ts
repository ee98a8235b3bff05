/**
 * Picking targets, as pure functions: which pods the selector admits, which
 * namespaces safety refuses, and which of the admitted pods the mode picks.
 * The same seed over the same candidates always picks the same pods.
 */
import { createHash } from 'node:crypto';
import type { LabelSelectorRequirement, PodSelectorSpec, SelectorMode } from '../../api/generated/types.ts';
import { SelectionError } from '../engine/experiment.ts';

export interface CandidatePod {
  namespace: string;
  name: string;
  uid: string;
  labels: Readonly<Record<string, string>>;
  annotations: Readonly<Record<string, string>>;
  phase: string;
  nodeName?: string;
  /** The pod already has a deletionTimestamp: it is on its way out and is never a target. */
  terminating: boolean;
}

export interface NamespaceInfo {
  name: string;
  annotations: Readonly<Record<string, string>>;
}

/** Which namespaces chaos may touch; see docs/safety.md. */
export interface SafetyPolicy {
  /** Never targeted, whatever a selector says: kube-system and kerris's own namespace by default. */
  protectedNamespaces: ReadonlySet<string>;
  /** When set, only namespaces carrying OPT_IN_ANNOTATION=enabled may be targeted. */
  requireOptIn: boolean;
}

export const OPT_IN_ANNOTATION = 'chaos.kerris.dev/inject';

export interface RefusedNamespace {
  namespace: string;
  reason: 'Protected' | 'NotOptedIn';
}

/** The namespaces a selector reaches: pods' keys when it names pods, else `namespaces`, else the experiment's own. */
export function selectedNamespaces(selector: PodSelectorSpec, experimentNamespace: string): string[] {
  if (selector.pods && Object.keys(selector.pods).length > 0) return Object.keys(selector.pods).sort();
  if (selector.namespaces && selector.namespaces.length > 0) return [...new Set(selector.namespaces)].sort();
  return [experimentNamespace];
}

/** Splits namespaces into those chaos may touch and those the policy refuses, with the reason. */
export function admitNamespaces(namespaces: readonly NamespaceInfo[], policy: SafetyPolicy): { admitted: string[]; refused: RefusedNamespace[] } {
  const admitted: string[] = [];
  const refused: RefusedNamespace[] = [];
  for (const ns of namespaces) {
    if (policy.protectedNamespaces.has(ns.name)) refused.push({ namespace: ns.name, reason: 'Protected' });
    else if (policy.requireOptIn && ns.annotations[OPT_IN_ANNOTATION] !== 'enabled') refused.push({ namespace: ns.name, reason: 'NotOptedIn' });
    else admitted.push(ns.name);
  }
  return { admitted, refused };
}

function matchesMap(actual: Readonly<Record<string, string>>, wanted: Readonly<Record<string, string>> | undefined): boolean {
  return Object.entries(wanted ?? {}).every(([key, value]) => actual[key] === value);
}

function matchesRequirement(labels: Readonly<Record<string, string>>, requirement: LabelSelectorRequirement): boolean {
  const present = Object.hasOwn(labels, requirement.key);
  const values = requirement.values ?? [];
  switch (requirement.operator) {
    case 'In': return present && values.includes(labels[requirement.key] ?? '');
    case 'NotIn': return !present || !values.includes(labels[requirement.key] ?? '');
    case 'Exists': return present;
    case 'DoesNotExist': return !present;
  }
}

/** Pod fields a fieldSelector may name, read from a candidate. */
const FIELDS: Readonly<Record<string, (pod: CandidatePod) => string>> = {
  'metadata.name': (pod) => pod.name,
  'metadata.namespace': (pod) => pod.namespace,
  'spec.nodeName': (pod) => pod.nodeName ?? '',
  'status.phase': (pod) => pod.phase,
};

export class SelectorError extends SelectionError {
  override name = 'SelectorError';
}

/**
 * The candidates the selector admits, among pods of admitted namespaces.
 * `nodeLabels` maps node names to their labels, for `nodeSelectors`.
 * By default only Running pods are candidates (Chaos Mesh takes any phase):
 * killing a pod that is still starting proves nothing and confuses the result.
 */
export function filterCandidates(
  pods: readonly CandidatePod[],
  selector: PodSelectorSpec,
  admittedNamespaces: ReadonlySet<string>,
  nodeLabels: ReadonlyMap<string, Readonly<Record<string, string>>>,
): CandidatePod[] {
  const live = pods.filter((p) => !p.terminating && admittedNamespaces.has(p.namespace));
  if (selector.pods && Object.keys(selector.pods).length > 0) {
    const named = selector.pods;
    return sortPods(live.filter((p) => named[p.namespace]?.includes(p.name) ?? false));
  }
  const fields = Object.entries(selector.fieldSelectors ?? {}).map(([field, value]) => {
    const read = FIELDS[field];
    if (!read) throw new SelectorError(`fieldSelectors: field ${JSON.stringify(field)} is not supported; use ${Object.keys(FIELDS).join(', ')}`);
    return { read, value };
  });
  const phases = selector.podPhaseSelectors && selector.podPhaseSelectors.length > 0 ? selector.podPhaseSelectors : ['Running'];
  return sortPods(live.filter((pod) =>
    matchesMap(pod.labels, selector.labelSelectors)
    && (selector.expressionSelectors ?? []).every((r) => matchesRequirement(pod.labels, r))
    && matchesMap(pod.annotations, selector.annotationSelectors)
    && fields.every((f) => f.read(pod) === f.value)
    && phases.includes(pod.phase)
    && (selector.nodes === undefined || selector.nodes.length === 0 || selector.nodes.includes(pod.nodeName ?? ''))
    && (selector.nodeSelectors === undefined || (pod.nodeName !== undefined && matchesMap(nodeLabels.get(pod.nodeName) ?? {}, selector.nodeSelectors))),
  ));
}

function sortPods(pods: CandidatePod[]): CandidatePod[] {
  return pods.sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name));
}

/** A deterministic number in [0, 1) from the seed and a label. */
function seededUnit(seed: number, label: string): number {
  const digest = createHash('sha256').update(`${seed}\0${label}`).digest();
  return digest.readUIntBE(0, 6) / 2 ** 48;
}

/** How many of `candidates` pods the mode picks; percentages round up, as in Chaos Mesh. */
export function targetCount(mode: SelectorMode, value: string | undefined, candidates: number, seed: number): number {
  if (candidates === 0) return 0;
  const number = Number(value);
  switch (mode) {
    case 'one': return 1;
    case 'all': return candidates;
    case 'fixed':
      if (!Number.isInteger(number) || number < 1) throw new SelectorError(`mode fixed needs a positive whole value, got ${JSON.stringify(value)}`);
      return Math.min(number, candidates);
    case 'fixed-percent':
    case 'random-max-percent': {
      if (!Number.isInteger(number) || number < 1 || number > 100) throw new SelectorError(`mode ${mode} needs a percentage from 1 to 100, got ${JSON.stringify(value)}`);
      const most = Math.ceil((candidates * number) / 100);
      return mode === 'fixed-percent' ? most : 1 + Math.floor(seededUnit(seed, 'count') * most);
    }
  }
}

/**
 * Picks `count` candidates (pods; nodes, whose namespace is empty): each gets a rank from a hash of the seed and
 * its namespace/name, and the lowest ranks win. The pick depends only on the
 * seed and the set of candidates, never on the order they were listed in.
 */
export function pickTargets<C extends { namespace: string; name: string }>(candidates: readonly C[], count: number, seed: number): C[] {
  return candidates
    .map((pod) => ({ pod, rank: seededUnit(seed, `${pod.namespace}/${pod.name}`) }))
    .sort((a, b) => a.rank - b.rank || a.pod.namespace.localeCompare(b.pod.namespace) || a.pod.name.localeCompare(b.pod.name))
    .slice(0, count)
    .map((entry) => entry.pod);
}
