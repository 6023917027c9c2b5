// SDDL (MS-DTYP 2.5.1) for the subset DCOM's machine-wide and process security uses:
// O:/G:/D: components, access-allowed (A) and access-denied (D) ACEs, and well-known SID aliases,
// plus the AccessCheck algorithm (MS-DTYP 2.5.3.2) over the result. No SACLs, object ACEs,
// conditional ACEs or domain-relative aliases: those are rejected with a clear SddlError.
import { DcomlabError } from '../base/errors';

/** A malformed SDDL string: what is wrong and the character offset (0-based) where it was found. */
export class SddlError extends DcomlabError {
  override name = 'SddlError';
  constructor(readonly offset: number, readonly what: string) {
    super(`SDDL: ${what} at offset ${offset}`);
  }
}

/** ACE types this subset supports (MS-DTYP 2.4.4.1 ACCESS_ALLOWED_ACE_TYPE / ACCESS_DENIED_ACE_TYPE). */
export type AceType = 'A' | 'D';

/** ACE flag tokens (MS-DTYP 2.5.1.1 ace-flag-string, 2.4.4.1 AceFlags). */
export const ACE_FLAG_TOKENS = ['CI', 'OI', 'NP', 'IO', 'ID', 'SA', 'FA'] as const;
export type AceFlag = (typeof ACE_FLAG_TOKENS)[number];

/** DACL flag tokens (MS-DTYP 2.5.1.1 acl-flag). */
export const ACL_FLAG_TOKENS = ['P', 'AR', 'AI'] as const;
export type AclFlag = (typeof ACL_FLAG_TOKENS)[number];

export interface Ace {
  type: AceType;
  flags: AceFlag[];
  /** ACCESS_MASK (MS-DTYP 2.4.3), unsigned 32-bit. */
  mask: number;
  /** Trustee as a canonical SID string ("S-1-5-7"), whatever form the SDDL used. */
  sid: string;
}

export interface SecurityDescriptor {
  /** Canonical SID strings, or undefined when the component is absent. */
  owner?: string;
  group?: string;
  daclFlags: AclFlag[];
  /** null = NULL DACL ("D:NO_ACCESS_CONTROL"): no policy, every access is granted (MS-DTYP 2.5.3.2). */
  dacl: Ace[] | null;
}

// ---- SIDs -----------------------------------------------------------------------------------

/** Well-known SIDs this lab uses (MS-DTYP 2.4.2.4). */
export const SID = {
  EVERYONE: 'S-1-1-0',
  NETWORK: 'S-1-5-2',
  INTERACTIVE: 'S-1-5-4',
  ANONYMOUS: 'S-1-5-7',
  AUTHENTICATED_USERS: 'S-1-5-11',
  LOCAL_SYSTEM: 'S-1-5-18',
  LOCAL_SERVICE: 'S-1-5-19',
  NETWORK_SERVICE: 'S-1-5-20',
  ADMINISTRATORS: 'S-1-5-32-544',
  USERS: 'S-1-5-32-545',
  GUESTS: 'S-1-5-32-546',
  POWER_USERS: 'S-1-5-32-547',
  /** BUILTIN\Distributed COM Users (Windows Server 2003 SP1; no SDDL alias). */
  DISTRIBUTED_COM_USERS: 'S-1-5-32-562',
} as const;

/** SDDL SID aliases (MS-DTYP 2.5.1.1 sid-token) that are not relative to a domain, with their SIDs. */
export const SID_ALIASES: Readonly<Record<string, string>> = {
  WD: SID.EVERYONE,
  NU: SID.NETWORK,
  IU: SID.INTERACTIVE,
  AN: SID.ANONYMOUS,
  AU: SID.AUTHENTICATED_USERS,
  SY: SID.LOCAL_SYSTEM,
  LS: SID.LOCAL_SERVICE,
  NS: SID.NETWORK_SERVICE,
  BA: SID.ADMINISTRATORS,
  BU: SID.USERS,
  BG: SID.GUESTS,
  PU: SID.POWER_USERS,
  CO: 'S-1-3-0',
  CG: 'S-1-3-1',
  PS: 'S-1-5-10',
  RC: 'S-1-5-12',
  ED: 'S-1-5-9',
  AO: 'S-1-5-32-548',
  SO: 'S-1-5-32-549',
  PO: 'S-1-5-32-550',
  BO: 'S-1-5-32-551',
  RE: 'S-1-5-32-552',
  RU: 'S-1-5-32-554',
  RD: 'S-1-5-32-555',
  NO: 'S-1-5-32-556',
  MU: 'S-1-5-32-558',
  LU: 'S-1-5-32-559',
};

