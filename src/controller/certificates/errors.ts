/** A certificate Secret could not be read or written; says which Secret in which namespace, with the cause. */
export class CertificateError extends Error {
  override name = 'CertificateError';
  readonly namespace: string;
  readonly secret: string;

  constructor(namespace: string, secret: string, message: string, cause?: unknown) {
    super(`Secret ${namespace}/${secret}: ${message}`, cause === undefined ? undefined : { cause });
    this.namespace = namespace;
    this.secret = secret;
  }
}
