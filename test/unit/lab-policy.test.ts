// The machine-wide DCOM policy of Windows XP SP2: the caller's token, the decision table of each
// preset, deny-ACE precedence, old-format ACLs, CoInitializeSecurity's settings, and specs.
// Expected values come from the issue and "DCOM Security Enhancements in Windows XP SP2":
//   xp-sp2 access: Everyone local + remote, ANONYMOUS LOGON local only;
//   xp-sp2 launch: Administrators everything, Everyone local launch + local activation;
//   pre-sp2: no machine-wide limits; open: everyone, anonymous included, everything;
//   Everyone does not include anonymous callers (KB 278259).
import { describe, expect, it } from 'vitest';
import type { Identity } from '../../src/auth/types';
import {
  AccessDeniedError, assertAllowed, DcomPolicy, E_ACCESSDENIED, parsePolicySpec, PolicyError, policyPreset, PRESET_NAMES,
  serviceIdentity, SID, tokenSids,
} from '../../src/lab';

const user = (name: string, groups: string[] = [], extra: Partial<Identity> = {}): Identity => ({
  user: name, domain: 'LAB', workstation: 'WS1', anonymous: false, guest: false, ntlmFlavour: 'v2', groups, ...extra,
});
const anonymousLogon: Identity = { user: '', domain: '', workstation: '', anonymous: true, guest: false, ntlmFlavour: 'anonymous', groups: [] };
const alice = user('alice');
const admin = user('admin', ['Administrators']);

type Caller = 'anonymous' | 'authenticated' | 'admin';
const callers: Record<Caller, Identity | undefined> = { anonymous: undefined, authenticated: alice, admin };
type Row = Record<Caller, { local: boolean; remote: boolean }>;
const all: Row = { anonymous: { local: true, remote: true }, authenticated: { local: true, remote: true }, admin: { local: true, remote: true } };

// The decision table, written from the semantics.
const table: Record<string, { access: Row; launch: Row }> = {
  'xp-sp2': {
    access: {
      anonymous: { local: true, remote: false },
      authenticated: { local: true, remote: true },
      admin: { local: true, remote: true },
    },
    launch: {
      anonymous: { local: false, remote: false },
      authenticated: { local: true, remote: false },
      admin: { local: true, remote: true },
    },
  },
  'pre-sp2': { access: all, launch: all },
  open: { access: all, launch: all },
};

describe('tokenSids', () => {
  it('gives an anonymous caller ANONYMOUS LOGON only: Everyone excludes it', () => {
    expect(tokenSids(undefined, { remote: true })).toEqual([SID.ANONYMOUS]);
    expect(tokenSids(anonymousLogon, { remote: false })).toEqual([SID.ANONYMOUS]);
    expect(tokenSids(anonymousLogon, { remote: true, everyoneIncludesAnonymous: true })).toEqual([SID.ANONYMOUS, SID.EVERYONE]);
  });

  it('gives an authenticated caller Everyone, Authenticated Users and NETWORK or INTERACTIVE', () => {
    expect(tokenSids(alice, { remote: true })).toEqual([SID.EVERYONE, SID.AUTHENTICATED_USERS, SID.NETWORK]);
    expect(tokenSids(alice, { remote: false })).toEqual([SID.EVERYONE, SID.AUTHENTICATED_USERS, SID.INTERACTIVE]);
  });

  it('adds BUILTIN\\Administrators and other groups from the credential store', () => {
    expect(tokenSids(admin, { remote: true })).toContain(SID.ADMINISTRATORS);
    expect(tokenSids(alice, { remote: true })).not.toContain(SID.ADMINISTRATORS);
    expect(tokenSids(user('bob', ['BUILTIN\\Users', 'Distributed COM Users', 'S-1-5-21-1-2-3-1105', 'Nonsense']), { remote: true })).toEqual([
      SID.EVERYONE, SID.AUTHENTICATED_USERS, SID.NETWORK, SID.USERS, SID.DISTRIBUTED_COM_USERS, 'S-1-5-21-1-2-3-1105',
    ]);
  });

  it('gives a ForceGuest caller Everyone and Guests but not Authenticated Users', () => {
    expect(tokenSids(user('Guest', [], { guest: true }), { remote: true })).toEqual([SID.EVERYONE, SID.GUESTS, SID.NETWORK]);
  });

  it("represents the server's own identities (SYSTEM, NETWORK SERVICE)", () => {
    expect(tokenSids(serviceIdentity('SYSTEM'), { remote: false })).toEqual([SID.LOCAL_SYSTEM, SID.EVERYONE, SID.AUTHENTICATED_USERS, SID.ADMINISTRATORS]);
    expect(tokenSids(serviceIdentity('NETWORK SERVICE'), { remote: true })).toEqual([SID.NETWORK_SERVICE, SID.EVERYONE, SID.AUTHENTICATED_USERS, SID.NETWORK]);
  });
});

