// `--capture FILE.pcapng` of `dcomlab serve` and `dcomlab client`: the recordings against real peers.
//
// 1. `dcomlab serve --capture` (127.0.0.5:135, as dcom-impacket.test.ts) while Impacket's DCOM client
//    (tools/peers/dcom_lab_client.py, PKT_PRIVACY) activates CServer and calls it; dumpcap captures the
//    same traffic on lo for comparison. Then: serve stops on SIGTERM with the file complete; the file
//    holds, connection by connection, exactly the bytes dumpcap saw; one interface per listener; the
//    section comment names LAB\alice (never the password); tshark dissects the DCE/RPC on 135 and on the
//    exporter's port, finds nothing malformed and no error, and with `-o ntlmssp.nt_password:` decrypts
//    the sealed activation and pings (without it, it cannot).
//
//    One frame is the exception with the password: Impacket's SimplePing request. tshark 4.0 decrypts
//    its 8-byte stub correctly (it is the set id) and then raises "Malformed Packet (Exception
//    occurred)" in the DCE/RPC dissector; it does the same on dumpcap's capture of the same traffic,
//    and not at all without the password. The test asserts that the recording's malformed frames are
//    exactly the wire capture's, PDU for PDU.
//
// 2. `dcomlab client --capture` against `dcomlab serve --capture` (127.0.0.13 and 127.0.0.12, resolver
//    port 11138, the SP2 lab's process-identity callback): the client's recording has its activation
//    connection, its exporter connection, and the server's two connections back (OXID resolution and
//    the BackwardCall callback); the server's recording has the same four connections with the same
//    bytes; tshark finds nothing malformed, sees the callback authenticate as LAB\dcomsvc, and with the
//    client account's password decrypts ForwardCall (PKT_PRIVACY), whose stub carries the OBJREF.
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { decodeTcp, readCapture, TcpReassembler, type Endpoint } from '../../src/capture';
import { describeWithPeers, PEERS_DIR, PEERS_ROOT } from '../support/peers';
import { captureSh } from '../support/capture-sh';
import { runTshark } from '../support/tshark';
import { ALICE } from '../support/auth-lab';
import { cli, parseJson, python, startCliServe, type CliServer, type Run } from './helpers';

const execFileAsync = promisify(execFile);
const CLIENT_PY = path.join(PEERS_DIR, 'dcom_lab_client.py');
const CLSID_CSERVER = '82d1ea8a-00f7-4c0c-9418-1bdca814dccb';
const IID_ICSERVER = '737ef2d6-dcd1-44df-a320-8c9d344cc7a8';
const IID_ICLIENTCALLBACK = '59ef5494-5d79-4ed8-a9f5-6b6ee4beb812';

const capture = captureSh;

interface Conn {
  client: Endpoint;
  server: Endpoint;
  toServer: Buffer;
  toClient: Buffer;
  gaps: number;
  iface: number;
}

const key = (c: { client: Endpoint; server: Endpoint }) => `${c.client.ip}:${c.client.port} > ${c.server.ip}:${c.server.port}`;

/** Each TCP connection of a capture (our reader and reassembler): endpoints, bytes each way, interface. */
async function connections(file: string): Promise<Map<string, Conn>> {
  const byStream: { client: Endpoint; server: Endpoint; toServer: Buffer[]; toClient: Buffer[]; gaps: number; iface: number }[] = [];
  const ifaceOf = new Map<number, number>();
  const r = new TcpReassembler((e) => {
    if (e.kind === 'open') byStream[e.stream] = { client: e.client, server: e.server, toServer: [], toClient: [], gaps: 0, iface: -1 };
    else if (e.kind === 'data') (e.dir === 0 ? byStream[e.stream]!.toServer : byStream[e.stream]!.toClient).push(Buffer.from(e.bytes));
    else if (e.kind === 'gap') byStream[e.stream]!.gaps++;
  });
  const s = await readCapture(file, (p) => {
    const seg = decodeTcp(p.linkType, p.data);
    if (!seg) return;
    const stream = r.push(p, seg);
    if (!ifaceOf.has(stream)) ifaceOf.set(stream, p.interfaceId);
  });
  r.end();
  if (s.warnings.length) throw new Error(`${file}: ${JSON.stringify(s.warnings)}`);
  const out = new Map<string, Conn>();
  byStream.forEach((c, i) => out.set(key(c), {
    client: c.client, server: c.server, toServer: Buffer.concat(c.toServer), toClient: Buffer.concat(c.toClient), gaps: c.gaps, iface: ifaceOf.get(i)!,
  }));
  return out;
}

