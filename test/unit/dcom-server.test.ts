// dcomlab's DCOM server: the object exporter's tables (MS-DCOM 3.1.1.1), and the activator, resolver and
// exporter answers over loopback, decoded with the project's own definitions (no Impacket involved).
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { minimalActivationIn, orpcthis } from '../support/dcom';
import { RpcConnection } from '../../src/rpc/client';
import { bindInterface } from '../../src/rpc/typed';
import {
  decodeActivationInterfacePointer, findActivationProperty, CLSID_PropsOutInfo, CLSID_ScmReplyInfo,
} from '../../src/dcom/activation';
import { IRemoteActivation, IRemoteSCMActivator } from '../../src/dcom/interfaces/activation';
import { IObjectExporter } from '../../src/dcom/interfaces/object-exporter';
import { IRemUnknown } from '../../src/dcom/interfaces/rem-unknown';
import { decodeObjref, OBJREF_STANDARD } from '../../src/dcom/objref';
import { parseDualStringArray } from '../../src/dcom/types';
import {
  CLSID_CServer, HR, ICServer, IID_ICServer, IID_IUnknown, ObjectExporter, startDcomServer, type DcomServer,
} from '../../src/dcom/server';
import { decodeActivationPropertiesIn } from '../../src/dcom/server/activation';

const HOST = '127.0.0.1';

describe('object exporter tables (MS-DCOM 3.1.1.1)', () => {
  let x: ObjectExporter;
  beforeAll(async () => {
    x = new ObjectExporter({ host: HOST, oxid: 0x1122334455667788n });
    await x.start();
  });
  afterAll(async () => {
    await x.stop();
  });

  it('has an IPID for IRemUnknown and string bindings host[port]', () => {
    expect(x.ipidEntry(x.ipidRemUnknown)?.object).toBeUndefined();
    expect(x.bindings.stringBindings).toEqual([{ towerId: 7, networkAddr: `${HOST}[${x.listeningPort}]` }]);
    expect(x.bindings.securityBindings).toEqual([{ authnSvc: 10, authzSvc: 0xffff, principalName: '' }]);
  });

  it('marshals one IPID per (object, interface), counting public references', () => {
    const o = x.exportObject(CLSID_CServer, [IID_ICServer], {});
    const a = x.marshalInterface(o, IID_ICServer)!;
    expect(a).toMatchObject({ flags: 0, cPublicRefs: 5, oxid: 0x1122334455667788n, oid: o.oid });
    const b = x.marshalInterface(o, IID_ICServer.toUpperCase(), 2)!;
    expect(b.ipid).toBe(a.ipid);
    expect(x.ipidEntry(a.ipid)?.refs).toBe(7);
    expect(x.marshalInterface(o, '11111111-0000-0000-0000-000000000000')).toBeUndefined();
    const u = x.marshalInterface(o, IID_IUnknown)!;
    expect(u.ipid).not.toBe(a.ipid);
    expect(u.oid).toBe(o.oid);
  });

  it('RemQueryInterface, RemAddRef and RemRelease', () => {
    const o = x.exportObject(CLSID_CServer, [IID_ICServer], {});
    const s = x.marshalInterface(o, IID_ICServer, 1)!;
    const q = x.remQueryInterface(s.ipid, 1, [IID_IUnknown, IID_ICServer, '22222222-0000-0000-0000-000000000000']);
    expect(q.hresult).toBe(0);
    const r = q.results!;
    expect(r.map((e) => e.hResult)).toEqual([0, 0, HR.E_NOINTERFACE]);
    expect(r[1]!.std.ipid).toBe(s.ipid);
    // MS-DCOM 3.1.1.5.6.1.1: an unknown ripid is RPC_E_INVALID_OBJECT for the call.
    expect(x.remQueryInterface(randomUUID(), 1, [IID_IUnknown])).toEqual({ hresult: HR.RPC_E_INVALID_OBJECT, results: null });
    // MS-DCOM 3.1.1.5.6.1.2: an unknown IPID is CO_E_OBJNOTREG in its pResults slot.
    expect(x.remAddRef([{ ipid: s.ipid, cPublicRefs: 1, cPrivateRefs: 0 }, { ipid: randomUUID(), cPublicRefs: 1, cPrivateRefs: 0 }])).toEqual([0, HR.CO_E_OBJNOTREG]);
    expect(x.ipidEntry(s.ipid)?.refs).toBe(3);
    expect(x.remRelease([{ ipid: s.ipid, cPublicRefs: 3, cPrivateRefs: 0 }])).toBe(0);
    expect(x.ipidEntry(s.ipid)).toBeUndefined();
    expect(x.objectByOid(o.oid)).toBeDefined(); // the IUnknown IPID still holds it
    expect(x.remRelease([{ ipid: r[0]!.std.ipid, cPublicRefs: 1, cPrivateRefs: 0 }])).toBe(0);
    expect(x.objectByOid(o.oid)).toBeUndefined();
    expect(x.remRelease([{ ipid: s.ipid, cPublicRefs: 1, cPrivateRefs: 0 }])).toBe(HR.E_INVALIDARG);
  });
});

