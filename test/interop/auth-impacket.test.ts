// Impacket 0.10 (python3-impacket) as an authenticated DCE/RPC client of dcomlab's server, over real loopback
// sockets, with tools/peers/impacket_auth.py: RPC_C_AUTHN_WINNT (NTLM, auth type 10) at NONE (no verifier),
// CONNECT, PKT_INTEGRITY and PKT_PRIVACY, with Impacket's NTLMv2 and its NTLMv1 (USE_NTLMv2 = False; Impacket
// still asks for extended session security, so this is the NTLM2 session response) and plain NTLMv1 (ESS
// cleared from Impacket's NEGOTIATE).
//
// Each run: epm.hept_lookup on an authenticated association (the answer is the one registered endpoint), then
// WhoAmI on a second authenticated association: the handler returns ctx.auth, so the test sees the identity,
// level, auth type and auth_context_id the server attached to the call. A wrong password gets the fault
// rpc_s_access_denied on the first call at every level, and the server keeps serving.
//
// Also here: anonymous and guest-mapped logons (the allowAnonymous / guest options); NTLM inside SPNEGO (auth
// type 9) with tools/peers/spnego_ntlm_auth.py, which Impacket cannot do by itself; and Impacket against the
// built CLI, `dcomlab serve --user ... --config ... --log-level trace`, whose log must name no secret.
//
// Note: Impacket never checks a response's signature (rpcrt.py computes it and drops it), so at PKT_INTEGRITY
// Impacket proves dcomlab verifies Impacket's signatures, not the reverse; at PKT_PRIVACY Impacket decrypts the
// responses, which only works when dcomlab's sealing key and RC4 state are right.
import path from 'node:path';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithPeers, PEERS_DIR } from '../support/peers';
import {
  ALICE, BOB, FAULT_FLAGS_DNE, LEVEL, REGISTERED, RPC_S_ACCESS_DENIED, startAuthServer, WhoAmIIface, WRONG_PASSWORD,
  type AuthServer, type Who,
} from '../support/auth-lab';
import { epmLookup } from '../../src/rpc';
import { clientAuthFrom } from '../../src/cli/auth-options';
import { NTOWFv1 } from '../../src/auth/ntlm/keys';
import { parseJson, python, startCliServe, type CliServer } from './helpers';

const IMPACKET_AUTH_PY = path.join(PEERS_DIR, 'impacket_auth.py');
const SPNEGO_NTLM_AUTH_PY = path.join(PEERS_DIR, 'spnego_ntlm_auth.py');

type Level = 'none' | 'connect' | 'integrity' | 'privacy';
type Flavour = 'v2' | 'v1' | 'v1-no-ess';

interface PyError { error: string; code: number | null; last_pdu?: { ptype: number; flags: number; status?: number; reject_reason?: number } }
interface PyEpm { entries: Array<{ uuid: string; version: string; binding: string; annotation: string }> }
interface PyWho { who: string; level: number }
interface PyOut {
  level: number;
  ntlm: string;
  epm?: PyEpm | PyError;
  whoami?: PyWho | PyError;
  alter_whoami?: PyWho | PyError;
  reverse?: { n: number; max_count: number; reversed_ok: boolean; status: number; stub_len: number };
}

const isErr = (x: unknown): x is PyError => typeof x === 'object' && x !== null && 'error' in x;

async function impacket(o: {
  port: number; host?: string; level: Level; ntlm?: Flavour; user?: string; domain?: string; password?: string;
  whoami?: boolean; alter?: boolean; skipEpm?: boolean; reverse?: number;
}): Promise<PyOut> {
  const args = ['--host', o.host ?? '127.0.0.1', '--port', String(o.port), '--level', o.level, '--ntlm', o.ntlm ?? 'v2'];
  if (o.user !== undefined) args.push('--user', o.user, '--domain', o.domain ?? '', '--password', o.password ?? '');
  if (o.whoami) args.push('--whoami', WhoAmIIface.uuid);
  if (o.alter) args.push('--alter-whoami', WhoAmIIface.uuid);
  if (o.skipEpm) args.push('--skip-epm');
  if (o.reverse) args.push('--reverse', String(o.reverse));
  return parseJson<PyOut>(await python(IMPACKET_AUTH_PY, args, 60_000), `impacket_auth.py ${args.join(' ')}`);
}

