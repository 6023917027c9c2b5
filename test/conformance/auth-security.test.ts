// Per-PDU security of dcomlab's server (src/rpc/server.ts onRequest, src/rpc/security.ts), driven with raw
// PDUs built the way dcomlab's client builds them (NtlmInitiator + encodeProtected, test/support/auth-raw.ts):
//
//   a flipped bit in a signed PDU (PKT_INTEGRITY) or a sealed one (PKT_PRIVACY), a replayed PDU, a PDU
//   signed with another association's session, a verifier claiming a lower level than the context's
//     → fault nca_s_fault_sec_pkt_error (0x721), PFC_FIRST|LAST|DID_NOT_EXECUTE, then close, and a log line
//       with the reason;
//   a call on an interface whose minAuthLevel (PKT_INTEGRITY) is above the association's level (CONNECT,
//   or none) → fault rpc_s_access_denied (5); an unprotected request on an authenticated association
//     → fault rpc_s_access_denied, then close.
// After each, another (authenticated) client is served.
//
// Then a log scan: the server and every client log at 'trace' into one captured stream while clients
// authenticate with good and bad passwords at every level, NTLM and SPNEGO, NTLMv2/NTLM2/NTLMv1; no
// secret may appear in any form (passwords, NT/LM hashes, NTLMv2 keys, session keys, signing and sealing
// keys, NT/LM responses).
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as ndr from '../../src/ndr';
import { decodeAuthenticate } from '../../src/auth/ntlm/messages';
import { LMOWFv1, NTOWFv1, NTOWFv2FromHash, SEALKEY, SIGNKEY } from '../../src/auth/ntlm/keys';
import { NtlmAcceptor } from '../../src/auth/ntlm/acceptor';
import { NtlmInitiator } from '../../src/auth/ntlm/initiator';
import { SpnegoAcceptor } from '../../src/auth/spnego/acceptor';
import { SpnegoInitiator } from '../../src/auth/spnego/initiator';
import type { Acceptor, Initiator } from '../../src/auth/types';
import { clientAuthFrom } from '../../src/cli/auth-options';
import { bindInterface, dispatcherFor, epmLookup, RpcConnection } from '../../src/rpc';
import { encodeProtected } from '../../src/rpc/security';
import { PduFramer, PFC, type FaultPdu } from '../../src/pdu';
import { RawRpc, bind, ctxItem, request } from '../support/raw-rpc';
import { flipBit, rawAuth, requestLayout, type RawAuth } from '../support/auth-raw';
import {
  ALICE, BOB, captureLogger, FAULT_FLAGS_DNE, LEVEL, NCA_S_FAULT_SEC_PKT_ERROR, RPC_S_ACCESS_DENIED,
  startAuthServer, WhoAmIIface, WRONG_PASSWORD, type AuthServer, type Who,
} from '../support/auth-lab';
import { describePdu, expectClosed, expectFault } from './rpc-server-fixture';

const WHOAMI = { uuid: WhoAmIIface.uuid, version: 1 };
const whoStub = (tag: number) => ndr.encodeParams(WhoAmIIface.ops.WhoAmI.in, { tag });
const whoOut = (stub: Buffer) => JSON.parse(ndr.decodeParams(WhoAmIIface.ops.WhoAmI.out, stub).who!) as Who;

/** An interface that demands PKT_INTEGRITY (the downgrade target). */
const Guarded = ndr.iface('DcomlabGuarded', '6e3f1a2b-5c4d-4e8f-9a0b-1c2d3e4f5a6b', 1, 0, {
  Peek: ndr.op(0, { in: { v: ndr.u32 }, out: { v: ndr.u32, level: ndr.u32, status: ndr.errorStatus } }),
});
const GUARDED = { uuid: Guarded.uuid, version: 1 };
const guarded = { ...dispatcherFor(Guarded, { Peek: ({ v }, ctx) => ({ v, level: ctx.auth?.level ?? 1, status: 0 }) }), minAuthLevel: LEVEL.integrity };

