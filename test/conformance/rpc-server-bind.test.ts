// Conformance of RpcServer's association setup against the Windows answers pinned in
// docs/research/rpc-server-behaviour.md (Samba raw_protocol.py vs Windows 2012R2, MS-RPCE, C706):
// bind / bind_nak / bind_ack / alter_context_resp, presentation-context negotiation, fragment
// sizes, the secondary address, and big-endian clients. Every mistake is followed by a check that
// a well-behaved client on a new connection is still served.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import * as ndr from '../../src/ndr';
import { DREP_LE, NDR20, NDR64, PFC, PType, encodePdu, isLittleEndian, type BindAckPdu, type ResponsePdu } from '../../src/pdu';
import { alter, bind, btfnSyntax, ctxItem, request, type Received } from '../support/raw-rpc';
import {
  EPM, ITEST, ITest, MGMT, UNKNOWN_IF, ZERO_SYNTAX,
  echoOut, echoStub, expectAck, expectBindNak, expectClosed, expectEchoWorks, expectFault,
  expectServesNewClient, startServer, type Harness,
} from './rpc-server-fixture';

const FL = PFC.FIRST_FRAG | PFC.LAST_FRAG;
const NDR20_SYNTAX = { uuid: NDR20.uuid, version: NDR20.version };

let h: Harness;
let rebindH: Harness;

beforeAll(async () => {
  h = await startServer();
  rebindH = await startServer({ acceptRebind: true });
});
afterEach(() => {
  h.cleanup();
  rebindH.cleanup();
});
afterAll(async () => {
  await h.stop();
  await rebindH.stop();
});

describe('1. a second bind on a bound connection', () => {
  it('is answered with bind_nak reason 0, versions [5.0], then the connection is closed', async () => {
    // raw_protocol test_no_auth_valid_valid_request (doc §1)
    const c = await h.raw();
    c.send(bind({ callId: 1, contexts: [ctxItem(1, ITEST)] }));
    const ack = expectAck(await c.next());
    expect(ack.results).toEqual([{ result: 0, reason: 0, transferSyntax: NDR20_SYNTAX }]);
    c.send(bind({ callId: 2, contexts: [ctxItem(2, EPM)] }));
    expectBindNak(await c.next(), { callId: 2, reason: 0 });
    await expectClosed(c);
    await expectServesNewClient(h);
  });

  it('with acceptRebind: true is answered with a bind_ack and the association keeps working', async () => {
    // RpcServerOptions.acceptRebind (dcomlab option; Windows behaviour is the nak above, doc §1)
    const c = await rebindH.raw();
    c.send(bind({ callId: 1, contexts: [ctxItem(1, ITEST)] }));
    expectAck(await c.next());
    c.send(bind({ callId: 2, contexts: [ctxItem(2, ITEST)] }));
    const r = await c.next();
    const ack = expectAck(r, PType.bind_ack);
    expect({ callId: ack.callId, pfc: ack.flags, results: ack.results })
      .toEqual({ callId: 2, pfc: FL, results: [{ result: 0, reason: 0, transferSyntax: NDR20_SYNTAX }] });
    await expectEchoWorks(c, 3, 2);
    await expectServesNewClient(rebindH);
  });
});

describe('2. a first PDU that is not a bind', () => {
  it('request before any bind → bind_nak reason 4 (protocol_version_not_supported), close', async () => {
    // doc §2 table "Request ... as the first PDU" [Samba dcesrv_bind header check → nak 4]
    const c = await h.raw();
    c.send(request({ callId: 7, ctxId: 0, opnum: 0, stub: echoStub(1) }));
    expectBindNak(await c.next(), { callId: 7, reason: 4 });
    await expectClosed(c);
    await expectServesNewClient(h);
  });

  it('alter_context before any bind → bind_nak reason 4, close', async () => {
    // doc §2 table "alter_context ... as the first PDU" [Samba]
    const c = await h.raw();
    c.send(alter({ callId: 8, contexts: [ctxItem(0, ITEST)] }));
    expectBindNak(await c.next(), { callId: 8, reason: 4 });
    await expectClosed(c);
    await expectServesNewClient(h);
  });
});

