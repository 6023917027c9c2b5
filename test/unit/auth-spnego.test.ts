// SPNEGO wrapping NTLM: the DER codec (round trips, bounds, only DerError on bad input), the
// tokens, SpnegoInitiator <-> SpnegoAcceptor at INTEGRITY and PRIVACY, and the exact place of
// the mechListMIC in NTLM's sequence numbers and RC4 state (MS-SPNG 3.3.5.1).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AuthError } from '../../src/base/errors';
import { RPC_C_AUTHN_LEVEL_PKT_INTEGRITY, RPC_C_AUTHN_LEVEL_PKT_PRIVACY, SEC_E_MESSAGE_ALTERED } from '../../src/auth/constants';
import { CredentialStore } from '../../src/auth/credentials';
import { Rc4 } from '../../src/auth/crypto';
import { hmacMd5 } from '../../src/auth/crypto';
import { SIGNKEY, SEALKEY } from '../../src/auth/ntlm/keys';
import { NtlmInitiator } from '../../src/auth/ntlm/initiator';
import { NtlmAcceptor } from '../../src/auth/ntlm/acceptor';
import { decodeOid, DerError, derOid, oidValue, readTlv, children, derSequence, derOctetString, derContext, tlv } from '../../src/auth/spnego/der';
import {
  decodeSpnegoToken,
  encodeMechTypeList,
  encodeNegTokenInit,
  encodeNegTokenResp,
  NegState,
  OID_KRB5,
  OID_MS_KRB5,
  OID_NEGOEX,
  OID_NTLMSSP,
  type NegTokenInit,
  type NegTokenResp,
} from '../../src/auth/spnego/tokens';
import { SpnegoAcceptor } from '../../src/auth/spnego/acceptor';
import { SpnegoInitiator } from '../../src/auth/spnego/initiator';
import type { ClientCredentials } from '../../src/auth/types';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const STORE = { serverName: 'XPBOX', accounts: [{ user: 'alice', password: 'pw1!', groups: ['Administrators'] }] };

