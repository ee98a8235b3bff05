/**
 * The network engine as the daemon's injector uses it: validate raw faults into
 * their canonical (journalled) form, and plan them for a target process's
 * network namespace against the namespace's current state.
 */
import type { Plan } from '../plan.ts';
import type { NodeCapabilities } from '../preflight.ts';
import { netnsInode } from '../proc.ts';
import { EvidenceReadError, readEvidence, type Evidence } from './evidence.ts';
import { formatNetworkFault } from './format.ts';
import { FaultConflictError } from './errors.ts';
import { planNetworkFaults } from './plan.ts';
import { readDefaultRouteDevices, readTcState } from './snapshot.ts';
import type { TcState } from './snapshot.ts';
import { validateNetworkFault } from './validate.ts';

/**
 * The devices a fault without `scope.device` lands on: the namespace's up
 * Ethernet-like interfaces (a pod's eth0), not loopback, not the tunnel stubs
 * the kernel adds to every namespace, not kerris's own IFBs.
 */
function targetDevices(links: TcState['links']): string[] {
  return links.filter((l) => l.up && l.type === 'ether' && !l.name.startsWith('kerris-')).map((l) => l.name);
}

export interface NetworkEngineOptions {
  capabilities: () => Promise<NodeCapabilities>;
}

export interface NetworkEngine {
  /** Validates one raw fault; returns it in canonical input form (what the journal keeps). */
  validate(input: unknown): Record<string, unknown>;
  /** Plans all `faults` (canonical or raw; validated again here) on the namespace of `target.pid`. */
  plan(target: { pid: number }, faults: readonly unknown[]): Promise<Plan>;
  /**
   * Plans `faults` in the node's own namespace, `netns` (/proc/1/ns/net): by default on the devices of its default
   * routes (IPv4 and IPv6), not every Ethernet-like link (there those include pod veths and the CNI bridge), with
   * forward chains for the pod traffic it routes (plan.ts).
   */
  planNode(netns: string, faults: readonly unknown[]): Promise<Plan>;
  /** The counters of `plan`, in force in the namespace of `target.pid`, which must still be the one with `inode`. */
  evidence(target: { pid: number }, plan: Plan, inode: number | undefined): Promise<Evidence[]>;
}

function checkPid(pid: number): void {
  if (!Number.isSafeInteger(pid) || pid < 1) throw new RangeError(`invalid target pid ${pid}`);
}

export function createNetworkEngine(options: NetworkEngineOptions): NetworkEngine {
  return {
    validate: (input) => formatNetworkFault(validateNetworkFault(input)),
    async plan(target, faults) {
      checkPid(target.pid);
      const validated = faults.map(validateNetworkFault);
      const netns = `/proc/${target.pid}/ns/net`;
      const [caps, existing] = await Promise.all([options.capabilities(), readTcState(netns)]);
      return planNetworkFaults({ netns, devices: targetDevices(existing.links) }, validated, caps, existing);
    },
    async planNode(netns, faults) {
      const validated = faults.map(validateNetworkFault);
      const [caps, existing, devices] = await Promise.all([options.capabilities(), readTcState(netns), readDefaultRouteDevices(netns)]);
      const unplaced = validated.findIndex((f) => f.scope.device === undefined);
      if (devices.length === 0 && unplaced >= 0) {
        throw new FaultConflictError(`node ${caps.node} has no default route (IPv4 or IPv6) in its network namespace, so fault ${unplaced} (${validated[unplaced]?.action}) has no device: give scope.device`);
      }
      return planNetworkFaults({ netns, devices, kind: 'node' }, validated, caps, existing);
    },
    async evidence(target, plan, inode) {
      checkPid(target.pid);
      if (plan.counters === undefined) return [];
      const netns = `/proc/${target.pid}/ns/net`;
      // A pid reused in another namespace, before the restart check notices, must not lend its counters to this fault.
      if (inode !== undefined && await netnsInode(target.pid) !== inode) throw new EvidenceReadError(netns, `not the namespace the fault was put in (inode ${inode}) any more`);
      return readEvidence(netns, plan.counters);
    },
  };
}
