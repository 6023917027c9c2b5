// dcomlab's endpoint mapper and mgmt interface against Impacket 0.10 (python3-impacket), over real
// loopback sockets. Impacket dials port 135, so every dcomlab server here listens on 127.0.0.x:135
// with x ≠ 1 (Samba may hold 127.0.0.1:135 in another suite):
//   127.0.0.5  in-process: EPM + mgmt + a test interface, 5 registered endpoints
//   127.0.0.6  in-process: EPM with 1,200 registered endpoints (ept_lookup takes 3 rounds of 500)
//   127.0.0.7  the built CLI, `dcomlab serve --config FILE`
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import * as ndr from '../../src/ndr';
import {
  dispatcherFor, epm, EpmDatabase, epmLookup, RpcServer, serveEndpointMapper, serveMgmt,
} from '../../src/rpc';
import { describeWithPeers, impacketExample, IMPACKET_PYTHON } from '../support/peers';
import {
  cli, EPM_LIST_PY, MGMT_IFIDS_PY, parseJson, python, run, sortedRows, startCliServe,
  type CliServer, type ImpacketEntry, type Run,
} from './helpers';

const NIL = '00000000-0000-0000-0000-000000000000';
const EPT_S_NOT_REGISTERED = 0x16c9a0d6;
const RPC_S_ACCESS_DENIED = 5;

/** An interface the 127.0.0.5 server really serves (mgmt inq_if_ids must list it). */
const testIface = ndr.iface('DcomlabInteropTest', '5f1d7c2a-9e3b-4c61-8a0d-2b7e4f9c1a35', 1, 0, {
  add: ndr.op(0, { in: { a: ndr.u32, b: ndr.u32 }, out: { sum: ndr.u32 } }),
});

interface Endpoint {
  uuid: string;
  /** "M.m" */
  version: string;
  port: number;
  annotation: string;
  object?: string;
}

const ver = (v: string): number => {
  const [major, minor] = v.split('.').map(Number) as [number, number];
  return (major | (minor << 16)) >>> 0;
};

/** Rows as Impacket shows an ncacn_ip_tcp entry: [uuid, version, binding, annotation, object, protseq, floors]. */
type Row = [string, string, string, string, string, string, number];
const rowOf = (e: ImpacketEntry): Row => [e.uuid ?? '', e.version ?? '', e.binding ?? '', e.annotation, e.object, e.protseq ?? '', e.floors];
const expectedRow = (host: string, e: Endpoint): Row =>
  [e.uuid, e.version, `ncacn_ip_tcp:${host}[${e.port}]`, e.annotation, e.object ?? NIL, 'ncacn_ip_tcp', 5];

/** "round N: num_ents=N status=0x... handle=null|set" lines epm_list.py writes to stderr. */
function rounds(r: Run): string[] {
  return r.stderr.split('\n').filter((l) => l.startsWith('round '));
}

async function impacketLookup(host: string): Promise<{ entries: ImpacketEntry[]; rounds: string[] }> {
  const r = await python(EPM_LIST_PY, [host]);
  return { entries: parseJson<ImpacketEntry[]>(r, `epm_list.py ${host}`), rounds: rounds(r) };
}

async function rpcdump(host: string): Promise<{ code: number | null; lines: string[]; text: string }> {
  const r = await run(IMPACKET_PYTHON, [impacketExample('rpcdump.py'), host], { timeoutMs: 60_000 });
  const text = r.stdout + r.stderr;
  return { code: r.code, lines: text.split('\n'), text };
}

/**
 * What rpcdump prints for our endpoints: a "UUID    : UUID vM.m annotation" line (Impacket's bin_to_string:
 * upper case; the annotation is the wire string minus its last byte, the NUL) and the binding under it.
 */
function expectRpcdumpShows(lines: string[], host: string, eps: Endpoint[]): void {
  for (const e of eps) {
    const i = lines.indexOf(`UUID    : ${e.uuid.toUpperCase()} v${e.version} ${e.annotation}`);
    expect(i, `rpcdump shows ${e.uuid} v${e.version} with annotation ${JSON.stringify(e.annotation)}`).toBeGreaterThan(-1);
    expect(lines[i + 1]).toBe('Bindings: ');
    expect(lines[i + 2]).toBe(`          ncacn_ip_tcp:${host}[${e.port}]`);
  }
}

