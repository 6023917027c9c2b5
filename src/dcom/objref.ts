// OBJREF — MS-DCOM 2.2.18. Not NDR: a little-endian byte layout carried in MInterfacePointer.abData.
// decodeObjref throws only ObjrefError (with the byte offset of the problem) on any input.
import { ObjrefError } from '../base/errors';
import { NIL_GUID, readGuid, writeGuid } from '../base/guid';
import { buildDualStringArray, parseDualStringArray, type DualStringArray, type StdObjref } from './types';

// MS-DCOM 2.2.18.1 OBJREF signature 'MEOW'
export const OBJREF_SIGNATURE = 0x574f454d;
// MS-DCOM 2.2.18.1 OBJREF flags
export const OBJREF_STANDARD = 0x1;
export const OBJREF_HANDLER = 0x2;
export const OBJREF_CUSTOM = 0x4;
export const OBJREF_EXTENDED = 0x8;
// MS-DCOM 2.2.18.7 Signature1 / Signature2
export const OBJREF_EXTENDED_SIGNATURE = 0x4e535956;

// MS-DCOM 2.2.18.4 OBJREF_STANDARD
export interface ObjrefStandard {
  flags: typeof OBJREF_STANDARD;
  iid: string;
  std: StdObjref;
  saResAddr: DualStringArray;
}
// MS-DCOM 2.2.18.5 OBJREF_HANDLER
export interface ObjrefHandler {
  flags: typeof OBJREF_HANDLER;
  iid: string;
  std: StdObjref;
  clsid: string;
  saResAddr: DualStringArray;
}
// MS-DCOM 2.2.18.6 OBJREF_CUSTOM
export interface ObjrefCustom {
  flags: typeof OBJREF_CUSTOM;
  iid: string;
  clsid: string;
  /** MUST be 0 when sent, ignored on receipt. */
  cbExtension: number;
  /** Unused, arbitrary (Wireshark: "size"). */
  reserved: number;
  pObjectData: Buffer;
}
// MS-DCOM 2.2.18.8 DATAELEMENT
export interface DataElement {
  dataID: string;
  cbSize: number;
  cbRounded: number;
  /** cbRounded bytes. */
  Data: Buffer;
}
// MS-DCOM 2.2.18.7 OBJREF_EXTENDED
export interface ObjrefExtended {
  flags: typeof OBJREF_EXTENDED;
  iid: string;
  std: StdObjref;
  Signature1: number;
  saResAddr: DualStringArray;
  nElms: number;
  Signature2: number;
  ElmArray: DataElement[];
}

/** A DUALSTRINGARRAY's entries as they were on the wire (2.2.19.1). */
export interface DualStringArrayEntries {
  wSecurityOffset: number;
  aStringArray: number[];
}

export type Objref = (ObjrefStandard | ObjrefHandler | ObjrefCustom | ObjrefExtended) & {
  /** Octets after the OBJREF in abData (kept so that a decode/encode round trip is exact). */
  trailing?: Buffer;
  /**
   * Present only when saResAddr was not laid out as buildDualStringArray lays it out (extra
   * zeros, a wSecurityOffset past the terminator...): the wire entries, which encodeObjref sends
   * again as long as they still parse to saResAddr.
   */
  saResAddrWire?: DualStringArrayEntries;
};

const STDOBJREF_SIZE = 40;

class Rd {
  pos = 0;
  constructor(readonly b: Buffer) {}
  need(n: number, what: string): void {
    if (this.b.length - this.pos < n) throw new ObjrefError(this.pos, `truncated ${what}: need ${n} byte(s), ${this.b.length - this.pos} left`);
  }
  u16(what: string): number {
    this.need(2, what);
    const v = this.b.readUInt16LE(this.pos);
    this.pos += 2;
    return v;
  }
  u32(what: string): number {
    this.need(4, what);
    const v = this.b.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }
  u64(what: string): bigint {
    this.need(8, what);
    const v = this.b.readBigUInt64LE(this.pos);
    this.pos += 8;
    return v;
  }
  guid(what: string): string {
    this.need(16, what);
    const g = readGuid(this.b, this.pos);
    this.pos += 16;
    return g;
  }
  bytes(n: number, what: string): Buffer {
    this.need(n, what);
    const v = Buffer.from(this.b.subarray(this.pos, this.pos + n));
    this.pos += n;
    return v;
  }
}

// MS-DCOM 2.2.18.2 STDOBJREF
function readStd(r: Rd): StdObjref {
  r.need(STDOBJREF_SIZE, 'STDOBJREF');
  return {
    flags: r.u32('STDOBJREF.flags'),
    cPublicRefs: r.u32('STDOBJREF.cPublicRefs'),
    oxid: r.u64('STDOBJREF.oxid'),
    oid: r.u64('STDOBJREF.oid'),
    ipid: r.guid('STDOBJREF.ipid'),
  };
}

