// The machine-wide DCOM security policy of Windows XP SP2 (MachineAccessRestriction and
// MachineLaunchRestriction) and the per-process settings of CoInitializeSecurity (minimum
// authentication level, access permission), as a pure library: who the caller is (its token's
// SIDs), which COM_RIGHTS_* a call or activation needs, and the AccessCheck that decides.
// Sources: "DCOM Security Enhancements in Windows XP Service Pack 2 and Windows Server 2003
// Service Pack 1" and "Access Control Lists for COM" (Windows SDK docs) for the rights, defaults
// and old/new ACL formats; MS-DTYP 2.5.3.2 for AccessCheck; KB 278259 for Everyone vs anonymous.
import { RPC_C_AUTHN_LEVEL_CALL, RPC_C_AUTHN_LEVEL_CONNECT, RPC_C_AUTHN_LEVEL_DEFAULT, RPC_C_AUTHN_LEVEL_NONE, RPC_C_AUTHN_LEVEL_PKT, RPC_C_AUTHN_LEVEL_PKT_INTEGRITY, RPC_C_AUTHN_LEVEL_PKT_PRIVACY } from '../auth/constants';
import { identityName, type Identity } from '../auth/types';
import { DcomlabError } from '../base/errors';
import { Status } from '../base/status';
import { accessCheck, formatAce, formatSddl, parseSddl, SddlError, SID, type AccessCheckResult, type Ace, type DecidingAce, type SecurityDescriptor } from './sddl';

// ---- rights ---------------------------------------------------------------------------------

// COM access rights ("Access Control Lists for COM"; MS-DCOM uses the same values).
export const COM_RIGHTS_EXECUTE = 0x1;
export const COM_RIGHTS_EXECUTE_LOCAL = 0x2;
export const COM_RIGHTS_EXECUTE_REMOTE = 0x4;
export const COM_RIGHTS_ACTIVATE_LOCAL = 0x8;
export const COM_RIGHTS_ACTIVATE_REMOTE = 0x10;
const COM_RIGHTS_ALL = 0x1f;
const COM_DISTANCE_BITS = COM_RIGHTS_ALL & ~COM_RIGHTS_EXECUTE;

export const E_ACCESSDENIED = Status.E_ACCESSDENIED;
export const S_OK = 0;

/** Which descriptor a mask belongs to: the same bit is "local access" in one, "local launch" in the other. */
export type ComSdKind = 'access' | 'launch';

const RIGHT_NAMES: Record<ComSdKind, ReadonlyArray<readonly [number, string]>> = {
  access: [[COM_RIGHTS_EXECUTE, 'execute'], [COM_RIGHTS_EXECUTE_LOCAL, 'local access'], [COM_RIGHTS_EXECUTE_REMOTE, 'remote access']],
  launch: [
    [COM_RIGHTS_EXECUTE, 'execute'], [COM_RIGHTS_EXECUTE_LOCAL, 'local launch'], [COM_RIGHTS_EXECUTE_REMOTE, 'remote launch'],
    [COM_RIGHTS_ACTIVATE_LOCAL, 'local activation'], [COM_RIGHTS_ACTIVATE_REMOTE, 'remote activation'],
  ],
};

/** "execute + remote access", naming COM_RIGHTS_* the way dcomcnfg does; other bits in hex. */
export function describeComRights(mask: number, kind: ComSdKind): string {
  const m = mask >>> 0;
  const names = RIGHT_NAMES[kind].filter(([bit]) => (m & bit) !== 0).map(([, n]) => n);
  const known = RIGHT_NAMES[kind].reduce((a, [bit]) => a | bit, 0);
  const rest = (m & ~known) >>> 0;
  if (rest) names.push(`0x${rest.toString(16)}`);
  return names.length ? names.join(' + ') : 'nothing';
}

/** An ACE in the pre-SP2 format grants COM_RIGHTS_EXECUTE alone. */
const isOldFormat = (ace: Ace) => ace.mask >>> 0 === COM_RIGHTS_EXECUTE;