interface MapResult { binding?: string; error?: string; code?: number }

async function heptMap(host: string, uuid: string, version: string): Promise<{ exit: number | null; out: MapResult }> {
  const r = await python(EPM_LIST_PY, ['--map', uuid, version, host]);
  let out: MapResult;
  try {
    out = JSON.parse(r.stdout) as MapResult;
  } catch {
    throw new Error(`epm_list.py --map printed no JSON (exit ${r.code}): ${r.stderr}`);
  }
  return { exit: r.code, out };
}

// ---------------------------------------------------------------------------------------------------

describeWithPeers(['impacket'], 'dcomlab endpoint mapper (in-process, 127.0.0.5:135) seen by Impacket', () => {
  const HOST = '127.0.0.5';
  const ENDPOINTS: Endpoint[] = [
    { uuid: '6b1f0e9a-0d4c-4b6e-9a51-3c2f00000001', version: '1.0', port: 49701, annotation: 'dcomlab interop A' },
    // A non-nil object UUID and an empty annotation.
    { uuid: '6b1f0e9a-0d4c-4b6e-9a51-3c2f00000002', version: '2.3', port: 49702, annotation: '', object: 'c0ffee00-1234-5678-9abc-def012345678' },
    // 63 characters: the longest annotation ept_entry_t carries (char[64] with its NUL).
    { uuid: '6b1f0e9a-0d4c-4b6e-9a51-3c2f00000003', version: '1.5', port: 49703, annotation: 'C'.repeat(20) + ' sixty-three characters of annotation ' + 'c'.repeat(5) },
    { uuid: '6b1f0e9a-0d4c-4b6e-9a51-3c2f00000004', version: '4.1', port: 65535, annotation: 'highest port' },
    // The test interface, served on the endpoint mapper's own port.
    { uuid: testIface.uuid, version: '1.0', port: 135, annotation: 'dcomlab interop test interface' },
  ];
  let server: RpcServer;

  beforeAll(async () => {
    expect(ENDPOINTS[2]!.annotation).toHaveLength(63);
    server = new RpcServer();
    const db = new EpmDatabase();
    serveEndpointMapper(server, db);
    serveMgmt(server);
    server.addInterface(dispatcherFor(testIface, { add: ({ a, b }) => ({ sum: (a + b) >>> 0 }) }));
    await server.listen({ host: HOST, port: 135 });
    for (const e of ENDPOINTS) db.registerTcp({ uuid: e.uuid, version: ver(e.version) }, HOST, e.port, e.annotation, e.object);
  });
  afterAll(async () => {
    await server?.close();
  });

  it('epm ept_lookup (Impacket NDR, loop until null handle) returns exactly the registered endpoints', async () => {
    const { entries, rounds: r } = await impacketLookup(HOST);
    expect(sortedRows(entries.map(rowOf))).toEqual(sortedRows(ENDPOINTS.map((e) => expectedRow(HOST, e))));
    // One round: all 5 entries, a null handle and status 0 (as Windows ends an enumeration).
    expect(r).toEqual(['round 1: num_ents=5 status=0x00000000 handle=null']);
  });

  it("Impacket's epm.hept_lookup (which raises on any non-zero status) returns the same entries", async () => {
    const code = [
      'import json',
      'from impacket.dcerpc.v5 import epm',
      'from impacket.uuid import bin_to_string',
      `es = epm.hept_lookup(${JSON.stringify(HOST)})`,
      'print(json.dumps([[bin_to_string(e["tower"]["Floors"][0]["InterfaceUUID"]).lower(), "%d.%d" % (e["tower"]["Floors"][0]["MajorVersion"], e["tower"]["Floors"][0]["MinorVersion"]), epm.PrintStringBinding(e["tower"]["Floors"]), e["annotation"][:-1].decode(), bin_to_string(e["object"]).lower()] for e in es]))',
    ].join('\n');
    const r = await run(IMPACKET_PYTHON, ['-c', code]);
    const rows = parseJson<string[][]>(r, 'epm.hept_lookup');
    expect(sortedRows(rows)).toEqual(sortedRows(ENDPOINTS.map((e) => expectedRow(HOST, e).slice(0, 5) as string[])));
  });

  it("Impacket's rpcdump.py lists every endpoint, exits 0 and reports no protocol failure", async () => {
    const d = await rpcdump(HOST);
    expect(d.code).toBe(0);
    expect(d.text).not.toContain('Protocol failed');
    expect(d.text).toContain(`[*] Received ${ENDPOINTS.length} endpoints.`);
    expectRpcdumpShows(d.lines, HOST, ENDPOINTS);
  });

  it('epm.hept_map finds registered (and compatible) versions; others raise ept_s_not_registered', async () => {
    const [a, b, dCompat, dExact, dNewerMinor, dOtherMajor, unknown] = await Promise.all([
      heptMap(HOST, ENDPOINTS[0]!.uuid, '1.0'),
      heptMap(HOST, ENDPOINTS[1]!.uuid, '2.3'), // registered with an object UUID; hept_map sends none
      heptMap(HOST, ENDPOINTS[3]!.uuid, '4.0'), // registered 4.1: same major, higher minor → compatible
      heptMap(HOST, ENDPOINTS[3]!.uuid, '4.1'),
      heptMap(HOST, ENDPOINTS[3]!.uuid, '4.2'),
      heptMap(HOST, ENDPOINTS[3]!.uuid, '3.1'),
      heptMap(HOST, '6b1f0e9a-0d4c-4b6e-9a51-3c2fffffffff', '1.0'),
    ]);
    expect(a).toEqual({ exit: 0, out: { binding: 'ncacn_ip_tcp:127.0.0.5[49701]' } });
    expect(b).toEqual({ exit: 0, out: { binding: 'ncacn_ip_tcp:127.0.0.5[49702]' } });
    expect(dCompat).toEqual({ exit: 0, out: { binding: 'ncacn_ip_tcp:127.0.0.5[65535]' } });
    expect(dExact).toEqual({ exit: 0, out: { binding: 'ncacn_ip_tcp:127.0.0.5[65535]' } });
    for (const miss of [dNewerMinor, dOtherMajor, unknown]) {
      expect(miss.exit).toBe(1);
      expect(miss.out.code).toBe(EPT_S_NOT_REGISTERED);
      expect(miss.out.error).toBe('DCERPC Runtime Error: code: 0x16c9a0d6 - ept_s_not_registered ');
    }
  });

  it("Impacket's mgmt client: inq_if_ids, inq_stats, is_server_listening, stop_server_listening", async () => {
    const before = { ...server.stats };
    const r = await python(MGMT_IFIDS_PY, [HOST, '135']);
    const out = parseJson<{
      if_ids: Array<{ uuid: string; version: string }>; if_ids_status: number;
      stats: { count: number; statistics: number[]; status: number };
      listening: { status: number; raw_status: number; return_value: number | null; stub_length: number };
      listening_helper: { status: number };
      stop: { error?: string; code?: number; type?: string; status?: number };
    }>(r, 'mgmt_ifids.py');
    // Every interface served on this endpoint except mgmt itself (epm v3.0 and the test interface).
    expect(sortedRows(out.if_ids.map((i) => [i.uuid, i.version] as const))).toEqual(
      sortedRows([[epm.uuid, '3.0'], [testIface.uuid, '1.0']] as const),
    );
    expect(out.if_ids_status).toBe(0);
    // inq_stats is the second call of the association: bind + 2 requests in, bind_ack + 1 response out,
    // 2 calls in (this one counts on arrival), 1 call out.
    expect(out.stats).toEqual({
      count: 4,
      statistics: [before.callsIn + 2, before.callsOut + 1, before.pktsIn + 3, before.pktsOut + 2],
      status: 0,
    });
    // status 0, then the boolean32 return value: listening.
    expect(out.listening).toEqual({ status: 0, raw_status: 0, return_value: 1, stub_length: 8 });
    expect(out.listening_helper).toEqual({ status: 0 });
    // Remote callers may not stop the server: rpc_s_access_denied in the status, not a fault.
    expect(out.stop).toEqual({ error: 'DCERPC Runtime Error: code: 0x5 - rpc_s_access_denied ', code: RPC_S_ACCESS_DENIED, type: 'DCERPCException' });
    // And it did not stop.
    expect(await epmLookup(HOST, 135)).toHaveLength(ENDPOINTS.length);
  });
});

