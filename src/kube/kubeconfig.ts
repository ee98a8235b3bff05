/**
 * Where the client connects and how it authenticates: from $KUBECONFIG (a
 * colon-separated list, merged, first definition wins), ~/.kube/config, or
 * the pod's service account. What upstream removed (auth-provider, basic
 * auth) is refused with what to use instead (docs/kubeconfig.md).
 */
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { parse } from 'yaml';
import { fixedCredential, readToken, tokenFileCredential, type ClientCertificate, type CredentialSource } from './credentials.ts';
import { KubeConfigError } from './errors.ts';
import { EXEC_API_VERSIONS, ExecCredentialSource, type ExecApiVersion, type ExecClusterInfo, type ExecPlugin } from './exec-credential.ts';
import { pathExists } from '../util/fs.ts';

export interface ClusterConfig {
  /** May carry a path prefix, kept before every API path. */
  server: URL;
  ca: Buffer | undefined;
  insecureSkipTlsVerify: boolean;
  /** SNI and certificate name, when it differs from the server's host. */
  tlsServerName: string | undefined;
  /** An http:// proxy every connection tunnels through (CONNECT). */
  proxyUrl: URL | undefined;
  credentials: CredentialSource;
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
    insecureSkipTlsVerify: false,
    tlsServerName: undefined,
    proxyUrl: undefined,
    credentials: tokenFileCredential(tokenFile, source, undefined),
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
  const insecureSkipTlsVerify = c['insecure-skip-tls-verify'] === true;
  const tlsServerName = optionalString(c, 'tls-server-name', where, source);
  const proxy = optionalString(c, 'proxy-url', where, source);
  const base = { server, ca, insecureSkipTlsVerify, tlsServerName, proxyUrl: proxy === undefined ? undefined : proxyUrl(proxy, where, source), namespace, source };
  if (!user) return { ...base, credentials: fixedCredential({ authorization: undefined, clientCertificate: undefined }) };

  const u = user.value;
  const userWhere = `user ${user.name}`;
  refuseRemoved(u, userWhere, source);
  const clientCert = await material(user, 'client-certificate', source);
  const clientKey = await material(user, 'client-key', source);
  if ((clientCert === undefined) !== (clientKey === undefined)) throw new KubeConfigError(source, `${userWhere} has a client certificate without its key, or a key without its certificate`);
  const clientCertificate: ClientCertificate | undefined = clientCert && clientKey ? { cert: clientCert, key: clientKey } : undefined;
  const token = optionalString(u, 'token', userWhere, source);
  const tokenFile = optionalString(u, 'tokenFile', userWhere, source);

  if (u['exec'] !== undefined) {
    const others = [token && 'token', tokenFile && 'tokenFile', clientCertificate && 'a client certificate'].filter(Boolean);
    if (others.length > 0) throw new KubeConfigError(source, `${userWhere} has both exec and ${others.join(', ')}: keep one way to authenticate`);
    const info: ExecClusterInfo = {
      server: server.href,
      ...(tlsServerName ? { 'tls-server-name': tlsServerName } : {}),
      ...(insecureSkipTlsVerify ? { 'insecure-skip-tls-verify': true } : {}),
      ...(ca ? { 'certificate-authority-data': ca.toString('base64') } : {}),
      ...(proxy ? { 'proxy-url': proxy } : {}),
      ...(c['disable-compression'] === true ? { 'disable-compression': true } : {}),
      ...execExtension(c),
    };
    return { ...base, credentials: new ExecCredentialSource(execPlugin(user, info, source)) };
  }
  if (token) return { ...base, credentials: fixedCredential({ authorization: `Bearer ${token}`, clientCertificate }) };
  if (tokenFile) {
    const file = absoluteFrom(user.base, tokenFile);
    await readToken(file, source);
    return { ...base, credentials: tokenFileCredential(file, source, clientCertificate) };
  }
  return { ...base, credentials: fixedCredential({ authorization: undefined, clientCertificate }) };
}

/** The exec plugins that replace each in-tree auth-provider upstream removed (Kubernetes 1.26). */
const AUTH_PROVIDER_REPLACEMENT: Readonly<Record<string, string>> = {
  gcp: 'gke-gcloud-auth-plugin (gcloud components install gke-gcloud-auth-plugin)',
  azure: 'kubelogin (https://azure.github.io/kubelogin, `kubelogin convert-kubeconfig`)',
  oidc: 'an OIDC exec plugin such as kubelogin (`kubectl oidc-login`, https://github.com/int128/kubelogin)',
};

