// NTLM client (MS-NLMP 3.1.5.1, connection-oriented): NEGOTIATE in the bind, AUTHENTICATE in
// the auth3 after the bind_ack's CHALLENGE (MS-RPCE: RPC_C_AUTHN_WINNT takes 3 legs).
//
// NEGOTIATE flags, as Windows' RPC runtime sends them (seen in the shared captures:
// 0xe2088297 at PKT_INTEGRITY, 0xe20882b7 at PKT_PRIVACY, 0xa008b207 at CONNECT):
//  - always UNICODE, OEM, REQUEST_TARGET, NTLM, ALWAYS_SIGN, VERSION, 128, 56, and
//    EXTENDED_SESSIONSECURITY unless ntlm: 'v1';
//  - PKT (and CALL, which MS-RPCE 2.2.1.1.8 upgrades to PKT) and PKT_INTEGRITY: + SIGN,
//    KEY_EXCH (MS-NLMP 3.1.1.2: replay/sequence detection and integrity all mean SIGN);
//  - PKT_PRIVACY: + SIGN, SEAL, KEY_EXCH;
//  - CONNECT: neither SIGN, SEAL nor KEY_EXCH (the Windows client at CONNECT asks for none).
// LM_KEY is not requested (ESS supersedes it; without ESS the LM-key derivation would need
// the password's LM hash).
//
// AUTHENTICATE (3.1.5.1.2): the NTLMv2 response over the server's TargetInfo, with
// MsvAvTimestamp's time when present, in which case the MIC bit goes into MsvAvFlags, the MIC
// into the message, and the LMv2 response is sent as Z(24) (as Windows does); the NTLM2
// session response (v1 + ESS); plain NTLMv1 with an LM response; or the anonymous form
// (no user, empty NT response, LM response Z(1), NTLMSSP_NEGOTIATE_ANONYMOUS).
import { randomBytes } from 'node:crypto';
import { AuthError } from '../../base/errors';
import {
  DEFAULT_NTLM_VERSION,
  RPC_C_AUTHN_LEVEL_CALL,
  RPC_C_AUTHN_LEVEL_NONE,
  RPC_C_AUTHN_LEVEL_PKT_PRIVACY,
  RPC_C_AUTHN_WINNT,
  SEC_E_INVALID_TOKEN,
} from '../constants';
import type { ClientCredentials, Initiator, SessionSecurity } from '../types';
import { NtlmError } from './errors';
import {
  hasFlag,
  NTLM_NEGOTIATE_OEM,
  NTLMSSP_NEGOTIATE_128,
  NTLMSSP_NEGOTIATE_56,
  NTLMSSP_NEGOTIATE_ALWAYS_SIGN,
  NTLMSSP_NEGOTIATE_ANONYMOUS,
  NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY,
  NTLMSSP_NEGOTIATE_IDENTIFY,
  NTLMSSP_NEGOTIATE_KEY_EXCH,
  NTLMSSP_NEGOTIATE_NTLM,
  NTLMSSP_NEGOTIATE_SEAL,
  NTLMSSP_NEGOTIATE_SIGN,
  NTLMSSP_NEGOTIATE_TARGET_INFO,
  NTLMSSP_NEGOTIATE_UNICODE,
  NTLMSSP_NEGOTIATE_VERSION,
  NTLMSSP_REQUEST_TARGET,
} from './flags';
import {
  computeMic,
  computeResponseV1,
  computeResponseV2,
  filetimeFromDate,
  keyExchange,
  KXKEY,
  LMOWFv1,
  lmowfv1Computable,
  NTOWFv1,
  NTOWFv2FromHash,
} from './keys';
import {
  decodeChallenge,
  encodeAuthenticate,
  encodeNegotiate,
  findAvPair,
  MSV_AV_FLAG_MIC_PRESENT,
  MsvAvFlags,
  MsvAvTargetName,
  MsvAvTimestamp,
  serializeAvPairs,
  setMic,
  withZeroMic,
  type AvPair,
  type NtlmVersion,
} from './messages';
import { NtlmSecurityContext } from './seal';
import { NtlmSessionSecurity } from './session';
import type { NtlmFlavour } from './verify';

export interface NtlmInitiatorOptions {
  /** Clock for the NTLMv2 timestamp when the server sends none. */
  now?: () => Date;
  /** Random bytes (client challenge, exported session key); node:crypto by default. */
  random?: (n: number) => Buffer;
  /** VERSION sent in NEGOTIATE and AUTHENTICATE. */
  version?: NtlmVersion;
  /** Add an MsvAvTargetName (the SPN, e.g. "host/server") to the NTLMv2 response. */
  targetName?: string;
  /** Send a MIC when the CHALLENGE has MsvAvTimestamp (default true, as Windows does). */
  mic?: boolean;
}

