// A server's authentication from an account list: NTLM (auth type 10) and SPNEGO with NTLM
// (auth type 9) acceptors over one credential store.
import { createAcceptor } from '../auth';
import { CredentialStore } from '../auth/credentials';
import type { CredentialOptions } from '../auth/types';
import type { ServerAuthProvider } from './server';

export function credentialAuthProvider(opts: CredentialOptions): ServerAuthProvider {
  const store = new CredentialStore(opts);
  return { acceptor: (authType: number) => createAcceptor(authType, store) };
}
