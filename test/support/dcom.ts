// What the DCOM server tests send by hand: an ORPCTHIS, and the smallest ActivationPropertiesIn a
// server must accept (MS-DCOM 3.1.2.5.2.3.3: the Required InstantiationInfoData and
// ScmRequestInfoData only, asking for ncacn_ip_tcp), as Impacket-like clients send it.
import { randomUUID } from 'node:crypto';
import { CLSID_InstantiationInfo, CLSID_ScmRequestInfo, encodeActivationInterfacePointer } from '../../src/dcom/activation';
import type { OrpcThis } from '../../src/dcom/types';

export const orpcthis = (): OrpcThis => ({ version: { MajorVersion: 5, MinorVersion: 7 }, flags: 0, reserved1: 0, cid: randomUUID(), extensions: null });

export const minimalActivationIn = (clsid: string, iids: string[]) => encodeActivationInterfacePointer('in', { destCtx: 2 }, [
  {
    clsid: CLSID_InstantiationInfo, name: 'InstantiationInfoData', value: {
      classId: clsid, classCtx: 0, actvflags: 0, fIsSurrogate: 0, cIID: iids.length, instFlag: 0, pIID: iids, thisSize: 0,
      clientCOMVersion: { MajorVersion: 5, MinorVersion: 7 },
    },
  },
  {
    clsid: CLSID_ScmRequestInfo, name: 'ScmRequestInfoData', value: {
      pdwReserved: null, remoteRequest: { ClientImpLevel: 2, cRequestedProtseqs: 1, pRequestedProtseqs: [7] },
    },
  },
]);
