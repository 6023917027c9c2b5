// dcomlab's authenticated client against Samba 4.17's AD DC (127.0.0.1): the endpoint mapper at
// PKT_INTEGRITY and PKT_PRIVACY over NTLM (auth type 10) and SPNEGO/NTLM (auth type 9) with NTLMv2, as
// SAMDOM\labuser; the failures Samba answers (a wrong password, NTLMv1 which Samba refuses by policy:
// `ntlm auth = ntlmv2-only`), with Impacket getting the same answer from Samba; and SAMR at PKT_PRIVACY
// (SamrConnect + SamrEnumerateDomainsInSamServer, IDL subset in ./samr.ts) through dcomlab's ept_map.
//
// What Samba answers when authentication fails (seen here, and what these tests pin):
//   NTLM (auth3 leg): nothing to the auth3; the first request gets a fault nca_s_proto_error
//     (0x1c01000b, DID_NOT_EXECUTE) and the connection is closed;
//   SPNEGO (alter_context leg): the alter_context itself gets a fault nca_s_fault_sec_pkt_error (0x721).
// (dcomlab's server answers rpc_s_access_denied in both cases: see auth-impacket.test.ts.)
import { execFile } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { RpcFault } from '../../src/base/errors';
import { bindInterface, epmMap, RpcConnection } from '../../src/rpc';
import { clientAuthFrom } from '../../src/cli/auth-options';
import { describeWithPeers, PEERS_DIR, startSamba, type SambaPeer } from '../support/peers';
import { CLI, EPM_LIST_PY, parseJson, python, run, sortedRows, type ImpacketEntry, type Run } from './helpers';
import {
  MAXIMUM_ALLOWED, SAM_SERVER_ENUMERATE_DOMAINS, SAM_SERVER_LOOKUP_DOMAIN, samr, SAMR_UUID, STATUS_SUCCESS, unicodeString,
} from './samr';

const IMPACKET_AUTH_PY = path.join(PEERS_DIR, 'impacket_auth.py');
const SPNEGO_NTLM_AUTH_PY = path.join(PEERS_DIR, 'spnego_ntlm_auth.py');

const NCA_S_PROTO_ERROR = 0x1c01000b;
const NCA_S_FAULT_SEC_PKT_ERROR = 0x00000721;
const FAULT_FLAGS_DNE = 0x23;

interface CliEntry {
  object: string;
  annotation: string;
  iface?: { uuid: string; version: string; name?: string };
  binding?: string;
  protseq?: string;
}

/** The built CLI with extra environment (DCOMLAB_PASSWORD keeps the password off the command line). */
function cliEnv(args: string[], env: Record<string, string>, timeoutMs = 60_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8', env: { ...process.env, ...env } },
      (err, stdout, stderr) => {
        const e = err as (NodeJS.ErrnoException & { code?: number | string; signal?: NodeJS.Signals }) | null;
        resolve({ code: e ? (typeof e.code === 'number' ? e.code : null) : 0, signal: e?.signal ?? null, stdout, stderr });
      });
  });
}

const rowsOfCli = (es: CliEntry[]) => es.map((e) => [e.iface?.uuid ?? '', e.iface?.version ?? '', e.binding ?? '', e.protseq ?? '', e.annotation, e.object]);
const rowsOfImpacket = (es: ImpacketEntry[]) => es.map((e) => [e.uuid ?? '', e.version ?? '', e.binding ?? '', e.protseq ?? '', e.annotation, e.object]);

