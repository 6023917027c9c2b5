// Stub decoding in dissect (decodeStubs): reassembly across fragments, a response decoded with its
// request's [in] parameters in scope, decode errors that never stop the dissection, sealed stubs
// and the unprotect hook, the JSON and -V/-x forms. Captures are written here, PDU by PDU, from
// values this test chooses, so every expectation comes from the inputs (or the specs), not from
// dissect's own output.
import { describe, expect, it, beforeAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { isUtf8 } from 'node:buffer';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as ndr from '../../src/ndr';
import { recordJson } from '../../src/cli/dissect';
import { dissectCapture, type DissectOptions, type PduRecord } from '../../src/dissect/dissect';
import { DREP_LE, NDR20, NDR64, PFC, PType, encodePdu, type Pdu, type RequestPdu, type ResponsePdu } from '../../src/pdu';
import { epm } from '../../src/rpc/interfaces/epm';
import { tcpTower } from '../../src/rpc/tower';
import { IObjectExporter, IRemUnknown2, encodeObjref, OBJREF_STANDARD } from '../../src/dcom';
import { mutate, prng } from '../support/mutate';
import { listProjectCaptures, listSharedCaptures, PROJECT_PCAPS, PROJECT_ROOT } from '../support/paths';

const FL = PFC.FIRST_FRAG | PFC.LAST_FRAG;
const NIL = '00000000-0000-0000-0000-000000000000';
const CLI = path.join(PROJECT_ROOT, 'dist', 'cli', 'main.js');

// ---------------------------------------------------------------------------------------------
// A capture from PDUs: classic pcap, Ethernet + IPv4 + TCP, one connection per list.

interface Conn {
  /** PDUs (or raw bytes) in order, each from the client (0) or the server (1). */
  pdus: Array<[0 | 1, Pdu | Buffer]>;
  clientPort?: number;
  serverPort?: number;
}

function frame(src: number[], dst: number[], sport: number, dport: number, seq: number, ack: number, flags: number, payload: Buffer): Buffer {
  const ip = Buffer.alloc(20);
  ip[0] = 0x45;
  ip.writeUInt16BE(20 + 20 + payload.length, 2);
  ip[8] = 64;
  ip[9] = 6;
  Buffer.from(src).copy(ip, 12);
  Buffer.from(dst).copy(ip, 16);
  const tcp = Buffer.alloc(20);
  tcp.writeUInt16BE(sport, 0);
  tcp.writeUInt16BE(dport, 2);
  tcp.writeUInt32BE(seq >>> 0, 4);
  tcp.writeUInt32BE(ack >>> 0, 8);
  tcp[12] = 5 << 4;
  tcp[13] = flags;
  tcp.writeUInt16BE(65535, 14);
  const eth = Buffer.alloc(14);
  eth.writeUInt16BE(0x0800, 12);
  return Buffer.concat([eth, ip, tcp, payload]);
}

function pcap(conns: Conn[]): Buffer {
  const out: Buffer[] = [];
  const gh = Buffer.alloc(24);
  gh.writeUInt32LE(0xa1b2c3d4, 0);
  gh.writeUInt16LE(2, 4);
  gh.writeUInt16LE(4, 6);
  gh.writeUInt32LE(65535, 16);
  gh.writeUInt32LE(1, 20);
  out.push(gh);
  let t = 0;
  const rec = (f: Buffer) => {
    const h = Buffer.alloc(16);
    h.writeUInt32LE(1_700_000_000 + Math.floor(t / 1e6), 0);
    h.writeUInt32LE(t % 1e6, 4);
    h.writeUInt32LE(f.length, 8);
    h.writeUInt32LE(f.length, 12);
    t += 10;
    out.push(h, f);
  };
  conns.forEach((c, i) => {
    const A = [10, 0, 0, 1];
    const B = [10, 0, 0, 2];
    const cp = c.clientPort ?? 50000 + i;
    const sp = c.serverPort ?? 135;
    const seq: [number, number] = [1000, 5000];
    const SYN = 0x02, ACK = 0x10, PSH = 0x08;
    rec(frame(A, B, cp, sp, seq[0], 0, SYN, Buffer.alloc(0)));
    rec(frame(B, A, sp, cp, seq[1], seq[0] + 1, SYN | ACK, Buffer.alloc(0)));
    seq[0]++;
    seq[1]++;
    for (const [dir, p] of c.pdus) {
      const bytes = Buffer.isBuffer(p) ? p : encodePdu(p);
      if (dir === 0) rec(frame(A, B, cp, sp, seq[0], seq[1], ACK | PSH, bytes));
      else rec(frame(B, A, sp, cp, seq[1], seq[0], ACK | PSH, bytes));
      seq[dir] += bytes.length;
    }
  });
  return Buffer.concat(out);
}

const dir = mkdtempSync(path.join(tmpdir(), 'dcomlab-stubs-'));
let fileNo = 0;
function writeCapture(conns: Conn[]): string {
  const f = path.join(dir, `c${fileNo++}.pcap`);
  writeFileSync(f, pcap(conns));
  return f;
}

async function records(file: string, opts: DissectOptions = {}): Promise<Array<{ r: PduRecord; stub?: Buffer }>> {
  const out: Array<{ r: PduRecord; stub?: Buffer }> = [];
  await dissectCapture(file, (r, _p, _b, stub) => out.push({ r, stub }), { decodeStubs: true, decodePdus: false, ...opts });
  return out;
}

// ---------------------------------------------------------------------------------------------
// PDUs

function bindPdu(callId: number, contexts: Array<{ ctxId: number; uuid: string; version: number; ts?: { uuid: string; version: number } }>, ptype: 11 | 14 = 11): Pdu {
  return {
    ptype, rpcVersMinor: 0, flags: FL, drep: DREP_LE, callId, maxXmitFrag: 5840, maxRecvFrag: 5840, assocGroupId: 0,
    contexts: contexts.map((c) => ({ ctxId: c.ctxId, abstractSyntax: { uuid: c.uuid, version: c.version }, transferSyntaxes: [c.ts ?? { ...NDR20 }] })),
  };
}

function ackPdu(callId: number, n: number, ts: { uuid: string; version: number } = { ...NDR20 }): Pdu {
  return {
    ptype: 12, rpcVersMinor: 0, flags: FL, drep: DREP_LE, callId, maxXmitFrag: 5840, maxRecvFrag: 5840, assocGroupId: 0x1234,
    secAddr: '135', results: Array.from({ length: n }, () => ({ result: 0, reason: 0, transferSyntax: { ...ts } })),
  };
}

function req(callId: number, ctxId: number, opnum: number, stub: Buffer, flags = FL, extra: Partial<RequestPdu> = {}): RequestPdu {
  return { ptype: PType.request, rpcVersMinor: 0, flags, drep: DREP_LE, callId, allocHint: stub.length, ctxId, opnum, stub, ...extra };
}

function resp(callId: number, ctxId: number, stub: Buffer, flags = FL, extra: Partial<ResponsePdu> = {}): ResponsePdu {
  return { ptype: PType.response, rpcVersMinor: 0, flags, drep: DREP_LE, callId, allocHint: stub.length, ctxId, cancelCount: 0, reserved: 0, stub, ...extra };
}

/** A stub cut in pieces of these sizes (the last takes the rest), flagged FIRST ... LAST. */
function fragments<P extends RequestPdu | ResponsePdu>(stub: Buffer, sizes: number[], make: (part: Buffer, flags: number, left: number) => P): P[] {
  const out: P[] = [];
  let off = 0;
  for (let i = 0; i <= sizes.length; i++) {
    const end = i < sizes.length ? off + sizes[i]! : stub.length;
    const flags = (i === 0 ? PFC.FIRST_FRAG : 0) | (i === sizes.length ? PFC.LAST_FRAG : 0);
    out.push(make(stub.subarray(off, end), flags, stub.length - off));
    off = end;
  }
  return out;
}

const EPM = { uuid: epm.uuid, version: 3 };
const TARGET = { uuid: '7a5c0001-8b2d-4e6f-9a1b-0c3d5e7f9b11', version: 1 };
const tower = (host: string, port: number) => {
  const t = tcpTower(TARGET, host, port);
  return { tower_length: t.length, tower_octet_string: t };
};

const mapIn = (maxTowers: number) => ndr.encodeParams(epm.ops.ept_map.in, {
  object: null, map_tower: tower('0.0.0.0', 0), entry_handle: { attributes: 0, uuid: NIL }, max_towers: maxTowers,
});
const mapOut = (maxTowers: number, towers: Array<ReturnType<typeof tower>>, status = 0) => ndr.encodeParams(epm.ops.ept_map.out, {
  entry_handle: { attributes: 0, uuid: NIL }, num_towers: towers.length, towers, status,
}, { scope: { max_towers: maxTowers }, firstReferentId: 0x00020008 });

// ---------------------------------------------------------------------------------------------

describe('dissect decodes stubs with the runtime definitions', () => {
  it('is off by default: no stub fields, and the same records otherwise', async () => {
    const f = writeCapture([{ pdus: [[0, bindPdu(1, [{ ctxId: 0, ...EPM }])], [1, ackPdu(1, 1)], [0, req(2, 0, 3, mapIn(4))]] }]);
    const off: PduRecord[] = [];
    await dissectCapture(f, (r) => off.push(r), { decodePdus: false });
    const on = (await records(f)).map((x) => x.r);
    expect(off[2]!.stub).toBeUndefined();
    expect(on[2]!.stub).toBeDefined();
    const strip = (r: PduRecord) => JSON.parse(JSON.stringify({ ...r, stub: undefined }));
    expect(on.map(strip)).toEqual(off.map(strip));
  });

  it('reassembles a fragmented request and response and decodes them at their last fragment', async () => {
    const inStub = mapIn(4);
    const towers = [tower('10.1.2.3', 49800), tower('10.1.2.4', 49801)];
    const outStub = mapOut(4, towers);
    const reqs = fragments(inStub, [16, 40], (part, flags, left) => req(2, 0, 3, part, flags, { allocHint: left }));
    const resps = fragments(outStub, [24, 8, 72], (part, flags, left) => resp(2, 0, part, flags, { allocHint: left }));
    // The server interleaves nothing, but another call's single-fragment request sits between two fragments.
    const other = req(3, 0, 3, mapIn(1));
    const f = writeCapture([{
      pdus: [
        [0, bindPdu(1, [{ ctxId: 0, ...EPM }])], [1, ackPdu(1, 1)],
        [0, reqs[0]!], [0, other], [0, reqs[1]!], [0, reqs[2]!],
        ...resps.map((p) => [1, p] as [1, Pdu]),
      ],
    }]);
    const rs = await records(f);
    const calls = rs.filter((x) => x.r.ptype === 0 || x.r.ptype === 2);
    expect(calls.map((x) => [x.r.callId, x.r.stub !== undefined])).toEqual([
      [2, false], [3, true], [2, false], [2, true], [2, false], [2, false], [2, false], [2, true],
    ]);
    const lastReq = calls[3]!;
    expect(lastReq.r.reassembled).toEqual({ fragments: 3, stubLength: inStub.length });
    expect(lastReq.stub).toEqual(inStub);
    const jreq = JSON.parse(recordJson(lastReq.r)).stub;
    expect(jreq.max_towers).toBe(4);
    expect(jreq.map_tower.tower.floors.map((x: { protocol: number }) => x.protocol)).toEqual([0x0d, 0x0d, 0x0b, 0x07, 0x09]);
    const lastResp = calls[7]!;
    expect(lastResp.r.reassembled).toEqual({ fragments: 4, stubLength: outStub.length });
    const jresp = JSON.parse(recordJson(lastResp.r)).stub;
    expect(jresp.num_towers).toBe(2);
    expect(jresp.towers.map((t: { tower: { binding: string } }) => t.tower.binding)).toEqual(['ncacn_ip_tcp:10.1.2.3[49800]', 'ncacn_ip_tcp:10.1.2.4[49801]']);
    expect(jresp.towers[1].tower.floors[3]).toMatchObject({ protocol: 7, port: 49801 });
    expect(jresp.towers[1].tower.floors[4]).toMatchObject({ protocol: 9, ip: '10.1.2.4' });
    expect(jresp.status).toBe(0);
    // A fragment whose first fragment is not in the capture is named, never decoded.
    const g = writeCapture([{ pdus: [[0, bindPdu(1, [{ ctxId: 0, ...EPM }])], [1, ackPdu(1, 1)], [0, reqs[1]!], [0, reqs[2]!]] }]);
    const orphan = (await records(g)).filter((x) => x.r.ptype === 0);
    expect(orphan.map((x) => x.r.stubError)).toEqual([expect.stringMatching(/first fragment/), expect.stringMatching(/first fragment/)]);
  });

  it('decodes a response with its request\'s [in] parameters in scope (ept_map: size_is(max_towers))', async () => {
    const conn = (maxReq: number, maxResp: number): Conn => ({
      pdus: [
        [0, bindPdu(1, [{ ctxId: 0, ...EPM }])], [1, ackPdu(1, 1)],
        [0, req(2, 0, 3, mapIn(maxReq))], [1, resp(2, 0, mapOut(maxResp, [tower('10.0.0.9', 1024)]))],
      ],
    });
    const agree = (await records(writeCapture([conn(4, 4)]))).find((x) => x.r.ptype === 2)!.r;
    expect(agree.stubError).toBeUndefined();
    expect(JSON.parse(recordJson(agree)).stub.num_towers).toBe(1);
    // The response's towers say max_count 3 while the request asked for max_towers 4: only the
    // request's scope can tell (C706 O.3.3: the array is [size_is(max_towers)]).
    const disagree = (await records(writeCapture([conn(4, 3)]))).find((x) => x.r.ptype === 2)!.r;
    expect(disagree.stub).toBeUndefined();
    expect(disagree.stubError).toMatch(/max_count 3 disagrees with size_is\(max_towers\) = 4/);
    // Without its request (not in the capture), the same response decodes from the wire alone.
    const alone = writeCapture([{ pdus: [[0, bindPdu(1, [{ ctxId: 0, ...EPM }])], [1, ackPdu(1, 1)], [1, resp(2, 0, mapOut(3, [tower('10.0.0.9', 1024)]))]] }]);
    const r = (await records(alone)).find((x) => x.r.ptype === 2)!.r;
    // a response whose request was not seen names no opnum (as tshark): nothing to decode it with
    expect(r.opnum).toBeUndefined();
    expect(r.stub).toBeUndefined();
  });

  it('a stub that does not decode gives stubError and dissection goes on', async () => {
    const good = mapIn(4);
    const truncated = good.subarray(0, 30);
    const f = writeCapture([{
      pdus: [[0, bindPdu(1, [{ ctxId: 0, ...EPM }])], [1, ackPdu(1, 1)], [0, req(2, 0, 3, truncated)], [0, req(3, 0, 3, good)]],
    }]);
    const calls = (await records(f)).filter((x) => x.r.ptype === 0).map((x) => x.r);
    expect(calls).toHaveLength(2);
    expect(calls[0]!.stub).toBeUndefined();
    expect(calls[0]!.stubError).toMatch(/^NDR decode error at offset \d+ \(ept_map\.in\.[^)]*\)/);
    expect(JSON.parse(recordJson(calls[0]!)).stubError).toBe(calls[0]!.stubError);
    expect(calls[1]!.stub).toBeDefined();
  });

  it('mutated stubs of every defined operation never throw: each gives a stub or a stubError, and both render', async () => {
    const rnd = prng(7);
    const seeds: Array<{ iface: { uuid: string; version: number }; opnum: number; stub: Buffer }> = [
      { iface: EPM, opnum: 3, stub: mapIn(4) },
      { iface: { uuid: IObjectExporter.uuid, version: 0 }, opnum: 4, stub: ndr.encodeParams(IObjectExporter.ops.ResolveOxid2.in, { pOxid: 0x1122334455667788n, cRequestedProtseqs: 2, arRequestedProtseqs: [7, 9] }) },
      { iface: { uuid: IRemUnknown2.uuid, version: 0 }, opnum: 3, stub: remQiIn() },
    ];
    const pdus: Array<[0 | 1, Pdu]> = [[0, bindPdu(1, seeds.map((s, i) => ({ ctxId: i, ...s.iface })))], [1, ackPdu(1, seeds.length)]];
    let callId = 2;
    for (let n = 0; n < 300; n++) {
      const s = seeds[n % seeds.length]!;
      pdus.push([0, req(callId++, n % seeds.length, s.opnum, mutate(s.stub, rnd))]);
    }
    const rs = (await records(writeCapture([{ pdus }]))).filter((x) => x.r.ptype === 0).map((x) => x.r);
    expect(rs).toHaveLength(300);
    let decoded = 0;
    for (const r of rs) {
      expect(r.stub !== undefined || r.stubError !== undefined, `call ${r.callId}`).toBe(true);
      if (r.stub) {
        decoded++;
        expect(() => JSON.parse(recordJson(r))).not.toThrow();
        expect(() => r.stub!.tree()).not.toThrow();
      }
    }
    expect(decoded).toBeGreaterThan(30);
    expect(rs.length - decoded).toBeGreaterThan(30);
  });

  it('a privacy-level stub without keys is not decoded (stubSealed); an unprotect hook\'s plaintext is', async () => {
    const plain = mapIn(4);
    const sealed = Buffer.from(plain.map((b) => b ^ 0x5a)); // stands for ciphertext
    const auth = (level: number) => ({ type: 10, level, padLength: 0, reserved: 0, contextId: 7, value: Buffer.alloc(16, 0xee) });
    const f = writeCapture([{
      pdus: [
        [0, bindPdu(1, [{ ctxId: 0, ...EPM }])], [1, ackPdu(1, 1)],
        [0, req(2, 0, 3, sealed, FL, { auth: auth(6) })],
        [0, req(3, 0, 3, plain, FL, { auth: auth(5) })], // integrity: the stub is plaintext
      ],
    }]);
    const noKeys = (await records(f)).filter((x) => x.r.ptype === 0).map((x) => x.r);
    expect(noKeys[0]).toMatchObject({ stubSealed: true, authLevel: 6 });
    expect(noKeys[0]!.stub).toBeUndefined();
    expect(noKeys[0]!.stubError).toBeUndefined();
    expect(JSON.parse(recordJson(noKeys[0]!)).stubSealed).toBe(true);
    expect(noKeys[1]!.stubSealed).toBeUndefined();
    expect(JSON.parse(recordJson(noKeys[1]!)).stub.max_towers).toBe(4);

    const seen: Array<[number, number, number, number]> = [];
    const unsealed = (await records(f, {
      unprotect: (stream, d, bytes, pdu) => {
        seen.push([stream, d, bytes.length, pdu.ptype]);
        const p = pdu as RequestPdu;
        if (p.auth!.level === 6) return { stub: Buffer.from(p.stub.map((b) => b ^ 0x5a)), verified: true };
        return { stub: p.stub, verified: false };
      },
    })).filter((x) => x.r.ptype === 0).map((x) => x.r);
    expect(seen).toEqual([[0, 0, encodePdu(req(2, 0, 3, sealed, FL, { auth: auth(6) })).length, 0], [0, 0, encodePdu(req(3, 0, 3, plain, FL, { auth: auth(5) })).length, 0]]);
    expect(unsealed[0]).toMatchObject({ decrypted: true, verified: true });
    expect(unsealed[0]!.stubSealed).toBeUndefined();
    expect(JSON.parse(recordJson(unsealed[0]!)).stub.max_towers).toBe(4);
    expect(unsealed[1]).toMatchObject({ verified: false });
    expect(unsealed[1]!.decrypted).toBeUndefined();

    const failing = (await records(f, { unprotect: () => ({ error: 'no session key for this context' }) })).filter((x) => x.r.ptype === 0).map((x) => x.r);
    expect(failing[0]).toMatchObject({ stubSealed: true, decryptError: 'no session key for this context' });
    expect(failing[1]).toMatchObject({ decryptError: 'no session key for this context' });
    expect(failing[1]!.stub).toBeDefined(); // integrity: still readable
    const throwing = (await records(f, { unprotect: () => { throw new Error('boom'); } })).filter((x) => x.r.ptype === 0).map((x) => x.r);
    expect(throwing[0]).toMatchObject({ stubSealed: true, decryptError: 'boom' });
  });

  it('hands the security handshake to onAuthPdu, and says when a stream ends', async () => {
    const withAuth = { ...bindPdu(1, [{ ctxId: 0, ...EPM }]), auth: { type: 10, level: 6, padLength: 0, reserved: 0, contextId: 1, value: Buffer.from('NTLMSSP\0') } } as Pdu;
    const f = writeCapture([{ pdus: [[0, withAuth], [1, ackPdu(1, 1)]] }]);
    const got: Array<[number, number, number]> = [];
    const closed: number[] = [];
    await records(f, { onAuthPdu: (stream, d, _b, pdu) => got.push([stream, d, pdu.ptype]), onStreamClose: (s) => closed.push(s) });
    expect(got).toEqual([[0, 0, 11]]); // the ack carries no verifier here
    expect(closed).toEqual([0]); // at the end of the capture, for the decryptor to forget its keys
  });

  it('leaves NDR64 contexts undecoded (stubSkipped)', async () => {
    const f = writeCapture([{
      pdus: [[0, bindPdu(1, [{ ctxId: 0, ...EPM, ts: { ...NDR64 } }])], [1, ackPdu(1, 1, { ...NDR64 })], [0, req(2, 0, 3, Buffer.alloc(64))]],
    }]);
    const r = (await records(f)).find((x) => x.r.ptype === 0)!.r;
    expect(r.stub).toBeUndefined();
    expect(r.stubSkipped).toMatch(/NDR64/);
  });

  it('JSON: hypers as 0x + 16 hex digits, byte arrays as hex, GUIDs as strings, HRESULTs and statuses with their names', async () => {
    const oxid = 0x0123456789abcdefn;
    const objref = encodeObjref({
      flags: OBJREF_STANDARD, iid: IRemUnknown2.uuid,
      std: { flags: 0, cPublicRefs: 5, oxid, oid: 0xfedcba9876543210n, ipid: '00001234-0000-0000-1111-222222222222' },
      saResAddr: { stringBindings: [{ towerId: 7, networkAddr: '10.0.0.5[49700]' }], securityBindings: [{ authnSvc: 10, authzSvc: 0xffff, principalName: '' }] },
    });
    const qiOut = ndr.encodeParams(IRemUnknown2.ops.RemQueryInterface2.out, {
      ORPCthat: { flags: 0, extensions: null },
      phr: [0, 0x80004002],
      ppMIF: [{ ulCntData: objref.length, abData: objref }, null],
      hresult: 0x80004002,
    }, { scope: { cIids: 2 } });
    const qiIn = ndr.encodeParams(IRemUnknown2.ops.RemQueryInterface2.in, {
      ORPCthis: { version: { MajorVersion: 5, MinorVersion: 7 }, flags: 0, reserved1: 0, cid: '11111111-2222-3333-4444-555555555555', extensions: null },
      ripid: '00001234-0000-0000-1111-222222222222', cIids: 2, iids: [IRemUnknown2.uuid, '00000000-0000-0000-c000-000000000046'],
    });
    const f = writeCapture([{
      serverPort: 49700,
      pdus: [
        [0, bindPdu(1, [{ ctxId: 0, uuid: IRemUnknown2.uuid, version: 0 }])], [1, ackPdu(1, 1)],
        [0, req(2, 0, 6, qiIn, FL | PFC.OBJECT_UUID, { object: '00009999-0000-0000-1111-222222222222' })],
        [1, resp(2, 0, qiOut)],
      ],
    }]);
    const [rq, rp] = (await records(f)).filter((x) => x.r.ptype === 0 || x.r.ptype === 2).map((x) => JSON.parse(recordJson(x.r)));
    expect(rq.stub.ORPCthis).toEqual({ version: { MajorVersion: 5, MinorVersion: 7 }, flags: 0, reserved1: 0, cid: '11111111-2222-3333-4444-555555555555', extensions: null });
    expect(rq.stub.iids).toEqual([IRemUnknown2.uuid, '00000000-0000-0000-c000-000000000046']);
    // MS-ERREF 2.1: 0x80004002 is E_NOINTERFACE
    expect(rp.stub.hresult).toBe(0x80004002);
    expect(rp.stub.hresultName).toBe('E_NOINTERFACE');
    expect(rp.stub.phrNames).toEqual(['S_OK', 'E_NOINTERFACE']);
    const o = rp.stub.ppMIF[0].objref;
    expect(rp.stub.ppMIF[1]).toBeNull();
    expect(o).toMatchObject({ flags: 1, flavour: 'OBJREF_STANDARD', iid: IRemUnknown2.uuid });
    expect(o.std).toEqual({ flags: 0, cPublicRefs: 5, oxid: '0x0123456789abcdef', oid: '0xfedcba9876543210', ipid: '00001234-0000-0000-1111-222222222222' });
    expect(o.saResAddr.stringBindings).toEqual([{ towerId: 7, networkAddr: '10.0.0.5[49700]' }]);
    expect(o.saResAddr.securityBindings).toEqual([{ authnSvc: 10, authzSvc: 0xffff, principalName: '' }]);
    // a tower's octets stay in the JSON as hex, floor by floor, beside their meaning (C706 Appendix L:
    // floor count, then per floor lhs length, lhs, rhs length, rhs)
    const g = writeCapture([{ pdus: [[0, bindPdu(1, [{ ctxId: 0, ...EPM }])], [1, ackPdu(1, 1)], [0, req(2, 0, 3, mapIn(4))]] }]);
    const m = JSON.parse(recordJson((await records(g)).find((x) => x.r.ptype === 0)!.r)).stub;
    const octets = tcpTower(TARGET, '0.0.0.0', 0);
    const floors = m.map_tower.tower.floors as Array<{ lhs: string; rhs: string }>;
    const rebuilt = Buffer.concat([Buffer.from([floors.length, 0]), ...floors.flatMap((f) => {
      const lhs = Buffer.from(f.lhs, 'hex');
      const rhs = Buffer.from(f.rhs, 'hex');
      return [Buffer.from([lhs.length, 0]), lhs, Buffer.from([rhs.length, 0]), rhs];
    })]);
    expect(rebuilt).toEqual(octets);
    expect(m.map_tower.tower_length).toBe(octets.length);
    expect(floors[0]).toMatchObject({ protocol: 0x0d, uuid: TARGET.uuid, versionMajor: 1, versionMinor: 0 });
    expect(m.entry_handle).toEqual({ attributes: 0, uuid: NIL });
    // ept_s_not_registered (C706 Appendix O; MS-RPCE 2.2.1.2.5) in a status field
    const h = writeCapture([{ pdus: [[0, bindPdu(1, [{ ctxId: 0, ...EPM }])], [1, ackPdu(1, 1)], [0, req(2, 0, 3, mapIn(4))], [1, resp(2, 0, mapOut(4, [], 0x16c9a0d6))]] }]);
    const nr = JSON.parse(recordJson((await records(h)).find((x) => x.r.ptype === 2)!.r)).stub;
    expect(nr).toMatchObject({ num_towers: 0, status: 0x16c9a0d6, statusName: 'ept_s_not_registered' });
  });
});