describe('3. wrong protocol version in the bind', () => {
  it('rpc_vers_minor 1 → bind_nak reason 4 with versions [5.0], close', async () => {
    // MS-RPCE 3.3.1.5.1; doc §2 table "rpc_vers≠5 or rpc_vers_minor≠0" [Samba dcerpc_verify_ncacn_packet_header]
    const c = await h.raw();
    c.send(bind({ callId: 3, rpcVersMinor: 1, contexts: [ctxItem(0, ITEST)] }));
    expectBindNak(await c.next(), { callId: 3, reason: 4 });
    await expectClosed(c);
    await expectServesNewClient(h);
  });

  it('rpc_vers 4 → bind_nak reason 4 echoing the bind call_id, versions [5.0], close', async () => {
    // MS-RPCE 3.3.1.5.1; doc §2 table; Samba dcesrv_bind_nak sets pkt.call_id = call->pkt.call_id
    const c = await h.raw();
    const bytes = encodePdu(bind({ callId: 4, contexts: [ctxItem(0, ITEST)] }));
    bytes[0] = 4; // rpc_vers
    c.send(bytes);
    expectBindNak(await c.next(), { callId: 4, reason: 4 });
    await expectClosed(c);
    await expectServesNewClient(h);
  });
});

describe('4. binds without usable presentation contexts', () => {
  it('zero context items → bind_nak reason 0, close', async () => {
    // raw_protocol test_no_auth_no_ctx (doc §2)
    const c = await h.raw();
    c.send(bind({ callId: 5, contexts: [] }));
    expectBindNak(await c.next(), { callId: 5, reason: 0 });
    await expectClosed(c);
    await expectServesNewClient(h);
  });

  it('a context item with zero transfer syntaxes → bind_nak reason 0, close', async () => {
    // raw_protocol test_no_auth_presentation_ctx_invalid2 (doc §2)
    const c = await h.raw();
    c.send(bind({ callId: 6, contexts: [ctxItem(1, ITEST, [])] }));
    expectBindNak(await c.next(), { callId: 6, reason: 0 });
    await expectClosed(c);
    await expectServesNewClient(h);
  });
});

