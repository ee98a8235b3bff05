/**
 * Filters for Controller's shouldEnqueueUpdate: which updates of a primary
 * object are worth a reconcile. Without one, a controller's own status writes
 * wake it again.
 */
import type { KubeObject } from '../kube/types.ts';

/**
 * The spec changed (generation moves only on spec changes when the resource
 * has a status subresource), deletion began, or the finalizers changed.
 */
export function specOrLifecycleChanged(old: KubeObject, object: KubeObject): boolean {
  return old.metadata.generation !== object.metadata.generation
    || old.metadata.deletionTimestamp !== object.metadata.deletionTimestamp
    || JSON.stringify(old.metadata.finalizers ?? []) !== JSON.stringify(object.metadata.finalizers ?? []);
}

/** One annotation was set, changed or removed: a request made through metadata, such as an abort. */
export function annotationChanged(key: string): (old: KubeObject, object: KubeObject) => boolean {
  return (old, object) => old.metadata.annotations?.[key] !== object.metadata.annotations?.[key];
}

/** Enqueue when any of the predicates says so. */
export function anyOf(...predicates: ReadonlyArray<(old: KubeObject, object: KubeObject) => boolean>): (old: KubeObject, object: KubeObject) => boolean {
  return (old, object) => predicates.some((p) => p(old, object));
}
