import type { NodeChaos } from '../../api/generated/types.ts';
import { nodeChaosResource } from '../../api/generated/types.ts';
import { defineResource } from '../../kube/resource.ts';

export const nodeChaos = defineResource<NodeChaos>({
  group: nodeChaosResource.group,
  version: nodeChaosResource.version,
  plural: nodeChaosResource.plural,
  kind: nodeChaosResource.kind,
  namespaced: nodeChaosResource.namespaced,
});
