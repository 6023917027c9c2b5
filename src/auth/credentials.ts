// Server-side accounts (what an NTLM acceptor checks responses against) and the small parsers
// the CLI needs: "DOMAIN\user:password" specs and a JSON credentials file.
//
// Only NT hashes are kept: a password given in the options is hashed (NTOWFv1) when the store
// is built and not retained. Every NTLM flavour the acceptor verifies (NTLMv1, NTLM2 session
// response, NTLMv2/LMv2) needs nothing else. Errors name users and files, never a password
// or a hash.
import { readFile } from 'node:fs/promises';
import { DcomlabError } from '../base/errors';
import { NTOWFv1 } from './ntlm/keys';
import type { Account, ClientCredentials, CredentialOptions } from './types';

/** A credentials file or user spec that cannot be used; `what` says why (never a secret). */
export class CredentialConfigError extends DcomlabError {
  override name = 'CredentialConfigError';
  constructor(readonly what: string) {
    super(`credentials: ${what}`);
  }
}

/** An account as the store holds it. */
export interface StoredAccount {
  user: string;
  /** The account's domain; '' for a local account (the server's own domain). */
  domain: string;
  ntHash: Buffer;
  groups: string[];
}

/** Default NetBIOS names of the lab server (a standalone XP-era machine). */
export const DEFAULT_SERVER_NAME = 'DCOMLAB';

const eqi = (a: string, b: string): boolean => a.toUpperCase() === b.toUpperCase();

/** Accounts the server accepts, plus its guest/anonymous policy and its own names. */
export class CredentialStore {
  readonly guest: boolean;
  readonly allowAnonymous: boolean;
  /** NetBIOS computer name (MsvAvNbComputerName). */
  readonly serverName: string;
  /** NetBIOS domain name (MsvAvNbDomainName); the computer name on a standalone machine. */
  readonly serverDomain: string;
  readonly mirrored: boolean;
  private readonly accounts: StoredAccount[] = [];

  constructor(opts: CredentialOptions = { accounts: [] }) {
    this.guest = opts.guest ?? false;
    this.allowAnonymous = opts.allowAnonymous ?? true;
    this.serverName = (opts.serverName ?? DEFAULT_SERVER_NAME).toUpperCase();
    this.serverDomain = (opts.serverDomain ?? this.serverName).toUpperCase();
    this.mirrored = opts.mirrored ?? false;
    for (const a of opts.accounts) this.add(a);
  }

  /** Add an account (password or NT hash). */
  add(a: Account): void {
    if (typeof a.user !== 'string' || a.user === '') throw new CredentialConfigError('an account needs a non-empty user name');
    let ntHash: Buffer;
    if (a.ntHash !== undefined) {
      if (a.ntHash.length !== 16) throw new CredentialConfigError(`account ${a.user}: the NT hash must be 16 bytes`);
      ntHash = Buffer.from(a.ntHash);
    } else {
      ntHash = NTOWFv1(a.password ?? '');
    }
    const domain = this.isLocalDomain(a.domain ?? '') ? '' : a.domain!;
    this.accounts.push({ user: a.user, domain, ntHash, groups: [...(a.groups ?? [])] });
  }

  /** True for '', '.', and the server's own computer or domain name (case-insensitive). */
  isLocalDomain(domain: string): boolean {
    return domain === '' || domain === '.' || eqi(domain, this.serverName) || eqi(domain, this.serverDomain);
  }

  /** The domain a local account is shown in ("MACHINE\user"). */
  get localDomain(): string {
    return this.serverDomain;
  }

  /**
   * The account a client names: user case-insensitively; domain case-insensitively, with
   * '', '.' and the server's own names all meaning the local accounts. A client that sends
   * no domain (or '.') also finds a domain account when only one has that user name. With
   * `mirrored`, a domain the store does not know falls back to the local account.
   */
  lookup(user: string, domain: string): StoredAccount | undefined {
    const byUser = this.accounts.filter((a) => eqi(a.user, user));
    if (byUser.length === 0) return undefined;
    if (this.isLocalDomain(domain)) {
      const local = byUser.find((a) => a.domain === '');
      if (local) return local;
      // A domain naming this server only matches local accounts; no domain at all (or '.')
      // also finds the one domain account with that name, if there is exactly one.
      if (domain !== '' && domain !== '.') return undefined;
      return byUser.length === 1 ? byUser[0] : undefined;
    }
    const inDomain = byUser.find((a) => eqi(a.domain, domain));
    if (inDomain || !this.mirrored || this.accounts.some((a) => eqi(a.domain, domain))) return inDomain;
    return byUser.find((a) => a.domain === '');
  }

  /** The NT hash for a user, or undefined when there is no such account. */
  ntHashFor(user: string, domain = ''): Buffer | undefined {
    const a = this.lookup(user, domain);
    return a ? Buffer.from(a.ntHash) : undefined;
  }

  get size(): number {
    return this.accounts.length;
  }
}

// ---------------------------------------------------------------------------------------
// "DOMAIN\user:password" specs

export interface UserSpec {
  user: string;
  domain?: string;
  password?: string;
}

/**
 * Parse "DOMAIN\user:password", "DOMAIN/user:password", "user@DOMAIN:password", "user" or
 * "" (anonymous). The password is everything after the first ':' (it may contain ':');
 * without a ':' there is no password.
 */
