// Hand-derived NDR 2.0 encodings (C706 chapter 14, MS-RPCE 2.2.5/2.2.6). Every expected byte
// string below was worked out from the rules, group by group, in the comment next to it.
import { describe, expect, expectTypeOf, test } from 'vitest';
import { NdrDecodeError, NdrEncodeError } from '../../src/base/errors';
import * as ndr from '../../src/ndr';

const hex = (s: string): Buffer => Buffer.from(s.replace(/[^0-9a-f]/gi, ''), 'hex');
const enc = <T extends ndr.AnyType>(t: T, v: ndr.Infer<T>, o?: ndr.EncodeOptions) => ndr.encode(t, v, o).toString('hex');

function decodeError(f: () => unknown): NdrDecodeError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(NdrDecodeError);
    return e as NdrDecodeError;
  }
  throw new Error('expected an NdrDecodeError');
}
function encodeError(f: () => unknown): NdrEncodeError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(NdrEncodeError);
    return e as NdrEncodeError;
  }
  throw new Error('expected an NdrEncodeError');
}

describe('primitives', () => {
  test('alignment of a parameter list, little-endian', () => {
    const p = ndr.params({ a: ndr.u8, b: ndr.u16, c: ndr.u8, d: ndr.u32, e: ndr.u8, f: ndr.hyper });
    const v = { a: 1, b: 0x0203, c: 4, d: 0x05060708, e: 9, f: -2n };
    const expected = hex(
      '01' + //          a at 0
      '00' + //          pad to 2
      '0302' + //        b at 2 (LE)
      '04' + //          c at 4
      '000000' + //      pad to 8
      '08070605' + //    d at 8
      '09' + //          e at 12
      '000000' + //      pad to 16
      'feffffffffffffff', // f = -2 as 64-bit two's complement at 16
    );
    expect(ndr.encodeParams(p, v)).toEqual(expected);
    expect(ndr.decodeParams(p, expected)).toEqual(v);
  });

  test('guid: first three fields in the integer byte order, last 8 octets as they are', () => {
    const g = '00112233-4455-6677-8899-aabbccddeeff';
    expect(enc(ndr.guid, g)).toBe('33221100' + '5544' + '7766' + '8899aabbccddeeff');
    expect(enc(ndr.guid, g, { le: false })).toBe('00112233' + '4455' + '6677' + '8899aabbccddeeff');
    expect(enc(ndr.guid, '{00112233-4455-6677-8899-AABBCCDDEEFF}')).toBe('33221100554477668899aabbccddeeff');
    expect(ndr.decode(ndr.guid, hex('33221100554477668899aabbccddeeff'))).toBe(g);
    encodeError(() => ndr.encode(ndr.guid, 'not-a-guid'));
  });

  test('range checks on encode', () => {
    encodeError(() => ndr.encode(ndr.u8, 256));
    encodeError(() => ndr.encode(ndr.u16, -1));
    encodeError(() => ndr.encode(ndr.u32, 2 ** 32));
    encodeError(() => ndr.encode(ndr.i32, 2 ** 31));
    encodeError(() => ndr.encode(ndr.u32, 1.5));
    encodeError(() => ndr.encode(ndr.u64, -1n));
    encodeError(() => ndr.encode(ndr.u32, '1' as unknown as number));
    // HRESULT accepts both spellings, decodes unsigned
    expect(enc(ndr.hresult, -2147467259)).toBe('05400080');
    expect(ndr.decode(ndr.hresult, hex('05400080'))).toBe(0x80004005);
  });

  test('context handle: attributes u32 then the uuid, 20 octets', () => {
    const h = { attributes: 0, uuid: '68044548-3d44-43ad-ad06-e9e13075aaf1' };
    expect(enc(ndr.contextHandle, h)).toBe('00000000' + '48450468443dad43ad06e9e13075aaf1');
  });
});

