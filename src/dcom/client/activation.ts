// The activation requests a DCOM client sends (MS-DCOM 3.2.4.1.1): the Activation Properties BLOB
// of RemoteCreateInstance / RemoteGetClassObject, laid out as a Windows client lays it out
// (SpecialSystemProperties, InstantiationInfo, ActivationContextInfo, SecurityInfo, LocationInfo,
// ScmRequestInfo), and the reading of the reply's PropsOutInfo and ScmReplyInfoData.
import { ComError, ObjrefError } from '../../base/errors';
import * as ndr from '../../ndr';
import {
  ACTIVATION_PROPERTIES, CLSID_ActivationPropertiesOut, findActivationProperty,
  type ActivationProperty, type InstantiationInfo,
} from '../activation-props';
import { decodeActivationInterfacePointer, encodeActivationInterfacePointer, type MInterfacePointerValue } from '../activation';
import { decodeObjref, type Objref } from '../objref';
import { TOWER_NCACN_IP_TCP, type ComVersion } from '../types';
import type { OxidInfo } from './resolver-client';
import { dsa } from './resolver-client';
import { failed } from './remote';

/** CLSCTX_LOCAL_SERVER | CLSCTX_REMOTE_SERVER (MS-DCOM 2.2.22.2.1: classCtx), what Windows sends. */
export const CLSCTX_REMOTE_ACTIVATION = 0x14;
/** RPC_C_IMP_LEVEL_IDENTIFY (MS-RPCE 2.2.1.1.9). */
export const RPC_C_IMP_LEVEL_IDENTIFY = 2;
/** The COM version this client speaks (MS-DCOM 1.7). */
export const CLIENT_COM_VERSION: ComVersion = { MajorVersion: 5, MinorVersion: 7 };

export interface ActivationRequest {
  clsid: string;
  iids: readonly string[];
  /** The server's name, for SecurityInfoData.pServerInfo (MS-DCOM 2.2.22.2.7). */
  serverName: string;
  /** The client's default authentication level (SpecialPropertiesData.dwDefaultAuthnLvl). */
  authnLevel: number;
}

/** The ActivationPropertiesIn MInterfacePointer (MS-DCOM 2.2.22, 3.2.4.1.1.2). */
export function activationPropertiesIn(r: ActivationRequest): MInterfacePointerValue {
  const inst: InstantiationInfo = {
    classId: r.clsid, classCtx: CLSCTX_REMOTE_ACTIVATION, actvflags: 0, fIsSurrogate: 0, cIID: r.iids.length, instFlag: 0,
    pIID: [...r.iids], thisSize: 0, clientCOMVersion: CLIENT_COM_VERSION,
  };
  // 2.2.22.2.1 thisSize: the size of this property as serialized; its value does not change the size.
  inst.thisSize = ndr.encode(ACTIVATION_PROPERTIES.InstantiationInfoData.type, inst).length;
  const props: ActivationProperty[] = [
    {
      clsid: ACTIVATION_PROPERTIES.SpecialPropertiesData.clsid, name: 'SpecialPropertiesData', value: {
        dwSessionId: 0xffffffff, fRemoteThisSessionId: 0, fClientImpersonating: 0, fPartitionIDPresent: 0,
        dwDefaultAuthnLvl: r.authnLevel, guidPartition: '00000000-0000-0000-0000-000000000000', dwPRTFlags: 0,
        dwOrigClsctx: CLSCTX_REMOTE_ACTIVATION, dwFlags: 2, Reserved1: 0, Reserved2: 0n, Reserved3: [0, 0, 0, 0, 0],
      },
    },
    { clsid: ACTIVATION_PROPERTIES.InstantiationInfoData.clsid, name: 'InstantiationInfoData', value: inst },
    {
      clsid: ACTIVATION_PROPERTIES.ActivationContextInfoData.clsid, name: 'ActivationContextInfoData', value: {
        clientOK: 0, bReserved1: 0, dwReserved1: 0, dwReserved2: 0, pIFDClientCtx: null, pIFDPrototypeCtx: null,
      },
    },
    {
      clsid: ACTIVATION_PROPERTIES.SecurityInfoData.clsid, name: 'SecurityInfoData', value: {
        dwAuthnFlags: 0, pServerInfo: { dwReserved1: 0, pwszName: r.serverName, pdwReserved: null, dwReserved2: 0 }, pdwReserved: null,
      },
    },
    {
      clsid: ACTIVATION_PROPERTIES.LocationInfoData.clsid, name: 'LocationInfoData', value: {
        machineName: null, processId: 0, apartmentId: 0, contextId: 0,
      },
    },
    {
      clsid: ACTIVATION_PROPERTIES.ScmRequestInfoData.clsid, name: 'ScmRequestInfoData', value: {
        pdwReserved: null,
        remoteRequest: { ClientImpLevel: RPC_C_IMP_LEVEL_IDENTIFY, cRequestedProtseqs: 1, pRequestedProtseqs: [TOWER_NCACN_IP_TCP] },
      },
    },
  ];
  return encodeActivationInterfacePointer('in', { destCtx: 2 }, props);
}

/** One requested interface in an activation reply. */
export interface ActivatedInterface {
  iid: string;
  hr: number;
  objref?: Objref;
}

export interface ActivationReply {
  oxid: OxidInfo;
  interfaces: ActivatedInterface[];
}

function objrefOf(mip: MInterfacePointerValue | null | undefined): Objref | undefined {
  return mip ? decodeObjref(mip.abData) : undefined;
}

/**
 * Reads ActivationPropertiesOut (MS-DCOM 3.1.2.5.2.3.2): PropsOutInfo's interfaces and
 * ScmReplyInfoData's OXID, bindings, Remote Unknown IPID, authnHint and COM version.
 */
export function readActivationReply(mip: MInterfacePointerValue, requested: readonly string[]): ActivationReply {
  const blob = decodeActivationInterfacePointer(mip, { lenient: true });
  if (blob.objref.clsid.toLowerCase() !== CLSID_ActivationPropertiesOut) {
    throw new ObjrefError(24, `clsid ${blob.objref.clsid}: not CLSID_ActivationPropertiesOut`);
  }
  const out = findActivationProperty(blob.properties, 'PropsOutInfo');
  const scm = findActivationProperty(blob.properties, 'ScmReplyInfoData');
  if (!out) throw new ObjrefError(0, 'ActivationPropertiesOut without PropsOutInfo');
  const reply = scm?.remoteReply;
  if (!reply) throw new ObjrefError(0, 'ActivationPropertiesOut without ScmReplyInfoData.remoteReply');
  const iids = out.piid ?? requested;
  const interfaces = iids.map((iid, i) => {
    const hr = out.phresults?.[i] ?? 0;
    const o = objrefOf(out.ppIntfData?.[i]);
    return o ? { iid, hr, objref: o } : { iid, hr };
  });
  return {
    oxid: {
      oxid: reply.Oxid, bindings: dsa(reply.pdsaOxidBindings), ipidRemUnknown: reply.ipidRemUnknown,
      authnHint: reply.authnHint, comVersion: reply.serverVersion,
    },
    interfaces,
  };
}

/** Throws ComError when an activation call failed as a whole. */
export function checkActivation(hr: number, what: string): void {
  if (failed(hr)) throw new ComError(hr, what);
}
