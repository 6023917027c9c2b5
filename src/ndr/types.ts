// NDR 2.0 (C706 chapter 14) building blocks. Each block is a typed descriptor; on first use it is
// compiled into closures (`Codec`) that read and write Buffers directly.
//
// Every type has two parts (C706 14.3.12 "deferral"; Samba's NDR_SCALARS / NDR_BUFFERS):
//   scalars  - what sits in place: primitives, referent ids of embedded pointers, array elements'
//              scalars, a conformant array's elements (its max_count is hoisted), ...
//   buffers  - the pointees of embedded pointers, in order, each as a full representation.
// A "full representation" (top-level parameter, pointee) is: [hoisted max_count] scalars buffers.

import { normalizeGuid, readGuid } from '../base/guid';
import {
  badValue, DecodeFail, dseg, EncodeFail, eseg, sibling,
  type FullEntry, type Reader, type Writer,
} from './io';

// ---------------------------------------------------------------------------------------------
// Descriptor base

export interface Layout {
  /** Alignment of the scalars part (a power of two). */
  readonly align: number;
  /** Minimum number of octets of the scalars part (used to bound counts read from the wire). */
  readonly minSize: number;
  /** Has a (non-empty) buffers part, i.e. contains embedded pointers. */
  readonly hasBuffers: boolean;
  /** Has a hoisted conformance (a conformant array / string, or a struct ending in one). */
  readonly conformant: boolean;
}

type EncFn = (w: Writer, v: any, s: any) => void;
type ConfFn = (w: Writer, v: any, s: any) => number;
type DecFn = (r: Reader, s: any) => any;
type DecBFn = (r: Reader, v: any, s: any) => any;

/** Compiled closures for one type. Internal, but exposed for other engine modules. */
export interface Codec {
  /** scalars */
  encS: EncFn;
  /** buffers (deferred pointees) */
  encB: EncFn;
  /** the max_count a conformant type hoists (only for conformant types) */
  encConf: ConfFn;
  /** full representation: conformance, scalars, buffers */
  encF: EncFn;
  /** as a top-level parameter (pointer semantics differ at top level) */
  encT: EncFn;
  decS: DecFn;
  decB: DecBFn;
  /** conformance + scalars (used by full pointers to register the pointee before its buffers) */
  decFS: DecFn;
  decF: DecFn;
  decT: DecFn;
}

export abstract class NdrType<V = unknown> {
  /** Phantom: the TypeScript type of values of this NDR type. */
  declare readonly __value: V;
  abstract readonly kind: string;
  #layout: Layout | undefined;
  #codec: Codec | undefined;
  #busy = false;

  get layout(): Layout {
    if (this.#layout === undefined) {
      if (this.#busy) throw new TypeError(`ndr: recursive ${this.kind} type without a pointer in between`);
      this.#busy = true;
      try {
        this.#layout = this.computeLayout();
      } finally {
        this.#busy = false;
      }
    }
    return this.#layout;
  }

  get codec(): Codec {
    if (this.#codec === undefined) {
      const layout = this.layout;
      this.#codec = finish(layout, this.compile());
    }
    return this.#codec;
  }

  protected abstract computeLayout(): Layout;
  protected abstract compile(): CodecParts;
}

export type Infer<T> = T extends NdrType<infer V> ? V : never;
export type AnyType = NdrType<any>;
export type Fields = { readonly [k: string]: AnyType };
type Simplify<T> = { [K in keyof T]: T[K] } & {};
export type StructValue<F extends Fields> = Simplify<{ -readonly [K in keyof F]: Infer<F[K]> }>;

interface CodecParts {
  encS: EncFn;
  encB?: EncFn;
  encConf?: ConfFn;
  encT?: EncFn;
  decS: DecFn;
  decB?: DecBFn;
  decT?: DecFn;
}

const noEnc: EncFn = () => {};
const identity: DecBFn = (_r, v) => v;
const noConf: ConfFn = () => {
  throw new EncodeFail('internal: not a conformant type');
};

function finish(layout: Layout, p: CodecParts): Codec {
  const { encS, decS } = p;
  const hb = layout.hasBuffers;
  const encB = hb ? p.encB! : noEnc;
  const decB = hb ? p.decB! : identity;
  const encConf = p.encConf ?? noConf;
  let encF: EncFn;
  let decFS: DecFn;
  if (layout.conformant) {
    encF = (w, v, s) => {
      w.align(4);
      const m = encConf(w, v, s);
      w.u32(m);
      w.conf = m;
      encS(w, v, s);
      if (hb) encB(w, v, s);
    };
    decFS = (r, s) => {
      const m = r.u32a();
      if (r.trace !== null) r.trace.maxCounts.push(m);
      r.conf = m;
      return decS(r, s);
    };
  } else {
    encF = hb ? (w, v, s) => { encS(w, v, s); encB(w, v, s); } : encS;
    decFS = decS;
  }
  const decF: DecFn = hb ? (r, s) => decB(r, decFS(r, s), s) : decFS;
  return { encS, encB, encConf, encF, encT: p.encT ?? encF, decS, decB, decFS, decF, decT: p.decT ?? decF };
}

// ---------------------------------------------------------------------------------------------
// Primitives

export class Primitive<V> extends NdrType<V> {
  readonly kind = 'primitive';
  constructor(
    readonly name: string,
    readonly size: number,
    readonly alignment: number,
    private readonly enc: EncFn,
    private readonly dec: DecFn,
  ) {
    super();
  }
  protected computeLayout(): Layout {
    return { align: this.alignment, minSize: this.size, hasBuffers: false, conformant: false };
  }
  protected compile(): CodecParts {
    return { encS: this.enc, decS: this.dec };
  }
}

/** The distinct TS type of u8 / byte, so that arrays of it are typed as Buffer. */
export interface U8Type extends Primitive<number> {
  readonly __u8: true;
}

function u16Of(r: Reader): number {
  r.align(2);
  return r.u16();
}

function f32enc(w: Writer, v: any): void {
  if (typeof v !== 'number') throw badValue('a number', v);
  w.align(4);
  w.ensure(4);
  if (w.le) w.buf.writeFloatLE(v, w.pos);
  else w.buf.writeFloatBE(v, w.pos);
  w.pos += 4;
}
function f32dec(r: Reader): number {
  r.align(4);
  if (r.end - r.pos < 4) r.trunc(4);
  const v = r.le ? r.buf.readFloatLE(r.pos) : r.buf.readFloatBE(r.pos);
  r.pos += 4;
  return v;
}
function f64enc(w: Writer, v: any): void {
  if (typeof v !== 'number') throw badValue('a number', v);
  w.align(8);
  w.ensure(8);
  if (w.le) w.buf.writeDoubleLE(v, w.pos);
  else w.buf.writeDoubleBE(v, w.pos);
  w.pos += 8;
}
function f64dec(r: Reader): number {
  r.align(8);
  if (r.end - r.pos < 8) r.trunc(8);
  const v = r.le ? r.buf.readDoubleLE(r.pos) : r.buf.readDoubleBE(r.pos);
  r.pos += 8;
  return v;
}

function u64write(w: Writer, u: bigint): void {
  const lo = Number(u & 0xffffffffn);
  const hi = Number(u >> 32n);
  w.align(8);
  if (w.le) {
    w.u32(lo);
    w.u32(hi);
  } else {
    w.u32(hi);
    w.u32(lo);
  }
}
function u64read(r: Reader): bigint {
  r.align(8);
  if (r.end - r.pos < 8) r.trunc(8);
  const a = r.u32();
  const b = r.u32();
  const lo = r.le ? a : b;
  const hi = r.le ? b : a;
  return hi === 0 ? BigInt(lo) : (BigInt(hi) << 32n) | BigInt(lo);
}

const HEXV = new Int8Array(128).fill(-1);
for (let i = 0; i < 10; i++) HEXV[48 + i] = i;
for (let i = 0; i < 6; i++) {
  HEXV[97 + i] = 10 + i;
  HEXV[65 + i] = 10 + i;
}
// byte i of a GUID in string order starts at this character index
const GUID_POS = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];
const GUID_LE_ORDER = [3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15];

