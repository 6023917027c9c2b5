// tshark (Wireshark 4.0) as the oracle for what dcomlab puts on the wire: a dcomlab client talks to a
// dcomlab server (endpoint mapper + mgmt, in-process on 127.0.0.8:135) while dumpcap captures lo, and
// tshark must decode every PDU and every epm/mgmt stub without a malformed frame or an error.
//
// The session, one association:
//   bind epm (ctx 0) · alter_context mgmt (ctx 1) · ept_lookup (61 entries: a 2-fragment response)
//   · ept_map found · ept_map not found · mgmt inq_if_ids · opnum 7 on epm (fault nca_s_op_rng_error)
//   · a request on context 5, never negotiated (fault nca_s_unk_if).
//
// DCOMLAB_EPM_SESSION_OUT=FILE: after every assertion passed, copy the capture there
// (tools/make-pcaps.sh dcomlab-epm-session does this for pcaps/dcomlab-epm-session.pcapng).
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { RpcFault } from '../../src/base/errors';
import { NIL_GUID } from '../../src/base/guid';
import {
  bindInterface, decodeTower, epm, EpmDatabase, mgmt, RpcConnection, RpcServer, serveEndpointMapper, serveMgmt, tcpTower,
} from '../../src/rpc';
import { PROJECT_PCAPS } from '../support/paths';
import { describeWithPeers, PEERS_ROOT } from '../support/peers';
import { captureSh } from '../support/capture-sh';
import { tsharkExpert, tsharkFields, tsharkPdus } from '../support/tshark';


const HOST = '127.0.0.8';
const NIL_HANDLE = { attributes: 0, uuid: NIL_GUID };
const EPT_S_NOT_REGISTERED = 0x16c9a0d6;
const NCA_S_OP_RNG_ERROR = 0x1c010002;
const NCA_S_UNK_IF = 0x1c010003;

/** The interface ept_map finds, and 60 more so that ept_lookup's answer needs two fragments. */
const MAPPED = { uuid: '7a5c0001-8b2d-4e6f-9a1b-0c3d5e7f9b11', version: 1, port: 49800, annotation: 'dcomlab tshark session' };
const BULK = Array.from({ length: 60 }, (_, i) => ({
  uuid: `7a5c1${i.toString(16).padStart(3, '0')}-8b2d-4e6f-9a1b-0c3d5e7f9b11`,
  version: 2 | (i << 16),
  port: 49900 + i,
  annotation: `bulk ${i} ${'x'.repeat(40)}`,
}));
const UNREGISTERED = { uuid: '7a5cffff-8b2d-4e6f-9a1b-0c3d5e7f9b11', version: 1 };

const capture = captureSh;

/** What the dcomlab client saw, to hold against what tshark decodes. */
interface SessionResult {
  lookupEntries: number;
  lookupStatus: number;
  mapPorts: number[];
  mapStatus: number;
  missStatus: number;
  missTowers: number;
  ifIds: string[];
  opRangeFault: number;
  unknownCtxFault: number;
  epmCtx: number;
  mgmtCtx: number;
  clientPort: number;
}

async function faultOf(p: Promise<unknown>): Promise<number> {
  try {
    await p;
  } catch (e) {
    if (e instanceof RpcFault && e.status !== undefined) return e.status;
    throw e;
  }
  throw new Error('the call succeeded; a fault was expected');
}

