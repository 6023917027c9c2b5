// Server-side check of an AUTHENTICATE_MESSAGE against a CHALLENGE_MESSAGE and an NT hash
// (MS-NLMP 3.2.5.1.2, responses per 3.3.1 / 3.3.2, keys per 3.4.5.1). A pure function, so
// the acceptor, a capture decryptor and tests share one implementation.
//
// Which flavour the client used is read from the message, as Windows and Samba do:
//  - NtChallengeResponse longer than 24 bytes: NTLMv2 (NTProofStr || NTLMv2_CLIENT_CHALLENGE).
//    Only the NT response decides; the LMv2 response is not checked (Windows clients send
//    Z(24) there when the CHALLENGE carried MsvAvTimestamp, 3.1.5.1.2).
//  - 24 bytes, NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY, and an LM response of
//    ClientChallenge || Z(16): the NTLM2 session response (NTLMv1 with ESS).
//  - 24 bytes otherwise: NTLMv1.
//  - no user, no NT response and an LM response of Z(1) or nothing: anonymous.
// Comparisons are constant-time. Failure reasons never carry key or response bytes.
import { timingSafeEqual } from 'node:crypto';
import { DESL, hmacMd5, md4, md5 } from '../crypto';
import {
  hasFlag,
  NTLMSSP_NEGOTIATE_128,
  NTLMSSP_NEGOTIATE_56,
  NTLMSSP_NEGOTIATE_DATAGRAM,
  NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY,
  NTLMSSP_NEGOTIATE_KEY_EXCH,
  NTLMSSP_NEGOTIATE_LM_KEY,
  NTLMSSP_NEGOTIATE_SEAL,
  NTLMSSP_NEGOTIATE_SIGN,
  NTLMSSP_REQUEST_NON_NT_SESSION_KEY,
} from './flags';
import { computeMic, NTOWFv2FromHash, recoverSessionKey } from './keys';
import {
  decodeAuthenticate,
  decodeChallenge,
  findAvPair,
  MSV_AV_FLAG_MIC_PRESENT,
  MsvAvFlags,
  parseAvPairs,
  withZeroMic,
  type AuthenticateMessage,
  type AvPair,
  type ChallengeMessage,
} from './messages';

export type NtlmFlavour = 'v1' | 'ntlm2' | 'v2' | 'anonymous';

/** Flags whose value changes the keys: the session uses them only if the CHALLENGE offered them. */
const KEY_FLAGS =
  NTLMSSP_NEGOTIATE_SIGN |
  NTLMSSP_NEGOTIATE_SEAL |
  NTLMSSP_NEGOTIATE_DATAGRAM |
  NTLMSSP_NEGOTIATE_LM_KEY |
  NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY |
  NTLMSSP_REQUEST_NON_NT_SESSION_KEY |
  NTLMSSP_NEGOTIATE_128 |
  NTLMSSP_NEGOTIATE_KEY_EXCH |
  NTLMSSP_NEGOTIATE_56;

export interface VerifyInput {
  /** The raw CHALLENGE_MESSAGE the server sent. */
  challenge: Uint8Array;
  /** The raw AUTHENTICATE_MESSAGE the client sent. */
  authenticate: Uint8Array;
  /** The raw NEGOTIATE_MESSAGE; needed to check a MIC. */
  negotiate?: Uint8Array;
  /** NT hash (NTOWFv1) of the account the AUTHENTICATE names; not needed for anonymous. */
  ntHash?: Uint8Array;
  /**
   * NTOWFv2 results already computed with this `ntHash`, by upper-case user and domain; filled
   * in as they are computed. A capture decryptor tries the same account on session after session.
   */
  ntowfv2Cache?: Map<string, Buffer>;
  /** The two messages already decoded (from these very bytes), to skip decoding them again. */
  decoded?: { challenge: ChallengeMessage; authenticate: AuthenticateMessage };
}

