// Property tests: random NDR *types* built from the blocks, random values for them.
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { NdrDecodeError } from '../../src/base/errors';
import * as ndr from '../../src/ndr';

type PrimName =
  | 'u8' | 'i8' | 'u16' | 'i16' | 'u32' | 'i32' | 'u64' | 'i64' | 'f32' | 'f64' | 'boolean' | 'char' | 'wchar'
  | 'guid' | 'hresult' | 'enum16' | 'contextHandle';
type DiscName = 'u8' | 'u16' | 'u32';
type PtrKind = 'ref' | 'unique' | 'full';
type Desc =
  | { k: 'prim'; name: PrimName }
  | { k: 'struct'; fields: Desc[] }
  | { k: 'fixed'; el: Desc; n: number }
  | { k: 'var'; el: Desc; n: number }
  | { k: 'conf'; el: Desc }
  | { k: 'cvar'; el: Desc }
  | { k: 'str'; wide: boolean; size: number | null }
  | { k: 'ptr'; kind: PtrKind; target: Desc }
  | { k: 'union'; enc: boolean; ms: boolean; disc: DiscName; arms: Desc[]; dflt: Desc | null }
  | { k: 'switched'; ms: boolean; disc: DiscName; arms: Desc[] }
  | { k: 'sized'; el: Desc }
  | { k: 'sizedPtr'; el: Desc }
  | { k: 'lengthed'; el: Desc };

const PRIMS: PrimName[] = ['u8', 'i8', 'u16', 'i16', 'u32', 'i32', 'u64', 'i64', 'f32', 'f64', 'boolean', 'char', 'wchar', 'guid', 'hresult', 'enum16', 'contextHandle'];
const prim = fc.constantFrom(...PRIMS).map((name): Desc => ({ k: 'prim', name }));
const disc = fc.constantFrom<DiscName>('u8', 'u16', 'u32');

const fixedMemo = new Map<number, fc.Arbitrary<Desc>>();
const confMemo = new Map<number, fc.Arbitrary<Desc>>();

/** Types that are not conformant: usable anywhere. */
function fixedDesc(d: number): fc.Arbitrary<Desc> {
  if (d <= 0) return prim;
  let a = fixedMemo.get(d);
  if (a) return a;
  const sub = fixedDesc(d - 1);
  a = fc.oneof(
    { weight: 4, arbitrary: prim },
    { weight: 2, arbitrary: fc.array(sub, { minLength: 0, maxLength: 4 }).map((fields): Desc => ({ k: 'struct', fields })) },
    { weight: 1, arbitrary: fc.record({ el: sub, n: fc.integer({ min: 0, max: 3 }) }).map((x): Desc => ({ k: 'fixed', ...x })) },
    { weight: 1, arbitrary: fc.record({ el: sub, n: fc.integer({ min: 0, max: 4 }) }).map((x): Desc => ({ k: 'var', ...x })) },
    { weight: 1, arbitrary: fc.record({ wide: fc.boolean(), size: fc.integer({ min: 1, max: 6 }) }).map((x): Desc => ({ k: 'str', ...x })) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constantFrom<PtrKind>('ref', 'unique', 'full'), target: anyDesc(d - 1) }).map((x): Desc => ({ k: 'ptr', ...x })) },
    { weight: 1, arbitrary: fc.record({ enc: fc.boolean(), ms: fc.boolean(), disc, arms: fc.array(sub, { minLength: 1, maxLength: 3 }), dflt: fc.option(sub, { nil: null }) }).map((x): Desc => ({ k: 'union', ...x })) },
    { weight: 1, arbitrary: fc.record({ ms: fc.boolean(), disc, arms: fc.array(sub, { minLength: 1, maxLength: 3 }) }).map((x): Desc => ({ k: 'switched', ...x })) },
    { weight: 1, arbitrary: sub.map((el): Desc => ({ k: 'sizedPtr', el })) },
  );
  fixedMemo.set(d, a);
  return a;
}

/** Conformant types: only at top level, as a pointee, or as the last member of a struct. */
function confDesc(d: number): fc.Arbitrary<Desc> {
  const str = fc.boolean().map((wide): Desc => ({ k: 'str', wide, size: null }));
  if (d <= 0) return str;
  let a = confMemo.get(d);
  if (a) return a;
  const sub = fixedDesc(d - 1);
  a = fc.oneof(
    str,
    sub.map((el): Desc => ({ k: 'conf', el })),
    sub.map((el): Desc => ({ k: 'cvar', el })),
    sub.map((el): Desc => ({ k: 'sized', el })),
    sub.map((el): Desc => ({ k: 'lengthed', el })),
    fc.record({ head: fc.array(sub, { maxLength: 2 }), tail: confDesc(d - 1) }).map((x): Desc => ({ k: 'struct', fields: [...x.head, x.tail] })),
  );
  confMemo.set(d, a);
  return a;
}

