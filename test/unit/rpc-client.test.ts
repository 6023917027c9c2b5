// The RPC client against our own server on loopback: binds, typed calls, fragmentation both
// ways, calls in flight, timeouts, cancel, and typed errors with their status names.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as ndr from '../../src/ndr';
import { BindRejected, RpcFault } from '../../src/base/errors';
import { Status } from '../../src/base/status';
import {
  CallCancelled, ConnectionError, ContextRejected, EpmDatabase, RpcConnection, RpcServer,
  bindInterface, connectTo, dispatcherFor, epm, formatStringBinding, parseStringBinding, serveEndpointMapper, serveMgmt,
} from '../../src/rpc';

const ITest = ndr.iface('ITest', '6c1a1a1a-0000-4000-8000-00000000a001', 1, 0, {
  Echo: ndr.op(0, { in: { data: ndr.unique(ndr.conformantArray(ndr.u8)) }, out: { data: ndr.unique(ndr.conformantArray(ndr.u8)), status: ndr.errorStatus } }),
  Fail: ndr.op(1, { in: { code: ndr.u32 }, out: { status: ndr.errorStatus } }),
  Slow: ndr.op(2, { in: { ms: ndr.u32 }, out: { status: ndr.errorStatus } }),
});

let server: RpcServer;
let port: number;
const HOST = '127.0.0.1';

beforeAll(async () => {
  server = new RpcServer();
  const db = new EpmDatabase();
  serveEndpointMapper(server, db);
  serveMgmt(server);
  server.addInterface(
    dispatcherFor(ITest, {
      Echo: ({ data }) => ({ data, status: 0 }),
      Fail: ({ code }) => {
        throw new RpcFault(code);
      },
      Slow: ({ ms }, ctx) =>
        new Promise((resolve) => {
          const t = setTimeout(() => resolve({ status: 0 }), ms);
          ctx.signal.addEventListener('abort', () => clearTimeout(t));
        }),
    }),
  );
  [{ port }] = await server.listen({ host: HOST, port: 0 });
  db.registerTcp({ uuid: ITest.uuid, version: 1 }, HOST, port, 'ITest');
});

afterAll(async () => {
  await server.close();
});

describe('RPC client', () => {
  it('binds, alters context for a second interface and makes typed calls', async () => {
    const conn = await RpcConnection.connect(HOST, port);
    const t = await bindInterface(conn, ITest);
    const e = await bindInterface(conn, epm); // alter_context on the same association
    expect(e.ctxId).not.toBe(t.ctxId);
    const r = await t.call(ITest.ops.Echo, { data: Buffer.from('hello') });
    expect(r.data!.toString()).toBe('hello');
    expect(conn.maxXmitFrag).toBe(5840);
    expect(conn.secAddr).toBe(String(port));
    await conn.close();
  });

  it('fragments a large request and reassembles a large response', async () => {
    const conn = await RpcConnection.connect(HOST, port);
    const t = await bindInterface(conn, ITest);
    const big = Buffer.alloc(100_000);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 0xff;
    const r = await t.call(ITest.ops.Echo, { data: big });
    expect(r.data!.equals(big)).toBe(true);
    await conn.close();
  });

  it('keeps several calls in flight and matches answers by call id', async () => {
    const conn = await RpcConnection.connect(HOST, port);
    const t = await bindInterface(conn, ITest);
    const slow = t.call(ITest.ops.Slow, { ms: 150 });
    const fast = await Promise.all([1, 2, 3, 4].map((i) => t.call(ITest.ops.Echo, { data: Buffer.from([i]) })));
    expect(fast.map((x) => x.data![0])).toEqual([1, 2, 3, 4]);
    expect(conn.callsInFlight).toBe(1);
    expect((await slow).status).toBe(0);
    await conn.close();
  });

  it('raises a fault as RpcFault with the status and its name', async () => {
    const conn = await RpcConnection.connect(HOST, port);
    const t = await bindInterface(conn, ITest);
    const err = await t.call(ITest.ops.Fail, { code: Status.E_ACCESSDENIED }).catch((e) => e);
    expect(err).toBeInstanceOf(RpcFault);
    expect(err.status).toBe(0x80070005);
    expect(err.message).toContain('E_ACCESSDENIED 0x80070005');
    // The association is still usable after a fault.
    expect((await t.call(ITest.ops.Echo, { data: null })).status).toBe(0);
    await conn.close();
  });

  it('times out a call, tells the server (orphaned) and stays usable', async () => {
    const conn = await RpcConnection.connect(HOST, port);
    const t = await bindInterface(conn, ITest);
    const err = await t.call(ITest.ops.Slow, { ms: 5_000 }, { timeoutMs: 100 }).catch((e) => e);
    expect(err).toBeInstanceOf(CallCancelled);
    expect(err.status).toBe(Status.nca_s_fault_cancel);
    expect((await t.call(ITest.ops.Echo, { data: Buffer.from('x') })).data!.toString()).toBe('x');
    await conn.close();
  });

  it('cancels a call through an AbortSignal', async () => {
    const conn = await RpcConnection.connect(HOST, port);
    const t = await bindInterface(conn, ITest);
    const ac = new AbortController();
    const p = t.call(ITest.ops.Slow, { ms: 5_000 }, { signal: ac.signal });
    setTimeout(() => ac.abort(), 50);
    await expect(p).rejects.toBeInstanceOf(CallCancelled);
    await conn.close();
  });

  it('reports a rejected interface with the provider reason', async () => {
    const conn = await RpcConnection.connect(HOST, port);
    const err = await conn.bind({ uuid: '11111111-2222-3333-4444-555555555555', version: 1 }).catch((e) => e);
    expect(err).toBeInstanceOf(ContextRejected);
    expect(err.message).toMatch(/provider_rejection \(abstract_syntax_not_supported\)/);
    await conn.close();
  });

  it('reports a refused connection as rpc_s_server_unavailable', async () => {
    const err = await RpcConnection.connect(HOST, 1).catch((e) => e);
    expect(err).toBeInstanceOf(ConnectionError);
    expect(err.status).toBe(Status.rpc_s_server_unavailable);
    expect(err.message).toMatch(/ECONNREFUSED/);
  });

  it('a second bind on the connection is refused the way Windows refuses it', async () => {
    const conn = await RpcConnection.connect(HOST, port);
    await bindInterface(conn, ITest);
    // Force a second bind PDU (the client normally sends alter_context once bound).
    (conn as unknown as { bound: boolean }).bound = false;
    const err = await conn.bind({ uuid: epm.uuid, version: 3 }).catch((e) => e);
    expect(err).toBeInstanceOf(BindRejected);
    expect((err as BindRejected).reasonName).toBe('reason_not_specified');
    await conn.close();
  });

  it('resolves a binding without a port through ept_map', async () => {
    const c = await connectTo(`ncacn_ip_tcp:${HOST}`, ITest, { epmPort: port });
    expect((await c.call(ITest.ops.Echo, { data: Buffer.from('via epm') })).data!.toString()).toBe('via epm');
    await c.conn.close();
  });
});

