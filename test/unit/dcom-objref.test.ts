// OBJREF (MS-DCOM 2.2.18) and DUALSTRINGARRAY (2.2.19) encode/decode, malformed inputs and fuzz.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ObjrefError } from '../../src/base/errors';
import {
  buildDualStringArray, decodeObjref, encodeObjref, parseDualStringArray,
  OBJREF_CUSTOM, OBJREF_EXTENDED, OBJREF_EXTENDED_SIGNATURE, OBJREF_HANDLER, OBJREF_STANDARD, SORF_NOPING,
  type DualStringArray, type Objref, type ObjrefStandard,
} from '../../src/dcom';
import { mutate, prng } from '../support/mutate';

const IID_IUnknown = '00000000-0000-0000-c000-000000000046';
const CLSID = 'f309ad18-d86a-11d0-a075-00c04fb68820';

const dsa: DualStringArray = {
  stringBindings: [
    { towerId: 7, networkAddr: 'HOST1[49724]' },
    { towerId: 7, networkAddr: '10.0.0.5[49724]' },
  ],
  securityBindings: [
    { authnSvc: 0x0a, authzSvc: 0xffff, principalName: 'host/host1.example.test' },
    { authnSvc: 0x09, authzSvc: 0xffff, principalName: '' },
  ],
};

const std = {
  flags: SORF_NOPING,
  cPublicRefs: 5,
  oxid: 0xb5c018689dc8086en,
  oid: 0x0123456789abcdefn,
  ipid: '0000540b-0668-04ec-0970-935aa5a6059c',
};

const samples: Objref[] = [
  { flags: OBJREF_STANDARD, iid: IID_IUnknown, std, saResAddr: dsa },
  { flags: OBJREF_HANDLER, iid: IID_IUnknown, std, clsid: CLSID, saResAddr: dsa },
  {
    flags: OBJREF_CUSTOM, iid: IID_IUnknown, clsid: CLSID, cbExtension: 0, reserved: 0x1234,
    pObjectData: Buffer.from('custom marshaled object data'),
  },
  {
    flags: OBJREF_EXTENDED, iid: IID_IUnknown, std, Signature1: OBJREF_EXTENDED_SIGNATURE, saResAddr: dsa,
    nElms: 1, Signature2: OBJREF_EXTENDED_SIGNATURE,
    ElmArray: [{ dataID: '11111111-2222-3333-4444-555555555555', cbSize: 5, cbRounded: 8, Data: Buffer.from([1, 2, 3, 4, 5, 0, 0, 0]) }],
  },
];

/** A hand-built OBJREF_STANDARD, laid out field by field from 2.2.18.1/2.2.18.4/2.2.19.1. */
function handStandard(): Buffer {
  const parts: Buffer[] = [];
  const u16 = (v: number) => { const b = Buffer.alloc(2); b.writeUInt16LE(v); parts.push(b); };
  const u32 = (v: number) => { const b = Buffer.alloc(4); b.writeUInt32LE(v); parts.push(b); };
  const u64 = (v: bigint) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(v); parts.push(b); };
  u32(0x574f454d); u32(1);
  parts.push(Buffer.from('0000000000000000c000000000000046', 'hex')); // IID_IUnknown, LE fields
  u32(0x1000); u32(5); u64(0x1122334455667788n); u64(0x99aabbccddeeff00n);
  parts.push(Buffer.from('0b540000680 6ec04 0970935aa5a6059c'.replace(/ /g, ''), 'hex'));
  // aStringArray: 7 "h[1]" 0 | 0 | 0x0a 0xffff "p" 0 | 0
  const arr = [7, ...'h[1]'.split('').map((c) => c.charCodeAt(0)), 0, 0, 0x0a, 0xffff, 'p'.charCodeAt(0), 0, 0];
  u16(arr.length); u16(7);
  for (const a of arr) u16(a);
  return Buffer.concat(parts);
}

