// dcomlab's DCOM client against dcomlab's DCOM server over loopback sockets: activation by both
// methods, exporter binding at the hinted level, ORPC calls, IRemUnknown, OXID resolution and
// pinging, and the errors a caller sees. (Impacket's client against the same server is in
// test/interop/dcom-impacket.test.ts; this checks our client end to end.)
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ComError, DcomlabError } from '../../src/base/errors';
import { DcomClient, chooseBinding, parseNetworkAddr, type DcomAuth } from '../../src/dcom/client';
import { CLSID_CServer, ICServer, IID_ICServer, IID_IUnknown, startDcomServer, type DcomServer } from '../../src/dcom/server';
import { serverAuthProvider, serverCredentials } from '../../src/cli/auth-options';
import { ALICE, LEVEL, WRONG_PASSWORD, captureLogger } from '../support/auth-lab';
import { RpcServer } from '../../src/rpc/server';
import { dispatcherFor } from '../../src/rpc/typed';
import { IObjectExporter } from '../../src/dcom/interfaces/object-exporter';
import { buildDualStringArray } from '../../src/dcom/types';

const HOST = '127.0.0.1';
const auth = (level: number, password: string = ALICE.password): DcomAuth => ({
  credentials: { user: ALICE.user, domain: ALICE.domain, password }, level,
});

describe('string binding choice (MS-DCOM 2.2.19.3)', () => {
  const b = [
    { towerId: 7, networkAddr: 'SERVER[1025]' },
    { towerId: 7, networkAddr: '10.0.0.5[1025]' },
    { towerId: 0x1f, networkAddr: 'other' },
  ];
  it('prefers the binding naming the target, else the first', () => {
    expect(chooseBinding(b, '10.0.0.5')).toMatchObject({ host: '10.0.0.5', port: 1025 });
    expect(chooseBinding(b, '192.0.2.1')).toMatchObject({ host: 'SERVER', port: 1025 });
    expect(chooseBinding(b, '10.0.0.5', 'first')).toMatchObject({ host: 'SERVER', port: 1025 });
    expect(chooseBinding(b, '192.0.2.1', { host: '192.0.2.1' })).toMatchObject({ host: '192.0.2.1', port: 1025 });
    expect(() => chooseBinding(b, '192.0.2.1', 'target-only')).toThrow(/no string binding for 192\.0\.2\.1/);
    expect(() => chooseBinding([{ towerId: 0x1f, networkAddr: 'x' }], 'x')).toThrow(/no ncacn_ip_tcp/);
  });
  it('parses host[port] and refuses bad endpoints', () => {
    expect(parseNetworkAddr('127.0.0.5[49152]')).toEqual({ host: '127.0.0.5', port: 49152 });
    expect(parseNetworkAddr('127.0.0.5')).toEqual({ host: '127.0.0.5', port: undefined });
    expect(() => parseNetworkAddr('h[70000]')).toThrow(/not a TCP port/);
  });
});

