// The server side of the SP2 callback: ICServer::ForwardCall unmarshals the client's
// IClientCallback (resolving its OXID at the client's resolver, MS-DCOM 3.2.4.1.2) and calls
// BackwardCall(cookie) under the configured callback identity:
// - impersonate: what the original code does (CoImpersonateClient, no delegation): the token cannot
//   leave the machine, so the callback authenticates as anonymous NTLM;
// - process: the server process's own account (the fix);
// - account: an explicit account.
// If the OBJREF's OXID cannot be resolved (or its exporter not reached), ForwardCall's body never
// runs and the call faults with E_OUTOFMEMORY 0x8007000E, the HRESULT reported from the field (or,
// with fidelity 'rpc-error', the underlying RPC status); the log says why. (A malformed OBJREF is
// refused earlier, by the stub: RPC_E_INVALID_OBJREF, see lab-class.ts.)
import { RpcFault, formatError } from '../base/errors';
import { describeStatus } from '../base/status';
import type { Logger } from '../base/log';
import { silentLogger } from '../base/log';
import type { ClientCredentials } from '../auth/types';
import { AuthLevel } from '../pdu';
import type { CallContext } from '../rpc/server';
import type { SocketTap } from '../rpc/tap';
import { DcomClient, chooseBinding, proxyHresult, type ComInterface } from '../dcom/client';
import { callerName, IClientCallback, IID_IClientCallback, type CServer, type CServerHooks } from '../dcom/server/lab-class';

/** E_OUTOFMEMORY: what the client sees when pCallback cannot be unmarshaled (the field report). */
export const E_OUTOFMEMORY = 0x8007000e;

export type CallbackIdentity =
  | { mode: 'impersonate' }
  | { mode: 'process'; account: ClientCredentials }
  | { mode: 'account'; account: ClientCredentials };

export interface CallbackOptions {
  identity: CallbackIdentity;
  /** Authentication level of the callback (the server process's, CoInitializeSecurity's; default CONNECT). */
  level?: number;
  /** The client box's resolver port when its bindings name none (135). */
  resolverPort?: number;
  /** Timeout of the OXID resolution and of connecting to the client's exporter (default 5 s). */
  resolveTimeoutMs?: number;
  /** 'windows' (default): an unmarshal failure is E_OUTOFMEMORY; 'rpc-error': the underlying status. */
  fidelity?: 'windows' | 'rpc-error';
  logger?: Logger;
  /** Call back from this address (the server box's own). */
  localAddress?: string;
  /** Told about each ForwardCall: what happened, for scenario reports. */
  onForward?: (r: ForwardRecord) => void;
  /** Told about the callback's connections (a pcapng recorder's tap). */
  tap?: SocketTap;
}

export interface ForwardRecord {
  caller: string;
  identityMode: CallbackIdentity['mode'];
  /** Where the OXID was resolved, and how that ended. */
  resolver?: string;
  resolved: boolean;
  /** Why unmarshaling failed, when it did. */
  unmarshalError?: string;
  bodyRan: boolean;
  cookie?: number;
  /** BackwardCall's HRESULT (or the HRESULT its failure maps to). */
  backwardHr?: number;
  hresult: number;
}

function callbackCredentials(id: CallbackIdentity): ClientCredentials {
  // Anonymous NTLM: an empty user name, no password (MS-NLMP 3.1.5.1.2).
  return id.mode === 'impersonate' ? { user: '' } : id.account;
}

let nextCookie = 1;