describe('decision table per preset', () => {
  for (const preset of PRESET_NAMES) {
    const policy = policyPreset(preset);
    for (const op of ['access', 'launch'] as const) {
      for (const caller of Object.keys(callers) as Caller[]) {
        for (const where of ['local', 'remote'] as const) {
          const expected = table[preset]![op][caller][where];
          it(`${preset} ${op}: ${caller} ${where} → ${expected ? 'allowed' : 'E_ACCESSDENIED'}`, () => {
            const ctx = { remote: where === 'remote' };
            const d = op === 'access' ? policy.checkAccess(callers[caller], ctx) : policy.checkLaunch(callers[caller], ctx);
            expect(d.allowed).toBe(expected);
            expect(d.hresult).toBe(expected ? 0 : 0x80070005);
            expect(d.hresultName).toBe(expected ? 'S_OK' : 'E_ACCESSDENIED');
            if (!expected) expect(d.deniedBy).toBe(op === 'access' ? 'MachineAccessRestriction' : 'MachineLaunchRestriction');
          });
        }
      }
    }
  }

  it('treats an authenticated anonymous logon like an unauthenticated caller', () => {
    const p = policyPreset('xp-sp2');
    expect(p.checkAccess(anonymousLogon, { remote: true }).allowed).toBe(false);
    expect(p.checkAccess(anonymousLogon, { remote: false }).allowed).toBe(true);
  });
});

describe('explanations name the caller, the check and the ACE', () => {
  const p = policyPreset('xp-sp2');

  it('anonymous remote call (the SP2 callback failure)', () => {
    const d = p.checkAccess(undefined, { remote: true });
    expect(d.caller).toBe('NT AUTHORITY\\ANONYMOUS LOGON (remote)');
    expect(d.decidingAce).toMatchObject({ index: 1, text: '(A;;CCDC;;;AN)' });
    expect(d.explanation).toBe(
      'NT AUTHORITY\\ANONYMOUS LOGON (remote) call denied by MachineAccessRestriction: ACE 2 (A;;CCDC;;;AN) grants ' +
        'NT AUTHORITY\\ANONYMOUS LOGON execute + local access but no ACE grants remote access (E_ACCESSDENIED 0x80070005)',
    );
  });

  it('non-administrator remote launch', () => {
    const d = p.checkLaunch(alice, { remote: true });
    expect(d.decidingAce?.text).toBe('(A;;CCDCSW;;;WD)');
    expect(d.explanation).toMatch(/^LAB\\alice \(remote\) launch denied by MachineLaunchRestriction: ACE 2 \(A;;CCDCSW;;;WD\) .* remote launch \+ remote activation/);
  });

  it('anonymous local launch, which no ACE covers', () => {
    const d = p.checkLaunch(undefined, { remote: false });
    expect(d.decidingAce).toBeUndefined();
    expect(d.explanation).toContain('no ACE applies to the caller (NT AUTHORITY\\ANONYMOUS LOGON)');
  });

  it('allowed calls name the granting ACE', () => {
    const d = p.checkAccess(alice, { remote: true });
    expect(d.decidingAce?.text).toBe('(A;;CCDCLC;;;WD)');
    expect(d.explanation).toContain('LAB\\alice (remote) call (execute + remote access) allowed');
  });

  it('assertAllowed throws AccessDeniedError carrying E_ACCESSDENIED', () => {
    expect(assertAllowed(p.checkAccess(alice, { remote: true })).allowed).toBe(true);
    try {
      assertAllowed(p.checkAccess(undefined, { remote: true }));
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(AccessDeniedError);
      expect((e as AccessDeniedError).status).toBe(E_ACCESSDENIED);
      expect((e as AccessDeniedError).statusName).toBe('E_ACCESSDENIED');
    }
  });
});

