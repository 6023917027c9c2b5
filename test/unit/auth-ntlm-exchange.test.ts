// NtlmInitiator <-> NtlmAcceptor: every flavour (NTLMv2, NTLM2 session response, NTLMv1,
// anonymous) at CONNECT, PKT_INTEGRITY and PKT_PRIVACY, then the established sessions talk
// to each other: sealing and signing both ways, sequence numbers, tampering and replay.
// Failures: wrong password, unknown user, guest mapping, MIC tampering, out-of-turn and
// garbage tokens. Also the credential store and the CLI's spec/JSON parsers.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AuthError } from '../../src/base/errors';
import {
  accountFromSpec,
  clientCredentialsFromSpec,
  CredentialConfigError,
  CredentialStore,
  parseCredentialConfig,
  parseUserSpec,
} from '../../src/auth/credentials';
import {
  RPC_C_AUTHN_LEVEL_CONNECT,
  RPC_C_AUTHN_LEVEL_PKT,
  RPC_C_AUTHN_LEVEL_PKT_INTEGRITY,
  RPC_C_AUTHN_LEVEL_PKT_PRIVACY,
  SEC_E_INVALID_TOKEN,
  STATUS_LOGON_FAILURE,
} from '../../src/auth/constants';
import { NtlmAcceptor } from '../../src/auth/ntlm/acceptor';
import { negotiateFlagsForLevel, NtlmInitiator } from '../../src/auth/ntlm/initiator';
import { NTOWFv1 } from '../../src/auth/ntlm/keys';
import {
  decodeAuthenticate,
  decodeChallenge,
  decodeNegotiate,
  findAvPair,
  MsvAvDnsComputerName,
  MsvAvDnsDomainName,
  MsvAvFlags,
  MsvAvNbComputerName,
  MsvAvNbDomainName,
  MsvAvTimestamp,
  avPairString,
  parseAvPairs,
} from '../../src/auth/ntlm/messages';
import {
  hasFlag,
  NTLMSSP_NEGOTIATE_ANONYMOUS,
  NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY,
  NTLMSSP_NEGOTIATE_KEY_EXCH,
  NTLMSSP_NEGOTIATE_SEAL,
  NTLMSSP_NEGOTIATE_SIGN,
  NTLMSSP_NEGOTIATE_TARGET_INFO,
  NTLMSSP_NEGOTIATE_UNICODE,
  NTLMSSP_NEGOTIATE_VERSION,
  NTLMSSP_TARGET_TYPE_SERVER,
} from '../../src/auth/ntlm/flags';
import type { ClientCredentials, CredentialOptions, SessionSecurity } from '../../src/auth/types';

const PASSWORD = 'Secr3t!pass';
const STORE: CredentialOptions = {
  serverName: 'XPBOX',
  accounts: [
    { user: 'alice', password: PASSWORD, groups: ['Administrators'] },
    { user: 'bob', domain: 'CORP', ntHash: NTOWFv1('b0b-pw'), groups: ['Users'] },
  ],
};
const FIXED_CHALLENGE = Buffer.from('0123456789abcdef', 'hex');

function exchange(creds: ClientCredentials, level: number, storeOpts: CredentialOptions = STORE) {
  const store = new CredentialStore(storeOpts);
  const ini = new NtlmInitiator(creds, level, { targetName: 'host/xpbox' });
  const acc = new NtlmAcceptor(store, { serverChallenge: () => Buffer.from(FIXED_CHALLENGE), now: () => new Date('2024-05-01T12:00:00Z') });
  const negotiate = ini.start();
  const c = acc.accept(negotiate);
  expect(c.done).toBe(false);
  const a = ini.step(c.token!);
  expect(a).toMatchObject({ leg: 'auth3', done: true });
  const r = acc.accept(a.token!);
  return { ini, acc, negotiate, challenge: c.token!, authenticate: a.token!, result: r };
}