describe('DUALSTRINGARRAY helpers (MS-DCOM 2.2.19)', () => {
  it('builds and parses host[port] string bindings and principal names', () => {
    const wire = buildDualStringArray(dsa);
    expect(wire.wNumEntries).toBe(wire.aStringArray.length);
    // First binding: tower id then the UTF-16 address then NUL.
    expect(wire.aStringArray[0]).toBe(7);
    expect(String.fromCharCode(...wire.aStringArray.slice(1, 13))).toBe('HOST1[49724]');
    expect(wire.aStringArray[13]).toBe(0);
    // Security offset points just after the string-binding terminator; 0xffff reserved; final 0.
    expect(wire.aStringArray[wire.wSecurityOffset - 1]).toBe(0);
    expect(wire.aStringArray[wire.wSecurityOffset]).toBe(0x0a);
    expect(wire.aStringArray[wire.wSecurityOffset + 1]).toBe(0xffff);
    expect(wire.aStringArray.at(-1)).toBe(0);
    expect(parseDualStringArray(wire)).toEqual(dsa);
  });
  it('property: build → parse is the identity; inside an OBJREF too', () => {
    const str = fc.string({ unit: fc.integer({ min: 1, max: 0xffff }).map((c) => String.fromCharCode(c)), maxLength: 20 });
    const arb = fc.record({
      stringBindings: fc.array(fc.record({ towerId: fc.integer({ min: 1, max: 0xffff }), networkAddr: str }), { maxLength: 4 }),
      securityBindings: fc.array(fc.record({ authnSvc: fc.integer({ min: 1, max: 0xffff }), authzSvc: fc.integer({ min: 0, max: 0xffff }), principalName: str }), { maxLength: 4 }),
    });
    fc.assert(fc.property(arb, (d) => {
      const w = buildDualStringArray(d);
      expect(w.wNumEntries).toBe(w.aStringArray.length);
      expect(parseDualStringArray(w)).toEqual(d);
      const o: Objref = { flags: OBJREF_STANDARD, iid: IID_IUnknown, std, saResAddr: d };
      expect(decodeObjref(encodeObjref(o))).toEqual(o);
    }), { numRuns: 300 });
  });
  it('smallest array is four zeros (2.2.19.1)', () => {
    const w = buildDualStringArray({ stringBindings: [], securityBindings: [] });
    expect(w).toEqual({ wNumEntries: 4, wSecurityOffset: 2, aStringArray: [0, 0, 0, 0] });
    expect(parseDualStringArray(w)).toEqual({ stringBindings: [], securityBindings: [] });
  });
  it('unterminated and out-of-range cases are ObjrefError', () => {
    expect(() => parseDualStringArray({ wSecurityOffset: 9, aStringArray: [0, 0, 0, 0] })).toThrow(/wSecurityOffset 9 beyond/);
    expect(() => parseDualStringArray({ wNumEntries: 5, wSecurityOffset: 2, aStringArray: [0, 0, 0, 0] })).toThrow(/wNumEntries 5/);
    expect(() => parseDualStringArray({ wSecurityOffset: 3, aStringArray: [7, 0x41, 0x42, 0, 0] })).toThrow(/unterminated string binding/);
    expect(() => parseDualStringArray({ wSecurityOffset: 2, aStringArray: [0, 0, 9, 0xffff, 0x41] })).toThrow(/unterminated security binding/);
  });
});

