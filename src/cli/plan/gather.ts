/**
 * Reads what a plan needs from the cluster, as the person running it may see it: the controller's policy from its
 * Deployment, the reached namespaces' pods, workloads and PodDisruptionBudgets, the fleet survey, the requester's own
 * access (SelfSubjectAccessReview), and the apiserver's verdict on a server-side dry run. What cannot be read becomes
 * a note, never a silent default.
 */
import { randomInt } from 'node:crypto';
import { FLEET_SURVEY_KEY, FLEET_SURVEY_NAME, parseFleetSurvey } from '../../api/fleet-survey.ts';
import type { NodeChaos } from '../../api/generated/types.ts';
import { parseConfig, type OperatorConfig } from '../../controller/config.ts';
import { matchingNodes } from '../../controller/nodechaos/node-selection.ts';
import type { NodeObject } from '../../controller/nodechaos/node-changes.ts';
import type { ClusterView } from '../../controller/targets/cluster-view.ts';
import { selectedNamespaces } from '../../controller/targets/pod-selection.ts';
import type { KubeClient } from '../../kube/client.ts';
import { isApiError, isNotFound } from '../../kube/errors.ts';
import { defineResource } from '../../kube/resource.ts';
import { formatFieldSelector } from '../../kube/selectors.ts';
import { configMaps, namespaces, nodes, pods } from '../../kube/resources.ts';
import type { KubeObject, Namespace, Pod } from '../../kube/types.ts';
import type { Experiment } from '../../controller/engine/experiment.ts';
import type { AnyChaos } from '../experiments.ts';
import { kindNamed } from '../experiments.ts';
import { accessChecks, type AccessAttributes } from './access.ts';
import type { AccessCheck, PlanInput, PodDisruptionBudget, WorkloadRef } from './blast-radius.ts';
import type { NodePlanInput, PlanPod } from './node-blast-radius.ts';

interface Deployment extends KubeObject {
  spec?: { template?: { spec?: { containers?: { name: string; args?: string[] }[] } } };
}
interface SelfSubjectAccessReview extends KubeObject {
  spec: { resourceAttributes: Omit<AccessAttributes, 'unsure'> };
  status?: { allowed: boolean; denied?: boolean; reason?: string };
}

const deployments = defineResource<Deployment>({ group: 'apps', version: 'v1', plural: 'deployments', kind: 'Deployment', namespaced: true });
const replicaSets = defineResource<KubeObject>({ group: 'apps', version: 'v1', plural: 'replicasets', kind: 'ReplicaSet', namespaced: true });
const budgets = defineResource<PodDisruptionBudget & KubeObject>({ group: 'policy', version: 'v1', plural: 'poddisruptionbudgets', kind: 'PodDisruptionBudget', namespaced: true });
const accessReviews = defineResource<SelfSubjectAccessReview>({ group: 'authorization.k8s.io', version: 'v1', plural: 'selfsubjectaccessreviews', kind: 'SelfSubjectAccessReview', namespaced: false });

const CONTROLLER_DEPLOYMENT = 'kerris-controller';

/** What could not be read, in a person's words. */
const unreadable = (what: string, error: unknown): string => `cannot read ${what}: ${isApiError(error) ? `${error.status} ${error.reason}` : (error as Error).message}`;

/** The controller's flags from its Deployment, or its defaults with the reason they are assumed. */
async function controllerConfig(client: KubeClient, kerrisNamespace: string): Promise<{ config: OperatorConfig; source: string }> {
  const fallback = (why: string) => ({ config: parseConfig([], { POD_NAMESPACE: kerrisNamespace }), source: `the controller's defaults (${why})` });
  let deployment: Deployment;
  try {
    deployment = await client.get(deployments, CONTROLLER_DEPLOYMENT, { namespace: kerrisNamespace });
  } catch (error) {
    return fallback(isNotFound(error) ? `no Deployment ${kerrisNamespace}/${CONTROLLER_DEPLOYMENT}: is kerris installed?` : unreadable(`Deployment ${kerrisNamespace}/${CONTROLLER_DEPLOYMENT}`, error));
  }
  const container = deployment.spec?.template?.spec?.containers?.find((c) => c.name === 'controller');
  const flags = (container?.args ?? []).filter((a) => a.startsWith('--'));
  return {
    config: parseConfig(flags, { POD_NAMESPACE: kerrisNamespace }),
    source: `Deployment ${kerrisNamespace}/${CONTROLLER_DEPLOYMENT}${flags.length > 0 ? ` (${flags.join(' ')})` : ' (default flags)'}`,
  };
}