describe('DcomClient against dcomlab serve', () => {
  let s: DcomServer;
  const clients: DcomClient[] = [];
  const client = (a: DcomAuth | undefined, extra = {}) => {
    const c = new DcomClient({ ...(a ? { auth: a } : {}), resolverPort: s.resolverPort, ...extra });
    clients.push(c);
    return c;
  };
  beforeAll(async () => {
    s = await startDcomServer({ host: HOST, resolverPort: 0, auth: serverAuthProvider(serverCredentials([ALICE.spec])) });
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await s?.stop();
  });

  it('ServerAlive2 reports COM 5.7 and the resolver address', async () => {
    const r = await client(undefined).serverAlive2(HOST);
    expect(r.comVersion).toEqual({ MajorVersion: 5, MinorVersion: 7 });
    expect(r.bindings.stringBindings).toEqual([{ towerId: 7, networkAddr: HOST }]);
  });

  for (const method of ['create', 'activation', 'classobject'] as const) {
    for (const [name, level] of [['connect', LEVEL.connect], ['integrity', LEVEL.integrity], ['privacy', LEVEL.privacy]] as const) {
      it(`activates CServer by ${method} at ${name} and calls Ping, WhoAmI, QueryInterface, Release`, async () => {
        const c = client(auth(level));
        const a = await c.activate(HOST, CLSID_CServer, [IID_ICServer, IID_IUnknown], method);
        expect(a.hr).toBe(0);
        expect(a.oxid.oxid).toBe(s.exporter.oxid);
        expect(a.oxid.ipidRemUnknown).toBe(s.exporter.ipidRemUnknown);
        expect(a.exporter.port).toBe(s.exporter.listeningPort);
        // The exporter's hint is PKT (4): a CONNECT client is raised to it, others keep their level.
        expect(a.exporter.level).toBe(Math.max(level, 4));
        const [srv, unk] = a.interfaces;
        expect(srv!.hr).toBe(0);
        expect(unk!.hr).toBe(0);
        const e = s.exporter.ipidEntry(srv!.iface!.ipid);
        expect(e?.iid).toBe(IID_ICServer);
        expect(e?.object?.clsid).toBe(CLSID_CServer);
        expect(srv!.iface!.oid).toBe(unk!.iface!.oid);

        const p = await srv!.iface!.invoke(ICServer, 'Ping', { value: 41 });
        expect(p.echo).toBe(41);
        const w = await srv!.iface!.invoke(ICServer, 'WhoAmI', {});
        expect(w.identity).toBe('LAB\\alice');

        const qi = await unk!.iface!.queryInterface([IID_ICServer, '11111111-2222-3333-4444-555555555555']);
        expect(qi[0]!.hr).toBe(0);
        expect(qi[0]!.iface!.ipid).toBe(srv!.iface!.ipid);
        expect(qi[1]!.hr).toBe(0x80004002); // E_NOINTERFACE
        expect((await qi[0]!.iface!.invoke(ICServer, 'Ping', { value: -7 })).echo).toBe(-7);

        expect(await srv!.iface!.addRef(2)).toBe(0);
        expect(await qi[0]!.iface!.release()).toBe(0);
        expect(await srv!.iface!.release()).toBe(0);
        expect(await unk!.iface!.release()).toBe(0);
        // Every reference released: the object left the exporter, and its IPID answers the fault
        // RPC_E_DISCONNECTED (MS-DCOM 3.1.1.5.4).
        expect(s.exporter.objectByOid(srv!.iface!.oid)).toBeUndefined();
        await expect(srv!.iface!.call(ICServer, 'Ping', { value: 1 })).rejects.toMatchObject({ status: 0x80010108 });
      });
    }
  }

  it('pings the OIDs it holds: ComplexPing adds them to a set on the server', async () => {
    const c = client(auth(LEVEL.integrity));
    const a = await c.activate(HOST, CLSID_CServer, [IID_ICServer]);
    const pinger = c.pinger(HOST, s.resolverPort)!;
    await pinger.tick();
    const setId = pinger.currentSetId;
    expect(setId).not.toBe(0n);
    expect(s.oxidResolver.pingSets.get(setId)).toEqual(new Set([a.interfaces[0]!.iface!.oid]));
    await pinger.tick(); // nothing changed: SimplePing
    expect(pinger.pings).toMatchObject({ complex: 1, simple: 1, failed: 0 });
    await a.interfaces[0]!.iface!.release();
    await pinger.tick(); // the release goes out as DelFromSet
    expect(s.oxidResolver.pingSets.get(setId)).toEqual(new Set());
  });

  it('resolves an OXID with ResolveOxid2, caches it, and names an unknown OXID', async () => {
    const c = client(auth(LEVEL.integrity));
    const info = await c.resolveOxid(HOST, s.exporter.oxid, s.resolverPort);
    expect(info.ipidRemUnknown).toBe(s.exporter.ipidRemUnknown);
    expect(info.comVersion).toEqual({ MajorVersion: 5, MinorVersion: 7 });
    expect(info.bindings.stringBindings).toEqual([{ towerId: 7, networkAddr: `${HOST}[${s.exporter.listeningPort}]` }]);
    expect(await c.resolveOxid(HOST, s.exporter.oxid, s.resolverPort)).toBe(info);
    const err = await c.resolveOxid(HOST, 0x0badn, s.resolverPort).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DcomlabError);
    expect((err as DcomlabError).status).toBe(0x776);
    expect(String(err)).toMatch(/OR_INVALID_OXID/);
  });

  it('an unregistered CLSID is a ComError with REGDB_E_CLASSNOTREG', async () => {
    const err = await client(auth(LEVEL.privacy)).activate(HOST, '11111111-2222-3333-4444-555555555555', [IID_ICServer]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ComError);
    expect((err as ComError).hresult).toBe(0x80040154);
    expect((err as Error).message).toMatch(/REGDB_E_CLASSNOTREG/);
  });

  it('a wrong password fails the activation with access denied', async () => {
    const err = await client(auth(LEVEL.privacy, WRONG_PASSWORD)).activate(HOST, CLSID_CServer, [IID_ICServer]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DcomlabError);
    expect((err as Error).message).toMatch(/access.denied/i);
  });

  it('an interface the class lacks comes back E_NOINTERFACE beside the others', async () => {
    const a = await client(auth(LEVEL.integrity)).activate(HOST, CLSID_CServer, ['11111111-2222-3333-4444-555555555555', IID_ICServer]);
    expect(a.interfaces.map((i) => i.hr)).toEqual([0x80004002, 0]);
    expect(a.hr).toBe(0);
  });
});

