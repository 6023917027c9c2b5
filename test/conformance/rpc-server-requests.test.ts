// Conformance of RpcServer's request handling against the Windows answers pinned in
// docs/research/rpc-server-behaviour.md: faults for bad contexts/opnums/stubs, raised errors,
// fragment and reassembly rules, pending-cancel, alter/auth3 mistakes, PDUs a client never sends,
// co_cancel/orphaned, fragmentation both ways and concurrent calls. After each mistake a
// well-behaved client on a new connection must still be served.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PFC, PType, encodePdu, type Pdu, type ResponsePdu } from '../../src/pdu';
import { alter, bind, ctxItem, fragmentedRequest, request, simple } from '../support/raw-rpc';
import {
  EPM, ITEST,
  bigOut, bigPattern, describePdu, bigStub, blobOut, blobStub, boundRaw, echoStub, expectAck, expectClosed, expectEchoWorks,
  expectFault, expectResponse, expectServesNewClient, hex, slowOut, slowStub, startServer, throwStub, type Harness,
} from './rpc-server-fixture';

const FL = PFC.FIRST_FRAG | PFC.LAST_FRAG;
const DNE = FL | PFC.DID_NOT_EXECUTE;

const S = {
  nca_s_op_rng_error: 0x1c010002,
  nca_s_unk_if: 0x1c010003,
  nca_s_proto_error: 0x1c01000b,
  nca_s_fault_unspec: 0x1c000012,
  rpc_s_access_denied: 0x00000005,
  rpc_s_no_call_active: 0x000006bd,
  rpc_x_bad_stub_data: 0x000006f7,
  E_ACCESSDENIED: 0x80070005,
};

let h: Harness;
let small: Harness; // maxRequestSize 64 KiB

beforeAll(async () => {
  h = await startServer();
  small = await startServer({ limits: { maxRequestSize: 64 * 1024 } });
});
afterEach(() => {
  h.cleanup();
  small.cleanup();
});
afterAll(async () => {
  await h.stop();
  await small.stop();
});

describe('8. request on an unknown context id', () => {
  it('→ fault nca_s_unk_if, pfc 0x23, ctx 0; the connection stays open and the next request works', async () => {
    // raw_protocol test_no_auth_presentation_ctx_invalid1 (doc §2 table, first row)
    const c = await boundRaw(h, 1);
    c.send(request({ callId: 2, ctxId: 12345, opnum: 0, stub: echoStub(1) }));
    expectFault(await c.next(), { callId: 2, pfc: DNE, ctxId: 0, status: S.nca_s_unk_if });
    await expectEchoWorks(c, 3, 1);
    await expectServesNewClient(h);
  });
});

describe('9. unknown opnum', () => {
  it('opnum 0xffff → fault nca_s_op_rng_error, pfc 0x23, ctx = the request\'s; stays open', async () => {
    // raw_protocol test_no_auth_presentation_ctx_valid1, _test_auth_signing_auth_level_request (doc §4)
    const c = await boundRaw(h, 1);
    c.send(request({ callId: 2, ctxId: 1, opnum: 0xffff, stub: Buffer.alloc(0) }));
    expectFault(await c.next(), { callId: 2, pfc: DNE, ctxId: 1, status: S.nca_s_op_rng_error });
    await expectEchoWorks(c, 3, 1);
    await expectServesNewClient(h);
  });

  it('an opnum inside the interface that the server does not implement → the same op_rng_error fault (pfc 0x23)', async () => {
    // doc §4 "Unknown opnum" (0x23; [Samba] dcesrv_request sets DID_NOT_EXECUTE whenever the code is op_rng_error)
    const c = await boundRaw(h, 1);
    c.send(request({ callId: 2, ctxId: 1, opnum: 5, stub: Buffer.alloc(0) }));
    expectFault(await c.next(), { callId: 2, pfc: DNE, ctxId: 1, status: S.nca_s_op_rng_error });
    await expectEchoWorks(c, 3, 1);
    await expectServesNewClient(h);
  });
});

