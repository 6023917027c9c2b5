// `dcomlab ping`, `activate` and `call` against `dcomlab serve`, both as a user runs them (the built
// command, real sockets). Expected values come from the server's own startup line (OXID, exporter
// port) and from the lab class's contract (Ping echoes, WhoAmI names the caller).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dcomlab, serve } from '../support/cli';

const HOST = '127.0.0.11';
const USER = ['--user', 'LAB\\alice', '--password', 'Secret1!'];

describe('dcomlab ping / activate / call', () => {
  let srv: ReturnType<typeof serve>;
  let port = '';
  let oxid = '';
  let exporterPort = '';
  beforeAll(async () => {
    srv = serve(['--host', HOST, '--resolver-port', '0', '--user', 'LAB\\alice:Secret1!'], {}, 2);
    const r = await srv.ready;
    expect(r.code, r.err).toBeNull();
    port = /endpoint mapper listening on [\d.]+:(\d+)/.exec(r.out)![1]!;
    const m = /object exporter listening on [\d.]+:(\d+) \(OXID (0x[0-9a-f]{16})/.exec(r.out)!;
    exporterPort = m[1]!;
    oxid = m[2]!;
  });
  afterAll(() => {
    srv?.p.kill('SIGTERM');
  });
  const run = (args: string[]) => dcomlab([...args, '--port', port]);

  it('ping: ServerAlive2 gives COM 5.7 and the resolver address', () => {
    const r = run(['ping', HOST, '--json']);
    expect(r.status, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as { comVersion: string; bindings: { stringBindings: unknown[] } };
    expect(j.comVersion).toBe('5.7');
    expect(j.bindings.stringBindings).toEqual([{ towerId: 7, networkAddr: HOST }]);
  });

  for (const method of ['create', 'activation', 'classobject']) {
    it(`activate --method ${method}: OXID, bindings, exporter level, per-interface HRESULTs`, () => {
      const r = run(['activate', HOST, 'CServer', ...USER, '--auth-level', 'privacy', '--method', method,
        '--iid', 'ICServer', '--iid', '{00000000-0000-0000-C000-000000000046}', '--iid', '11111111-2222-3333-4444-555555555555', '--json']);
      expect(r.status).toBe(1); // one interface missing: non-zero, but the rest is printed
      const j = JSON.parse(r.stdout) as {
        oxid: string; hresultName: string; exporter: { binding: string; authLevel: string };
        bindings: { stringBindings: { networkAddr: string }[] }; interfaces: { iid: string; hresultName: string; ipid?: string }[];
      };
      expect(j.oxid).toBe(oxid);
      expect(j.hresultName).toBe('S_OK 0x00000000');
      expect(j.bindings.stringBindings.map((b) => b.networkAddr)).toEqual([`${HOST}[${exporterPort}]`]);
      expect(j.exporter).toEqual({ binding: `${HOST}[${exporterPort}]`, authLevel: 'pkt_privacy' });
      expect(j.interfaces.map((i) => [i.iid, i.hresultName])).toEqual([
        ['737ef2d6-dcd1-44df-a320-8c9d344cc7a8', 'S_OK 0x00000000'],
        ['00000000-0000-0000-c000-000000000046', 'S_OK 0x00000000'],
        ['11111111-2222-3333-4444-555555555555', 'E_NOINTERFACE 0x80004002'],
      ]);
      expect(j.interfaces[0]!.ipid).toMatch(/^[0-9a-f-]{36}$/);
    });
  }

  it('activate prints a table a person can read', () => {
    const r = run(['activate', HOST, 'CServer', ...USER]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain(`OXID ${oxid}  COM 5.7  authnHint 4 (pkt)`);
    expect(r.stdout).toContain(`exporter: ${HOST}[${exporterPort}] at pkt`);
    expect(r.stdout).toMatch(/737ef2d6-dcd1-44df-a320-8c9d344cc7a8 {2}S_OK 0x00000000 {2}IPID [0-9a-f-]{36} {2}OID 0x[0-9a-f]{16}/);
  });

  it('call ping 41 echoes 41; whoami names the account, or ANONYMOUS LOGON without one', () => {
    const p = run(['call', HOST, 'ping', '41', ...USER]);
    expect(p.status, p.stderr).toBe(0);
    expect(p.stdout).toBe('Ping(41) = 41  S_OK 0x00000000\n');
    const w = run(['call', HOST, 'whoami', ...USER, '--auth-level', 'integrity', '--json']);
    expect(JSON.parse(w.stdout)).toEqual({ host: HOST, method: 'whoami', hresult: 0, hresultName: 'S_OK 0x00000000', result: 'LAB\\alice' });
    const anon = run(['call', HOST, 'whoami']);
    expect(anon.stdout).toBe('WhoAmI() = "NT AUTHORITY\\\\ANONYMOUS LOGON"  S_OK 0x00000000\n');
  });

  it('failures are one line with the status: unknown class, wrong password, bad arguments, no server', () => {
    const cls = run(['activate', HOST, '11111111-2222-3333-4444-555555555555', ...USER]);
    expect(cls.status).toBe(2);
    expect(cls.stderr).toMatch(/REGDB_E_CLASSNOTREG 0x80040154/);
    const pw = run(['call', HOST, 'whoami', '--user', 'LAB\\alice', '--password', 'wrong']);
    expect(pw.status).toBe(2);
    expect(pw.stderr).toMatch(/access_denied 0x00000005/);
    const bad = run(['activate', HOST, 'not-a-guid']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/CLSID must be a GUID/);
    const none = dcomlab(['ping', '127.0.0.1', '--port', '1']);
    expect(none.status).toBe(2);
    expect(none.stderr).toMatch(/rpc_s_server_unavailable 0x000006ba/);
    for (const r of [cls, pw, bad, none]) {
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
  });
});
