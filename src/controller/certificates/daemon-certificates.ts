/**
 * The controller's side of the daemon mTLS: the leader keeps the CA and the
 * daemon's serving Secret current (ensure), and every replica issues itself a
 * short-lived client certificate in memory (clientMaterial), never written
 * anywhere. What to issue when is decided by rotation.ts; this class only
 * reads, issues and writes.
 */
import { X509Certificate } from 'node:crypto';
import type { TlsMaterial } from '../../daemon/tls.ts';
import type { KubeClient } from '../../kube/client.ts';
import { isAlreadyExists, isConflict, isNotFound } from '../../kube/errors.ts';
import { secrets, type Secret } from '../../kube/resources.ts';
import type { Logger } from '../../util/log.ts';
import { CertificateError } from './errors.ts';
import { CA_COMMON_NAME, CA_SECRET_NAME, CONTROLLER_COMMON_NAME, DAEMON_COMMON_NAME, DAEMON_TLS_SECRET_NAME, daemonServerName } from './identities.ts';
import {
  activeCa, CA_LIFETIME_MS, CA_REFRESH_MS, CLIENT_LIFETIME_MS, clientRenewalReason, NEW_CA, planRotation, SERVER_LIFETIME_MS, type LeafSummary,
} from './rotation.ts';
import {
  bundlePem, caEntryOf, caSecret, leafSummary, readCaSecret, readServerSecret, serverSecret, type CaEntry,
} from './secrets.ts';
import { issueCa, issueLeaf, privateKeyPem } from './x509.ts';

export interface DaemonCertificatesOptions {
  client: KubeClient;
  /** The controller's namespace: where the Secrets live, and part of the daemon's name. */
  namespace: string;
  log: Logger;
  now?: () => Date;
}

export interface EnsureResult {
  /** What was issued: `ca` (a new CA in the bundle), `daemon-server` (the daemon's serving certificate). */
  issued: string[];
  /** Why anything was written, when something was. */
  reason?: string;
}

/** Two replicas, or a person, writing at once: each attempt re-reads and plans again. */
const ENSURE_ATTEMPTS = 3;

interface ClientCache {
  material: TlsMaterial;
  certificate: X509Certificate;
  leaf: LeafSummary;
  bundle: string;
  readAt: number;
}

export class DaemonCertificates {
  /** The name daemons present (SAN), for grpc.ssl_target_name_override. */
  readonly daemonServerName: string;
  readonly #client: KubeClient;
  readonly #namespace: string;
  readonly #log: Logger;
  readonly #now: () => Date;
  #cache: ClientCache | undefined;
  #refreshing: Promise<TlsMaterial> | undefined;

  constructor(options: DaemonCertificatesOptions) {
    this.#client = options.client;
    this.#namespace = options.namespace;
    this.#log = options.log.child({ component: 'certificates' });
    this.#now = options.now ?? (() => new Date());
    this.daemonServerName = daemonServerName(options.namespace);
  }

  /** Leader only: creates or rotates the CA and the daemon's serving Secret; idempotent. Returns what it did. */
  async ensure(): Promise<EnsureResult> {
    const issued: string[] = [];
    const reasons = new Set<string>();
    for (let attempt = 1; ; attempt += 1) {
      try {
        await this.#ensureOnce(issued, reasons);
        return reasons.size > 0 ? { issued, reason: [...reasons].join('; ') } : { issued };
      } catch (error) {
        if (attempt >= ENSURE_ATTEMPTS || !(isConflict(error) || isAlreadyExists(error))) throw error;
        this.#log.info('certificate Secret changed under us; reading it again', { attempt, error });
      }
    }
  }

  /**
   * This replica's client material for calling daemons: { ca: bundle, cert, key }.
   * The same object comes back while nothing changed, so a caller can keep
   * its connections until it gets a different one.
   */
  async clientMaterial(): Promise<TlsMaterial> {
    const cache = this.#cache;
    const now = this.#now();
    if (cache && now.getTime() - cache.readAt < CA_REFRESH_MS && cache.leaf.notAfter.getTime() > now.getTime()) return cache.material;
    this.#refreshing ??= this.#refreshClient().finally(() => { this.#refreshing = undefined; });
    return this.#refreshing;
  }