describe('10. stub that fails to decode', () => {
  it('Echo with a 2-byte stub → fault 0x6f7 (rpc_x_bad_stub_data), pfc 0x03, ctx = the request\'s; stays open', async () => {
    // MS-RPCE 3.1.3.5.2 (status MUST be 0x6F7); pfc without DID_NOT_EXECUTE and stays open: [Samba] dcesrv_request (doc §4)
    const c = await boundRaw(h, 1);
    c.send(request({ callId: 2, ctxId: 1, opnum: 0, stub: Buffer.from([1, 2]) }));
    expectFault(await c.next(), { callId: 2, pfc: FL, ctxId: 1, status: S.rpc_x_bad_stub_data });
    await expectEchoWorks(c, 3, 1);
    await expectServesNewClient(h);
  });
});

describe('11. errors raised by the handler', () => {
  it.each([
    ['RpcFault(0x80070005)', 1],
    ['DcomlabError with status 0x80070005', 2],
  ])('%s → fault with exactly that status, pfc 0x03 (no DID_NOT_EXECUTE), ctx = the request\'s', async (_name, kind) => {
    // MS-RPCE 3.3.3.4.1 and note <119>: the fault status is the exception code; the routine ran (doc §4)
    const c = await boundRaw(h, 1);
    c.send(request({ callId: 2, ctxId: 1, opnum: 1, stub: throwStub(kind, S.E_ACCESSDENIED) }));
    expectFault(await c.next(), { callId: 2, pfc: FL, ctxId: 1, status: S.E_ACCESSDENIED });
    await expectEchoWorks(c, 3, 1);
    await expectServesNewClient(h);
  });

  it('a plain JS Error → fault nca_s_fault_unspec 0x1c000012, pfc 0x03 (our choice)', async () => {
    // Our choice: C706 Appendix E nca_s_fault_unspec for a server error with no better code; sent as a fault per MS-RPCE 3.3.3.4.1
    const c = await boundRaw(h, 1);
    c.send(request({ callId: 2, ctxId: 1, opnum: 1, stub: throwStub(0, 0) }));
    expectFault(await c.next(), { callId: 2, pfc: FL, ctxId: 1, status: S.nca_s_fault_unspec });
    await expectEchoWorks(c, 3, 1);
    await expectServesNewClient(h);
  });
});

describe('12. request fragment size', () => {
  it('a request fragment larger than 5840 bytes → fault nca_s_proto_error, pfc 0x03, ctx 0, close', async () => {
    // raw_protocol _test_neg_xmit_check_values (doc §2 table "Request frag_length > 5840")
    const c = await boundRaw(h, 1);
    const data = Buffer.alloc(5840 - 24 - 8 + 1, 0x41); // Blob stub = 8 + n bytes → frag 5841
    const pdu = encodePdu(request({ callId: 2, ctxId: 1, opnum: 3, stub: blobStub(data) }));
    expect(pdu.length).toBe(5841);
    c.send(pdu);
    expectFault(await c.next(), { callId: 2, pfc: FL, ctxId: 0, status: S.nca_s_proto_error });
    await expectClosed(c);
    await expectServesNewClient(h);
  });

  it('a 5840-byte fragment is accepted even after 2048 was negotiated (transport maximum, not the negotiated one)', async () => {
    // raw_protocol _test_neg_xmit_check_values (doc §2 table)
    const c = await boundRaw(h, 1, { maxXmit: 2048, maxRecv: 2048 });
    const data = Buffer.alloc(5840 - 24 - 8, 0x42);
    const pdu = encodePdu(request({ callId: 2, ctxId: 1, opnum: 3, stub: blobStub(data) }));
    expect(pdu.length).toBe(5840);
    c.send(pdu);
    const frags = await collectResponse(c, 2, 1, 2048);
    expectFragmentFlags(frags);
    expect(blobOut(Buffer.concat(frags.map((f) => f.stub)))).toEqual({ n: data.length, data: Buffer.from(data).reverse(), status: 0 });
  });
});