const expectedEntry = (host: string) => ({
  uuid: REGISTERED.uuid, version: '1.0', binding: `ncacn_ip_tcp:${host}[${REGISTERED.port}]`, annotation: REGISTERED.annotation,
});

/** The flavour dcomlab's acceptor must report for each of Impacket's modes. */
const FLAVOUR: Record<Flavour, string> = { v2: 'v2', v1: 'ntlm2', 'v1-no-ess': 'v1' };

function expectOk<T>(x: T | PyError | undefined, what: string): T {
  if (x === undefined) throw new Error(`${what}: no result`);
  if (isErr(x)) throw new Error(`${what}: ${x.error} ${JSON.stringify(x.last_pdu ?? null)}`);
  return x;
}

function expectAccessDenied(x: unknown, what: string): void {
  expect(isErr(x), `${what} should fail, got ${JSON.stringify(x)}`).toBe(true);
  const e = x as PyError;
  expect(e.error, what).toContain('rpc_s_access_denied');
  // The fault itself: ptype 3, FIRST|LAST|DID_NOT_EXECUTE, status 5.
  expect(e.last_pdu, what).toEqual({ ptype: 3, flags: FAULT_FLAGS_DNE, status: RPC_S_ACCESS_DENIED });
}

describeWithPeers(['impacket'], 'Impacket (RPC_C_AUTHN_WINNT) against an in-process dcomlab server', () => {
  let s: AuthServer;
  beforeAll(async () => {
    s = await startAuthServer();
  });
  afterAll(async () => {
    await s?.stop();
  });

  it('NONE: no verifier; ept_lookup answers the registered endpoint and WhoAmI sees an unauthenticated call', async () => {
    const out = await impacket({ port: s.port, level: 'none', whoami: true });
    expect(expectOk(out.epm, 'epm').entries).toEqual([expectedEntry(s.host)]);
    expect(expectOk(out.whoami, 'whoami')).toEqual({ who: 'unauthenticated', level: LEVEL.none });
  });

  for (const level of ['connect', 'integrity', 'privacy'] as const) {
    for (const ntlm of ['v2', 'v1', 'v1-no-ess'] as const) {
      it(`${level.toUpperCase()} × Impacket ${ntlm}: ept_lookup works and WhoAmI sees LAB\\alice (${FLAVOUR[ntlm]})`, async () => {
        const out = await impacket({ port: s.port, level, ntlm, user: ALICE.user, domain: ALICE.domain, password: ALICE.password, whoami: true });
        expect(expectOk(out.epm, 'epm').entries).toEqual([expectedEntry(s.host)]);
        const w = expectOk(out.whoami, 'whoami');
        expect(w.level).toBe(LEVEL[level]);
        expect(JSON.parse(w.who) as Who).toEqual({
          tag: 0x600d, type: 10, level: LEVEL[level],
          // Impacket's auth_ctx_id: its presentation context id + 79231.
          contextId: 79231,
          user: 'alice', domain: 'LAB', workstation: '', anonymous: false, guest: false, ntlmFlavour: FLAVOUR[ntlm], groups: [],
        });
      });
    }
  }

  for (const level of ['integrity', 'privacy'] as const) {
    for (const ntlm of ['v2', 'v1', 'v1-no-ess'] as const) {
      it(`${level.toUpperCase()} × Impacket ${ntlm}: 10,000 bytes each way (several request and response fragments at max_frag 4280, each protected on its own)`, async () => {
        const out = await impacket({ port: s.port, level, ntlm, user: ALICE.user, domain: ALICE.domain, password: ALICE.password, whoami: true, skipEpm: true, reverse: 10_000 });
        expect(isErr(out.whoami), JSON.stringify(out.whoami)).toBe(false);
        // n, max_count, 10,000 bytes, status (10,000 is a multiple of 4: no pad).
        expect(out.reverse).toEqual({ n: 10_000, max_count: 10_000, reversed_ok: true, status: 0, stub_len: 10_012 });
      });
    }
  }

  it('an account from the config (LAB\\bob, with groups) at PRIVACY: the handler sees its groups', async () => {
    const out = await impacket({ port: s.port, level: 'privacy', user: BOB.user, domain: BOB.domain, password: BOB.password, whoami: true, skipEpm: true });
    const who = JSON.parse(expectOk(out.whoami, 'whoami').who) as Who;
    expect(who).toMatchObject({ user: 'bob', domain: 'LAB', level: LEVEL.privacy, groups: [...BOB.groups], ntlmFlavour: 'v2' });
  });

  it("Impacket's alter_ctx at PRIVACY (a second security context, auth_ctx_id 79232, on the epm association)", async () => {
    const out = await impacket({ port: s.port, level: 'privacy', user: ALICE.user, domain: ALICE.domain, password: ALICE.password, alter: true });
    expect(expectOk(out.epm, 'epm').entries).toEqual([expectedEntry(s.host)]);
    const who = JSON.parse(expectOk(out.alter_whoami, 'alter whoami').who) as Who;
    expect(who).toMatchObject({ tag: 0xa17e2, user: 'alice', level: LEVEL.privacy, contextId: 79232, ntlmFlavour: 'v2' });
  });

  for (const level of ['connect', 'integrity', 'privacy'] as const) {
    for (const ntlm of ['v2', 'v1'] as const) {
      it(`wrong password at ${level.toUpperCase()} (${ntlm}): the first call is faulted rpc_s_access_denied; the server keeps serving`, async () => {
        const before = s.log.lines.length;
        const bad = await impacket({ port: s.port, level, ntlm, user: ALICE.user, domain: ALICE.domain, password: WRONG_PASSWORD, whoami: true });
        expectAccessDenied(bad.epm, 'ept_lookup');
        expectAccessDenied(bad.whoami, 'WhoAmI');
        // The server says why (without the password).
        const failures = s.log.records().slice(before).filter((r) => r.msg === 'authentication failed');
        expect(failures.length).toBe(2);
        for (const f of failures) expect(String(f.reason)).toMatch(/wrong password for LAB\\alice/);
        // A good client right after, on the same server.
        const good = await impacket({ port: s.port, level, ntlm, user: ALICE.user, domain: ALICE.domain, password: ALICE.password, whoami: true });
        expect(expectOk(good.epm, 'epm after').entries).toEqual([expectedEntry(s.host)]);
        expect(JSON.parse(expectOk(good.whoami, 'whoami after').who)).toMatchObject({ user: 'alice', level: LEVEL[level] });
      });
    }
  }

  it('an unknown user is refused the same way', async () => {
    const bad = await impacket({ port: s.port, level: 'integrity', user: 'mallory', domain: 'LAB', password: ALICE.password, skipEpm: true, whoami: true });
    expectAccessDenied(bad.whoami, 'WhoAmI');
  });

  it("dcomlab's own client still works after all of that", async () => {
    const entries = await epmLookup(s.host, s.port, { auth: clientAuthFrom({ authLevel: 'privacy', user: 'LAB\\alice', password: ALICE.password }) });
    expect(entries.map((e) => e.annotation)).toEqual([REGISTERED.annotation]);
  });
});

