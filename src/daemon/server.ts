/**
 * The daemon's gRPC server: contract v2 (proto/daemon.proto) over mutual TLS, bound to the injector. The caller
 * is its client certificate's common name, which must be one of the allowed client names.
 */
import * as grpc from '@grpc/grpc-js';
import type { MessageInitShape } from '@bufbuild/protobuf';
import { API_VERSION, daemonService, injectionFromWire, kindToWire, resultToWire, statusToWire, targetFromWire } from './api.ts';
import { DaemonError, errorMessage, type ErrorCode } from './errors.ts';
import type { Injector, SyncItem } from './injector.ts';
import type { NodeCapabilities } from './preflight.ts';
import { checkProbe, type Prober } from './probe/probe.ts';
import type {
  CapabilitiesResponseSchema, ListRequest, ListResponseSchema, ProbeRequest, ProbeResponseSchema, RenewLeaseRequest, RenewLeaseResponseSchema, SyncRequest,
  SyncResponseSchema,
} from './proto/gen/daemon_pb.js';
import { serverCredentials, type RotationOptions, type TlsMaterial } from './tls.ts';
import type { Logger } from '../util/log.ts';

export interface ServerOptions {
  injector: Injector;
  tls: TlsMaterial;
  /** Follow the TLS files as they are rotated; absent: keep `tls`. */
  rotation?: RotationOptions;
  /** host:port; port 0 picks a free one. */
  listen: string;
  log: Logger;
  node: string;
  /** What this node can do, for the Capabilities call. */
  capabilities: () => Promise<{ runtimes: string[]; network: NodeCapabilities }>;
  /** Largest batch one call may carry. */
  maxBatch?: number;
  /** Common names of the client certificates that may call; never empty. */
  allowedClients: readonly string[];
  /** Runs the Probe call's connects inside targets' network namespaces. */
  prober: Prober;
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
  const allowed = new Set(options.allowedClients);
  if (allowed.size === 0) throw new DaemonError('invalid', 'no client names are allowed to call; refusing to serve any certificate the CA signed');
  const server = new grpc.Server({ 'grpc.max_receive_message_length': 64 * 1024 * 1024 });

  function handle<Req, Res>(method: string, body: (request: Req, caller: string) => Promise<Res>): grpc.handleUnaryCall<Req, Res> {
    return (call, callback) => {
      const started = process.hrtime.bigint();
      const seconds = (): number => Number(process.hrtime.bigint() - started) / 1e9;
      const caller = clientName(call.getAuthContext().sslPeerCertificate?.subject);
      if (!allowed.has(caller)) {
        log.warn('rpc refused: client certificate not allowed', { method, client: caller, peer: call.getPeer() });
        injector.metrics.rpcSeconds.observe({ method, code: 'PERMISSION_DENIED' }, seconds());
        callback({ code: grpc.status.PERMISSION_DENIED, details: `client ${JSON.stringify(caller)} may not call this daemon` }, null);
        return;
      }
      body(call.request, caller).then((response) => {
        injector.metrics.rpcSeconds.observe({ method, code: 'OK' }, seconds());
        callback(null, response);
      }, (error: unknown) => {
        const serviceError = toServiceError(error);
        injector.metrics.rpcSeconds.observe({ method, code: grpc.status[serviceError.code ?? grpc.status.INTERNAL] }, seconds());
        log.warn('rpc failed', { method, client: caller, peer: call.getPeer(), error: errorMessage(error) });
        callback(serviceError, null);
      });
    };
  }

  function checkBatch(size: number): void {
    if (size > maxBatch) throw new DaemonError('invalid', `a batch holds at most ${maxBatch} items, got ${size}`);
  }

  server.addService(daemonService, {
    sync: handle('Sync', async (request: SyncRequest, caller): Promise<MessageInitShape<typeof SyncResponseSchema>> => {
      checkBatch(request.injections.length);
      // A malformed item fails alone, like an item the injector refuses, so one bad item never fails its batch.
      const items = request.injections.map((wire): SyncItem => {
        try {
          return injectionFromWire(wire);
        } catch (error) {
          return { id: wire.id, invalid: errorMessage(error) };
        }
      });
      const result = await injector.sync(caller, request.experiment, request.leaseTtlMs, items);
      return { results: result.results.map(resultToWire), removed: result.removed, revertFailed: result.revertFailed.map(resultToWire) };
    }),
    list: handle('List', async (request: ListRequest): Promise<MessageInitShape<typeof ListResponseSchema>> => {
      const filter = {
        ...(request.experiment === '' ? {} : { experiment: request.experiment }),
        ...(request.holder === '' ? {} : { holder: request.holder }),
        pageSize: request.pageSize,
        pageToken: request.pageToken,
      };
      const page = request.evidence ? await injector.listWithEvidence(filter) : injector.list(filter);
      return { injections: page.injections.map(statusToWire), leases: page.leases, nextPageToken: page.nextPageToken };
    }),
    renewLease: handle('RenewLease', async (request: RenewLeaseRequest, caller): Promise<MessageInitShape<typeof RenewLeaseResponseSchema>> => injector.renew(caller, request.ttlMs)),
    capabilities: handle('Capabilities', async (): Promise<MessageInitShape<typeof CapabilitiesResponseSchema>> => {
      const { runtimes, network } = await options.capabilities();
      return {
        apiVersion: API_VERSION, node: options.node, runtimes, faultKinds: (await injector.faultKinds()).map(kindToWire),
        network: {
          netem: network.netem, tbf: network.tbf, htb: network.htb, u32: network.u32, ingressRedirect: network.ingressRedirect, ifb: network.ifb,
          nftables: network.nftables, ipset: network.ipset, iptablesBackend: network.iptablesBackend, cgroup: network.cgroup, failures: { ...network.failures },
        },
        journalDamage: injector.damaged.map((d) => ({ file: d.file, kind: d.kind, reason: d.reason, movedTo: d.movedTo ?? '' })),
      };
    }),
    probe: handle('Probe', async (request: ProbeRequest): Promise<MessageInitShape<typeof ProbeResponseSchema>> => {
      const spec = checkProbe({ ...request, target: targetFromWire(request.target) });
      return { results: await options.prober.probe(spec) };
    }),
  });

  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(options.listen, serverCredentials(options.tls, options.rotation), (error, bound) => (error ? reject(error) : resolve(bound)));
  });
  log.info('gRPC server listening', { listen: options.listen, port, clients: [...allowed] });
  return {
    port,
    stop: () => new Promise<void>((resolve) => {
      // In-flight calls finish; new ones are refused. A call still running after 5 s is cut off.
      const force = setTimeout(() => server.forceShutdown(), 5_000);
      server.tryShutdown(() => { clearTimeout(force); resolve(); });
    }),
  };
}
