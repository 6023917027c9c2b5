import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { CaptureError } from '../../src/base/errors';
import { readCapture, type CapturedPacket, type CaptureWarning } from '../../src/capture';
import { peer } from '../support/peers';
import { runTshark } from '../support/tshark';
import { listSharedCaptures } from '../support/paths';

const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const pcapDir = path.resolve(projectRoot, '../shared/pcaps');

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'dcomlab-capture-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function tmpFile(name: string, bytes: Buffer): string {
  const p = path.join(dir, name);
  writeFileSync(p, bytes);
  return p;
}

interface Got {
  frame: number;
  interfaceId: number;
  linkType: number;
  tsSec: number;
  tsNsec: number;
  hex: string;
  origLen: number;
}

async function readAll(file: string): Promise<{ pkts: Got[]; warnings: CaptureWarning[]; summary: Awaited<ReturnType<typeof readCapture>> }> {
  const pkts: Got[] = [];
  const warnings: CaptureWarning[] = [];
  const summary = await readCapture(
    file,
    (p: CapturedPacket) =>
      pkts.push({ frame: p.frame, interfaceId: p.interfaceId, linkType: p.linkType, tsSec: p.tsSec, tsNsec: p.tsNsec, hex: p.data.toString('hex'), origLen: p.origLen }),
    { onWarning: (w) => warnings.push(w) },
  );
  return { pkts, warnings, summary };
}

async function captureError(file: string): Promise<CaptureError> {
  try {
    await readCapture(file, () => undefined);
  } catch (e) {
    expect(e).toBeInstanceOf(CaptureError);
    return e as CaptureError;
  }
  throw new Error(`expected a CaptureError for ${file}`);
}

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// ---- builders that write the spec layouts field by field ---------------------------------

/** pcap file: 24-byte header + 16-byte records (draft-ietf-opsawg-pcap section 4/5). */
function pcapFile(o: { le: boolean; nsec: boolean; linkType: number }, recs: Array<{ sec: number; frac: number; data: Buffer; orig?: number }>): Buffer {
  const h = Buffer.alloc(24);
  const w32 = (b: Buffer, v: number, off: number) => (o.le ? b.writeUInt32LE(v, off) : b.writeUInt32BE(v, off));
  const w16 = (b: Buffer, v: number, off: number) => (o.le ? b.writeUInt16LE(v, off) : b.writeUInt16BE(v, off));
  w32(h, o.nsec ? 0xa1b23c4d : 0xa1b2c3d4, 0);
  w16(h, 2, 4);
  w16(h, 4, 6);
  w32(h, 262144, 16);
  w32(h, o.linkType, 20);
  const parts: Buffer[] = [h];
  for (const r of recs) {
    const rh = Buffer.alloc(16);
    w32(rh, r.sec, 0);
    w32(rh, r.frac, 4);
    w32(rh, r.data.length, 8);
    w32(rh, r.orig ?? r.data.length, 12);
    parts.push(rh, r.data);
  }
  return Buffer.concat(parts);
}

/** pcapng block: type, total length, body (padded to 4), total length again. */
function block(le: boolean, type: number, body: Buffer): Buffer {
  const pad = (4 - (body.length % 4)) % 4;
  const total = 12 + body.length + pad;
  const b = Buffer.alloc(total);
  if (le) {
    b.writeUInt32LE(type, 0);
    b.writeUInt32LE(total, 4);
    b.writeUInt32LE(total, total - 4);
  } else {
    b.writeUInt32BE(type, 0);
    b.writeUInt32BE(total, 4);
    b.writeUInt32BE(total, total - 4);
  }
  body.copy(b, 8);
  return b;
}

function u32(le: boolean, ...vals: number[]): Buffer {
  const b = Buffer.alloc(4 * vals.length);
  vals.forEach((v, i) => (le ? b.writeUInt32LE(v >>> 0, 4 * i) : b.writeUInt32BE(v >>> 0, 4 * i)));
  return b;
}
function u16(le: boolean, ...vals: number[]): Buffer {
  const b = Buffer.alloc(2 * vals.length);
  vals.forEach((v, i) => (le ? b.writeUInt16LE(v, 2 * i) : b.writeUInt16BE(v, 2 * i)));
  return b;
}

function shb(le: boolean): Buffer {
  // byte-order magic, major 1, minor 0, section length -1 (unknown)
  return block(le, 0x0a0d0d0a, Buffer.concat([u32(le, 0x1a2b3c4d), u16(le, 1, 0), Buffer.alloc(8, 0xff)]));
}

