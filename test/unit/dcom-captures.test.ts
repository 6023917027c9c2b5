// DCOM stubs from real captures, decoded with src/dcom definitions and checked against tshark's DCOM
// dissector (fields dcom.*), then re-encoded with the NDR trace replay to identical bytes.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, expect, it } from 'vitest';
import * as ndr from '../../src/ndr';
import { dissectCapture, type PduRecord } from '../../src/dissect/dissect';
import { findVerificationTrailer } from '../../src/rpc/verification-trailer';
import {
  decodeObjref, encodeObjref, IObjectExporter, IRemUnknown2, parseDualStringArray, OBJREF_STANDARD,
  type Objref,
} from '../../src/dcom';
import { describeWithPeers, isCI } from '../support/peers';
import { SHARED_PCAPS } from '../support/paths';

const CTXIDS = path.join(SHARED_PCAPS, 'suricata-verify', 'dcerpc-ctxids.pcap');
const KRB135 = path.join(SHARED_PCAPS, 'zeek', 'kerberos135_auth.pcapng');

const FIELDS = [
  'frame.number', 'dcom.version_major', 'dcom.version_minor', 'dcom.dualstringarray.tower_id',
  'dcom.dualstringarray.network_addr', 'dcom.dualstringarray.security_authn_svc',
  'dcom.dualstringarray.security_princ_name', 'dcom.oxid', 'dcom.ipid', 'dcom.hresult', 'dcom.iid',
] as const;
type Row = Record<(typeof FIELDS)[number], string[]>;

/** tshark's DCOM fields per frame; multiple occurrences of a field are kept in order. */
function tsharkDcom(file: string): Map<number, Row> {
  const out = execFileSync('tshark', [
    '-n', '-r', file, '-Y', 'dcom || oxid || remunk', '-T', 'fields', '-E', 'separator=\t', '-E', 'aggregator=\x01',
    ...FIELDS.flatMap((f) => ['-e', f]),
  ], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, stdio: ['ignore', 'pipe', 'pipe'] });
  const m = new Map<number, Row>();
  for (const line of out.split('\n')) {
    if (!line) continue;
    const cols = line.split('\t');
    const row = {} as Row;
    FIELDS.forEach((f, i) => { row[f] = cols[i] ? cols[i]!.split('\x01') : []; });
    m.set(Number(row['frame.number'][0]), row);
  }
  return m;
}

interface Call {
  rec: PduRecord;
  stub: Buffer;
}

async function dcomCalls(file: string): Promise<Call[]> {
  const calls: Call[] = [];
  await dissectCapture(file, (rec, pdu) => {
    if (!pdu || (rec.ptypeName !== 'request' && rec.ptypeName !== 'response')) return;
    const stub = (pdu as { stub?: Buffer }).stub;
    if (stub) calls.push({ rec, stub: Buffer.from(stub) });
  }, { decodePdus: true });
  return calls;
}

const hex64 = (v: bigint) => '0x' + v.toString(16).padStart(16, '0');
const hex32 = (v: number) => '0x' + (v >>> 0).toString(16).padStart(8, '0');

/** Decode a parameter list with a trace and re-encode it with the replay: identical bytes. */
function roundTrip<F extends ndr.Fields>(p: ndr.Params<F>, stub: Buffer, scope?: Record<string, unknown>): ndr.StructValue<F> {
  const vt = findVerificationTrailer(stub);
  const body = vt ? vt.stub : stub;
  const t = ndr.decodeParams(p, body, { trace: true, scope });
  // Whatever follows the NDR data is alignment padding before the verification trailer.
  expect(body.length - t.end).toBeLessThan(8);
  expect(body.subarray(t.end).every((b) => b === 0)).toBe(true);
  const again = ndr.encodeParams(p, t.value, { replay: t.trace, scope });
  expect(again.toString('hex')).toBe(body.subarray(0, t.end).toString('hex'));
  return t.value;
}

