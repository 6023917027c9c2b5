// Block constructors, operations / interfaces as data, and the encode/decode entry points.

import { NdrDecodeError, NdrEncodeError } from '../base/errors';
import { normalizeGuid } from '../base/guid';
import {
  DecodeFail, DEFAULT_MAX_DEPTH, EncodeFail, dseg, eseg, joinPath, NdrTrace, Reader, Writer,
} from './io';
import {
  ConformantArrayType, ConformantVaryingArrayType, FixedArrayType, LazyType, PointerType, StringType,
  StructType, TypeSerialization1Type, UnionType, UserMarshalType, VaryingArrayType,
  type AnyType, type Arms, type Codec, type ConformantOpts, type Fields, type Infer, type NdrType,
  type StructValue, type UnionDef, type UserMarshalConv, type VaryingOpts,
} from './types';

// ---------------------------------------------------------------------------------------------
// Constructors

/** IDL struct. Field order is wire order; alignment is the largest member alignment. */
export function struct<F extends Fields>(fields: F): StructType<F> {
  return new StructType(fields);
}

/** IDL `T x[n]`. */
export function fixedArray<E extends AnyType>(element: E, length: number): FixedArrayType<E> {
  return new FixedArrayType(element, length);
}

/** IDL `[size_is(..)] T x[]`: max_count, then the elements (max_count hoisted when embedded). */
export function conformantArray<E extends AnyType>(element: E, opts: ConformantOpts = {}): ConformantArrayType<E> {
  return new ConformantArrayType(element, opts);
}

/** IDL `[length_is(..), first_is(..)] T x[n]`: offset, actual_count, then the elements sent. */
export function varyingArray<E extends AnyType>(element: E, size: number, opts: VaryingOpts = {}): VaryingArrayType<E> {
  return new VaryingArrayType(element, size, opts);
}

/** IDL `[size_is(..), length_is(..)] T x[]`: max_count (hoisted when embedded), offset, actual_count, elements. */
export function conformantVaryingArray<E extends AnyType>(
  element: E, opts: ConformantOpts & VaryingOpts = {},
): ConformantVaryingArrayType<E> {
  return new ConformantVaryingArrayType(element, opts);
}

/** IDL `[string] char *`: conformant-varying, NUL-terminated, latin1; value without the terminator. */
export const string = new StringType(1);
/** IDL `[string] wchar_t *`: conformant-varying, NUL-terminated, UTF-16. */
export const wstring = new StringType(2);
/** IDL `[string] char x[n]`: varying (offset, actual_count), no max_count. */
export function varyingString(size: number): StringType {
  return new StringType(1, size);
}
/** IDL `[string] wchar_t x[n]`. */
export function varyingWstring(size: number): StringType {
  return new StringType(2, size);
}

/** IDL [ref]: never null. Top level: no referent id. Embedded: non-zero referent id, pointee deferred. */
export function ref<T extends AnyType>(target: T): PointerType<Infer<T>> {
  return new PointerType<Infer<T>>('ref', target);
}
/** IDL [unique]: referent id (0 = null); pointee deferred when embedded. */
export function unique<T extends AnyType>(target: T): PointerType<Infer<T> | null> {
  return new PointerType<Infer<T> | null>('unique', target);
}
/** IDL [ptr] (full pointer): like unique, and aliases share one referent id / one pointee. */
export function full<T extends AnyType>(target: T): PointerType<Infer<T> | null> {
  return new PointerType<Infer<T> | null>('full', target);
}

/**
 * Non-encapsulated union (IDL [switch_type(..)] union, used with [switch_is(..)]).
 * Value: `{ tag, value }`. The discriminant is written as the first part of the union's own
 * representation wherever the union appears (MS-RPCE 2.2.4.8, citing C706 14.3.8), in addition
 * to the switch_is field; `switchIs`, when in scope, is checked against the tag.
 */
