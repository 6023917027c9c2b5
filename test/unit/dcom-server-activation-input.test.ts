// Malformed and unservable activation requests on dcomlab's DCOM server, over loopback. The
// activation methods "MUST NOT throw exceptions" (MS-DCOM 3.1.2.5.2.2): each bad request is a
// response with a failure HRESULT (E_INVALIDARG for a bad blob: Windows' value is unverified),
// never a fault or a crash, the log names the typed error, and the connection stays usable.
// Protocol sequences: the exporter serves ncacn_ip_tcp (7) only (MS-DCOM 3.1.2.5.2.3).
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { orpcthis } from '../support/dcom';
import { RpcConnection } from '../../src/rpc/client';
import { bindInterface, type InterfaceClient } from '../../src/rpc/typed';
import {
  CLSID_ActivationPropertiesOut, CLSID_InstantiationInfo, CLSID_ScmRequestInfo, CLSID_ServerLocationInfo,
  encodeActivationInterfacePointer, type ActivationProperty, type MInterfacePointerValue,
} from '../../src/dcom/activation';
import { IRemoteActivation, IRemoteSCMActivator } from '../../src/dcom/interfaces/activation';
import { encodeObjref, OBJREF_STANDARD } from '../../src/dcom/objref';
import { CLSID_CServer, HR, IID_ICServer, startDcomServer, type DcomServer } from '../../src/dcom/server';
import { captureLogger, type CapturedLog } from '../support/auth-lab';

const HOST = '127.0.0.1';

const instantiation = (iids: string[]): ActivationProperty => ({
  clsid: CLSID_InstantiationInfo, name: 'InstantiationInfoData', value: {
    classId: CLSID_CServer, classCtx: 0, actvflags: 0, fIsSurrogate: 0, cIID: iids.length, instFlag: 0, pIID: iids, thisSize: 0,
    clientCOMVersion: { MajorVersion: 5, MinorVersion: 7 },
  },
});
const scmRequest = (protseqs: number[]): ActivationProperty => ({
  clsid: CLSID_ScmRequestInfo, name: 'ScmRequestInfoData', value: {
    pdwReserved: null, remoteRequest: { ClientImpLevel: 2, cRequestedProtseqs: protseqs.length, pRequestedProtseqs: protseqs },
  },
});
const location: ActivationProperty = {
  clsid: CLSID_ServerLocationInfo, name: 'LocationInfoData', value: { machineName: null, processId: 0, apartmentId: 0, contextId: 0 },
};
const actIn = (props: ActivationProperty[]) => encodeActivationInterfacePointer('in', { destCtx: 2 }, props);
const good = () => actIn([instantiation([IID_ICServer]), scmRequest([7]), location]);
const mip = (abData: Buffer): MInterfacePointerValue => ({ ulCntData: abData.length, abData });
const patched = (at: number, value: number) => {
  const b = Buffer.from(good().abData);
  b.writeUInt32LE(value, at);
  return mip(b);
};

