/** A typed REST client: one method per verb, addressed by resource descriptors. */
import { TransportError } from './errors.ts';
import { loadClusterConfig, type ClusterConfig, type LoadOptions } from './kubeconfig.ts';
import { resourcePath, type Resource } from './resource.ts';
import { Transport, type HttpRequest, type Method, type TransportOptions } from './transport.ts';
import { decodeWatchStream, WatchProtocolError } from './watch-stream.ts';
import type { KubeObject, List, Status, WatchEvent } from './types.ts';

export type JsonPatchOperation =
  | { op: 'add' | 'replace' | 'test'; path: string; value: unknown }
  | { op: 'remove'; path: string }
  | { op: 'move' | 'copy'; from: string; path: string };

export type Patch =
  | { type: 'merge'; body: object }
  | { type: 'strategic'; body: object }
  | { type: 'json'; operations: readonly JsonPatchOperation[] }
  /** Server-side apply: the body is the whole intent of fieldManager. */
  | { type: 'apply'; body: object; fieldManager: string; force?: boolean };

const PATCH_CONTENT_TYPE: Readonly<Record<Patch['type'], string>> = {
  merge: 'application/merge-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  json: 'application/json-patch+json',
  apply: 'application/apply-patch+yaml',
};

export interface CallOptions {
  /** For namespaced resources; object calls default to the object's, then the kubeconfig's namespace. */
  namespace?: string;
  signal?: AbortSignal;
}

export interface SelectorOptions {
  labelSelector?: string;
  fieldSelector?: string;
}

export interface ListOptions extends CallOptions, SelectorOptions {
  resourceVersion?: string;
  resourceVersionMatch?: 'NotOlderThan' | 'Exact';
  limit?: number;
  continue?: string;
}

export interface WatchOptions extends CallOptions, SelectorOptions {
  resourceVersion?: string;
  allowWatchBookmarks?: boolean;
  /** The apiserver ends the watch after this long. */
  timeoutSeconds?: number;
}

export interface WriteOptions extends CallOptions {
  fieldManager?: string;
  dryRun?: boolean;
}

export interface PatchOptions extends WriteOptions {
  subresource?: string;
}

export interface DeleteOptions extends CallOptions {
  gracePeriodSeconds?: number;
  preconditions?: { uid?: string; resourceVersion?: string };
  propagationPolicy?: 'Orphan' | 'Background' | 'Foreground';
  dryRun?: boolean;
}

/** A whole collection, read page by page, and the resourceVersion to watch it from. */
export interface Snapshot<T extends KubeObject> {
  items: T[];
  resourceVersion: string;
}

export class KubeClient {
  readonly transport: Transport;

  constructor(config: ClusterConfig, options: TransportOptions = {}) {
    this.transport = new Transport(config, options);
  }

  /** A client for $KUBECONFIG, ~/.kube/config or the pod's service account. */
  static async fromEnvironment(load: LoadOptions = {}, options: TransportOptions = {}): Promise<KubeClient> {
    return new KubeClient(await loadClusterConfig(load), options);
  }

  get defaultNamespace(): string {
    return this.transport.config.namespace;
  }