describe('OBJREF (MS-DCOM 2.2.18)', () => {
  it('decodes a hand-built OBJREF_STANDARD field by field', () => {
    const o = decodeObjref(handStandard());
    expect(o).toEqual({
      flags: OBJREF_STANDARD, iid: IID_IUnknown,
      std: { flags: 0x1000, cPublicRefs: 5, oxid: 0x1122334455667788n, oid: 0x99aabbccddeeff00n, ipid: '0000540b-0668-04ec-0970-935aa5a6059c' },
      saResAddr: { stringBindings: [{ towerId: 7, networkAddr: 'h[1]' }], securityBindings: [{ authnSvc: 0x0a, authzSvc: 0xffff, principalName: 'p' }] },
    });
    expect(encodeObjref(o)).toEqual(handStandard());
  });

  for (const s of samples) {
    it(`round trips flavour ${s.flags}`, () => {
      const b = encodeObjref(s);
      expect(b.readUInt32LE(0)).toBe(0x574f454d);
      expect(b.readUInt32LE(4)).toBe(s.flags);
      const d = decodeObjref(b);
      expect(d).toEqual(s);
      expect(encodeObjref(d)).toEqual(b);
    });
  }

  it('a DUALSTRINGARRAY not laid out canonically re-encodes exactly, until saResAddr changes', () => {
    // Extra zero between the string bindings' terminator and wSecurityOffset (7 → 8), one more entry.
    const h = handStandard();
    const arr = [7, ...'h[1]'.split('').map((c) => c.charCodeAt(0)), 0, 0, 0, 0x0a, 0xffff, 'p'.charCodeAt(0), 0, 0];
    const b = Buffer.concat([h.subarray(0, 64), Buffer.from(new Uint16Array([arr.length, 8, ...arr]).buffer)]);
    const o = decodeObjref(b) as ObjrefStandard & Objref;
    expect(o.saResAddr).toEqual((decodeObjref(h) as ObjrefStandard).saResAddr);
    expect(o.saResAddrWire).toEqual({ wSecurityOffset: 8, aStringArray: arr });
    expect(encodeObjref(o)).toEqual(b);
    expect(decodeObjref(h).saResAddrWire).toBeUndefined();
    // Changed bindings: the stale wire form is not used.
    const changed = { ...o, saResAddr: { ...o.saResAddr, stringBindings: [{ towerId: 7, networkAddr: 'other' }] } };
    expect((decodeObjref(encodeObjref(changed)) as ObjrefStandard).saResAddr).toEqual(changed.saResAddr);
  });

  it('keeps trailing octets so a round trip is exact', () => {
    const b = Buffer.concat([encodeObjref(samples[0]!), Buffer.from([0, 0, 0, 0])]);
    const d = decodeObjref(b);
    expect(d.trailing).toEqual(Buffer.from([0, 0, 0, 0]));
    expect(encodeObjref(d)).toEqual(b);
  });

  const err = (b: Buffer): ObjrefError => {
    try {
      decodeObjref(b);
    } catch (e) {
      expect(e).toBeInstanceOf(ObjrefError);
      return e as ObjrefError;
    }
    throw new Error('decoded without error');
  };

  it('bad signature → offset 0', () => {
    const b = encodeObjref(samples[0]!);
    b.writeUInt32LE(0x574f454e, 0);
    const e = err(b);
    expect(e.offset).toBe(0);
    expect(e.what).toMatch(/bad signature/);
  });
  it('unknown flavour → offset 4', () => {
    for (const f of [0, 3, 5, 0x10, 0xffffffff]) {
      const b = encodeObjref(samples[0]!);
      b.writeUInt32LE(f, 4);
      const e = err(b);
      expect(e.offset).toBe(4);
      expect(e.what).toMatch(/unknown flavour/);
    }
  });
  it('zero IID → offset 8', () => {
    const b = encodeObjref(samples[0]!);
    b.fill(0, 8, 24);
    const e = err(b);
    expect(e.offset).toBe(8);
    expect(e.what).toMatch(/zero IID/);
  });
  // STANDARD: header 24 + STDOBJREF 40 → DUALSTRINGARRAY at 64; HANDLER: + clsid 16 → 80.
  for (const [flavour, dsaAt] of [[0, 64], [1, 80], [3, 68]] as const) {
    it(`wNumEntries beyond the data → offset ${dsaAt} (flavour ${samples[flavour]!.flags})`, () => {
      const b = encodeObjref(samples[flavour]!);
      b.writeUInt16LE(b.readUInt16LE(dsaAt) + 100, dsaAt);
      const e = err(b);
      expect(e.offset).toBe(dsaAt);
      expect(e.what).toMatch(/wNumEntries/);
    });
    it(`wSecurityOffset beyond the entries → offset ${dsaAt + 2} (flavour ${samples[flavour]!.flags})`, () => {
      const b = encodeObjref(samples[flavour]!);
      b.writeUInt16LE(b.readUInt16LE(dsaAt) + 1, dsaAt + 2);
      const e = err(b);
      expect(e.offset).toBe(dsaAt + 2);
      expect(e.what).toMatch(/wSecurityOffset/);
    });
  }
  it('unterminated string binding → offset of the security offset boundary', () => {
    // h[1] binding with its NUL replaced by 'x': the string runs into wSecurityOffset (7 entries).
    const b = handStandard();
    const arrAt = 68;
    expect(b.readUInt16LE(arrAt + 5 * 2)).toBe(0);
    b.writeUInt16LE(0x78, arrAt + 5 * 2);
    b.writeUInt16LE(0x78, arrAt + 6 * 2);
    const e = err(b);
    expect(e.what).toMatch(/unterminated string binding/);
    expect(e.offset).toBe(arrAt + 7 * 2);
  });
  it('unterminated security binding → offset of the end of the array', () => {
    const b = handStandard();
    const arrAt = 68;
    const n = b.readUInt16LE(64);
    b.writeUInt16LE(0x78, arrAt + (n - 2) * 2);
    b.writeUInt16LE(0x78, arrAt + (n - 1) * 2);
    const e = err(b);
    expect(e.what).toMatch(/unterminated security binding/);
    expect(e.offset).toBe(arrAt + n * 2);
  });
  it('truncations at every length → ObjrefError at or before the cut', () => {
    for (const s of samples) {
      const b = encodeObjref(s);
      const minimal = s.flags === OBJREF_CUSTOM ? 48 : b.length;
      for (let n = 0; n < minimal; n++) {
        const e = err(b.subarray(0, n));
        expect(e.offset).toBeLessThanOrEqual(n);
      }
    }
  });
  it('non-buffer input → ObjrefError', () => {
    expect(() => decodeObjref('MEOW' as unknown as Buffer)).toThrow(ObjrefError);
  });
  it('encode refuses a zero IID and bad numbers with ObjrefError', () => {
    expect(() => encodeObjref({ ...samples[0]!, iid: '00000000-0000-0000-0000-000000000000' })).toThrow(ObjrefError);
    expect(() => encodeObjref({ ...(samples[0] as Extract<Objref, { flags: 1 }>), std: { ...std, cPublicRefs: -1 } })).toThrow(ObjrefError);
  });

  it('fuzz: mutations of valid OBJREFs decode to a value or ObjrefError, never anything else', () => {
    const rnd = prng(0xd0c0);
    let ok = 0;
    let bad = 0;
    const seeds = [...samples.map((s) => encodeObjref(s)), handStandard()];
    for (let i = 0; i < 5000; i++) {
      const m = mutate(seeds[i % seeds.length]!, rnd);
      try {
        const o = decodeObjref(m);
        ok++;
        // A decoded value re-encodes (possibly canonicalised) and decodes to the same value.
        // A decoded value re-encodes to the same octets (or, for values the encoder refuses, ObjrefError).
        let again: Buffer | undefined;
        try {
          again = encodeObjref(o);
        } catch (e) {
          expect(e).toBeInstanceOf(ObjrefError);
        }
        if (again) expect(again.toString('hex')).toBe(m.toString('hex'));
      } catch (e) {
        if (!(e instanceof ObjrefError)) throw e;
        expect(Number.isInteger(e.offset) && e.offset >= 0 && e.offset <= m.length).toBe(true);
        bad++;
      }
    }
    expect(ok).toBeGreaterThan(100);
    expect(bad).toBeGreaterThan(100);
  });
});
