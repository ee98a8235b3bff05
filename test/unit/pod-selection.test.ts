import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  admitNamespaces, filterCandidates, pickTargets, selectedNamespaces, SelectorError, targetCount, type CandidatePod, type NamespaceInfo,
} from '../../src/controller/targets/pod-selection.ts';

const pod = (name: string, extra: Partial<CandidatePod> = {}): CandidatePod => ({
  namespace: 'app', name, uid: `uid-${name}`, labels: { app: 'web' }, annotations: {}, phase: 'Running', nodeName: 'node-a', terminating: false, ...extra,
});
const admitted = new Set(['app', 'other']);
const noNodes = new Map<string, Record<string, string>>();

describe('namespaces', () => {
  it('defaults to the experiment namespace, and `pods` overrides `namespaces`', () => {
    assert.deepEqual(selectedNamespaces({}, 'chaos'), ['chaos']);
    assert.deepEqual(selectedNamespaces({ namespaces: ['b', 'a', 'b'] }, 'chaos'), ['a', 'b']);
    assert.deepEqual(selectedNamespaces({ namespaces: ['a'], pods: { z: ['p'] } }, 'chaos'), ['z']);
  });

  it('refuses protected namespaces, and unannotated ones in opt-in mode', () => {
    const namespaces: NamespaceInfo[] = [{ name: 'kube-system', annotations: {} }, { name: 'app', annotations: {} }, { name: 'team', annotations: { 'chaos.kerris.dev/inject': 'enabled' } }];
    const protectedNamespaces = new Set(['kube-system', 'kerris-system']);
    assert.deepEqual(admitNamespaces(namespaces, { protectedNamespaces, requireOptIn: false }), {
      admitted: ['app', 'team'], refused: [{ namespace: 'kube-system', reason: 'Protected' }],
    });
    assert.deepEqual(admitNamespaces(namespaces, { protectedNamespaces, requireOptIn: true }), {
      admitted: ['team'], refused: [{ namespace: 'kube-system', reason: 'Protected' }, { namespace: 'app', reason: 'NotOptedIn' }],
    });
  });
});

describe('filterCandidates', () => {
  const pods = [
    pod('web-2'), pod('web-1'), pod('db-1', { labels: { app: 'db', tier: 'data' } }),
    pod('web-starting', { phase: 'Pending' }), pod('web-leaving', { terminating: true }),
    pod('web-other-node', { nodeName: 'node-b' }), pod('web-ns', { namespace: 'other' }), pod('web-sys', { namespace: 'kube-system' }),
  ];

  it('ANDs labels, expressions, annotations, fields, phases and nodes, and sorts the result', () => {
    const names = (selector: Parameters<typeof filterCandidates>[1]) => filterCandidates(pods, selector, admitted, noNodes).map((p) => `${p.namespace}/${p.name}`);
    assert.deepEqual(names({ labelSelectors: { app: 'web' } }), ['app/web-1', 'app/web-2', 'app/web-other-node', 'other/web-ns']);
    assert.deepEqual(names({ expressionSelectors: [{ key: 'tier', operator: 'Exists' }] }), ['app/db-1']);
    assert.deepEqual(names({ expressionSelectors: [{ key: 'app', operator: 'NotIn', values: ['web'] }] }), ['app/db-1']);
    assert.deepEqual(names({ nodes: ['node-b'] }), ['app/web-other-node']);
    assert.deepEqual(names({ fieldSelectors: { 'metadata.name': 'web-1' } }), ['app/web-1']);
    assert.deepEqual(names({ podPhaseSelectors: ['Pending'] }), ['app/web-starting']);
    assert.deepEqual(names({ pods: { app: ['web-1', 'missing'], 'kube-system': ['web-sys'] } }), ['app/web-1']);
  });

  it('never admits terminating pods or pods of refused namespaces', () => {
    const all = filterCandidates(pods, { podPhaseSelectors: ['Running', 'Pending'] }, admitted, noNodes);
    assert.ok(all.every((p) => !p.terminating && p.namespace !== 'kube-system'));
  });

  it('matches node labels for nodeSelectors', () => {
    const nodes = new Map([['node-b', { zone: 'b' }], ['node-a', { zone: 'a' }]]);
    assert.deepEqual(filterCandidates(pods, { nodeSelectors: { zone: 'b' } }, admitted, nodes).map((p) => p.name), ['web-other-node']);
  });

  it('rejects a field selector it cannot evaluate, with the supported fields named', () => {
    assert.throws(() => filterCandidates(pods, { fieldSelectors: { 'spec.hostname': 'x' } }, admitted, noNodes), (e: unknown) => e instanceof SelectorError && /metadata\.name/.test(e.message));
  });
});

describe('targetCount', () => {
  it('follows the modes; percentages round up', () => {
    assert.equal(targetCount('one', undefined, 3, 1), 1);
    assert.equal(targetCount('all', undefined, 3, 1), 3);
    assert.equal(targetCount('fixed', '2', 3, 1), 2);
    assert.equal(targetCount('fixed', '5', 3, 1), 3);
    assert.equal(targetCount('fixed-percent', '50', 3, 1), 2);
    assert.equal(targetCount('fixed-percent', '34', 3, 1), 2);
    assert.equal(targetCount('fixed-percent', '33', 3, 1), 1);
    assert.equal(targetCount('fixed-percent', '100', 7, 1), 7);
    assert.equal(targetCount('one', undefined, 0, 1), 0);
  });

  it('random-max-percent picks between 1 and the rounded-up share, repeatably', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 500 }), fc.integer({ min: 1, max: 100 }), fc.nat(), (n, percent, seed) => {
      const count = targetCount('random-max-percent', String(percent), n, seed);
      return count >= 1 && count <= Math.ceil((n * percent) / 100) && count === targetCount('random-max-percent', String(percent), n, seed);
    }));
  });

  it('rejects values the mode cannot use', () => {
    assert.throws(() => targetCount('fixed', '0', 3, 1), SelectorError);
    assert.throws(() => targetCount('fixed', 'two', 3, 1), SelectorError);
    assert.throws(() => targetCount('fixed-percent', '101', 3, 1), SelectorError);
    assert.throws(() => targetCount('fixed-percent', undefined, 3, 1), SelectorError);
  });
});

describe('pickTargets', () => {
  const candidates = Array.from({ length: 20 }, (_, i) => pod(`p-${i}`));

  it('gives the same targets for the same seed, whatever the listing order', () => {
    fc.assert(fc.property(fc.nat(), fc.integer({ min: 0, max: 20 }), (seed, count) => {
      const once = pickTargets(candidates, count, seed).map((p) => p.name);
      const shuffled = [...candidates].reverse();
      return once.length === count && JSON.stringify(once) === JSON.stringify(pickTargets(shuffled, count, seed).map((p) => p.name));
    }));
  });

  it('gives different targets for different seeds, and spreads picks over all candidates', () => {
    const picks = new Set<string>();
    const distinct = new Set<string>();
    for (let seed = 0; seed < 200; seed += 1) {
      const chosen = pickTargets(candidates, 3, seed).map((p) => p.name);
      chosen.forEach((n) => picks.add(n));
      distinct.add(chosen.join(','));
    }
    assert.equal(picks.size, 20, 'every candidate is picked by some seed');
    assert.ok(distinct.size > 150, `seeds must lead to different picks, got ${distinct.size} distinct of 200`);
  });
});