async function session(): Promise<SessionResult> {
  const conn = await RpcConnection.connect(HOST, 135);
  try {
    const e = await bindInterface(conn, epm); // bind
    const m = await bindInterface(conn, mgmt); // alter_context
    const look = await e.call(epm.ops.ept_lookup, {
      inquiry_type: 0, object: null, interface_id: null, vers_option: 1, entry_handle: NIL_HANDLE, max_ents: 500,
    });
    const tower = (i: { uuid: string; version: number }) => {
      const t = tcpTower(i, '0.0.0.0', 0);
      return { tower_length: t.length, tower_octet_string: t };
    };
    const map = await e.call(epm.ops.ept_map, { object: null, map_tower: tower(MAPPED), entry_handle: NIL_HANDLE, max_towers: 4 });
    const miss = await e.call(epm.ops.ept_map, { object: null, map_tower: tower(UNREGISTERED), entry_handle: NIL_HANDLE, max_towers: 4 });
    const ids = await m.call(mgmt.ops.inq_if_ids, {});
    // epm has opnums 0-6: 7 is out of range.
    const opRangeFault = await faultOf(conn.call(e.ctxId, 7, Buffer.alloc(0)));
    // Context 5 was never negotiated on this association.
    const unknownCtxFault = await faultOf(conn.call(5, 0, Buffer.alloc(0)));
    return {
      lookupEntries: look.num_ents,
      lookupStatus: look.status,
      mapPorts: map.towers.map((t) => decodeTower(t!.tower_octet_string).port ?? -1),
      mapStatus: map.status,
      missStatus: miss.status,
      missTowers: miss.num_towers,
      ifIds: (ids.if_id_vector?.if_id ?? []).map((x) => `${x!.uuid} ${x!.vers_major}.${x!.vers_minor}`),
      opRangeFault,
      unknownCtxFault,
      epmCtx: e.ctxId,
      mgmtCtx: m.ctxId,
      clientPort: conn.localPort,
    };
  } finally {
    await conn.close();
  }
}