/** `tshark -T fields` with extra options (decode-as, the NT password), one row per displayed frame. */
function fields(file: string, extra: string[], names: string[], filter?: string): string[][] {
  const args = [...extra, '-r', file, '-T', 'fields', '-E', 'header=n', '-E', 'occurrence=a', '-E', 'aggregator=,'];
  for (const n of names) args.push('-e', n);
  if (filter) args.push('-Y', filter);
  return runTshark(args).split('\n').filter(Boolean).map((l) => l.split('\t'));
}

/** The DCE/RPC PDUs tshark marks malformed or with an error-level expert item: "srcport>dstport call ptype". */
function badPdus(file: string, extra: string[]): string[] {
  return fields(file, extra, ['tcp.srcport', 'tcp.dstport', 'dcerpc.cn_call_id', 'dcerpc.pkt_type'], '_ws.malformed || _ws.expert.severity == error')
    .map(([sp, dp, call, pt]) => `${sp}>${dp} call ${call} ptype ${pt}`).sort();
}

/** The pcapng section comment, as capinfos prints it. */
async function sectionComment(file: string): Promise<string> {
  const { stdout } = await execFileAsync('capinfos', ['-k', file], { encoding: 'utf8' });
  return stdout;
}

/** The interface names (if_name) of a pcapng file, in order. */
function interfaceNames(file: string): string[] {
  const b = readFileSync(file);
  const names: string[] = [];
  for (let o = 0; o < b.length; o += b.readUInt32LE(o + 4)) {
    if (b.readUInt32LE(o) !== 1) continue;
    const end = o + b.readUInt32LE(o + 4) - 4;
    for (let p = o + 16; p + 4 <= end;) {
      const code = b.readUInt16LE(p);
      const len = b.readUInt16LE(p + 2);
      if (code === 0) break;
      if (code === 2) names.push(b.toString('utf8', p + 4, p + 4 + len));
      p += 4 + ((len + 3) & ~3);
    }
  }
  return names;
}

async function waitForExit(s: CliServer) {
  return s.stop();
}

// ------------------------------------------------------------------------------------------------

interface PyOut {
  create: { oxid: string; oid: string; ipid: string; bindings: { tower: number; addr: string }[] } | { error: string };
  ping?: { echo: number; hr: number };
  whoami?: { identity: string; hr: number };
  ping1?: { setid: string; oids: string[] };
}