/** Aliases of the grammar that stand for SIDs in the machine's or domain's own domain; not supported. */
const DOMAIN_RELATIVE_ALIASES = new Set(['DA', 'DG', 'DU', 'DD', 'DC', 'LA', 'LG', 'SA', 'CA', 'EA', 'PA', 'RS', 'RO', 'CN', 'AP', 'KA', 'EK']);

const ALIAS_BY_SID: ReadonlyMap<string, string> = new Map(Object.entries(SID_ALIASES).map(([a, s]) => [s, a]));

/** Names for log lines (the account names Windows shows). */
const SID_NAMES: Readonly<Record<string, string>> = {
  [SID.EVERYONE]: 'Everyone',
  [SID.NETWORK]: 'NT AUTHORITY\\NETWORK',
  [SID.INTERACTIVE]: 'NT AUTHORITY\\INTERACTIVE',
  [SID.ANONYMOUS]: 'NT AUTHORITY\\ANONYMOUS LOGON',
  [SID.AUTHENTICATED_USERS]: 'NT AUTHORITY\\Authenticated Users',
  [SID.LOCAL_SYSTEM]: 'NT AUTHORITY\\SYSTEM',
  [SID.LOCAL_SERVICE]: 'NT AUTHORITY\\LOCAL SERVICE',
  [SID.NETWORK_SERVICE]: 'NT AUTHORITY\\NETWORK SERVICE',
  [SID.ADMINISTRATORS]: 'BUILTIN\\Administrators',
  [SID.USERS]: 'BUILTIN\\Users',
  [SID.GUESTS]: 'BUILTIN\\Guests',
  [SID.POWER_USERS]: 'BUILTIN\\Power Users',
  [SID.DISTRIBUTED_COM_USERS]: 'BUILTIN\\Distributed COM Users',
};

/** The account name of a well-known SID, or the SID string itself. */
export function sidName(sid: string): string {
  return SID_NAMES[sid] ?? sid;
}

const U32_MAX = 0xffffffff;
const AUTHORITY_MAX = 2 ** 48 - 1;

/**
 * Parse a SID string (MS-DTYP 2.4.2.1: "S-1-" authority *("-" sub-authority); the authority is
 * decimal below 2^32 or "0x" + 12 hex digits; at most 15 sub-authorities below 2^32) into its
 * canonical form (authority in decimal). Returns an error text instead of throwing.
 */
function canonicalSid(text: string): string | { error: string } {
  const parts = text.split('-');
  if (parts[0] !== 'S' || parts.length < 3) return { error: `bad SID "${text}" (expected S-1-<authority>-<sub-authority>...)` };
  if (parts[1] !== '1') return { error: `bad SID "${text}" (revision must be 1)` };
  const authText = parts[2]!;
  let authority: number;
  if (/^0[xX][0-9a-fA-F]{12}$/.test(authText)) authority = parseInt(authText.slice(2), 16);
  else if (/^[0-9]+$/.test(authText)) authority = Number(authText);
  else return { error: `bad SID "${text}" (identifier authority "${authText}" is not a number)` };
  if (authority > AUTHORITY_MAX || (!authText.startsWith('0x') && !authText.startsWith('0X') && authority > U32_MAX)) {
    return { error: `bad SID "${text}" (identifier authority too large)` };
  }
  const subs = parts.slice(3);
  if (subs.length === 0) return { error: `bad SID "${text}" (no sub-authority)` };
  if (subs.length > 15) return { error: `bad SID "${text}" (more than 15 sub-authorities)` };
  for (const s of subs) {
    if (!/^[0-9]+$/.test(s) || Number(s) > U32_MAX) return { error: `bad SID "${text}" (sub-authority "${s}" is not a 32-bit number)` };
  }
  // MS-DTYP 2.4.2.1: an authority of 2^32 or more is written as 0x + 12 hex digits.
  const auth = authority > U32_MAX ? `0x${authority.toString(16).toUpperCase().padStart(12, '0')}` : String(authority);
  return ['S', '1', auth, ...subs.map((s) => String(Number(s)))].join('-');
}

