/** The DER writer under X.509: lengths, integers, OIDs, bit strings and times, decoded back independently. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { encodeLength, namedBits, objectIdentifier, time, tlv, unsignedInteger } from '../../src/controller/certificates/der.ts';

/** X.690 8.1.3, read back: the length and how many octets it took. */
function decodeLength(bytes: Buffer): { length: number; size: number } {
  const first = bytes[0] ?? 0;
  if (first < 0x80) return { length: first, size: 1 };
  const count = first & 0x7f;
  let length = 0;
  for (let i = 1; i <= count; i += 1) length = length * 256 + (bytes[i] ?? 0);
  return { length, size: 1 + count };
}

describe('DER length', () => {
  it('round-trips, in the shortest form: short below 128, long with no leading zero octet', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), (n) => {
      const encoded = encodeLength(n);
      assert.deepEqual(decodeLength(encoded), { length: n, size: encoded.length });
      if (n < 0x80) assert.equal(encoded.length, 1);
      else {
        assert.notEqual(encoded[1], 0, 'no leading zero octet');
        assert.equal(encoded.length - 1, Math.ceil(n.toString(16).length / 2));
      }
    }), { numRuns: 2000 });
  });

  it('frames any content so the length read back is the content size', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 70_000 }), (content) => {
      const framed = tlv(0x04, Buffer.from(content));
      const { length, size } = decodeLength(framed.subarray(1));
      assert.equal(length, content.length);
      assert.equal(framed.length, 1 + size + content.length);
    }), { numRuns: 200 });
  });

  it('has known encodings at the boundaries', () => {
    assert.deepEqual([...encodeLength(127)], [0x7f]);
    assert.deepEqual([...encodeLength(128)], [0x81, 0x80]);
    assert.deepEqual([...encodeLength(255)], [0x81, 0xff]);
    assert.deepEqual([...encodeLength(256)], [0x82, 0x01, 0x00]);
    assert.throws(() => encodeLength(-1));
  });
});

describe('DER INTEGER (unsigned)', () => {
  it('reads back as the same non-negative two\'s-complement value, minimally encoded', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 1, maxLength: 40 }), (magnitude) => {
      const encoded = unsignedInteger(Buffer.from(magnitude));
      assert.equal(encoded[0], 0x02);
      const content = encoded.subarray(2);
      assert.equal(encoded[1], content.length);
      assert.equal((content[0] ?? 0) & 0x80, 0, 'positive');
      if (content.length > 1) assert.ok(content[0] !== 0 || ((content[1] ?? 0) & 0x80) !== 0, 'no redundant leading zero');
      const value = BigInt(`0x${Buffer.from(magnitude).toString('hex')}`);
      assert.equal(BigInt(`0x${content.toString('hex')}`), value);
    }), { numRuns: 2000 });
  });
});

describe('DER OBJECT IDENTIFIER', () => {
  it('encodes ecdsa-with-SHA256 and serverAuth as in RFC 5758 and RFC 5280', () => {
    assert.equal(objectIdentifier('1.2.840.10045.4.3.2').toString('hex'), '06082a8648ce3d040302');
    assert.equal(objectIdentifier('1.3.6.1.5.5.7.3.1').toString('hex'), '06082b06010505070301');
    assert.throws(() => objectIdentifier('1'), /not an object identifier/);
    assert.throws(() => objectIdentifier('1.40'), /not an object identifier/);
  });

  it('decodes back to the same arcs', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 39 }), fc.array(fc.integer({ min: 0, max: 2 ** 40 }), { maxLength: 8 }), (a, b, rest) => {
      const encoded = objectIdentifier([a, b, ...rest].join('.'));
      const arcs: number[] = [];
      let value = 0;
      for (const byte of encoded.subarray(2)) {
        value = value * 128 + (byte & 0x7f);
        if ((byte & 0x80) === 0) { arcs.push(value); value = 0; }
      }
      const [first = -1, ...others] = arcs;
      assert.deepEqual([Math.min(2, Math.floor(first / 40)), first - 40 * Math.min(2, Math.floor(first / 40)), ...others], [a, b, ...rest]);
    }), { numRuns: 1000 });
  });
});

describe('DER named bits and times', () => {
  it('keyUsage bits drop trailing zeros: keyCertSign+cRLSign is 03 02 01 06, digitalSignature 03 02 07 80', () => {
    assert.equal(namedBits([5, 6]).toString('hex'), '03020106');
    assert.equal(namedBits([0]).toString('hex'), '03020780');
    assert.equal(namedBits([0, 8]).toString('hex'), '0303078080');
  });

  it('uses UTCTime up to 2049 and GeneralizedTime from 2050 (RFC 5280 4.1.2.5)', () => {
    assert.equal(time(new Date('2049-12-31T23:59:59Z')).toString('latin1'), '\x17\x0d491231235959Z');
    assert.equal(time(new Date('2050-01-01T00:00:00Z')).toString('latin1'), '\x18\x0f20500101000000Z');
    assert.equal(time(new Date('1999-02-03T04:05:06.789Z')).toString('latin1'), '\x17\x0d990203040506Z');
  });
});
