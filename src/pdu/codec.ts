// Connection-oriented PDUs (C706 12.6, MS-RPCE 2.2.2): decode and encode, both integer byte
// orders. Hand-written on Buffer: this is the per-PDU hot path.
//
// Fidelity: every byte a PDU carries is kept (reserved fields, padding bytes, trailing bytes
// after a body), so decode → encode reproduces the original PDU exactly.
import { PduDecodeError } from '../base/errors';
import { readGuid, writeGuid } from '../base/guid';
import { COMMON_HEADER_LENGTH, PFC, PType, SEC_TRAILER_LENGTH } from './constants';

export interface SyntaxId {
  uuid: string;
  /** if_version: major in the low 16 bits, minor in the high 16 bits (C706 12.6.3.1 p_syntax_id_t). */
  version: number;
}

/** sec_trailer (MS-RPCE 2.2.2.11) plus the auth value and the auth padding that precedes it. */
export interface AuthVerifier {
  type: number;
  level: number;
  padLength: number;
  reserved: number;
  contextId: number;
  value: Buffer;
  /** The padding bytes themselves (padLength of them); zeros when encoding from scratch. */
  pad?: Buffer;
}

export interface ContextElement {
  ctxId: number;
  abstractSyntax: SyntaxId;
  transferSyntaxes: SyntaxId[];
  reserved?: number;
}

export interface ContextResult {
  /** p_cont_def_result_t: 0 acceptance, 1 user_rejection, 2 provider_rejection, 3 negotiate_ack. */
  result: number;
  /** p_provider_reason_t, or the bind-time feature bits for negotiate_ack. */
  reason: number;
  transferSyntax: SyntaxId;
}

interface Common {
  rpcVersMinor: number;
  flags: number;
  /** The 4 data representation bytes; byte 0 bit 0x10 set = little-endian integers. */
  drep: number;
  callId: number;
  auth?: AuthVerifier;
  /** Body bytes after the known fields and before the auth padding (kept for exact re-encoding). */
  extra?: Buffer;
}

export interface RequestPdu extends Common {
  ptype: 0;
  allocHint: number;
  ctxId: number;
  opnum: number;
  object?: string;
  stub: Buffer;
}
export interface ResponsePdu extends Common {
  ptype: 2;
  allocHint: number;
  ctxId: number;
  cancelCount: number;
  reserved: number;
  stub: Buffer;
}
export interface FaultPdu extends Common {
  ptype: 3;
  allocHint: number;
  ctxId: number;
  cancelCount: number;
  /** MS-RPCE 2.2.2.6 fault_flags (extended error present = 0x01); C706 calls it reserved. */
  faultFlags: number;
  status: number;
  reserved2: number;
  stub: Buffer;
}
export interface BindPdu extends Common {
  ptype: 11 | 14;
  maxXmitFrag: number;
  maxRecvFrag: number;
  assocGroupId: number;
  contexts: ContextElement[];
  listReserved?: number;
}
export interface BindAckPdu extends Common {
  ptype: 12 | 15;
  maxXmitFrag: number;
  maxRecvFrag: number;
  assocGroupId: number;
  /** Secondary address (port_any_t), without its NUL; '' when length is 0. */
  secAddr: string;
  /**
   * Whether the wire form carries a terminating NUL inside the length. Non-empty addresses
   * normally do (default true); an empty one is usually length 0, but Windows also sends a lone
   * NUL (length 1), so for '' the default is false.
   */
  secAddrNul?: boolean;
  secAddrPad?: Buffer;
  results: ContextResult[];
  listReserved?: number;
}
export interface BindNakPdu extends Common {
  ptype: 13;
  rejectReason: number;
  versions: Array<{ major: number; minor: number }>;
}
/** auth3, shutdown, co_cancel, orphaned: header, an opaque body and the verifier. */
export interface SimplePdu extends Common {
  ptype: 16 | 17 | 18 | 19;
  body: Buffer;
}

export type Pdu = RequestPdu | ResponsePdu | FaultPdu | BindPdu | BindAckPdu | BindNakPdu | SimplePdu;

export interface PduHeader {
  rpcVers: number;
  rpcVersMinor: number;
  ptype: number;
  flags: number;
  drep: number;
  fragLength: number;
  authLength: number;
  callId: number;
}

