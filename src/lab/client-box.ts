// The client box of the SP2 lab: it exports its own IClientCallback object (an object exporter
// and an OXID resolver of its own, on 135 or as configured), activates CServer on the server
// box, calls ForwardCall(pCallback) and records whether BackwardCall ran, and as whom. Incoming
// calls pass the box's machine-wide policy first (MachineAccessRestriction), as on XP SP2.
import { ComError, RpcFault, formatError } from '../base/errors';
import { describeStatus } from '../base/status';
import type { CallContext } from '../rpc/server';
import { AuthLevel } from '../pdu';
import type { Logger } from '../base/log';
import { silentLogger } from '../base/log';
import type { CredentialOptions } from '../auth/types';
import { credentialAuthProvider } from '../rpc/auth-provider';
import { DcomClient, proxyHresult, type DcomAuth } from '../dcom/client';
import { startDcomServer, type DcomServer } from '../dcom/server';
import { callerName, CLSID_CServer, IClientCallback, IID_IClientCallback, IID_ICServer, ICServer } from '../dcom/server/lab-class';
import { ORPCTHAT_EMPTY } from '../dcom/server/exporter';
import { dispatcherFor } from '../rpc/typed';
import type { DcomPolicy } from './policy';
import type { Firewall } from './firewall';
import { accessAuthorizer } from './enforce';
import type { SocketTap } from '../rpc/tap';

/** A made-up CLSID for the client's callback object (it is never activated, only marshaled). */
export const CLSID_ClientCallback = '6b1d2c3e-7f40-4a51-9c62-d3e4f5a6b7c8';

export interface CallbackArrival {
  identity: string;
  anonymous: boolean;
  authLevel: number;
  /** Did the policy let it run? */
  ran: boolean;
  cookie?: number;
  /** The policy's explanation when refused. */
  deniedBy?: string;
}

/** Who a callback arrived as, and at which level (an unauthenticated call counts as anonymous). */
function arrivalOf(ctx: CallContext): Pick<CallbackArrival, 'identity' | 'anonymous' | 'authLevel'> {
  return { identity: callerName(ctx), anonymous: ctx.auth?.identity.anonymous ?? true, authLevel: ctx.auth?.level ?? AuthLevel.none };
}

export interface ClientBoxOptions {
  host: string;
  /** The port of this box's resolver, and of the server box's (135 or --resolver-port). */
  resolverPort: number;
  serverHost: string;
  /** Who the client is on the server box (activation and ForwardCall). */
  auth: DcomAuth;
  /** Accounts this box accepts incoming calls from (callbacks), and whether anonymous logons are allowed in. */
  accounts: CredentialOptions;
  policy: DcomPolicy;
  firewall?: Firewall;
  logger?: Logger;
  /** This box's exporter port (0 = dynamic; a fixed one lets a real firewall rule name it). */
  exporterPort?: number;
  /** Timeout of the client's own calls (activation, ForwardCall). */
  callTimeoutMs?: number;
  /** Told about every connection the box makes or accepts (a pcapng recorder's tap). */
  tap?: SocketTap;
}

export interface ClientRunResult {
  activationHr: number;
  /** ForwardCall's HRESULT: its return value, or the fault status it failed with. */
  forwardHr?: number;
  /** How ForwardCall ended: 'returned' (an HRESULT), 'fault' (an RPC fault) or 'error' (transport). */
  forwardOutcome?: 'returned' | 'fault' | 'error';
  callbacks: CallbackArrival[];
  error?: string;
}

export class ClientBox {
  readonly log: Logger;
  private dcom: DcomServer | undefined;
  readonly arrivals: CallbackArrival[] = [];

  constructor(readonly o: ClientBoxOptions) {
    this.log = (o.logger ?? silentLogger).child({ box: 'client' });
  }

  get server(): DcomServer {
    if (!this.dcom) throw new Error('client box not started');
    return this.dcom;
  }

  async start(): Promise<void> {
    const authorize = accessAuthorizer(this.o.policy, this.log, (d, ctx) => {
      if (d.allowed || ctx.iface.uuid !== IID_IClientCallback) return;
      this.arrivals.push({ ...arrivalOf(ctx), ran: false, deniedBy: d.explanation });
    });
    this.dcom = await startDcomServer({
      hosts: [this.o.host], resolverPort: this.o.resolverPort, exporterPort: this.o.exporterPort ?? 0, logger: this.log,
      auth: credentialAuthProvider(this.o.accounts),
      exporterRpc: { authorize, ...(this.o.firewall ? { firewall: this.o.firewall.rule('exporter') } : {}) },
      resolverRpc: this.o.firewall ? { firewall: this.o.firewall.rule('resolver') } : {},
      withLabClass: false, ...(this.o.tap ? { tap: this.o.tap } : {}),
    });
    this.dcom.exporter.addInterface(dispatcherFor(IClientCallback, {
      BackwardCall: (a, ctx) => {
        const arrival: CallbackArrival = { ...arrivalOf(ctx), ran: true, cookie: a.cookie };
        this.arrivals.push(arrival);
        this.log.info({ cookie: a.cookie, caller: arrival.identity }, 'BackwardCall ran');
        return { ORPCthat: ORPCTHAT_EMPTY, hresult: 0 };
      },
    }));
  }

  /** Activate CServer on the server box, call ForwardCall with our callback, release. */
  async run(): Promise<ClientRunResult> {
    const x = this.server.exporter;
    const obj = x.exportObject(CLSID_ClientCallback, [IID_IClientCallback], {});
    const std = x.marshalInterface(obj, IID_IClientCallback)!;
    const abData = x.objrefBytes(IID_IClientCallback, std);
    const client = new DcomClient({
      auth: this.o.auth, resolverPort: this.o.resolverPort, logger: this.log, noPing: true, localAddress: this.o.host,
      callTimeoutMs: this.o.callTimeoutMs ?? 30_000, connectTimeoutMs: this.o.callTimeoutMs ?? 30_000,
      ...(this.o.tap ? { tap: this.o.tap } : {}),
    });
    const res: ClientRunResult = { activationHr: 0, callbacks: this.arrivals };
    try {
      let a;
      try {
        a = await client.activate(this.o.serverHost, CLSID_CServer, [IID_ICServer]);
      } catch (e) {
        res.activationHr = e instanceof ComError ? e.hresult : proxyHresult(e);
        res.error = formatError(e);
        return res;
      }
      const itf = a.interfaces[0]!.iface;
      if (!itf) {
        res.activationHr = a.interfaces[0]!.hr;
        return res;
      }
      try {
        const out = await itf.call(ICServer, 'ForwardCall', { pCallback: { ulCntData: abData.length, abData } });
        res.forwardHr = out.hresult;
        res.forwardOutcome = 'returned';
      } catch (e) {
        res.forwardHr = proxyHresult(e);
        res.forwardOutcome = e instanceof RpcFault ? 'fault' : 'error';
        res.error = formatError(e);
      }
      this.log.info({ forward: describeStatus(res.forwardHr ?? 0, 'hresult'), outcome: res.forwardOutcome }, 'ForwardCall done');
      await itf.release().catch(() => undefined);
      return res;
    } finally {
      await client.close();
    }
  }

  async stop(): Promise<void> {
    await this.dcom?.stop();
  }
}