// Anonymous (null session) and guest mapping (XP's ForceGuest), with the credential options `dcomlab serve`
// reads from its config (allowAnonymous, guest).
describeWithPeers(['impacket'], 'Impacket anonymous and guest-mapped logons against dcomlab', () => {
  let open: AuthServer;
  let strict: AuthServer;
  let guest: AuthServer;
  beforeAll(async () => {
    open = await startAuthServer();
    strict = await startAuthServer({ credentials: { allowAnonymous: false } });
    guest = await startAuthServer({ credentials: { guest: true } });
  });
  afterAll(async () => {
    await Promise.all([open?.stop(), strict?.stop(), guest?.stop()]);
  });

  for (const level of ['connect', 'integrity', 'privacy'] as const) {
    it(`anonymous (empty user and password) at ${level.toUpperCase()}: NT AUTHORITY\\ANONYMOUS LOGON by default`, async () => {
      const out = await impacket({ port: open.port, level, user: '', domain: '', password: '', whoami: true });
      expect(expectOk(out.epm, 'epm').entries).toEqual([expectedEntry(open.host)]);
      expect(JSON.parse(expectOk(out.whoami, 'whoami').who) as Who).toMatchObject({
        type: 10, level: LEVEL[level], user: '', domain: '', anonymous: true, guest: false, ntlmFlavour: 'anonymous',
      });
    });
  }

  it('allowAnonymous: false → the anonymous logon is refused: rpc_s_access_denied on the first call', async () => {
    const out = await impacket({ port: strict.port, level: 'integrity', user: '', domain: '', password: '', whoami: true, skipEpm: true });
    expectAccessDenied(out.whoami, 'WhoAmI');
    const good = await impacket({ port: strict.port, level: 'integrity', user: ALICE.user, domain: ALICE.domain, password: ALICE.password, whoami: true, skipEpm: true });
    expect(JSON.parse(expectOk(good.whoami, 'whoami').who)).toMatchObject({ user: 'alice' });
  });

  it('guest: true → a wrong password at CONNECT is mapped to DCOMLAB\\Guest (groups Guests)', async () => {
    const out = await impacket({ port: guest.port, level: 'connect', user: ALICE.user, domain: ALICE.domain, password: WRONG_PASSWORD, whoami: true, skipEpm: true });
    expect(JSON.parse(expectOk(out.whoami, 'whoami').who) as Who).toMatchObject({
      user: 'Guest', domain: 'DCOMLAB', guest: true, anonymous: false, groups: ['Guests'], level: LEVEL.connect,
    });
  });

  it('guest: true → at PKT_INTEGRITY the guest logon shares no key with the client: the first call is nca_s_fault_sec_pkt_error', async () => {
    const out = await impacket({ port: guest.port, level: 'integrity', user: 'nobody', domain: 'LAB', password: 'x', whoami: true, skipEpm: true });
    expect(isErr(out.whoami)).toBe(true);
    expect((out.whoami as PyError).last_pdu).toEqual({ ptype: 3, flags: FAULT_FLAGS_DNE, status: 0x721 });
  });
});