describe('strings', () => {
  test('[string] wchar_t*: conformant-varying, NUL-terminated, UTF-16LE', () => {
    const expected =
      '04000000' + //  max_count = 3 characters + terminator
      '00000000' + //  offset 0
      '04000000' + //  actual_count 4
      '4800' + '6900' + '2100' + '0000'; // 'H' 'i' '!' NUL
    expect(enc(ndr.wstring, 'Hi!')).toBe(expected);
    expect(ndr.decode(ndr.wstring, hex(expected))).toBe('Hi!');
  });

  test('[string] char* under a top-level unique pointer: referent id then the pointee', () => {
    expect(enc(ndr.unique(ndr.string), 'ab')).toBe(
      '00000200' + // referent id (Windows numbering starts at 0x00020000)
      '03000000' + '00000000' + '03000000' + // max_count, offset, actual_count
      '616200', //   'a' 'b' NUL
    );
    expect(enc(ndr.unique(ndr.string), null)).toBe('00000000');
  });

  test('[string] char x[64]: varying, no max_count', () => {
    expect(enc(ndr.varyingString(64), 'MS')).toBe('00000000' + '03000000' + '4d5300');
    encodeError(() => ndr.encode(ndr.varyingString(2), 'MS')); // 3 chars with the NUL do not fit 2
  });

  test('decode rejects missing terminators and bad counts', () => {
    // actual_count 2 but last char not NUL
    expect(decodeError(() => ndr.decode(ndr.string, hex('02000000 00000000 02000000 6162'))).what).toMatch(/NUL/);
    // offset + actual_count > max_count
    expect(decodeError(() => ndr.decode(ndr.string, hex('01000000 00000000 02000000 6100'))).what).toMatch(/exceeds max_count/);
    // actual_count far beyond the bytes present
    expect(decodeError(() => ndr.decode(ndr.string, hex('ffffffff 00000000 fffffff0 6100'))).what).toMatch(/left/);
    encodeError(() => ndr.encode(ndr.string, 'caf\u0113')); // U+0113 is not latin1
  });
});