function guidEnc(w: Writer, v: any): void {
  if (typeof v !== 'string') throw badValue('a GUID string', v);
  let s: string = v;
  if (s.length !== 36 || s.charCodeAt(8) !== 45 || s.charCodeAt(13) !== 45 || s.charCodeAt(18) !== 45 || s.charCodeAt(23) !== 45) {
    try {
      s = normalizeGuid(s);
    } catch {
      throw badValue('a GUID string', v);
    }
  }
  w.align(4);
  w.ensure(16);
  const b = w.buf;
  const p = w.pos;
  for (let i = 0; i < 16; i++) {
      const c = GUID_POS[i]!;
      const hi = HEXV[s.charCodeAt(c) & 127]!;
      const lo = HEXV[s.charCodeAt(c + 1) & 127]!;
      if (hi < 0 || lo < 0 || s.charCodeAt(c) > 127 || s.charCodeAt(c + 1) > 127) throw badValue('a GUID string', v);
      b[p + (w.le ? GUID_LE_ORDER[i]! : i)] = (hi << 4) | lo;
  }
  w.pos = p + 16;
}
function guidDec(r: Reader): string {
  r.align(4);
  if (r.end - r.pos < 16) r.trunc(16);
  const s = readGuid(r.buf, r.pos, r.le);
  r.pos += 16;
  return s;
}

function mkU8(): U8Type {
  return new Primitive<number>('u8', 1, 1, (w, v) => {
    if ((v & 0xff) !== v) throw badValue('u8', v);
    w.ensure(1);
    w.buf[w.pos++] = v;
  }, (r) => r.u8()) as U8Type;
}

function u16Prim(name: string): Primitive<number> {
  return new Primitive<number>(name, 2, 2, (w, v) => {
    if ((v & 0xffff) !== v) throw badValue(name, v);
    w.align(2);
    w.u16(v);
  }, u16Of);
}
function u32Prim(name: string): Primitive<number> {
  return new Primitive<number>(name, 4, 4, (w, v) => {
    if ((v >>> 0) !== v) throw badValue(name, v);
    w.u32a(v);
  }, (r) => r.u32a());
}

export const u8: U8Type = mkU8();
export const byte: U8Type = u8;
export const i8 = new Primitive<number>('i8', 1, 1, (w, v) => {
  if (((v << 24) >> 24) !== v) throw badValue('i8', v);
  w.u8(v & 0xff);
}, (r) => (r.u8() << 24) >> 24);
export const u16 = u16Prim('u16');
export const i16 = new Primitive<number>('i16', 2, 2, (w, v) => {
  if (((v << 16) >> 16) !== v) throw badValue('i16', v);
  w.align(2);
  w.u16(v & 0xffff);
}, (r) => (u16Of(r) << 16) >> 16);
export const u32 = u32Prim('u32');
export const i32 = new Primitive<number>('i32', 4, 4, (w, v) => {
  if ((v | 0) !== v) throw badValue('i32', v);
  w.u32a(v >>> 0);
}, (r) => r.u32a() | 0);
export const u64 = new Primitive<bigint>('u64', 8, 8, (w, v) => {
  if (typeof v !== 'bigint' || BigInt.asUintN(64, v) !== v) throw badValue('u64 (bigint)', v);
  u64write(w, v);
}, u64read);
export const i64 = new Primitive<bigint>('i64', 8, 8, (w, v) => {
  if (typeof v !== 'bigint' || BigInt.asIntN(64, v) !== v) throw badValue('i64 (bigint)', v);
  u64write(w, BigInt.asUintN(64, v));
}, (r) => BigInt.asIntN(64, u64read(r)));
export const hyper = i64;
export const f32 = new Primitive<number>('f32', 4, 4, f32enc, f32dec);
export const f64 = new Primitive<number>('f64', 8, 8, f64enc, f64dec);
export const boolean = new Primitive<boolean>('boolean', 1, 1, (w, v) => {
  if (typeof v !== 'boolean') throw badValue('a boolean', v);
  w.u8(v ? 1 : 0);
}, (r) => r.u8() !== 0);
export const char = new Primitive<number>('char', 1, 1, (w, v) => {
  if ((v & 0xff) !== v) throw badValue('char (0..255)', v);
  w.u8(v);
}, (r) => r.u8());
export const wchar = u16Prim('wchar');
/** NDR enumerations are 16-bit unsigned on the wire (C706 14.2.11). */
export const enum16 = u16Prim('enum16');
/** [v1_enum]: 32-bit. */
export const enum32 = u32Prim('enum32');
export const errorStatus = u32Prim('errorStatus');
/** HRESULT: decoded as unsigned 32-bit; encode accepts the unsigned or the signed form. */
export const hresult = new Primitive<number>('hresult', 4, 4, (w, v) => {
  if ((v >>> 0) !== v && (v | 0) !== v) throw badValue('hresult (32-bit)', v);
  w.u32a(v >>> 0);
}, (r) => r.u32a());
export const guid = new Primitive<string>('guid', 16, 4, guidEnc, guidDec);

