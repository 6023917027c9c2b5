// Authentication options shared by the client commands, and the server's account setup.
// Secrets may come from the environment (DCOMLAB_PASSWORD, DCOMLAB_NT_HASH) so they stay out of
// shell history; they are never logged.
import type { Command } from 'commander';
import { parseCredentialConfig, accountFromSpec, parseUserSpec } from '../auth/credentials';
import { NtlmInitiator } from '../auth/ntlm/initiator';
import { SpnegoInitiator } from '../auth/spnego/initiator';
import type { ClientCredentials, CredentialOptions, Initiator } from '../auth/types';
import { AuthLevel, AuthType } from '../pdu';
import type { ClientOptions, ServerAuthProvider } from '../rpc';
import { credentialAuthProvider } from '../rpc/auth-provider';
import { CliError } from './errors';

export interface ClientAuthCliOptions {
  authLevel?: string;
  auth?: string;
  user?: string;
  password?: string;
  ntHash?: string;
  ntlm?: string;
}

const LEVELS: Record<string, number> = {
  none: AuthLevel.none, connect: AuthLevel.connect, call: AuthLevel.call, pkt: AuthLevel.pkt,
  integrity: AuthLevel.pkt_integrity, privacy: AuthLevel.pkt_privacy,
};

/** `defaultLevel` null: the command decides (DCOM: connect when a user is given, as Windows' default). */
export function addClientAuthOptions(cmd: Command, defaultLevel: string | null = 'none'): Command {
  const levelHelp = 'none, connect, call, pkt, integrity or privacy';
  return cmd
    .option('--auth-level <level>', defaultLevel ? levelHelp : `${levelHelp} (default: connect with --user, else none)`, defaultLevel ?? undefined)
    .option('--auth <type>', 'ntlm (RPC_C_AUTHN_WINNT) or spnego (RPC_C_AUTHN_GSS_NEGOTIATE)', 'ntlm')
    .option('--user <[DOMAIN\\]NAME>', 'account; empty for anonymous (env DCOMLAB_USER)')
    .option('--password <p>', 'password (prefer env DCOMLAB_PASSWORD: it stays out of shell history)')
    .option('--nt-hash <hex>', 'NT hash instead of a password (env DCOMLAB_NT_HASH)')
    .option('--ntlm <version>', 'v2, ntlm2 (NTLMv1 with extended session security) or v1', 'v2');
}

/** Credentials, level and auth type from the command line; undefined for an unauthenticated client. */
export function authSpecFrom(o: ClientAuthCliOptions): { credentials: ClientCredentials; level: number; authType: number } | undefined {
  const level = LEVELS[(o.authLevel ?? 'none').toLowerCase()];
  if (level === undefined) throw new CliError(`--auth-level must be one of ${Object.keys(LEVELS).join(', ')}, not ${o.authLevel}`);
  if (level <= AuthLevel.none) return undefined;
  const ntlm = (o.ntlm ?? 'v2').toLowerCase();
  if (ntlm !== 'v1' && ntlm !== 'ntlm2' && ntlm !== 'v2') throw new CliError(`--ntlm must be v1, ntlm2 or v2, not ${o.ntlm}`);
  const spec = parseUserSpec(o.user ?? process.env.DCOMLAB_USER ?? '');
  const creds: ClientCredentials = { user: spec.user, ntlm };
  if (spec.domain !== undefined) creds.domain = spec.domain;
  const password = o.password ?? spec.password ?? process.env.DCOMLAB_PASSWORD;
  const ntHash = o.ntHash ?? process.env.DCOMLAB_NT_HASH;
  if (ntHash) {
    if (!/^[0-9a-fA-F]{32}$/.test(ntHash)) throw new CliError('--nt-hash must be 32 hex digits');
    creds.ntHash = Buffer.from(ntHash, 'hex');
  } else if (password !== undefined) creds.password = password;
  else if (creds.user) throw new CliError(`no password for ${creds.user}: give --password, --nt-hash or DCOMLAB_PASSWORD`);
  const type = (o.auth ?? 'ntlm').toLowerCase();
  if (type === 'ntlm' || type === 'winnt') return { credentials: creds, level, authType: AuthType.winnt };
  if (type === 'spnego' || type === 'negotiate') return { credentials: creds, level, authType: AuthType.gss_negotiate };
  throw new CliError(`--auth must be ntlm or spnego, not ${o.auth}`);
}

/** The `auth` client option from the command line, or undefined for an unauthenticated client. */
export function clientAuthFrom(o: ClientAuthCliOptions): ClientOptions['auth'] {
  const a = authSpecFrom(o);
  if (!a) return undefined;
  const initiator: Initiator = a.authType === AuthType.winnt ? new NtlmInitiator(a.credentials, a.level) : new SpnegoInitiator(a.credentials, a.level);
  return { initiator, level: a.level };
}

/** Server accounts from `--user NAME:PASSWORD` options and a config's credentials section. */
export function serverCredentials(users: string[] = [], config?: unknown): CredentialOptions {
  const base: CredentialOptions = config === undefined ? { accounts: [] } : parseCredentialConfig(config, '--config');
  return { ...base, accounts: [...base.accounts, ...users.map((u) => accountFromSpec(u))] };
}

/** NTLM (auth type 10) and SPNEGO with NTLM (auth type 9) acceptors over one credential store. */
export const serverAuthProvider = (opts: CredentialOptions): ServerAuthProvider => credentialAuthProvider(opts);
