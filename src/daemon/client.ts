/**
 * The controller's client of the daemon API (contract v2), typed by the code generated from proto/daemon.proto.
 * The caller's identity (lease holder, owner of what it syncs) is its client certificate's common name.
 */
import * as grpc from '@grpc/grpc-js';
import { injectionToWire, methods, targetToWire, type InjectionInput, type TargetInput } from './api.ts';
import { callUnary } from './grpc-unary.ts';
import { probeBudgetMs } from './probe/probe.ts';
import type { CapabilitiesResponse, ListResponse, ProbeResponse, RenewLeaseResponse, SyncResponse } from './proto/gen/daemon_pb.js';
import { clientCredentials, type TlsMaterial } from './tls.ts';

export type { InjectionInput, NetworkFaultInput, StressorsInput, TargetInput } from './api.ts';
export {
  Direction, ErrorCode, FaultKind, Phase, Protocol,
  type CapabilitiesResponse, type Evidence, type InjectionStatus, type ResourceUsage, type StressEvidence, type ItemResult, type Lease, type ListResponse, type NetworkCapabilities,
  type ProbeResponse, type ProbeResult, type RenewLeaseResponse, type SyncResponse,
} from './proto/gen/daemon_pb.js';

/** What a Probe asks: see ProbeRequest in proto/daemon.proto. */
export interface ProbeInput {
  /** A container: the daemon refuses a probe of the node target (INVALID), which has no network namespace of its own. */
  target: TargetInput;
  addresses: readonly string[];
  /** Absent or 0: port 9, which answers RST where nothing listens. */
  port?: number;
  count: number;
  timeoutMs: number;
}

export interface DaemonClientOptions {
  /** host:port of the daemon. */
  address: string;
  tls: TlsMaterial;
  /** The name in the server's certificate, when the address is not it (e.g. kerris-daemon.kerris-system.svc). */
  serverName?: string;
  /** Per call; 30 s by default. */
  timeoutMs?: number;
}

export interface ListFilter {
  /** Only this experiment's injections. */
  experiment?: string;
  /** Only this holder's injections and lease. */
  holder?: string;
  /** 0 or absent: the daemon's default (500); at most 5000. */
  pageSize?: number;
  /** The previous page's nextPageToken. */
  pageToken?: string;
  /**
   * Also the kernel's counters of each active network injection (InjectionStatus.evidence) and the cgroup usage of
   * each active stress injection (InjectionStatus.stress), each at most about 2 s old.
   */
  evidence?: boolean;
}

export class DaemonClient {
  private readonly client: grpc.Client;
  private readonly timeoutMs: number;

  constructor(options: DaemonClientOptions) {
    const channelOptions: grpc.ChannelOptions = options.serverName === undefined ? {} : { 'grpc.ssl_target_name_override': options.serverName };
    this.client = new grpc.Client(options.address, clientCredentials(options.tls), channelOptions);
    this.timeoutMs = options.timeoutMs ?? 30_000;
  }

  /**
   * Makes the caller's injections of `experiment` on this node exactly `injections`: the daemon applies those it
   * does not hold yet and reverts the others. An empty list recovers the experiment. Renews the caller's lease.
   */
  sync(experiment: string, leaseTtlMs: number, injections: readonly InjectionInput[]): Promise<SyncResponse> {
    return callUnary(this.client, methods.sync, { experiment, leaseTtlMs, injections: injections.map(injectionToWire) }, new grpc.Metadata(), this.timeoutMs);
  }

  list(filter: ListFilter = {}): Promise<ListResponse> {
    return callUnary(this.client, methods.list, {
      experiment: filter.experiment ?? '', holder: filter.holder ?? '', pageSize: filter.pageSize ?? 0, pageToken: filter.pageToken ?? '',
      evidence: filter.evidence ?? false,
    }, new grpc.Metadata(), this.timeoutMs);
  }

  /** One renewal keeps all of the caller's injections on this node. */
  renewLease(ttlMs: number): Promise<RenewLeaseResponse> {
    return callUnary(this.client, methods.renewLease, { ttlMs }, new grpc.Metadata(), this.timeoutMs);
  }

  capabilities(): Promise<CapabilitiesResponse> {
    return callUnary(this.client, methods.capabilities, {}, new grpc.Metadata(), this.timeoutMs);
  }

  /**
   * Timed TCP connects from inside the target's network namespace to each address (at most 8, count each, at most
   * 200). The call may take as long as its connects when nothing answers (probeBudgetMs).
   */
  probe(request: ProbeInput): Promise<ProbeResponse> {
    return callUnary(this.client, methods.probe, {
      target: targetToWire(request.target), addresses: [...request.addresses], port: request.port ?? 0, count: request.count, timeoutMs: request.timeoutMs,
    }, new grpc.Metadata(), Math.max(this.timeoutMs, probeBudgetMs(request.count, request.timeoutMs) + 10_000));
  }

  close(): void {
    this.client.close();
  }
}