/**
 * Where a PDU's parts lie and the fields of its header, its sec_trailer and (for request,
 * response and fault) its fixed body fields, filled in place by readPduSummary. It holds offsets
 * instead of views, so reading it allocates nothing: the dissector reads every request and
 * response this way and builds full Pdu objects (decodePdu) only when someone wants them.
 * Fields that do not apply to the PDU keep stale values: check `ptype` and `authLength`.
 */
export class PduSummary {
  rpcVers = 0;
  rpcVersMinor = 0;
  ptype = 0;
  flags = 0;
  drep = 0;
  fragLength = 0;
  /** auth_length: the auth value's size; 0 = no sec_trailer. */
  authLength = 0;
  callId = 0;
  /** Integer byte order of the drep. */
  le = true;
  // sec_trailer (when authLength > 0)
  authType = 0;
  authLevel = 0;
  authPadLength = 0;
  authReserved = 0;
  authContextId = 0;
  /** Offset of the sec_trailer; the auth padding precedes it, the auth value follows it. */
  trailerOffset = 0;
  /** The body: from the end of the common header to the auth padding (or the PDU's end). */
  bodyOffset = 0;
  bodyEnd = 0;
  // request / response / fault
  allocHint = 0;
  ctxId = 0;
  /** request only */
  opnum = 0;
  /** request only: offset of the object UUID, -1 when the PDU carries none. */
  objectOffset = -1;
  /** response and fault */
  cancelCount = 0;
  /** response: reserved; fault: fault_flags. */
  reservedOrFaultFlags = 0;
  /** fault only */
  status = 0;
  reserved2 = 0;
  stubOffset = 0;
  stubLength = 0;
}

export const DREP_LE = 0x10000000;
/** True when the drep's integer representation is little-endian. */
export function isLittleEndian(drep: number): boolean {
  return (drep >>> 24 & 0x10) !== 0;
}

/**
 * Read the common header (C706 12.6.3.1) at `off` into `h`: decodeHeader and readPduSummary
 * both read it here. rpc_vers(1) rpc_vers_minor(1) PTYPE(1) pfc_flags(1) packed_drep(4)
 * frag_length(2) auth_length(2) call_id(4), integers in the drep's byte order.
 */
function readHeader(buf: Buffer, off: number, h: PduSummary): void {
  const d0 = buf[off + 4]!;
  const le = (d0 & 0x10) !== 0;
  h.le = le;
  h.rpcVers = buf[off]!;
  h.rpcVersMinor = buf[off + 1]!;
  h.ptype = buf[off + 2]!;
  h.flags = buf[off + 3]!;
  h.drep = ((d0 << 24) | (buf[off + 5]! << 16) | (buf[off + 6]! << 8) | buf[off + 7]!) >>> 0;
  h.fragLength = le ? buf[off + 8]! | (buf[off + 9]! << 8) : (buf[off + 8]! << 8) | buf[off + 9]!;
  h.authLength = le ? buf[off + 10]! | (buf[off + 11]! << 8) : (buf[off + 10]! << 8) | buf[off + 11]!;
  h.callId = le
    ? (buf[off + 12]! | (buf[off + 13]! << 8) | (buf[off + 14]! << 16) | (buf[off + 15]! << 24)) >>> 0
    : ((buf[off + 12]! << 24) | (buf[off + 13]! << 16) | (buf[off + 14]! << 8) | buf[off + 15]!) >>> 0;
}

// decodeHeader's scratch: it runs synchronously and never re-enters itself.
const headerScratch = new PduSummary();

/** Decode the 16-byte common header at `off`. No validation beyond length: callers decide. */
export function decodeHeader(buf: Buffer, off = 0): PduHeader {
  if (buf.length - off < COMMON_HEADER_LENGTH) throw new PduDecodeError(off, 'short header');
  const h = headerScratch;
  readHeader(buf, off, h);
  return {
    rpcVers: h.rpcVers, rpcVersMinor: h.rpcVersMinor, ptype: h.ptype, flags: h.flags, drep: h.drep,
    fragLength: h.fragLength, authLength: h.authLength, callId: h.callId,
  };
}