describe('pointers and deferral', () => {
  const S = ndr.struct({ a: ndr.unique(ndr.u32), b: ndr.unique(ndr.u16), c: ndr.u8 });

  test('struct with two unique pointers: referent ids in place, pointees after the struct', () => {
    const v = { a: 0x11223344, b: 0x5566, c: 7 };
    const expected =
      '00000200' + // a: referent id 0x00020000
      '04000200' + // b: referent id 0x00020004
      '07' + //       c
      '000000' + //   pad to 4 for a's pointee (u32)
      '44332211' + // *a
      '6655'; //      *b (u16, already aligned at 16)
    expect(enc(S, v)).toBe(expected);
    expect(ndr.decode(S, hex(expected))).toEqual(v);
    // a null pointer: id 0 and no pointee
    expect(enc(S, { a: 0x11223344, b: null, c: 7 })).toBe('00000200' + '00000000' + '07' + '000000' + '44332211');
  });

  test('big-endian decode of the same values', () => {
    const be =
      '00020000' + '00020004' + '07' + '000000' + //   referent ids big-endian, c, pad
      '11223344' + '5566'; //                            *a, *b big-endian
    expect(ndr.decode(S, hex(be), { le: false })).toEqual({ a: 0x11223344, b: 0x5566, c: 7 });
    expect(enc(S, { a: 0x11223344, b: 0x5566, c: 7 }, { le: false })).toBe(be);
  });

  test('array of pointers: all elements\' scalars, then all pointees', () => {
    const A = ndr.fixedArray(ndr.unique(ndr.u16), 3);
    expect(enc(A, [1, null, 2])).toBe('00000200' + '00000000' + '04000200' + '0100' + '0200');
  });

  test('embedded [ref] pointers get a referent id and are deferred; top-level [ref] has none', () => {
    const R = ndr.struct({ p: ndr.ref(ndr.u16), x: ndr.u16 });
    expect(enc(R, { p: 9, x: 1 })).toBe('00000200' + '0100' + '0900');
    expect(enc(ndr.ref(R), { p: 9, x: 1 })).toBe('00000200' + '0100' + '0900');
    expect(enc(ndr.ref(ndr.u32), 5)).toBe('05000000');
    encodeError(() => ndr.encode(R, { p: null as unknown as number, x: 1 }));
    expect(decodeError(() => ndr.decode(R, hex('00000000 0100'))).what).toMatch(/null embedded \[ref\]/);
  });

  test('a pointee that contains pointers: its scalars, then its own pointees', () => {
    const Inner = ndr.struct({ q: ndr.unique(ndr.u8) });
    const Outer = ndr.struct({ p: ndr.unique(Inner), z: ndr.unique(ndr.u8) });
    expect(enc(Outer, { p: { q: 1 }, z: 2 })).toBe(
      '00000200' + '04000200' + // p, z referent ids
      '08000200' + //             *p: Inner's scalars (q's referent id)
      '01' + //                    **p.q (Inner's buffers come right after Inner's scalars)
      '02', //                     *z
    );
  });

  test('full pointers: aliases share one referent id and one pointee', () => {
    const N = ndr.struct({ v: ndr.u16 });
    const F = ndr.struct({ p: ndr.full(N), q: ndr.full(N), r: ndr.unique(N) });
    const n = { v: 5 };
    const expected =
      '00000200' + // p
      '00000200' + // q: the same object, the same referent id
      '04000200' + // r: unique, next id
      '0500' + //     *p (q's pointee is not repeated)
      '0500'; //      *r
    expect(enc(F, { p: n, q: n, r: { v: 5 } })).toBe(expected);
    const d = ndr.decode(F, hex(expected));
    expect(d.p).toBe(d.q);
    expect(d.r).not.toBe(d.p);
    expect(d).toEqual({ p: { v: 5 }, q: { v: 5 }, r: { v: 5 } });
    expect(ndr.encode(F, d)).toEqual(hex(expected));
    // distinct but equal objects are distinct referents
    expect(enc(F, { p: { v: 5 }, q: { v: 5 }, r: { v: 5 } })).toBe('00000200' + '04000200' + '08000200' + '0500' + '0500' + '0500');
  });

  test('full pointers: a cycle is encoded once and decodes to a cycle', () => {
    interface Node { v: number; next: Node | null }
    const node: ndr.NdrType<Node> = ndr.struct({ v: ndr.u8, next: ndr.full(ndr.lazy<Node>(() => node)) });
    const n: Node = { v: 1, next: null };
    n.next = n;
    const expected =
      '01' + '000000' + '00000200' + // top-level node: v, pad, next -> id 0x20000
      '01' + '000000' + '00000200'; //  *next: v, pad, next -> same id, pointee already sent
    expect(enc(node, n)).toBe(expected);
    const d = ndr.decode(node, hex(expected));
    expect(d.next!.next).toBe(d.next);
    // unique pointers cannot express the cycle: the depth limit turns it into an encode error
    const unode: ndr.NdrType<Node> = ndr.struct({ v: ndr.u8, next: ndr.unique(ndr.lazy<Node>(() => unode)) });
    expect(encodeError(() => ndr.encode(unode, n)).what).toMatch(/nesting deeper/);
  });

  test('full pointer referent id reused for another type is rejected', () => {
    const F = ndr.struct({ p: ndr.full(ndr.u16), q: ndr.full(ndr.u32) });
    expect(decodeError(() => ndr.decode(F, hex('01000000 01000000 0500'))).what).toMatch(/different type/);
  });

  test('linked list within the depth limit, and beyond it', () => {
    interface L { v: number; next: L | null }
    const l: ndr.NdrType<L> = ndr.struct({ v: ndr.u32, next: ndr.unique(ndr.lazy<L>(() => l)) });
    let list: L | null = null;
    for (let i = 0; i < 100; i++) list = { v: i, next: list };
    const b = ndr.encode(l, list!);
    expect(b.length).toBe(100 * 8);
    expect(ndr.decode(l, b)).toEqual(list);
    // 300 nested pointees: every level is 8 octets (v, referent id)
    const deep = Buffer.alloc(300 * 8);
    for (let i = 0; i < 300; i++) deep.writeUInt32LE(i === 299 ? 0 : 1, i * 8 + 4);
    expect(decodeError(() => ndr.decode(l, deep)).what).toMatch(/nesting deeper than 256/);
    expect(ndr.decode(l, deep, { maxDepth: 400 })).toBeTruthy();
  });
});

