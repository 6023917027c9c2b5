// The NTLM primitives against their published known answers: MD4 (RFC 1320 A.5), RC4
// (RFC 6229 section 2 and the classic "Key"/"Plaintext" example), CRC-32 (the "123456789"
// check value of the CRC catalogue) and DES (FIPS 81 Appendix B, NIST SP 800-17 Table B.1),
// plus NTLM's 7-to-8-byte DES key expansion.
import { createCipheriv } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  crc32,
  DES,
  DESL,
  desDecryptBlock,
  desEncryptBlock,
  expandDesKey,
  hmacMd5,
  md4,
  md5,
  Rc4,
  rc4,
  setOddParity,
} from '../../src/auth/crypto';

const hex = (s: string) => Buffer.from(s.replace(/\s+|#[^\n]*/g, ''), 'hex');
const ascii = (s: string) => Buffer.from(s, 'latin1');

describe('MD4 (RFC 1320 A.5 test suite)', () => {
  const suite: Array<[string, string]> = [
    ['', '31d6cfe0d16ae931b73c59d7e0c089c0'],
    ['a', 'bde52cb31de33e46245e05fbdbd6fb24'],
    ['abc', 'a448017aaf21d8525fc10ae87aa6729d'],
    ['message digest', 'd9130a8164549fe818874806e1c7014b'],
    ['abcdefghijklmnopqrstuvwxyz', 'd79e1c308aa5bbcdeea8ed63df412da9'],
    ['ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789', '043f8582f241db351ce627e153e7f0e4'],
    ['12345678901234567890123456789012345678901234567890123456789012345678901234567890', 'e33b4ddc9c38f2199c3e7b164fcc0536'],
  ];
  for (const [input, digest] of suite) {
    it(`MD4 ("${input.length > 20 ? `${input.slice(0, 20)}...` : input}") = ${digest}`, () => {
      expect(md4(ascii(input)).toString('hex')).toBe(digest);
    });
  }

  it('pads correctly at every length around the 56-byte and 64-byte boundaries', () => {
    // Not a published vector: self-consistency of padding (55/56/63/64/65 bytes must all
    // differ and be stable), plus a length that needs a second padding block.
    const seen = new Set<string>();
    for (const n of [54, 55, 56, 57, 63, 64, 65, 119, 120, 128]) {
      const d = md4(Buffer.alloc(n, 0x61)).toString('hex');
      expect(d).toHaveLength(32);
      expect(seen.has(d)).toBe(false);
      seen.add(d);
    }
  });
});

describe('RC4 (RFC 6229 section 2, key 0x0102030405)', () => {
  // "Key length: 40 bits. key: 0x0102030405"
  const key = hex('0102030405');
  const at: Array<[number, string]> = [
    [0, 'b2 39 63 05 f0 3d c0 27 cc c3 52 4a 0a 11 18 a8'],
    [16, '69 82 94 4f 18 fc 82 d5 89 c4 03 a4 7a 0d 09 19'],
    [240, '28 cb 11 32 c9 6c e2 86 42 1d ca ad b8 b6 9e ae'],
    [256, '1c fc f6 2b 03 ed db 64 1d 77 df cf 7f 8d 8c 93'],
    [496, '42 b7 d0 cd d9 18 a8 a3 3d d5 17 81 c8 1f 40 41'],
    [512, '64 59 84 44 32 a7 da 92 3c fb 3e b4 98 06 61 f6'],
    [1024, '30 ab bc c7 c2 0b 01 60 9f 23 ee 2d 5f 6b b7 df'],
  ];
  for (const [offset, stream] of at) {
    it(`keystream at offset ${offset}`, () => {
      const r = new Rc4(key);
      r.skip(offset);
      expect(r.update(Buffer.alloc(16))).toEqual(hex(stream));
    });
  }

  it('RFC 6229 key 0x0102030405060708, offset 0', () => {
    expect(rc4(hex('0102030405060708'), Buffer.alloc(16))).toEqual(hex('97 ab 8a 1b f0 af b9 61 32 f2 f6 72 58 da 15 a8'));
  });

  it('the classic example: key "Key", plaintext "Plaintext" -> BBF316E8D940AF0AD3', () => {
    expect(rc4(ascii('Key'), ascii('Plaintext'))).toEqual(hex('BBF316E8D940AF0AD3'));
  });

  it('keeps its keystream across calls (NTLM sealing relies on it)', () => {
    const whole = rc4(key, Buffer.alloc(40));
    const r = new Rc4(key);
    const parts = Buffer.concat([r.update(Buffer.alloc(7)), r.update(Buffer.alloc(0)), r.update(Buffer.alloc(33))]);
    expect(parts).toEqual(whole);
  });

  it('is its own inverse', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 256 }), fc.uint8Array({ maxLength: 300 }), (k, d) => {
        expect(rc4(k, rc4(k, d))).toEqual(Buffer.from(d));
      }),
    );
  });

  it('rejects an empty key', () => {
    expect(() => new Rc4(Buffer.alloc(0))).toThrow(RangeError);
  });
});

