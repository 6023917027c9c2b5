// MS-NLMP 4.2 "Cryptographic Values for Validation", byte for byte. Each expected value is
// the hex dump of the section named next to it; the common inputs are section 4.2.1.
// Provenance: the Challenge Flags dumps of 4.2.2 / 4.2.4, the 4.2.4 AV pairs and the
// 4.2.2.4 / 4.2.4.4 keys were read on the spec pages themselves (learn.microsoft.com,
// ms-nlmp). The 4.2.2.1.x, 4.2.2.2.x, 4.2.3.x, 4.2.4.1.x and 4.2.4.2.x pages were not in
// the searchable corpus; their values come from implementations that quote them by section
// (GSS-NTLMSSP tests/ntlmssptest.c, Chromium net/ntlm/ntlm_test_data.h, go-mssqldb's ntlm
// tests, a Rust sspi crate), all of which agree with each other.
import { describe, expect, it } from 'vitest';
import {
  computeResponseV1,
  computeResponseV2,
  dateFromFiletime,
  filetimeFromDate,
  keyExchange,
  KXKEY,
  LMOWFv1,
  LMOWFv2,
  lmowfv1Computable,
  NTOWFv1,
  NTOWFv2,
  NTOWFv2FromHash,
  recoverSessionKey,
  SEALKEY,
  SIGNKEY,
} from '../../src/auth/ntlm/keys';
import {
  NTLMSSP_NEGOTIATE_128,
  NTLMSSP_NEGOTIATE_56,
  NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY,
  NTLMSSP_NEGOTIATE_KEY_EXCH,
  NTLMSSP_NEGOTIATE_LM_KEY,
  NTLMSSP_REQUEST_NON_NT_SESSION_KEY,
} from '../../src/auth/ntlm/flags';
import { NtlmError } from '../../src/auth/ntlm/errors';