/** Write the common header at `off`. */
export function encodeHeader(h: PduHeader, buf: Buffer, off = 0): void {
  buf[off] = h.rpcVers;
  buf[off + 1] = h.rpcVersMinor;
  buf[off + 2] = h.ptype;
  buf[off + 3] = h.flags;
  buf[off + 4] = h.drep >>> 24;
  buf[off + 5] = (h.drep >>> 16) & 0xff;
  buf[off + 6] = (h.drep >>> 8) & 0xff;
  buf[off + 7] = h.drep & 0xff;
  if ((h.drep >>> 24 & 0x10) !== 0) {
    buf[off + 8] = h.fragLength & 0xff; buf[off + 9] = h.fragLength >>> 8;
    buf[off + 10] = h.authLength & 0xff; buf[off + 11] = h.authLength >>> 8;
    buf[off + 12] = h.callId & 0xff; buf[off + 13] = (h.callId >>> 8) & 0xff;
    buf[off + 14] = (h.callId >>> 16) & 0xff; buf[off + 15] = h.callId >>> 24;
  } else {
    buf[off + 8] = h.fragLength >>> 8; buf[off + 9] = h.fragLength & 0xff;
    buf[off + 10] = h.authLength >>> 8; buf[off + 11] = h.authLength & 0xff;
    buf[off + 12] = h.callId >>> 24; buf[off + 13] = (h.callId >>> 16) & 0xff;
    buf[off + 14] = (h.callId >>> 8) & 0xff; buf[off + 15] = h.callId & 0xff;
  }
}

// ---- small readers with bounds, in the PDU's byte order --------------------------------

/** A field that does not fit in what is left of the body. */
function shortField(o: number, n: number, end: number, what: string): PduDecodeError {
  return new PduDecodeError(o, `${what}: needs ${n} bytes, ${end - o} left`);
}

class Reader {
  constructor(readonly buf: Buffer, public off: number, readonly end: number, readonly le: boolean) {}
  need(n: number, what: string): void {
    if (this.off + n > this.end) throw shortField(this.off, n, this.end, what);
  }
  u8(what: string): number {
    this.need(1, what);
    return this.buf[this.off++]!;
  }
  u16(what: string): number {
    this.need(2, what);
    const v = this.le ? this.buf.readUInt16LE(this.off) : this.buf.readUInt16BE(this.off);
    this.off += 2;
    return v;
  }
  u32(what: string): number {
    this.need(4, what);
    const v = this.le ? this.buf.readUInt32LE(this.off) : this.buf.readUInt32BE(this.off);
    this.off += 4;
    return v;
  }
  guid(what: string): string {
    this.need(16, what);
    const g = readGuid(this.buf, this.off, this.le);
    this.off += 16;
    return g;
  }
  syntax(what: string): SyntaxId {
    const uuid = this.guid(what);
    return { uuid, version: this.u32(what) };
  }
  bytes(n: number, what: string): Buffer {
    this.need(n, what);
    const b = this.buf.subarray(this.off, this.off + n);
    this.off += n;
    return b;
  }
}

// ---- one read of the layout, for decodePdu and the dissector -------------------------

/**
 * Read the PDU at buf[off, off+frag_length) into `s`: the header and the sec_trailer for every
 * ptype, and the fixed fields of request, response and fault bodies (other ptypes' bodies are
 * left to decodePdu). Throws the same PduDecodeError as decodePdu for a PDU it cannot read.
 */
export function readPduSummary(buf: Buffer, off: number, s: PduSummary): PduSummary {
  if (buf.length - off < COMMON_HEADER_LENGTH) throw new PduDecodeError(off, 'short header');
  readHeader(buf, off, s);
  const rpcVers = s.rpcVers;
  const fragLength = s.fragLength;
  const authLength = s.authLength;
  const le = s.le;
  if (rpcVers !== 5) throw new PduDecodeError(off, `rpc_vers ${rpcVers}, expected 5`);
  if (fragLength < COMMON_HEADER_LENGTH) throw new PduDecodeError(off + 8, `frag_length ${fragLength} below the header size`);
  if (off + fragLength > buf.length) {
    throw new PduDecodeError(off + 8, `frag_length ${fragLength} beyond the ${buf.length - off} bytes present`);
  }
  const end = off + fragLength;
  let bodyEnd = end;
  if (authLength > 0) {
    const trailer = end - authLength - SEC_TRAILER_LENGTH;
    if (trailer < off + COMMON_HEADER_LENGTH) {
      throw new PduDecodeError(off + 10, `auth_length ${authLength} does not fit in frag_length ${fragLength}`);
    }
    const padLength = buf[trailer + 2]!;
    const padStart = trailer - padLength;
    if (padStart < off + COMMON_HEADER_LENGTH) {
      throw new PduDecodeError(trailer + 2, `auth_pad_length ${padLength} reaches into the header`);
    }
    s.authType = buf[trailer]!;
    s.authLevel = buf[trailer + 1]!;
    s.authPadLength = padLength;
    s.authReserved = buf[trailer + 3]!;
    s.authContextId = le ? buf.readUInt32LE(trailer + 4) : buf.readUInt32BE(trailer + 4);
    s.trailerOffset = trailer;
    bodyEnd = padStart;
  }
  s.bodyOffset = off + COMMON_HEADER_LENGTH;
  s.bodyEnd = bodyEnd;
  const t = s.ptype;
  if (t === PType.request || t === PType.response || t === PType.fault) readCallBody(buf, s);
  return s;
}

