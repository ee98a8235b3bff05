/** Resource descriptors and the REST paths they address. */
import type { KubeObject } from './types.ts';

/**
 * How to address one kind of object over REST. The type parameter ties a
 * descriptor to the object type the client returns for it.
 */
export interface Resource<T extends KubeObject> {
  /** '' for the core group. */
  readonly group: string;
  readonly version: string;
  readonly plural: string;
  readonly kind: string;
  readonly namespaced: boolean;
  /** Never set: only carries T, so `client.get(pods, …)` returns a Pod. */
  readonly sample?: T;
}

export function defineResource<T extends KubeObject>(spec: Omit<Resource<T>, 'sample'>): Resource<T> {
  for (const [field, value] of [['version', spec.version], ['plural', spec.plural]] as const) {
    if (!/^[a-z0-9]+$/.test(value)) throw new Error(`resource ${field} ${JSON.stringify(value)} is not lower-case alphanumeric`);
  }
  if (spec.group !== '' && !/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(spec.group)) throw new Error(`resource group ${JSON.stringify(spec.group)} is not a DNS name`);
  return { ...spec };
}

export const apiVersionOf = (resource: Resource<KubeObject>): string =>
  (resource.group === '' ? resource.version : `${resource.group}/${resource.version}`);

/** How a resource reads in messages: `configmaps`, `leases.coordination.k8s.io`. */
export const resourceName = (resource: Resource<KubeObject>): string =>
  (resource.group === '' ? resource.plural : `${resource.plural}.${resource.group}`);

const NAMESPACE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const SUBRESOURCE = /^[a-z]+$/;

export interface Address {
  namespace?: string | undefined;
  name?: string | undefined;
  subresource?: string | undefined;
}

/**
 * The URL path of a collection or an object. A name or namespace that could
 * change the path (slashes, dot segments, empty) is refused, not escaped away.
 */
export function resourcePath(resource: Resource<KubeObject>, address: Address = {}): string {
  const parts = resource.group === '' ? ['api', resource.version] : ['apis', resource.group, resource.version];
  if (resource.namespaced && address.namespace !== undefined) {
    if (address.namespace.length > 63 || !NAMESPACE.test(address.namespace)) throw new Error(`namespace ${JSON.stringify(address.namespace)} is not a DNS label`);
    parts.push('namespaces', address.namespace);
  } else if (!resource.namespaced && address.namespace !== undefined) {
    throw new Error(`${resourceName(resource)} is cluster-scoped; no namespace may be given`);
  }
  parts.push(resource.plural);
  if (address.name !== undefined) {
    validateName(address.name);
    parts.push(encodeURIComponent(address.name));
  }
  if (address.subresource !== undefined) {
    if (address.name === undefined) throw new Error(`subresource ${address.subresource} needs an object name`);
    if (!SUBRESOURCE.test(address.subresource)) throw new Error(`subresource ${JSON.stringify(address.subresource)} is not lower-case letters`);
    parts.push(address.subresource);
  }
  return `/${parts.join('/')}`;
}

export function validateName(name: string): void {
  if (name === '' || name === '.' || name === '..' || name.length > 253 || /[/%\s]/.test(name)) {
    throw new Error(`object name ${JSON.stringify(name)} is not a valid path segment`);
  }
}
