// SPNEGO server wrapping NTLM (RFC 4178, MS-SPNG 3.2.5). NTLMSSP is the only mechanism it
// can select:
//  - negTokenInit listing NTLMSSP first with an NTLM NEGOTIATE as mechToken: answer
//    negTokenResp { accept-incomplete, supportedMech NTLMSSP, responseToken CHALLENGE };
//  - NTLMSSP listed but not first (Windows offers MS KRB5, KRB5, NEGOEX, NTLMSSP, with a
//    Kerberos mechToken): the optimistic token is not for NTLM, so it is ignored and the
//    answer is negTokenResp { request-mic, supportedMech NTLMSSP } with no responseToken, as
//    Windows answers (dcerpc-ctxids.pcap frame 58); the client's next negTokenResp carries
//    the NEGOTIATE. A mechListMIC is then required (RFC 4178 section 5: the selected
//    mechanism was not the initiator's first choice);
//  - the AUTHENTICATE leg: the NTLM acceptor verifies it; the client's mechListMIC over its
//    MechTypeList is checked (required when requested above, or when the NTLM AUTHENTICATE
//    carried a MIC, as Samba requires for such "new" clients); the answer is
//    negTokenResp { accept-completed, mechListMIC } (the MIC when the client sent one).
// mechListMICs use the NTLM session's SeqNum 0 in each direction, with the RC4 handles saved
// and restored around them (MS-SPNG 3.3.5.1); see SpnegoInitiator.
// A bare NTLMSSP token instead of a SPNEGO one is handed to NTLM as is, for the whole exchange.
// A guest-mapped logon has no key shared with the client, so its mechListMIC is not checked
// and none is sent back.
import { AuthError } from '../../base/errors';
import { RPC_C_AUTHN_GSS_NEGOTIATE, SEC_E_INVALID_TOKEN, SEC_E_MESSAGE_ALTERED } from '../constants';
import type { CredentialStore } from '../credentials';
import { NtlmAcceptor, type NtlmAcceptorOptions } from '../ntlm/acceptor';
import { ntlmMessageType } from '../ntlm/messages';
import type { Acceptor, Identity, SessionSecurity } from '../types';
import { DerError } from './der';
import { decodeSpnegoToken, encodeNegTokenResp, MECH_NAMES, NegState, OID_NTLMSSP, type SpnegoToken } from './tokens';

type State = 'initial' | 'await-negotiate' | 'await-authenticate' | 'done' | 'failed' | 'raw';

export class SpnegoAcceptor implements Acceptor {
  readonly authType = RPC_C_AUTHN_GSS_NEGOTIATE;
  readonly ntlm: NtlmAcceptor;
  private state: State = 'initial';
  private mechTypesDer?: Buffer;
  /** The mechanisms the client offered, in its order. */
  offeredMechs: string[] = [];
  /** A mechListMIC must come with the AUTHENTICATE (NTLM was not the client's first choice). */
  micRequired = false;
  /** The client's mechListMIC was present and verified. */
  clientMicVerified = false;

  constructor(store: CredentialStore, opts: NtlmAcceptorOptions = {}) {
    this.ntlm = new NtlmAcceptor(store, opts);
  }

  /** True when the client sent raw NTLMSSP instead of SPNEGO. */
  get rawNtlm(): boolean {
    return this.state === 'raw';
  }

  accept(clientToken: Buffer): { token?: Buffer; done: boolean; identity?: Identity } {
    if (this.state === 'raw') return this.ntlm.accept(clientToken);
    if (this.state === 'initial' && ntlmMessageType(clientToken) !== undefined) {
      this.state = 'raw';
      return this.ntlm.accept(clientToken);
    }
    try {
      return this.step(clientToken);
    } catch (e) {
      this.state = 'failed';
      throw e;
    }
  }

