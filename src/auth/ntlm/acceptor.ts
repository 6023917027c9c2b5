// NTLM server (MS-NLMP 3.2.5.1, connection-oriented): NEGOTIATE in, CHALLENGE out (bind_ack),
// then AUTHENTICATE in (auth3), checked against the credential store.
//
// CHALLENGE (3.2.5.1.1), as a Windows server builds it:
//  - flags: what the client asked for of UNICODE (else OEM), REQUEST_TARGET, SIGN, SEAL,
//    NTLM, ALWAYS_SIGN, EXTENDED_SESSIONSECURITY, IDENTIFY, VERSION, 128, 56, KEY_EXCH; plus
//    TARGET_INFO and TARGET_TYPE_SERVER (standalone) or TARGET_TYPE_DOMAIN. LM_KEY and
//    DATAGRAM are never granted;
//  - TargetName: the NetBIOS domain (or computer) name; TargetInfo: MsvAvNbDomainName,
//    MsvAvNbComputerName, MsvAvDnsDomainName, MsvAvDnsComputerName, MsvAvTimestamp;
//  - an 8-byte random ServerChallenge.
// AUTHENTICATE (3.2.5.1.2): see verify.ts. Unknown users and wrong passwords map to the guest
// account when the store says so (XP's ForceGuest); otherwise they fail with
// STATUS_LOGON_FAILURE. A guest logon has no key shared with the client: its session
// security uses a random key, so the client's signatures fail to verify, as they do against
// Windows when a logon falls back to guest.
import { randomBytes } from 'node:crypto';
import { AuthError } from '../../base/errors';
import { DEFAULT_NTLM_VERSION, RPC_C_AUTHN_WINNT, SEC_E_INVALID_TOKEN, STATUS_LOGON_FAILURE } from '../constants';
import type { CredentialStore } from '../credentials';
import type { Acceptor, Identity, SessionSecurity } from '../types';
import { NtlmError } from './errors';
import {
  hasFlag,
  NTLM_NEGOTIATE_OEM,
  NTLMSSP_NEGOTIATE_128,
  NTLMSSP_NEGOTIATE_56,
  NTLMSSP_NEGOTIATE_ALWAYS_SIGN,
  NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY,
  NTLMSSP_NEGOTIATE_IDENTIFY,
  NTLMSSP_NEGOTIATE_KEY_EXCH,
  NTLMSSP_NEGOTIATE_NTLM,
  NTLMSSP_NEGOTIATE_SEAL,
  NTLMSSP_NEGOTIATE_SIGN,
  NTLMSSP_NEGOTIATE_TARGET_INFO,
  NTLMSSP_NEGOTIATE_UNICODE,
  NTLMSSP_NEGOTIATE_VERSION,
  NTLMSSP_REQUEST_TARGET,
  NTLMSSP_TARGET_TYPE_DOMAIN,
  NTLMSSP_TARGET_TYPE_SERVER,
} from './flags';
import { filetimeFromDate } from './keys';
import {
  decodeAuthenticate,
  decodeNegotiate,
  encodeChallenge,
  MsvAvDnsComputerName,
  MsvAvDnsDomainName,
  MsvAvNbComputerName,
  MsvAvNbDomainName,
  MsvAvTimestamp,
  ntlmMessageType,
  NtlmMessageType,
  type AvPair,
  type NtlmVersion,
} from './messages';
import { NtlmSecurityContext } from './seal';
import { NtlmSessionSecurity } from './session';
import { authenticateFlavour, verifyAuthenticate, type NtlmFlavour, type VerifyResult } from './verify';

export interface NtlmAcceptorOptions {
  /** Clock for MsvAvTimestamp. */
  now?: () => Date;
  /** ServerChallenge source (8 bytes); random by default. */
  serverChallenge?: () => Buffer;
  /** VERSION in the CHALLENGE. */
  version?: NtlmVersion;
  /** MsvAvDnsDomainName; default the NetBIOS domain name in lower case. */
  dnsDomainName?: string;
  /** MsvAvDnsComputerName; default the computer name (qualified when the domain differs). */
  dnsComputerName?: string;
}

/** Flags granted when the client asks for them. */
const GRANTABLE =
  NTLMSSP_NEGOTIATE_UNICODE |
  NTLMSSP_REQUEST_TARGET |
  NTLMSSP_NEGOTIATE_SIGN |
  NTLMSSP_NEGOTIATE_SEAL |
  NTLMSSP_NEGOTIATE_NTLM |
  NTLMSSP_NEGOTIATE_ALWAYS_SIGN |
  NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY |
  NTLMSSP_NEGOTIATE_IDENTIFY |
  NTLMSSP_NEGOTIATE_VERSION |
  NTLMSSP_NEGOTIATE_128 |
  NTLMSSP_NEGOTIATE_KEY_EXCH |
  NTLMSSP_NEGOTIATE_56;

