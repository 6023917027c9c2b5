// Per-PDU protection on an authenticated association (MS-RPCE 3.3.1.5.2): the verifier of a
// request or response is signed (PKT, PKT_INTEGRITY) or the stub sealed and signed
// (PKT_PRIVACY). Used by the client and the server alike.
//
// What is signed: with NTLM extended session security, the whole PDU up to the auth value —
// header with the final lengths, body, auth padding and sec_trailer — with the stub in
// plaintext (Windows and Impacket do this); otherwise the stub and its padding. What is sealed:
// the stub and its auth padding, never the header or trailer.
import { AuthError } from '../base/errors';
import { Status } from '../base/status';
import type { SessionSecurity } from '../auth/types';
import {
  AuthLevel, authOverhead, encodePdu, encodePduLayout, fragmentFlags, SEC_TRAILER_LENGTH, splitStub,
  type FaultPdu, type RequestPdu, type ResponsePdu,
} from '../pdu';

export interface AuthBinding {
  type: number;
  level: number;
  contextId: number;
  session: SessionSecurity;
}

/** Levels that protect each PDU. CALL (3) counts as PKT, as Windows treats it. */
export function protectsPdus(level: number): boolean {
  return level >= AuthLevel.call;
}

/** A request or response PDU with its verifier, signed or sealed for `a.level`. */
export function encodeProtected(p: RequestPdu | ResponsePdu, a: AuthBinding): Buffer {
  const withAuth = {
    ...p,
    auth: { type: a.type, level: a.level, padLength: 0, reserved: 0, contextId: a.contextId, value: Buffer.alloc(a.session.signatureLength) },
  };
  const { buf, stubOffset, authValueOffset } = encodePduLayout(withAuth);
  // Stub and auth padding: everything between the body header and the sec_trailer.
  const regionEnd = authValueOffset - SEC_TRAILER_LENGTH;
  const region = buf.subarray(stubOffset, regionEnd);
  const whole = a.session.signsWholePdu !== false;
  if (a.level >= AuthLevel.pkt_privacy) {
    const signed = whole ? Buffer.from(buf.subarray(0, authValueOffset)) : Buffer.from(region);
    const { sealed, signature } = a.session.seal(Buffer.from(region), signed);
    sealed.copy(buf, stubOffset);
    signature.copy(buf, authValueOffset);
  } else {
    const signature = a.session.sign(whole ? buf.subarray(0, authValueOffset) : region);
    signature.copy(buf, authValueOffset);
  }
  return buf;
}

/**
 * A request or response stub as wire fragments (C706 12.6.2): each fragment carries FIRST/LAST
 * flags and the bytes still to come as alloc_hint, and, on a protected association, is signed or
 * sealed on its own, in order (sequence numbers advance). `make` builds fragment i's PDU.
 */
export function encodeFragmented<P extends RequestPdu | ResponsePdu>(
  stub: Buffer, maxFrag: number, headerLength: number, auth: AuthBinding | undefined,
  make: (part: Buffer, flags: number, allocHint: number) => P,
): Buffer[] {
  const protect = auth && protectsPdus(auth.level) ? auth : undefined;
  const parts = splitStub(stub, maxFrag, headerLength, protect ? authOverhead(protect.session.signatureLength) : 0);
  const out: Buffer[] = [];
  let left = stub.length;
  parts.forEach((part, i) => {
    const pdu = make(part, fragmentFlags(i, parts.length), left);
    out.push(protect ? encodeProtected(pdu, protect) : encodePdu(pdu));
    left -= part.length;
  });
  return out;
}

/** Raised when a received PDU's verifier does not check out (MS-RPCE 3.3.3.5.x). */
export class IntegrityError extends AuthError {
  override name = 'IntegrityError';
  constructor(reason: string) {
    super(reason, Status.nca_s_fault_sec_pkt_error);
  }
}

/**
 * Check a received request/response/fault (`bytes` is the whole PDU, `p` its decoding) and return
 * its plaintext stub. Throws IntegrityError when the signature is wrong.
 */
export function unprotect(bytes: Buffer, p: RequestPdu | ResponsePdu | FaultPdu, a: AuthBinding): Buffer {
  const v = p.auth;
  if (!v) throw new IntegrityError('no verifier on a PDU of a protected association');
  const authValueOffset = bytes.length - v.value.length;
  const regionEnd = authValueOffset - SEC_TRAILER_LENGTH;
  const stubOffset = p.stub.byteOffset - bytes.byteOffset;
  if (stubOffset < 0 || stubOffset > regionEnd) throw new IntegrityError('stub outside the PDU');
  const region = bytes.subarray(stubOffset, regionEnd);
  const whole = a.session.signsWholePdu !== false;
  if (a.level >= AuthLevel.pkt_privacy) {
    const { plaintext, ok } = a.session.unseal(region, v.value, (plain) => {
      if (!whole) return plain;
      const copy = Buffer.from(bytes.subarray(0, authValueOffset));
      plain.copy(copy, stubOffset);
      return copy;
    });
    if (!ok) throw new IntegrityError('the sealed PDU does not verify');
    return plaintext.subarray(0, plaintext.length - v.padLength);
  }
  const ok = a.session.verify(whole ? bytes.subarray(0, authValueOffset) : region, v.value);
  if (!ok) throw new IntegrityError('the PDU signature does not verify');
  return p.stub;
}
