/**
 * Experiments and Events as the controller writes them, for the report's tests: a NetworkChaos delay with two
 * targets (one verified, with kernel counters; one failed on a node without sch_netem) and a dozen Events, and a
 * PodChaos pod-kill whose targets were replaced. A target message and an Event message carry a `<script>`, as a
 * user-controlled string could.
 */
import type { NetworkChaos, NodeChaos, PodChaos, StressChaos } from '../../src/api/generated/types.ts';
import type { ReportEventInput } from '../../src/cli/report/model.ts';

/** What the injected script would do if it ran: the browser test checks that it never does. */
export const INJECTED_SCRIPT = '<script>window.__kerrisInjected = true</script>';

export const NETWORK_UID = '5f0c2d1e-8a44-4a3b-9a7e-2b1f6c0d9e11';
export const POD_UID = '0b9e7c55-3e1f-4d2a-8c6b-71a2f4e5d300';

export function networkChaos(): NetworkChaos {
  return {
    apiVersion: 'chaos.kerris.dev/v1alpha1',
    kind: 'NetworkChaos',
    metadata: { name: 'web-delay', namespace: 'shop', uid: NETWORK_UID, generation: 1, creationTimestamp: '2026-03-02T10:00:00Z' },
    spec: {
      action: 'delay',
      mode: 'all',
      selector: { namespaces: ['shop'], labelSelectors: { app: 'web' } },
      direction: 'to',
      target: { mode: 'all', selector: { namespaces: ['shop'], labelSelectors: { app: 'db' } } },
      delay: { latency: '100ms', jitter: '5ms', correlation: '25' },
      duration: '60s',
      verify: true,
    },
    status: {
      observedGeneration: 1,
      phase: 'Finished',
      seed: 4242,
      startTime: '2026-03-02T10:00:01Z',
      injectedAt: '2026-03-02T10:00:03Z',
      recoveredAt: '2026-03-02T10:01:04Z',
      selected: 2,
      injected: 0,
      recovered: 1,
      failed: 1,
      conditions: [
        { type: 'Selected', status: 'True', lastTransitionTime: '2026-03-02T10:00:01Z', reason: 'Selected', message: 'picked 2 target(s)' },
        { type: 'AllRecovered', status: 'True', lastTransitionTime: '2026-03-02T10:01:04Z', reason: 'Recovered', message: '1 target(s) recovered, 1 failed' },
        { type: 'AllInjected', status: 'False', lastTransitionTime: '2026-03-02T10:00:03Z', reason: 'InjectionFailed', message: '1 of 2 target(s) could not be injected; shop/web-1: kernel has no sch_netem: delay unavailable on node worker-3' },
      ],
      targets: [
        {
          namespace: 'shop', name: 'web-1', uid: 'b1', node: 'worker-3', phase: 'Failed',
          owner: { kind: 'ReplicaSet', name: 'web-7c9f', uid: 'rs1' },
          message: `kernel has no sch_netem: delay unavailable on node worker-3 ${INJECTED_SCRIPT}`,
        },
        {
          namespace: 'shop', name: 'web-0', uid: 'a0', node: 'worker-1', phase: 'Recovered',
          owner: { kind: 'ReplicaSet', name: 'web-7c9f', uid: 'rs1' },
          injectedAt: '2026-03-02T10:00:03Z', recoveredAt: '2026-03-02T10:01:04Z', message: 'fault removed',
          evidence: {
            observedAt: '2026-03-02T10:01:02Z',
            counters: [{ device: 'eth0', direction: 'egress', kind: 'netem', fault: 'delay', packets: 1843, bytes: 245_112, dropped: 0 }],
          },
          verification: {
            verdict: 'Verified',
            configured: 'RTT +100ms to 10.244.0.12',
            measured: 'RTT 0.6 ms before, 101.2 ms during (median)',
            message: '10 TCP connects to a closed port (RST answers) of each of 1 peer(s), before and during the fault, from inside the target',
          },
        },
      ],
      network: { expectedRtt: '+100ms ± 5ms per round trip: the delay is on the packets the targets send to their peers, not on the replies', peers: 1 },
    },
  };
}

const event = (reason: string, type: 'Normal' | 'Warning', message: string, first: string, last = first, count = 1): ReportEventInput => ({
  metadata: { name: `web-delay.${reason.toLowerCase()}`, creationTimestamp: first },
  involvedObject: { uid: NETWORK_UID },
  type, reason, message, count, firstTimestamp: first, lastTimestamp: last,
  source: { component: 'kerris-controller' },
});