function idb(le: boolean, linkType: number, opts: Array<[number, Buffer]> = []): Buffer {
  const o: Buffer[] = [];
  for (const [code, val] of opts) {
    o.push(u16(le, code, val.length), val, Buffer.alloc((4 - (val.length % 4)) % 4));
  }
  if (opts.length) o.push(u16(le, 0, 0)); // opt_endofopt
  return block(le, 1, Buffer.concat([u16(le, linkType, 0), u32(le, 262144), ...o]));
}

function epb(le: boolean, ifid: number, ts: bigint, data: Buffer, orig = data.length): Buffer {
  const hi = Number(ts >> 32n);
  const lo = Number(ts & 0xffffffffn);
  return block(le, 6, Buffer.concat([u32(le, ifid, hi, lo, data.length, orig), data, Buffer.alloc((4 - (data.length % 4)) % 4)]));
}

function opb(le: boolean, ifid: number, ts: bigint, data: Buffer): Buffer {
  const hi = Number(ts >> 32n);
  const lo = Number(ts & 0xffffffffn);
  return block(le, 2, Buffer.concat([u16(le, ifid, 0), u32(le, hi, lo, data.length, data.length), data, Buffer.alloc((4 - (data.length % 4)) % 4)]));
}

function spb(le: boolean, data: Buffer): Buffer {
  return block(le, 3, Buffer.concat([u32(le, data.length), data, Buffer.alloc((4 - (data.length % 4)) % 4)]));
}

// ---- pcap ---------------------------------------------------------------------------------

describe('readCapture: pcap', () => {
  it('reads a hand-written little-endian microsecond pcap', async () => {
    const file = tmpFile(
      'le-us.pcap',
      hex(`d4c3b2a1 0200 0400 00000000 00000000 ffff0000 01000000
           00e9f565 40e20100 04000000 3c000000 deadbeef`),
    );
    const { pkts, summary, warnings } = await readAll(file);
    expect(warnings).toEqual([]);
    expect(summary).toMatchObject({ packets: 1, bytes: 4, format: 'pcap', gzip: false });
    // 0x65f5e900 = 1710614784 s, 0x0001e240 = 123456 µs
    expect(pkts).toEqual([{ frame: 1, interfaceId: 0, linkType: 1, tsSec: 1710614784, tsNsec: 123456000, hex: 'deadbeef', origLen: 60 }]);
  });

  it('reads a hand-written big-endian nanosecond pcap', async () => {
    const file = tmpFile(
      'be-ns.pcap',
      hex(`a1b23c4d 0002 0004 00000000 00000000 00040000 00000065
           65f5e900 3ade68b1 00000003 00000005 010203
           65f5e901 00000000 00000001 00000001 ff`),
    );
    const { pkts, summary } = await readAll(file);
    expect(summary.packets).toBe(2);
    expect(pkts[0]).toEqual({ frame: 1, interfaceId: 0, linkType: 101, tsSec: 1710614784, tsNsec: 987654321, hex: '010203', origLen: 5 });
    expect(pkts[1]).toMatchObject({ frame: 2, tsSec: 1710614785, tsNsec: 0, hex: 'ff' });
  });

  it('reads all four magic/byte-order combinations with the builder', async () => {
    for (const le of [true, false]) {
      for (const nsec of [true, false]) {
        const file = tmpFile(`combo-${le}-${nsec}.pcap`, pcapFile({ le, nsec, linkType: 113 }, [{ sec: 100, frac: 999, data: hex('aabb') }]));
        const { pkts } = await readAll(file);
        expect(pkts).toEqual([{ frame: 1, interfaceId: 0, linkType: 113, tsSec: 100, tsNsec: nsec ? 999 : 999000, hex: 'aabb', origLen: 2 }]);
      }
    }
  });

  it('keeps records that straddle 1 MiB read chunks intact, including one larger than a chunk', async () => {
    const recs: Array<{ sec: number; frac: number; data: Buffer }> = [];
    let x = 12345;
    for (let i = 0; i < 1500; i++) {
      x = (x * 1103515245 + 12345) >>> 0;
      const len = i === 700 ? 2_500_000 : x % 5000;
      const data = Buffer.alloc(len);
      for (let j = 0; j < len; j++) data[j] = (i + j * 31) & 0xff;
      recs.push({ sec: 1000 + i, frac: i, data });
    }
    const raw = pcapFile({ le: true, nsec: false, linkType: 1 }, recs);
    expect(raw.length).toBeGreaterThan(5 * 1024 * 1024);
    for (const [name, bytes] of [
      ['chunks.pcap', raw],
      ['chunks.pcap.gz', gzipSync(raw)],
    ] as const) {
      const file = tmpFile(name, bytes);
      let n = 0;
      let bad = 0;
      const summary = await readCapture(file, (p) => {
        const r = recs[n]!;
        n++;
        if (p.frame !== n || p.tsSec !== r.sec || p.tsNsec !== r.frac * 1000 || !p.data.equals(r.data)) bad++;
      });
      expect(bad).toBe(0);
      expect(n).toBe(1500);
      expect(summary.packets).toBe(1500);
      expect(summary.gzip).toBe(name.endsWith('.gz'));
      expect(summary.bytes).toBe(recs.reduce((s, r) => s + r.data.length, 0));
    }
  });
});

