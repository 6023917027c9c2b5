// Impacket's DCOM client (dcomrt.DCOMConnection, RPC_C_AUTHN_WINNT) against dcomlab's DCOM server over
// real loopback sockets, with tools/peers/dcom_lab_client.py. Impacket always reaches the resolver on port
// 135 of its target, so the server listens on 127.0.0.5:135 (127.0.0.1:135 may be Samba's) and the object
// exporter on a dynamic port of 127.0.0.5.
//
// Matrix: level (PKT_PRIVACY, Impacket's default; CONNECT; PKT_INTEGRITY) x NTLM (v2; "v1"). Each cell:
// CoCreateInstanceEx(CLSID_CServer, IID_ICServer) on 135, then on the exporter (Impacket binds it at
// PKT_INTEGRITY: authnHint 4) Ping(41), WhoAmI, ForwardCall(NULL) (E_POINTER), RemQueryInterface(IUnknown /
// ICServer) and RemRelease; ComplexPing (add the OID: new set), SimplePing on that set, ComplexPing (delete
// it) on the activation connection; ServerAlive2 and ResolveOxid2 on fresh unauthenticated connections to
// 135. A wrong password fails activation.
//
// "v1" is impacket.ntlm.USE_NTLMv2 = False. Impacket's NEGOTIATE then drops TARGET_INFO but still asks for
// NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY, and dcomlab grants it, so what arrives is NTLMv1 with
// extended session security, the NTLM2 session response: LmChallengeResponse = 8-byte client challenge +
// 16 zero bytes, NtChallengeResponse (24 bytes) = DESL(NT hash, MD5(server challenge || client
// challenge)[:8]), KeyExchangeKey = HMAC_MD5(MD4(NT hash), server challenge || client challenge), with
// KEY_EXCH. The server's Identity.ntlmFlavour is 'ntlm2' (never plain 'v1': Impacket cannot send that
// to a server that offers ESS); the test reads it from the server's "authenticated" log records.
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithPeers, PEERS_DIR } from '../support/peers';
import { ALICE, captureLogger, WRONG_PASSWORD, type CapturedLog } from '../support/auth-lab';
import { serverAuthProvider, serverCredentials } from '../../src/cli/auth-options';
import { startDcomServer, type DcomServer } from '../../src/dcom/server';
import { CLSID_CServer, IID_ICServer } from '../../src/dcom/server/lab-class';
import { parseJson, python } from './helpers';
import { serve } from '../support/cli';

const CLIENT_PY = path.join(PEERS_DIR, 'dcom_lab_client.py');
const HOST = '127.0.0.5';

interface PyErr { error: string; type: string; code: number | null }
type R<T> = T | PyErr;
interface PyOut {
  create: R<{ oxid: string; oid: string; ipid: string; ipidRemUnknown: string; bindings: { tower: number; addr: string }[]; exporter_level: number }>;
  ping?: R<{ echo: number; hr: number }>;
  whoami?: R<{ identity: string; hr: number }>;
  forward?: R<{ hr: number }>;
  qi_unknown?: R<{ ipid: string; oxid: string }>;
  qi_icserver?: R<{ ipid: string; oxid: string; ping: number }>;
  release?: R<{ hr: number }>;
  ping1?: R<{ setid: string; oids: string[] }>;
  simple_ping?: R<{ setid: string; error_status: number }>;
  ping2?: R<{ setid: string; oids: string[] }>;
  server_alive2?: R<{ bindings: { tower: number; addr: string }[] }>;
  resolve_oxid2?: R<{ bindings: { tower: number; addr: string }[] }>;
  resolve_bad_oxid?: R<{ bindings: unknown }>;
}

const isErr = (x: unknown): x is PyErr => typeof x === 'object' && x !== null && 'error' in x;
function ok<T>(x: R<T> | undefined, what: string): T {
  if (x === undefined) throw new Error(`${what}: no result`);
  if (isErr(x)) throw new Error(`${what}: ${x.type}: ${x.error}`);
  return x;
}

async function client(args: string[]): Promise<PyOut> {
  const all = ['--target', HOST, ...args];
  return parseJson<PyOut>(await python(CLIENT_PY, all, 90_000), `dcom_lab_client.py ${all.join(' ')}`);
}

