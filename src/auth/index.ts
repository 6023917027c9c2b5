// Authentication: the contract the RPC runtime uses (types), NTLM (auth type 10) and SPNEGO
// wrapping NTLM (auth type 9) initiators and acceptors, the server's credential store, and
// the crypto primitives underneath.
export * from './types';
export * from './constants';
export {
  CredentialStore,
  CredentialConfigError,
  DEFAULT_SERVER_NAME,
  parseUserSpec,
  clientCredentialsFromSpec,
  accountFromSpec,
  parseCredentialConfig,
  readCredentialFile,
  type StoredAccount,
  type UserSpec,
} from './credentials';
export { NtlmInitiator, negotiateFlagsForLevel, type NtlmInitiatorOptions } from './ntlm/initiator';
export { NtlmAcceptor, type NtlmAcceptorOptions } from './ntlm/acceptor';
export { NtlmSessionSecurity } from './ntlm/session';
export { verifyAuthenticate, authenticateFlavour, type VerifyInput, type VerifyResult, type NtlmFlavour } from './ntlm/verify';
export { SpnegoInitiator, type SpnegoInitiatorOptions } from './spnego/initiator';
export { SpnegoAcceptor } from './spnego/acceptor';
export { DerError } from './spnego/der';
export { NtlmError } from './ntlm/errors';
export * as crypto from './crypto';
export * as ntlm from './ntlm';
export * as spnego from './spnego';

import { AuthError } from '../base/errors';
import { RPC_C_AUTHN_GSS_NEGOTIATE, RPC_C_AUTHN_WINNT } from './constants';
import type { CredentialStore } from './credentials';
import { NtlmAcceptor, type NtlmAcceptorOptions } from './ntlm/acceptor';
import { NtlmInitiator, type NtlmInitiatorOptions } from './ntlm/initiator';
import { SpnegoAcceptor } from './spnego/acceptor';
import { SpnegoInitiator, type SpnegoInitiatorOptions } from './spnego/initiator';
import type { Acceptor, ClientCredentials, Initiator } from './types';

/** A fresh acceptor for an auth type the server supports (10 NTLM, 9 SPNEGO), else undefined. */
export function createAcceptor(authType: number, store: CredentialStore, opts: NtlmAcceptorOptions = {}): Acceptor | undefined {
  if (authType === RPC_C_AUTHN_WINNT) return new NtlmAcceptor(store, opts);
  if (authType === RPC_C_AUTHN_GSS_NEGOTIATE) return new SpnegoAcceptor(store, opts);
  return undefined;
}

/** A fresh initiator for auth type 10 (NTLM) or 9 (SPNEGO/NTLM). */
export function createInitiator(
  authType: number,
  creds: ClientCredentials,
  authLevel: number,
  opts: NtlmInitiatorOptions & SpnegoInitiatorOptions = {},
): Initiator {
  if (authType === RPC_C_AUTHN_WINNT) return new NtlmInitiator(creds, authLevel, opts);
  if (authType === RPC_C_AUTHN_GSS_NEGOTIATE) return new SpnegoInitiator(creds, authLevel, opts);
  throw new AuthError(`unsupported auth type ${authType}`);
}