// ---- pcapng -------------------------------------------------------------------------------

describe('readCapture: pcapng', () => {
  it('reads a hand-written little-endian pcapng with if_tsresol = 10^-9', async () => {
    const file = tmpFile(
      'hand.pcapng',
      hex(`0a0d0d0a 1c000000 4d3c2b1a 0100 0000 ffffffffffffffff 1c000000
           01000000 20000000 0100 0000 00000400 0900 0100 09000000 0000 0000 20000000
           06000000 24000000 00000000 fe9c9717 15cd853d 04000000 3c000000 deadbeef 24000000`),
    );
    const { pkts, summary } = await readAll(file);
    expect(summary).toMatchObject({ packets: 1, format: 'pcapng', gzip: false });
    // 0x17979cfe3d85cd15 ns = 1700000000123456789 ns
    expect(pkts).toEqual([{ frame: 1, interfaceId: 0, linkType: 1, tsSec: 1700000000, tsNsec: 123456789, hex: 'deadbeef', origLen: 60 }]);
  });

  it('handles both byte orders, several sections, tsresol forms, tsoffset, SPB, OPB and unknown blocks', async () => {
    const be = false;
    const le = true;
    const bytes = Buffer.concat([
      // section 1, big-endian: iface 0 default µs, iface 1 2^-20 with if_tsoffset 100 s
      shb(be),
      idb(be, 1),
      idb(be, 101, [
        [9, Buffer.from([0x80 | 20])],
        [14, Buffer.from('0000000000000064', 'hex')],
      ]),
      epb(be, 0, 1_600_000_000_250_000n, hex('01')), // µs
      block(be, 0x00000005, Buffer.alloc(20)), // an ISB: skipped
      epb(be, 1, (5n << 20n) | (1n << 19n), hex('0203')), // 5.5 s in 2^-20 units, +100 s offset
      opb(be, 1, 7n << 20n, hex('04')),
      // section 2, little-endian: interfaces restart at 0
      shb(le),
      idb(le, 276, [[9, Buffer.from([3])]]), // ms
      spb(le, hex('0a0b0c0d0e')),
      block(le, 0x40000bad, Buffer.alloc(8)), // custom block: skipped
      epb(le, 0, 1_234_567n, hex('ff')),
    ]);
    const { pkts, summary, warnings } = await readAll(tmpFile('multi.pcapng', bytes));
    expect(warnings).toEqual([]);
    expect(summary.packets).toBe(5);
    expect(pkts).toEqual([
      { frame: 1, interfaceId: 0, linkType: 1, tsSec: 1_600_000_000, tsNsec: 250_000_000, hex: '01', origLen: 1 },
      { frame: 2, interfaceId: 1, linkType: 101, tsSec: 105, tsNsec: 500_000_000, hex: '0203', origLen: 2 },
      { frame: 3, interfaceId: 1, linkType: 101, tsSec: 107, tsNsec: 0, hex: '04', origLen: 1 },
      { frame: 4, interfaceId: 0, linkType: 276, tsSec: 0, tsNsec: 0, hex: '0a0b0c0d0e', origLen: 5 },
      { frame: 5, interfaceId: 0, linkType: 276, tsSec: 1234, tsNsec: 567_000_000, hex: 'ff', origLen: 1 },
    ]);
  });

  it('reads gzip-compressed pcapng', async () => {
    const raw = Buffer.concat([shb(true), idb(true, 1), epb(true, 0, 42_000_001n, hex('abcdef'))]);
    const { pkts, summary } = await readAll(tmpFile('small.pcapng.gz', gzipSync(raw)));
    expect(summary).toMatchObject({ packets: 1, format: 'pcapng', gzip: true });
    expect(pkts[0]).toMatchObject({ tsSec: 42, tsNsec: 1000, hex: 'abcdef' });
  });
});

