// Replay's value handling with hand-built decoded values: what the diff ignores (identities of live
// objects, string bindings' addresses, sizes that follow from them) and what it reports (HRESULTs,
// statuses, CLSIDs/IIDs, counts, nulls), and the captured → live identity map.
import { describe, expect, it } from 'vitest';
import { diffValues, IdentityMap, normalize } from '../../src/replay/values';
import { bytesDifference } from '../../src/replay/replay';
import { parseTarget } from '../../src/cli/replay';
import { buildDualStringArray } from '../../src/dcom/types';
import { decodeObjref, encodeObjref, OBJREF_STANDARD, type ObjrefStandard } from '../../src/dcom/objref';

const IPID_A = 'e6952f63-cae0-4351-aaea-b1226c4d1eb3';
const IPID_B = '11111111-2222-3333-4444-555555555555';
const REMUNK_A = 'ed3e0c24-b6d9-42c4-928c-b6d86c3b010c';
const REMUNK_B = 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee';
const IID_IUNKNOWN = '00000000-0000-0000-c000-000000000046';
const IID_OTHER = '737ef2d6-dcd1-44df-a320-8c9d344cc7a8';
const NIL = '00000000-0000-0000-0000-000000000000';

const dsa = (addr: string) => buildDualStringArray({ stringBindings: [{ towerId: 7, networkAddr: addr }], securityBindings: [{ authnSvc: 10, authzSvc: 0xffff, principalName: '' }] });

/** A RemQueryInterface-like answer. */
function qi(oxid: bigint, oid: bigint, ipid: string, hr = 0) {
  return { ORPCthat: { flags: 0, extensions: null }, ppQIResults: [{ hResult: hr, std: { flags: 0, cPublicRefs: 1, oxid, oid, ipid } }], hresult: hr };
}

const diff = (a: unknown, b: unknown) => diffValues(normalize(a), normalize(b));

describe('replay diff', () => {
  it('ignores OXIDs, OIDs and IPIDs that differ', () => {
    expect(diff(qi(1n, 2n, IPID_A), qi(0x99n, 0x98n, IPID_B))).toEqual([]);
  });

  it('reports an HRESULT by name and hex', () => {
    expect(diff({ hresult: 0 }, { hresult: 0x80070005 })).toEqual([
      { path: 'hresult', captured: 'S_OK 0x00000000', live: 'E_ACCESSDENIED 0x80070005' },
    ]);
    expect(diff(qi(1n, 2n, IPID_A), qi(1n, 2n, IPID_A, 0x80004002)).map((d) => d.path)).toEqual(['ppQIResults[0].hResult', 'hresult']);
  });

  it('reports an error_status by name', () => {
    expect(diff({ error_status: 0 }, { error_status: 1910 })).toEqual([
      { path: 'error_status', captured: 'S_OK 0x00000000', live: 'OR_INVALID_OXID 0x00000776' },
    ]);
  });

  it('GUIDs that are not IPIDs (IIDs, CLSIDs) are significant', () => {
    expect(diff({ iid: IID_IUNKNOWN }, { iid: IID_OTHER })).toEqual([{ path: 'iid', captured: IID_IUNKNOWN, live: IID_OTHER }]);
  });

  it('an IPID where the other side has the nil GUID is a difference', () => {
    expect(diff({ pipidRemUnknown: REMUNK_A }, { pipidRemUnknown: NIL })).toEqual([{ path: 'pipidRemUnknown', captured: REMUNK_A, live: NIL }]);
  });

  it('ignores string bindings\' host and port and the sizes that follow from them, not their number', () => {
    expect(diff({ ppdsaOxidBindings: dsa('127.0.0.6[38333]') }, { ppdsaOxidBindings: dsa('10.0.0.1[4000]') })).toEqual([]);
    const two = buildDualStringArray({ stringBindings: [{ towerId: 7, networkAddr: 'a[1]' }, { towerId: 7, networkAddr: 'b[2]' }], securityBindings: [] });
    const d = diff({ b: dsa('a[1]') }, { b: two });
    expect(d).toContainEqual({ path: 'b.stringBindings', captured: '1 item(s)', live: '2 item(s)' });
  });

  it('ignores context handles that differ, not a null handle where one was', () => {
    const h = (uuid: string) => ({ attributes: 0, uuid });
    expect(diff({ entry_handle: h(IPID_A) }, { entry_handle: h(IPID_B) })).toEqual([]);
    expect(diff({ entry_handle: h(IPID_A) }, { entry_handle: h(NIL) })).toHaveLength(1);
  });

  it('reports null against a value, counts, strings and absent fields', () => {
    expect(diff({ ppActProperties: { x: 1 } }, { ppActProperties: null })).toEqual([{ path: 'ppActProperties', captured: '{x}', live: 'null' }]);
    expect(diff({ n: 1 }, { n: 4 })).toEqual([{ path: 'n', captured: '1', live: '4' }]);
    expect(diff({ identity: 'LAB\\alice' }, { identity: 'LAB\\bob' })).toEqual([{ path: 'identity', captured: '"LAB\\\\alice"', live: '"LAB\\\\bob"' }]);
    expect(diff({ a: 1, b: 2 }, { a: 1 })).toEqual([{ path: 'b', captured: '2', live: '(absent)' }]);
  });

  it('compares bytes where there is no definition', () => {
    expect(bytesDifference(Buffer.from('0102', 'hex'), Buffer.from('0102', 'hex'))).toBeUndefined();
    expect(bytesDifference(Buffer.from('010203', 'hex'), Buffer.from('0109', 'hex'))).toEqual({
      path: '(stub bytes)', captured: '3 byte(s)', live: '2 byte(s), first difference at offset 1',
    });
  });
});

