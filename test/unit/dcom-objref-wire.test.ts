// Malformed OBJREFs on the wire: ICServer::ForwardCall's [in] IClientCallback* carries an OBJREF,
// which the server's stub unmarshals before the method runs. Each malformation is a fault with
// RPC_E_INVALID_OBJREF 0x8001011D, a log line naming the problem, and the server keeps serving.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RpcFault } from '../../src/base/errors';
import { DcomClient, type ComInterface } from '../../src/dcom/client';
import { encodeObjref, OBJREF_STANDARD } from '../../src/dcom/objref';
import { CLSID_CServer, ICServer, IID_IClientCallback, IID_ICServer, startDcomServer, type DcomServer } from '../../src/dcom/server';
import { captureLogger } from '../support/auth-lab';

const HOST = '127.0.0.1';
const valid = () => encodeObjref({
  flags: OBJREF_STANDARD, iid: IID_IClientCallback,
  std: { flags: 0, cPublicRefs: 5, oxid: 0x1122334455667788n, oid: 0x99n, ipid: '11111111-2222-3333-4444-555555555555' },
  saResAddr: { stringBindings: [{ towerId: 7, networkAddr: '127.0.0.3' }], securityBindings: [{ authnSvc: 10, authzSvc: 0xffff, principalName: '' }] },
});
// OBJREF_STANDARD layout (MS-DCOM 2.2.18.1, 2.2.18.4): signature 0, flags 4, iid 8, STDOBJREF 24..63,
// DUALSTRINGARRAY 64: wNumEntries 64, wSecurityOffset 66, aStringArray 68.
const patch = (f: (b: Buffer) => void) => {
  const b = valid();
  f(b);
  return b;
};
const CASES: [string, Buffer, RegExp][] = [
  ['bad signature', patch((b) => b.writeUInt32LE(0x574f4546, 0)), /signature/i],
  ['unknown flavour', patch((b) => b.writeUInt32LE(0x10, 4)), /flag|flavour/i],
  ['zero IID', patch((b) => b.fill(0, 8, 24)), /IID/],
  ['wNumEntries beyond the data', patch((b) => b.writeUInt16LE(0x4000, 64)), /wNumEntries|beyond|truncat/i],
  ['security offset beyond the entries', patch((b) => b.writeUInt16LE(b.readUInt16LE(64) + 3, 66)), /wSecurityOffset/],
  // "127.0.0.3" is entries 1-9, its NUL entry 10, the list's terminator 11: overwrite both NULs.
  ['unterminated string binding', patch((b) => { b.writeUInt16LE(0x41, 68 + 2 * 10); b.writeUInt16LE(0x41, 68 + 2 * 11); }), /unterminated/],
  ['truncated', valid().subarray(0, 50), /truncat|beyond|short|end/i],
];

describe('malformed OBJREFs in an [in] interface pointer', () => {
  let s: DcomServer;
  let c: DcomClient;
  let itf: ComInterface;
  const log = captureLogger('debug');
  beforeAll(async () => {
    s = await startDcomServer({ host: HOST, resolverPort: 0, logger: log.logger });
    c = new DcomClient({ resolverPort: s.resolverPort, noPing: true });
    const a = await c.activate(HOST, CLSID_CServer, [IID_ICServer]);
    itf = a.interfaces[0]!.iface!;
  });
  afterAll(async () => {
    await c?.close();
    await s?.stop();
  });

  it('a well-formed OBJREF reaches the method (no callback hook here: E_NOTIMPL)', async () => {
    const b = valid();
    const r = await itf.call(ICServer, 'ForwardCall', { pCallback: { ulCntData: b.length, abData: b } });
    expect(r.hresult).toBe(0x80004001);
  });

  for (const [name, bytes, why] of CASES) {
    it(`${name}: fault RPC_E_INVALID_OBJREF naming the problem; the server still answers`, async () => {
      const from = log.lines.length;
      const err = await itf.call(ICServer, 'ForwardCall', { pCallback: { ulCntData: bytes.length, abData: bytes } }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RpcFault);
      expect((err as RpcFault).status).toBe(0x8001011d);
      const fault = log.records().slice(from).find((r) => r.msg === 'fault');
      expect(String(fault?.err)).toMatch(why);
      expect((await itf.call(ICServer, 'Ping', { value: 5 })).echo).toBe(5);
    });
  }

  it('ForwardCall(NULL) returns E_POINTER without a fault', async () => {
    expect((await itf.call(ICServer, 'ForwardCall', { pCallback: null })).hresult).toBe(0x80004003);
  });
});
