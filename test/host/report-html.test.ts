/**
 * The HTML report in a real browser (Debian's chromium through playwright-core): opened from a file, offline, it
 * draws its timeline with one series per target, logs no error, makes no request but for the file itself, and
 * shows a `<script>` from a pod message as text without running it. The screenshots are kept in test/artefacts/.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { renderHtml } from '../../src/cli/report/html.ts';
import { buildReport, type ReportInput } from '../../src/cli/report/model.ts';
import { openFile, requireChromium, type OpenedFile } from '../testbed/browser.ts';
import { REPO_ROOT } from '../testbed/paths.ts';
import { GENERATED_AT, INJECTED_SCRIPT, networkChaos, networkEvents, podChaos, podEvents } from '../unit/report-fixtures.ts';

let dir: string;

before(async () => {
  await requireChromium();
  dir = await mkdtemp(join(tmpdir(), 'kerris-report-'));
});

after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function openReport(input: ReportInput): Promise<OpenedFile> {
  const file = join(dir, `${input.experiment.metadata.name ?? 'report'}.html`);
  await writeFile(file, renderHtml(buildReport(input)));
  return openFile(file);
}

/** What a report page must be in any case: drawn, quiet, and closed to the network. */
async function checkPage(opened: OpenedFile, targets: number): Promise<void> {
  const { page } = opened;
  const plot = await page.locator('svg#timeline').boundingBox();
  assert.ok(plot && plot.width > 100 && plot.height > 50, `the plot is drawn: ${JSON.stringify(plot)}`);
  assert.equal(await page.locator('svg#timeline g.series').count(), targets, 'one series per target');
  assert.deepEqual(opened.consoleErrors, [], 'no console error');
  assert.deepEqual(opened.pageErrors, [], 'no page error');
  assert.deepEqual(opened.requests, [opened.url], 'no request but the file itself');
  assert.equal(await page.locator('script').count(), 0, 'no script element');
  // Printed, the plot still shows and nothing is wider than the page.
  await page.emulateMedia({ media: 'print' });
  const printed = await page.locator('svg#timeline').boundingBox();
  assert.ok(printed && printed.width > 100, `the plot prints: ${JSON.stringify(printed)}`);
  const overflow = await page.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth');
  assert.equal(overflow, 0, 'nothing wider than the page when printed');
  await page.emulateMedia({ media: 'screen' });
}

describe('the HTML report in chromium', () => {
  it('NetworkChaos: two targets, one verified with counters, one failed, a dozen Events', async () => {
    const opened = await openReport({ experiment: networkChaos(), events: networkEvents(), generatedAt: GENERATED_AT });
    try {
      await checkPage(opened, 2);
      const { page } = opened;
      assert.deepEqual(await page.locator('svg#timeline g.series').evaluateAll((nodes) => nodes.map((n) => n.getAttribute('data-target'))), ['shop/web-0', 'shop/web-1']);
      const bar = await page.locator('g.series[data-target="shop/web-0"] rect.bar').boundingBox();
      assert.ok(bar && bar.width > 100 && bar.height > 5, `the recovered target's bar spans its 61 s: ${JSON.stringify(bar)}`);
      const failure = await page.locator('g.series[data-target="shop/web-1"] path.failure').boundingBox();
      assert.ok(failure && failure.width > 0, 'the failed target has its mark');
      assert.equal(await page.locator('#events tbody tr').count(), 12);
      // The injected script is shown as text, in the target's row and in the Event's, and never ran.
      assert.ok((await page.locator('#targets').textContent())?.includes(INJECTED_SCRIPT), 'the script is text in the targets table');
      assert.ok((await page.locator('#events').textContent())?.includes(INJECTED_SCRIPT), 'the script is text in the Events');
      assert.equal(await page.evaluate('typeof window.__kerrisInjected'), 'undefined', 'the script did not run');
      await opened.screenshot(join(REPO_ROOT, 'test', 'artefacts', 'report-networkchaos.png'));
    } finally {
      await opened.close();
    }
  });

  it('PodChaos pod-kill: two pods killed and replaced', async () => {
    const opened = await openReport({ experiment: podChaos(), events: podEvents(), generatedAt: GENERATED_AT });
    try {
      await checkPage(opened, 2);
      assert.match((await opened.page.locator('#targets').textContent()) ?? '', /replaced by api-6d8b-q9z/);
      await opened.screenshot(join(REPO_ROOT, 'test', 'artefacts', 'report-podchaos.png'));
    } finally {
      await opened.close();
    }
  });
});
