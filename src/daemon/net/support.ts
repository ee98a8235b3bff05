/**
 * Whether a node can hold network faults, by the daemon's own rules (the checks planNetworkFaults makes before it
 * touches anything), for callers that plan before any daemon is asked: `kubectl kerris plan` judges each node from
 * the capabilities its daemon published in the fleet survey.
 */
import { create } from '@bufbuild/protobuf';
import { networkFaultFromWire, type NetworkFaultInput } from '../api.ts';
import type { NodeCapabilities } from '../preflight.ts';
import { NetworkFaultSchema } from '../proto/gen/daemon_pb.js';
import { unsupportedReasons } from './plan.ts';
import { validateNetworkFault } from './validate.ts';

/** One line per feature the node lacks for these faults (as the controller builds them); empty when it can hold them. */
export function networkSupport(faults: readonly NetworkFaultInput[], caps: NodeCapabilities): string[] {
  return unsupportedReasons(faults.map((f) => validateNetworkFault(networkFaultFromWire(create(NetworkFaultSchema, f)))), caps);
}
