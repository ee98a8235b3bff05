/**
 * The report as one self-contained HTML file: inline CSS, the timeline as inline SVG (timeline-svg.ts), no script,
 * and nothing fetched from anywhere, so it opens offline, in a mail attachment or from a CI artefact store alike.
 * The Content-Security-Policy forbids every fetch and every script, so even a mistake in escaping could not run
 * a `<script>` smuggled into a pod message or an Event; markup.ts escapes all text in the first place.
 */
import { html, Markup, type Part } from './markup.ts';
import { formatBytes } from '../../util/bytes.ts';
import { targetName } from '../output.ts';
import { instant, type EventLine, type Report, type TargetEffect, type TargetTimeline } from './model.ts';
import { calendarDate, clockTime, dateTime, span } from './time.ts';
import { timelineSvg } from './timeline-svg.ts';

const CSP = 'default-src \'none\'; style-src \'unsafe-inline\'; img-src data:';

const STYLE = `
:root { --ok: #1a7f37; --held: #c76f00; --bad: #cf222e; --muted: #57606a; --line: #d0d7de; --band: #f6f8fa; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: #1f2328; margin: 0 auto; max-width: 1040px; padding: 24px; }
h1 { font-size: 22px; margin: 0 0 4px; word-break: break-all; }
h2 { font-size: 17px; border-bottom: 1px solid var(--line); padding-bottom: 4px; margin: 28px 0 10px; }
h3 { font-size: 14px; margin: 16px 0 6px; }
.kind { color: var(--muted); font-weight: normal; }
.verdict { display: inline-block; font-weight: 600; padding: 4px 10px; border-radius: 6px; border: 1px solid; margin: 6px 0; }
.outcome-Recovered, .effect-Verified { color: var(--ok); border-color: var(--ok); }
.outcome-Running, .outcome-Paused, .outcome-Recovering, .outcome-Pending, .outcome-DryRun, .outcome-Aborted, .effect-Unmeasured { color: var(--held); border-color: var(--held); }
.outcome-PartlyFailed, .outcome-Failed, .outcome-Unknown, .effect-NotVerified { color: var(--bad); border-color: var(--bad); }
dl.summary { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 0; }
dl.summary dt { color: var(--muted); }
dl.summary dd { margin: 0; overflow-wrap: anywhere; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { text-align: left; vertical-align: top; padding: 4px 8px; border-bottom: 1px solid var(--line); overflow-wrap: break-word; }
th { background: var(--band); font-weight: 600; white-space: nowrap; }
td time, td.num, td.nowrap { white-space: nowrap; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.phase-Recovered, .Verified, .status-True { color: var(--ok); }
.phase-Injected, .phase-Selected, .Unmeasured { color: var(--held); }
.phase-Failed, .NotVerified, .type-Warning { color: var(--bad); font-weight: 600; }
.muted, .empty { color: var(--muted); }
.plot { overflow-x: auto; }
svg { max-width: 100%; height: auto; font-size: 12px; }
svg text { fill: #1f2328; }
svg .row { fill: #fff; }
svg .row.odd { fill: var(--band); }
svg .grid { stroke: var(--line); stroke-width: 1; }
svg .axis > line { stroke: var(--muted); }
svg .axis text, svg .axis-title { fill: var(--muted); font-size: 11px; }
svg .bar.recovered { fill: var(--ok); }
svg .bar.held { fill: var(--held); }
svg .bar.injected-only { fill: var(--muted); }
svg .selected { fill: #fff; stroke: #0969da; stroke-width: 2; }
svg .recovered-mark { stroke: #0b4f22; stroke-width: 2; }
svg .failure { stroke: var(--bad); stroke-width: 3; fill: none; stroke-linecap: round; }
svg .now line { stroke: var(--muted); stroke-dasharray: 4 3; }
svg .now text { fill: var(--muted); font-size: 11px; }
footer { margin-top: 32px; color: var(--muted); font-size: 12px; }
@media print {
  body { max-width: none; padding: 0; font-size: 11px; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  tr, svg, dl.summary, .effect > table { break-inside: avoid; }
  h2 { break-after: avoid; }
  .plot { overflow: visible; }
}
`;

