/**
 * The Prometheus check: an instant query (`GET <url>/api/v1/query`) whose every sample must satisfy the comparison.
 * An empty result is a failure: a query that matches nothing (a target gone, a typo in a label) must not pass.
 * Parsing is pure (judgeQueryResponse), so every shape Prometheus can answer is tested without a server.
 */
import type { ComparisonOperator, PrometheusCheck, PrometheusComparison } from '../../api/generated/types.ts';
import { clip, failure, outcome, type CheckOutcome } from './outcome.ts';
import { RequestFailed, send } from './request.ts';

/** A bigger answer is not a check's: the query selects far more series than a comparison needs. */
export const MAX_ANSWER_BYTES = 4 * 1024 * 1024;

/** One sample of a result: its labels (`{}` for a scalar) and its value. */
export interface Sample {
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

const COMPARE: Readonly<Record<ComparisonOperator, (a: number, b: number) => boolean>> = {
  '<': (a, b) => a < b,
  '<=': (a, b) => a <= b,
  '>': (a, b) => a > b,
  '>=': (a, b) => a >= b,
  '==': (a, b) => a === b,
  '!=': (a, b) => a !== b,
};

/** Prometheus writes sample values as strings, infinities as `+Inf`/`-Inf`, which Number() does not read. */
export function parseSampleValue(text: string): number {
  if (text === '+Inf' || text === 'Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  if (text === 'NaN') return NaN;
  return text.trim() === '' ? NaN : Number(text);
}

/** `probe_success{instance="web:80",job="shop"}`, or the bare value's name for a scalar. */
export function seriesName(labels: Readonly<Record<string, string>>): string {
  const { __name__: name = '', ...rest } = labels;
  const pairs = Object.entries(rest).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k}=${JSON.stringify(v)}`);
  if (name === '' && pairs.length === 0) return '{}';
  return `${name}${pairs.length > 0 ? `{${pairs.join(',')}}` : ''}`;
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** `[<unix time>, "<value>"]`, as Prometheus writes a sample's point. */
function pointValue(point: unknown): number | string {
  if (!Array.isArray(point) || point.length !== 2 || typeof point[1] !== 'string') return 'a point is not [time, "value"]';
  return parseSampleValue(point[1]);
}

/** The samples of a query response's body, or why they cannot be read. */
export function samplesOf(body: unknown): Sample[] | string {
  if (!isRecord(body)) return 'the answer is not a JSON object';
  if (body['status'] === 'error') {
    const type = typeof body['errorType'] === 'string' ? `${body['errorType']}: ` : '';
    return `Prometheus refused the query: ${type}${typeof body['error'] === 'string' ? body['error'] : 'no reason given'}`;
  }
  if (body['status'] !== 'success') return `the answer's status is ${JSON.stringify(body['status'])}, not "success"`;
  const data = body['data'];
  if (!isRecord(data)) return 'the answer has no data object';
  const type = data['resultType'];
  const result = data['result'];
  if (type === 'scalar') {
    const value = pointValue(result);
    return typeof value === 'string' ? value : [{ labels: {}, value }];
  }
  if (type === 'vector') {
    if (!Array.isArray(result)) return 'a vector result is not a list';
    const samples: Sample[] = [];
    for (const entry of result) {
      if (!isRecord(entry) || !isRecord(entry['metric'])) return 'a vector sample has no metric labels';
      const value = pointValue(entry['value']);
      if (typeof value === 'string') return value;
      const labels = Object.fromEntries(Object.entries(entry['metric']).filter((kv): kv is [string, string] => typeof kv[1] === 'string'));
      samples.push({ labels, value });
    }
    return samples;
  }
  return `the result is a ${JSON.stringify(type)}, not a vector or a scalar; an instant query of a range (e.g. [5m]) needs a function such as avg_over_time`;
}

/** Judges the samples: ok when there is at least one and every one satisfies the comparison (NaN never does). */
export function judgeSamples(samples: readonly Sample[], comparison: PrometheusComparison): CheckOutcome {
  const threshold = Number(comparison.value);
  const rule = `${comparison.operator} ${comparison.value}`;
  if (samples.length === 0) return failure('no samples', `the query returned no samples, so nothing shows ${rule}`);
  const compare = COMPARE[comparison.operator];
  const failing = samples.filter((s) => Number.isNaN(s.value) || !compare(s.value, threshold));
  const shown = (s: Sample) => `${seriesName(s.labels)} = ${formatValue(s.value)}`;
  const first = failing[0] ?? samples[0];
  const observed = first === undefined ? '' : (samples.length === 1 ? shown(first) : `${shown(first)} (${samples.length} samples)`);
  if (failing.length === 0) return outcome(true, observed, `every sample (${samples.length}) is ${rule}`);
  const list = clip(failing.slice(0, 5).map(shown).join(', '), 400);
  return failure(observed, `${failing.length} of ${samples.length} samples fail ${rule}: ${list}${failing.length > 5 ? ', …' : ''}`);
}

function formatValue(value: number): string {
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

/** The judgement of a whole response: HTTP status, body and samples. */
export function judgeQueryResponse(status: number, text: string, comparison: PrometheusComparison): CheckOutcome {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return failure(`HTTP ${status}`, `Prometheus answered HTTP ${status} with a body that is not JSON: ${clip(text.trim(), 200)}`);
  }
  const samples = samplesOf(body);
  if (typeof samples === 'string') return failure(status >= 200 && status < 300 ? 'unreadable result' : `HTTP ${status}`, samples);
  if (status < 200 || status >= 300) return failure(`HTTP ${status}`, `Prometheus answered HTTP ${status}`);
  return judgeSamples(samples, comparison);
}

/** `<url>/api/v1/query`, keeping a path prefix the server sits behind. */
export function queryUrl(server: string, query: string): URL {
  const url = new URL(server);
  url.pathname = `${url.pathname.replace(/\/+$/, '')}/api/v1/query`;
  url.search = new URLSearchParams({ query }).toString();
  return url;
}

export async function evaluatePrometheus(check: PrometheusCheck, timeoutMs: number, signal?: AbortSignal): Promise<CheckOutcome> {
  const url = queryUrl(check.url, check.query);
  // Prometheus stops evaluating a query at its own timeout; asking for a little less than ours lets it say so itself.
  url.searchParams.set('timeout', `${Math.max(1, Math.floor(timeoutMs * 0.9))}ms`);
  try {
    const answer = await send(url, { method: 'GET', headers: { accept: ['application/json'] }, timeoutMs, signal, maxBodyBytes: MAX_ANSWER_BYTES });
    return judgeQueryResponse(answer.status, answer.body, check.comparison);
  } catch (error) {
    if (error instanceof RequestFailed) return failure('no response', `GET ${url.origin}${url.pathname}: ${error.reason}`);
    throw error;
  }
}