type State = 'initial' | 'challenged' | 'done' | 'failed';

export class NtlmAcceptor implements Acceptor {
  readonly authType = RPC_C_AUTHN_WINNT;
  private state: State = 'initial';
  private negotiateBytes?: Buffer;
  private challengeBytes?: Buffer;
  private verifyResult?: VerifyResult;
  private identityValue?: Identity;
  private ctx?: NtlmSecurityContext;
  private sessionWrapper?: NtlmSessionSecurity;
  private readonly now: () => Date;
  private readonly challengeSource: () => Buffer;

  constructor(readonly store: CredentialStore, private readonly opts: NtlmAcceptorOptions = {}) {
    this.now = opts.now ?? (() => new Date());
    this.challengeSource = opts.serverChallenge ?? (() => randomBytes(8));
  }

  accept(clientToken: Buffer): { token?: Buffer; done: boolean; identity?: Identity } {
    const type = ntlmMessageType(clientToken);
    if (this.state === 'initial') {
      if (type !== NtlmMessageType.Negotiate) this.invalid(`expected an NTLM NEGOTIATE message, got ${describeType(type)}`);
      return { token: this.challenge(clientToken), done: false };
    }
    if (this.state === 'challenged') {
      if (type !== NtlmMessageType.Authenticate) this.invalid(`expected an NTLM AUTHENTICATE message, got ${describeType(type)}`);
      const identity = this.authenticate(clientToken);
      return { done: true, identity };
    }
    throw new AuthError(this.state === 'done' ? 'NTLM exchange already complete' : 'NTLM exchange already failed');
  }

  /** The CHALLENGE_MESSAGE for a NEGOTIATE_MESSAGE. */
  private challenge(token: Buffer): Buffer {
    let neg;
    try {
      neg = decodeNegotiate(token);
    } catch (e) {
      this.invalid(`bad NEGOTIATE message: ${e instanceof NtlmError ? e.what : String(e)}`);
    }
    const store = this.store;
    let flags = (neg.flags & GRANTABLE) >>> 0;
    if (!hasFlag(neg.flags, NTLMSSP_NEGOTIATE_UNICODE)) {
      if (!hasFlag(neg.flags, NTLM_NEGOTIATE_OEM)) this.invalid('client offers neither Unicode nor OEM strings');
      flags |= NTLM_NEGOTIATE_OEM;
    }
    const standalone = store.serverDomain === store.serverName;
    flags |= NTLMSSP_NEGOTIATE_TARGET_INFO | NTLMSSP_REQUEST_TARGET | (standalone ? NTLMSSP_TARGET_TYPE_SERVER : NTLMSSP_TARGET_TYPE_DOMAIN);
    if (!hasFlag(flags, NTLMSSP_NEGOTIATE_NTLM)) this.invalid('client does not offer NTLM');
    flags >>>= 0;

    const dnsDomain = this.opts.dnsDomainName ?? store.serverDomain.toLowerCase();
    const dnsComputer =
      this.opts.dnsComputerName ?? (standalone ? store.serverName.toLowerCase() : `${store.serverName}.${dnsDomain}`.toLowerCase());
    const u = (s: string): Buffer => Buffer.from(s, 'utf16le');
    const targetInfo: AvPair[] = [
      { id: MsvAvNbDomainName, value: u(store.serverDomain) },
      { id: MsvAvNbComputerName, value: u(store.serverName) },
      { id: MsvAvDnsDomainName, value: u(dnsDomain) },
      { id: MsvAvDnsComputerName, value: u(dnsComputer) },
      { id: MsvAvTimestamp, value: filetimeFromDate(this.now()) },
    ];
    const serverChallenge = this.challengeSource();
    if (serverChallenge.length !== 8) throw new AuthError(`server challenge must be 8 bytes, got ${serverChallenge.length}`);
    const challenge = encodeChallenge({
      flags,
      serverChallenge,
      targetName: standalone ? store.serverName : store.serverDomain,
      targetInfo,
      version: this.opts.version ?? DEFAULT_NTLM_VERSION,
    });
    this.negotiateBytes = Buffer.from(token);
    this.challengeBytes = challenge;
    this.state = 'challenged';
    return Buffer.from(challenge);
  }

