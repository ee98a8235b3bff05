/** How the CLI prints: kubectl's `-o` formats, aligned tables, and ages as kubectl shows them. */
import { stringify } from 'yaml';
import { UsageError } from './errors.ts';

export type ListFormat = 'table' | 'wide' | 'json' | 'yaml';

export function listFormat(value: string | undefined, allowed: readonly ListFormat[] = ['table', 'wide', 'json', 'yaml']): ListFormat {
  const format = value ?? 'table';
  if (!(allowed as readonly string[]).includes(format)) throw new UsageError(`-o ${format} is not one of ${allowed.join(', ')}`);
  return format as ListFormat;
}

/** Columns padded to their widest cell, three spaces apart, headers in capitals: kubectl's table. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('   ').trimEnd();
  return [line(headers.map((h) => h.toUpperCase())), ...rows.map(line)].join('\n') + '\n';
}

/**
 * A target as people read it: `namespace/name` for a pod, `node/<name>` for a node, whose record has an empty
 * namespace since nodes are cluster-scoped (NodeChaos).
 */
export function targetName(target: { readonly namespace: string; readonly name: string }): string {
  return target.namespace === '' ? `node/${target.name}` : `${target.namespace}/${target.name}`;
}

/** A value as `-o json` or `-o yaml` prints it. */
export function serialise(value: unknown, format: 'json' | 'yaml'): string {
  return format === 'json' ? `${JSON.stringify(value, null, 2)}\n` : stringify(value, { lineWidth: 0 });
}

/** An age as kubectl prints it: 45s, 12m, 3h, 5d; `<unknown>` without a time. */
export function age(time: string | undefined, now: number): string {
  if (!time) return '<unknown>';
  const seconds = Math.max(0, Math.floor((now - Date.parse(time)) / 1000));
  if (seconds < 120) return `${seconds}s`;
  if (seconds < 7200) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 172_800) return `${Math.floor(seconds / 3600)}h`;
  return `${Math.floor(seconds / 86_400)}d`;
}
