import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeTcp, readCapture, TcpReassembler, type CapturedPacket, type StreamEvent, type TcpReassemblerOptions, type TcpSegment } from '../../src/capture';
import { peer } from '../support/peers';
import { runTshark } from '../support/tshark';
import { listSharedCaptures } from '../support/paths';

const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const pcapDir = path.resolve(projectRoot, '../shared/pcaps');

const FIN = 0x01;
const SYN = 0x02;
const RST = 0x04;
const PSH = 0x08;
const ACK = 0x10;

const C = { ip: '10.0.0.1', port: 50000 };
const S = { ip: '10.0.0.2', port: 135 };

/** Builds packet/segment pairs for the reassembler directly (no bytes on the wire). */
class Script {
  frame = 0;
  readonly events: StreamEvent[] = [];
  readonly r: TcpReassembler;
  constructor(opts?: ConstructorParameters<typeof TcpReassembler>[1]) {
    this.r = new TcpReassembler((e) => this.events.push(e.kind === 'data' ? { ...e, bytes: Buffer.from(e.bytes) } : e), opts);
  }
  send(
    from: { ip: string; port: number },
    to: { ip: string; port: number },
    seq: number,
    ack: number,
    flags: number,
    payload: string | Buffer = '',
  ): number {
    this.frame++;
    const data = typeof payload === 'string' ? Buffer.from(payload, 'latin1') : payload;
    const pkt: CapturedPacket = { frame: this.frame, interfaceId: 0, linkType: 1, tsSec: 1000 + this.frame, tsNsec: this.frame * 1000, data: Buffer.alloc(0), origLen: 0 };
    const seg: TcpSegment = { ipVersion: 4, src: from.ip, dst: to.ip, srcPort: from.port, dstPort: to.port, seq: seq >>> 0, ack: ack >>> 0, flags, payload: data };
    return this.r.push(pkt, seg);
  }
  c(seq: number, ack: number, flags: number, payload: string | Buffer = ''): number {
    return this.send(C, S, seq, ack, flags, payload);
  }
  s(seq: number, ack: number, flags: number, payload: string | Buffer = ''): number {
    return this.send(S, C, seq, ack, flags, payload);
  }
  /** Events in a compact form: data as latin1 text. */
  get log(): unknown[] {
    return this.events.map((e) => (e.kind === 'data' ? { ...e, bytes: e.bytes.toString('latin1') } : e));
  }
}

const data = (stream: number, dir: 0 | 1, text: string, frame: number) => ({
  kind: 'data',
  stream,
  dir,
  bytes: text,
  frame,
  tsSec: 1000 + frame,
  tsNsec: frame * 1000,
});

