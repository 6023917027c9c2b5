// What the RPC runtime needs from an authentication mechanism (MS-RPCE 3.3.1.5.2): tokens for
// the bind / bind_ack / auth3 or alter_context legs, then session security for each PDU.
// NTLMSSP (auth type 10) and SPNEGO wrapping NTLM (auth type 9) both implement these.

/** Who a call is authenticated as, as handlers see it. */
export interface Identity {
  user: string;
  domain: string;
  workstation: string;
  /** NT AUTHORITY\ANONYMOUS LOGON (null session). */
  anonymous: boolean;
  /** Mapped to the guest account (XP's ForceGuest). */
  guest: boolean;
  /** 'v1' (NTLMv1), 'ntlm2' (NTLMv1 with extended session security), 'v2', or 'anonymous'. */
  ntlmFlavour: 'v1' | 'ntlm2' | 'v2' | 'anonymous';
  /** Groups from the credential store, e.g. 'Administrators'. */
  groups: string[];
}

/** "DOMAIN\user", or "NT AUTHORITY\ANONYMOUS LOGON". */
export function identityName(i: Identity): string {
  if (i.anonymous) return 'NT AUTHORITY\\ANONYMOUS LOGON';
  return i.domain ? `${i.domain}\\${i.user}` : i.user;
}

/** Per-PDU protection once a context is established (MS-RPCE 3.3.1.5.2 / MS-NLMP 3.4). */
export interface SessionSecurity {
  /** Length of the auth value (signature) this mechanism writes; 16 for NTLM. */
  readonly signatureLength: number;
  /**
   * What a DCE/RPC signature covers: true = the whole PDU up to the auth value (NTLM with
   * extended session security, as Windows and Impacket do); false = the stub and its auth
   * padding only (NTLMv1 without it). Undefined is taken as true.
   */
  readonly signsWholePdu?: boolean;
  /** Signature over `data` (the PDU bytes MS-RPCE says to sign), advancing the send sequence. */
  sign(data: Uint8Array): Buffer;
  /** Check a received signature, advancing the receive sequence; false when it does not match. */
  verify(data: Uint8Array, signature: Uint8Array): boolean;
  /**
   * Encrypt `plaintext` (the stub and its auth padding) and sign `signedData`, the plaintext
   * bytes MS-RPCE says to sign (with NTLM extended session security, the whole PDU up to the
   * auth value with the stub still in plaintext; otherwise the stub and padding). Default: plaintext.
   */
  seal(plaintext: Uint8Array, signedData?: Uint8Array): { sealed: Buffer; signature: Buffer };
  /** Decrypt and verify; `signedData(plain)` rebuilds the signed bytes around the plaintext. */
  unseal(sealed: Uint8Array, signature: Uint8Array, signedData?: (plain: Buffer) => Uint8Array): { plaintext: Buffer; ok: boolean };
}

/** Client side of an authentication exchange. */
export interface Initiator {
  readonly authType: number;
  /** First token (carried in the bind, or an alter_context for an added context). */
  start(): Buffer;
  /**
   * Process the server's token (from bind_ack / alter_context_resp). Returns the next token to
   * send, if any: `leg` says whether it travels in auth3 (raw NTLM) or alter_context (SPNEGO, which
   * waits for the server's mechListMIC), and `done` whether the context is complete after it.
   */
  step(serverToken: Buffer): { token?: Buffer; leg: 'auth3' | 'alter_context' | 'none'; done: boolean };
  /** Session security; valid once done. */
  session(): SessionSecurity;
}

/** Server side of an authentication exchange. */
export interface Acceptor {
  readonly authType: number;
  /**
   * Process a client token. Returns the token to send back (in bind_ack / alter_context_resp),
   * whether the context is complete, and the identity once it is. Throws AuthError (with the
   * reason, never a secret) when the client fails to authenticate.
   */
  accept(clientToken: Buffer): { token?: Buffer; done: boolean; identity?: Identity };
  session(): SessionSecurity;
}

/** A server account. The NT hash may be given instead of the password. */
export interface Account {
  user: string;
  domain?: string;
  password?: string;
  ntHash?: Buffer;
  groups?: string[];
}

/** Server-side credential store options. */
export interface CredentialOptions {
  accounts: Account[];
  /** Map unknown or anonymous users to the guest account, as XP's ForceGuest does. */
  guest?: boolean;
  /** Accept anonymous (null session) logons; default true (the policy layer decides access). */
  allowAnonymous?: boolean;
  /** The server's NetBIOS domain and computer names, for the CHALLENGE target info. */
  serverDomain?: string;
  serverName?: string;
  /**
   * Workgroup ("mirrored") accounts: a logon naming a domain this server does not know is checked
   * against the local account of that name, as a standalone Windows machine does. That is how
   * the same user and password on every workgroup VM lets them call each other.
   */
  mirrored?: boolean;
}

/** Client credentials; an empty user means anonymous. */
export interface ClientCredentials {
  user: string;
  domain?: string;
  password?: string;
  ntHash?: Buffer;
  workstation?: string;
  /** 'v2' (default), 'ntlm2' (NTLMv1 with extended session security) or 'v1'. */
  ntlm?: 'v1' | 'ntlm2' | 'v2';
}