describe('conformant arrays and hoisting', () => {
  const C = ndr.struct({ n: ndr.u16, data: ndr.conformantArray(ndr.u16, { sizeIs: 'n' }) });
  const Outer = ndr.struct({ tag: ndr.u8, inner: C });

  test('conformant struct: max_count hoisted before the struct', () => {
    const expected =
      '03000000' + //           max_count (aligned 4, before the struct's own alignment)
      '0300' + //               n
      '0100' + '0200' + '0300'; // data[0..2]
    expect(enc(C, { n: 3, data: [1, 2, 3] })).toBe(expected);
    expect(ndr.decode(C, hex(expected))).toEqual({ n: 3, data: [1, 2, 3] });
  });

  test('nested: the max_count of the inner struct\'s array goes to the start of the outermost struct', () => {
    const expected =
      '03000000' + //  hoisted max_count
      '05' + //        tag (outer struct aligned 2; tag at 4)
      '00' + //        pad: inner struct aligned 2
      '0300' + //      inner.n
      '010002000300'; // inner.data
    expect(enc(Outer, { tag: 5, inner: { n: 3, data: [1, 2, 3] } })).toBe(expected);
    expect(ndr.decode(Outer, hex(expected))).toEqual({ tag: 5, inner: { n: 3, data: [1, 2, 3] } });
  });

  test('size_is sibling disagreement: encode and decode errors name the field', () => {
    const e = encodeError(() => ndr.encode(Outer, { tag: 5, inner: { n: 2, data: [1, 2, 3] } }));
    expect(e.field).toBe('inner.data');
    const d = decodeError(() => ndr.decode(Outer, hex('03000000 05 00 0200 010002000300')));
    expect(d.field).toBe('inner.data');
    expect(d.what).toMatch(/size_is\(n\)/);
  });

  test('u8 conformant array decodes to a Buffer (a copy)', () => {
    const src = hex('03000000 0a0b0c');
    const v = ndr.decode(ndr.conformantArray(ndr.u8), src);
    expect(Buffer.isBuffer(v)).toBe(true);
    expect(v).toEqual(hex('0a0b0c'));
    src[4] = 0xff;
    expect(v[0]).toBe(0x0a);
  });

  test('a count larger than the bytes present is rejected before allocating', () => {
    expect(decodeError(() => ndr.decode(ndr.conformantArray(ndr.u32), hex('ffffff7f 01000000'))).what).toMatch(/element count/);
  });

  test('conformant-varying embedded: max_count hoisted, offset and actual_count in place', () => {
    const CV = ndr.struct({ len: ndr.u32, s: ndr.conformantVaryingArray(ndr.u8, { lengthIs: 'len' }) });
    expect(enc(CV, { len: 2, s: Buffer.from([7, 8]) })).toBe('02000000' + '02000000' + '00000000' + '02000000' + '0708');
  });

  test('varying array: offset, actual_count, elements; offset + count checked against the size', () => {
    const V = ndr.varyingArray(ndr.u16, 4);
    expect(enc(V, [1, 2])).toBe('00000000' + '02000000' + '0100' + '0200');
    encodeError(() => ndr.encode(V, [1, 2, 3, 4, 5]));
    expect(decodeError(() => ndr.decode(V, hex('03000000 02000000 01000200'))).what).toMatch(/exceeds max_count 4/);
  });
});