/** Canonical SID string from an alias ("AN") or a SID string ("S-1-5-7"); throws SddlError at offset 0. */
export function parseSid(text: string): string {
  return parseSidAt(text, 0);
}

function parseSidAt(text: string, offset: number): string {
  if (/^[A-Z]{2}$/.test(text)) {
    const sid = SID_ALIASES[text];
    if (sid) return sid;
    if (DOMAIN_RELATIVE_ALIASES.has(text)) throw new SddlError(offset, `SID alias "${text}" is relative to a domain and not supported; write the full S-1-5-21-... SID`);
    throw new SddlError(offset, `unknown SID alias "${text}"`);
  }
  if (text === '') throw new SddlError(offset, 'missing SID');
  if (!text.startsWith('S-')) {
    if (/^[A-Za-z]{2}$/.test(text)) throw new SddlError(offset, `unknown SID alias "${text}" (aliases are upper case)`);
    throw new SddlError(offset, `bad SID "${text}" (expected a two-letter alias or S-1-...)`);
  }
  const c = canonicalSid(text);
  if (typeof c !== 'string') throw new SddlError(offset, c.error);
  return c;
}

/** The SDDL form of a SID: its alias when it has one, else the S-1-... string. */
export function formatSid(sid: string): string {
  return ALIAS_BY_SID.get(sid) ?? sid;
}

// ---- access rights --------------------------------------------------------------------------

/**
 * Access-right tokens (MS-DTYP 2.5.1.1 text-rights-string; values from MS-DTYP 2.4.3 and the
 * directory-service rights, where CC=0x1, DC=0x2, LC=0x4, SW=0x8, RP=0x10 are the five bits
 * DCOM reuses for COM_RIGHTS_*). In the order Windows writes them.
 */
export const RIGHT_TOKENS: ReadonlyArray<readonly [string, number]> = [
  ['CC', 0x1],
  ['DC', 0x2],
  ['LC', 0x4],
  ['SW', 0x8],
  ['RP', 0x10],
  ['WP', 0x20],
  ['DT', 0x40],
  ['LO', 0x80],
  ['CR', 0x100],
  ['SD', 0x10000],
  ['RC', 0x20000],
  ['WD', 0x40000],
  ['WO', 0x80000],
  ['GA', 0x10000000],
  ['GX', 0x20000000],
  ['GW', 0x40000000],
  ['GR', 0x80000000],
];
const RIGHT_BY_TOKEN: ReadonlyMap<string, number> = new Map(RIGHT_TOKENS);
const ALL_TOKEN_BITS = RIGHT_TOKENS.reduce((m, [, v]) => (m | v) >>> 0, 0);

/** SDDL text of an access mask: letters when every bit has one, else 0x-hex (as Windows writes it). */
export function formatMask(mask: number): string {
  const m = mask >>> 0;
  if (m === 0 || (m & ~ALL_TOKEN_BITS) !== 0) return `0x${m.toString(16)}`;
  return RIGHT_TOKENS.filter(([, v]) => (m & v) !== 0).map(([t]) => t).join('');
}

