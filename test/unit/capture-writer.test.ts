// The pcapng writer and the socket recorder (src/capture/pcapng-writer.ts, recorder.ts).
//
// - Block layout against draft-ietf-opsawg-pcapng, with lengths derived by hand below.
// - Synthetic connections recorded through the tap, read back with our reader and TCP reassembler:
//   the same bytes per direction, the right endpoints, handshake and close.
// - A real RpcServer and RpcConnection on loopback, each with its own recorder: both recordings hold
//   the bytes that crossed the socket, and agree with each other.
// - tshark (when installed) reads the recordings with IP and TCP checksum validation on: nothing
//   malformed, no expert item at warning level or above, the right number of TCP streams, and its
//   own reassembly of a stream gives the same bytes.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CaptureRecorder, decodeTcp, ipBytes, PcapngWriter, readCapture, recordingComment, TcpReassembler,
  EPB_INBOUND, EPB_OUTBOUND, type Endpoint,
} from '../../src/capture';
import { RpcConnection } from '../../src/rpc/client';
import { RpcServer } from '../../src/rpc/server';
import type { SocketTap, TapEvent } from '../../src/rpc/tap';
import { describeWithPeers } from '../support/peers';
import { runTshark } from '../support/tshark';

const dir = mkdtempSync(path.join(tmpdir(), 'dcomlab-capture-writer-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// ---- reading back ----------------------------------------------------------------------------

interface Block {
  type: number;
  offset: number;
  length: number;
  body: Buffer;
}

/** Every block of a little-endian pcapng file, checking the framing rules as it goes. */
function blocks(file: Buffer): Block[] {
  const out: Block[] = [];
  let o = 0;
  while (o < file.length) {
    const type = file.readUInt32LE(o);
    const length = file.readUInt32LE(o + 4);
    expect(length % 4, `block at ${o}: total length ${length} is a multiple of 4`).toBe(0);
    expect(length).toBeGreaterThanOrEqual(12);
    expect(file.readUInt32LE(o + length - 4), `block at ${o}: trailing total length`).toBe(length);
    out.push({ type, offset: o, length, body: file.subarray(o + 8, o + length - 4) });
    o += length;
  }
  expect(o).toBe(file.length);
  return out;
}

/** The options of a block body starting at `at`: every option 4-aligned, ended by opt_endofopt at the body's end. */
function options(body: Buffer, at: number): { code: number; value: Buffer }[] {
  const out: { code: number; value: Buffer }[] = [];
  if (at === body.length) return out; // no options at all
  let o = at;
  for (;;) {
    expect(o % 4, 'an option starts on a 32-bit boundary').toBe(at % 4);
    const code = body.readUInt16LE(o);
    const len = body.readUInt16LE(o + 2);
    if (code === 0) {
      expect(len).toBe(0);
      expect(o + 4, 'opt_endofopt is the last thing in the block').toBe(body.length);
      return out;
    }
    const value = body.subarray(o + 4, o + 4 + len);
    const padded = (len + 3) & ~3;
    expect(body.subarray(o + 4 + len, o + 4 + padded).every((b) => b === 0), 'option padding is zero').toBe(true);
    out.push({ code, value });
    o += 4 + padded;
  }
}

interface Stream {
  client: Endpoint;
  server: Endpoint;
  toServer: Buffer[];
  toClient: Buffer[];
  closed: boolean;
  gaps: number;
}

/** Our reader + TCP reassembly: each TCP conversation's endpoints and bytes per direction. */
async function streamsOf(file: string): Promise<{ streams: Stream[]; packets: number; flags: number[][]; ifaces: number[] }> {
  const streams: Stream[] = [];
  const flags: number[][] = [];
  const ifaces: number[] = [];
  const r = new TcpReassembler((e) => {
    if (e.kind === 'open') streams[e.stream] = { client: e.client, server: e.server, toServer: [], toClient: [], closed: false, gaps: 0 };
    else if (e.kind === 'data') (e.dir === 0 ? streams[e.stream]!.toServer : streams[e.stream]!.toClient).push(Buffer.from(e.bytes));
    else if (e.kind === 'close') streams[e.stream]!.closed = true;
    else streams[e.stream]!.gaps++;
  });
  const summary = await readCapture(file, (p) => {
    const seg = decodeTcp(p.linkType, p.data);
    if (!seg) throw new Error(`frame ${p.frame} is not TCP`);
    const s = r.push(p, seg);
    (flags[s] ??= []).push(seg.flags);
    ifaces[s] ??= p.interfaceId;
  });
  r.end();
  expect(summary.warnings).toEqual([]);
  expect(summary.format).toBe('pcapng');
  return { streams, packets: summary.packets, flags, ifaces };
}

const cat = (b: Buffer[]) => Buffer.concat(b);

// ---- the writer's blocks ---------------------------------------------------------------------

describe('pcapng writer: block layout (draft-ietf-opsawg-pcapng sections 3, 4.1-4.3)', () => {
  const file = path.join(dir, 'layout.pcapng');
  let bytes: Buffer;
  beforeAll(() => {
    const w = PcapngWriter.open(file, { comment: 'abc', userAppl: 'dcomlab test' });
    expect(w.addInterface({ name: 'lo0' })).toBe(0);
    expect(w.addInterface({ name: 'eth1', description: 'second', tsResol: 6 })).toBe(1);
    w.writePacket(0, Buffer.from('hello'), 1_700_000_000_123_456_789n, { comment: 'hi', flags: EPB_INBOUND });
    w.writePacket(1, [Buffer.from('ab'), Buffer.from('cd')], 1_700_000_000_123_456_789n);
    w.close();
    w.close(); // twice: harmless
    w.writePacket(0, Buffer.from('late')); // after close: dropped
    bytes = readFileSync(file);
  });

  it('SHB: type 0x0A0D0D0A, byte-order magic 0x1A2B3C4D, version 1.0, section length -1, comment and shb_userappl', () => {
    const [shb] = blocks(bytes);
    expect(shb!.type).toBe(0x0a0d0d0a);
    // 8 (type, length) + 4 (BOM) + 4 (version) + 8 (section length)
    // + opt_comment "abc": 4 + 4 (3 bytes padded) + shb_userappl "dcomlab test": 4 + 12 + opt_endofopt 4
    // + 4 (trailing length) = 56
    expect(shb!.length).toBe(56);
    expect(bytes.subarray(8, 12)).toEqual(Buffer.from([0x4d, 0x3c, 0x2b, 0x1a]));
    expect(shb!.body.readUInt16LE(4)).toBe(1);
    expect(shb!.body.readUInt16LE(6)).toBe(0);
    expect(shb!.body.readBigInt64LE(8)).toBe(-1n);
    expect(options(shb!.body, 16)).toEqual([
      { code: 1, value: Buffer.from('abc') },
      { code: 4, value: Buffer.from('dcomlab test') },
    ]);
    expect(bytes.subarray(24 + 4 + 3, 24 + 8)).toEqual(Buffer.from([0])); // "abc" padded with one zero
  });

  it('IDBs: link type 1, snaplen 262144, if_name, if_description, if_tsresol 9 (ns) or 6 (us)', () => {
    const [, idb0, idb1] = blocks(bytes);
    expect(idb0!.type).toBe(1);
    // 8 + 2 (link type) + 2 (reserved) + 4 (snaplen) + if_name "lo0" 4 + 4 + if_tsresol 4 + 4 + endofopt 4 + 4 = 40
    expect(idb0!.length).toBe(40);
    expect(idb0!.body.readUInt16LE(0)).toBe(1);
    expect(idb0!.body.readUInt16LE(2)).toBe(0);
    expect(idb0!.body.readUInt32LE(4)).toBe(262144);
    expect(options(idb0!.body, 8)).toEqual([{ code: 2, value: Buffer.from('lo0') }, { code: 9, value: Buffer.from([9]) }]);
    // 16 + if_name "eth1" 8 + if_description "second" 4 + 8 + if_tsresol 8 + endofopt 4 + 4 = 52
    expect(idb1!.length).toBe(52);
    expect(options(idb1!.body, 8)).toEqual([
      { code: 2, value: Buffer.from('eth1') }, { code: 3, value: Buffer.from('second') }, { code: 9, value: Buffer.from([6]) },
    ]);
  });

  it('EPBs: interface id, 64-bit timestamp in the interface units, lengths, padded data, opt_comment and epb_flags', () => {
    const all = blocks(bytes);
    expect(all.map((b) => b.type)).toEqual([0x0a0d0d0a, 1, 1, 6, 6]);
    const [epb0, epb1] = all.slice(3);
    // 8 + 4 (interface) + 8 (timestamp) + 4 (captured) + 4 (original) + "hello" 5 padded to 8
    // + opt_comment "hi" 4 + 4 + epb_flags 4 + 4 + endofopt 4 + 4 = 60
    expect(epb0!.length).toBe(60);
    const b0 = epb0!.body;
    expect(b0.readUInt32LE(0)).toBe(0);
    const ts = (BigInt(b0.readUInt32LE(4)) << 32n) | BigInt(b0.readUInt32LE(8));
    expect(ts).toBe(1_700_000_000_123_456_789n); // nanoseconds
    expect(b0.readUInt32LE(12)).toBe(5);
    expect(b0.readUInt32LE(16)).toBe(5);
    expect(b0.subarray(20, 28)).toEqual(Buffer.from('hello\0\0\0', 'latin1'));
    expect(options(b0, 28)).toEqual([{ code: 1, value: Buffer.from('hi') }, { code: 2, value: Buffer.from([1, 0, 0, 0]) }]);
    // No options: 8 + 20 + "abcd" 4 + 4 = 36, and no opt_endofopt either.
    expect(epb1!.length).toBe(36);
    const b1 = epb1!.body;
    expect(b1.readUInt32LE(0)).toBe(1);
    expect((BigInt(b1.readUInt32LE(4)) << 32n) | BigInt(b1.readUInt32LE(8))).toBe(1_700_000_000_123_456n); // microseconds
    expect(b1.subarray(20)).toEqual(Buffer.from('abcd'));
  });

  it('our reader reads it back: two packets, their interfaces, times and bytes', async () => {
    const seen: { frame: number; iface: number; sec: number; nsec: number; data: string }[] = [];
    const s = await readCapture(file, (p) => seen.push({ frame: p.frame, iface: p.interfaceId, sec: p.tsSec, nsec: p.tsNsec, data: p.data.toString() }));
    expect(s.warnings).toEqual([]);
    expect(seen).toEqual([
      { frame: 1, iface: 0, sec: 1_700_000_000, nsec: 123_456_789, data: 'hello' },
      { frame: 2, iface: 1, sec: 1_700_000_000, nsec: 123_456_000, data: 'abcd' },
    ]);
  });

  it('a packet larger than the write buffer, and many small ones, reach the file intact', async () => {
    const f = path.join(dir, 'big.pcapng');
    const w = PcapngWriter.open(f);
    w.addInterface({});
    const big = randomBytes(600_000);
    const small = Array.from({ length: 5000 }, (_, i) => Buffer.alloc(97, i & 0xff));
    for (const p of small.slice(0, 2500)) w.writePacket(0, p);
    w.writePacket(0, big);
    for (const p of small.slice(2500)) w.writePacket(0, p);
    w.close();
    const got: Buffer[] = [];
    await readCapture(f, (p) => got.push(Buffer.from(p.data)));
    expect(got.length).toBe(5001);
    expect(got[2500]!.equals(big)).toBe(true);
    expect(got.slice(0, 2500).every((p, i) => p.equals(small[i]!))).toBe(true);
    expect(got.slice(2501).every((p, i) => p.equals(small[2500 + i]!))).toBe(true);
  });

  it('now() is strictly increasing and near the wall clock', () => {
    const w = PcapngWriter.open(path.join(dir, 'clock.pcapng'));
    const t = Array.from({ length: 1000 }, () => w.now());
    w.close();
    for (let i = 1; i < t.length; i++) expect(t[i]! > t[i - 1]!).toBe(true);
    expect(Math.abs(Number(t[0]! / 1_000_000n) - Date.now())).toBeLessThan(5000);
  });
});

// ---- the recorder ----------------------------------------------------------------------------

describe('ipBytes', () => {
  it('IPv4, IPv4-mapped IPv6 (as IPv4), IPv6 forms, zones; null for anything else', () => {
    expect(ipBytes('127.0.0.5')).toEqual(Buffer.from([127, 0, 0, 5]));
    expect(ipBytes('::ffff:10.1.2.3')).toEqual(Buffer.from([10, 1, 2, 3]));
    expect(ipBytes('::1')!.toString('hex')).toBe('00000000000000000000000000000001');
    expect(ipBytes('2001:db8::a:b')!.toString('hex')).toBe('20010db80000000000000000000a000b');
    expect(ipBytes('fe80::1%lo')!.toString('hex')).toBe('fe800000000000000000000000000001');
    expect(ipBytes('64:ff9b::192.0.2.1')!.toString('hex')).toBe('0064ff9b0000000000000000c0000201');
    expect(ipBytes('1:2:3:4:5:6:7:8')!.toString('hex')).toBe('00010002000300040005000600070008');
    expect(ipBytes('not an address')).toBeNull();
    expect(ipBytes('')).toBeNull();
  });
});

/** Synthetic tap events for the recorder: five connections in both roles, IPv4, IPv6 and mapped. */
function syntheticSession(tap: SocketTap) {
  const rnd = (n: number) => randomBytes(n);
  const conns = {
    // accepted on 127.0.0.5:135, closed by the peer; a request larger than two segments
    a: { open: { type: 'open', conn: 9001, role: 'server', local: { address: '127.0.0.5', port: 135 }, remote: { address: '127.0.0.1', port: 50000 } } as TapEvent,
      data: [['in', rnd(72)], ['out', rnd(60)], ['in', rnd(200_000)], ['out', rnd(70_000)]] as const, close: { by: 'remote', reset: false } },
    // made from 10.1.2.3, closed by us
    b: { open: { type: 'open', conn: 9002, role: 'client', local: { address: '10.1.2.3', port: 40000 }, remote: { address: '10.1.2.4', port: 49700 } } as TapEvent,
      data: [['out', rnd(1)], ['in', rnd(3)], ['out', rnd(65_495)], ['in', rnd(65_496)]] as const, close: { by: 'local', reset: false } },
    // IPv6, reset by the peer
    c: { open: { type: 'open', conn: 9003, role: 'client', local: { address: '2001:db8::1', port: 40001 }, remote: { address: '2001:db8::2', port: 135 } } as TapEvent,
      data: [['out', rnd(5)], ['in', rnd(131_000)]] as const, close: { by: 'remote', reset: true } },
    // a dual-stack listener: IPv4-mapped addresses
    d: { open: { type: 'open', conn: 9004, role: 'server', local: { address: '::ffff:127.0.0.5', port: 135 }, remote: { address: '::ffff:127.0.0.9', port: 50001 } } as TapEvent,
      data: [['in', rnd(16)], ['out', rnd(16)]] as const, close: { by: 'local', reset: false } },
    // still open when the recording stops
    e: { open: { type: 'open', conn: 9005, role: 'server', local: { address: '127.0.0.5', port: 49152 }, remote: { address: '127.0.0.1', port: 50002 } } as TapEvent,
      data: [['in', rnd(10)]] as const, close: undefined },
  };
  const list = Object.values(conns);
  for (const c of list) tap(c.open);
  // Interleave the connections' chunks.
  for (let i = 0; i < 4; i++) {
    for (const c of list) {
      const d = c.data[i];
      if (d) tap({ type: 'data', conn: (c.open as { conn: number }).conn, dir: d[0], bytes: d[1] });
    }
  }
  for (const c of list) if (c.close) tap({ type: 'close', conn: (c.open as { conn: number }).conn, by: c.close.by as 'local' | 'remote', reset: c.close.reset });
  // Events of connections the recorder never saw open, and data after a close: ignored.
  tap({ type: 'data', conn: 1, dir: 'in', bytes: Buffer.from('x') });
  tap({ type: 'data', conn: 9001, dir: 'in', bytes: Buffer.from('late') });
  tap({ type: 'close', conn: 1, by: 'local', reset: false });
  return conns;
}

const bytesFor = (c: { data: readonly (readonly [string, Buffer])[] }, dir: 'in' | 'out') => Buffer.concat(c.data.filter((d) => d[0] === dir).map((d) => d[1]));

describe('recorder: synthesised Ethernet/IP/TCP around the bytes', () => {
  const file = path.join(dir, 'synthetic.pcapng');
  let conns: ReturnType<typeof syntheticSession>;
  let got: Awaited<ReturnType<typeof streamsOf>>;
  let raw: Buffer;
  beforeAll(async () => {
    const rec = CaptureRecorder.open(file, { comment: recordingComment('unit test', [{ name: 'LAB\\alice' }]) });
    rec.addListener('127.0.0.5', 135);
    conns = syntheticSession(rec.tap);
    expect(rec.openConnections).toBe(1);
    rec.close();
    rec.close();
    raw = readFileSync(file);
    got = await streamsOf(file);
  });

  it('one TCP stream per connection, with the real endpoints (client = the side that connected)', () => {
    expect(got.streams.map((s) => [`${s.client.ip}:${s.client.port}`, `${s.server.ip}:${s.server.port}`])).toEqual([
      ['127.0.0.1:50000', '127.0.0.5:135'],
      ['10.1.2.3:40000', '10.1.2.4:49700'],
      ['2001:db8::1:40001', '2001:db8::2:135'],
      ['127.0.0.9:50001', '127.0.0.5:135'],
      ['127.0.0.1:50002', '127.0.0.5:49152'],
    ]);
  });

  it('the same bytes per direction, no gaps, every stream closed', () => {
    const toServer = [bytesFor(conns.a, 'in'), bytesFor(conns.b, 'out'), bytesFor(conns.c, 'out'), bytesFor(conns.d, 'in'), bytesFor(conns.e, 'in')];
    const toClient = [bytesFor(conns.a, 'out'), bytesFor(conns.b, 'in'), bytesFor(conns.c, 'in'), bytesFor(conns.d, 'out'), bytesFor(conns.e, 'out')];
    got.streams.forEach((s, i) => {
      expect(cat(s.toServer).equals(toServer[i]!), `stream ${i} client->server`).toBe(true);
      expect(cat(s.toClient).equals(toClient[i]!), `stream ${i} server->client`).toBe(true);
      expect(s.gaps).toBe(0);
      expect(s.closed).toBe(true);
    });
  });

  it('handshake, segments at most one MSS, delayed ACKs, and the close: FIN exchange or RST', () => {
    const S = 0x02, SA = 0x12, A = 0x10, PA = 0x18, FA = 0x11, RA = 0x14;
    // a: in 72 (1 seg), out 60, in 200 000 (4 segments of <= 65 495; an ACK after every second full one), out 70 000 (2); FIN from the peer
    expect(got.flags[0]).toEqual([S, SA, A, PA, PA, A, A, A, A, PA, A, PA, FA, FA, A]);
    // b: out 1, in 3, out 65 495 (exactly one segment), in 65 496 (two); FIN from us
    expect(got.flags[1]).toEqual([S, SA, A, PA, PA, PA, A, PA, FA, FA, A]);
    // c: out 5, in 131 000 (three segments, an ACK after the second), then the peer's RST
    expect(got.flags[2]).toEqual([S, SA, A, PA, A, A, A, PA, RA]);
    // e: still open at close(): closed as if by us
    expect(got.flags[4]).toEqual([S, SA, A, PA, FA, FA, A]);
  });

  it('one interface per listener and per outgoing address, named after it; declared listeners first', () => {
    const idbs = blocks(raw).filter((b) => b.type === 1);
    const names = idbs.map((b) => options(b.body, 8).find((o) => o.code === 2)!.value.toString());
    expect(names).toEqual(['dcomlab 127.0.0.5:135', 'dcomlab 10.1.2.3 outgoing', 'dcomlab 2001:db8::1 outgoing', 'dcomlab 127.0.0.5:49152']);
    expect(got.ifaces).toEqual([0, 1, 2, 0, 3]);
  });

  it('the section names the application and the account, never a password', () => {
    const shb = blocks(raw)[0]!;
    const opts = options(shb.body, 16);
    expect(opts.find((o) => o.code === 4)!.value.toString()).toMatch(/^dcomlab \d+\.\d+\.\d+/);
    const comment = opts.find((o) => o.code === 1)!.value.toString();
    expect(comment).toContain('NTLM accounts: LAB\\alice.');
    expect(comment).toContain('tshark -o ntlmssp.nt_password:PASSWORD');
  });

  it('epb_flags say inbound or outbound from the recording side', async () => {
    const dirs: number[] = [];
    for (const b of blocks(raw).filter((x) => x.type === 6)) {
      const caplen = b.body.readUInt32LE(12);
      const flags = options(b.body, 20 + ((caplen + 3) & ~3)).find((o) => o.code === 2)!.value.readUInt32LE(0);
      dirs.push(flags);
    }
    // The first frames: a's SYN (in), SYN/ACK (out), ACK (in); then b's SYN (out: we connected).
    expect(dirs.slice(0, 4)).toEqual([EPB_INBOUND, EPB_OUTBOUND, EPB_INBOUND, EPB_OUTBOUND]);
  });
});

// ---- real sockets ------------------------------------------------------------------------------

const ECHO = { uuid: '3f0b7b5e-2c4a-4d2e-9d61-6a1b1c2d3e4f', version: 1, name: 'Echo' };

describe('recorder on real sockets: an RpcServer and an RpcConnection, each with its own recording', () => {
  const serverFile = path.join(dir, 'server.pcapng');
  const clientFile = path.join(dir, 'client.pcapng');
  let server: Awaited<ReturnType<typeof streamsOf>>;
  let client: Awaited<ReturnType<typeof streamsOf>>;
  let sent: Buffer[];
  let port: number;
  let clientPort: number;
  let events: TapEvent['type'][];
  beforeAll(async () => {
    const sr = CaptureRecorder.open(serverFile);
    const cr = CaptureRecorder.open(clientFile);
    events = [];
    const srv = new RpcServer({ tap: (e) => { events.push(e.type); sr.tap(e); } });
    srv.addInterface({ ...ECHO, opCount: 1, dispatch: async (_op, stub) => Buffer.concat([stub, stub]) });
    [{ port }] = await srv.listen({ host: '127.0.0.1', port: 0 });
    sr.addListener('127.0.0.1', port);
    sent = [randomBytes(10), randomBytes(30_000), randomBytes(3)];
    const conn = await RpcConnection.connect('127.0.0.1', port, { tap: cr.tap, callTimeoutMs: 10_000 });
    clientPort = conn.localPort;
    const ctx = await conn.bind(ECHO);
    for (const s of sent) expect((await conn.call(ctx, 0, s)).equals(Buffer.concat([s, s]))).toBe(true);
    await conn.close();
    // Let the server see the close first (else it sends a shutdown PDU the client never reads).
    for (let i = 0; i < 100 && srv.connectionCount > 0; i++) await new Promise((r) => setTimeout(r, 10));
    await srv.close();
    await new Promise((r) => setTimeout(r, 50));
    sr.close();
    cr.close();
    server = await streamsOf(serverFile);
    client = await streamsOf(clientFile);
  });

  it('the server tap saw open, data and close', () => {
    expect(events[0]).toBe('open');
    expect(events.at(-1)).toBe('close');
    expect(events.filter((e) => e === 'data').length).toBeGreaterThanOrEqual(2 * sent.length + 2);
  });

  it('both recordings have the one connection, with its real ports, and the same bytes each way', () => {
    expect(server.streams.length).toBe(1);
    expect(client.streams.length).toBe(1);
    for (const r of [server, client]) {
      const s = r.streams[0]!;
      expect(s.client).toEqual({ ip: '127.0.0.1', port: clientPort });
      expect(s.server).toEqual({ ip: '127.0.0.1', port });
      expect(s.closed).toBe(true);
      expect(s.gaps).toBe(0);
    }
    const [a, b] = [server.streams[0]!, client.streams[0]!];
    expect(cat(a.toServer).equals(cat(b.toServer))).toBe(true);
    expect(cat(a.toClient).equals(cat(b.toClient))).toBe(true);
    // bind + 3 requests (the 30 000-byte one in fragments of at most 5840) + the client's close: at least 4 PDUs of data
    expect(cat(a.toServer).length).toBeGreaterThan(30_000);
    expect(cat(a.toClient).length).toBeGreaterThan(2 * 30_000);
    // The stubs are in there: the request bytes (in 5840-byte fragments for the big one) and the echoed ones.
    expect(cat(a.toServer).includes(sent[0]!)).toBe(true);
    expect(cat(a.toServer).includes(sent[1]!.subarray(0, 1000))).toBe(true);
  });
});

// ---- tshark ----------------------------------------------------------------------------------

describeWithPeers(['tshark'], 'tshark reads the recordings', () => {
  const CHECKSUMS = ['-o', 'ip.check_checksum:TRUE', '-o', 'tcp.check_checksum:TRUE'];
  const synthetic = path.join(dir, 'synthetic.pcapng');
  const serverFile = path.join(dir, 'server.pcapng');

  /** Frames with a malformed item or an expert item of severity warning or above (checksum checks on). */
  function problems(file: string): string[] {
    // (A reset is itself a warning: the synthetic session has one on purpose, stream 2.)
    const out = runTshark([...CHECKSUMS, '-r', file, '-Y', '_ws.malformed || (_ws.expert.severity >= warning && !tcp.flags.reset)',
      '-T', 'fields', '-e', 'frame.number', '-e', '_ws.expert.message']);
    return out.split('\n').filter(Boolean);
  }

  it('no malformed frame and no warning (checksums validated), one TCP stream per connection', () => {
    for (const f of [synthetic, serverFile]) expect(problems(f), f).toEqual([]);
    const streams = new Set(runTshark(['-r', synthetic, '-T', 'fields', '-e', 'tcp.stream']).split('\n').filter(Boolean));
    expect(streams.size).toBe(5);
    // Every checksum is marked good, not just unverified.
    const statuses = runTshark([...CHECKSUMS, '-r', synthetic, '-T', 'fields', '-e', 'ip.checksum.status', '-e', 'tcp.checksum.status'])
      .split('\n').filter(Boolean).map((l) => l.split('\t'));
    // ip.checksum.status is empty for IPv6 (no header checksum); 1 = good (PROTO_CHECKSUM_E_GOOD).
    expect(statuses.length).toBe(50); // 15 + 11 + 9 + 8 + 7 frames (streams a-e)
    expect(statuses.filter(([ip, tcp]) => !((ip === '' || ip === '1') && tcp === '1'))).toEqual([]);
  });

  it("tshark's reassembly of each stream gives the same bytes as ours", async () => {
    const ours = await streamsOf(synthetic);
    for (let i = 0; i < 5; i++) {
      const out = runTshark(['-r', synthetic, '-q', '-z', `follow,tcp,raw,${i}`]);
      const lines = out.split('\n');
      const body = lines.slice(lines.findIndex((l) => l.startsWith('Node 1:')) + 1).filter((l) => l && !l.startsWith('==='));
      const fromClient = Buffer.from(body.filter((l) => !l.startsWith('\t')).join(''), 'hex');
      const fromServer = Buffer.from(body.filter((l) => l.startsWith('\t')).map((l) => l.slice(1)).join(''), 'hex');
      expect(fromClient.equals(cat(ours.streams[i]!.toServer)), `stream ${i}`).toBe(true);
      expect(fromServer.equals(cat(ours.streams[i]!.toClient)), `stream ${i}`).toBe(true);
    }
  });

  it('the DCE/RPC of the real-socket recording is dissected: bind, bind_ack, requests and responses', () => {
    const types = runTshark(['-r', serverFile, '-Y', 'dcerpc', '-T', 'fields', '-e', 'dcerpc.pkt_type']).split('\n').filter(Boolean).join(',');
    expect(types.split(',')).toEqual(expect.arrayContaining(['11', '12', '0', '2']));
  });
});
