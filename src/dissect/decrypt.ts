// Decryption and signature checking of NTLMSSP-protected DCE/RPC in a capture, as a passive
// third party who knows a password (or an NT hash): what `dcomlab dissect --password` uses.
//
// Per TCP stream and auth_context_id (MS-RPCE 2.2.2.11: one security context per id on an
// association) a session follows the authentication legs -- bind / bind_ack / auth3 /
// alter_context / alter_context_resp -- carrying NTLM messages raw (auth type 10,
// RPC_C_AUTHN_WINNT) or inside SPNEGO (auth type 9, RFC 4178 / MS-SPNG). Once the
// AUTHENTICATE_MESSAGE is seen the key is derived (decrypt-keys.ts: MS-NLMP 3.2.5.1.2, 3.4.5.1;
// the right password is the one whose NT response matches) and both ends' session security
// is rebuilt exactly as NtlmSecurityContext keeps it (MS-NLMP 3.4: per-direction SIGNKEY,
// SEALKEY, RC4 handle and SeqNum with extended session security; one shared handle and
// counter without it). Each protected PDU is then replayed in capture order through the
// receiving end's context -- a client-sent PDU through the server's context, a server-sent one
// through the client's -- so sequence numbers and RC4 keystreams advance as they did on the
// wire; every fragment carries its own verifier and is checked on its own.
//
// What is signed and sealed is rpc/security.ts's `unprotect`, reused as is: with extended
// session security the whole PDU up to the auth value with the stub in plaintext (NTLMSSP
// always signs the header: Windows and Samba do whether or not PFC_SUPPORT_HEADER_SIGN,
// MS-RPCE 2.2.2.3 / 3.3.1.5.2.2, was negotiated, and scapy's Windows capture verifies that
// way), otherwise the stub and its auth padding. Because other implementations may differ,
// the other region is tried in parallel until one verifies (each candidate has its own
// keystream, so trying costs no resynchronisation); the session reports which one held.
//
// SPNEGO: the mechListMICs (client's in the alter_context with the AUTHENTICATE, server's in
// the alter_context_resp) are NTLM signatures with SeqNum 0 of each direction and the RC4
// handle saved and restored around them (MS-SPNG 3.3.5.1), exactly as SpnegoInitiator and
// SpnegoAcceptor make them; they are verified here the same way, which also advances the
// sequence numbers so that the first request is checked with SeqNum 1.
//
// Nothing throws out of observe/unprotect: a PDU that cannot be used is an `{ error }` and is
// counted on its session. Passwords, hashes and keys are never logged or reported.
import { silentLogger, type Logger } from '../base/log';
import { hasFlag, NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY } from '../auth/ntlm/flags';
import { ntlmMessageType, NtlmMessageType } from '../auth/ntlm/messages';
import { NtlmSecurityContext } from '../auth/ntlm/seal';
import { NtlmSessionSecurity } from '../auth/ntlm/session';
import type { NtlmFlavour } from '../auth/ntlm/verify';
import type { SessionSecurity } from '../auth/types';
import { decodeSpnegoToken, MECH_NAMES, NegState, OID_NTLMSSP } from '../auth/spnego/tokens';
import { AUTH_TYPE_NAMES, AuthType, decodePdu, PduSummary, PFC, PType, readPduSummary, type FaultPdu, type Pdu, type RequestPdu, type ResponsePdu } from '../pdu';
import { protectsPdus, unprotect as unprotectPdu } from '../rpc/security';
import { deriveSessionKey, prepareCredentials, type DecryptCredentials, type PreparedCredential } from './decrypt-keys';

export type { DecryptCredentials } from './decrypt-keys';