export function union<A extends Arms, D extends AnyType | undefined = undefined>(def: UnionDef<A, D>): UnionType<A, D> {
  return new UnionType('union', def);
}

/** IDL `union switch (type d) { case ... }`: struct { discriminant; union body }. Value: `{ tag, value }`. */
export function encapsulatedUnion<A extends Arms, D extends AnyType | undefined = undefined>(
  switchType: NdrType<number>, arms: A, opts: { default?: D } = {},
): UnionType<A, D> {
  return new UnionType<A, D>('encapsulatedUnion', { switchType, arms, default: opts.default });
}

/** [user_marshal]/[wire_marshal]-style hook: values of type U travel as the wire type. */
export function userMarshal<WT extends AnyType, U>(wire: WT, conv: UserMarshalConv<U, Infer<WT>>): UserMarshalType<WT, U> {
  return new UserMarshalType(wire, conv);
}

/**
 * A type defined later (recursive types). TypeScript cannot infer a self-referential type, so give
 * the value type explicitly: `const node: ndr.NdrType<Node> = ndr.struct({ ..., next: ndr.unique(ndr.lazy<Node>(() => node)) })`.
 */
export function lazy<V>(f: () => NdrType<V>): LazyType<V> {
  return new LazyType(f);
}

/** MS-RPCE 2.2.6 type serialization version 1 (common header, private header, data padded to 8). */
export function typeSerialization1<T extends AnyType>(inner: T): TypeSerialization1Type<T> {
  return new TypeSerialization1Type(inner);
}

// ---------------------------------------------------------------------------------------------
// Operations and interfaces

interface CompiledParams {
  keys: string[];
  segs: string[];
  codecs: Codec[];
}

/** A parameter list: top-level parameters in wire order. */
export class Params<F extends Fields> {
  readonly kind = 'params';
  readonly keys: readonly string[];
  #compiled: CompiledParams | undefined;
  constructor(readonly fields: F, public name: string) {
    this.keys = Object.keys(fields);
  }
  /** @internal */
  get compiled(): CompiledParams {
    return (this.#compiled ??= {
      keys: [...this.keys],
      segs: this.keys.map((k) => '.' + k),
      codecs: this.keys.map((k) => this.fields[k]!.codec),
    });
  }
}

export function params<F extends Fields>(fields: F, name = 'params'): Params<F> {
  return new Params(fields, name);
}

export class Op<I extends Fields = Fields, O extends Fields = Fields> {
  readonly kind = 'op';
  #name: string;
  readonly in: Params<I>;
  readonly out: Params<O>;
  constructor(readonly opnum: number, def: { in: I; out: O }, name?: string) {
    if (!Number.isInteger(opnum) || opnum < 0 || opnum > 0xffff) throw new TypeError(`ndr.op: bad opnum ${opnum}`);
    this.#name = name ?? `op${opnum}`;
    this.in = new Params(def.in, `${this.#name}.in`);
    this.out = new Params(def.out, `${this.#name}.out`);
  }
  get name(): string {
    return this.#name;
  }
  /** @internal used by iface() to name the operation after its key. */
  setName(name: string): void {
    this.#name = name;
    this.in.name = `${name}.in`;
    this.out.name = `${name}.out`;
  }
}

/** An operation: `in` and `out` parameters in wire order; the return value is the last out field. */
export function op<I extends Fields, O extends Fields>(opnum: number, def: { in: I; out: O }): Op<I, O> {
  return new Op(opnum, def);
}

export interface Iface<Ops extends Record<string, Op<any, any>>> {
  readonly name: string;
  readonly uuid: string;
  readonly version: { readonly major: number; readonly minor: number };
  readonly ops: Ops;
  byOpnum(opnum: number): Ops[keyof Ops] | undefined;
}

