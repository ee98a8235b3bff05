/** The report's data (`kubectl kerris report -o json`): what it says about an experiment, and that it says it the same way every time. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { NetworkChaos, PodChaos } from '../../src/api/generated/types.ts';
import { buildReport, REPORT_API_VERSION, type ReportEventInput } from '../../src/cli/report/model.ts';
import { GENERATED_AT, NETWORK_UID, networkChaos, networkEvents, nodeChaos, nodeEvents, podChaos, podEvents, stressChaos } from './report-fixtures.ts';

const network = () => buildReport({ experiment: networkChaos(), events: networkEvents(), generatedAt: GENERATED_AT });

describe('report of a NetworkChaos', () => {
  it('names the experiment and the report format', () => {
    const r = network();
    assert.equal(r.apiVersion, REPORT_API_VERSION);
    assert.equal(r.kind, 'ChaosReport');
    assert.equal(r.generatedAt, '2026-03-02T12:00:00.000Z');
    assert.deepEqual(r.experiment, { kind: 'NetworkChaos', namespace: 'shop', name: 'web-delay', uid: NETWORK_UID, generation: 1, createdAt: '2026-03-02T10:00:00Z' });
  });

  it('summarises what was asked: the fault values, direction, peers and verify, in a fixed order', () => {
    const { spec } = network();
    assert.deepEqual([spec.action, spec.mode, spec.value, spec.duration, spec.seed], ['delay', 'all', undefined, '60s', 4242]);
    assert.equal(spec.selector, 'namespaces shop; labels app=web');
    assert.deepEqual(spec.asked, [
      { field: 'delay', value: 'latency 100ms, jitter 5ms, correlation 25%' },
      { field: 'direction', value: 'to' },
      { field: 'peers', value: 'pods (all) of namespaces shop; labels app=db' },
      { field: 'verify', value: 'on' },
    ]);
  });

  it('calls a finished run with a failed target PartlyFailed, and its measured effect Verified', () => {
    const r = network();
    assert.equal(r.phase, 'Finished');
    assert.deepEqual(r.verdict, { outcome: 'PartlyFailed', summary: '1 of 2 target(s) injected and recovered, 1 failed', effect: 'Verified' });
    assert.deepEqual(r.counts, { selected: 2, injected: 0, recovered: 1, failed: 1, untracked: 0 });
  });

  it('gives each target its timeline, sorted by name; a failure is dated by the first Warning Event naming the pod', () => {
    const [web0, web1] = network().targets;
    assert.deepEqual(web0 && {
      name: web0.name, node: web0.node, phase: web0.phase, selectedAt: web0.selectedAt, injectedAt: web0.injectedAt,
      recoveredAt: web0.recoveredAt, heldSeconds: web0.heldSeconds, stillHeld: web0.stillHeld, owner: web0.owner, failedAt: web0.failedAt,
    }, {
      name: 'web-0', node: 'worker-1', phase: 'Recovered', selectedAt: '2026-03-02T10:00:01Z', injectedAt: '2026-03-02T10:00:03Z',
      recoveredAt: '2026-03-02T10:01:04Z', heldSeconds: 61, stillHeld: false, owner: 'ReplicaSet/web-7c9f', failedAt: undefined,
    });
    assert.equal(web1?.name, 'web-1');
    assert.equal(web1?.phase, 'Failed');
    assert.equal(web1?.failedAt, '2026-03-02T10:00:03Z', 'InjectionFailed (10:00:03) precedes Refused (10:00:04); InjectionWaiting is no failure');
    assert.equal(web1?.injectedAt, undefined);
    assert.equal(web1?.heldSeconds, undefined);
  });

  it('puts the measured effect beside the configured one, with the kernel\'s counters', () => {
    const effect = network().effect;
    assert.ok(effect);
    assert.match(effect.expectedRtt ?? '', /^\+100ms ± 5ms per round trip/);
    assert.equal(effect.peers, 1);
    assert.deepEqual(effect.targets.map((t) => t.target), ['shop/web-0'], 'only targets with evidence or verification');
    assert.deepEqual(effect.targets[0]?.verification?.verdict, 'Verified');
    assert.equal(effect.targets[0]?.verification?.measured, 'RTT 0.6 ms before, 101.2 ms during (median)');
    assert.deepEqual(effect.targets[0]?.evidence?.counters[0], { device: 'eth0', direction: 'egress', kind: 'netem', fault: 'delay', packets: 1843, bytes: 245_112, dropped: 0 });
  });

  it('orders conditions Selected, AllInjected, AllRecovered, whatever order status has', () => {
    assert.deepEqual(network().conditions.map((c) => c.type), ['Selected', 'AllInjected', 'AllRecovered']);
  });

  it('sorts Events by time, keeps counts and both timestamps, and leaves out those of an earlier object of the same name', () => {
    const r = network();
    assert.equal(r.events.length, 12);
    assert.equal(r.eventsOfOtherObjects, 1);
    assert.ok(!r.events.some((e) => e.message === 'an earlier web-delay'));
    const times = r.events.map((e) => Date.parse(e.firstTimestamp ?? ''));
    assert.deepEqual(times, [...times].sort((a, b) => a - b));
    assert.deepEqual(r.events.slice(0, 2).map((e) => [e.reason, e.firstTimestamp]), [['Selected', '2026-03-02T10:00:01Z'], ['Started', '2026-03-02T10:00:01.250000Z']],
      'an Event with only eventTime is dated by it');
    const failed = r.events.find((e) => e.reason === 'InjectionFailed');
    assert.deepEqual(failed && [failed.type, failed.count, failed.firstTimestamp, failed.lastTimestamp, failed.source],
      ['Warning', 3, '2026-03-02T10:00:03Z', '2026-03-02T10:00:33Z', 'kerris-controller']);
  });

  it('is plain JSON: serialising and parsing gives the same value, with no undefined left in it', () => {
    const r = network();
    assert.deepEqual(JSON.parse(JSON.stringify(r)), r);
    const undefinedKeys: string[] = [];
    const walk = (value: unknown, path: string): void => {
      if (value === null || typeof value !== 'object') return;
      for (const [k, v] of Object.entries(value)) {
        if (v === undefined) undefinedKeys.push(`${path}.${k}`);
        walk(v, `${path}.${k}`);
      }
    };
    walk(r, '$');
    assert.deepEqual(undefinedKeys, []);
  });

  it('is deterministic: the order Events and target records come in does not change the report', () => {
    const expected = JSON.stringify(network());
    fc.assert(fc.property(
      fc.shuffledSubarray(networkEvents(), { minLength: networkEvents().length }),
      fc.boolean(),
      (events, reverseTargets) => {
        const chaos = networkChaos();
        if (reverseTargets) chaos.status?.targets?.reverse();
        return JSON.stringify(buildReport({ experiment: chaos, events, generatedAt: new Date(GENERATED_AT) })) === expected;
      },
    ));
  });

  it('does not change its input', () => {
    const chaos = networkChaos();
    const events = networkEvents();
    buildReport({ experiment: chaos, events, generatedAt: GENERATED_AT });
    assert.deepEqual(chaos, networkChaos());
    assert.deepEqual(events, networkEvents());
  });
});

describe('report of a run still going', () => {
  function running(): NetworkChaos {
    const chaos = networkChaos();
    chaos.status = {
      phase: 'Running', startTime: '2026-03-02T11:59:00Z', injectedAt: '2026-03-02T11:59:30Z', selected: 1, injected: 1,
      targets: [{ namespace: 'shop', name: 'web-0', uid: 'a0', phase: 'Injected', injectedAt: '2026-03-02T11:59:30Z' }],
    };
    return chaos;
  }

  it('holds a target\'s bar until the report\'s time and says so', () => {
    const r = buildReport({ experiment: running(), events: [], generatedAt: GENERATED_AT });
    assert.deepEqual(r.verdict, { outcome: 'Running', summary: 'fault held on 1 of 1 target(s)' });
    assert.equal(r.targets[0]?.stillHeld, true);
    assert.equal(r.targets[0]?.heldSeconds, 30);
  });

  it('dates a target added later by its TargetAdded Event', () => {
    const added: ReportEventInput = { involvedObject: { uid: NETWORK_UID }, type: 'Normal', reason: 'TargetAdded', message: 'pod shop/web-0 is picked now: injecting', firstTimestamp: '2026-03-02T11:59:29Z' };
    const r = buildReport({ experiment: running(), events: [added], generatedAt: GENERATED_AT });
    assert.equal(r.targets[0]?.selectedAt, '2026-03-02T11:59:29Z');
  });
});

describe('report of a PodChaos', () => {
  const pod = () => buildReport({ experiment: podChaos(), events: podEvents(), generatedAt: GENERATED_AT });

  it('summarises pod-kill with its grace period, and has no network effect section', () => {
    const r = pod();
    assert.deepEqual([r.spec.action, r.spec.mode, r.spec.value, r.spec.selector], ['pod-kill', 'fixed', '2', 'labels app=api']);
    assert.deepEqual(r.spec.asked, [{ field: 'gracePeriod', value: '0s' }]);
    assert.equal(r.effect, undefined);
  });

  it('calls a run whose every target was replaced Recovered, with each replacement and its time', () => {
    const r = pod();
    assert.deepEqual(r.verdict, { outcome: 'Recovered', summary: 'all 2 target(s) injected and recovered' });
    assert.deepEqual(r.targets.map((t) => [t.name, t.replacedBy, t.heldSeconds]), [['api-6d8b-m4p', 'api-6d8b-t7w', 7], ['api-6d8b-x2k', 'api-6d8b-q9z', 5]]);
    assert.equal(r.events.length, 6);
  });

  it('names the outcome of a dry run, a failed experiment and one not started', () => {
    const dry: PodChaos = { ...podChaos(), spec: { ...podChaos().spec, dryRun: true } };
    assert.equal(buildReport({ experiment: dry, events: [], generatedAt: GENERATED_AT }).verdict.outcome, 'DryRun');
    const failed: PodChaos = { ...podChaos(), status: { phase: 'Failed', conditions: [{ type: 'Failed', status: 'True', reason: 'Protected', message: 'kube-system is protected', lastTransitionTime: '2026-03-02T11:00:01Z' }] } };
    assert.deepEqual(buildReport({ experiment: failed, events: [], generatedAt: GENERATED_AT }).verdict, { outcome: 'Failed', summary: 'failed (Protected): kube-system is protected' });
    const fresh: PodChaos = { ...podChaos(), status: undefined };
    const r = buildReport({ experiment: fresh, events: [], generatedAt: GENERATED_AT });
    assert.deepEqual([r.phase, r.verdict.outcome, r.targets, r.conditions, r.times], ['Unknown', 'Pending', [], [], { createdAt: '2026-03-02T11:00:00Z' }]);
  });
});

describe('report of a StressChaos', () => {
  it('summarises the stressors and the containers, and puts each target\'s cgroup readings in the effect section', () => {
    const r = buildReport({ experiment: stressChaos(), events: [], generatedAt: GENERATED_AT });
    assert.equal(r.spec.action, 'stress');
    assert.deepEqual(r.spec.asked, [
      { field: 'cpu', value: '1 worker(s) at 100% of a CPU each' },
      { field: 'memory', value: '64MiB over 2 worker(s), oom_score_adj 0' },
      { field: 'containers', value: 'the first container of each pod' },
    ]);
    assert.deepEqual(r.effect?.targets, [{ target: 'shop/web-0', stress: stressChaos().status?.targets?.[0]?.stress }]);
  });
});

describe('report of a NodeChaos', () => {
  const report = () => buildReport({ experiment: nodeChaos(), events: nodeEvents(), generatedAt: GENERATED_AT });

  it('summarises the node selector, and names nodes as node/<name>, not with an empty namespace', () => {
    const r = report();
    assert.equal(r.experiment.kind, 'NodeChaos');
    assert.equal(r.spec.action, 'node-drain');
    assert.equal(r.spec.selector, 'nodes node-a, node-b; node labels kubernetes.io/os=linux, zone=a');
    assert.deepEqual(r.spec.asked, [{ field: 'controller node', value: 'never, unless the controller allows it' }]);
    assert.deepEqual(r.effect?.targets.map((t) => t.target), ['node/node-a']);
    assert.ok(!JSON.stringify(r).includes('"/node-'), 'no target printed as /name');
  });

  it('dates a failed node by the first Warning naming that node, not a pod of the same name', () => {
    const b = report().targets.find((t) => t.name === 'node-b');
    assert.equal(b?.namespace, '');
    assert.equal(b?.failedAt, '2026-03-02T10:00:02Z');
  });

  it('puts each node\'s record in the effect section: the change, the evicted pods and where they went', () => {
    assert.deepEqual(report().effect?.targets, [{ target: 'node/node-a', nodeFault: nodeChaos().status?.targets?.[1]?.nodeFault }]);
  });

  it('summarises a taint as key=value:effect', () => {
    const chaos = nodeChaos();
    chaos.spec = { ...chaos.spec, action: 'node-taint', taint: { key: 'example.com/chaos', value: 'on', effect: 'NoExecute' }, allowControllerNode: true };
    assert.deepEqual(buildReport({ experiment: chaos, events: [], generatedAt: GENERATED_AT }).spec.asked, [
      { field: 'taint', value: 'example.com/chaos=on:NoExecute' },
      { field: 'controller node', value: 'allowed (spec.allowControllerNode)' },
    ]);
  });
});