describe('malformed and unservable activation requests', () => {
  let s: DcomServer;
  let log: CapturedLog;
  let conn: RpcConnection;
  let scm: InterfaceClient<typeof IRemoteSCMActivator>;
  beforeAll(async () => {
    log = captureLogger('info');
    s = await startDcomServer({ host: HOST, resolverPort: 0, logger: log.logger });
    conn = await RpcConnection.connect(HOST, s.resolverPort);
    scm = await bindInterface(conn, IRemoteSCMActivator);
  });
  afterAll(async () => {
    await conn?.close();
    s?.oxidResolver.stop();
    await s?.stop();
  });

  const refusals = () => log.records().filter((r) => r.msg === 'activation refused');

  const cases: [string, () => MInterfacePointerValue | null, number, string][] = [
    ['NULL pActProperties', () => null, HR.E_INVALIDARG, 'ActivationRejected'],
    ['a bad MEOW signature', () => patched(0, 0x574f454e), HR.E_INVALIDARG, 'ObjrefError'],
    ['an unknown OBJREF flavour', () => patched(4, 0x10), HR.E_INVALIDARG, 'ObjrefError'],
    ['a truncated OBJREF', () => mip(good().abData.subarray(0, 30)), HR.E_INVALIDARG, 'ObjrefError'],
    ['a truncated activation blob', () => mip(good().abData.subarray(0, 100)), HR.E_INVALIDARG, 'NdrDecodeError'],
    ['an empty MInterfacePointer', () => mip(Buffer.alloc(0)), HR.E_INVALIDARG, 'ObjrefError'],
    ['an OBJREF_STANDARD', () => mip(encodeObjref({
      flags: OBJREF_STANDARD, iid: IID_ICServer, std: { flags: 0, cPublicRefs: 1, oxid: 1n, oid: 2n, ipid: randomUUID() },
      saResAddr: { stringBindings: [], securityBindings: [] },
    })), HR.E_INVALIDARG, 'ObjrefError'],
    ['CLSID_ActivationPropertiesOut instead of In', () => encodeActivationInterfacePointer('in', { destCtx: 2 }, [instantiation([IID_ICServer]), scmRequest([7])], { clsid: CLSID_ActivationPropertiesOut }), HR.E_INVALIDARG, 'ObjrefError'],
    ['no InstantiationInfoData', () => actIn([scmRequest([7]), location]), HR.E_INVALIDARG, 'ActivationRejected'],
    ['no interface requested', () => actIn([instantiation([]), scmRequest([7])]), HR.E_INVALIDARG, 'ActivationRejected'],
    ['no ScmRequestInfoData', () => actIn([instantiation([IID_ICServer]), location]), HR.E_INVALIDARG, 'ActivationRejected'],
    ['only protocol sequences the exporter does not serve', () => actIn([instantiation([IID_ICServer]), scmRequest([9, 0x1f])]), HR.RPC_S_PROTSEQ_NOT_SUPPORTED, 'ActivationRejected'],
  ];

  for (const [what, input, hr, errType] of cases) {
    for (const op of ['RemoteCreateInstance', 'RemoteGetClassObject'] as const) {
      it(`${op} with ${what}: a response with ${hr.toString(16)}, logged as ${errType}`, async () => {
        const before = refusals().length;
        const pActProperties = input();
        const r = op === 'RemoteCreateInstance'
          ? await scm.call(IRemoteSCMActivator.ops.RemoteCreateInstance, { orpcthis: orpcthis(), pUnkOuter: null, pActProperties })
          : await scm.call(IRemoteSCMActivator.ops.RemoteGetClassObject, { orpcthis: orpcthis(), pActProperties });
        expect(r.hresult).toBe(hr);
        expect(r.ppActProperties).toBeNull();
        const logged = refusals().slice(before);
        expect(logged).toHaveLength(1);
        expect(logged[0]).toMatchObject({ op, errType });
        expect(String(logged[0]!.err)).toMatch(/activation rejected/);
      });
    }
  }

  it('the RPC_S_PROTSEQ_NOT_SUPPORTED answer is HRESULT_FROM_WIN32(0x6A7)', () => {
    expect(HR.RPC_S_PROTSEQ_NOT_SUPPORTED).toBe((0x80070000 | 0x6a7) >>> 0);
  });

  it('a list that names ncacn_ip_tcp among others, or names none (MS-DCOM 2.2.22.2.4.1), activates', async () => {
    for (const protseqs of [[9, 7], []]) {
      const r = await scm.call(IRemoteSCMActivator.ops.RemoteCreateInstance, {
        orpcthis: orpcthis(), pUnkOuter: null, pActProperties: actIn([instantiation([IID_ICServer]), scmRequest(protseqs), location]),
      });
      expect(r.hresult).toBe(0);
      expect(r.ppActProperties).not.toBeNull();
    }
  });

  it('after every bad request the same connection still activates', async () => {
    const r = await scm.call(IRemoteSCMActivator.ops.RemoteCreateInstance, { orpcthis: orpcthis(), pUnkOuter: null, pActProperties: good() });
    expect(r.hresult).toBe(0);
  });

  it('RemoteActivation honours aRequestedProtseqs the same way; a failed phr has zero pResults', async () => {
    const ra = await bindInterface(conn, IRemoteActivation);
    const call = (aRequestedProtseqs: number[], Interfaces = 2, pIIDs: string[] | null = [IID_ICServer, '00000000-0000-0000-c000-000000000046']) =>
      ra.call(IRemoteActivation.ops.RemoteActivation, {
        ORPCthis: orpcthis(), Clsid: CLSID_CServer, pwszObjectName: null, pObjectStorage: null, ClientImpLevel: 2, Mode: 0,
        Interfaces, pIIDs, cRequestedProtseqs: aRequestedProtseqs.length, aRequestedProtseqs,
      });
    const bad = await call([9]);
    expect(bad).toMatchObject({ status: 0, phr: HR.RPC_S_PROTSEQ_NOT_SUPPORTED, pOxid: 0n, ppdsaOxidBindings: null, pResults: [0, 0] });
    expect(bad.ppInterfaceData).toEqual([null, null]);
    const ok = await call([9, 7]);
    expect(ok).toMatchObject({ status: 0, phr: 0, pOxid: s.exporter.oxid, pResults: [0, 0] });
    const unreg = await ra.call(IRemoteActivation.ops.RemoteActivation, {
      ORPCthis: orpcthis(), Clsid: randomUUID(), pwszObjectName: null, pObjectStorage: null, ClientImpLevel: 2, Mode: 0,
      Interfaces: 1, pIIDs: [IID_ICServer], cRequestedProtseqs: 1, aRequestedProtseqs: [7],
    });
    expect(unreg).toMatchObject({ phr: HR.REGDB_E_CLASSNOTREG, pResults: [0] });
    const none = await call([7], 0, null);
    expect(none.phr).toBe(HR.E_INVALIDARG);
  });
});
