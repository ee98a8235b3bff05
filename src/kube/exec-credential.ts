/**
 * `exec` credential plugins (client.authentication.k8s.io v1 and v1beta1), run
 * as kubectl runs them: the managed clouds' way to log in (`aws eks get-token`,
 * `gke-gcloud-auth-plugin`, `kubelogin`). The credential is kept until its
 * expirationTimestamp and fetched again when the apiserver rejects it.
 */
import { CommandError, run } from '../util/exec.ts';
import type { ClientCertificate, Credential, CredentialSource } from './credentials.ts';
import { CredentialPluginError } from './errors.ts';

export const EXEC_API_VERSIONS = ['client.authentication.k8s.io/v1', 'client.authentication.k8s.io/v1beta1'] as const;
export type ExecApiVersion = (typeof EXEC_API_VERSIONS)[number];

/** The cluster as a plugin sees it in KUBERNETES_EXEC_INFO (spec.cluster), when the kubeconfig sets provideClusterInfo. */
export interface ExecClusterInfo {
  server: string;
  'tls-server-name'?: string;
  'insecure-skip-tls-verify'?: boolean;
  'certificate-authority-data'?: string;
  'proxy-url'?: string;
  'disable-compression'?: boolean;
  /** The cluster's `client.authentication.k8s.io/exec` extension. */
  config?: unknown;
}

export interface ExecPlugin {
  apiVersion: ExecApiVersion;
  /** As kerris runs it: absolute, or a bare name looked up on PATH (a relative path is resolved against the kubeconfig's folder). */
  command: string;
  args: readonly string[];
  env: ReadonlyArray<{ name: string; value: string }>;
  installHint: string | undefined;
  cluster: ExecClusterInfo | undefined;
  /** For messages: the kubeconfig user and file. */
  user: string;
  source: string;
}

/** What a plugin's ExecCredential status gives. */
export interface ExecCredentialStatus {
  token: string | undefined;
  clientCertificate: ClientCertificate | undefined;
  expiration: Date | undefined;
}

/** A plugin that runs longer gives no credential; an interactive login cannot happen anyway (kerris gives no terminal). */
export const EXEC_TIMEOUT_MS = 60_000;

/** Parses a plugin's stdout; throws an Error saying what is wrong with it. */
export function parseExecCredential(stdout: string, apiVersion: ExecApiVersion): ExecCredentialStatus {
  let document: unknown;
  try {
    document = JSON.parse(stdout);
  } catch {
    throw new Error(`its output is not JSON: ${JSON.stringify(stdout.trim().slice(0, 200))}`);
  }
  if (!isRecord(document)) throw new Error('its output is not a JSON object');
  if (document['kind'] !== 'ExecCredential') throw new Error(`it printed kind ${JSON.stringify(document['kind'])}, not ExecCredential`);
  if (document['apiVersion'] !== apiVersion) throw new Error(`it is configured for ${apiVersion} but printed apiVersion ${JSON.stringify(document['apiVersion'])}`);
  const status = document['status'];
  if (!isRecord(status)) throw new Error('its ExecCredential has no status');
  const token = stringField(status, 'token');
  const cert = stringField(status, 'clientCertificateData');
  const key = stringField(status, 'clientKeyData');
  if ((cert === undefined) !== (key === undefined)) throw new Error('its status has clientCertificateData without clientKeyData, or the reverse');
  if (token === undefined && cert === undefined) throw new Error('its status has neither a token nor clientCertificateData and clientKeyData');
  const timestamp = stringField(status, 'expirationTimestamp');
  const expiration = timestamp === undefined ? undefined : new Date(timestamp);
  if (expiration && Number.isNaN(expiration.getTime())) throw new Error(`its expirationTimestamp ${JSON.stringify(timestamp)} is not a time`);
  return {
    token,
    // The status carries PEM text, not base64.
    clientCertificate: cert !== undefined && key !== undefined ? { cert: Buffer.from(cert), key: Buffer.from(key) } : undefined,
    expiration,
  };
}

/**
 * Until when (epoch ms) a credential fetched at `now` is used without asking
 * the plugin again: its expiry less a margin, so that a request does not leave
 * with a token that expires on the way. The margin is 10 s, or a tenth of the
 * remaining lifetime when that is shorter. No expiry: until a 401.
 */
