/**
 * The report's timeline: one row per target, a bar from injection to recovery, markers for selection, failure and
 * recovery, a time axis and a legend, as inline SVG.
 *
 * Drawn by hand rather than with a charting library: the report must be one file that opens offline under a CSP
 * that forbids scripts, so a library would have to be inlined whole (hundreds of kilobytes of JavaScript) to draw
 * what is a few rects, lines and labels. Static SVG also prints, and needs no script to appear at all.
 */
import { targetName } from '../output.ts';
import { html, type Markup } from './markup.ts';
import { instant, type Report, type TargetTimeline } from './model.ts';
import { calendarDate, clockTime, dateTime, span } from './time.ts';

const WIDTH = 960;
const LABEL_WIDTH = 240;
const RIGHT = 24;
const TOP = 12;
const ROW = 30;
const BAR = 14;
const AXIS = 46;
const LEGEND = 30;
const PLOT_WIDTH = WIDTH - LABEL_WIDTH - RIGHT;
const LABEL_CHARS = 34;

/** Tick steps to choose from, in milliseconds: the smallest that gives at most MAX_TICKS ticks is used. */
const STEPS = [100, 250, 500, 1_000, 2_000, 5_000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000, 600_000, 900_000, 1_800_000,
  3_600_000, 7_200_000, 21_600_000, 43_200_000, 86_400_000, 172_800_000, 604_800_000];
const MAX_TICKS = 8;

interface Window {
  from: number;
  to: number;
}

/** SVG coordinates are rounded to 0.1 so that the same report always renders the same text. */
const num = (n: number): string => String(Math.round(n * 10) / 10);

/** From the first to the last time the report knows, through the report's own time while a fault is held. */
function plotWindow(report: Report): Window | undefined {
  const times = [report.times.startTime, report.times.injectedAt, report.times.recoveredAt,
    ...report.targets.flatMap((t) => [t.selectedAt, t.injectedAt, t.recoveredAt, t.failedAt])]
    .map(instant).filter((t): t is number => t !== undefined);
  const generated = instant(report.generatedAt);
  if (generated !== undefined && report.targets.some((t) => t.stillHeld)) times.push(generated);
  if (times.length === 0) return undefined;
  const first = Math.min(...times);
  const last = Math.max(...times);
  const pad = Math.max((last - first) * 0.03, 500);
  return { from: first - pad, to: last + pad };
}

function stepFor(window: Window): number {
  const length = window.to - window.from;
  return STEPS.find((s) => length / s <= MAX_TICKS) ?? Math.ceil(length / MAX_TICKS / 86_400_000) * 86_400_000;
}

function shortened(text: string): string {
  return text.length <= LABEL_CHARS ? text : `${text.slice(0, LABEL_CHARS - 1)}…`;
}

function series(t: TargetTimeline, row: number, x: (ms: number) => number, window: Window, generated: number): Markup {
  const id = targetName(t);
  const top = TOP + row * ROW;
  const mid = top + ROW / 2;
  const selected = instant(t.selectedAt);
  const injected = instant(t.injectedAt);
  const recovered = instant(t.recoveredAt);
  const failedKnown = instant(t.failedAt);
  const end = recovered ?? (t.stillHeld ? generated : undefined);
  const parts: Markup[] = [];
  parts.push(html`<rect class="row${row % 2 ? ' odd' : ''}" x="0" y="${num(top)}" width="${WIDTH - RIGHT}" height="${ROW}"/>`);
  parts.push(html`<text class="label" x="8" y="${num(mid + 4)}">${shortened(id)}<title>${id}${t.node ? ` on ${t.node}` : ''}: ${t.phase}</title></text>`);
  if (selected !== undefined) parts.push(html`<circle class="selected" cx="${num(x(selected))}" cy="${num(mid)}" r="4"><title>${id} selected ${dateTime(selected)}</title></circle>`);
  if (injected !== undefined && end !== undefined) {
    const left = x(injected);
    const width = Math.max(x(end) - left, 2);
    const what = t.stillHeld ? `held since ${dateTime(injected)} (${span((end - injected) / 1000)} when the report was made)`
      : `injected ${dateTime(injected)}, recovered ${dateTime(end)} (${span((end - injected) / 1000)})`;
    parts.push(html`<rect class="bar ${t.stillHeld ? 'held' : 'recovered'}" x="${num(left)}" y="${num(mid - BAR / 2)}" width="${num(width)}" height="${BAR}" rx="2"><title>${id}: ${what}</title></rect>`);
  } else if (injected !== undefined) {
    parts.push(html`<rect class="bar injected-only" x="${num(x(injected) - 1)}" y="${num(mid - BAR / 2)}" width="2" height="${BAR}"><title>${id} injected ${dateTime(injected)}</title></rect>`);
  }
  if (recovered !== undefined) parts.push(html`<line class="recovered-mark" x1="${num(x(recovered))}" x2="${num(x(recovered))}" y1="${num(mid - BAR / 2 - 3)}" y2="${num(mid + BAR / 2 + 3)}"/>`);
  if (t.phase === 'Failed') {
    // Where the failure is drawn when no Event dates it: at the last thing known of the target.
    const at = failedKnown ?? injected ?? selected ?? window.from;
    const cx = x(at);
    const when = failedKnown !== undefined ? dateTime(failedKnown) : 'time unknown (no Event left)';
    parts.push(html`<path class="failure" d="M${num(cx - 5)} ${num(mid - 5)}L${num(cx + 5)} ${num(mid + 5)}M${num(cx - 5)} ${num(mid + 5)}L${num(cx + 5)} ${num(mid - 5)}"><title>${id} failed, ${when}${t.message ? `: ${t.message}` : ''}</title></path>`);
  }
  return html`<g class="series" data-target="${id}" data-phase="${t.phase}">${parts}</g>`;
}

