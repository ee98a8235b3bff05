/** Status writes: always through the /status subresource, never with the spec. */
import type { KubeClient } from '../kube/client.ts';
import type { Resource } from '../kube/resource.ts';
import type { KubeObject } from '../kube/types.ts';

export interface StatusPatchOptions {
  fieldManager?: string;
  /**
   * Send the object's resourceVersion along, so the apiserver refuses the
   * write (409 Conflict) if the object changed since it was read.
   */
  optimistic?: boolean;
}

/** Merge-patches the status: fields it names change, others stay; a list (like conditions) is replaced whole. */
export async function patchStatus<T extends KubeObject>(client: KubeClient, resource: Resource<T>, object: T, status: object, options: StatusPatchOptions = {}): Promise<T> {
  const { name, namespace, resourceVersion } = object.metadata;
  if (!name) throw new Error('the object has no metadata.name');
  const body: Record<string, unknown> = { status };
  if (options.optimistic) {
    if (!resourceVersion) throw new Error('an optimistic status patch needs the object\'s resourceVersion');
    body['metadata'] = { resourceVersion };
  }
  return client.patchStatus(resource, name, { type: 'merge', body }, {
    ...(namespace ? { namespace } : {}),
    ...(options.fieldManager ? { fieldManager: options.fieldManager } : {}),
  });
}