describe('string bindings of a server on several addresses, and announced addresses (NAT)', () => {
  it('lists every address served; the client picks the one it asked, and reaches the object there', async () => {
    const s = await startDcomServer({ hosts: ['127.0.0.1', '127.0.0.14'], resolverPort: 0 });
    const c = new DcomClient({ resolverPort: s.resolverPort, noPing: true });
    try {
      const port = s.exporter.listeningPort;
      expect(s.bindings.stringBindings.map((b) => b.networkAddr)).toEqual([`127.0.0.1[${port}]`, `127.0.0.14[${port}]`]);
      const a = await c.activate('127.0.0.14', CLSID_CServer, [IID_ICServer]);
      expect(a.exporter.binding).toBe(`127.0.0.14[${port}]`);
      expect((await a.interfaces[0]!.iface!.call(ICServer, 'Ping', { value: 3 })).echo).toBe(3);
    } finally {
      await c.close();
      await s.stop();
    }
  });

  it('announces public addresses instead, in the exporter bindings and the OBJREFs\' resolver address', async () => {
    const s = await startDcomServer({ host: '127.0.0.1', publicAddresses: ['192.0.2.7'], resolverPort: 0 });
    const c = new DcomClient({ resolverPort: s.resolverPort, noPing: true, bindingChoice: { host: '127.0.0.1' } });
    try {
      const port = s.exporter.listeningPort;
      expect(s.bindings.stringBindings).toEqual([{ towerId: 7, networkAddr: `192.0.2.7[${port}]` }]);
      const a = await c.activate('127.0.0.1', CLSID_CServer, [IID_ICServer]);
      const o = a.interfaces[0]!.objref!;
      expect('saResAddr' in o && o.saResAddr.stringBindings).toEqual([{ towerId: 7, networkAddr: `192.0.2.7[${s.resolverPort}]` }]);
      expect(a.exporter.binding).toBe(`127.0.0.1[${port}]`); // the client's override (behind the NAT)
      expect((await a.interfaces[0]!.iface!.call(ICServer, 'Ping', { value: 4 })).echo).toBe(4);
    } finally {
      await c.close();
      await s.stop();
    }
  });
});

describe('OXID resolution against a resolver without ResolveOxid2 (a pre-5.2 host)', () => {
  it('falls back to ResolveOxid on nca_s_op_rng_error and reports COM 5.1', async () => {
    const srv = new RpcServer();
    const calls: string[] = [];
    srv.addInterface(dispatcherFor(IObjectExporter, {
      ResolveOxid: (a) => {
        calls.push(`ResolveOxid ${a.pOxid.toString(16)}`);
        return {
          ppdsaOxidBindings: buildDualStringArray({ stringBindings: [{ towerId: 7, networkAddr: '127.0.0.1[4242]' }], securityBindings: [] }),
          pipidRemUnknown: '0000aaaa-0000-0000-0000-000000000001', pAuthnHint: 2, error_status: 0,
        };
      },
    }));
    const [addr] = await srv.listen({ host: '127.0.0.1', port: 0 });
    const c = new DcomClient({ resolverPort: addr!.port });
    try {
      const info = await c.resolveOxid('127.0.0.1', 0x1234n);
      expect(calls).toEqual(['ResolveOxid 1234']);
      expect(info).toMatchObject({ ipidRemUnknown: '0000aaaa-0000-0000-0000-000000000001', authnHint: 2, comVersion: { MajorVersion: 5, MinorVersion: 1 } });
      expect(info.bindings.stringBindings).toEqual([{ towerId: 7, networkAddr: '127.0.0.1[4242]' }]);
    } finally {
      await c.close();
      await srv.close();
    }
  });
});

describe('the DCOM client with NTLMv1 (and NTLMv1 with extended session security)', () => {
  for (const ntlm of ['v1', 'ntlm2'] as const) {
    for (const [name, level] of [['integrity', LEVEL.integrity], ['privacy', LEVEL.privacy]] as const) {
      it(`${ntlm} at ${name}: activation, Ping, WhoAmI, pinging; the server saw that flavour`, async () => {
        const log = captureLogger('debug');
        const s = await startDcomServer({ host: HOST, resolverPort: 0, auth: serverAuthProvider(serverCredentials([ALICE.spec])), logger: log.logger });
        const c = new DcomClient({ auth: { credentials: { user: ALICE.user, domain: ALICE.domain, password: ALICE.password, ntlm }, level }, resolverPort: s.resolverPort });
        try {
          const a = await c.activate(HOST, CLSID_CServer, [IID_ICServer]);
          const itf = a.interfaces[0]!.iface!;
          expect((await itf.invoke(ICServer, 'Ping', { value: 41 })).echo).toBe(41);
          expect((await itf.invoke(ICServer, 'WhoAmI', {})).identity).toBe('LAB\\alice');
          await c.pinger(HOST, s.resolverPort)!.tick();
          expect(c.pinger(HOST, s.resolverPort)!.pings).toMatchObject({ complex: 1, failed: 0 });
          const auths = log.records().filter((r) => r.msg === 'authenticated');
          expect(auths.length).toBeGreaterThanOrEqual(3); // activator, exporter, resolver (pings)
          for (const r of auths) expect(r).toMatchObject({ user: 'LAB\\alice', ntlm });
        } finally {
          await c.close();
          await s.stop();
        }
      });
    }
  }
});
