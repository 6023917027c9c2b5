// NTLM one-way functions, challenge responses and session keys (MS-NLMP 3.3 and 3.4.5).
// Pure functions on Buffers; every name follows the spec's pseudocode so the two can be
// read side by side. Strings are UTF-16LE ("RPC_UNICODE_STRING") unless the spec says OEM.
import { DES, DESL, hmacMd5, md4, md5, rc4 } from '../crypto';
import { NtlmError } from './errors';
import {
  hasFlag,
  NTLMSSP_NEGOTIATE_128,
  NTLMSSP_NEGOTIATE_56,
  NTLMSSP_NEGOTIATE_DATAGRAM,
  NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY,
  NTLMSSP_NEGOTIATE_KEY_EXCH,
  NTLMSSP_NEGOTIATE_LM_KEY,
  NTLMSSP_REQUEST_NON_NT_SESSION_KEY,
} from './flags';

/** Which end of the connection computes a key (MS-NLMP 3.4.5.2/3: Mode). */
export type NtlmMode = 'client' | 'server';

export const utf16le = (s: string): Buffer => Buffer.from(s, 'utf16le');
const Z = (n: number): Buffer => Buffer.alloc(n);

// ---------------------------------------------------------------------------------------
// One-way functions (3.3.1, 3.3.2)

/** NTOWFv1(Passwd) = MD4(UNICODE(Passwd)): the NT hash. */
export function NTOWFv1(password: string): Buffer {
  return md4(utf16le(password));
}

/** The "KGS!@#$%" constant LMOWFv1 encrypts. */
const LM_MAGIC = Buffer.from('KGS!@#$%', 'latin1');

/**
 * True when LMOWFv1 can be computed: the upper-cased OEM password fits in 14 bytes
 * (MS-NLMP 3.3.1: "If the password is longer than 14 characters, the LMOWF v1 cannot be
 * computed").
 */
export function lmowfv1Computable(password: string): boolean {
  return Buffer.byteLength(password.toUpperCase(), 'latin1') <= 14;
}

/**
 * LMOWFv1(Passwd) = ConcatenationOf(DES(UpperCase(Passwd)[0..6], "KGS!@#$%"),
 * DES(UpperCase(Passwd)[7..13], "KGS!@#$%")), the password upper-cased, taken as OEM
 * (Latin-1 here) and zero-padded to 14 bytes. Throws when the password is longer.
 */
export function LMOWFv1(password: string): Buffer {
  const oem = Buffer.from(password.toUpperCase(), 'latin1');
  if (oem.length > 14) throw new NtlmError('LMOWFv1 cannot be computed for a password longer than 14 characters');
  const p = Buffer.alloc(14);
  oem.copy(p);
  return Buffer.concat([DES(p.subarray(0, 7), LM_MAGIC), DES(p.subarray(7, 14), LM_MAGIC)]);
}

/** NTOWFv2 from an NT hash: HMAC_MD5(MD4(UNICODE(Passwd)), UNICODE(ConcatenationOf(Uppercase(User), UserDom))). */
export function NTOWFv2FromHash(ntHash: Uint8Array, user: string, domain: string): Buffer {
  if (ntHash.length !== 16) throw new NtlmError(`NT hash must be 16 bytes, got ${ntHash.length}`);
  return hmacMd5(ntHash, utf16le(user.toUpperCase() + domain));
}

/** NTOWFv2(Passwd, User, UserDom). */
export function NTOWFv2(password: string, user: string, domain: string): Buffer {
  return NTOWFv2FromHash(NTOWFv1(password), user, domain);
}

/** LMOWFv2 is NTOWFv2 (MS-NLMP 3.3.2). */
export const LMOWFv2 = NTOWFv2;

// ---------------------------------------------------------------------------------------
// Challenge responses (3.3.1, 3.3.2)

export interface ChallengeResponses {
  /** NtChallengeResponse: NTLM_RESPONSE (24 bytes), NTLMv2_RESPONSE, or empty for anonymous. */
  ntChallengeResponse: Buffer;
  /** LmChallengeResponse: LM_RESPONSE / LMv2_RESPONSE (24 bytes), or Z(1) for anonymous. */
  lmChallengeResponse: Buffer;
  /** SessionBaseKey (16 bytes); all zero for anonymous. */
  sessionBaseKey: Buffer;
}

export interface V1ResponseInput {
  /** NegFlg: only NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY matters here. */
  flags: number;
  /** ResponseKeyNT = NTOWFv1(Passwd). */
  responseKeyNT: Uint8Array;
  /** ResponseKeyLM = LMOWFv1(Passwd), or null when it cannot be computed (password > 14 chars). */
  responseKeyLM: Uint8Array | null;
  serverChallenge: Uint8Array;
  /** Needed only with extended session security (the "NTLM2 session response"). */
  clientChallenge?: Uint8Array;
  /** NoLMResponseNTLMv1: send the NT response in the LM field too. Forced when responseKeyLM is null. */
  noLmResponse?: boolean;
  /** User and Passwd both empty: the anonymous special case. */
  anonymous?: boolean;
}