describe('13. fragments out of order', () => {
  it.each([
    ['pfc 0x00 (neither FIRST nor LAST)', 0],
    ['pfc LAST only', PFC.LAST_FRAG],
  ])('continuation without a first fragment (%s) → fault nca_s_proto_error, pfc 0x03, ctx 0, close', async (_n, flags) => {
    // raw_protocol test_none_only_requests / test_last_only_requests (doc §2 table); Windows was tested on ctx 0
    const c = await boundRaw(h, 0);
    c.send(request({ callId: 2, ctxId: 0, opnum: 0, stub: echoStub(1), flags }));
    expectFault(await c.next(), { callId: 2, pfc: FL, ctxId: 0, status: S.nca_s_proto_error });
    await expectClosed(c);
    await expectServesNewClient(h);
  });

  it('two FIRST-only fragments with the same call id → the second gets nca_s_proto_error, pfc 0x03, ctx = the request\'s, close', async () => {
    // raw_protocol test_first_only_requests (doc §2 table)
    const c = await boundRaw(h, 1);
    c.send(request({ callId: 2, ctxId: 1, opnum: 0, stub: echoStub(1), flags: PFC.FIRST_FRAG }));
    expect(await c.quietFor(100)).toBe('silent');
    c.send(request({ callId: 2, ctxId: 1, opnum: 0, stub: echoStub(1), flags: PFC.FIRST_FRAG }));
    expectFault(await c.next(), { callId: 2, pfc: FL, ctxId: 1, status: S.nca_s_proto_error });
    await expectClosed(c);
    await expectServesNewClient(h);
  });

  it('a new FIRST (call 51) while call 50 is still being reassembled (no CONC_MPX) → fault for call 50, nca_s_proto_error, pfc 0x03, close', async () => {
    // raw_protocol test_mix_requests (doc §2 table); Windows was tested on ctx 0
    const c = await boundRaw(h, 0);
    c.send(request({ callId: 50, ctxId: 0, opnum: 0, stub: echoStub(1), flags: PFC.FIRST_FRAG }));
    expect(await c.quietFor(100)).toBe('silent');
    c.send(request({ callId: 51, ctxId: 0, opnum: 0, stub: echoStub(1), flags: PFC.FIRST_FRAG }));
    expectFault(await c.next(), { callId: 50, pfc: FL, ctxId: 0, status: S.nca_s_proto_error });
    await expectClosed(c);
    await expectServesNewClient(h);
  });

  it('… and that fault carries the OLD call\'s context id (1), not 0', async () => {
    // [Samba] dcesrv_core.c: "we need to return the FAULT on the already existing call. This is important to get the
    // call_id and context_id right."; raw_protocol test_mix_requests asserts rep.context_id == req.context_id
    const c = await boundRaw(h, 1);
    c.send(request({ callId: 50, ctxId: 1, opnum: 0, stub: echoStub(1), flags: PFC.FIRST_FRAG }));
    expect(await c.quietFor(100)).toBe('silent');
    c.send(request({ callId: 51, ctxId: 1, opnum: 0, stub: echoStub(1), flags: PFC.FIRST_FRAG }));
    expectFault(await c.next(), { callId: 50, pfc: FL, ctxId: 1, status: S.nca_s_proto_error });
    await expectClosed(c);
    await expectServesNewClient(h);
  });
});