/** ace-rights (MS-DTYP 2.5.1.1): tokens, or "0x" 1*8HEXDIG, or an octal or decimal number. */
function parseMaskAt(text: string, offset: number): number {
  if (text === '') return 0;
  if (/^[0-9]/.test(text)) {
    let v: number;
    if (/^0[xX]/.test(text)) {
      const digits = text.slice(2);
      if (!/^[0-9a-fA-F]+$/.test(digits)) throw new SddlError(offset, `bad access mask "${text}" (not a hex number)`);
      if (digits.replace(/^0+/, '').length > 8) throw new SddlError(offset, `access mask "${text}" does not fit in 32 bits`);
      v = parseInt(digits, 16);
    } else if (text.length > 1 && text.startsWith('0')) {
      if (!/^[0-7]+$/.test(text)) throw new SddlError(offset, `bad access mask "${text}" (not an octal number)`);
      v = parseInt(text, 8);
    } else {
      if (!/^[0-9]+$/.test(text)) throw new SddlError(offset, `bad access mask "${text}" (not a number)`);
      v = Number(text);
    }
    if (!Number.isSafeInteger(v) || v > U32_MAX) throw new SddlError(offset, `access mask "${text}" does not fit in 32 bits`);
    return v >>> 0;
  }
  let mask = 0;
  for (let i = 0; i < text.length; i += 2) {
    const tok = text.slice(i, i + 2);
    const bit = RIGHT_BY_TOKEN.get(tok);
    if (bit === undefined) throw new SddlError(offset + i, `unknown access right "${tok}" in "${text}"`);
    mask = (mask | bit) >>> 0;
  }
  return mask;
}

// ---- parser ---------------------------------------------------------------------------------

/** Whitespace we skip between components and between ACEs (not inside an ACE). */
const isSpace = (c: string | undefined) => c === ' ' || c === '\t' || c === '\r' || c === '\n';

/**
 * Parse an SDDL string (MS-DTYP 2.5.1.1). A DACL ("D:") is required: a descriptor without one
 * would grant everything, which a policy should say explicitly with "D:NO_ACCESS_CONTROL".
 * Whitespace is allowed before, after and between components and ACEs, never inside a token
 * or an ACE. Throws SddlError naming the problem and its offset.
 */
export function parseSddl(s: string): SecurityDescriptor {
  if (typeof s !== 'string') throw new SddlError(0, `expected a string, got ${s === null ? 'null' : typeof s}`);
  const sd: SecurityDescriptor = { daclFlags: [], dacl: [] };
  const seen = new Set<string>();
  let pos = 0;
  const skip = () => {
    while (isSpace(s[pos])) pos++;
  };
  skip();
  if (pos === s.length) throw new SddlError(pos, 'empty security descriptor (expected O:, G: or D:)');
  while (true) {
    skip();
    if (pos >= s.length) break;
    const tag = s[pos]!;
    if (s[pos + 1] !== ':' || !'OGDS'.includes(tag)) {
      throw new SddlError(pos, `unexpected "${s[pos]}" (expected O:, G:, D: or an ACE "(")`);
    }
    if (tag === 'S') throw new SddlError(pos, 'SACL (S:) is not supported: DCOM security uses only the owner, group and DACL');
    if (seen.has(tag)) throw new SddlError(pos, `duplicate ${tag}: component`);
    seen.add(tag);
    pos += 2;
    if (tag === 'O' || tag === 'G') {
      const start = pos;
      // A SID string runs up to the next component tag: a two-letter alias, or S-1-... digits.
      let end = start;
      if (s.startsWith('S-', start)) {
        end = start + 2;
        while (end < s.length && /[0-9A-Fa-fxX-]/.test(s[end]!)) {
          // Stop before the next component tag ("G:" / "D:"), which hex digits could swallow.
          if (s[end + 1] === ':' && 'OGDS'.includes(s[end]!)) break;
          end++;
        }
      } else {
        while (end < s.length && end - start < 2 && /[A-Za-z]/.test(s[end]!)) end++;
      }
      const text = s.slice(start, end);
      const sid = parseSidAt(text, start);
      if (tag === 'O') sd.owner = sid;
      else sd.group = sid;
      pos = end;
      continue;
    }
    // D: [acl-flag-string] [aces]
    if (s.startsWith('NO_ACCESS_CONTROL', pos)) {
      pos += 'NO_ACCESS_CONTROL'.length;
      sd.dacl = null;
      skip();
      if (s[pos] === '(') throw new SddlError(pos, 'ACEs after NO_ACCESS_CONTROL (a NULL DACL has no ACEs)');
      continue;
    }
    while (pos < s.length && s[pos] !== '(' && !isSpace(s[pos])) {
      const flag = ACL_FLAG_TOKENS.find((f) => s.startsWith(f, pos) && !(f === 'P' && s[pos + 1] === ':'));
      if (!flag) {
        if (s[pos + 1] === ':' && 'OGDS'.includes(s[pos]!)) break;
        throw new SddlError(pos, `unknown DACL flag "${s.slice(pos, /[A-Z]/.test(s[pos + 1] ?? '') ? pos + 2 : pos + 1)}" (expected P, AR, AI or NO_ACCESS_CONTROL)`);
      }
      if (!sd.daclFlags.includes(flag)) sd.daclFlags.push(flag);
      pos += flag.length;
    }
    const dacl: Ace[] = [];
    while (true) {
      skip();
      if (s[pos] !== '(') break;
      const close = s.indexOf(')', pos);
      const nextOpen = s.indexOf('(', pos + 1);
      if (close < 0 || (nextOpen >= 0 && nextOpen < close)) throw new SddlError(pos, 'unterminated ACE (missing ")")');
      dacl.push(parseAce(s, pos + 1, close));
      pos = close + 1;
    }
    sd.dacl = dacl;
  }
  if (!seen.has('D')) throw new SddlError(s.length, 'missing D: (a DCOM security descriptor needs a DACL; write D:NO_ACCESS_CONTROL for none)');
  return sd;
}