function anyDesc(d: number): fc.Arbitrary<Desc> {
  return fc.oneof({ weight: 3, arbitrary: fixedDesc(d) }, { weight: 1, arbitrary: confDesc(d) });
}

// ---- Desc -> NDR type
const discType = (n: DiscName) => ndr[n];
const tagOf = (i: number) => i * 3 + 1;
const DEFAULT_TAG = 200;

function armsOf(arms: Desc[]): Record<number, ndr.AnyType> {
  return Object.fromEntries(arms.map((a, i) => [tagOf(i), build(a)]));
}

function build(d: Desc): ndr.AnyType {
  switch (d.k) {
    case 'prim': return ndr[d.name];
    case 'struct': return ndr.struct(Object.fromEntries(d.fields.map((f, i) => [`f${i}`, build(f)])));
    case 'fixed': return ndr.fixedArray(build(d.el), d.n);
    case 'var': return ndr.varyingArray(build(d.el), d.n);
    case 'conf': return ndr.conformantArray(build(d.el));
    case 'cvar': return ndr.conformantVaryingArray(build(d.el));
    case 'str': return d.size === null ? (d.wide ? ndr.wstring : ndr.string) : d.wide ? ndr.varyingWstring(d.size) : ndr.varyingString(d.size);
    case 'ptr': return ndr[d.kind](build(d.target));
    case 'union': {
      const arms = armsOf(d.arms);
      const dflt = d.dflt ? build(d.dflt) : undefined;
      return d.enc
        ? ndr.encapsulatedUnion(discType(d.disc), arms, { default: dflt })
        : ndr.union({ switchType: discType(d.disc), arms, default: dflt, msUnion: d.ms });
    }
    case 'switched':
      return ndr.struct({ sw: discType(d.disc), u: ndr.union({ switchType: discType(d.disc), switchIs: 'sw', arms: armsOf(d.arms), msUnion: d.ms }) });
    case 'sized': return ndr.struct({ n: ndr.u32, a: ndr.conformantArray(build(d.el), { sizeIs: 'n' }) });
    case 'sizedPtr': return ndr.struct({ n: ndr.u16, p: ndr.unique(ndr.conformantArray(build(d.el), { sizeIs: 'n' })) });
    case 'lengthed': return ndr.struct({ len: ndr.u32, a: ndr.conformantVaryingArray(build(d.el), { lengthIs: 'len', sizeIs: (s) => s.len }) });
  }
}

// ---- Desc -> values
const u32v = fc.integer({ min: 0, max: 0xffffffff });
const PRIM_VALUES: Record<PrimName, fc.Arbitrary<unknown>> = {
  u8: fc.integer({ min: 0, max: 255 }),
  i8: fc.integer({ min: -128, max: 127 }),
  u16: fc.integer({ min: 0, max: 0xffff }),
  i16: fc.integer({ min: -0x8000, max: 0x7fff }),
  u32: u32v,
  i32: fc.integer({ min: -0x80000000, max: 0x7fffffff }),
  u64: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
  i64: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
  f32: fc.float(),
  f64: fc.double(),
  boolean: fc.boolean(),
  char: fc.integer({ min: 0, max: 255 }),
  wchar: fc.integer({ min: 0, max: 0xffff }),
  guid: fc.uuid(),
  hresult: u32v,
  enum16: fc.integer({ min: 0, max: 0xffff }),
  contextHandle: fc.record({ attributes: u32v, uuid: fc.uuid() }),
};
const latin1 = fc.string({ unit: fc.integer({ min: 0, max: 255 }).map((c) => String.fromCharCode(c)), maxLength: 8 });
const utf16 = (max: number) => fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)), maxLength: max });

function arrOf(el: Desc, min: number, max: number): fc.Arbitrary<unknown> {
  const a = fc.array(val(el), { minLength: min, maxLength: max });
  return el.k === 'prim' && el.name === 'u8' ? a.map((x) => Buffer.from(x as number[])) : a;
}

function unionVal(arms: Desc[], dflt: Desc | null): fc.Arbitrary<{ tag: number; value: unknown }> {
  const choices = arms.map((a, i) => val(a).map((value) => ({ tag: tagOf(i), value })));
  if (dflt) choices.push(val(dflt).map((value) => ({ tag: DEFAULT_TAG, value })));
  return fc.oneof(...choices);
}