/**
 * A time for a table cell: `<time>` with the instant as written and its full UTC form as a tooltip, shown as the
 * clock time alone on the report's day (tables stay narrow) and with its date on any other; a dash when absent.
 */
function when(time: string | undefined, day?: string): Markup {
  const ms = instant(time);
  if (time === undefined) return html`<span class="muted">–</span>`;
  if (ms === undefined) return html`${time}`;
  const full = dateTime(ms);
  return html`<time datetime="${time}" title="${full}">${day !== undefined && calendarDate(ms) === day ? clockTime(ms, true) : full}</time>`;
}

/** The day the report's tables give clock times on: the experiment's start, else its creation, else the report's. */
function reportDay(report: Report): string {
  const ms = instant(report.times.startTime) ?? instant(report.times.createdAt) ?? instant(report.generatedAt) ?? 0;
  return calendarDate(ms);
}

function row(label: string, value: Part): Markup {
  return html`<dt>${label}</dt><dd>${value}</dd>`;
}

function summary(report: Report): Markup {
  const { experiment: e, spec, counts, times } = report;
  return html`<section id="summary"><h2>Summary</h2><dl class="summary">
${row('experiment', `${e.kind} ${e.namespace}/${e.name}`)}
${row('uid', e.uid || '–')}
${row('phase', report.phase)}
${row('outcome', html`<span class="outcome-${report.verdict.outcome}">${report.verdict.outcome}</span>: ${report.verdict.summary}`)}
${report.result ? row('verdict', `${report.result.verdict}, resilience score ${report.result.score}/100: ${report.result.reason}`) : undefined}
${report.verdict.effect ? row('measured effect', html`<span class="${report.verdict.effect}">${report.verdict.effect}</span>`) : undefined}
${row('action', spec.action)}
${row('mode', spec.value ? `${spec.mode} ${spec.value}` : spec.mode)}
${row('selector', spec.selector)}
${row('duration', spec.duration ?? (spec.action === 'pod-kill' || spec.action === 'container-kill' ? 'until its targets recover' : 'until deleted or aborted'))}
${spec.asked.map((a) => row(a.field, a.value))}
${spec.seed !== undefined ? row('seed', String(spec.seed)) : undefined}
${spec.dryRun ? row('dry run', 'yes: targets picked, nothing injected') : undefined}
${spec.paused ? row('paused', 'yes') : undefined}
${row('targets', `${counts.selected} selected, ${counts.injected} injected now, ${counts.recovered} recovered, ${counts.failed} failed${counts.untracked > 0 ? ` (${counts.untracked} without a record of their own)` : ''}`)}
${row('created', when(times.createdAt))}
${row('started', when(times.startTime))}
${row('first injected', when(times.injectedAt))}
${row('last recovered', when(times.recoveredAt))}
${times.pausedSeconds ? row('time paused', span(times.pausedSeconds)) : undefined}
</dl></section>`;
}

function plot(report: Report): Markup {
  return html`<section id="plot"><h2>Timeline</h2><div class="plot">${timelineSvg(report)}</div></section>`;
}

function targetDetails(t: TargetTimeline): Markup {
  const restarts = t.restartCounts ? Object.entries(t.restartCounts).map(([c, n]) => `${c}: ${n}`).join(', ') : undefined;
  return html`${t.message ?? ''}${t.replacedBy && !(t.message ?? '').includes(t.replacedBy) ? html`<div class="muted">replaced by ${t.replacedBy}</div>` : undefined}${t.owner ? html`<div class="muted">owner ${t.owner}</div>` : undefined}${t.containers ? html`<div class="muted">containers ${t.containers.join(', ')}${restarts ? ` (restarts at injection: ${restarts})` : ''}</div>` : undefined}`;
}

