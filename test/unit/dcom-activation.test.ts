// Activation properties (MS-DCOM 2.2.22) and the activation interfaces (MS-DCOM 3.1.2.5.2.2/3),
// built by hand: wire layout, round trips, and rejection of malformed BLOBs.
import { describe, expect, it } from 'vitest';
import * as ndr from '../../src/ndr';
import { NdrDecodeError } from '../../src/base/errors';
import {
  ACTIVATION_PROPERTIES, CLSID_ActivationContextInfo, CLSID_InstanceInfo, CLSID_InstantiationInfo, CLSID_PropsOutInfo,
  CLSID_ScmReplyInfo, CLSID_ScmRequestInfo, CLSID_SecurityInfo, CLSID_ServerLocationInfo, CLSID_SpecialSystemProperties,
  IRemoteActivation, IRemoteSCMActivator, LocationInfoData, decodeActivationInterfacePointer,
  decodeActivationProperties, encodeActivationInterfacePointer, encodeActivationProperties, findActivationProperty,
  type ActivationProperty,
} from '../../src/dcom/activation';
import { buildDualStringArray } from '../../src/dcom/types';
import { NIL_GUID as GUID_NULL } from '../../src/base/guid';

const IID_IUnknown = '00000000-0000-0000-c000-000000000046';
const IID_IDispatch = '00020400-0000-0000-c000-000000000046';
const CLSID_X = '8bc3f05e-d86b-11d0-a075-00c04fb68820';
const mip = (n: number) => ({ ulCntData: n, abData: Buffer.alloc(n, 0xab) });

const requestProps: ActivationProperty[] = [
  {
    clsid: CLSID_SpecialSystemProperties, name: 'SpecialPropertiesData', value: {
      dwSessionId: 0xffffffff, fRemoteThisSessionId: 0, fClientImpersonating: 0, fPartitionIDPresent: 0, dwDefaultAuthnLvl: 2,
      guidPartition: GUID_NULL, dwPRTFlags: 0, dwOrigClsctx: 0x14, dwFlags: 2, Reserved1: 0, Reserved2: 0x0102030405060708n,
      Reserved3: [1, 2, 3, 4, 5],
    },
  },
  {
    clsid: CLSID_InstantiationInfo, name: 'InstantiationInfoData', value: {
      classId: CLSID_X, classCtx: 0x14, actvflags: 0, fIsSurrogate: -1, cIID: 2, instFlag: 0, pIID: [IID_IUnknown, IID_IDispatch],
      thisSize: 104, clientCOMVersion: { MajorVersion: 5, MinorVersion: 7 },
    },
  },
  {
    clsid: CLSID_ActivationContextInfo, name: 'ActivationContextInfoData', value: {
      clientOK: 0, bReserved1: 0, dwReserved1: 0, dwReserved2: 0, pIFDClientCtx: mip(13), pIFDPrototypeCtx: null,
    },
  },
  {
    clsid: CLSID_SecurityInfo, name: 'SecurityInfoData', value: {
      dwAuthnFlags: 0, pServerInfo: { dwReserved1: 0, pwszName: 'SERVER-1', pdwReserved: null, dwReserved2: 0 }, pdwReserved: null,
    },
  },
  { clsid: CLSID_ServerLocationInfo, name: 'LocationInfoData', value: { machineName: null, processId: 0, apartmentId: 0, contextId: 0 } },
  {
    clsid: CLSID_ScmRequestInfo, name: 'ScmRequestInfoData', value: {
      pdwReserved: null, remoteRequest: { ClientImpLevel: 2, cRequestedProtseqs: 2, pRequestedProtseqs: [7, 15] },
    },
  },
  { clsid: CLSID_InstanceInfo, name: 'InstanceInfoData', value: { fileName: 'C:\\x.doc', mode: 0x12, ifdROT: null, ifdStg: mip(5) } },
];

const responseProps: ActivationProperty[] = [
  {
    clsid: CLSID_PropsOutInfo, name: 'PropsOutInfo', value: {
      cIfs: 2, piid: [IID_IUnknown, IID_IDispatch], phresults: [0, 0x80004002], ppIntfData: [mip(40), null],
    },
  },
  {
    clsid: CLSID_ScmReplyInfo, name: 'ScmReplyInfoData', value: {
      pdwReserved: null,
      remoteReply: {
        Oxid: 0x1189f948559b4a41n,
        pdsaOxidBindings: buildDualStringArray({
          stringBindings: [{ towerId: 7, networkAddr: '10.0.0.1[49718]' }],
          securityBindings: [{ authnSvc: 10, authzSvc: 0xffff, principalName: '' }],
        }),
        ipidRemUnknown: '0000ec00-079c-0000-a0ec-6c1835106534', authnHint: 4, serverVersion: { MajorVersion: 5, MinorVersion: 7 },
      },
    },
  },
];

