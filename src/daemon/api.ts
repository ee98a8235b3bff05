/**
 * The controller↔daemon contract (proto/daemon.proto, generated into proto/gen) and the one place its messages
 * are converted to and from the daemon's own values. The network fault messages become the input form of
 * net/validate.ts, which stays the only gate a value passes before it reaches a command.
 */
import type { MessageInitShape } from '@bufbuild/protobuf';
import { DaemonError, type ErrorCode } from './errors.ts';
import { clientMethod, serviceDefinition } from './grpc-es.ts';
import type { Phase } from './journal.ts';
import {
  Direction, ErrorCode as WireErrorCode, FaultKind as WireFaultKind, NodeDaemon, Phase as WirePhase, Protocol,
  type EvidenceSchema, type Fault, type InjectionSpec, type InjectionSpecSchema, type InjectionStatusSchema, type ItemResultSchema,
  type NetworkFault, type NetworkFaultSchema, type NetworkScope, type ResourceUsageSchema, type StressEvidenceSchema, type Stressors, type StressorsSchema, type Target,
} from './proto/gen/daemon_pb.js';
import type { StressEvidence } from './faults/module.ts';
import type { ResourceUsage } from './usage.ts';
import type { Evidence } from './net/evidence.ts';
import type { FaultKind, RawFault, RawInjection, TargetRef } from './spec.ts';
import type { InjectionStatus, ItemResult } from './status.ts';

export const API_VERSION = 2;
export const daemonService = serviceDefinition(NodeDaemon);
export const methods = {
  sync: clientMethod(NodeDaemon.method.sync),
  list: clientMethod(NodeDaemon.method.list),
  renewLease: clientMethod(NodeDaemon.method.renewLease),
  capabilities: clientMethod(NodeDaemon.method.capabilities),
  probe: clientMethod(NodeDaemon.method.probe),
};

/** A network fault as the client sends it: the generated message's fields. */
export type NetworkFaultInput = MessageInitShape<typeof NetworkFaultSchema>;

/** A stress fault's stressors as the client sends them: the generated message's fields. */
export type StressorsInput = MessageInitShape<typeof StressorsSchema>;

/** What an injection is put on: a container, or the node itself (`{ node: true }`, the target of node faults: kubelet-stop, node-network, node-reboot). */
export type TargetInput = TargetRef;

/** An injection as the controller describes it (converted to the wire by injectionToWire). */
export interface InjectionInput {
  id: string;
  target: TargetInput;
  fault:
    | { kind: 'container-kill' } | { kind: 'container-freeze' } | { kind: 'network'; faults: readonly NetworkFaultInput[] } | { kind: 'stress'; stressors: StressorsInput }
    /** The node's kubelet stopped for the injection's life; its target is `{ node: true }`. */
    | { kind: 'kubelet-stop' }
    /** Network faults in the node's own network namespace (the host's); its target is `{ node: true }`. */
    | { kind: 'node-network'; faults: readonly NetworkFaultInput[] }
    /** The node rebooted once, only while it still runs boot `bootId` (status.nodeInfo.bootID); its target is `{ node: true }`. */
    | { kind: 'node-reboot'; bootId: string };
  /** The daemon ends the injection by itself this long after it first receives it; absent or 0: none. */
  deadlineInMs?: number;
}

const KINDS: ReadonlyArray<readonly [FaultKind, WireFaultKind]> = [
  ['container-kill', WireFaultKind.CONTAINER_KILL], ['container-freeze', WireFaultKind.CONTAINER_FREEZE], ['network', WireFaultKind.NETWORK],
  ['stress', WireFaultKind.STRESS], ['kubelet-stop', WireFaultKind.KUBELET_STOP],
  ['node-network', WireFaultKind.NODE_NETWORK], ['node-reboot', WireFaultKind.NODE_REBOOT],
];
const PHASES: ReadonlyArray<readonly [Phase, WirePhase]> = [
  ['applying', WirePhase.APPLYING], ['active', WirePhase.ACTIVE], ['done', WirePhase.DONE], ['reverting', WirePhase.REVERTING], ['not-reapplied', WirePhase.NOT_REAPPLIED],
];
const ERROR_CODES: ReadonlyArray<readonly [ErrorCode, WireErrorCode]> = [
  ['invalid', WireErrorCode.INVALID], ['conflict', WireErrorCode.CONFLICT], ['not-found', WireErrorCode.NOT_FOUND],
  ['unavailable', WireErrorCode.UNAVAILABLE], ['failed', WireErrorCode.FAILED],
];
const DIRECTIONS: ReadonlyArray<readonly [Direction, string]> = [[Direction.EGRESS, 'egress'], [Direction.INGRESS, 'ingress'], [Direction.BOTH, 'both']];
const PROTOCOLS: ReadonlyArray<readonly [Protocol, string]> = [[Protocol.ALL, 'all'], [Protocol.TCP, 'tcp'], [Protocol.UDP, 'udp'], [Protocol.ICMP, 'icmp']];