type LogRecord = ReturnType<CapturedLog['records']>[number];

describeWithPeers(['impacket'], 'Impacket DCOMConnection against dcomlab DCOM server', () => {
  let s: DcomServer;
  let log: CapturedLog;
  beforeAll(async () => {
    log = captureLogger('debug');
    s = await startDcomServer({ host: HOST, resolverPort: 135, auth: serverAuthProvider(serverCredentials([ALICE.spec])), logger: log.logger });
  });
  afterAll(async () => {
    await s?.stop();
  });

  /** The server's log records written while `fn` ran (the tests of this file run one after another). */
  async function logged<T>(fn: () => Promise<T>): Promise<[T, LogRecord[]]> {
    const from = log.lines.length;
    const r = await fn();
    return [r, log.records().slice(from)];
  }

  const LEVEL_NAME = { privacy: 'pkt_privacy', connect: 'connect', integrity: 'pkt_integrity' } as const;
  const FLAVOUR = { v2: 'v2', v1: 'ntlm2' } as const;

  for (const level of ['privacy', 'connect', 'integrity'] as const) for (const ntlm of ['v2', 'v1'] as const) {
    it(`activation, ICServer calls and pings at ${level} with NTLM${ntlm}`, async () => {
      const [out, recs] = await logged(() =>
        client(['--user', ALICE.user, '--domain', ALICE.domain, '--password', ALICE.password, '--level', level, '--ntlm', ntlm]));
      const c = ok(out.create, 'create');
      expect(BigInt(c.oxid)).toBe(s.exporter.oxid);
      expect(c.ipidRemUnknown).toBe(s.exporter.ipidRemUnknown);
      expect(c.bindings).toEqual([{ tower: 7, addr: `${HOST}[${s.exporter.listeningPort}]` }]);
      expect(c.exporter_level).toBe(5); // authnHint 4 -> Impacket binds the exporter at PKT_INTEGRITY
      const e = s.exporter.ipidEntry(c.ipid);
      expect(e?.iid).toBe(IID_ICServer);
      expect(e?.object?.clsid).toBe(CLSID_CServer);
      expect(ok(out.ping, 'ping')).toEqual({ echo: 41, hr: 0 });
      expect(ok(out.whoami, 'whoami')).toEqual({ identity: 'LAB\\alice', hr: 0 });
      // ForwardCall(NULL) answers E_POINTER (nothing to call back); Impacket raises on the non-zero ErrorCode.
      expect(isErr(out.forward)).toBe(true);
      expect((out.forward as PyErr).code).toBe(0x80004003);
      const qu = ok(out.qi_unknown, 'qi_unknown');
      expect(s.exporter.ipidEntry(qu.ipid)?.iid).toBe('00000000-0000-0000-c000-000000000046');
      const qs = ok(out.qi_icserver, 'qi_icserver');
      expect(qs.ipid).toBe(c.ipid); // one IPID per (object, interface)
      expect(qs.ping).toBe(7);
      expect(ok(out.release, 'release').hr).toBe(0);
      // Impacket's keep-alive: ComplexPing adds the object's OID to a new set, then (after RemRelease) removes it.
      const p1 = ok(out.ping1, 'ping1');
      expect(p1.oids).toEqual([c.oid]);
      expect(p1.setid).not.toBe('0');
      expect(ok(out.simple_ping, 'simple_ping')).toEqual({ setid: p1.setid, error_status: 0 });
      const p2 = ok(out.ping2, 'ping2');
      expect(p2).toEqual({ setid: p1.setid, oids: [] });
      expect(s.oxidResolver.pingSets.get(BigInt(p1.setid))).toEqual(new Set());
      expect(ok(out.server_alive2, 'server_alive2').bindings).toEqual([{ tower: 7, addr: HOST }]);
      expect(ok(out.resolve_oxid2, 'resolve_oxid2').bindings).toEqual([{ tower: 7, addr: `${HOST}[${s.exporter.listeningPort}]` }]);
      expect(isErr(out.resolve_bad_oxid)).toBe(true);
      expect((out.resolve_bad_oxid as PyErr).code).toBe(0x776); // OR_INVALID_OXID

      // Server side: every authenticated association (activation, exporter, the ping connections) is
      // LAB\alice over NTLM (auth type 10) with the flavour Impacket was told to use; the activation and
      // ping connections at the requested level, the exporter at PKT_INTEGRITY.
      const auths = recs.filter((r) => r.msg === 'authenticated');
      const want = { authType: 'winnt', user: 'LAB\\alice', ntlm: FLAVOUR[ntlm] };
      const pick = (r: LogRecord) => ({ part: r.part, authType: r.authType, user: r.user, ntlm: r.ntlm, authLevel: r.authLevel });
      const resolverAuths = auths.filter((r) => r.part === 'resolver').map(pick);
      const exporterAuths = auths.filter((r) => r.part === 'exporter').map(pick);
      // Activation, ComplexPing, SimplePing, ComplexPing: IObjectExporter reconnects and rebinds each time.
      expect(resolverAuths).toEqual(Array(4).fill({ part: 'resolver', ...want, authLevel: LEVEL_NAME[level] }));
      expect(exporterAuths.length).toBeGreaterThan(0);
      for (const a of exporterAuths) expect(a).toEqual({ part: 'exporter', ...want, authLevel: 'pkt_integrity' });
      expect(auths.length).toBe(resolverAuths.length + exporterAuths.length);
      // SimplePing reached the resolver and was answered (not faulted).
      const simplePings = recs.filter((r) => r.part === 'resolver' && r.iface === 'IObjectExporter' && r.opnum === 1);
      expect(simplePings.map((r) => r.msg)).toContain('call done');
      expect(simplePings.map((r) => r.msg)).not.toContain('fault');
    }, 120_000);
  }

  it('an unregistered CLSID fails with REGDB_E_CLASSNOTREG', async () => {
    const out = await client(['--user', ALICE.user, '--domain', ALICE.domain, '--password', ALICE.password, '--clsid', '11111111-2222-3333-4444-555555555555', '--only-create']);
    expect(isErr(out.create)).toBe(true);
    expect((out.create as PyErr).code).toBe(0x80040154); // REGDB_E_CLASSNOTREG
  }, 60_000);

  it('a wrong password fails activation', async () => {
    const out = await client(['--user', ALICE.user, '--domain', ALICE.domain, '--password', WRONG_PASSWORD, '--only-create']);
    expect(isErr(out.create)).toBe(true);
    expect(JSON.stringify(out.create)).toMatch(/access_denied|ACCESS_DENIED/i);
  }, 60_000);
});