describe('nested structs', () => {
  test('padding inside and between nested structs', () => {
    const Inner = ndr.struct({ a: ndr.u8, b: ndr.u64 });
    const Outer = ndr.struct({ x: ndr.u16, inner: Inner, y: ndr.u8 });
    const v = { x: 0x0102, inner: { a: 0xaa, b: 0x1122334455667788n }, y: 0xbb };
    const expected =
      '0201' + //             x at 0
      '000000000000' + //     pad: Inner is aligned 8
      'aa' + //               inner.a at 8
      '00000000000000' + //   pad: b is aligned 8
      '8877665544332211' + // inner.b at 16
      'bb'; //                y at 24
    expect(enc(Outer, v)).toBe(expected);
    expect(ndr.decode(Outer, hex(expected))).toEqual(v);
    // big-endian sender, same values
    const be = '0102' + '000000000000' + 'aa' + '00000000000000' + '1122334455667788' + 'bb';
    expect(ndr.decode(Outer, hex(be), { le: false })).toEqual(v);
  });

  test('decode error paths name the field', () => {
    const T = ndr.struct({ a: ndr.u32, list: ndr.conformantArray(ndr.struct({ x: ndr.u16, y: ndr.u32 })) });
    // max_count 2, a, list[0] complete, list[1] truncated in y
    const e = decodeError(() => ndr.decode(T, hex('02000000 01000000 0100 0000 02000000 0300 0000 0400')));
    expect(e.field).toBe('list[1].y');
  });
});

describe('unions', () => {
  // IDL: typedef [switch_type(unsigned16)] union { [case(1)] u32; [case(2)] u8; [case(3)] unique u16* } U;
  const arms = { 1: ndr.u32, 2: ndr.u8, 3: ndr.unique(ndr.u16) };
  const P = ndr.struct({ level: ndr.u16, u: ndr.union({ switchType: ndr.u16, switchIs: 'level', arms }) });
  const PM = ndr.struct({ level: ndr.u16, u: ndr.union({ switchType: ndr.u16, switchIs: 'level', arms, msUnion: true }) });

  test('non-encapsulated (C706 14.3.8): union aligned to max(discriminant, arms), discriminant repeated', () => {
    const expected =
      '0200' + //  level (the switch_is field)
      '0000' + //  pad: the union is aligned to 4 (largest arm)
      '0200' + //  the union's own discriminant (MS-RPCE 2.2.4.8)
      '7f'; //     arm 2: u8 at its own alignment
    expect(enc(P, { level: 2, u: { tag: 2, value: 0x7f } })).toBe(expected);
    expect(ndr.decode(P, hex(expected))).toEqual({ level: 2, u: { tag: 2, value: 0x7f } });
    expect(enc(P, { level: 3, u: { tag: 3, value: 0x1234 } })).toBe(
      '0300' + '0000' + '0300' + //  level, pad, discriminant
      '0000' + '00000200' + //       pad, arm 3: referent id
      '3412', //                     deferred pointee
    );
  });

  test('ms_union (MS-RPCE 2.2.4.5): discriminant at its own alignment, arm at the largest arm alignment', () => {
    expect(enc(PM, { level: 2, u: { tag: 2, value: 0x7f } })).toBe('0200' + '0200' + '7f');
    expect(enc(PM, { level: 1, u: { tag: 1, value: 5 } })).toBe('0100' + '0100' + '05000000');
  });

  test('switch_is disagreement and unknown discriminant', () => {
    expect(encodeError(() => ndr.encode(P, { level: 1, u: { tag: 2, value: 1 } })).field).toBe('u.tag');
    expect(decodeError(() => ndr.decode(P, hex('0100 0000 0200 7f'))).field).toBe('u.tag');
    const e = decodeError(() => ndr.decode(P, hex('0900 0000 0900 7f')));
    expect(e.what).toMatch(/unknown discriminant 9/);
    expect(e.field).toBe('u.tag');
  });

  test('default arm', () => {
    const D = ndr.union({ switchType: ndr.u32, arms: { 0: ndr.empty }, default: ndr.u16 });
    expect(enc(D, { tag: 0, value: null })).toBe('00000000');
    expect(enc(D, { tag: 77, value: 3 })).toBe('4d000000' + '0300');
    expect(ndr.decode(D, hex('4d000000 0300'))).toEqual({ tag: 77, value: 3 });
  });

  test('encapsulated: struct { discriminant; union } with the body aligned to its largest arm', () => {
    const E = ndr.encapsulatedUnion(ndr.u16, { 1: ndr.u32, 2: ndr.f64 });
    expect(enc(E, { tag: 1, value: 0xdeadbeef })).toBe(
      '0100' + //          discriminant
      '000000000000' + //  pad: body aligned to 8 (f64 arm)
      'efbeadde', //       arm 1
    );
    expect(enc(E, { tag: 2, value: 1.5 })).toBe('0200' + '000000000000' + '000000000000f83f');
    expect(ndr.decode(E, hex('0002 000000000000 3ff8000000000000'), { le: false })).toEqual({ tag: 2, value: 1.5 });
    const E2 = ndr.encapsulatedUnion(ndr.u32, { 0: ndr.empty, 1: ndr.u16 });
    expect(enc(E2, { tag: 1, value: 7 })).toBe('01000000' + '0700');
  });
});