describe('activation properties BLOB (MS-DCOM 2.2.22)', () => {
  it('property CLSIDs are those of MS-DCOM 1.9', () => {
    expect(Object.fromEntries(Object.entries(ACTIVATION_PROPERTIES).map(([k, v]) => [k, v.clsid.slice(0, 8)]))).toEqual({
      SpecialPropertiesData: '000001b9', InstantiationInfoData: '000001ab', ActivationContextInfoData: '000001a5',
      SecurityInfoData: '000001a6', LocationInfoData: '000001a4', ScmRequestInfoData: '000001aa', InstanceInfoData: '000001ad',
      PropsOutInfo: '00000339', ScmReplyInfoData: '000001b6',
    });
  });

  it('each property is type serialization 1: common header, ObjectBufferLength, 8-aligned length', () => {
    for (const p of [...requestProps, ...responseProps]) {
      const b = ndr.encode(ACTIVATION_PROPERTIES[p.name!].type as ndr.AnyType, p.value as never);
      expect(b.subarray(0, 8).toString('hex'), p.name).toBe('01100800cccccccc');
      expect(b.readUInt32LE(8), p.name).toBe(b.length - 16);
      expect(b.readUInt32LE(12), p.name).toBe(0);
      expect(b.length % 8, p.name).toBe(0);
    }
  });

  it('LocationInfoData with a NULL machineName is 16 octets of data (as Windows sends)', () => {
    const b = ndr.encode(ndr.typeSerialization1(LocationInfoData), { machineName: null, processId: 1, apartmentId: 2, contextId: 3 });
    expect(b.subarray(16).toString('hex')).toBe('00000000' + '01000000' + '02000000' + '03000000');
  });

  for (const [dir, props] of [['request', requestProps], ['response', responseProps]] as const) {
    it(`${dir}: header fields and round trip of every property`, () => {
      const blob = encodeActivationProperties({ destCtx: 2 }, props);
      const d = decodeActivationProperties(blob);
      expect(d.dwSize).toBe(blob.length - 8);
      expect(d.dwReserved).toBe(0);
      expect(d.header.totalSize).toBe(blob.length - 8);
      expect(d.header.cIfs).toBe(props.length);
      expect(d.header.pclsid).toEqual(props.map((p) => p.clsid));
      expect(d.header.classInfoClsid).toBe(GUID_NULL);
      expect(d.header.pdwReserved).toBeNull();
      expect(d.header.headerSize % 8).toBe(0);
      expect(d.header.headerSize + d.header.pSizes!.reduce((a, b) => a + b, 0)).toBe(d.header.totalSize);
      expect(d.properties).toEqual(props);
      // Re-encoding the decoded BLOB with its traces gives the same octets.
      const t = decodeActivationProperties(blob, { trace: true });
      expect(encodeActivationProperties({ ...t.header, headerTrace: t.headerTrace }, t.properties)).toEqual(blob);
    });
  }

  it('findActivationProperty returns a typed value', () => {
    const d = decodeActivationProperties(encodeActivationProperties({}, responseProps));
    expect(findActivationProperty(d.properties, 'ScmReplyInfoData')!.remoteReply!.authnHint).toBe(4);
    expect(findActivationProperty(d.properties, 'InstantiationInfoData')).toBeUndefined();
  });

  it('keeps a property with an unknown CLSID as raw bytes, and re-encodes it', () => {
    const unknown: ActivationProperty = { clsid: '12345678-0000-0000-c000-000000000046', value: Buffer.from('0110080ccccccccc0800000000000000aabbccdd00000000', 'hex') };
    const blob = encodeActivationProperties({}, [requestProps[4]!, unknown]);
    const d = decodeActivationProperties(blob);
    expect(d.properties[1]).toEqual(unknown);
    expect(encodeActivationProperties({}, d.properties)).toEqual(blob);
  });

  it('rejects malformed BLOBs with NdrDecodeError', () => {
    const blob = encodeActivationProperties({}, requestProps);
    const cases: Array<[string, Buffer]> = [
      ['too short', blob.subarray(0, 4)],
      ['dwSize beyond the data', blob.subarray(0, blob.length - 8)],
      ['truncated CustomHeader', (() => { const b = Buffer.from(blob.subarray(0, 40)); b.writeUInt32LE(32, 0); return b; })()],
      ['a pSizes entry too large', (() => {
        const b = Buffer.from(blob);
        const d = decodeActivationProperties(blob);
        const at = b.indexOf(Buffer.from(d.header.pSizes!.map((n) => { const x = Buffer.alloc(4); x.writeUInt32LE(n); return x; }).reduce((a, c) => Buffer.concat([a, c]))));
        b.writeUInt32LE(0x1000, at);
        return b;
      })()],
      ['bad serialization version', (() => { const b = Buffer.from(blob); b[8] = 2; return b; })()],
    ];
    for (const [what, b] of cases) expect(() => decodeActivationProperties(b), what).toThrow(NdrDecodeError);
  });

  it('an MInterfacePointer carries the BLOB as OBJREF_CUSTOM (CLSID_ActivationPropertiesIn/Out)', () => {
    const m = encodeActivationInterfacePointer('in', {}, requestProps);
    expect(m.abData.readUInt32LE(0)).toBe(0x574f454d);
    expect(m.abData.readUInt32LE(4)).toBe(4);
    const d = decodeActivationInterfacePointer(m);
    expect(d.objref.iid).toBe('000001a2-0000-0000-c000-000000000046');
    expect(d.objref.clsid).toBe('00000338-0000-0000-c000-000000000046');
    expect(d.properties).toEqual(requestProps);
    const o = decodeActivationInterfacePointer(encodeActivationInterfacePointer('out', {}, responseProps));
    expect(o.objref.iid).toBe('000001a3-0000-0000-c000-000000000046');
    expect(o.objref.clsid).toBe('00000339-0000-0000-c000-000000000046');
    // Not an activation OBJREF_CUSTOM: refused.
    const bad = Buffer.from(m.abData);
    bad[24] ^= 0xff;
    expect(() => decodeActivationInterfacePointer({ ulCntData: bad.length, abData: bad })).toThrow(/CLSID_ActivationProperties/);
  });
});