/** Twelve Events, given out of order as a List may return them, and one of an earlier object of the same name. */
export function networkEvents(): ReportEventInput[] {
  return [
    event('Finished', 'Normal', 'all 2 target(s) handled: 1 recovered, 1 failed', '2026-03-02T10:01:04Z'),
    event('Selected', 'Normal', 'picked 2 target(s): shop/web-0, shop/web-1', '2026-03-02T10:00:01Z'),
    event('Delayed', 'Normal', 'pod shop/web-0: delay 100ms on eth0', '2026-03-02T10:00:03Z'),
    event('InjectionFailed', 'Warning', 'pod shop/web-1: kernel has no sch_netem: delay unavailable on node worker-3', '2026-03-02T10:00:03Z', '2026-03-02T10:00:33Z', 3),
    event('Refused', 'Warning', `pod shop/web-1: ${INJECTED_SCRIPT} refused by the node`, '2026-03-02T10:00:04Z'),
    event('Verified', 'Normal', 'pod shop/web-0: RTT 0.6 ms before, 101.2 ms during (median)', '2026-03-02T10:00:05Z'),
    event('Restated', 'Normal', 'fault restated on 1 target(s)', '2026-03-02T10:00:18Z', '2026-03-02T10:00:48Z', 3),
    event('InjectionWaiting', 'Warning', 'pod shop/web-1: the daemon on worker-3 is not reachable yet', '2026-03-02T10:00:02Z'),
    event('PeersChanged', 'Normal', 'peers now 1 address(es)', '2026-03-02T10:00:02Z'),
    event('Recovered', 'Normal', 'pod shop/web-0: fault removed', '2026-03-02T10:01:04Z'),
    event('DurationReached', 'Normal', 'duration 60s reached: recovering', '2026-03-02T10:01:03Z'),
    { ...event('Started', 'Normal', 'experiment started', '2026-03-02T10:00:01Z'), firstTimestamp: null, lastTimestamp: null, eventTime: '2026-03-02T10:00:01.250000Z' },
    { ...event('Selected', 'Normal', 'an earlier web-delay', '2026-03-01T09:00:00Z'), involvedObject: { uid: 'an-earlier-uid' } },
  ];
}

export function podChaos(): PodChaos {
  return {
    apiVersion: 'chaos.kerris.dev/v1alpha1',
    kind: 'PodChaos',
    metadata: { name: 'api-kill', namespace: 'shop', uid: POD_UID, generation: 1, creationTimestamp: '2026-03-02T11:00:00Z' },
    spec: { action: 'pod-kill', mode: 'fixed', value: '2', selector: { labelSelectors: { app: 'api' } }, gracePeriod: 0, duration: '30s' },
    status: {
      phase: 'Finished',
      seed: 7,
      startTime: '2026-03-02T11:00:01Z',
      injectedAt: '2026-03-02T11:00:02Z',
      recoveredAt: '2026-03-02T11:00:09Z',
      selected: 2, injected: 0, recovered: 2, failed: 0,
      conditions: [
        { type: 'Selected', status: 'True', lastTransitionTime: '2026-03-02T11:00:01Z', reason: 'Selected', message: 'picked 2 target(s)' },
        { type: 'AllInjected', status: 'True', lastTransitionTime: '2026-03-02T11:00:02Z', reason: 'Killed', message: 'injected 2 target(s)' },
        { type: 'AllRecovered', status: 'True', lastTransitionTime: '2026-03-02T11:00:09Z', reason: 'Recovered', message: '2 target(s) recovered' },
      ],
      targets: [
        { namespace: 'shop', name: 'api-6d8b-x2k', uid: 'p1', node: 'worker-1', phase: 'Recovered', owner: { kind: 'ReplicaSet', name: 'api-6d8b', uid: 'rs2' },
          injectedAt: '2026-03-02T11:00:02Z', recoveredAt: '2026-03-02T11:00:07Z', replacedBy: 'api-6d8b-q9z', message: 'replaced by api-6d8b-q9z' },
        { namespace: 'shop', name: 'api-6d8b-m4p', uid: 'p2', node: 'worker-2', phase: 'Recovered', owner: { kind: 'ReplicaSet', name: 'api-6d8b', uid: 'rs2' },
          injectedAt: '2026-03-02T11:00:02Z', recoveredAt: '2026-03-02T11:00:09Z', replacedBy: 'api-6d8b-t7w', message: 'replaced by api-6d8b-t7w' },
      ],
    },
  };
}

