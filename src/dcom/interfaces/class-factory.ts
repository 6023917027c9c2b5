// IClassFactory as it travels on the wire: the [call_as] remote forms of unknwn.idl.
//
//   [object, uuid(00000001-0000-0000-C000-000000000046), pointer_default(unique)]
//   interface IClassFactory : IUnknown {
//     [call_as(CreateInstance)] HRESULT RemoteCreateInstance([in] REFIID riid,
//                                                            [out, iid_is(riid)] IUnknown **ppvObject);  // opnum 3
//     [call_as(LockServer)]     HRESULT RemoteLockServer([in] BOOL fLock);                              // opnum 4
//   }
//
// As every ORPC method (MS-DCOM 3.2.4.2, 2.2.13.3-4), the in-parameters start with ORPCTHIS and the
// out-parameters with ORPCTHAT, and the HRESULT comes last; opnums 0-2 are IUnknown's and never sent
// (MS-DCOM 3.1.1.5.8). The class factory is what IRemoteSCMActivator::RemoteGetClassObject returns
// a reference to (MS-DCOM 3.1.2.5.2.3.2).
import * as ndr from '../../ndr';
import { MInterfacePointer, ORPCTHAT, ORPCTHIS } from '../types';

export const IID_IClassFactory = '00000001-0000-0000-c000-000000000046';

// RemoteCreateInstance (opnum 3): REFIID is a [ref] const IID*; the [out] IUnknown** is a
// ref -> unique MInterfacePointer holding an OBJREF (MS-DCOM 2.2.14).
const RemoteCreateInstance = ndr.op(3, {
  in: {
    ORPCthis: ndr.ref(ORPCTHIS),
    riid: ndr.ref(ndr.guid),
  },
  out: {
    ORPCthat: ndr.ref(ORPCTHAT),
    ppvObject: ndr.ref(ndr.unique(MInterfacePointer)),
    hresult: ndr.hresult,
  },
});

// RemoteLockServer (opnum 4): BOOL is a 32-bit signed integer.
const RemoteLockServer = ndr.op(4, {
  in: {
    ORPCthis: ndr.ref(ORPCTHIS),
    fLock: ndr.i32,
  },
  out: {
    ORPCthat: ndr.ref(ORPCTHAT),
    hresult: ndr.hresult,
  },
});

export const IClassFactory = ndr.iface('IClassFactory', IID_IClassFactory, 0, 0, {
  RemoteCreateInstance,
  RemoteLockServer,
});

export type ClassFactoryCreateInstanceIn = ndr.In<typeof RemoteCreateInstance>;
export type ClassFactoryCreateInstanceOut = ndr.Out<typeof RemoteCreateInstance>;
export type ClassFactoryLockServerIn = ndr.In<typeof RemoteLockServer>;
export type ClassFactoryLockServerOut = ndr.Out<typeof RemoteLockServer>;