async function controllerPolicy(client: KubeClient, kerrisNamespace: string): Promise<PlanInput['policy']> {
  const { config, source } = await controllerConfig(client, kerrisNamespace);
  return { safety: { protectedNamespaces: config.protectedNamespaces, requireOptIn: config.requireOptIn }, maxTargets: config.maxTargets, source };
}

async function reviewAccess(client: KubeClient, chaos: AnyChaos): Promise<AccessCheck[]> {
  return Promise.all(accessChecks(chaos).map(async ({ unsure, ...attributes }): Promise<AccessCheck> => {
    const review = await client.create(accessReviews, { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', metadata: {}, spec: { resourceAttributes: attributes } });
    const resource = `${attributes.resource}${attributes.subresource ? `/${attributes.subresource}` : ''}`;
    return {
      verb: attributes.verb, resource, namespace: attributes.namespace, allowed: review.status?.allowed === true,
      ...(review.status?.reason ? { reason: review.status.reason } : {}), ...(unsure === undefined ? {} : { unsure }),
    };
  }));
}

async function dryRun(client: KubeClient, chaos: AnyChaos): Promise<PlanInput['admission']> {
  const { resource } = kindNamed(chaos.kind);
  try {
    await client.create(resource, chaos as unknown as Experiment, { namespace: chaos.metadata.namespace ?? '', dryRun: true });
    return { accepted: true };
  } catch (error) {
    if (isApiError(error) && error.status >= 400 && error.status < 500 && error.status !== 401) return { accepted: false, message: error.message.replace(/^POST \S+: /, '') };
    throw error;
  }
}

async function fleetSurvey(client: KubeClient, kerrisNamespace: string): Promise<PlanInput['survey']> {
  try {
    const map = await client.get(configMaps, FLEET_SURVEY_NAME, { namespace: kerrisNamespace });
    const text = map.data?.[FLEET_SURVEY_KEY];
    if (text === undefined) return { error: `ConfigMap ${kerrisNamespace}/${FLEET_SURVEY_NAME} has no ${FLEET_SURVEY_KEY}` };
    return { value: parseFleetSurvey(text) };
  } catch (error) {
    return { error: isNotFound(error) ? `no fleet survey (ConfigMap ${kerrisNamespace}/${FLEET_SURVEY_NAME}): no controller has led yet` : (error instanceof Error ? unreadable(`ConfigMap ${kerrisNamespace}/${FLEET_SURVEY_NAME}`, error) : String(error)) };
  }
}

/**
 * Adds a namespace's ReplicaSets to workloadOf (each to the workload that controls it, so a pod is named by its
 * Deployment) and its PodDisruptionBudgets to pdbs; what cannot be read becomes a note in notes.
 */
async function gatherWorkloadsAndBudgets(client: KubeClient, ns: string, workloadOf: Map<string, WorkloadRef>, pdbs: PodDisruptionBudget[], notes: string[]): Promise<void> {
  try {
    for (const rs of (await client.listAll(replicaSets, { namespace: ns })).items) {
      const owner = rs.metadata.ownerReferences?.find((o) => o.controller);
      if (owner) workloadOf.set(rs.metadata.uid ?? '', { kind: owner.kind, name: owner.name, uid: owner.uid });
    }
  } catch (error) {
    notes.push(`${unreadable(`replicasets in ${ns}`, error)}; workloads are named by their ReplicaSets`);
  }
  try {
    pdbs.push(...(await client.listAll(budgets, { namespace: ns })).items);
  } catch (error) {
    notes.push(`${unreadable(`poddisruptionbudgets in ${ns}`, error)}; budgets are not checked there`);
  }
}

export async function gatherPlanInput(client: KubeClient, chaos: Exclude<AnyChaos, NodeChaos>, kerrisNamespace: string): Promise<PlanInput> {
  const notes: string[] = [];
  const namespace = chaos.metadata.namespace ?? '';
  const reached = selectedNamespaces(chaos.spec.selector, namespace);
  const namespaceObjects = new Map<string, Namespace>();
  const podsByNamespace = new Map<string, Pod[]>();
  const workloadOf = new Map<string, WorkloadRef>();
  const pdbs: PodDisruptionBudget[] = [];
  for (const ns of reached) {
    try {
      namespaceObjects.set(ns, await client.get(namespaces, ns));
    } catch (error) {
      if (isNotFound(error)) continue;
      // A person with rights in the namespace only may not read the Namespace object: its opt-in annotation is unknown.
      notes.push(`${unreadable(`namespace ${ns}`, error)}; assuming it exists without the opt-in annotation`);
      namespaceObjects.set(ns, { metadata: { name: ns } });
    }
    try {
      podsByNamespace.set(ns, (await client.listAll(pods, { namespace: ns })).items);
    } catch (error) {
      notes.push(unreadable(`pods in ${ns}`, error));
    }
    await gatherWorkloadsAndBudgets(client, ns, workloadOf, pdbs, notes);
  }
  let nodeLabels = new Map<string, Record<string, string>>();
  if (chaos.spec.selector.nodeSelectors) {
    try {
      nodeLabels = new Map((await client.listAll(nodes)).items.map((n) => [n.metadata.name ?? '', n.metadata.labels ?? {}]));
    } catch (error) {
      notes.push(`${unreadable('nodes', error)}; nodeSelectors match no node`);
    }
  }
  const view: ClusterView = {
    namespace: (name) => namespaceObjects.get(name),
    podsIn: (ns) => podsByNamespace.get(ns) ?? [],
    pod: (ns, name) => podsByNamespace.get(ns)?.find((p) => p.metadata.name === name),
    nodeLabels: () => nodeLabels,
    // The plan picks targets; it does not size StressChaos's stressors, which is all node memory is read for.
    nodeMemoryBytes: () => undefined,
  };
  const [policy, survey, access, admission] = await Promise.all([
    controllerPolicy(client, kerrisNamespace), fleetSurvey(client, kerrisNamespace), reviewAccess(client, chaos), dryRun(client, chaos),
  ]);
  return {
    chaos, policy, view, pods: [...podsByNamespace.values()].flat(), workloadOf, budgets: pdbs, survey, access, admission,
    seed: chaos.spec.seed ?? randomInt(0, 2 ** 47), notes,
  };
}

/**
 * What a NodeChaos's plan needs: every node (the share limit counts them all), the controller's pods (the node it
 * needs), the pods on each node the selector matches, from every namespace (a drain evicts whatever runs there), and
 * the workloads and PodDisruptionBudgets of their namespaces.
 */
export async function gatherNodePlanInput(client: KubeClient, chaos: NodeChaos, kerrisNamespace: string): Promise<NodePlanInput> {
  const notes: string[] = [];
  const [{ config, source }, survey, access, admission] = await Promise.all([
    controllerConfig(client, kerrisNamespace), fleetSurvey(client, kerrisNamespace), reviewAccess(client, chaos), dryRun(client, chaos),
  ]);
  const defaults = source.startsWith("the controller's defaults") ? `; assumed: --max-node-share ${config.maxNodeSharePercent}%, allow-controller-node ${config.allowControllerNode ? 'on' : 'off'}` : '';
  let allNodes: NodePlanInput['nodes'];
  try {
    allNodes = (await client.listAll(nodes)).items as NodeObject[];
  } catch (error) {
    allNodes = { error: unreadable('nodes', error) };
  }
  let controllerPods: NodePlanInput['controllerPods'];
  try {
    controllerPods = (await client.listAll(pods, { namespace: kerrisNamespace })).items;
  } catch (error) {
    controllerPods = { error: unreadable(`pods in ${kerrisNamespace}`, error) };
  }
  const candidates = 'error' in allNodes ? [] : matchingNodes(allNodes.map((n) => ({ namespace: '', name: n.metadata.name ?? '', uid: n.metadata.uid ?? '', labels: n.metadata.labels ?? {} })), chaos.spec.selector);
  const podsOnNode = new Map<string, PlanPod[]>();
  for (const node of candidates) {
    try {
      // As kubectl drain asks: the pods of every namespace bound to the node.
      podsOnNode.set(node.name, (await client.listAll(pods, { fieldSelector: formatFieldSelector({ 'spec.nodeName': node.name }) })).items);
    } catch (error) {
      notes.push(unreadable(`pods on node ${node.name}`, error));
    }
  }
  const reached = [...new Set([...podsOnNode.values()].flat().map((p) => p.metadata.namespace ?? ''))].sort();
  const namespacePods: Pod[] = [];
  const workloadOf = new Map<string, WorkloadRef>();
  const pdbs: PodDisruptionBudget[] = [];
  for (const ns of reached) {
    try {
      namespacePods.push(...(await client.listAll(pods, { namespace: ns })).items);
    } catch (error) {
      notes.push(`${unreadable(`pods in ${ns}`, error)}; the share of each workload hit there is unknown`);
    }
    await gatherWorkloadsAndBudgets(client, ns, workloadOf, pdbs, notes);
  }
  return {
    chaos,
    policy: { node: { allowControllerNode: config.allowControllerNode, maxNodeSharePercent: config.maxNodeSharePercent }, protectedNamespaces: config.protectedNamespaces, daemonLeaseTtlMs: config.daemonLeaseTtlMs, source: `${source}${defaults}` },
    nodes: allNodes, controllerPods, kerrisNamespace, podsOnNode, pods: namespacePods, workloadOf, budgets: pdbs, survey, access, admission,
    seed: chaos.spec.seed ?? randomInt(0, 2 ** 47), notes,
  };
}