/** The anonymous special case of both ComputeResponse functions. */
function anonymousResponses(): ChallengeResponses {
  return { ntChallengeResponse: Z(0), lmChallengeResponse: Z(1), sessionBaseKey: Z(16) };
}

/**
 * ComputeResponse for NTLM v1 (MS-NLMP 3.3.1), with or without extended session security.
 * With it: NtChallengeResponse = DESL(ResponseKeyNT, MD5(ConcatenationOf(ServerChallenge,
 * ClientChallenge))[0..7]) and LmChallengeResponse = ConcatenationOf(ClientChallenge, Z(16)).
 * SessionBaseKey = MD4(ResponseKeyNT) in both cases.
 */
export function computeResponseV1(input: V1ResponseInput): ChallengeResponses {
  if (input.anonymous) return anonymousResponses();
  checkLen('ServerChallenge', input.serverChallenge, 8);
  checkLen('ResponseKeyNT', input.responseKeyNT, 16);
  let nt: Buffer;
  let lm: Buffer;
  if (hasFlag(input.flags, NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY)) {
    const cc = input.clientChallenge;
    if (!cc) throw new NtlmError('extended session security needs a ClientChallenge');
    checkLen('ClientChallenge', cc, 8);
    nt = DESL(input.responseKeyNT, md5(input.serverChallenge, cc).subarray(0, 8));
    lm = Buffer.concat([cc, Z(16)]);
  } else {
    nt = DESL(input.responseKeyNT, input.serverChallenge);
    if (input.noLmResponse || input.responseKeyLM === null) {
      lm = Buffer.from(nt);
    } else {
      checkLen('ResponseKeyLM', input.responseKeyLM, 16);
      lm = DESL(input.responseKeyLM, input.serverChallenge);
    }
  }
  return { ntChallengeResponse: nt, lmChallengeResponse: lm, sessionBaseKey: md4(input.responseKeyNT) };
}

/** Windows FILETIME: 100 ns ticks since 1601-01-01 UTC. */
const FILETIME_UNIX_EPOCH = 116444736000000000n;

/** A JS Date as an 8-byte little-endian FILETIME. */
export function filetimeFromDate(date: Date): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(date.getTime()) * 10000n + FILETIME_UNIX_EPOCH);
  return b;
}

/** An 8-byte little-endian FILETIME as a JS Date (millisecond precision). */
export function dateFromFiletime(ft: Uint8Array): Date {
  const v = Buffer.from(ft.buffer, ft.byteOffset, 8).readBigUInt64LE(0);
  return new Date(Number((v - FILETIME_UNIX_EPOCH) / 10000n));
}

/**
 * The NTLMv2_CLIENT_CHALLENGE ("temp" in 3.3.2): ConcatenationOf(Responserversion=1,
 * HiResponserversion=1, Z(6), Time, ClientChallenge, Z(4), ServerName, Z(4)).
 * `serverName` is the AV_PAIR list as it will be sent (usually the server's TargetInfo,
 * possibly amended with MsvAvFlags / MsvAvTargetName / MsvAvChannelBindings), ending with
 * MsvAvEOL.
 */
export function ntlmv2ClientChallenge(time: Uint8Array, clientChallenge: Uint8Array, serverName: Uint8Array): Buffer {
  checkLen('Time', time, 8);
  checkLen('ClientChallenge', clientChallenge, 8);
  return Buffer.concat([Buffer.from([1, 1]), Z(6), time, clientChallenge, Z(4), serverName, Z(4)]);
}

export interface V2ResponseInput {
  /** ResponseKeyNT = NTOWFv2(Passwd, User, UserDom). */
  responseKeyNT: Uint8Array;
  /** ResponseKeyLM = LMOWFv2(...); defaults to responseKeyNT (they are equal). */
  responseKeyLM?: Uint8Array;
  serverChallenge: Uint8Array;
  clientChallenge: Uint8Array;
  /** 8-byte FILETIME: MsvAvTimestamp from the CHALLENGE TargetInfo when present, else now. */
  time: Uint8Array;
  /** AV_PAIR bytes placed in the client challenge blob (ServerName in the spec). */
  serverName: Uint8Array;
  anonymous?: boolean;
}

export interface V2ChallengeResponses extends ChallengeResponses {
  /** NTProofStr: the first 16 bytes of the NTLMv2 response. */
  ntProofStr: Buffer;
}

