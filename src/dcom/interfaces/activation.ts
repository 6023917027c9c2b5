// DCOM activation interfaces — MS-DCOM 3.1.2.5.2.1 (IActivation, called IRemoteActivation on the wire) and 3.1.2.5.2.2
// (IRemoteSCMActivator); the methods in 3.1.2.5.2.3.x. Names and order follow the IDL; handle_t is not on the wire.
// Pointers follow pointer_default(unique): a top-level [in]/[out] T* is [ref], T** is ref -> unique.
import * as ndr from '../../ndr';
import { COMVERSION, DUALSTRINGARRAY, MInterfacePointer, ORPCTHAT, ORPCTHIS } from '../types';

export const IID_IRemoteSCMActivator = '000001a0-0000-0000-c000-000000000046';
export const IID_IRemoteActivation = '4d9f4ab8-7d1c-11cf-861e-0020af6e7c57';

// MS-DCOM 3.1.2.5.2.3.2 RemoteGetClassObject (opnums 0-2 are Opnum0NotUsedOnWire..Opnum2NotUsedOnWire, 3.1.2.5.2.2)
const RemoteGetClassObject = ndr.op(3, {
  in: {
    orpcthis: ndr.ref(ORPCTHIS),
    pActProperties: ndr.unique(MInterfacePointer),
  },
  out: {
    orpcthat: ndr.ref(ORPCTHAT),
    ppActProperties: ndr.ref(ndr.unique(MInterfacePointer)),
    hresult: ndr.hresult,
  },
});

// MS-DCOM 3.1.2.5.2.3.3 RemoteCreateInstance
const RemoteCreateInstance = ndr.op(4, {
  in: {
    orpcthis: ndr.ref(ORPCTHIS),
    pUnkOuter: ndr.unique(MInterfacePointer),
    pActProperties: ndr.unique(MInterfacePointer),
  },
  out: {
    orpcthat: ndr.ref(ORPCTHAT),
    ppActProperties: ndr.ref(ndr.unique(MInterfacePointer)),
    hresult: ndr.hresult,
  },
});

// MS-DCOM 3.1.2.5.2.2 IRemoteSCMActivator, v0.0
export const IRemoteSCMActivator = ndr.iface('IRemoteSCMActivator', IID_IRemoteSCMActivator, 0, 0, {
  RemoteGetClassObject,
  RemoteCreateInstance,
});

// MS-DCOM 3.1.2.5.2.3.1 RemoteActivation
const RemoteActivation = ndr.op(0, {
  in: {
    ORPCthis: ndr.ref(ORPCTHIS),
    Clsid: ndr.ref(ndr.guid),
    pwszObjectName: ndr.unique(ndr.wstring),
    pObjectStorage: ndr.unique(MInterfacePointer),
    ClientImpLevel: ndr.u32,
    Mode: ndr.u32,
    Interfaces: ndr.u32,
    pIIDs: ndr.unique(ndr.conformantArray(ndr.guid, { sizeIs: 'Interfaces' })),
    cRequestedProtseqs: ndr.u16,
    aRequestedProtseqs: ndr.conformantArray(ndr.u16, { sizeIs: 'cRequestedProtseqs' }),
  },
  out: {
    ORPCthat: ndr.ref(ORPCTHAT),
    pOxid: ndr.ref(ndr.u64),
    ppdsaOxidBindings: ndr.ref(ndr.unique(DUALSTRINGARRAY)),
    pipidRemUnknown: ndr.ref(ndr.guid),
    pAuthnHint: ndr.ref(ndr.u32),
    pServerVersion: ndr.ref(COMVERSION),
    phr: ndr.ref(ndr.hresult),
    ppInterfaceData: ndr.ref(ndr.conformantArray(ndr.unique(MInterfacePointer), { sizeIs: 'Interfaces' })),
    pResults: ndr.ref(ndr.conformantArray(ndr.hresult, { sizeIs: 'Interfaces' })),
    status: ndr.errorStatus,
  },
});

// MS-DCOM 3.1.2.5.2.1 IActivation (IRemoteActivation), v0.0
export const IRemoteActivation = ndr.iface('IRemoteActivation', IID_IRemoteActivation, 0, 0, {
  RemoteActivation,
});

export type RemoteCreateInstanceIn = ndr.In<typeof RemoteCreateInstance>;
export type RemoteCreateInstanceOut = ndr.Out<typeof RemoteCreateInstance>;
export type RemoteGetClassObjectIn = ndr.In<typeof RemoteGetClassObject>;
export type RemoteGetClassObjectOut = ndr.Out<typeof RemoteGetClassObject>;
export type RemoteActivationIn = ndr.In<typeof RemoteActivation>;
export type RemoteActivationOut = ndr.Out<typeof RemoteActivation>;
