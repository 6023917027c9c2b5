// Real endpoint-mapper stubs from third-party captures: decode them with test-local epm types,
// compare with tshark's own dissection (the oracle), and re-encode them byte for byte.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { readGuid } from '../../src/base/guid';
import { NdrDecodeError } from '../../src/base/errors';
import * as ndr from '../../src/ndr';

// ---- epm, from C706 Appendix O / DCE ept.idl (test-local; the real module is written elsewhere)
const twr_t = ndr.struct({
  tower_length: ndr.u32,
  tower_octet_string: ndr.conformantArray(ndr.u8, { sizeIs: 'tower_length' }),
});
const rpc_if_id_t = ndr.struct({ uuid: ndr.guid, vers_major: ndr.u16, vers_minor: ndr.u16 });
const ept_entry_t = ndr.struct({
  object: ndr.guid,
  tower: ndr.full(twr_t), //                      twr_p_t is a [ptr] pointer
  annotation: ndr.varyingString(64), //           [string] char annotation[ept_max_annotation_size]
});
const epm = ndr.iface('epm', 'e1af8308-5d1f-11c9-91a4-08002b14a0fa', 3, 0, {
  ept_lookup: ndr.op(2, {
    in: {
      inquiry_type: ndr.u32,
      object: ndr.full(ndr.guid),
      interface_id: ndr.full(rpc_if_id_t),
      vers_option: ndr.u32,
      entry_handle: ndr.contextHandle,
      max_ents: ndr.u32,
    },
    out: {
      entry_handle: ndr.contextHandle,
      num_ents: ndr.u32,
      entries: ndr.conformantVaryingArray(ept_entry_t, { sizeIs: 'max_ents', lengthIs: 'num_ents' }),
      status: ndr.errorStatus,
    },
  }),
  ept_map: ndr.op(3, {
    in: { object: ndr.full(ndr.guid), map_tower: ndr.full(twr_t), entry_handle: ndr.contextHandle, max_towers: ndr.u32 },
    out: {
      entry_handle: ndr.contextHandle,
      num_towers: ndr.u32,
      towers: ndr.conformantVaryingArray(ndr.unique(twr_t), { sizeIs: 'max_towers', lengthIs: 'num_towers' }),
      status: ndr.errorStatus,
    },
  }),
});

// ---- captures and tshark
const PCAPS = join(process.cwd(), '..', 'shared', 'pcaps');
const FILES = [
  'suricata-verify/zerologon.pcap',
  'zeek/mapi.pcap',
  'scapy/dcerpc_privacy_ntlm.pcapng.gz',
  'suricata-verify/dcerpc-bind-no-frag-flag.pcap',
];
const FIELDS = [
  'frame.number', 'tcp.stream', 'tcp.payload', 'dcerpc.pkt_type', 'dcerpc.opnum', 'dcerpc.cn_call_id',
  'dcerpc.referent_id', 'dcerpc.array.max_count', 'dcerpc.array.offset', 'dcerpc.array.actual_count',
  'epm.hnd', 'epm.max_towers', 'epm.num_towers', 'epm.tower.len', 'epm.uuid', 'epm.proto.tcp_port',
  'epm.proto.http_port', 'epm.proto.ip', 'epm.rc', 'epm.object', 'epm.if_id', 'epm.ver_maj', 'epm.ver_min',
  'epm.ver_opt', 'epm.inq_type', 'epm.max_ents', 'epm.num_ents', 'epm.annotation', 'epm.ann_offset', 'epm.ann_len',
  'epm.tower.num_floors', 'dcerpc.referent_id64',
] as const;
type Field = (typeof FIELDS)[number];

interface Stub {
  file: string;
  frame: number;
  key: string;
  request: boolean;
  opnum: number;
  le: boolean;
  stub: Buffer;
  f: Record<Field, string[]>;
}

function tsharkMissing(): string | null {
  try {
    execFileSync('tshark', ['-v'], { stdio: 'pipe' });
  } catch {
    return 'tshark is not installed';
  }
  const missing = FILES.filter((f) => !existsSync(join(PCAPS, f)));
  return missing.length === FILES.length ? `no captures under ${PCAPS}` : null;
}