describe('TcpReassembler: delivery', () => {
  it('drops retransmissions, trims overlaps, holds out-of-order segments and gaps a hole the peer ACKed', () => {
    const t = new Script();
    t.c(1000, 0, SYN); // 1
    t.s(5000, 1001, SYN | ACK); // 2
    t.c(1001, 5001, ACK); // 3
    t.c(1001, 5001, PSH | ACK, 'ABCDE'); // 4
    t.c(1001, 5001, PSH | ACK, 'ABCDE'); // 5 retransmission
    t.c(1011, 5001, PSH | ACK, 'KLMNO'); // 6 out of order
    t.c(1016, 5001, PSH | ACK, 'PQRST'); // 7 out of order
    t.c(1006, 5001, PSH | ACK, 'FGHIJ'); // 8 fills the hole
    t.c(1018, 5001, PSH | ACK, 'RSTUVW'); // 9 overlaps 3 delivered bytes
    t.s(5001, 1024, PSH | ACK, 'resp'); // 10
    t.c(1030, 5005, PSH | ACK, '0123'); // 11: 1024..1029 never captured
    t.s(5005, 1034, ACK); // 12: the server ACKs past the hole
    t.s(5005, 1034, PSH | ACK, 'more'); // 13
    t.c(1034, 5009, FIN | ACK); // 14
    t.s(5009, 1035, FIN | ACK); // 15
    expect(t.c(1035, 5010, ACK)).toBe(0); // 16: late ACK of the closed stream
    expect(t.log).toEqual([
      { kind: 'open', stream: 0, client: C, server: S, frame: 1 },
      data(0, 0, 'ABCDE', 4),
      data(0, 0, 'FGHIJ', 8),
      data(0, 0, 'KLMNO', 8),
      data(0, 0, 'PQRST', 8),
      data(0, 0, 'UVW', 9),
      data(0, 1, 'resp', 10),
      { kind: 'gap', stream: 0, dir: 0, missing: 6, frame: 12 },
      data(0, 0, '0123', 11),
      data(0, 1, 'more', 13),
      { kind: 'close', stream: 0, frame: 15 },
    ]);
    expect(t.r.openStreams).toBe(0);
    expect(t.r.streamCount).toBe(1);
  });

  it('a RST flushes held data with a gap and closes; what a RST carries is not data', () => {
    const t = new Script();
    t.c(1000, 0, SYN);
    t.c(1001, 0, PSH, 'AAAA');
    t.c(1010, 0, PSH, 'BBBB'); // 1005..1009 missing
    t.c(1014, 0, PSH, 'CC');
    t.s(7000, 0, RST, 'reset reason');
    expect(t.log).toEqual([
      { kind: 'open', stream: 0, client: C, server: S, frame: 1 },
      data(0, 0, 'AAAA', 2),
      { kind: 'gap', stream: 0, dir: 0, missing: 5, frame: 5 },
      data(0, 0, 'BBBB', 3),
      data(0, 0, 'CC', 4),
      { kind: 'close', stream: 0, frame: 5 },
    ]);
  });

  it('end() flushes held data (holes as gaps) and closes every open stream', () => {
    const t = new Script();
    t.c(1000, 0, SYN);
    t.c(1001, 0, PSH, 'xy');
    t.c(1013, 0, PSH, 'z'); // 1003..1012 missing
    t.send({ ip: '10.0.0.3', port: 40000 }, S, 1, 0, PSH, 'other'); // stream 1, mid-connection
    t.r.end();
    expect(t.log).toEqual([
      { kind: 'open', stream: 0, client: C, server: S, frame: 1 },
      data(0, 0, 'xy', 2),
      { kind: 'open', stream: 1, client: { ip: '10.0.0.3', port: 40000 }, server: S, frame: 4 },
      data(1, 0, 'other', 4),
      { kind: 'gap', stream: 0, dir: 0, missing: 10, frame: 3 },
      data(0, 0, 'z', 3),
      { kind: 'close', stream: 0, frame: 3 },
      { kind: 'close', stream: 1, frame: 4 },
    ]);
    expect(t.r.openStreams).toBe(0);
  });

  it('gives up on a hole when the held bytes exceed maxBufferedPerDirection', () => {
    const t = new Script({ maxBufferedPerDirection: 8 });
    t.c(1000, 0, SYN);
    t.c(1001, 0, PSH, 'AAAA');
    t.c(1010, 0, PSH, 'BBBBB'); // held 5
    expect(t.events.filter((e) => e.kind === 'gap')).toEqual([]);
    t.c(1015, 0, PSH, 'CCCCC'); // held 10 > 8
    expect(t.log.slice(2)).toEqual([
      { kind: 'gap', stream: 0, dir: 0, missing: 5, frame: 4 },
      data(0, 0, 'BBBBB', 3),
      data(0, 0, 'CCCCC', 4),
    ]);
    t.c(1005, 0, PSH, 'late!'); // the lost bytes show up after all: already given up
    expect(t.events).toHaveLength(5);
  });

  it('out-of-order segments that overlap each other come out once, in order', () => {
    const t = new Script();
    t.c(99, 0, SYN);
    t.c(110, 0, PSH, 'klmnop'); // 110..115
    t.c(105, 0, PSH, 'fghijklm'); // 105..112, overlaps the held one
    t.c(110, 0, PSH, 'klm'); // duplicate of held bytes
    t.c(100, 0, PSH, 'abcdef'); // 100..105 fills the hole, overlaps by one
    const text = t.events.flatMap((e) => (e.kind === 'data' ? [e.bytes.toString('latin1')] : [])).join('');
    expect(text).toBe('abcdefghijklmnop');
    expect(t.events.filter((e) => e.kind === 'gap')).toEqual([]);
    expect(t.events.filter((e) => e.kind === 'data').every((e) => e.frame === 5)).toBe(true);
  });

  it('copies the payloads it holds (the packet buffer is reused by the reader)', () => {
    const t = new Script();
    const chunk = Buffer.from('SECOND');
    t.c(0, 0, SYN);
    t.c(7, 0, PSH, chunk); // held
    chunk.fill(0x2a); // the reader reuses its chunk
    t.c(1, 0, PSH, 'first!');
    expect(t.events.flatMap((e) => (e.kind === 'data' ? [e.bytes.toString()] : [])).join('')).toBe('first!SECOND');
  });

  it('zero-length segments emit no data; sequence numbers wrap around 2^32', () => {
    const t = new Script();
    t.c(0xfffffffd, 0, SYN);
    t.c(0xfffffffe, 0, ACK);
    t.c(0xfffffffe, 0, PSH | ACK, 'abcd'); // wraps to 2
    t.c(2, 0, PSH | ACK, 'ef');
    expect(t.log).toEqual([{ kind: 'open', stream: 0, client: C, server: S, frame: 1 }, data(0, 0, 'abcd', 3), data(0, 0, 'ef', 4)]);
  });
});

