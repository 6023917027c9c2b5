// IRemUnknown / IRemUnknown2 — MS-DCOM 3.1.1.5.6 (IRemUnknown) and 3.1.1.5.7 (IRemUnknown2).
// Every ORPC call's in-parameters start with ORPCTHIS and its out-parameters with ORPCTHAT, the
// implicit first arguments (MS-DCOM 2.2.13.3, 2.2.13.4, 3.2.4.2); the return value (HRESULT) is
// last. Opnums 0-2 are IUnknown's (Opnum0NotUsedOnWire..Opnum2NotUsedOnWire) and never sent.
import * as ndr from '../../ndr';
import { MInterfacePointer, ORPCTHAT, ORPCTHIS, REMINTERFACEREF, REMQIRESULT } from '../types';

export const IID_IRemUnknown = '00000131-0000-0000-c000-000000000046';
export const IID_IRemUnknown2 = '00000143-0000-0000-c000-000000000046';

// MS-DCOM 3.1.1.5.6.1.1 RemQueryInterface
const RemQueryInterface = () => ndr.op(3, {
  in: {
    ORPCthis: ndr.ref(ORPCTHIS),
    ripid: ndr.ref(ndr.guid),
    cRefs: ndr.u32,
    cIids: ndr.u16,
    iids: ndr.conformantArray(ndr.guid, { sizeIs: 'cIids' }),
  },
  out: {
    ORPCthat: ndr.ref(ORPCTHAT),
    ppQIResults: ndr.unique(ndr.conformantArray(REMQIRESULT, { sizeIs: 'cIids' })),
    hresult: ndr.hresult,
  },
});
// MS-DCOM 3.1.1.5.6.1.2 RemAddRef
const RemAddRef = () => ndr.op(4, {
  in: {
    ORPCthis: ndr.ref(ORPCTHIS),
    cInterfaceRefs: ndr.u16,
    InterfaceRefs: ndr.conformantArray(REMINTERFACEREF, { sizeIs: 'cInterfaceRefs' }),
  },
  out: {
    ORPCthat: ndr.ref(ORPCTHAT),
    pResults: ndr.conformantArray(ndr.hresult, { sizeIs: 'cInterfaceRefs' }),
    hresult: ndr.hresult,
  },
});
// MS-DCOM 3.1.1.5.6.1.3 RemRelease
const RemRelease = () => ndr.op(5, {
  in: {
    ORPCthis: ndr.ref(ORPCTHIS),
    cInterfaceRefs: ndr.u16,
    InterfaceRefs: ndr.conformantArray(REMINTERFACEREF, { sizeIs: 'cInterfaceRefs' }),
  },
  out: {
    ORPCthat: ndr.ref(ORPCTHAT),
    hresult: ndr.hresult,
  },
});

// MS-DCOM 3.1.1.5.6 IRemUnknown
export const IRemUnknown = ndr.iface('IRemUnknown', IID_IRemUnknown, 0, 0, {
  RemQueryInterface: RemQueryInterface(),
  RemAddRef: RemAddRef(),
  RemRelease: RemRelease(),
});

// MS-DCOM 3.1.1.5.7 IRemUnknown2 (IRemUnknown's operations, then RemQueryInterface2)
export const IRemUnknown2 = ndr.iface('IRemUnknown2', IID_IRemUnknown2, 0, 0, {
  RemQueryInterface: RemQueryInterface(),
  RemAddRef: RemAddRef(),
  RemRelease: RemRelease(),
  // MS-DCOM 3.1.1.5.7 IRemUnknown2::RemQueryInterface2 (Opnum 6); ppMIF is PMInterfacePointerInternal*
  RemQueryInterface2: ndr.op(6, {
    in: {
      ORPCthis: ndr.ref(ORPCTHIS),
      ripid: ndr.ref(ndr.guid),
      cIids: ndr.u16,
      iids: ndr.conformantArray(ndr.guid, { sizeIs: 'cIids' }),
    },
    out: {
      ORPCthat: ndr.ref(ORPCTHAT),
      phr: ndr.conformantArray(ndr.hresult, { sizeIs: 'cIids' }),
      ppMIF: ndr.conformantArray(ndr.unique(MInterfacePointer), { sizeIs: 'cIids' }),
      hresult: ndr.hresult,
    },
  }),
});
