/**
 * The controller↔daemon API (proto/daemon.proto): its messages as TypeScript
 * types, and the conversions between them and the injector's values.
 */
import { DaemonError, errorMessage } from './errors.ts';
import { loadProto, serviceDefinition, unaryMethod, type UnaryMethod } from './grpc-unary.ts';
import type { InjectionStatus, ItemResult, RawFault, RawInjection } from './injector.ts';
import type { TargetRef } from './spec.ts';

export const SERVICE = 'kerris.daemon.v1.NodeDaemon';

export interface WireTarget { containerId: string; podUid: string; containerName: string }
export interface WireFault {
  /** Set by the decoder: which member of the oneof is present. */
  kind?: 'containerKill' | 'containerFreeze' | 'network';
  containerKill?: Record<string, never> | null;
  containerFreeze?: Record<string, never> | null;
  network?: { faultsJson: string[] } | null;
}
export interface WireInjectionSpec { id: string; target: WireTarget | null; fault: WireFault | null }
export interface InjectRequest { holder: string; leaseTtlMs: number; injections: WireInjectionSpec[] }
export interface RecoverRequest { ids: string[] }
export interface WireInjection {
  id: string; specHash: string; holder: string; target: WireTarget | null; kind: string; phase: string; summary: string;
  pid: number; leaseExpiresAtMs: number; appliedAtMs: number; reapplied: number; error: string;
}
export interface WireItemResult { id: string; ok: boolean; errorCode: string; error: string; injection: WireInjection | null }
export interface BatchResponse { results: WireItemResult[] }
export interface ListRequest { holder: string }
export interface WireLease { holder: string; expiresAtMs: number; ttlMs: number }
export interface ListResponse { injections: WireInjection[]; leases: WireLease[] }
export type CapabilitiesRequest = Record<string, never>;
export interface CapabilitiesResponse { node: string; runtimes: string[]; faultKinds: string[]; networkJson: string }
export interface RenewLeaseRequest { holder: string; ttlMs: number }
export interface RenewLeaseResponse { expiresAtMs: number; injections: number }

const definition = loadProto('daemon.proto');
export const daemonService = serviceDefinition(definition, SERVICE);
export const methods = {
  inject: unaryMethod<InjectRequest, BatchResponse>(definition, SERVICE, 'Inject'),
  recover: unaryMethod<RecoverRequest, BatchResponse>(definition, SERVICE, 'Recover'),
  list: unaryMethod<ListRequest, ListResponse>(definition, SERVICE, 'List'),
  capabilities: unaryMethod<CapabilitiesRequest, CapabilitiesResponse>(definition, SERVICE, 'Capabilities'),
  renewLease: unaryMethod<RenewLeaseRequest, RenewLeaseResponse>(definition, SERVICE, 'RenewLease'),
} satisfies Record<string, UnaryMethod<never, unknown>>;

export function targetFromWire(target: WireTarget | null): TargetRef {
  if (target === null) throw new DaemonError('invalid', 'an injection needs a target');
  return {
    containerId: target.containerId,
    ...(target.podUid !== '' ? { podUid: target.podUid } : {}),
    ...(target.containerName !== '' ? { containerName: target.containerName } : {}),
  };
}

export function targetToWire(target: TargetRef): WireTarget {
  return { containerId: target.containerId, podUid: target.podUid ?? '', containerName: target.containerName ?? '' };
}

function parseJson(text: string, index: number): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new DaemonError('invalid', `network fault ${index} is not JSON: ${errorMessage(error)}`);
  }
}

export function faultFromWire(fault: WireFault | null): RawFault {
  if (fault?.containerKill) return { kind: 'container-kill' };
  if (fault?.containerFreeze) return { kind: 'container-freeze' };
  if (fault?.network) return { kind: 'network', faults: fault.network.faultsJson.map(parseJson) };
  throw new DaemonError('invalid', 'an injection needs a fault (container_kill, container_freeze or network)');
}

export function faultToWire(fault: RawFault): WireFault {
  switch (fault.kind) {
    case 'container-kill': return { containerKill: {} };
    case 'container-freeze': return { containerFreeze: {} };
    case 'network': return { network: { faultsJson: fault.faults.map((f) => JSON.stringify(f)) } };
  }
}

export function injectionFromWire(spec: WireInjectionSpec): RawInjection {
  return { id: spec.id, target: targetFromWire(spec.target), fault: faultFromWire(spec.fault) };
}

export function injectionToWire(spec: RawInjection): WireInjectionSpec {
  return { id: spec.id, target: targetToWire(spec.target), fault: faultToWire(spec.fault) };
}

export function statusToWire(s: InjectionStatus): WireInjection {
  return {
    id: s.id, specHash: s.specHash, holder: s.holder, target: targetToWire(s.target), kind: s.kind, phase: s.phase, summary: s.summary,
    pid: s.pid, leaseExpiresAtMs: s.leaseExpiresAt, appliedAtMs: s.appliedAt, reapplied: s.reapplied, error: s.error,
  };
}

export function resultToWire(r: ItemResult): WireItemResult {
  return { id: r.id, ok: r.ok, errorCode: r.errorCode, error: r.error, injection: r.injection === undefined ? null : statusToWire(r.injection) };
}
