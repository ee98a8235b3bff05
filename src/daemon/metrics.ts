/** Prometheus metrics of the daemon, in the text exposition format; no client library needed for this few. */

type Labels = Readonly<Record<string, string>>;

function labelText(labels: Labels): string {
  const entries = Object.entries(labels);
  if (entries.length === 0) return '';
  return `{${entries.map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')}"`).join(',')}}`;
}

function key(labels: Labels): string {
  return JSON.stringify(Object.entries(labels).sort());
}

interface Metric {
  render(): string;
}

export class Counter implements Metric {
  private readonly values = new Map<string, { labels: Labels; value: number }>();
  readonly name: string;
  readonly help: string;
  constructor(name: string, help: string) {
    this.name = name;
    this.help = help;
  }
  inc(labels: Labels = {}, by = 1): void {
    const k = key(labels);
    const entry = this.values.get(k) ?? { labels, value: 0 };
    entry.value += by;
    this.values.set(k, entry);
  }
  get(labels: Labels = {}): number {
    return this.values.get(key(labels))?.value ?? 0;
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    for (const { labels, value } of this.values.values()) lines.push(`${this.name}${labelText(labels)} ${value}`);
    return lines.join('\n');
  }
}

/** A gauge read when scraped, so it can never drift from the state it reports. */
export class Gauge implements Metric {
  readonly name: string;
  readonly help: string;
  private readonly read: () => ReadonlyArray<{ labels: Labels; value: number }>;
  constructor(name: string, help: string, read: () => ReadonlyArray<{ labels: Labels; value: number }>) {
    this.name = name;
    this.help = help;
    this.read = read;
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} gauge`];
    for (const { labels, value } of this.read()) lines.push(`${this.name}${labelText(labels)} ${value}`);
    return lines.join('\n');
  }
}

export class Histogram implements Metric {
  readonly name: string;
  readonly help: string;
  readonly buckets: readonly number[];
  private readonly series = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();
  constructor(name: string, help: string, buckets: readonly number[]) {
    this.name = name;
    this.help = help;
    this.buckets = [...buckets].sort((a, b) => a - b);
  }
  observe(labels: Labels, value: number): void {
    const k = key(labels);
    const s = this.series.get(k) ?? { labels, counts: this.buckets.map(() => 0), sum: 0, count: 0 };
    this.buckets.forEach((bound, i) => { if (value <= bound) s.counts[i] = (s.counts[i] ?? 0) + 1; });
    s.sum += value;
    s.count += 1;
    this.series.set(k, s);
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const s of this.series.values()) {
      this.buckets.forEach((bound, i) => lines.push(`${this.name}_bucket${labelText({ ...s.labels, le: String(bound) })} ${s.counts[i] ?? 0}`));
      lines.push(`${this.name}_bucket${labelText({ ...s.labels, le: '+Inf' })} ${s.count}`);
      lines.push(`${this.name}_sum${labelText(s.labels)} ${s.sum}`);
      lines.push(`${this.name}_count${labelText(s.labels)} ${s.count}`);
    }
    return lines.join('\n');
  }
}

export class Registry {
  private readonly metrics: Metric[] = [];
  add<M extends Metric>(metric: M): M {
    this.metrics.push(metric);
    return metric;
  }
  render(): string {
    return `${this.metrics.map((m) => m.render()).join('\n')}\n`;
  }
}

/** The daemon's metrics; `active` is wired to the injection table by whoever owns it. */
export interface DaemonMetrics {
  registry: Registry;
  applied: Counter;
  failed: Counter;
  recovered: Counter;
  reapplied: Counter;
  notReapplied: Counter;
  leaseExpiries: Counter;
  journalDamaged: Counter;
  rpcSeconds: Histogram;
}

export function daemonMetrics(activeInjections: () => ReadonlyArray<{ labels: Labels; value: number }>): DaemonMetrics {
  const registry = new Registry();
  registry.add(new Gauge('kerris_daemon_injections_active', 'Injections in force on this node, by fault kind and phase.', activeInjections));
  registry.add(new Gauge('process_resident_memory_bytes', 'Resident memory of the daemon.', () => [{ labels: {}, value: process.memoryUsage.rss() }]));
  registry.add(new Gauge('nodejs_heap_used_bytes', 'V8 heap in use.', () => [{ labels: {}, value: process.memoryUsage().heapUsed }]));
  return {
    registry,
    applied: registry.add(new Counter('kerris_daemon_injections_applied_total', 'Injections applied, by fault kind.')),
    failed: registry.add(new Counter('kerris_daemon_injections_failed_total', 'Injections or recoveries that failed, by fault kind and operation.')),
    recovered: registry.add(new Counter('kerris_daemon_injections_recovered_total', 'Injections reverted, by reason (request, lease-expired, reconcile).')),
    reapplied: registry.add(new Counter('kerris_daemon_injections_reapplied_total', 'Faults put again on a container that restarted.')),
    notReapplied: registry.add(new Counter('kerris_daemon_injections_not_reapplied_total', 'Restarted containers whose fault could not be put back.')),
    leaseExpiries: registry.add(new Counter('kerris_daemon_lease_expiries_total', 'Leases that expired, each reverting its holder\'s injections.')),
    journalDamaged: registry.add(new Counter('kerris_daemon_journal_damaged_total', 'Journal files set aside at start-up as unusable, by kind (empty, torn, invalid, unsafe-plan, unreadable, leases, unwritable).')),
    rpcSeconds: registry.add(new Histogram('kerris_daemon_rpc_duration_seconds', 'gRPC call latency, by method and status.',
      [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5])),
  };
}