// ---- truncation and corruption ---------------------------------------------------------------

describe('readCapture: truncated files', () => {
  const three = () =>
    pcapFile({ le: true, nsec: false, linkType: 1 }, [
      { sec: 1, frac: 0, data: Buffer.alloc(30, 1) },
      { sec: 2, frac: 0, data: Buffer.alloc(30, 2) },
      { sec: 3, frac: 0, data: Buffer.alloc(30, 3) },
    ]);

  it('keeps the packets before a record cut in its data, with a warning naming the missing bytes', async () => {
    const full = three();
    const { pkts, summary, warnings } = await readAll(tmpFile('trunc-data.pcap', full.subarray(0, full.length - 7)));
    expect(pkts.map((p) => p.tsSec)).toEqual([1, 2]);
    expect(summary.packets).toBe(2);
    expect(warnings).toHaveLength(1);
    expect(summary.warnings).toEqual(warnings);
    expect(warnings[0]!.frame).toBe(3);
    expect(warnings[0]!.offset).toBe(24 + 2 * 46);
    expect(warnings[0]!.what).toMatch(/\b7 bytes missing/);
  });

  it('warns when the file ends inside a record header', async () => {
    const full = three();
    const { pkts, warnings } = await readAll(tmpFile('trunc-hdr.pcap', full.subarray(0, 24 + 2 * 46 + 6)));
    expect(pkts).toHaveLength(2);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.what).toMatch(/at least 10 bytes missing/);
  });

  it('keeps the blocks before a truncated pcapng block', async () => {
    const raw = Buffer.concat([shb(true), idb(true, 1), epb(true, 0, 1n, Buffer.alloc(10, 1)), epb(true, 0, 2n, Buffer.alloc(100, 2))]);
    const { pkts, warnings } = await readAll(tmpFile('trunc.pcapng', raw.subarray(0, raw.length - 50)));
    expect(pkts).toHaveLength(1);
    expect(warnings[0]!.what).toMatch(/\b50 bytes missing/);
  });

  it('keeps what a truncated .gz decompresses to', async () => {
    const recs = Array.from({ length: 2000 }, (_, i) => ({ sec: i, frac: 0, data: Buffer.alloc(200, i & 0xff) }));
    const gz = gzipSync(pcapFile({ le: true, nsec: false, linkType: 1 }, recs));
    const { pkts, warnings, summary } = await readAll(tmpFile('trunc.pcap.gz', gz.subarray(0, Math.floor(gz.length / 2))));
    expect(pkts.length).toBeGreaterThan(0);
    expect(pkts.length).toBeLessThan(2000);
    pkts.forEach((p, i) => expect(p.tsSec).toBe(i));
    expect(summary.gzip).toBe(true);
    expect(warnings.some((w) => /truncated/.test(w.what))).toBe(true);
  });
});