describeWithPeers(['samba', 'impacket'], 'dcomlab client authenticating to Samba 4.17 (127.0.0.1)', () => {
  let samba: SambaPeer;
  let theirs: ImpacketEntry[];
  let domainUser: string;
  beforeAll(async () => {
    samba = await startSamba();
    domainUser = `${samba.creds.domain}\\${samba.creds.user.user}`;
    theirs = parseJson<ImpacketEntry[]>(await python(EPM_LIST_PY, [samba.host]), 'epm_list.py');
  }, 240_000);
  afterAll(async () => {
    await samba?.stop();
  });

  for (const auth of ['ntlm', 'spnego'] as const) {
    for (const level of ['integrity', 'privacy'] as const) {
      it(`\`dcomlab epm lookup --auth ${auth} --auth-level ${level} --ntlm v2\` as SAMDOM\\labuser lists what Impacket lists`, async () => {
        const r = await cliEnv(
          ['epm', 'lookup', samba.host, '--auth', auth, '--auth-level', level, '--ntlm', 'v2', '--user', domainUser, '--json'],
          { DCOMLAB_PASSWORD: samba.creds.user.password },
        );
        expect(r.code, r.stderr).toBe(0);
        expect(r.stderr).toBe('');
        const ours = JSON.parse(r.stdout) as CliEntry[];
        expect(theirs.length).toBeGreaterThan(20);
        expect(sortedRows(rowsOfCli(ours))).toEqual(sortedRows(rowsOfImpacket(theirs)));
        expect(ours.some((e) => e.iface?.uuid === SAMR_UUID && e.protseq === 'ncacn_ip_tcp')).toBe(true);
      });
    }
  }

  it('the table form (no --json) at privacy over spnego, password on the command line, lists as many', async () => {
    const r = await run(process.execPath, [CLI, 'epm', 'lookup', samba.host, '--auth', 'spnego', '--auth-level', 'privacy',
      '--user', domainUser, '--password', samba.creds.user.password]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trimEnd().split('\n').at(-1)).toBe(`${theirs.length} endpoints`);
  });

  it("a wrong password: NTLM gets Samba's nca_s_proto_error on the first call, SPNEGO nca_s_fault_sec_pkt_error on the alter_context", async () => {
    const [ntlm, spnego, impNtlm, pySpnego] = await Promise.all([
      cliEnv(['epm', 'lookup', samba.host, '--auth', 'ntlm', '--auth-level', 'integrity', '--user', domainUser], { DCOMLAB_PASSWORD: 'Not-The-Password1' }),
      cliEnv(['epm', 'lookup', samba.host, '--auth', 'spnego', '--auth-level', 'privacy', '--user', domainUser], { DCOMLAB_PASSWORD: 'Not-The-Password1' }),
      python(IMPACKET_AUTH_PY, ['--host', samba.host, '--level', 'integrity', '--user', samba.creds.user.user, '--domain', samba.creds.domain, '--password', 'Not-The-Password1']),
      python(SPNEGO_NTLM_AUTH_PY, ['--host', samba.host, '--level', 'privacy', '--user', samba.creds.user.user, '--domain', samba.creds.domain, '--password', 'Not-The-Password1']),
    ]);
    expect(ntlm.code).toBe(2);
    expect(ntlm.stdout).toBe('');
    expect(ntlm.stderr.trim()).toBe('dcomlab: fault nca_s_proto_error 0x1c01000b');
    expect(spnego.code).toBe(2);
    expect(spnego.stderr.trim()).toBe('dcomlab: fault nca_s_fault_sec_pkt_error 0x00000721: alter_context refused');
    // What Samba sent, seen by two other clients.
    expect(parseJson<{ epm: { last_pdu: unknown } }>(impNtlm, 'impacket_auth.py').epm.last_pdu)
      .toEqual({ ptype: 3, flags: FAULT_FLAGS_DNE, status: NCA_S_PROTO_ERROR });
    expect(parseJson<{ last_pdu: unknown; error: string }>(pySpnego, 'spnego_ntlm_auth.py'))
      .toMatchObject({ error: expect.stringMatching(/^alter_context \(AUTHENTICATE\)/), last_pdu: { ptype: 3, flags: FAULT_FLAGS_DNE, status: NCA_S_FAULT_SEC_PKT_ERROR } });
    // The password is never echoed.
    for (const r of [ntlm, spnego]) expect(r.stdout + r.stderr).not.toContain('Not-The-Password1');
  });

  it('Samba 4.17 refuses NTLMv1 (ntlm auth = ntlmv2-only): --ntlm v1 and ntlm2 fail over NTLM and SPNEGO, as Impacket\'s v1 does', async () => {
    const param = await run('samba-tool', ['testparm', '--suppress-prompt', '--parameter-name=ntlm auth', '-s', samba.creds.smbConf]);
    expect(param.stdout.trim()).toBe('ntlmv2-only');
    const runs = await Promise.all(
      (['v1', 'ntlm2'] as const).flatMap((v) => (['ntlm', 'spnego'] as const).map(async (auth) => ({
        v, auth, r: await cliEnv(['epm', 'lookup', samba.host, '--auth', auth, '--auth-level', 'integrity', '--ntlm', v, '--user', domainUser],
          { DCOMLAB_PASSWORD: samba.creds.user.password }),
      }))),
    );
    for (const { v, auth, r } of runs) {
      expect(r.code, `${auth} ${v}: ${r.stdout}`).toBe(2);
      expect(r.stdout, `${auth} ${v}`).toBe('');
      expect(r.stderr.trim(), `${auth} ${v}`).toBe(auth === 'ntlm'
        ? 'dcomlab: fault nca_s_proto_error 0x1c01000b'
        : 'dcomlab: fault nca_s_fault_sec_pkt_error 0x00000721: alter_context refused');
    }
    const imp = parseJson<{ epm: { last_pdu: unknown } }>(
      await python(IMPACKET_AUTH_PY, ['--host', samba.host, '--level', 'integrity', '--ntlm', 'v1', '--user', samba.creds.user.user,
        '--domain', samba.creds.domain, '--password', samba.creds.user.password]), 'impacket_auth.py v1');
    expect(imp.epm.last_pdu).toEqual({ ptype: 3, flags: FAULT_FLAGS_DNE, status: NCA_S_PROTO_ERROR });
  });

  it('tools/peers/spnego_ntlm_auth.py (the SPNEGO client the dcomlab-server suite uses) is right: Samba accepts it at integrity and privacy', async () => {
    for (const level of ['integrity', 'privacy']) {
      const out = parseJson<{ error?: string; server_mic_ok?: boolean; epm?: { entries: unknown[]; status: number; signature_ok: boolean } }>(
        await python(SPNEGO_NTLM_AUTH_PY, ['--host', samba.host, '--level', level, '--user', samba.creds.user.user, '--domain', samba.creds.domain,
          '--password', samba.creds.user.password]), `spnego_ntlm_auth.py ${level}`);
      expect(out.error).toBeUndefined();
      expect(out.server_mic_ok).toBe(true);
      expect(out.epm?.signature_ok).toBe(true);
      expect(out.epm?.status).toBe(0);
      expect(out.epm?.entries.length).toBeGreaterThan(20);
    }
  });

  // ---- SAMR ----------------------------------------------------------------------------------------

  async function samrDomains(who: 'admin' | 'user', auth: 'ntlm' | 'spnego', desired: number, serverName: number | null) {
    const map = await epmMap(samba.host, { uuid: SAMR_UUID, version: 1 });
    expect(map.port).toBeGreaterThan(1024);
    const acct = who === 'admin' ? samba.creds.admin : samba.creds.user;
    const conn = await RpcConnection.connect(samba.host, map.port, {
      callTimeoutMs: 20_000,
      auth: clientAuthFrom({ authLevel: 'privacy', auth, user: `${samba.creds.domain}\\${acct.user}`, password: acct.password, ntlm: 'v2' }),
    });
    try {
      const c = await bindInterface(conn, samr);
      const sc = await c.call(samr.ops.SamrConnect, { ServerName: serverName, DesiredAccess: desired });
      expect(sc.status, `SamrConnect status 0x${sc.status.toString(16)}`).toBe(STATUS_SUCCESS);
      expect(sc.ServerHandle.uuid).not.toBe('00000000-0000-0000-0000-000000000000');
      const en = await c.call(samr.ops.SamrEnumerateDomainsInSamServer, { ServerHandle: sc.ServerHandle, EnumerationContext: 0, PreferedMaximumLength: 0xffffffff });
      expect(en.status, `SamrEnumerateDomainsInSamServer status 0x${en.status.toString(16)}`).toBe(STATUS_SUCCESS);
      const buf = en.Buffer!;
      expect(buf.EntriesRead).toBe(en.CountReturned);
      const names = (buf.Buffer ?? []).map((e) => unicodeString(e.Name));
      for (const e of buf.Buffer ?? []) {
        // RPC_UNICODE_STRING: Length is in bytes, no NUL counted.
        expect(e.Name.Length).toBe(unicodeString(e.Name).length * 2);
        expect(e.Name.MaximumLength).toBeGreaterThanOrEqual(e.Name.Length);
      }
      const closed = await c.call(samr.ops.SamrCloseHandle, { SamHandle: sc.ServerHandle });
      expect(closed.status).toBe(STATUS_SUCCESS);
      expect(closed.SamHandle.uuid).toBe('00000000-0000-0000-0000-000000000000');
      return { port: map.port, names };
    } finally {
      await conn.close();
    }
  }

  it('SAMR at PKT_PRIVACY as SAMDOM\\Administrator (NTLM): SamrConnect(null, 0x30) + EnumerateDomains → SAMDOM and BUILTIN', async () => {
    // 0x30: SAM_SERVER_ENUMERATE_DOMAINS | SAM_SERVER_LOOKUP_DOMAIN (MS-SAMR 2.2.1.3).
    const { names } = await samrDomains('admin', 'ntlm', SAM_SERVER_ENUMERATE_DOMAINS | SAM_SERVER_LOOKUP_DOMAIN, null);
    // Samba spells the builtin domain "BUILTIN" (Windows: "Builtin"); Impacket gets the same (next test).
    expect([...names].sort()).toEqual(['BUILTIN', 'SAMDOM']);
  });

  it('SAMR at PKT_PRIVACY as SAMDOM\\labuser (SPNEGO): SamrConnect(L"\\\\", MAXIMUM_ALLOWED) → the same two domains, as Impacket sees', async () => {
    const { names, port } = await samrDomains('user', 'spnego', MAXIMUM_ALLOWED, '\\'.charCodeAt(0));
    const imp = parseJson<{ domains: string[]; port: number }>(
      await python(path.join(PEERS_DIR, 'samr_check.py'), ['--creds', path.join(samba.dir, 'creds.json')]), 'samr_check.py');
    expect(imp.port).toBe(port);
    expect([...names].sort()).toEqual([...imp.domains].sort());
    expect(names.map((n) => n.toLowerCase()).sort()).toEqual(['builtin', 'samdom']);
  });

  it('SAMR with a wrong password at PKT_PRIVACY: the first call (SamrConnect) is faulted nca_s_proto_error', async () => {
    const map = await epmMap(samba.host, { uuid: SAMR_UUID, version: 1 });
    const conn = await RpcConnection.connect(samba.host, map.port, {
      callTimeoutMs: 20_000,
      auth: clientAuthFrom({ authLevel: 'privacy', auth: 'ntlm', user: domainUser, password: 'Not-The-Password1' }),
    });
    try {
      const c = await bindInterface(conn, samr);
      const err = await c.call(samr.ops.SamrConnect, { ServerName: null, DesiredAccess: 0x30 }).then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(RpcFault);
      expect((err as RpcFault).status).toBe(NCA_S_PROTO_ERROR);
    } finally {
      await conn.close();
    }
  });
});