// Impacket as a plain DCOM client against `dcomlab serve --policy xp-sp2` (the built command, its own
// process): XP SP2's MachineLaunchRestriction lets Administrators launch and activate remotely and
// Everyone only locally, so a non-admin account's remote activation is E_ACCESSDENIED and an
// administrator's succeeds.
describeWithPeers(['impacket'], 'Impacket against dcomlab serve --policy xp-sp2', () => {
  let srv: ReturnType<typeof serve>;
  const BOSS = { user: 'boss', domain: 'LAB', password: 'Boss-Pass1!' };
  beforeAll(async () => {
    srv = serve(['--host', HOST, '--resolver-port', '135', '--policy', 'xp-sp2', '--user', ALICE.spec, '--admin', `LAB\\boss:${BOSS.password}`], {}, 2);
    const r = await srv.ready;
    expect(r.code, r.err).toBeNull();
  });
  afterAll(() => {
    srv?.p.kill('SIGTERM');
  });

  it('a non-admin account is denied activation with E_ACCESSDENIED', async () => {
    const out = await client(['--user', ALICE.user, '--domain', ALICE.domain, '--password', ALICE.password, '--only-create']);
    expect(isErr(out.create)).toBe(true);
    expect((out.create as PyErr).code).toBe(0x80070005);
  }, 60_000);

  it('an Administrators account activates and calls Ping', async () => {
    const out = await client(['--user', BOSS.user, '--domain', BOSS.domain, '--password', BOSS.password]);
    ok(out.create, 'create');
    expect(ok(out.ping, 'ping')).toEqual({ echo: 41, hr: 0 });
    expect(ok(out.whoami, 'whoami').identity).toBe('LAB\\boss');
  }, 60_000);
});
