/** The daemon's gRPC server: the API of proto/daemon.proto over mutual TLS, bound to the injector. */
import * as grpc from '@grpc/grpc-js';
import { hostname } from 'node:os';
import {
  daemonService, injectionFromWire, resultToWire, statusToWire,
  type BatchResponse, type CapabilitiesRequest, type CapabilitiesResponse, type InjectRequest, type ListRequest, type ListResponse,
  type RecoverRequest, type RenewLeaseRequest, type RenewLeaseResponse,
} from './api.ts';
import { DaemonError, errorMessage, type ErrorCode } from './errors.ts';
import type { Injector, ItemResult, RawInjection } from './injector.ts';
import { serverCredentials, type TlsMaterial } from './tls.ts';
import type { Logger } from '../util/log.ts';

export interface ServerOptions {
  injector: Injector;
  tls: TlsMaterial;
  /** host:port; port 0 picks a free one. */
  listen: string;
  log: Logger;
  /** What this node can do, for the Capabilities call. */
  capabilities: () => Promise<Omit<CapabilitiesResponse, 'node'>>;
  /** Largest batch one call may carry. */
  maxBatch?: number;
  /** Common names of the client certificates that may call; empty: any certificate the CA signed. */
  allowedClients?: readonly string[];
}

const STATUS: Record<ErrorCode, grpc.status> = {
  invalid: grpc.status.INVALID_ARGUMENT,
  conflict: grpc.status.ALREADY_EXISTS,
  'not-found': grpc.status.NOT_FOUND,
  unavailable: grpc.status.UNAVAILABLE,
  failed: grpc.status.INTERNAL,
};

function toServiceError(error: unknown): Partial<grpc.ServiceError> {
  const code = error instanceof DaemonError ? STATUS[error.code] : grpc.status.INTERNAL;
  return { code, details: errorMessage(error), message: errorMessage(error) };
}

/** The CN of a client certificate's subject (node gives a string, or a list when the name has several). */
function clientName(subject: Record<string, string | string[] | undefined> | undefined): string {
  const cn = subject?.['CN'];
  return Array.isArray(cn) ? cn.join(',') : cn ?? '';
}

export interface RunningServer {
  port: number;
  stop(): Promise<void>;
}

export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const { injector, log } = options;
  const maxBatch = options.maxBatch ?? 10_000;
  const server = new grpc.Server({ 'grpc.max_receive_message_length': 64 * 1024 * 1024 });

  const allowed = new Set(options.allowedClients ?? []);

  function handle<Req, Res>(method: string, body: (request: Req) => Promise<Res>): grpc.handleUnaryCall<Req, Res> {
    return (call, callback) => {
      const started = process.hrtime.bigint();
      const client = clientName(call.getAuthContext().sslPeerCertificate?.subject);
      if (allowed.size > 0 && !allowed.has(client)) {
        log.warn('rpc refused: client certificate not allowed', { method, client, peer: call.getPeer() });
        injector.metrics.rpcSeconds.observe({ method, code: 'PERMISSION_DENIED' }, Number(process.hrtime.bigint() - started) / 1e9);
        callback({ code: grpc.status.PERMISSION_DENIED, details: `client ${JSON.stringify(client)} may not call this daemon` }, null);
        return;
      }
      body(call.request).then((response) => {
        injector.metrics.rpcSeconds.observe({ method, code: 'OK' }, Number(process.hrtime.bigint() - started) / 1e9);
        callback(null, response);
      }, (error: unknown) => {
        const serviceError = toServiceError(error);
        injector.metrics.rpcSeconds.observe({ method, code: grpc.status[serviceError.code ?? grpc.status.INTERNAL] }, Number(process.hrtime.bigint() - started) / 1e9);
        log.warn('rpc failed', { method, client, peer: call.getPeer(), error: errorMessage(error) });
        callback(serviceError, null);
      });
    };
  }

  function checkBatch(size: number): void {
    if (size > maxBatch) throw new DaemonError('invalid', `a batch holds at most ${maxBatch} items, got ${size}`);
  }

  /** A malformed item fails alone, like an item the injector refuses, so one bad item never fails its batch. */
  async function inject(request: InjectRequest): Promise<BatchResponse> {
    checkBatch(request.injections.length);
    const decoded: RawInjection[] = [];
    const refused = new Map<number, ItemResult>();
    request.injections.forEach((wire, index) => {
      try {
        decoded.push(injectionFromWire(wire));
      } catch (error) {
        refused.set(index, { id: wire.id, ok: false, errorCode: error instanceof DaemonError ? error.code : 'invalid', error: errorMessage(error) });
      }
    });
    const results = await injector.inject(request.holder, request.leaseTtlMs, decoded);
    let next = 0;
    return { results: request.injections.map((_, index) => resultToWire(refused.get(index) ?? results[next++] as ItemResult)) };
  }

  server.addService(daemonService, {
    Inject: handle<InjectRequest, BatchResponse>('Inject', inject),
    Recover: handle<RecoverRequest, BatchResponse>('Recover', async (request) => {
      checkBatch(request.ids.length);
      return { results: (await injector.recover(request.ids)).map(resultToWire) };
    }),
    List: handle<ListRequest, ListResponse>('List', async (request) => {
      const { injections, leases } = injector.list(request.holder === '' ? undefined : request.holder);
      return { injections: injections.map(statusToWire), leases: leases.map((l) => ({ holder: l.holder, expiresAtMs: l.expiresAt, ttlMs: l.ttlMs })) };
    }),
    Capabilities: handle<CapabilitiesRequest, CapabilitiesResponse>('Capabilities', async () => ({ node: hostname(), ...await options.capabilities() })),
    RenewLease: handle<RenewLeaseRequest, RenewLeaseResponse>('RenewLease', async (request) => {
      const { lease, injections } = await injector.renew(request.holder, request.ttlMs);
      return { expiresAtMs: lease.expiresAt, injections };
    }),
  });

  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(options.listen, serverCredentials(options.tls), (error, bound) => (error ? reject(error) : resolve(bound)));
  });
  log.info('gRPC server listening', { listen: options.listen, port });
  return {
    port,
    stop: () => new Promise<void>((resolve) => {
      // In-flight calls finish; new ones are refused. A call still running after 5 s is cut off.
      const force = setTimeout(() => server.forceShutdown(), 5_000);
      server.tryShutdown(() => { clearTimeout(force); resolve(); });
    }),
  };
}
