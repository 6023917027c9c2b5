// Conformance of RpcServer's resource limits (ServerLimits) and graceful close: what the peer sees
// and what the log says when a limit is hit, and that well-behaved clients are still served.
import net from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PFC, PType } from '../../src/pdu';
import { RawRpc, alter, bind, ctxItem, request } from '../support/raw-rpc';
import {
  EPM, ITEST, MGMT, ZERO_SYNTAX,
  boundRaw, expectAck, expectClosed, expectEchoWorks, expectFault, expectServesNewClient, slowStub,
  startServer, type Harness,
} from './rpc-server-fixture';

const FL = PFC.FIRST_FRAG | PFC.LAST_FRAG;
const NDR20_SYNTAX = { uuid: '8a885d04-1ceb-11c9-9fe8-08002b104860', version: 2 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let conns: Harness;
let idle: Harness;
let timed: Harness;
let ctxs: Harness;

beforeAll(async () => {
  [conns, idle, timed, ctxs] = await Promise.all([
    startServer({ limits: { maxConnections: 3 } }),
    startServer({ limits: { idleTimeoutMs: 300 } }),
    startServer({ limits: { handlerTimeoutMs: 300 } }),
    startServer({ limits: { maxContextsPerAssociation: 2 } }),
  ]);
});
afterEach(() => {
  for (const x of [conns, idle, timed, ctxs]) x.cleanup();
});
afterAll(async () => {
  await Promise.all([conns, idle, timed, ctxs].map((x) => x.stop()));
});

describe('21. limits', () => {
  it('maxConnections 3: the 4th connection is closed without an answer and logged; the first 3 keep working', async () => {
    // ServerLimits.maxConnections (dcomlab); MS-RPCE 3.3.3 leaves the refusal to the transport — a refused peer sees a close
    const first = [await boundRaw(conns, 1), await boundRaw(conns, 1), await boundRaw(conns, 1)];
    const before = conns.logs.length;
    let fourth: RawRpc | undefined;
    try {
      fourth = await RawRpc.connect(conns.port);
    } catch (e) {
      expect((e as NodeJS.ErrnoException).code).toMatch(/ECONNRESET|ECONNREFUSED/);
    }
    if (fourth) {
      fourth.send(bind({ callId: 1, contexts: [ctxItem(1, ITEST)] }));
      await expectClosed(fourth);
      fourth.destroy();
    }
    await sleep(50);
    const lines = conns.logs.slice(before);
    const refusal = lines.find((l) => l.level >= 30 && /connection/i.test(l.msg) && /limit|refus|too many|max/i.test(l.msg + JSON.stringify(l)));
    expect(refusal, `a log line (info or above) about the refused connection; got: ${lines.map((l) => l.msg).join(' | ')}`).toBeDefined();
    for (const [i, c] of first.entries()) await expectEchoWorks(c, 10 + i, 1);
    // Once a slot is free, a well-behaved client is served again.
    first[0]!.destroy();
    await sleep(100);
    await expectServesNewClient(conns);
  });

  it('idleTimeoutMs 300: an idle association is closed (no PDU) and logged; a busy one is not', async () => {
    // ServerLimits.idleTimeoutMs (dcomlab); MS-RPCE 3.3.3.4.2 note <120>: Windows never sends shutdown
    const busy = await boundRaw(idle, 1);
    const lazy = await boundRaw(idle, 1);
    const t0 = Date.now();
    for (let i = 0; i < 6; i++) {
      await expectEchoWorks(busy, 10 + i, 1);
      await sleep(100);
    }
    await expectClosed(lazy);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    expect(busy.closed, 'an association with traffic every 100 ms stays open').toBe(false);
    expect(idle.logs.some((l) => l.level >= 30 && /idle/i.test(l.msg))).toBe(true);
    await expectServesNewClient(idle);
  });

  it('handlerTimeoutMs 300: a Slow call gets fault nca_s_fault_cancel 0x1c00000d, pfc 0x03, and the connection stays usable', async () => {
    // ServerLimits.handlerTimeoutMs (dcomlab); C706 Appendix E nca_s_fault_cancel; the routine ran → no DID_NOT_EXECUTE (MS-RPCE 3.3.3.4.1)
    const c = await boundRaw(timed, 1);
    const t0 = Date.now();
    c.send(request({ callId: 0x7171, ctxId: 1, opnum: 2, stub: slowStub(5000, 1) }));
    expectFault(await c.next(), { callId: 0x7171, pfc: FL, ctxId: 1, status: 0x1c00000d });
    expect(Date.now() - t0).toBeLessThan(1500);
    expect(timed.aborted.some((a) => a.callId === 0x7171)).toBe(true);
    await expectEchoWorks(c, 0x7172, 1);
    await expectServesNewClient(timed);
  });

  it('maxContextsPerAssociation 2: a third context gets provider_rejection / local_limit_exceeded (2/3), logged', async () => {
    // MS-RPCE 2.2.2.x p_provider_reason_t local_limit_exceeded = 3 (doc "Numbers used below"); ServerLimits.maxContextsPerAssociation
    const c = await boundRaw(ctxs, 1);
    c.send(alter({ callId: 2, contexts: [ctxItem(2, EPM)] }));
    expect(expectAck(await c.next(), PType.alter_context_resp).results).toEqual([{ result: 0, reason: 0, transferSyntax: NDR20_SYNTAX }]);
    c.send(alter({ callId: 3, contexts: [ctxItem(3, MGMT)] }));
    const ack = expectAck(await c.next(), PType.alter_context_resp);
    expect({ callId: ack.callId, pfc: ack.flags, results: ack.results })
      .toEqual({ callId: 3, pfc: FL, results: [{ result: 2, reason: 3, transferSyntax: ZERO_SYNTAX }] });
    // The refused context is unknown; the accepted ones keep working.
    c.send(request({ callId: 4, ctxId: 3, opnum: 2, stub: Buffer.alloc(0) }));
    expectFault(await c.next(), { callId: 4, pfc: FL | PFC.DID_NOT_EXECUTE, ctxId: 0, status: 0x1c010003 });
    await expectEchoWorks(c, 5, 1);
    expect(ctxs.logs.some((l) => l.level >= 30 && /limit/i.test(l.msg) && l.limit === 2)).toBe(true);
    await expectServesNewClient(ctxs);
  });
});

describe('22. graceful close', () => {
  it('server.close() sends a shutdown PDU (ptype 17) to an open association, then closes it and stops listening', async () => {
    // C706 12.6.4.10 shutdown; MS-RPCE 3.3.3.4.2 (servers MAY send it)
    const own = await startServer();
    try {
      const c = await boundRaw(own, 1);
      await expectEchoWorks(c, 2, 1);
      // close() must not wait for the peer to hang up first: bound every wait.
      const closing = own.server.close().then(() => 'resolved');
      const refused = await new Promise<string>((resolve) => {
        const s = net.connect({ host: '127.0.0.1', port: own.port });
        s.once('connect', () => { s.destroy(); resolve('connected'); });
        s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
      });
      expect(refused).toBe('ECONNREFUSED');
      const r = await c.next().catch(async (e: Error) => {
        const state = await Promise.race([closing, sleep(0).then(() => 'still pending')]);
        throw new Error(`${e.message} (expected a shutdown PDU); server.close() is ${state}`);
      });
      expect({ ptype: r.pdu.ptype, pfc: r.pdu.flags, callId: r.pdu.callId, fragLength: r.bytes.length, authLength: r.bytes.readUInt16LE(10) })
        .toEqual({ ptype: PType.shutdown, pfc: FL, callId: 0, fragLength: 16, authLength: 0 });
      await expectClosed(c);
      expect(await Promise.race([closing, sleep(2000).then(() => 'still pending after 2 s')])).toBe('resolved');
    } finally {
      own.cleanup();
    }
  });
});
