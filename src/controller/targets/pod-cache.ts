/**
 * What the controller keeps of each pod in its cluster-wide cache: only what
 * selection, the daemons' discovery and recovery read. A full Pod (managed
 * fields, the last-applied annotation, env, volumes) is many kilobytes; this
 * keeps a large cluster's cache inside the controller's memory limit.
 */
import type { Pod } from '../../kube/types.ts';

/** Written by `kubectl apply`; often the largest part of a pod and never read by a selector that means it. */
const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

export function slimPod(pod: Pod): Pod {
  const { name, namespace, uid, resourceVersion, generation, creationTimestamp, deletionTimestamp, labels, annotations, ownerReferences } = pod.metadata;
  const { [LAST_APPLIED]: _, ...kept } = annotations ?? {};
  return {
    ...(pod.apiVersion ? { apiVersion: pod.apiVersion } : {}),
    ...(pod.kind ? { kind: pod.kind } : {}),
    metadata: {
      ...(name !== undefined ? { name } : {}),
      ...(namespace !== undefined ? { namespace } : {}),
      ...(uid !== undefined ? { uid } : {}),
      ...(resourceVersion !== undefined ? { resourceVersion } : {}),
      ...(generation !== undefined ? { generation } : {}),
      ...(creationTimestamp !== undefined ? { creationTimestamp } : {}),
      ...(deletionTimestamp !== undefined ? { deletionTimestamp } : {}),
      ...(labels !== undefined ? { labels } : {}),
      ...(annotations !== undefined ? { annotations: kept } : {}),
      ...(ownerReferences !== undefined ? { ownerReferences } : {}),
    },
    ...(pod.spec ? {
      spec: {
        ...(pod.spec.nodeName !== undefined ? { nodeName: pod.spec.nodeName } : {}),
        ...(pod.spec.hostNetwork !== undefined ? { hostNetwork: pod.spec.hostNetwork } : {}),
        // A container's memory limit sizes StressChaos's percentage stressors.
        containers: pod.spec.containers.map((c) => {
          const memory = c.resources?.limits?.memory;
          return { name: c.name, image: c.image, ...(memory !== undefined ? { resources: { limits: { memory } } } : {}) };
        }),
      },
    } : {}),
    ...(pod.status ? {
      status: {
        ...(pod.status.phase !== undefined ? { phase: pod.status.phase } : {}),
        ...(pod.status.podIP !== undefined ? { podIP: pod.status.podIP } : {}),
        ...(pod.status.podIPs !== undefined ? { podIPs: pod.status.podIPs.map((a) => ({ ip: a.ip })) } : {}),
        ...(pod.status.conditions !== undefined ? { conditions: pod.status.conditions.map((c) => ({ type: c.type, status: c.status, ...(c.lastTransitionTime ? { lastTransitionTime: c.lastTransitionTime } : {}) })) } : {}),
        ...(pod.status.containerStatuses !== undefined ? {
          containerStatuses: pod.status.containerStatuses.map((c) => ({ name: c.name, ready: c.ready, restartCount: c.restartCount, ...(c.containerID ? { containerID: c.containerID } : {}) })),
        } : {}),
      },
    } : {}),
  };
}
