/**
 * Kubernetes resource quantities (`128Mi`, `1G`, `1.5Gi`, `2e9`) as numbers, for the memory sizes kerris works out
 * from a container's limit or a node's capacity. Exact for every whole number of bytes below 2^53.
 */
const SUFFIXES: Readonly<Record<string, number>> = {
  '': 1, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
  Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60,
};

const QUANTITY = /^([+-]?)([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:([eE][+-]?[0-9]+)|(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E)?)$/;

/** The quantity's value, or undefined for text the apiserver would not have accepted as one. */
export function parseQuantity(text: string): number | undefined {
  const match = QUANTITY.exec(text.trim());
  if (match === null) return undefined;
  const [, sign, digits, exponent, suffix] = match;
  const value = Number(`${digits}${exponent ?? ''}`) * (SUFFIXES[suffix ?? ''] ?? 1);
  return sign === '-' ? -value : value;
}