describe('14. request size limit (maxRequestSize 64 KiB)', () => {
  it('reassembled stub > the limit → fault 0x5 (access denied), pfc 0x03, ctx = the request\'s, close', async () => {
    // raw_protocol test_fragmented_requests05 (alloc_hint 0, total > limit); MS-RPCE 3.3.3.5.4 (doc §2 table)
    const c = await boundRaw(small, 1);
    const frags = fragmentedRequest({ callId: 2, ctxId: 1, opnum: 3, stub: Buffer.alloc(70_000), maxFrag: 5840 })
      .map((f) => ({ ...f, allocHint: 0 }));
    expect(frags.length).toBe(13);
    c.send(frags.map((f) => encodePdu(f)));
    expectFault(await c.next(), { callId: 2, pfc: FL, ctxId: 1, status: S.rpc_s_access_denied });
    await expectClosed(c);
    await expectServesNewClient(small);
  });

  it('alloc_hint > the limit on a first (not last) fragment → fault 0x5, pfc 0x03, ctx = the request\'s, close', async () => {
    // raw_protocol test_fragmented_requests04 (doc §2 table)
    const c = await boundRaw(small, 1);
    c.send(request({ callId: 2, ctxId: 1, opnum: 3, stub: Buffer.alloc(1000), flags: PFC.FIRST_FRAG, allocHint: 64 * 1024 + 1 }));
    expectFault(await c.next(), { callId: 2, pfc: FL, ctxId: 1, status: S.rpc_s_access_denied });
    await expectClosed(c);
    await expectServesNewClient(small);
  });

  it('a single-fragment (FIRST|LAST) request with alloc_hint 0xffffffff is answered normally', async () => {
    // raw_protocol test_alloc_hint (Windows answers opnum 0/1 with alloc_hint=0xffffffff); [Samba] checks alloc_hint only when LAST is not set
    const c = await boundRaw(h, 1);
    c.send(request({ callId: 2, ctxId: 1, opnum: 0, stub: echoStub(0x77), allocHint: 0xffffffff }));
    expectResponse(await c.next(), { callId: 2, ctxId: 1 });
    await expectEchoWorks(c, 3, 1);
  });
});

describe('15. pending cancel on a first fragment', () => {
  it('FIRST|PENDING_CANCEL → fault rpc_s_no_call_active 0x6bd, pfc 0x23, ctx 0, close', async () => {
    // raw_protocol test_first_cancel_requests (doc §2 table)
    const c = await boundRaw(h, 1);
    c.send(request({ callId: 2, ctxId: 1, opnum: 0, stub: echoStub(1), flags: PFC.FIRST_FRAG | PFC.PENDING_CANCEL }));
    expectFault(await c.next(), { callId: 2, pfc: DNE, ctxId: 0, status: S.rpc_s_no_call_active });
    await expectClosed(c);
    await expectServesNewClient(h);
  });
});

describe('16. alter_context and auth3 mistakes', () => {
  it('alter_context with zero contexts → fault nca_s_proto_error, pfc 0x23, ctx 0, close', async () => {
    // raw_protocol test_alter_no_auth_no_ctx (doc §2 table)
    const c = await boundRaw(h, 1);
    c.send(alter({ callId: 2, contexts: [] }));
    expectFault(await c.next(), { callId: 2, pfc: DNE, ctxId: 0, status: S.nca_s_proto_error });
    await expectClosed(c);
    await expectServesNewClient(h);
  });

  it('alter_context whose context has zero transfer syntaxes → fault nca_s_proto_error, pfc 0x23, ctx 0, close', async () => {
    // raw_protocol test_no_auth_presentation_ctx_invalid3 (doc §2 table)
    const c = await boundRaw(h, 1);
    c.send(alter({ callId: 2, contexts: [ctxItem(2, EPM, [])] }));
    expectFault(await c.next(), { callId: 2, pfc: DNE, ctxId: 0, status: S.nca_s_proto_error });
    await expectClosed(c);
    await expectServesNewClient(h);
  });

  it('auth3 on an unauthenticated association → fault nca_s_proto_error, pfc 0x23, ctx 0, close', async () => {
    // raw_protocol test_spnego_connect_reauth_auth3; [Samba] dcesrv_auth3 !auth_started (doc §2 table)
    const c = await boundRaw(h, 1);
    c.send(simple(PType.auth3, 2, FL, Buffer.alloc(4)));
    expectFault(await c.next(), { callId: 2, pfc: DNE, ctxId: 0, status: S.nca_s_proto_error });
    await expectClosed(c);
    await expectServesNewClient(h);
  });
});

