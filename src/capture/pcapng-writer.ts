// A streaming pcapng writer (draft-ietf-opsawg-pcapng): one section (SHB), interfaces (IDB) added
// at any time before their first packet, and Enhanced Packet Blocks (EPB), all little-endian (the
// byte-order magic 0x1A2B3C4D says so; readers handle either order).
//
// Block layout (section 3.1): type (4) · total length (4) · body · total length (4), every block a
// multiple of 4 bytes; options (section 3.5) are code (2) · length (2) · value padded to 4, ended by
// opt_endofopt (0, 0).
//
// Buffering: blocks go into one 256 KiB buffer that is written to the file (synchronously) when it
// fills, 100 ms after the first unwritten block, and on close. The producer is a socket tap that
// cannot be slowed down, so a write stream (whose queue grows without bound when the disk lags) is
// not used: memory stays at the buffer plus one block, and a crash loses at most 100 ms of packets.
// A write error (disk full...) stops the writing and is reported once through `onError`; it never
// throws into the caller's socket handlers.
import { closeSync, openSync, writeSync } from 'node:fs';
import { SmartBuffer } from 'smart-buffer';

export const PCAPNG_BLOCK_SHB = 0x0a0d0d0a;
export const PCAPNG_BLOCK_IDB = 0x00000001;
export const PCAPNG_BLOCK_EPB = 0x00000006;
export const PCAPNG_BYTE_ORDER_MAGIC = 0x1a2b3c4d;

/** Option codes (draft-ietf-opsawg-pcapng sections 3.5, 4.1, 4.2, 4.3). */
export const OPT = {
  endofopt: 0,
  comment: 1,
  shb_hardware: 2,
  shb_os: 3,
  shb_userappl: 4,
  if_name: 2,
  if_description: 3,
  if_tsresol: 9,
  if_os: 12,
  epb_flags: 2,
} as const;

/** epb_flags direction bits (section 4.3.1). */
export const EPB_INBOUND = 0x1;
export const EPB_OUTBOUND = 0x2;

const BATCH_SIZE = 256 * 1024;
const FLUSH_DELAY_MS = 100;

export interface PcapngSectionOptions {
  /** opt_comment: one or more comments (each its own option). */
  comment?: string | readonly string[];
  /** shb_hardware */
  hardware?: string;
  /** shb_os */
  os?: string;
  /** shb_userappl, e.g. "dcomlab 0.1.0". */
  userAppl?: string;
}

export interface PcapngInterfaceOptions {
  /** LINKTYPE_* (default 1, Ethernet). */
  linkType?: number;
  /** Largest captured length (default 262144, as dumpcap writes). */
  snapLen?: number;
  /** if_name */
  name?: string;
  /** if_description */
  description?: string;
  /** if_os */
  os?: string;
  /** opt_comment */
  comment?: string;
  /** Timestamp resolution: 6 (microseconds, the default without if_tsresol) or 9 (nanoseconds, the default here). */
  tsResol?: 6 | 9;
}

export interface PcapngPacketOptions {
  /** opt_comment */
  comment?: string;
  /** epb_flags (EPB_INBOUND / EPB_OUTBOUND...). */
  flags?: number;
  /** Original length when the captured bytes are fewer (default: the captured length). */
  origLen?: number;
}

export interface PcapngWriterOptions extends PcapngSectionOptions {
  /** Told once about a write error; the writer then drops everything. */
  onError?: (e: Error) => void;
}

/** An option as written: value padded to 4 bytes. */
function optionLength(valueLength: number): number {
  return 4 + ((valueLength + 3) & ~3);
}

type Opt = [code: number, value: Buffer];

function stringOpt(code: number, s: string | undefined): Opt[] {
  return s === undefined ? [] : [[code, Buffer.from(s, 'utf8')]];
}

/** Options (and the opt_endofopt) into `sb`; nothing at all when there are none. */
function writeOptions(sb: SmartBuffer, opts: readonly Opt[]): void {
  if (opts.length === 0) return;
  for (const [code, value] of opts) {
    if (value.length > 0xffff) throw new RangeError(`pcapng option ${code}: value of ${value.length} bytes (at most 65535)`);
    sb.writeUInt16LE(code);
    sb.writeUInt16LE(value.length);
    sb.writeBuffer(value);
    const pad = (4 - (value.length & 3)) & 3;
    if (pad) sb.writeBuffer(Buffer.alloc(pad));
  }
  sb.writeUInt16LE(OPT.endofopt);
  sb.writeUInt16LE(0);
}

