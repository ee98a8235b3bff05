/**
 * Where the client connects and how it authenticates: from $KUBECONFIG (a
 * colon-separated list, merged, first definition wins), ~/.kube/config, or
 * the pod's service account.
 */
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { parse } from 'yaml';
import { KubeConfigError } from './errors.ts';
import { pathExists } from '../util/fs.ts';

/** Produces the Authorization header value for one request; undefined sends none (client certificates). */
export type Authorization = () => Promise<string | undefined>;

export interface ClusterConfig {
  server: URL;
  ca: Buffer | undefined;
  clientCert: Buffer | undefined;
  clientKey: Buffer | undefined;
  insecureSkipTlsVerify: boolean;
  /** SNI and certificate name, when it differs from the server's host. */
  tlsServerName: string | undefined;
  authorization: Authorization;
  /** The namespace of the context (or the pod), "default" when none is set. */
  namespace: string;
  /** Where this came from, for error messages. */
  source: string;
}

export interface LoadOptions {
  /** A context other than current-context. */
  context?: string;
  env?: NodeJS.ProcessEnv;
  home?: string;
  /** Service account folder; only tests change it. */
  serviceAccountDir?: string;
}

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** $KUBECONFIG, else ~/.kube/config, else in-cluster. */
export async function loadClusterConfig(options: LoadOptions = {}): Promise<ClusterConfig> {
  const env = options.env ?? process.env;
  const fromEnv = (env['KUBECONFIG'] ?? '').split(':').filter((p) => p !== '');
  if (fromEnv.length > 0) return loadKubeconfigFiles(fromEnv, options.context);
  const home = join(options.home ?? homedir(), '.kube', 'config');
  if (await pathExists(home)) return loadKubeconfigFiles([home], options.context);
  if (env['KUBERNETES_SERVICE_HOST']) return loadInCluster(env, options.serviceAccountDir);
  throw new KubeConfigError('configuration', `no cluster found: $KUBECONFIG is unset, ${home} does not exist and KUBERNETES_SERVICE_HOST is unset (not in a pod)`);
}

/** The pod's service account. The token is read again for every request, since the kubelet rotates it. */
export async function loadInCluster(env: NodeJS.ProcessEnv = process.env, dir = SERVICE_ACCOUNT_DIR): Promise<ClusterConfig> {
  const host = env['KUBERNETES_SERVICE_HOST'];
  const port = env['KUBERNETES_SERVICE_PORT'] || '443';
  const source = `in-cluster (${dir})`;
  if (!host) throw new KubeConfigError(source, 'KUBERNETES_SERVICE_HOST is unset');
  const tokenFile = join(dir, 'token');
  const [ca, namespace] = await Promise.all([
    readFile(join(dir, 'ca.crt')).catch((e: Error) => { throw new KubeConfigError(source, `cannot read ca.crt: ${e.message}`); }),
    readFile(join(dir, 'namespace'), 'utf8').then((n) => n.trim(), () => 'default'),
  ]);
  await readToken(tokenFile, source);
  return {
    server: serverUrl(`https://${host.includes(':') ? `[${host}]` : host}:${port}`, source),
    ca,
    clientCert: undefined,
    clientKey: undefined,
    insecureSkipTlsVerify: false,
    tlsServerName: undefined,
    authorization: async () => `Bearer ${await readToken(tokenFile, source)}`,
    namespace: namespace || 'default',
    source,
  };
}

interface Named {
  name: string;
  value: Record<string, unknown>;
  /** The folder relative paths in this entry are resolved against. */
  base: string;
}

interface MergedKubeconfig {
  clusters: Map<string, Named>;
  users: Map<string, Named>;
  contexts: Map<string, Named>;
  currentContext: string | undefined;
}

/** Loads and merges kubeconfig files the way kubectl does: the first file to define a name wins. */
export async function loadKubeconfigFiles(paths: readonly string[], context?: string): Promise<ClusterConfig> {
  const merged: MergedKubeconfig = { clusters: new Map(), users: new Map(), contexts: new Map(), currentContext: undefined };
  let found = 0;
  for (const path of paths) {
    const absolute = resolve(path);
    const text = await readFile(absolute, 'utf8').catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return undefined;
      throw new KubeConfigError(absolute, e.message);
    });
    if (text === undefined) continue;
    found += 1;
    mergeFile(merged, absolute, text);
  }
  const source = paths.join(':');
  if (found === 0) throw new KubeConfigError(source, 'no kubeconfig file exists');
  const contextName = context ?? merged.currentContext;
  if (!contextName) throw new KubeConfigError(source, 'no current-context is set and none was asked for');
  const ctx = merged.contexts.get(contextName);
  if (!ctx) throw new KubeConfigError(source, `context ${JSON.stringify(contextName)} is not defined`);
  const clusterName = requiredString(ctx.value, 'cluster', `context ${contextName}`, source);
  const cluster = merged.clusters.get(clusterName);
  if (!cluster) throw new KubeConfigError(source, `cluster ${JSON.stringify(clusterName)} (context ${contextName}) is not defined`);
  const userName = optionalString(ctx.value, 'user', `context ${contextName}`, source);
  const user = userName === undefined ? undefined : merged.users.get(userName);
  if (userName !== undefined && !user) throw new KubeConfigError(source, `user ${JSON.stringify(userName)} (context ${contextName}) is not defined`);
  const namespace = optionalString(ctx.value, 'namespace', `context ${contextName}`, source) ?? 'default';
  return buildConfig(cluster, user, namespace, `${source} (context ${contextName})`);
}