/** The fixed fields of request, response and fault bodies (C706 12.6.4.9, 12.6.4.10, 12.6.4.7); the stub is the rest. */
function readCallBody(buf: Buffer, s: PduSummary): void {
  const le = s.le;
  const end = s.bodyEnd;
  let o = s.bodyOffset;
  if (o + 4 > end) throw shortField(o, 4, end, 'alloc_hint');
  s.allocHint = le ? buf.readUInt32LE(o) : buf.readUInt32BE(o);
  o += 4;
  if (o + 2 > end) throw shortField(o, 2, end, 'p_cont_id');
  s.ctxId = le ? buf[o]! | (buf[o + 1]! << 8) : (buf[o]! << 8) | buf[o + 1]!;
  o += 2;
  if (s.ptype === PType.request) {
    if (o + 2 > end) throw shortField(o, 2, end, 'opnum');
    s.opnum = le ? buf[o]! | (buf[o + 1]! << 8) : (buf[o]! << 8) | buf[o + 1]!;
    o += 2;
    if (s.flags & PFC.OBJECT_UUID) {
      if (o + 16 > end) throw shortField(o, 16, end, 'object');
      s.objectOffset = o;
      o += 16;
    } else {
      s.objectOffset = -1;
    }
  } else {
    if (o + 1 > end) throw shortField(o, 1, end, 'cancel_count');
    s.cancelCount = buf[o++]!;
    if (o + 1 > end) throw shortField(o, 1, end, s.ptype === PType.fault ? 'fault_flags' : 'reserved');
    s.reservedOrFaultFlags = buf[o++]!;
    if (s.ptype === PType.fault) {
      if (o + 4 > end) throw shortField(o, 4, end, 'status');
      s.status = le ? buf.readUInt32LE(o) : buf.readUInt32BE(o);
      o += 4;
      if (o + 4 > end) throw shortField(o, 4, end, 'reserved2');
      s.reserved2 = le ? buf.readUInt32LE(o) : buf.readUInt32BE(o);
      o += 4;
    }
  }
  s.stubOffset = o;
  s.stubLength = end - o;
}

/** The request's object UUID, or undefined. */
export function summaryObject(buf: Buffer, s: PduSummary): string | undefined {
  return s.objectOffset >= 0 ? readGuid(buf, s.objectOffset, s.le) : undefined;
}

// decodePdu's scratch summary: it runs synchronously and never re-enters itself.
const scratch = new PduSummary();

/**
 * Decode one complete PDU occupying buf[off, off+frag_length). Stub and auth buffers are views
 * into `buf` (copy them to keep them past the buffer's life).
 */