export interface VerifyResult {
  ok: boolean;
  flavour: NtlmFlavour;
  /** Why verification failed; names no secret. */
  reason?: string;
  /**
   * Whether the NT response matched the hash (false: wrong password, or the wrong account);
   * undefined when it was never compared (anonymous, malformed, no hash).
   */
  responseValid?: boolean;
  /** Flags for session security: the AUTHENTICATE's, key-relevant bits limited to the CHALLENGE's. */
  flags: number;
  authenticate: AuthenticateMessage;
  challenge: ChallengeMessage;
  /** AV pairs the client put in its NTLMv2 response (empty for other flavours). */
  clientAvPairs: AvPair[];
  /** MsvAvFlags in the NTLMv2 response says the message carries a MIC. */
  micPresent: boolean;
  /** Whether the MIC matched; undefined when there is none, or no NEGOTIATE to check it with. */
  micValid?: boolean;
  /** The UserDom the NTLMv2 response was computed with (the sent domain, or '' for NIL-domain clients). */
  userDomUsed?: string;
  sessionBaseKey?: Buffer;
  keyExchangeKey?: Buffer;
  /** The key SIGNKEY/SEALKEY derive from; what a decryptor needs. Set when ok. */
  exportedSessionKey?: Buffer;
}

const Z = (n: number): Buffer => Buffer.alloc(n);

function ntowfv2(ntHash: Uint8Array, user: string, domain: string, cache: Map<string, Buffer> | undefined): Buffer {
  if (!cache) return NTOWFv2FromHash(ntHash, user, domain);
  // NTOWFv2 upper-cases the user and keeps the domain as sent (MS-NLMP 3.3.2).
  const key = `${user.toUpperCase()}\u0000${domain}`;
  let k = cache.get(key);
  if (k === undefined) {
    k = NTOWFv2FromHash(ntHash, user, domain);
    if (cache.size >= 1024) cache.clear(); // bounded: a capture may name any number of accounts
    cache.set(key, k);
  }
  return k;
}

function ctEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.length > 0 && timingSafeEqual(a, b);
}

/** The flavour an AUTHENTICATE_MESSAGE uses, from its responses and flags. */
export function authenticateFlavour(auth: AuthenticateMessage): NtlmFlavour {
  const nt = auth.ntChallengeResponse;
  const lm = auth.lmChallengeResponse;
  if (nt.length === 0 && auth.userName === '' && (lm.length === 0 || (lm.length === 1 && lm[0] === 0))) return 'anonymous';
  if (nt.length > 24) return 'v2';
  if (
    nt.length === 24 &&
    hasFlag(auth.flags, NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY) &&
    lm.length === 24 &&
    lm.subarray(8).every((b) => b === 0)
  ) {
    return 'ntlm2';
  }
  return 'v1';
}

/**
 * Verify `authenticate` (MS-NLMP 3.2.5.1.2). Throws NtlmError only when a message cannot
 * be decoded; a wrong response gives `{ ok: false, reason }`.
 */