/** The NEGOTIATE flags this client requests for an RPC authentication level. */
export function negotiateFlagsForLevel(authLevel: number, ntlm: 'v1' | 'ntlm2' | 'v2' = 'v2'): number {
  if (authLevel === RPC_C_AUTHN_LEVEL_NONE) throw new AuthError('NTLM needs an authentication level above NONE');
  if (authLevel < 0 || authLevel > RPC_C_AUTHN_LEVEL_PKT_PRIVACY) throw new AuthError(`unknown authentication level ${authLevel}`);
  let f =
    NTLMSSP_NEGOTIATE_UNICODE |
    NTLM_NEGOTIATE_OEM |
    NTLMSSP_REQUEST_TARGET |
    NTLMSSP_NEGOTIATE_NTLM |
    NTLMSSP_NEGOTIATE_ALWAYS_SIGN |
    NTLMSSP_NEGOTIATE_VERSION |
    NTLMSSP_NEGOTIATE_128 |
    NTLMSSP_NEGOTIATE_56;
  if (ntlm !== 'v1') f |= NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY;
  if (authLevel >= RPC_C_AUTHN_LEVEL_CALL) f |= NTLMSSP_NEGOTIATE_SIGN | NTLMSSP_NEGOTIATE_KEY_EXCH;
  if (authLevel === RPC_C_AUTHN_LEVEL_PKT_PRIVACY) f |= NTLMSSP_NEGOTIATE_SEAL;
  return f >>> 0;
}

/** Flags the AUTHENTICATE may carry besides the requested ones, if the server set them. */
const ECHOED_FLAGS = NTLMSSP_NEGOTIATE_TARGET_INFO | NTLMSSP_NEGOTIATE_IDENTIFY;

type State = 'initial' | 'negotiated' | 'done';

export class NtlmInitiator implements Initiator {
  readonly authType = RPC_C_AUTHN_WINNT;
  /** Flags sent in the NEGOTIATE_MESSAGE. */
  readonly requestedFlags: number;
  private state: State = 'initial';
  private negotiateMessage?: Buffer;
  private ctx?: NtlmSecurityContext;
  private sessionWrapper?: NtlmSessionSecurity;
  private result?: { flags: number; flavour: NtlmFlavour; exportedSessionKey: Buffer; mic: boolean };
  private readonly now: () => Date;
  private readonly random: (n: number) => Buffer;
  private readonly version: NtlmVersion;
  private readonly creds: ClientCredentials;

  constructor(creds: ClientCredentials, readonly authLevel: number, private readonly opts: NtlmInitiatorOptions = {}) {
    this.creds = { ...creds };
    this.requestedFlags = negotiateFlagsForLevel(authLevel, creds.ntlm ?? 'v2');
    this.now = opts.now ?? (() => new Date());
    this.random = opts.random ?? randomBytes;
    this.version = opts.version ?? DEFAULT_NTLM_VERSION;
  }

  get anonymous(): boolean {
    return this.creds.user === '';
  }

  /** NEGOTIATE_MESSAGE. */
  start(): Buffer {
    if (this.state !== 'initial') throw new AuthError('NTLM initiator already started');
    this.negotiateMessage = encodeNegotiate({ flags: this.requestedFlags, domainName: '', workstation: '', version: this.version });
    this.state = 'negotiated';
    return Buffer.from(this.negotiateMessage);
  }