export function decodePdu(buf: Buffer, off = 0): Pdu {
  const h = readPduSummary(buf, off, scratch);
  const end = off + h.fragLength;
  const bodyEnd = h.bodyEnd;
  const auth: AuthVerifier | undefined =
    h.authLength > 0
      ? {
          type: h.authType,
          level: h.authLevel,
          padLength: h.authPadLength,
          reserved: h.authReserved,
          contextId: h.authContextId,
          value: buf.subarray(h.trailerOffset + SEC_TRAILER_LENGTH, end),
          pad: buf.subarray(bodyEnd, h.trailerOffset),
        }
      : undefined;
  // One object literal per PDU type (no spreads): this is the hot path, and fixed shapes keep
  // V8's property access monomorphic. Optional fields are present as undefined.
  const minor = h.rpcVersMinor;
  const flags = h.flags;
  const drep = h.drep;
  const callId = h.callId;
  switch (h.ptype) {
    case PType.request:
      return {
        ptype: 0, rpcVersMinor: minor, flags, drep, callId, auth, extra: undefined, allocHint: h.allocHint, ctxId: h.ctxId,
        opnum: h.opnum, object: summaryObject(buf, h), stub: buf.subarray(h.stubOffset, bodyEnd),
      };
    case PType.response:
      return {
        ptype: 2, rpcVersMinor: minor, flags, drep, callId, auth, extra: undefined, allocHint: h.allocHint, ctxId: h.ctxId,
        cancelCount: h.cancelCount, reserved: h.reservedOrFaultFlags, stub: buf.subarray(h.stubOffset, bodyEnd),
      };
    case PType.fault:
      return {
        ptype: 3, rpcVersMinor: minor, flags, drep, callId, auth, extra: undefined, allocHint: h.allocHint, ctxId: h.ctxId,
        cancelCount: h.cancelCount, faultFlags: h.reservedOrFaultFlags, status: h.status, reserved2: h.reserved2,
        stub: buf.subarray(h.stubOffset, bodyEnd),
      };
  }
  // The other bodies, read field by field.
  const r = new Reader(buf, h.bodyOffset, bodyEnd, h.le);
  let pdu: Pdu;
  switch (h.ptype) {
    case PType.bind:
    case PType.alter_context: {
      const maxXmitFrag = r.u16('max_xmit_frag');
      const maxRecvFrag = r.u16('max_recv_frag');
      const assocGroupId = r.u32('assoc_group_id');
      const n = r.u8('n_context_elem');
      const listReserved = r.u8('reserved') | (r.u16('reserved2') << 8);
      const contexts: ContextElement[] = [];
      for (let i = 0; i < n; i++) {
        const ctxId = r.u16('p_cont_elem.p_cont_id');
        const nTs = r.u8('p_cont_elem.n_transfer_syn');
        const reserved = r.u8('p_cont_elem.reserved');
        const abstractSyntax = r.syntax('p_cont_elem.abstract_syntax');
        r.need(20 * nTs, 'p_cont_elem.transfer_syntaxes');
        const transferSyntaxes: SyntaxId[] = [];
        for (let j = 0; j < nTs; j++) transferSyntaxes.push(r.syntax('p_cont_elem.transfer_syntaxes'));
        contexts.push(reserved ? { ctxId, abstractSyntax, transferSyntaxes, reserved } : { ctxId, abstractSyntax, transferSyntaxes });
      }
      pdu = {
        ptype: h.ptype, rpcVersMinor: minor, flags, drep, callId, auth, extra: undefined,
        maxXmitFrag, maxRecvFrag, assocGroupId, contexts, listReserved: listReserved || undefined,
      };
      break;
    }
    case PType.bind_ack:
    case PType.alter_context_resp: {
      const maxXmitFrag = r.u16('max_xmit_frag');
      const maxRecvFrag = r.u16('max_recv_frag');
      const assocGroupId = r.u32('assoc_group_id');
      const secLen = r.u16('sec_addr.length');
      const secBytes = r.bytes(secLen, 'sec_addr.port_spec');
      const secAddrNul = secLen > 0 && secBytes[secLen - 1] === 0;
      const secAddr = secBytes.toString('latin1', 0, secAddrNul ? secLen - 1 : secLen);
      // pad to a 4-byte boundary relative to the PDU start (C706 12.6.4.4: "pad2").
      const padLen = (4 - ((r.off - off) & 3)) & 3;
      const secAddrPad = r.bytes(Math.min(padLen, bodyEnd - r.off), 'pad2');
      const results: ContextResult[] = [];
      let listReserved = 0;
      if (r.off < bodyEnd) {
        const n = r.u8('n_results');
        listReserved = r.u8('reserved') | (r.u16('reserved2') << 8);
        r.need(24 * n, 'p_results');
        for (let i = 0; i < n; i++) {
          const result = r.u16('p_results.result');
          const reason = r.u16('p_results.reason');
          results.push({ result, reason, transferSyntax: r.syntax('p_results.transfer_syntax') });
        }
      }
      pdu = {
        ptype: h.ptype, rpcVersMinor: minor, flags, drep, callId, auth, extra: undefined,
        maxXmitFrag, maxRecvFrag, assocGroupId, secAddr,
        secAddrNul: (secAddr.length > 0 ? !secAddrNul : secAddrNul) ? secAddrNul : undefined,
        secAddrPad: secAddrPad.some((b) => b !== 0) ? secAddrPad : undefined,
        results, listReserved: listReserved || undefined,
      };
      break;
    }
    case PType.bind_nak: {
      const rejectReason = r.u16('provider_reject_reason');
      const versions: Array<{ major: number; minor: number }> = [];
      if (r.off < bodyEnd) {
        const n = r.u8('versions.n_protocols');
        r.need(2 * n, 'versions.p_protocols');
        for (let i = 0; i < n; i++) versions.push({ major: r.u8('major'), minor: r.u8('minor') });
      }
      pdu = { ptype: 13, rpcVersMinor: minor, flags, drep, callId, auth, extra: undefined, rejectReason, versions };
      break;
    }
    case PType.auth3:
    case PType.shutdown:
    case PType.co_cancel:
    case PType.orphaned:
      pdu = { ptype: h.ptype, rpcVersMinor: minor, flags, drep, callId, auth, extra: undefined, body: r.bytes(bodyEnd - r.off, 'body') };
      break;
    default:
      throw new PduDecodeError(off + 2, `ptype ${h.ptype} is not a connection-oriented PDU`);
  }
  if (r.off < bodyEnd) pdu.extra = buf.subarray(r.off, bodyEnd);
  return pdu;
}