describe('TcpReassembler: client and server', () => {
  it('the SYN sender is the client', () => {
    const t = new Script();
    t.s(1, 0, SYN); // a server-side port, but it sent the SYN
    expect(t.events[0]).toMatchObject({ kind: 'open', client: S, server: C });
  });

  it('a SYN/ACK seen first: its receiver is the client', () => {
    const t = new Script();
    t.send({ ip: '10.0.0.9', port: 8080 }, { ip: '10.0.0.8', port: 9090 }, 1, 2, SYN | ACK);
    expect(t.events[0]).toMatchObject({ client: { ip: '10.0.0.8', port: 9090 }, server: { ip: '10.0.0.9', port: 8080 } });
  });

  it('mid-connection, a packet from a well-known port to a high port: the destination is the client', () => {
    for (const port of [135, 445, 139, 80]) {
      const t = new Script();
      const srv = { ip: '10.0.0.2', port };
      t.send(srv, C, 5000, 77, PSH | ACK, 'response');
      expect(t.log).toEqual([
        { kind: 'open', stream: 0, client: C, server: srv, frame: 1 },
        data(0, 1, 'response', 1), // starts at the first segment's seq
      ]);
    }
  });

  it('mid-connection otherwise: the first sender is the client', () => {
    const t = new Script();
    const a = { ip: '10.0.0.5', port: 8080 };
    const b = { ip: '10.0.0.6', port: 50001 };
    t.send(a, b, 7777, 1, PSH | ACK, 'xyz');
    t.send(a, b, 7780, 1, PSH | ACK, 'w');
    t.send(b, a, 1, 7781, PSH | ACK, 'back');
    expect(t.log).toEqual([
      { kind: 'open', stream: 0, client: a, server: b, frame: 1 },
      data(0, 0, 'xyz', 1),
      data(0, 0, 'w', 2),
      data(0, 1, 'back', 3),
    ]);
  });
});