describe('CRC-32', () => {
  it('check value: CRC32("123456789") = 0xcbf43926', () => {
    expect(crc32(ascii('123456789'))).toBe(0xcbf43926);
  });
  it('CRC32("") = 0 and CRC32("a") = 0xe8b7be43', () => {
    expect(crc32(Buffer.alloc(0))).toBe(0);
    expect(crc32(ascii('a'))).toBe(0xe8b7be43);
  });
  it('continues over several buffers', () => {
    expect(crc32(ascii('6789'), crc32(ascii('12345')))).toBe(0xcbf43926);
  });
});

describe('DES', () => {
  it('FIPS 81 Appendix B ECB example: key 0123456789abcdef, "Now is t" -> 3fa40e8a984d4815', () => {
    expect(desEncryptBlock(hex('0123456789abcdef'), ascii('Now is t'))).toEqual(hex('3fa40e8a984d4815'));
    expect(desDecryptBlock(hex('0123456789abcdef'), hex('3fa40e8a984d4815'))).toEqual(ascii('Now is t'));
  });

  it('NIST SP 800-17 Table B.1 (variable plaintext, key 0101010101010101)', () => {
    const key = hex('0101010101010101');
    expect(desEncryptBlock(key, hex('8000000000000000'))).toEqual(hex('95F8A5E5DD31D900'));
    expect(desEncryptBlock(key, hex('4000000000000000'))).toEqual(hex('DD7F121CA5015619'));
    expect(desEncryptBlock(key, hex('2000000000000000'))).toEqual(hex('2E8653104F3834EA'));
  });

  it('agrees with OpenSSL single DES (3DES-EDE with K1 = K2 = K3, allowed without the legacy provider)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 8, maxLength: 8 }), fc.uint8Array({ minLength: 8, maxLength: 8 }), (k, d) => {
        const key = Buffer.from(k);
        const c = createCipheriv('des-ede3-ecb', Buffer.concat([key, key, key]), null);
        c.setAutoPadding(false);
        const want = Buffer.concat([c.update(d), c.final()]);
        expect(desEncryptBlock(key, d)).toEqual(want);
      }),
      { numRuns: 200 },
    );
  });

  it('expands 7-byte keys to 8 bytes with odd parity (MS-NLMP 6)', () => {
    // 56 one bits -> every byte fe with parity 1 cleared: fe has 7 ones (odd) so stays fe.
    expect(expandDesKey(hex('ffffffffffffff'))).toEqual(hex('fefefefefefefefe'));
    expect(expandDesKey(hex('00000000000000'))).toEqual(hex('0101010101010101'));
    // Bit layout: 7 key bits per byte, high bits first.
    expect(expandDesKey(hex('80000000000000'))).toEqual(hex('8001010101010101'));
    expect(expandDesKey(hex('00000000000001'))).toEqual(hex('0101010101010102'));
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 7, maxLength: 7 }), (k) => {
        const e = expandDesKey(k);
        for (const b of e) {
          let ones = 0;
          for (let v = b; v; v >>= 1) ones += v & 1;
          expect(ones % 2).toBe(1);
        }
      }),
    );
    expect(setOddParity(hex('00'))).toEqual(hex('01'));
  });

  it('DES(K7, D) and DESL(K16, D) build keys the NTLM way', () => {
    const k7 = hex('0123456789abcd');
    expect(DES(k7, ascii('KGS!@#$%'))).toEqual(desEncryptBlock(expandDesKey(k7), ascii('KGS!@#$%')));
    const k16 = hex('000102030405060708090a0b0c0d0e0f');
    const d = hex('1122334455667788');
    expect(DESL(k16, d)).toEqual(
      Buffer.concat([DES(k16.subarray(0, 7), d), DES(k16.subarray(7, 14), d), DES(hex('0e0f0000000000'), d)]),
    );
    expect(() => DESL(Buffer.alloc(15), d)).toThrow(RangeError);
  });
});

describe('MD5 and HMAC-MD5 from node:crypto', () => {
  it('RFC 1321: MD5("abc") = 900150983cd24fb0d6963f7d28e17f72', () => {
    expect(md5(ascii('a'), ascii('bc')).toString('hex')).toBe('900150983cd24fb0d6963f7d28e17f72');
  });
  it('RFC 2202 test case 2: HMAC-MD5("Jefe", "what do ya want for nothing?")', () => {
    expect(hmacMd5(ascii('Jefe'), ascii('what do ya want '), ascii('for nothing?')).toString('hex')).toBe(
      '750c783e6ab0b503eaa86e310a5db738',
    );
  });
});