/** A fake DCE/RPC request: header, stub, sec_trailer, as the RPC layer would sign it. */
function pdu(stub: Buffer, callId: number): Buffer {
  const hdr = Buffer.from('05000003100000000000000000000000', 'hex');
  hdr.writeUInt32LE(callId, 12);
  return Buffer.concat([hdr, stub, Buffer.from('0a06000000000000', 'hex')]);
}

/** Client and server sessions protect messages for each other, in both directions. */
function checkSessions(cs: SessionSecurity, ss: SessionSecurity, privacy: boolean, ess: boolean) {
  expect(cs.signatureLength).toBe(16);
  expect(cs.signsWholePdu).toBe(ess);
  for (let i = 0; i < 3; i++) {
    // client -> server
    const stub = Buffer.from(`request ${i} stub data, padded....`);
    const covered = (s: Buffer) => (ess ? pdu(s, i) : s);
    if (privacy) {
      const { sealed, signature } = cs.seal(stub, covered(stub));
      expect(sealed.length).toBe(stub.length);
      expect(sealed.equals(stub)).toBe(false);
      if (ess) expect(signature.readUInt32LE(12)).toBe(i); // SeqNum in clear with ESS
      const got = ss.unseal(sealed, signature, covered);
      expect(got.ok).toBe(true);
      expect(got.plaintext).toEqual(stub);
    } else {
      const sig = cs.sign(covered(stub));
      if (ess) expect(sig.readUInt32LE(12)).toBe(i);
      expect(ss.verify(covered(stub), sig)).toBe(true);
    }
    // server -> client
    const reply = Buffer.from(`response ${i} from the server`);
    if (privacy) {
      const { sealed, signature } = ss.seal(reply, covered(reply));
      const got = cs.unseal(sealed, signature, covered);
      expect(got).toEqual({ plaintext: reply, ok: true });
    } else {
      const sig = ss.sign(covered(reply));
      expect(cs.verify(covered(reply), sig)).toBe(true);
    }
  }
}

/** A flipped bit fails. Leaves the sessions out of step. */
function checkTamper(cs: SessionSecurity, ss: SessionSecurity, privacy: boolean) {
  const msg = Buffer.from('a message that someone will tamper with');
  if (privacy) {
    const { sealed, signature } = cs.seal(msg);
    const bad = Buffer.from(sealed);
    bad[5]! ^= 0x01;
    expect(ss.unseal(bad, signature).ok).toBe(false);
  } else {
    const sig = cs.sign(msg);
    const bad = Buffer.from(msg);
    bad[5]! ^= 0x01;
    expect(ss.verify(bad, sig)).toBe(false);
  }
}

function checkReplay(cs: SessionSecurity, ss: SessionSecurity, privacy: boolean) {
  const msg = Buffer.from('a message that someone will send twice');
  if (privacy) {
    const { sealed, signature } = cs.seal(msg);
    expect(ss.unseal(sealed, signature).ok).toBe(true);
    expect(ss.unseal(sealed, signature).ok).toBe(false);
  } else {
    const sig = cs.sign(msg);
    expect(ss.verify(msg, sig)).toBe(true);
    expect(ss.verify(msg, sig)).toBe(false);
  }
}