function targets(report: Report): Markup {
  const day = reportDay(report);
  const body = report.targets.map((t) => html`<tr data-target="${targetName(t)}">
<td>${targetName(t)}</td><td>${t.node ?? '–'}</td><td class="nowrap phase-${t.phase}">${t.phase}</td>
<td>${when(t.selectedAt, day)}</td><td>${when(t.injectedAt, day)}</td><td>${when(t.recoveredAt, day)}</td><td>${when(t.failedAt, day)}</td>
<td class="num">${t.heldSeconds !== undefined ? `${span(t.heldSeconds)}${t.stillHeld ? ' so far' : ''}` : '–'}</td><td>${targetDetails(t)}</td></tr>`);
  const untracked = report.counts.untracked > 0 ? html`<p class="muted">${report.counts.untracked} more target(s) are counted in the summary but have no record of their own (status keeps at most 100).</p>` : undefined;
  return html`<section id="targets"><h2>Targets</h2>${report.targets.length === 0 ? html`<p class="empty">No target records.</p>` : html`<table>
<thead><tr><th>target</th><th>node</th><th>phase</th><th>selected</th><th>injected</th><th>recovered</th><th>failed</th><th>held</th><th>details</th></tr></thead>
<tbody>${body}</tbody></table>`}${untracked}</section>`;
}

const count = (n: number | undefined): string => (n === undefined ? '–' : n.toLocaleString('en-US'));

function targetEffect(t: TargetEffect): Markup {
  const v = t.verification;
  const verification = v ? html`<table class="verification"><tbody>
<tr><th>verdict</th><td class="${v.verdict}">${v.verdict}</td></tr>
<tr><th>configured</th><td>${v.configured ?? '–'}</td></tr>
<tr><th>measured</th><td>${v.measured ?? '–'}</td></tr>
${v.message ? html`<tr><th>how</th><td>${v.message}</td></tr>` : undefined}
</tbody></table>` : html`<p class="muted">Not verified (spec.verify is off).</p>`;
  const e = t.evidence;
  const evidence = e ? html`<p class="muted">Kernel counters read in the target's network namespace at ${when(e.observedAt)}:</p><table class="evidence">
<thead><tr><th>device</th><th>direction</th><th>kind</th><th>fault</th><th>packets</th><th>bytes</th><th>dropped</th><th>overlimits</th></tr></thead>
<tbody>${e.counters.map((c) => html`<tr><td>${c.device}</td><td>${c.direction}</td><td>${c.kind}</td><td>${c.fault}</td><td class="num">${count(c.packets)}</td><td class="num">${count(c.bytes)}</td><td class="num">${count(c.dropped)}</td><td class="num">${count(c.overlimits)}</td></tr>`)}</tbody></table>` : html`<p class="muted">No kernel counters recorded.</p>`;
  return html`<div class="effect" data-target="${t.target}"><h3>${t.target}</h3>${verification}${evidence}</div>`;
}

/** StressChaos: what the target's cgroup showed before the stressors started and while they ran. */
function stressEffect(t: TargetEffect): Markup {
  const s = t.stress;
  const usage = s ? html`<p class="muted">Read from the container's cgroup at ${when(s.observedAt)}; ${count(s.stressors)} stressor process(es) alive.</p><table class="evidence">
<thead><tr><th></th><th>CPU (millicores)</th><th>memory working set</th></tr></thead>
<tbody><tr><th>before</th><td class="num">${count(s.before.cpuMillicores)}</td><td class="num">${formatBytes(s.before.memoryWorkingSetBytes)}</td></tr>
<tr><th>during</th><td class="num">${count(s.during.cpuMillicores)}</td><td class="num">${formatBytes(s.during.memoryWorkingSetBytes)}</td></tr></tbody></table>` : html`<p class="muted">No reading of the container's cgroup recorded.</p>`;
  return html`<div class="effect" data-target="${t.target}"><h3>${t.target}</h3>${usage}</div>`;
}

