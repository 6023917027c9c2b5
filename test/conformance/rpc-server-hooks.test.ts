// The RPC server's two policy hooks: `authorize` (checked before each call: a refusal is a fault
// with PFC_DID_NOT_EXECUTE and the routine never runs) and `firewall` (per connection: 'reject'
// resets it, 'drop' holds it without a byte). The DCOM lab builds its access policy and its
// in-process firewall on them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RpcFault } from '../../src/base/errors';
import { PFC } from '../../src/pdu';
import { RawRpc, bind, ctxItem, request } from '../support/raw-rpc';
import {
  boundRaw, echoOut, echoStub, expectFault, expectResponse, expectServesNewClient, ITEST, startServer, type Harness,
} from './rpc-server-fixture';

describe('authorize hook', () => {
  let h: Harness;
  const seen: number[] = [];
  beforeAll(async () => {
    h = await startServer({
      authorize: (ctx) => {
        seen.push(ctx.callId);
        // Refuse call 2 only: the same association keeps working afterwards.
        if (ctx.callId === 2) throw new RpcFault(5, 'refused by the test policy');
      },
    });
  });
  afterAll(async () => {
    await h?.stop();
  });

  it('a refused call gets a fault with the hook\'s status and DID_NOT_EXECUTE; the association lives on', async () => {
    const c = await boundRaw(h);
    c.send(request({ callId: 2, ctxId: 1, opnum: 0, stub: echoStub(7) }));
    expectFault(await c.next(), { callId: 2, pfc: PFC.FIRST_FRAG | PFC.LAST_FRAG | PFC.DID_NOT_EXECUTE, ctxId: 1, status: 5 });
    c.send(request({ callId: 3, ctxId: 1, opnum: 0, stub: echoStub(8) }));
    expect(echoOut(expectResponse(await c.next(), { callId: 3, ctxId: 1 }).stub)).toEqual({ v: 8, status: 0 });
    expect(seen).toEqual([2, 3]); // both calls were asked about
    expect(h.logs.some((l) => l.msg === 'call refused' && String(l.err).includes('refused by the test policy'))).toBe(true);
  });
});

describe('firewall hook', () => {
  let h: Harness;
  let verdict: 'accept' | 'reject' | 'drop' = 'accept';
  beforeAll(async () => {
    h = await startServer({ firewall: () => verdict });
  });
  afterAll(async () => {
    await h?.stop();
  });

  it('reject resets the connection before any PDU', async () => {
    verdict = 'reject';
    // The reset can arrive before or after the client saw its connect complete.
    const c = await RawRpc.connect(h.port).catch((e: Error) => e);
    if (c instanceof Error) {
      expect(c.message).toMatch(/ECONNRESET/);
      return;
    }
    c.send(bind({ callId: 1, contexts: [ctxItem(1, ITEST)] }));
    expect(await c.waitForClose(1000)).toBe(true);
    expect(c.unread()).toEqual([]);
    c.destroy();
  });

  it('drop holds the connection and never answers; accepted clients are still served', async () => {
    verdict = 'drop';
    const c = await RawRpc.connect(h.port);
    c.send(bind({ callId: 1, contexts: [ctxItem(1, ITEST)] }));
    expect(await c.waitForClose(700)).toBe(false);
    expect(c.unread()).toEqual([]);
    verdict = 'accept';
    const ok = await boundRaw(h);
    ok.send(request({ callId: 2, ctxId: 1, opnum: 0, stub: echoStub(1) }));
    expectResponse(await ok.next(), { callId: 2, ctxId: 1 });
    await expectServesNewClient(h);
    c.destroy();
    expect(h.logs.filter((l) => l.msg === 'firewall: connection blocked').map((l) => l.verdict)).toEqual(['reject', 'drop']);
  });
});