describe('NEGOTIATE flags per authentication level (MS-RPCE 3.3.1.5.2.2, as Windows sends them)', () => {
  it('CONNECT asks for neither SIGN, SEAL nor KEY_EXCH; PKT/INTEGRITY add SIGN; PRIVACY adds SEAL', () => {
    const connect = negotiateFlagsForLevel(RPC_C_AUTHN_LEVEL_CONNECT);
    expect(connect & (NTLMSSP_NEGOTIATE_SIGN | NTLMSSP_NEGOTIATE_SEAL | NTLMSSP_NEGOTIATE_KEY_EXCH)).toBe(0);
    for (const lvl of [RPC_C_AUTHN_LEVEL_PKT, RPC_C_AUTHN_LEVEL_PKT_INTEGRITY]) {
      const f = negotiateFlagsForLevel(lvl);
      expect(hasFlag(f, NTLMSSP_NEGOTIATE_SIGN | NTLMSSP_NEGOTIATE_KEY_EXCH)).toBe(true);
      expect(hasFlag(f, NTLMSSP_NEGOTIATE_SEAL)).toBe(false);
    }
    const privacy = negotiateFlagsForLevel(RPC_C_AUTHN_LEVEL_PKT_PRIVACY);
    expect(hasFlag(privacy, NTLMSSP_NEGOTIATE_SIGN | NTLMSSP_NEGOTIATE_SEAL | NTLMSSP_NEGOTIATE_KEY_EXCH)).toBe(true);
    // Windows 10 at PKT_PRIVACY (scapy capture) sends 0xe20882b7; ours is that minus LM_KEY (0x80).
    expect(privacy >>> 0).toBe((0xe20882b7 & ~0x80) >>> 0);
    expect(hasFlag(negotiateFlagsForLevel(6, 'v1'), NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY)).toBe(false);
    expect(() => negotiateFlagsForLevel(1)).toThrow(AuthError);
  });

  it('the CHALLENGE grants the intersection and carries the target info', () => {
    const { challenge, negotiate } = exchange({ user: 'alice', password: PASSWORD }, RPC_C_AUTHN_LEVEL_PKT_INTEGRITY);
    expect(decodeNegotiate(negotiate).flags).toBe(negotiateFlagsForLevel(RPC_C_AUTHN_LEVEL_PKT_INTEGRITY));
    const c = decodeChallenge(challenge);
    expect(c.serverChallenge).toEqual(FIXED_CHALLENGE);
    expect(hasFlag(c.flags, NTLMSSP_NEGOTIATE_SIGN)).toBe(true);
    expect(hasFlag(c.flags, NTLMSSP_NEGOTIATE_SEAL)).toBe(false); // not asked for
    for (const f of [NTLMSSP_NEGOTIATE_TARGET_INFO, NTLMSSP_NEGOTIATE_VERSION, NTLMSSP_TARGET_TYPE_SERVER, NTLMSSP_NEGOTIATE_UNICODE]) {
      expect(hasFlag(c.flags, f)).toBe(true);
    }
    expect(c.targetName).toBe('XPBOX');
    const p = c.targetInfoPairs.pairs;
    expect(avPairString(findAvPair(p, MsvAvNbDomainName))).toBe('XPBOX');
    expect(avPairString(findAvPair(p, MsvAvNbComputerName))).toBe('XPBOX');
    expect(avPairString(findAvPair(p, MsvAvDnsDomainName))).toBe('xpbox');
    expect(avPairString(findAvPair(p, MsvAvDnsComputerName))).toBe('xpbox');
    expect(findAvPair(p, MsvAvTimestamp)!.value.readBigUInt64LE(0)).toBe(BigInt(Date.parse('2024-05-01T12:00:00Z')) * 10000n + 116444736000000000n);
    expect(c.version).toBeDefined();
  });
});

const FLAVOURS: Array<{ name: string; creds: ClientCredentials; flavour: string; ess: boolean }> = [
  { name: 'NTLMv2', creds: { user: 'alice', password: PASSWORD, workstation: 'CLIENT1' }, flavour: 'v2', ess: true },
  { name: 'NTLM2 session response', creds: { user: 'alice', password: PASSWORD, ntlm: 'ntlm2' }, flavour: 'ntlm2', ess: true },
  { name: 'NTLMv1', creds: { user: 'alice', password: PASSWORD, ntlm: 'v1' }, flavour: 'v1', ess: false },
  { name: 'anonymous', creds: { user: '' }, flavour: 'anonymous', ess: true },
];