// MS-DCOM 2.2.19.1 DUALSTRINGARRAY (packet version)
function readDsa(r: Rd): { value: DualStringArray; wire?: DualStringArrayEntries } {
  const at = r.pos;
  const wNumEntries = r.u16('DUALSTRINGARRAY.wNumEntries');
  const wSecurityOffset = r.u16('DUALSTRINGARRAY.wSecurityOffset');
  const left = (r.b.length - r.pos) >> 1;
  if (wNumEntries > left) throw new ObjrefError(at, `wNumEntries ${wNumEntries} beyond the data (${left} entries left)`);
  if (wSecurityOffset > wNumEntries) throw new ObjrefError(at + 2, `wSecurityOffset ${wSecurityOffset} beyond wNumEntries ${wNumEntries}`);
  const base = r.pos;
  const a = new Uint16Array(wNumEntries);
  for (let i = 0; i < wNumEntries; i++) a[i] = r.b.readUInt16LE(base + i * 2);
  r.pos += wNumEntries * 2;
  const value = parseDualStringArray({ wSecurityOffset, aStringArray: a }, base);
  const canon = buildDualStringArray(value);
  if (canon.wSecurityOffset === wSecurityOffset && canon.aStringArray.length === wNumEntries && canon.aStringArray.every((v, i) => v === a[i])) {
    return { value };
  }
  return { value, wire: { wSecurityOffset, aStringArray: Array.from(a) } };
}

function sameDsa(x: DualStringArray, y: DualStringArray): boolean {
  const sb = (d: DualStringArray) => d.stringBindings.map((b) => [b.towerId, b.networkAddr]);
  const sec = (d: DualStringArray) => d.securityBindings.map((b) => [b.authnSvc, b.authzSvc, b.principalName]);
  return JSON.stringify([sb(x), sec(x)]) === JSON.stringify([sb(y), sec(y)]);
}

/** Decode an OBJREF (MS-DCOM 2.2.18.1). Throws ObjrefError, and nothing else, on bad input. */
export function decodeObjref(buf: Uint8Array): Objref {
  if (!(buf instanceof Uint8Array)) throw new ObjrefError(0, 'not a byte buffer');
  const b = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const r = new Rd(b);
  let o: Objref;
  try {
    const signature = r.u32('signature');
    if (signature !== OBJREF_SIGNATURE) throw new ObjrefError(0, `bad signature 0x${signature.toString(16).padStart(8, '0')}`);
    const flags = r.u32('flags');
    const iidAt = r.pos;
    const iid = r.guid('iid');
    if (iid === NIL_GUID) throw new ObjrefError(iidAt, 'zero IID');
    switch (flags) {
      case OBJREF_STANDARD: {
        const std = readStd(r);
        const dsa = readDsa(r);
        o = { flags, iid, std, saResAddr: dsa.value };
        if (dsa.wire) o.saResAddrWire = dsa.wire;
        break;
      }
      case OBJREF_HANDLER: {
        const std = readStd(r);
        const clsid = r.guid('clsid');
        const dsa = readDsa(r);
        o = { flags, iid, std, clsid, saResAddr: dsa.value };
        if (dsa.wire) o.saResAddrWire = dsa.wire;
        break;
      }
      case OBJREF_CUSTOM: {
        const clsid = r.guid('clsid');
        const cbExtension = r.u32('cbExtension');
        const reserved = r.u32('reserved');
        const pObjectData = r.bytes(b.length - r.pos, 'pObjectData');
        o = { flags, iid, clsid, cbExtension, reserved, pObjectData };
        break;
      }
      case OBJREF_EXTENDED: {
        const std = readStd(r);
        const Signature1 = r.u32('Signature1');
        const dsa = readDsa(r);
        const nAt = r.pos;
        const nElms = r.u32('nElms');
        const Signature2 = r.u32('Signature2');
        // Each DATAELEMENT is at least 24 bytes: bound the count by the bytes left before looping.
        if (nElms > Math.floor((b.length - r.pos) / 24)) throw new ObjrefError(nAt, `nElms ${nElms} beyond the data`);
        const ElmArray: DataElement[] = [];
        for (let i = 0; i < nElms; i++) {
          const dataID = r.guid(`ElmArray[${i}].dataID`);
          const cbSize = r.u32(`ElmArray[${i}].cbSize`);
          const cbAt = r.pos;
          const cbRounded = r.u32(`ElmArray[${i}].cbRounded`);
          if (cbRounded < cbSize) throw new ObjrefError(cbAt, `cbRounded ${cbRounded} < cbSize ${cbSize}`);
          const Data = r.bytes(cbRounded, `ElmArray[${i}].Data`);
          ElmArray.push({ dataID, cbSize, cbRounded, Data });
        }
        o = { flags, iid, std, Signature1, saResAddr: dsa.value, nElms, Signature2, ElmArray };
        if (dsa.wire) o.saResAddrWire = dsa.wire;
        break;
      }
      default:
        throw new ObjrefError(4, `unknown flavour (flags 0x${flags.toString(16)})`);
    }
    if (r.pos < b.length) o.trailing = Buffer.from(b.subarray(r.pos));
  } catch (e) {
    if (e instanceof ObjrefError) throw e;
    throw new ObjrefError(r.pos, `internal error: ${e instanceof Error ? e.message : String(e)}`);
  }
  return o;
}

