/** network: tc/nft faults in the target's network namespace, validated and planned together by net/. */
import { DaemonError, errorMessage } from '../errors.ts';
import { FaultConflictError, ForeignStateError, UnsupportedFaultError } from '../net/errors.ts';
import type { NetworkEngine } from '../net/engine.ts';
import type { FaultSpec, RawFault } from '../spec.ts';
import type { ContainerFaultModule } from './module.ts';

/** The network planner's refusals, as the API reports them: nothing was touched when they are raised. */
export function networkPlanError(error: unknown): unknown {
  if (error instanceof UnsupportedFaultError || error instanceof FaultConflictError) return new DaemonError('invalid', error.message, { cause: error });
  if (error instanceof ForeignStateError) return new DaemonError('conflict', error.message, { cause: error });
  return error;
}

export function validatedNetworkFault(engine: NetworkEngine, input: unknown, index: number): Record<string, unknown> {
  try {
    return engine.validate(input);
  } catch (error) {
    throw new DaemonError('invalid', `network fault ${index}: ${errorMessage(error)}`, { cause: error });
  }
}

export function networkFault(engine: NetworkEngine): ContainerFaultModule {
  return {
    kind: 'network',
    scope: 'container',
    inNetns: true,
    normalize(raw: RawFault): FaultSpec {
      if (raw.kind !== 'network') throw new DaemonError('invalid', `the network module got a ${raw.kind} fault`);
      if (raw.faults.length === 0) throw new DaemonError('invalid', 'a network injection needs at least one fault');
      return { kind: 'network', faults: raw.faults.map((f, i) => validatedNetworkFault(engine, f, i)) };
    },
    async prepare(fault, target) {
      if (fault.kind !== 'network') throw new DaemonError('invalid', `the network module got a ${fault.kind} fault`);
      try {
        return { kind: 'plan', plan: await engine.plan(target, fault.faults) };
      } catch (error) {
        throw networkPlanError(error);
      }
    },
    evidence: async (plan, target, netnsInode) => ({ network: await engine.evidence(target, plan, netnsInode) }),
  };
}