describeWithPeers(['tshark'], 'a dcomlab client/server EPM session decoded by tshark', () => {
  const dir = path.join(PEERS_ROOT, `epm-tshark-${process.pid}`);
  const file = path.join(dir, 'dcomlab-epm-session.pcapng');
  let result: SessionResult;
  const passed = new Set<string>();

  beforeAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const server = new RpcServer();
    const db = new EpmDatabase();
    serveEndpointMapper(server, db);
    serveMgmt(server);
    await server.listen({ host: HOST, port: 135 });
    db.registerTcp(MAPPED, HOST, MAPPED.port, MAPPED.annotation);
    for (const b of BULK) db.registerTcp(b, HOST, b.port, b.annotation);
    try {
      await capture('start', dir, file, `host ${HOST} and tcp port 135`);
      try {
        result = await session();
      } finally {
        await capture('stop', dir);
      }
    } finally {
      await server.close();
    }
  }, 60_000);

  afterAll(() => {
    // Kept when a test failed, for a look with tshark/Wireshark.
    if (passed.size === 5) rmSync(dir, { recursive: true, force: true });
  });

  it('the client saw the answers it should', () => {
    expect(result).toMatchObject({
      lookupEntries: 61,
      lookupStatus: 0,
      mapPorts: [MAPPED.port],
      mapStatus: 0,
      missStatus: EPT_S_NOT_REGISTERED,
      missTowers: 0,
      ifIds: [`${epm.uuid} 3.0`],
      opRangeFault: NCA_S_OP_RNG_ERROR,
      unknownCtxFault: NCA_S_UNK_IF,
      epmCtx: 0,
      mgmtCtx: 1,
    });
    passed.add('client');
  });

  it('tshark finds no malformed frame and no error-level expert item', () => {
    expect(tsharkExpert(file)).toEqual({ malformed: 0, errors: [] });
    passed.add('expert');
  });

  it('tshark finds every PDU, in order, with the right call ids, contexts and opnums', () => {
    const pdus = tsharkPdus(file);
    const B = 11, BA = 12, AC = 14, ACR = 15, RQ = 0, RS = 2, F = 3;
    expect(pdus.map((p) => [p.ptype, p.callId, p.ctxId ?? null, p.opnum ?? null])).toEqual([
      [B, 1, null, null],
      [BA, 1, null, null],
      [AC, 2, null, null],
      [ACR, 2, null, null],
      [RQ, 3, 0, 2], // ept_lookup
      [RS, 3, 0, 2], // first fragment
      [RS, 3, 0, 2], // last fragment
      [RQ, 4, 0, 3], // ept_map (found)
      [RS, 4, 0, 3],
      [RQ, 5, 0, 3], // ept_map (not found)
      [RS, 5, 0, 3],
      [RQ, 6, 1, 0], // mgmt inq_if_ids
      [RS, 6, 1, 0],
      [RQ, 7, 0, 7], // opnum out of range
      [F, 7, 0, 7],
      [RQ, 8, 5, 0], // unknown context
      [F, 8, 0, null], // the fault names context 0; tshark has no opnum for it (the request's context was never bound)
    ]);
    expect(pdus.every((p) => p.authLength === 0)).toBe(true);
    // The 2-fragment response: max_xmit_frag 5840 negotiated; dcomlab fills a fragment with a stub chunk
    // that is a multiple of 16 (src/pdu/fragment.ts splitStub): 24 + floor((5840 - 24) / 16) * 16 = 5832.
    expect(pdus[5]!.fragLength).toBe(5832);
    expect(pdus[6]!.fragLength).toBeLessThanOrEqual(5840);
    passed.add('pdus');
  });

  /** One row per response/fault PDU, keyed by call id, with these tshark fields. */
  function responses(): Map<number, Record<string, string>> {
    const names = [
      'dcerpc.cn_call_id', 'dcerpc.pkt_type', 'epm.opnum', 'mgmt.opnum', 'epm.num_ents', 'epm.num_towers',
      'epm.proto.tcp_port', 'epm.proto.ip', 'epm.rc', 'epm.annotation', 'dcerpc.cn_status', '_ws.expert.message',
    ];
    const rows = tsharkFields(file, names, 'dcerpc.pkt_type == 2 || dcerpc.pkt_type == 3');
    const out = new Map<number, Record<string, string>>();
    for (const r of rows) {
      const rec = Object.fromEntries(names.map((n, i) => [n, r[i] ?? '']));
      // The 2-fragment ept_lookup response arrived in one TCP segment: one row, call id "3,3".
      out.set(Number(rec['dcerpc.cn_call_id']!.split(',')[0]), rec);
    }
    return out;
  }

  it("tshark's epm dissector decodes ept_lookup: 61 entries, every port, address and annotation, status 0", () => {
    const r = responses().get(3)!;
    expect(r['dcerpc.pkt_type']).toBe('2,2');
    expect(r['epm.num_ents']).toBe('61');
    expect(Number(r['epm.rc'])).toBe(0);
    expect(r['epm.proto.tcp_port']!.split(',').map(Number)).toEqual([MAPPED.port, ...BULK.map((b) => b.port)]);
    expect(new Set(r['epm.proto.ip']!.split(','))).toEqual(new Set([HOST]));
    expect(r['epm.annotation']!.split(',')).toEqual([MAPPED.annotation, ...BULK.map((b) => b.annotation)]);
    passed.add('lookup');
  });

  it("tshark decodes ept_map not found, the mgmt answer and both faults' status codes", () => {
    const rs = responses();
    // ept_map found (its stub: see the known-bug test below): tshark sees an epm Map response.
    expect([rs.get(4)?.['dcerpc.pkt_type'], rs.get(4)?.['epm.opnum'], rs.get(4)?.['epm.num_towers']]).toEqual(['2', '3', '1']);
    // ept_map not found: no tower, ept_s_not_registered.
    const miss = rs.get(5)!;
    expect([miss['epm.opnum'], miss['epm.num_towers'], miss['epm.proto.tcp_port'], Number(miss['epm.rc'])]).toEqual(['3', '0', '', EPT_S_NOT_REGISTERED]);
    // Wireshark 4.0 names mgmt inq_if_ids (opnum 0) but has no decoder for its response stub.
    expect(rs.get(6)!['mgmt.opnum']).toBe('0');
    expect([rs.get(7)!['dcerpc.pkt_type'], Number(rs.get(7)!['dcerpc.cn_status'])]).toEqual(['3', NCA_S_OP_RNG_ERROR]);
    expect([rs.get(8)!['dcerpc.pkt_type'], Number(rs.get(8)!['dcerpc.cn_status'])]).toEqual(['3', NCA_S_UNK_IF]);
    passed.add('stubs');
  });

  // A [ptr] referent id in a response that is not above the request's highest one is, to Wireshark
  // (packet-dcerpc.c add_pointer_to_list), an alias of a request pointee: it would skip the tower.
  // The server numbers its response's pointers above the request's, as Windows does.
  it("tshark decodes dcomlab's ept_map answer: one tower, the registered port, status 0, no warning", () => {
    const map = responses().get(4)!;
    expect(map['epm.num_towers']).toBe('1');
    expect(map['epm.proto.tcp_port']).toBe(String(MAPPED.port));
    expect(map['epm.proto.ip']).toBe(HOST);
    expect(Number(map['epm.rc'])).toBe(0);
    expect(map['_ws.expert.message']).not.toContain('Long frame');
  });

  it.runIf(!!process.env.DCOMLAB_EPM_SESSION_OUT)('saves the capture to $DCOMLAB_EPM_SESSION_OUT', () => {
    expect(passed.size).toBe(5);
    copyFileSync(file, path.resolve(process.env.DCOMLAB_EPM_SESSION_OUT!));
  });
});

