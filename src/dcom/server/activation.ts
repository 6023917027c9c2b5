// The activator (MS-DCOM 3.1.2.5.2.3): IRemoteSCMActivator::RemoteGetClassObject and
// RemoteCreateInstance, and IRemoteActivation::RemoteActivation, over a class table and one object
// exporter. A class object is the exporter's IClassFactory object for the class (see exporter.ts).
import { DcomlabError, formatError, ObjrefError } from '../../base/errors';
import type { Logger } from '../../base/log';
import { describeStatus } from '../../base/status';
import type { CallContext, DispatchInterface } from '../../rpc/server';
import { dispatcherFor } from '../../rpc/typed';
import {
  CLSID_ActivationPropertiesIn, CLSID_PropsOutInfo, CLSID_ScmReplyInfo,
  findActivationProperty, type ActivationProperty, type InstantiationInfo,
} from '../activation-props';
import { decodeActivationInterfacePointer, encodeActivationInterfacePointer, type MInterfacePointerValue } from '../activation';
import { IRemoteActivation, IRemoteSCMActivator } from '../interfaces/activation';
import { buildDualStringArray } from '../types';
import { COM_VERSION, HR, ORPCTHAT_EMPTY, type ExportedObject, type ObjectExporter } from './exporter';
import { callerName, type ComClass } from './lab-class';

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

/** RemoteActivation's Mode for a class factory reference (MS-DCOM 3.1.2.5.2.3.1). */
export const MODE_CLASS_OBJECT = 0xffffffff;

/** An activation request that cannot be served, with the HRESULT it answers and the error behind it. */
export class ActivationRejected extends DcomlabError {
  override name = 'ActivationRejected';
  constructor(readonly hresult: number, readonly what: string, readonly reason?: Error) {
    super(`activation rejected: ${what}`, hresult);
  }
}

/** The log fields of a refused activation: the HRESULT answered and the typed error behind it. */
function refusal(op: string, hresult: number, e: unknown): Record<string, unknown> {
  const reason = e instanceof ActivationRejected ? e.reason ?? e : e;
  return { op, answer: describeStatus(hresult, 'hresult'), errType: reason instanceof Error ? reason.name : typeof reason, err: formatError(e) };
}

