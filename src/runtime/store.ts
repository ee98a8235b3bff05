/** The informer's cache: the latest state of every object seen, keyed by namespace/name. */
import type { KubeObject } from '../kube/types.ts';

/** "namespace/name", or "name" for cluster-scoped objects: the work queue's key too. */
export type ObjectKey = string;

export function keyOf(object: KubeObject): ObjectKey {
  const { namespace, name } = object.metadata;
  if (!name) throw new Error('an object without metadata.name has no key');
  return namespace ? `${namespace}/${name}` : name;
}

export function keyFor(namespace: string | undefined, name: string): ObjectKey {
  return namespace ? `${namespace}/${name}` : name;
}

export function splitKey(key: ObjectKey): { namespace: string | undefined; name: string } {
  const slash = key.indexOf('/');
  return slash < 0 ? { namespace: undefined, name: key } : { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

export interface StoreDiff<T> {
  added: T[];
  updated: Array<{ old: T; object: T }>;
  deleted: T[];
}

export class Store<T extends KubeObject> {
  readonly #objects = new Map<ObjectKey, T>();
  /** The same objects by namespace, so a reader of one namespace does not scan a cluster-wide cache. */
  readonly #byNamespace = new Map<string, Map<ObjectKey, T>>();

  #index(key: ObjectKey, object: T): void {
    const namespace = object.metadata.namespace ?? '';
    let objects = this.#byNamespace.get(namespace);
    if (objects === undefined) this.#byNamespace.set(namespace, objects = new Map());
    objects.set(key, object);
  }

  #unindex(key: ObjectKey, object: T): void {
    const namespace = object.metadata.namespace ?? '';
    const objects = this.#byNamespace.get(namespace);
    objects?.delete(key);
    if (objects?.size === 0) this.#byNamespace.delete(namespace);
  }

  get size(): number {
    return this.#objects.size;
  }

  get(key: ObjectKey): T | undefined {
    return this.#objects.get(key);
  }

  list(): T[] {
    return [...this.#objects.values()];
  }

  /** The objects of one namespace. */
  inNamespace(namespace: string): T[] {
    return [...(this.#byNamespace.get(namespace)?.values() ?? [])];
  }

  keys(): ObjectKey[] {
    return [...this.#objects.keys()];
  }

  /** Stores the object; returns what it replaced. */
  upsert(object: T): T | undefined {
    const key = keyOf(object);
    const old = this.#objects.get(key);
    if (old !== undefined) this.#unindex(key, old);
    this.#objects.set(key, object);
    this.#index(key, object);
    return old;
  }

  /** Forgets the object; returns what was stored. */
  delete(key: ObjectKey): T | undefined {
    const old = this.#objects.get(key);
    if (old !== undefined) this.#unindex(key, old);
    this.#objects.delete(key);
    return old;
  }

  /**
   * Replaces the whole content with a fresh list and says what changed. An
   * object whose resourceVersion did not change counts as unchanged.
   */
  replace(objects: readonly T[]): StoreDiff<T> {
    const diff: StoreDiff<T> = { added: [], updated: [], deleted: [] };
    const fresh = new Map<ObjectKey, T>();
    for (const object of objects) fresh.set(keyOf(object), object);
    for (const [key, object] of fresh) {
      const old = this.#objects.get(key);
      if (old === undefined) diff.added.push(object);
      else if (old.metadata.resourceVersion !== object.metadata.resourceVersion) diff.updated.push({ old, object });
    }
    for (const [key, old] of this.#objects) if (!fresh.has(key)) diff.deleted.push(old);
    this.#objects.clear();
    this.#byNamespace.clear();
    for (const [key, object] of fresh) {
      this.#objects.set(key, object);
      this.#index(key, object);
    }
    return diff;
  }
}