export function iface<Ops extends Record<string, Op<any, any>>>(
  name: string, uuid: string, major: number, minor: number, ops: Ops,
): Iface<Ops> {
  const byNum = new Map<number, Ops[keyof Ops]>();
  for (const [k, o] of Object.entries(ops) as [string, Ops[keyof Ops]][]) {
    if (byNum.has(o.opnum)) throw new TypeError(`ndr.iface ${name}: opnum ${o.opnum} used twice`);
    o.setName(k);
    byNum.set(o.opnum, o);
  }
  return {
    name,
    uuid: normalizeGuid(uuid),
    version: { major, minor },
    ops,
    byOpnum: (n) => byNum.get(n),
  };
}

export type In<T> = T extends Op<infer I, any> ? StructValue<I> : never;
export type Out<T> = T extends Op<any, infer O> ? StructValue<O> : never;
export type ParamsValue<P> = P extends Params<infer F> ? StructValue<F> : never;

// ---------------------------------------------------------------------------------------------
// Running

export interface EncodeOptions {
  /** Integer/float/char byte order of the data representation; default true (little-endian). */
  le?: boolean;
  /** Leave this many zero octets before the NDR stream (alignment is relative to the stream start). */
  offset?: number;
  /** Trace from a decode: reuse its referent ids, max_counts, offsets and padding octets, in order. */
  replay?: NdrTrace;
  /** Pointer nesting limit (default 256). */
  maxDepth?: number;
  /** Values of names not in this parameter list (e.g. [in] params when encoding [out]) for size_is etc. */
  scope?: Record<string, unknown>;
  /**
   * First referent id to hand out (default 0x00020000, then +4). A response should number its
   * pointers above the request's: Wireshark (and Windows) treat an id the request already used
   * as a pointer sent before, and skip its referent.
   */
  firstReferentId?: number;
}

export interface DecodeOptions {
  /** Integer/float/char byte order of the sender's data representation; default true (little-endian). */
  le?: boolean;
  /** Where the NDR stream starts in the buffer (alignment is relative to it). */
  offset?: number;
  /** Where it ends (default: the end of the buffer). */
  end?: number;
  /** `true`: return `{ value, trace, end }`; an NdrTrace: fill it. */
  trace?: boolean | NdrTrace;
  maxDepth?: number;
  /** Values of names not in this parameter list (e.g. the [in] params when decoding [out]). */
  scope?: Record<string, unknown>;
}

export interface Traced<V> {
  value: V;
  trace: NdrTrace;
  /** Offset just after the last octet decoded. */
  end: number;
}

function toEncodeError(e: unknown, prefix: string): NdrEncodeError {
  if (e instanceof NdrEncodeError) return e;
  if (e instanceof EncodeFail) return new NdrEncodeError(joinPath(prefix, e.path) || prefix || '(value)', e.what);
  return new NdrEncodeError(prefix || '(value)', e instanceof Error ? `${e.name}: ${e.message}` : String(e));
}

