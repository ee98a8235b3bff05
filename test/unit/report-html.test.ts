/**
 * The report's HTML as text: one file that names nothing outside itself, escapes every string it was given, and
 * draws one plot series per target. test/host/report-html.test.ts opens it in a real browser.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { NetworkChaos } from '../../src/api/generated/types.ts';
import { renderHtml } from '../../src/cli/report/html.ts';
import { escapeHtml } from '../../src/cli/report/markup.ts';
import { buildReport } from '../../src/cli/report/model.ts';
import { GENERATED_AT, INJECTED_SCRIPT, networkChaos, networkEvents, nodeChaos, nodeEvents, podChaos, podEvents, stressChaos } from './report-fixtures.ts';

const networkPage = () => renderHtml(buildReport({ experiment: networkChaos(), events: networkEvents(), generatedAt: GENERATED_AT }));

describe('the report page', () => {
  it('is self-contained: a CSP that forbids every fetch and script, and no script, link, image or URL at all', () => {
    const page = networkPage();
    assert.match(page, /<meta http-equiv="Content-Security-Policy" content="default-src &#39;none&#39;; style-src &#39;unsafe-inline&#39;; img-src data:">/);
    assert.doesNotMatch(page, /<script|<link|<img|<iframe|<object|@import|url\(/i);
    assert.doesNotMatch(page, /https?:|\/\/[a-z]/i);
  });

  it('escapes what users wrote: a <script> in a target message and in an Event is text', () => {
    const page = networkPage();
    assert.ok(!page.includes(INJECTED_SCRIPT));
    assert.ok(page.includes(escapeHtml(INJECTED_SCRIPT)));
  });

  it('whatever text a message holds, the page has the same markup', () => {
    const withMessage = (message: string): string => {
      const chaos: NetworkChaos = networkChaos();
      const target = chaos.status?.targets?.[0];
      if (target) target.message = message;
      const events = networkEvents().map((e) => ({ ...e, message }));
      return renderHtml(buildReport({ experiment: chaos, events, generatedAt: GENERATED_AT }));
    };
    const tags = (page: string) => page.split('').filter((c) => c === '<' || c === '>').length;
    const plain = tags(withMessage('plain'));
    fc.assert(fc.property(fc.string({ unit: 'binary' }), (message) => tags(withMessage(message)) === plain));
  });

  it('draws one series per target, named by namespace/name, with a bar for the recovered one and a failure mark for the failed one', () => {
    const page = networkPage();
    const series = [...page.matchAll(/<g class="series" data-target="([^"]+)" data-phase="([^"]+)">(.*?)<\/g>/gs)];
    assert.deepEqual(series.map((m) => [m[1], m[2]]), [['shop/web-0', 'Recovered'], ['shop/web-1', 'Failed']]);
    assert.match(series[0]?.[3] ?? '', /<rect class="bar recovered"/);
    assert.match(series[1]?.[3] ?? '', /<path class="failure"/);
    assert.doesNotMatch(series[1]?.[3] ?? '', /class="bar/);
  });

  it('has the sections in order: summary, plot, targets, measured against configured, conditions, Events', () => {
    const page = networkPage();
    const ids = [...page.matchAll(/<section id="([a-z]+)">/g)].map((m) => m[1]);
    assert.deepEqual(ids, ['summary', 'plot', 'targets', 'effect', 'conditions', 'events']);
    assert.match(page, /RTT 0\.6 ms before, 101\.2 ms during \(median\)/);
    assert.match(page, /<td class="num">1,843<\/td>/);
  });

  it('renders the same report to the same text', () => {
    assert.equal(networkPage(), networkPage());
    const pod = () => renderHtml(buildReport({ experiment: podChaos(), events: podEvents(), generatedAt: GENERATED_AT }));
    assert.equal(pod(), pod());
  });

  it('says so when nothing has happened yet, instead of drawing an empty plot', () => {
    const page = renderHtml(buildReport({ experiment: { ...podChaos(), status: undefined }, events: [], generatedAt: GENERATED_AT }));
    assert.match(page, /No time recorded yet/);
    assert.doesNotMatch(page, /class="series"/);
  });
});

describe('the report page of a StressChaos', () => {
  it('shows each target\'s CPU and working set before and while stressed, and no network rows', () => {
    const page = renderHtml(buildReport({ experiment: stressChaos(), events: [], generatedAt: GENERATED_AT }));
    assert.match(page, /<tr><th>before<\/th><td class="num">4<\/td><td class="num">4MiB<\/td><\/tr>/);
    assert.match(page, /<tr><th>during<\/th><td class="num">1,003<\/td><td class="num">68MiB<\/td><\/tr>/);
    assert.match(page, /3 stressor process\(es\) alive/);
    assert.doesNotMatch(page, /expected round trip/);
  });
});

describe('the report page of a NodeChaos', () => {
  const page = () => renderHtml(buildReport({ experiment: nodeChaos(), events: nodeEvents(), generatedAt: GENERATED_AT }));

  it('names each node as node/<name> in the targets table, the plot and the effect section, never as /<name>', () => {
    const text = page();
    assert.match(text, /<tr data-target="node\/node-a">\n<td>node\/node-a<\/td>/);
    assert.match(text, /<tr data-target="node\/node-b">\n<td>node\/node-b<\/td>/);
    assert.match(text, /<text class="label"[^>]*>node\/node-a<title>node\/node-a: Injected<\/title>/);
    assert.match(text, /<div class="effect" data-target="node\/node-a"><h3>node\/node-a<\/h3>/);
    assert.doesNotMatch(text, />\/node-[ab]|"\/node-[ab]"/);
  });

  it('shows what kerris changed on the node, the evicted pods with their replacements, and the budget\'s refusals', () => {
    const text = page();
    assert.match(text, /What was done to each node/);
    assert.match(text, /cordoned by kerris, uncordoned at the end/);
    assert.match(text, /<td>shop\/web-1<\/td><td>.*?<\/td><td>web-9<\/td><td>node-b<\/td><\/tr>/);
    assert.match(text, /<td>shop\/db-0<\/td><td>.*?<\/td><td>–<\/td><td>–<\/td><\/tr>/);
    assert.match(text, /2 pod\(s\)/);
    assert.match(text, /2 \(HTTP 429, asked again\); last: Cannot evict pod as it would violate the pod&#39;s disruption budget\./);
    assert.doesNotMatch(text, /expected round trip/);
  });
});
