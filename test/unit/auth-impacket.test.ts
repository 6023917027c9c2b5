// Impacket's NTLM client against this project's NtlmAcceptor, without sockets: a small Python
// script makes the NEGOTIATE (ntlm.getNTLMSSPType1), then, given our CHALLENGE, the
// AUTHENTICATE (ntlm.getNTLMSSPType3) and prints Impacket's exported session key and a
// message it sealed with that key. The acceptor must verify the AUTHENTICATE, derive the same
// key, and unseal Impacket's message.
//
// Flavours: NTLMv2; NTLMv1 with ESS (use_ntlmv2=False: Impacket's NEGOTIATE always asks for
// ESS, so this is the NTLM2 session response); plain NTLMv1 (the same with ESS cleared from
// the NEGOTIATE before our acceptor and Impacket's type 3 see it). The sealing check is
// skipped for plain NTLMv1: Impacket's SEALKEY weakens the key to 56/40 bits without
// NTLMSSP_NEGOTIATE_LM_KEY, which MS-NLMP 3.4.5.3 does only with LM_KEY (or datagram), so
// Impacket and Windows-style peers do not agree on NTLMv1 sealing keys.
import { spawnSync } from 'node:child_process';
import { expect, it } from 'vitest';
import { describeWithPeers, IMPACKET_PYTHON } from '../support/peers';
import { CredentialStore } from '../../src/auth/credentials';
import { NtlmAcceptor } from '../../src/auth/ntlm/acceptor';
import { NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY } from '../../src/auth/ntlm/flags';
import { decodeAuthenticate } from '../../src/auth/ntlm/messages';


// Reads one JSON object on stdin, writes one on stdout. Hex everywhere.
const SCRIPT = String.raw`
import json, sys
from impacket import ntlm
from Cryptodome.Cipher import ARC4
req = json.loads(sys.stdin.read())
v2 = req['v2']
ntlm.USE_NTLMv2 = v2          # as asked; passed explicitly too (the default argument is bound at import)
if req['step'] == 1:
    t1 = ntlm.getNTLMSSPType1('IMPACKET-WS', '', signingRequired=True, use_ntlmv2=v2)
    print(json.dumps({'type1': t1.getData().hex()}))
else:
    t1 = ntlm.NTLMAuthNegotiate()
    t1.fromString(bytes.fromhex(req['type1']))
    t3, key = ntlm.getNTLMSSPType3(t1, bytes.fromhex(req['type2']), req['user'], req['password'], req['domain'], use_ntlmv2=v2)
    flags = t3['flags']
    out = {'type3': t3.getData().hex(), 'exportedSessionKey': key.hex(), 'flags': flags}
    if flags & ntlm.NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY:
        sign_key = ntlm.SIGNKEY(flags, key, 'Client')
        seal_key = ntlm.SEALKEY(flags, key, 'Client')
        handle = ARC4.new(seal_key).encrypt
        msg = b'sealed by impacket'
        sealed, sig = ntlm.SEAL(flags, sign_key, seal_key, msg, msg, 0, handle)
        out['sealed'] = sealed.hex()
        out['signature'] = sig.getData().hex()
    print(json.dumps(out))
`;

function py(req: Record<string, unknown>): Record<string, string> {
  const r = spawnSync(IMPACKET_PYTHON, ['-c', SCRIPT], { input: JSON.stringify(req), encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) throw new Error(`python failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, string>;
}

const STORE = { serverName: 'DCOMLAB', accounts: [{ user: 'Administrator', domain: 'LAB', password: 'Imp@cket-123', groups: ['Administrators'] }] };

// CI=true: fails without impacket; elsewhere skipped with a warning.
describeWithPeers(['impacket'], 'Impacket client -> NtlmAcceptor', () => {
  for (const c of [
    { name: 'NTLMv2', v2: true, stripEss: false, flavour: 'v2' },
    { name: 'NTLMv1 with ESS (NTLM2 session response)', v2: false, stripEss: false, flavour: 'ntlm2' },
    { name: 'NTLMv1', v2: false, stripEss: true, flavour: 'v1' },
  ]) {
    it(`${c.name}: verified, same exported session key`, () => {
      let type1 = Buffer.from(py({ step: 1, v2: c.v2 })['type1']!, 'hex');
      if (c.stripEss) {
        type1 = Buffer.from(type1);
        type1.writeUInt32LE((type1.readUInt32LE(12) & ~NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY) >>> 0, 12);
      }
      const acc = new NtlmAcceptor(new CredentialStore(STORE));
      const challenge = acc.accept(type1).token!;
      const out = py({ step: 3, v2: c.v2, type1: type1.toString('hex'), type2: challenge.toString('hex'), user: 'Administrator', password: 'Imp@cket-123', domain: 'LAB' });
      const type3 = Buffer.from(out['type3']!, 'hex');
      expect(decodeAuthenticate(type3).userName).toBe('Administrator');
      const r = acc.accept(type3);
      expect(r.done).toBe(true);
      expect(r.identity).toMatchObject({ user: 'Administrator', domain: 'LAB', ntlmFlavour: c.flavour, guest: false, groups: ['Administrators'] });
      expect(acc.exportedSessionKey.toString('hex')).toBe(out['exportedSessionKey']);
      if (out['sealed']) {
        const got = acc.session().unseal(Buffer.from(out['sealed'], 'hex'), Buffer.from(out['signature']!, 'hex'));
        expect(got).toEqual({ plaintext: Buffer.from('sealed by impacket'), ok: true });
      } else {
        expect(c.flavour).toBe('v1');
      }
    });

    it(`${c.name}: the wrong password is refused`, () => {
      const type1 = Buffer.from(py({ step: 1, v2: c.v2 })['type1']!, 'hex');
      const acc = new NtlmAcceptor(new CredentialStore(STORE));
      const challenge = acc.accept(type1).token!;
      const out = py({ step: 3, v2: c.v2, type1: type1.toString('hex'), type2: challenge.toString('hex'), user: 'Administrator', password: 'wrong', domain: 'LAB' });
      expect(() => acc.accept(Buffer.from(out['type3']!, 'hex'))).toThrow(expect.objectContaining({ status: 0xc000006d }));
    });
  }

  it(`anonymous`, () => {
    const type1 = Buffer.from(py({ step: 1, v2: true })['type1']!, 'hex');
    const acc = new NtlmAcceptor(new CredentialStore(STORE));
    const challenge = acc.accept(type1).token!;
    const out = py({ step: 3, v2: true, type1: type1.toString('hex'), type2: challenge.toString('hex'), user: '', password: '', domain: '' });
    const r = acc.accept(Buffer.from(out['type3']!, 'hex'));
    expect(r.identity).toMatchObject({ anonymous: true, ntlmFlavour: 'anonymous' });
    expect(acc.exportedSessionKey.toString('hex')).toBe(out['exportedSessionKey']);
    const got = acc.session().unseal(Buffer.from(out['sealed']!, 'hex'), Buffer.from(out['signature']!, 'hex'));
    expect(got.ok).toBe(true);
  });
});