/** NodeChaos: what kerris changed on the node and restores, the pods a drain evicted and where their replacements went. */
function nodeEffect(t: TargetEffect): Markup {
  const f = t.nodeFault;
  if (f === undefined) return html`<div class="effect" data-target="${t.target}"><h3>${t.target}</h3><p class="muted">No record of a change on the node.</p></div>`;
  const changed = f.taint ? `taint ${f.taint.key}${f.taint.value ? `=${f.taint.value}` : ''}:${f.taint.effect} added, removed exactly at the end`
    : f.cordoned ? 'cordoned by kerris, uncordoned at the end' : f.wasUnschedulable ? 'already cordoned before; left cordoned'
    : f.kubeletStopped ? html`kubelet stopped by the node's kerris daemon${f.undoneAt ? html`, continued ${when(f.undoneAt)}` : undefined}`
    : f.network ? html`${f.network}, by the node's kerris daemon${f.endedByNode ? html`, ended by the daemon itself (seen ${when(f.endedByNode)})` : f.undoneAt ? html`, taken away ${when(f.undoneAt)}` : undefined}` : '–';
  const evicted = f.evicted?.length ? html`<table class="evidence">
<thead><tr><th>evicted pod</th><th>at</th><th>replaced by</th><th>on node</th></tr></thead>
<tbody>${f.evicted.map((e) => html`<tr><td>${e.namespace}/${e.name}</td><td>${when(e.evictedAt)}</td><td>${e.replacedBy ?? '–'}</td><td>${e.replacementNode ?? '–'}</td></tr>`)}</tbody></table>` : undefined;
  return html`<div class="effect" data-target="${t.target}"><h3>${t.target}</h3><dl class="summary">
${row('change', changed)}
${f.evicted !== undefined || f.remaining !== undefined ? row('evicted', `${count((f.evicted?.length ?? 0) + (f.evictedTruncated ?? 0))} pod(s)${f.remaining ? `, ${count(f.remaining)} still to go` : ''}`) : undefined}
${f.refusals ? row('budget refusals', `${count(f.refusals)} (HTTP 429, asked again)${f.lastRefusal ? `; last: ${f.lastRefusal}` : ''}`) : undefined}
${f.notReadyAt ? row('NotReady', when(f.notReadyAt)) : undefined}
${f.readyAt ? row('Ready again', when(f.readyAt)) : undefined}
</dl>${evicted}${f.evictedTruncated ? html`<p class="muted">${count(f.evictedTruncated)} more evicted pod(s) beyond those listed.</p>` : undefined}</div>`;
}

function effect(report: Report): Markup {
  const e = report.effect;
  if (e === undefined) {
    const why = report.experiment.kind === 'PodChaos'
      ? 'PodChaos records its proof per target (replacement, restart counts, times) in the targets table.'
      : 'Nothing was measured.';
    return html`<section id="effect"><h2>Measured against configured</h2><p class="empty">${why}</p></section>`;
  }
  if (report.experiment.kind === 'NodeChaos') {
    return html`<section id="effect"><h2>What was done to each node</h2>${e.targets.length === 0 ? html`<p class="empty">No node has a record yet.</p>` : e.targets.map(nodeEffect)}</section>`;
  }
  if (report.experiment.kind === 'StressChaos') {
    return html`<section id="effect"><h2>Measured against configured</h2>${e.targets.length === 0 ? html`<p class="empty">No target has a reading yet.</p>` : e.targets.map(stressEffect)}</section>`;
  }
  return html`<section id="effect"><h2>Measured against configured</h2><dl class="summary">
${row('expected round trip', e.expectedRtt ?? '–')}
${row('peer addresses', e.peers === undefined ? 'every peer' : String(e.peers))}
${e.resolved?.length ? row('resolved', e.resolved.map((r) => `${r.host} → ${r.addresses.join(', ') || 'nothing'}`).join('; ')) : undefined}
</dl>${e.targets.length === 0 ? html`<p class="empty">No target has evidence or verification yet.</p>` : e.targets.map(targetEffect)}</section>`;
}

