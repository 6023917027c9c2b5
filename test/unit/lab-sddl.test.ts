// SDDL (MS-DTYP 2.5.1) parsing, formatting and AccessCheck (MS-DTYP 2.5.3.2) for the lab's
// DCOM policy: valid strings, precise errors for malformed ones, and a round-trip property.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DcomlabError } from '../../src/base/errors';
import {
  ACE_FLAG_TOKENS, accessCheck, formatMask, formatSddl, parseSddl, parseSid, SddlError, SID,
  type Ace, type AceFlag, type AclFlag, type SecurityDescriptor,
} from '../../src/lab';

const XP_SP2_ACCESS = 'O:BAG:BAD:(A;;CCDCLC;;;WD)(A;;CCDC;;;AN)';
const XP_SP2_LAUNCH = 'O:BAG:BAD:(A;;CCDCLCSWRP;;;BA)(A;;CCDCSW;;;WD)';

const ace = (type: 'A' | 'D', mask: number, sid: string, flags: AceFlag[] = []): Ace => ({ type, flags, mask, sid });

/** The SddlError thrown for `s` (fails the test when none is). */
function sddlError(s: string): SddlError {
  try {
    parseSddl(s);
  } catch (e) {
    expect(e).toBeInstanceOf(SddlError);
    expect(e).toBeInstanceOf(DcomlabError);
    return e as SddlError;
  }
  throw new Error(`parseSddl(${JSON.stringify(s)}) did not throw`);
}

describe('well-known SIDs (MS-DTYP 2.4.2.4)', () => {
  it('maps the aliases DCOM uses', () => {
    expect(parseSid('WD')).toBe('S-1-1-0');
    expect(parseSid('AN')).toBe('S-1-5-7');
    expect(parseSid('BA')).toBe('S-1-5-32-544');
    expect(parseSid('AU')).toBe('S-1-5-11');
    expect(parseSid('NS')).toBe('S-1-5-20');
    expect(parseSid('SY')).toBe('S-1-5-18');
    expect(parseSid('IU')).toBe('S-1-5-4');
    expect(parseSid('NU')).toBe('S-1-5-2');
  });

  it('canonicalises SID strings (MS-DTYP 2.4.2.1)', () => {
    expect(parseSid('S-1-5-21-1597522630-148096252-1166023319-500')).toBe('S-1-5-21-1597522630-148096252-1166023319-500');
    expect(parseSid('S-1-0x000000000005-7')).toBe(SID.ANONYMOUS);
    expect(parseSid('S-1-5-007')).toBe(SID.ANONYMOUS);
    expect(parseSid('S-1-0x100000000000-1')).toBe('S-1-0x100000000000-1');
  });
});