function lookup<A, B>(table: ReadonlyArray<readonly [A, B]>, value: A, what: string): B {
  const found = table.find(([a]) => a === value);
  if (found === undefined) throw new DaemonError('invalid', `unknown ${what} ${String(value)}`);
  return found[1];
}

export const kindToWire = (kind: FaultKind): WireFaultKind => lookup(KINDS, kind, 'fault kind');

export function targetFromWire(target: Target | undefined): TargetRef {
  if (target === undefined) throw new DaemonError('invalid', 'an injection needs a target');
  if (target.node) {
    if (target.containerId !== '' || target.podUid !== '' || target.containerName !== '') {
      throw new DaemonError('invalid', 'a node target (target.node) names no container: container_id, pod_uid and container_name must be empty');
    }
    return { node: true };
  }
  return {
    containerId: target.containerId,
    ...(target.podUid !== '' ? { podUid: target.podUid } : {}),
    ...(target.containerName !== '' ? { containerName: target.containerName } : {}),
  };
}

export function targetToWire(target: TargetInput): MessageInitShape<typeof InjectionSpecSchema>['target'] {
  if ('node' in target) return { node: true };
  return { containerId: target.containerId, podUid: target.podUid ?? '', containerName: target.containerName ?? '' };
}

/** A required string left empty is absent to the validator, which then names the missing field. */
function text(value: string): string | undefined {
  return value === '' ? undefined : value;
}

function scopeFromWire(scope: NetworkScope | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (scope === undefined) return out;
  if (scope.direction !== Direction.UNSPECIFIED) out['direction'] = lookup(DIRECTIONS, scope.direction, 'direction');
  if (scope.protocol !== Protocol.UNSPECIFIED) out['protocol'] = lookup(PROTOCOLS, scope.protocol, 'protocol');
  if (scope.device !== undefined) out['device'] = scope.device;
  if (scope.cidrs.length > 0) out['cidrs'] = [...scope.cidrs];
  if (scope.ports.length > 0) out['ports'] = [...scope.ports];
  if (scope.exceptCidrs.length > 0) out['exceptCidrs'] = [...scope.exceptCidrs];
  return out;
}

/** Drops absent fields, so the validator sees exactly what was sent. */
function present(fields: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined));
}

/** A network fault message in the input form of validateNetworkFault. */
export function networkFaultFromWire(fault: NetworkFault): Record<string, unknown> {
  const scope = scopeFromWire(fault.scope);
  const a = fault.action;
  switch (a.case) {
    case 'delay': return { action: 'delay', scope, delay: present({ latency: text(a.value.latency), jitter: a.value.jitter, correlation: a.value.correlation }) };
    case 'loss': return { action: 'loss', scope, loss: present({ loss: text(a.value.loss), correlation: a.value.correlation }) };
    case 'duplicate': return { action: 'duplicate', scope, duplicate: present({ duplicate: text(a.value.duplicate), correlation: a.value.correlation }) };
    case 'corrupt': return { action: 'corrupt', scope, corrupt: present({ corrupt: text(a.value.corrupt), correlation: a.value.correlation }) };
    case 'reorder':
      return { action: 'reorder', scope, reorder: present({ reorder: text(a.value.reorder), correlation: a.value.correlation, gap: a.value.gap, latency: a.value.latency }) };
    case 'bandwidth':
      return {
        action: 'bandwidth', scope,
        bandwidth: present({ rate: text(a.value.rate), limit: a.value.limit, buffer: a.value.buffer, peakrate: a.value.peakrate, minburst: a.value.minburst }),
      };
    case 'partition': return { action: 'partition', scope };
    case undefined: return { scope };
  }
}

/** Stressors in the input form of faults/stress.ts's validator, which checks every bound. */
export function stressorsFromWire(stressors: Stressors): RawFault {
  const { cpu, memory } = stressors;
  return {
    kind: 'stress',
    ...(cpu === undefined ? {} : { cpu: { workers: cpu.workers, load: cpu.load } }),
    ...(memory === undefined ? {} : { memory: { workers: memory.workers, sizeBytes: memory.sizeBytes, oomScoreAdj: memory.oomScoreAdj } }),
  };
}