/**
 * The rights a COM ACE stands for. Pre-SP2 ACEs (COM_RIGHTS_EXECUTE only) allow or deny both
 * local and remote ("existing COM security descriptors are interpreted to allow or deny both
 * local and remote access"), so they stand for every COM right. In a new-format deny ACE the
 * COM_RIGHTS_EXECUTE bit only marks the format: it denies the local/remote bits it names, so that
 * "deny remote access" does not also deny local calls (our reading; the docs are silent).
 */
export function comAceMask(ace: Ace): number {
  if (isOldFormat(ace)) return COM_RIGHTS_ALL;
  if (ace.type === 'D' && (ace.mask & COM_DISTANCE_BITS) !== 0) return (ace.mask & ~COM_RIGHTS_EXECUTE) >>> 0;
  return ace.mask >>> 0;
}

/**
 * What makes a COM security descriptor invalid ("Access Control Lists for COM"): an allow ACE
 * without COM_RIGHTS_EXECUTE, old-format and new-format ACEs mixed in one ACL, or bits that are no
 * COM right (e.g. "RC", which is READ_CONTROL and not "remote call"). Empty when valid.
 */
export function comSdProblems(sd: SecurityDescriptor): string[] {
  if (sd.dacl === null) return [];
  const problems: string[] = [];
  sd.dacl.forEach((ace, i) => {
    const extra = (ace.mask & ~COM_RIGHTS_ALL) >>> 0;
    if (extra) problems.push(`ACE ${i + 1} ${formatAce(ace)} has rights outside COM_RIGHTS_* (0x${extra.toString(16)})`);
    if (ace.type === 'A' && (ace.mask & COM_RIGHTS_EXECUTE) === 0) problems.push(`ACE ${i + 1} ${formatAce(ace)} lacks COM_RIGHTS_EXECUTE (CC), which every COM ACE must grant`);
  });
  const allows = sd.dacl.filter((a) => a.type === 'A' && (a.mask & COM_RIGHTS_EXECUTE) !== 0);
  if (allows.some(isOldFormat) && allows.some((a) => !isOldFormat(a))) {
    problems.push('mixes pre-SP2 ACEs (COM_RIGHTS_EXECUTE only) with SP2 ACEs (local/remote rights) in one ACL');
  }
  return problems;
}

// ---- callers --------------------------------------------------------------------------------

export interface TokenOptions {
  /** The call or activation arrives over the network (NETWORK SID) rather than locally (INTERACTIVE). */
  remote: boolean;
  /**
   * "Network access: Let Everyone permissions apply to anonymous users". Off on Windows XP and
   * later (KB 278259): an anonymous token holds ANONYMOUS LOGON but not Everyone. On models
   * Windows 2000.
   */
  everyoneIncludesAnonymous?: boolean;
}

/** Group names from the credential store (Identity.groups) and the SIDs they stand for. */
const GROUP_SIDS: Readonly<Record<string, string>> = {
  administrators: SID.ADMINISTRATORS,
  users: SID.USERS,
  guests: SID.GUESTS,
  'power users': SID.POWER_USERS,
  'distributed com users': SID.DISTRIBUTED_COM_USERS,
};

/** The service accounts a server process may run as (its own identity, for callbacks). */
export type ServiceAccount = 'SYSTEM' | 'NETWORK SERVICE' | 'LOCAL SERVICE';

const SERVICE_SIDS: Readonly<Record<ServiceAccount, string>> = {
  SYSTEM: SID.LOCAL_SYSTEM,
  'NETWORK SERVICE': SID.NETWORK_SERVICE,
  'LOCAL SERVICE': SID.LOCAL_SERVICE,
};

/** An Identity for NT AUTHORITY\SYSTEM, NETWORK SERVICE or LOCAL SERVICE. */
export function serviceIdentity(account: ServiceAccount): Identity {
  return {
    user: account, domain: 'NT AUTHORITY', workstation: '', anonymous: false, guest: false, ntlmFlavour: 'v2',
    groups: account === 'SYSTEM' ? ['Administrators'] : [],
  };
}