describe.each(FLAVOURS)('$name round trip', ({ creds, flavour, ess }) => {
  for (const level of [RPC_C_AUTHN_LEVEL_PKT_INTEGRITY, RPC_C_AUTHN_LEVEL_PKT_PRIVACY]) {
    const privacy = level === RPC_C_AUTHN_LEVEL_PKT_PRIVACY;
    it(`${privacy ? 'PKT_PRIVACY' : 'PKT_INTEGRITY'}: authenticates, keys agree, sessions interoperate`, () => {
      const { ini, acc, authenticate, result } = exchange(creds, level);
      expect(result.done).toBe(true);
      const id = result.identity!;
      expect(id.ntlmFlavour).toBe(flavour);
      expect(ini.flavour).toBe(flavour);
      expect(acc.flavour).toBe(flavour);
      if (flavour === 'anonymous') {
        expect(id).toMatchObject({ anonymous: true, guest: false, user: '', groups: [] });
        const a = decodeAuthenticate(authenticate);
        expect(a.ntChallengeResponse.length).toBe(0);
        expect(a.lmChallengeResponse).toEqual(Buffer.alloc(1));
        expect(hasFlag(a.flags, NTLMSSP_NEGOTIATE_ANONYMOUS)).toBe(true);
      } else {
        expect(id).toMatchObject({ user: 'alice', domain: 'XPBOX', anonymous: false, guest: false, groups: ['Administrators'] });
      }
      // Key exchange: the exported key is the client's random key, not the key exchange key.
      const a = decodeAuthenticate(authenticate);
      expect(hasFlag(a.flags, NTLMSSP_NEGOTIATE_KEY_EXCH)).toBe(true);
      expect(a.encryptedRandomSessionKey.length).toBe(16);
      expect(acc.exportedSessionKey).toEqual(ini.exportedSessionKey);
      expect(acc.negotiatedFlags).toBe(ini.negotiatedFlags);
      expect(hasFlag(acc.negotiatedFlags, NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY)).toBe(ess);
      expect(hasFlag(acc.negotiatedFlags, NTLMSSP_NEGOTIATE_SEAL)).toBe(privacy);
      const cs = ini.session();
      const ss = acc.session();
      checkSessions(cs, ss, privacy, ess);
      checkReplay(cs, ss, privacy);
    });
  }

  it('a flipped bit fails to verify', () => {
    for (const level of [RPC_C_AUTHN_LEVEL_PKT_INTEGRITY, RPC_C_AUTHN_LEVEL_PKT_PRIVACY]) {
      const { ini, acc } = exchange(creds, level);
      checkTamper(ini.session(), acc.session(), level === RPC_C_AUTHN_LEVEL_PKT_PRIVACY);
    }
  });
});

