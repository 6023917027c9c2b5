// DCOM common data types — MS-DCOM 2.2 (orpc.idl / obase.idl). Names and order follow the IDL.
import * as ndr from '../ndr';
import { decodeObjref, encodeObjref, type Objref } from './objref';
import { ObjrefError } from '../base/errors';

// MS-DCOM 2.2.11 COMVERSION
export const COMVERSION = ndr.struct({
  MajorVersion: ndr.u16,
  MinorVersion: ndr.u16,
});

// MS-DCOM 2.2.13.1 ORPC_EXTENT: data is [size_is((size+7)&~7)] byte[]
export const ORPC_EXTENT = ndr.struct({
  id: ndr.guid,
  size: ndr.u32,
  data: ndr.conformantArray(ndr.byte, { sizeIs: (s: { size: number }) => ((s.size + 7) & ~7) >>> 0 }),
});

// MS-DCOM 2.2.13.2 ORPC_EXTENT_ARRAY: [size_is((size+1)&~1,), unique] ORPC_EXTENT **extent
export const ORPC_EXTENT_ARRAY = ndr.struct({
  size: ndr.u32,
  reserved: ndr.u32,
  extent: ndr.unique(ndr.conformantArray(ndr.unique(ORPC_EXTENT), { sizeIs: (s: { size: number }) => ((s.size + 1) & ~1) >>> 0 })),
});

export type OrpcExtent = ndr.Infer<typeof ORPC_EXTENT>;
export type OrpcExtentArray = ndr.Infer<typeof ORPC_EXTENT_ARRAY>;

/**
 * An ORPC_EXTENT_ARRAY value from extents' ids and unpadded data (MS-DCOM 2.2.13.1-2): each data
 * padded with zeros to a multiple of 8 (size = unpadded length), the array padded with a null
 * pointer to an even count (size = number of extents). The encoder checks both counts.
 */
export function makeOrpcExtentArray(extents: ReadonlyArray<{ id: string; data: Uint8Array }>): OrpcExtentArray {
  const extent: (OrpcExtent | null)[] = extents.map((e) => {
    const data = Buffer.alloc((e.data.length + 7) & ~7);
    data.set(e.data);
    return { id: e.id, size: e.data.length, data };
  });
  if (extent.length & 1) extent.push(null);
  return { size: extents.length, reserved: 0, extent };
}

// MS-DCOM 2.2.13.3 ORPCTHIS
export const ORPCTHIS = ndr.struct({
  version: COMVERSION,
  flags: ndr.u32,
  reserved1: ndr.u32,
  cid: ndr.guid,
  extensions: ndr.unique(ORPC_EXTENT_ARRAY),
});

// MS-DCOM 2.2.13.4 ORPCTHAT
export const ORPCTHAT = ndr.struct({
  flags: ndr.u32,
  extensions: ndr.unique(ORPC_EXTENT_ARRAY),
});

// MS-DCOM 2.2.14 MInterfacePointer
export const MInterfacePointer = ndr.struct({
  ulCntData: ndr.u32,
  abData: ndr.conformantArray(ndr.byte, { sizeIs: 'ulCntData' }),
});

/** MInterfacePointer whose abData is an OBJREF (MS-DCOM 2.2.14 / 2.2.18); decode errors become NdrDecodeError via the engine. */
export const MInterfacePointerObjref = ndr.userMarshal(MInterfacePointer, {
  toWire(o: Objref) {
    const abData = encodeObjref(o);
    return { ulCntData: abData.length, abData };
  },
  fromWire(w) {
    return decodeObjref(w.abData);
  },
});

// MS-DCOM 2.2.19.2 DUALSTRINGARRAY (RPC IDL version; 2.2.19.1 is the packet version in an OBJREF)
export const DUALSTRINGARRAY = ndr.struct({
  wNumEntries: ndr.u16,
  wSecurityOffset: ndr.u16,
  aStringArray: ndr.conformantArray(ndr.u16, { sizeIs: 'wNumEntries' }),
});

// MS-DCOM 2.2.18.2 STDOBJREF
export const STDOBJREF = ndr.struct({
  flags: ndr.u32,
  cPublicRefs: ndr.u32,
  oxid: ndr.u64,
  oid: ndr.u64,
  ipid: ndr.guid,
});

// MS-DCOM 2.2.24 REMQIRESULT
export const REMQIRESULT = ndr.struct({
  hResult: ndr.hresult,
  std: STDOBJREF,
});

// MS-DCOM 2.2.23 REMINTERFACEREF
export const REMINTERFACEREF = ndr.struct({
  ipid: ndr.guid,
  cPublicRefs: ndr.u32,
  cPrivateRefs: ndr.u32,
});

// MS-OAUT 2.2.23.1 FLAGGED_WORD_BLOB (cBytes 0xFFFFFFFF = null BSTR)
export const FLAGGED_WORD_BLOB = ndr.struct({
  cBytes: ndr.u32,
  clSize: ndr.u32,
  asData: ndr.conformantArray(ndr.u16, { sizeIs: 'clSize' }),
});

/**
 * MS-OAUT 2.2.23.2 BSTR (`typedef [unique] FLAGGED_WORD_BLOB* BSTR`) as a JS string, null for a
 * null BSTR (null pointer, or cBytes 0xFFFFFFFF). Encoding null sends the blob form
 * (cBytes 0xFFFFFFFF, clSize 0), as MS-OAUT 2.2.23.2 requires. An odd cBytes loses its last octet
 * on decode (BSTRs of whole UTF-16 units only).
 */