const hex = (s: string) => Buffer.from(s.replace(/\s+|#[^\n]*/g, ''), 'hex');
const flagsOf = (dump: string) => hex(dump).readUInt32LE(0);

// 4.2.1 Common Values
const User = 'User';
const UserDom = 'Domain';
const Passwd = 'Password';
const RandomSessionKey = hex('55 55 55 55 55 55 55 55 55 55 55 55 55 55 55 55');
const Time = hex('00 00 00 00 00 00 00 00');
const ClientChallenge = hex('aa aa aa aa aa aa aa aa');
const ServerChallenge = hex('01 23 45 67 89 ab cd ef');

describe('MS-NLMP 4.2.2 NTLMv1 Authentication', () => {
  // 4.2.2: "The Challenge Flags used in the following NTLM v1 examples are: KEY_EXCH, 56, 128,
  // VERSION, TARGET_TYPE_SERVER, ALWAYS_SIGN, NTLM, SEAL, SIGN, OEM, UNICODE -- 33 82 02 e2"
  const flags = flagsOf('33 82 02 e2');
  const lmowf = LMOWFv1(Passwd);
  const ntowf = NTOWFv1(Passwd);
  const v1 = computeResponseV1({ flags, responseKeyNT: ntowf, responseKeyLM: lmowf, serverChallenge: ServerChallenge });

  it('the flag dump decodes to the named flags', () => {
    expect(flags).toBe(0xe2028233);
  });
  it('4.2.2.1.1 LMOWFv1()', () => {
    expect(lmowf).toEqual(hex('e5 2c ac 67 41 9a 9a 22 4a 3b 10 8f 3f a6 cb 6d'));
  });
  it('4.2.2.1.2 NTOWFv1()', () => {
    expect(ntowf).toEqual(hex('a4 f4 9c 40 65 10 bd ca b6 82 4e e7 c3 0f d8 52'));
  });
  it('4.2.2.1.3 Session Base Key and Key Exchange Key', () => {
    expect(v1.sessionBaseKey).toEqual(hex('d8 72 62 b0 cd e4 b1 cb 74 99 be cc cd f1 07 84'));
    const kxkey = KXKEY({ flags, ntlmv2: false, sessionBaseKey: v1.sessionBaseKey, lmChallengeResponse: v1.lmChallengeResponse, serverChallenge: ServerChallenge, lmowf });
    expect(kxkey).toEqual(hex('d8 72 62 b0 cd e4 b1 cb 74 99 be cc cd f1 07 84'));
  });
  it('4.2.2.2.1 NTLMv1 Response', () => {
    expect(v1.ntChallengeResponse).toEqual(hex('67 c4 30 11 f3 02 98 a2 ad 35 ec e6 4f 16 33 1c 44 bd be d9 27 84 1f 94'));
  });
  it('4.2.2.2.2 LMv1 Response', () => {
    expect(v1.lmChallengeResponse).toEqual(hex('98 de f7 b8 7f 88 aa 5d af e2 df 77 96 88 a1 72 de f1 1c 7d 5c cd ef 13'));
  });
  it('4.2.2.2.2 LMv1 Response with NoLMResponseNTLMv1: the NTLMv1 response', () => {
    const r = computeResponseV1({ flags, responseKeyNT: ntowf, responseKeyLM: lmowf, serverChallenge: ServerChallenge, noLmResponse: true });
    expect(r.lmChallengeResponse).toEqual(hex('67 c4 30 11 f3 02 98 a2 ad 35 ec e6 4f 16 33 1c 44 bd be d9 27 84 1f 94'));
  });
  it('4.2.2.2.3 Encrypted Session Key: RC4 encryption of the RandomSessionKey with the KeyExchangeKey', () => {
    const kxkey = KXKEY({ flags, ntlmv2: false, sessionBaseKey: v1.sessionBaseKey, lmChallengeResponse: v1.lmChallengeResponse, serverChallenge: ServerChallenge, lmowf });
    const ks = keyExchange(flags, kxkey, RandomSessionKey);
    expect(ks.encryptedRandomSessionKey).toEqual(hex('51 88 22 b1 b3 f3 50 c8 95 86 82 ec bb 3e 3c b7'));
    expect(ks.exportedSessionKey).toEqual(RandomSessionKey);
    expect(recoverSessionKey(flags, kxkey, ks.encryptedRandomSessionKey)).toEqual(RandomSessionKey);
  });
  it('4.2.2.1.3 / 4.2.2.2.3 with NTLMSSP_REQUEST_NON_NT_SESSION_KEY', () => {
    const f = flags | NTLMSSP_REQUEST_NON_NT_SESSION_KEY;
    const kxkey = KXKEY({ flags: f, ntlmv2: false, sessionBaseKey: v1.sessionBaseKey, lmChallengeResponse: v1.lmChallengeResponse, serverChallenge: ServerChallenge, lmowf });
    expect(kxkey).toEqual(hex('e5 2c ac 67 41 9a 9a 22 00 00 00 00 00 00 00 00'));
    expect(keyExchange(f, kxkey, RandomSessionKey).encryptedRandomSessionKey).toEqual(hex('74 52 ca 55 c2 25 a1 ca 04 b4 8f ae 32 cf 56 fc'));
  });
  it('4.2.2.1.3 / 4.2.2.2.3 with NTLMSSP_NEGOTIATE_LM_KEY', () => {
    const f = flags | NTLMSSP_NEGOTIATE_LM_KEY;
    const kxkey = KXKEY({ flags: f, ntlmv2: false, sessionBaseKey: v1.sessionBaseKey, lmChallengeResponse: v1.lmChallengeResponse, serverChallenge: ServerChallenge, lmowf });
    expect(kxkey).toEqual(hex('b0 9e 37 9f 7f be cb 1e af 0a fd cb 03 83 c8 a0'));
    expect(keyExchange(f, kxkey, RandomSessionKey).encryptedRandomSessionKey).toEqual(hex('4c d7 bb 57 d6 97 ef 9b 54 9f 02 b8 f9 b3 78 64'));
  });
  it('4.2.2.4 keys: without extended session security the sealing key is the ExportedSessionKey and there is no signing key', () => {
    expect(SEALKEY(flags, RandomSessionKey, 'client')).toEqual(RandomSessionKey);
    expect(SEALKEY(flags, RandomSessionKey, 'server')).toEqual(RandomSessionKey);
    expect(SIGNKEY(flags, RandomSessionKey, 'client')).toBeNull();
  });
});

describe('MS-NLMP 4.2.3 NTLMv1 with Client Challenge (extended session security)', () => {
  // 4.2.3: Challenge Flags 56, VERSION, EXTENDED_SESSIONSECURITY, TARGET_TYPE_SERVER,
  // ALWAYS_SIGN, NTLM, SEAL, SIGN, OEM, UNICODE -- 33 82 0a 82
  const flags = flagsOf('33 82 0a 82');
  const ntowf = NTOWFv1(Passwd);
  const lmowf = LMOWFv1(Passwd);
  const v1 = computeResponseV1({ flags, responseKeyNT: ntowf, responseKeyLM: lmowf, serverChallenge: ServerChallenge, clientChallenge: ClientChallenge });
  const kxkey = KXKEY({ flags, ntlmv2: false, sessionBaseKey: v1.sessionBaseKey, lmChallengeResponse: v1.lmChallengeResponse, serverChallenge: ServerChallenge, lmowf });

  it('the flag dump decodes to the named flags', () => {
    expect(flags).toBe(
      (NTLMSSP_NEGOTIATE_56 | NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY | 0x02000000 | 0x00020000 | 0x8000 | 0x200 | 0x20 | 0x10 | 0x2 | 0x1) >>> 0,
    );
  });
  it('4.2.3.1.1 NTOWFv1() and 4.2.3.1.2 Session Base Key', () => {
    expect(ntowf).toEqual(hex('a4 f4 9c 40 65 10 bd ca b6 82 4e e7 c3 0f d8 52'));
    expect(v1.sessionBaseKey).toEqual(hex('d8 72 62 b0 cd e4 b1 cb 74 99 be cc cd f1 07 84'));
  });
  it('4.2.3.1.3 Key Exchange Key', () => {
    expect(kxkey).toEqual(hex('eb 93 42 9a 8b d9 52 f8 b8 9c 55 b8 7f 47 5e dc'));
  });
  it('4.2.3.2.1 LMv1 Response: ClientChallenge followed by 16 zero bytes', () => {
    expect(v1.lmChallengeResponse).toEqual(hex('aa aa aa aa aa aa aa aa 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00'));
  });
  it('4.2.3.2.2 NTLMv1 Response (the "NTLM2 session response")', () => {
    expect(v1.ntChallengeResponse).toEqual(hex('75 37 f8 03 ae 36 71 28 ca 45 82 04 bd e7 ca f8 1e 97 ed 26 83 26 72 32'));
  });
  it('4.2.3.4 sealing key (56-bit: MD5 of ExportedSessionKey[0..6] and the client-to-server constant) and signing key', () => {
    // No KEY_EXCH in these flags, so ExportedSessionKey = KeyExchangeKey.
    const { exportedSessionKey, encryptedRandomSessionKey } = keyExchange(flags, kxkey, RandomSessionKey);
    expect(exportedSessionKey).toEqual(kxkey);
    expect(encryptedRandomSessionKey).toHaveLength(0);
    expect(SEALKEY(flags, exportedSessionKey, 'client')).toEqual(hex('04 dd 7f 01 4d 85 04 d2 65 a2 5c c8 6a 3a 7c 06'));
    expect(SIGNKEY(flags, exportedSessionKey, 'client')).toEqual(hex('60 e7 99 be 5c 72 fc 92 92 2a e8 eb e9 61 fb 8d'));
  });
});

describe('MS-NLMP 4.2.4 NTLMv2 Authentication', () => {
  // 4.2.4: Challenge Flags KEY_EXCH, 56, 128, VERSION, TARGET_INFO, EXTENDED_SESSIONSECURITY,
  // TARGET_TYPE_SERVER, ALWAYS_SIGN, NTLM, SEAL, SIGN, OEM, UNICODE -- 33 82 8a e2.
  // AV pairs: NetBIOS Server name "Server", NetBIOS Domain name "Domain"; in the 4.2.4.3
  // CHALLENGE_MESSAGE's TargetInfo they are sent domain first, then server, then MsvAvEOL.
  const flags = flagsOf('33 82 8a e2');
  const targetInfo = hex(`
    02 00 0c 00 44 00 6f 00 6d 00 61 00 69 00 6e 00   # MsvAvNbDomainName "Domain"
    01 00 0c 00 53 00 65 00 72 00 76 00 65 00 72 00   # MsvAvNbComputerName "Server"
    00 00 00 00                                       # MsvAvEOL
  `);
  const responseKeyNT = NTOWFv2(Passwd, User, UserDom);
  const v2 = computeResponseV2({ responseKeyNT, serverChallenge: ServerChallenge, clientChallenge: ClientChallenge, time: Time, serverName: targetInfo });

  it('4.2.4.1.1 NTOWFv2() and LMOWFv2()', () => {
    expect(responseKeyNT).toEqual(hex('0c 86 8a 40 3b fd 7a 93 a3 00 1e f2 2e f0 2e 3f'));
    expect(LMOWFv2(Passwd, User, UserDom)).toEqual(hex('0c 86 8a 40 3b fd 7a 93 a3 00 1e f2 2e f0 2e 3f'));
    expect(NTOWFv2FromHash(NTOWFv1(Passwd), User, UserDom)).toEqual(responseKeyNT);
  });
  it('4.2.4.1.2 Session Base Key (= Key Exchange Key for NTLMv2)', () => {
    expect(v2.sessionBaseKey).toEqual(hex('8d e4 0c ca db c1 4a 82 f1 5c b0 ad 0d e9 5c a3'));
    const kx = KXKEY({ flags, ntlmv2: true, sessionBaseKey: v2.sessionBaseKey, lmChallengeResponse: v2.lmChallengeResponse, serverChallenge: ServerChallenge });
    expect(kx).toEqual(hex('8d e4 0c ca db c1 4a 82 f1 5c b0 ad 0d e9 5c a3'));
  });
  it('4.2.4.2.1 LMv2 Response', () => {
    expect(v2.lmChallengeResponse).toEqual(hex('86 c3 50 97 ac 9c ec 10 25 54 76 4a 57 cc cc 19 aa aa aa aa aa aa aa aa'));
  });
  it('4.2.4.2.2 NTLMv2 Response: NTProofStr, then the client challenge blob', () => {
    expect(v2.ntProofStr).toEqual(hex('68 cd 0a b8 51 e5 1c 96 aa bc 92 7b eb ef 6a 1c'));
    // The NtChallengeResponse as carried in the 4.2.4.3 AUTHENTICATE_MESSAGE (0x54 bytes).
    expect(v2.ntChallengeResponse).toEqual(
      hex(`
      68 cd 0a b8 51 e5 1c 96 aa bc 92 7b eb ef 6a 1c   # NTProofStr
      01 01 00 00 00 00 00 00                           # RespType, HiRespType, Reserved1, Reserved2
      00 00 00 00 00 00 00 00                           # TimeStamp (Time)
      aa aa aa aa aa aa aa aa                           # ChallengeFromClient
      00 00 00 00                                       # Reserved3
      02 00 0c 00 44 00 6f 00 6d 00 61 00 69 00 6e 00
      01 00 0c 00 53 00 65 00 72 00 76 00 65 00 72 00
      00 00 00 00                                       # AvPairs
      00 00 00 00                                       # Z(4)
    `),
    );
  });
  it('4.2.4.2.3 Encrypted Session Key', () => {
    const ks = keyExchange(flags, v2.sessionBaseKey, RandomSessionKey);
    expect(ks.encryptedRandomSessionKey).toEqual(hex('c5 da d2 54 4f c9 79 90 94 ce 1c e9 0b c9 d0 3e'));
  });
  it('4.2.4.4 sealing and signing keys (128-bit, client-to-server)', () => {
    expect(SEALKEY(flags, RandomSessionKey, 'client')).toEqual(hex('59 f6 00 97 3c c4 96 0a 25 48 0a 7c 19 6e 4c 58'));
    expect(SIGNKEY(flags, RandomSessionKey, 'client')).toEqual(hex('47 88 dc 86 1b 47 82 f3 5d 43 fd 98 fe 1a 2d 39'));
  });
});

describe('other key derivation cases (3.3, 3.4.5)', () => {
  it('anonymous: empty NT response, Z(1) LM response, zero SessionBaseKey (3.3.1, 3.3.2)', () => {
    const a = computeResponseV1({ flags: 0, responseKeyNT: Buffer.alloc(16), responseKeyLM: null, serverChallenge: ServerChallenge, anonymous: true });
    expect(a.ntChallengeResponse).toHaveLength(0);
    expect(a.lmChallengeResponse).toEqual(hex('00'));
    expect(a.sessionBaseKey).toEqual(Buffer.alloc(16));
    const b = computeResponseV2({ responseKeyNT: Buffer.alloc(16), serverChallenge: ServerChallenge, clientChallenge: ClientChallenge, time: Time, serverName: Buffer.alloc(4), anonymous: true });
    expect(b.ntChallengeResponse).toHaveLength(0);
    expect(b.lmChallengeResponse).toEqual(hex('00'));
  });

  it('LMOWFv1 refuses passwords longer than 14 characters; the LM field then repeats the NT response', () => {
    expect(lmowfv1Computable('fourteen chars')).toBe(true);
    expect(lmowfv1Computable('fifteen chars!!')).toBe(false);
    expect(() => LMOWFv1('fifteen chars!!')).toThrow(NtlmError);
    const r = computeResponseV1({ flags: 0, responseKeyNT: NTOWFv1('fifteen chars!!'), responseKeyLM: null, serverChallenge: ServerChallenge });
    expect(r.lmChallengeResponse).toEqual(r.ntChallengeResponse);
  });

  it('LMOWFv1 upper-cases the password', () => {
    expect(LMOWFv1('password')).toEqual(LMOWFv1('PASSWORD'));
  });

  it('extended session security needs a client challenge', () => {
    expect(() =>
      computeResponseV1({ flags: NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY, responseKeyNT: Buffer.alloc(16), responseKeyLM: null, serverChallenge: ServerChallenge }),
    ).toThrow(NtlmError);
  });

  it('SEALKEY with extended session security: 128 / 56 / 40-bit prefixes give different keys per direction', () => {
    const esk = hex('000102030405060708090a0b0c0d0e0f');
    const ess = NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY;
    const k128 = SEALKEY(ess | NTLMSSP_NEGOTIATE_128, esk, 'client');
    const k56 = SEALKEY(ess | NTLMSSP_NEGOTIATE_56, esk, 'client');
    const k40 = SEALKEY(ess, esk, 'client');
    expect(new Set([k128.toString('hex'), k56.toString('hex'), k40.toString('hex')]).size).toBe(3);
    // Only the first 7 (56-bit) or 5 (40-bit) bytes of the session key matter.
    const other = Buffer.from(esk);
    other[15] = 0xff;
    other[7] = 0xff;
    expect(SEALKEY(ess | NTLMSSP_NEGOTIATE_56, other, 'client')).toEqual(k56);
    other[5] = 0xff;
    expect(SEALKEY(ess, other, 'client')).toEqual(k40);
    expect(SEALKEY(ess | NTLMSSP_NEGOTIATE_128, esk, 'server')).not.toEqual(k128);
  });

  it('SEALKEY for NTLMv1 with LM_KEY: 56-bit (0xA0) and 40-bit (0xE5 0x38 0xB0) weakening', () => {
    const esk = hex('000102030405060708090a0b0c0d0e0f');
    expect(SEALKEY(NTLMSSP_NEGOTIATE_LM_KEY | NTLMSSP_NEGOTIATE_56, esk, 'client')).toEqual(hex('00010203040506a0'));
    expect(SEALKEY(NTLMSSP_NEGOTIATE_LM_KEY, esk, 'client')).toEqual(hex('0001020304e538b0'));
  });

  it('KEY_EXCH off: the ExportedSessionKey is the KeyExchangeKey', () => {
    const kx = hex('000102030405060708090a0b0c0d0e0f');
    expect(keyExchange(0, kx, RandomSessionKey)).toEqual({ exportedSessionKey: kx, encryptedRandomSessionKey: Buffer.alloc(0) });
    expect(recoverSessionKey(0, kx, Buffer.alloc(0))).toEqual(kx);
    expect(keyExchange(NTLMSSP_NEGOTIATE_KEY_EXCH, kx, RandomSessionKey).exportedSessionKey).toEqual(RandomSessionKey);
  });

  it('ESS wins over LM_KEY in KXKEY', () => {
    const lmowf = LMOWFv1(Passwd);
    const sbk = hex('d8 72 62 b0 cd e4 b1 cb 74 99 be cc cd f1 07 84');
    const lmr = Buffer.concat([ClientChallenge, Buffer.alloc(16)]);
    const both = KXKEY({ flags: NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY | NTLMSSP_NEGOTIATE_LM_KEY, ntlmv2: false, sessionBaseKey: sbk, lmChallengeResponse: lmr, serverChallenge: ServerChallenge, lmowf });
    expect(both).toEqual(hex('eb 93 42 9a 8b d9 52 f8 b8 9c 55 b8 7f 47 5e dc'));
  });

  it('FILETIME conversion', () => {
    const d = new Date(Date.UTC(2009, 0, 1));
    // 2009-01-01T00:00:00Z: (1230768000 s * 10^7) + 116444736000000000 ticks to 1970.
    expect(filetimeFromDate(d).readBigUInt64LE(0)).toBe(128752416000000000n);
    expect(dateFromFiletime(filetimeFromDate(d)).getTime()).toBe(d.getTime());
    expect(filetimeFromDate(new Date(0)).readBigUInt64LE(0)).toBe(116444736000000000n);
  });
});
