// Low-level NDR 2.0 reader/writer on Buffer, the trace used for byte-exact re-encoding,
// and the internal failure objects that carry a field path up to the public API.
//
// Alignment is always relative to `base`, the start of the NDR stream (C706 14.2.2:
// "alignment ... relative to the beginning of the octet stream"); a type serialization
// (MS-RPCE 2.2.6) moves `base` to the start of its common header while inside it.

/** Internal decode failure. Not an Error (no stack capture): converted to NdrDecodeError at the API edge. */
export class DecodeFail {
  /** Path segments, innermost first (pushed while unwinding). */
  readonly path: string[] = [];
  constructor(readonly offset: number, readonly what: string) {}
}

/** Internal encode failure, converted to NdrEncodeError at the API edge. */
export class EncodeFail {
  readonly path: string[] = [];
  constructor(readonly what: string) {}
}

/**
 * What an NDR decode saw that is not part of the decoded value, in traversal order, so that
 * `encode(..., { replay: trace })` can reproduce the original octets:
 * - `refIds`: every referent id read (embedded pointers, top-level unique/full pointers), 0 for null;
 * - `maxCounts`: every conformance (max_count) read, including hoisted ones;
 * - `offsets`: every variance offset read (varying / conformant-varying arrays and strings);
 * - `bytes`: "don't care" octets that were not what this encoder writes by default
 *   (non-zero alignment padding, type-serialization fillers), keyed by position from the start
 *   of the decoded stream.
 */
export class NdrTrace {
  readonly refIds: number[] = [];
  readonly maxCounts: number[] = [];
  readonly offsets: number[] = [];
  readonly bytes: Map<number, number> = new Map();
}

export const DEFAULT_MAX_DEPTH = 256;

function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v);
  if (typeof v === 'bigint') return `${v}n`;
  if (v === null) return 'null';
  if (Array.isArray(v)) return `array(${v.length})`;
  if (v instanceof Uint8Array) return `bytes(${v.length})`;
  if (typeof v === 'object') return 'object';
  return String(v);
}

export function badValue(expected: string, v: unknown): EncodeFail {
  return new EncodeFail(`expected ${expected}, got ${describe(v)}`);
}

function errMessage(e: unknown): string {
  if (e instanceof Error) return `${e.name}: ${e.message}`;
  return String(e);
}

/** Add a path segment to a failure while unwinding (wrapping unexpected exceptions). */
export function dseg(e: unknown, seg: string, r: Reader): DecodeFail {
  const f = e instanceof DecodeFail ? e : new DecodeFail(r.pos, `internal error: ${errMessage(e)}`);
  f.path.push(seg);
  return f;
}

export function eseg(e: unknown, seg: string): EncodeFail {
  const f = e instanceof EncodeFail ? e : new EncodeFail(errMessage(e));
  f.path.push(seg);
  return f;
}

export function joinPath(prefix: string, path: readonly string[]): string {
  let s = prefix;
  for (let i = path.length - 1; i >= 0; i--) s += path[i];
  return s.startsWith('.') ? s.slice(1) : s;
}

/** Looks a sibling (size_is / length_is / first_is / switch_is) up in scope. */
export interface ScopeCtx {
  paramScope: unknown;
  ext: Record<string, unknown> | null;
}

export function sibling(ctx: ScopeCtx, scope: any, name: string): number | undefined {
  let v: unknown = scope !== null && typeof scope === 'object' ? scope[name] : undefined;
  if (v === undefined && ctx.ext !== null && scope === ctx.paramScope) v = ctx.ext[name];
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  return undefined;
}

// ---------------------------------------------------------------------------------------------

export class Reader implements ScopeCtx {
  buf: Buffer;
  pos: number;
  end: number;
  base: number;
  readonly origin: number;
  le: boolean;
  /** Hoisted conformance handed from a conformant construct's start to its conformant member. */
  conf = 0;
  depth = 0;
  readonly maxDepth: number;
  readonly trace: NdrTrace | null;
  full: Map<number, { t: unknown; v: unknown }> | null = null;
  paramScope: unknown = null;
  ext: Record<string, unknown> | null = null;

  constructor(buf: Buffer, pos: number, end: number, le: boolean, trace: NdrTrace | null, maxDepth: number) {
    this.buf = buf;
    this.pos = pos;
    this.end = end;
    this.base = pos;
    this.origin = pos;
    this.le = le;
    this.trace = trace;
    this.maxDepth = maxDepth;
  }

  fail(what: string, at = this.pos): never {
    throw new DecodeFail(at, what);
  }

  trunc(n: number): never {
    throw new DecodeFail(this.pos, `truncated: need ${n} byte(s), ${this.end - this.pos} left`);
  }

  remaining(): number {
    return this.end - this.pos;
  }

  align(a: number): void {
    const pad = (this.base - this.pos) & (a - 1);
    if (pad !== 0) {
      if (this.end - this.pos < pad) this.trunc(pad);
      if (this.trace !== null) this.notePad(this.pos, pad, 0);
      this.pos += pad;
    }
  }

  /** Record octets in [at, at+n) that differ from `dflt` into the trace. */
  notePad(at: number, n: number, dflt: number): void {
    const b = this.buf;
    const t = this.trace!;
    for (let i = 0; i < n; i++) {
      const x = b[at + i]!;
      if (x !== dflt) t.bytes.set(at + i - this.origin, x);
    }
  }

  u8(): number {
    if (this.pos >= this.end) this.trunc(1);
    return this.buf[this.pos++]!;
  }