export const BSTR = ndr.userMarshal(ndr.unique(FLAGGED_WORD_BLOB), {
  toWire(s: string | null) {
    if (s === null) return { cBytes: 0xffffffff, clSize: 0, asData: [] };
    const asData = Array.from({ length: s.length }, (_, i) => s.charCodeAt(i));
    return { cBytes: s.length * 2, clSize: s.length, asData };
  },
  fromWire(w): string | null {
    if (w === null || w.cBytes === 0xffffffff) return null;
    const n = Math.min(w.asData.length, Math.floor(w.cBytes / 2));
    let s = '';
    for (let i = 0; i < n; i++) s += String.fromCharCode(w.asData[i]!);
    return s;
  },
});

// MS-DCOM 2.2.18.2 STDOBJREF flags
export const SORF_NOPING = 0x1000;

export type ComVersion = ndr.Infer<typeof COMVERSION>;
export type OrpcThis = ndr.Infer<typeof ORPCTHIS>;
export type OrpcThat = ndr.Infer<typeof ORPCTHAT>;
export type StdObjref = ndr.Infer<typeof STDOBJREF>;
export type DualStringArrayWire = ndr.Infer<typeof DUALSTRINGARRAY>;

// ---------------------------------------------------------------------------------------------
// DUALSTRINGARRAY contents — MS-DCOM 2.2.19.3 STRINGBINDING, 2.2.19.4 SECURITYBINDING

/** TowerId of ncacn_ip_tcp in a STRINGBINDING (MS-DCOM 2.2.19.3; C706 Appendix I). */
export const TOWER_NCACN_IP_TCP = 7;

export interface StringBinding {
  towerId: number;
  networkAddr: string;
}
export interface SecurityBinding {
  authnSvc: number;
  /** MS-DCOM 2.2.19.4: Reserved, MUST be 0xffff (kept for fidelity). */
  authzSvc: number;
  principalName: string;
}
export interface DualStringArray {
  stringBindings: StringBinding[];
  securityBindings: SecurityBinding[];
}

/** Reads a NUL-terminated UTF-16 string from `a` at `i`; returns the string and the index after the NUL. */
function readWstr(a: ArrayLike<number>, i: number, end: number, base: number, what: string): [string, number] {
  let s = '';
  while (i < end) {
    const c = a[i]!;
    if (c === 0) return [s, i + 1];
    s += String.fromCharCode(c);
    i++;
  }
  throw new ObjrefError(base + i * 2, `unterminated ${what}`);
}

/**
 * Parses aStringArray (MS-DCOM 2.2.19.1): string bindings up to the empty entry before
 * wSecurityOffset, then security bindings up to the final empty entry. `base` is the byte offset of
 * aStringArray[0], used for error offsets. Throws ObjrefError only.
 */
export function parseDualStringArray(
  arr: { wNumEntries?: number; wSecurityOffset: number; aStringArray: ArrayLike<number> },
  base = 0,
): DualStringArray {
  const a = arr.aStringArray;
  const n = a.length;
  const sec = arr.wSecurityOffset;
  if (arr.wNumEntries !== undefined && arr.wNumEntries !== n) {
    throw new ObjrefError(base, `wNumEntries ${arr.wNumEntries} but ${n} entries`);
  }
  if (sec > n) throw new ObjrefError(base, `wSecurityOffset ${sec} beyond ${n} entries`);
  const stringBindings: StringBinding[] = [];
  let i = 0;
  // 2.2.19.1: string bindings end with a 0 entry; if there are none, two 0s (the first is the terminator).
  while (i < sec) {
    if (a[i] === 0) {
      i++;
      break;
    }
    const towerId = a[i]!;
    const [networkAddr, next] = readWstr(a, i + 1, sec, base, 'string binding');
    stringBindings.push({ towerId, networkAddr });
    i = next;
  }
  const securityBindings: SecurityBinding[] = [];
  i = sec;
  while (i < n) {
    if (a[i] === 0) break;
    if (i + 1 >= n) throw new ObjrefError(base + i * 2, 'truncated security binding');
    const authnSvc = a[i]!;
    const authzSvc = a[i + 1]!;
    const [principalName, next] = readWstr(a, i + 2, n, base, 'security binding');
    securityBindings.push({ authnSvc, authzSvc, principalName });
    i = next;
  }
  return { stringBindings, securityBindings };
}

/** Builds a DUALSTRINGARRAY (MS-DCOM 2.2.19.1): the inverse of parseDualStringArray. */
export function buildDualStringArray(d: DualStringArray): DualStringArrayWire {
  const a: number[] = [];
  const push = (s: string) => {
    for (let k = 0; k < s.length; k++) a.push(s.charCodeAt(k));
    a.push(0);
  };
  for (const b of d.stringBindings) {
    a.push(b.towerId);
    push(b.networkAddr);
  }
  if (d.stringBindings.length === 0) a.push(0);
  a.push(0);
  const wSecurityOffset = a.length;
  for (const b of d.securityBindings) {
    a.push(b.authnSvc, b.authzSvc);
    push(b.principalName);
  }
  if (d.securityBindings.length === 0) a.push(0);
  a.push(0);
  return { wNumEntries: a.length, wSecurityOffset, aStringArray: a };
}