interface SpnegoOut {
  auth_type: number;
  level: number;
  bind_ack?: { negState: number; supportedMech_is_ntlmssp: boolean; auth_type: number; auth_level: number; auth_ctx_id: number; responseToken?: boolean };
  negotiate_resp?: { negState: number; responseToken: boolean };
  flags?: number;
  alter_resp?: { negState: number; mechListMIC: boolean };
  server_mic_ok?: boolean;
  epm?: { entries: Array<{ uuid: string; version: string; binding: string; annotation: string }>; status: number; signature_ok: boolean };
  whoami?: { who: string; level: number; signature_ok: boolean };
  reverse?: { n: number; reversed_ok: boolean; status: number; signature_ok: boolean; request_fragments: number; response_fragments: number };
  error?: string;
  last_pdu?: { ptype: number; flags: number; status?: number } | null;
}

async function spnegoClient(port: number, o: {
  level: 'integrity' | 'privacy'; ntlm?: 'v2' | 'v1'; password?: string; mic?: 'no' | 'bad'; reverse?: number; krb5First?: boolean;
}): Promise<SpnegoOut> {
  const args = ['--host', '127.0.0.1', '--port', String(port), '--user', ALICE.user, '--domain', ALICE.domain,
    '--password', o.password ?? ALICE.password, '--level', o.level, '--ntlm', o.ntlm ?? 'v2', '--whoami', WhoAmIIface.uuid];
  if (o.mic === 'no') args.push('--no-mic');
  if (o.mic === 'bad') args.push('--bad-mic');
  if (o.reverse) args.push('--reverse', String(o.reverse));
  if (o.krb5First) args.push('--krb5-first');
  return parseJson<SpnegoOut>(await python(SPNEGO_NTLM_AUTH_PY, args, 60_000), `spnego_ntlm_auth.py ${args.join(' ')}`);
}

