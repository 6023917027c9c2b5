// A hand-driven authenticated association for conformance tests: dcomlab's own NtlmInitiator does the
// NTLM exchange (bind + NEGOTIATE, bind_ack + CHALLENGE, auth3 + AUTHENTICATE) over a RawRpc socket, and
// requests are protected with encodeProtected (src/rpc/security.ts), exactly as RpcConnection does it. The
// bytes are then the test's to corrupt, replay, or send on the wrong association.
import { expect } from 'vitest';
import { NtlmInitiator } from '../../src/auth/ntlm/initiator';
import { DREP_LE, encodePdu, PFC, PType, type AuthVerifier, type BindAckPdu, type ResponsePdu, type SyntaxId } from '../../src/pdu';
import { encodeProtected, unprotect, type AuthBinding } from '../../src/rpc/security';
import { RawRpc, bind, ctxItem, request, type Received } from './raw-rpc';
import { AUTHN_WINNT } from './auth-lab';

export interface RawAuth {
  raw: RawRpc;
  initiator: NtlmInitiator;
  /** The client's session security (valid for levels that protect PDUs; CONNECT has one too). */
  binding: AuthBinding;
  ctxId: number;
  /** Next call id to use. */
  callId: number;
  /** A request on ctxId, protected for the association's level (plain at CONNECT). */
  req(opnum: number, stub: Buffer, callId?: number): Buffer;
  /** The next PDU, which must be a response; its stub checked and decrypted with the client's session. */
  response(callId: number): Promise<Buffer>;
}

export interface RawAuthOptions {
  port: number;
  host?: string;
  level: number;
  iface: SyntaxId;
  user?: string;
  domain?: string;
  password: string;
  ntlm?: 'v2' | 'ntlm2' | 'v1';
  ctxId?: number;
  authContextId?: number;
}

export async function rawAuth(o: RawAuthOptions): Promise<RawAuth> {
  const raw = await RawRpc.connect(o.port, o.host);
  const initiator = new NtlmInitiator({ user: o.user ?? 'alice', domain: o.domain ?? 'LAB', password: o.password, ntlm: o.ntlm ?? 'v2' }, o.level);
  const ctxId = o.ctxId ?? 0;
  const contextId = o.authContextId ?? 0;
  const verifier = (value: Buffer): AuthVerifier => ({ type: AUTHN_WINNT, level: o.level, padLength: 0, reserved: 0, contextId, value });
  raw.send({ ...bind({ callId: 1, contexts: [ctxItem(ctxId, o.iface)] }), auth: verifier(initiator.start()) });
  const r = await raw.next();
  expect(r.pdu.ptype, 'bind_ack').toBe(PType.bind_ack);
  const ack = r.pdu as BindAckPdu;
  expect(ack.results.map((x) => x.result)).toEqual([0]);
  expect(ack.auth?.value, 'CHALLENGE in the bind_ack').toBeDefined();
  const step = initiator.step(Buffer.from(ack.auth!.value));
  raw.send({
    ptype: PType.auth3, rpcVersMinor: 0, flags: PFC.FIRST_FRAG | PFC.LAST_FRAG, drep: DREP_LE, callId: 1,
    body: Buffer.from('    ', 'latin1'), auth: verifier(step.token!),
  });
  const binding: AuthBinding = { type: AUTHN_WINNT, level: o.level, contextId, session: initiator.session() };
  const a: RawAuth = {
    raw, initiator, binding, ctxId, callId: 2,
    req(opnum, stub, callId) {
      const id = callId ?? a.callId++;
      const p = request({ callId: id, ctxId, opnum, stub });
      return o.level >= 3 ? encodeProtected(p, binding) : encodePdu(p);
    },
    async response(callId) {
      const got: Received = await raw.next();
      expect(got.pdu.ptype, `response to call ${callId}, got ptype ${got.pdu.ptype} ${got.pdu.ptype === 3 ? `status 0x${(got.pdu as { status: number }).status.toString(16)}` : ''}`).toBe(PType.response);
      const p = got.pdu as ResponsePdu;
      expect(p.callId).toBe(callId);
      return o.level >= 3 ? unprotect(got.bytes, p, binding) : p.stub;
    },
  };
  return a;
}

/** A copy of `b` with bit `bit` of byte `at` flipped. */
export function flipBit(b: Buffer, at: number, bit = 0): Buffer {
  const c = Buffer.from(b);
  c[at] = c[at]! ^ (1 << bit);
  return c;
}

/** Offsets in a request PDU protected by encodeProtected (no object UUID): header 24, stub, pad, trailer 8, value. */
export function requestLayout(bytes: Buffer): { stubStart: number; stubEnd: number; trailer: number; authValue: number } {
  const authLen = bytes.readUInt16LE(10);
  const authValue = bytes.length - authLen;
  const trailer = authValue - 8;
  const pad = bytes[trailer + 2]!;
  return { stubStart: 24, stubEnd: trailer - pad, trailer, authValue };
}