describeWithPeers(['impacket', 'tshark'], 'dcomlab serve --capture: a recording of Impacket’s DCOM session', () => {
  const HOST = '127.0.0.5';
  const dir = path.join(PEERS_ROOT, `recording-${process.pid}`);
  const rec = path.join(dir, 'serve.pcapng');
  const wire = path.join(dir, 'wire.pcapng');
  let exporterPort = 0;
  let out: PyOut;
  let exit: { code: number | null; signal: NodeJS.Signals | null };
  let serveOut = '';
  const passed = new Set<string>();
  const decodeAs = () => ['-d', `tcp.port==${exporterPort},dcerpc`];
  const withPassword = () => [...decodeAs(), '-o', `ntlmssp.nt_password:${ALICE.password}`];

  beforeAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    await capture('start', dir, wire, `host ${HOST}`);
    try {
      const s = await startCliServe(['--host', HOST, '--resolver-port', '135', '--user', ALICE.spec, '--capture', rec, '--log-level', 'warn'],
        'object exporter listening on');
      try {
        serveOut = s.stdout();
        exporterPort = Number(/object exporter listening on 127\.0\.0\.5:(\d+)/.exec(serveOut)?.[1]);
        const r = await python(CLIENT_PY, ['--target', HOST, '--user', ALICE.user, '--domain', ALICE.domain, '--password', ALICE.password, '--level', 'privacy'], 90_000);
        out = parseJson<PyOut>(r, 'dcom_lab_client.py');
      } finally {
        exit = await waitForExit(s);
      }
    } finally {
      await capture('stop', dir);
    }
  }, 120_000);

  afterAll(() => {
    if (passed.size === 7) rmSync(dir, { recursive: true, force: true });
  });

  it("Impacket's session worked, and serve stopped on SIGTERM with exit status 0", () => {
    expect(exporterPort).toBeGreaterThan(0);
    expect('error' in out.create, JSON.stringify(out.create)).toBe(false);
    expect(out.ping).toEqual({ echo: 41, hr: 0 });
    expect(out.whoami).toEqual({ identity: 'LAB\\alice', hr: 0 });
    expect(exit).toMatchObject({ code: 0, signal: null });
    passed.add('session');
  });

  it('the recording holds, connection by connection, exactly the bytes dumpcap saw on the wire', async () => {
    const ours = await connections(rec);
    const theirs = await connections(wire);
    // Activation, exporter, three ping connections, ServerAlive2, ResolveOxid2, the bad ResolveOxid2.
    expect(ours.size).toBeGreaterThanOrEqual(6);
    expect([...ours.keys()].sort()).toEqual([...theirs.keys()].sort());
    for (const [k, c] of ours) {
      const w = theirs.get(k)!;
      expect(c.gaps, k).toBe(0);
      expect(c.toServer.equals(w.toServer), `${k}: client to server`).toBe(true);
      expect(c.toClient.equals(w.toClient), `${k}: server to client`).toBe(true);
    }
    passed.add('bytes');
  });

  it('one interface per listener (the resolver on 135, the exporter), each connection on its listener', async () => {
    expect(interfaceNames(rec)).toEqual([`dcomlab ${HOST}:135`, `dcomlab ${HOST}:${exporterPort}`]);
    for (const c of (await connections(rec)).values()) expect(c.iface).toBe(c.server.port === 135 ? 0 : 1);
    passed.add('interfaces');
  });

  it('the section comment names LAB\\alice and how to decrypt, never the password', async () => {
    const comment = await sectionComment(rec);
    expect(comment).toContain('NTLM accounts: LAB\\alice');
    expect(comment).toContain('ntlmssp.nt_password');
    expect(readFileSync(rec).includes(Buffer.from(ALICE.password))).toBe(false);
    passed.add('comment');
  });

  it('tshark, without the password: DCE/RPC dissected on 135 and on the exporter port, nothing malformed, no error', () => {
    expect(badPdus(rec, decodeAs())).toEqual([]);
    const requests = fields(rec, decodeAs(), ['tcp.dstport', 'dcerpc.opnum', 'dcerpc.auth_level'], 'dcerpc.pkt_type == 0');
    // RemoteCreateInstance (ISystemActivator opnum 4) sealed on 135.
    expect(requests).toContainEqual(['135', '4', '6']);
    // On the exporter (bound at PKT_INTEGRITY after authnHint 4): ICServer Ping (4), WhoAmI (5), ForwardCall (3).
    const onExporter = requests.filter(([p]) => p === String(exporterPort));
    for (const op of ['3', '4', '5']) expect(onExporter).toContainEqual([String(exporterPort), op, '5']);
    const binds = fields(rec, decodeAs(), ['tcp.dstport', 'dcerpc.cn_bind_to_uuid'], 'dcerpc.pkt_type == 11').map(([p, u]) => `${p} ${u}`);
    expect(binds).toContain(`${exporterPort} ${IID_ICSERVER}`);
    // Nothing from the sealed stubs is decoded without the password.
    expect(fields(rec, decodeAs(), ['frame.number'], 'isystemactivator.properties.instninfo.clsid || oxid.oid')).toEqual([]);
    passed.add('plain');
  });

  it("tshark, with the account's password: the sealed activation and pings decrypt and decode", () => {
    const clsids = fields(rec, withPassword(), ['isystemactivator.properties.instninfo.clsid'], 'isystemactivator.properties.instninfo.clsid').flat();
    expect(clsids).toEqual([CLSID_CSERVER]); // the RemoteCreateInstance request
    const oids = fields(rec, withPassword(), ['oxid.oid'], 'oxid.oid').flatMap((r) => r[0]!.split(','));
    const created = out.ping1!.oids[0]!;
    expect(oids.map((o) => BigInt(o))).toContain(BigInt(created)); // ComplexPing's AddToSet
    const users = fields(rec, withPassword(), ['ntlmssp.auth.username', 'ntlmssp.auth.domain'], 'ntlmssp.messagetype == 3');
    expect(users.length).toBeGreaterThanOrEqual(6);
    for (const u of users) expect(u).toEqual(['alice', 'LAB']);
    passed.add('decrypt');
  });

  it("with the password, tshark's only complaints are the ones it has about the same traffic on the wire", () => {
    const ours = badPdus(rec, withPassword());
    const theirs = badPdus(wire, withPassword());
    expect(ours).toEqual(theirs);
    // Today that is Impacket's SimplePing request (IObjectExporter opnum 1), see the header.
    expect(ours.length).toBeLessThanOrEqual(1);
    passed.add('same-complaints');
  });
});