/** What one session (a TCP stream's auth context) came to. */
export interface DecryptSessionReport {
  stream: number;
  authContextId: number;
  /** 10 (NTLMSSP, RPC_C_AUTHN_WINNT), 9 (SPNEGO) or another provider (not decryptable). */
  authType: number;
  /** The auth_level of the bind that started it. */
  authLevel: number;
  /** 'NTLMSSP', 'SPNEGO/NTLMSSP', or the provider's name. */
  mechanism: string;
  /** From the AUTHENTICATE_MESSAGE. */
  user?: string;
  domain?: string;
  workstation?: string;
  flavour?: NtlmFlavour;
  /** The NTLM flags session security uses. */
  negotiateFlags?: number;
  /** pending: handshake not complete; decryptable: key found; not-decryptable: see reason. */
  status: 'pending' | 'decryptable' | 'not-decryptable';
  decryptable: boolean;
  reason?: string;
  /** The credential that gave the key (its index in the list given and its name); not for anonymous. */
  credential?: { index: number; name: string };
  /** AUTHENTICATE MIC verified (true/false); absent when there was none or no NEGOTIATE to check it with. */
  micValid?: boolean;
  /** SPNEGO mechListMICs seen and whether they verified. */
  mechListMic?: { client?: boolean; server?: boolean };
  /** PFC_SUPPORT_HEADER_SIGN in the bind and in the bind_ack (MS-RPCE 2.2.2.3). */
  headerSigning: boolean;
  /** What the signatures were found to cover: the whole PDU (header included) or the stub and padding. */
  signedRegion?: 'whole-pdu' | 'stub';
  /** Protected PDUs whose signature verified / did not. */
  verified: number;
  failed: number;
  /** Protected PDUs that could not be processed (no key, bad PDU). */
  undecrypted: number;
}

export type UnprotectResult = { stub: Buffer; verified: boolean } | { error: string };

export interface CaptureDecryptorOptions {
  /** pino logger: one line per session when its key is found or not (debug per PDU failure). */
  logger?: Logger;
  /**
   * Each session's final report when its stream ends (endStream; finish for the rest), in the
   * order they started within the stream; the decryptor then forgets it, so a capture of any
   * size takes memory only for the sessions of its open streams. Without it every report is
   * kept for sessions().
   */
  onSessionEnd?: (report: DecryptSessionReport) => void;
}

/** A SessionSecurity that records whether the signature matched and lets security.ts return the plaintext either way. */
class ObservedSession implements SessionSecurity {
  readonly signatureLength: number;
  ok = false;
  constructor(private readonly inner: NtlmSessionSecurity, readonly signsWholePdu: boolean) {
    this.signatureLength = inner.signatureLength;
  }
  sign(): Buffer {
    throw new Error('a capture decryptor never signs');
  }
  seal(): { sealed: Buffer; signature: Buffer } {
    throw new Error('a capture decryptor never seals');
  }
  verify(data: Uint8Array, signature: Uint8Array): boolean {
    this.ok = this.inner.verify(data, signature);
    return true;
  }
  unseal(sealed: Uint8Array, signature: Uint8Array, signedData?: (plain: Buffer) => Uint8Array): { plaintext: Buffer; ok: boolean } {
    const r = this.inner.unseal(sealed, signature, signedData);
    this.ok = r.ok;
    return { plaintext: r.plaintext, ok: true };
  }
}

/** Both ends' session security for one key and one signed-region rule. */
interface Keyset {
  region: 'whole-pdu' | 'stub';
  /** The server's context: checks what the client sent. */
  fromClientCtx: NtlmSecurityContext;
  /** The client's context: checks what the server sent. */
  fromServerCtx: NtlmSecurityContext;
  fromClient: ObservedSession;
  fromServer: ObservedSession;
}

function makeKeyset(flags: number, exportedSessionKey: Buffer, region: Keyset['region']): Keyset {
  const whole = region === 'whole-pdu';
  const server = new NtlmSecurityContext({ flags, exportedSessionKey, role: 'server' });
  // Without extended session security both ends hold one RC4 handle and one SeqNum that every
  // message, sent or received, advances (MS-NLMP 3.4, "half-duplex"): one context replays both
  // directions in capture order. With it, each direction has its own state: the client's
  // context (role client) receives with the server-to-client keys.
  const client = hasFlag(flags, NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY)
    ? new NtlmSecurityContext({ flags, exportedSessionKey, role: 'client' })
    : server;
  const serverSec = new NtlmSessionSecurity(server);
  const clientSec = client === server ? serverSec : new NtlmSessionSecurity(client);
  return {
    region,
    fromClientCtx: server,
    fromServerCtx: client,
    fromClient: new ObservedSession(serverSec, whole),
    fromServer: new ObservedSession(clientSec, whole),
  };
}

interface Session {
  report: DecryptSessionReport;
  negotiate?: Buffer;
  challenge?: Buffer;
  authenticate?: Buffer;
  /** SPNEGO: the client's DER MechTypeList, which the mechListMICs cover. */
  mechTypesDer?: Buffer;
  /** Candidate keysets: the primary signed-region rule first; narrowed to one once a PDU verifies. */
  keysets?: Keyset[];
}