describe('DER', () => {
  it('OIDs round-trip, including large arcs', () => {
    for (const oid of [OID_NTLMSSP, OID_MS_KRB5, OID_KRB5, OID_NEGOEX, '1.3.6.1.5.5.2', '2.999.3', '0.0']) {
      expect(decodeOid(oidValue(oid))).toBe(oid);
    }
    expect(derOid(OID_NTLMSSP)).toEqual(hex('06 0a 2b 06 01 04 01 82 37 02 02 0a'));
    expect(derOid(OID_MS_KRB5)).toEqual(hex('06 09 2a 86 48 82 f7 12 01 02 02'));
  });

  it('long lengths encode and decode', () => {
    const big = Buffer.alloc(300, 7);
    const t = derOctetString(big);
    expect(t.subarray(0, 4)).toEqual(hex('04 82 01 2c'));
    const r = readTlv(t, 0);
    expect(r.value).toEqual(big);
    expect(r.end).toBe(t.length);
  });

  it('bounds: truncated, overlong, indefinite and multi-byte tags are DerError', () => {
    expect(() => readTlv(hex('04 05 01 02'), 0)).toThrow(DerError);
    expect(() => readTlv(hex('04 80 00 00'), 0)).toThrow(/indefinite/);
    expect(() => readTlv(hex('04 85 01 02 03 04 05'), 0)).toThrow(DerError);
    expect(() => readTlv(hex('1f 01 00'), 0)).toThrow(DerError);
    expect(() => readTlv(hex('30'), 0)).toThrow(DerError);
    // A child running past its parent's end.
    const parent = readTlv(hex('30 03 04 05 00 00 00 00 00'), 0);
    expect(() => children(parent)).toThrow(DerError);
  });

  it('decoding anything throws nothing but DerError', () => {
    const real = encodeNegTokenInit({ mechTypes: [OID_MS_KRB5, OID_NTLMSSP], mechToken: Buffer.from('NTLMSSP\0xyz', 'latin1') });
    const resp = encodeNegTokenResp({ negState: NegState.AcceptIncomplete, supportedMech: OID_NTLMSSP, responseToken: Buffer.alloc(40, 1), mechListMIC: Buffer.alloc(16, 2) });
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(300), fc.nat(255), (noise, pos, x) => {
        const tries: Buffer[] = [Buffer.from(noise), Buffer.concat([hex('60'), Buffer.from(noise)]), Buffer.concat([hex('a1'), Buffer.from(noise)])];
        for (const base of [real, resp]) {
          const m = Buffer.from(base);
          m[pos % m.length] = x;
          tries.push(m, base.subarray(0, pos % base.length));
        }
        for (const t of tries) {
          try {
            decodeSpnegoToken(t);
          } catch (e) {
            if (!(e instanceof DerError)) throw e;
          }
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('SPNEGO tokens', () => {
  it('negTokenInit round trip keeps the MechTypeList bytes', () => {
    const tok = encodeNegTokenInit({ mechTypes: [OID_NTLMSSP], mechToken: Buffer.from('abc') });
    // GSS-API InitialContextToken: 60 len 06 06 2b0601050502 a0 ...
    expect(tok.subarray(0, 2)).toEqual(hex('60 23')); // 8 (OID) + 2 + 25 (negTokenInit SEQUENCE)
    expect(tok.length).toBe(0x25);
    expect(tok.subarray(2, 10)).toEqual(hex('06 06 2b 06 01 05 05 02'));
    const d = decodeSpnegoToken(tok) as NegTokenInit;
    expect(d).toMatchObject({ kind: 'init', mechTypes: [OID_NTLMSSP], mechToken: Buffer.from('abc'), gssWrapped: true });
    expect(d.mechTypesDer).toEqual(encodeMechTypeList([OID_NTLMSSP]));
    expect(d.mechTypesDer).toEqual(hex('30 0c 06 0a 2b 06 01 04 01 82 37 02 02 0a'));
  });

  it('negTokenResp round trip, and NegTokenInit2 negHints vs mechListMIC at [3]/[4]', () => {
    const r = { negState: NegState.RequestMic, supportedMech: OID_NTLMSSP, responseToken: Buffer.from('tok'), mechListMIC: Buffer.alloc(16, 9) };
    expect(decodeSpnegoToken(encodeNegTokenResp(r))).toEqual({ kind: 'resp', ...r });
    // NegTokenInit2 (MS-SPNG 2.2.1): [3] negHints SEQUENCE { hintName [0] GeneralString }, [4] mechListMIC.
    const hints = derContext(3, derSequence(derContext(0, tlv(0x1b, Buffer.from('not_defined_in_RFC4178@please_ignore')))));
    const init2 = derContext(0, derSequence(derContext(0, encodeMechTypeList([OID_NTLMSSP])), hints, derContext(4, derOctetString(Buffer.from('mic')))));
    const d = decodeSpnegoToken(init2) as NegTokenInit;
    expect(d).toMatchObject({ kind: 'init', gssWrapped: false, mechTypes: [OID_NTLMSSP], mechListMIC: Buffer.from('mic') });
  });
});

function spnegoExchange(creds: ClientCredentials, level: number) {
  const ini = new SpnegoInitiator(creds, level);
  const acc = new SpnegoAcceptor(new CredentialStore(STORE));
  const t1 = ini.start();
  const r1 = acc.accept(t1);
  const s1 = ini.step(r1.token!);
  const r2 = acc.accept(s1.token!);
  const s2 = ini.step(r2.token!);
  return { ini, acc, t1, r1, s1, r2, s2 };
}

describe('SpnegoInitiator <-> SpnegoAcceptor', () => {
  for (const [name, creds] of [
    ['NTLMv2', { user: 'alice', password: 'pw1!' }],
    ['NTLM2', { user: 'alice', password: 'pw1!', ntlm: 'ntlm2' }],
    ['NTLMv1', { user: 'alice', password: 'pw1!', ntlm: 'v1' }],
    ['anonymous', { user: '' }],
  ] as Array<[string, ClientCredentials]>) {
    for (const level of [RPC_C_AUTHN_LEVEL_PKT_INTEGRITY, RPC_C_AUTHN_LEVEL_PKT_PRIVACY]) {
      it(`${name} at level ${level}: four legs, mechListMICs both ways, sessions interoperate`, () => {
        const { ini, acc, t1, r1, s1, r2, s2 } = spnegoExchange(creds, level);
        expect(ini.authType).toBe(9);
        const init = decodeSpnegoToken(t1) as NegTokenInit;
        expect(init.mechTypes).toEqual([OID_NTLMSSP]);
        expect(init.mechToken!.subarray(0, 8).toString('latin1')).toBe('NTLMSSP\0');
        const resp1 = decodeSpnegoToken(r1.token!) as NegTokenResp;
        expect(resp1).toMatchObject({ negState: NegState.AcceptIncomplete, supportedMech: OID_NTLMSSP });
        expect(resp1.responseToken!.readUInt32LE(8)).toBe(2);
        expect(s1).toMatchObject({ leg: 'alter_context', done: false });
        const resp2 = decodeSpnegoToken(s1.token!) as NegTokenResp;
        expect(resp2.responseToken!.readUInt32LE(8)).toBe(3);
        expect(resp2.mechListMIC).toHaveLength(16);
        expect(r2.done).toBe(true);
        expect(r2.identity!.ntlmFlavour).toBe(creds.user === '' ? 'anonymous' : (creds.ntlm ?? 'v2'));
        const fin = decodeSpnegoToken(r2.token!) as NegTokenResp;
        expect(fin.negState).toBe(NegState.AcceptCompleted);
        expect(fin.mechListMIC).toHaveLength(16);
        expect(s2).toEqual({ leg: 'none', done: true });
        expect(ini.serverMicVerified).toBe(true);
        expect(acc.clientMicVerified).toBe(true);

        const cs = ini.session();
        const ss = acc.session();
        const privacy = level === RPC_C_AUTHN_LEVEL_PKT_PRIVACY;
        for (let i = 0; i < 3; i++) {
          const m = Buffer.from(`message ${i}`);
          if (privacy) {
            const a = cs.seal(m);
            expect(ss.unseal(a.sealed, a.signature)).toEqual({ plaintext: m, ok: true });
            const b = ss.seal(m);
            expect(cs.unseal(b.sealed, b.signature)).toEqual({ plaintext: m, ok: true });
          } else {
            expect(ss.verify(m, cs.sign(m))).toBe(true);
            expect(cs.verify(m, ss.sign(m))).toBe(true);
          }
        }
        const sig = cs.sign(Buffer.from('x'));
        expect(ss.verify(Buffer.from('y'), sig)).toBe(false);
      });
    }
  }

  it('the mechListMIC takes SeqNum 0 and the first RPC message SeqNum 1, with the RC4 state the mechListMIC started from', () => {
    const { ini, s1, r2 } = spnegoExchange({ user: 'alice', password: 'pw1!' }, RPC_C_AUTHN_LEVEL_PKT_INTEGRITY);
    const key = ini.ntlm.exportedSessionKey;
    const flags = ini.ntlm.negotiatedFlags;
    const der = encodeMechTypeList([OID_NTLMSSP]);
    // Independent computation of MS-NLMP 3.4.4.2 with KEY_EXCH: RC4(handle, HMAC_MD5(SignKey, SeqNum || msg)[0..7]).
    const expected = (mode: 'client' | 'server', seq: number, msg: Buffer, handle: Rc4) => {
      const s = Buffer.alloc(4);
      s.writeUInt32LE(seq);
      const cs = handle.update(hmacMd5(SIGNKEY(flags, key, mode)!, s, msg).subarray(0, 8));
      return Buffer.concat([hex('01000000'), cs, s]);
    };
    const clientMic = (decodeSpnegoToken(s1.token!) as NegTokenResp).mechListMIC!;
    expect(clientMic).toEqual(expected('client', 0, der, new Rc4(SEALKEY(flags, key, 'client'))));
    const serverMic = (decodeSpnegoToken(r2.token!) as NegTokenResp).mechListMIC!;
    expect(serverMic).toEqual(expected('server', 0, der, new Rc4(SEALKEY(flags, key, 'server'))));
    // First request: SeqNum 1, and a *fresh* RC4 handle (restored after the mechListMIC).
    const msg = Buffer.from('first request PDU');
    const sig = ini.session().sign(msg);
    expect(sig.readUInt32LE(12)).toBe(1);
    expect(sig).toEqual(expected('client', 1, msg, new Rc4(SEALKEY(flags, key, 'client'))));
    const notRestored = new Rc4(SEALKEY(flags, key, 'client'));
    notRestored.skip(8);
    expect(sig).not.toEqual(expected('client', 1, msg, notRestored));
  });

  it('Kerberos offered first (as Windows does): request-mic, then NTLM in the next legs', () => {
    const ini = new NtlmInitiator({ user: 'alice', password: 'pw1!' }, RPC_C_AUTHN_LEVEL_PKT_INTEGRITY);
    const acc = new SpnegoAcceptor(new CredentialStore(STORE));
    const mechTypes = [OID_MS_KRB5, OID_KRB5, OID_NEGOEX, OID_NTLMSSP];
    const krbToken = hex('6082 0010 06092a864886f712010202 0100 aabbccdd');
    const r1 = acc.accept(encodeNegTokenInit({ mechTypes, mechToken: krbToken }));
    expect(decodeSpnegoToken(r1.token!)).toEqual({ kind: 'resp', negState: NegState.RequestMic, supportedMech: OID_NTLMSSP });
    expect(acc.micRequired).toBe(true);
    const r2 = acc.accept(encodeNegTokenResp({ negState: NegState.AcceptIncomplete, responseToken: ini.start() }));
    const challenge = (decodeSpnegoToken(r2.token!) as NegTokenResp).responseToken!;
    const auth = ini.step(challenge).token!;
    // Without a mechListMIC the acceptor refuses (it asked for one).
    const acc2Attempt = () => acc.accept(encodeNegTokenResp({ negState: NegState.AcceptIncomplete, responseToken: auth }));
    expect(acc2Attempt).toThrow(expect.objectContaining({ status: SEC_E_MESSAGE_ALTERED }));
  });

  it('Kerberos offered first, completed with a mechListMIC over the four-mech list', () => {
    const ini = new NtlmInitiator({ user: 'alice', password: 'pw1!' }, RPC_C_AUTHN_LEVEL_PKT_INTEGRITY);
    const acc = new SpnegoAcceptor(new CredentialStore(STORE));
    const mechTypes = [OID_MS_KRB5, OID_KRB5, OID_NEGOEX, OID_NTLMSSP];
    acc.accept(encodeNegTokenInit({ mechTypes, mechToken: Buffer.from('kerberos-ish') }));
    const r2 = acc.accept(encodeNegTokenResp({ negState: NegState.AcceptIncomplete, responseToken: ini.start() }));
    const auth = ini.step((decodeSpnegoToken(r2.token!) as NegTokenResp).responseToken!).token!;
    const ctx = ini.securityContext();
    const mic = ctx.withPreservedCipherState(() => ctx.sign(encodeMechTypeList(mechTypes)));
    const r3 = acc.accept(encodeNegTokenResp({ negState: NegState.AcceptIncomplete, responseToken: auth, mechListMIC: mic }));
    expect(r3.done).toBe(true);
    expect(r3.identity!.user).toBe('alice');
    const fin = decodeSpnegoToken(r3.token!) as NegTokenResp;
    expect(fin.negState).toBe(NegState.AcceptCompleted);
    expect(ctx.withPreservedCipherState(() => ctx.verify(encodeMechTypeList(mechTypes), fin.mechListMIC!))).toBe(true);
  });

  it('a bad mechListMIC is refused in both directions', () => {
    const ini = new SpnegoInitiator({ user: 'alice', password: 'pw1!' }, 5);
    const acc = new SpnegoAcceptor(new CredentialStore(STORE));
    const s1 = ini.step(acc.accept(ini.start()).token!);
    const r = decodeSpnegoToken(s1.token!) as NegTokenResp;
    r.mechListMIC![6]! ^= 1;
    expect(() => acc.accept(encodeNegTokenResp(r))).toThrow(/mechListMIC does not verify/);

    const ini2 = new SpnegoInitiator({ user: 'alice', password: 'pw1!' }, 5);
    const acc2 = new SpnegoAcceptor(new CredentialStore(STORE));
    const fin = decodeSpnegoToken(acc2.accept(ini2.step(acc2.accept(ini2.start()).token!).token!).token!) as NegTokenResp;
    fin.mechListMIC![6]! ^= 1;
    expect(() => ini2.step(encodeNegTokenResp(fin))).toThrow(expect.objectContaining({ status: SEC_E_MESSAGE_ALTERED }));
  });

  it('a missing mechListMIC is refused when the NTLM AUTHENTICATE had a MIC', () => {
    const ini = new SpnegoInitiator({ user: 'alice', password: 'pw1!' }, 5);
    const acc = new SpnegoAcceptor(new CredentialStore(STORE));
    const s1 = ini.step(acc.accept(ini.start()).token!);
    const r = decodeSpnegoToken(s1.token!) as NegTokenResp;
    expect(() => acc.accept(encodeNegTokenResp({ responseToken: r.responseToken! }))).toThrow(/no mechListMIC/);
  });

  it('wrong password, no common mechanism, garbage: AuthError', () => {
    const ini = new SpnegoInitiator({ user: 'alice', password: 'nope' }, 5);
    const acc = new SpnegoAcceptor(new CredentialStore(STORE));
    const s1 = ini.step(acc.accept(ini.start()).token!);
    expect(() => acc.accept(s1.token!)).toThrow(expect.objectContaining({ status: 0xc000006d }));
    expect(() => new SpnegoAcceptor(new CredentialStore(STORE)).accept(encodeNegTokenInit({ mechTypes: [OID_KRB5] }))).toThrow(/no mechanism in common/);
    expect(() => new SpnegoAcceptor(new CredentialStore(STORE)).accept(hex('a1 03 30 01'))).toThrow(AuthError);
    expect(() => new SpnegoInitiator({ user: '' }, 5).step(hex('00'))).toThrow(AuthError);
  });

  it('raw NTLMSSP on auth type 9 is handled as NTLM', () => {
    const ini = new NtlmInitiator({ user: 'alice', password: 'pw1!' }, 5);
    const acc = new SpnegoAcceptor(new CredentialStore(STORE));
    const r = acc.accept(ini.start());
    expect(acc.rawNtlm).toBe(true);
    const done = acc.accept(ini.step(r.token!).token!);
    expect(done.identity!.user).toBe('alice');
    expect(acc.session().verify(Buffer.from('m'), ini.session().sign(Buffer.from('m')))).toBe(true);
  });

  it('NtlmAcceptor is what the SPNEGO acceptor wraps', () => {
    expect(new SpnegoAcceptor(new CredentialStore(STORE)).ntlm).toBeInstanceOf(NtlmAcceptor);
  });
});