describe('5. presentation-context negotiation', () => {
  async function bindResults(contexts: Parameters<typeof bind>[0]['contexts'], callId = 9): Promise<{ ack: BindAckPdu; c: Awaited<ReturnType<Harness['raw']>> }> {
    const c = await h.raw();
    c.send(bind({ callId, contexts }));
    const ack = expectAck(await c.next());
    expect({ callId: ack.callId, pfc: ack.flags }).toEqual({ callId, pfc: FL });
    return { ack, c };
  }

  it('unknown interface → provider_rejection / abstract_syntax_not_supported (2/1), zeroed transfer syntax', async () => {
    // raw_protocol test_no_auth_presentation_ctx_invalid1 (doc §3)
    const { ack, c } = await bindResults([ctxItem(1, UNKNOWN_IF)]);
    expect(ack.results).toEqual([{ result: 2, reason: 1, transferSyntax: ZERO_SYNTAX }]);
    expect(ack.assocGroupId).not.toBe(0);
    // The bind itself is acked normally: the connection stays open, a request on ctx 1 is unk_if.
    c.send(request({ callId: 10, ctxId: 1, opnum: 0, stub: echoStub(1) }));
    expectFault(await c.next(), { callId: 10, pfc: FL | PFC.DID_NOT_EXECUTE, ctxId: 0, status: 0x1c010003 });
    await expectServesNewClient(h);
  });

  it('known interface offered with NDR64 only → 2/2 (proposed_transfer_syntaxes_not_supported), zeroed syntax', async () => {
    // raw_protocol test_no_auth_presentation_ctx_valid2 (doc §3); dcomlab implements NDR 2.0 only
    const { ack } = await bindResults([ctxItem(1, ITEST, [{ ...NDR64 }])]);
    expect(ack.results).toEqual([{ result: 2, reason: 2, transferSyntax: ZERO_SYNTAX }]);
    await expectServesNewClient(h);
  });

  it('NDR64 + NDR20 in one item → accepted with NDR20', async () => {
    // MS-RPCE 3.3.1.5.6; raw_protocol …ctx_valid1 (server finds its syntax anywhere in the list, doc §3)
    const { ack, c } = await bindResults([ctxItem(1, ITEST, [{ ...NDR64 }, { ...NDR20 }])]);
    expect(ack.results).toEqual([{ result: 0, reason: 0, transferSyntax: NDR20_SYNTAX }]);
    await expectEchoWorks(c, 11, 1);
  });

  it('two new contexts in one bind → only the first accepted, the second 2/2 with a zeroed syntax', async () => {
    // raw_protocol test_no_auth_presentation_ctx_no_ndr64 (doc §3 "only ONE new context per bind/alter")
    const { ack, c } = await bindResults([ctxItem(1, ITEST), ctxItem(2, EPM)]);
    expect(ack.results).toEqual([
      { result: 0, reason: 0, transferSyntax: NDR20_SYNTAX },
      { result: 2, reason: 2, transferSyntax: ZERO_SYNTAX },
    ]);
    await expectEchoWorks(c, 12, 1);
    c.send(request({ callId: 13, ctxId: 2, opnum: 2, stub: Buffer.alloc(0) }));
    expectFault(await c.next(), { callId: 13, pfc: FL | PFC.DID_NOT_EXECUTE, ctxId: 0, status: 0x1c010003 });
    await expectServesNewClient(h);
  });

  it('bind-time feature negotiation item (bits 0x3) → negotiate_ack (3), reason 3, zeroed syntax', async () => {
    // MS-RPCE 3.3.1.5.3 / 2.2.2.14; raw_protocol test_no_auth_bind_time_* (doc §3)
    const { ack, c } = await bindResults([ctxItem(1, MGMT), ctxItem(2, MGMT, [btfnSyntax(3)])]);
    expect(btfnSyntax(3).uuid).toBe('6cb71c2c-9812-4540-0300-000000000000');
    expect(ack.results).toEqual([
      { result: 0, reason: 0, transferSyntax: NDR20_SYNTAX },
      { result: 3, reason: 3, transferSyntax: ZERO_SYNTAX },
    ]);
    // mgmt is_server_listening on the accepted context still works.
    c.send(request({ callId: 14, ctxId: 1, opnum: 2, stub: Buffer.alloc(0) }));
    const r = await c.next();
    expect(r.pdu.ptype).toBe(PType.response);
    expect((r.pdu as ResponsePdu).stub.toString('hex')).toBe('0000000001000000');
  });

  it('two bind-time feature negotiation items in one bind → bind_nak reason 0, close', async () => {
    // raw_protocol test_no_auth_bind_time_twice (doc §3)
    const c = await h.raw();
    c.send(bind({ callId: 15, contexts: [ctxItem(1, MGMT, [btfnSyntax(2)]), ctxItem(2, MGMT, [btfnSyntax(1)])] }));
    expectBindNak(await c.next(), { callId: 15, reason: 0 });
    await expectClosed(c);
    await expectServesNewClient(h);
  });
});

describe('6. fragment-size negotiation', () => {
  // raw_protocol _test_neg_xmit_check_values / test_neg_xmit_* and Impacket's 4280 (doc §5)
  it.each([
    [4280, 4280, 4280],
    [0xffff, 0xffff, 5840],
    [0, 0, 2048],
    [3199, 0xffff, 3192],
  ])('client max_xmit %i / max_recv %i → ack %i / same', async (xmit, recv, both) => {
    const c = await h.raw();
    c.send(bind({ callId: 1, maxXmit: xmit, maxRecv: recv, contexts: [ctxItem(1, ITEST)] }));
    const ack = expectAck(await c.next());
    expect({ maxXmit: ack.maxXmitFrag, maxRecv: ack.maxRecvFrag }).toEqual({ maxXmit: both, maxRecv: both });
    await expectEchoWorks(c, 2, 1);
  });
});