describe('parseSddl: valid strings', () => {
  it("parses XP SP2's MachineAccessRestriction", () => {
    expect(parseSddl(XP_SP2_ACCESS)).toEqual<SecurityDescriptor>({
      owner: SID.ADMINISTRATORS,
      group: SID.ADMINISTRATORS,
      daclFlags: [],
      dacl: [ace('A', 0x7, SID.EVERYONE), ace('A', 0x3, SID.ANONYMOUS)],
    });
  });

  it("parses XP SP2's MachineLaunchRestriction", () => {
    expect(parseSddl(XP_SP2_LAUNCH).dacl).toEqual([ace('A', 0x1f, SID.ADMINISTRATORS), ace('A', 0xb, SID.EVERYONE)]);
  });

  it('maps CC/DC/LC/SW/RP to bits 0x1/0x2/0x4/0x8/0x10 (the COM_RIGHTS_* bits)', () => {
    const mask = (r: string) => parseSddl(`D:(A;;${r};;;WD)`).dacl![0]!.mask;
    expect([mask('CC'), mask('DC'), mask('LC'), mask('SW'), mask('RP')]).toEqual([0x1, 0x2, 0x4, 0x8, 0x10]);
    expect(mask('RPSWLCDCCC')).toBe(0x1f);
    expect(mask('GA')).toBe(0x10000000);
    expect(mask('RC')).toBe(0x20000);
  });

  it('reads hex, octal and decimal masks (MS-DTYP 2.5.1.1 ace-rights)', () => {
    const mask = (r: string) => parseSddl(`D:(A;;${r};;;WD)`).dacl![0]!.mask;
    expect(mask('0x1f')).toBe(0x1f);
    expect(mask('0X1F')).toBe(0x1f);
    expect(mask('037')).toBe(0x1f);
    expect(mask('31')).toBe(0x1f);
    expect(mask('0xFFFFFFFF')).toBe(0xffffffff);
    expect(mask('0x00000000001f')).toBe(0x1f);
    expect(mask('')).toBe(0);
  });

  it('takes S-1-5-21-... trustees, and O:/G: in either form or absent', () => {
    const sd = parseSddl('O:S-1-5-21-1-2-3-500G:SYD:(A;;CCDCLC;;;S-1-5-21-1-2-3-1001)');
    expect(sd.owner).toBe('S-1-5-21-1-2-3-500');
    expect(sd.group).toBe(SID.LOCAL_SYSTEM);
    expect(sd.dacl![0]!.sid).toBe('S-1-5-21-1-2-3-1001');
    const bare = parseSddl('D:(A;;CC;;;WD)');
    expect(bare.owner).toBeUndefined();
    expect(bare.group).toBeUndefined();
    expect(parseSddl('O:S-1-5-32-544D:').owner).toBe(SID.ADMINISTRATORS);
  });

  it('reads DACL flags and ACE flags', () => {
    const sd = parseSddl('D:PAI(A;OICI;CC;;;WD)(D;ID;CC;;;AN)');
    expect(sd.daclFlags).toEqual(['P', 'AI']);
    expect(sd.dacl!.map((a) => a.flags)).toEqual([['OI', 'CI'], ['ID']]);
  });

  it('tells a NULL DACL from an empty one', () => {
    expect(parseSddl('O:BAG:BAD:NO_ACCESS_CONTROL').dacl).toBeNull();
    expect(parseSddl('O:BAG:BAD:').dacl).toEqual([]);
  });

  it('allows whitespace between components and ACEs, never inside them', () => {
    const spaced = parseSddl('  O:BA G:BA\n D:\t(A;;CCDCLC;;;WD)\r\n (A;;CCDC;;;AN)  ');
    expect(spaced).toEqual(parseSddl(XP_SP2_ACCESS));
    expect(sddlError('D:(A; ;CC;;;WD)').message).toBe('SDDL: unknown ACE flag " " at offset 5');
    expect(sddlError('O: BA D:').message).toBe('SDDL: missing SID at offset 2');
    expect(sddlError('D:(A;;CC;;;WD )').message).toBe('SDDL: bad SID "WD " (expected a two-letter alias or S-1-...) at offset 11');
  });

  it('accepts components in any order but only once', () => {
    expect(parseSddl('D:(A;;CC;;;WD)O:BA')).toEqual(parseSddl('O:BAD:(A;;CC;;;WD)'));
  });
});

describe('formatSddl', () => {
  it('round-trips the presets exactly', () => {
    expect(formatSddl(parseSddl(XP_SP2_ACCESS))).toBe(XP_SP2_ACCESS);
    expect(formatSddl(parseSddl(XP_SP2_LAUNCH))).toBe(XP_SP2_LAUNCH);
  });

  it('writes aliases and letters where Windows does, hex otherwise', () => {
    expect(formatSddl(parseSddl('O:S-1-5-32-544G:S-1-5-18D:(A;;0x1f;;;S-1-1-0)(D;;0x7800003F;;;S-1-5-7)'))).toBe(
      'O:BAG:SYD:(A;;CCDCLCSWRP;;;WD)(D;;0x7800003f;;;AN)',
    );
    expect(formatSddl(parseSddl('D:NO_ACCESS_CONTROL'))).toBe('D:NO_ACCESS_CONTROL');
    expect(formatMask(0)).toBe('0x0');
    expect(formatMask(0x10000000)).toBe('GA');
  });
});