function serviceAccountOf(i: Identity): ServiceAccount | undefined {
  if (i.domain.toUpperCase() !== 'NT AUTHORITY') return undefined;
  const u = i.user.toUpperCase();
  return u in SERVICE_SIDS ? (u as ServiceAccount) : undefined;
}

/**
 * The SIDs in the token of a caller (MS-DTYP 2.4.2.4 well-known SIDs), undefined = an
 * unauthenticated caller, treated as anonymous:
 * - anonymous: ANONYMOUS LOGON only (plus Everyone when everyoneIncludesAnonymous);
 * - guest (ForceGuest): Everyone, Guests and NETWORK/INTERACTIVE, but not Authenticated Users;
 * - NT AUTHORITY\SYSTEM / NETWORK SERVICE / LOCAL SERVICE: their SID, Everyone, Authenticated
 *   Users (SYSTEM also Administrators);
 * - anyone else: Everyone, Authenticated Users, NETWORK (remote) or INTERACTIVE (local), and the
 *   SIDs of Identity.groups ("Administrators" → BUILTIN\Administrators, or S-1-... verbatim).
 */
export function tokenSids(identity: Identity | undefined, opts: TokenOptions): string[] {
  if (!identity || identity.anonymous) {
    return opts.everyoneIncludesAnonymous ? [SID.ANONYMOUS, SID.EVERYONE] : [SID.ANONYMOUS];
  }
  const logon = opts.remote ? SID.NETWORK : SID.INTERACTIVE;
  if (identity.guest) return [SID.EVERYONE, SID.GUESTS, logon];
  const sids: string[] = [];
  const add = (s: string) => {
    if (!sids.includes(s)) sids.push(s);
  };
  const service = serviceAccountOf(identity);
  if (service) add(SERVICE_SIDS[service]);
  add(SID.EVERYONE);
  add(SID.AUTHENTICATED_USERS);
  if (!service || opts.remote) add(logon);
  for (const g of identity.groups) {
    const name = g.replace(/^BUILTIN\\/i, '').toLowerCase();
    const sid = GROUP_SIDS[name] ?? (/^S-1-\d/.test(g) ? g : undefined);
    if (sid) add(sid);
  }
  return sids;
}

/** "LAB\alice (remote)", "NT AUTHORITY\ANONYMOUS LOGON (local)". */
export function callerName(identity: Identity | undefined, remote: boolean): string {
  const name = identity ? identityName(identity) : 'NT AUTHORITY\\ANONYMOUS LOGON';
  return `${name} (${remote ? 'remote' : 'local'})`;
}

// ---- authentication levels ------------------------------------------------------------------

/** RPC_C_AUTHN_LEVEL_* by the names the CLI uses (MS-RPCE 2.2.1.1.8). */
export const AUTH_LEVELS: Readonly<Record<string, number>> = {
  default: RPC_C_AUTHN_LEVEL_DEFAULT,
  none: RPC_C_AUTHN_LEVEL_NONE,
  connect: RPC_C_AUTHN_LEVEL_CONNECT,
  call: RPC_C_AUTHN_LEVEL_CALL,
  pkt: RPC_C_AUTHN_LEVEL_PKT,
  integrity: RPC_C_AUTHN_LEVEL_PKT_INTEGRITY,
  privacy: RPC_C_AUTHN_LEVEL_PKT_PRIVACY,
};

const levelName = (l: number) => Object.entries(AUTH_LEVELS).find(([, v]) => v === l)?.[0] ?? String(l);

// ---- policy ---------------------------------------------------------------------------------

/** A policy that cannot be built: unknown preset, bad SDDL, invalid COM descriptor, unknown key. */
export class PolicyError extends DcomlabError {
  override name = 'PolicyError';
}

/** CoInitializeSecurity's process-wide settings that decide incoming calls. */
export interface ProcessSecurity {
  /**
   * dwAuthnLevel: calls below it are refused with E_ACCESSDENIED. RPC_C_AUTHN_LEVEL_DEFAULT (0)
   * means CONNECT (XP's LegacyAuthenticationLevel default); undefined or NONE (1): no minimum.
   */
  minAuthLevel?: number;
  /** pSecDesc: who may call this process's objects (COM_RIGHTS_*); undefined/null: anyone. */
  accessPermission?: SecurityDescriptor | string | null;
}