/** A whole block: type, length (patched once the body is known), body, trailing length. */
function block(type: number, body: (sb: SmartBuffer) => void): Buffer {
  const sb = SmartBuffer.fromSize(256);
  sb.writeUInt32LE(type);
  sb.writeUInt32LE(0); // block total length, patched below
  body(sb);
  const total = sb.length + 4;
  sb.writeUInt32LE(total, 4);
  sb.writeUInt32LE(total);
  return sb.toBuffer();
}

/** The Section Header Block (section 4.1), section length unknown (-1: a streamed file). */
export function sectionHeaderBlock(o: PcapngSectionOptions): Buffer {
  const comments = o.comment === undefined ? [] : typeof o.comment === 'string' ? [o.comment] : o.comment;
  const opts: Opt[] = [
    ...comments.flatMap((c) => stringOpt(OPT.comment, c)),
    ...stringOpt(OPT.shb_hardware, o.hardware),
    ...stringOpt(OPT.shb_os, o.os),
    ...stringOpt(OPT.shb_userappl, o.userAppl),
  ];
  return block(PCAPNG_BLOCK_SHB, (sb) => {
    sb.writeUInt32LE(PCAPNG_BYTE_ORDER_MAGIC);
    sb.writeUInt16LE(1); // major version
    sb.writeUInt16LE(0); // minor version
    sb.writeUInt32LE(0xffffffff); // section length: -1 (int64)
    sb.writeUInt32LE(0xffffffff);
    writeOptions(sb, opts);
  });
}

/** An Interface Description Block (section 4.2). */
export function interfaceDescriptionBlock(o: PcapngInterfaceOptions): Buffer {
  const opts: Opt[] = [
    ...stringOpt(OPT.comment, o.comment),
    ...stringOpt(OPT.if_name, o.name),
    ...stringOpt(OPT.if_description, o.description),
    [OPT.if_tsresol, Buffer.from([o.tsResol ?? 9])],
    ...stringOpt(OPT.if_os, o.os),
  ];
  return block(PCAPNG_BLOCK_IDB, (sb) => {
    sb.writeUInt16LE(o.linkType ?? 1);
    sb.writeUInt16LE(0); // reserved
    sb.writeUInt32LE(o.snapLen ?? 262144);
    writeOptions(sb, opts);
  });
}

/** Monotonic nanoseconds since the epoch: the wall clock once, then hrtime. */
const CLOCK_BASE = BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint();

export class PcapngWriter {
  private fd: number | undefined;
  private readonly batch = Buffer.allocUnsafe(BATCH_SIZE);
  private used = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly ifaces: { tsResol: 6 | 9 }[] = [];
  private lastTs = 0n;
  private failed = false;
  /** Packets written (Enhanced Packet Blocks). */
  packets = 0;
  /** Bytes written to the file so far (blocks handed to it, including those still buffered). */
  bytes = 0;

  private constructor(readonly file: string, fd: number, private readonly o: PcapngWriterOptions) {
    this.fd = fd;
    this.put(sectionHeaderBlock(o));
  }

  /** Create (or truncate) `file` and write the section header. Throws if the file cannot be opened. */
  static open(file: string, o: PcapngWriterOptions = {}): PcapngWriter {
    return new PcapngWriter(file, openSync(file, 'w'), o);
  }

  get closed(): boolean {
    return this.fd === undefined;
  }

  get interfaceCount(): number {
    return this.ifaces.length;
  }

  /** Add an interface; returns its id (0, 1, ...), which packets name. */
  addInterface(o: PcapngInterfaceOptions = {}): number {
    this.ifaces.push({ tsResol: o.tsResol ?? 9 });
    this.put(interfaceDescriptionBlock(o));
    return this.ifaces.length - 1;
  }

  /** Now, in nanoseconds since the epoch, strictly after every earlier `now()`. */
  now(): bigint {
    let t = CLOCK_BASE + process.hrtime.bigint();
    if (t <= this.lastTs) t = this.lastTs + 1n;
    this.lastTs = t;
    return t;
  }

