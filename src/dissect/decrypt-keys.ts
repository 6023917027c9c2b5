// The NTLM key a captured session used, from its CHALLENGE and AUTHENTICATE messages and the
// credentials the user gave (MS-NLMP 3.2.5.1.2: what the server computes on receiving the
// AUTHENTICATE_MESSAGE). The server's own check, verifyAuthenticate, does the work: it tells
// the flavour from the message, recomputes the NT response with each candidate NT hash
// (NTLMv2: NTProofStr = HMAC_MD5(NTOWFv2, ServerChallenge || temp), with the NIL-UserDom
// retry; NTLM2 session response and NTLMv1: the 24-byte DESL response), and only a matching
// response yields a key, so the response itself tells the right password from a wrong one.
// The key then follows 3.4.5.1 (KXKEY) and 3.2.5.1.2 (with NTLMSSP_NEGOTIATE_KEY_EXCH,
// ExportedSessionKey = RC4K(KeyExchangeKey, EncryptedRandomSessionKey)).
//
// Beyond the acceptor's needs:
//  - the anonymous logon (empty user, empty NT response, LM response Z(1) or empty) needs no
//    credential: SessionBaseKey is Z(16) (3.3.1 / 3.3.2) and the KeyExchangeKey is taken as
//    Z(16) as well, as verifyAuthenticate, dcomlab's initiator, Impacket and Samba do;
//  - a MIC that does not verify does not hide the key (the capture is what it is): the key is
//    derived without the MIC check and the session says micValid: false;
//  - NTLMv1 with NTLMSSP_NEGOTIATE_LM_KEY or NTLMSSP_REQUEST_NON_NT_SESSION_KEY needs
//    LMOWFv1, hence the password (not just its NT hash): KXKEY's LM forms (3.4.5.1).
// Nothing here logs or returns a password, hash or key except the ExportedSessionKey itself.
import { md4 } from '../auth/crypto';
import { hasFlag, NTLMSSP_NEGOTIATE_KEY_EXCH } from '../auth/ntlm/flags';
import { KXKEY, LMOWFv1, lmowfv1Computable, NTOWFv1, recoverSessionKey } from '../auth/ntlm/keys';
import { decodeAuthenticate, decodeChallenge, type AuthenticateMessage, type ChallengeMessage } from '../auth/ntlm/messages';
import { authenticateFlavour, verifyAuthenticate, type NtlmFlavour, type VerifyResult } from '../auth/ntlm/verify';

/** A credential to try on captured sessions. Without user/domain it is tried on every session. */
export interface DecryptCredentials {
  /** User name, or "DOMAIN\NAME" (then `domain` may be left out). Case-insensitive. */
  user?: string;
  /** Domain the AUTHENTICATE must name (case-insensitive); a message with no domain matches any. */
  domain?: string;
  password?: string;
  /** NT hash (MD4 of the UTF-16LE password), 16 bytes. */
  ntHash?: Buffer;
}

/** A credential ready to try: its NT hash computed once. */
export interface PreparedCredential {
  /** Position in the list given to the decryptor. */
  index: number;
  user?: string;
  domain?: string;
  password?: string;
  ntHash: Buffer;
  /** NTOWFv2 with this NT hash, by user and domain, as sessions need them. */
  ntowfv2Cache: Map<string, Buffer>;
  /** What reports call it: "DOMAIN\user", "user" or "any user", never a secret. */
  name: string;
}