/** MInterfacePointers found in a stub: ulCntData, max_count (equal), then 'MEOW'. */
function findObjrefs(stub: Buffer): Buffer[] {
  const found: Buffer[] = [];
  for (let p = 8; p + 4 <= stub.length; p += 4) {
    if (stub.readUInt32LE(p) !== 0x574f454d) continue;
    const n = stub.readUInt32LE(p - 4);
    if (stub.readUInt32LE(p - 8) !== n || p + n > stub.length) continue;
    found.push(stub.subarray(p, p + n));
  }
  return found;
}

const needCaptures = () => {
  for (const f of [CTXIDS, KRB135]) {
    if (!existsSync(f)) {
      if (isCI()) throw new Error(`missing capture ${f}`);
      return false;
    }
  }
  return true;
};

describeWithPeers(['tshark'], 'DCOM stubs in real captures vs tshark', () => {
  let ctx: { calls: Call[]; ts: Map<number, Row> } | undefined;
  let krb: { calls: Call[]; ts: Map<number, Row> } | undefined;
  let have = true;
  beforeAll(async () => {
    have = needCaptures();
    if (!have) return;
    ctx = { calls: await dcomCalls(CTXIDS), ts: tsharkDcom(CTXIDS) };
    krb = { calls: await dcomCalls(KRB135), ts: tsharkDcom(KRB135) };
  }, 60_000);

  it('ServerAlive2 response: COM version and bindings as tshark shows them', (t) => {
    if (!have) return t.skip('captures not present');
    const resp = ctx!.calls.filter((c) => c.rec.interface?.uuid === IObjectExporter.uuid && c.rec.opnum === 5 && c.rec.ptypeName === 'response');
    const req = ctx!.calls.filter((c) => c.rec.interface?.uuid === IObjectExporter.uuid && c.rec.opnum === 5 && c.rec.ptypeName === 'request');
    expect(resp.length).toBe(1);
    expect(req.length).toBe(1);
    expect(roundTrip(IObjectExporter.ops.ServerAlive2.in, req[0]!.stub)).toEqual({});
    const v = roundTrip(IObjectExporter.ops.ServerAlive2.out, resp[0]!.stub);
    const row = ctx!.ts.get(resp[0]!.rec.frame)!;
    expect(row, `tshark row for frame ${resp[0]!.rec.frame}`).toBeDefined();
    expect(String(v.pComVersion.MajorVersion)).toBe(row['dcom.version_major'][0]);
    expect(String(v.pComVersion.MinorVersion)).toBe(row['dcom.version_minor'][0]);
    expect(v.error_status).toBe(0);
    const d = parseDualStringArray(v.ppdsaOrBindings!);
    expect(d.stringBindings.map((b) => b.networkAddr)).toEqual(row['dcom.dualstringarray.network_addr']);
    expect(d.stringBindings.map((b) => '0x' + b.towerId.toString(16).padStart(4, '0'))).toEqual(row['dcom.dualstringarray.tower_id']);
    expect(d.securityBindings.map((b) => '0x' + b.authnSvc.toString(16).padStart(4, '0'))).toEqual(row['dcom.dualstringarray.security_authn_svc']);
    expect(d.securityBindings.map((b) => b.principalName)).toEqual(row['dcom.dualstringarray.security_princ_name'].map((s) => s));
  });

  it('IRemUnknown2 RemQueryInterface / RemRelease: ORPCTHIS, IPIDs, OXIDs, HRESULTs as tshark shows them', (t) => {
    if (!have) return t.skip('captures not present');
    const calls = ctx!.calls.filter((c) => c.rec.interface?.uuid === IRemUnknown2.uuid);
    const pending = new Map<string, Record<string, unknown>>();
    let qi = 0;
    let rel = 0;
    for (const c of calls) {
      const op = IRemUnknown2.byOpnum(c.rec.opnum!) as ndr.Op<ndr.Fields, ndr.Fields> | undefined;
      expect(op, `opnum ${c.rec.opnum} in frame ${c.rec.frame}`).toBeDefined();
      const key = `${c.rec.stream}/${c.rec.callId}`;
      const row = ctx!.ts.get(c.rec.frame);
      expect(row, `tshark row for frame ${c.rec.frame}`).toBeDefined();
      if (c.rec.ptypeName === 'request') {
        const v = roundTrip(op!.in, c.stub) as Record<string, any>;
        pending.set(key, v);
        expect(String(v.ORPCthis.version.MajorVersion)).toBe(row!['dcom.version_major'][0]);
        expect(String(v.ORPCthis.version.MinorVersion)).toBe(row!['dcom.version_minor'][0]);
        if (op === (IRemUnknown2.ops.RemQueryInterface as unknown)) {
          // tshark lists the IPID the call is made to (the request's object UUID), then ripid.
          expect([c.rec.object, v.ripid]).toEqual(row!['dcom.ipid']);
          expect(v.iids).toEqual(row!['dcom.iid']);
        } else if (op === (IRemUnknown2.ops.RemRelease as unknown)) {
          expect(v.cInterfaceRefs).toBe(v.InterfaceRefs.length);
          expect([c.rec.object, ...v.InterfaceRefs.map((r: { ipid: string }) => r.ipid)]).toEqual(row!['dcom.ipid']);
        }
      } else {
        const inV = pending.get(key);
        expect(inV, `request for frame ${c.rec.frame}`).toBeDefined();
        const v = roundTrip(op!.out, c.stub, inV) as Record<string, any>;
        if (op === (IRemUnknown2.ops.RemQueryInterface as unknown)) {
          qi++;
          const res = v.ppQIResults as Array<{ hResult: number; std: { oxid: bigint; ipid: string } }>;
          expect(res.length).toBe(inV!.cIids);
          expect([...res.map((r) => hex32(r.hResult)), hex32(v.hresult)]).toEqual(row!['dcom.hresult']);
          expect(res.map((r) => hex64(r.std.oxid))).toEqual(row!['dcom.oxid']);
          for (const r of res) expect(row!['dcom.ipid']).toContain(r.std.ipid);
        } else {
          rel++;
          expect([hex32(v.hresult)]).toEqual(row!['dcom.hresult']);
        }
      }
    }
    expect(qi).toBeGreaterThanOrEqual(5);
    expect(rel).toBeGreaterThanOrEqual(3);
  });

  it('OBJREFs in activation replies: OXID, IPID, IID and resolver bindings as tshark shows them; exact re-encode', (t) => {
    if (!have) return t.skip('captures not present');
    let n = 0;
    const framesWithObjref: string[] = [];
    for (const [name, cap] of [['ctxids', ctx!], ['krb135', krb!]] as const) {
      for (const c of cap.calls) {
        if (c.rec.ptypeName !== 'response') continue;
        const row = cap.ts.get(c.rec.frame);
        for (const ab of findObjrefs(c.stub)) {
          const o: Objref = decodeObjref(ab);
          expect(encodeObjref(o).toString('hex')).toBe(ab.toString('hex'));
          // IClassFactory and other interfaces tshark does not decode have no DCOM row.
          if (!row) continue;
          expect(row['dcom.iid']).toContain(o.iid);
          if (o.flags === OBJREF_STANDARD) {
            n++;
            framesWithObjref.push(`${name}:${c.rec.frame}`);
            expect(row!['dcom.oxid']).toContain(hex64(o.std.oxid));
            expect(row!['dcom.ipid']).toContain(o.std.ipid);
            const addrs = row!['dcom.dualstringarray.network_addr'].join('\n');
            expect(addrs).toContain(o.saResAddr.stringBindings.map((b) => b.networkAddr).join('\n'));
            const princ = row!['dcom.dualstringarray.security_princ_name'].join('\n');
            expect(princ).toContain(o.saResAddr.securityBindings.map((b) => b.principalName).join('\n'));
          }
        }
      }
    }
    expect(n).toBeGreaterThanOrEqual(2);
    // RemoteGetClassObject (ctxids frame 17) and RemoteCreateInstance (krb135 frame 11) replies.
    expect(framesWithObjref).toContain('ctxids:17');
    expect(framesWithObjref).toContain('krb135:11');
  });
});
