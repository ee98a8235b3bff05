/**
 * What a request authenticates with: an Authorization header, a client
 * certificate for the TLS connection, or both. A source hands out the current
 * credential for each request and hears about 401s, so a source that can mint
 * new credentials (an exec plugin) does so exactly when they are rejected.
 */
import { readFile } from 'node:fs/promises';
import { KubeConfigError } from './errors.ts';

/** PEM certificate and key that the TLS connection presents. */
export interface ClientCertificate {
  readonly cert: Buffer;
  readonly key: Buffer;
}

export interface Credential {
  /** The Authorization header value; undefined sends none. */
  readonly authorization: string | undefined;
  readonly clientCertificate: ClientCertificate | undefined;
}

export interface CredentialSource {
  /** The credential for the next request. */
  current(): Promise<Credential>;
  /**
   * The apiserver answered 401 to a request sent with `used`. Returns whether
   * asking current() again may give a different credential, so that sending
   * the request once more is worth it.
   */
  unauthorized(used: Credential): boolean;
}

/** Credentials that never change: a static token, a client certificate, or nothing. A 401 cannot be cured by asking again. */
export function fixedCredential(credential: Credential): CredentialSource {
  return { current: async () => credential, unauthorized: () => false };
}

/**
 * A bearer token read from its file for every request, since the kubelet (or
 * a sidecar) rotates it in place; beside it an optional static client
 * certificate. A 401 is not retried: the next request reads the file anyway.
 */
export function tokenFileCredential(file: string, source: string, clientCertificate: ClientCertificate | undefined): CredentialSource {
  return {
    current: async () => ({ authorization: `Bearer ${await readToken(file, source)}`, clientCertificate }),
    unauthorized: () => false,
  };
}

export async function readToken(file: string, source: string): Promise<string> {
  const token = (await readFile(file, 'utf8').catch((e: Error) => { throw new KubeConfigError(source, `cannot read token ${file}: ${e.message}`); })).trim();
  if (token === '') throw new KubeConfigError(source, `token file ${file} is empty`);
  return token;
}
