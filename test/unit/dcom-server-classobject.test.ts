// Class objects and IRemUnknown2 on dcomlab's DCOM server, over loopback:
// IRemoteSCMActivator::RemoteGetClassObject (MS-DCOM 3.1.2.5.2.3.2) returning the class's
// IClassFactory object, IClassFactory::CreateInstance / LockServer on it, RemoteActivation with
// Mode 0xFFFFFFFF (3.1.2.5.2.3.1), and IRemUnknown2::RemQueryInterface2 (3.1.1.5.7.1.1).
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { minimalActivationIn, orpcthis } from '../support/dcom';
import { RpcConnection } from '../../src/rpc/client';
import { bindInterface, type InterfaceClient } from '../../src/rpc/typed';
import {
  CLSID_PropsOutInfo, CLSID_ScmReplyInfo, decodeActivationInterfacePointer, findActivationProperty,
} from '../../src/dcom/activation';
import { IClassFactory, IID_IClassFactory } from '../../src/dcom/interfaces/class-factory';
import { IRemoteActivation, IRemoteSCMActivator } from '../../src/dcom/interfaces/activation';
import { IRemUnknown2 } from '../../src/dcom/interfaces/rem-unknown';
import { decodeObjref, OBJREF_STANDARD, type ObjrefStandard } from '../../src/dcom/objref';
import {
  CLSID_CServer, HR, ICServer, IID_ICServer, IID_IUnknown, MODE_CLASS_OBJECT, startDcomServer, type DcomServer,
} from '../../src/dcom/server';

const HOST = '127.0.0.1';
const BOGUS_IID = '33333333-0000-0000-0000-000000000000';

const actIn = minimalActivationIn;

function standard(abData: Buffer): ObjrefStandard {
  const o = decodeObjref(abData);
  if (o.flags !== OBJREF_STANDARD) throw new Error(`flavour ${o.flags}, not OBJREF_STANDARD`);
  return o;
}