describe('activation interfaces (MS-DCOM 3.1.2.5.2.2/3)', () => {
  const orpcthis = { version: { MajorVersion: 5, MinorVersion: 7 }, flags: 0, reserved1: 0, cid: '11111111-2222-3333-4444-555555555555', extensions: null };

  it('IRemoteSCMActivator: uuid, version, opnums', () => {
    expect(IRemoteSCMActivator.uuid).toBe('000001a0-0000-0000-c000-000000000046');
    expect(IRemoteSCMActivator.version).toEqual({ major: 0, minor: 0 });
    expect(IRemoteSCMActivator.ops.RemoteGetClassObject.opnum).toBe(3);
    expect(IRemoteSCMActivator.ops.RemoteCreateInstance.opnum).toBe(4);
    expect(IRemoteActivation.uuid).toBe('4d9f4ab8-7d1c-11cf-861e-0020af6e7c57');
    expect(IRemoteActivation.ops.RemoteActivation.opnum).toBe(0);
  });

  it('RemoteCreateInstance request/response round trip; the NULL pUnkOuter is a 0 referent', () => {
    const op = IRemoteSCMActivator.ops.RemoteCreateInstance;
    const act = encodeActivationInterfacePointer('in', {}, requestProps);
    const stub = ndr.encodeParams(op.in, { orpcthis, pUnkOuter: null, pActProperties: act });
    // ORPCTHIS: 4 + 4 + 4 + 16 + extensions id 4 = 32; then pUnkOuter NULL id 0
    expect(stub.readUInt32LE(32)).toBe(0);
    expect(stub.readUInt32LE(36)).not.toBe(0);
    const back = ndr.decodeParams(op.in, stub);
    expect(back).toEqual({ orpcthis, pUnkOuter: null, pActProperties: act });
    const out = { orpcthat: { flags: 0, extensions: null }, ppActProperties: encodeActivationInterfacePointer('out', {}, responseProps), hresult: 0 };
    const rs = ndr.encodeParams(op.out, out);
    const dec = ndr.decodeParams(op.out, rs);
    expect(dec).toEqual(out);
    expect(decodeActivationInterfacePointer(dec.ppActProperties!).properties).toEqual(responseProps);
  });

  it('RemoteActivation: the full parameter lists round-trip, [out] arrays sized by [in] Interfaces', () => {
    const op = IRemoteActivation.ops.RemoteActivation;
    const inV = {
      ORPCthis: orpcthis, Clsid: CLSID_X, pwszObjectName: null, pObjectStorage: null, ClientImpLevel: 2, Mode: 0,
      Interfaces: 2, pIIDs: [IID_IUnknown, IID_IDispatch], cRequestedProtseqs: 1, aRequestedProtseqs: [7],
    };
    expect(ndr.decodeParams(op.in, ndr.encodeParams(op.in, inV))).toEqual(inV);
    const outV = {
      ORPCthat: { flags: 0, extensions: null }, pOxid: 0x0102030405060708n,
      ppdsaOxidBindings: buildDualStringArray({ stringBindings: [{ towerId: 7, networkAddr: 'host[135]' }], securityBindings: [] }),
      pipidRemUnknown: '0000ec00-079c-0000-a0ec-6c1835106534', pAuthnHint: 4, pServerVersion: { MajorVersion: 5, MinorVersion: 6 },
      phr: 0, ppInterfaceData: [mip(24), null], pResults: [0, 0x80004002], status: 0,
    };
    const rs = ndr.encodeParams(op.out, outV, { scope: inV });
    expect(ndr.decodeParams(op.out, rs, { scope: inV })).toEqual(outV);
    // ppInterfaceData's size comes from [in] Interfaces: a mismatch is refused.
    expect(() => ndr.encodeParams(op.out, { ...outV, ppInterfaceData: [null] }, { scope: inV })).toThrow();
  });
});