export interface ContextHandle {
  attributes: number;
  uuid: string;
}
/** ndr_context_handle (C706 / MS-RPCE 2.2.4.2 context_handle): attributes u32 + uuid, 20 octets. */
export const contextHandle = new Primitive<ContextHandle>('contextHandle', 20, 4, (w, v) => {
  if (typeof v !== 'object' || v === null) throw badValue('{ attributes, uuid }', v);
  const a = v.attributes;
  if ((a >>> 0) !== a) throw eseg(badValue('u32', a), '.attributes');
  w.u32a(a);
  try {
    guidEnc(w, v.uuid);
  } catch (e) {
    throw eseg(e, '.uuid');
  }
}, (r) => {
  const attributes = r.u32a();
  return { attributes, uuid: guidDec(r) };
});

/** An empty union arm / void. Value: null. */
export const empty = new Primitive<null>('empty', 0, 1, () => {}, () => null);

// ---------------------------------------------------------------------------------------------
// Structures

export class StructType<F extends Fields> extends NdrType<StructValue<F>> {
  readonly kind = 'struct';
  readonly keys: readonly string[];
  constructor(readonly fields: F) {
    super();
    this.keys = Object.keys(fields);
  }

  protected computeLayout(): Layout {
    const keys = this.keys;
    let align = 1;
    let minSize = 0;
    let hasBuffers = false;
    let conformant = false;
    keys.forEach((k, i) => {
      const l = this.fields[k]!.layout;
      if (l.conformant && i !== keys.length - 1) {
        throw new TypeError(`ndr.struct: conformant member '${k}' must be the last member`);
      }
      if (l.align > align) align = l.align;
      minSize += l.minSize;
      hasBuffers ||= l.hasBuffers;
      conformant = l.conformant;
    });
    return { align, minSize, hasBuffers, conformant };
  }

  protected compile(): CodecParts {
    const keys = this.keys;
    const n = keys.length;
    const { align: al, conformant } = this.layout;
    const codecs = keys.map((k) => this.fields[k]!.codec);
    const encs = codecs.map((c) => c.encS);
    const decs = codecs.map((c) => c.decS);
    const segs = keys.map((k) => '.' + k);
    const confIdx = conformant ? n - 1 : -1;
    const bIdx: number[] = [];
    keys.forEach((k, i) => {
      if (this.fields[k]!.layout.hasBuffers) bIdx.push(i);
    });
    const nb = bIdx.length;
    const bKeys = bIdx.map((i) => keys[i]!);
    const bEnc = bIdx.map((i) => codecs[i]!.encB);
    const bDec = bIdx.map((i) => codecs[i]!.decB);
    const bSegs = bIdx.map((i) => segs[i]!);

    const encS: EncFn = (w, v) => {
      if (typeof v !== 'object' || v === null) throw badValue('an object', v);
      w.align(al);
      const c = w.conf;
      let i = 0;
      try {
        for (; i < n; i++) {
          if (i === confIdx) w.conf = c;
          encs[i]!(w, v[keys[i]!], v);
        }
      } catch (e) {
        throw eseg(e, segs[i]!);
      }
    };
    const encB: EncFn = (w, v) => {
      let j = 0;
      try {
        for (; j < nb; j++) bEnc[j]!(w, v[bKeys[j]!], v);
      } catch (e) {
        throw eseg(e, bSegs[j]!);
      }
    };
    const decS: DecFn = (r) => {
      r.align(al);
      const c = r.conf;
      const o: any = {};
      let i = 0;
      try {
        for (; i < n; i++) {
          if (i === confIdx) r.conf = c;
          o[keys[i]!] = decs[i]!(r, o);
        }
      } catch (e) {
        throw dseg(e, segs[i]!, r);
      }
      return o;
    };
    const decB: DecBFn = (r, o) => {
      let j = 0;
      try {
        for (; j < nb; j++) {
          const k = bKeys[j]!;
          o[k] = bDec[j]!(r, o[k], o);
        }
      } catch (e) {
        throw dseg(e, bSegs[j]!, r);
      }
      return o;
    };
    let encConf: ConfFn | undefined;
    if (conformant) {
      const lastKey = keys[n - 1]!;
      const lastSeg = segs[n - 1]!;
      const lastConf = codecs[n - 1]!.encConf;
      encConf = (w, v) => {
        if (typeof v !== 'object' || v === null) throw badValue('an object', v);
        try {
          return lastConf(w, v[lastKey], v);
        } catch (e) {
          throw eseg(e, lastSeg);
        }
      };
    }
    return { encS, encB, decS, decB, encConf };
  }
}

// ---------------------------------------------------------------------------------------------
// Arrays

/** size_is / length_is / first_is / switch_is: a sibling field's name, or a function of the scope. */
export type Expr = string | ((scope: any) => number);

export type ArrayValue<E> = E extends U8Type ? Buffer : Infer<E>[];

function exprName(e: Expr): string {
  return typeof e === 'string' ? e : 'expression';
}