describe('activation and launch rights', () => {
  const p = policyPreset('xp-sp2');
  it('asks for the activation right only when the server already runs', () => {
    expect(p.checkLaunch(alice, { remote: false, activateOnly: true })).toMatchObject({ allowed: true, operation: 'activation', desired: 0x9 });
    expect(p.checkLaunch(alice, { remote: true, activateOnly: true })).toMatchObject({ allowed: false, desired: 0x11 });
    expect(p.checkLaunch(admin, { remote: true })).toMatchObject({ allowed: true, operation: 'launch', desired: 0x15 });
  });

  it('lets a launch ACE with activation but no launch right activate only', () => {
    const q = new DcomPolicy({ machineAccessRestriction: null, machineLaunchRestriction: 'O:BAG:BAD:(A;;CCRP;;;WD)' });
    expect(q.checkLaunch(alice, { remote: true, activateOnly: true }).allowed).toBe(true);
    expect(q.checkLaunch(alice, { remote: true }).allowed).toBe(false);
  });
});

describe('deny ACEs and ACE order', () => {
  it('a deny ACE before the allows refuses what it names, and only that', () => {
    const p = new DcomPolicy({ machineAccessRestriction: 'O:BAG:BAD:(D;;CCLC;;;AN)(A;;CCDCLC;;;WD)(A;;CCDCLC;;;AN)', machineLaunchRestriction: null });
    const remote = p.checkAccess(undefined, { remote: true });
    expect(remote).toMatchObject({ allowed: false, decidingAce: { index: 0, text: '(D;;CCLC;;;AN)' } });
    expect(remote.explanation).toContain('ACE 1 (D;;CCLC;;;AN) denies NT AUTHORITY\\ANONYMOUS LOGON remote access');
    expect(p.checkAccess(undefined, { remote: false }).allowed).toBe(true);
    expect(p.checkAccess(alice, { remote: true }).allowed).toBe(true);
  });

  it('ACEs are taken in order: an allow that completes the request wins over a later deny', () => {
    const denyAfter = new DcomPolicy({ machineAccessRestriction: 'O:BAG:BAD:(A;;CCDCLC;;;WD)(D;;CCDCLC;;;BA)', machineLaunchRestriction: null });
    expect(denyAfter.checkAccess(admin, { remote: true }).allowed).toBe(true);
    const denyFirst = new DcomPolicy({ machineAccessRestriction: 'O:BAG:BAD:(D;;CCDCLC;;;BA)(A;;CCDCLC;;;WD)', machineLaunchRestriction: null });
    expect(denyFirst.checkAccess(admin, { remote: true })).toMatchObject({ allowed: false, decidingAce: { index: 0 } });
    expect(denyFirst.checkAccess(admin, { remote: false }).allowed).toBe(false);
    expect(denyFirst.checkAccess(alice, { remote: true }).allowed).toBe(true);
  });

  it('reads pre-SP2 ACEs (COM_RIGHTS_EXECUTE only) as local and remote', () => {
    const p = new DcomPolicy({ machineAccessRestriction: 'O:BAG:BAD:(D;;CC;;;AN)(A;;CC;;;WD)', machineLaunchRestriction: 'O:BAG:BAD:(A;;CC;;;WD)', everyoneIncludesAnonymous: true });
    expect(p.checkAccess(alice, { remote: true }).allowed).toBe(true);
    expect(p.checkLaunch(alice, { remote: true }).allowed).toBe(true);
    expect(p.checkAccess(undefined, { remote: false })).toMatchObject({ allowed: false, decidingAce: { index: 0 } });
  });

  it('everyoneIncludesAnonymous (Windows 2000 behaviour) lets Everyone ACEs cover anonymous callers', () => {
    const p = new DcomPolicy({ machineAccessRestriction: 'O:BAG:BAD:(A;;CCDCLC;;;WD)(A;;CCDC;;;AN)', machineLaunchRestriction: null, everyoneIncludesAnonymous: true });
    expect(p.checkAccess(undefined, { remote: true })).toMatchObject({ allowed: true, decidingAce: { index: 0 } });
  });
});