describe('7. secondary address', () => {
  it('bind_ack carries the listening port as a decimal string with its NUL, padded to 4', async () => {
    // raw_protocol _get_netlogon_ctx / _test_no_auth_request_bind_pfc_flags: secondary_address == "%d" % tcp_port (doc §5)
    const c = await h.raw();
    c.send(bind({ callId: 1, contexts: [ctxItem(1, ITEST)] }));
    const r: Received = await c.next();
    const ack = expectAck(r);
    const port = String(h.port);
    const len = r.bytes.readUInt16LE(24);
    expect(len).toBe(port.length + 1);
    expect(r.bytes.toString('latin1', 26, 26 + len)).toBe(port + '\0');
    const pad = (4 - ((26 + len) % 4)) % 4;
    expect(r.bytes.subarray(26 + len, 26 + len + pad).toString('hex')).toBe('00'.repeat(pad));
    expect(r.bytes[26 + len + pad]).toBe(1); // n_results right after the pad
    expect(r.bytes.length).toBe(26 + len + pad + 4 + 24);
    expect(ack.secAddr).toBe(port);
    expect(ack.assocGroupId).not.toBe(0);
  });

  it('alter_context_resp has an empty secondary address (length 0, 2 pad bytes) and the bind-negotiated sizes', async () => {
    // raw_protocol _test_no_auth_request_alter_pfc_flags / _test_neg_xmit_check_values (doc §5)
    const c = await h.raw();
    c.send(bind({ callId: 1, maxXmit: 4280, maxRecv: 4280, contexts: [ctxItem(1, ITEST)] }));
    const bindAck = expectAck(await c.next());
    c.send(alter({ callId: 2, maxXmit: 0xffff, maxRecv: 0xffff, assocGroupId: 0x1234, contexts: [ctxItem(2, EPM)] }));
    const r = await c.next();
    const ack = expectAck(r, PType.alter_context_resp);
    expect(r.bytes.readUInt16LE(24)).toBe(0);
    expect(r.bytes.subarray(26, 28).toString('hex')).toBe('0000');
    expect(r.bytes[28]).toBe(1);
    expect(r.bytes.length).toBe(28 + 4 + 24);
    expect({
      callId: ack.callId, pfc: ack.flags, secAddr: ack.secAddr, maxXmit: ack.maxXmitFrag, maxRecv: ack.maxRecvFrag,
      assocGroupId: ack.assocGroupId, results: ack.results,
    }).toEqual({
      callId: 2, pfc: FL, secAddr: '', maxXmit: 4280, maxRecv: 4280, assocGroupId: bindAck.assocGroupId,
      results: [{ result: 0, reason: 0, transferSyntax: NDR20_SYNTAX }],
    });
  });
});

describe('23. big-endian client', () => {
  it('a bind and a request with drep 00 00 00 00 and a big-endian NDR stub are understood and answered', async () => {
    // C706 12.6.3.1 / 14.1 (drep: receiver makes it right); MS-RPCE 2.2.2.1
    const BE = 0x00000000;
    const c = await h.raw();
    c.send(bind({ callId: 0x01020304, drep: BE, contexts: [ctxItem(1, ITEST)] }));
    const r = await c.next();
    const ack = expectAck(r);
    expect({ callId: ack.callId, results: ack.results }).toEqual({ callId: 0x01020304, results: [{ result: 0, reason: 0, transferSyntax: NDR20_SYNTAX }] });
    const stub = ndr.encodeParams(ITest.ops.Echo.in, { v: 0x11223344 }, { le: false });
    expect(stub.toString('hex')).toBe('11223344');
    c.send(request({ callId: 0x0a0b0c0d, ctxId: 1, opnum: 0, stub, drep: BE }));
    const resp = await c.next();
    expect(resp.pdu.ptype).toBe(PType.response);
    const p = resp.pdu as ResponsePdu;
    expect({ callId: p.callId, ctxId: p.ctxId, pfc: p.flags }).toEqual({ callId: 0x0a0b0c0d, ctxId: 1, pfc: FL });
    const out = isLittleEndian(p.drep) ? echoOut(p.stub) : ndr.decodeParams(ITest.ops.Echo.out, p.stub, { le: false });
    expect(out).toEqual({ v: 0x11223344, status: 0 });
    expect(p.drep === DREP_LE || p.drep === BE).toBe(true);
    await expectServesNewClient(h);
  });
});