describe('DCOM server answers over loopback (no authentication)', () => {
  let s: DcomServer;
  let conn: RpcConnection;
  beforeAll(async () => {
    s = await startDcomServer({ host: HOST, resolverPort: 0 });
  });
  afterAll(async () => {
    await conn?.close();
    s?.oxidResolver.stop();
    await s?.stop();
  });

  const actIn = minimalActivationIn;

  it('decodes its own ActivationPropertiesIn leniently', () => {
    const p = decodeActivationPropertiesIn(actIn(CLSID_CServer, [IID_ICServer]));
    expect(findActivationProperty(p, 'InstantiationInfoData')!.pIID).toEqual([IID_ICServer]);
  });

  it('RemoteCreateInstance: PropsOutInfo then ScmReplyInfoData; the OBJREF works on the exporter', async () => {
    conn = await RpcConnection.connect(HOST, s.resolverPort);
    const scm = await bindInterface(conn, IRemoteSCMActivator);
    const r = await scm.call(IRemoteSCMActivator.ops.RemoteCreateInstance, {
      orpcthis: orpcthis(), pUnkOuter: null, pActProperties: actIn(CLSID_CServer, [IID_ICServer, '33333333-0000-0000-0000-000000000000']),
    });
    expect(r.hresult).toBe(0);
    const d = decodeActivationInterfacePointer(r.ppActProperties!);
    expect(d.header.pclsid).toEqual([CLSID_PropsOutInfo, CLSID_ScmReplyInfo]);
    const po = findActivationProperty(d.properties, 'PropsOutInfo')!;
    expect(po.phresults).toEqual([0, HR.E_NOINTERFACE]);
    expect(po.ppIntfData![1]).toBeNull();
    const reply = findActivationProperty(d.properties, 'ScmReplyInfoData')!.remoteReply!;
    expect(reply.Oxid).toBe(s.exporter.oxid);
    expect(reply.ipidRemUnknown).toBe(s.exporter.ipidRemUnknown);
    expect(reply.authnHint).toBe(4);
    expect(reply.serverVersion).toEqual({ MajorVersion: 5, MinorVersion: 7 });
    expect(parseDualStringArray(reply.pdsaOxidBindings!)).toEqual(s.exporter.bindings);
    const o = decodeObjref(po.ppIntfData![0]!.abData);
    if (o.flags !== OBJREF_STANDARD) throw new Error('not OBJREF_STANDARD');
    expect(o.iid).toBe(IID_ICServer);
    expect(o.std.oxid).toBe(s.exporter.oxid);
    // saResAddr names the OXID resolver (MS-DCOM 2.2.18.4), on its own port here (not 135).
    expect(o.saResAddr.stringBindings).toEqual([{ towerId: 7, networkAddr: `${HOST}[${s.resolverPort}]` }]);

    const ex = await RpcConnection.connect(HOST, s.exporter.listeningPort!);
    try {
      const srv = await bindInterface(ex, ICServer);
      const p = await srv.call(ICServer.ops.Ping, { ORPCthis: orpcthis(), value: -5 }, { object: o.std.ipid });
      expect(p).toMatchObject({ echo: -5, hresult: 0 });
      const w = await srv.call(ICServer.ops.WhoAmI, { ORPCthis: orpcthis() }, { object: o.std.ipid });
      expect(w.identity).toBe('NT AUTHORITY\\ANONYMOUS LOGON');
      const f = await srv.call(ICServer.ops.ForwardCall, { ORPCthis: orpcthis(), pCallback: null }, { object: o.std.ipid });
      expect(f.hresult).toBe(0x80004003); // E_POINTER: ForwardCall(NULL) has nothing to call back
      // An unknown IPID: fault RPC_E_DISCONNECTED (MS-DCOM 3.1.1.5.4); the IRemUnknown IPID on ICServer: RPC_E_INVALID_IPID.
      await expect(srv.call(ICServer.ops.Ping, { ORPCthis: orpcthis(), value: 1 }, { object: randomUUID() })).rejects.toMatchObject({ status: HR.RPC_E_DISCONNECTED });
      await expect(srv.call(ICServer.ops.Ping, { ORPCthis: orpcthis(), value: 1 }, { object: s.exporter.ipidRemUnknown })).rejects.toMatchObject({ status: HR.RPC_E_INVALID_IPID });
      const ru = await bindInterface(ex, IRemUnknown);
      const q = await ru.call(IRemUnknown.ops.RemQueryInterface, { ORPCthis: orpcthis(), ripid: o.std.ipid, cRefs: 1, cIids: 1, iids: [IID_IUnknown] }, { object: s.exporter.ipidRemUnknown });
      expect(q.hresult).toBe(0);
      expect(q.ppQIResults![0]!.std.oid).toBe(o.std.oid);
      const rel = await ru.call(IRemUnknown.ops.RemRelease, {
        ORPCthis: orpcthis(), cInterfaceRefs: 1, InterfaceRefs: [{ ipid: o.std.ipid, cPublicRefs: 5, cPrivateRefs: 0 }],
      }, { object: s.exporter.ipidRemUnknown });
      expect(rel.hresult).toBe(0);
      await expect(srv.call(ICServer.ops.Ping, { ORPCthis: orpcthis(), value: 1 }, { object: o.std.ipid })).rejects.toMatchObject({ status: HR.RPC_E_DISCONNECTED });
    } finally {
      await ex.close();
    }
  });

  it('RemoteCreateInstance of an unregistered CLSID: REGDB_E_CLASSNOTREG', async () => {
    const c = await RpcConnection.connect(HOST, s.resolverPort);
    try {
      const scm = await bindInterface(c, IRemoteSCMActivator);
      const r = await scm.call(IRemoteSCMActivator.ops.RemoteCreateInstance, {
        orpcthis: orpcthis(), pUnkOuter: null, pActProperties: actIn(randomUUID(), [IID_ICServer]),
      });
      expect(r.hresult).toBe(HR.REGDB_E_CLASSNOTREG);
      expect(r.ppActProperties).toBeNull();
    } finally {
      await c.close();
    }
  });

  it('RemoteActivation (IRemoteActivation opnum 0)', async () => {
    const c = await RpcConnection.connect(HOST, s.resolverPort);
    try {
      const ra = await bindInterface(c, IRemoteActivation);
      const r = await ra.call(IRemoteActivation.ops.RemoteActivation, {
        ORPCthis: orpcthis(), Clsid: CLSID_CServer, pwszObjectName: null, pObjectStorage: null, ClientImpLevel: 2, Mode: 0,
        Interfaces: 2, pIIDs: [IID_IUnknown, IID_ICServer], cRequestedProtseqs: 1, aRequestedProtseqs: [7],
      });
      expect(r.phr).toBe(0);
      expect(r.pResults).toEqual([0, 0]);
      expect(r.pOxid).toBe(s.exporter.oxid);
      expect(r.pipidRemUnknown).toBe(s.exporter.ipidRemUnknown);
      expect(parseDualStringArray(r.ppdsaOxidBindings!)).toEqual(s.exporter.bindings);
      expect(r.ppInterfaceData.map((m) => (m ? decodeObjref(m.abData).iid : null))).toEqual([IID_IUnknown, IID_ICServer]);
      const bad = await ra.call(IRemoteActivation.ops.RemoteActivation, {
        ORPCthis: orpcthis(), Clsid: randomUUID(), pwszObjectName: null, pObjectStorage: null, ClientImpLevel: 2, Mode: 0,
        Interfaces: 1, pIIDs: [IID_ICServer], cRequestedProtseqs: 1, aRequestedProtseqs: [7],
      });
      expect(bad.phr).toBe(HR.REGDB_E_CLASSNOTREG);
    } finally {
      await c.close();
    }
  });

  it('IObjectExporter: ServerAlive2, ResolveOxid2 (known and unknown OXID), ComplexPing', async () => {
    const c = await RpcConnection.connect(HOST, s.resolverPort);
    try {
      const ox = await bindInterface(c, IObjectExporter);
      const a = await ox.call(IObjectExporter.ops.ServerAlive2, {});
      expect(a.pComVersion).toEqual({ MajorVersion: 5, MinorVersion: 7 });
      expect(parseDualStringArray(a.ppdsaOrBindings!).stringBindings).toEqual([{ towerId: 7, networkAddr: HOST }]);
      const r = await ox.call(IObjectExporter.ops.ResolveOxid2, { pOxid: s.exporter.oxid, cRequestedProtseqs: 1, arRequestedProtseqs: [7] });
      expect(r.error_status).toBe(0);
      expect(r.pipidRemUnknown).toBe(s.exporter.ipidRemUnknown);
      expect(r.pAuthnHint).toBe(4);
      expect(parseDualStringArray(r.ppdsaOxidBindings!)).toEqual(s.exporter.bindings);
      const u = await ox.call(IObjectExporter.ops.ResolveOxid2, { pOxid: s.exporter.oxid ^ 1n, cRequestedProtseqs: 1, arRequestedProtseqs: [7] });
      expect(u.error_status).toBe(0x776);
      expect(u.ppdsaOxidBindings).toBeNull();
      const r1 = await ox.call(IObjectExporter.ops.ResolveOxid, { pOxid: s.exporter.oxid, cRequestedProtseqs: 1, arRequestedProtseqs: [7] });
      expect(r1.error_status).toBe(0);
      // A new set skips AddToSet OIDs whose entry is not found (MS-DCOM 3.1.2.5.1.3): 5 is nobody's.
      const p = await ox.call(IObjectExporter.ops.ComplexPing, { pSetId: 0n, SequenceNum: 1, cAddToSet: 1, cDelFromSet: 0, AddToSet: [5n], DelFromSet: null });
      expect(p.error_status).toBe(0);
      expect(p.pSetId).not.toBe(0n);
      expect(s.oxidResolver.pingSets.get(p.pSetId)).toEqual(new Set());
      expect((await ox.call(IObjectExporter.ops.SimplePing, { pSetId: p.pSetId })).error_status).toBe(0);
    } finally {
      await c.close();
    }
  });
});