function toDecodeError(e: unknown, prefix: string, r: Reader): NdrDecodeError {
  if (e instanceof NdrDecodeError) return e;
  if (e instanceof DecodeFail) return new NdrDecodeError(e.offset, joinPath(prefix, e.path) || prefix || '(value)', e.what);
  return new NdrDecodeError(r.pos, prefix || '(value)', `internal error: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
}

function writer(opts: EncodeOptions): Writer {
  const offset = opts.offset ?? 0;
  if (!Number.isInteger(offset) || offset < 0) throw new NdrEncodeError('(options)', `bad offset ${offset}`);
  const w = new Writer(offset, opts.le ?? true, opts.replay ?? null, opts.maxDepth ?? DEFAULT_MAX_DEPTH);
  if (opts.firstReferentId !== undefined) {
    if (!Number.isInteger(opts.firstReferentId) || opts.firstReferentId <= 0 || opts.firstReferentId > 0xfffffff0) {
      throw new NdrEncodeError('(options)', `bad firstReferentId ${opts.firstReferentId}`);
    }
    w.nextId = opts.firstReferentId;
  }
  return w;
}

function reader(buf: Uint8Array, opts: DecodeOptions): Reader {
  if (!(buf instanceof Uint8Array)) throw new NdrDecodeError(0, '(input)', 'not a Buffer');
  const b = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const offset = opts.offset ?? 0;
  const end = opts.end ?? b.length;
  if (!Number.isInteger(offset) || !Number.isInteger(end) || offset < 0 || end > b.length || offset > end) {
    throw new NdrDecodeError(offset, '(input)', `bad offset/end ${offset}/${end} for ${b.length} byte(s)`);
  }
  const trace = opts.trace === true ? new NdrTrace() : opts.trace instanceof NdrTrace ? opts.trace : null;
  return new Reader(b, offset, end, opts.le ?? true, trace, opts.maxDepth ?? DEFAULT_MAX_DEPTH);
}

/** Encode one value as a top-level parameter. */
export function encode<T extends AnyType>(type: T, value: Infer<T>, opts: EncodeOptions = {}): Buffer {
  const c = type.codec;
  const w = writer(opts);
  const scope = {};
  w.paramScope = scope;
  w.ext = opts.scope ?? null;
  try {
    c.encT(w, value, scope);
    return w.finish();
  } catch (e) {
    w.release();
    throw toEncodeError(e, '');
  }
}

/** Decode one value as a top-level parameter. Throws only NdrDecodeError for bad input. */
export function decode<T extends AnyType>(type: T, buf: Uint8Array, opts: DecodeOptions & { trace: true }): Traced<Infer<T>>;
export function decode<T extends AnyType>(type: T, buf: Uint8Array, opts?: DecodeOptions): Infer<T>;
export function decode(type: AnyType, buf: Uint8Array, opts: DecodeOptions = {}): unknown {
  const c = type.codec;
  const r = reader(buf, opts);
  const scope = {};
  r.paramScope = scope;
  r.ext = opts.scope ?? null;
  let v: unknown;
  try {
    v = c.decT(r, scope);
  } catch (e) {
    throw toDecodeError(e, '', r);
  }
  return opts.trace === true ? { value: v, trace: r.trace!, end: r.pos } : v;
}

/** Encode a parameter list (e.g. `op.in` on a client, `op.out` on a server). */
export function encodeParams<F extends Fields>(p: Params<F>, values: StructValue<F>, opts: EncodeOptions = {}): Buffer {
  const { keys, segs, codecs } = p.compiled;
  if (typeof values !== 'object' || values === null) throw new NdrEncodeError(p.name, 'expected an object of parameters');
  const w = writer(opts);
  const vals = values as Record<string, unknown>;
  w.paramScope = vals;
  w.ext = opts.scope ?? null;
  let i = 0;
  try {
    for (; i < keys.length; i++) codecs[i]!.encT(w, vals[keys[i]!], vals);
    return w.finish();
  } catch (e) {
    w.release();
    throw toEncodeError(eseg(e, segs[i] ?? ''), p.name);
  }
}

/** Decode a parameter list. Throws only NdrDecodeError for bad input. */
export function decodeParams<F extends Fields>(p: Params<F>, buf: Uint8Array, opts: DecodeOptions & { trace: true }): Traced<StructValue<F>>;
export function decodeParams<F extends Fields>(p: Params<F>, buf: Uint8Array, opts?: DecodeOptions): StructValue<F>;
export function decodeParams(p: Params<Fields>, buf: Uint8Array, opts: DecodeOptions = {}): unknown {
  const { keys, segs, codecs } = p.compiled;
  const r = reader(buf, opts);
  const o: Record<string, unknown> = {};
  r.paramScope = o;
  r.ext = opts.scope ?? null;
  let i = 0;
  try {
    for (; i < keys.length; i++) o[keys[i]!] = codecs[i]!.decT(r, o);
  } catch (e) {
    throw toDecodeError(dseg(e, segs[i] ?? '', r), p.name, r);
  }
  return opts.trace === true ? { value: o, trace: r.trace!, end: r.pos } : o;
}