export interface DcomPolicyOptions {
  name?: string;
  /** null = no machine-wide limit (pre-SP2). */
  machineAccessRestriction: SecurityDescriptor | string | null;
  machineLaunchRestriction: SecurityDescriptor | string | null;
  everyoneIncludesAnonymous?: boolean;
  process?: ProcessSecurity;
}

export interface CallContext {
  remote: boolean;
  /**
   * The call's authentication level; default NONE for an unauthenticated caller (identity
   * undefined) and CONNECT for an authenticated one.
   */
  authLevel?: number;
}

export interface ActivationContext {
  remote: boolean;
  /** The server is already running: only the activation right is needed, not the launch right. */
  activateOnly?: boolean;
}

export type PolicyCheckName = 'authentication level' | 'MachineAccessRestriction' | 'MachineLaunchRestriction' | 'CoInitializeSecurity';

export interface PolicyCheck {
  name: PolicyCheckName;
  allowed: boolean;
  /** The AccessCheck, when the check is one (absent for a NULL descriptor or the level check). */
  result?: AccessCheckResult;
  reason: string;
}

export interface PolicyDecision {
  allowed: boolean;
  /** S_OK, or E_ACCESSDENIED (0x80070005) as Windows returns a refused call or activation. */
  hresult: number;
  hresultName: 'S_OK' | 'E_ACCESSDENIED';
  operation: 'call' | 'launch' | 'activation';
  /** "NT AUTHORITY\ANONYMOUS LOGON (remote)". */
  caller: string;
  sids: string[];
  /** The COM_RIGHTS_* requested. */
  desired: number;
  checks: PolicyCheck[];
  /** The first check that refused. */
  deniedBy?: PolicyCheckName;
  /** The ACE that decided the refusing check (or the last granting one when allowed). */
  decidingAce?: DecidingAce;
  /** One line for the log, naming the caller, the check and the ACE. */
  explanation: string;
}

/** A denied call or activation as an error carrying E_ACCESSDENIED, for code that throws. */
export class AccessDeniedError extends DcomlabError {
  override name = 'AccessDeniedError';
  constructor(readonly decision: PolicyDecision) {
    super(decision.explanation, E_ACCESSDENIED);
  }
}

/** Throws AccessDeniedError when the decision refuses; returns it otherwise. */
export function assertAllowed(decision: PolicyDecision): PolicyDecision {
  if (!decision.allowed) throw new AccessDeniedError(decision);
  return decision;
}

function comSd(value: SecurityDescriptor | string | null | undefined, what: string): SecurityDescriptor | null {
  if (value === null || value === undefined) return null;
  let sd: SecurityDescriptor;
  if (typeof value === 'string') {
    try {
      sd = parseSddl(value);
    } catch (e) {
      if (e instanceof SddlError) throw new PolicyError(`${what}: ${e.message}`);
      throw e;
    }
  } else sd = value;
  const problems = comSdProblems(sd);
  if (problems.length) throw new PolicyError(`${what} is not a valid COM security descriptor: ${problems.join('; ')}`);
  return sd;
}

export class DcomPolicy {
  readonly name: string;
  readonly machineAccessRestriction: SecurityDescriptor | null;
  readonly machineLaunchRestriction: SecurityDescriptor | null;
  readonly everyoneIncludesAnonymous: boolean;
  readonly minAuthLevel?: number;
  readonly accessPermission: SecurityDescriptor | null;

  constructor(opts: DcomPolicyOptions) {
    this.name = opts.name ?? 'custom';
    this.machineAccessRestriction = comSd(opts.machineAccessRestriction, 'MachineAccessRestriction');
    this.machineLaunchRestriction = comSd(opts.machineLaunchRestriction, 'MachineLaunchRestriction');
    this.everyoneIncludesAnonymous = opts.everyoneIncludesAnonymous ?? false;
    const level = opts.process?.minAuthLevel;
    if (level !== undefined) {
      if (!Number.isInteger(level) || level < 0 || level > RPC_C_AUTHN_LEVEL_PKT_PRIVACY) throw new PolicyError(`minAuthLevel must be 0..6, not ${level}`);
      this.minAuthLevel = level;
    }
    this.accessPermission = comSd(opts.process?.accessPermission, 'CoInitializeSecurity access permission');
  }

