// The machine-wide policy at work on a box: every incoming ORPC call on its object exporter is
// checked against MachineAccessRestriction (and the process settings), every activation against
// MachineLaunchRestriction. A refused call is a fault with status 5 (ERROR_ACCESS_DENIED), which
// the caller's proxy reports as E_ACCESSDENIED 0x80070005; a refused activation answers
// E_ACCESSDENIED in the response (MS-DCOM 3.1.2.5.2.3). The log names the caller and the ACE.
import type { Identity } from '../auth/types';
import { RpcFault } from '../base/errors';
import type { Logger } from '../base/log';
import { Status } from '../base/status';
import { ActivationRejected, type LaunchCheck } from '../dcom/server/activation';
import type { CallContext } from '../rpc/server';
import type { DcomPolicy, PolicyDecision } from './policy';

/** A caller is remote when it reached us from another address than the one it called (another box). */
export const isRemote = (ctx: CallContext) => ctx.peer.address !== ctx.local.address;

/** The RpcServer `authorize` hook of a box's object exporter. */
export function accessAuthorizer(policy: DcomPolicy, log: Logger, onDecision?: (d: PolicyDecision, ctx: CallContext) => void): (ctx: CallContext) => void {
  return (ctx) => {
    const identity: Identity | undefined = ctx.auth?.identity;
    const d = policy.checkAccess(identity, { remote: isRemote(ctx), authLevel: ctx.auth?.level ?? 1 });
    onDecision?.(d, ctx);
    if (d.allowed) return;
    log.warn({ event: 'denied', from: ctx.peer.address, caller: d.caller, deniedBy: d.deniedBy, ace: d.decidingAce?.text, iface: ctx.iface.name }, d.explanation);
    throw new RpcFault(Status.rpc_s_access_denied, d.explanation);
  };
}

/** The activators' launch check. */
export function launchChecker(policy: DcomPolicy, log: Logger): LaunchCheck {
  return (ctx, clsid) => {
    const d = policy.checkLaunch(ctx.auth?.identity, { remote: isRemote(ctx) });
    if (d.allowed) return;
    log.warn({ event: 'launch-denied', caller: d.caller, clsid, deniedBy: d.deniedBy, ace: d.decidingAce?.text }, d.explanation);
    throw new ActivationRejected(d.hresult, d.explanation);
  };
}
