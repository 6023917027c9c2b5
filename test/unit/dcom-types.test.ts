// MS-DCOM 2.2 NDR types and the IObjectExporter / IRemUnknown definitions: hand-laid-out stubs,
// round trips, user-marshal hooks (OBJREF in MInterfacePointer, BSTR) and fuzz.
import { describe, expect, it } from 'vitest';
import { NdrDecodeError, ObjrefError } from '../../src/base/errors';
import * as ndr from '../../src/ndr';
import {
  BSTR, IClassFactory, buildDualStringArray, makeOrpcExtentArray, dcomDefinitions, encodeObjref, IRemoteActivation, IRemoteSCMActivator, ICServer, IClientCallback, IObjectExporter, IRemUnknown, IRemUnknown2,
  MInterfacePointer, MInterfacePointerObjref, OBJREF_STANDARD, ORPCTHAT, parseDualStringArray,
  type Objref,
} from '../../src/dcom';
import { mutate, prng } from '../support/mutate';

const CID = '93db879a-5aeb-4f84-97be-637a19b65b22';
const IPID = '0000540b-0668-04ec-0970-935aa5a6059c';
const EXT_ID = '11111111-2222-3333-4444-555555555555';

const guidLE = (g: string) => {
  const h = g.replace(/-/g, '');
  const sw = (s: string) => s.match(/../g)!.reverse().join('');
  return Buffer.from(sw(h.slice(0, 8)) + sw(h.slice(8, 12)) + sw(h.slice(12, 16)) + h.slice(16), 'hex');
};
const u16 = (v: number) => { const b = Buffer.alloc(2); b.writeUInt16LE(v); return b; };
const u32 = (v: number) => { const b = Buffer.alloc(4); b.writeUInt32LE(v >>> 0); return b; };
const u64 = (v: bigint) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(v); return b; };

describe('definitions', () => {
  it('UUIDs, versions and opnums (MS-DCOM 3.1.2.5.1, 3.1.1.5.6, 3.1.1.5.7)', () => {
    expect(IObjectExporter.uuid).toBe('99fcfec4-5260-101b-bbcb-00aa0021347a');
    expect(IObjectExporter.version).toEqual({ major: 0, minor: 0 });
    expect(Object.values(IObjectExporter.ops).map((o) => [o.name, o.opnum])).toEqual([
      ['ResolveOxid', 0], ['SimplePing', 1], ['ComplexPing', 2], ['ServerAlive', 3], ['ResolveOxid2', 4], ['ServerAlive2', 5],
    ]);
    expect(IRemUnknown.uuid).toBe('00000131-0000-0000-c000-000000000046');
    expect(IRemUnknown2.uuid).toBe('00000143-0000-0000-c000-000000000046');
    expect(Object.values(IRemUnknown2.ops).map((o) => [o.name, o.opnum])).toEqual([
      ['RemQueryInterface', 3], ['RemAddRef', 4], ['RemRelease', 5], ['RemQueryInterface2', 6],
    ]);
    expect(IClassFactory.uuid).toBe('00000001-0000-0000-c000-000000000046');
    expect(Object.values(IClassFactory.ops).map((o) => [o.name, o.opnum])).toEqual([['RemoteCreateInstance', 3], ['RemoteLockServer', 4]]);
    for (const i of [IRemUnknown, IRemUnknown2, IClassFactory, ICServer, IClientCallback]) {
      for (const o of Object.values(i.ops) as ndr.Op[]) {
        expect(o.in.keys[0]).toBe('ORPCthis');
        expect(o.out.keys[0]).toBe('ORPCthat');
        expect(o.out.keys.at(-1)).toBe('hresult');
      }
    }
    expect(dcomDefinitions).toEqual([IObjectExporter, IRemUnknown, IRemUnknown2, IRemoteSCMActivator, IRemoteActivation, IClassFactory, ICServer, IClientCallback]);
  });
});