describe('17. PDU types a client never sends', () => {
  const bindAckPdu: Pdu = {
    ptype: PType.bind_ack, rpcVersMinor: 0, flags: FL, drep: 0x10000000, callId: 2, maxXmitFrag: 5840, maxRecvFrag: 5840,
    assocGroupId: 0x1234, secAddr: '135', results: [{ result: 0, reason: 0, transferSyntax: { uuid: ITEST.uuid, version: 2 } }],
  };
  const responsePdu: Pdu = {
    ptype: PType.response, rpcVersMinor: 0, flags: FL, drep: 0x10000000, callId: 2, allocHint: 4, ctxId: 1, cancelCount: 0, reserved: 0,
    stub: Buffer.alloc(4),
  };
  it.each([
    ['bind_ack', bindAckPdu],
    ['response', responsePdu],
  ])('a %s sent to the server → fault nca_s_proto_error, pfc 0x23, ctx 0, close', async (_n, pdu) => {
    // [Samba] dcesrv_process_ncacn_packet default: → dcesrv_fault_disconnect(PROTO_ERROR); MS-RPCE 3.3.3.5.7 (doc §2 table)
    const c = await boundRaw(h, 1);
    c.send(pdu);
    expectFault(await c.next(), { callId: 2, pfc: DNE, ctxId: 0, status: S.nca_s_proto_error });
    await expectClosed(c);
    await expectServesNewClient(h);
  });
});

