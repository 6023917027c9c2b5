// Shared harness for the RPC server conformance tests: an in-process RpcServer on 127.0.0.1
// (port 0) serving EPM, mgmt and a small test interface, a captured pino log, raw connections
// that are cleaned up, and the checks every test repeats (fault layout, bind_nak layout, "a
// well-behaved client is still served").
import { expect } from 'vitest';
import pino from 'pino';
import * as ndr from '../../src/ndr';
import { DcomlabError, RpcFault } from '../../src/base/errors';
import { NIL_GUID } from '../../src/base/guid';
import {
  PFC, PType,
  type BindAckPdu, type BindNakPdu, type FaultPdu, type ResponsePdu, type SyntaxId,
} from '../../src/pdu';
import { RpcServer, type RpcServerOptions, type ServerLimits } from '../../src/rpc/server';
import { RpcConnection } from '../../src/rpc/client';
import { EpmDatabase } from '../../src/rpc/epm-database';
import { serveEndpointMapper } from '../../src/rpc/epm-server';
import { serveMgmt } from '../../src/rpc/mgmt-server';
import { bindInterface, dispatcherFor, interfaceId } from '../../src/rpc/typed';
import { epm } from '../../src/rpc/interfaces/epm';
import { mgmt } from '../../src/rpc/interfaces/mgmt';
import { RawRpc, bind, ctxItem, request, type Received } from '../support/raw-rpc';

// ---- the test interface ---------------------------------------------------------------------

const bytes = (sizeIs: string) => ndr.conformantArray(ndr.u8, { sizeIs });

export const ITest = ndr.iface('ITest', '4b7c1e2a-0d3f-4e55-9a61-7c2b9e8f1d03', 1, 0, {
  Echo: ndr.op(0, { in: { v: ndr.u32 }, out: { v: ndr.u32, status: ndr.errorStatus } }),
  /** kind 0: a plain JS Error; 1: RpcFault(code); 2: DcomlabError with status code. */
  Throw: ndr.op(1, { in: { kind: ndr.u32, code: ndr.u32 }, out: { status: ndr.errorStatus } }),
  /** Waits `ms` unless the call's signal aborts. */
  Slow: ndr.op(2, { in: { ms: ndr.u32, v: ndr.u32 }, out: { v: ndr.u32, status: ndr.errorStatus } }),
  /** Returns the bytes reversed. */
  Blob: ndr.op(3, { in: { n: ndr.u32, data: bytes('n') }, out: { n: ndr.u32, data: bytes('n'), status: ndr.errorStatus } }),
  /** Returns `n` bytes of bigPattern. */
  Big: ndr.op(4, { in: { n: ndr.u32 }, out: { n: ndr.u32, data: bytes('n'), status: ndr.errorStatus } }),
  /** Defined but given no handler: the server does not implement opnum 5. */
  Unimplemented: ndr.op(5, { in: {}, out: { status: ndr.errorStatus } }),
});

export const ITEST: SyntaxId = { uuid: ITest.uuid, version: 1 };
export const EPM: SyntaxId = { uuid: epm.uuid, version: 3 };
export const MGMT: SyntaxId = { uuid: mgmt.uuid, version: 1 };
export const UNKNOWN_IF: SyntaxId = { uuid: '9a0b7d6e-1c2f-4a3b-8d4e-5f6a7b8c9d0e', version: 1 };
export const ZERO_SYNTAX: SyntaxId = { uuid: NIL_GUID, version: 0 };

export function bigPattern(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + 3) & 0xff;
  return b;
}

export const echoStub = (v: number, le = true) => ndr.encodeParams(ITest.ops.Echo.in, { v }, { le });
export const echoOut = (stub: Buffer) => ndr.decodeParams(ITest.ops.Echo.out, stub);
export const slowStub = (ms: number, v: number) => ndr.encodeParams(ITest.ops.Slow.in, { ms, v });
export const slowOut = (stub: Buffer) => ndr.decodeParams(ITest.ops.Slow.out, stub);
export const throwStub = (kind: number, code: number) => ndr.encodeParams(ITest.ops.Throw.in, { kind, code });
export const blobStub = (data: Buffer) => ndr.encodeParams(ITest.ops.Blob.in, { n: data.length, data });
export const blobOut = (stub: Buffer) => ndr.decodeParams(ITest.ops.Blob.out, stub);
export const bigStub = (n: number) => ndr.encodeParams(ITest.ops.Big.in, { n });
export const bigOut = (stub: Buffer) => ndr.decodeParams(ITest.ops.Big.out, stub);