  private authenticate(token: Buffer): Identity {
    const store = this.store;
    let result: VerifyResult;
    let account;
    let who = '';
    try {
      const msg = decodeAuthenticate(token);
      who = msg.domainName ? `${msg.domainName}\\${msg.userName}` : msg.userName;
      const anonymous = authenticateFlavour(msg) === 'anonymous';
      account = anonymous ? undefined : store.lookup(msg.userName, msg.domainName);
      result = verifyAuthenticate({
        negotiate: this.negotiateBytes!,
        challenge: this.challengeBytes!,
        authenticate: token,
        ...(account ? { ntHash: account.ntHash } : {}),
      });
    } catch (e) {
      if (e instanceof NtlmError) this.invalid(`bad AUTHENTICATE message: ${e.what}`);
      throw e;
    }
    this.verifyResult = result;
    const auth = result.authenticate;
    const base = { workstation: auth.workstation, ntlmFlavour: result.flavour as NtlmFlavour };

    if (result.flavour === 'anonymous') {
      if (!store.allowAnonymous) this.fail('anonymous logons are not allowed');
      if (!result.ok) this.fail(`anonymous logon: ${result.reason}`);
      return this.established(result, { ...base, user: '', domain: '', anonymous: true, guest: false, groups: [] });
    }
    if (account && !result.ok && result.responseValid !== false) {
      // Not a credentials problem (a bad MIC, a malformed response): never mapped to guest.
      this.fail(`${who}: ${result.reason}`);
    }
    if (!account || !result.ok) {
      const why = !account ? `unknown user ${who}` : `wrong password for ${who} (${result.reason})`;
      if (!store.guest) this.fail(why);
      // ForceGuest: map to the guest account. There is no shared key (see the header).
      return this.established(
        { ...result, exportedSessionKey: randomBytes(16) },
        { ...base, user: 'Guest', domain: store.localDomain, anonymous: false, guest: true, groups: ['Guests'] },
      );
    }
    return this.established(result, {
      ...base,
      user: account.user,
      domain: account.domain === '' ? store.localDomain : account.domain,
      anonymous: false,
      guest: false,
      groups: [...account.groups],
    });
  }

  private established(result: VerifyResult, identity: Identity): Identity {
    this.verifyResult = result;
    this.ctx = new NtlmSecurityContext({ flags: result.flags, exportedSessionKey: result.exportedSessionKey!, role: 'server' });
    this.sessionWrapper = new NtlmSessionSecurity(this.ctx);
    this.identityValue = identity;
    this.state = 'done';
    return { ...identity, groups: [...identity.groups] };
  }

  private fail(reason: string): never {
    this.state = 'failed';
    throw new AuthError(`logon failure: ${reason}`, STATUS_LOGON_FAILURE);
  }

  private invalid(reason: string): never {
    this.state = 'failed';
    throw new AuthError(reason, SEC_E_INVALID_TOKEN);
  }

  get done(): boolean {
    return this.state === 'done';
  }

  /** The authenticated identity; valid once done. */
  get identity(): Identity {
    if (!this.identityValue) throw new AuthError('NTLM context is not established yet');
    return { ...this.identityValue, groups: [...this.identityValue.groups] };
  }

  /** The flavour the client used (known once the AUTHENTICATE arrived). */
  get flavour(): NtlmFlavour | undefined {
    return this.verifyResult?.flavour;
  }

  /** Negotiated flags for session security; valid once done. */
  get negotiatedFlags(): number {
    return this.need().flags;
  }

  /** True when the client's AUTHENTICATE carried a MIC (and it verified). */
  get micPresent(): boolean {
    return this.verifyResult?.micPresent ?? false;
  }

  /** The ExportedSessionKey; valid once done (random for a guest logon). */
  get exportedSessionKey(): Buffer {
    return Buffer.from(this.need().exportedSessionKey!);
  }

  /** The raw CHALLENGE_MESSAGE sent (for tests and decryptors). */
  get challengeMessage(): Buffer | undefined {
    return this.challengeBytes ? Buffer.from(this.challengeBytes) : undefined;
  }

  securityContext(): NtlmSecurityContext {
    this.need();
    return this.ctx!;
  }

  session(): SessionSecurity {
    this.need();
    return this.sessionWrapper!;
  }

  private need(): VerifyResult {
    if (this.state !== 'done' || !this.verifyResult) throw new AuthError('NTLM context is not established yet');
    return this.verifyResult;
  }
}

function describeType(type: number | undefined): string {
  if (type === undefined) return 'a token that is not NTLMSSP';
  return NtlmMessageType[type] ? `${NtlmMessageType[type]} (type ${type})` : `message type ${type}`;
}