function axis(window: Window, x: (ms: number) => number, bottom: number): Markup {
  const step = stepFor(window);
  const ticks: number[] = [];
  for (let t = Math.ceil(window.from / step) * step; t <= window.to; t += step) ticks.push(t);
  const millis = step < 1_000;
  const multiDay = calendarDate(window.from) !== calendarDate(window.to);
  return html`<g class="axis">
<line x1="${LABEL_WIDTH}" x2="${WIDTH - RIGHT}" y1="${num(bottom)}" y2="${num(bottom)}"/>
${ticks.map((t) => html`<line class="grid" x1="${num(x(t))}" x2="${num(x(t))}" y1="${TOP}" y2="${num(bottom + 5)}"/><text x="${num(x(t))}" y="${num(bottom + 18)}" text-anchor="middle">${multiDay ? `${calendarDate(t).slice(5)} ` : ''}${clockTime(t, millis)}</text>`)}
<text class="axis-title" x="${LABEL_WIDTH + PLOT_WIDTH / 2}" y="${num(bottom + 36)}" text-anchor="middle">time (UTC) on ${calendarDate(window.from)}${multiDay ? ` to ${calendarDate(window.to)}` : ''}, one tick every ${span(step / 1000)}</text>
</g>`;
}

function legend(y: number): Markup {
  const item = (x: number, mark: Markup, label: string) => html`<g transform="translate(${x} ${num(y)})">${mark}<text x="22" y="4">${label}</text></g>`;
  return html`<g class="legend">
${item(LABEL_WIDTH, html`<circle class="selected" cx="8" cy="0" r="4"/>`, 'selected')}
${item(LABEL_WIDTH + 110, html`<rect class="bar recovered" x="0" y="-7" width="16" height="${BAR}" rx="2"/>`, 'injected → recovered')}
${item(LABEL_WIDTH + 290, html`<rect class="bar held" x="0" y="-7" width="16" height="${BAR}" rx="2"/>`, 'still held at report time')}
${item(LABEL_WIDTH + 490, html`<path class="failure" d="M3 -5L13 5M3 5L13 -5"/>`, 'failed')}
</g>`;
}

/** The timeline as an `<svg id="timeline">` element; with no time recorded yet, a sentence instead of an empty plot. */
export function timelineSvg(report: Report): Markup {
  const window = plotWindow(report);
  const generated = instant(report.generatedAt) ?? 0;
  if (window === undefined) return html`<p class="empty" id="timeline">No time recorded yet: nothing has been selected or injected.</p>`;
  const x = (ms: number) => LABEL_WIDTH + ((ms - window.from) / (window.to - window.from)) * PLOT_WIDTH;
  const rows = Math.max(report.targets.length, 1);
  const bottom = TOP + rows * ROW;
  const height = bottom + AXIS + LEGEND;
  const nowLine = report.targets.some((t) => t.stillHeld)
    ? html`<g class="now"><line x1="${num(x(generated))}" x2="${num(x(generated))}" y1="${TOP}" y2="${num(bottom)}"/><text x="${num(x(generated) - 4)}" y="${TOP + 10}" text-anchor="end">report</text></g>`
    : undefined;
  const empty = report.targets.length === 0 ? html`<text class="empty" x="${LABEL_WIDTH + 8}" y="${TOP + ROW / 2 + 4}">no target records</text>` : undefined;
  return html`<svg id="timeline" viewBox="0 0 ${WIDTH} ${num(height)}" width="${WIDTH}" height="${num(height)}" role="img" aria-label="timeline of ${report.targets.length} target(s)">
${axis(window, x, bottom)}
${report.targets.map((t, i) => series(t, i, x, window, generated))}
${empty}
${nowLine}
${legend(bottom + AXIS + LEGEND / 2)}
</svg>`;
}