// NTLM inside SPNEGO (auth type 9): Impacket 0.10 cannot be this client (its GSS_NEGOTIATE is Kerberos
// only), so tools/peers/spnego_ntlm_auth.py builds the exchange from Impacket's spnego/ntlm/rpcrt pieces
// over a plain socket, and checks every signature dcomlab sends (the server's mechListMIC, each response).
describeWithPeers(['impacket'], 'an NTLM-in-SPNEGO client built from Impacket pieces against dcomlab', () => {
  let s: AuthServer;
  beforeAll(async () => {
    s = await startAuthServer();
  });
  afterAll(async () => {
    await s?.stop();
  });

  for (const level of ['integrity', 'privacy'] as const) {
    for (const ntlm of ['v2', 'v1'] as const) {
      it(`${level.toUpperCase()} × ${ntlm}: bind/alter_context legs, mechListMICs, signed ept_lookup and WhoAmI`, async () => {
        const out = await spnegoClient(s.port, { level, ntlm });
        expect(out.error, JSON.stringify(out.last_pdu)).toBeUndefined();
        // bind_ack: accept-incomplete (1), NTLMSSP selected, the client's auth type/level/context id echoed.
        expect(out.bind_ack).toEqual({ negState: 1, supportedMech_is_ntlmssp: true, auth_type: 9, auth_level: LEVEL[level], auth_ctx_id: 0x5a5a });
        // alter_context_resp: accept-completed (0) with a mechListMIC that verifies under the server's keys.
        expect(out.alter_resp).toEqual({ negState: 0, mechListMIC: true });
        expect(out.server_mic_ok).toBe(true);
        expect(out.epm).toEqual({ entries: [expectedEntry('127.0.0.1')], status: 0, signature_ok: true });
        expect(out.whoami?.signature_ok).toBe(true);
        expect(JSON.parse(out.whoami!.who) as Who).toEqual({
          tag: 0x5e9, type: 9, level: LEVEL[level], contextId: 0x5a5a,
          user: 'alice', domain: 'LAB', workstation: '', anonymous: false, guest: false, ntlmFlavour: FLAVOUR[ntlm], groups: [],
        });
      });
    }
  }

  for (const level of ['integrity', 'privacy'] as const) {
    it(`${level.toUpperCase()}: 20,000 bytes each way: every request fragment verified by dcomlab, every response fragment here`, async () => {
      const out = await spnegoClient(s.port, { level, reverse: 20_000 });
      expect(out.error, JSON.stringify(out.last_pdu)).toBeUndefined();
      // max_xmit_frag 4280 (the bind's): 4,224 stub bytes per request fragment; dcomlab's responses likewise.
      expect(out.reverse).toEqual({ n: 20_000, reversed_ok: true, status: 0, signature_ok: true, request_fragments: 5, response_fragments: 5 });
    });
  }

  for (const level of ['integrity', 'privacy'] as const) {
    it(`${level.toUpperCase()}, Windows-style offer [MS KRB5, KRB5, NTLMSSP] + a Kerberos token: request-mic, NEGOTIATE in an alter_context, MICs both ways`, async () => {
      const out = await spnegoClient(s.port, { level, krb5First: true });
      expect(out.error, JSON.stringify(out.last_pdu)).toBeUndefined();
      // bind_ack: request-mic (3), NTLMSSP selected, no token (the optimistic Kerberos token is ignored).
      expect(out.bind_ack).toEqual({ negState: 3, supportedMech_is_ntlmssp: true, auth_type: 9, auth_level: LEVEL[level], auth_ctx_id: 0x5a5a, responseToken: false });
      expect(out.negotiate_resp).toEqual({ negState: 1, responseToken: true });
      expect(out.alter_resp).toEqual({ negState: 0, mechListMIC: true });
      expect(out.server_mic_ok).toBe(true);
      expect(out.epm?.signature_ok).toBe(true);
      expect(JSON.parse(out.whoami!.who) as Who).toMatchObject({ user: 'alice', type: 9, level: LEVEL[level] });
    });
  }

  it('Windows-style offer without a mechListMIC (required: NTLM was not the first choice): alter_context faulted rpc_s_access_denied', async () => {
    const before = s.log.lines.length;
    const out = await spnegoClient(s.port, { level: 'integrity', krb5First: true, mic: 'no' });
    expect(out.last_pdu).toEqual({ ptype: 3, flags: FAULT_FLAGS_DNE, status: RPC_S_ACCESS_DENIED });
    const why = s.log.records().slice(before).find((r) => r.msg === 'authentication failed');
    expect(String(why?.reason)).toMatch(/client sent no mechListMIC/);
  });

  it('no mechListMIC from the client (allowed: NTLM was its first choice, and no NTLM MIC): the server sends none either', async () => {
    const out = await spnegoClient(s.port, { level: 'integrity', mic: 'no' });
    expect(out.error).toBeUndefined();
    expect(out.alter_resp).toEqual({ negState: 0, mechListMIC: false });
    expect(out.epm?.signature_ok).toBe(true);
  });

  it('a mechListMIC that does not verify: the alter_context is faulted rpc_s_access_denied and the reason is logged', async () => {
    const before = s.log.lines.length;
    const out = await spnegoClient(s.port, { level: 'integrity', mic: 'bad' });
    expect(out.error).toMatch(/^alter_context \(AUTHENTICATE\)/);
    expect(out.last_pdu).toEqual({ ptype: 3, flags: FAULT_FLAGS_DNE, status: RPC_S_ACCESS_DENIED });
    const why = s.log.records().slice(before).find((r) => r.msg === 'authentication failed');
    expect(String(why?.reason)).toMatch(/mechListMIC does not verify/);
  });

  it('a wrong password: the alter_context carrying the AUTHENTICATE is faulted rpc_s_access_denied; the server keeps serving', async () => {
    const out = await spnegoClient(s.port, { level: 'privacy', password: WRONG_PASSWORD });
    expect(out.error).toMatch(/^alter_context \(AUTHENTICATE\)/);
    expect(out.last_pdu).toEqual({ ptype: 3, flags: FAULT_FLAGS_DNE, status: RPC_S_ACCESS_DENIED });
    const again = await spnegoClient(s.port, { level: 'privacy' });
    expect(again.error).toBeUndefined();
    expect(again.epm?.entries).toEqual([expectedEntry('127.0.0.1')]);
  });
});