function refuseRemoved(u: Record<string, unknown>, userWhere: string, source: string): void {
  const provider = u['auth-provider'];
  if (provider !== undefined && provider !== null) {
    const name = typeof provider === 'object' && !Array.isArray(provider) ? (provider as Record<string, unknown>)['name'] : undefined;
    const named = typeof name === 'string' ? name : '(unnamed)';
    const instead = AUTH_PROVIDER_REPLACEMENT[named] ?? 'the exec credential plugin your provider ships';
    throw new KubeConfigError(source, `${userWhere} uses auth-provider ${named}, which Kubernetes removed from its clients in 1.26 and kerris does not run; use an exec credential plugin instead: ${instead}`);
  }
  if (u['username'] !== undefined || u['password'] !== undefined) {
    throw new KubeConfigError(source, `${userWhere} uses basic authentication (username/password), which kube-apiserver removed in Kubernetes 1.19; use a token, a client certificate or an exec credential plugin`);
  }
}

function execPlugin(user: Named, cluster: ExecClusterInfo, source: string): ExecPlugin {
  const where = `user ${user.name}.exec`;
  const e = record(user.value['exec'], where, source);
  const apiVersion = requiredString(e, 'apiVersion', where, source);
  if (!(EXEC_API_VERSIONS as readonly string[]).includes(apiVersion)) {
    throw new KubeConfigError(source, `${where}.apiVersion ${apiVersion} is not supported; use ${EXEC_API_VERSIONS.join(' or ')}`);
  }
  const command = requiredString(e, 'command', where, source);
  const args = e['args'] ?? [];
  if (!Array.isArray(args) || !args.every((a): a is string => typeof a === 'string')) throw new KubeConfigError(source, `${where}.args is not a list of strings`);
  const envList = e['env'] ?? [];
  if (!Array.isArray(envList)) throw new KubeConfigError(source, `${where}.env is not a list`);
  const env = envList.map((entry, index) => {
    const item = record(entry, `${where}.env[${index}]`, source);
    return { name: requiredString(item, 'name', `${where}.env[${index}]`, source), value: optionalString(item, 'value', `${where}.env[${index}]`, source) ?? '' };
  });
  const interactiveMode = optionalString(e, 'interactiveMode', where, source) ?? 'IfAvailable';
  if (interactiveMode === 'Always') {
    throw new KubeConfigError(source, `${where}.interactiveMode is Always, but kerris never gives a credential plugin a terminal; log in with the plugin first (or use a mode that needs no prompt: Never or IfAvailable)`);
  }
  if (interactiveMode !== 'Never' && interactiveMode !== 'IfAvailable') throw new KubeConfigError(source, `${where}.interactiveMode ${interactiveMode} is not Never, IfAvailable or Always`);
  const provideClusterInfo = e['provideClusterInfo'] === true;
  return {
    apiVersion: apiVersion as ExecApiVersion,
    // As kubectl: a command with a path separator is relative to the kubeconfig's folder; a bare name is looked up on PATH.
    command: command.includes('/') && !isAbsolute(command) ? join(user.base, command) : command,
    args,
    env,
    installHint: optionalString(e, 'installHint', where, source),
    cluster: provideClusterInfo ? cluster : undefined,
    user: user.name,
    source,
  };
}

/** A cluster's extension named client.authentication.k8s.io/exec is handed to the plugin as spec.cluster.config. */
function execExtension(cluster: Record<string, unknown>): { config?: unknown } {
  const extensions = cluster['extensions'];
  if (!Array.isArray(extensions)) return {};
  const found = extensions.find((x): x is Record<string, unknown> => typeof x === 'object' && x !== null && (x as Record<string, unknown>)['name'] === 'client.authentication.k8s.io/exec');
  return found && found['extension'] !== undefined ? { config: found['extension'] } : {};
}

function proxyUrl(value: string, where: string, source: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new KubeConfigError(source, `${where}.proxy-url ${JSON.stringify(value)} is not a URL`);
  }
  if (url.protocol !== 'http:') {
    throw new KubeConfigError(source, `${where}.proxy-url ${url.protocol}// proxies are not supported by kerris (only http:// proxies, which tunnel with CONNECT)`);
  }
  return url;
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