export function podEvents(): ReportEventInput[] {
  const at = (reason: string, message: string, time: string): ReportEventInput => ({
    involvedObject: { uid: POD_UID }, type: 'Normal', reason, message, count: 1, firstTimestamp: time, lastTimestamp: time,
  });
  return [
    at('Selected', 'picked 2 target(s): shop/api-6d8b-m4p, shop/api-6d8b-x2k', '2026-03-02T11:00:01Z'),
    at('Killed', 'pod shop/api-6d8b-x2k: deleted with a grace period of 0 s', '2026-03-02T11:00:02Z'),
    at('Killed', 'pod shop/api-6d8b-m4p: deleted with a grace period of 0 s', '2026-03-02T11:00:02Z'),
    at('Recovered', 'pod shop/api-6d8b-x2k: replaced by api-6d8b-q9z', '2026-03-02T11:00:07Z'),
    at('Recovered', 'pod shop/api-6d8b-m4p: replaced by api-6d8b-t7w', '2026-03-02T11:00:09Z'),
    at('Finished', 'all 2 target(s) handled: 2 recovered, 0 failed', '2026-03-02T11:00:32Z'),
  ];
}

/** A StressChaos holding cpu and memory stressors on one pod, with the cgroup readings of its daemon. */
export function stressChaos(): StressChaos {
  return {
    apiVersion: 'chaos.kerris.dev/v1alpha1', kind: 'StressChaos',
    metadata: { name: 'cpu', namespace: 'shop', uid: 'a1', creationTimestamp: '2026-03-02T10:00:00Z' },
    spec: { mode: 'one', selector: { labelSelectors: { app: 'web' } }, stressors: { cpu: { workers: 1 }, memory: { workers: 2, size: '64MiB' } }, duration: '60s' },
    status: {
      phase: 'Running', selected: 1, injected: 1,
      targets: [{
        namespace: 'shop', name: 'web-0', uid: 'p1', phase: 'Injected', injectedAt: '2026-03-02T10:00:05Z', containers: ['web'],
        stress: { observedAt: '2026-03-02T10:00:30Z', before: { cpuMillicores: 4, memoryWorkingSetBytes: 4_194_304 }, during: { cpuMillicores: 1003, memoryWorkingSetBytes: 71_303_168 }, stressors: 3 },
      }],
    },
  };
}

/**
 * A NodeChaos drain of two nodes, as the controller records it: node-a cordoned with two pods evicted (one replaced
 * on node-b, one refused twice by its budget first), node-b refused since another NodeChaos holds it.
 */
export function nodeChaos(): NodeChaos {
  return {
    apiVersion: 'chaos.kerris.dev/v1alpha1', kind: 'NodeChaos',
    metadata: { name: 'drain', namespace: 'shop', uid: 'nd1', creationTimestamp: '2026-03-02T10:00:00Z' },
    spec: { action: 'node-drain', mode: 'all', selector: { nodes: ['node-a', 'node-b'], nodeSelectors: { zone: 'a', 'kubernetes.io/os': 'linux' } }, duration: '2m' },
    status: {
      phase: 'Running', selected: 2, injected: 1, failed: 1, startTime: '2026-03-02T10:00:01Z',
      targets: [
        { namespace: '', name: 'node-b', uid: 'n2', phase: 'Failed', message: 'node node-b is held by shop/other; one NodeChaos at a time per node' },
        {
          namespace: '', name: 'node-a', uid: 'n1', phase: 'Injected', injectedAt: '2026-03-02T10:00:02Z', message: 'cordoned',
          nodeFault: {
            wasUnschedulable: false, cordoned: true, remaining: 0, refusals: 2, lastRefusal: 'Cannot evict pod as it would violate the pod\'s disruption budget.',
            evicted: [
              { namespace: 'shop', name: 'web-1', uid: 'p1', ownerUid: 'rs1', evictedAt: '2026-03-02T10:00:03Z', replacedBy: 'web-9', replacementNode: 'node-b' },
              { namespace: 'shop', name: 'db-0', uid: 'p2', ownerUid: 'ss1', evictedAt: '2026-03-02T10:00:20Z' },
            ],
          },
        },
      ],
    },
  };
}

/** The Events of nodeChaos(): a pod of the same name as a node is another target, and must not date it. */
export function nodeEvents(): ReportEventInput[] {
  const event = (reason: string, type: string, message: string, at: string): ReportEventInput => ({ involvedObject: { uid: 'nd1' }, reason, type, message, count: 1, firstTimestamp: at, lastTimestamp: at });
  return [
    event('InjectionFailed', 'Warning', 'pod shop/node-b: not this one', '2026-03-02T10:00:01Z'),
    event('Refused', 'Warning', 'node node-b: node node-b is held by shop/other; one NodeChaos at a time per node', '2026-03-02T10:00:02Z'),
    event('Cordoned', 'Normal', 'node node-a: cordoned', '2026-03-02T10:00:02Z'),
  ];
}

export const GENERATED_AT = new Date('2026-03-02T12:00:00Z');