export function freshUntil(expiration: Date | undefined, now: number): number {
  if (expiration === undefined) return Number.POSITIVE_INFINITY;
  const remaining = expiration.getTime() - now;
  return expiration.getTime() - Math.min(10_000, Math.max(0, remaining) / 10);
}

/** KUBERNETES_EXEC_INFO: kerris never hands a plugin a terminal, so spec.interactive is always false. */
export function execInfo(plugin: ExecPlugin): string {
  return JSON.stringify({
    apiVersion: plugin.apiVersion,
    kind: 'ExecCredential',
    spec: { interactive: false, ...(plugin.cluster ? { cluster: plugin.cluster } : {}) },
  });
}

/** Runs the plugin once (argv, never a shell) and reads its ExecCredential. */
export async function runExecPlugin(plugin: ExecPlugin, timeoutMs = EXEC_TIMEOUT_MS): Promise<ExecCredentialStatus> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const { name, value } of plugin.env) env[name] = value;
  env['KUBERNETES_EXEC_INFO'] = execInfo(plugin);
  let stdout: string;
  let stderr: string;
  try {
    ({ stdout, stderr } = await run([plugin.command, ...plugin.args], { env, timeoutMs }));
  } catch (error) {
    if (!(error instanceof CommandError)) throw error;
    const { code, stderr: output } = error.result;
    // run() reports a command that could not start with code -1 and spawn's message (ENOENT: no such file) as stderr.
    if (code === -1 && /\bENOENT\b/.test(output)) {
      const hint = plugin.installHint?.trim();
      throw new CredentialPluginError(plugin, `the command is not installed (${plugin.command.includes('/') ? 'no such file' : 'not found on PATH'})${hint ? `\n\n${hint}` : ''}`, '');
    }
    throw new CredentialPluginError(plugin, error.message, output);
  }
  try {
    return parseExecCredential(stdout, plugin.apiVersion);
  } catch (error) {
    const said = stderr.trim();
    throw new CredentialPluginError(plugin, `gave no usable credential: ${(error as Error).message}${said ? `; its stderr: ${said}` : ''}`, stderr);
  }
}

export interface ExecCredentialOptions {
  timeoutMs?: number;
  /** Epoch ms; tests move it. */
  now?: () => number;
}

/**
 * The credential of one exec plugin, shared by every request of a client:
 * concurrent requests that find no fresh credential wait for one run of the
 * plugin, and a 401 drops the credential it was sent with.
 */
export class ExecCredentialSource implements CredentialSource {
  readonly plugin: ExecPlugin;
  readonly #timeoutMs: number;
  readonly #now: () => number;
  #cached: { credential: Credential; freshUntil: number } | undefined;
  #running: Promise<Credential> | undefined;

  constructor(plugin: ExecPlugin, options: ExecCredentialOptions = {}) {
    this.plugin = plugin;
    this.#timeoutMs = options.timeoutMs ?? EXEC_TIMEOUT_MS;
    this.#now = options.now ?? Date.now;
  }

  current(): Promise<Credential> {
    const cached = this.#cached;
    if (cached && this.#now() < cached.freshUntil) return Promise.resolve(cached.credential);
    this.#running ??= this.#fetch().finally(() => { this.#running = undefined; });
    return this.#running;
  }

  unauthorized(used: Credential): boolean {
    // Only the credential that was rejected goes: another request may already have fetched a newer one.
    if (this.#cached?.credential === used) this.#cached = undefined;
    return true;
  }

  async #fetch(): Promise<Credential> {
    const status = await runExecPlugin(this.plugin, this.#timeoutMs);
    const credential: Credential = {
      authorization: status.token === undefined ? undefined : `Bearer ${status.token}`,
      clientCertificate: status.clientCertificate,
    };
    this.#cached = { credential, freshUntil: freshUntil(status.expiration, this.#now()) };
    return credential;
  }
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

function stringField(value: Record<string, unknown>, key: string): string | undefined {
  const field = value[key];
  if (field === undefined || field === null || field === '') return undefined;
  if (typeof field !== 'string') throw new Error(`its status.${key} is not a string`);
  return field;
}
