// SPNEGO client wrapping NTLM (RPC_C_AUTHN_GSS_NEGOTIATE, MS-RPCE 2.2.1.1.7; RFC 4178;
// MS-SPNG 3.1.5). Four legs on the wire, as Windows runs them:
//   bind           negTokenInit { mechTypes [NTLMSSP], mechToken NEGOTIATE }
//   bind_ack       negTokenResp { accept-incomplete, supportedMech NTLMSSP, responseToken CHALLENGE }
//   alter_context  negTokenResp { accept-incomplete, responseToken AUTHENTICATE, mechListMIC }
//   alter_ctx_resp negTokenResp { accept-completed, mechListMIC }
// step() on the CHALLENGE returns the alter_context token (leg 'alter_context', done false);
// step() on the final token checks the server's mechListMIC and returns leg 'none', done true.
//
// mechListMIC = NTLM GSS_GetMIC over the DER MechTypeList the client sent (both sides MIC
// the client's list). It uses the NTLM session's own signing state: SeqNum 0 in each
// direction, so the first RPC PDU after it is signed with SeqNum 1; the RC4 handles are saved
// before and restored after each mechListMIC (MS-SPNG 3.3.5.1), so that first PDU uses the
// same RC4 state the mechListMIC did. See NtlmSecurityContext.withPreservedCipherState.
import { AuthError } from '../../base/errors';
import { RPC_C_AUTHN_GSS_NEGOTIATE, SEC_E_INVALID_TOKEN, SEC_E_MESSAGE_ALTERED, STATUS_LOGON_FAILURE } from '../constants';
import { NtlmInitiator, type NtlmInitiatorOptions } from '../ntlm/initiator';
import type { ClientCredentials, Initiator, SessionSecurity } from '../types';
import { DerError } from './der';
import { decodeSpnegoToken, encodeMechTypeList, encodeNegTokenInit, encodeNegTokenResp, NegState, OID_NTLMSSP, type NegTokenResp } from './tokens';

export interface SpnegoInitiatorOptions extends NtlmInitiatorOptions {
  /**
   * Fail when the server's final token has no mechListMIC. Default false: RFC 4178 section 5
   * lets the acceptor omit it when the initiator's preferred mechanism was chosen (NTLM is the
   * only one offered). A mechListMIC that is present is always checked.
   */
  requireServerMic?: boolean;
}

type State = 'initial' | 'sent-init' | 'sent-auth' | 'done';

export class SpnegoInitiator implements Initiator {
  readonly authType = RPC_C_AUTHN_GSS_NEGOTIATE;
  readonly ntlm: NtlmInitiator;
  readonly mechTypes: readonly string[] = [OID_NTLMSSP];
  private readonly mechTypesDer: Buffer;
  private state: State = 'initial';
  /** The server's mechListMIC verified (false when it sent none). */
  serverMicVerified = false;

  constructor(creds: ClientCredentials, readonly authLevel: number, private readonly opts: SpnegoInitiatorOptions = {}) {
    this.ntlm = new NtlmInitiator(creds, authLevel, opts);
    this.mechTypesDer = encodeMechTypeList(this.mechTypes);
  }

  start(): Buffer {
    if (this.state !== 'initial') throw new AuthError('SPNEGO initiator already started');
    const token = encodeNegTokenInit({ mechTypes: this.mechTypes, mechToken: this.ntlm.start() });
    this.state = 'sent-init';
    return token;
  }

  step(serverToken: Buffer): { token?: Buffer; leg: 'auth3' | 'alter_context' | 'none'; done: boolean } {
    const resp = this.decode(serverToken);
    if (resp.negState === NegState.Reject) {
      this.state = 'done';
      throw new AuthError('server rejected the SPNEGO negotiation', STATUS_LOGON_FAILURE);
    }
    if (this.state === 'sent-init') {
      if (resp.supportedMech !== undefined && resp.supportedMech !== OID_NTLMSSP) {
        throw new AuthError(`server chose mechanism ${resp.supportedMech}, not NTLMSSP`, SEC_E_INVALID_TOKEN);
      }
      if (!resp.responseToken) throw new AuthError('server sent no NTLM CHALLENGE in its negTokenResp', SEC_E_INVALID_TOKEN);
      const r = this.ntlm.step(resp.responseToken);
      const ctx = this.ntlm.securityContext();
      const mic = ctx.withPreservedCipherState(() => ctx.sign(this.mechTypesDer));
      this.state = 'sent-auth';
      return {
        token: encodeNegTokenResp({ negState: NegState.AcceptIncomplete, responseToken: r.token!, mechListMIC: mic }),
        leg: 'alter_context',
        done: false,
      };
    }
    if (this.state === 'sent-auth') {
      if (resp.negState !== NegState.AcceptCompleted) {
        throw new AuthError(`expected accept-completed, got negState ${resp.negState === undefined ? '(none)' : NegState[resp.negState]}`, SEC_E_INVALID_TOKEN);
      }
      if (resp.responseToken && resp.responseToken.length > 0) throw new AuthError('unexpected response token after the NTLM AUTHENTICATE', SEC_E_INVALID_TOKEN);
      const ctx = this.ntlm.securityContext();
      if (resp.mechListMIC) {
        const mic = resp.mechListMIC;
        const ok = ctx.withPreservedCipherState(() => ctx.verify(this.mechTypesDer, mic));
        if (!ok) throw new AuthError("server's mechListMIC does not verify", SEC_E_MESSAGE_ALTERED);
        this.serverMicVerified = true;
      } else if (this.opts.requireServerMic) {
        throw new AuthError('server sent no mechListMIC', SEC_E_MESSAGE_ALTERED);
      }
      this.state = 'done';
      return { leg: 'none', done: true };
    }
    throw new AuthError(this.state === 'initial' ? 'SPNEGO initiator not started' : 'SPNEGO exchange already complete');
  }

  get done(): boolean {
    return this.state === 'done' && this.ntlm.done;
  }

  session(): SessionSecurity {
    if (this.state !== 'done') throw new AuthError('SPNEGO context is not established yet');
    return this.ntlm.session();
  }

  private decode(token: Buffer): NegTokenResp {
    let t;
    try {
      t = decodeSpnegoToken(token);
    } catch (e) {
      if (e instanceof DerError) throw new AuthError(`bad SPNEGO token: ${e.message}`, SEC_E_INVALID_TOKEN);
      throw e;
    }
    if (t.kind !== 'resp') throw new AuthError('expected a negTokenResp from the server', SEC_E_INVALID_TOKEN);
    return t;
  }
}
