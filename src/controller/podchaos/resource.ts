import type { PodChaos } from '../../api/generated/types.ts';
import { podChaosResource } from '../../api/generated/types.ts';
import { defineResource } from '../../kube/resource.ts';

export const podChaos = defineResource<PodChaos>({
  group: podChaosResource.group,
  version: podChaosResource.version,
  plural: podChaosResource.plural,
  kind: podChaosResource.kind,
  namespaced: podChaosResource.namespaced,
});