/** The stub of the single, unauthenticated CO PDU in a TCP segment (C706 12.6). */
function stubOf(payload: Buffer): { stub: Buffer; le: boolean } | null {
  if (payload.length < 24 || payload[0] !== 5 || payload[1] !== 0) return null;
  const le = (payload[4]! & 0xf0) === 0x10;
  const fragLen = le ? payload.readUInt16LE(8) : payload.readUInt16BE(8);
  const authLen = le ? payload.readUInt16LE(10) : payload.readUInt16BE(10);
  if (fragLen !== payload.length || authLen !== 0) return null;
  const ptype = payload[2];
  let start = 24;
  if (ptype === 0 && (payload[3]! & 0x80) !== 0) start += 16; // object uuid
  if (ptype !== 0 && ptype !== 2) return null;
  return { stub: payload.subarray(start, fragLen), le };
}

function extract(file: string): Stub[] {
  const out = execFileSync('tshark', [
    '-r', join(PCAPS, file), '-Y', 'epm && tcp && (dcerpc.pkt_type == 0 || dcerpc.pkt_type == 2)',
    '-T', 'fields', '-E', 'occurrence=a', '-E', 'aggregator=|', ...FIELDS.flatMap((f) => ['-e', f]),
  ], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 64 << 20 });
  const stubs: Stub[] = [];
  for (const line of out.split('\n')) {
    if (!line) continue;
    const cols = line.split('\t');
    const f = Object.fromEntries(FIELDS.map((n, i) => [n, cols[i] ? cols[i]!.split('|') : []])) as Record<Field, string[]>;
    // NDR64 presentation contexts (64-bit referent ids, e.g. the scapy capture) are not NDR 2.0
    if (f['dcerpc.referent_id64'].length > 0) continue;
    const s = stubOf(Buffer.from(f['tcp.payload'][0] ?? '', 'hex'));
    if (!s) continue;
    stubs.push({
      file,
      frame: Number(f['frame.number'][0]),
      key: `${file}#${f['tcp.stream'][0]}#${f['dcerpc.cn_call_id'][0]}`,
      request: f['dcerpc.pkt_type'][0] === '0',
      opnum: Number(f['dcerpc.opnum'][0]),
      ...s,
      f,
    });
  }
  return stubs;
}

interface Floor { proto: number; lhs: Buffer; rhs: Buffer }
function floors(oct: Buffer): Floor[] {
  const n = oct.readUInt16LE(0);
  const fl: Floor[] = [];
  let p = 2;
  for (let i = 0; i < n; i++) {
    const ll = oct.readUInt16LE(p);
    const lhs = oct.subarray(p + 2, p + 2 + ll);
    p += 2 + ll;
    const rl = oct.readUInt16LE(p);
    const rhs = oct.subarray(p + 2, p + 2 + rl);
    p += 2 + rl;
    fl.push({ proto: lhs[0]!, lhs, rhs });
  }
  return fl;
}
/** What tshark prints for a tower's floors: uuids, ports, addresses, floor count. */
function towerFacts(oct: Buffer) {
  const fl = floors(oct);
  return {
    numFloors: String(fl.length),
    uuids: fl.filter((x) => x.proto === 0x0d).map((x) => readGuid(x.lhs, 1, true)),
    tcpPorts: fl.filter((x) => x.proto === 0x07).map((x) => String(x.rhs.readUInt16BE(0))),
    httpPorts: fl.filter((x) => x.proto === 0x1f).map((x) => String(x.rhs.readUInt16BE(0))),
    ips: fl.filter((x) => x.proto === 0x09).map((x) => [...x.rhs].join('.')),
  };
}

const hex32 = (n: number) => '0x' + n.toString(16).padStart(8, '0');
const handleHex = (h: ndr.ContextHandle) => ndr.encode(ndr.contextHandle, h).toString('hex');