interface StreamState {
  headerSignClient: boolean;
  headerSignServer: boolean;
  /** auth_context_id → the session in progress or in use. */
  current: Map<number, Session>;
  /** Every session of the stream, in the order they started (kept only with onSessionEnd). */
  started: Session[];
}

/** PDU types the client sends (C706 12.6.4; MS-RPCE 2.2.2.10 rpc_auth_3); the rest come from the server. */
const CLIENT_PTYPES: ReadonlySet<number> = new Set([
  PType.request, PType.bind, PType.alter_context, PType.auth3, PType.co_cancel, PType.orphaned,
]);

type CallPdu = RequestPdu | ResponsePdu | FaultPdu;

/** Scratch for unprotect without a decoding (read and used synchronously). */
const SUMMARY = new PduSummary();

export class CaptureDecryptor {
  private readonly creds: PreparedCredential[];
  private readonly log: Logger;
  private readonly streams = new Map<number, StreamState>();
  private readonly all: Session[] = [];
  private readonly onSessionEnd: ((report: DecryptSessionReport) => void) | undefined;

  /** Throws RangeError for an NT hash that is not 16 bytes. */
  constructor(creds: readonly DecryptCredentials[], opts: CaptureDecryptorOptions = {}) {
    this.creds = prepareCredentials(creds);
    this.log = opts.logger ?? silentLogger;
    this.onSessionEnd = opts.onSessionEnd;
  }

  /**
   * Feed every PDU of a stream in capture order (or use `process`). Binds, alter_contexts,
   * auth3 and their answers are read for NTLM/SPNEGO tokens; other PDUs are ignored here
   * (requests, responses and faults go to `unprotect`). `dir` is the dissector's direction
   * (0 = client to server); the sender is taken from the PDU type, which fixes it in
   * connection-oriented DCE/RPC, so a capture whose first segment is the server's still works.
   * `pdu` may be left out (it is decoded from `bytes`).
   */
  observe(stream: number, dir: 0 | 1, bytes: Buffer, pdu?: Pdu): void {
    void dir;
    try {
      const p = pdu ?? decodePdu(bytes, 0);
      this.observePdu(stream, p);
    } catch (e) {
      this.log.debug({ stream, err: String(e) }, 'decrypt: auth leg not usable');
    }
  }

  /**
   * A request, response or fault with a verifier at a level that protects PDUs (CALL, PKT,
   * PKT_INTEGRITY, PKT_PRIVACY): its stub in plaintext without the auth padding, and whether
   * the signature verified; or why it cannot be had. Undefined for PDUs that are not protected
   * (and for other PDU types). Call it for every such PDU of a stream, in order, even when the
   * stub is not wanted: the keystreams and sequence numbers depend on it. The stub may be a
   * view into `bytes` (PKT_INTEGRITY).
   */
  unprotect(stream: number, dir: 0 | 1, bytes: Buffer, pdu?: Pdu): UnprotectResult | undefined {
    void dir;
    if (pdu === undefined) {
      // Without a decoding, a request, response or fault is read from its header and trailer
      // (readPduSummary, which allocates nothing, fails exactly where decodePdu would for these
      // types) and decoded only for a session with keys: most protected PDUs of a capture belong
      // to sessions that are not decryptable, and decoding each cost a tenth of what dissect
      // --password allocated.
      const h = SUMMARY;
      try {
        readPduSummary(bytes, 0, h);
      } catch (e) {
        return { error: `PDU does not decode: ${errorText(e)}` };
      }
      const t = h.ptype;
      if (t === PType.request || t === PType.response || t === PType.fault) {
        if (h.authLength === 0 || !protectsPdus(h.authLevel)) return undefined;
        const session = this.sessionFor(stream, h.authContextId, h.authType, h.authLevel);
        try {
          const early = this.unusable(session);
          if (early !== null) return early;
          return this.unprotectCall(session, bytes, decodePdu(bytes, 0) as CallPdu);
        } catch (e) {
          session.report.undecrypted++;
          return { error: `cannot unprotect: ${errorText(e)}` };
        }
      }
    }
    let p: Pdu;
    try {
      p = pdu ?? decodePdu(bytes, 0);
    } catch (e) {
      return { error: `PDU does not decode: ${errorText(e)}` };
    }
    if (p.ptype !== PType.request && p.ptype !== PType.response && p.ptype !== PType.fault) return undefined;
    const v = p.auth;
    if (!v || v.value.length === 0 || !protectsPdus(v.level)) return undefined;
    const session = this.sessionFor(stream, v.contextId, v.type, v.level);
    const r = session.report;
    try {
      return this.unprotectCall(session, bytes, p);
    } catch (e) {
      r.undecrypted++;
      return { error: `cannot unprotect: ${errorText(e)}` };
    }
  }

