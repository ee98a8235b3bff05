/**
 * What the node daemon runs in one target container, worked out from the spec and the pod before anything is
 * touched: the stressors with every size in bytes. A percentage `size` is of the container's memory limit, or of the
 * node's memory when the container has none.
 */
import { MAX_STRESS_BYTES, MIN_STRESS_BYTES, parseMemorySize } from '../../api/stresschaos.ts';
import type { StressChaosSpec } from '../../api/generated/types.ts';
import { parseQuantity } from '../../kube/quantity.ts';
import type { Pod } from '../../kube/types.ts';
import { formatBytes } from '../../util/bytes.ts';

/** The daemon's `Stressors` message (src/daemon/proto/daemon.proto) as the controller fills it. */
export interface PlannedStressors {
  cpu?: { workers: number; load: number };
  memory?: { workers: number; sizeBytes: bigint; oomScoreAdj: number };
}

/** The stressors for `container` of `pod`, or why it cannot have them (for its target record). */
export function stressorsFor(spec: StressChaosSpec, pod: Pod, container: string, nodeMemoryBytes: number | undefined): PlannedStressors | string {
  const { cpu, memory } = spec.stressors;
  const planned: PlannedStressors = {};
  if (cpu !== undefined) planned.cpu = { workers: cpu.workers, load: cpu.load ?? 100 };
  if (memory !== undefined) {
    const size = parseMemorySize(memory.size);
    if (size === undefined) return `memory size ${JSON.stringify(memory.size)} is not a size`;
    let bytes: number;
    if ('bytes' in size) {
      bytes = size.bytes;
    } else {
      const limit = pod.spec?.containers.find((c) => c.name === container)?.resources?.limits?.memory;
      const whole = limit !== undefined ? parseQuantity(limit) : nodeMemoryBytes;
      if (whole === undefined) return `memory size ${memory.size} is a share of the container's memory limit or its node's memory, and neither is known (container ${container} has no limit, node ${pod.spec?.nodeName ?? '?'} reports no capacity)`;
      bytes = Math.floor(whole * size.percent / 100);
      if (bytes < MIN_STRESS_BYTES) return `memory size ${memory.size} of ${limit !== undefined ? `the limit ${limit}` : 'the node\'s memory'} is ${bytes} bytes, under the 1 MiB least`;
    }
    if (bytes > MAX_STRESS_BYTES) return `memory size ${memory.size} is over 1 TiB`;
    planned.memory = { workers: memory.workers, sizeBytes: BigInt(bytes), oomScoreAdj: memory.oomScoreAdj ?? 0 };
  }
  return planned;
}

/** One line for people: what runs in each container. */
export function describeStressors(stressors: PlannedStressors): string {
  const parts: string[] = [];
  if (stressors.cpu) parts.push(`cpu ${stressors.cpu.workers}×${stressors.cpu.load}%`);
  if (stressors.memory) parts.push(`memory ${formatBytes(Number(stressors.memory.sizeBytes))} over ${stressors.memory.workers} worker(s)`);
  return parts.join(', ');
}
