import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { slimPod } from '../../src/controller/targets/pod-cache.ts';
import type { Pod } from '../../src/kube/types.ts';

const full = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: {
    name: 'web-1', namespace: 'app', uid: 'u1', resourceVersion: '42', creationTimestamp: '2026-12-01T00:00:00Z',
    labels: { app: 'web' },
    annotations: { team: 'a', 'kubectl.kubernetes.io/last-applied-configuration': 'x'.repeat(20_000) },
    ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-abc', uid: 'rs1', controller: true }],
    managedFields: [{ manager: 'kubectl', operation: 'Apply', fieldsV1: { 'f:spec': {} } }],
  },
  spec: {
    nodeName: 'n1',
    containers: [{ name: 'web', image: 'web:1', command: ['/bin/serve'], env: [{ name: 'SECRET_LOOKING', value: 'x'.repeat(5_000) }] }],
    volumes: [{ name: 'data', emptyDir: {} }],
  },
  status: {
    phase: 'Running', podIP: '10.0.0.5', hostIP: '192.0.2.1',
    conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: '2026-12-01T00:00:05Z', lastProbeTime: null }],
    containerStatuses: [{ name: 'web', containerID: 'containerd://abc', ready: true, restartCount: 2, image: 'web:1', imageID: 'sha256:1', state: { running: { startedAt: '2026-12-01T00:00:01Z' } } }],
  },
} as unknown as Pod;

describe('the controller\'s pod cache', () => {
  it('keeps what selection, daemon discovery and recovery read, and nothing else', () => {
    assert.deepEqual(slimPod(full), {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: 'web-1', namespace: 'app', uid: 'u1', resourceVersion: '42', creationTimestamp: '2026-12-01T00:00:00Z',
        labels: { app: 'web' }, annotations: { team: 'a' },
        ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-abc', uid: 'rs1', controller: true }],
      },
      spec: { nodeName: 'n1', containers: [{ name: 'web', image: 'web:1' }] },
      status: {
        phase: 'Running', podIP: '10.0.0.5',
        conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: '2026-12-01T00:00:05Z' }],
        containerStatuses: [{ name: 'web', ready: true, restartCount: 2, containerID: 'containerd://abc' }],
      },
    });
  });

  it('is a fraction of the full object', () => {
    assert.ok(JSON.stringify(slimPod(full)).length * 20 < JSON.stringify(full).length);
  });
});
