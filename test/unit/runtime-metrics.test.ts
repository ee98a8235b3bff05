import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Registry } from '../../src/runtime/metrics.ts';
import { RuntimeMetrics } from '../../src/runtime/runtime-metrics.ts';

describe('metrics registry', () => {
  it('renders counters and gauges with HELP, TYPE and labels', () => {
    const registry = new Registry();
    const counter = registry.counter({ name: 'kerris_things_total', help: 'Things done.', labelNames: ['kind', 'result'] });
    const gauge = registry.gauge({ name: 'kerris_up', help: 'Up.' });
    counter.inc({ kind: 'pod', result: 'ok' });
    counter.inc({ kind: 'pod', result: 'ok' }, 2);
    counter.inc({ kind: 'net', result: 'error' });
    gauge.set({}, 1);
    assert.equal(registry.render(), [
      '# HELP kerris_things_total Things done.',
      '# TYPE kerris_things_total counter',
      'kerris_things_total{kind="pod",result="ok"} 3',
      'kerris_things_total{kind="net",result="error"} 1',
      '# HELP kerris_up Up.',
      '# TYPE kerris_up gauge',
      'kerris_up 1',
      '',
    ].join('\n'));
  });

  it('renders histograms as cumulative buckets with +Inf, _sum and _count', () => {
    const registry = new Registry();
    const histogram = registry.histogram({ name: 'kerris_seconds', help: 'Time.', labelNames: ['op'], buckets: [0.1, 1, 10] });
    for (const v of [0.05, 0.1, 0.5, 5, 50]) histogram.observe({ op: 'x' }, v);
    assert.equal(registry.render(), [
      '# HELP kerris_seconds Time.',
      '# TYPE kerris_seconds histogram',
      'kerris_seconds_bucket{op="x",le="0.1"} 2',
      'kerris_seconds_bucket{op="x",le="1"} 3',
      'kerris_seconds_bucket{op="x",le="10"} 4',
      'kerris_seconds_bucket{op="x",le="+Inf"} 5',
      'kerris_seconds_sum{op="x"} 55.65',
      'kerris_seconds_count{op="x"} 5',
      '',
    ].join('\n'));
  });

  it('escapes label values and help text', () => {
    const registry = new Registry();
    registry.gauge({ name: 'g', help: 'a \\ b\nc', labelNames: ['v'] }).set({ v: 'q"x\\y\nz' }, -Infinity);
    assert.equal(registry.render(), '# HELP g a \\\\ b\\nc\n# TYPE g gauge\ng{v="q\\"x\\\\y\\nz"} -Inf\n');
  });

  it('refuses wrong labels, bad names, duplicate metrics and falling counters', () => {
    const registry = new Registry();
    const counter = registry.counter({ name: 'c_total', help: 'c', labelNames: ['a'] });
    assert.throws(() => counter.inc({}), /labels/);
    assert.throws(() => counter.inc({ a: 'x', b: 'y' }), /labels/);
    assert.throws(() => counter.inc({ a: 'x' }, -1), RangeError);
    assert.throws(() => registry.counter({ name: 'c_total', help: 'again' }), /already/);
    assert.throws(() => registry.gauge({ name: '1bad', help: '' }), /name/);
    assert.throws(() => registry.gauge({ name: 'ok', help: '', labelNames: ['__reserved'] }), /label/);
    assert.throws(() => registry.histogram({ name: 'h', help: '', buckets: [1, 1] }), /increasing/);
  });

  it('keeps the runtime metrics under their documented names', () => {
    const metrics = new RuntimeMetrics();
    const observer = metrics.queueObserver('podchaos');
    observer.added?.();
    observer.depth?.(3);
    metrics.reconciled('podchaos', 'error', 0.2);
    metrics.isLeader.set({ lease: 'kerris/leader' }, 1);
    const text = metrics.registry.render();
    for (const line of [
      'kerris_workqueue_adds_total{name="podchaos"} 1',
      'kerris_workqueue_depth{name="podchaos"} 3',
      'kerris_reconcile_total{controller="podchaos",result="error"} 1',
      'kerris_reconcile_errors_total{controller="podchaos"} 1',
      'kerris_reconcile_duration_seconds_count{controller="podchaos"} 1',
      'kerris_leader_election_is_leader{lease="kerris/leader"} 1',
    ]) assert.ok(text.includes(`${line}\n`), `missing ${line}`);
  });
});
