// Impacket's DCOM client (dcomrt.DCOMConnection, RPC_C_AUTHN_WINNT) against dcomlab's DCOM server over
// real loopback sockets, with tools/peers/dcom_lab_client.py. Impacket always reaches the resolver on port
// 135 of its target, so the server listens on 127.0.0.5:135 (127.0.0.1:135 may be Samba's) and the object
// exporter on a dynamic port of 127.0.0.5.
//
// Per level (PKT_PRIVACY, Impacket's default; CONNECT; PKT_INTEGRITY): CoCreateInstanceEx(CLSID_CServer,
// IID_ICServer) on 135, then on the exporter (Impacket binds it at PKT_INTEGRITY: authnHint 4) Ping(41),
// WhoAmI, ForwardCall (E_NOTIMPL), RemQueryInterface(IUnknown / ICServer) and RemRelease; ServerAlive2 and
// ResolveOxid2 on fresh unauthenticated connections to 135. A wrong password fails activation.
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithPeers, PEERS_DIR } from '../support/peers';
import { ALICE, captureLogger, WRONG_PASSWORD } from '../support/auth-lab';
import { serverAuthProvider, serverCredentials } from '../../src/cli/auth-options';
import { startDcomServer, type DcomServer } from '../../src/dcom/server';
import { CLSID_CServer, IID_ICServer } from '../../src/dcom/server/lab-class';
import { parseJson, python } from './helpers';

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

describeWithPeers(['impacket'], 'Impacket DCOMConnection against dcomlab DCOM server', () => {
  let s: DcomServer;
  beforeAll(async () => {
    const log = captureLogger('debug');
    s = await startDcomServer({ host: HOST, resolverPort: 135, auth: serverAuthProvider(serverCredentials([ALICE.spec])), logger: log.logger });
  });
  afterAll(async () => {
    await s?.stop();
  });

  for (const level of ['privacy', 'connect', 'integrity'] as const) {
    it(`activation and ICServer calls at ${level}`, async () => {
      const out = await client(['--user', ALICE.user, '--domain', ALICE.domain, '--password', ALICE.password, '--level', level]);
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
      // ForwardCall answers E_NOTIMPL; Impacket raises on the non-zero ErrorCode.
      expect(isErr(out.forward)).toBe(true);
      expect((out.forward as PyErr).code).toBe(0x80004001);
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
      const p2 = ok(out.ping2, 'ping2');
      expect(p2).toEqual({ setid: p1.setid, oids: [] });
      expect(s.oxidResolver.pingSets.get(BigInt(p1.setid))).toEqual(new Set());
      expect(ok(out.server_alive2, 'server_alive2').bindings).toEqual([{ tower: 7, addr: HOST }]);
      expect(ok(out.resolve_oxid2, 'resolve_oxid2').bindings).toEqual([{ tower: 7, addr: `${HOST}[${s.exporter.listeningPort}]` }]);
      expect(isErr(out.resolve_bad_oxid)).toBe(true);
      expect((out.resolve_bad_oxid as PyErr).code).toBe(0x776); // OR_INVALID_OXID
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