/** One ACE between its parentheses: s[start, end) (MS-DTYP 2.5.1.1 ace). */
function parseAce(s: string, start: number, end: number): Ace {
  const fields: { text: string; at: number }[] = [];
  let at = start;
  for (const text of s.slice(start, end).split(';')) {
    fields.push({ text, at });
    at += text.length + 1;
  }
  if (fields.length !== 6) {
    throw new SddlError(start - 1, `ACE "${s.slice(start - 1, end + 1)}" has ${fields.length} field${fields.length === 1 ? '' : 's'}, expected 6 (type;flags;rights;object_guid;inherit_object_guid;sid)`);
  }
  const [type, flags, rights, objectGuid, inheritGuid, sid] = fields as [typeof fields[0], typeof fields[0], typeof fields[0], typeof fields[0], typeof fields[0], typeof fields[0]];
  if (type.text !== 'A' && type.text !== 'D') {
    const known = ['OA', 'OD', 'AU', 'AL', 'OU', 'OL', 'ML', 'XA', 'XD', 'RA', 'SP', 'XU', 'ZA'].includes(type.text);
    throw new SddlError(type.at, known
      ? `ACE type "${type.text}" is not supported (DCOM security uses only A and D)`
      : `unknown ACE type "${type.text}" (expected A or D)`);
  }
  const aceFlags: AceFlag[] = [];
  for (let i = 0; i < flags.text.length; i += 2) {
    const tok = flags.text.slice(i, i + 2);
    if (!(ACE_FLAG_TOKENS as readonly string[]).includes(tok)) throw new SddlError(flags.at + i, `unknown ACE flag "${tok}"`);
    if (!aceFlags.includes(tok as AceFlag)) aceFlags.push(tok as AceFlag);
  }
  if (objectGuid.text !== '') throw new SddlError(objectGuid.at, 'object GUID given for a non-object ACE (only OA/OD ACEs carry one)');
  if (inheritGuid.text !== '') throw new SddlError(inheritGuid.at, 'inherited object GUID given for a non-object ACE (only OA/OD ACEs carry one)');
  const mask = parseMaskAt(rights.text, rights.at);
  return { type: type.text, flags: aceFlags, mask, sid: parseSidAt(sid.text, sid.at) };
}

// ---- formatter ------------------------------------------------------------------------------

/** SDDL text of one ACE, e.g. "(A;;CCDC;;;AN)". */
export function formatAce(ace: Ace): string {
  return `(${ace.type};${ace.flags.join('')};${formatMask(ace.mask)};;;${formatSid(ace.sid)})`;
}

/** SDDL text of a descriptor, in Windows' component order (O:, G:, D:); parseSddl reads it back. */
export function formatSddl(sd: SecurityDescriptor): string {
  let out = '';
  if (sd.owner !== undefined) out += `O:${formatSid(sd.owner)}`;
  if (sd.group !== undefined) out += `G:${formatSid(sd.group)}`;
  out += 'D:';
  if (sd.dacl === null) return `${out}NO_ACCESS_CONTROL`;
  out += sd.daclFlags.join('');
  for (const ace of sd.dacl) out += formatAce(ace);
  return out;
}

