// The sliver of ASN.1 DER that SPNEGO (RFC 4178, MS-SPNG) needs: definite-length TLVs with
// one-byte tags, OBJECT IDENTIFIER, OCTET STRING, ENUMERATED, BIT STRING, SEQUENCE and
// context/application tags. Decoding is bounds-checked and throws only DerError.
import { DcomlabError } from '../../base/errors';

/** A DER structure that cannot be decoded; `offset` is where the reader stood. */
export class DerError extends DcomlabError {
  override name = 'DerError';
  constructor(readonly offset: number, readonly what: string) {
    super(`bad DER at offset ${offset}: ${what}`);
  }
}

export const TAG_INTEGER = 0x02;
export const TAG_BIT_STRING = 0x03;
export const TAG_OCTET_STRING = 0x04;
export const TAG_OID = 0x06;
export const TAG_ENUMERATED = 0x0a;
export const TAG_GENERAL_STRING = 0x1b;
export const TAG_SEQUENCE = 0x30;
/** [n] EXPLICIT, constructed, context-specific. */
export const context = (n: number): number => 0xa0 | n;
/** [APPLICATION n], constructed. */
export const application = (n: number): number => 0x60 | n;

/** One decoded TLV: the tag byte and where its value lies in the buffer it came from. */
export interface Tlv {
  tag: number;
  /** Offset of the tag byte. */
  start: number;
  /** First value byte. */
  valueStart: number;
  /** One past the last value byte (= the next TLV's start). */
  end: number;
  /** The value bytes (a view). */
  value: Buffer;
  /** The whole TLV, tag to end (a view). */
  raw: Buffer;
  /** The buffer the offsets refer to. */
  src: Buffer;
  /** Nesting depth (0 for a top-level TLV). */
  depth: number;
}

/** Nesting deeper than this is refused (SPNEGO needs four or five levels). */
const MAX_DEPTH = 32;

/** Read one TLV at `off`, not reading past `limit`. */
export function readTlv(buf: Buffer, off: number, limit: number = buf.length, depth = 0): Tlv {
  if (limit > buf.length) limit = buf.length;
  if (off >= limit) throw new DerError(off, 'expected a tag, found the end of the data');
  const tag = buf[off]!;
  if ((tag & 0x1f) === 0x1f) throw new DerError(off, `multi-byte tag 0x${tag.toString(16)} is not supported`);
  if (off + 1 >= limit) throw new DerError(off + 1, 'missing length');
  let len = buf[off + 1]!;
  let p = off + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0) throw new DerError(off + 1, 'indefinite length is not DER');
    if (n > 4) throw new DerError(off + 1, `length of ${n} bytes is too long`);
    if (p + n > limit) throw new DerError(p, 'length runs past the end of the data');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[p + i]!;
    p += n;
  }
  if (p + len > limit) throw new DerError(off, `value of ${len} bytes runs past the end of the data (${limit - p} left)`);
  return { tag, start: off, valueStart: p, end: p + len, value: buf.subarray(p, p + len), raw: buf.subarray(off, p + len), src: buf, depth };
}

/** Read a TLV and require its tag. */
export function expectTlv(buf: Buffer, off: number, tag: number, what: string, limit: number = buf.length): Tlv {
  const t = readTlv(buf, off, limit);
  if (t.tag !== tag) throw new DerError(off, `${what}: expected tag 0x${tag.toString(16)}, got 0x${t.tag.toString(16)}`);
  return t;
}

/** All TLVs directly inside a constructed value. */
export function children(t: Tlv): Tlv[] {
  if ((t.tag & 0x20) === 0) throw new DerError(t.start, `tag 0x${t.tag.toString(16)} is not constructed`);
  if (t.depth >= MAX_DEPTH) throw new DerError(t.start, 'nested too deeply');
  const out: Tlv[] = [];
  let p = t.valueStart;
  while (p < t.end) {
    const c = readTlv(t.src, p, t.end, t.depth + 1);
    out.push(c);
    p = c.end;
  }
  return out;
}