function val(d: Desc): fc.Arbitrary<unknown> {
  switch (d.k) {
    case 'prim': return PRIM_VALUES[d.name];
    case 'struct': return fc.tuple(...d.fields.map(val)).map((vs) => Object.fromEntries(vs.map((v, i) => [`f${i}`, v])));
    case 'fixed': return arrOf(d.el, d.n, d.n);
    case 'var': return arrOf(d.el, 0, d.n);
    case 'conf':
    case 'cvar': return arrOf(d.el, 0, 4);
    case 'str': {
      const max = d.size === null ? 8 : d.size - 1;
      return d.wide ? utf16(max) : latin1.map((s) => s.slice(0, max));
    }
    case 'ptr': return d.kind === 'ref' ? val(d.target) : fc.option(val(d.target), { nil: null });
    case 'union': return unionVal(d.arms, d.dflt);
    case 'switched': return unionVal(d.arms, null).map((u) => ({ sw: u.tag, u }));
    case 'sized': return arrOf(d.el, 0, 4).map((a) => ({ n: (a as unknown[]).length, a }));
    case 'sizedPtr': return fc.option(arrOf(d.el, 0, 4), { nil: null }).map((p) => ({ n: p ? (p as unknown[]).length : 0, p }));
    case 'lengthed': return arrOf(d.el, 0, 4).map((a) => ({ len: (a as unknown[]).length, a }));
  }
}

const typeAndValue = anyDesc(3).chain((d) => fc.tuple(fc.constant(d), val(d)));

describe('random types', () => {
  test('decode(encode(v)) == v in both byte orders; replay is stable', () => {
    fc.assert(
      fc.property(typeAndValue, ([d, v]) => {
        const t = build(d);
        for (const le of [true, false]) {
          const b = ndr.encode(t, v, { le });
          const r = ndr.decode(t, b, { le, trace: true });
          expect(r.value).toEqual(v);
          expect(r.end).toBe(b.length);
          expect(ndr.encode(t, r.value, { le, replay: r.trace })).toEqual(b);
          expect(ndr.encode(t, r.value, { le })).toEqual(b);
        }
        // the same value inside a type serialization and as a parameter list
        const ts = ndr.typeSerialization1(t);
        expect(ndr.decode(ts, ndr.encode(ts, v))).toEqual(v);
        const p = ndr.params({ pad: ndr.u8, x: t, y: ndr.u8 });
        expect(ndr.decodeParams(p, ndr.encodeParams(p, { pad: 1, x: v, y: 2 }))).toEqual({ pad: 1, x: v, y: 2 });
      }),
      { numRuns: 400 },
    );
  });

  test('random bytes into random types: a value (that re-encodes) or an NdrDecodeError', () => {
    fc.assert(
      fc.property(anyDesc(3), fc.uint8Array({ maxLength: 96 }), fc.boolean(), (d, bytes, le) => {
        const t = build(d);
        let v: unknown;
        try {
          v = ndr.decode(t, bytes, { le });
        } catch (e) {
          if (!(e instanceof NdrDecodeError)) throw e;
          return;
        }
        const again = ndr.decode(t, ndr.encode(t, v as never, { le }), { le });
        expect(again).toEqual(v);
      }),
      { numRuns: 3000 },
    );
  });

  test('bit-flipped valid encodings: a value or an NdrDecodeError', () => {
    fc.assert(
      fc.property(typeAndValue, fc.array(fc.nat(), { minLength: 1, maxLength: 4 }), ([d, v], flips) => {
        const t = build(d);
        const b = ndr.encode(t, v);
        if (b.length === 0) return;
        for (const f of flips) b[f % b.length]! ^= 1 << (f % 8);
        try {
          ndr.decode(t, b, { trace: true });
        } catch (e) {
          if (!(e instanceof NdrDecodeError)) throw e;
        }
      }),
      { numRuns: 2000 },
    );
  });
});

test('type definitions that NDR cannot represent are refused', () => {
  expect(() => ndr.encode(ndr.struct({ a: ndr.string, b: ndr.u8 }), { a: '', b: 0 })).toThrow(TypeError);
  expect(() => ndr.encode(ndr.conformantArray(ndr.string), [])).toThrow(TypeError);
  interface R { r: R }
  const r: ndr.NdrType<R> = ndr.struct({ r: ndr.lazy<R>(() => r) });
  expect(() => ndr.encode(r, {} as R)).toThrow(/recursive/);
});