/** Credentials as given, checked and hashed. Throws RangeError for an NT hash that is not 16 bytes. */
export function prepareCredentials(creds: readonly DecryptCredentials[]): PreparedCredential[] {
  const out: PreparedCredential[] = [];
  creds.forEach((c, index) => {
    let user = c.user;
    let domain = c.domain;
    if (user !== undefined) {
      const sep = user.search(/[\\/]/);
      if (sep >= 0) {
        domain ??= user.slice(0, sep);
        user = user.slice(sep + 1);
      }
      if (user === '') user = undefined;
    }
    if (domain === '' || domain === '.') domain = undefined;
    let ntHash: Buffer;
    if (c.ntHash !== undefined) {
      if (c.ntHash.length !== 16) throw new RangeError(`credential ${index + 1}: an NT hash is 16 bytes, not ${c.ntHash.length}`);
      ntHash = Buffer.from(c.ntHash);
    } else if (c.password !== undefined) {
      ntHash = NTOWFv1(c.password);
    } else {
      return; // a user name alone cannot produce a key
    }
    const name = user === undefined ? (domain === undefined ? 'any user' : `${domain}\\(any user)`) : domain === undefined ? user : `${domain}\\${user}`;
    const p: PreparedCredential = { index, ntHash, ntowfv2Cache: new Map(), name };
    if (user !== undefined) p.user = user;
    if (domain !== undefined) p.domain = domain;
    if (c.password !== undefined) p.password = c.password;
    out.push(p);
  });
  return out;
}

const eqi = (a: string, b: string): boolean => a.toUpperCase() === b.toUpperCase();

/** True when `c` may be the account an AUTHENTICATE names. */
export function credentialMatches(c: PreparedCredential, user: string, domain: string): boolean {
  if (c.user !== undefined && !eqi(c.user, user)) return false;
  if (c.domain !== undefined && domain !== '' && domain !== '.' && !eqi(c.domain, domain)) return false;
  return true;
}

export interface KeyDerivation {
  ok: boolean;
  /** Why no key was found (names no secret). */
  reason?: string;
  flavour?: NtlmFlavour;
  user?: string;
  domain?: string;
  workstation?: string;
  /** The flags session security uses (the AUTHENTICATE's, key bits limited to the CHALLENGE's). */
  flags?: number;
  exportedSessionKey?: Buffer;
  /** The credential whose NT hash matched (undefined for anonymous). */
  credential?: PreparedCredential;
  /** The AUTHENTICATE's MIC: checked and right / wrong; undefined when absent or not checkable. */
  micValid?: boolean;
  /** Credentials whose user and domain matched the message and that were tried. */
  tried: number;
}

export interface CapturedHandshake {
  /** Raw NTLM messages (unwrapped from SPNEGO). NEGOTIATE is only needed to check a MIC. */
  negotiate?: Buffer;
  challenge: Buffer;
  authenticate: Buffer;
}

const who = (a: AuthenticateMessage): string => (a.domainName ? `${a.domainName}\\${a.userName}` : a.userName);