  /**
   * An Enhanced Packet Block (section 4.3) on interface `iface`, time `tsNs` (nanoseconds since
   * the epoch; default now). `data` may come in parts (headers, then a payload): they are copied
   * one after the other.
   */
  writePacket(iface: number, data: Buffer | readonly Buffer[], tsNs: bigint = this.now(), o: PcapngPacketOptions = {}): void {
    if (this.fd === undefined || this.failed) return;
    const itf = this.ifaces[iface];
    if (!itf) throw new RangeError(`pcapng: no interface ${iface} (${this.ifaces.length} defined)`);
    const parts = Buffer.isBuffer(data) ? [data] : data;
    let caplen = 0;
    for (const p of parts) caplen += p.length;
    const comment = o.comment === undefined ? undefined : Buffer.from(o.comment, 'utf8');
    const optLen = (o.flags !== undefined ? optionLength(4) : 0) + (comment ? optionLength(comment.length) : 0);
    const total = 28 + ((caplen + 3) & ~3) + (optLen ? optLen + 4 : 0) + 4;
    const ts = itf.tsResol === 9 ? tsNs : tsNs / 1000n;
    let buf: Buffer;
    let at: number;
    if (total <= BATCH_SIZE) {
      if (this.used + total > BATCH_SIZE) this.flush();
      buf = this.batch;
      at = this.used;
    } else {
      this.flush();
      buf = Buffer.alloc(total);
      at = 0;
    }
    const start = at;
    buf.writeUInt32LE(PCAPNG_BLOCK_EPB, at);
    buf.writeUInt32LE(total, at + 4);
    buf.writeUInt32LE(iface, at + 8);
    buf.writeUInt32LE(Number((ts >> 32n) & 0xffffffffn), at + 12);
    buf.writeUInt32LE(Number(ts & 0xffffffffn), at + 16);
    buf.writeUInt32LE(caplen, at + 20);
    buf.writeUInt32LE(o.origLen ?? caplen, at + 24);
    at += 28;
    for (const p of parts) at += p.copy(buf, at);
    while (at & 3) buf[at++] = 0;
    if (optLen) {
      if (comment) {
        if (comment.length > 0xffff) throw new RangeError('pcapng: packet comment longer than 65535 bytes');
        buf.writeUInt16LE(OPT.comment, at);
        buf.writeUInt16LE(comment.length, at + 2);
        at += 4;
        at += comment.copy(buf, at);
        while (at & 3) buf[at++] = 0;
      }
      if (o.flags !== undefined) {
        buf.writeUInt16LE(OPT.epb_flags, at);
        buf.writeUInt16LE(4, at + 2);
        buf.writeUInt32LE(o.flags >>> 0, at + 4);
        at += 8;
      }
      buf.writeUInt32LE(0, at); // opt_endofopt
      at += 4;
    }
    buf.writeUInt32LE(total, at);
    at += 4;
    if (at - start !== total) throw new Error(`pcapng: EPB length ${at - start} != ${total}`);
    this.packets++;
    this.bytes += total;
    if (buf === this.batch) {
      this.used = at;
      this.schedule();
    } else {
      this.writeOut(buf);
    }
  }

  /** Write whatever is buffered to the file now. */
  flush(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.used === 0) return;
    const n = this.used;
    this.used = 0;
    this.writeOut(this.batch.subarray(0, n));
  }

  /** Flush and close the file. Safe to call more than once. */
  close(): void {
    if (this.fd === undefined) return;
    this.flush();
    const fd = this.fd;
    this.fd = undefined;
    try {
      closeSync(fd);
    } catch (e) {
      this.fail(e as Error);
    }
  }

  /** A whole block (SHB, IDB) into the buffer. */
  private put(b: Buffer): void {
    if (this.fd === undefined || this.failed) return;
    this.bytes += b.length;
    if (b.length > BATCH_SIZE - this.used) {
      this.flush();
      if (b.length > BATCH_SIZE) return this.writeOut(b);
    }
    b.copy(this.batch, this.used);
    this.used += b.length;
    this.schedule();
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, FLUSH_DELAY_MS);
    this.timer.unref();
  }

  private writeOut(b: Buffer): void {
    if (this.fd === undefined || this.failed) return;
    try {
      let off = 0;
      while (off < b.length) off += writeSync(this.fd, b, off, b.length - off);
    } catch (e) {
      this.fail(e as Error);
    }
  }

  private fail(e: Error): void {
    if (this.failed) return;
    this.failed = true;
    this.o.onError?.(e);
  }
}