  /** The same machine policy with other process settings (what one server's CoInitializeSecurity set). */
  withProcess(process: ProcessSecurity): DcomPolicy {
    return new DcomPolicy({
      name: this.name, machineAccessRestriction: this.machineAccessRestriction, machineLaunchRestriction: this.machineLaunchRestriction,
      everyoneIncludesAnonymous: this.everyoneIncludesAnonymous, process,
    });
  }

  tokenSids(identity: Identity | undefined, remote: boolean): string[] {
    return tokenSids(identity, { remote, everyoneIncludesAnonymous: this.everyoneIncludesAnonymous });
  }

  /**
   * May this caller make a call on an object (ORPC request)? In order: the process's minimum
   * authentication level, MachineAccessRestriction, then the process's access permission, each
   * asked for COM_RIGHTS_EXECUTE plus EXECUTE_LOCAL or EXECUTE_REMOTE.
   */
  checkAccess(identity: Identity | undefined, ctx: CallContext): PolicyDecision {
    const desired = COM_RIGHTS_EXECUTE | (ctx.remote ? COM_RIGHTS_EXECUTE_REMOTE : COM_RIGHTS_EXECUTE_LOCAL);
    const sids = this.tokenSids(identity, ctx.remote);
    const checks: PolicyCheck[] = [];
    const min = this.minAuthLevel === RPC_C_AUTHN_LEVEL_DEFAULT ? RPC_C_AUTHN_LEVEL_CONNECT : this.minAuthLevel;
    if (min !== undefined && min > RPC_C_AUTHN_LEVEL_NONE) {
      const level = ctx.authLevel ?? (identity ? RPC_C_AUTHN_LEVEL_CONNECT : RPC_C_AUTHN_LEVEL_NONE);
      const ok = level >= min;
      checks.push({
        name: 'authentication level', allowed: ok,
        reason: `call at authentication level ${levelName(level)} (${level}) ${ok ? 'meets' : 'is below'} the process minimum ${levelName(min)} (${min})`,
      });
    }
    if (checks.every((c) => c.allowed)) {
      checks.push(sdCheck('MachineAccessRestriction', this.machineAccessRestriction, sids, desired, 'access'));
    }
    if (checks.every((c) => c.allowed)) {
      checks.push(sdCheck('CoInitializeSecurity', this.accessPermission, sids, desired, 'access'));
    }
    return decide('call', identity, ctx.remote, sids, desired, checks);
  }

  /**
   * May this caller launch a server and activate an object (or only activate, when the server
   * already runs)? MachineLaunchRestriction asked for COM_RIGHTS_EXECUTE plus the local or remote
   * launch (EXECUTE_*) and activation (ACTIVATE_*) rights.
   */
  checkLaunch(identity: Identity | undefined, ctx: ActivationContext): PolicyDecision {
    const launch = ctx.activateOnly ? 0 : ctx.remote ? COM_RIGHTS_EXECUTE_REMOTE : COM_RIGHTS_EXECUTE_LOCAL;
    const desired = COM_RIGHTS_EXECUTE | launch | (ctx.remote ? COM_RIGHTS_ACTIVATE_REMOTE : COM_RIGHTS_ACTIVATE_LOCAL);
    const sids = this.tokenSids(identity, ctx.remote);
    const checks = [sdCheck('MachineLaunchRestriction', this.machineLaunchRestriction, sids, desired, 'launch')];
    return decide(ctx.activateOnly ? 'activation' : 'launch', identity, ctx.remote, sids, desired, checks);
  }

