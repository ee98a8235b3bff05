import type { StressChaos } from '../../api/generated/types.ts';
import { stressChaosResource } from '../../api/generated/types.ts';
import { defineResource } from '../../kube/resource.ts';

export const stressChaos = defineResource<StressChaos>({
  group: stressChaosResource.group,
  version: stressChaosResource.version,
  plural: stressChaosResource.plural,
  kind: stressChaosResource.kind,
  namespaced: stressChaosResource.namespaced,
});