  async get<T extends KubeObject>(resource: Resource<T>, name: string, options: CallOptions = {}): Promise<T> {
    const path = resourcePath(resource, { namespace: this.#namespace(resource, options.namespace), name });
    return this.#json<T>({ method: 'GET', path, signal: options.signal });
  }

  /** One page of a collection; `namespace` undefined lists every namespace. */
  async list<T extends KubeObject>(resource: Resource<T>, options: ListOptions = {}): Promise<List<T>> {
    const query = selectorQuery(options);
    setIf(query, 'resourceVersion', options.resourceVersion);
    setIf(query, 'resourceVersionMatch', options.resourceVersionMatch);
    setIf(query, 'limit', options.limit);
    setIf(query, 'continue', options.continue);
    const path = resourcePath(resource, { namespace: resource.namespaced ? options.namespace : undefined });
    const list = await this.#json<List<T>>({ method: 'GET', path, query, signal: options.signal });
    // The apiserver leaves kind and apiVersion out of list items; watch events carry them. Objects look the same either way.
    list.items = list.items.map((item) => withType(resource, item));
    return list;
  }

  /** Every page of a collection, as one consistent snapshot. */
  async listAll<T extends KubeObject>(resource: Resource<T>, options: Omit<ListOptions, 'continue'> = {}): Promise<Snapshot<T>> {
    const items: T[] = [];
    let next: string | undefined;
    for (;;) {
      const page = await this.list(resource, { limit: 500, ...options, ...(next ? { continue: next, resourceVersion: undefined, resourceVersionMatch: undefined } : {}) });
      items.push(...page.items);
      next = page.metadata.continue;
      if (!next) return { items, resourceVersion: page.metadata.resourceVersion ?? '' };
    }
  }

  async create<T extends KubeObject>(resource: Resource<T>, object: T, options: WriteOptions = {}): Promise<T> {
    const path = resourcePath(resource, { namespace: this.#namespace(resource, options.namespace ?? object.metadata.namespace) });
    return this.#json<T>({ method: 'POST', path, query: writeQuery(options), body: JSON.stringify(withType(resource, object)), signal: options.signal });
  }

  /** POST to a subresource of one object (a pod's `eviction`); the answer is whatever the subresource returns. */
  async createSubresource<T extends KubeObject, R>(resource: Resource<T>, name: string, subresource: string, body: object, options: WriteOptions = {}): Promise<R> {
    const path = resourcePath(resource, { namespace: this.#namespace(resource, options.namespace), name, subresource });
    return this.#json<R>({ method: 'POST', path, query: writeQuery(options), body: JSON.stringify(body), signal: options.signal });
  }

  /** PUT: the apiserver refuses it with Conflict when metadata.resourceVersion is stale. */
  async replace<T extends KubeObject>(resource: Resource<T>, object: T, options: WriteOptions = {}): Promise<T> {
    return this.#put(resource, object, undefined, options);
  }

  async replaceStatus<T extends KubeObject>(resource: Resource<T>, object: T, options: WriteOptions = {}): Promise<T> {
    return this.#put(resource, object, 'status', options);
  }

  async patch<T extends KubeObject>(resource: Resource<T>, name: string, patch: Patch, options: PatchOptions = {}): Promise<T> {
    const query = writeQuery(options);
    let body: string;
    if (patch.type === 'json') body = JSON.stringify(patch.operations);
    else if (patch.type === 'apply') {
      query.set('fieldManager', patch.fieldManager);
      if (patch.force) query.set('force', 'true');
      body = JSON.stringify(patch.body);
    } else body = JSON.stringify(patch.body);
    const path = resourcePath(resource, { namespace: this.#namespace(resource, options.namespace), name, subresource: options.subresource });
    return this.#json<T>({ method: 'PATCH', path, query, body, contentType: PATCH_CONTENT_TYPE[patch.type], signal: options.signal });
  }

  /** A patch of the status subresource: the only way a status changes when the resource has one. */
  async patchStatus<T extends KubeObject>(resource: Resource<T>, name: string, patch: Patch, options: WriteOptions = {}): Promise<T> {
    return this.patch(resource, name, patch, { ...options, subresource: 'status' });
  }

  /**
   * Deletes an object. The answer is the object when deletion waits (finalizers,
   * grace period), else a Status.
   */
  async delete<T extends KubeObject>(resource: Resource<T>, name: string, options: DeleteOptions = {}): Promise<T | Status> {
    const body: Record<string, unknown> = { apiVersion: 'v1', kind: 'DeleteOptions' };
    if (options.gracePeriodSeconds !== undefined) body['gracePeriodSeconds'] = options.gracePeriodSeconds;
    if (options.preconditions) body['preconditions'] = options.preconditions;
    if (options.propagationPolicy) body['propagationPolicy'] = options.propagationPolicy;
    if (options.dryRun) body['dryRun'] = ['All'];
    const path = resourcePath(resource, { namespace: this.#namespace(resource, options.namespace), name });
    return this.#json<T | Status>({ method: 'DELETE', path, body: JSON.stringify(body), signal: options.signal });
  }

  /**
   * Watches a collection. The iteration ends when the apiserver closes the
   * stream (timeoutSeconds) or the signal aborts; a broken stream throws.
   * ERROR events are yielded, not thrown: a 410 among them asks for a relist.
   */
  async *watch<T extends KubeObject>(resource: Resource<T>, options: WatchOptions = {}): AsyncGenerator<WatchEvent<T>> {
    const query = selectorQuery(options);
    query.set('watch', '1');
    setIf(query, 'resourceVersion', options.resourceVersion);
    if (options.allowWatchBookmarks) query.set('allowWatchBookmarks', 'true');
    setIf(query, 'timeoutSeconds', options.timeoutSeconds);
    const req: HttpRequest = { method: 'GET', path: resourcePath(resource, { namespace: resource.namespaced ? options.namespace : undefined }), query, signal: options.signal };
    let stream;
    try {
      stream = await this.transport.stream(req);
    } catch (error) {
      if (options.signal?.aborted) return;
      throw error;
    }
    try {
      yield* decodeWatchStream<T>(stream);
    } catch (error) {
      if (options.signal?.aborted) return;
      // A stream that breaks mid-way is a transport failure; a bad line is the apiserver's.
      throw error instanceof WatchProtocolError || !(error instanceof Error) ? error : new TransportError({ method: req.method, path: req.path }, error);
    } finally {
      stream.destroy();
    }
  }

  close(): void {
    this.transport.close();
  }

  #namespace(resource: Resource<KubeObject>, namespace: string | undefined): string | undefined {
    return resource.namespaced ? namespace ?? this.transport.config.namespace : undefined;
  }

  async #put<T extends KubeObject>(resource: Resource<T>, object: T, subresource: string | undefined, options: WriteOptions): Promise<T> {
    const name = object.metadata.name;
    if (!name) throw new Error(`cannot replace a ${resource.kind} without metadata.name`);
    const path = resourcePath(resource, { namespace: this.#namespace(resource, options.namespace ?? object.metadata.namespace), name, subresource });
    return this.#json<T>({ method: 'PUT', path, query: writeQuery(options), body: JSON.stringify(withType(resource, object)), signal: options.signal });
  }

  async #json<R>(req: HttpRequest & { method: Method }): Promise<R> {
    const res = await this.transport.request(req);
    // The apiserver's answer is trusted to match the resource's schema.
    return JSON.parse(res.body) as R;
  }
}

function withType<T extends KubeObject>(resource: Resource<T>, object: T): T {
  const apiVersion = resource.group === '' ? resource.version : `${resource.group}/${resource.version}`;
  return { ...object, apiVersion: object.apiVersion ?? apiVersion, kind: object.kind ?? resource.kind };
}

function selectorQuery(options: SelectorOptions): URLSearchParams {
  const query = new URLSearchParams();
  setIf(query, 'labelSelector', options.labelSelector);
  setIf(query, 'fieldSelector', options.fieldSelector);
  return query;
}

function writeQuery(options: WriteOptions): URLSearchParams {
  const query = new URLSearchParams();
  setIf(query, 'fieldManager', options.fieldManager);
  if (options.dryRun) query.set('dryRun', 'All');
  return query;
}

function setIf(query: URLSearchParams, key: string, value: string | number | undefined): void {
  if (value !== undefined && value !== '') query.set(key, String(value));
}