describe('invalid COM security descriptors', () => {
  const make = (access: string) => () => new DcomPolicy({ machineAccessRestriction: access, machineLaunchRestriction: null });
  it('rejects an allow ACE without COM_RIGHTS_EXECUTE', () => {
    expect(make('D:(A;;LC;;;WD)')).toThrow(/ACE 1 \(A;;LC;;;WD\) lacks COM_RIGHTS_EXECUTE/);
  });
  it('rejects old and new formats mixed in one ACL', () => {
    expect(make('D:(A;;CC;;;WD)(A;;CCDC;;;AN)')).toThrow(/mixes pre-SP2 ACEs/);
  });
  it('rejects rights that are no COM right', () => {
    expect(make('D:(A;;CCRC;;;WD)')).toThrow(PolicyError);
    expect(make('D:(A;;CCRC;;;WD)')).toThrow(/rights outside COM_RIGHTS_\* \(0x20000\)/);
  });
  it('reports bad SDDL with the SDDL error', () => {
    expect(make('O:BAG:BAD:(A;;CC;;;XX)')).toThrow('MachineAccessRestriction: SDDL: unknown SID alias "XX" at offset 19');
  });
});

describe('CoInitializeSecurity settings', () => {
  it('refuses calls below the minimum authentication level with E_ACCESSDENIED, before any ACL', () => {
    const p = policyPreset('pre-sp2').withProcess({ minAuthLevel: 2 /* connect */ });
    const d = p.checkAccess(undefined, { remote: true });
    expect(d).toMatchObject({ allowed: false, hresult: 0x80070005, deniedBy: 'authentication level' });
    expect(d.checks).toHaveLength(1);
    expect(d.explanation).toBe(
      'NT AUTHORITY\\ANONYMOUS LOGON (remote) call denied by authentication level: call at authentication level none (1) is below the process minimum connect (2) (E_ACCESSDENIED 0x80070005)',
    );
    expect(p.checkAccess(alice, { remote: true }).allowed).toBe(true);
    expect(p.checkAccess(alice, { remote: true, authLevel: 1 }).allowed).toBe(false);
  });

  it('takes the level from a spec; a call at or above it passes', () => {
    const p = parsePolicySpec({ preset: 'open', minAuthLevel: 'integrity' });
    expect(p.checkAccess(alice, { remote: true, authLevel: 2 }).allowed).toBe(false);
    expect(p.checkAccess(alice, { remote: true, authLevel: 5 }).allowed).toBe(true);
    expect(p.checkAccess(alice, { remote: true, authLevel: 6 }).allowed).toBe(true);
    expect(p.checkAccess(anonymousLogon, { remote: true, authLevel: 6 }).allowed).toBe(true);
  });

  it('treats RPC_C_AUTHN_LEVEL_DEFAULT as connect and NONE as no minimum', () => {
    expect(policyPreset('open').withProcess({ minAuthLevel: 0 }).checkAccess(undefined, { remote: true }).allowed).toBe(false);
    expect(policyPreset('open').withProcess({ minAuthLevel: 1 }).checkAccess(undefined, { remote: true }).allowed).toBe(true);
  });

  it('checks the process access permission after the machine-wide limit', () => {
    const p = policyPreset('xp-sp2').withProcess({ accessPermission: 'O:BAG:BAD:(A;;CCDCLC;;;BA)' });
    expect(p.checkAccess(alice, { remote: true })).toMatchObject({ allowed: false, deniedBy: 'CoInitializeSecurity' });
    expect(p.checkAccess(admin, { remote: true }).allowed).toBe(true);
    // The machine-wide limit refuses first.
    expect(p.checkAccess(undefined, { remote: true }).deniedBy).toBe('MachineAccessRestriction');
  });

  it('rejects a level out of range', () => {
    expect(() => policyPreset('open').withProcess({ minAuthLevel: 9 })).toThrow(/minAuthLevel must be 0..6/);
  });
});

