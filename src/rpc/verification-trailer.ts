// The verification trailer (MS-RPCE 2.2.2.13): commands a client appends after a request's stub
// data, so the server can check the parts of the PDU the security provider may not protect
// (the presentation context and the header). Windows clients send it at PKT_INTEGRITY and
// PKT_PRIVACY; the server finds it, checks it and removes it before unmarshalling.
import { readGuid, writeGuid } from '../base/guid';
import type { SyntaxId } from '../pdu';

/** MS-RPCE 2.2.2.13.1 rpc_sec_verification_trailer signature. */
export const SEC_VT_SIGNATURE = Buffer.from([0x8a, 0xe3, 0x13, 0x71, 0x02, 0xf4, 0x36, 0x71]);
export const SEC_VT_COMMAND_BITMASK_1 = 0x0001;
export const SEC_VT_COMMAND_PCONTEXT = 0x0002;
export const SEC_VT_COMMAND_HEADER2 = 0x0003;
/** Bits 14 and 15 of a command (MS-RPCE 2.2.2.13). */
export const SEC_VT_COMMAND_END = 0x4000;
export const SEC_VT_MUST_PROCESS_COMMAND = 0x8000;
/** rpc_sec_vt_bitmask_1 bits (MS-RPCE 2.2.2.13.2). */
export const CLIENT_SUPPORT_HEADER_SIGNING = 0x1;

export interface VerificationTrailer {
  bitmask1?: number;
  pcontext?: { interfaceId: SyntaxId; transferSyntax: SyntaxId };
  header2?: { ptype: number; drep: number; callId: number; ctxId: number; opnum: number };
  /** Commands we do not know and were not told we must process. */
  ignored: number[];
  /** A command we do not know but must process: the request must be refused. */
  mustProcessUnknown?: number;
}

/**
 * Find a verification trailer at the end of a request's stub: the signature at a 4-byte aligned
 * offset (MS-RPCE 3.3.3.x says to search rather than assume where the stub ends), followed by
 * commands that end exactly at the end of the stub with SEC_VT_COMMAND_END on the last.
 * Returns the stub without it and the parsed commands, or undefined when there is none.
 */
export function findVerificationTrailer(stub: Buffer): { stub: Buffer; trailer: VerificationTrailer } | undefined {
  // Every request stub passes here: let the native search find candidates, latest first.
  let sig = stub.length >= 12 ? stub.lastIndexOf(SEC_VT_SIGNATURE, stub.length - 12) : -1;
  while (sig >= 0) {
    if ((sig & 3) === 0) {
      const trailer = parseCommands(stub, sig + 8);
      if (trailer) return { stub: stub.subarray(0, sig), trailer };
    }
    sig = sig > 0 ? stub.lastIndexOf(SEC_VT_SIGNATURE, sig - 1) : -1;
  }
  return undefined;
}

function parseCommands(b: Buffer, start: number): VerificationTrailer | undefined {
  const t: VerificationTrailer = { ignored: [] };
  let o = start;
  for (let n = 0; n < 16; n++) {
    if (o + 4 > b.length) return undefined;
    const command = b.readUInt16LE(o);
    const length = b.readUInt16LE(o + 2);
    const body = o + 4;
    if (body + length > b.length) return undefined;
    switch (command & 0x3fff) {
      case SEC_VT_COMMAND_BITMASK_1:
        if (length !== 4) return undefined;
        t.bitmask1 = b.readUInt32LE(body);
        break;
      case SEC_VT_COMMAND_PCONTEXT:
        if (length !== 0x28) return undefined;
        t.pcontext = {
          interfaceId: { uuid: readGuid(b, body, true), version: b.readUInt32LE(body + 16) },
          transferSyntax: { uuid: readGuid(b, body + 20, true), version: b.readUInt32LE(body + 36) },
        };
        break;
      case SEC_VT_COMMAND_HEADER2:
        if (length !== 0x10) return undefined;
        t.header2 = {
          ptype: b[body]!,
          drep: b.readUInt32BE(body + 4),
          callId: b.readUInt32LE(body + 8),
          ctxId: b.readUInt16LE(body + 12),
          opnum: b.readUInt16LE(body + 14),
        };
        break;
      default:
        if (command & SEC_VT_MUST_PROCESS_COMMAND) t.mustProcessUnknown = command & 0x3fff;
        else t.ignored.push(command & 0x3fff);
    }
    o = body + length;
    if (command & SEC_VT_COMMAND_END) return o === b.length ? t : undefined;
  }
  return undefined;
}

/** Why a trailer does not match the request it came with, or undefined when it does (MS-RPCE 3.3.3.x). */
export function checkVerificationTrailer(
  t: VerificationTrailer,
  req: { drep: number; callId: number; ctxId: number; opnum: number },
  context: { abstractSyntax: SyntaxId; transferSyntax: SyntaxId },
): string | undefined {
  if (t.mustProcessUnknown !== undefined) return `unknown verification trailer command ${t.mustProcessUnknown} marked must-process`;
  if (t.pcontext) {
    const p = t.pcontext;
    if (p.interfaceId.uuid !== context.abstractSyntax.uuid || p.interfaceId.version !== context.abstractSyntax.version) {
      return 'verification trailer names another interface than the presentation context';
    }
    if (p.transferSyntax.uuid !== context.transferSyntax.uuid || p.transferSyntax.version !== context.transferSyntax.version) {
      return 'verification trailer names another transfer syntax than the presentation context';
    }
  }
  if (t.header2) {
    const h = t.header2;
    if (h.ptype !== 0 || h.drep !== req.drep || h.callId !== req.callId || h.ctxId !== req.ctxId || h.opnum !== req.opnum) {
      return 'verification trailer header2 does not match the request header';
    }
  }
  return undefined;
}

/** Encode a trailer (bitmask, pcontext, header2) to append to a request stub, 4-byte aligned. */
export function encodeVerificationTrailer(
  stubLength: number,
  req: { drep: number; callId: number; ctxId: number; opnum: number },
  context: { abstractSyntax: SyntaxId; transferSyntax: SyntaxId },
  bitmask1 = CLIENT_SUPPORT_HEADER_SIGNING,
): Buffer {
  const pad = (4 - (stubLength & 3)) & 3;
  const b = Buffer.alloc(pad + 8 + 8 + 44 + 20);
  let o = pad;
  SEC_VT_SIGNATURE.copy(b, o); o += 8;
  b.writeUInt16LE(SEC_VT_COMMAND_BITMASK_1, o); b.writeUInt16LE(4, o + 2); b.writeUInt32LE(bitmask1, o + 4); o += 8;
  b.writeUInt16LE(SEC_VT_COMMAND_PCONTEXT, o); b.writeUInt16LE(0x28, o + 2);
  writeGuid(b, o + 4, context.abstractSyntax.uuid, true); b.writeUInt32LE(context.abstractSyntax.version, o + 20);
  writeGuid(b, o + 24, context.transferSyntax.uuid, true); b.writeUInt32LE(context.transferSyntax.version, o + 40);
  o += 44;
  b.writeUInt16LE(SEC_VT_COMMAND_HEADER2 | SEC_VT_COMMAND_END | SEC_VT_MUST_PROCESS_COMMAND, o); b.writeUInt16LE(0x10, o + 2);
  b[o + 4] = 0; // ptype request
  b.writeUInt32BE(req.drep >>> 0, o + 8);
  b.writeUInt32LE(req.callId >>> 0, o + 12);
  b.writeUInt16LE(req.ctxId, o + 16);
  b.writeUInt16LE(req.opnum, o + 18);
  return b;
}