class Wr {
  parts: Buffer[] = [];
  len = 0;
  push(b: Buffer): void {
    this.parts.push(b);
    this.len += b.length;
  }
  u16(v: number, what: string): void {
    if ((v & 0xffff) !== v) throw new ObjrefError(this.len, `${what}: bad u16 ${v}`);
    const b = Buffer.alloc(2);
    b.writeUInt16LE(v);
    this.push(b);
  }
  u32(v: number, what: string): void {
    if (v >>> 0 !== v) throw new ObjrefError(this.len, `${what}: bad u32 ${v}`);
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v);
    this.push(b);
  }
  u64(v: bigint, what: string): void {
    if (typeof v !== 'bigint' || v < 0n || v > 0xffffffffffffffffn) throw new ObjrefError(this.len, `${what}: bad u64 ${String(v)}`);
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(v);
    this.push(b);
  }
  guid(g: string, what: string): void {
    const b = Buffer.alloc(16);
    try {
      writeGuid(b, 0, g);
    } catch {
      throw new ObjrefError(this.len, `${what}: not a GUID`);
    }
    this.push(b);
  }
}

function writeStd(w: Wr, s: StdObjref): void {
  w.u32(s.flags, 'std.flags');
  w.u32(s.cPublicRefs, 'std.cPublicRefs');
  w.u64(s.oxid, 'std.oxid');
  w.u64(s.oid, 'std.oid');
  w.guid(s.ipid, 'std.ipid');
}

function writeDsa(w: Wr, d: DualStringArray, wire: DualStringArrayEntries | undefined): void {
  let a: { wNumEntries: number; wSecurityOffset: number; aStringArray: number[] } = buildDualStringArray(d);
  if (wire) {
    let ok = false;
    try {
      ok = sameDsa(parseDualStringArray(wire), d);
    } catch {
      ok = false;
    }
    if (ok) a = { wNumEntries: wire.aStringArray.length, ...wire };
  }
  w.u16(a.wNumEntries, 'saResAddr.wNumEntries');
  w.u16(a.wSecurityOffset, 'saResAddr.wSecurityOffset');
  for (const e of a.aStringArray) w.u16(e, 'saResAddr.aStringArray');
}

/** Encode an OBJREF (MS-DCOM 2.2.18.1). Throws ObjrefError (offset = output position) for a bad value. */
export function encodeObjref(o: Objref): Buffer {
  const w = new Wr();
  w.u32(OBJREF_SIGNATURE, 'signature');
  w.u32(o.flags, 'flags');
  if (o.iid === NIL_GUID) throw new ObjrefError(8, 'zero IID');
  w.guid(o.iid, 'iid');
  switch (o.flags) {
    case OBJREF_STANDARD:
      writeStd(w, o.std);
      writeDsa(w, o.saResAddr, o.saResAddrWire);
      break;
    case OBJREF_HANDLER:
      writeStd(w, o.std);
      w.guid(o.clsid, 'clsid');
      writeDsa(w, o.saResAddr, o.saResAddrWire);
      break;
    case OBJREF_CUSTOM:
      w.guid(o.clsid, 'clsid');
      w.u32(o.cbExtension, 'cbExtension');
      w.u32(o.reserved, 'reserved');
      w.push(Buffer.from(o.pObjectData));
      break;
    case OBJREF_EXTENDED:
      writeStd(w, o.std);
      w.u32(o.Signature1, 'Signature1');
      writeDsa(w, o.saResAddr, o.saResAddrWire);
      if (o.nElms !== o.ElmArray.length) throw new ObjrefError(w.len, `nElms ${o.nElms} != ElmArray.length ${o.ElmArray.length}`);
      w.u32(o.nElms, 'nElms');
      w.u32(o.Signature2, 'Signature2');
      for (const [i, e] of o.ElmArray.entries()) {
        w.guid(e.dataID, `ElmArray[${i}].dataID`);
        w.u32(e.cbSize, `ElmArray[${i}].cbSize`);
        if (e.Data.length !== e.cbRounded || e.cbRounded < e.cbSize) {
          throw new ObjrefError(w.len, `ElmArray[${i}]: Data length ${e.Data.length}, cbRounded ${e.cbRounded}, cbSize ${e.cbSize}`);
        }
        w.u32(e.cbRounded, `ElmArray[${i}].cbRounded`);
        w.push(Buffer.from(e.Data));
      }
      break;
    default:
      throw new ObjrefError(4, `unknown flavour (flags 0x${(o as { flags: number }).flags.toString(16)})`);
  }
  if (o.trailing) w.push(Buffer.from(o.trailing));
  return Buffer.concat(w.parts, w.len);
}