describe('ORPCTHIS / ORPC_EXTENT_ARRAY (MS-DCOM 2.2.13, 2.2.21.7-8)', () => {
  const value = {
    ORPCthis: {
      version: { MajorVersion: 5, MinorVersion: 7 }, flags: 0, reserved1: 0, cid: CID,
      extensions: { size: 1, reserved: 0, extent: [{ id: EXT_ID, size: 3, data: Buffer.from([1, 2, 3, 0, 0, 0, 0, 0]) }, null] },
    },
    cInterfaceRefs: 1,
    InterfaceRefs: [{ ipid: IPID, cPublicRefs: 5, cPrivateRefs: 0 }],
  };
  // Laid out by hand from C706 ch. 14: ORPCTHIS inline (top-level [ref], no id), then its deferred
  // pointee (ORPC_EXTENT_ARRAY), the array of (size+1)&~1 unique pointers, the ORPC_EXTENT with its
  // hoisted max_count (size+7)&~7; then the next parameters.
  const expected = Buffer.concat([
    u16(5), u16(7), u32(0), u32(0), guidLE(CID), u32(0x20000),
    u32(1), u32(0), u32(0x20004),
    u32(2), u32(0x20008), u32(0),
    u32(8), guidLE(EXT_ID), u32(3), Buffer.from([1, 2, 3, 0, 0, 0, 0, 0]),
    u16(1), Buffer.alloc(2), u32(1), guidLE(IPID), u32(5), u32(0),
  ]);
  it('RemRelease in: bytes as laid out by hand, and back', () => {
    const b = ndr.encodeParams(IRemUnknown.ops.RemRelease.in, value);
    expect(b.toString('hex')).toBe(expected.toString('hex'));
    expect(ndr.decodeParams(IRemUnknown.ops.RemRelease.in, b)).toEqual(value);
  });
  it('makeOrpcExtentArray pads data to 8 and the array to an even count', () => {
    const x = makeOrpcExtentArray([{ id: EXT_ID, data: Buffer.from([1, 2, 3]) }]);
    expect(x).toEqual(value.ORPCthis.extensions);
    const b = ndr.encodeParams(IRemUnknown.ops.RemRelease.in, { ...value, ORPCthis: { ...value.ORPCthis, extensions: x } });
    expect(b.toString('hex')).toBe(expected.toString('hex'));
    expect(makeOrpcExtentArray([]).extent).toEqual([]);
    expect(makeOrpcExtentArray([{ id: EXT_ID, data: Buffer.alloc(8) }, { id: EXT_ID, data: Buffer.alloc(9) }]).extent!.map((e) => e?.data.length)).toEqual([8, 16]);
  });
  it('ORPCTHAT without extensions is flags + null pointer', () => {
    expect(ndr.encode(ORPCTHAT, { flags: 0, extensions: null }).toString('hex')).toBe('0000000000000000');
  });
  it('an extent array whose size disagrees with the wire is an NdrDecodeError', () => {
    const b = Buffer.from(expected);
    b.writeUInt32LE(3, 44); // max_count 3 where (size+1)&~1 = 2
    expect(() => ndr.decodeParams(IRemUnknown.ops.RemRelease.in, b)).toThrow(NdrDecodeError);
  });
});