/** Evaluate a size expression; undefined when it cannot be evaluated here (sibling not in scope). */
function evalExpr(ctx: Reader | Writer, e: Expr, s: any): number | undefined {
  if (typeof e === 'string') return sibling(ctx, s, e);
  let v: unknown;
  try {
    v = e(s);
  } catch {
    return undefined;
  }
  if (typeof v === 'bigint') return Number(v);
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

interface ElemCodec {
  /** Length of an array value, or throws. */
  len(v: any): number;
  enc(w: Writer, v: any, n: number, s: any): void;
  encB(w: Writer, v: any, n: number, s: any): void;
  dec(r: Reader, n: number, s: any): any;
  decB(r: Reader, v: any, n: number, s: any): void;
}

function elemCodec(el: AnyType): ElemCodec {
  const isU8 = el === u8;
  const c = el.codec;
  const l = el.layout;
  // Bound counts read from the wire by the bytes left. Zero-size elements (empty structs) cost no
  // bytes; allow a small fixed slack for them so that a hostile count cannot allocate 2^32 slots.
  const min = l.minSize;
  const ZERO_SIZE_SLACK = 1024;
  const ea = l.align;
  const { encS, encB, decS, decB } = c;
  return {
    len(v) {
      if (Array.isArray(v)) return v.length;
      if (isU8 && v instanceof Uint8Array) return v.length;
      throw badValue(isU8 ? 'a Buffer' : 'an array', v);
    },
    enc(w, v, n, s) {
      // the array is aligned to its elements even when empty (as Windows/Wine stubs do)
      w.align(ea);
      if (n === 0) return;
      if (isU8 && v instanceof Uint8Array) {
        w.ensure(n);
        w.buf.set(v, w.pos);
        w.pos += n;
        return;
      }
      let i = 0;
      try {
        for (; i < n; i++) encS(w, v[i], s);
      } catch (e) {
        throw eseg(e, `[${i}]`);
      }
    },
    encB(w, v, n, s) {
      let i = 0;
      try {
        for (; i < n; i++) encB(w, v[i], s);
      } catch (e) {
        throw eseg(e, `[${i}]`);
      }
    },
    dec(r, n, s) {
      if (min === 0 ? n > r.end - r.pos + ZERO_SIZE_SLACK : n > (r.end - r.pos) / min) {
        r.fail(`element count ${n} exceeds the ${r.end - r.pos} byte(s) left`);
      }
      if (isU8) {
        const out = Buffer.allocUnsafe(n);
        r.buf.copy(out, 0, r.pos, r.pos + n);
        r.pos += n;
        return out;
      }
      const a = new Array(n);
      if (n === 0) {
        const pad = (r.base - r.pos) & (ea - 1);
        if (pad !== 0 && r.end - r.pos >= pad) r.align(ea);
        return a;
      }
      r.align(ea);
      let i = 0;
      try {
        for (; i < n; i++) a[i] = decS(r, s);
      } catch (e) {
        throw dseg(e, `[${i}]`, r);
      }
      return a;
    },
    decB(r, a, n, s) {
      let i = 0;
      try {
        for (; i < n; i++) a[i] = decB(r, a[i], s);
      } catch (e) {
        throw dseg(e, `[${i}]`, r);
      }
    },
  };
}

function checkElement(what: string, el: AnyType): void {
  if (el.layout.conformant) throw new TypeError(`ndr.${what}: elements must not be conformant`);
}

export class FixedArrayType<E extends AnyType> extends NdrType<ArrayValue<E>> {
  readonly kind = 'fixedArray';
  constructor(readonly element: E, readonly length: number) {
    super();
    if (!Number.isInteger(length) || length < 0) throw new TypeError('ndr.fixedArray: bad length');
  }
  protected computeLayout(): Layout {
    checkElement('fixedArray', this.element);
    const l = this.element.layout;
    return { align: l.align, minSize: l.minSize * this.length, hasBuffers: l.hasBuffers, conformant: false };
  }
  protected compile(): CodecParts {
    const ec = elemCodec(this.element);
    const n = this.length;
    return {
      encS: (w, v, s) => {
        const len = ec.len(v);
        if (len !== n) throw new EncodeFail(`fixed array needs ${n} element(s), got ${len}`);
        ec.enc(w, v, n, s);
      },
      encB: (w, v, s) => ec.encB(w, v, n, s),
      decS: (r, s) => ec.dec(r, n, s),
      decB: (r, v, s) => {
        ec.decB(r, v, n, s);
        return v;
      },
    };
  }
}

export interface ConformantOpts {
  sizeIs?: Expr;
}
export interface VaryingOpts {
  lengthIs?: Expr;
  firstIs?: Expr;
}

export class ConformantArrayType<E extends AnyType> extends NdrType<ArrayValue<E>> {
  readonly kind = 'conformantArray';
  constructor(readonly element: E, readonly opts: ConformantOpts = {}) {
    super();
  }
  protected computeLayout(): Layout {
    checkElement('conformantArray', this.element);
    const l = this.element.layout;
    return { align: l.align, minSize: 0, hasBuffers: l.hasBuffers, conformant: true };
  }
  protected compile(): CodecParts {
    const ec = elemCodec(this.element);
    const sizeIs = this.opts.sizeIs;
    return {
      encConf: (w, v, s) => {
        const n = ec.len(v);
        if (sizeIs !== undefined) {
          const e = evalExpr(w, sizeIs, s);
          if (e !== undefined && e !== n) {
            throw new EncodeFail(`size_is(${exprName(sizeIs)}) is ${e} but the array has ${n} element(s)`);
          }
        }
        // A conformant array's max_count is its element count; the replayed value is consumed
        // only to keep the trace cursor in step.
        if (w.replay !== null) w.takeConf();
        return n;
      },
      encS: (w, v, s) => {
        const n = ec.len(v);
        if (n !== w.conf) throw new EncodeFail(`internal: conformance ${w.conf} != length ${n}`);
        ec.enc(w, v, n, s);
      },
      encB: (w, v, s) => ec.encB(w, v, ec.len(v), s),
      decS: (r, s) => {
        const n = r.conf;
        if (sizeIs !== undefined) {
          const e = evalExpr(r, sizeIs, s);
          if (e !== undefined && e !== n) r.fail(`max_count ${n} disagrees with size_is(${exprName(sizeIs)}) = ${e}`);
        }
        return ec.dec(r, n, s);
      },
      decB: (r, v, s) => {
        ec.decB(r, v, v.length, s);
        return v;
      },
    };
  }
}

/** Shared by varying and conformant-varying arrays: offset + actual_count in place, then elements. */
function varyingParts(
  ec: ElemCodec, opts: VaryingOpts & ConformantOpts, fixedMax: number | undefined,
): Pick<CodecParts, 'encS' | 'decS'> & { encConf?: ConfFn } {
  const { lengthIs, firstIs, sizeIs } = opts;
  const conformant = fixedMax === undefined;
  const encS: EncFn = (w, v, s) => {
    const len = ec.len(v);
    const max = conformant ? w.conf : fixedMax;
    if (!conformant && lengthIs !== undefined) {
      const e = evalExpr(w, lengthIs, s);
      if (e !== undefined && e !== len) throw new EncodeFail(`length_is(${exprName(lengthIs)}) is ${e} but the array has ${len} element(s)`);
    }
    let off = firstIs !== undefined ? evalExpr(w, firstIs, s) : undefined;
    const ro = w.replay !== null ? w.takeOff() : undefined;
    if (off === undefined) off = ro !== undefined && ro + len <= max ? ro : 0;
    if (off + len > max) throw new EncodeFail(`offset ${off} + actual_count ${len} exceeds max_count ${max}`);
    w.u32a(off);
    w.u32(len);
    ec.enc(w, v, len, s);
  };
  const decS: DecFn = (r, s) => {
    const max = conformant ? r.conf : fixedMax;
    const at = r.pos;
    const off = r.u32a();
    const len = r.u32();
    if (r.trace !== null) r.trace.offsets.push(off);
    if (off + len > max) r.fail(`offset ${off} + actual_count ${len} exceeds max_count ${max}`, at);
    if (lengthIs !== undefined) {
      const e = evalExpr(r, lengthIs, s);
      if (e !== undefined && e !== len) r.fail(`actual_count ${len} disagrees with length_is(${exprName(lengthIs)}) = ${e}`, at);
    }
    if (firstIs !== undefined) {
      const e = evalExpr(r, firstIs, s);
      if (e !== undefined && e !== off) r.fail(`offset ${off} disagrees with first_is(${exprName(firstIs)}) = ${e}`, at);
    }
    if (conformant && sizeIs !== undefined) {
      const e = evalExpr(r, sizeIs, s);
      if (e !== undefined && e !== max) r.fail(`max_count ${max} disagrees with size_is(${exprName(sizeIs)}) = ${e}`, at);
    }
    return ec.dec(r, len, s);
  };
  if (!conformant) return { encS, decS };
  const encConf: ConfFn = (w, v, s) => {
    const len = ec.len(v);
    if (lengthIs !== undefined) {
      const e = evalExpr(w, lengthIs, s);
      if (e !== undefined && e !== len) throw new EncodeFail(`length_is(${exprName(lengthIs)}) is ${e} but the array has ${len} element(s)`);
    }
    const rc = w.replay !== null ? w.takeConf() : undefined;
    let max = sizeIs !== undefined ? evalExpr(w, sizeIs, s) : undefined;
    if (max === undefined) max = rc !== undefined && rc >= len ? rc : len;
    else if ((max >>> 0) !== max || max < len) {
      throw new EncodeFail(`size_is(${exprName(sizeIs!)}) is ${max} but the array has ${len} element(s)`);
    }
    return max;
  };
  return { encS, decS, encConf };
}

export class VaryingArrayType<E extends AnyType> extends NdrType<ArrayValue<E>> {
  readonly kind = 'varyingArray';
  constructor(readonly element: E, readonly size: number, readonly opts: VaryingOpts = {}) {
    super();
    if (!Number.isInteger(size) || size < 0) throw new TypeError('ndr.varyingArray: bad size');
  }
  protected computeLayout(): Layout {
    checkElement('varyingArray', this.element);
    const l = this.element.layout;
    return { align: Math.max(4, l.align), minSize: 8, hasBuffers: l.hasBuffers, conformant: false };
  }
  protected compile(): CodecParts {
    const ec = elemCodec(this.element);
    return {
      ...varyingParts(ec, this.opts, this.size),
      encB: (w, v, s) => ec.encB(w, v, ec.len(v), s),
      decB: (r, v, s) => {
        ec.decB(r, v, v.length, s);
        return v;
      },
    };
  }
}

export class ConformantVaryingArrayType<E extends AnyType> extends NdrType<ArrayValue<E>> {
  readonly kind = 'conformantVaryingArray';
  constructor(readonly element: E, readonly opts: ConformantOpts & VaryingOpts = {}) {
    super();
  }
  protected computeLayout(): Layout {
    checkElement('conformantVaryingArray', this.element);
    const l = this.element.layout;
    return { align: Math.max(4, l.align), minSize: 8, hasBuffers: l.hasBuffers, conformant: true };
  }
  protected compile(): CodecParts {
    const ec = elemCodec(this.element);
    return {
      ...varyingParts(ec, this.opts, undefined),
      encB: (w, v, s) => ec.encB(w, v, ec.len(v), s),
      decB: (r, v, s) => {
        ec.decB(r, v, v.length, s);
        return v;
      },
    };
  }
}

// ---------------------------------------------------------------------------------------------
// Strings: [string] char / wchar_t, NUL-terminated; the value excludes the terminator.

export class StringType extends NdrType<string> {
  readonly kind = 'string';
  /**
   * @param charSize 1 = char (latin1), 2 = wchar_t (UTF-16)
   * @param size     undefined = conformant-varying (`[string] char *`); n = varying (`[string] char x[n]`)
   */
  constructor(readonly charSize: 1 | 2, readonly size?: number) {
    super();
  }
  protected computeLayout(): Layout {
    return { align: 4, minSize: 8 + this.charSize, hasBuffers: false, conformant: this.size === undefined };
  }
  protected compile(): CodecParts {
    const cs = this.charSize;
    const fixedMax = this.size;
    const conformant = fixedMax === undefined;
    const check = (v: any): string => {
      if (typeof v !== 'string') throw badValue('a string', v);
      if (cs === 1) {
        for (let i = 0; i < v.length; i++) {
          if (v.charCodeAt(i) > 0xff) throw new EncodeFail(`character ${i} (U+${v.charCodeAt(i).toString(16)}) does not fit a [string] char`);
        }
      }
      return v;
    };
    const encS: EncFn = (w, v) => {
      const str = check(v);
      const actual = str.length + 1;
      const max = conformant ? w.conf : fixedMax;
      const ro = w.replay !== null ? w.takeOff() : undefined;
      const off = ro !== undefined && ro + actual <= max ? ro : 0;
      if (off + actual > max) throw new EncodeFail(`string of ${actual} character(s) with terminator exceeds its size ${max}`);
      w.u32a(off);
      w.u32(actual);
      const nb = actual * cs;
      w.ensure(nb);
      const b = w.buf;
      const p = w.pos;
      if (cs === 1) {
        b.write(str, p, 'latin1');
        b[p + nb - 1] = 0;
      } else if (w.le) {
        b.write(str, p, 'utf16le');
        b[p + nb - 2] = 0;
        b[p + nb - 1] = 0;
      } else {
        for (let i = 0; i < str.length; i++) {
          const c = str.charCodeAt(i);
          b[p + 2 * i] = c >>> 8;
          b[p + 2 * i + 1] = c;
        }
        b[p + nb - 2] = 0;
        b[p + nb - 1] = 0;
      }
      w.pos = p + nb;
    };
    const decS: DecFn = (r) => {
      const max = conformant ? r.conf : fixedMax;
      const at = r.pos;
      const off = r.u32a();
      const actual = r.u32();
      if (r.trace !== null) r.trace.offsets.push(off);
      if (off + actual > max) r.fail(`offset ${off} + actual_count ${actual} exceeds max_count ${max}`, at);
      if (actual === 0) r.fail('[string] with actual_count 0 has no terminator', at);
      if (actual > (r.end - r.pos) / cs) r.fail(`string of ${actual} character(s) exceeds the ${r.end - r.pos} byte(s) left`);
      const p = r.pos;
      const nb = actual * cs;
      const b = r.buf;
      if (b[p + nb - 1] !== 0 || (cs === 2 && b[p + nb - 2] !== 0)) r.fail('[string] is not NUL-terminated', p + nb - cs);
      r.pos = p + nb;
      if (cs === 1) return b.toString('latin1', p, p + nb - 1);
      if (r.le) return b.toString('utf16le', p, p + nb - 2);
      const t = Buffer.allocUnsafe(nb - 2);
      b.copy(t, 0, p, p + nb - 2);
      return t.swap16().toString('utf16le');
    };
    if (!conformant) return { encS, decS };
    const encConf: ConfFn = (w, v) => {
      const actual = check(v).length + 1;
      const rc = w.replay !== null ? w.takeConf() : undefined;
      return rc !== undefined && rc >= actual ? rc : actual;
    };
    return { encS, decS, encConf };
  }
}

// ---------------------------------------------------------------------------------------------
// Pointers (C706 14.3.10-14.3.12)

export type PointerKind = 'ref' | 'unique' | 'full';

export class PointerType<V> extends NdrType<V> {
  constructor(readonly kind: PointerKind, readonly target: AnyType) {
    super();
  }
  protected computeLayout(): Layout {
    return { align: 4, minSize: 4, hasBuffers: true, conformant: false };
  }
  protected compile(): CodecParts {
    const kind = this.kind;
    const target = this.target;
    // [ref] to a type whose values include null (e.g. `[ref] T **pp` with *pp NULL): the value null
    // belongs to the pointee, the [ref] pointer itself is still non-null.
    const refNullOk = kind === 'ref' && acceptsNull(target);
    let tc: Codec | null = null;
    const T = (): Codec => tc ?? (tc = target.codec);

    // ---- encode
    /** A fresh full-pointer referent id, or the replayed one if it is not taken yet. */
    const fullId = (w: Writer, rp: number | undefined): number => {
      if (w.replay === null) return w.newId();
      const used = (w.fullUsed ??= new Set());
      let id = rp !== undefined && rp !== 0 && !used.has(rp >>> 0) ? rp >>> 0 : w.newId();
      while (used.has(id)) id = w.newId();
      used.add(id);
      return id;
    };
    /** The full-pointer entry for (pointee type, object): in full(full(T)) both levels hold the same JS value. */
    const entryOf = (w: Writer, v: object): FullEntry | undefined => {
      let e = w.fullObj?.get(v);
      while (e !== undefined && e.t !== target) e = e.next;
      return e;
    };
    const idFor = (w: Writer, v: any): number => {
      const rp = w.replay !== null ? w.takeRef() : undefined;
      if (kind !== 'full') return rp !== undefined && rp !== 0 ? rp >>> 0 : w.newId();
      // primitives cannot be told apart by identity: each occurrence is its own referent
      if (typeof v !== 'object') return fullId(w, rp);
      const known = entryOf(w, v);
      if (known !== undefined) return known.id;
      const m = (w.fullObj ??= new Map());
      const id = fullId(w, rp);
      m.set(v, { t: target, id, done: false, next: m.get(v) });
      return id;
    };
    const encS: EncFn = (w, v) => {
      if ((v === null || v === undefined) && !refNullOk) {
        if (kind === 'ref') throw new EncodeFail('[ref] pointer must not be null');
        if (w.replay !== null) w.takeRef();
        w.u32a(0);
        return;
      }
      w.u32a(idFor(w, v));
    };
    /** Write the pointee unless it is a full pointer's already written referent. */
    const pointee = (w: Writer, v: any, s: any): void => {
      if (kind === 'full' && typeof v === 'object') {
        const e = entryOf(w, v)!;
        if (e.done) return;
        e.done = true;
      }
      if (++w.depth > w.maxDepth) throw new EncodeFail(`nesting deeper than ${w.maxDepth} pointers`);
      T().encF(w, v, s);
      w.depth--;
    };
    const encB: EncFn = (w, v, s) => {
      if ((v === null || v === undefined) && kind !== 'ref') return;
      pointee(w, v, s);
    };
    const encT: EncFn = (w, v, s) => {
      if (kind === 'ref') {
        if ((v === null || v === undefined) && !refNullOk) throw new EncodeFail('[ref] pointer must not be null');
        T().encF(w, v, s);
        return;
      }
      encS(w, v, s);
      encB(w, v, s);
    };

    // ---- decode
    const readId = (r: Reader): number => {
      const id = r.u32a();
      if (r.trace !== null) r.trace.refIds.push(id);
      return id;
    };
    const decS: DecFn = (r) => {
      const id = readId(r);
      if (id === 0 && kind === 'ref') r.fail('null embedded [ref] pointer', r.pos - 4);
      return id;
    };
    const decB: DecBFn = (r, id: number, s) => {
      if (id === 0) return null;
      if (++r.depth > r.maxDepth) r.fail(`nesting deeper than ${r.maxDepth} pointers`);
      let v: any;
      if (kind === 'full') {
        const m = (r.full ??= new Map());
        const e = m.get(id);
        if (e !== undefined) {
          if (e.t !== target) r.fail(`full pointer referent id 0x${id.toString(16)} reused for a different type`);
          r.depth--;
          return e.v;
        }
        const c = T();
        const entry = { t: target as unknown, v: c.decFS(r, s) };
        m.set(id, entry);
        v = entry.v = c.decB(r, entry.v, s);
      } else {
        v = T().decF(r, s);
      }
      r.depth--;
      return v;
    };
    const decT: DecFn = (r, s) => {
      if (kind === 'ref') return T().decF(r, s);
      return decB(r, readId(r), s);
    };
    return { encS, encB, encT, decS, decB, decT };
  }
}

/** Whether null is a value of t (then a [ref] pointer to t may carry the value null). */
function acceptsNull(t: AnyType): boolean {
  for (let i = 0; i < 64; i++) {
    if (t instanceof LazyType) t = t.target;
    else if (t instanceof PointerType) {
      if (t.kind !== 'ref') return true;
      t = t.target;
    } else return t instanceof UserMarshalType || t === empty;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Unions (C706 14.3.8; MS-RPCE 2.2.4.5 ms_union, 2.2.4.8 unencapsulated unions)

export type Arms = { readonly [tag: number]: AnyType };
type ArmTags<A> = Extract<keyof A, number>;
export type UnionValue<A extends Arms, D extends AnyType | undefined> =
  | { [K in ArmTags<A>]: { tag: K; value: Infer<A[K]> } }[ArmTags<A>]
  | (D extends AnyType ? { tag: number; value: Infer<D> } : never);

export interface UnionDef<A extends Arms, D extends AnyType | undefined> {
  /** The discriminant's type (IDL [switch_type]). */
  switchType: NdrType<number>;
  /** IDL [switch_is]: a sibling field / parameter, or a function of the scope; checked against the tag. */
  switchIs?: Expr;
  arms: A;
  default?: D;
  /**
   * MS-RPCE 2.2.4.5 [ms_union]: the discriminant is aligned to its own type and the selected arm to
   * the largest alignment of all arms. Default false: C706 14.3.8, the union is aligned to the
   * largest alignment of the discriminant and all arms, and the arm follows at its own alignment.
   */
  msUnion?: boolean;
}

export class UnionType<A extends Arms, D extends AnyType | undefined> extends NdrType<UnionValue<A, D>> {
  readonly kind: 'union' | 'encapsulatedUnion';
  readonly switchType: NdrType<number>;
  readonly switchIs: Expr | undefined;
  readonly arms: A;
  readonly default: D | undefined;
  readonly msUnion: boolean;
  constructor(kind: 'union' | 'encapsulatedUnion', def: UnionDef<A, D>) {
    super();
    this.kind = kind;
    this.switchType = def.switchType;
    this.switchIs = def.switchIs;
    this.arms = def.arms;
    this.default = def.default;
    this.msUnion = kind === 'union' && def.msUnion === true;
    for (const k of Object.keys(def.arms)) {
      if (!Number.isInteger(Number(k))) throw new TypeError(`ndr.union: arm key '${k}' is not an integer`);
    }
  }
  private allArms(): AnyType[] {
    const a: AnyType[] = Object.values(this.arms);
    if (this.default !== undefined) a.push(this.default);
    return a;
  }
  /** Largest alignment of all arms. */
  get armsAlign(): number {
    return this.allArms().reduce((m, t) => Math.max(m, t.layout.align), 1);
  }
  protected computeLayout(): Layout {
    const arms = this.allArms();
    let minArm = arms.length === 0 ? 0 : Infinity;
    let hasBuffers = false;
    for (const t of arms) {
      const l = t.layout;
      if (l.conformant) throw new TypeError('ndr.union: an arm must not be conformant');
      minArm = Math.min(minArm, l.minSize);
      hasBuffers ||= l.hasBuffers;
    }
    const d = this.switchType.layout;
    return { align: Math.max(d.align, this.armsAlign), minSize: d.minSize + minArm, hasBuffers, conformant: false };
  }
  protected compile(): CodecParts {
    const { align } = this.layout;
    const armsAlign = this.armsAlign;
    const disc = this.switchType.codec;
    const discAlign = this.switchType.layout.align;
    const ms = this.msUnion;
    const enc = this.kind === 'encapsulatedUnion';
    // encapsulated: struct { disc; union { arms } } -> align(max), disc, align(arms)
    const pre = ms ? discAlign : align;
    const post = ms || enc ? armsAlign : 1;
    const arms = new Map<number, Codec>();
    for (const k of Object.keys(this.arms)) arms.set(Number(k), this.arms[Number(k)]!.codec);
    const dflt = this.default !== undefined ? this.default.codec : null;
    const armOf = (tag: any): Codec | null => arms.get(tag) ?? dflt;
    const switchIs = this.switchIs;
    const hasBuffers = this.layout.hasBuffers;

    const encS: EncFn = (w, v, s) => {
      if (typeof v !== 'object' || v === null) throw badValue('{ tag, value }', v);
      const tag = v.tag;
      if (switchIs !== undefined) {
        const e = evalExpr(w, switchIs, s);
        if (e !== undefined && e !== tag) throw eseg(new EncodeFail(`switch_is(${exprName(switchIs)}) is ${e} but the tag is ${tag}`), '.tag');
      }
      const arm = armOf(tag);
      if (arm === null) throw eseg(new EncodeFail(`no arm for discriminant ${String(tag)}`), '.tag');
      w.align(pre);
      try {
        disc.encS(w, tag, s);
      } catch (e) {
        throw eseg(e, '.tag');
      }
      if (post > 1) w.align(post);
      try {
        arm.encS(w, v.value, s);
      } catch (e) {
        throw eseg(e, '.value');
      }
    };
    const encB: EncFn = (w, v, s) => {
      try {
        armOf(v.tag)!.encB(w, v.value, s);
      } catch (e) {
        throw eseg(e, '.value');
      }
    };
    const decS: DecFn = (r, s) => {
      r.align(pre);
      const at = r.pos;
      let tag: number;
      try {
        tag = disc.decS(r, s);
      } catch (e) {
        throw dseg(e, '.tag', r);
      }
      if (switchIs !== undefined) {
        const e = evalExpr(r, switchIs, s);
        if (e !== undefined && e !== tag) throw dseg(new DecodeFail(at, `discriminant ${tag} disagrees with switch_is(${exprName(switchIs)}) = ${e}`), '.tag', r);
      }
      const arm = armOf(tag);
      if (arm === null) throw dseg(new DecodeFail(at, `unknown discriminant ${tag}`), '.tag', r);
      if (post > 1) r.align(post);
      let value: any;
      try {
        value = arm.decS(r, s);
      } catch (e) {
        throw dseg(e, '.value', r);
      }
      return { tag, value };
    };
    const decB: DecBFn = (r, u, s) => {
      try {
        u.value = armOf(u.tag)!.decB(r, u.value, s);
      } catch (e) {
        throw dseg(e, '.value', r);
      }
      return u;
    };
    return hasBuffers ? { encS, encB, decS, decB } : { encS, decS };
  }
}

// ---------------------------------------------------------------------------------------------
// user_marshal / wire_marshal style hook

export interface UserMarshalConv<U, W> {
  toWire(v: U): W;
  fromWire(w: W): U;
}

export class UserMarshalType<WT extends AnyType, U> extends NdrType<U> {
  readonly kind = 'userMarshal';
  constructor(readonly wire: WT, readonly conv: UserMarshalConv<U, Infer<WT>>) {
    super();
  }
  protected computeLayout(): Layout {
    return this.wire.layout;
  }
  protected compile(): CodecParts {
    const wc = this.wire.codec;
    const { toWire, fromWire } = this.conv;
    const cache = this.layout.hasBuffers || this.layout.conformant;
    const self = this;
    const wireOf = (w: Writer, v: any): any => {
      let m: Map<unknown, unknown> | undefined;
      if (cache) {
        const all = (w.umCache ??= new Map());
        m = all.get(self) as Map<unknown, unknown> | undefined;
        if (m === undefined) all.set(self, (m = new Map()));
        if (m.has(v)) return m.get(v);
      }
      let x: any;
      try {
        x = toWire.call(self.conv, v);
      } catch (e) {
        throw new EncodeFail(`toWire: ${e instanceof Error ? e.message : String(e)}`);
      }
      if (m !== undefined) m.set(v, x);
      return x;
    };
    const conv = (r: Reader, x: any): any => {
      try {
        return fromWire.call(self.conv, x);
      } catch (e) {
        throw new DecodeFail(r.pos, `fromWire: ${e instanceof Error ? e.message : String(e)}`);
      }
    };
    const hb = this.layout.hasBuffers;
    return {
      encS: (w, v, s) => wc.encS(w, wireOf(w, v), s),
      encB: (w, v, s) => wc.encB(w, wireOf(w, v), s),
      encConf: (w, v, s) => wc.encConf(w, wireOf(w, v), s),
      decS: hb ? wc.decS : (r, s) => conv(r, wc.decS(r, s)),
      decB: (r, x, s) => conv(r, wc.decB(r, x, s)),
    };
  }
}

// ---------------------------------------------------------------------------------------------
// Recursion

export class LazyType<V> extends NdrType<V> {
  readonly kind = 'lazy';
  #f: () => NdrType<V>;
  #t: NdrType<V> | undefined;
  constructor(f: () => NdrType<V>) {
    super();
    this.#f = f;
  }
  get target(): NdrType<V> {
    return (this.#t ??= this.#f());
  }
  protected computeLayout(): Layout {
    return this.target.layout;
  }
  protected compile(): CodecParts {
    const c = this.target.codec;
    return { encS: c.encS, encB: c.encB, encConf: c.encConf, encT: c.encT, decS: c.decS, decB: c.decB, decT: c.decT };
  }
}

// ---------------------------------------------------------------------------------------------
// MS-RPCE 2.2.6 type serialization version 1

export class TypeSerialization1Type<T extends AnyType> extends NdrType<Infer<T>> {
  readonly kind = 'typeSerialization1';
  constructor(readonly inner: T) {
    super();
  }
  protected computeLayout(): Layout {
    return { align: 8, minSize: 16, hasBuffers: false, conformant: false };
  }
  protected compile(): CodecParts {
    const ic = this.inner.codec;
    const encS: EncFn = (w, v) => {
      w.align(8);
      const start = w.pos;
      // 2.2.6.1 common type header, always little-endian: version 1, endianness, length 8, filler
      w.ensure(4);
      w.buf[start] = 1;
      w.buf[start + 1] = w.le ? 0x10 : 0x00;
      w.buf[start + 2] = 8;
      w.buf[start + 3] = 0;
      w.pos = start + 4;
      w.filler(4, 0xcc);
      // 2.2.6.2 private header: ObjectBufferLength, filler (0)
      const lenAt = w.pos;
      w.u32(0);
      w.filler(4, 0);
      const saveBase = w.base;
      w.base = start;
      const dataStart = w.pos;
      ic.encT(w, v, {});
      w.align(8);
      const len = w.pos - dataStart;
      const end = w.pos;
      w.pos = lenAt;
      w.u32(len);
      w.pos = end;
      w.base = saveBase;
    };
    const decS: DecFn = (r) => {
      r.align(8);
      const start = r.pos;
      if (r.end - start < 16) r.trunc(16);
      const b = r.buf;
      if (b[start] !== 1) r.fail(`type serialization version ${b[start]} (expected 1)`);
      const endian = b[start + 1]!;
      if (endian !== 0x10 && endian !== 0x00) r.fail(`type serialization endianness 0x${endian.toString(16)}`, start + 1);
      const hl = b[start + 2]! | (b[start + 3]! << 8);
      if (hl !== 8) r.fail(`type serialization common header length ${hl} (expected 8)`, start + 2);
      if (r.trace !== null) r.notePad(start + 4, 4, 0xcc);
      const saveLe = r.le;
      r.le = endian === 0x10;
      r.pos = start + 8;
      const len = r.u32();
      if (r.trace !== null) r.notePad(r.pos, 4, 0);
      r.pos += 4;
      if (len > r.end - r.pos) r.fail(`ObjectBufferLength ${len} exceeds the ${r.end - r.pos} byte(s) left`, start + 8);
      const saveEnd = r.end;
      const saveBase = r.base;
      const dataEnd = r.pos + len;
      r.end = dataEnd;
      r.base = start;
      const v = ic.decT(r, {});
      if (r.trace !== null) r.notePad(r.pos, dataEnd - r.pos, 0);
      r.pos = dataEnd;
      r.end = saveEnd;
      r.base = saveBase;
      r.le = saveLe;
      return v;
    };
    return { encS, decS };
  }
}