describe('readCapture: corrupt files throw CaptureError', () => {
  it('unknown magic, at offset 0', async () => {
    const err = await captureError(tmpFile('garbage.pcap', Buffer.from('this is not a capture file at all')));
    expect(err.offset).toBe(0);
    expect(err.what).toMatch(/magic/);
    expect(err.message).toContain('offset 0');
    expect(err.file).toContain('garbage.pcap');
  });

  it('unknown magic inside gzip', async () => {
    const err = await captureError(tmpFile('garbage.gz', gzipSync(Buffer.from('not a capture either'))));
    expect(err.offset).toBe(0);
  });

  it('empty file and missing file', async () => {
    expect((await captureError(tmpFile('empty.pcap', Buffer.alloc(0)))).what).toMatch(/empty/);
    expect((await captureError(path.join(dir, 'does-not-exist.pcap'))).what).toMatch(/ENOENT/);
  });

  it('pcap record with an absurd captured length, at the record offset', async () => {
    const good = pcapFile({ le: true, nsec: false, linkType: 1 }, [{ sec: 1, frac: 0, data: Buffer.alloc(10) }]);
    const bad = Buffer.concat([good, u32(true, 2, 0, 0x20000000, 0x20000000)]);
    const err = await captureError(tmpFile('absurd.pcap', bad));
    expect(err.offset).toBe(24 + 26);
    expect(err.what).toMatch(/absurd/);
  });

  const head = () => Buffer.concat([shb(true), idb(true, 1)]); // 28 + 20 bytes
  it('pcapng block length < 12', async () => {
    const err = await captureError(tmpFile('short-block.pcapng', Buffer.concat([head(), u32(true, 6, 8, 0)])));
    expect(err.offset).toBe(48);
    expect(err.what).toMatch(/block length 8/);
  });
  it('pcapng block length not a multiple of 4', async () => {
    const err = await captureError(tmpFile('odd-block.pcapng', Buffer.concat([head(), u32(true, 0x99, 18, 0, 0), Buffer.alloc(4)])));
    expect(err.offset).toBe(48);
    expect(err.what).toMatch(/multiple of 4/);
  });
  it('pcapng trailing length mismatch', async () => {
    const b = epb(true, 0, 1n, Buffer.alloc(8));
    b.writeUInt32LE(b.length + 4, b.length - 4);
    const err = await captureError(tmpFile('trailer.pcapng', Buffer.concat([head(), epb(true, 0, 1n, Buffer.alloc(3)), b])));
    expect(err.offset).toBe(48 + 36);
    expect(err.what).toMatch(/trailing/);
  });
  it('pcapng packet for an undefined interface', async () => {
    const err = await captureError(tmpFile('noif.pcapng', Buffer.concat([head(), epb(true, 1, 1n, Buffer.alloc(4))])));
    expect(err.offset).toBe(48);
    expect(err.what).toMatch(/interface 1/);
  });
  it('pcapng EPB with an absurd captured length', async () => {
    const b = epb(true, 0, 1n, Buffer.alloc(4));
    b.writeUInt32LE(0x7fffffff, 20);
    const err = await captureError(tmpFile('absurd.pcapng', Buffer.concat([head(), b])));
    expect(err.offset).toBe(48);
    expect(err.what).toMatch(/absurd/);
  });
});

// ---- real captures against tshark ----------------------------------------------------------

// tshark detection, running it and the capture list come from test/support, shared by every suite.
const tsharkOk = peer('tshark').ok;
if (!tsharkOk && process.env.CI !== 'true') console.warn('capture-reader tests: tshark not found on PATH, skipping the comparisons with tshark');
const withTshark = tsharkOk || process.env.CI === 'true' ? it : it.skip;
const tshark = runTshark;
/** The shared captures, relative to pcapDir. */
const sharedCaptures = (): string[] => listSharedCaptures().map((f) => path.relative(pcapDir, f));

describe('readCapture: the shared real captures', () => {
  it('finds the shared captures', () => {
    expect(sharedCaptures().length).toBeGreaterThanOrEqual(20);
  });

  it('reads the gzip-compressed scapy pcapng', async () => {
    const file = path.join(pcapDir, 'scapy/dcerpc_privacy_ntlm.pcapng.gz');
    expect(readFileSync(file).subarray(0, 2).toString('hex')).toBe('1f8b');
    const { pkts, summary } = await readAll(file);
    expect(summary).toMatchObject({ format: 'pcapng', gzip: true });
    expect(summary.packets).toBeGreaterThan(0);
    expect(pkts.length).toBe(summary.packets);
    // dumpcap wrote it with nanosecond resolution: not all timestamps are whole microseconds
    expect(pkts.some((p) => p.tsNsec % 1000 !== 0)).toBe(true);
  });

  withTshark('packet count, timestamps and lengths equal tshark for every file', async () => {
    for (const f of sharedCaptures()) {
      const file = path.join(pcapDir, f);
      const expected = tshark(['-r', file, '-T', 'fields', '-e', 'frame.number', '-e', 'frame.time_epoch', '-e', 'frame.cap_len', '-e', 'frame.len'])
        .trim()
        .split('\n');
      const { pkts, summary, warnings } = await readAll(file);
      const got = pkts.map((p) => `${p.frame}\t${p.tsSec}.${String(p.tsNsec).padStart(9, '0')}\t${p.hex.length / 2}\t${p.origLen}`);
      expect(warnings, f).toEqual([]);
      expect(summary.packets, f).toBe(expected.length);
      expect(got, f).toEqual(expected);
    }
  });
});