  private step(clientToken: Buffer): { token?: Buffer; done: boolean; identity?: Identity } {
    const t = this.decode(clientToken);
    switch (this.state) {
      case 'initial': {
        if (t.kind !== 'init') throw new AuthError('expected a negTokenInit', SEC_E_INVALID_TOKEN);
        this.offeredMechs = t.mechTypes;
        this.mechTypesDer = t.mechTypesDer;
        if (!t.mechTypes.includes(OID_NTLMSSP)) {
          const names = t.mechTypes.map((m) => MECH_NAMES[m] ?? m).join(', ');
          throw new AuthError(`no mechanism in common (client offers ${names || 'none'}; server supports NTLMSSP)`, SEC_E_INVALID_TOKEN);
        }
        if (t.mechTypes[0] === OID_NTLMSSP && t.mechToken) {
          const challenge = this.ntlm.accept(t.mechToken).token!;
          this.state = 'await-authenticate';
          return {
            token: encodeNegTokenResp({ negState: NegState.AcceptIncomplete, supportedMech: OID_NTLMSSP, responseToken: challenge }),
            done: false,
          };
        }
        // NTLM is not the optimistic mechanism (or no token came): select it, ignore any token.
        this.micRequired = t.mechTypes[0] !== OID_NTLMSSP;
        this.state = 'await-negotiate';
        return {
          token: encodeNegTokenResp({
            negState: this.micRequired ? NegState.RequestMic : NegState.AcceptIncomplete,
            supportedMech: OID_NTLMSSP,
          }),
          done: false,
        };
      }
      case 'await-negotiate': {
        const r = this.resp(t);
        if (!r.responseToken) throw new AuthError('expected the NTLM NEGOTIATE in a negTokenResp', SEC_E_INVALID_TOKEN);
        const challenge = this.ntlm.accept(r.responseToken).token!;
        this.state = 'await-authenticate';
        return { token: encodeNegTokenResp({ negState: NegState.AcceptIncomplete, responseToken: challenge }), done: false };
      }
      case 'await-authenticate': {
        const r = this.resp(t);
        if (!r.responseToken) throw new AuthError('expected the NTLM AUTHENTICATE in a negTokenResp', SEC_E_INVALID_TOKEN);
        const out = this.ntlm.accept(r.responseToken);
        const identity = out.identity!;
        let serverMic: Buffer | undefined;
        if (!identity.guest) {
          const ctx = this.ntlm.securityContext();
          const der = this.mechTypesDer!;
          if (r.mechListMIC) {
            const mic = r.mechListMIC;
            if (!ctx.withPreservedCipherState(() => ctx.verify(der, mic))) {
              throw new AuthError("client's mechListMIC does not verify", SEC_E_MESSAGE_ALTERED);
            }
            this.clientMicVerified = true;
          } else if (this.micRequired || this.ntlm.micPresent) {
            throw new AuthError('client sent no mechListMIC', SEC_E_MESSAGE_ALTERED);
          }
          if (r.mechListMIC || this.micRequired) serverMic = ctx.withPreservedCipherState(() => ctx.sign(der));
        }
        this.state = 'done';
        return {
          token: encodeNegTokenResp({ negState: NegState.AcceptCompleted, ...(serverMic ? { mechListMIC: serverMic } : {}) }),
          done: true,
          identity,
        };
      }
      default:
        throw new AuthError(this.state === 'done' ? 'SPNEGO exchange already complete' : 'SPNEGO exchange already failed', SEC_E_INVALID_TOKEN);
    }
  }

  get done(): boolean {
    return this.state === 'done' || (this.state === 'raw' && this.ntlm.done);
  }

  session(): SessionSecurity {
    if (!this.done) throw new AuthError('SPNEGO context is not established yet');
    return this.ntlm.session();
  }

  private resp(t: SpnegoToken) {
    if (t.kind !== 'resp') throw new AuthError('expected a negTokenResp', SEC_E_INVALID_TOKEN);
    if (t.negState === NegState.Reject) throw new AuthError('client rejected the negotiation', SEC_E_INVALID_TOKEN);
    return t;
  }

  private decode(token: Buffer): SpnegoToken {
    try {
      return decodeSpnegoToken(token);
    } catch (e) {
      if (e instanceof DerError) throw new AuthError(`bad SPNEGO token: ${e.message}`, SEC_E_INVALID_TOKEN);
      throw e;
    }
  }
}
