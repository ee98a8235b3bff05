/**
 * Mutual TLS for the daemon API: TLS 1.3 only, the server refuses any client whose certificate the node's CA did
 * not sign, and it follows its certificate files as the kubelet rotates them (a Secret volume swaps its `..data`
 * symlink): new connections use the new files, connections already open keep theirs, no call is failed.
 */
import * as grpc from '@grpc/grpc-js';
import { readFile } from 'node:fs/promises';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import { DaemonError, errorMessage } from './errors.ts';
import type { Logger } from '../util/log.ts';

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

const MIN_VERSION = 'TLSv1.3';

/** Reads and checks the files (a key that does not match its certificate is refused here, not at the first call). */
export async function readTlsFiles(files: TlsFiles): Promise<TlsMaterial> {
  let material: TlsMaterial;
  try {
    const [ca, cert, key] = await Promise.all([readFile(files.ca), readFile(files.cert), readFile(files.key)]);
    material = { ca, cert, key };
  } catch (error) {
    throw new DaemonError('invalid', `TLS files unreadable (ca ${files.ca}, cert ${files.cert}, key ${files.key}): ${errorMessage(error)}`, { cause: error });
  }
  checkMaterial(material);
  return material;
}

function contextOptions(material: TlsMaterial): SecureContextOptions {
  return { ca: material.ca, cert: material.cert, key: material.key, minVersion: MIN_VERSION };
}

function checkMaterial(material: TlsMaterial): void {
  try {
    createSecureContext(contextOptions(material));
  } catch (error) {
    throw new DaemonError('invalid', `TLS material unusable: ${errorMessage(error)}`, { cause: error });
  }
}

export interface RotationOptions {
  files: TlsFiles;
  /** How often the files are read again (grpc-js's FileWatcherCertificateProvider). */
  refreshMs: number;
  log: Logger;
}

type Watcher = Parameters<grpc.ServerCredentials['_addWatcher']>[0];

/**
 * grpc-js's certificate-provider credentials cannot set a minimum TLS version, so this class gives the server
 * constructor options itself (requestCert, rejectUnauthorized, minVersion) and feeds grpc-js's file watcher into
 * the secure-context updates grpc-js applies to new connections. A read caught mid-rotation (new certificate, old
 * key) or a missing file keeps the last good material instead of dropping connections.
 */
class RotatingServerCredentials extends grpc.ServerCredentials {
  private current: TlsMaterial;
  private readonly provider: grpc.experimental.FileWatcherCertificateProvider | undefined;
  private readonly log: Logger | undefined;
  private ca: Buffer | undefined;
  private identity: { cert: Buffer; key: Buffer } | undefined;
  private readonly onCa = (update: grpc.experimental.CaCertificateUpdate | null): void => {
    this.ca = update?.caCertificate;
    this.consider();
  };
  private readonly onIdentity = (update: grpc.experimental.IdentityCertificateUpdate | null): void => {
    this.identity = update === null ? undefined : { cert: update.certificate, key: update.privateKey };
    this.consider();
  };

  constructor(initial: TlsMaterial, rotation: RotationOptions | undefined) {
    super({ requestCert: true, rejectUnauthorized: true, minVersion: MIN_VERSION }, contextOptions(initial));
    this.current = initial;
    this.log = rotation?.log;
    this.provider = rotation === undefined ? undefined : new grpc.experimental.FileWatcherCertificateProvider({
      caCertificateFile: rotation.files.ca, certificateFile: rotation.files.cert, privateKeyFile: rotation.files.key, refreshIntervalMs: rotation.refreshMs,
    });
  }

  /** grpc-js adds a watcher per listening server; the files are watched while at least one listens. */
  override _addWatcher(watcher: Watcher): void {
    if (this.getWatcherCount() === 0) {
      this.provider?.addCaCertificateListener(this.onCa);
      this.provider?.addIdentityCertificateListener(this.onIdentity);
    }
    super._addWatcher(watcher);
  }

  override _removeWatcher(watcher: Watcher): void {
    super._removeWatcher(watcher);
    if (this.getWatcherCount() === 0) {
      this.provider?.removeCaCertificateListener(this.onCa);
      this.provider?.removeIdentityCertificateListener(this.onIdentity);
    }
  }

  private consider(): void {
    if (this.ca === undefined || this.identity === undefined) return;
    const next: TlsMaterial = { ca: this.ca, ...this.identity };
    if (next.ca.equals(this.current.ca) && next.cert.equals(this.current.cert) && next.key.equals(this.current.key)) return;
    try {
      checkMaterial(next);
    } catch (error) {
      // Most often a read between the kubelet's writes; the next refresh sees the finished rotation.
      this.log?.warn('TLS files changed but are not usable yet; keeping the current ones', { error: errorMessage(error) });
      return;
    }
    this.current = next;
    this.updateSecureContextOptions(contextOptions(next));
    this.log?.info('TLS files reloaded; new connections use them');
  }

  _equals(other: grpc.ServerCredentials): boolean {
    return other === this;
  }
}

/** Server credentials from `initial`; with `rotation`, following the files as they change. */
export function serverCredentials(initial: TlsMaterial, rotation?: RotationOptions): grpc.ServerCredentials {
  return new RotatingServerCredentials(initial, rotation);
}

export function clientCredentials(material: TlsMaterial): grpc.ChannelCredentials {
  return grpc.credentials.createFromSecureContext(createSecureContext(contextOptions(material)));
}