/** Find the session key of one captured NTLM handshake with the credentials given. Never throws. */
export function deriveSessionKey(h: CapturedHandshake, creds: readonly PreparedCredential[]): KeyDerivation {
  let auth: AuthenticateMessage;
  try {
    auth = decodeAuthenticate(h.authenticate);
  } catch (e) {
    return { ok: false, reason: `bad AUTHENTICATE message: ${message(e)}`, tried: 0 };
  }
  const flavour = authenticateFlavour(auth);
  const out: KeyDerivation = {
    ok: false, flavour, user: auth.userName, domain: auth.domainName, workstation: auth.workstation, tried: 0,
  };
  // Decoded once for every try (a CHALLENGE that does not decode is left to verifyAuthenticate,
  // whose error the session then reports).
  let decoded: { challenge: ChallengeMessage; authenticate: AuthenticateMessage } | undefined;
  try {
    decoded = { challenge: decodeChallenge(h.challenge), authenticate: auth };
  } catch {
    decoded = undefined;
  }
  const verify = (c: PreparedCredential | undefined, withNegotiate: boolean): VerifyResult | string => {
    try {
      return verifyAuthenticate({
        challenge: h.challenge,
        authenticate: h.authenticate,
        ...(withNegotiate && h.negotiate ? { negotiate: h.negotiate } : {}),
        ...(c ? { ntHash: c.ntHash, ntowfv2Cache: c.ntowfv2Cache } : {}),
        ...(decoded ? { decoded } : {}),
      });
    } catch (e) {
      return `bad NTLM message: ${message(e)}`;
    }
  };
  const succeed = (r: VerifyResult, key: Buffer, c?: PreparedCredential, micValid?: boolean): KeyDerivation => {
    out.ok = true;
    out.flags = r.flags;
    out.exportedSessionKey = key;
    if (c) out.credential = c;
    const mic = micValid ?? r.micValid;
    if (mic !== undefined) out.micValid = mic;
    return out;
  };
  const fail = (reason: string): KeyDerivation => {
    out.reason = reason;
    return out;
  };

  if (flavour === 'anonymous') {
    const r = verify(undefined, true);
    if (typeof r === 'string') return fail(r);
    if (r.ok) return succeed(r, r.exportedSessionKey!);
    if (r.reason === 'AUTHENTICATE MIC does not match') {
      const again = verify(undefined, false);
      if (typeof again !== 'string' && again.ok) return succeed(again, again.exportedSessionKey!, undefined, false);
    }
    return fail(`anonymous logon: ${r.reason}`);
  }

  if (creds.length === 0) return fail(`no password or NT hash given (the logon is ${who(auth)}, ${flavour})`);
  const candidates = creds.filter((c) => credentialMatches(c, auth.userName, auth.domainName));
  if (candidates.length === 0) return fail(`no credential given for ${who(auth)}`);
  for (const c of candidates) {
    out.tried++;
    const r = verify(c, true);
    if (typeof r === 'string') return fail(r);
    if (r.ok) return succeed(r, r.exportedSessionKey!, c);
    if (r.responseValid === false) continue; // not this password
    if (r.responseValid === undefined) return fail(r.reason ?? 'the AUTHENTICATE cannot be checked');
    // The response matched: the password is right, something after it failed.
    if (r.reason === 'AUTHENTICATE MIC does not match') {
      const again = verify(c, false);
      if (typeof again !== 'string' && again.ok) return succeed(again, again.exportedSessionKey!, c, false);
    }
    if (r.reason === 'LM session keys are not supported') {
      const key = lmSessionKey(r, auth, c);
      if (typeof key === 'string') return fail(key);
      return succeed(r, key, c);
    }
    return fail(`${who(auth)}: ${r.reason}`);
  }
  return fail(`wrong password for ${who(auth)} (${flavour} response matches none of the ${candidates.length} credential(s) tried)`);
}

/**
 * NTLMv1 without extended session security, with LM_KEY or REQUEST_NON_NT_SESSION_KEY:
 * KXKEY's LM forms (MS-NLMP 3.4.5.1) need LMOWFv1(Passwd).
 */
function lmSessionKey(r: VerifyResult, auth: AuthenticateMessage, c: PreparedCredential): Buffer | string {
  if (c.password === undefined || !lmowfv1Computable(c.password)) {
    return `${who(auth)}: the LM session key needs the password (of at most 14 characters), not only its NT hash`;
  }
  const keyExchangeKey = KXKEY({
    flags: r.flags,
    ntlmv2: false,
    sessionBaseKey: md4(c.ntHash),
    lmChallengeResponse: auth.lmChallengeResponse,
    serverChallenge: r.challenge.serverChallenge,
    lmowf: LMOWFv1(c.password),
  });
  const erk = auth.encryptedRandomSessionKey;
  if (hasFlag(r.flags, NTLMSSP_NEGOTIATE_KEY_EXCH) && erk.length > 0) {
    if (erk.length !== 16) return `${who(auth)}: EncryptedRandomSessionKey of ${erk.length} bytes`;
    return recoverSessionKey(r.flags, keyExchangeKey, erk);
  }
  return keyExchangeKey;
}

function message(e: unknown): string {
  if (e && typeof e === 'object' && 'what' in e && typeof (e as { what: unknown }).what === 'string') return (e as { what: string }).what;
  return e instanceof Error ? e.message : String(e);
}
