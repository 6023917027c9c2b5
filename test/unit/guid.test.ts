// readGuid keeps recently read UUIDs in a hashed cache; whatever the cache holds, the string must
// be the one C706 Appendix A gives for the bytes (time_low, time_mid, time_hi_and_version in the
// data representation's byte order, the last 8 bytes as they are).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readGuid } from '../../src/base/guid';

/** The canonical form from the bytes, written independently of guid.ts. */
function reference(b: Uint8Array, off: number, le: boolean): string {
  const g = Buffer.from(b.subarray(off, off + 16));
  if (le) {
    g.subarray(0, 4).reverse();
    g.subarray(4, 6).reverse();
    g.subarray(6, 8).reverse();
  }
  const h = g.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

describe('readGuid', () => {
  it('reads the IID of IUnknown as DCOM sends it (little-endian)', () => {
    const wire = Buffer.from('0000000000000000c000000000000046', 'hex');
    expect(readGuid(wire, 0, true)).toBe('00000000-0000-0000-c000-000000000046');
    const remUnknown = Buffer.from('3101000000000000c000000000000046', 'hex');
    expect(readGuid(remUnknown, 0, true)).toBe('00000131-0000-0000-c000-000000000046');
  });

  it('gives each byte order its own string for the same bytes, read after each other', () => {
    const b = Buffer.from('0102030405060708090a0b0c0d0e0f10', 'hex');
    expect(readGuid(b, 0, true)).toBe('04030201-0605-0807-090a-0b0c0d0e0f10');
    expect(readGuid(b, 0, false)).toBe('01020304-0506-0708-090a-0b0c0d0e0f10');
    expect(readGuid(b, 0, true)).toBe('04030201-0605-0807-090a-0b0c0d0e0f10');
  });

  it('matches the reference for any bytes, read again and again among others (cache hits and evictions)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ bytes: fc.uint8Array({ minLength: 16, maxLength: 24 }), le: fc.boolean() }), { minLength: 1, maxLength: 64 }),
        fc.nat(),
        (items, seed) => {
          for (let round = 0; round < 3; round++) {
            for (const { bytes, le } of items) {
              const off = (seed + round) % (bytes.length - 15);
              expect(readGuid(bytes, off, le)).toBe(reference(bytes, off, le));
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('tells apart UUIDs that differ in one byte, whichever byte it is', () => {
    const base = Buffer.alloc(16, 0x5a);
    readGuid(base, 0);
    for (let i = 0; i < 16; i++) {
      const other = Buffer.from(base);
      other[i] ^= 0x01;
      expect(readGuid(other, 0)).toBe(reference(other, 0, true));
      expect(readGuid(base, 0)).toBe(reference(base, 0, true));
    }
  });

  it('tells apart UUIDs that share a cache slot: 20,000 variants of each 4-byte word, more than there are slots', () => {
    const base = Buffer.from('00000131000000000000000000000046', 'hex');
    for (let w = 0; w < 4; w++) {
      const variants: Buffer[] = [];
      for (let v = 0; v < 20_000; v++) {
        const g = Buffer.from(base);
        g.writeUInt32LE(v * 2654435761 >>> 0, w * 4);
        variants.push(g);
      }
      for (let round = 0; round < 2; round++) {
        for (const g of variants) {
          const got = readGuid(g, 0);
          if (got !== reference(g, 0, true)) expect(got).toBe(reference(g, 0, true));
        }
      }
    }
  });

  it('throws a RangeError for a UUID that runs past the buffer', () => {
    expect(() => readGuid(Buffer.alloc(15), 0)).toThrow(RangeError);
    expect(() => readGuid(Buffer.alloc(20), 5)).toThrow(RangeError);
  });
});