describe('NTLMv2 details', () => {
  it('sends the MIC and MsvAvFlags when the CHALLENGE has a timestamp, and Z(24) as the LMv2 response', () => {
    const { authenticate, acc, ini } = exchange({ user: 'alice', password: PASSWORD }, RPC_C_AUTHN_LEVEL_PKT_INTEGRITY);
    const a = decodeAuthenticate(authenticate);
    expect(a.mic).toBeDefined();
    expect(a.mic!.equals(Buffer.alloc(16))).toBe(false);
    expect(a.lmChallengeResponse).toEqual(Buffer.alloc(24));
    expect(ini.micSent).toBe(true);
    expect(acc.micPresent).toBe(true);
  });

  it('a message altered under the MIC is refused (the NTLMv2 response alone still matches)', () => {
    const store = new CredentialStore(STORE);
    const ini = new NtlmInitiator({ user: 'alice', password: PASSWORD, workstation: 'CLIENT1' }, RPC_C_AUTHN_LEVEL_PKT_INTEGRITY);
    const acc = new NtlmAcceptor(store);
    const auth = ini.step(acc.accept(ini.start()).token!).token!;
    // Change the workstation name ("CLIENT1" -> "CLIENT2"): not covered by the NTLMv2 response.
    const ws = Buffer.from('CLIENT1', 'utf16le');
    const at = auth.indexOf(ws);
    expect(at).toBeGreaterThan(0);
    auth[at + 12] = '2'.charCodeAt(0);
    expect(() => acc.accept(auth)).toThrow(/MIC does not match/);
    // ... also when unknown users and wrong passwords would map to guest: tampering is not a logon.
    const ini2 = new NtlmInitiator({ user: 'alice', password: PASSWORD, workstation: 'CLIENT1' }, RPC_C_AUTHN_LEVEL_PKT_INTEGRITY);
    const acc2 = new NtlmAcceptor(new CredentialStore({ ...STORE, guest: true }));
    const auth2 = ini2.step(acc2.accept(ini2.start()).token!).token!;
    auth2[auth2.indexOf(ws) + 12] = '2'.charCodeAt(0);
    expect(() => acc2.accept(auth2)).toThrow(expect.objectContaining({ status: STATUS_LOGON_FAILURE, message: expect.stringMatching(/alice: AUTHENTICATE MIC does not match/) }));
  });

  it('NT-hash-only accounts and clients that know only the hash', () => {
    const r1 = exchange({ user: 'bob', domain: 'CORP', password: 'b0b-pw' }, RPC_C_AUTHN_LEVEL_PKT_PRIVACY);
    expect(r1.result.identity).toMatchObject({ user: 'bob', domain: 'CORP', groups: ['Users'] });
    const r2 = exchange({ user: 'BOB', domain: 'corp', ntHash: NTOWFv1('b0b-pw') }, RPC_C_AUTHN_LEVEL_PKT_PRIVACY);
    expect(r2.result.identity).toMatchObject({ user: 'bob', domain: 'CORP' });
    checkSessions(r2.ini.session(), r2.acc.session(), true, true);
    const r3 = exchange({ user: 'alice', ntHash: NTOWFv1(PASSWORD), ntlm: 'v1' }, RPC_C_AUTHN_LEVEL_PKT_INTEGRITY);
    expect(r3.result.identity!.ntlmFlavour).toBe('v1');
  });

  it('domain matching: "", ".", the server\'s own names (any case) find local accounts', () => {
    for (const domain of ['', '.', 'XPBOX', 'xpbox']) {
      const r = exchange({ user: 'ALICE', domain, password: PASSWORD }, RPC_C_AUTHN_LEVEL_CONNECT);
      expect(r.result.identity).toMatchObject({ user: 'alice', domain: 'XPBOX' });
    }
    // A domain account is found by its domain, or with no domain when its name is unique.
    expect(exchange({ user: 'bob', domain: '', password: 'b0b-pw' }, 2).result.identity!.domain).toBe('CORP');
    expect(() => exchange({ user: 'alice', domain: 'OTHER', password: PASSWORD }, 2)).toThrow(AuthError);
    expect(() => exchange({ user: 'bob', domain: 'XPBOX', password: 'b0b-pw' }, 2)).toThrow(AuthError);
  });

  it('CONNECT level: no key exchange, no signing flags, still an exported key and a MIC', () => {
    const { authenticate, acc, ini } = exchange({ user: 'alice', password: PASSWORD }, RPC_C_AUTHN_LEVEL_CONNECT);
    const a = decodeAuthenticate(authenticate);
    expect(a.flags & (NTLMSSP_NEGOTIATE_SIGN | NTLMSSP_NEGOTIATE_SEAL | NTLMSSP_NEGOTIATE_KEY_EXCH)).toBe(0);
    expect(a.encryptedRandomSessionKey.length).toBe(0);
    expect(acc.exportedSessionKey).toEqual(ini.exportedSessionKey);
    expect(acc.micPresent).toBe(true);
  });

  it('MsvAvFlags and MsvAvTargetName land in the NTLMv2 response', () => {
    const { authenticate } = exchange({ user: 'alice', password: PASSWORD }, 5);
    const nt = decodeAuthenticate(authenticate).ntChallengeResponse;
    const text = nt.subarray(16 + 28);
    expect(text.includes(Buffer.from('host/xpbox', 'utf16le'))).toBe(true);
    const f = findAvPair(parseAvPairs(text).pairs, MsvAvFlags)!;
    expect(f.value.readUInt32LE(0) & 2).toBe(2);
  });
});