describe('string bindings', () => {
  it('parses host, port, object UUID and IPv6 in brackets', () => {
    expect(parseStringBinding('ncacn_ip_tcp:10.0.0.1[135]')).toEqual({ protseq: 'ncacn_ip_tcp', host: '10.0.0.1', port: 135 });
    expect(parseStringBinding('ncacn_ip_tcp:[::1][49152]')).toEqual({ protseq: 'ncacn_ip_tcp', host: '::1', port: 49152 });
    expect(parseStringBinding('{E1AF8308-5D1F-11C9-91A4-08002B14A0FA}@ncacn_ip_tcp:host')).toEqual({
      protseq: 'ncacn_ip_tcp', host: 'host', object: 'e1af8308-5d1f-11c9-91a4-08002b14a0fa',
    });
    expect(formatStringBinding({ host: '::1', port: 135 })).toBe('ncacn_ip_tcp:[::1][135]');
  });
  it('rejects malformed bindings with a clear error', () => {
    expect(() => parseStringBinding('ncacn_np:host[\\pipe\\x]')).toThrow(/only ncacn_ip_tcp/);
    expect(() => parseStringBinding('ncacn_ip_tcp:host[99999]')).toThrow(/bad TCP port/);
    expect(() => parseStringBinding('nope')).toThrow(/protocol sequence/);
  });
});

describe('IPv6', () => {
  it('serves and calls over ::1', async () => {
    const s6 = new RpcServer();
    const db = new EpmDatabase();
    serveEndpointMapper(s6, db);
    let bound;
    try {
      bound = await s6.listen({ host: '::1', port: 0 });
    } catch {
      console.warn('skipped: IPv6 loopback not available here');
      return;
    }
    const conn = await RpcConnection.connect('::1', bound[0]!.port);
    const c = await bindInterface(conn, epm);
    const r = await c.call(epm.ops.ept_lookup, {
      inquiry_type: 0, object: null, interface_id: null, vers_option: 1, entry_handle: { attributes: 0, uuid: '00000000-0000-0000-0000-000000000000' }, max_ents: 10,
    });
    expect(r.status).toBe(Status.ept_s_not_registered);
    await conn.close();
    await s6.close();
  });
});