describe('type serialization version 1 (MS-RPCE 2.2.6)', () => {
  const T = ndr.struct({ a: ndr.u32, s: ndr.unique(ndr.wstring) });
  const expected =
    '01' + '10' + '0800' + 'cccccccc' + // common header: version 1, little-endian, length 8, filler
    '20000000' + '00000000' + //           private header: ObjectBufferLength 32, filler 0 (2.2.6.2)
    '01000000' + //                        a
    '00000200' + //                        s: referent id
    '03000000' + '00000000' + '03000000' + // *s: max_count, offset, actual_count
    '4100' + '4200' + '0000' + //          'A' 'B' NUL
    '000000000000'; //                     pad the object to a multiple of 8 (26 -> 32)

  test('header, private header, padded object', () => {
    expect(enc(ndr.typeSerialization1(T), { a: 1, s: 'AB' })).toBe(expected);
    expect(ndr.decode(ndr.typeSerialization1(T), hex(expected))).toEqual({ a: 1, s: 'AB' });
  });

  test('big-endian stream: endianness 0x00, header length stays little-endian', () => {
    const be = '01' + '00' + '0800' + 'cccccccc' + '00000020' + '00000000' + '00000001' + '00020000' +
      '00000003' + '00000000' + '00000003' + '0041' + '0042' + '0000' + '000000000000';
    expect(ndr.decode(ndr.typeSerialization1(T), hex(be))).toEqual({ a: 1, s: 'AB' });
    expect(enc(ndr.typeSerialization1(T), { a: 1, s: 'AB' }, { le: false })).toBe(be);
  });

  test('bad headers', () => {
    const b = hex(expected);
    b[0] = 2;
    expect(decodeError(() => ndr.decode(ndr.typeSerialization1(T), b)).what).toMatch(/version 2/);
    const c = hex(expected);
    c.writeUInt32LE(0x1000, 8);
    expect(decodeError(() => ndr.decode(ndr.typeSerialization1(T), c)).what).toMatch(/ObjectBufferLength/);
  });

  test('fillers other than the defaults are kept by the trace', () => {
    const b = hex(expected);
    b.writeUInt32LE(0x01020304, 12); // private header filler
    const d = ndr.decode(ndr.typeSerialization1(T), b, { trace: true });
    expect(ndr.encode(ndr.typeSerialization1(T), d.value)).not.toEqual(b);
    expect(ndr.encode(ndr.typeSerialization1(T), d.value, { replay: d.trace })).toEqual(b);
  });
});