// ------------------------------------------------------------------------------------------------

describeWithPeers(['tshark'], 'dcomlab client --capture: the client box records its calls and the callback', () => {
  const SERVER = '127.0.0.12';
  const CLIENT = '127.0.0.13';
  const PORT = '11138';
  const ADMIN_PASSWORD = 'Adm1n-Lab!';
  const dir = path.join(PEERS_ROOT, `recording-client-${process.pid}`);
  const clientRec = path.join(dir, 'client.pcapng');
  const serverRec = path.join(dir, 'server.pcapng');
  let run: Run;
  let exporterPort = 0;
  let exit: { code: number | null; signal: NodeJS.Signals | null };
  const passed = new Set<string>();
  const decodeAs = ['-d', `tcp.port==${PORT},dcerpc`];

  beforeAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const s = await startCliServe(['--host', SERVER, '--resolver-port', PORT, '--callback-identity', 'process',
      '--process-user', 'LAB\\dcomsvc:Svc-Lab1!', '--admin', `LAB\\labadmin:${ADMIN_PASSWORD}`, '--capture', serverRec, '--log-level', 'warn'],
    'object exporter listening on');
    try {
      exporterPort = Number(/object exporter listening on 127\.0\.0\.12:(\d+)/.exec(s.stdout())?.[1]);
      run = await cli(['client', '--server', SERVER, '--host', CLIENT, '--resolver-port', PORT, '--user', 'LAB\\labadmin', '--password', ADMIN_PASSWORD,
        '--accept', 'LAB\\dcomsvc:Svc-Lab1!', '--policy', 'pre-sp2', '--auth-level', 'privacy', '--capture', clientRec], 60_000);
    } finally {
      exit = await waitForExit(s);
    }
  }, 120_000);

  afterAll(() => {
    if (passed.size === 5) rmSync(dir, { recursive: true, force: true });
  });

  it('the callback ran as LAB\\dcomsvc, and both commands ended cleanly', () => {
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('BackwardCall(1) ran as LAB\\dcomsvc');
    expect(exit).toMatchObject({ code: 0, signal: null });
    passed.add('run');
  });

  it("the client's recording: its activation and exporter connections, the server's OXID resolution and callback", async () => {
    const conns = [...(await connections(clientRec)).values()];
    const shape = conns.map((c) => [c.client.ip, c.server.ip, c.server.port === Number(PORT) ? 'resolver' : c.server.ip === SERVER && c.server.port === exporterPort ? 'exporter' : 'other']);
    expect(shape).toEqual([
      [CLIENT, SERVER, 'resolver'], // RemoteCreateInstance
      [CLIENT, SERVER, 'exporter'], // ForwardCall, RemRelease
      [SERVER, CLIENT, 'resolver'], // the server resolves the callback's OXID at the client box
      [SERVER, CLIENT, 'other'], // BackwardCall on the client box's exporter
    ]);
    const callbackPort = conns[3]!.server.port;
    expect(interfaceNames(clientRec)).toEqual([`dcomlab ${CLIENT}:${PORT}`, `dcomlab ${CLIENT}:${callbackPort}`, `dcomlab ${CLIENT} outgoing`]);
    expect(conns.map((c) => c.iface)).toEqual([2, 2, 0, 1]);
    for (const c of conns) expect(c.gaps).toBe(0);
    passed.add('connections');
  });

  it("the server's recording has the same four connections with the same bytes", async () => {
    const a = await connections(clientRec);
    const b = await connections(serverRec);
    expect([...b.keys()].sort()).toEqual([...a.keys()].sort());
    for (const [k, c] of a) {
      expect(c.toServer.equals(b.get(k)!.toServer), k).toBe(true);
      expect(c.toClient.equals(b.get(k)!.toClient), k).toBe(true);
    }
    expect(interfaceNames(serverRec)).toEqual([`dcomlab ${SERVER}:${PORT}`, `dcomlab ${SERVER}:${exporterPort}`, `dcomlab ${SERVER} outgoing`]);
    passed.add('server');
  });

  it('tshark: nothing malformed; the callback authenticates as LAB\\dcomsvc; the password decrypts ForwardCall', () => {
    const pw = ['-o', `ntlmssp.nt_password:${ADMIN_PASSWORD}`];
    for (const f of [clientRec, serverRec]) {
      expect(badPdus(f, decodeAs), f).toEqual([]);
      expect(badPdus(f, [...decodeAs, ...pw]), f).toEqual([]);
    }
    const auths = fields(clientRec, decodeAs, ['tcp.dstport', 'ntlmssp.auth.domain', 'ntlmssp.auth.username'], 'ntlmssp.messagetype == 3');
    expect(auths.map(([, d, u]) => `${d}\\${u}`)).toEqual(['LAB\\labadmin', 'LAB\\labadmin', 'LAB\\dcomsvc', 'LAB\\dcomsvc']);
    // BackwardCall: IClientCallback opnum 3 on the client box's exporter.
    const binds = fields(clientRec, decodeAs, ['dcerpc.cn_bind_to_uuid'], 'dcerpc.pkt_type == 11').flat();
    expect(binds).toContain(IID_ICLIENTCALLBACK);
    // ForwardCall (ICServer opnum 3) at PKT_PRIVACY: its decrypted stub holds the callback's OBJREF ("MEOW").
    const forward = (extra: string[]) => fields(clientRec, [...decodeAs, ...extra], ['frame.number', 'dcerpc.decrypted_stub_data'],
      `tcp.dstport == ${exporterPort} && dcerpc.pkt_type == 0 && dcerpc.opnum == 3 && dcerpc.auth_level == 6`);
    const decrypted = forward(pw);
    expect(decrypted.length).toBe(1);
    expect(decrypted[0]![1]).toContain(Buffer.from('MEOW').toString('hex'));
    // The same request without the password: sealed, nothing decrypted.
    expect(forward([])).toEqual([[decrypted[0]![0], '']]);
    passed.add('tshark');
  });

  it("the client's section comment names its account and the callback account, never a password", async () => {
    const comment = await sectionComment(clientRec);
    expect(comment).toContain('LAB\\labadmin');
    expect(comment).toContain('LAB\\dcomsvc');
    const bytes = readFileSync(clientRec);
    expect(bytes.includes(Buffer.from(ADMIN_PASSWORD))).toBe(false);
    expect(bytes.includes(Buffer.from('Svc-Lab1!'))).toBe(false);
    passed.add('comment');
  });
});