/**
 * ComputeResponse for NTLM v2 (MS-NLMP 3.3.2):
 * NTProofStr = HMAC_MD5(ResponseKeyNT, ConcatenationOf(ServerChallenge, temp)),
 * NtChallengeResponse = ConcatenationOf(NTProofStr, temp),
 * LmChallengeResponse = ConcatenationOf(HMAC_MD5(ResponseKeyLM, ConcatenationOf(ServerChallenge, ClientChallenge)), ClientChallenge),
 * SessionBaseKey = HMAC_MD5(ResponseKeyNT, NTProofStr).
 */
export function computeResponseV2(input: V2ResponseInput): V2ChallengeResponses {
  if (input.anonymous) return { ...anonymousResponses(), ntProofStr: Z(0) };
  checkLen('ServerChallenge', input.serverChallenge, 8);
  checkLen('ResponseKeyNT', input.responseKeyNT, 16);
  const temp = ntlmv2ClientChallenge(input.time, input.clientChallenge, input.serverName);
  const ntProofStr = hmacMd5(input.responseKeyNT, input.serverChallenge, temp);
  const keyLM = input.responseKeyLM ?? input.responseKeyNT;
  return {
    ntProofStr,
    ntChallengeResponse: Buffer.concat([ntProofStr, temp]),
    lmChallengeResponse: Buffer.concat([hmacMd5(keyLM, input.serverChallenge, input.clientChallenge), input.clientChallenge]),
    sessionBaseKey: hmacMd5(input.responseKeyNT, ntProofStr),
  };
}

// ---------------------------------------------------------------------------------------
// Session keys (3.4.5)

export interface KxkeyInput {
  flags: number;
  /** True for NTLM v2, where KeyExchangeKey = SessionBaseKey. */
  ntlmv2: boolean;
  sessionBaseKey: Uint8Array;
  lmChallengeResponse: Uint8Array;
  serverChallenge: Uint8Array;
  /** LMOWFv1(Passwd): needed for NTLMSSP_NEGOTIATE_LM_KEY and NTLMSSP_REQUEST_NON_NT_SESSION_KEY. */
  lmowf?: Uint8Array | null;
}

/**
 * KXKEY (MS-NLMP 3.4.5.1). NTLM v2: the SessionBaseKey. NTLM v1 with extended session
 * security: HMAC_MD5(SessionBaseKey, ConcatenationOf(ServerChallenge, LmChallengeResponse[0..7])).
 * NTLM v1 otherwise: the LM_KEY form, the NON_NT_SESSION_KEY form, or the SessionBaseKey.
 * Extended session security wins over LM_KEY (2.2.2.5: they are mutually exclusive and a
 * server that sees both returns only extended session security).
 */
export function KXKEY(input: KxkeyInput): Buffer {
  const { flags } = input;
  if (input.ntlmv2) return Buffer.from(input.sessionBaseKey);
  if (hasFlag(flags, NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY)) {
    return hmacMd5(input.sessionBaseKey, input.serverChallenge, input.lmChallengeResponse.subarray(0, 8));
  }
  if (hasFlag(flags, NTLMSSP_NEGOTIATE_LM_KEY)) {
    const lmowf = needLmowf(input.lmowf, 'NTLMSSP_NEGOTIATE_LM_KEY');
    const lmr = input.lmChallengeResponse.subarray(0, 8);
    const k2 = Buffer.alloc(7, 0xbd);
    k2[0] = lmowf[7]!;
    return Buffer.concat([DES(lmowf.subarray(0, 7), lmr), DES(k2, lmr)]);
  }
  if (hasFlag(flags, NTLMSSP_REQUEST_NON_NT_SESSION_KEY)) {
    const lmowf = needLmowf(input.lmowf, 'NTLMSSP_REQUEST_NON_NT_SESSION_KEY');
    return Buffer.concat([lmowf.subarray(0, 8), Z(8)]);
  }
  return Buffer.from(input.sessionBaseKey);
}

export interface SessionKeys {
  /** ExportedSessionKey: the key SIGNKEY/SEALKEY start from. */
  exportedSessionKey: Buffer;
  /** EncryptedRandomSessionKey for the AUTHENTICATE message; empty without KEY_EXCH. */
  encryptedRandomSessionKey: Buffer;
}

/**
 * Client side of the key exchange (3.1.5.1.2): with NTLMSSP_NEGOTIATE_KEY_EXCH the
 * ExportedSessionKey is the client's RandomSessionKey, sent as RC4K(KeyExchangeKey,
 * ExportedSessionKey); without it the ExportedSessionKey is the KeyExchangeKey.
 */
export function keyExchange(flags: number, keyExchangeKey: Uint8Array, randomSessionKey: Uint8Array): SessionKeys {
  if (hasFlag(flags, NTLMSSP_NEGOTIATE_KEY_EXCH)) {
    checkLen('RandomSessionKey', randomSessionKey, 16);
    return {
      exportedSessionKey: Buffer.from(randomSessionKey),
      encryptedRandomSessionKey: rc4(keyExchangeKey, randomSessionKey),
    };
  }
  return { exportedSessionKey: Buffer.from(keyExchangeKey), encryptedRandomSessionKey: Z(0) };
}