describe('parseSddl: malformed strings', () => {
  const cases: Array<[string, string]> = [
    ['O:BAG:BAD:(A;;CC;;;XX)', 'SDDL: unknown SID alias "XX" at offset 19'],
    ['D:(A;;CC;;;wd)', 'SDDL: unknown SID alias "wd" (aliases are upper case) at offset 11'],
    ['D:(A;;CC;;;DA)', 'SDDL: SID alias "DA" is relative to a domain and not supported; write the full S-1-5-21-... SID at offset 11'],
    ['D:(A;;CC;;;)', 'SDDL: missing SID at offset 11'],
    ['D:(A;;CC;;;WD', 'SDDL: unterminated ACE (missing ")") at offset 2'],
    ['D:(A;;CC;;;WD(A;;CC;;;AN)', 'SDDL: unterminated ACE (missing ")") at offset 2'],
    ['D:(A;;CX;;;WD)', 'SDDL: unknown access right "CX" in "CX" at offset 6'],
    ['D:(A;;CCDCL;;;WD)', 'SDDL: unknown access right "L" in "CCDCL" at offset 10'],
    ['D:(A;;0x1G;;;WD)', 'SDDL: bad access mask "0x1G" (not a hex number) at offset 6'],
    ['D:(A;;0x123456789;;;WD)', 'SDDL: access mask "0x123456789" does not fit in 32 bits at offset 6'],
    ['D:(A;;089;;;WD)', 'SDDL: bad access mask "089" (not an octal number) at offset 6'],
    ['D:(A;;4294967296;;;WD)', 'SDDL: access mask "4294967296" does not fit in 32 bits at offset 6'],
    ['D:(A;;CC;;;S-1-5-abc)', 'SDDL: bad SID "S-1-5-abc" (sub-authority "abc" is not a 32-bit number) at offset 11'],
    ['D:(A;;CC;;;S-2-5-7)', 'SDDL: bad SID "S-2-5-7" (revision must be 1) at offset 11'],
    ['D:(A;;CC;;;S-1-5)', 'SDDL: bad SID "S-1-5" (no sub-authority) at offset 11'],
    ['D:(A;;CC;;;S-1-5-4294967296)', 'SDDL: bad SID "S-1-5-4294967296" (sub-authority "4294967296" is not a 32-bit number) at offset 11'],
    ['D:(A;;CC;;;S-1-x-7)', 'SDDL: bad SID "S-1-x-7" (identifier authority "x" is not a number) at offset 11'],
    ['D:(A;;CC;;;S-1-5-1-2-3-4-5-6-7-8-9-10-11-12-13-14-15-16)', 'SDDL: bad SID "S-1-5-1-2-3-4-5-6-7-8-9-10-11-12-13-14-15-16" (more than 15 sub-authorities) at offset 11'],
    ['D:(Q;;CC;;;WD)', 'SDDL: unknown ACE type "Q" (expected A or D) at offset 3'],
    ['D:(;;CC;;;WD)', 'SDDL: unknown ACE type "" (expected A or D) at offset 3'],
    ['D:(AU;SA;CC;;;WD)', 'SDDL: ACE type "AU" is not supported (DCOM security uses only A and D) at offset 3'],
    ['D:(OA;;CC;;;WD)', 'SDDL: ACE type "OA" is not supported (DCOM security uses only A and D) at offset 3'],
    ['D:(A;XX;CC;;;WD)', 'SDDL: unknown ACE flag "XX" at offset 5'],
    ['D:(A;;CC;ab721a53-1e2f-11d0-9819-00aa0040529b;;WD)', 'SDDL: object GUID given for a non-object ACE (only OA/OD ACEs carry one) at offset 9'],
    ['D:(A;;CC;;;WD;x)', 'SDDL: ACE "(A;;CC;;;WD;x)" has 7 fields, expected 6 (type;flags;rights;object_guid;inherit_object_guid;sid) at offset 2'],
    ['D:(A;;CC;;WD)', 'SDDL: ACE "(A;;CC;;WD)" has 5 fields, expected 6 (type;flags;rights;object_guid;inherit_object_guid;sid) at offset 2'],
    ['O:BAG:BA', 'SDDL: missing D: (a DCOM security descriptor needs a DACL; write D:NO_ACCESS_CONTROL for none) at offset 8'],
    ['', 'SDDL: empty security descriptor (expected O:, G: or D:) at offset 0'],
    ['   ', 'SDDL: empty security descriptor (expected O:, G: or D:) at offset 3'],
    ['D:(A;;CC;;;WD)D:', 'SDDL: duplicate D: component at offset 14'],
    ['O:BAO:SYD:', 'SDDL: duplicate O: component at offset 4'],
    ['D:(A;;CC;;;WD)S:(AU;SA;CC;;;WD)', 'SDDL: SACL (S:) is not supported: DCOM security uses only the owner, group and DACL at offset 14'],
    ['D:(A;;CC;;;WD)x', 'SDDL: unexpected "x" (expected O:, G:, D: or an ACE "(") at offset 14'],
    ['X:BA', 'SDDL: unexpected "X" (expected O:, G:, D: or an ACE "(") at offset 0'],
    ['D:Z(A;;CC;;;WD)', 'SDDL: unknown DACL flag "Z" (expected P, AR, AI or NO_ACCESS_CONTROL) at offset 2'],
    ['D:NO_ACCESS_CONTROL(A;;CC;;;WD)', 'SDDL: ACEs after NO_ACCESS_CONTROL (a NULL DACL has no ACEs) at offset 19'],
  ];
  it.each(cases)('%j → %s', (input, message) => {
    const e = sddlError(input);
    expect(e.message).toBe(message);
    expect(e.offset).toBe(Number(/at offset (\d+)$/.exec(message)![1]));
  });

  it('never throws anything but SddlError on arbitrary input', () => {
    const alphabet = fc.constantFrom(...'OGDSA:;()-0123456789xCLWNBUYPI '.split(''), 'WD', 'AN', 'CC', 'S-1-5-', 'D:(', ';;;');
    fc.assert(
      fc.property(fc.array(alphabet, { maxLength: 40 }).map((a) => a.join('')), (s) => {
        try {
          parseSddl(s);
        } catch (e) {
          if (!(e instanceof SddlError)) throw e;
          expect(e.offset).toBeGreaterThanOrEqual(0);
          expect(e.offset).toBeLessThanOrEqual(s.length);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('accessCheck (MS-DTYP 2.5.3.2)', () => {
  const sd = (s: string) => parseSddl(s);

  it('grants when allow ACEs cover the request, naming the ACE that completed it', () => {
    const r = accessCheck(sd('D:(A;;CC;;;WD)(A;;LC;;;AU)'), [SID.EVERYONE, SID.AUTHENTICATED_USERS], 0x5);
    expect(r).toMatchObject({ granted: true, grantedMask: 0x5, decidingAce: { index: 1, text: '(A;;LC;;;AU)' } });
  });

  it('takes ACEs in order: a deny before the allow refuses, a deny after a full grant does not', () => {
    const sids = [SID.EVERYONE, SID.ADMINISTRATORS];
    const denyFirst = accessCheck(sd('D:(D;;LC;;;BA)(A;;CCDCLC;;;WD)'), sids, 0x5);
    expect(denyFirst).toMatchObject({ granted: false, grantedMask: 0, decidingAce: { index: 0, text: '(D;;LC;;;BA)' } });
    const denyLast = accessCheck(sd('D:(A;;CCDCLC;;;WD)(D;;LC;;;BA)'), sids, 0x5);
    expect(denyLast).toMatchObject({ granted: true, decidingAce: { index: 0 } });
  });

  it('lets a deny ACE refuse only bits still pending', () => {
    // CC is granted by ACE 1; ACE 2 denies CC, which no longer matters; ACE 3 grants LC.
    const r = accessCheck(sd('D:(A;;CC;;;WD)(D;;CC;;;WD)(A;;LC;;;WD)'), [SID.EVERYONE], 0x5);
    expect(r).toMatchObject({ granted: true, decidingAce: { index: 2 } });
  });

  it('denies what no ACE grants, naming the last ACE that applied', () => {
    const r = accessCheck(sd('D:(A;;CCDCLC;;;WD)(A;;CCDC;;;AN)'), [SID.ANONYMOUS], 0x5);
    expect(r).toMatchObject({ granted: false, grantedMask: 0x1, decidingAce: { index: 1, text: '(A;;CCDC;;;AN)' } });
    expect(r.reason).toContain('but no ACE grants 0x4');
  });

  it('denies when no ACE applies, with no deciding ACE', () => {
    const r = accessCheck(sd('D:(A;;CCDCLC;;;BA)'), [SID.ANONYMOUS], 0x1);
    expect(r.granted).toBe(false);
    expect(r.decidingAce).toBeUndefined();
    expect(r.reason).toMatch(/no ACE applies to the caller \(NT AUTHORITY\\ANONYMOUS LOGON\)/);
  });

  it('grants everything with a NULL DACL and nothing with an empty one', () => {
    expect(accessCheck(sd('D:NO_ACCESS_CONTROL'), [], 0x1f).granted).toBe(true);
    expect(accessCheck(sd('D:'), [SID.EVERYONE], 0x1)).toMatchObject({ granted: false, reason: 'the DACL is empty: it grants nothing' });
  });

  it('skips inherit-only ACEs', () => {
    expect(accessCheck(sd('D:(A;IO;CC;;;WD)'), [SID.EVERYONE], 0x1).granted).toBe(false);
    expect(accessCheck(sd('D:(D;IO;CC;;;WD)(A;;CC;;;WD)'), [SID.EVERYONE], 0x1).granted).toBe(true);
  });
});

describe('round trip (property)', () => {
  const wellKnown = fc.constantFrom<string>(...Object.values(SID), 'S-1-3-0', 'S-1-5-32-551');
  const u32 = fc.integer({ min: 0, max: 0xffffffff });
  const domainSid = fc.tuple(u32, u32, u32, u32).map((p) => `S-1-5-21-${p.join('-')}`);
  const oddSid = fc.tuple(fc.constantFrom(0, 1, 5, 16, 0xffffffff, 2 ** 40), fc.array(u32, { minLength: 1, maxLength: 15 })).map(
    ([auth, subs]) => `S-1-${auth > 0xffffffff ? `0x${auth.toString(16).toUpperCase().padStart(12, '0')}` : auth}-${subs.join('-')}`,
  );
  const sid = fc.oneof(wellKnown, domainSid, oddSid);
  const comMask = fc.oneof(fc.integer({ min: 0, max: 0x1f }), u32, fc.constantFrom(0x10000000, 0x20000, 0x1f));
  const aceArb: fc.Arbitrary<Ace> = fc.record({
    type: fc.constantFrom<'A' | 'D'>('A', 'D'),
    flags: fc.subarray([...ACE_FLAG_TOKENS] as AceFlag[]),
    mask: comMask,
    sid,
  });
  const sdArb: fc.Arbitrary<SecurityDescriptor> = fc
    .record({
      owner: fc.option(sid, { nil: undefined }),
      group: fc.option(sid, { nil: undefined }),
      daclFlags: fc.subarray<AclFlag>(['P', 'AR', 'AI']),
      dacl: fc.option(fc.array(aceArb, { maxLength: 6 }), { nil: null }),
    })
    .map((r) => {
      const out: SecurityDescriptor = { daclFlags: r.dacl === null ? [] : r.daclFlags, dacl: r.dacl };
      if (r.owner !== undefined) out.owner = r.owner;
      if (r.group !== undefined) out.group = r.group;
      return out;
    });

  it('parseSddl(formatSddl(sd)) gives sd back, and formatting is stable', () => {
    fc.assert(
      fc.property(sdArb, (sd) => {
        const text = formatSddl(sd);
        const back = parseSddl(text);
        expect(back).toEqual(sd);
        expect(formatSddl(back)).toBe(text);
      }),
      { numRuns: 1000 },
    );
  });
});