// ---- encoding ---------------------------------------------------------------------------

function bodyLength(p: Pdu): number {
  switch (p.ptype) {
    case 0:
      return 8 + (p.object !== undefined ? 16 : 0) + p.stub.length;
    case 2:
      return 8 + p.stub.length;
    case 3:
      return 16 + p.stub.length;
    case 11:
    case 14: {
      let n = 12;
      for (const c of p.contexts) n += 24 + 20 * c.transferSyntaxes.length;
      return n;
    }
    case 12:
    case 15: {
      const secLen = secAddrWireLength(p);
      const afterSec = COMMON_HEADER_LENGTH + 8 + 2 + secLen;
      const pad = p.secAddrPad ? p.secAddrPad.length : (4 - (afterSec & 3)) & 3;
      return 8 + 2 + secLen + pad + 4 + 24 * p.results.length;
    }
    case 13:
      return 2 + (p.versions.length ? 1 + 2 * p.versions.length : 0);
    default:
      return p.body.length;
  }
}

function secAddrWireLength(p: BindAckPdu): number {
  if (p.secAddr.length === 0) return p.secAddrNul ? 1 : 0;
  return p.secAddr.length + (p.secAddrNul === false ? 0 : 1);
}

/** Auth padding length chosen when none is given: the sec_trailer lands on a 4-byte boundary
 *  relative to the PDU start (MS-RPCE 2.2.2.11), and request/response stubs are padded so the
 *  verifier starts 16-byte aligned past the stub start, as Windows does. */
export function defaultAuthPad(p: Pdu, bodyLen: number): number {
  if (p.ptype === 0 || p.ptype === 2 || p.ptype === 3) {
    const stubLen = p.stub.length;
    return (16 - (stubLen & 15)) & 15;
  }
  return (4 - ((COMMON_HEADER_LENGTH + bodyLen) & 3)) & 3;
}

export interface EncodedLayout {
  buf: Buffer;
  /** Offset and length of the stub (request/response/fault), for sealing in place. */
  stubOffset: number;
  stubLength: number;
  /** Where the auth value starts (for writing a signature after computing it). */
  authValueOffset: number;
}

/** Encode a PDU, computing frag_length and auth_length. */
export function encodePdu(p: Pdu): Buffer {
  return encodePduLayout(p).buf;
}

