import type { Schedule } from '../../api/generated/types.ts';
import { scheduleResource } from '../../api/generated/types.ts';
import { defineResource } from '../../kube/resource.ts';

export const schedules = defineResource<Schedule>({
  group: scheduleResource.group,
  version: scheduleResource.version,
  plural: scheduleResource.plural,
  kind: scheduleResource.kind,
  namespaced: scheduleResource.namespaced,
});