/** The log fields of an activation, for a person following the lab (`serve --lab` prints them as one line). */
function activationFields(op: string, ctx: CallContext, clsid: string | undefined, hresult: number, oxid?: bigint): Record<string, unknown> {
  return {
    event: 'activation', op, from: ctx.peer.address, caller: callerName(ctx), ...(ctx.auth ? { authLevel: ctx.auth.level } : {}),
    ...(clsid ? { clsid } : {}), hresult: describeStatus(hresult, 'hresult'), ...(oxid !== undefined ? { oxid: oxid.toString(16).padStart(16, '0') } : {}),
  };
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

/**
 * Marshal `iids` of `obj` (MS-DCOM 3.1.1.5.1). `unexportIfNone`: an object none of whose
 * interfaces could be marshaled has no IPID, so it leaves the exporter (as in 3.1.1.5.6.1.3).
 */
function marshalAll(exporter: ObjectExporter, obj: ExportedObject, iids: readonly string[], unexportIfNone: boolean): ActivationResult {
  const results = iids.map((iid) => {
    const std = exporter.marshalInterface(obj, iid);
    return std ? { iid, hr: HR.S_OK, mip: exporter.interfacePointer(iid, std) } : { iid, hr: HR.E_NOINTERFACE, mip: null };
  });
  const ok = results.some((r) => r.hr === HR.S_OK);
  if (!ok && unexportIfNone) exporter.unexport(obj.oid);
  return { hr: ok ? HR.S_OK : HR.E_NOINTERFACE, results };
}

const classNotRegistered = (iids: readonly string[]): ActivationResult =>
  ({ hr: HR.REGDB_E_CLASSNOTREG, results: iids.map((iid) => ({ iid, hr: HR.REGDB_E_CLASSNOTREG, mip: null })) });

/** Create an instance of `clsid` and marshal each of `iids` (MS-DCOM 3.1.2.5.2.3). */
export function activate(registry: ClassRegistry, exporter: ObjectExporter, clsid: string, iids: readonly string[], ctx: CallContext): ActivationResult {
  const cls = registry.get(clsid);
  if (!cls) return classNotRegistered(iids);
  return marshalAll(exporter, exporter.exportObject(cls.clsid, cls.iids, cls.create(ctx)), iids, true);
}

/** The class object of `clsid` (its IClassFactory object) with each of `iids` marshaled (MS-DCOM 3.1.2.5.2.3.2). */
export function activateClassObject(registry: ClassRegistry, exporter: ObjectExporter, clsid: string, iids: readonly string[]): ActivationResult {
  const cls = registry.get(clsid);
  if (!cls) return classNotRegistered(iids);
  return marshalAll(exporter, exporter.classObject(cls), iids, false);
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

/**
 * MS-DCOM 3.1.2.5.2.3: the exporter must serve one of the client's protocol sequences; ours listens
 * on ncacn_ip_tcp only and cannot be told to listen on another (rpc_server_use_protseq, C706
 * 3.1.20), so a request naming none of ours fails with RPC_S_PROTSEQ_NOT_SUPPORTED as an HRESULT.
 * The spec names no code for this case and Windows' answer is unverified. An empty list
 * (cRequestedProtseqs "SHOULD be at least 1", 2.2.22.2.4.1) asks for nothing and is accepted.
 */
export function checkProtseqs(exporter: ObjectExporter, requested: readonly number[]): void {
  if (requested.length === 0 || requested.some((p) => exporter.protseqs.includes(p))) return;
  throw new ActivationRejected(HR.RPC_S_PROTSEQ_NOT_SUPPORTED, `requested protocol sequences [${requested.join(', ')}], the exporter serves [${exporter.protseqs.join(', ')}]`);
}

/**
 * What an IRemoteSCMActivator request asks for (MS-DCOM 3.1.2.5.2.3.2/3): the CLSID and IIDs of
 * InstantiationInfoData and the protocol sequences of ScmRequestInfoData, both Required properties.
 * Throws ActivationRejected for input that is not a usable ActivationPropertiesIn. What Windows
 * answers to a malformed blob was not found (unverified): E_INVALIDARG is this implementation's choice.
 */
export function readScmRequest(pActProperties: MInterfacePointerValue | null): { inst: InstantiationInfo; iids: string[]; protseqs: number[] } {
  if (!pActProperties) throw new ActivationRejected(HR.E_INVALIDARG, 'pActProperties is NULL');
  let props: ActivationProperty[];
  try {
    props = decodeActivationPropertiesIn(pActProperties);
  } catch (e) {
    throw new ActivationRejected(HR.E_INVALIDARG, `pActProperties: ${formatError(e)}`, e instanceof Error ? e : undefined);
  }
  const inst = findActivationProperty(props, 'InstantiationInfoData');
  if (!inst) throw new ActivationRejected(HR.E_INVALIDARG, 'no InstantiationInfoData (a Required property)');
  const iids = inst.pIID ?? [];
  // 2.2.22.2.1: cIID is range(1, MAX_REQUESTED_INTERFACES).
  if (iids.length === 0) throw new ActivationRejected(HR.E_INVALIDARG, 'InstantiationInfoData requests no interface');
  const scm = findActivationProperty(props, 'ScmRequestInfoData');
  // 2.2.22.2.4: ScmRequestInfoData is Required, and its remoteRequest "MUST NOT be NULL".
  if (!scm?.remoteRequest) throw new ActivationRejected(HR.E_INVALIDARG, 'no ScmRequestInfoData.remoteRequest (a Required property)');
  return { inst, iids, protseqs: scm.remoteRequest.pRequestedProtseqs ?? [] };
}

/**
 * A launch/activation permission check (the machine's MachineLaunchRestriction, the lab's policy):
 * throws ActivationRejected (E_ACCESSDENIED) to refuse. Windows answers a refused activation with
 * that HRESULT in the response.
 */
export type LaunchCheck = (ctx: CallContext, clsid: string) => void;

export function scmActivatorDispatcher(registry: ClassRegistry, exporter: ObjectExporter, logger: Logger = exporter.log, checkLaunch?: LaunchCheck): DispatchInterface {
  // Both methods "MUST NOT throw exceptions" (MS-DCOM 3.1.2.5.2.2): every failure is the HRESULT.
  const serve = (op: string, pActProperties: MInterfacePointerValue | null, ctx: CallContext, run: (clsid: string, iids: string[]) => ActivationResult) => {
    let r: ActivationResult;
    let clsid: string | undefined;
    try {
      const req = readScmRequest(pActProperties);
      clsid = req.inst.classId;
      checkLaunch?.(ctx, req.inst.classId);
      checkProtseqs(exporter, req.protseqs);
      r = run(req.inst.classId, req.iids);
    } catch (e) {
      const hresult = e instanceof ActivationRejected ? e.hresult : HR.E_INVALIDARG;
      logger.warn({ ...activationFields(op, ctx, clsid, hresult), ...refusal(op, hresult, e) }, 'activation refused');
      return { orpcthat: ORPCTHAT_EMPTY, ppActProperties: null, hresult };
    }
    logger.info(activationFields(op, ctx, clsid, r.hr, r.hr === HR.S_OK ? exporter.oxid : undefined), 'activation');
    if (r.hr !== HR.S_OK) return { orpcthat: ORPCTHAT_EMPTY, ppActProperties: null, hresult: r.hr };
    const out = encodeActivationInterfacePointer('out', { destCtx: 2 }, activationOutProperties(exporter, r));
    return { orpcthat: ORPCTHAT_EMPTY, ppActProperties: out, hresult: HR.S_OK };
  };
  return dispatcherFor(IRemoteSCMActivator, {
    RemoteGetClassObject: (a, ctx) => serve('RemoteGetClassObject', a.pActProperties, ctx, (clsid, iids) => activateClassObject(registry, exporter, clsid, iids)),
    RemoteCreateInstance: (a, ctx) => serve('RemoteCreateInstance', a.pActProperties, ctx, (clsid, iids) => activate(registry, exporter, clsid, iids, ctx)),
  });
}

export function remoteActivationDispatcher(registry: ClassRegistry, exporter: ObjectExporter, logger: Logger = exporter.log, checkLaunch?: LaunchCheck): DispatchInterface {
  return dispatcherFor(IRemoteActivation, {
    RemoteActivation: (a, ctx) => {
      const iids = a.pIIDs ?? [];
      let r: ActivationResult;
      let refused = false;
      try {
        if (iids.length === 0) throw new ActivationRejected(HR.E_INVALIDARG, 'no interface requested');
        checkLaunch?.(ctx, a.Clsid);
        checkProtseqs(exporter, a.aRequestedProtseqs);
        // Mode 0xFFFFFFFF asks for the class factory (MS-DCOM 3.1.2.5.2.3.1).
        r = a.Mode === MODE_CLASS_OBJECT ? activateClassObject(registry, exporter, a.Clsid, iids) : activate(registry, exporter, a.Clsid, iids, ctx);
      } catch (e) {
        const hr = e instanceof ActivationRejected ? e.hresult : HR.E_INVALIDARG;
        refused = true;
        logger.warn({ ...activationFields('RemoteActivation', ctx, a.Clsid, hr), ...refusal('RemoteActivation', hr, e) }, 'activation refused');
        r = { hr, results: iids.map((iid) => ({ iid, hr, mip: null })) };
      }
      const ok = r.hr === HR.S_OK;
      if (!refused) logger.info(activationFields('RemoteActivation', ctx, a.Clsid, r.hr, ok ? exporter.oxid : undefined), 'activation');
      return {
        ORPCthat: ORPCTHAT_EMPTY,
        pOxid: ok ? exporter.oxid : 0n,
        ppdsaOxidBindings: ok ? buildDualStringArray(exporter.bindings) : null,
        pipidRemUnknown: ok ? exporter.ipidRemUnknown : '00000000-0000-0000-0000-000000000000',
        pAuthnHint: exporter.authnHint,
        pServerVersion: COM_VERSION,
        phr: r.hr,
        ppInterfaceData: r.results.map((x) => x.mip),
        // pResults: "If the phr parameter contains a failure value, this MUST contain an array of 0x00000000 values".
        pResults: r.results.map((x) => (ok ? x.hr : HR.S_OK)),
        status: 0,
      };
    },
  });
}