describe('trace / replay', () => {
  const twr_t = ndr.struct({ tower_length: ndr.u32, tower_octet_string: ndr.conformantArray(ndr.u8, { sizeIs: 'tower_length' }) });
  const out = ndr.params({
    entry_handle: ndr.contextHandle,
    num_towers: ndr.u32,
    towers: ndr.conformantVaryingArray(ndr.unique(twr_t), { sizeIs: 'max_towers', lengthIs: 'num_towers' }),
    status: ndr.errorStatus,
  }, 'ept_map.out');
  // A non-Windows sender: referent id 3, max_count = max_towers (4) != actual_count, non-zero padding
  const wire = hex(
    '00000000 00000000000000000000000000000000' + // entry_handle
    '01000000' + //                                  num_towers
    '04000000 00000000 01000000' + //               max_count 4, offset 0, actual_count 1
    '03000000' + //                                  towers[0]: referent id 3
    '03000000 03000000 aabbcc' + //                  *towers[0]: max_count, tower_length, octets
    'ee' + //                                        padding, not zero
    '00000000', //                                   status
  );

  test('decode records ids, counts and padding; replay reproduces the octets', () => {
    const d = ndr.decodeParams(out, wire, { trace: true });
    expect(d.value.towers).toEqual([{ tower_length: 3, tower_octet_string: hex('aabbcc') }]);
    expect(d.trace.refIds).toEqual([3]);
    expect(d.trace.maxCounts).toEqual([4, 3]);
    expect(d.trace.offsets).toEqual([0]);
    // handle 20 + num_towers 4 + array header 12 + id 4 + max_count 4 + tower_length 4 + 3 octets = 51
    expect([...d.trace.bytes]).toEqual([[51, 0xee]]);
    expect(d.end).toBe(wire.length);
    const plain = ndr.encodeParams(out, d.value);
    expect(plain.toString('hex')).toBe(wire.toString('hex').replace('04000000000000000100000003000000', '01000000000000000100000000000200').replace('ccee', 'cc00'));
    expect(ndr.encodeParams(out, d.value, { replay: d.trace })).toEqual(wire);
  });

  test('size_is from the [in] side via scope', () => {
    const v = ndr.decodeParams(out, wire);
    expect(ndr.decodeParams(out, wire, { scope: { max_towers: 4 } })).toEqual(v);
    expect(decodeError(() => ndr.decodeParams(out, wire, { scope: { max_towers: 2 } })).field).toBe('ept_map.out.towers');
    // a server answering: max_count = max_towers
    const b = ndr.encodeParams(out, v, { scope: { max_towers: 4 } });
    expect(b.subarray(24, 28)).toEqual(hex('04000000'));
    expect(encodeError(() => ndr.encodeParams(out, { ...v, num_towers: 2 })).field).toBe('ept_map.out.towers');
  });

  test('error paths through arrays and pointers', () => {
    const three = ndr.encodeParams(out, {
      entry_handle: { attributes: 0, uuid: '00000000-0000-0000-0000-000000000000' },
      num_towers: 3,
      towers: [0, 1, 2].map(() => ({ tower_length: 1, tower_octet_string: hex('00') })),
      status: 0,
    });
    // header 24, array header 12, 3 ids 12 -> towers[0] at 48 (9 bytes + 3 pad), [1] at 60, [2] at 72
    const e = decodeError(() => ndr.decodeParams(out, three.subarray(0, 76)));
    expect(e.field).toBe('ept_map.out.towers[2].tower_length');
    expect(e.offset).toBe(76);
  });
});

test('userMarshal: values travel as the wire type', () => {
  const BSTRish = ndr.userMarshal(ndr.unique(ndr.wstring), {
    toWire: (v: { text: string }) => v.text,
    fromWire: (w) => ({ text: w ?? '' }),
  });
  const S = ndr.struct({ a: BSTRish, b: BSTRish });
  const b = ndr.encode(S, { a: { text: 'x' }, b: { text: 'y' } });
  expect(b.toString('hex')).toBe('00000200' + '04000200' + '02000000000000000200000078000000' + '02000000000000000200000079000000');
  expect(ndr.decode(S, b)).toEqual({ a: { text: 'x' }, b: { text: 'y' } });
  const Bad = ndr.userMarshal(ndr.u32, { toWire: (v: number) => v, fromWire: () => { throw new RangeError('nope'); } });
  expect(decodeError(() => ndr.decode(Bad, hex('01000000'))).what).toMatch(/fromWire: nope/);
});