  /** observe() or unprotect(), whichever applies to the PDU. */
  process(stream: number, dir: 0 | 1, bytes: Buffer, pdu?: Pdu): UnprotectResult | undefined {
    const ptype = pdu?.ptype ?? bytes[2];
    if (ptype === PType.request || ptype === PType.response || ptype === PType.fault) return this.unprotect(stream, dir, bytes, pdu);
    this.observe(stream, dir, bytes, pdu);
    return undefined;
  }

  /**
   * Forget a closed stream's crypto state. Its reports stay for sessions(), or go to
   * onSessionEnd now.
   */
  endStream(stream: number): void {
    const st = this.streams.get(stream);
    if (!st) return;
    for (const s of st.current.values()) {
      if (s.report.status === 'pending') s.report.reason = pendingReason(s);
      delete s.keysets;
      delete s.negotiate;
      delete s.challenge;
      delete s.authenticate;
      delete s.mechTypesDer;
    }
    this.streams.delete(stream);
    if (this.onSessionEnd) for (const s of st.started) this.onSessionEnd(finalReport(s));
  }

  /** End every stream still open (with onSessionEnd: their reports go out now). */
  finish(): void {
    for (const stream of [...this.streams.keys()]) this.endStream(stream);
  }

  /** Every session seen, in the order they started (none with onSessionEnd). Copies. */
  sessions(): DecryptSessionReport[] {
    return this.all.map(finalReport);
  }

  // -------------------------------------------------------------------------------------

  private stream(stream: number): StreamState {
    let st = this.streams.get(stream);
    if (!st) {
      st = { headerSignClient: false, headerSignServer: false, current: new Map(), started: [] };
      this.streams.set(stream, st);
    }
    return st;
  }

  private newSession(stream: number, contextId: number, authType: number, authLevel: number): Session {
    const st = this.stream(stream);
    const mechanism =
      authType === AuthType.winnt ? 'NTLMSSP' : authType === AuthType.gss_negotiate ? 'SPNEGO/NTLMSSP' : (AUTH_TYPE_NAMES[authType] ?? `auth type ${authType}`);
    const s: Session = {
      report: {
        stream, authContextId: contextId, authType, authLevel, mechanism,
        status: 'pending', decryptable: false, headerSigning: st.headerSignClient && st.headerSignServer,
        verified: 0, failed: 0, undecrypted: 0,
      },
    };
    if (authType !== AuthType.winnt && authType !== AuthType.gss_negotiate) {
      this.notDecryptable(s, `${mechanism} is not NTLMSSP: only NTLMSSP (auth types 10 and 9) can be decrypted`);
    }
    st.current.set(contextId, s);
    if (this.onSessionEnd) st.started.push(s);
    else this.all.push(s);
    return s;
  }

  /** The session a protected PDU belongs to; a not-decryptable one when its handshake was not seen. */
  private sessionFor(stream: number, contextId: number, authType: number, authLevel: number): Session {
    const s = this.stream(stream).current.get(contextId);
    if (s) return s;
    const n = this.newSession(stream, contextId, authType, authLevel);
    if (n.report.status === 'pending') this.notDecryptable(n, 'the authentication handshake is not in the capture');
    return n;
  }

  /** `keyProblem`: no key for an NTLM logon (a wrong or missing password), logged as a warning. */
  private notDecryptable(s: Session, reason: string, keyProblem = false): void {
    if (s.report.status === 'not-decryptable') return;
    s.report.status = 'not-decryptable';
    s.report.decryptable = false;
    s.report.reason = reason;
    delete s.keysets;
    const r = s.report;
    const fields = { stream: r.stream, authContextId: r.authContextId, user: userName(r), reason };
    if (keyProblem) this.log.warn(fields, 'decrypt: session not decryptable');
    else this.log.info(fields, 'decrypt: session not decryptable');
  }