export function encodePduLayout(p: Pdu): EncodedLayout {
  const le = (p.drep >>> 24 & 0x10) !== 0;
  const extraLen = p.extra ? p.extra.length : 0;
  const bodyLen = bodyLength(p) + extraLen;
  let padLen = 0;
  let authLen = 0;
  if (p.auth) {
    padLen = p.auth.pad ? p.auth.pad.length : defaultAuthPad(p, bodyLen);
    authLen = p.auth.value.length;
  }
  const fragLength = COMMON_HEADER_LENGTH + bodyLen + (p.auth ? padLen + SEC_TRAILER_LENGTH + authLen : 0);
  if (fragLength > 0xffff) throw new RangeError(`PDU of ${fragLength} bytes exceeds the 65535-byte frag_length`);
  const buf = Buffer.alloc(fragLength);
  encodeHeader(
    { rpcVers: 5, rpcVersMinor: p.rpcVersMinor, ptype: p.ptype, flags: p.flags, drep: p.drep, fragLength, authLength: authLen, callId: p.callId },
    buf,
    0,
  );
  let o = COMMON_HEADER_LENGTH;
  const u16 = (v: number) => { if (le) buf.writeUInt16LE(v, o); else buf.writeUInt16BE(v, o); o += 2; };
  const u32 = (v: number) => { if (le) buf.writeUInt32LE(v >>> 0, o); else buf.writeUInt32BE(v >>> 0, o); o += 4; };
  const guid = (g: string) => { writeGuid(buf, o, g, le); o += 16; };
  const syntax = (s: SyntaxId) => { guid(s.uuid); u32(s.version); };
  let stubOffset = 0;
  let stubLength = 0;
  switch (p.ptype) {
    case 0:
      u32(p.allocHint); u16(p.ctxId); u16(p.opnum);
      if (p.object !== undefined) guid(p.object);
      stubOffset = o; stubLength = p.stub.length;
      p.stub.copy(buf, o); o += p.stub.length;
      break;
    case 2:
      u32(p.allocHint); u16(p.ctxId); buf[o++] = p.cancelCount; buf[o++] = p.reserved;
      stubOffset = o; stubLength = p.stub.length;
      p.stub.copy(buf, o); o += p.stub.length;
      break;
    case 3:
      u32(p.allocHint); u16(p.ctxId); buf[o++] = p.cancelCount; buf[o++] = p.faultFlags;
      u32(p.status); u32(p.reserved2);
      stubOffset = o; stubLength = p.stub.length;
      p.stub.copy(buf, o); o += p.stub.length;
      break;
    case 11:
    case 14: {
      u16(p.maxXmitFrag); u16(p.maxRecvFrag); u32(p.assocGroupId);
      const lr = p.listReserved ?? 0;
      buf[o++] = p.contexts.length; buf[o++] = lr & 0xff; u16(lr >>> 8);
      for (const c of p.contexts) {
        u16(c.ctxId); buf[o++] = c.transferSyntaxes.length; buf[o++] = c.reserved ?? 0;
        syntax(c.abstractSyntax);
        for (const t of c.transferSyntaxes) syntax(t);
      }
      break;
    }
    case 12:
    case 15: {
      u16(p.maxXmitFrag); u16(p.maxRecvFrag); u32(p.assocGroupId);
      const secLen = secAddrWireLength(p);
      u16(secLen);
      buf.write(p.secAddr, o, 'latin1'); o += secLen;
      if (p.secAddrPad) { p.secAddrPad.copy(buf, o); o += p.secAddrPad.length; }
      else o += (4 - (o & 3)) & 3;
      const lr = p.listReserved ?? 0;
      buf[o++] = p.results.length; buf[o++] = lr & 0xff; u16(lr >>> 8);
      for (const r of p.results) { u16(r.result); u16(r.reason); syntax(r.transferSyntax); }
      break;
    }
    case 13:
      u16(p.rejectReason);
      if (p.versions.length) {
        buf[o++] = p.versions.length;
        for (const v of p.versions) { buf[o++] = v.major; buf[o++] = v.minor; }
      }
      break;
    default:
      p.body.copy(buf, o); o += p.body.length;
  }
  if (p.extra) { p.extra.copy(buf, o); o += p.extra.length; }
  let authValueOffset = fragLength;
  if (p.auth) {
    if (p.auth.pad) p.auth.pad.copy(buf, o);
    o += padLen;
    buf[o] = p.auth.type; buf[o + 1] = p.auth.level; buf[o + 2] = padLen; buf[o + 3] = p.auth.reserved;
    if (le) buf.writeUInt32LE(p.auth.contextId >>> 0, o + 4); else buf.writeUInt32BE(p.auth.contextId >>> 0, o + 4);
    o += SEC_TRAILER_LENGTH;
    authValueOffset = o;
    p.auth.value.copy(buf, o);
  }
  return { buf, stubOffset, stubLength, authValueOffset };
}