/** The one TLV inside an EXPLICIT [n] wrapper. */
export function explicitInner(t: Tlv, what: string): Tlv {
  const c = children(t);
  if (c.length !== 1) throw new DerError(t.start, `${what}: expected one element inside [${t.tag & 0x1f}], found ${c.length}`);
  return c[0]!;
}

/** Decode an OBJECT IDENTIFIER value to dotted form. */
export function decodeOid(value: Buffer, at = 0): string {
  if (value.length === 0) throw new DerError(at, 'empty OBJECT IDENTIFIER');
  const arcs: number[] = [];
  let v = 0;
  let started = false;
  for (let i = 0; i < value.length; i++) {
    const b = value[i]!;
    if (!started && b === 0x80) throw new DerError(at + i, 'OBJECT IDENTIFIER arc with a leading 0x80');
    started = true;
    if (v > 0x1fffffffffff) throw new DerError(at + i, 'OBJECT IDENTIFIER arc too large');
    v = v * 128 + (b & 0x7f);
    if ((b & 0x80) === 0) {
      arcs.push(v);
      v = 0;
      started = false;
    }
  }
  if (started) throw new DerError(at + value.length, 'OBJECT IDENTIFIER ends inside an arc');
  const first = arcs.shift()!;
  const a = first < 40 ? 0 : first < 80 ? 1 : 2;
  return [a, first - a * 40, ...arcs].join('.');
}

/** Encode a dotted OBJECT IDENTIFIER's value bytes. */
export function oidValue(oid: string): Buffer {
  const parts = oid.split('.').map((s) => {
    if (!/^\d+$/.test(s)) throw new DerError(0, `bad OID "${oid}"`);
    return Number(s);
  });
  if (parts.length < 2 || parts[0]! > 2 || (parts[0]! < 2 && parts[1]! >= 40)) throw new DerError(0, `bad OID "${oid}"`);
  const arcs = [parts[0]! * 40 + parts[1]!, ...parts.slice(2)];
  const out: number[] = [];
  for (const arc of arcs) {
    const bytes = [arc & 0x7f];
    let v = Math.floor(arc / 128);
    while (v > 0) {
      bytes.unshift((v & 0x7f) | 0x80);
      v = Math.floor(v / 128);
    }
    out.push(...bytes);
  }
  return Buffer.from(out);
}

// ---------------------------------------------------------------------------------------
// Encoding

function lengthBytes(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  while (n > 0) {
    bytes.unshift(n & 0xff);
    n = Math.floor(n / 256);
  }
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/** A TLV with the given tag around `parts` concatenated. */
export function tlv(tag: number, ...parts: Uint8Array[]): Buffer {
  const value = Buffer.concat(parts);
  return Buffer.concat([Buffer.from([tag]), lengthBytes(value.length), value]);
}

export const derSequence = (...parts: Uint8Array[]): Buffer => tlv(TAG_SEQUENCE, ...parts);
export const derContext = (n: number, ...parts: Uint8Array[]): Buffer => tlv(context(n), ...parts);
export const derOctetString = (b: Uint8Array): Buffer => tlv(TAG_OCTET_STRING, b);
export const derOid = (oid: string): Buffer => tlv(TAG_OID, oidValue(oid));

/** ENUMERATED with a small non-negative value. */
export function derEnumerated(n: number): Buffer {
  if (!Number.isInteger(n) || n < 0 || n > 0x7fff) throw new DerError(0, `ENUMERATED ${n} out of range`);
  return n < 0x80 ? tlv(TAG_ENUMERATED, Buffer.from([n])) : tlv(TAG_ENUMERATED, Buffer.from([n >> 8, n & 0xff]));
}

/** Decode a small non-negative INTEGER / ENUMERATED value. */
export function decodeSmallInt(value: Buffer, at = 0): number {
  if (value.length === 0 || value.length > 4) throw new DerError(at, `integer of ${value.length} bytes`);
  if (value[0]! & 0x80) throw new DerError(at, 'negative integer');
  let v = 0;
  for (const b of value) v = v * 256 + b;
  return v;
}