  private observePdu(stream: number, p: Pdu): void {
    const st = this.stream(stream);
    if (p.ptype === PType.bind) st.headerSignClient = (p.flags & PFC.SUPPORT_HEADER_SIGN) !== 0;
    if (p.ptype === PType.bind_ack) st.headerSignServer = (p.flags & PFC.SUPPORT_HEADER_SIGN) !== 0;
    if (p.ptype !== PType.bind && p.ptype !== PType.bind_ack && p.ptype !== PType.alter_context && p.ptype !== PType.alter_context_resp && p.ptype !== PType.auth3) return;
    for (const s of st.current.values()) s.report.headerSigning = st.headerSignClient && st.headerSignServer;
    const v = p.auth;
    if (!v || v.value.length === 0) return;
    const fromClient = CLIENT_PTYPES.has(p.ptype);
    const value = Buffer.from(v.value);

    // The NTLM message, raw or in SPNEGO.
    let ntlm: Buffer | undefined;
    let spnego: ReturnType<typeof decodeSpnegoToken> | undefined;
    if (v.type === AuthType.winnt || ntlmMessageType(value) !== undefined) {
      if (ntlmMessageType(value) !== undefined) ntlm = value;
    } else if (v.type === AuthType.gss_negotiate) {
      try {
        spnego = decodeSpnegoToken(value);
      } catch {
        spnego = undefined;
      }
      if (spnego) {
        const inner = spnego.kind === 'init' ? spnego.mechToken : spnego.responseToken;
        if (inner && ntlmMessageType(inner) !== undefined) ntlm = inner;
      }
    }
    const ntlmType = ntlm ? ntlmMessageType(ntlm) : undefined;

    let s = st.current.get(v.contextId);
    const starts =
      fromClient &&
      (!s ||
        spnego?.kind === 'init' ||
        (ntlmType === NtlmMessageType.Negotiate && (s.challenge !== undefined || s.authenticate !== undefined)) ||
        (s.report.authType !== v.type));
    if (starts) s = this.newSession(stream, v.contextId, v.type, v.level);
    if (!s) s = this.newSession(stream, v.contextId, v.type, v.level);
    if (s.report.status === 'not-decryptable') return;

    if (spnego?.kind === 'init') s.mechTypesDer = spnego.mechTypesDer;
    if (spnego?.kind === 'resp') {
      if (spnego.negState === NegState.Reject) {
        this.notDecryptable(s, 'SPNEGO negotiation rejected');
        return;
      }
      if (spnego.supportedMech !== undefined && spnego.supportedMech !== OID_NTLMSSP) {
        this.notDecryptable(s, `SPNEGO selected ${MECH_NAMES[spnego.supportedMech] ?? spnego.supportedMech}, not NTLMSSP`);
        return;
      }
    }

    switch (ntlmType) {
      case NtlmMessageType.Negotiate:
        s.negotiate = ntlm;
        break;
      case NtlmMessageType.Challenge:
        s.challenge = ntlm;
        break;
      case NtlmMessageType.Authenticate:
        s.authenticate = ntlm;
        this.derive(s);
        break;
      default:
        break;
    }

    const mic = spnego?.kind === 'resp' ? spnego.mechListMIC : spnego?.kind === 'init' ? spnego.mechListMIC : undefined;
    if (mic && s.keysets) this.checkMechListMic(s, mic, fromClient);
  }

  private derive(s: Session): void {
    const r = s.report;
    if (!s.challenge) {
      this.notDecryptable(s, 'the CHALLENGE message is not in the capture');
      return;
    }
    const d = deriveSessionKey({ ...(s.negotiate ? { negotiate: s.negotiate } : {}), challenge: s.challenge, authenticate: s.authenticate! }, this.creds);
    if (d.user !== undefined) r.user = d.user;
    if (d.domain !== undefined) r.domain = d.domain;
    if (d.workstation !== undefined) r.workstation = d.workstation;
    if (d.flavour !== undefined) r.flavour = d.flavour;
    if (d.micValid !== undefined) r.micValid = d.micValid;
    if (!d.ok) {
      this.notDecryptable(s, d.reason ?? 'no key', true);
      return;
    }
    r.negotiateFlags = d.flags!;
    if (d.credential) r.credential = { index: d.credential.index, name: d.credential.name };
    try {
      const primary: Keyset['region'] = hasFlag(d.flags!, NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY) ? 'whole-pdu' : 'stub';
      const other: Keyset['region'] = primary === 'whole-pdu' ? 'stub' : 'whole-pdu';
      s.keysets = [makeKeyset(d.flags!, d.exportedSessionKey!, primary), makeKeyset(d.flags!, d.exportedSessionKey!, other)];
    } catch (e) {
      this.notDecryptable(s, errorText(e));
      return;
    }
    r.status = 'decryptable';
    r.decryptable = true;
    this.log.info(
      { stream: r.stream, authContextId: r.authContextId, user: userName(r), flavour: r.flavour, credential: r.credential?.name },
      'decrypt: session key found',
    );
  }