// ---- the server -----------------------------------------------------------------------------

export interface LogRecord {
  level: number;
  msg: string;
  [k: string]: unknown;
}

export interface Harness {
  server: RpcServer;
  port: number;
  logs: LogRecord[];
  /** Calls whose signal aborted inside the Slow handler: association id, call id, reason. */
  aborted: Array<{ assoc: number; callId: number; reason: string }>;
  /** Open a raw connection (destroyed by cleanup()). */
  raw(): Promise<RawRpc>;
  /** Destroy the raw connections opened so far. */
  cleanup(): void;
  stop(): Promise<void>;
}

export async function startServer(opts: { limits?: Partial<ServerLimits>; acceptRebind?: boolean } & Pick<RpcServerOptions, 'authorize' | 'firewall'> = {}): Promise<Harness> {
  const logs: LogRecord[] = [];
  const stream = {
    write(s: string) {
      for (const line of s.split('\n')) if (line.trim()) logs.push(JSON.parse(line) as LogRecord);
    },
  };
  const logger = pino({ level: 'debug' }, stream);
  const aborted: Harness['aborted'] = [];
  const server = new RpcServer({ logger, limits: opts.limits, acceptRebind: opts.acceptRebind, authorize: opts.authorize, firewall: opts.firewall });
  server.addInterface(
    dispatcherFor(ITest, {
      Echo: ({ v }) => ({ v, status: 0 }),
      Throw: ({ kind, code }) => {
        if (kind === 1) throw new RpcFault(code, 'raised by Throw');
        if (kind === 2) throw new DcomlabError('raised by Throw', code);
        throw new Error('a plain JavaScript error');
      },
      Slow: async ({ ms, v }, ctx) => {
        await new Promise<void>((resolve, reject) => {
          const onAbort = () => {
            clearTimeout(t);
            aborted.push({ assoc: ctx.association.id, callId: ctx.callId, reason: String(ctx.signal.reason) });
            reject(ctx.signal.reason);
          };
          const t = setTimeout(() => {
            ctx.signal.removeEventListener('abort', onAbort);
            resolve();
          }, ms);
          if (ctx.signal.aborted) onAbort();
          else ctx.signal.addEventListener('abort', onAbort, { once: true });
        });
        return { v, status: 0 };
      },
      Blob: ({ n, data }) => ({ n, data: Buffer.from(data).reverse(), status: 0 }),
      Big: ({ n }) => ({ n, data: bigPattern(n), status: 0 }),
    }),
  );
  const db = new EpmDatabase();
  serveEndpointMapper(server, db);
  serveMgmt(server);
  const [addr] = await server.listen({ host: '127.0.0.1', port: 0 });
  const port = addr!.port;
  db.registerTcp(interfaceId(ITest), '127.0.0.1', port, 'dcomlab conformance ITest');
  const open: RawRpc[] = [];
  return {
    server,
    port,
    logs,
    aborted,
    async raw() {
      const c = await RawRpc.connect(port);
      open.push(c);
      return c;
    },
    cleanup() {
      for (const c of open.splice(0)) c.destroy();
    },
    async stop() {
      for (const c of open.splice(0)) c.destroy();
      await server.close();
    },
  };
}

// ---- checks ---------------------------------------------------------------------------------

export const hex = (n: number) => '0x' + (n >>> 0).toString(16).padStart(8, '0');

/** One line naming a received PDU, for assertion messages. */
export function describePdu(r: Received): string {
  const p = r.pdu;
  const base = `ptype ${p.ptype} call_id ${p.callId} pfc 0x${p.flags.toString(16).padStart(2, '0')}`;
  if (p.ptype === PType.fault) return `fault ${base} ctx ${p.ctxId} status ${hex(p.status)}`;
  if (p.ptype === PType.bind_nak) return `bind_nak ${base} reason ${p.rejectReason}`;
  if (p.ptype === PType.response) return `response ${base} ctx ${p.ctxId}`;
  return base;
}

/** A fault PDU as Windows lays it out (MS-RPCE 2.2.2.8, doc §9): 32 bytes, cancel_count 0, flags byte 0. */
export function expectFault(r: Received, want: { callId: number; pfc: number; ctxId: number; status: number }): FaultPdu {
  expect(r.pdu.ptype, `expected a fault, got ${describePdu(r)}`).toBe(PType.fault);
  const f = r.pdu as FaultPdu;
  expect({
    callId: f.callId, pfc: f.flags, ctxId: f.ctxId, status: hex(f.status),
    cancelCount: f.cancelCount, faultFlags: f.faultFlags, reserved2: f.reserved2, fragLength: r.bytes.length, authLength: r.bytes.readUInt16LE(10),
  }).toEqual({
    callId: want.callId, pfc: want.pfc, ctxId: want.ctxId, status: hex(want.status),
    cancelCount: 0, faultFlags: 0, reserved2: 0, fragLength: 32, authLength: 0,
  });
  expect(f.allocHint, 'fault alloc_hint is non-zero').not.toBe(0);
  return f;
}