describeWithPeers(['tshark'], 'the dcomlab EPM captures in pcaps/ are what pcaps/README.md describes', () => {
  it('dcomlab-epm-session.pcapng: the 17 PDUs of the session, and the ept_map tower tshark decodes', () => {
    const f = path.join(PROJECT_PCAPS, 'dcomlab-epm-session.pcapng');
    expect(tsharkPdus(f).map((p) => [p.ptype, p.callId, p.fragLength, p.ctxId ?? null, p.opnum ?? null])).toEqual([
      [11, 1, 72, null, null], [12, 1, 60, null, null], [14, 2, 72, null, null], [15, 2, 56, null, null],
      [0, 3, 64, 0, 2], [2, 3, 5832, 0, 2], [2, 3, 4192, 0, 2],
      [0, 4, 140, 0, 3], [2, 4, 152, 0, 3], [0, 5, 140, 0, 3], [2, 5, 64, 0, 3],
      [0, 6, 24, 1, 0], [2, 6, 64, 1, 0],
      [0, 7, 24, 0, 7], [3, 7, 32, 0, 7], [0, 8, 24, 5, 0], [3, 8, 32, 0, null],
    ]);
    expect(tsharkExpert(f)).toEqual({ malformed: 0, errors: [] });
    // Frame 14: the ept_map answer, whose tower tshark decodes; frame 16: the miss.
    expect(tsharkFields(f, ['frame.number', 'epm.rc', 'epm.proto.tcp_port'], 'epm.opnum == 3 && dcerpc.pkt_type == 2')).toEqual([
      ['14', '0x00000000', '49800'], ['16', '0x16c9a0d6', ''],
    ]);
  });

  it('dcomlab-epm-samba-lookup.pcapng: 53 entries, then Samba\'s closing ept_s_not_registered', () => {
    const f = path.join(PROJECT_PCAPS, 'dcomlab-epm-samba-lookup.pcapng');
    expect(tsharkPdus(f).map((p) => [p.ptype, p.callId, p.fragLength, p.authLength, p.ctxId ?? null, p.opnum ?? null])).toEqual([
      [11, 1, 72, 0, null, null], [12, 1, 60, 0, null, null],
      [0, 2, 64, 0, 0, 2], [2, 2, 5832, 0, 0, 2], [2, 2, 900, 0, 0, 2],
      [0, 3, 64, 0, 0, 2], [2, 3, 64, 0, 0, 2],
    ]);
    expect(tsharkExpert(f)).toEqual({ malformed: 0, errors: [] });
    expect(tsharkFields(f, ['dcerpc.cn_call_id', 'epm.num_ents', 'epm.rc'], 'epm.opnum == 2 && dcerpc.pkt_type == 2 && epm.num_ents')).toEqual([
      ['2', '53', '0x00000000'], ['3', '0', '0x16c9a0d6'],
    ]);
  });
});