function guards(report: Report): Markup | undefined {
  if (report.guards.length === 0) return undefined;
  const day = reportDay(report);
  return html`<section id="guards"><h2>Guards</h2><table>
<thead><tr><th>guard</th><th>state</th><th>passed</th><th>last seen</th><th>since</th></tr></thead>
<tbody>${report.guards.map((g) => html`<tr><td class="nowrap">${g.name}</td><td class="nowrap">${g.state}</td><td class="num">${g.passed} of ${g.checks}</td><td>${g.observed ?? '–'}${g.message ? html` <span class="muted">(${g.message})</span>` : undefined}</td><td>${when(g.since, day)}</td></tr>`)}</tbody></table></section>`;
}

function conditions(report: Report): Markup {
  const day = reportDay(report);
  return html`<section id="conditions"><h2>Conditions</h2>${report.conditions.length === 0 ? html`<p class="empty">No conditions.</p>` : html`<table>
<thead><tr><th>type</th><th>status</th><th>reason</th><th>message</th><th>since</th></tr></thead>
<tbody>${report.conditions.map((c) => html`<tr><td class="nowrap">${c.type}</td><td class="nowrap status-${c.status}">${c.status}</td><td class="nowrap">${c.reason}</td><td>${c.message}</td><td>${when(c.lastTransitionTime, day)}</td></tr>`)}</tbody></table>`}</section>`;
}

function eventRow(e: EventLine, day: string): Markup {
  return html`<tr><td>${when(e.firstTimestamp, day)}</td><td>${e.count > 1 ? html`${when(e.lastTimestamp, day)}` : html`<span class="muted">–</span>`}</td><td class="num">${e.count}</td><td class="nowrap type-${e.type}">${e.type}</td><td class="nowrap">${e.reason}</td><td>${e.message}</td></tr>`;
}

function events(report: Report): Markup {
  const other = report.eventsOfOtherObjects > 0 ? html`<p class="muted">${report.eventsOfOtherObjects} Event(s) of an earlier object with the same name are left out.</p>` : undefined;
  return html`<section id="events"><h2>Events</h2>${report.events.length === 0 ? html`<p class="empty">No Events (the apiserver keeps them for an hour by default).</p>` : html`<table>
<thead><tr><th>first</th><th>last</th><th>count</th><th>type</th><th>reason</th><th>message</th></tr></thead>
<tbody>${report.events.map((e) => eventRow(e, reportDay(report)))}</tbody></table>`}${other}</section>`;
}

/** The whole report page. Pure: the same report gives the same text. */
export function renderHtml(report: Report): string {
  const { experiment: e } = report;
  const generated = instant(report.generatedAt);
  const page = html`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="kubectl kerris report (${report.apiVersion})">
<title>kerris report: ${e.kind} ${e.namespace}/${e.name}</title>
<style>${new Markup(STYLE)}</style>
</head>
<body>
<header><h1><span class="kind">${e.kind}</span> ${e.namespace}/${e.name}</h1>
<div class="verdict outcome-${report.verdict.outcome}">${report.verdict.outcome}: ${report.verdict.summary}</div>
${report.verdict.effect ? html` <div class="verdict effect-${report.verdict.effect}">effect ${report.verdict.effect}</div>` : undefined}
<p class="muted">All times are UTC; the tables give clock times alone on ${reportDay(report)}.</p></header>
${summary(report)}
${plot(report)}
${targets(report)}
${effect(report)}
${guards(report)}
${conditions(report)}
${events(report)}
<footer>Report made ${generated === undefined ? report.generatedAt : dateTime(generated)} by kubectl kerris report; the same data: <code>kubectl kerris report ${e.name} -n ${e.namespace} -o json</code>.</footer>
</body>
</html>
`;
  return page.html;
}
