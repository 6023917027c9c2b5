// The endpoint mapper's database and towers (C706 Appendix O and L, MS-RPCE 2.2.1.2).
import { describe, expect, it } from 'vitest';
import { NIL_GUID } from '../../src/base/guid';
import { EpmDatabase, Inquiry, VersOption } from '../../src/rpc/epm-database';
import { decodeFloors, decodeTower, encodeFloors, tcpTower, TowerError } from '../../src/rpc/tower';

const A = '11111111-0000-0000-0000-00000000000a';
const B = '22222222-0000-0000-0000-00000000000b';
const OBJ = '33333333-0000-0000-0000-0000000000cc';
const v = (major: number, minor: number) => (major | (minor << 16)) >>> 0;

function db(): EpmDatabase {
  const d = new EpmDatabase();
  d.registerTcp({ uuid: A, version: v(1, 0) }, '10.0.0.1', 1000, 'A 1.0');
  d.registerTcp({ uuid: A, version: v(1, 2) }, '10.0.0.1', 1001, 'A 1.2');
  d.registerTcp({ uuid: A, version: v(2, 0) }, '10.0.0.1', 1002, 'A 2.0');
  d.registerTcp({ uuid: B, version: v(1, 0) }, '10.0.0.1', 1003, 'B with object', OBJ);
  return d;
}
const lookup = (d: EpmDatabase, q: Partial<Parameters<EpmDatabase['lookup']>[0]>) =>
  d.lookup({ inquiryType: Inquiry.ALL_ELTS, object: null, ifId: null, versOption: VersOption.ALL, handle: null, maxEnts: 500, ...q })
    .entries.map((e) => e.annotation);

describe('ept_lookup queries', () => {
  it('all elements, by interface with each version option, by object', () => {
    const d = db();
    expect(lookup(d, {})).toEqual(['A 1.0', 'A 1.2', 'A 2.0', 'B with object']);
    const byIf = (major: number, minor: number, versOption: number) =>
      lookup(d, { inquiryType: Inquiry.MATCH_BY_IF, ifId: { uuid: A, version: v(major, minor) }, versOption });
    expect(byIf(1, 1, VersOption.ALL)).toEqual(['A 1.0', 'A 1.2', 'A 2.0']);
    expect(byIf(1, 1, VersOption.COMPATIBLE)).toEqual(['A 1.2']); // same major, minor >= 1
    expect(byIf(1, 2, VersOption.EXACT)).toEqual(['A 1.2']);
    expect(byIf(1, 9, VersOption.MAJOR_ONLY)).toEqual(['A 1.0', 'A 1.2']);
    expect(byIf(1, 1, VersOption.UPTO)).toEqual(['A 1.0']); // <= 1.1
    expect(lookup(d, { inquiryType: Inquiry.MATCH_BY_OBJ, object: OBJ })).toEqual(['B with object']);
    expect(lookup(d, { inquiryType: Inquiry.MATCH_BY_BOTH, object: OBJ, ifId: { uuid: A, version: v(1, 0) } })).toEqual([]);
  });

  it('iterates with a handle and ends with a null handle on the last batch', () => {
    const d = db();
    const first = d.lookup({ inquiryType: 0, object: null, ifId: null, versOption: 1, handle: null, maxEnts: 3 });
    expect(first.entries).toHaveLength(3);
    expect(first.handle).not.toBeNull();
    const second = d.lookup({ inquiryType: 0, object: null, ifId: null, versOption: 1, handle: first.handle, maxEnts: 3 });
    expect(second.entries.map((e) => e.annotation)).toEqual(['B with object']);
    expect(second.handle).toBeNull();
    expect(second.found).toBe(true);
    const none = new EpmDatabase().lookup({ inquiryType: 0, object: null, ifId: null, versOption: 1, handle: null, maxEnts: 3 });
    expect(none).toMatchObject({ entries: [], handle: null, found: false });
  });

  it('maps compatible versions only, and replaces a re-registered endpoint', () => {
    const d = db();
    const m = d.map({ object: null, iface: { uuid: A, version: v(1, 1) }, handle: null, maxTowers: 4 });
    expect(m.entries.map((e) => e.decoded.port)).toEqual([1001]);
    d.registerTcp({ uuid: A, version: v(1, 2) }, '10.0.0.1', 2001, 'A 1.2 moved');
    expect(d.map({ object: null, iface: { uuid: A, version: v(1, 2) }, handle: null, maxTowers: 4 }).entries.map((e) => e.decoded.port)).toEqual([2001]);
    expect(d.delete(NIL_GUID, tcpTower({ uuid: A, version: v(1, 0) }, '10.0.0.1', 1000))).toBe(1);
  });
});

describe('protocol towers', () => {
  it('builds the five ncacn_ip_tcp floors and reads them back', () => {
    const t = decodeTower(tcpTower({ uuid: A, version: v(3, 1) }, '192.168.1.20', 49152));
    expect(t).toMatchObject({ iface: { uuid: A, version: v(3, 1) }, protseq: 'ncacn_ip_tcp', port: 49152, host: '192.168.1.20', binding: 'ncacn_ip_tcp:192.168.1.20[49152]' });
    expect(t.floors).toHaveLength(5);
    // Floor 4: TCP port big-endian (C706 Appendix L).
    expect([...t.floors[3]!.rhs]).toEqual([0xc0, 0x00]);
  });

  it('tolerates a zero-length right-hand side on floor 3, as Wine sends it', () => {
    const floors = decodeFloors(tcpTower({ uuid: A, version: v(1, 0) }, '10.0.0.1', 135));
    floors[2] = { lhs: floors[2]!.lhs, rhs: Buffer.alloc(0) };
    const wine = encodeFloors(floors);
    expect(wine.length).toBe(tcpTower({ uuid: A, version: v(1, 0) }, '10.0.0.1', 135).length - 2);
    expect(decodeTower(wine)).toMatchObject({ protseq: 'ncacn_ip_tcp', port: 135, host: '10.0.0.1' });
  });

  it('names named pipes and rejects truncated towers with the offset', () => {
    const np = encodeFloors([
      { lhs: Buffer.from([0x0b]), rhs: Buffer.from([0, 0]) },
      { lhs: Buffer.from([0x0b]), rhs: Buffer.from([0, 0]) },
      { lhs: Buffer.from([0x0b]), rhs: Buffer.from([0, 0]) },
      { lhs: Buffer.from([0x0f]), rhs: Buffer.from('\\PIPE\\lsass\0', 'latin1') },
      { lhs: Buffer.from([0x11]), rhs: Buffer.from('DC1\0', 'latin1') },
    ]);
    expect(decodeTower(np)).toMatchObject({ protseq: 'ncacn_np', endpoint: '\\PIPE\\lsass', host: 'DC1', binding: 'ncacn_np:DC1[\\PIPE\\lsass]' });
    expect(() => decodeTower(np.subarray(0, np.length - 3))).toThrow(TowerError);
  });
});
