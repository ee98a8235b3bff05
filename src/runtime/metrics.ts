/**
 * A small Prometheus registry: counters, gauges and histograms with labels,
 * rendered in the text exposition format (version 0.0.4).
 */

export type Labels = Readonly<Record<string, string>>;

export const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export const DEFAULT_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export interface MetricSpec {
  name: string;
  help: string;
  labelNames?: readonly string[];
}

type MetricType = 'counter' | 'gauge' | 'histogram';

abstract class Metric<S> {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  protected readonly series = new Map<string, { labels: Labels; value: S }>();
  abstract readonly type: MetricType;

  constructor(spec: MetricSpec) {
    if (!METRIC_NAME.test(spec.name)) throw new Error(`metric name ${JSON.stringify(spec.name)} is not valid`);
    for (const label of spec.labelNames ?? []) {
      if (!LABEL_NAME.test(label) || label.startsWith('__') || label === 'le') throw new Error(`${spec.name}: label name ${JSON.stringify(label)} is not valid`);
    }
    this.name = spec.name;
    this.help = spec.help;
    this.labelNames = spec.labelNames ?? [];
  }

  protected slot(labels: Labels, initial: () => S): { labels: Labels; value: S } {
    const given = Object.keys(labels);
    if (given.length !== this.labelNames.length || !this.labelNames.every((l) => typeof labels[l] === 'string')) {
      throw new Error(`${this.name}: labels ${JSON.stringify(given)} differ from the declared ${JSON.stringify(this.labelNames)}`);
    }
    const key = JSON.stringify(this.labelNames.map((l) => labels[l]));
    let entry = this.series.get(key);
    if (!entry) {
      entry = { labels: Object.fromEntries(this.labelNames.map((l) => [l, labels[l] ?? ''])), value: initial() };
      this.series.set(key, entry);
    }
    return entry;
  }

  render(): string {
    const lines = [`# HELP ${this.name} ${escapeHelp(this.help)}`, `# TYPE ${this.name} ${this.type}`];
    for (const { labels, value } of this.series.values()) lines.push(...this.renderSeries(labels, value));
    return `${lines.join('\n')}\n`;
  }

  protected abstract renderSeries(labels: Labels, value: S): string[];
}

export class Counter extends Metric<{ n: number }> {
  readonly type = 'counter';

  inc(labels: Labels = {}, amount = 1): void {
    if (!(amount >= 0)) throw new RangeError(`${this.name}: a counter only goes up (got ${amount})`);
    this.slot(labels, () => ({ n: 0 })).value.n += amount;
  }

  get(labels: Labels = {}): number {
    return this.slot(labels, () => ({ n: 0 })).value.n;
  }

  protected renderSeries(labels: Labels, value: { n: number }): string[] {
    return [`${this.name}${formatLabels(labels)} ${formatValue(value.n)}`];
  }
}

export class Gauge extends Metric<{ n: number }> {
  readonly type = 'gauge';

  set(labels: Labels, value: number): void {
    this.slot(labels, () => ({ n: 0 })).value.n = value;
  }

  inc(labels: Labels = {}, amount = 1): void {
    this.slot(labels, () => ({ n: 0 })).value.n += amount;
  }

  get(labels: Labels = {}): number {
    return this.slot(labels, () => ({ n: 0 })).value.n;
  }

  protected renderSeries(labels: Labels, value: { n: number }): string[] {
    return [`${this.name}${formatLabels(labels)} ${formatValue(value.n)}`];
  }
}

interface HistogramState {
  counts: number[];
  sum: number;
  count: number;
}

export class Histogram extends Metric<HistogramState> {
  readonly type = 'histogram';
  readonly buckets: readonly number[];

  constructor(spec: MetricSpec & { buckets?: readonly number[] }) {
    super(spec);
    const buckets = spec.buckets ?? DEFAULT_BUCKETS;
    if (buckets.length === 0 || buckets.some((b, i) => !Number.isFinite(b) || (i > 0 && b <= (buckets[i - 1] ?? -Infinity)))) {
      throw new Error(`${spec.name}: buckets must be finite and strictly increasing`);
    }
    this.buckets = buckets;
  }

  observe(labels: Labels, value: number): void {
    const state = this.slot(labels, () => ({ counts: this.buckets.map(() => 0), sum: 0, count: 0 })).value;
    const index = this.buckets.findIndex((upper) => value <= upper);
    if (index >= 0) state.counts[index] = (state.counts[index] ?? 0) + 1;
    state.sum += value;
    state.count += 1;
  }

  /** Observations and their sum, for tests and logs. */
  get(labels: Labels = {}): { count: number; sum: number } {
    const { count, sum } = this.slot(labels, () => ({ counts: this.buckets.map(() => 0), sum: 0, count: 0 })).value;
    return { count, sum };
  }

  protected renderSeries(labels: Labels, state: HistogramState): string[] {
    const lines: string[] = [];
    let cumulative = 0;
    this.buckets.forEach((upper, i) => {
      cumulative += state.counts[i] ?? 0;
      lines.push(`${this.name}_bucket${formatLabels({ ...labels, le: formatValue(upper) })} ${cumulative}`);
    });
    lines.push(`${this.name}_bucket${formatLabels({ ...labels, le: '+Inf' })} ${state.count}`);
    lines.push(`${this.name}_sum${formatLabels(labels)} ${formatValue(state.sum)}`);
    lines.push(`${this.name}_count${formatLabels(labels)} ${state.count}`);
    return lines;
  }
}

export class Registry {
  readonly #metrics = new Map<string, { render(): string }>();

  counter(spec: MetricSpec): Counter {
    return this.#register(new Counter(spec));
  }

  gauge(spec: MetricSpec): Gauge {
    return this.#register(new Gauge(spec));
  }

  histogram(spec: MetricSpec & { buckets?: readonly number[] }): Histogram {
    return this.#register(new Histogram(spec));
  }

  /** Every metric in the text exposition format. */
  render(): string {
    return [...this.#metrics.values()].map((m) => m.render()).join('');
  }

  #register<M extends { name: string; render(): string }>(metric: M): M {
    if (this.#metrics.has(metric.name)) throw new Error(`metric ${metric.name} is already registered`);
    this.#metrics.set(metric.name, metric);
    return metric;
  }
}

export function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

function formatLabels(labels: Labels): string {
  const entries = Object.entries(labels);
  if (entries.length === 0) return '';
  return `{${entries.map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(',')}}`;
}

const escapeLabelValue = (value: string): string => value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
const escapeHelp = (help: string): string => help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