/** A well-behaved authenticated client on a new connection is served (WhoAmI at PKT_PRIVACY). */
async function expectServesAuthenticatedClient(s: AuthServer): Promise<void> {
  const conn = await RpcConnection.connect(s.host, s.port, {
    callTimeoutMs: 3000, connectTimeoutMs: 3000,
    auth: clientAuthFrom({ authLevel: 'privacy', user: 'LAB\\alice', password: ALICE.password }),
  });
  try {
    const c = await bindInterface(conn, WhoAmIIface);
    const r = await c.call(WhoAmIIface.ops.WhoAmI, { tag: 0x600d });
    expect(JSON.parse(r.who!)).toMatchObject({ user: 'alice', level: LEVEL.privacy, tag: 0x600d });
  } finally {
    await conn.close();
  }
}

/** Log records since `from` whose msg is `msg`. */
function logsSince(s: AuthServer, from: number, msg: string) {
  return s.log.records().slice(from).filter((r) => r.msg === msg);
}

async function expectSecPktError(s: AuthServer, a: RawAuth, callId: number, ctxId: number, from: number, reason: RegExp): Promise<void> {
  const f = await a.raw.next();
  expectFault(f, { callId, pfc: FAULT_FLAGS_DNE, ctxId, status: NCA_S_FAULT_SEC_PKT_ERROR });
  await expectClosed(a.raw);
  const lines = logsSince(s, from, 'protocol error: fault and close');
  expect(lines.map((l) => [l.status, l.what])).toEqual([['nca_s_fault_sec_pkt_error 0x00000721', expect.stringMatching(reason)]]);
}

