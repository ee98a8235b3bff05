/** container-kill: SIGKILL through the runtime, a one-way action (listed as done, nothing to revert). */
import type { Effect, ContainerFaultModule } from './module.ts';
import type { FaultSpec } from '../spec.ts';
import type { ResolvedTarget } from '../runtime/resolve.ts';
import type { Logger } from '../../util/log.ts';

export function containerKill(runtime: { kill(containerId: string): Promise<string> }, log: Logger): ContainerFaultModule {
  return {
    kind: 'container-kill',
    scope: 'container',
    inNetns: false,
    normalize: (): FaultSpec => ({ kind: 'container-kill' }),
    prepare: async (_fault: FaultSpec, target: ResolvedTarget): Promise<Effect> => ({
      kind: 'action',
      summary: `kill container ${target.containerId}`,
      run: async () => {
        const by = await runtime.kill(target.containerId);
        log.info('container killed', { container: target.containerId, runtime: by });
      },
    }),
  };
}
