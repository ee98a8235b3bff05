/**
 * The Kubernetes checks, read through the controller's client with its rights: a workload's available replicas, and
 * a condition of any object, whose resource is found by discovery (`/apis/<group>/<version>`) each time, so a CRD
 * installed or removed later is seen without a restart. Missing objects, kinds and rights are failures that say so.
 */
import type { ConditionCheck, KubernetesCheck, WorkloadCheck } from '../../api/generated/types.ts';
import type { KubeClient } from '../../kube/client.ts';
import { isApiError, isNotFound } from '../../kube/errors.ts';
import { defineResource, resourceName, type Resource } from '../../kube/resource.ts';
import type { KubeObject } from '../../kube/types.ts';
import { failure, outcome, type CheckOutcome } from './outcome.ts';

interface WorkloadStatus extends KubeObject {
  status?: { availableReplicas?: number; numberAvailable?: number };
}

interface ObjectWithConditions extends KubeObject {
  status?: { conditions?: readonly { type?: string; status?: string; reason?: string; message?: string }[] };
}

const workloadResources: Readonly<Record<WorkloadCheck['kind'], Resource<WorkloadStatus>>> = {
  Deployment: defineResource<WorkloadStatus>({ group: 'apps', version: 'v1', plural: 'deployments', kind: 'Deployment', namespaced: true }),
  StatefulSet: defineResource<WorkloadStatus>({ group: 'apps', version: 'v1', plural: 'statefulsets', kind: 'StatefulSet', namespaced: true }),
  DaemonSet: defineResource<WorkloadStatus>({ group: 'apps', version: 'v1', plural: 'daemonsets', kind: 'DaemonSet', namespaced: true }),
};

/** A failed read as an outcome: not found, forbidden (with what to grant), or the apiserver unreachable. */
function readFailure(error: unknown, what: string, resource: Resource<KubeObject>, namespace: string | undefined, signal: AbortSignal): CheckOutcome {
  if (signal.aborted) return failure('no response', `${what}: the apiserver did not answer in time`);
  if (isNotFound(error)) return failure('not found', `${what} not found`);
  if (isApiError(error, 403)) {
    const where = namespace === undefined ? '' : ` in namespace ${namespace}`;
    return failure('forbidden', `the controller may not get ${resourceName(resource)}${where}; grant it with a ClusterRole labelled kerris.dev/aggregate-to-checks: "true" (docs/checks.md)`);
  }
  return failure('unreadable', `${what} could not be read: ${error instanceof Error ? error.message : String(error)}`);
}

export async function evaluateWorkload(client: KubeClient, check: WorkloadCheck, defaultNamespace: string, signal: AbortSignal): Promise<CheckOutcome> {
  const resource = workloadResources[check.kind];
  const namespace = check.namespace ?? defaultNamespace;
  const what = `${check.kind} ${namespace}/${check.name}`;
  let workload: WorkloadStatus;
  try {
    workload = await client.get(resource, check.name, { namespace, signal });
  } catch (error) {
    return readFailure(error, what, resource, namespace, signal);
  }
  const field = check.kind === 'DaemonSet' ? 'numberAvailable' : 'availableReplicas';
  const available = workload.status?.[field] ?? 0;
  const ok = available >= check.minAvailable;
  return outcome(ok, `${field} ${available}`, `${what} has ${available} available, ${ok ? 'at least' : 'fewer than'} ${check.minAvailable}`);
}

interface ApiResourceList {
  resources?: readonly { name?: string; kind?: string; namespaced?: boolean }[];
}

/** The resource serving `kind` in `apiVersion`, or why there is none. */
export async function discoverResource(client: KubeClient, apiVersion: string, kind: string, signal: AbortSignal): Promise<Resource<ObjectWithConditions> | string> {
  const slash = apiVersion.indexOf('/');
  const group = slash < 0 ? '' : apiVersion.slice(0, slash);
  const version = slash < 0 ? apiVersion : apiVersion.slice(slash + 1);
  const path = group === '' ? `/api/${version}` : `/apis/${group}/${version}`;
  let list: ApiResourceList;
  try {
    list = JSON.parse((await client.transport.request({ method: 'GET', path, signal })).body) as ApiResourceList;
  } catch (error) {
    if (signal.aborted) return `discovery of ${apiVersion}: the apiserver did not answer in time`;
    if (isNotFound(error)) return `the cluster serves no apiVersion ${apiVersion}`;
    return `discovery of ${apiVersion} failed: ${error instanceof Error ? error.message : String(error)}`;
  }
  // Subresources (`deployments/status`) share the kind; the resource itself has no slash.
  const found = list.resources?.find((r) => r.kind === kind && r.name !== undefined && !r.name.includes('/'));
  if (found?.name === undefined) return `apiVersion ${apiVersion} has no kind ${kind}`;
  return defineResource<ObjectWithConditions>({ group, version, plural: found.name, kind, namespaced: found.namespaced === true });
}

export async function evaluateCondition(client: KubeClient, check: ConditionCheck, defaultNamespace: string, signal: AbortSignal): Promise<CheckOutcome> {
  const resource = await discoverResource(client, check.apiVersion, check.kind, signal);
  if (typeof resource === 'string') return failure('unknown kind', resource);
  if (!resource.namespaced && check.namespace !== undefined) {
    return failure('cluster-scoped', `${check.kind} is cluster-scoped; remove namespace ${check.namespace} from the check`);
  }
  const namespace = resource.namespaced ? check.namespace ?? defaultNamespace : undefined;
  const what = `${check.kind} ${namespace === undefined ? '' : `${namespace}/`}${check.name}`;
  let object: ObjectWithConditions;
  try {
    object = await client.get(resource, check.name, { ...(namespace === undefined ? {} : { namespace }), signal });
  } catch (error) {
    return readFailure(error, what, resource, namespace, signal);
  }
  const condition = object.status?.conditions?.find((c) => c.type === check.type);
  if (condition === undefined) return failure(`no ${check.type}`, `${what} has no condition ${check.type}`);
  const reason = condition.reason ? ` (${condition.reason})` : '';
  const ok = condition.status === check.status;
  const seen = `${check.type}=${condition.status ?? ''}${reason}`;
  const detail = condition.message ? `: ${condition.message}` : '';
  return outcome(ok, seen, ok ? `${what} has ${seen}` : `${what} has ${seen}, wanted ${check.type}=${check.status}${detail}`);
}

/** A signal that aborts after `timeoutMs` or when `outer` does, whichever is first. */
function deadlineSignal(timeoutMs: number, outer: AbortSignal | undefined): AbortSignal {
  const timeout = AbortSignal.timeout(timeoutMs);
  return outer === undefined ? timeout : AbortSignal.any([timeout, outer]);
}

export async function evaluateKubernetes(client: KubeClient, check: KubernetesCheck, defaultNamespace: string, timeoutMs: number, signal?: AbortSignal): Promise<CheckOutcome> {
  const deadline = deadlineSignal(timeoutMs, signal);
  if (check.workload !== undefined) return evaluateWorkload(client, check.workload, defaultNamespace, deadline);
  if (check.condition !== undefined) return evaluateCondition(client, check.condition, defaultNamespace, deadline);
  return failure('invalid check', 'the kubernetes check has neither workload nor condition');
}