describe('dcomlab server: per-PDU integrity and access checks on authenticated associations', () => {
  let s: AuthServer;
  const open: RawRpc[] = [];
  const session = async (o: { level: number; ntlm?: 'v2' | 'ntlm2' | 'v1'; iface?: { uuid: string; version: number }; password?: string }) => {
    const a = await rawAuth({ port: s.port, level: o.level, ntlm: o.ntlm, iface: o.iface ?? WHOAMI, password: o.password ?? ALICE.password });
    open.push(a.raw);
    return a;
  };
  beforeAll(async () => {
    s = await startAuthServer({ extra: [guarded] });
  });
  afterAll(async () => {
    for (const r of open) r.destroy();
    await s?.stop();
  });

  it('control: a raw authenticated session gets signed/sealed answers it can check, and consecutive calls work', async () => {
    for (const level of [LEVEL.connect, LEVEL.integrity, LEVEL.privacy]) {
      for (const ntlm of ['v2', 'ntlm2', 'v1'] as const) {
        const a = await session({ level, ntlm });
        for (const tag of [1, 2, 3]) {
          a.raw.send(a.req(0, whoStub(tag)));
          const who = whoOut(await a.response(a.callId - 1));
          expect(who).toMatchObject({ tag, level, user: 'alice', ntlmFlavour: ntlm });
        }
        a.raw.destroy();
      }
    }
  });

  for (const ntlm of ['v2', 'ntlm2', 'v1'] as const) {
    it(`PKT_INTEGRITY (${ntlm}): one flipped bit in the signed stub → nca_s_fault_sec_pkt_error, close`, async () => {
      const a = await session({ level: LEVEL.integrity, ntlm });
      a.raw.send(a.req(0, whoStub(1)));
      expect(whoOut(await a.response(2)).tag).toBe(1);
      const from = s.log.lines.length;
      const good = a.req(0, whoStub(2));
      a.raw.send(flipBit(good, requestLayout(good).stubStart + 1, 3));
      await expectSecPktError(s, a, 3, 0, from, /signature does not verify/);
      await expectServesAuthenticatedClient(s);
    });

    it(`PKT_PRIVACY (${ntlm}): one flipped bit in the sealed stub → nca_s_fault_sec_pkt_error, close`, async () => {
      const a = await session({ level: LEVEL.privacy, ntlm });
      const from = s.log.lines.length;
      const good = a.req(0, whoStub(7));
      a.raw.send(flipBit(good, requestLayout(good).stubStart, 0));
      await expectSecPktError(s, a, 2, 0, from, /sealed PDU does not verify/);
      await expectServesAuthenticatedClient(s);
    });
  }

  it('PKT_INTEGRITY with ESS: a flipped bit in the header (alloc_hint) is caught too (the whole PDU is signed)', async () => {
    const a = await session({ level: LEVEL.integrity });
    const from = s.log.lines.length;
    a.raw.send(flipBit(a.req(0, whoStub(1)), 16, 4)); // alloc_hint, byte 0
    await expectSecPktError(s, a, 2, 0, from, /signature does not verify/);
    await expectServesAuthenticatedClient(s);
  });

  it('PKT_PRIVACY: a flipped bit in the signature itself → nca_s_fault_sec_pkt_error, close', async () => {
    const a = await session({ level: LEVEL.privacy });
    const from = s.log.lines.length;
    const good = a.req(0, whoStub(1));
    a.raw.send(flipBit(good, requestLayout(good).authValue + 6, 1));
    await expectSecPktError(s, a, 2, 0, from, /does not verify/);
    await expectServesAuthenticatedClient(s);
  });

  for (const level of [LEVEL.integrity, LEVEL.privacy]) {
    it(`level ${level}: a replayed PDU (same bytes, same sequence number) → nca_s_fault_sec_pkt_error, close`, async () => {
      const a = await session({ level });
      const pdu = a.req(0, whoStub(0x1234));
      a.raw.send(pdu);
      expect(whoOut(await a.response(2)).tag).toBe(0x1234);
      const from = s.log.lines.length;
      a.raw.send(pdu);
      await expectSecPktError(s, a, 2, 0, from, /does not verify/);
      await expectServesAuthenticatedClient(s);
    });

    it(`level ${level}: a PDU signed with another association's session → nca_s_fault_sec_pkt_error, close`, async () => {
      const victim = await session({ level });
      const other = await session({ level });
      const from = s.log.lines.length;
      // The other association's session keys, call id and context are plausible for the victim's association.
      victim.raw.send(other.req(0, whoStub(5), 2));
      await expectSecPktError(s, victim, 2, 0, from, /does not verify/);
      // The other association: its client signed a PDU that never reached its server, so its next PDU is out of
      // sequence there (as after a lost PDU) and is refused as well.
      other.raw.send(other.req(0, whoStub(6)));
      const f = await other.raw.next();
      expect((f.pdu as FaultPdu).status, describePdu(f)).toBe(NCA_S_FAULT_SEC_PKT_ERROR);
      await expectServesAuthenticatedClient(s);
    });
  }

  it('a verifier that claims PKT_INTEGRITY on a PKT_PRIVACY context (a downgrade on the wire) → nca_s_fault_sec_pkt_error, close', async () => {
    const a = await session({ level: LEVEL.privacy });
    const from = s.log.lines.length;
    a.raw.send(encodeProtected(request({ callId: 2, ctxId: 0, opnum: 0, stub: whoStub(1) }), { ...a.binding, level: LEVEL.integrity }));
    await expectSecPktError(s, a, 2, 0, from, /type or level differs/);
    await expectServesAuthenticatedClient(s);
  });

  it('a downgrade: bound at CONNECT to an interface whose minAuthLevel is PKT_INTEGRITY → rpc_s_access_denied', async () => {
    const a = await session({ level: LEVEL.connect, iface: GUARDED });
    const from = s.log.lines.length;
    a.raw.send(a.req(0, ndr.encodeParams(Guarded.ops.Peek.in, { v: 1 })));
    expectFault(await a.raw.next(), { callId: 2, pfc: FAULT_FLAGS_DNE, ctxId: 0, status: RPC_S_ACCESS_DENIED });
    const why = logsSince(s, from, 'fault: authentication level below the interface minimum');
    expect(why.map((r) => [r.iface, r.min])).toEqual([['DcomlabGuarded', 'pkt_integrity']]);
    await expectServesAuthenticatedClient(s);
  });

  // pino writes its numeric level first; a record field named "level" is written again after it, and
  // JSON.parse (like every log tool) keeps the last one: the line's level becomes "connect".
  it('every server log line keeps a numeric pino level (no record field overwrites "level"), the downgrade\'s too', async () => {
    const from = s.log.lines.length;
    const a = await session({ level: LEVEL.connect, iface: GUARDED });
    a.raw.send(a.req(0, ndr.encodeParams(Guarded.ops.Peek.in, { v: 1 })));
    expectFault(await a.raw.next(), { callId: 2, pfc: FAULT_FLAGS_DNE, ctxId: 0, status: RPC_S_ACCESS_DENIED });
    expect(logsSince(s, from, 'fault: authentication level below the interface minimum')).toHaveLength(1);
    const bad = s.log.lines.filter((l) => typeof (JSON.parse(l) as { level: unknown }).level !== 'number');
    expect(bad).toEqual([]);
  });

  it('a downgrade: no authentication at all on that interface → rpc_s_access_denied', async () => {
    const c = await RawRpc.connect(s.port);
    open.push(c);
    c.send(bind({ callId: 1, contexts: [ctxItem(0, GUARDED)] }));
    expect((await c.next()).pdu.ptype).toBe(12);
    c.send(request({ callId: 2, ctxId: 0, opnum: 0, stub: ndr.encodeParams(Guarded.ops.Peek.in, { v: 1 }) }));
    expectFault(await c.next(), { callId: 2, pfc: FAULT_FLAGS_DNE, ctxId: 0, status: RPC_S_ACCESS_DENIED });
    await expectServesAuthenticatedClient(s);
  });

  it('control: the guarded interface answers at PKT_INTEGRITY and PKT_PRIVACY', async () => {
    for (const level of [LEVEL.integrity, LEVEL.privacy]) {
      const a = await session({ level, iface: GUARDED });
      a.raw.send(a.req(0, ndr.encodeParams(Guarded.ops.Peek.in, { v: 9 })));
      expect(ndr.decodeParams(Guarded.ops.Peek.out, await a.response(2))).toEqual({ v: 9, level, status: 0 });
    }
  });

  for (const level of [LEVEL.connect, LEVEL.integrity, LEVEL.privacy]) {
    it(`level ${level}: a wrong password, then a call → rpc_s_access_denied, close; the reason is logged`, async () => {
      const from = s.log.lines.length;
      const a = await session({ level, password: WRONG_PASSWORD });
      a.raw.send(a.req(0, whoStub(1)));
      expectFault(await a.raw.next(), { callId: 2, pfc: FAULT_FLAGS_DNE, ctxId: 0, status: RPC_S_ACCESS_DENIED });
      await expectClosed(a.raw);
      expect(logsSince(s, from, 'authentication failed').map((r) => r.reason)).toEqual([expect.stringMatching(/wrong password for LAB\\alice/)]);
      await expectServesAuthenticatedClient(s);
    });
  }

  for (const level of [LEVEL.integrity, LEVEL.privacy]) {
    it(`level ${level}: an unprotected request on the authenticated association → rpc_s_access_denied, close`, async () => {
      const a = await session({ level });
      a.raw.send(a.req(0, whoStub(1)));
      expect(whoOut(await a.response(2)).tag).toBe(1);
      const from = s.log.lines.length;
      a.raw.send(request({ callId: 3, ctxId: 0, opnum: 0, stub: whoStub(2) }));
      expectFault(await a.raw.next(), { callId: 3, pfc: FAULT_FLAGS_DNE, ctxId: 0, status: RPC_S_ACCESS_DENIED });
      await expectClosed(a.raw);
      expect(logsSince(s, from, 'protocol error: fault and close').map((r) => r.what))
        .toEqual([expect.stringMatching(/request without a verifier on an authenticated association/)]);
      await expectServesAuthenticatedClient(s);
    });
  }

  it('a request whose verifier names a security context that was never established → rpc_s_access_denied, close', async () => {
    const a = await session({ level: LEVEL.integrity });
    a.raw.send(encodeProtected(request({ callId: 2, ctxId: 0, opnum: 0, stub: whoStub(1) }), { ...a.binding, contextId: 77 }));
    expectFault(await a.raw.next(), { callId: 2, pfc: FAULT_FLAGS_DNE, ctxId: 0, status: RPC_S_ACCESS_DENIED });
    await expectClosed(a.raw);
    await expectServesAuthenticatedClient(s);
  });

  it('the flags of every fault above: FIRST|LAST|DID_NOT_EXECUTE (0x23)', () => {
    expect(FAULT_FLAGS_DNE).toBe(PFC.FIRST_FRAG | PFC.LAST_FRAG | PFC.DID_NOT_EXECUTE);
  });
});