function mergeFile(merged: MergedKubeconfig, path: string, text: string): void {
  let document: unknown;
  try {
    document = parse(text);
  } catch (error) {
    throw new KubeConfigError(path, `not YAML: ${(error as Error).message}`);
  }
  if (document === null || document === undefined) return;
  const root = record(document, 'the document', path);
  const base = dirname(path);
  for (const [key, target, field] of [['clusters', merged.clusters, 'cluster'], ['users', merged.users, 'user'], ['contexts', merged.contexts, 'context']] as const) {
    const list = root[key];
    if (list === undefined || list === null) continue;
    if (!Array.isArray(list)) throw new KubeConfigError(path, `${key} is not a list`);
    for (const [index, entry] of list.entries()) {
      const item = record(entry, `${key}[${index}]`, path);
      const name = requiredString(item, 'name', `${key}[${index}]`, path);
      if (!target.has(name)) target.set(name, { name, value: record(item[field] ?? {}, `${key}[${index}].${field}`, path), base });
    }
  }
  if (merged.currentContext === undefined) {
    const current = optionalString(root, 'current-context', 'the document', path);
    if (current) merged.currentContext = current;
  }
}

async function buildConfig(cluster: Named, user: Named | undefined, namespace: string, source: string): Promise<ClusterConfig> {
  const c = cluster.value;
  const where = `cluster ${cluster.name}`;
  const server = serverUrl(requiredString(c, 'server', where, source), source);
  const ca = await material(cluster, 'certificate-authority', source);
  const u = user?.value ?? {};
  const userWhere = `user ${user?.name ?? '(none)'}`;
  for (const unsupported of ['exec', 'auth-provider'] as const) {
    if (u[unsupported] !== undefined) throw new KubeConfigError(source, `${userWhere} uses ${unsupported}, which kerris does not support; use a token, a token file or a client certificate`);
  }
  const clientCert = user ? await material(user, 'client-certificate', source) : undefined;
  const clientKey = user ? await material(user, 'client-key', source) : undefined;
  if ((clientCert === undefined) !== (clientKey === undefined)) throw new KubeConfigError(source, `${userWhere} has a client certificate without its key, or a key without its certificate`);
  const token = optionalString(u, 'token', userWhere, source);
  const tokenFileEntry = optionalString(u, 'tokenFile', userWhere, source);
  const username = optionalString(u, 'username', userWhere, source);
  const password = optionalString(u, 'password', userWhere, source);
  let authorization: Authorization = async () => undefined;
  if (token) authorization = async () => `Bearer ${token}`;
  else if (tokenFileEntry && user) {
    const file = absoluteFrom(user.base, tokenFileEntry);
    await readToken(file, source);
    authorization = async () => `Bearer ${await readToken(file, source)}`;
  } else if (username !== undefined && password !== undefined) {
    const basic = Buffer.from(`${username}:${password}`).toString('base64');
    authorization = async () => `Basic ${basic}`;
  }
  return {
    server,
    ca,
    clientCert,
    clientKey,
    insecureSkipTlsVerify: c['insecure-skip-tls-verify'] === true,
    tlsServerName: optionalString(c, 'tls-server-name', where, source),
    authorization,
    namespace,
    source,
  };
}

/** `<field>-data` (base64) or `<field>` (a path, relative to the kubeconfig file). */
async function material(entry: Named, field: string, source: string): Promise<Buffer | undefined> {
  const where = `${entry.name}.${field}`;
  const data = optionalString(entry.value, `${field}-data`, where, source);
  if (data !== undefined) return Buffer.from(data, 'base64');
  const path = optionalString(entry.value, field, where, source);
  if (path === undefined) return undefined;
  const file = absoluteFrom(entry.base, path);
  return readFile(file).catch((e: Error) => { throw new KubeConfigError(source, `${where}: cannot read ${file}: ${e.message}`); });
}

async function readToken(file: string, source: string): Promise<string> {
  const token = (await readFile(file, 'utf8').catch((e: Error) => { throw new KubeConfigError(source, `cannot read token ${file}: ${e.message}`); })).trim();
  if (token === '') throw new KubeConfigError(source, `token file ${file} is empty`);
  return token;
}

function serverUrl(value: string, source: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new KubeConfigError(source, `server ${JSON.stringify(value)} is not a URL`);
  }
  if (url.protocol !== 'https:') throw new KubeConfigError(source, `server ${value} is not https`);
  return url;
}

const absoluteFrom = (base: string, path: string): string => (isAbsolute(path) ? path : join(base, path));

function record(value: unknown, where: string, source: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new KubeConfigError(source, `${where} is not a mapping`);
  return value as Record<string, unknown>;
}

function optionalString(value: Record<string, unknown>, key: string, where: string, source: string): string | undefined {
  const field = value[key];
  if (field === undefined || field === null) return undefined;
  if (typeof field !== 'string') throw new KubeConfigError(source, `${where}.${key} is not a string`);
  return field;
}

function requiredString(value: Record<string, unknown>, key: string, where: string, source: string): string {
  const field = optionalString(value, key, where, source);
  if (field === undefined || field === '') throw new KubeConfigError(source, `${where}.${key} is missing`);
  return field;
}