  /** CHALLENGE_MESSAGE in, AUTHENTICATE_MESSAGE out (for the auth3). */
  step(serverToken: Buffer): { token?: Buffer; leg: 'auth3' | 'alter_context' | 'none'; done: boolean } {
    if (this.state !== 'negotiated') throw new AuthError(this.state === 'initial' ? 'NTLM initiator not started' : 'NTLM exchange already complete');
    let challenge;
    try {
      challenge = decodeChallenge(serverToken);
    } catch (e) {
      throw new AuthError(`bad CHALLENGE message: ${e instanceof NtlmError ? e.what : String(e)}`, SEC_E_INVALID_TOKEN);
    }
    const cflags = challenge.flags;
    const unicode = hasFlag(cflags, NTLMSSP_NEGOTIATE_UNICODE);
    if (!unicode && !hasFlag(cflags, NTLM_NEGOTIATE_OEM)) throw new AuthError('server chose neither Unicode nor OEM strings', SEC_E_INVALID_TOKEN);
    let flags = (cflags & (this.requestedFlags | ECHOED_FLAGS)) >>> 0;
    if (unicode) flags &= ~NTLM_NEGOTIATE_OEM;
    const anonymous = this.anonymous;
    if (anonymous) flags |= NTLMSSP_NEGOTIATE_ANONYMOUS;
    flags >>>= 0;

    const user = this.creds.user;
    const domain = this.creds.domain ?? '';
    const workstation = this.creds.workstation ?? '';
    const ntHash = this.creds.ntHash ?? NTOWFv1(this.creds.password ?? '');
    const sc = challenge.serverChallenge;
    const want = this.creds.ntlm ?? 'v2';

    let flavour: NtlmFlavour;
    let nt: Buffer;
    let lm: Buffer;
    let keyExchangeKey: Buffer;
    let withMic = false;
    if (anonymous) {
      flavour = 'anonymous';
      nt = Buffer.alloc(0);
      lm = Buffer.alloc(1);
      keyExchangeKey = Buffer.alloc(16);
    } else if (want === 'v2') {
      flavour = 'v2';
      const pairs: AvPair[] = challenge.targetInfoPairs.pairs.map((p) => ({ id: p.id, value: Buffer.from(p.value) }));
      const ts = findAvPair(pairs, MsvAvTimestamp);
      const time = ts && ts.value.length === 8 ? ts.value : filetimeFromDate(this.now());
      if (ts && (this.opts.mic ?? true)) {
        withMic = true;
        const f = findAvPair(pairs, MsvAvFlags);
        if (f && f.value.length >= 4) {
          const v = Buffer.from(f.value);
          v.writeUInt32LE((v.readUInt32LE(0) | MSV_AV_FLAG_MIC_PRESENT) >>> 0, 0);
          f.value = v;
        } else {
          const v = Buffer.alloc(4);
          v.writeUInt32LE(MSV_AV_FLAG_MIC_PRESENT, 0);
          if (f) f.value = v;
          else pairs.push({ id: MsvAvFlags, value: v });
        }
      }
      if (this.opts.targetName !== undefined && !findAvPair(pairs, MsvAvTargetName)) {
        pairs.push({ id: MsvAvTargetName, value: Buffer.from(this.opts.targetName, 'utf16le') });
      }
      const r = computeResponseV2({
        responseKeyNT: NTOWFv2FromHash(ntHash, user, domain),
        serverChallenge: sc,
        clientChallenge: this.random(8),
        time,
        serverName: serializeAvPairs(pairs),
      });
      nt = r.ntChallengeResponse;
      // 3.1.5.1.2 / Windows: with MsvAvTimestamp, the LMv2 response is not sent (Z(24)).
      lm = ts ? Buffer.alloc(24) : r.lmChallengeResponse;
      keyExchangeKey = KXKEY({ flags, ntlmv2: true, sessionBaseKey: r.sessionBaseKey, lmChallengeResponse: lm, serverChallenge: sc });
    } else {
      // NTLMv1: with ESS when both asked for it ('ntlm2'), plain otherwise.
      const ess = hasFlag(flags, NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY);
      flavour = ess ? 'ntlm2' : 'v1';
      const password = this.creds.ntHash === undefined ? (this.creds.password ?? '') : undefined;
      const lmowf = password !== undefined && lmowfv1Computable(password) ? LMOWFv1(password) : null;
      const r = computeResponseV1({
        flags,
        responseKeyNT: ntHash,
        responseKeyLM: lmowf,
        serverChallenge: sc,
        clientChallenge: ess ? this.random(8) : undefined,
      });
      nt = r.ntChallengeResponse;
      lm = r.lmChallengeResponse;
      keyExchangeKey = KXKEY({ flags, ntlmv2: false, sessionBaseKey: r.sessionBaseKey, lmChallengeResponse: lm, serverChallenge: sc, lmowf });
    }

    const { exportedSessionKey, encryptedRandomSessionKey } = keyExchange(flags, keyExchangeKey, this.random(16));
    const authenticate = encodeAuthenticate({
      flags,
      lmChallengeResponse: lm,
      ntChallengeResponse: nt,
      domainName: anonymous ? '' : domain,
      userName: user,
      workstation,
      encryptedRandomSessionKey,
      version: this.version,
      withMic,
    });
    if (withMic) {
      setMic(authenticate, computeMic(exportedSessionKey, this.negotiateMessage!, serverToken, withZeroMic(authenticate)));
    }
    this.ctx = new NtlmSecurityContext({ flags, exportedSessionKey, role: 'client' });
    this.sessionWrapper = new NtlmSessionSecurity(this.ctx);
    this.result = { flags, flavour, exportedSessionKey, mic: withMic };
    this.state = 'done';
    return { token: authenticate, leg: 'auth3', done: true };
  }

  get done(): boolean {
    return this.state === 'done';
  }

  /** Negotiated flags (those of the AUTHENTICATE_MESSAGE); valid once done. */
  get negotiatedFlags(): number {
    return this.need().flags;
  }

  get flavour(): NtlmFlavour {
    return this.need().flavour;
  }

  /** The ExportedSessionKey (what SIGNKEY/SEALKEY start from); valid once done. */
  get exportedSessionKey(): Buffer {
    return Buffer.from(this.need().exportedSessionKey);
  }

  /** True when the AUTHENTICATE carried a MIC (MsvAvFlags 0x2). */
  get micSent(): boolean {
    return this.need().mic;
  }

  /** The NTLM session state itself (SPNEGO's mechListMIC needs it). */
  securityContext(): NtlmSecurityContext {
    this.need();
    return this.ctx!;
  }

  session(): SessionSecurity {
    this.need();
    return this.sessionWrapper!;
  }

  private need(): NonNullable<NtlmInitiator['result']> {
    if (!this.result) throw new AuthError('NTLM context is not established yet');
    return this.result;
  }
}