  async #ensureOnce(issued: string[], reasons: Set<string>): Promise<void> {
    const now = this.#now();
    const [caObject, serverObject] = await Promise.all([this.#read(CA_SECRET_NAME), this.#read(DAEMON_TLS_SECRET_NAME)]);
    const cas = readCaSecret(caObject);
    const known = cas.state === 'present' ? cas.value : [];
    const server = readServerSecret(serverObject, known);
    const plan = planRotation(now, { cas, server, serverName: this.daemonServerName });
    if (!plan.writeCas && !plan.writeServer) return;
    for (const reason of plan.reasons) reasons.add(reason);

    const byId = new Map(known.map((ca) => [ca.id, ca]));
    if (plan.cas.includes(NEW_CA)) byId.set(NEW_CA, newCa(now));
    const chosen = plan.cas.map((id) => byId.get(id)).filter((entry): entry is CaEntry => entry !== undefined);
    if (plan.writeCas) {
      await this.#write(caObject, caSecret(CA_SECRET_NAME, this.#namespace, chosen));
      if (byId.has(NEW_CA)) issued.push('ca');
    }
    if (plan.writeServer) {
      const signer = plan.issueServerFrom === undefined ? undefined : byId.get(plan.issueServerFrom);
      let leaf: { certPem: string; keyPem: string; notAfter: Date };
      if (signer) {
        const cert = issueLeaf(signer.signer, {
          commonName: DAEMON_COMMON_NAME, dnsNames: [this.daemonServerName], usage: 'serverAuth', now, lifetimeMs: SERVER_LIFETIME_MS, notAfterAtMost: signer.notAfter,
        });
        leaf = { certPem: cert.pem, keyPem: privateKeyPem(cert.privateKey), notAfter: new X509Certificate(cert.der).validToDate };
        issued.push('daemon-server');
      } else if (server.state === 'present') {
        leaf = { ...server.value, notAfter: server.value.certificate.notAfter };
      } else {
        throw new CertificateError(this.#namespace, DAEMON_TLS_SECRET_NAME, `plan keeps a serving certificate that does not exist (${plan.reasons.join('; ')})`);
      }
      await this.#write(serverObject, serverSecret(DAEMON_TLS_SECRET_NAME, this.#namespace, chosen, leaf));
    }
    this.#log.info('daemon certificates written', { issued: [...issued], reasons: plan.reasons });
  }

  async #refreshClient(): Promise<TlsMaterial> {
    const now = this.#now();
    const cache = this.#cache;
    let cas: CaEntry[];
    try {
      const read = readCaSecret(await this.#read(CA_SECRET_NAME));
      if (read.state === 'missing') throw new CertificateError(this.#namespace, CA_SECRET_NAME, 'not found: the leader creates it (or cert-manager, with --certificates=external)');
      if (read.state === 'damaged') throw new CertificateError(this.#namespace, CA_SECRET_NAME, `unusable: ${read.reason}`);
      cas = read.value;
    } catch (error) {
      // An apiserver blip must not stop calls to the daemons (recoveries among them) while the certificate in hand is valid.
      if (cache && cache.leaf.notAfter.getTime() > now.getTime()) {
        this.#log.warn('cannot re-read the CA Secret; keeping the client certificate in hand', { error, notAfter: cache.leaf.notAfter.toISOString() });
        cache.readAt = now.getTime();
        return cache.material;
      }
      throw error;
    }
    const active = activeCa(cas, now);
    if (active === undefined) throw new CertificateError(this.#namespace, CA_SECRET_NAME, 'every CA in it has expired');
    const bundle = bundlePem(cas);
    // The CAs may have changed since the certificate in hand was issued: judge it against the ones read now.
    const kept = cache ? leafSummary(cache.certificate, cas) : undefined;
    const renewal = clientRenewalReason(now, kept, active.id);
    if (cache && kept && renewal === undefined) {
      if (bundle !== cache.bundle) cache.material = { ...cache.material, ca: Buffer.from(bundle) };
      this.#cache = { ...cache, leaf: kept, bundle, readAt: now.getTime() };
      return this.#cache.material;
    }
    const cert = issueLeaf(active.signer, {
      commonName: CONTROLLER_COMMON_NAME, dnsNames: [], usage: 'clientAuth', now, lifetimeMs: CLIENT_LIFETIME_MS, notAfterAtMost: active.notAfter,
    });
    const parsed = new X509Certificate(cert.der);
    const material: TlsMaterial = { ca: Buffer.from(bundle), cert: Buffer.from(cert.pem), key: Buffer.from(privateKeyPem(cert.privateKey)) };
    this.#cache = { material, certificate: parsed, leaf: leafSummary(parsed, cas), bundle, readAt: now.getTime() };
    this.#log.info('client certificate issued', { reason: renewal, issuer: active.id, serial: parsed.serialNumber, notAfter: parsed.validToDate.toISOString() });
    return material;
  }

  async #read(name: string): Promise<Secret | undefined> {
    try {
      return await this.#client.get(secrets, name, { namespace: this.#namespace });
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw new CertificateError(this.#namespace, name, 'cannot read', error);
    }
  }

  /**
   * Creates the Secret, or replaces it guarded by the resourceVersion read
   * (a conflict means someone else wrote: the caller plans again). A Secret's
   * type cannot change in place, so one of the wrong type is deleted, guarded
   * by its uid, and created again.
   */
  async #write(existing: Secret | undefined, desired: Secret): Promise<void> {
    const name = desired.metadata.name ?? '';
    const options = { namespace: this.#namespace, fieldManager: 'kerris-controller' };
    try {
      if (existing && existing.type !== desired.type) {
        await this.#client.delete(secrets, name, { namespace: this.#namespace, preconditions: { uid: existing.metadata.uid, resourceVersion: existing.metadata.resourceVersion } });
        await this.#client.create(secrets, desired, options);
      } else if (existing) {
        const metadata = {
          ...existing.metadata,
          labels: { ...existing.metadata.labels, ...desired.metadata.labels },
          annotations: { ...existing.metadata.annotations, ...desired.metadata.annotations },
        };
        await this.#client.replace(secrets, { ...existing, metadata, type: desired.type, data: desired.data }, options);
      } else {
        await this.#client.create(secrets, desired, options);
      }
    } catch (error) {
      if (isConflict(error) || isAlreadyExists(error)) throw error;
      throw new CertificateError(this.#namespace, name, existing ? 'cannot update' : 'cannot create', error);
    }
  }
}

function newCa(now: Date): CaEntry {
  const ca = issueCa({ commonName: CA_COMMON_NAME, now, lifetimeMs: CA_LIFETIME_MS });
  return caEntryOf(ca.pem, privateKeyPem(ca.privateKey));
}
