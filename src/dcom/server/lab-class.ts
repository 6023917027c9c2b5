// The lab class: CLSID_CServer with ICServer, and the client's callback interface IClientCallback.
// DCOM methods (MS-DCOM 3.1.1.5.x, 3.2.4.2): the in-parameters start with ORPCTHIS, the
// out-parameters with ORPCTHAT, and the HRESULT return value comes last. Opnums 0-2 are IUnknown's
// (never on the wire).
//
//   [object, uuid(737EF2D6-DCD1-44DF-A320-8C9D344CC7A8)] interface ICServer : IUnknown {
//     HRESULT ForwardCall([in] IClientCallback *pCallback);     // opnum 3
//     HRESULT Ping([in] long value, [out, retval] long *echo);  // opnum 4
//     HRESULT WhoAmI([out, retval] BSTR *identity);              // opnum 5
//   }
//   [object, uuid(59EF5494-5D79-4ED8-A9F5-6B6EE4BEB812)] interface IClientCallback : IUnknown {
//     HRESULT BackwardCall([in] long cookie);                    // opnum 3
//   }
import * as ndr from '../../ndr';
import { identityName } from '../../auth/types';
import { formatError, ObjrefError, RpcFault } from '../../base/errors';
import { decodeObjref, OBJREF_CUSTOM, type Objref } from '../objref';
import type { CallContext, DispatchInterface } from '../../rpc/server';
import { dispatcherFor } from '../../rpc/typed';
import { BSTR, MInterfacePointer, ORPCTHAT, ORPCTHIS } from '../types';
import { HR, ORPCTHAT_EMPTY, type ObjectExporter } from './exporter';

export const CLSID_CServer = '82d1ea8a-00f7-4c0c-9418-1bdca814dccb';
export const IID_ICServer = '737ef2d6-dcd1-44df-a320-8c9d344cc7a8';
export const IID_IClientCallback = '59ef5494-5d79-4ed8-a9f5-6b6ee4beb812';
// The type library DcomLabLib 1.0 of the Windows lab kit (tools/windows/lab.idl).
export const LIBID_DcomLab = '8cdb03fe-847d-47c2-a578-29b14d669698';

export const ICServer = ndr.iface('ICServer', IID_ICServer, 0, 0, {
  // An [in] interface pointer is marshaled as a unique MInterfacePointer (MS-DCOM 2.2.14).
  ForwardCall: ndr.op(3, {
    in: { ORPCthis: ndr.ref(ORPCTHIS), pCallback: ndr.unique(MInterfacePointer) },
    out: { ORPCthat: ndr.ref(ORPCTHAT), hresult: ndr.hresult },
  }),
  Ping: ndr.op(4, {
    in: { ORPCthis: ndr.ref(ORPCTHIS), value: ndr.i32 },
    out: { ORPCthat: ndr.ref(ORPCTHAT), echo: ndr.ref(ndr.i32), hresult: ndr.hresult },
  }),
  WhoAmI: ndr.op(5, {
    in: { ORPCthis: ndr.ref(ORPCTHIS) },
    out: { ORPCthat: ndr.ref(ORPCTHAT), identity: ndr.ref(BSTR), hresult: ndr.hresult },
  }),
});

export const IClientCallback = ndr.iface('IClientCallback', IID_IClientCallback, 0, 0, {
  BackwardCall: ndr.op(3, {
    in: { ORPCthis: ndr.ref(ORPCTHIS), cookie: ndr.i32 },
    out: { ORPCthat: ndr.ref(ORPCTHAT), hresult: ndr.hresult },
  }),
});

/** The identity a call arrived under, as WhoAmI reports it. */
export function callerName(ctx: CallContext): string {
  return ctx.auth?.identity ? identityName(ctx.auth.identity) : 'NT AUTHORITY\\ANONYMOUS LOGON';
}

/** One CServer instance (state per activation). */
export class CServer {
  pings = 0;
  /** ForwardCall bodies that ran (after pCallback unmarshaled). */
  forwardCalls = 0;
}

/**
 * How ForwardCall treats its callback. The DCOM layer only knows the interface; unmarshaling the
 * client's IClientCallback and calling it back is the lab's (src/lab/callback.ts). Without a hook
 * ForwardCall answers E_NOTIMPL.
 */
export interface CServerHooks {
  /** Unmarshal the callback's OBJREF, run the body; returns ForwardCall's HRESULT. Throw RpcFault to fault the call. */
  forwardCall?: (pCallback: MarshaledObjref, ctx: CallContext, obj: CServer) => Promise<number>;
}

/** An OBJREF that names an object exporter (STANDARD, HANDLER or EXTENDED: a STDOBJREF and resolver bindings). */
export type MarshaledObjref = Exclude<Objref, { flags: typeof OBJREF_CUSTOM }>;

/** E_POINTER (MS-ERREF 2.1): ForwardCall(NULL) has nothing to call back. */
const E_POINTER = 0x80004003;

/**
 * pCallback's OBJREF, as the stub unmarshals it before the method runs. A malformed one faults
 * the call with RPC_E_INVALID_OBJREF 0x8001011D ("the marshaled interface data packet (OBJREF) has
 * an invalid or unknown format", winerror.h) and the reason in the log; Windows' exact answer to
 * each malformation is unverified.
 */
export function unmarshalCallback(p: { abData: Buffer }): MarshaledObjref {
  try {
    const o = decodeObjref(p.abData);
    if (o.flags === OBJREF_CUSTOM) throw new ObjrefError(4, `OBJREF_CUSTOM (clsid ${o.clsid}): no custom unmarshaler for a callback`);
    return o;
  } catch (e) {
    throw new RpcFault(HR.RPC_E_INVALID_OBJREF, `pCallback: ${formatError(e)}`);
  }
}

/** A class the activator can create (MS-DCOM 3.1.2.5.2: the class table). */
export interface ComClass {
  clsid: string;
  /** Interfaces an instance implements (IUnknown implied). */
  iids: readonly string[];
  create(ctx: CallContext): unknown;
}

export const CServerClass: ComClass = {
  clsid: CLSID_CServer,
  iids: [IID_ICServer],
  create: () => new CServer(),
};

/** ICServer's handlers on an exporter: the call's IPID picks the instance. */
export function cserverDispatcher(exporter: ObjectExporter, hooks: CServerHooks = {}): DispatchInterface {
  return dispatcherFor(ICServer, {
    ForwardCall: async (a, ctx) => {
      const obj = exporter.implFor<CServer>(ctx, IID_ICServer);
      if (!a.pCallback) return { ORPCthat: ORPCTHAT_EMPTY, hresult: E_POINTER };
      const objref = unmarshalCallback(a.pCallback);
      const hresult = hooks.forwardCall ? await hooks.forwardCall(objref, ctx, obj) : HR.E_NOTIMPL;
      return { ORPCthat: ORPCTHAT_EMPTY, hresult };
    },
    Ping: (a, ctx) => {
      exporter.implFor<CServer>(ctx, IID_ICServer).pings++;
      return { ORPCthat: ORPCTHAT_EMPTY, echo: a.value, hresult: HR.S_OK };
    },
    WhoAmI: (_a, ctx) => {
      exporter.implFor<CServer>(ctx, IID_ICServer);
      return { ORPCthat: ORPCTHAT_EMPTY, identity: callerName(ctx), hresult: HR.S_OK };
    },
  });
}
