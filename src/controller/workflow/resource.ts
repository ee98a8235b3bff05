import type { Workflow } from '../../api/generated/types.ts';
import { workflowResource } from '../../api/generated/types.ts';
import { defineResource } from '../../kube/resource.ts';

export const workflows = defineResource<Workflow>({
  group: workflowResource.group,
  version: workflowResource.version,
  plural: workflowResource.plural,
  kind: workflowResource.kind,
  namespaced: workflowResource.namespaced,
});