describe('18. co_cancel and orphaned', () => {
  it('co_cancel with no call → ignored: no answer, the connection stays open', async () => {
    // raw_protocol test_co_cancel_no_request (doc §6)
    const c = await boundRaw(h, 1);
    c.send(simple(PType.co_cancel, 9));
    expect(await c.quietFor(300)).toBe('silent');
    await expectEchoWorks(c, 10, 1);
    await expectServesNewClient(h);
  });

  it('co_cancel between the fragments of a request → ignored; the call completes with cancel_count 0', async () => {
    // raw_protocol test_co_cancel_request_after_first (doc §6)
    const c = await boundRaw(h, 1);
    const stub = slowStub(0, 0x4242);
    c.send(request({ callId: 2, ctxId: 1, opnum: 2, stub: stub.subarray(0, 4), flags: PFC.FIRST_FRAG, allocHint: 8 }));
    c.send(simple(PType.co_cancel, 2));
    expect(await c.quietFor(100)).toBe('silent');
    c.send(request({ callId: 2, ctxId: 1, opnum: 2, stub: stub.subarray(4), flags: PFC.LAST_FRAG, allocHint: 4 }));
    const p = expectResponse(await c.next(), { callId: 2, ctxId: 1 });
    expect(slowOut(p.stub)).toEqual({ v: 0x4242, status: 0 });
  });

  it('orphaned with no call → ignored: no answer, the connection stays open', async () => {
    // raw_protocol test_orphaned_no_request (doc §6)
    const c = await boundRaw(h, 1);
    c.send(simple(PType.orphaned, 9));
    expect(await c.quietFor(300)).toBe('silent');
    await expectEchoWorks(c, 10, 1);
  });

  it('orphaned during a Slow call → no response for that call, the handler is aborted, the connection stays usable', async () => {
    // MS-RPCE 3.3.1.5.10 / C706 12.6.4.11 (orphaned: the client abandons the call)
    const c = await boundRaw(h, 1);
    c.send(request({ callId: 0x5151, ctxId: 1, opnum: 2, stub: slowStub(400, 1) }));
    await new Promise((r) => setTimeout(r, 50));
    c.send(simple(PType.orphaned, 0x5151));
    expect(await c.quietFor(700)).toBe('silent');
    expect(h.aborted.some((a) => a.callId === 0x5151)).toBe(true);
    await expectEchoWorks(c, 0x5152, 1);
    await expectServesNewClient(h);
  });

  it('orphaned between the fragments of a request, then the LAST fragment → ignored; the call is answered', async () => {
    // raw_protocol test_orphaned_request_after_first_last (doc §6); [Samba] "This matches what windows is doing..."
    const c = await boundRaw(h, 1);
    const stub = slowStub(0, 0x4343);
    c.send(request({ callId: 2, ctxId: 1, opnum: 2, stub: stub.subarray(0, 4), flags: PFC.FIRST_FRAG, allocHint: 8 }));
    c.send(simple(PType.orphaned, 2));
    expect(await c.quietFor(100)).toBe('silent');
    c.send(request({ callId: 2, ctxId: 1, opnum: 2, stub: stub.subarray(4), flags: PFC.LAST_FRAG, allocHint: 4 }));
    const p = expectResponse(await c.next(), { callId: 2, ctxId: 1 });
    expect(slowOut(p.stub)).toEqual({ v: 0x4343, status: 0 });
    await expectServesNewClient(h);
  });

  it('orphaned between fragments, then a NEW request (no LAST) → fault nca_s_proto_error on the old call id, pfc 0x03, close', async () => {
    // raw_protocol test_orphaned_request_after_first_no_last (doc §6); Windows was tested on ctx 0
    const c = await boundRaw(h, 0);
    const stub = slowStub(0, 1);
    c.send(request({ callId: 2, ctxId: 0, opnum: 2, stub: stub.subarray(0, 4), flags: PFC.FIRST_FRAG, allocHint: 8 }));
    c.send(simple(PType.orphaned, 2));
    expect(await c.quietFor(100)).toBe('silent');
    c.send(request({ callId: 3, ctxId: 0, opnum: 0, stub: echoStub(1) }));
    expectFault(await c.next(), { callId: 2, pfc: FL, ctxId: 0, status: S.nca_s_proto_error });
    await expectClosed(c);
    await expectServesNewClient(h);
  });
});

/** Read response fragments of one call until LAST; checks call id and flags on each. */
async function collectResponse(c: Awaited<ReturnType<Harness['raw']>>, callId: number, ctxId = 1, maxFrag = 5840): Promise<ResponsePdu[]> {
  const out: ResponsePdu[] = [];
  for (;;) {
    const r = await c.next();
    expect(r.pdu.ptype, `expected a response, got ${describePdu(r)}`).toBe(PType.response);
    const p = r.pdu as ResponsePdu;
    expect({ callId: p.callId, ctxId: p.ctxId, cancelCount: p.cancelCount }).toEqual({ callId, ctxId, cancelCount: 0 });
    expect(r.bytes.length).toBeLessThanOrEqual(maxFrag);
    out.push(p);
    if (p.flags & PFC.LAST_FRAG) return out;
    if (out.length > 100) throw new Error('too many fragments');
  }
}

function expectFragmentFlags(frags: ResponsePdu[]): void {
  const n = frags.length;
  expect(frags.map((f) => f.flags)).toEqual(frags.map((_, i) => (i === 0 ? PFC.FIRST_FRAG : 0) | (i === n - 1 ? PFC.LAST_FRAG : 0)));
  // alloc_hint: the stub bytes still to come, this fragment included ([Samba] dcesrv_reply.c alloc_hint = stub.length left)
  let left = frags.reduce((s, f) => s + f.stub.length, 0);
  const hints: number[] = [];
  const want: number[] = [];
  for (const f of frags) {
    hints.push(f.allocHint);
    want.push(left);
    left -= f.stub.length;
  }
  expect(hints).toEqual(want);
}

