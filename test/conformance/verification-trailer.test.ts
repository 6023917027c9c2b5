// MS-RPCE 2.2.2.13: a request may end with a verification trailer; the server checks it against
// the request and its presentation context, and unmarshals the stub without it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Status } from '../../src/base/status';
import { NDR20 } from '../../src/pdu';
import { encodeVerificationTrailer } from '../../src/rpc/verification-trailer';
import { request } from '../support/raw-rpc';
import {
  boundRaw, echoOut, echoStub, expectClosed, expectFault, expectResponse, expectServesNewClient, ITEST, startServer, type Harness,
} from './rpc-server-fixture';

let h: Harness;
beforeAll(async () => {
  h = await startServer();
});
afterAll(async () => {
  await h.stop();
});

const context = { abstractSyntax: ITEST, transferSyntax: { ...NDR20 } };

describe('verification trailer', () => {
  it('a matching trailer is removed before unmarshalling and the call is answered', async () => {
    const c = await boundRaw(h);
    const stub = echoStub(0x1234);
    const vt = encodeVerificationTrailer(stub.length, { drep: 0x10000000, callId: 2, ctxId: 1, opnum: 0 }, context);
    c.send(request({ callId: 2, ctxId: 1, opnum: 0, stub: Buffer.concat([stub, vt]) }));
    const p = expectResponse(await c.next(), { callId: 2, ctxId: 1 });
    expect(echoOut(p.stub)).toEqual({ v: 0x1234, status: 0 });
  });

  it('a trailer naming another opnum is refused with rpc_s_access_denied, then close (Samba dcesrv_check_verification_trailer)', async () => {
    const c = await boundRaw(h);
    const stub = echoStub(1);
    const vt = encodeVerificationTrailer(stub.length, { drep: 0x10000000, callId: 2, ctxId: 1, opnum: 3 }, context);
    c.send(request({ callId: 2, ctxId: 1, opnum: 0, stub: Buffer.concat([stub, vt]) }));
    expectFault(await c.next(), { callId: 2, pfc: 0x23, ctxId: 1, status: Status.rpc_s_access_denied });
    await expectClosed(c);
    await expectServesNewClient(h);
  });
});