describe('IObjectExporter', () => {
  it('ServerAlive2 out round trip with a DUALSTRINGARRAY', () => {
    const dsa = buildDualStringArray({
      stringBindings: [{ towerId: 7, networkAddr: 'DC1' }, { towerId: 7, networkAddr: '192.168.56.101' }],
      securityBindings: [{ authnSvc: 0x0a, authzSvc: 0xffff, principalName: '' }],
    });
    const v = { pComVersion: { MajorVersion: 5, MinorVersion: 7 }, ppdsaOrBindings: dsa, pReserved: 0, error_status: 0 };
    const b = ndr.encodeParams(IObjectExporter.ops.ServerAlive2.out, v);
    // COMVERSION, referent id, max_count (hoisted), wNumEntries, wSecurityOffset, entries...
    expect(b.subarray(0, 16).toString('hex')).toBe(Buffer.concat([u16(5), u16(7), u32(0x20000), u32(dsa.wNumEntries), u16(dsa.wNumEntries), u16(dsa.wSecurityOffset)]).toString('hex'));
    const d = ndr.decodeParams(IObjectExporter.ops.ServerAlive2.out, b);
    expect(d).toEqual(v);
    expect(parseDualStringArray(d.ppdsaOrBindings!).stringBindings.map((s) => s.networkAddr)).toEqual(['DC1', '192.168.56.101']);
  });
  it('ComplexPing in: top-level unique arrays follow their pointers', () => {
    const v = { pSetId: 0x1122334455667788n, SequenceNum: 9, cAddToSet: 2, cDelFromSet: 0, AddToSet: [1n, 2n], DelFromSet: null };
    const b = ndr.encodeParams(IObjectExporter.ops.ComplexPing.in, v);
    const expected = Buffer.concat([
      u64(0x1122334455667788n), u16(9), u16(2), u16(0), Buffer.alloc(2),
      u32(0x20000), u32(2), u64(1n), u64(2n), u32(0),
    ]);
    expect(b.toString('hex')).toBe(expected.toString('hex'));
    expect(ndr.decodeParams(IObjectExporter.ops.ComplexPing.in, b)).toEqual(v);
  });
  it('ResolveOxid2 in/out round trip', () => {
    const i = { pOxid: 0xb5c018689dc8086en, cRequestedProtseqs: 2, arRequestedProtseqs: [7, 0x1f] };
    expect(ndr.decodeParams(IObjectExporter.ops.ResolveOxid2.in, ndr.encodeParams(IObjectExporter.ops.ResolveOxid2.in, i))).toEqual(i);
    const o = {
      ppdsaOxidBindings: buildDualStringArray({ stringBindings: [{ towerId: 7, networkAddr: 'DC1[49724]' }], securityBindings: [] }),
      pipidRemUnknown: IPID, pAuthnHint: 2, pComVersion: { MajorVersion: 5, MinorVersion: 7 }, error_status: 0,
    };
    expect(ndr.decodeParams(IObjectExporter.ops.ResolveOxid2.out, ndr.encodeParams(IObjectExporter.ops.ResolveOxid2.out, o))).toEqual(o);
  });
});

describe('MInterfacePointer / MInterfacePointerObjref (MS-DCOM 2.2.14)', () => {
  const objref: Objref = {
    flags: OBJREF_STANDARD, iid: '00000000-0000-0000-c000-000000000046',
    std: { flags: 0, cPublicRefs: 5, oxid: 1n, oid: 2n, ipid: IPID },
    saResAddr: { stringBindings: [{ towerId: 7, networkAddr: 'h' }], securityBindings: [] },
  };
  it('carries an OBJREF as abData, and back', () => {
    const t = ndr.unique(MInterfacePointerObjref);
    const b = ndr.encode(t, objref);
    const ab = encodeObjref(objref);
    expect(b.toString('hex')).toBe(Buffer.concat([u32(0x20000), u32(ab.length), u32(ab.length), ab]).toString('hex'));
    expect(ndr.decode(t, b)).toEqual(objref);
    // Same octets as the plain MInterfacePointer.
    expect(ndr.decode(ndr.unique(MInterfacePointer), b)).toEqual({ ulCntData: ab.length, abData: ab });
  });
  it('a bad OBJREF inside is an NdrDecodeError naming the OBJREF problem', () => {
    const ab = encodeObjref(objref);
    ab.writeUInt32LE(0, 0);
    const b = ndr.encode(ndr.unique(MInterfacePointer), { ulCntData: ab.length, abData: ab });
    let e: unknown;
    try {
      ndr.decode(ndr.unique(MInterfacePointerObjref), b);
    } catch (x) {
      e = x;
    }
    expect(e).toBeInstanceOf(NdrDecodeError);
    expect(String((e as Error).message)).toMatch(/bad signature/);
  });
  it('RemQueryInterface2 out with two interface pointers (one null)', () => {
    const ab = encodeObjref(objref);
    const v = {
      ORPCthat: { flags: 0, extensions: null }, phr: [0, 0x80004002], ppMIF: [{ ulCntData: ab.length, abData: ab }, null], hresult: 0,
    };
    const b = ndr.encodeParams(IRemUnknown2.ops.RemQueryInterface2.out, v, { scope: { cIids: 2 } });
    expect(ndr.decodeParams(IRemUnknown2.ops.RemQueryInterface2.out, b, { scope: { cIids: 2 } })).toEqual(v);
  });
});