// ---------------------------------------------------------------------------------------------------
// The other direction: dcomlab's client checks the server's verifiers. A proxy between a dcomlab client
// and a dcomlab server alters responses on the way back.

type Tamper = (pdu: Buffer, nth: number, seen: Buffer[]) => Buffer;

async function startProxy(target: number, tamper: Tamper): Promise<{ port: number; close(): Promise<void> }> {
  const socks = new Set<net.Socket>();
  const srv = net.createServer((down) => {
    const up = net.connect({ host: '127.0.0.1', port: target });
    socks.add(down).add(up);
    down.on('data', (d) => up.write(d));
    const seen: Buffer[] = [];
    let responses = 0;
    const framer = new PduFramer<undefined>((b) => {
      const pdu = Buffer.from(b);
      if (pdu[2] === 2) {
        responses++;
        down.write(tamper(pdu, responses, seen));
        seen.push(pdu);
      } else down.write(pdu);
    });
    up.on('data', (d) => framer.push(d, undefined));
    const end = () => {
      down.destroy();
      up.destroy();
    };
    down.on('close', end).on('error', end);
    up.on('close', end).on('error', end);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  return {
    port: (srv.address() as net.AddressInfo).port,
    close: () => new Promise<void>((r) => {
      for (const x of socks) x.destroy();
      srv.close(() => r());
    }),
  };
}

describe('dcomlab client: responses whose verifier does not check out are refused', () => {
  let s: AuthServer;
  beforeAll(async () => {
    s = await startAuthServer();
  });
  afterAll(async () => {
    await s?.stop();
  });

  async function callThrough(tamper: Tamper, level: 'integrity' | 'privacy', ntlm: 'v2' | 'ntlm2' | 'v1' = 'v2'): Promise<Array<Who | Error>> {
    const proxy = await startProxy(s.port, tamper);
    const conn = await RpcConnection.connect('127.0.0.1', proxy.port, {
      callTimeoutMs: 2000, auth: clientAuthFrom({ authLevel: level, user: 'LAB\\alice', password: ALICE.password, ntlm }),
    });
    try {
      const c = await bindInterface(conn, WhoAmIIface);
      const out: Array<Who | Error> = [];
      for (const tag of [1, 2]) {
        out.push(await c.call(WhoAmIIface.ops.WhoAmI, { tag }).then((r) => JSON.parse(r.who!) as Who, (e: Error) => e));
      }
      return out;
    } finally {
      await conn.close();
      await proxy.close();
    }
  }

  it('control: through an honest proxy both calls are answered', async () => {
    for (const level of ['integrity', 'privacy'] as const) {
      const [a, b] = await callThrough((p) => p, level);
      expect([(a as Who).tag, (b as Who).tag]).toEqual([1, 2]);
    }
  });

  for (const ntlm of ['v2', 'ntlm2', 'v1'] as const) {
    for (const level of ['integrity', 'privacy'] as const) {
      it(`${level} (${ntlm}): a flipped bit in the response stub → the call fails with nca_s_fault_sec_pkt_error`, async () => {
        const [a] = await callThrough((p, n) => (n === 1 ? flipBit(p, 30, 2) : p), level, ntlm);
        expect(a).toBeInstanceOf(Error);
        expect(a).toMatchObject({ name: 'IntegrityError', status: NCA_S_FAULT_SEC_PKT_ERROR });
        expect(String(a)).toMatch(level === 'privacy' ? /sealed PDU does not verify/ : /signature does not verify/);
      });
    }
  }

  it('integrity: the first response replayed (its call id rewritten) in place of the second → refused', async () => {
    const [a, b] = await callThrough((p, n, seen) => {
      if (n !== 2) return p;
      const replay = Buffer.from(seen[0]!);
      replay.writeUInt32LE(p.readUInt32LE(12), 12);
      return replay;
    }, 'integrity');
    expect((a as Who).tag).toBe(1);
    expect(b).toMatchObject({ name: 'IntegrityError', status: NCA_S_FAULT_SEC_PKT_ERROR });
  });

  it('integrity: a response with its verifier stripped (auth_length 0) → refused, not accepted as plain', async () => {
    const [a] = await callThrough((p, n) => {
      if (n !== 1) return p;
      const authLen = p.readUInt16LE(10);
      const pad = p[p.length - authLen - 8 + 2]!;
      const bare = Buffer.from(p.subarray(0, p.length - authLen - 8 - pad));
      bare.writeUInt16LE(bare.length, 8);
      bare.writeUInt16LE(0, 10);
      return bare;
    }, 'integrity');
    expect(a).toMatchObject({ name: 'IntegrityError', status: NCA_S_FAULT_SEC_PKT_ERROR });
  });
});

// ---------------------------------------------------------------------------------------------------
// Secrets never reach the logs.

/** Every textual form a secret byte string could take in a JSON log line. */
function formsOfBytes(b: Buffer): string[] {
  const hex = b.toString('hex');
  return [hex, hex.toUpperCase(), b.toString('base64'), b.toString('base64url'), [...b].join(','), [...b].join(', ')];
}

/** The forms of `b` and of each 8-byte window of it (a truncated key or hash is a leak too). */
function formsWithWindows(b: Buffer, window = 8): string[] {
  const out = formsOfBytes(b);
  for (let i = 0; i + window <= b.length; i++) {
    const w = b.subarray(i, i + window).toString('hex');
    out.push(w, w.toUpperCase());
  }
  return out;
}

function formsOfPassword(p: string): string[] {
  const u8 = Buffer.from(p, 'utf8');
  const u16 = Buffer.from(p, 'utf16le');
  return [p, JSON.stringify(p).slice(1, -1), u8.toString('hex'), u16.toString('hex'), u8.toString('base64'), u16.toString('base64'), u16.toString('hex').toUpperCase()];
}

/** Which secrets (by name) appear in the text. */
function leaks(text: string, secrets: Map<string, string[]>): string[] {
  const found: string[] = [];
  for (const [name, forms] of secrets) {
    for (const f of forms) {
      if (f.length >= 6 && text.includes(f)) {
        found.push(`${name} as ${JSON.stringify(f)}`);
        break;
      }
    }
  }
  return found;
}

describe('no secret reaches a log line (server and clients at trace level)', () => {
  const clientLog = captureLogger('trace');
  const initiators: Array<{ what: string; i: Initiator; tokens: Buffer[] }> = [];
  const acceptors: Acceptor[] = [];
  const errors: string[] = [];
  let s: AuthServer;
  let outcomes: Array<{ what: string; ok: boolean }> = [];

  beforeAll(async () => {
    s = await startAuthServer({
      logLevel: 'trace',
      wrapAuth: (p) => ({
        acceptor(t) {
          const a = p.acceptor(t);
          if (a) acceptors.push(a);
          return a;
        },
      }),
    });
    outcomes = [];
    for (const level of ['connect', 'pkt', 'integrity', 'privacy'] as const) {
      for (const auth of ['ntlm', 'spnego'] as const) {
        for (const ntlm of ['v2', 'ntlm2', 'v1'] as const) {
          for (const password of [ALICE.password, WRONG_PASSWORD]) {
            const what = `${auth} ${level} ${ntlm} ${password === ALICE.password ? 'good' : 'bad'}`;
            const a = clientAuthFrom({ authLevel: level, auth, ntlm, user: 'LAB\\alice', password })!;
            // Keep the AUTHENTICATE each initiator produces (its NT/LM responses are secrets to look for).
            const ni = a.initiator instanceof SpnegoInitiator ? a.initiator.ntlm : (a.initiator as NtlmInitiator);
            const rec = { what, i: a.initiator, tokens: [] as Buffer[] };
            const step = ni.step.bind(ni);
            ni.step = (tok: Buffer) => {
              const r = step(tok);
              if (r.token) rec.tokens.push(Buffer.from(r.token));
              return r;
            };
            initiators.push(rec);
            try {
              const entries = await epmLookup(s.host, s.port, { logger: clientLog.logger, auth: a, callTimeoutMs: 3000 });
              expect(entries).toHaveLength(1);
              const conn = await RpcConnection.connect(s.host, s.port, {
                logger: clientLog.logger, callTimeoutMs: 3000,
                auth: clientAuthFrom({ authLevel: level, auth, ntlm, user: 'LAB\\bob', password: BOB.password }),
              });
              try {
                const c = await bindInterface(conn, WhoAmIIface);
                await c.call(WhoAmIIface.ops.WhoAmI, { tag: 1 });
              } finally {
                await conn.close();
              }
              outcomes.push({ what, ok: true });
            } catch (e) {
              errors.push(`${what}: ${String(e)} ${(e as Error).stack ?? ''}`);
              outcomes.push({ what, ok: false });
            }
          }
        }
      }
    }
  }, 60_000);
  afterAll(async () => {
    await s?.stop();
  });

  it('every good password worked and every bad one failed (so the logs cover both paths)', () => {
    for (const o of outcomes) expect(o.ok, o.what).toBe(o.what.endsWith('good'));
    expect(outcomes).toHaveLength(48);
  });

  it('the logs are there: trace/debug/info lines from server and clients, authentications and failures', () => {
    const all = [...s.log.records(), ...clientLog.records()];
    expect(all.length).toBeGreaterThan(500);
    expect(all.some((r) => r.level === 20)).toBe(true);
    expect(s.log.records().filter((r) => r.msg === 'authenticated').length).toBe(48);
    expect(s.log.records().filter((r) => r.msg === 'authentication failed').length).toBe(24);
  });

  it('no password, NT/LM hash, NTLMv2 key, session/signing/sealing key or NT/LM response appears, in any form', () => {
    const secrets = new Map<string, string[]>();
    for (const [name, pw] of [['alice password', ALICE.password], ['bob password', BOB.password], ['wrong password', WRONG_PASSWORD]] as const) {
      secrets.set(name, formsOfPassword(pw));
      secrets.set(`${name} NT hash`, formsWithWindows(NTOWFv1(pw)));
      secrets.set(`${name} LM hash`, formsWithWindows(LMOWFv1(pw)));
    }
    secrets.set('alice NTOWFv2', formsWithWindows(NTOWFv2FromHash(NTOWFv1(ALICE.password), 'alice', 'LAB')));
    secrets.set('bob NTOWFv2', formsWithWindows(NTOWFv2FromHash(NTOWFv1(BOB.password), 'bob', 'LAB')));
    let keys = 0;
    for (const { what, i, tokens } of initiators) {
      const ni = i instanceof SpnegoInitiator ? i.ntlm : (i as NtlmInitiator);
      if (ni.done) {
        const k = ni.exportedSessionKey;
        const flags = ni.negotiatedFlags;
        secrets.set(`${what} exported session key`, formsWithWindows(k));
        for (const mode of ['client', 'server'] as const) {
          secrets.set(`${what} ${mode} sealing key`, formsWithWindows(SEALKEY(flags, k, mode)));
          const sk = SIGNKEY(flags, k, mode);
          if (sk) secrets.set(`${what} ${mode} signing key`, formsWithWindows(sk));
        }
        keys++;
      }
      for (const t of tokens) {
        const m = decodeAuthenticate(t);
        // NTLMv2: NTProofStr (the first 16 bytes); the rest is the client's blob (timestamp, target info).
        const nt = m.ntChallengeResponse.length > 24 ? m.ntChallengeResponse.subarray(0, 16) : m.ntChallengeResponse;
        secrets.set(`${what} NT response`, [...formsWithWindows(nt), ...formsOfBytes(m.ntChallengeResponse)]);
        if (m.lmChallengeResponse.some((x) => x !== 0)) secrets.set(`${what} LM response`, formsWithWindows(m.lmChallengeResponse));
      }
    }
    for (const a of acceptors) {
      const n = a instanceof SpnegoAcceptor ? a.ntlm : (a as NtlmAcceptor);
      if (n.done) secrets.set(`server session key ${secrets.size}`, formsWithWindows(n.exportedSessionKey));
    }
    expect(keys).toBe(48);
    expect(secrets.size).toBeGreaterThan(48 * 5);

    // The scanner finds what it looks for (a line that does carry a secret).
    const canary = NTOWFv1(ALICE.password).toString('hex').toUpperCase();
    expect(leaks(`{"msg":"x","h":"${canary}"}`, secrets)).toEqual(['alice password NT hash as ' + JSON.stringify(canary)]);

    expect(leaks(s.log.lines.join('\n'), secrets), 'server log').toEqual([]);
    expect(leaks(clientLog.lines.join('\n'), secrets), 'client log').toEqual([]);
    expect(leaks(errors.join('\n'), secrets), 'client errors').toEqual([]);
  });
});