// ---------------------------------------------------------------------------------------------------

describeWithPeers(['impacket'], 'dcomlab endpoint mapper with 1,200 entries (127.0.0.6:135) seen by Impacket', () => {
  const HOST = '127.0.0.6';
  const N = 1200;
  const ENDPOINTS: Endpoint[] = Array.from({ length: N }, (_, i) => ({
    uuid: `d0c0${i.toString(16).padStart(4, '0')}-1200-4000-8000-${(0xbeef0000 + i).toString(16).padStart(12, '0')}`,
    version: `${1 + (i % 3)}.${i % 7}`,
    port: 40000 + i,
    annotation: `bulk entry ${i}`,
    ...(i % 100 === 0 ? { object: `0b1ec700-0000-4000-8000-${i.toString(16).padStart(12, '0')}` } : {}),
  }));
  let server: RpcServer;

  beforeAll(async () => {
    server = new RpcServer();
    const db = new EpmDatabase();
    serveEndpointMapper(server, db);
    serveMgmt(server);
    await server.listen({ host: HOST, port: 135 });
    for (const e of ENDPOINTS) db.registerTcp({ uuid: e.uuid, version: ver(e.version) }, HOST, e.port, e.annotation, e.object);
  });
  afterAll(async () => {
    await server?.close();
  });

  it('Impacket gets all 1,200 in three rounds (500, 500, 200), no duplicates, nothing else', async () => {
    const { entries, rounds: r } = await impacketLookup(HOST);
    expect(entries).toHaveLength(N);
    const rows = entries.map(rowOf);
    expect(new Set(rows.map((x) => JSON.stringify(x))).size).toBe(N);
    expect(sortedRows(rows)).toEqual(sortedRows(ENDPOINTS.map((e) => expectedRow(HOST, e))));
    expect(r).toEqual([
      'round 1: num_ents=500 status=0x00000000 handle=set',
      'round 2: num_ents=500 status=0x00000000 handle=set',
      'round 3: num_ents=200 status=0x00000000 handle=null',
    ]);
  });

  it("rpcdump.py reports all 1,200 and no failure", async () => {
    const d = await rpcdump(HOST);
    expect(d.code).toBe(0);
    expect(d.text).not.toContain('Protocol failed');
    expect(d.text).toContain(`[*] Received ${N} endpoints.`);
    expectRpcdumpShows(d.lines, HOST, [ENDPOINTS[0]!, ENDPOINTS[499]!, ENDPOINTS[500]!, ENDPOINTS[N - 1]!]);
  });
});