/** The ForwardCall hook for CServer: unmarshal pCallback and call BackwardCall back. */
export function forwardCallHook(o: CallbackOptions): CServerHooks {
  const log = (o.logger ?? silentLogger).child({ part: 'callback' });
  const level = o.level ?? AuthLevel.connect;
  const timeout = o.resolveTimeoutMs ?? 5000;
  const resolverPort = o.resolverPort ?? 135;
  return {
    forwardCall: async (pCallback, ctx: CallContext, obj: CServer) => {
      const caller = callerName(ctx);
      // Whom the callback authenticates as: anonymous when impersonating (the token cannot leave the box).
      const as = o.identity.mode === 'impersonate' ? 'ANONYMOUS LOGON' : `${o.identity.account.domain ? o.identity.account.domain + '\\' : ''}${o.identity.account.user}`;
      log.info({ event: 'forward', from: ctx.peer.address, caller }, 'ForwardCall');
      const rec: ForwardRecord = { caller, identityMode: o.identity.mode, resolved: false, bodyRan: false, hresult: 0 };
      const client = new DcomClient({
        auth: { credentials: callbackCredentials(o.identity), level },
        exporterLevel: level, resolverLevel: level, resolverPort,
        connectTimeoutMs: timeout, callTimeoutMs: timeout, noPing: true, logger: log,
        ...(o.localAddress ? { localAddress: o.localAddress } : {}), ...(o.tap ? { tap: o.tap } : {}),
      });
      const finish = (hr: number) => {
        rec.hresult = hr;
        o.onForward?.(rec);
        return hr;
      };
      try {
        // ---- unmarshal pCallback (the stub does this before the method body runs)
        let itf: ComInterface;
        try {
          const objref = pCallback;
          if (objref.iid.toLowerCase() !== IID_IClientCallback) log.warn({ iid: objref.iid }, 'callback OBJREF is not an IClientCallback');
          const where = chooseBinding(objref.saResAddr.stringBindings, ctx.peer.address, 'target', resolverPort);
          rec.resolver = `${where.host}:${where.port}`;
          log.info({ event: 'callback-resolve', resolver: rec.resolver, oxid: objref.std.oxid.toString(16).padStart(16, '0'), identity: o.identity.mode }, 'resolving the callback OXID');
          const started = Date.now();
          try {
            await client.resolveOxid(where.host, objref.std.oxid, where.port);
          } catch (e) {
            const took = ((Date.now() - started) / 1000).toFixed(1);
            const why = /timed out/.test((e as Error).message)
              ? `OXID resolve at ${rec.resolver} timed out after ${took} s`
              : `OXID resolve at ${rec.resolver} failed after ${took} s: ${formatError(e)}`;
            throw new UnmarshalError(why, e);
          }
          rec.resolved = true;
          itf = await client.unmarshal(objref, { resolverHost: where.host, resolverPort: where.port });
        } catch (e) {
          const why = e instanceof UnmarshalError ? e.message : `cannot unmarshal pCallback: ${formatError(e)}`;
          rec.unmarshalError = why;
          const status = o.fidelity === 'rpc-error' ? proxyHresult(e instanceof UnmarshalError ? e.cause : e) : E_OUTOFMEMORY;
          log.warn({ event: 'forward-failed', caller, status: describeStatus(status, 'hresult'), why }, `ForwardCall not run: ${why}`);
          finish(status);
          throw new RpcFault(status, why);
        }

        // ---- the body: call back
        obj.forwardCalls++;
        rec.bodyRan = true;
        const cookie = nextCookie++;
        rec.cookie = cookie;
        let hr: number;
        try {
          const out = await itf.call(IClientCallback, 'BackwardCall', { cookie });
          hr = out.hresult;
        } catch (e) {
          hr = proxyHresult(e);
          log.warn({ event: 'callback-failed', caller, identity: o.identity.mode, status: describeStatus(hr, 'hresult'), err: formatError(e) }, 'BackwardCall failed');
        }
        rec.backwardHr = hr;
        log.info({ event: 'callback', caller, identity: o.identity.mode, as, to: rec.resolver, cookie, hresult: describeStatus(hr, 'hresult') }, 'BackwardCall returned');
        return finish(hr);
      } finally {
        await client.close();
      }
    },
  };
}

class UnmarshalError extends Error {
  constructor(message: string, override readonly cause: unknown) {
    super(message);
  }
}