function remQiIn(): Buffer {
  return ndr.encodeParams(IRemUnknown2.ops.RemQueryInterface.in, {
    ORPCthis: { version: { MajorVersion: 5, MinorVersion: 7 }, flags: 0, reserved1: 0, cid: '11111111-2222-3333-4444-555555555555', extensions: null },
    ripid: '00001234-0000-0000-1111-222222222222', cRefs: 5, cIids: 1, iids: ['00000000-0000-0000-c000-000000000046'],
  });
}

describe('dcomlab dissect -V / -x / --no-stubs (the built CLI)', () => {
  let file = '';
  beforeAll(() => {
    const objref = encodeObjref({
      flags: OBJREF_STANDARD, iid: '00000000-0000-0000-c000-000000000046',
      std: { flags: 0, cPublicRefs: 5, oxid: 0x1122334455667788n, oid: 0x99aabbccddeeff00n, ipid: '0000abcd-0000-0000-1111-222222222222' },
      saResAddr: { stringBindings: [{ towerId: 7, networkAddr: '10.0.0.5' }], securityBindings: [{ authnSvc: 10, authzSvc: 0xffff, principalName: '' }] },
    });
    const out = ndr.encodeParams(IRemUnknown2.ops.RemQueryInterface2.out, {
      ORPCthat: { flags: 0, extensions: null }, phr: [0], ppMIF: [{ ulCntData: objref.length, abData: objref }], hresult: 0,
    }, { scope: { cIids: 1 } });
    const inp = ndr.encodeParams(IRemUnknown2.ops.RemQueryInterface2.in, {
      ORPCthis: { version: { MajorVersion: 5, MinorVersion: 7 }, flags: 0, reserved1: 0, cid: '11111111-2222-3333-4444-555555555555', extensions: null },
      ripid: '0000abcd-0000-0000-1111-222222222222', cIids: 1, iids: ['00000000-0000-0000-c000-000000000046'],
    });
    file = writeCapture([{
      serverPort: 49700,
      pdus: [
        [0, bindPdu(1, [{ ctxId: 0, uuid: IRemUnknown2.uuid, version: 0 }, { ctxId: 1, uuid: '12345678-1234-abcd-ef00-0123456789ab', version: 1 }])],
        [1, ackPdu(1, 2)],
        [0, req(2, 0, 6, inp)], [1, resp(2, 0, out)],
        [0, req(3, 1, 9, Buffer.from('unknown interface stub!!'))],
      ],
    }]);
  });
  const run = (...args: string[]) => {
    const r = spawnSync(process.execPath, [CLI, 'dissect', file, ...args], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    return r.stdout;
  };

  it('-V: a tree under each call, with COM versions, OBJREFs, OXID/OID/IPID, bindings and HRESULTs by name', () => {
    const lines = run('-V').split('\n').map((l) => l.trim());
    expect(lines).toContain('version: COMVERSION 5.7');
    expect(lines).toContain('cid: 11111111-2222-3333-4444-555555555555');
    expect(lines).toContain('OBJREF STANDARD IID 00000000-0000-0000-c000-000000000046');
    expect(lines).toContain('OXID 0x1122334455667788');
    expect(lines).toContain('OID 0x99aabbccddeeff00');
    expect(lines).toContain('IPID 0000abcd-0000-0000-1111-222222222222');
    expect(lines.some((l) => /^StringBinding TowerId 0x0007 \(ncacn_ip_tcp\) NetworkAddr 10\.0\.0\.5$/.test(l))).toBe(true);
    expect(lines).toContain('hresult: HRESULT S_OK 0x00000000');
    // an interface without a definition: its stub's length, and -x to see it
    expect(lines.some((l) => /^stub: 24 bytes \(interface not defined by dcomlab; -x dumps it\)$/.test(l))).toBe(true);
  });

  it('-x: a hex dump of each stub', () => {
    const out = run('-x');
    const hex = Buffer.from('unknown interface stub!!').toString('hex').replace(/(..)/g, '$1 ').trim();
    expect(out).toContain(`0000  ${hex.slice(0, 23)}  ${hex.slice(24, 47)}`);
    expect(out).toContain('unknown interface stub!!'.slice(0, 16));
  });

  it('jsonl has the stub by default; --no-stubs leaves it out', () => {
    const rows = run('--format', 'jsonl').trim().split('\n').map((l) => JSON.parse(l));
    expect(rows.find((r) => r.ptype === 2).stub.phrNames).toEqual(['S_OK']);
    const plain = run('--format', 'jsonl', '--no-stubs').trim().split('\n').map((l) => JSON.parse(l));
    expect(plain.every((r) => r.stub === undefined)).toBe(true);
    expect(plain.length).toBe(rows.length);
  });
});

describe('non-ASCII strings in stubs', () => {
  // A wchar_t network address and principal name (MS-DCOM 2.2.19.3/2.2.19.4 are UTF-16) with a
  // Cyrillic name, an accent and a character outside the BMP.
  const ADDR = 'сервер-é[49700]';
  const PRINCIPAL = 'DOMÄIN\\🐧user';
  function capture(): string {
    const objref = encodeObjref({
      flags: OBJREF_STANDARD, iid: IRemUnknown2.uuid,
      std: { flags: 0, cPublicRefs: 1, oxid: 1n, oid: 2n, ipid: '00001234-0000-0000-1111-222222222222' },
      saResAddr: { stringBindings: [{ towerId: 7, networkAddr: ADDR }], securityBindings: [{ authnSvc: 10, authzSvc: 0xffff, principalName: PRINCIPAL }] },
    });
    const qiOut = ndr.encodeParams(IRemUnknown2.ops.RemQueryInterface2.out, {
      ORPCthat: { flags: 0, extensions: null }, phr: [0], ppMIF: [{ ulCntData: objref.length, abData: objref }], hresult: 0,
    }, { scope: { cIids: 1 } });
    const qiIn = ndr.encodeParams(IRemUnknown2.ops.RemQueryInterface2.in, {
      ORPCthis: { version: { MajorVersion: 5, MinorVersion: 7 }, flags: 0, reserved1: 0, cid: '11111111-2222-3333-4444-555555555555', extensions: null },
      ripid: '00001234-0000-0000-1111-222222222222', cIids: 1, iids: [IRemUnknown2.uuid],
    });
    return writeCapture([{
      serverPort: 49700,
      pdus: [
        [0, bindPdu(1, [{ ctxId: 0, uuid: IRemUnknown2.uuid, version: 0 }])], [1, ackPdu(1, 1)],
        [0, req(2, 0, 6, qiIn, FL | PFC.OBJECT_UUID, { object: '00009999-0000-0000-1111-222222222222' })],
        [1, resp(2, 0, qiOut)],
      ],
    }]);
  }

  it('jsonl is ASCII (escaped as \\uXXXX) and parses back to the strings; -V prints them as UTF-8', () => {
    const f = capture();
    const jsonl = spawnSync(process.execPath, [CLI, 'dissect', f, '-f', 'jsonl']);
    expect(jsonl.status).toBe(0);
    expect(jsonl.stdout.every((b) => b < 0x80)).toBe(true);
    const rows = jsonl.stdout.toString('utf8').trim().split('\n').map((l) => JSON.parse(l));
    const o = rows.find((r) => r.ptype === 2).stub.ppMIF[0].objref;
    expect(o.saResAddr.stringBindings).toEqual([{ towerId: 7, networkAddr: ADDR }]);
    expect(o.saResAddr.securityBindings[0].principalName).toBe(PRINCIPAL);
    const text = spawnSync(process.execPath, [CLI, 'dissect', f, '-V']);
    expect(text.status).toBe(0);
    expect(isUtf8(text.stdout)).toBe(true);
    const out = text.stdout.toString('utf8');
    expect(out).toContain(ADDR);
    expect(out).toContain(JSON.stringify(PRINCIPAL));
  });

  it('recordJson escapes non-ASCII error texts and interface names too', async () => {
    const [x] = (await records(capture())).filter((y) => y.r.ptype === 2);
    const r = { ...x!.r, error: 'bad — ünïcode 🐧', interface: { uuid: IRemUnknown2.uuid, version: '0.0', name: 'IRémUnknown2' } } as PduRecord;
    const line = recordJson(r);
    expect(/^[\x00-\x7f]*$/.test(line)).toBe(true);
    expect(JSON.parse(line)).toEqual(JSON.parse(JSON.stringify(r)));
  });
});

describe('stubs in the project\'s captures', () => {
  it('every record of every capture, stubs decoded: the jsonl line parses to what JSON.stringify(record) gives', async () => {
    let stubs = 0;
    const bad: string[] = [];
    for (const f of [...listSharedCaptures(), ...listProjectCaptures()]) {
      await dissectCapture(f, (r) => {
        if (r.stub) stubs++;
        const line = recordJson(r);
        if (!/^[\x00-\x7f]*$/.test(line) && bad.length < 5) bad.push(`${f} frame ${r.frame}: not ASCII`);
        const mine = JSON.parse(line);
        const ref = JSON.parse(JSON.stringify(r));
        try {
          expect(mine).toEqual(ref);
        } catch {
          if (bad.length < 5) bad.push(`${f} frame ${r.frame}: ${recordJson(r).slice(0, 300)}`);
        }
      }, { decodeStubs: true, decodePdus: false });
    }
    expect(bad).toEqual([]);
    expect(stubs).toBeGreaterThan(200);
  });

  it('impacket-rpcdump-samba-epm: ept_lookup\'s two-fragment answer decodes to 53 entries and the closing status (pcaps/README.md)', async () => {
    const rs = (await records(path.join(PROJECT_PCAPS, 'impacket-rpcdump-samba-epm.pcapng'))).map((x) => x.r).filter((r) => r.ptype === 2);
    expect(rs.map((r) => r.fragLength)).toEqual([4280, 2452, 64]);
    expect(rs[0]!.stub).toBeUndefined();
    expect(rs[1]!.reassembled).toEqual({ fragments: 2, stubLength: 6684 });
    const first = JSON.parse(recordJson(rs[1]!)).stub;
    expect(first.num_ents).toBe(53);
    expect(first.entries).toHaveLength(53);
    expect(first.status).toBe(0);
    expect(JSON.parse(recordJson(rs[2]!)).stub).toMatchObject({ num_ents: 0, status: 0x16c9a0d6, statusName: 'ept_s_not_registered' });
  });
});