  /** An SPNEGO mechListMIC: an NTLM signature over the MechTypeList, RC4 state preserved (MS-SPNG 3.3.5.1). */
  private checkMechListMic(s: Session, mic: Buffer, fromClient: boolean): void {
    if (!s.mechTypesDer) return;
    const der = s.mechTypesDer;
    let ok = false;
    for (const k of s.keysets!) {
      const ctx = fromClient ? k.fromClientCtx : k.fromServerCtx;
      if (ctx.withPreservedCipherState(() => ctx.verify(der, mic))) ok = true;
    }
    s.report.mechListMic = { ...s.report.mechListMic, [fromClient ? 'client' : 'server']: ok };
  }

  /** What unprotectCall answers without looking at the PDU (null: the session has keys). */
  private unusable(s: Session): UnprotectResult | undefined | null {
    const r = s.report;
    if (r.status === 'not-decryptable') {
      // Said once, in the session's report; each PDU then reads as if no key had been given
      // (sealed stubs stay sealed, signed ones are decoded unverified).
      r.undecrypted++;
      return undefined;
    }
    if (!s.keysets) {
      r.undecrypted++;
      return { error: 'the authentication handshake is not complete' };
    }
    return null;
  }

  private unprotectCall(s: Session, bytes: Buffer, pdu: CallPdu): UnprotectResult | undefined {
    const r = s.report;
    const early = this.unusable(s);
    if (early !== null) return early;
    if (!s.keysets) return undefined; // (unusable said so; for the type checker)
    let p = pdu;
    // security.ts finds the stub by its offset in `bytes`: the PDU must be a view of them.
    const off = p.stub.byteOffset - bytes.byteOffset;
    if (p.stub.buffer !== bytes.buffer || off < 0 || off > bytes.length) p = decodePdu(bytes, 0) as CallPdu;
    const v = p.auth!;
    const fromClient = p.ptype === PType.request;
    const results = s.keysets.map((k) => {
      const session = fromClient ? k.fromClient : k.fromServer;
      session.ok = false;
      const stub = unprotectPdu(bytes, p, { type: v.type, level: v.level, contextId: v.contextId, session });
      return { k, stub, ok: session.ok };
    });
    let chosen = results[0]!;
    if (s.keysets.length > 1) {
      const good = results.find((x) => x.ok);
      if (good) {
        chosen = good;
        s.keysets = [good.k];
        r.signedRegion = good.k.region;
      }
    }
    if (chosen.ok) r.verified++;
    else {
      r.failed++;
      this.log.debug({ stream: r.stream, authContextId: r.authContextId, callId: p.callId, ptype: p.ptype }, 'decrypt: signature does not verify');
    }
    return { stub: chosen.stub, verified: chosen.ok };
  }
}

function pendingReason(s: Session): string {
  return s.challenge === undefined ? 'handshake incomplete: no CHALLENGE message seen' : 'handshake incomplete: no AUTHENTICATE message seen';
}

/** A copy of the session's report as it stands, a pending session saying why. */
function finalReport(s: Session): DecryptSessionReport {
  return {
    ...s.report,
    ...(s.report.status === 'pending' ? { reason: s.report.reason ?? pendingReason(s) } : {}),
    ...(s.report.credential ? { credential: { ...s.report.credential } } : {}),
    ...(s.report.mechListMic ? { mechListMic: { ...s.report.mechListMic } } : {}),
  };
}

function userName(r: DecryptSessionReport): string | undefined {
  if (r.user === undefined) return undefined;
  if (r.flavour === 'anonymous') return 'ANONYMOUS';
  return r.domain ? `${r.domain}\\${r.user}` : r.user;
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