  u16(): number {
    const p = this.pos;
    if (this.end - p < 2) this.trunc(2);
    this.pos = p + 2;
    const b = this.buf;
    return this.le ? b[p]! | (b[p + 1]! << 8) : (b[p]! << 8) | b[p + 1]!;
  }

  u32(): number {
    const p = this.pos;
    if (this.end - p < 4) this.trunc(4);
    this.pos = p + 4;
    const b = this.buf;
    return this.le
      ? (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16)) + b[p + 3]! * 0x1000000
      : b[p]! * 0x1000000 + ((b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!);
  }

  /** Aligned u32 (the common case: counts, referent ids). */
  u32a(): number {
    const pad = (this.base - this.pos) & 3;
    if (pad !== 0) this.align(4);
    return this.u32();
  }
}

// ---------------------------------------------------------------------------------------------

/** A full pointer's referent on encode: pointee type, referent id, whether the pointee was written. */
export interface FullEntry {
  t: unknown;
  id: number;
  done: boolean;
  next: FullEntry | undefined;
}

let scratch: Buffer | null = Buffer.allocUnsafe(4096);

export class Writer implements ScopeCtx {
  buf: Buffer;
  pos: number;
  base: number;
  readonly origin: number;
  le: boolean;
  conf = 0;
  depth = 0;
  readonly maxDepth: number;
  nextId = 0x00020000;
  readonly replay: NdrTrace | null;
  iRef = 0;
  iConf = 0;
  iOff = 0;
  /** full pointers: object -> its referent(s) (one per pointee type); ids in use (only when replaying). */
  fullObj: Map<object, FullEntry> | null = null;
  fullUsed: Set<number> | null = null;
  /** userMarshal: value -> wire value, so toWire runs once per value across the scalars/buffers phases. */
  umCache: Map<unknown, unknown> | null = null;
  paramScope: unknown = null;
  ext: Record<string, unknown> | null = null;
  private ownsScratch: boolean;

  constructor(offset: number, le: boolean, replay: NdrTrace | null, maxDepth: number) {
    if (scratch !== null && scratch.length >= offset + 64) {
      this.buf = scratch;
      scratch = null;
      this.ownsScratch = true;
    } else {
      this.buf = Buffer.allocUnsafe(Math.max(256, offset * 2 + 64));
      this.ownsScratch = false;
    }
    this.buf.fill(0, 0, offset);
    this.pos = offset;
    this.base = offset;
    this.origin = offset;
    this.le = le;
    this.replay = replay;
    this.maxDepth = maxDepth;
  }

  /** Copy out the result and give the scratch buffer back. */
  finish(): Buffer {
    const out = Buffer.allocUnsafe(this.pos);
    this.buf.copy(out, 0, 0, this.pos);
    this.release();
    return out;
  }

  release(): void {
    if (this.ownsScratch) {
      if (this.buf.length <= 1 << 20) scratch = this.buf;
      this.ownsScratch = false;
    }
  }

  ensure(n: number): void {
    if (this.pos + n > this.buf.length) this.grow(n);
  }

  private grow(n: number): void {
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const nb = Buffer.allocUnsafe(size);
    this.buf.copy(nb, 0, 0, this.pos);
    if (this.ownsScratch) {
      scratch = this.buf.length <= 1 << 20 ? this.buf : null;
      this.ownsScratch = false;
    }
    this.buf = nb;
  }

  /** Write n filler octets of value `fill`, then apply replayed non-default octets. */
  filler(n: number, fill: number): void {
    this.ensure(n);
    const b = this.buf;
    const p = this.pos;
    for (let i = 0; i < n; i++) b[p + i] = fill;
    if (this.replay !== null && this.replay.bytes.size !== 0) {
      const m = this.replay.bytes;
      for (let i = 0; i < n; i++) {
        const x = m.get(p + i - this.origin);
        if (x !== undefined) b[p + i] = x;
      }
    }
    this.pos = p + n;
  }

  align(a: number): void {
    const pad = (this.base - this.pos) & (a - 1);
    if (pad !== 0) this.filler(pad, 0);
  }

  u8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v;
  }

  u16(v: number): void {
    this.ensure(2);
    const b = this.buf;
    const p = this.pos;
    if (this.le) {
      b[p] = v;
      b[p + 1] = v >>> 8;
    } else {
      b[p] = v >>> 8;
      b[p + 1] = v;
    }
    this.pos = p + 2;
  }

  u32(v: number): void {
    this.ensure(4);
    const b = this.buf;
    const p = this.pos;
    if (this.le) {
      b[p] = v;
      b[p + 1] = v >>> 8;
      b[p + 2] = v >>> 16;
      b[p + 3] = v >>> 24;
    } else {
      b[p] = v >>> 24;
      b[p + 1] = v >>> 16;
      b[p + 2] = v >>> 8;
      b[p + 3] = v;
    }
    this.pos = p + 4;
  }

  u32a(v: number): void {
    if (((this.base - this.pos) & 3) !== 0) this.align(4);
    this.u32(v);
  }

  newId(): number {
    const id = this.nextId;
    this.nextId = (id + 4) >>> 0;
    return id;
  }

  takeRef(): number | undefined {
    const t = this.replay;
    if (t === null || this.iRef >= t.refIds.length) return undefined;
    return t.refIds[this.iRef++];
  }

  takeConf(): number | undefined {
    const t = this.replay;
    if (t === null || this.iConf >= t.maxCounts.length) return undefined;
    return t.maxCounts[this.iConf++];
  }

  takeOff(): number | undefined {
    const t = this.replay;
    if (t === null || this.iOff >= t.offsets.length) return undefined;
    return t.offsets[this.iOff++];
  }
}
