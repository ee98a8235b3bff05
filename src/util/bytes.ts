/** Byte counts for people. */

/** Bytes in the largest binary unit that keeps them whole to a tenth, e.g. `64MiB`, `1.5GiB`. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${Number.isInteger(value) ? value : value.toFixed(1)}${units[unit] ?? ''}`;
}