describe('class objects and RemQueryInterface2 over loopback', () => {
  let s: DcomServer;
  let scmConn: RpcConnection;
  let exConn: RpcConnection;
  let scm: InterfaceClient<typeof IRemoteSCMActivator>;
  beforeAll(async () => {
    s = await startDcomServer({ host: HOST, resolverPort: 0 });
    scmConn = await RpcConnection.connect(HOST, s.resolverPort);
    exConn = await RpcConnection.connect(HOST, s.exporter.listeningPort!);
    scm = await bindInterface(scmConn, IRemoteSCMActivator);
  });
  afterAll(async () => {
    await Promise.all([scmConn?.close(), exConn?.close()]);
    s?.oxidResolver.stop();
    await s?.stop();
  });

  it('defines IClassFactory from unknwn.idl\'s remote form', () => {
    expect(IClassFactory.uuid).toBe('00000001-0000-0000-c000-000000000046');
    expect(IClassFactory.ops.RemoteCreateInstance.opnum).toBe(3);
    expect(IClassFactory.ops.RemoteLockServer.opnum).toBe(4);
  });

  it('RemoteGetClassObject returns the class factory; CreateInstance on it makes a new working instance', async () => {
    const r = await scm.call(IRemoteSCMActivator.ops.RemoteGetClassObject, {
      orpcthis: orpcthis(), pActProperties: actIn(CLSID_CServer, [IID_IClassFactory, IID_IUnknown, BOGUS_IID]),
    });
    expect(r.hresult).toBe(0);
    const d = decodeActivationInterfacePointer(r.ppActProperties!);
    expect(d.header.pclsid).toEqual([CLSID_PropsOutInfo, CLSID_ScmReplyInfo]);
    const po = findActivationProperty(d.properties, 'PropsOutInfo')!;
    expect(po.piid).toEqual([IID_IClassFactory, IID_IUnknown, BOGUS_IID]);
    expect(po.phresults).toEqual([0, 0, HR.E_NOINTERFACE]);
    expect(po.ppIntfData![2]).toBeNull();
    const reply = findActivationProperty(d.properties, 'ScmReplyInfoData')!.remoteReply!;
    expect(reply.Oxid).toBe(s.exporter.oxid);
    const cf = standard(po.ppIntfData![0]!.abData);
    expect(cf.iid).toBe(IID_IClassFactory);
    expect(cf.std.oid).toBe(standard(po.ppIntfData![1]!.abData).std.oid);
    expect(s.exporter.ipidEntry(cf.std.ipid)?.iid).toBe(IID_IClassFactory);

    const factory = await bindInterface(exConn, IClassFactory);
    const c1 = await factory.call(IClassFactory.ops.RemoteCreateInstance, { ORPCthis: orpcthis(), riid: IID_ICServer }, { object: cf.std.ipid });
    expect(c1.hresult).toBe(0);
    const i1 = standard(c1.ppvObject!.abData);
    expect(i1.iid).toBe(IID_ICServer);
    expect(i1.std.oxid).toBe(s.exporter.oxid);
    expect(i1.std.oid).not.toBe(cf.std.oid);
    expect(i1.std.cPublicRefs).toBe(5);
    // saResAddr names the OXID resolver (MS-DCOM 2.2.18.4), on its own port here (not 135).
    expect(i1.saResAddr.stringBindings).toEqual([{ towerId: 7, networkAddr: `${HOST}[${s.resolverPort}]` }]);
    const c2 = await factory.call(IClassFactory.ops.RemoteCreateInstance, { ORPCthis: orpcthis(), riid: IID_ICServer }, { object: cf.std.ipid });
    expect(standard(c2.ppvObject!.abData).std.oid).not.toBe(i1.std.oid); // a new instance each time

    const srv = await bindInterface(exConn, ICServer);
    expect(await srv.call(ICServer.ops.Ping, { ORPCthis: orpcthis(), value: 12 }, { object: i1.std.ipid })).toMatchObject({ echo: 12, hresult: 0 });

    const none = await factory.call(IClassFactory.ops.RemoteCreateInstance, { ORPCthis: orpcthis(), riid: BOGUS_IID }, { object: cf.std.ipid });
    expect(none).toMatchObject({ hresult: HR.E_NOINTERFACE, ppvObject: null });
    expect((await factory.call(IClassFactory.ops.RemoteLockServer, { ORPCthis: orpcthis(), fLock: 1 }, { object: cf.std.ipid })).hresult).toBe(0);
    expect((await factory.call(IClassFactory.ops.RemoteLockServer, { ORPCthis: orpcthis(), fLock: 0 }, { object: cf.std.ipid })).hresult).toBe(0);
    // IClassFactory on an instance's IPID is not a class object.
    await expect(factory.call(IClassFactory.ops.RemoteCreateInstance, { ORPCthis: orpcthis(), riid: IID_ICServer }, { object: i1.std.ipid }))
      .rejects.toMatchObject({ status: HR.RPC_E_INVALID_IPID });

    // The class object is one per class: a second request returns the same OID.
    const again = await scm.call(IRemoteSCMActivator.ops.RemoteGetClassObject, { orpcthis: orpcthis(), pActProperties: actIn(CLSID_CServer, [IID_IClassFactory]) });
    const po2 = findActivationProperty(decodeActivationInterfacePointer(again.ppActProperties!).properties, 'PropsOutInfo')!;
    expect(standard(po2.ppIntfData![0]!.abData).std.oid).toBe(cf.std.oid);
  });

  it('RemoteGetClassObject of an unregistered CLSID: REGDB_E_CLASSNOTREG and no properties', async () => {
    const r = await scm.call(IRemoteSCMActivator.ops.RemoteGetClassObject, { orpcthis: orpcthis(), pActProperties: actIn(randomUUID(), [IID_IClassFactory]) });
    expect(r).toMatchObject({ hresult: HR.REGDB_E_CLASSNOTREG, ppActProperties: null });
  });

  it('RemoteActivation with Mode 0xFFFFFFFF returns the class object (MS-DCOM 3.1.2.5.2.3.1)', async () => {
    const ra = await bindInterface(scmConn, IRemoteActivation);
    const r = await ra.call(IRemoteActivation.ops.RemoteActivation, {
      ORPCthis: orpcthis(), Clsid: CLSID_CServer, pwszObjectName: null, pObjectStorage: null, ClientImpLevel: 2, Mode: MODE_CLASS_OBJECT,
      Interfaces: 1, pIIDs: [IID_IClassFactory], cRequestedProtseqs: 1, aRequestedProtseqs: [7],
    });
    expect(r.phr).toBe(0);
    expect(r.pResults).toEqual([0]);
    const cf = standard(r.ppInterfaceData[0]!.abData);
    expect(cf.iid).toBe(IID_IClassFactory);
    expect(s.exporter.ipidEntry(cf.std.ipid)?.object?.iids.has(IID_IClassFactory)).toBe(true);
  });

  it('RemQueryInterface2: one OBJREF_STANDARD per IID and an HRESULT each; an unknown ripid is RPC_E_INVALID_OBJECT', async () => {
    const r = await scm.call(IRemoteSCMActivator.ops.RemoteCreateInstance, { orpcthis: orpcthis(), pUnkOuter: null, pActProperties: actIn(CLSID_CServer, [IID_ICServer]) });
    const po = findActivationProperty(decodeActivationInterfacePointer(r.ppActProperties!).properties, 'PropsOutInfo')!;
    const srv = standard(po.ppIntfData![0]!.abData);

    const ru2 = await bindInterface(exConn, IRemUnknown2);
    const q = await ru2.call(IRemUnknown2.ops.RemQueryInterface2, {
      ORPCthis: orpcthis(), ripid: srv.std.ipid, cIids: 3, iids: [IID_IUnknown, IID_ICServer, BOGUS_IID],
    }, { object: s.exporter.ipidRemUnknown });
    expect(q.hresult).toBe(0);
    expect(q.phr).toEqual([0, 0, HR.E_NOINTERFACE]);
    expect(q.ppMIF[2]).toBeNull();
    const unk = standard(q.ppMIF[0]!.abData);
    const again = standard(q.ppMIF[1]!.abData);
    expect(unk.iid).toBe(IID_IUnknown);
    expect(again.iid).toBe(IID_ICServer);
    expect(again.std.ipid).toBe(srv.std.ipid);
    for (const o of [unk, again]) {
      expect(o.std).toMatchObject({ flags: 0, cPublicRefs: 5, oxid: s.exporter.oxid, oid: srv.std.oid });
      // saResAddr names the OXID resolver (MS-DCOM 2.2.18.4), on its own port here (not 135).
    expect(o.saResAddr.stringBindings).toEqual([{ towerId: 7, networkAddr: `${HOST}[${s.resolverPort}]` }]);
    }
    expect(s.exporter.ipidEntry(unk.std.ipid)?.iid).toBe(IID_IUnknown);

    const bad = await ru2.call(IRemUnknown2.ops.RemQueryInterface2, {
      ORPCthis: orpcthis(), ripid: randomUUID(), cIids: 2, iids: [IID_IUnknown, IID_ICServer],
    }, { object: s.exporter.ipidRemUnknown });
    expect(bad.hresult).toBe(HR.RPC_E_INVALID_OBJECT);
    expect(bad.phr).toEqual([HR.RPC_E_INVALID_OBJECT, HR.RPC_E_INVALID_OBJECT]);
    expect(bad.ppMIF).toEqual([null, null]);

    // An ORPC call on an IPID not in the table: fault RPC_E_DISCONNECTED (MS-DCOM 3.1.1.5.4), the connection stays usable.
    await expect(ru2.call(IRemUnknown2.ops.RemQueryInterface2, { ORPCthis: orpcthis(), ripid: srv.std.ipid, cIids: 1, iids: [IID_IUnknown] }, { object: randomUUID() }))
      .rejects.toMatchObject({ status: HR.RPC_E_DISCONNECTED });
    expect(HR.RPC_E_DISCONNECTED).toBe(0x80010108);
    const ok = await ru2.call(IRemUnknown2.ops.RemAddRef, { ORPCthis: orpcthis(), cInterfaceRefs: 2, InterfaceRefs: [
      { ipid: srv.std.ipid, cPublicRefs: 1, cPrivateRefs: 0 }, { ipid: randomUUID(), cPublicRefs: 1, cPrivateRefs: 0 },
    ] }, { object: s.exporter.ipidRemUnknown });
    expect(ok.pResults).toEqual([0, HR.CO_E_OBJNOTREG]);
    expect(ok.hresult).toBe(HR.CO_E_OBJNOTREG);
  });
});