/**
 * Server side (3.2.5.1.2): ExportedSessionKey = RC4K(KeyExchangeKey,
 * EncryptedRandomSessionKey) with KEY_EXCH, else the KeyExchangeKey.
 */
export function recoverSessionKey(flags: number, keyExchangeKey: Uint8Array, encryptedRandomSessionKey: Uint8Array): Buffer {
  if (hasFlag(flags, NTLMSSP_NEGOTIATE_KEY_EXCH)) {
    checkLen('EncryptedRandomSessionKey', encryptedRandomSessionKey, 16);
    return rc4(keyExchangeKey, encryptedRandomSessionKey);
  }
  return Buffer.from(keyExchangeKey);
}

// The magic constants are hashed with their terminating NUL (3.4.5.2, 3.4.5.3).
const magic = (s: string): Buffer => Buffer.from(`${s}\0`, 'latin1');
const CLIENT_SIGN = magic('session key to client-to-server signing key magic constant');
const SERVER_SIGN = magic('session key to server-to-client signing key magic constant');
const CLIENT_SEAL = magic('session key to client-to-server sealing key magic constant');
const SERVER_SEAL = magic('session key to server-to-client sealing key magic constant');

/**
 * SIGNKEY (3.4.5.2): MD5(ConcatenationOf(ExportedSessionKey, magic)) for the client-to-server
 * or server-to-client direction. Null without extended session security (no signing key:
 * NTLMv1 signatures then use CRC32 under the sealing key's RC4 handle).
 */
export function SIGNKEY(flags: number, exportedSessionKey: Uint8Array, mode: NtlmMode): Buffer | null {
  if (!hasFlag(flags, NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY)) return null;
  return md5(exportedSessionKey, mode === 'client' ? CLIENT_SIGN : SERVER_SIGN);
}

/**
 * SEALKEY (3.4.5.3). With extended session security: MD5 of the 128-, 56- (7 bytes) or
 * 40-bit (5 bytes) prefix of the ExportedSessionKey with the direction's magic constant.
 * Without it: for LM_KEY (or datagram), an 8-byte key weakened to 56 bits
 * (ConcatenationOf(ExportedSessionKey[0..6], 0xA0)) or 40 bits
 * (ConcatenationOf(ExportedSessionKey[0..4], 0xE5, 0x38, 0xB0)); otherwise the
 * ExportedSessionKey itself, the same in both directions.
 */
export function SEALKEY(flags: number, exportedSessionKey: Uint8Array, mode: NtlmMode): Buffer {
  const k = Buffer.from(exportedSessionKey);
  if (hasFlag(flags, NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY)) {
    let sealKey: Buffer;
    if (hasFlag(flags, NTLMSSP_NEGOTIATE_128)) sealKey = k;
    else if (hasFlag(flags, NTLMSSP_NEGOTIATE_56)) sealKey = k.subarray(0, 7);
    else sealKey = k.subarray(0, 5);
    return md5(sealKey, mode === 'client' ? CLIENT_SEAL : SERVER_SEAL);
  }
  if (hasFlag(flags, NTLMSSP_NEGOTIATE_LM_KEY) || hasFlag(flags, NTLMSSP_NEGOTIATE_DATAGRAM)) {
    if (hasFlag(flags, NTLMSSP_NEGOTIATE_56)) return Buffer.concat([k.subarray(0, 7), Buffer.from([0xa0])]);
    return Buffer.concat([k.subarray(0, 5), Buffer.from([0xe5, 0x38, 0xb0])]);
  }
  return k;
}

/**
 * The AUTHENTICATE_MESSAGE MIC (3.1.5.1.2): HMAC_MD5(ExportedSessionKey,
 * ConcatenationOf(NEGOTIATE_MESSAGE, CHALLENGE_MESSAGE, AUTHENTICATE_MESSAGE)) with the
 * AUTHENTICATE message's MIC field zeroed.
 */
export function computeMic(exportedSessionKey: Uint8Array, negotiate: Uint8Array, challenge: Uint8Array, authenticateWithZeroMic: Uint8Array): Buffer {
  return hmacMd5(exportedSessionKey, negotiate, challenge, authenticateWithZeroMic);
}

function checkLen(name: string, b: Uint8Array, n: number): void {
  if (b.length !== n) throw new NtlmError(`${name} must be ${n} bytes, got ${b.length}`);
}

function needLmowf(lmowf: Uint8Array | null | undefined, flag: string): Uint8Array {
  if (!lmowf) throw new NtlmError(`${flag} needs LMOWFv1, which is not available`);
  checkLen('LMOWF', lmowf, 16);
  return lmowf;
}