const reason = tsharkMissing();
if (reason !== null) {
  if (process.env.CI === 'true') {
    test('tshark and the captures are available', () => {
      throw new Error(`${reason} (required in CI)`);
    });
  } else {
    console.log(`skipping the epm capture tests: ${reason}`);
    test.skip(`epm captures (${reason})`, () => {});
  }
} else {
  const stubs = FILES.filter((f) => existsSync(join(PCAPS, f))).flatMap(extract).filter((s) => s.opnum === 2 || s.opnum === 3);
  const requests = new Map(stubs.filter((s) => s.request).map((s) => [s.key, s]));

  describe('epm stubs from real captures', () => {
    test('found enough stubs', () => {
      expect(stubs.filter((s) => s.opnum === 3).length).toBeGreaterThanOrEqual(40);
      expect(stubs.filter((s) => s.opnum === 2).length).toBe(2);
    });

    test.each(stubs.map((s) => [`${s.file} frame ${s.frame} opnum ${s.opnum} ${s.request ? 'request' : 'response'}`, s] as const))(
      '%s',
      (_name, s) => {
        const op = s.opnum === 3 ? epm.ops.ept_map : epm.ops.ept_lookup;
        const p = s.request ? op.in : op.out;
        const d = ndr.decodeParams(p as ndr.Params<ndr.Fields>, s.stub, { le: s.le, trace: true });
        expect(d.end).toBe(s.stub.length);
        const v = d.value as any;
        const f = s.f;

        // referent ids as sent, in order
        expect(d.trace.refIds.filter((x) => x !== 0).map(hex32)).toEqual(f['dcerpc.referent_id']);
        expect(handleHex(v.entry_handle)).toBe(f['epm.hnd'][0]);

        let towers: Buffer[] = [];
        if (s.opnum === 3 && s.request) {
          expect(String(v.max_towers)).toBe(f['epm.max_towers'][0]);
          towers = v.map_tower ? [v.map_tower.tower_octet_string] : [];
          // tshark prints the tower's max_count and tower_length, both "Length"
          expect([v.map_tower.tower_length, v.map_tower.tower_length].map(String)).toEqual(f['epm.tower.len']);
          const facts = towerFacts(towers[0]!);
          expect([...(v.object ? [v.object] : []), ...facts.uuids]).toEqual(f['epm.uuid']);
        } else if (s.opnum === 3) {
          expect(String(v.num_towers)).toBe(f['epm.num_towers'][0]);
          expect(hex32(v.status)).toBe(f['epm.rc'][0]);
          expect([String(d.trace.maxCounts[0]), String(d.trace.offsets[0]), String(v.towers.length)]).toEqual([
            f['dcerpc.array.max_count'][0], f['dcerpc.array.offset'][0], f['dcerpc.array.actual_count'][0],
          ]);
          towers = v.towers.filter(Boolean).map((t: any) => t.tower_octet_string);
          expect(v.towers.filter(Boolean).flatMap((t: any) => [t.tower_length, t.tower_length]).map(String)).toEqual(f['epm.tower.len']);
          expect(towers.flatMap((t) => towerFacts(t).uuids)).toEqual(f['epm.uuid']);
        } else if (s.request) {
          expect(String(v.inquiry_type)).toBe(f['epm.inq_type'][0]);
          expect(v.object).toBe(f['epm.object'][0]);
          expect(v.interface_id.uuid).toBe(f['epm.if_id'][0]);
          expect(String(v.interface_id.vers_major)).toBe(f['epm.ver_maj'][0]);
          expect(String(v.interface_id.vers_minor)).toBe(f['epm.ver_min'][0]);
          expect(String(v.vers_option)).toBe(f['epm.ver_opt'][0]);
          expect(String(v.max_ents)).toBe(f['epm.max_ents'][0]);
        } else {
          expect(String(v.num_ents)).toBe(f['epm.num_ents'][0]);
          expect(hex32(v.status)).toBe(f['epm.rc'][0]);
          expect(v.entries.map((e: any) => e.object)).toEqual(f['epm.object']);
          expect(v.entries.map((e: any) => e.annotation)).toEqual(f['epm.annotation']);
          expect(v.entries.map((e: any) => String(e.annotation.length + 1))).toEqual(f['epm.ann_len']);
          expect(d.trace.offsets.slice(1).map(String)).toEqual(f['epm.ann_offset']);
          expect([String(d.trace.maxCounts[0]), String(v.entries.length)]).toEqual([
            f['dcerpc.array.max_count'][0], f['dcerpc.array.actual_count'][0],
          ]);
          towers = v.entries.filter((e: any) => e.tower).map((e: any) => e.tower.tower_octet_string);
          expect(towers.flatMap((t) => towerFacts(t).uuids)).toEqual(f['epm.uuid']);
        }
        const facts = towers.map(towerFacts);
        expect(facts.map((x) => x.numFloors)).toEqual(f['epm.tower.num_floors']);
        expect(facts.flatMap((x) => x.tcpPorts)).toEqual(f['epm.proto.tcp_port']);
        expect(facts.flatMap((x) => x.httpPorts)).toEqual(f['epm.proto.http_port']);
        expect(facts.flatMap((x) => x.ips)).toEqual(f['epm.proto.ip']);

        // the response checked against its request's [in] values (size_is(max_towers) etc.)
        const req = requests.get(s.key);
        if (!s.request && req) {
          const inVals = ndr.decodeParams(op.in as ndr.Params<ndr.Fields>, req.stub, { le: req.le });
          expect(ndr.decodeParams(p as ndr.Params<ndr.Fields>, s.stub, { le: s.le, scope: inVals })).toEqual(v);
          // a server given the [in] values writes max_count = max_towers / max_ents, as Windows does
          const again = ndr.encodeParams(p as ndr.Params<ndr.Fields>, v, { le: s.le, scope: inVals });
          expect(ndr.decodeParams(p as ndr.Params<ndr.Fields>, again, { le: s.le, trace: true }).trace.maxCounts[0]).toBe(d.trace.maxCounts[0]);
        }

        // fidelity: replaying the trace gives back the original octets
        expect(ndr.encodeParams(p as ndr.Params<ndr.Fields>, v, { le: s.le, replay: d.trace })).toEqual(s.stub);
        // without the trace: default ids and counts, same values
        const plain = ndr.encodeParams(p as ndr.Params<ndr.Fields>, v, { le: s.le });
        expect(ndr.decodeParams(p as ndr.Params<ndr.Fields>, plain, { le: s.le })).toEqual(v);
        // and the same values sent big-endian
        const be = ndr.encodeParams(p as ndr.Params<ndr.Fields>, v, { le: false, replay: d.trace });
        expect(ndr.decodeParams(p as ndr.Params<ndr.Fields>, be, { le: false })).toEqual(v);
      },
    );

    test('truncations and bit flips of real stubs: a value or an NdrDecodeError, never anything else', () => {
      let rng = 0x12345678;
      const rand = () => ((rng = (Math.imul(rng, 1103515245) + 12345) >>> 0) / 2 ** 32);
      let errors = 0;
      let values = 0;
      for (const s of stubs) {
        const op = s.opnum === 3 ? epm.ops.ept_map : epm.ops.ept_lookup;
        const p = (s.request ? op.in : op.out) as ndr.Params<ndr.Fields>;
        const cases: Buffer[] = [];
        for (let cut = 0; cut < s.stub.length; cut += 3) cases.push(s.stub.subarray(0, cut));
        for (let k = 0; k < 60; k++) {
          const b = Buffer.from(s.stub);
          const flips = 1 + Math.floor(rand() * 4);
          for (let j = 0; j < flips; j++) b[Math.floor(rand() * b.length)]! ^= 1 << Math.floor(rand() * 8);
          cases.push(b);
        }
        for (const b of cases) {
          for (const le of [true, false]) {
            try {
              ndr.decodeParams(p, b, { le, trace: true });
              values++;
            } catch (e) {
              if (!(e instanceof NdrDecodeError)) throw e;
              expect(e.offset).toBeGreaterThanOrEqual(0);
              expect(e.offset).toBeLessThanOrEqual(b.length);
              expect(e.field.startsWith(p.name)).toBe(true);
              errors++;
            }
          }
        }
      }
      expect(errors).toBeGreaterThan(1000);
      expect(values).toBeGreaterThan(100);
    });
  });
}