export function faultFromWire(fault: Fault | undefined): RawFault {
  const kind = fault?.kind;
  switch (kind?.case) {
    case 'containerKill': return { kind: 'container-kill' };
    case 'containerFreeze': return { kind: 'container-freeze' };
    case 'network': return { kind: 'network', faults: kind.value.faults.map(networkFaultFromWire) };
    case 'stress': return stressorsFromWire(kind.value);
    case 'kubeletStop': return { kind: 'kubelet-stop' };
    case 'nodeNetwork': return { kind: 'node-network', faults: kind.value.faults.map(networkFaultFromWire) };
    // Checked by the module's normalize, which names the field.
    case 'nodeReboot': return { kind: 'node-reboot', bootId: kind.value.bootId };
    case undefined: throw new DaemonError('invalid', 'an injection needs a fault (container_kill, container_freeze, network, stress, kubelet_stop, node_network or node_reboot)');
  }
}

export function injectionFromWire(spec: InjectionSpec): RawInjection {
  return { id: spec.id, target: targetFromWire(spec.target), fault: faultFromWire(spec.fault), deadlineInMs: spec.deadlineInMs };
}

export function injectionToWire(input: InjectionInput): MessageInitShape<typeof InjectionSpecSchema> {
  const fault = input.fault;
  return {
    id: input.id,
    target: targetToWire(input.target),
    deadlineInMs: input.deadlineInMs ?? 0,
    fault: { kind: faultToWire(fault) },
  };
}

function faultToWire(fault: InjectionInput['fault']): NonNullable<MessageInitShape<typeof InjectionSpecSchema>['fault']>['kind'] {
  switch (fault.kind) {
    case 'container-kill': return { case: 'containerKill', value: {} };
    case 'container-freeze': return { case: 'containerFreeze', value: {} };
    case 'network': return { case: 'network', value: { faults: [...fault.faults] } };
    case 'stress': return { case: 'stress', value: fault.stressors };
    case 'kubelet-stop': return { case: 'kubeletStop', value: {} };
    case 'node-network': return { case: 'nodeNetwork', value: { faults: [...fault.faults] } };
    case 'node-reboot': return { case: 'nodeReboot', value: { bootId: fault.bootId } };
  }
}

function usageToWire(u: ResourceUsage): MessageInitShape<typeof ResourceUsageSchema> {
  return { cpuMillicores: u.cpuMillicores, memoryWorkingSetBytes: BigInt(u.memoryWorkingSetBytes), windowMs: u.windowMs };
}

function stressEvidenceToWire(e: StressEvidence): MessageInitShape<typeof StressEvidenceSchema> {
  return { before: usageToWire(e.before), ...(e.now === undefined ? {} : { now: usageToWire(e.now) }), stressors: e.stressors };
}

function evidenceToWire(e: Evidence): MessageInitShape<typeof EvidenceSchema> {
  return {
    device: e.device, direction: e.direction, kind: e.kind, fault: e.fault,
    packets: BigInt(e.packets), bytes: BigInt(e.bytes), dropped: BigInt(e.dropped), overlimits: BigInt(e.overlimits),
  };
}

export function statusToWire(s: InjectionStatus): MessageInitShape<typeof InjectionStatusSchema> {
  return {
    id: s.id, experiment: s.experiment, specHash: s.specHash, holder: s.holder, target: targetToWire(s.target), kind: kindToWire(s.kind),
    phase: lookup(PHASES, s.phase, 'phase'), summary: s.summary, pid: s.pid, reapplied: s.reapplied, error: s.error,
    hasDeadline: s.deadlineRemainingMs !== undefined, deadlineRemainingMs: s.deadlineRemainingMs ?? 0, leaseRemainingMs: s.leaseRemainingMs,
    evidence: (s.evidence ?? []).map(evidenceToWire), evidenceAgeMs: s.evidenceAgeMs ?? 0,
    ...(s.stress === undefined ? {} : { stress: stressEvidenceToWire(s.stress) }),
  };
}

export function resultToWire(r: ItemResult): MessageInitShape<typeof ItemResultSchema> {
  return {
    id: r.id, ok: r.error === undefined, errorCode: r.error === undefined ? WireErrorCode.OK : lookup(ERROR_CODES, r.error.code, 'error code'),
    message: r.error?.message ?? '', ...(r.injection === undefined ? {} : { injection: statusToWire(r.injection) }),
  };
}