describe('replay identity map', () => {
  it('learns captured → live OXIDs, OIDs and IPIDs from an answer pair, and substitutes them in a request', () => {
    const m = new IdentityMap();
    m.learn(normalize(qi(0x1n, 0x2n, IPID_A)), normalize(qi(0x10n, 0x20n, IPID_B)));
    const req = { ORPCthis: { cid: REMUNK_A, flags: 0 }, ripid: IPID_A, iids: [IID_IUNKNOWN], AddToSet: [0x2n, 0x3n], pOxid: 0x1n, n: 2 };
    expect(m.substitute(req)).toEqual({ ORPCthis: { cid: REMUNK_A, flags: 0 }, ripid: IPID_B, iids: [IID_IUNKNOWN], AddToSet: [0x20n, 0x3n], pOxid: 0x10n, n: 2 });
    // the request's object UUID
    expect(m.map(IPID_A)).toBe(IPID_B);
    expect(m.map(IPID_A.toUpperCase())).toBe(IPID_B);
    expect(m.map(REMUNK_A)).toBe(REMUNK_A);
  });

  it('learns context handles and SETIDs, never from a zero', () => {
    const m = new IdentityMap();
    m.learn(normalize({ pSetId: 0n, h: { attributes: 0, uuid: IPID_A } }), normalize({ pSetId: 5n, h: { attributes: 0, uuid: IPID_B } }));
    expect(m.substitute({ pSetId: 0n })).toEqual({ pSetId: 0n });
    expect(m.substitute({ entry_handle: { attributes: 0, uuid: IPID_A } })).toEqual({ entry_handle: { attributes: 0, uuid: IPID_B } });
  });

  it('does not learn significant GUIDs (IIDs), and leaves Buffers alone', () => {
    const m = new IdentityMap();
    m.learn(normalize({ iid: IID_IUNKNOWN }), normalize({ iid: IID_OTHER }));
    expect(m.values.size).toBe(0);
    const b = Buffer.from('00', 'hex');
    expect(m.substitute({ abData: b }).abData).toBe(b);
  });

  it('rewrites the OXID, OID and IPID of an OBJREF passed back in an [in] interface pointer (MS-DCOM 2.2.18)', () => {
    const m = new IdentityMap();
    m.learn(normalize(qi(0x1n, 0x2n, IPID_A)), normalize(qi(0x10n, 0x20n, IPID_B)));
    const objref = encodeObjref({
      flags: OBJREF_STANDARD, iid: IID_OTHER,
      std: { flags: 0, cPublicRefs: 5, oxid: 0x1n, oid: 0x2n, ipid: IPID_A },
      saResAddr: { stringBindings: [{ towerId: 7, networkAddr: '10.0.0.5[49700]' }], securityBindings: [] },
    });
    const out = m.substitute({ pCallback: { ulCntData: objref.length, abData: objref }, n: 1 });
    const o = decodeObjref(out.pCallback.abData) as ObjrefStandard;
    expect(o.std).toEqual({ flags: 0, cPublicRefs: 5, oxid: 0x10n, oid: 0x20n, ipid: IPID_B });
    expect(o.iid).toBe(IID_OTHER);
    expect(o.saResAddr.stringBindings).toEqual([{ towerId: 7, networkAddr: '10.0.0.5[49700]' }]);
    expect(out.pCallback.ulCntData).toBe(out.pCallback.abData.length);
    expect(out.n).toBe(1);
    // The client's own object (IDs the map never learned): the captured bytes, untouched.
    const own = encodeObjref({ flags: OBJREF_STANDARD, iid: IID_OTHER, std: { flags: 0, cPublicRefs: 5, oxid: 0x77n, oid: 0x78n, ipid: REMUNK_A }, saResAddr: { stringBindings: [], securityBindings: [] } });
    expect(m.substitute({ p: { ulCntData: own.length, abData: own } }).p.abData).toBe(own);
    // Bytes that are no OBJREF stay as they are.
    const junk = Buffer.from('4d454f5700', 'hex');
    expect(m.substitute({ p: { ulCntData: junk.length, abData: junk } }).p.abData).toBe(junk);
  });

  it('names the captured client\'s own objects an [in] value passes (OXIDs no live answer stood in for)', () => {
    const m = new IdentityMap();
    m.learn(normalize(qi(0x1n, 0x2n, IPID_A)), normalize(qi(0x10n, 0x20n, IPID_B)));
    const mip = (oxid: bigint, at: string) => {
      const b = encodeObjref({ flags: OBJREF_STANDARD, iid: IID_OTHER, std: { flags: 0, cPublicRefs: 5, oxid, oid: 0x9n, ipid: REMUNK_A }, saResAddr: { stringBindings: [{ towerId: 7, networkAddr: at }], securityBindings: [] } });
      return { ulCntData: b.length, abData: b };
    };
    const clientObjects = (v: unknown) => {
      const own: string[] = [];
      m.substitute(v, own);
      return own;
    };
    expect(clientObjects({ pCallback: mip(0x1234n, '127.0.0.3') })).toEqual(['OXID 0x0000000000001234 (resolver 127.0.0.3)']);
    // An object the live server gave out (its OXID was learned) is not the client's.
    expect(clientObjects({ p: [mip(0x1n, '10.0.0.5')] })).toEqual([]);
    expect(clientObjects({ n: 1, b: Buffer.from('00', 'hex') })).toEqual([]);
  });

  it('learns where an exporter went from the string bindings of an answer pair', () => {
    const m = new IdentityMap();
    const c = normalize({ ppdsaOxidBindings: dsa('127.0.0.6[38333]') });
    m.seeCaptured(c);
    m.learn(c, normalize({ ppdsaOxidBindings: dsa('127.0.0.6[41000]') }));
    expect(m.capturedEndpoints.has('127.0.0.6:38333')).toBe(true);
    expect(m.endpoints.get('127.0.0.6:38333')?.stringBindings[0]?.networkAddr).toBe('127.0.0.6[41000]');
  });
});

describe('replay --target', () => {
  it('parses HOST, HOST:PORT and [V6]:PORT, 135 by default', () => {
    expect(parseTarget('127.0.0.6')).toEqual({ host: '127.0.0.6', port: 135 });
    expect(parseTarget('127.0.0.6:1135')).toEqual({ host: '127.0.0.6', port: 1135 });
    expect(parseTarget('[::1]:1135')).toEqual({ host: '::1', port: 1135 });
    expect(parseTarget('::1')).toEqual({ host: '::1', port: 135 });
  });
});