export function verifyAuthenticate(input: VerifyInput): VerifyResult {
  const challenge = input.decoded?.challenge ?? decodeChallenge(input.challenge);
  const auth = input.decoded?.authenticate ?? decodeAuthenticate(input.authenticate);
  const authFlags = auth.flags !== 0 ? auth.flags : challenge.flags;
  const flags = ((authFlags & ~KEY_FLAGS) | (authFlags & KEY_FLAGS & challenge.flags)) >>> 0;
  const flavour = authenticateFlavour(auth);
  const sc = challenge.serverChallenge;
  const res: VerifyResult = { ok: false, flavour, flags, authenticate: auth, challenge, clientAvPairs: [], micPresent: false };
  const fail = (reason: string): VerifyResult => {
    res.reason = reason;
    return res;
  };

  let sessionBaseKey: Buffer;
  let keyExchangeKey: Buffer;
  const nt = auth.ntChallengeResponse;
  const lm = auth.lmChallengeResponse;

  if (flavour === 'anonymous') {
    // 3.3.1/3.3.2: the anonymous responses give SessionBaseKey Z(16); the key exchange key is
    // taken as Z(16) too (as Impacket's client and this project's initiator do).
    sessionBaseKey = Z(16);
    keyExchangeKey = Z(16);
  } else {
    const ntHash = input.ntHash;
    if (!ntHash || ntHash.length !== 16) return fail('no NT hash for this account');
    if (flavour === 'v2') {
      // NTLMv2_RESPONSE: NTProofStr(16) then NTLMv2_CLIENT_CHALLENGE: RespType, HiRespType,
      // Reserved1(2), Reserved2(4), TimeStamp(8), ChallengeFromClient(8), Reserved3(4), AvPairs.
      if (nt.length < 16 + 28) return fail('NTLMv2 response too short');
      const ntProofStr = nt.subarray(0, 16);
      const temp = nt.subarray(16);
      // MS-NLMP 3.2.5.1.2: servers SHOULD support clients that use NIL for UserDom.
      const doms = auth.domainName === '' ? [''] : [auth.domainName, ''];
      let key: Buffer | undefined;
      for (const dom of doms) {
        const k = ntowfv2(ntHash, auth.userName, dom, input.ntowfv2Cache);
        if (ctEqual(hmacMd5(k, sc, temp), ntProofStr)) {
          key = k;
          res.userDomUsed = dom;
          break;
        }
      }
      const av = parseAvPairs(temp.subarray(28));
      res.clientAvPairs = av.pairs;
      const avFlags = findAvPair(av.pairs, MsvAvFlags);
      res.micPresent = avFlags !== undefined && avFlags.value.length >= 4 && (avFlags.value.readUInt32LE(0) & MSV_AV_FLAG_MIC_PRESENT) !== 0;
      res.responseValid = key !== undefined;
      if (!key) return fail('NTLMv2 response does not match');
      sessionBaseKey = hmacMd5(key, ntProofStr);
      keyExchangeKey = sessionBaseKey;
    } else {
      if (nt.length !== 24) return fail(nt.length === 0 ? 'no NT response (LM-only logons are not supported)' : `NT response of ${nt.length} bytes`);
      sessionBaseKey = md4(ntHash);
      if (flavour === 'ntlm2') {
        const cc = lm.subarray(0, 8);
        res.responseValid = ctEqual(DESL(ntHash, md5(sc, cc).subarray(0, 8)), nt);
        if (!res.responseValid) return fail('NTLM2 session response does not match');
        keyExchangeKey = hmacMd5(sessionBaseKey, sc, cc);
      } else {
        res.responseValid = ctEqual(DESL(ntHash, sc), nt);
        if (!res.responseValid) return fail('NTLMv1 response does not match');
        if (hasFlag(flags, NTLMSSP_NEGOTIATE_LM_KEY) || hasFlag(flags, NTLMSSP_REQUEST_NON_NT_SESSION_KEY)) {
          return fail('LM session keys are not supported');
        }
        keyExchangeKey = sessionBaseKey;
      }
    }
  }

  // 3.2.5.1.2: with KEY_EXCH the client sent RC4K(KeyExchangeKey, ExportedSessionKey). The
  // spec has the server do this only when SIGN or SEAL is negotiated too; clients that send
  // the key whenever KEY_EXCH is set (Impacket, Samba) are handled by looking at the field.
  const erk = auth.encryptedRandomSessionKey;
  let exportedSessionKey: Buffer;
  if (hasFlag(flags, NTLMSSP_NEGOTIATE_KEY_EXCH) && erk.length > 0) {
    if (erk.length !== 16) return fail(`EncryptedRandomSessionKey of ${erk.length} bytes`);
    exportedSessionKey = recoverSessionKey(flags, keyExchangeKey, erk);
  } else {
    exportedSessionKey = Buffer.from(keyExchangeKey);
  }
  res.sessionBaseKey = sessionBaseKey;
  res.keyExchangeKey = keyExchangeKey;

  if (res.micPresent) {
    if (auth.mic === undefined || auth.micOffset === undefined) return fail('MsvAvFlags announces a MIC but the message has none');
    if (input.negotiate) {
      const mic = computeMic(exportedSessionKey, input.negotiate, input.challenge, withZeroMic(input.authenticate, auth.micOffset));
      res.micValid = ctEqual(mic, auth.mic);
      if (!res.micValid) return fail('AUTHENTICATE MIC does not match');
    }
  }
  res.exportedSessionKey = exportedSessionKey;
  res.ok = true;
  return res;
}