describe('logon failures', () => {
  const secretsIn = (msg: string, secrets: Buffer[], words: string[]) =>
    words.some((w) => msg.includes(w)) || secrets.some((s) => s.length > 0 && (msg.toLowerCase().includes(s.toString('hex')) || msg.includes(s.toString('base64'))));

  for (const f of FLAVOURS.filter((x) => x.flavour !== 'anonymous')) {
    it(`${f.name}: wrong password -> AuthError STATUS_LOGON_FAILURE without secrets`, () => {
      const bad = 'not-the-password';
      let err: unknown;
      let auth: Buffer | undefined;
      try {
        const store = new CredentialStore(STORE);
        const ini = new NtlmInitiator({ ...f.creds, password: bad }, 5);
        const acc = new NtlmAcceptor(store);
        auth = ini.step(acc.accept(ini.start()).token!).token!;
        acc.accept(auth);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(AuthError);
      const e = err as AuthError;
      expect(e.status).toBe(STATUS_LOGON_FAILURE);
      expect(e.statusName).toBe('STATUS_LOGON_FAILURE');
      expect(e.message).toMatch(/logon failure: wrong password for alice/);
      const a = decodeAuthenticate(auth!);
      const secrets = [NTOWFv1(bad), NTOWFv1(PASSWORD), a.ntChallengeResponse, a.ntChallengeResponse.subarray(0, 16), a.lmChallengeResponse, a.encryptedRandomSessionKey];
      expect(secretsIn(e.message, secrets, [bad, PASSWORD])).toBe(false);
      expect(secretsIn(String(e.stack), secrets, [bad, PASSWORD])).toBe(false);
    });
  }

  it('unknown user -> logon failure naming the user', () => {
    expect(() => exchange({ user: 'mallory', domain: 'EVIL', password: 'x' }, 5)).toThrow(/logon failure: unknown user EVIL\\mallory/);
  });

  it('guest mapping (ForceGuest): unknown users and wrong passwords become Guest, with no shared key', () => {
    const opts = { ...STORE, guest: true };
    for (const creds of [{ user: 'mallory', password: 'x' }, { user: 'alice', password: 'wrong' }]) {
      const { result, ini, acc } = exchange(creds, 5, opts);
      expect(result.identity).toMatchObject({ user: 'Guest', domain: 'XPBOX', guest: true, anonymous: false, groups: ['Guests'] });
      // The server cannot know the client's key: signatures do not verify (as against Windows).
      const sig = ini.session().sign(Buffer.from('hello'));
      expect(acc.session().verify(Buffer.from('hello'), sig)).toBe(false);
    }
  });

  it('anonymous can be refused', () => {
    expect(() => exchange({ user: '' }, 5, { ...STORE, allowAnonymous: false })).toThrow(/anonymous logons are not allowed/);
  });

  it('tokens out of turn and garbage are AuthError, never anything else', () => {
    const store = new CredentialStore(STORE);
    const ini = new NtlmInitiator({ user: 'alice', password: PASSWORD }, 5);
    const acc = new NtlmAcceptor(store);
    const neg = ini.start();
    expect(() => new NtlmAcceptor(store).accept(Buffer.from('nonsense'))).toThrow(AuthError);
    const challenge = acc.accept(neg).token!;
    expect(() => acc.accept(neg)).toThrow(expect.objectContaining({ status: SEC_E_INVALID_TOKEN }));
    expect(() => ini.step(Buffer.from('NTLMSSP\0\x02\0\0\0', 'latin1'))).toThrow(AuthError);
    expect(challenge.length).toBeGreaterThan(56);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(400), (noise, cut) => {
        // Random bytes, and a real NEGOTIATE / AUTHENTICATE corrupted and truncated.
        for (const tok of [Buffer.from(noise), Buffer.concat([neg.subarray(0, 12), Buffer.from(noise)]).subarray(0, cut)]) {
          const a = new NtlmAcceptor(store);
          try {
            a.accept(tok);
          } catch (e) {
            if (!(e instanceof AuthError)) throw e;
          }
        }
      }),
      { numRuns: 300 },
    );
    // Corrupted AUTHENTICATE messages.
    const good = new NtlmInitiator({ user: 'alice', password: PASSWORD }, 5);
    const a2 = new NtlmAcceptor(store);
    const ch = a2.accept(good.start()).token!;
    const auth = good.step(ch).token!;
    fc.assert(
      fc.property(fc.nat(auth.length - 1), fc.integer({ min: 1, max: 255 }), fc.nat(auth.length), (pos, x, cut) => {
        const t = Buffer.from(auth);
        t[pos]! ^= x;
        for (const tok of [t, t.subarray(0, cut)]) {
          const a = new NtlmAcceptor(store, { serverChallenge: () => decodeChallenge(ch).serverChallenge });
          a.accept(neg);
          try {
            a.accept(tok);
          } catch (e) {
            if (!(e instanceof AuthError)) throw e;
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('credential store and parsers', () => {
  it('parseUserSpec', () => {
    expect(parseUserSpec('DOMAIN\\user:pa:ss')).toEqual({ domain: 'DOMAIN', user: 'user', password: 'pa:ss' });
    expect(parseUserSpec('DOMAIN/user')).toEqual({ domain: 'DOMAIN', user: 'user' });
    expect(parseUserSpec('user@corp.example:pw')).toEqual({ domain: 'corp.example', user: 'user', password: 'pw' });
    expect(parseUserSpec('user:')).toEqual({ user: 'user', password: '' });
    expect(parseUserSpec('')).toEqual({ user: '' });
    expect(clientCredentialsFromSpec('LAB\\bob:pw', { ntlm: 'v1' })).toEqual({ user: 'bob', domain: 'LAB', password: 'pw', ntlm: 'v1' });
    expect(accountFromSpec('alice:pw', ['Administrators'])).toEqual({ user: 'alice', password: 'pw', groups: ['Administrators'] });
  });

  it('parseCredentialConfig accepts the documented shape and rejects bad input without echoing secrets', () => {
    const cfg = parseCredentialConfig({
      accounts: [
        { user: 'alice', password: 'pw', groups: ['Administrators'] },
        { user: 'bob', domain: 'CORP', ntHash: NTOWFv1('x').toString('hex') },
      ],
      guest: true,
      allowAnonymous: false,
      serverName: 'xpbox',
    });
    const store = new CredentialStore(cfg);
    expect(store.size).toBe(2);
    expect(store.guest).toBe(true);
    expect(store.allowAnonymous).toBe(false);
    expect(store.serverName).toBe('XPBOX');
    expect(store.ntHashFor('ALICE', '.')).toEqual(NTOWFv1('pw'));
    expect(store.ntHashFor('bob', 'corp')).toEqual(NTOWFv1('x'));
    expect(store.ntHashFor('nobody')).toBeUndefined();
    const bad = [
      [],
      { accounts: [], mirrored: 1 },
      { accounts: {} },
      { accounts: [{ user: '' }] },
      { accounts: [{ user: 'a' }] },
      { accounts: [{ user: 'a', ntHash: 'zz-super-secret-zz' }] },
      { accounts: [{ user: 'a', password: 5 }] },
      { accounts: [], guest: 'yes' },
    ];
    for (const b of bad) {
      let err: unknown;
      try {
        parseCredentialConfig(b);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(CredentialConfigError);
      expect((err as Error).message).not.toContain('super-secret');
    }
  });

  it('mirrored (workgroup) accounts: an unknown domain finds the local account of that name, a known one does not', () => {
    const accounts = [{ user: 'alice', password: 'pw' }, { user: 'bob', domain: 'CORP', password: 'x' }];
    const plain = new CredentialStore({ accounts });
    const mirrored = new CredentialStore(parseCredentialConfig({ accounts, mirrored: true }));
    // XPCLIENT\alice: a workgroup client names its own machine as the domain.
    expect(plain.ntHashFor('alice', 'XPCLIENT')).toBeUndefined();
    expect(mirrored.ntHashFor('alice', 'XPCLIENT')).toEqual(NTOWFv1('pw'));
    // CORP is a domain the store knows: only its own accounts answer for it.
    expect(mirrored.ntHashFor('alice', 'CORP')).toBeUndefined();
    expect(mirrored.ntHashFor('bob', 'CORP')).toEqual(NTOWFv1('x'));
    // A domain account is not a local one: bob under another domain stays unknown.
    expect(mirrored.ntHashFor('bob', 'XPCLIENT')).toBeUndefined();
  });
});