describe('presets and specs', () => {
  it('names the valid presets for an unknown one', () => {
    expect(() => policyPreset('xp-sp3')).toThrow(new PolicyError('unknown DCOM policy preset "xp-sp3" (valid: xp-sp2, pre-sp2, open)'));
    expect(() => parsePolicySpec('nope')).toThrow(PolicyError);
  });

  it('describes a preset in SDDL', () => {
    expect(policyPreset('xp-sp2').describe()).toBe(
      'xp-sp2: MachineAccessRestriction=O:BAG:BAD:(A;;CCDCLC;;;WD)(A;;CCDC;;;AN) MachineLaunchRestriction=O:BAG:BAD:(A;;CCDCLCSWRP;;;BA)(A;;CCDCSW;;;WD)',
    );
    expect(policyPreset('pre-sp2').describe()).toBe('pre-sp2: MachineAccessRestriction=none MachineLaunchRestriction=none');
  });

  it('reads a preset name, a JSON text or an object', () => {
    expect(parsePolicySpec(' xp-sp2 ').name).toBe('xp-sp2');
    const fromJson = parsePolicySpec('{"access": null}');
    expect(fromJson.machineAccessRestriction).toBeNull();
    expect(fromJson.machineLaunchRestriction).not.toBeNull();
    expect(fromJson.checkAccess(undefined, { remote: true }).allowed).toBe(true);
    const custom = parsePolicySpec({ access: 'O:BAG:BAD:(A;;CCDCLC;;;WD)(A;;CCDCLC;;;AN)', minAuthLevel: 'none' });
    expect(custom.name).toBe('xp-sp2+custom');
    expect(custom.checkAccess(undefined, { remote: true }).allowed).toBe(true);
    expect(parsePolicySpec({ preset: 'pre-sp2', everyoneIncludesAnonymous: true }).everyoneIncludesAnonymous).toBe(true);
  });

  it('says what is wrong with a bad spec', () => {
    expect(() => parsePolicySpec({ acces: 'D:' } as never)).toThrow(
      'unknown DCOM policy key "acces" (valid: preset, access, launch, minAuthLevel, processAccess, everyoneIncludesAnonymous)',
    );
    expect(() => parsePolicySpec('{"access": ')).toThrow(/DCOM policy is not valid JSON/);
    expect(() => parsePolicySpec({ minAuthLevel: 'strong' })).toThrow(/"minAuthLevel" must be one of default, none, connect, call, pkt, integrity, privacy/);
    expect(() => parsePolicySpec({ launch: 'D:(A;;CC;;;WD' })).toThrow('MachineLaunchRestriction: SDDL: unterminated ACE (missing ")") at offset 2');
    expect(() => parsePolicySpec({ access: 5 } as never)).toThrow('DCOM policy "access" must be an SDDL string or null');
    expect(() => parsePolicySpec('[1]')).toThrow(PolicyError);
  });
});