  /** The policy as SDDL, for logs and `--config` round trips. */
  describe(): string {
    const sddl = (sd: SecurityDescriptor | null) => (sd ? formatSddl(sd) : 'none');
    const parts = [`MachineAccessRestriction=${sddl(this.machineAccessRestriction)}`, `MachineLaunchRestriction=${sddl(this.machineLaunchRestriction)}`];
    if (this.minAuthLevel !== undefined) parts.push(`minAuthLevel=${levelName(this.minAuthLevel)}`);
    if (this.accessPermission) parts.push(`accessPermission=${formatSddl(this.accessPermission)}`);
    if (this.everyoneIncludesAnonymous) parts.push('everyoneIncludesAnonymous');
    return `${this.name}: ${parts.join(' ')}`;
  }
}

function sdCheck(name: PolicyCheckName, sd: SecurityDescriptor | null, sids: string[], desired: number, kind: ComSdKind): PolicyCheck {
  if (!sd) return { name, allowed: true, reason: 'no limit set' };
  const result = accessCheck(sd, sids, desired, { aceMask: comAceMask, describeMask: (m) => describeComRights(m, kind) });
  return { name, allowed: result.granted, result, reason: result.reason };
}

function decide(operation: PolicyDecision['operation'], identity: Identity | undefined, remote: boolean, sids: string[], desired: number, checks: PolicyCheck[]): PolicyDecision {
  const caller = callerName(identity, remote);
  const denied = checks.find((c) => !c.allowed);
  const kind: ComSdKind = operation === 'call' ? 'access' : 'launch';
  const base = { operation, caller, sids, desired, checks };
  if (denied) {
    return {
      ...base, allowed: false, hresult: E_ACCESSDENIED, hresultName: 'E_ACCESSDENIED', deniedBy: denied.name, decidingAce: denied.result?.decidingAce,
      explanation: `${caller} ${operation} denied by ${denied.name}: ${denied.reason} (E_ACCESSDENIED 0x80070005)`,
    };
  }
  const deciding = [...checks].reverse().find((c) => c.result?.decidingAce)?.result?.decidingAce;
  return {
    ...base, allowed: true, hresult: S_OK, hresultName: 'S_OK', decidingAce: deciding,
    explanation: `${caller} ${operation} (${describeComRights(desired, kind)}) allowed: ${checks.map((c) => `${c.name}: ${c.reason}`).join('; ')}`,
  };
}

// ---- presets and specs ----------------------------------------------------------------------

/** XP SP2's machine-wide limits: access Everyone local+remote, ANONYMOUS LOGON local only. */
export const XP_SP2_ACCESS_SDDL = 'O:BAG:BAD:(A;;CCDCLC;;;WD)(A;;CCDC;;;AN)';
/** XP SP2's launch limits: Administrators everything, Everyone local launch and activation. */
export const XP_SP2_LAUNCH_SDDL = 'O:BAG:BAD:(A;;CCDCLCSWRP;;;BA)(A;;CCDCSW;;;WD)';
/** Opened limits (the usual workaround): Everyone and ANONYMOUS LOGON get every right. */
export const OPEN_ACCESS_SDDL = 'O:BAG:BAD:(A;;CCDCLC;;;WD)(A;;CCDCLC;;;AN)';
export const OPEN_LAUNCH_SDDL = 'O:BAG:BAD:(A;;CCDCLCSWRP;;;WD)(A;;CCDCLCSWRP;;;AN)';

export const PRESET_NAMES = ['xp-sp2', 'pre-sp2', 'open'] as const;
export type PresetName = (typeof PRESET_NAMES)[number];

/**
 * A named machine policy: 'xp-sp2' (SP2's defaults), 'pre-sp2' (no machine-wide limits, as
 * before SP2 added them) or 'open' (SP2's mechanism with limits granting everyone, anonymous
 * included, every right).
 */
export function policyPreset(name: string): DcomPolicy {
  switch (name) {
    case 'xp-sp2':
      return new DcomPolicy({ name, machineAccessRestriction: XP_SP2_ACCESS_SDDL, machineLaunchRestriction: XP_SP2_LAUNCH_SDDL });
    case 'pre-sp2':
      return new DcomPolicy({ name, machineAccessRestriction: null, machineLaunchRestriction: null });
    case 'open':
      return new DcomPolicy({ name, machineAccessRestriction: OPEN_ACCESS_SDDL, machineLaunchRestriction: OPEN_LAUNCH_SDDL });
    default:
      throw new PolicyError(`unknown DCOM policy preset "${name}" (valid: ${PRESET_NAMES.join(', ')})`);
  }
}