test('interfaces as data', () => {
  const i = ndr.iface('demo', '{E1AF8308-5D1F-11C9-91A4-08002B14A0FA}', 3, 0, {
    hello: ndr.op(0, { in: { x: ndr.u32 }, out: { status: ndr.errorStatus } }),
    bye: ndr.op(5, { in: {}, out: { status: ndr.errorStatus } }),
  });
  expect(i.uuid).toBe('e1af8308-5d1f-11c9-91a4-08002b14a0fa');
  expect(i.byOpnum(5)).toBe(i.ops.bye);
  expect(i.byOpnum(1)).toBeUndefined();
  expect(i.ops.hello.in.name).toBe('hello.in');
  const input: ndr.In<typeof i.ops.hello> = { x: 1 };
  const output: ndr.Out<typeof i.ops.hello> = { status: 0 };
  expect(ndr.encodeParams(i.ops.hello.in, input)).toEqual(hex('01000000'));
  expect(ndr.decodeParams(i.ops.hello.out, hex('05000000'))).toEqual({ ...output, status: 5 });
  expect(decodeError(() => ndr.decodeParams(i.ops.hello.out, hex('0500'))).field).toBe('hello.out.status');
});

test('TypeScript types are inferred from the blocks', () => {
  const twr_t = ndr.struct({ tower_length: ndr.u32, tower_octet_string: ndr.conformantArray(ndr.u8, { sizeIs: 'tower_length' }) });
  const epm = ndr.iface('epm', 'e1af8308-5d1f-11c9-91a4-08002b14a0fa', 3, 0, {
    ept_map: ndr.op(3, {
      in: { object: ndr.unique(ndr.guid), map_tower: ndr.unique(twr_t), entry_handle: ndr.contextHandle, max_towers: ndr.u32 },
      out: {
        entry_handle: ndr.contextHandle, num_towers: ndr.u32,
        towers: ndr.conformantVaryingArray(ndr.unique(twr_t), { sizeIs: 'max_towers', lengthIs: 'num_towers' }),
        status: ndr.errorStatus,
      },
    }),
  });
  type Tower = { tower_length: number; tower_octet_string: Buffer };
  expectTypeOf<ndr.In<typeof epm.ops.ept_map>>().toEqualTypeOf<{
    object: string | null; map_tower: Tower | null; entry_handle: ndr.ContextHandle; max_towers: number;
  }>();
  expectTypeOf<ndr.Out<typeof epm.ops.ept_map>>().toEqualTypeOf<{
    entry_handle: ndr.ContextHandle; num_towers: number; towers: (Tower | null)[]; status: number;
  }>();
  const U = ndr.union({ switchType: ndr.u16, arms: { 1: ndr.u32, 2: ndr.string, 3: ndr.unique(ndr.u64) } });
  expectTypeOf<ndr.Infer<typeof U>>().toEqualTypeOf<
    { tag: 1; value: number } | { tag: 2; value: string } | { tag: 3; value: bigint | null }
  >();
  const UD = ndr.encapsulatedUnion(ndr.u32, { 0: ndr.empty }, { default: ndr.wstring });
  expectTypeOf<ndr.Infer<typeof UD>>().toEqualTypeOf<{ tag: 0; value: null } | { tag: number; value: string }>();
  expectTypeOf<ndr.Infer<typeof ndr.hyper>>().toEqualTypeOf<bigint>();
  expectTypeOf<ndr.Infer<ReturnType<typeof ndr.fixedArray<typeof ndr.u16>>>>().toEqualTypeOf<number[]>();
  const M = ndr.userMarshal(ndr.unique(ndr.wstring), { toWire: (d: Date) => d.toISOString(), fromWire: (s) => new Date(s ?? 0) });
  expectTypeOf<ndr.Infer<typeof M>>().toEqualTypeOf<Date>();
  expectTypeOf<ndr.Infer<ReturnType<typeof ndr.typeSerialization1<typeof twr_t>>>>().toEqualTypeOf<Tower>();
  expect(() =>
    // @ts-expect-error: a wrong value type does not compile (and fails at run time)
    ndr.encode(twr_t, { tower_length: 1 }),
  ).toThrow(NdrEncodeError);
});