describe('19. fragmentation both ways', () => {
  it('a 20 KB request in 4 fragments is reassembled; the 20 KB response comes back in fragments with FIRST/LAST and alloc_hint', async () => {
    // C706 12.6.2 / MS-RPCE 3.3.1.5.6 (fragmentation; max_xmit_frag from the bind_ack, doc §5)
    const c = await boundRaw(h, 1);
    const data = bigPattern(20_000);
    const frags = fragmentedRequest({ callId: 2, ctxId: 1, opnum: 3, stub: blobStub(data), maxFrag: 5840 });
    expect(frags.length).toBe(4);
    expect(frags.map((f) => f.flags)).toEqual([PFC.FIRST_FRAG, 0, 0, PFC.LAST_FRAG]);
    c.send(frags.map((f) => encodePdu(f)));
    const resp = await collectResponse(c, 2);
    expect(resp.length).toBeGreaterThan(1);
    expectFragmentFlags(resp);
    expect(blobOut(Buffer.concat(resp.map((f) => f.stub)))).toEqual({ n: 20_000, data: Buffer.from(data).reverse(), status: 0 });
    await expectEchoWorks(c, 3, 1);
  });

  it('a large response to a small request respects a negotiated 4280-byte max_xmit_frag', async () => {
    // raw_protocol test_neg_xmit_* (negotiated size applies to the server's fragments, doc §5)
    const c = await boundRaw(h, 1, { maxXmit: 4280, maxRecv: 4280 });
    c.send(request({ callId: 2, ctxId: 1, opnum: 4, stub: bigStub(30_000) }));
    const resp = await collectResponse(c, 2, 1, 4280);
    expect(resp.length).toBeGreaterThanOrEqual(8);
    expectFragmentFlags(resp);
    expect(bigOut(Buffer.concat(resp.map((f) => f.stub)))).toEqual({ n: 30_000, data: bigPattern(30_000), status: 0 });
  });
});

describe('response p_cont_id', () => {
  it('a response to a request on context id 0x0101 carries p_cont_id 0x01 (truncated to 8 bits)', async () => {
    // doc §5 "Response PDUs: p_cont_id & 0xFF"; Samba dcesrv_reply.c: "Windows truncates the context_id with & 0xFF, so we do"
    const c = await boundRaw(h, 0x0101);
    c.send(request({ callId: 2, ctxId: 0x0101, opnum: 0, stub: echoStub(5) }));
    const r = await c.next();
    expect(r.pdu.ptype, `expected a response, got ${describePdu(r)}`).toBe(PType.response);
    expect((r.pdu as ResponsePdu).ctxId).toBe(0x01);
  });
});

describe('20. several calls in flight on one connection', () => {
  it('5 requests sent without waiting are all answered, matched by call id', async () => {
    // C706 12.4 / MS-RPCE 3.3.1.5 (calls are matched by call_id); CONC_MPX asked for and echoed in bind_ack (doc §5)
    const c = await h.raw();
    c.send(bind({ callId: 1, flags: FL | PFC.CONC_MPX, contexts: [ctxItem(1, ITEST)] }));
    const ack = expectAck(await c.next());
    expect(ack.flags).toBe(FL | PFC.CONC_MPX);
    const delays = [200, 50, 150, 0, 100];
    c.send(delays.map((ms, i) => encodePdu(request({ callId: 100 + i, ctxId: 1, opnum: 2, stub: slowStub(ms, 1000 + i) }))));
    const got = new Map<number, number>();
    for (const r of await c.take(5)) {
      const p = expectResponse(r, { callId: r.pdu.callId, ctxId: 1 });
      got.set(p.callId, slowOut(p.stub).v);
    }
    expect([...got.entries()].sort((a, b) => a[0] - b[0])).toEqual(delays.map((_, i) => [100 + i, 1000 + i]));
    expect(hex(got.size)).toBe(hex(5));
    await expectServesNewClient(h);
  });
});