/** The JSON form of a policy, for `--config` and the CLI. */
export interface PolicySpec {
  /** Starting point; default 'xp-sp2'. */
  preset?: PresetName;
  /** MachineAccessRestriction as SDDL; null = no limit. */
  access?: string | null;
  /** MachineLaunchRestriction as SDDL; null = no limit. */
  launch?: string | null;
  /** A level name (none, connect, call, pkt, integrity, privacy, default) or its number. */
  minAuthLevel?: string | number;
  /** CoInitializeSecurity's access permission as SDDL. */
  processAccess?: string | null;
  everyoneIncludesAnonymous?: boolean;
}

const SPEC_KEYS = ['preset', 'access', 'launch', 'minAuthLevel', 'processAccess', 'everyoneIncludesAnonymous'] as const;

/**
 * A policy from a preset name ("xp-sp2"), a JSON object text ('{"access": "O:BAG:BAD:..."}') or
 * an object; the object's fields replace the preset's. Throws PolicyError saying what is wrong.
 */
export function parsePolicySpec(spec: string | PolicySpec): DcomPolicy {
  let obj: unknown = spec;
  if (typeof spec === 'string') {
    const t = spec.trim();
    if (!t.startsWith('{')) return policyPreset(t);
    try {
      obj = JSON.parse(t);
    } catch (e) {
      throw new PolicyError(`DCOM policy is not valid JSON: ${(e as Error).message}`);
    }
  }
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) throw new PolicyError('DCOM policy must be a preset name or an object');
  const o = obj as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!(SPEC_KEYS as readonly string[]).includes(k)) throw new PolicyError(`unknown DCOM policy key "${k}" (valid: ${SPEC_KEYS.join(', ')})`);
  }
  const sddlField = (k: 'access' | 'launch' | 'processAccess') => {
    const v = o[k];
    if (v !== undefined && v !== null && typeof v !== 'string') throw new PolicyError(`DCOM policy "${k}" must be an SDDL string or null`);
    return v as string | null | undefined;
  };
  if (o.preset !== undefined && typeof o.preset !== 'string') throw new PolicyError('DCOM policy "preset" must be a string');
  const base = policyPreset((o.preset as string | undefined) ?? 'xp-sp2');
  let minAuthLevel: number | undefined;
  if (o.minAuthLevel !== undefined) {
    const v = o.minAuthLevel;
    if (typeof v === 'number') minAuthLevel = v;
    else if (typeof v === 'string' && AUTH_LEVELS[v.toLowerCase()] !== undefined) minAuthLevel = AUTH_LEVELS[v.toLowerCase()];
    else throw new PolicyError(`DCOM policy "minAuthLevel" must be one of ${Object.keys(AUTH_LEVELS).join(', ')} or 0..6, not ${JSON.stringify(v)}`);
  }
  if (o.everyoneIncludesAnonymous !== undefined && typeof o.everyoneIncludesAnonymous !== 'boolean') {
    throw new PolicyError('DCOM policy "everyoneIncludesAnonymous" must be true or false');
  }
  const access = sddlField('access');
  const launch = sddlField('launch');
  const processAccess = sddlField('processAccess');
  const custom = access !== undefined || launch !== undefined || minAuthLevel !== undefined || processAccess !== undefined || o.everyoneIncludesAnonymous !== undefined;
  return new DcomPolicy({
    name: custom ? `${base.name}+custom` : base.name,
    machineAccessRestriction: access !== undefined ? access : base.machineAccessRestriction,
    machineLaunchRestriction: launch !== undefined ? launch : base.machineLaunchRestriction,
    everyoneIncludesAnonymous: (o.everyoneIncludesAnonymous as boolean | undefined) ?? base.everyoneIncludesAnonymous,
    process: { minAuthLevel, accessPermission: processAccess },
  });
}
