/**
 * Mutual TLS for the daemon API: TLS 1.3 only, and the server refuses any
 * client whose certificate the node's CA did not sign.
 */
import * as grpc from '@grpc/grpc-js';
import { readFile } from 'node:fs/promises';
import { createSecureContext } from 'node:tls';

export interface TlsFiles {
  ca: string;
  cert: string;
  key: string;
}

export interface TlsMaterial {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

export async function readTlsFiles(files: TlsFiles): Promise<TlsMaterial> {
  const [ca, cert, key] = await Promise.all([readFile(files.ca), readFile(files.cert), readFile(files.key)]);
  return { ca, cert, key };
}

const MIN_VERSION = 'TLSv1.3';

/**
 * grpc-js's createSsl cannot set a minimum TLS version, so the options it would build are given directly:
 * the server constructor options carry requestCert/rejectUnauthorized/minVersion, the context options the keys.
 */
class MutualTlsServerCredentials extends grpc.ServerCredentials {
  private readonly material: TlsMaterial;
  constructor(material: TlsMaterial) {
    super({ requestCert: true, rejectUnauthorized: true, minVersion: MIN_VERSION }, { ca: material.ca, cert: material.cert, key: material.key });
    this.material = material;
  }
  _equals(other: grpc.ServerCredentials): boolean {
    return other instanceof MutualTlsServerCredentials && other.material === this.material;
  }
}

export function serverCredentials(material: TlsMaterial): grpc.ServerCredentials {
  return new MutualTlsServerCredentials(material);
}

export function clientCredentials(material: TlsMaterial): grpc.ChannelCredentials {
  return grpc.credentials.createFromSecureContext(createSecureContext({ ca: material.ca, cert: material.cert, key: material.key, minVersion: MIN_VERSION }));
}
