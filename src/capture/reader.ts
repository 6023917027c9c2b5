// Streaming reader for pcap and pcapng captures, optionally gzip-compressed.
//
// Formats: draft-ietf-opsawg-pcap (file header + 16-byte records; microsecond magic
// 0xa1b2c3d4, nanosecond magic 0xa1b23c4d, either byte order; also the 24-byte records of
// the "modified" pcap magic 0xa1b2cd34) and draft-ietf-opsawg-pcapng (SHB, IDB with
// if_tsresol / if_tsoffset, EPB, SPB, OPB; other blocks skipped by length; several sections
// with their own byte order).
//
// The file is read in ~1 MiB chunks (an uncompressed file into two chunk buffers used in turn);
// records are parsed synchronously inside each chunk and only a record straddling two chunks
// is copied (into a buffer of exactly its size). Memory is two chunks plus the largest record,
// whatever the file size. Each packet is handed over in one reused object (PacketView).
import { open, type FileHandle } from 'node:fs/promises';
import { pipeline, type Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { CaptureError } from '../base/errors';
import {
  PCAP_FILE_HEADER_LENGTH,
  parseIdbHeader,
  parsePcapFileHeader,
  parseShbHeader,
} from './headers';
import type { CaptureSummary, CaptureWarning, PacketView, ReadCaptureOptions } from './types';

/** Captured lengths above this are treated as corruption (Wireshark uses the same bound). */
export const MAX_CAPLEN = 256 * 1024 * 1024;
/** Largest pcapng block accepted: a maximal packet plus generous room for options. */
const MAX_BLOCK_LENGTH = MAX_CAPLEN + 1024 * 1024;
const CHUNK_SIZE = 1 << 20;

const PCAP_MAGIC_US = 0xa1b2c3d4;
const PCAP_MAGIC_NS = 0xa1b23c4d;
const PCAP_MAGIC_MODIFIED = 0xa1b2cd34; // Kuznetzov's patched libpcap: 24-byte records
const PCAPNG_SHB = 0x0a0d0d0a;
const PCAPNG_BOM = 0x1a2b3c4d;

const BT_IDB = 0x00000001;
const BT_OPB = 0x00000002; // obsolete Packet Block
const BT_SPB = 0x00000003;
const BT_EPB = 0x00000006;

const OPT_ENDOFOPT = 0;
const IF_TSRESOL = 9;
const IF_TSOFFSET = 14;

interface Iface {
  linkType: number;
  snaplen: number;
  /** if_tsresol: true = 10^-exp, false = 2^-exp. */
  decimal: boolean;
  exp: number;
  /** 10^exp when decimal and exp <= 9 (fast path), else 0. */
  unitsPerSec: number;
  /** if_tsoffset, seconds. */
  tsOffset: number;
}

const EMPTY = Buffer.alloc(0);

/**
 * The one packet object a parser hands out, refilled for every record: a packet costs no
 * allocation unless the consumer asks for `data` (a fresh view each time it is read).
 */
class Packet implements PacketView {
  frame = 0;
  interfaceId = 0;
  linkType = 0;
  tsSec = 0;
  tsNsec = 0;
  origLen = 0;
  buf: Buffer = EMPTY;
  offset = 0;
  caplen = 0;
  get data(): Buffer {
    return this.buf.subarray(this.offset, this.offset + this.caplen);
  }
}

function hex32(n: number): string {
  return '0x' + (n >>> 0).toString(16).padStart(8, '0');
}

// The per-record reads of parsePcap, on bytes known to be there: Buffer.readUInt32LE checks its
// argument and bounds on every call, which showed in profiles at ~470 000 records per 110 MB.
function u32le(b: Buffer, o: number): number {
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
}
function u32be(b: Buffer, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

function rd32(buf: Buffer, off: number, le: boolean): number {
  return le ? buf.readUInt32LE(off) : buf.readUInt32BE(off);
}

function rd16(buf: Buffer, off: number, le: boolean): number {
  return le ? buf.readUInt16LE(off) : buf.readUInt16BE(off);
}

/**
 * Incremental parser: `feed` chunks, then `finish`. Throws CaptureError on corruption; the
 * offsets it reports are positions in the (decompressed) byte stream.
 */
export class CaptureParser {
  format: 'pcap' | 'pcapng' | null = null;
  frame = 0;
  bytes = 0;
  readonly warnings: CaptureWarning[] = [];

  /** Stream offset of the next byte `feed` will receive. */
  private streamPos = 0;
  /** Bytes of an unfinished record, kept across chunks. */
  private carry: Buffer[] = [];
  private carryLen = 0;
  private carryOffset = 0;
  /** Bytes needed from the start of the unfinished record to make progress. */
  private need = 0;
  /** File header (pcap) or a first SHB (pcapng) fully parsed. */
  private ready = false;

  // pcap
  private le = true;
  private nsec = false;
  private recHdrLen = 16;
  private pcapLinkType = 0;

  // pcapng, current section
  private ifaces: Iface[] = [];
  private sectionCount = 0;

  // scratch outputs of tsConvert (avoids allocating per packet)
  private tsSec = 0;
  private tsNsec = 0;
  private readonly pkt = new Packet();

  constructor(
    readonly file: string,
    private readonly onPacket: (p: PacketView) => void,
    private readonly onWarning?: (w: CaptureWarning) => void,
  ) {}

  /** Stream offset of the first byte not yet consumed. */
  get offset(): number {
    return this.carryLen > 0 ? this.carryOffset : this.streamPos;
  }

  warn(frame: number, offset: number, what: string): void {
    const w: CaptureWarning = { frame, offset, what };
    this.warnings.push(w);
    this.onWarning?.(w);
  }

  /**
   * Parse the records of `chunk`. The chunk is only read during the call (the caller may refill
   * it afterwards): the bytes of a record it ends in the middle of are copied.
   */
  feed(chunk: Buffer): void {
    const chunkBase = this.streamPos;
    this.streamPos += chunk.length;
    let pos = 0;
    while (this.carryLen > 0) {
      const want = this.need - this.carryLen;
      const avail = chunk.length - pos;
      if (avail < want) {
        if (avail > 0) {
          this.carry.push(Buffer.from(chunk.subarray(pos)));
          this.carryLen += avail;
        }
        return;
      }
      this.carry.push(chunk.subarray(pos, pos + want));
      pos += want;
      const rec = Buffer.concat(this.carry, this.need);
      const recBase = this.carryOffset;
      this.carry = [];
      this.carryLen = 0;
      const used = this.parse(rec, 0, recBase);
      if (used < rec.length) {
        if (this.need <= rec.length - used) throw new Error('capture parser made no progress');
        this.carry.push(rec.subarray(used));
        this.carryLen = rec.length - used;
        this.carryOffset = recBase + used;
      }
    }
    if (pos >= chunk.length) return;
    const used = this.parse(chunk, pos, chunkBase);
    if (used < chunk.length) {
      this.carry.push(Buffer.from(chunk.subarray(used)));
      this.carryLen = chunk.length - used;
      this.carryOffset = chunkBase + used;
    }
  }

  finish(gzip: boolean): CaptureSummary {
    if (!this.ready || this.format === null) {
      const have = this.offset + this.carryLen;
      throw new CaptureError(
        this.file,
        0,
        have === 0 ? 'empty file' : `file too short: ${have} bytes, no complete ${this.format ?? 'capture'} header`,
      );
    }
    if (this.carryLen > 0) {
      const missing = this.need - this.carryLen;
      const headerOnly = this.need === this.minRecordHeader();
      this.warn(
        this.frame + 1,
        this.carryOffset,
        headerOnly
          ? `truncated last record: file ends ${this.carryLen} bytes into a record header, at least ${missing} bytes missing`
          : `truncated last record: ${this.carryLen} of ${this.need} bytes present, ${missing} bytes missing`,
      );
      this.carry = [];
      this.carryLen = 0;
    }
    return { packets: this.frame, bytes: this.bytes, format: this.format, gzip, warnings: this.warnings };
  }

  private minRecordHeader(): number {
    return this.format === 'pcap' ? this.recHdrLen : 12;
  }

  /**
   * Parse whole records of buf[start..]; `base` is the stream offset of buf[0]. Returns the
   * index of the first unconsumed byte and sets `need` when it stopped on an incomplete record.
   */
  private parse(buf: Buffer, start: number, base: number): number {
    let p = start;
    if (this.format === null) {
      if (buf.length - p < 4) {
        this.need = 4;
        return p;
      }
      const m = buf.readUInt32LE(p);
      if (m === PCAPNG_SHB) {
        this.format = 'pcapng';
      } else {
        const le =
          m === PCAP_MAGIC_US || m === PCAP_MAGIC_NS || m === PCAP_MAGIC_MODIFIED
            ? true
            : (() => {
                const b = buf.readUInt32BE(p);
                if (b === PCAP_MAGIC_US || b === PCAP_MAGIC_NS || b === PCAP_MAGIC_MODIFIED) return false;
                throw new CaptureError(this.file, base + p, `unknown capture file magic ${hex32(buf.readUInt32BE(p))} (not pcap or pcapng)`);
              })();
        if (buf.length - p < PCAP_FILE_HEADER_LENGTH) {
          this.need = PCAP_FILE_HEADER_LENGTH;
          return p;
        }
        const h = parsePcapFileHeader(buf.subarray(p), le);
        this.le = le;
        this.nsec = h.magic === PCAP_MAGIC_NS;
        this.recHdrLen = h.magic === PCAP_MAGIC_MODIFIED ? 24 : 16;
        // LinkType is the low 16 bits; the upper bits carry FCS information.
        this.pcapLinkType = h.linkTypeInfo & 0xffff;
        if (h.versionMajor !== 2) {
          this.warn(0, base + p + 4, `unusual pcap version ${h.versionMajor}.${h.versionMinor}`);
        }
        this.format = 'pcap';
        this.ready = true;
        p += PCAP_FILE_HEADER_LENGTH;
      }
    }
    return this.format === 'pcap' ? this.parsePcap(buf, p, base) : this.parsePcapng(buf, p, base);
  }

  private parsePcap(buf: Buffer, start: number, base: number): number {
    const end = buf.length;
    const hdr = this.recHdrLen;
    const le = this.le;
    const nsec = this.nsec;
    const linkType = this.pcapLinkType;
    let p = start;
    for (;;) {
      if (end - p < hdr) {
        this.need = hdr;
        return p;
      }
      const caplen = le ? u32le(buf, p + 8) : u32be(buf, p + 8);
      if (caplen > MAX_CAPLEN) {
        throw new CaptureError(this.file, base + p, `record ${this.frame + 1}: captured length ${caplen} is absurd (> 256 MiB)`);
      }
      const total = hdr + caplen;
      if (end - p < total) {
        this.need = total;
        return p;
      }
      let sec: number, frac: number, orig: number;
      if (le) {
        sec = u32le(buf, p);
        frac = u32le(buf, p + 4);
        orig = u32le(buf, p + 12);
      } else {
        sec = u32be(buf, p);
        frac = u32be(buf, p + 4);
        orig = u32be(buf, p + 12);
      }
      let ns = nsec ? frac : frac * 1000;
      if (ns >= 1e9) {
        const carry = Math.floor(ns / 1e9);
        sec += carry;
        ns -= carry * 1e9;
      }
      this.bytes += caplen;
      this.frame++;
      this.deliver(0, linkType, sec, ns, orig, buf, p + hdr, caplen);
      p += total;
    }
  }

  private parsePcapng(buf: Buffer, start: number, base: number): number {
    const end = buf.length;
    let p = start;
    for (;;) {
      if (end - p < 12) {
        this.need = 12;
        return p;
      }
      // The SHB type is a byte-order palindrome; its byte-order magic decides the section.
      let le = this.le;
      let type = rd32(buf, p, le);
      const isShb = buf.readUInt32LE(p) === PCAPNG_SHB;
      if (isShb) {
        const bom = buf.readUInt32LE(p + 8);
        if (bom === PCAPNG_BOM) le = true;
        else if (bom === 0x4d3c2b1a) le = false;
        else throw new CaptureError(this.file, base + p + 8, `pcapng section header: bad byte-order magic ${hex32(buf.readUInt32BE(p + 8))}`);
        type = PCAPNG_SHB;
      } else if (!this.ready) {
        throw new CaptureError(this.file, base + p, `pcapng: first block is ${hex32(type)}, not a section header`);
      }
      const len = rd32(buf, p + 4, le);
      if (len < 12 || (len & 3) !== 0) {
        throw new CaptureError(this.file, base + p, `pcapng block type ${hex32(type)}: bad block length ${len} (must be >= 12 and a multiple of 4)`);
      }
      if (len > MAX_BLOCK_LENGTH) {
        throw new CaptureError(this.file, base + p, `pcapng block type ${hex32(type)}: absurd block length ${len}`);
      }
      if (end - p < len) {
        this.need = len;
        return p;
      }
      const trail = rd32(buf, p + len - 4, le);
      if (trail !== len) {
        throw new CaptureError(this.file, base + p, `pcapng block type ${hex32(type)}: trailing block length ${trail} does not match ${len}`);
      }
      switch (type) {
        case PCAPNG_SHB:
          this.sectionHeader(buf, p, len, le, base);
          break;
        case BT_IDB:
          this.interfaceBlock(buf, p, len, base);
          break;
        case BT_EPB:
          this.packetBlock(buf, p, len, base, true);
          break;
        case BT_OPB:
          this.packetBlock(buf, p, len, base, false);
          break;
        case BT_SPB:
          this.simplePacketBlock(buf, p, len, base);
          break;
        default:
          break; // NRB, ISB, DSB, custom, ...: not needed
      }
      p += len;
    }
  }

  private sectionHeader(buf: Buffer, p: number, len: number, le: boolean, base: number): void {
    if (len < 28) throw new CaptureError(this.file, base + p, `pcapng section header: block length ${len} < 28`);
    const h = parseShbHeader(buf.subarray(p), le);
    if (h.versionMajor !== 1) {
      throw new CaptureError(this.file, base + p + 12, `pcapng section header: unsupported version ${h.versionMajor}.${h.versionMinor}`);
    }
    this.le = le;
    this.ifaces = [];
    this.sectionCount++;
    this.ready = true;
  }

  private interfaceBlock(buf: Buffer, p: number, len: number, base: number): void {
    if (len < 20) throw new CaptureError(this.file, base + p, `pcapng interface description: block length ${len} < 20`);
    const le = this.le;
    const h = parseIdbHeader(buf.subarray(p), le);
    const iface: Iface = { linkType: h.linkType, snaplen: h.snaplen, decimal: true, exp: 6, unitsPerSec: 1e6, tsOffset: 0 };
    // Options: code(2) length(2) value padded to 4, up to opt_endofopt or the block's end.
    let o = p + 16;
    const optEnd = p + len - 4;
    while (o + 4 <= optEnd) {
      const code = rd16(buf, o, le);
      const olen = rd16(buf, o + 2, le);
      if (code === OPT_ENDOFOPT) break;
      const v = o + 4;
      if (v + olen > optEnd) {
        this.warn(this.frame + 1, base + o, `pcapng interface ${this.ifaces.length}: option ${code} overruns the block; options ignored from here`);
        break;
      }
      if (code === IF_TSRESOL && olen >= 1) {
        const r = buf[v]!;
        iface.decimal = (r & 0x80) === 0;
        iface.exp = r & 0x7f;
        iface.unitsPerSec = iface.decimal && iface.exp <= 9 ? 10 ** iface.exp : 0;
      } else if (code === IF_TSOFFSET && olen >= 8) {
        iface.tsOffset = Number(le ? buf.readBigInt64LE(v) : buf.readBigInt64BE(v));
      }
      o = v + ((olen + 3) & ~3);
    }
    this.ifaces.push(iface);
  }

  /** Sets tsSec/tsNsec from a 64-bit timestamp in the interface's units. */
  private tsConvert(iface: Iface, hi: number, lo: number): void {
    const u = iface.unitsPerSec;
    if (u !== 0) {
      // Exact long division of (hi * 2^32 + lo) by u in 16-bit steps: every intermediate
      // stays below 2^53 for u <= 10^9.
      const qh = Math.floor(hi / u);
      const rh = hi - qh * u;
      const x = rh * 65536 + (lo >>> 16);
      const q1 = Math.floor(x / u);
      const y = (x - q1 * u) * 65536 + (lo & 0xffff);
      const q2 = Math.floor(y / u);
      const r = y - q2 * u;
      this.tsSec = qh * 4294967296 + q1 * 65536 + q2 + iface.tsOffset;
      this.tsNsec = r * (1e9 / u);
      return;
    }
    // Rare resolutions (2^-n, or finer than 1 ns): BigInt.
    const t = (BigInt(hi) << 32n) | BigInt(lo);
    const units = iface.decimal ? 10n ** BigInt(iface.exp) : 1n << BigInt(iface.exp);
    const sec = t / units;
    this.tsSec = Number(sec) + iface.tsOffset;
    this.tsNsec = Number(((t - sec * units) * 1_000_000_000n) / units);
  }

  private iface(id: number, p: number, base: number): Iface {
    const iface = this.ifaces[id];
    if (iface === undefined) {
      throw new CaptureError(
        this.file,
        base + p,
        `packet ${this.frame + 1} references interface ${id}, but section ${this.sectionCount} defines ${this.ifaces.length}`,
      );
    }
    return iface;
  }

  /** EPB (enhanced = true) or the obsolete Packet Block: same layout but a 16-bit interface id. */
  private packetBlock(buf: Buffer, p: number, len: number, base: number, enhanced: boolean): void {
    const le = this.le;
    const what = enhanced ? 'enhanced packet block' : 'packet block';
    if (len < 32) throw new CaptureError(this.file, base + p, `pcapng ${what}: block length ${len} < 32`);
    let ifid: number, hi: number, lo: number, caplen: number, orig: number;
    if (le) {
      ifid = enhanced ? buf.readUInt32LE(p + 8) : buf.readUInt16LE(p + 8);
      hi = buf.readUInt32LE(p + 12);
      lo = buf.readUInt32LE(p + 16);
      caplen = buf.readUInt32LE(p + 20);
      orig = buf.readUInt32LE(p + 24);
    } else {
      ifid = enhanced ? buf.readUInt32BE(p + 8) : buf.readUInt16BE(p + 8);
      hi = buf.readUInt32BE(p + 12);
      lo = buf.readUInt32BE(p + 16);
      caplen = buf.readUInt32BE(p + 20);
      orig = buf.readUInt32BE(p + 24);
    }
    if (caplen > MAX_CAPLEN) {
      throw new CaptureError(this.file, base + p, `packet ${this.frame + 1}: captured length ${caplen} is absurd (> 256 MiB)`);
    }
    if (28 + caplen > len - 4) {
      throw new CaptureError(this.file, base + p, `packet ${this.frame + 1}: captured length ${caplen} overruns its ${len}-byte ${what}`);
    }
    const iface = this.iface(ifid, p, base);
    this.tsConvert(iface, hi, lo);
    this.bytes += caplen;
    this.frame++;
    this.deliver(ifid, iface.linkType, this.tsSec, this.tsNsec, orig, buf, p + 28, caplen);
  }

  /** SPB: interface 0, no timestamp (reported as 0), captured length implied by the block. */
  private simplePacketBlock(buf: Buffer, p: number, len: number, base: number): void {
    if (len < 16) throw new CaptureError(this.file, base + p, `pcapng simple packet block: block length ${len} < 16`);
    const orig = rd32(buf, p + 8, this.le);
    const iface = this.iface(0, p, base);
    let caplen = Math.min(orig, len - 16);
    if (iface.snaplen > 0 && caplen > iface.snaplen) caplen = iface.snaplen;
    this.bytes += caplen;
    this.frame++;
    this.deliver(0, iface.linkType, 0, 0, orig, buf, p + 12, caplen);
  }

  private deliver(ifid: number, linkType: number, sec: number, nsec: number, orig: number, buf: Buffer, off: number, caplen: number): void {
    const pkt = this.pkt;
    pkt.frame = this.frame;
    pkt.interfaceId = ifid;
    pkt.linkType = linkType;
    pkt.tsSec = sec;
    pkt.tsNsec = nsec;
    pkt.origLen = orig;
    pkt.buf = buf;
    pkt.offset = off;
    pkt.caplen = caplen;
    this.onPacket(pkt);
    pkt.buf = EMPTY; // a packet kept past its callback reads as empty, not as the next chunk's bytes
  }
}

/**
 * Read a pcap or pcapng file (gzip-compressed or not), calling `onPacket` synchronously for
 * every packet record in file order. The packet object is reused and `p.data` / `p.buf` are
 * views into the chunk being parsed: read them during the callback, copy what you keep.
 *
 * Throws CaptureError (file, stream offset, what) when the file cannot be opened or is corrupt.
 * A file that ends in the middle of its last record is not an error: the complete records are
 * delivered and a warning says how many bytes were missing.
 */
export async function readCapture(
  path: string,
  onPacket: (p: PacketView) => void,
  opts: ReadCaptureOptions = {},
): Promise<CaptureSummary> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    throw new CaptureError(path, 0, `cannot open: ${describeIoError(e)}`);
  }
  let gzip = false;
  try {
    const head = Buffer.alloc(2);
    const { bytesRead } = await fh.read(head, 0, 2, 0);
    gzip = bytesRead === 2 && head[0] === 0x1f && head[1] === 0x8b;
  } catch (e) {
    await fh.close().catch(() => undefined);
    throw new CaptureError(path, 0, `cannot read: ${describeIoError(e)}`);
  }
  const parser = new CaptureParser(path, onPacket, opts.onWarning);
  if (!gzip) {
    try {
      await readPlain(fh, parser);
    } finally {
      await fh.close().catch(() => undefined);
    }
    return parser.finish(false);
  }

  const fileStream = fh.createReadStream({ start: 0, highWaterMark: CHUNK_SIZE });
  const gunzip = createGunzip({ chunkSize: CHUNK_SIZE });
  // Errors reach the iterator through gunzip; the callback only has to exist.
  pipeline(fileStream, gunzip, () => undefined);
  const source: Readable = gunzip;
  const chunks = source[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  try {
    for (;;) {
      let r: IteratorResult<Buffer>;
      try {
        r = await chunks.next();
      } catch (e) {
        const code = (e as NodeJS.ErrnoException | undefined)?.code;
        if (code === 'Z_BUF_ERROR') {
          // The compressed stream stops early: a truncated .gz. Keep what was decompressed.
          parser.warn(parser.frame + 1, parser.offset, 'gzip stream ends early (truncated compressed file)');
          break;
        }
        if (typeof code === 'string' && code.startsWith('Z_')) {
          throw new CaptureError(path, parser.offset, `gzip: ${(e as Error).message}`);
        }
        throw new CaptureError(path, parser.offset, `read error: ${describeIoError(e)}`);
      }
      if (r.done) break;
      // CaptureError from the parser and exceptions of onPacket propagate as they are.
      parser.feed(r.value);
    }
  } finally {
    source.destroy();
    fileStream.destroy();
  }
  return parser.finish(true);
}

/**
 * An uncompressed file is read into two fixed chunks in turn, the next read running while the
 * current chunk is parsed. Reusing the chunks (instead of a stream's fresh 1 MiB buffer per
 * read) keeps memory flat: garbage chunks otherwise pile up between V8's full collections,
 * and peak RSS grew with the file size.
 */
async function readPlain(fh: FileHandle, parser: CaptureParser): Promise<void> {
  const bufs = [Buffer.allocUnsafe(CHUNK_SIZE), Buffer.allocUnsafe(CHUNK_SIZE)];
  let which = 0;
  let pos = 0;
  let next = fh.read(bufs[0]!, 0, CHUNK_SIZE, 0);
  try {
    for (;;) {
      let n: number;
      try {
        n = (await next).bytesRead;
      } catch (e) {
        throw new CaptureError(parser.file, parser.offset, `read error: ${describeIoError(e)}`);
      }
      if (n === 0) break;
      const chunk = bufs[which]!;
      pos += n;
      which ^= 1;
      next = fh.read(bufs[which]!, 0, CHUNK_SIZE, pos);
      // CaptureError from the parser and exceptions of onPacket propagate as they are.
      parser.feed(n === CHUNK_SIZE ? chunk : chunk.subarray(0, n));
    }
  } catch (e) {
    // Let the read in flight finish before the file is closed; its result no longer matters.
    await next.catch(() => undefined);
    throw e;
  }
}

function describeIoError(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  // Node's messages already start with the code ("ENOENT: no such file or directory, open '…'").
  if (err && typeof err.message === 'string') return err.code && !err.message.startsWith(err.code) ? `${err.code}: ${err.message}` : err.message;
  return String(e);
}
