/**
 * The few DER encodings an X.509 certificate needs (ITU-T X.690). Only writes:
 * node:crypto parses certificates, and kerris never has to read foreign DER.
 */

export class DerError extends Error {
  override name = 'DerError';
}

/** Definite-length octets: short form below 128, else 0x80|n and n big-endian bytes. */
export function encodeLength(length: number): Buffer {
  if (!Number.isSafeInteger(length) || length < 0) throw new DerError(`DER length ${length} is not a non-negative integer`);
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest % 256);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/** One tag-length-value. */
export function tlv(tag: number, ...content: readonly Buffer[]): Buffer {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), encodeLength(body.length), body]);
}

export const sequence = (...items: readonly Buffer[]): Buffer => tlv(0x30, ...items);
export const set = (...items: readonly Buffer[]): Buffer => tlv(0x31, ...items);
export const octetString = (bytes: Buffer): Buffer => tlv(0x04, bytes);
export const utf8String = (text: string): Buffer => tlv(0x0c, Buffer.from(text, 'utf8'));
export const boolean = (value: boolean): Buffer => tlv(0x01, Buffer.from([value ? 0xff : 0x00]));
/** [n] EXPLICIT: the whole encoding of the inner value, wrapped. */
export const explicit = (n: number, inner: Buffer): Buffer => tlv(0xa0 | n, inner);
/** [n] IMPLICIT over a primitive type: the inner type's content under a context tag. */
export const implicitPrimitive = (n: number, content: Buffer): Buffer => tlv(0x80 | n, content);

/** A non-negative INTEGER from its big-endian magnitude: minimal, with a 0x00 first when the top bit would read as a sign. */
export function unsignedInteger(magnitude: Buffer): Buffer {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start += 1;
  const bytes = magnitude.subarray(start);
  if (bytes.length === 0) return tlv(0x02, Buffer.from([0]));
  return (bytes[0] ?? 0) & 0x80 ? tlv(0x02, Buffer.from([0]), bytes) : tlv(0x02, bytes);
}

export const smallInteger = (value: number): Buffer => {
  if (!Number.isInteger(value) || value < 0 || value > 0xffff) throw new DerError(`small INTEGER ${value} is out of range`);
  return unsignedInteger(Buffer.from([value >> 8, value & 0xff]));
};

/** An OBJECT IDENTIFIER from its dotted form: the first two arcs as 40a+b, then base 128 with continuation bits. */
export function objectIdentifier(dotted: string): Buffer {
  const arcs = dotted.split('.').map((arc) => (/^\d+$/.test(arc) ? Number(arc) : Number.NaN));
  const [first, second, ...rest] = arcs;
  if (first === undefined || second === undefined || arcs.some((arc) => !Number.isSafeInteger(arc)) || first > 2 || (first < 2 && second > 39)) {
    throw new DerError(`${JSON.stringify(dotted)} is not an object identifier`);
  }
  const out: number[] = [];
  for (const arc of [first * 40 + second, ...rest]) {
    const digits = [arc % 128];
    for (let left = Math.floor(arc / 128); left > 0; left = Math.floor(left / 128)) digits.unshift(0x80 | (left % 128));
    out.push(...digits);
  }
  return tlv(0x06, Buffer.from(out));
}

/** A BIT STRING of whole octets (signatures, keys). */
export const bitString = (bytes: Buffer): Buffer => tlv(0x03, Buffer.from([0]), bytes);

/**
 * A named-bit BIT STRING (keyUsage): bit 0 is the top bit of the first octet.
 * DER drops trailing zero bits, so the unused-bit count says where the last set bit is.
 */
export function namedBits(bits: readonly number[]): Buffer {
  if (bits.length === 0) return tlv(0x03, Buffer.from([0]));
  const octets = Buffer.alloc(Math.floor(Math.max(...bits) / 8) + 1);
  for (const bit of bits) {
    if (!Number.isInteger(bit) || bit < 0) throw new DerError(`bit ${bit} is not a bit position`);
    octets[bit >> 3] = (octets[bit >> 3] ?? 0) | (0x80 >> (bit & 7));
  }
  const unused = 7 - (Math.max(...bits) & 7);
  return tlv(0x03, Buffer.from([unused]), octets);
}

/**
 * RFC 5280 4.1.2.5: UTCTime for 1950–2049, GeneralizedTime otherwise, always
 * in UTC with seconds and no fraction.
 */
export function time(date: Date): Buffer {
  const ms = date.getTime();
  if (!Number.isFinite(ms)) throw new DerError('invalid date');
  const year = date.getUTCFullYear();
  if (year < 0 || year > 9999) throw new DerError(`year ${year} has no X.509 time`);
  const two = (n: number): string => String(n).padStart(2, '0');
  const rest = `${two(date.getUTCMonth() + 1)}${two(date.getUTCDate())}${two(date.getUTCHours())}${two(date.getUTCMinutes())}${two(date.getUTCSeconds())}Z`;
  return year >= 1950 && year < 2050
    ? tlv(0x17, Buffer.from(`${two(year % 100)}${rest}`, 'ascii'))
    : tlv(0x18, Buffer.from(`${String(year).padStart(4, '0')}${rest}`, 'ascii'));
}