// ---- access check ---------------------------------------------------------------------------

export interface DecidingAce {
  /** 0-based position in the DACL (log lines print it 1-based: "ACE 2"). */
  index: number;
  text: string;
  ace: Ace;
}

export interface AccessCheckResult {
  granted: boolean;
  desired: number;
  /** The desired bits that the DACL granted before the decision. */
  grantedMask: number;
  /**
   * The ACE that decided: the deny ACE that refused, the allow ACE that granted the last missing
   * bit, or (implicit denial) the last ACE that applied to the caller but lacked a needed bit.
   */
  decidingAce?: DecidingAce;
  reason: string;
}

export interface AccessCheckOptions {
  /** Rights an ACE stands for (e.g. DCOM's reading of an old-format ACE); default ace.mask. */
  aceMask?: (ace: Ace) => number;
  /** Names the bits in reasons; default 0x-hex. */
  describeMask?: (mask: number) => string;
}

const hex = (m: number) => `0x${(m >>> 0).toString(16)}`;

/**
 * AccessCheck (MS-DTYP 2.5.3.2) for a token holding `sids` and a non-MAXIMUM_ALLOWED request:
 * ACEs are taken in order; inherit-only ACEs and ACEs for SIDs not in the token are skipped; an
 * allow ACE removes its bits from the remaining request; a deny ACE that covers any still
 * remaining bit denies the whole request. Bits still remaining at the end are denied. A NULL
 * DACL grants everything; an empty DACL grants nothing. Owner-implied rights and privileges
 * are out of scope (DCOM's COM_RIGHTS_* are never implied).
 */
export function accessCheck(sd: SecurityDescriptor, sids: readonly string[], desired: number, opts: AccessCheckOptions = {}): AccessCheckResult {
  const want = desired >>> 0;
  const describe = opts.describeMask ?? hex;
  const maskOf = opts.aceMask ?? ((a: Ace) => a.mask);
  if (sd.dacl === null) return { granted: true, desired: want, grantedMask: want, reason: 'NULL DACL (NO_ACCESS_CONTROL) grants every access' };
  if (want === 0) return { granted: true, desired: 0, grantedMask: 0, reason: 'nothing requested' };
  const token = new Set(sids);
  let remaining = want;
  let lastApplying: DecidingAce | undefined;
  for (let index = 0; index < sd.dacl.length; index++) {
    const ace = sd.dacl[index]!;
    if (ace.flags.includes('IO')) continue;
    if (!token.has(ace.sid)) continue;
    const mask = maskOf(ace) >>> 0;
    const deciding = { index, text: formatAce(ace), ace };
    if (ace.type === 'D') {
      const hit = (mask & remaining) >>> 0;
      if (hit !== 0) {
        return {
          granted: false, desired: want, grantedMask: (want & ~remaining) >>> 0, decidingAce: deciding,
          reason: `ACE ${index + 1} ${deciding.text} denies ${sidName(ace.sid)} ${describe(hit)}`,
        };
      }
      continue;
    }
    const newly = (mask & remaining) >>> 0;
    lastApplying = deciding;
    if (newly === 0) continue;
    remaining = (remaining & ~mask) >>> 0;
    if (remaining === 0) {
      return {
        granted: true, desired: want, grantedMask: want, decidingAce: deciding,
        reason: `ACE ${index + 1} ${deciding.text} grants ${sidName(ace.sid)} ${describe(newly)}, completing the request`,
      };
    }
  }
  const grantedMask = (want & ~remaining) >>> 0;
  if (!lastApplying) {
    return {
      granted: false, desired: want, grantedMask,
      reason: sd.dacl.length === 0
        ? 'the DACL is empty: it grants nothing'
        : `no ACE applies to the caller (${sids.map(sidName).join(', ') || 'no SIDs'}): access is denied by default`,
    };
  }
  const a = lastApplying;
  const gave = maskOf(a.ace) >>> 0;
  return {
    granted: false, desired: want, grantedMask, decidingAce: a,
    reason: `ACE ${a.index + 1} ${a.text} grants ${sidName(a.ace.sid)} ${gave ? describe(gave) : 'none of the requested rights'} but no ACE grants ${describe(remaining)}`,
  };
}
