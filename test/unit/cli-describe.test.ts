/** `kubectl kerris describe`'s Targets part: pods as namespace/name, a NodeChaos's nodes by name with their record. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { targetLines } from '../../src/cli/commands/describe.ts';
import { nodeChaos, stressChaos } from './report-fixtures.ts';

describe('describe\'s targets', () => {
  it('lists a NodeChaos\'s nodes by name, never as /<name>, with what kerris changed and the pods it evicted', () => {
    const text = targetLines(nodeChaos().status?.targets ?? []).join('\n');
    assert.match(text, /^  NODE\s+PHASE\s+INJECTED\s+RECOVERED\s+MESSAGE$/m);
    assert.match(text, /^  node-a\s+Injected\s+2026-03-02T10:00:02Z\s+-\s+cordoned$/m);
    assert.match(text, /^  node-b\s+Failed\s+-\s+-\s+node node-b is held by shop\/other/m);
    assert.doesNotMatch(text, /(^|\s)\/node-/m);
    assert.match(text, /^  Proof for node\/node-a:\n    cordoned by kerris\n    2 pod\(s\) evicted, 2 refusal\(s\) by a PodDisruptionBudget \(last: Cannot evict pod/m);
    assert.match(text, /^    evicted shop\/web-1 at 2026-03-02T10:00:03Z, replaced by web-9 on node-b$/m);
    assert.match(text, /^    evicted shop\/db-0 at 2026-03-02T10:00:20Z$/m);
  });

  it('says of a kubelet-stop node that its daemon stopped the kubelet, when it was continued, and the NotReady and Ready times', () => {
    const text = targetLines([{
      namespace: '', name: 'node-a', uid: 'n1', phase: 'Recovered', injectedAt: '2026-03-02T10:00:02Z', recoveredAt: '2026-03-02T10:01:32Z',
      message: 'the kubelet is continued; the node is Ready again since 2026-03-02T10:01:36Z',
      nodeFault: { kubeletStopped: true, undoneAt: '2026-03-02T10:01:32Z', notReadyAt: '2026-03-02T10:00:52Z', readyAt: '2026-03-02T10:01:36Z' },
    }]).join('\n');
    assert.match(text, /^  Proof for node\/node-a:\n    kubelet stopped by the node's kerris daemon, continued at 2026-03-02T10:01:32Z\n    NotReady at 2026-03-02T10:00:52Z, Ready again at 2026-03-02T10:01:36Z$/m);
  });

  it('lists pods as namespace/name with their node, as before', () => {
    const text = targetLines(stressChaos().status?.targets ?? []).join('\n');
    assert.match(text, /^  POD\s+NODE\s+PHASE/m);
    assert.match(text, /^  shop\/web-0\s+-\s+Injected/m);
    assert.match(text, /^  Proof for shop\/web-0:\n    CPU 4m -> 1003m/m);
    assert.deepEqual(targetLines([]), ['Targets: <none>']);
  });
});