export function parseUserSpec(spec: string): UserSpec {
  let who = spec;
  let password: string | undefined;
  const colon = spec.indexOf(':');
  if (colon >= 0) {
    who = spec.slice(0, colon);
    password = spec.slice(colon + 1);
  }
  let user = who;
  let domain: string | undefined;
  const sep = who.search(/[\\/]/);
  if (sep >= 0) {
    domain = who.slice(0, sep);
    user = who.slice(sep + 1);
  } else {
    const at = who.lastIndexOf('@');
    if (at > 0) {
      user = who.slice(0, at);
      domain = who.slice(at + 1);
    }
  }
  if (/[\\/@]/.test(user)) throw new CredentialConfigError(`cannot parse user name in "${who}"`);
  const out: UserSpec = { user };
  if (domain !== undefined) out.domain = domain;
  if (password !== undefined) out.password = password;
  return out;
}

/** Client credentials from a user spec ('' is anonymous). */
export function clientCredentialsFromSpec(spec: string, extra: Partial<ClientCredentials> = {}): ClientCredentials {
  const u = parseUserSpec(spec);
  const c: ClientCredentials = { ...extra, user: u.user };
  if (u.domain !== undefined) c.domain = u.domain;
  if (u.password !== undefined) c.password = u.password;
  return c;
}

/** A server account from a user spec ("DOMAIN\user:password"). */
export function accountFromSpec(spec: string, groups: string[] = []): Account {
  const u = parseUserSpec(spec);
  if (u.user === '') throw new CredentialConfigError('an account spec needs a user name');
  const a: Account = { user: u.user, password: u.password ?? '', groups };
  if (u.domain !== undefined) a.domain = u.domain;
  return a;
}

// ---------------------------------------------------------------------------------------
// JSON credentials file:
//   { "accounts": [{ "user": "alice", "domain": "LAB", "password": "...", "groups": ["Administrators"] },
//                  { "user": "bob", "ntHash": "<32 hex digits>" }],
//     "guest": false, "allowAnonymous": true, "mirrored": false, "serverName": "XPBOX", "serverDomain": "WORKGROUP" }

/** Parse (and validate) a credentials config object, e.g. from JSON.parse. */
export function parseCredentialConfig(json: unknown, source = 'credentials'): CredentialOptions {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new CredentialConfigError(`${source}: expected a JSON object`);
  }
  const o = json as Record<string, unknown>;
  const accountsIn = o['accounts'] ?? [];
  if (!Array.isArray(accountsIn)) throw new CredentialConfigError(`${source}: "accounts" must be an array`);
  const accounts: Account[] = accountsIn.map((raw, i) => {
    const where = `${source}: accounts[${i}]`;
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new CredentialConfigError(`${where} must be an object`);
    const r = raw as Record<string, unknown>;
    if (typeof r['user'] !== 'string' || r['user'] === '') throw new CredentialConfigError(`${where}: "user" must be a non-empty string`);
    const a: Account = { user: r['user'] };
    const who = `${where} (${a.user})`;
    if (r['domain'] !== undefined) {
      if (typeof r['domain'] !== 'string') throw new CredentialConfigError(`${who}: "domain" must be a string`);
      a.domain = r['domain'];
    }
    if (r['password'] !== undefined) {
      if (typeof r['password'] !== 'string') throw new CredentialConfigError(`${who}: "password" must be a string`);
      a.password = r['password'];
    }
    if (r['ntHash'] !== undefined) {
      const h = r['ntHash'];
      if (typeof h !== 'string' || !/^[0-9a-fA-F]{32}$/.test(h)) {
        throw new CredentialConfigError(`${who}: "ntHash" must be 32 hex digits`);
      }
      a.ntHash = Buffer.from(h, 'hex');
    }
    if (a.password === undefined && a.ntHash === undefined) {
      throw new CredentialConfigError(`${who}: give "password" or "ntHash"`);
    }
    if (r['groups'] !== undefined) {
      const g = r['groups'];
      if (!Array.isArray(g) || g.some((x) => typeof x !== 'string')) throw new CredentialConfigError(`${who}: "groups" must be an array of strings`);
      a.groups = g as string[];
    }
    return a;
  });
  const out: CredentialOptions = { accounts };
  for (const k of ['guest', 'allowAnonymous', 'mirrored'] as const) {
    if (o[k] !== undefined) {
      if (typeof o[k] !== 'boolean') throw new CredentialConfigError(`${source}: "${k}" must be true or false`);
      out[k] = o[k] as boolean;
    }
  }
  for (const k of ['serverName', 'serverDomain'] as const) {
    if (o[k] !== undefined) {
      if (typeof o[k] !== 'string' || o[k] === '') throw new CredentialConfigError(`${source}: "${k}" must be a non-empty string`);
      out[k] = o[k] as string;
    }
  }
  return out;
}

/** Read a JSON credentials file. */
export async function readCredentialFile(path: string): Promise<CredentialOptions> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new CredentialConfigError(`${path}: ${(e as NodeJS.ErrnoException).code ?? 'cannot read'}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    // JSON.parse messages can quote the text around the error: do not echo them.
    throw new CredentialConfigError(`${path}: not valid JSON`);
  }
  return parseCredentialConfig(json, path);
}
