// The activator (MS-DCOM 3.1.2.5.2): IRemoteSCMActivator::RemoteCreateInstance and
// IRemoteActivation::RemoteActivation over a class table and one object exporter.
// RemoteGetClassObject (needs an IClassFactory object) is not implemented: nca_s_op_rng_error. TODO.
import { ObjrefError, RpcFault } from '../../base/errors';
import type { CallContext, DispatchInterface } from '../../rpc/server';
import { dispatcherFor } from '../../rpc/typed';
import {
  CLSID_ActivationPropertiesIn, CLSID_PropsOutInfo, CLSID_ScmReplyInfo,
  findActivationProperty, type ActivationProperty,
} from '../activation-props';
import { decodeActivationInterfacePointer, encodeActivationInterfacePointer, type MInterfacePointerValue } from '../activation';
import { IRemoteActivation, IRemoteSCMActivator } from '../interfaces/activation';
import { buildDualStringArray } from '../types';
import { COM_VERSION, HR, ORPCTHAT_EMPTY, type ObjectExporter } from './exporter';
import type { ComClass } from './lab-class';

/** The class table (CLSID -> class). */
export class ClassRegistry {
  private readonly classes = new Map<string, ComClass>();
  register(c: ComClass): void {
    this.classes.set(c.clsid.toLowerCase(), c);
  }
  get(clsid: string): ComClass | undefined {
    return this.classes.get(clsid.toLowerCase());
  }
}

export interface ActivationResult {
  /** The call's HRESULT: S_OK when at least one interface was marshaled. */
  hr: number;
  /** Per requested IID: its HRESULT and the OBJREF_STANDARD as an MInterfacePointer (null on failure). */
  results: { iid: string; hr: number; mip: MInterfacePointerValue | null }[];
}


/**
 * ActivationPropertiesIn as a server reads it: the shared decoder, leniently, since Impacket's
 * property sizes count padding Windows' do not. Throws ObjrefError or NdrDecodeError.
 */
export function decodeActivationPropertiesIn(mip: MInterfacePointerValue): ActivationProperty[] {
  const blob = decodeActivationInterfacePointer(mip, { lenient: true });
  if (blob.objref.clsid.toLowerCase() !== CLSID_ActivationPropertiesIn) {
    throw new ObjrefError(24, `clsid ${blob.objref.clsid}: not CLSID_ActivationPropertiesIn`);
  }
  return blob.properties;
}

/** Create an instance of `clsid` and marshal each of `iids` (MS-DCOM 3.1.2.5.2.3.2). */
export function activate(registry: ClassRegistry, exporter: ObjectExporter, clsid: string, iids: readonly string[], ctx: CallContext): ActivationResult {
  const cls = registry.get(clsid);
  if (!cls) return { hr: HR.REGDB_E_CLASSNOTREG, results: iids.map((iid) => ({ iid, hr: HR.REGDB_E_CLASSNOTREG, mip: null })) };
  const obj = exporter.exportObject(cls.clsid, cls.iids, cls.create(ctx));
  const results = iids.map((iid) => {
    const std = exporter.marshalInterface(obj, iid);
    if (!std) return { iid, hr: HR.E_NOINTERFACE, mip: null };
    const abData = exporter.objrefBytes(iid, std);
    return { iid, hr: HR.S_OK, mip: { ulCntData: abData.length, abData } };
  });
  return { hr: results.some((r) => r.hr === HR.S_OK) ? HR.S_OK : HR.E_NOINTERFACE, results };
}

/**
 * The ActivationPropertiesOut properties (MS-DCOM 2.2.22.2.9, 2.2.22.2.8): PropsOutInfo first,
 * ScmReplyInfoData second, the order Windows sends and Impacket expects (it reads pSizes[0] as
 * PropsOutInfo and pSizes[1] as ScmReplyInfo).
 */
export function activationOutProperties(exporter: ObjectExporter, r: ActivationResult): ActivationProperty[] {
  return [
    {
      clsid: CLSID_PropsOutInfo, name: 'PropsOutInfo', value: {
        cIfs: r.results.length,
        piid: r.results.map((x) => x.iid),
        phresults: r.results.map((x) => x.hr),
        ppIntfData: r.results.map((x) => x.mip),
      },
    },
    {
      clsid: CLSID_ScmReplyInfo, name: 'ScmReplyInfoData', value: {
        pdwReserved: null,
        remoteReply: {
          Oxid: exporter.oxid,
          pdsaOxidBindings: buildDualStringArray(exporter.bindings),
          ipidRemUnknown: exporter.ipidRemUnknown,
          authnHint: exporter.authnHint,
          serverVersion: COM_VERSION,
        },
      },
    },
  ];
}

export function scmActivatorDispatcher(registry: ClassRegistry, exporter: ObjectExporter): DispatchInterface {
  return dispatcherFor(IRemoteSCMActivator, {
    RemoteCreateInstance: (a, ctx) => {
      if (!a.pActProperties) return { orpcthat: ORPCTHAT_EMPTY, ppActProperties: null, hresult: HR.E_INVALIDARG };
      let props;
      try {
        props = decodeActivationPropertiesIn(a.pActProperties);
      } catch (e) {
        throw new RpcFault(HR.E_INVALIDARG, `pActProperties: ${(e as Error).message}`);
      }
      const inst = findActivationProperty(props, 'InstantiationInfoData');
      if (!inst) return { orpcthat: ORPCTHAT_EMPTY, ppActProperties: null, hresult: HR.E_INVALIDARG };
      // TODO: check ScmRequestInfoData's requested protseqs include ncacn_ip_tcp (7).
      const r = activate(registry, exporter, inst.classId, inst.pIID ?? [], ctx);
      if (r.hr !== HR.S_OK) return { orpcthat: ORPCTHAT_EMPTY, ppActProperties: null, hresult: r.hr };
      const out = encodeActivationInterfacePointer('out', { destCtx: 2 }, activationOutProperties(exporter, r));
      return { orpcthat: ORPCTHAT_EMPTY, ppActProperties: out, hresult: HR.S_OK };
    },
  });
}

export function remoteActivationDispatcher(registry: ClassRegistry, exporter: ObjectExporter): DispatchInterface {
  return dispatcherFor(IRemoteActivation, {
    RemoteActivation: (a, ctx) => {
      const iids = a.pIIDs ?? [];
      const r = activate(registry, exporter, a.Clsid, iids, ctx);
      const ok = r.hr === HR.S_OK;
      return {
        ORPCthat: ORPCTHAT_EMPTY,
        pOxid: ok ? exporter.oxid : 0n,
        ppdsaOxidBindings: ok ? buildDualStringArray(exporter.bindings) : null,
        pipidRemUnknown: ok ? exporter.ipidRemUnknown : '00000000-0000-0000-0000-000000000000',
        pAuthnHint: exporter.authnHint,
        pServerVersion: COM_VERSION,
        phr: r.hr,
        ppInterfaceData: r.results.map((x) => x.mip),
        pResults: r.results.map((x) => x.hr),
        status: 0,
      };
    },
  });
}
