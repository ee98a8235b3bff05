import type { StatusCheck } from '../../api/generated/types.ts';
import { statusCheckResource } from '../../api/generated/types.ts';
import { defineResource } from '../../kube/resource.ts';

export const statusChecks = defineResource<StatusCheck>({
  group: statusCheckResource.group,
  version: statusCheckResource.version,
  plural: statusCheckResource.plural,
  kind: statusCheckResource.kind,
  namespaced: statusCheckResource.namespaced,
});
