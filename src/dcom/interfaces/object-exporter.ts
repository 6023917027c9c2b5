// IObjectExporter (IOXIDResolver) v0.0 — MS-DCOM 3.1.2.5.1. Names and order follow the IDL;
// the implicit handle_t hRpc is not on the wire.
import * as ndr from '../../ndr';
import { COMVERSION, DUALSTRINGARRAY } from '../types';

// MS-DCOM 6 (Appendix A): typedef unsigned hyper OXID, OID, SETID; typedef GUID IPID
export const OXID = ndr.u64;
export const SETID = ndr.u64;
export const OID = ndr.u64;
export const IPID = ndr.guid;

export const IID_IObjectExporter = '99fcfec4-5260-101b-bbcb-00aa0021347a';

export const IObjectExporter = ndr.iface('IObjectExporter', IID_IObjectExporter, 0, 0, {
  // MS-DCOM 3.1.2.5.1.1 ResolveOxid
  ResolveOxid: ndr.op(0, {
    in: {
      pOxid: ndr.ref(OXID),
      cRequestedProtseqs: ndr.u16,
      arRequestedProtseqs: ndr.conformantArray(ndr.u16, { sizeIs: 'cRequestedProtseqs' }),
    },
    out: {
      ppdsaOxidBindings: ndr.unique(DUALSTRINGARRAY),
      pipidRemUnknown: ndr.ref(IPID),
      pAuthnHint: ndr.ref(ndr.u32),
      error_status: ndr.errorStatus,
    },
  }),
  // MS-DCOM 3.1.2.5.1.2 SimplePing
  SimplePing: ndr.op(1, {
    in: { pSetId: ndr.ref(SETID) },
    out: { error_status: ndr.errorStatus },
  }),
  // MS-DCOM 3.1.2.5.1.3 ComplexPing
  ComplexPing: ndr.op(2, {
    in: {
      pSetId: ndr.ref(SETID),
      SequenceNum: ndr.u16,
      cAddToSet: ndr.u16,
      cDelFromSet: ndr.u16,
      AddToSet: ndr.unique(ndr.conformantArray(OID, { sizeIs: 'cAddToSet' })),
      DelFromSet: ndr.unique(ndr.conformantArray(OID, { sizeIs: 'cDelFromSet' })),
    },
    out: {
      pSetId: ndr.ref(SETID),
      pPingBackoffFactor: ndr.ref(ndr.u16),
      error_status: ndr.errorStatus,
    },
  }),
  // MS-DCOM 3.1.2.5.1.4 ServerAlive
  ServerAlive: ndr.op(3, {
    in: {},
    out: { error_status: ndr.errorStatus },
  }),
  // MS-DCOM 3.1.2.5.1.5 ResolveOxid2
  ResolveOxid2: ndr.op(4, {
    in: {
      pOxid: ndr.ref(OXID),
      cRequestedProtseqs: ndr.u16,
      arRequestedProtseqs: ndr.conformantArray(ndr.u16, { sizeIs: 'cRequestedProtseqs' }),
    },
    out: {
      ppdsaOxidBindings: ndr.unique(DUALSTRINGARRAY),
      pipidRemUnknown: ndr.ref(IPID),
      pAuthnHint: ndr.ref(ndr.u32),
      pComVersion: ndr.ref(COMVERSION),
      error_status: ndr.errorStatus,
    },
  }),
  // MS-DCOM 3.1.2.5.1.6 ServerAlive2
  ServerAlive2: ndr.op(5, {
    in: {},
    out: {
      pComVersion: ndr.ref(COMVERSION),
      ppdsaOrBindings: ndr.unique(DUALSTRINGARRAY),
      pReserved: ndr.ref(ndr.u32),
      error_status: ndr.errorStatus,
    },
  }),
});
