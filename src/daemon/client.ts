/** A typed client of the daemon API, as the controller (and tests, and the benchmark) use it. */
import * as grpc from '@grpc/grpc-js';
import {
  injectionToWire, methods,
  type BatchResponse, type CapabilitiesResponse, type ListResponse, type RenewLeaseResponse,
} from './api.ts';
import { callUnary } from './grpc-unary.ts';
import type { RawInjection } from './injector.ts';
import { clientCredentials, type TlsMaterial } from './tls.ts';

export interface DaemonClientOptions {
  /** host:port of the daemon. */
  address: string;
  tls: TlsMaterial;
  /** The name in the server's certificate, when the address is not it. */
  serverName?: string;
  timeoutMs?: number;
}

export class DaemonClient {
  private readonly client: grpc.Client;
  private readonly timeoutMs: number;

  constructor(options: DaemonClientOptions) {
    const channelOptions: grpc.ChannelOptions = options.serverName === undefined ? {} : { 'grpc.ssl_target_name_override': options.serverName };
    this.client = new grpc.Client(options.address, clientCredentials(options.tls), channelOptions);
    this.timeoutMs = options.timeoutMs ?? 30_000;
  }

  inject(holder: string, leaseTtlMs: number, injections: readonly RawInjection[]): Promise<BatchResponse> {
    return callUnary(this.client, methods.inject, { holder, leaseTtlMs, injections: injections.map(injectionToWire) }, new grpc.Metadata(), this.timeoutMs);
  }

  recover(ids: readonly string[]): Promise<BatchResponse> {
    return callUnary(this.client, methods.recover, { ids: [...ids] }, new grpc.Metadata(), this.timeoutMs);
  }

  list(holder = ''): Promise<ListResponse> {
    return callUnary(this.client, methods.list, { holder }, new grpc.Metadata(), this.timeoutMs);
  }

  capabilities(): Promise<CapabilitiesResponse> {
    return callUnary(this.client, methods.capabilities, {}, new grpc.Metadata(), this.timeoutMs);
  }

  renewLease(holder: string, ttlMs: number): Promise<RenewLeaseResponse> {
    return callUnary(this.client, methods.renewLease, { holder, ttlMs }, new grpc.Metadata(), this.timeoutMs);
  }

  close(): void {
    this.client.close();
  }
}
