import type { NetworkChaos } from '../../api/generated/types.ts';
import { networkChaosResource } from '../../api/generated/types.ts';
import { defineResource } from '../../kube/resource.ts';

export const networkChaos = defineResource<NetworkChaos>({
  group: networkChaosResource.group,
  version: networkChaosResource.version,
  plural: networkChaosResource.plural,
  kind: networkChaosResource.kind,
  namespaced: networkChaosResource.namespaced,
});
