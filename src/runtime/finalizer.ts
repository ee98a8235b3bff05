/**
 * Finalizers: a finalizer keeps a deleted object around until the controller
 * has cleaned up after it. Adding and removing use JSON patches guarded by a
 * `test`, so a stale cached copy fails (422 Invalid) instead of overwriting
 * another writer's finalizers; the reconcile then retries with fresh state.
 */
import type { JsonPatchOperation, KubeClient } from '../kube/client.ts';
import type { Resource } from '../kube/resource.ts';
import type { KubeObject } from '../kube/types.ts';
import { awaitChange, type Action } from './action.ts';

const FINALIZER = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?\/[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

export function validateFinalizer(finalizer: string): void {
  if (finalizer.length > 316 || !FINALIZER.test(finalizer)) throw new Error(`finalizer ${JSON.stringify(finalizer)} is not a domain-qualified name like kerris.dev/cleanup`);
}

export const hasFinalizer = (object: KubeObject, finalizer: string): boolean => (object.metadata.finalizers ?? []).includes(finalizer);

export const isDeleting = (object: KubeObject): boolean => Boolean(object.metadata.deletionTimestamp);

function nameOf(object: KubeObject): { name: string; namespace: string | undefined } {
  const { name, namespace } = object.metadata;
  if (!name) throw new Error('the object has no metadata.name');
  return { name, namespace };
}

/** The JSON patch that adds finalizer to the object as it was read; undefined when it is there already. */
export function addFinalizerPatch(object: KubeObject, finalizer: string): JsonPatchOperation[] | undefined {
  validateFinalizer(finalizer);
  const current = object.metadata.finalizers;
  if (current?.includes(finalizer)) return undefined;
  if (current === undefined) {
    // `add` on a missing member creates it, but on a present one would replace it: the resourceVersion test rules that out.
    const resourceVersion = object.metadata.resourceVersion;
    if (!resourceVersion) throw new Error('the object has no resourceVersion to guard the patch with');
    return [{ op: 'test', path: '/metadata/resourceVersion', value: resourceVersion }, { op: 'add', path: '/metadata/finalizers', value: [finalizer] }];
  }
  return [{ op: 'test', path: '/metadata/finalizers', value: current }, { op: 'replace', path: '/metadata/finalizers', value: [...current, finalizer] }];
}

/** The JSON patch that removes finalizer from the object as it was read; undefined when it is absent. */
export function removeFinalizerPatch(object: KubeObject, finalizer: string): JsonPatchOperation[] | undefined {
  const current = object.metadata.finalizers;
  if (!current?.includes(finalizer)) return undefined;
  return [{ op: 'test', path: '/metadata/finalizers', value: current }, { op: 'replace', path: '/metadata/finalizers', value: current.filter((f) => f !== finalizer) }];
}

export async function addFinalizer<T extends KubeObject>(client: KubeClient, resource: Resource<T>, object: T, finalizer: string): Promise<T> {
  const operations = addFinalizerPatch(object, finalizer);
  if (!operations) return object;
  const { name, namespace } = nameOf(object);
  return client.patch(resource, name, { type: 'json', operations }, namespace ? { namespace } : {});
}

export async function removeFinalizer<T extends KubeObject>(client: KubeClient, resource: Resource<T>, object: T, finalizer: string): Promise<T> {
  const operations = removeFinalizerPatch(object, finalizer);
  if (!operations) return object;
  const { name, namespace } = nameOf(object);
  return client.patch(resource, name, { type: 'json', operations }, namespace ? { namespace } : {});
}

export interface FinalizerSteps<T> {
  /** The object is live and carries the finalizer: make the world match it. */
  apply(object: T): Promise<Action>;
  /** The object is being deleted: undo what apply did. The finalizer goes once this resolves. */
  cleanup(object: T): Promise<Action>;
}

/**
 * The finalizer protocol in one call: a live object first gets the finalizer,
 * then apply(); a deleted one gets cleanup(), then loses the finalizer. A
 * deleted object without the finalizer is left alone.
 */
export async function withFinalizer<T extends KubeObject>(client: KubeClient, resource: Resource<T>, finalizer: string, object: T, steps: FinalizerSteps<T>): Promise<Action> {
  if (isDeleting(object)) {
    if (!hasFinalizer(object, finalizer)) return awaitChange();
    await steps.cleanup(object);
    await removeFinalizer(client, resource, object, finalizer);
    return awaitChange();
  }
  const guarded = await addFinalizer(client, resource, object, finalizer);
  return steps.apply(guarded);
}