describe('BSTR (MS-OAUT 2.2.23)', () => {
  it('string ↔ FLAGGED_WORD_BLOB behind a unique pointer', () => {
    const b = ndr.encode(BSTR, 'hi');
    expect(b.toString('hex')).toBe(Buffer.concat([u32(0x20000), u32(2), u32(4), u32(2), u16(0x68), u16(0x69)]).toString('hex'));
    expect(ndr.decode(BSTR, b)).toBe('hi');
    expect(ndr.decode(BSTR, ndr.encode(BSTR, ''))).toBe('');
  });
  it('null BSTR: cBytes 0xFFFFFFFF on the wire; a null pointer also decodes to null', () => {
    const b = ndr.encode(BSTR, null);
    expect(b.toString('hex')).toBe(Buffer.concat([u32(0x20000), u32(0), u32(0xffffffff), u32(0)]).toString('hex'));
    expect(ndr.decode(BSTR, b)).toBeNull();
    expect(ndr.decode(BSTR, u32(0))).toBeNull();
  });
});

describe('fuzz', () => {
  it('mutated IRemUnknown / IObjectExporter stubs decode to a value or NdrDecodeError only', () => {
    const ab = encodeObjref({
      flags: OBJREF_STANDARD, iid: '00000000-0000-0000-c000-000000000046',
      std: { flags: 0, cPublicRefs: 5, oxid: 1n, oid: 2n, ipid: IPID },
      saResAddr: { stringBindings: [{ towerId: 7, networkAddr: 'host[135]' }], securityBindings: [{ authnSvc: 10, authzSvc: 0xffff, principalName: 'p' }] },
    });
    const qi2 = IRemUnknown2.ops.RemQueryInterface2.out;
    const objOut = ndr.params({ ORPCthat: ndr.ref(ORPCTHAT), ppMIF: ndr.unique(MInterfacePointerObjref), hresult: ndr.hresult });
    const cases: Array<[ndr.Params<ndr.Fields>, Buffer, Record<string, unknown> | undefined]> = [
      [qi2 as unknown as ndr.Params<ndr.Fields>, ndr.encodeParams(qi2, { ORPCthat: { flags: 0, extensions: null }, phr: [0], ppMIF: [{ ulCntData: ab.length, abData: ab }], hresult: 0 }, { scope: { cIids: 1 } }), { cIids: 1 }],
      [objOut as unknown as ndr.Params<ndr.Fields>, Buffer.concat([u32(0), u32(0), u32(0x20000), u32(ab.length), u32(ab.length), ab, u32(0)]), undefined],
      [IObjectExporter.ops.ServerAlive2.out as unknown as ndr.Params<ndr.Fields>, ndr.encodeParams(IObjectExporter.ops.ServerAlive2.out, {
        pComVersion: { MajorVersion: 5, MinorVersion: 7 },
        ppdsaOrBindings: buildDualStringArray({ stringBindings: [{ towerId: 7, networkAddr: 'x' }], securityBindings: [] }), pReserved: 0, error_status: 0,
      }), undefined],
    ];
    const rel = IRemUnknown.ops.RemRelease.in;
    cases.push([rel as unknown as ndr.Params<ndr.Fields>, ndr.encodeParams(rel, {
      ORPCthis: {
        version: { MajorVersion: 5, MinorVersion: 7 }, flags: 0, reserved1: 0, cid: CID,
        extensions: { size: 1, reserved: 0, extent: [{ id: EXT_ID, size: 3, data: Buffer.alloc(8, 7) }, null] },
      },
      cInterfaceRefs: 1, InterfaceRefs: [{ ipid: IPID, cPublicRefs: 5, cPrivateRefs: 0 }],
    }), undefined]);
    const rnd = prng(0xc0ffee);
    let ok = 0;
    let bad = 0;
    for (let i = 0; i < 4000; i++) {
      const [p, seed, scope] = cases[i % cases.length]!;
      const m = mutate(seed, rnd);
      try {
        ndr.decodeParams(p, m, { scope });
        ok++;
      } catch (e) {
        if (!(e instanceof NdrDecodeError)) throw e;
        bad++;
      }
    }
    expect(ok).toBeGreaterThan(50);
    expect(bad).toBeGreaterThan(50);
    // The OBJREF decoder on its own never throws anything but ObjrefError (checked in dcom-objref).
    expect(ObjrefError).toBeDefined();
  });
});