describeWithPeers(['impacket'], 'Impacket against `dcomlab serve --user ... --config` (the built CLI, 127.0.0.21:1135)', () => {
  const HOST = '127.0.0.21';
  const PORT = 1135;
  let dir: string;
  let serve: CliServer | undefined;
  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'dcomlab-auth-serve-'));
    const config = path.join(dir, 'serve.json');
    writeFileSync(config, JSON.stringify({
      accounts: [{ user: BOB.user, domain: BOB.domain, password: BOB.password, groups: [...BOB.groups] }],
      endpoints: [{ interface: `${REGISTERED.uuid}:1.0`, port: REGISTERED.port, annotation: REGISTERED.annotation }],
    }));
    serve = await startCliServe(
      ['--host', HOST, '--epm-port', String(PORT), '--user', ALICE.spec, '--config', config, '--log-level', 'trace'],
      `dcomlab: endpoint mapper listening on ${HOST}:${PORT}\n`,
    );
  });
  afterAll(async () => {
    await serve?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  for (const level of ['connect', 'integrity', 'privacy'] as const) {
    it(`${level.toUpperCase()}: --user alice (v2) and config bob (v1) list the endpoint; a wrong password is access denied`, async () => {
      const [a, b, bad] = await Promise.all([
        impacket({ host: HOST, port: PORT, level, user: ALICE.user, domain: ALICE.domain, password: ALICE.password }),
        impacket({ host: HOST, port: PORT, level, ntlm: 'v1', user: BOB.user, domain: BOB.domain, password: BOB.password }),
        impacket({ host: HOST, port: PORT, level, user: BOB.user, domain: BOB.domain, password: WRONG_PASSWORD }),
      ]);
      expect(expectOk(a.epm, 'alice').entries).toEqual([expectedEntry(HOST)]);
      expect(expectOk(b.epm, 'bob').entries).toEqual([expectedEntry(HOST)]);
      expectAccessDenied(bad.epm, 'wrong password');
    });
  }

  it('the CLI (--log-level trace) logged who authenticated and the failures, and no password or NT hash', async () => {
    const lines = serve!.stderr().split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as { msg: string; user?: string; reason?: string });
    expect(lines.filter((l) => l.msg === 'authenticated').map((l) => l.user)).toEqual(expect.arrayContaining(['LAB\\alice', 'LAB\\bob']));
    expect(lines.filter((l) => l.msg === 'authentication failed').map((l) => l.reason)).toEqual([
      expect.stringMatching(/wrong password for LAB\\bob/), expect.stringMatching(/wrong password for LAB\\bob/), expect.stringMatching(/wrong password for LAB\\bob/),
    ]);
    const text = serve!.stderr();
    for (const pw of [ALICE.password, BOB.password, WRONG_PASSWORD]) {
      const h = NTOWFv1(pw).toString('hex');
      for (const form of [pw, h, h.toUpperCase(), NTOWFv1(pw).toString('base64')]) expect(text).not.toContain(form);
    }
  });
});