describe('TcpReassembler: stream numbering', () => {
  it('separate tuples get consecutive numbers in order of first packet', () => {
    const t = new Script();
    expect(t.c(1, 0, SYN)).toBe(0);
    expect(t.send({ ip: '10.0.0.1', port: 50001 }, S, 1, 0, SYN)).toBe(1);
    expect(t.s(9, 2, SYN | ACK)).toBe(0);
    expect(t.send({ ip: '::1', port: 50001 }, { ip: '::2', port: 135 }, 1, 0, SYN)).toBe(2);
    expect(t.r.streamCount).toBe(3);
  });

  it('a SYN with a new ISN on an open tuple closes the old stream and starts the next number', () => {
    const t = new Script();
    t.c(100, 0, SYN);
    t.s(500, 101, SYN | ACK);
    t.c(101, 501, PSH | ACK, 'old');
    expect(t.c(100, 0, SYN)).toBe(0); // retransmitted SYN: same stream
    expect(t.c(300, 0, SYN)).toBe(1);
    expect(t.c(301, 0, PSH, 'new')).toBe(1);
    expect(t.log).toEqual([
      { kind: 'open', stream: 0, client: C, server: S, frame: 1 },
      data(0, 0, 'old', 3),
      { kind: 'close', stream: 0, frame: 5 },
      { kind: 'open', stream: 1, client: C, server: S, frame: 5 },
      data(1, 0, 'new', 6),
    ]);
  });

  it('after RST, a SYN with the same ISN keeps the stream number (tshark 4.0) but starts afresh', () => {
    const t = new Script();
    t.c(100, 0, SYN);
    t.s(0, 101, RST | ACK);
    expect(t.c(100, 0, SYN)).toBe(0);
    t.s(500, 101, SYN | ACK);
    t.c(101, 501, PSH | ACK, 'again');
    expect(t.log).toEqual([
      { kind: 'open', stream: 0, client: C, server: S, frame: 1 },
      { kind: 'close', stream: 0, frame: 2 },
      { kind: 'open', stream: 0, client: C, server: S, frame: 3 },
      data(0, 0, 'again', 5),
    ]);
  });

  it('newStreamOnSynAfterClose: the same ISN after FIN/RST starts a new number', () => {
    const t = new Script({ newStreamOnSynAfterClose: true });
    t.c(100, 0, SYN);
    t.s(0, 101, RST | ACK);
    expect(t.c(100, 0, SYN)).toBe(1);
  });

  it('forgets closed conversations: memory does not grow with their number', () => {
    const t = new Script({ maxClosedStreams: 10 });
    for (let i = 0; i < 5000; i++) {
      const cl = { ip: '10.1.0.1', port: 1024 + i };
      t.send(cl, S, 1, 0, SYN);
      t.send(S, cl, 1, 2, SYN | ACK);
      t.send(cl, S, 2, 2, PSH | ACK, 'x');
      t.send(cl, S, 3, 2, FIN | ACK);
      t.send(S, cl, 2, 4, FIN | ACK);
      expect(t.r.openStreams).toBe(0);
    }
    expect(t.r.streamCount).toBe(5000);
    expect(t.events.filter((e) => e.kind === 'close')).toHaveLength(5000);
    // the last closed tuple is still known, the first one has been forgotten
    expect(t.send({ ip: '10.1.0.1', port: 1024 + 4999 }, S, 4, 3, ACK)).toBe(4999);
    expect(t.send({ ip: '10.1.0.1', port: 1024 }, S, 4, 3, ACK)).toBe(5000);
  });

  it('bounds the open conversations: the longest idle ones are closed', () => {
    const t = new Script({ maxOpenStreams: 100 });
    for (let i = 0; i < 1000; i++) t.send({ ip: '10.2.0.1', port: 2000 + i }, S, 1, 0, PSH, 'q');
    expect(t.r.openStreams).toBeLessThanOrEqual(100);
    const closed = t.events.filter((e) => e.kind === 'close').map((e) => e.stream);
    expect(closed.length).toBeGreaterThanOrEqual(900);
    expect(closed.slice(0, 10)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });
});

// ---- against tshark ----------------------------------------------------------------------

// tshark detection, running it and the capture list come from test/support, shared by every suite.
const tsharkOk = peer('tshark').ok;
if (!tsharkOk && process.env.CI !== 'true') console.warn('capture-reassembly tests: tshark not found on PATH, skipping the comparisons with tshark');
const withTshark = tsharkOk || process.env.CI === 'true' ? it : it.skip;
const tshark = runTshark;
/** The shared captures, relative to pcapDir. */
const sharedCaptures = (): string[] => listSharedCaptures().map((f) => path.relative(pcapDir, f));

interface Run {
  streamOf: Map<number, number>;
  events: StreamEvent[];
}

async function run(file: string, opts: TcpReassemblerOptions = {}): Promise<Run> {
  const streamOf = new Map<number, number>();
  const events: StreamEvent[] = [];
  const r = new TcpReassembler((e) => events.push(e.kind === 'data' ? { ...e, bytes: Buffer.from(e.bytes) } : e), opts);
  await readCapture(file, (p) => {
    const seg = decodeTcp(p.linkType, p.data);
    if (seg) streamOf.set(p.frame, r.push(p, seg));
  });
  r.end();
  return { streamOf, events };
}

/** Per stream and direction: data runs (hex) and gaps, in order. */
function transcripts(events: StreamEvent[]): Map<number, { client: string; server: string; dirs: [string[], string[]] }> {
  const out = new Map<number, { client: string; server: string; dirs: [string[], string[]] }>();
  for (const e of events) {
    if (e.kind === 'open') {
      out.set(e.stream, { client: `${e.client.ip}:${e.client.port}`, server: `${e.server.ip}:${e.server.port}`, dirs: [[], []] });
      continue;
    }
    if (e.kind !== 'data' && e.kind !== 'gap') continue;
    const d = out.get(e.stream)!.dirs[e.dir];
    if (e.kind === 'gap') d.push(`gap ${e.missing}`);
    else if (d.length && !d[d.length - 1]!.startsWith('gap')) d[d.length - 1] += e.bytes.toString('hex');
    else d.push(e.bytes.toString('hex'));
  }
  return out;
}

/** tshark -z follow,tcp,raw for the given streams, in the same shape. */
function tsharkTranscripts(file: string, streams: number[]): Map<number, { nodes: [string, string]; dirs: [string[], string[]] }> {
  const args = ['-r', file, '-q'];
  for (const s of streams) args.push('-z', `follow,tcp,raw,${s}`);
  const out = new Map<number, { nodes: [string, string]; dirs: [string[], string[]] }>();
  let cur: { nodes: [string, string]; dirs: [string[], string[]] } | undefined;
  for (const line of tshark(args).split('\n')) {
    let m: RegExpMatchArray | null;
    if ((m = line.match(/^Filter: tcp\.stream eq (\d+)/))) {
      cur = { nodes: ['', ''], dirs: [[], []] };
      out.set(Number(m[1]), cur);
    } else if ((m = line.match(/^Node ([01]): (.*)$/)) && cur) {
      cur.nodes[Number(m[1])] = m[2]!;
    } else if (cur && /^\t?[0-9a-f]+$/.test(line)) {
      const node = line.startsWith('\t') ? 1 : 0;
      const h = line.trim();
      const d = cur.dirs[node];
      const missing = Buffer.from(h, 'hex')
        .toString('latin1')
        .match(/^\[(\d+) bytes missing in capture file\]\0*$/);
      if (missing) d.push(`gap ${missing[1]}`);
      else if (d.length && !d[d.length - 1]!.startsWith('gap')) d[d.length - 1] += h;
      else d.push(h);
    }
  }
  return out;
}

describe('TcpReassembler on the shared real captures', () => {
  withTshark('every frame gets the tcp.stream tshark gives it, in every shared capture', async () => {
    let compared = 0;
    for (const f of sharedCaptures()) {
      const file = path.join(pcapDir, f);
      const { streamOf } = await run(file);
      const lines = tshark(['-r', file, '-T', 'fields', '-e', 'frame.number', '-e', 'tcp.stream']).trim().split('\n');
      const expected = lines.map((l) => l.split('\t')).map(([n, s]) => `${n}:${s ?? ''}`);
      const got = lines.map((l) => {
        const n = Number(l.split('\t')[0]);
        return `${n}:${streamOf.get(n) ?? ''}`;
      });
      expect(got, f).toEqual(expected);
      compared += streamOf.size;
    }
    expect(compared).toBeGreaterThan(3000);
  });

  withTshark('reassembled bytes and gaps equal tshark "follow tcp" for every stream of every shared capture', async () => {
    let streams = 0;
    for (const f of sharedCaptures()) {
      const file = path.join(pcapDir, f);
      // "follow tcp" waits for bytes after an empty segment ran ahead; tshark's dissectors don't.
      const ours = transcripts((await run(file, { emptySegmentAheadIsLoss: false })).events);
      if (ours.size === 0) continue;
      const theirs = tsharkTranscripts(file, [...ours.keys()]);
      for (const [s, o] of ours) {
        const t = theirs.get(s);
        expect(t, `${f} stream ${s}`).toBeDefined();
        // tshark's Node 0 is whichever side sent first; match nodes by address.
        const clientNode = t!.nodes[0] === o.client ? 0 : 1;
        expect(t!.nodes[clientNode], `${f} stream ${s}`).toBe(o.client);
        expect(t!.nodes[1 - clientNode], `${f} stream ${s}`).toBe(o.server);
        expect(o.dirs[0], `${f} stream ${s} client→server`).toEqual(t!.dirs[clientNode]);
        expect(o.dirs[1], `${f} stream ${s} server→client`).toEqual(t!.dirs[1 - clientNode]);
        streams++;
      }
    }
    expect(streams).toBeGreaterThan(100);
  });

  it('dce-gap-handling.pcap: the lost request segment is reported as a gap', async () => {
    const { events } = await run(path.join(pcapDir, 'suricata-verify/dce-gap-handling.pcap'));
    const gaps = events.filter((e) => e.kind === 'gap');
    expect(gaps.length).toBeGreaterThanOrEqual(1);
    // tshark: "[215 bytes missing in capture file]" in the client's direction
    expect(gaps[0]).toMatchObject({ stream: 0, dir: 0, missing: 215 });
  });
});

// ---- port reuse, checked against tshark on a capture written here ----------------------------------

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'dcomlab-reasm-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Ethernet + IPv4 (no options) + TCP (no options), fields written one by one. */
function frameBytes(src: string, sport: number, dst: string, dport: number, seq: number, ack: number, flags: number, payload = ''): Buffer {
  const p = Buffer.from(payload);
  const b = Buffer.alloc(14 + 20 + 20 + p.length);
  Buffer.from('020000000001020000000002', 'hex').copy(b, 0);
  b.writeUInt16BE(0x0800, 12);
  b[14] = 0x45;
  b.writeUInt16BE(40 + p.length, 16);
  b[22] = 64;
  b[23] = 6;
  Buffer.from(src.split('.').map(Number)).copy(b, 26);
  Buffer.from(dst.split('.').map(Number)).copy(b, 30);
  b.writeUInt16BE(sport, 34);
  b.writeUInt16BE(dport, 36);
  b.writeUInt32BE(seq >>> 0, 38);
  b.writeUInt32BE(ack >>> 0, 42);
  b[46] = 0x50;
  b[47] = flags;
  b.writeUInt16BE(65535, 48);
  p.copy(b, 54);
  return b;
}

function pcapOf(frames: Buffer[]): Buffer {
  const h = Buffer.alloc(24);
  h.writeUInt32LE(0xa1b2c3d4, 0);
  h.writeUInt16LE(2, 4);
  h.writeUInt16LE(4, 6);
  h.writeUInt32LE(65535, 16);
  h.writeUInt32LE(1, 20);
  const parts: Buffer[] = [h];
  frames.forEach((f, i) => {
    const r = Buffer.alloc(16);
    r.writeUInt32LE(1_700_000_000 + i, 0);
    r.writeUInt32LE(f.length, 8);
    r.writeUInt32LE(f.length, 12);
    parts.push(r, f);
  });
  return Buffer.concat(parts);
}

describe('stream numbering on port reuse, against tshark', () => {
  const c = (seq: number, ack: number, fl: number, pl = '') => frameBytes('10.0.0.1', 40000, '10.0.0.2', 135, seq, ack, fl, pl);
  const s = (seq: number, ack: number, fl: number, pl = '') => frameBytes('10.0.0.2', 135, '10.0.0.1', 40000, seq, ack, fl, pl);
  const scenarios: Record<string, { frames: Buffer[]; expected: number[] }> = {
    'FIN both ways, then a SYN with a new ISN': {
      frames: [c(100, 0, SYN), s(500, 101, SYN | ACK), c(101, 501, ACK), c(101, 501, FIN | ACK), s(501, 102, FIN | ACK), c(102, 502, ACK), c(200, 0, SYN), s(900, 201, SYN | ACK)],
      expected: [0, 0, 0, 0, 0, 0, 1, 1],
    },
    'FIN both ways, then a SYN with the same ISN': {
      frames: [c(100, 0, SYN), s(500, 101, SYN | ACK), c(101, 501, FIN | ACK), s(501, 102, FIN | ACK), c(100, 0, SYN), s(900, 101, SYN | ACK)],
      expected: [0, 0, 0, 0, 0, 0],
    },
    'RST, then a SYN with the same ISN': {
      frames: [c(100, 0, SYN), s(0, 101, RST | ACK), c(100, 0, SYN), s(500, 101, SYN | ACK)],
      expected: [0, 0, 0, 0],
    },
    'no close, a SYN with a new ISN': {
      frames: [c(100, 0, SYN), s(500, 101, SYN | ACK), c(101, 501, ACK, 'abc'), c(300, 0, SYN), s(900, 301, SYN | ACK)],
      expected: [0, 0, 0, 1, 1],
    },
    'mid-connection start, then a SYN equal to the first seq - 1': {
      frames: [c(1000, 5000, PSH | ACK, 'hello'), c(999, 0, SYN), c(3000, 0, SYN)],
      expected: [0, 0, 1],
    },
    'only server packets, then client SYNs (base from the ACK)': {
      frames: [s(5000, 1000, PSH | ACK, 'hi'), c(999, 0, SYN), c(3000, 0, SYN)],
      expected: [0, 0, 1],
    },
    'the server side sends a SYN after the close': {
      frames: [c(100, 0, SYN), s(500, 101, SYN | ACK), c(101, 501, FIN | ACK), s(501, 102, FIN | ACK), s(700, 0, SYN)],
      expected: [0, 0, 0, 0, 1],
    },
  };
  for (const [name, sc] of Object.entries(scenarios)) {
    withTshark(name, async () => {
      const file = path.join(dir, `${name.replace(/\W+/g, '_')}.pcap`);
      writeFileSync(file, pcapOf(sc.frames));
      const theirs = tshark(['-r', file, '-T', 'fields', '-e', 'tcp.stream']).trim().split('\n').map(Number);
      expect(theirs).toEqual(sc.expected);
      const { streamOf } = await run(file);
      expect([...streamOf.values()]).toEqual(sc.expected);
    });
  }
});

describe('an empty segment ahead of the delivered bytes (tshark: "previous segment not captured")', () => {
  // Client: SYN at 0, "AAAA" at 1, then a pure ACK at seq 9 (bytes 5..8 never captured), then a
  // late copy of bytes 5..8 ("BBBB"), then "CCCC" at 9 — the shape of zerologon.pcap frames 413-419.
  function play(opts?: TcpReassemblerOptions): Script {
    const s = new Script(opts);
    s.c(0, 0, SYN);
    s.s(0, 1, SYN | ACK);
    s.c(1, 1, ACK | PSH, 'AAAA');
    s.c(9, 1, ACK);
    s.c(5, 1, ACK | PSH, 'BBBB');
    s.c(9, 1, ACK | PSH, 'CCCC');
    s.r.end();
    return s;
  }
  const clientBytes = (s: Script) =>
    s.log.filter((e) => (e as { kind: string; dir?: number }).kind === 'data' && (e as { dir: number }).dir === 0).map((e) => (e as { bytes: string }).bytes).join('');

  it('by default declares the 4 bytes lost and drops their late copy, as tshark does', () => {
    const s = play();
    expect(clientBytes(s)).toBe('AAAACCCC');
    expect(s.log).toContainEqual({ kind: 'gap', stream: 0, dir: 0, missing: 4, frame: 4 });
  });

  it('with emptySegmentAheadIsLoss: false it waits for them (as "follow tcp" does)', () => {
    const s = play({ emptySegmentAheadIsLoss: false });
    expect(clientBytes(s)).toBe('AAAABBBBCCCC');
    expect(s.log.some((e) => (e as { kind: string }).kind === 'gap')).toBe(false);
  });
});