/** bind_nak: 24 bytes, FIRST|LAST, versions [5.0], 3 zero pad bytes (raw_protocol assertPadding(_pad, 3)). */
export function expectBindNak(r: Received, want: { callId: number; reason: number }): BindNakPdu {
  expect(r.pdu.ptype, `expected a bind_nak, got ${describePdu(r)}`).toBe(PType.bind_nak);
  const n = r.pdu as BindNakPdu;
  expect({
    callId: n.callId, pfc: n.flags, reason: n.rejectReason, versions: n.versions,
    fragLength: r.bytes.length, pad: r.bytes.subarray(21).toString('hex'),
  }).toEqual({
    callId: want.callId, pfc: PFC.FIRST_FRAG | PFC.LAST_FRAG, reason: want.reason, versions: [{ major: 5, minor: 0 }],
    fragLength: 24, pad: '000000',
  });
  return n;
}

export function expectAck(r: Received, ptype: 12 | 15 = PType.bind_ack): BindAckPdu {
  expect(r.pdu.ptype, `expected ptype ${ptype}, got ${describePdu(r)}`).toBe(ptype);
  return r.pdu as BindAckPdu;
}

export function expectResponse(r: Received, want: { callId: number; ctxId: number }): ResponsePdu {
  expect(r.pdu.ptype, `expected a response, got ${describePdu(r)}`).toBe(PType.response);
  const p = r.pdu as ResponsePdu;
  expect({ callId: p.callId, ctxId: p.ctxId, cancelCount: p.cancelCount, pfc: p.flags & (PFC.FIRST_FRAG | PFC.LAST_FRAG) })
    .toEqual({ callId: want.callId, ctxId: want.ctxId, cancelCount: 0, pfc: PFC.FIRST_FRAG | PFC.LAST_FRAG });
  return p;
}

/** The connection is closed by the server, and nothing else was sent before the close. */
export async function expectClosed(c: RawRpc): Promise<void> {
  expect(await c.waitForClose(), 'the server closes the connection').toBe(true);
  expect(c.unread(), 'no further PDUs before the close').toEqual([]);
}

/** Bind ITest as `ctxId` (NDR 2.0) on a fresh raw connection and check the ack. */
export async function boundRaw(h: Harness, ctxId = 1, opts: { maxXmit?: number; maxRecv?: number; flags?: number } = {}): Promise<RawRpc> {
  const c = await h.raw();
  c.send(bind({ callId: 1, contexts: [ctxItem(ctxId, ITEST)], ...opts }));
  const ack = expectAck(await c.next());
  expect(ack.results.map((x) => x.result)).toEqual([0]);
  return c;
}

/** Echo on an already-bound raw connection; proves the association still works. */
export async function expectEchoWorks(c: RawRpc, callId: number, ctxId = 1, v = 0x0badcafe): Promise<void> {
  c.send(request({ callId, ctxId, opnum: 0, stub: echoStub(v) }));
  const p = expectResponse(await c.next(), { callId, ctxId });
  expect(echoOut(p.stub)).toEqual({ v, status: 0 });
}

/**
 * A well-behaved client on a NEW connection is served: dcomlab's own client binds EPM, runs
 * ept_lookup (finds ITest), then alter_contexts to ITest and calls Echo.
 */
export async function expectServesNewClient(h: Harness): Promise<void> {
  const conn = await RpcConnection.connect('127.0.0.1', h.port, { callTimeoutMs: 2000, connectTimeoutMs: 2000 });
  try {
    const ep = await bindInterface(conn, epm);
    const r = await ep.call(epm.ops.ept_lookup, {
      inquiry_type: 0, object: null, interface_id: null, vers_option: 1,
      entry_handle: { attributes: 0, uuid: NIL_GUID }, max_ents: 500,
    });
    expect(hex(r.status)).toBe(hex(0));
    expect(r.entries.map((e) => e.annotation)).toContain('dcomlab conformance ITest');
    const t = await bindInterface(conn, ITest);
    expect(await t.call(ITest.ops.Echo, { v: 0x600d })).toEqual({ v: 0x600d, status: 0 });
  } finally {
    await conn.close();
  }
}