// ---------------------------------------------------------------------------------------------------

describeWithPeers(['impacket'], '`dcomlab serve --config` (built CLI, 127.0.0.7:135) seen by Impacket', () => {
  const HOST = '127.0.0.7';
  const ENDPOINTS: Endpoint[] = [
    { uuid: '0c11e5e7-0000-4a00-b000-000000000001', version: '1.0', port: 50001, annotation: 'cli endpoint one' },
    { uuid: '0c11e5e7-0000-4a00-b000-000000000002', version: '3.2', port: 50002, annotation: 'cli endpoint two', object: '0b1ec7c1-0000-4000-8000-000000000002' },
    { uuid: '0c11e5e7-0000-4a00-b000-000000000003', version: '0.0', port: 50003, annotation: '' },
  ];
  let dir: string;
  let serve: CliServer | undefined;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'dcomlab-interop-serve-'));
    const config = path.join(dir, 'serve.json');
    writeFileSync(config, JSON.stringify({
      endpoints: ENDPOINTS.map((e) => ({
        interface: `${e.uuid}:${e.version}`, port: e.port, annotation: e.annotation, ...(e.object ? { object: e.object } : {}),
      })),
    }));
    serve = await startCliServe(['--host', HOST, '--config', config], `dcomlab: endpoint mapper listening on ${HOST}:135\n`);
  });
  afterAll(async () => {
    await serve?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('Impacket lists exactly the endpoints of the config file', async () => {
    const { entries, rounds: r } = await impacketLookup(HOST);
    expect(sortedRows(entries.map(rowOf))).toEqual(sortedRows(ENDPOINTS.map((e) => expectedRow(HOST, e))));
    expect(r).toEqual(['round 1: num_ents=3 status=0x00000000 handle=null']);
  });

  it('rpcdump.py lists them, exit 0, no protocol failure', async () => {
    const d = await rpcdump(HOST);
    expect(d.code).toBe(0);
    expect(d.text).not.toContain('Protocol failed');
    expect(d.text).toContain('[*] Received 3 endpoints.');
    expectRpcdumpShows(d.lines, HOST, ENDPOINTS);
  });

  it('`dcomlab epm lookup --json` and `epm map` agree with Impacket', async () => {
    const look = await cli(['epm', 'lookup', HOST, '--json']);
    expect(look.code).toBe(0);
    const mine = JSON.parse(look.stdout) as Array<{ object: string; annotation: string; iface?: { uuid: string; version: string }; binding?: string; protseq?: string }>;
    expect(sortedRows(mine.map((e) => [e.iface?.uuid ?? '', e.iface?.version ?? '', e.binding ?? '', e.annotation, e.object, e.protseq ?? '']))).toEqual(
      sortedRows(ENDPOINTS.map((e) => expectedRow(HOST, e).slice(0, 6) as string[])),
    );
    const [map, imp, miss] = await Promise.all([
      cli(['epm', 'map', HOST, `${ENDPOINTS[1]!.uuid}:3.2`]),
      heptMap(HOST, ENDPOINTS[1]!.uuid, '3.2'),
      cli(['epm', 'map', HOST, `${ENDPOINTS[0]!.uuid}:2.0`]),
    ]);
    expect(map).toMatchObject({ code: 0, stdout: 'ncacn_ip_tcp:127.0.0.7[50002]\n' });
    expect(imp.out.binding).toBe(map.stdout.trim());
    expect(miss.code).toBe(2);
    expect(miss.stdout).toBe('');
    expect(miss.stderr).toContain('ept_s_not_registered');
  });

  it('mgmt inq_if_ids lists what port 135 serves (epm, the OXID resolver, both activators); SIGTERM stops the server with exit 0', async () => {
    const out = parseJson<{ if_ids: Array<{ uuid: string; version: string }> }>(await python(MGMT_IFIDS_PY, [HOST]), 'mgmt_ifids.py');
    expect(out.if_ids).toEqual([
      { uuid: epm.uuid, version: '3.0' },
      { uuid: '99fcfec4-5260-101b-bbcb-00aa0021347a', version: '0.0' }, // IObjectExporter (MS-DCOM 3.1.2.5.1)
      { uuid: '000001a0-0000-0000-c000-000000000046', version: '0.0' }, // IRemoteSCMActivator (3.1.2.5.2.2)
      { uuid: '4d9f4ab8-7d1c-11cf-861e-0020af6e7c57', version: '0.0' }, // IActivation (3.1.2.5.2.1)
    ]);
    const s = serve!;
    serve = undefined;
    const stopped = await s.stop();
    expect(stopped).toMatchObject({ code: 0, signal: null });
    expect(stopped.ms).toBeLessThan(5000);
    expect(s.stderr()).toContain('"signal":"SIGTERM"');
    expect(s.stdout()).toMatch(new RegExp(`^dcomlab: endpoint mapper listening on ${HOST.replace(/\./g, '\\.')}:135\ndcomlab: object exporter listening on ${HOST.replace(/\./g, '\\.')}:\\d+ \\(OXID 0x[0-9a-f]{16}; [^\n]*\n$`));
  });
});
