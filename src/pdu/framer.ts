// Splits a byte stream into PDUs by frag_length. Sockets use it strictly; captures use the
// heuristic mode, which only (re)synchronises at the start of a segment, the way tshark's
// DCE/RPC-over-TCP heuristic does, and drops bytes it cannot place after a gap.
import { PduDecodeError } from '../base/errors';
import { CO_PTYPES, COMMON_HEADER_LENGTH, SEC_TRAILER_LENGTH } from './constants';

/** frag_length if a plausible CO header starts at `off` (needs 16 bytes before `end`), else 0. */
export function plausibleHeader(buf: Buffer, off: number, end = buf.length): number {
  if (end - off < COMMON_HEADER_LENGTH) return 0;
  if (buf[off] !== 5) return 0;
  const minor = buf[off + 1]!;
  if (minor > 1) return 0;
  if (!CO_PTYPES.has(buf[off + 2]!)) return 0;
  const d0 = buf[off + 4]!;
  if ((d0 & 0xee) !== 0 || buf[off + 5]! > 3) return 0;
  const le = (d0 & 0x10) !== 0;
  const frag = le ? buf[off + 8]! | (buf[off + 9]! << 8) : (buf[off + 8]! << 8) | buf[off + 9]!;
  const auth = le ? buf[off + 10]! | (buf[off + 11]! << 8) : (buf[off + 10]! << 8) | buf[off + 11]!;
  if (frag < COMMON_HEADER_LENGTH) return 0;
  if (auth > 0 && auth + SEC_TRAILER_LENGTH > frag - COMMON_HEADER_LENGTH) return 0;
  return frag;
}

export interface FramerOptions {
  /** Capture mode: resynchronise at segment starts instead of failing. */
  heuristic?: boolean;
  /** Largest frag_length accepted (strict mode); larger is a protocol error. */
  maxFragLength?: number;
}

/**
 * Push bytes in, get whole PDUs out. `M` is per-chunk metadata (a capture frame, a timestamp)
 * handed back with the PDU it completed.
 */
export class PduFramer<M = undefined> {
  private pending: Buffer | null = null;
  private synced: boolean;
  /** Bytes dropped because no PDU could be placed there (heuristic mode). */
  skippedBytes = 0;
  readonly heuristic: boolean;
  readonly maxFragLength: number;

  constructor(
    private readonly onPdu: (pdu: Buffer, meta: M) => void,
    opts: FramerOptions = {},
  ) {
    this.heuristic = opts.heuristic ?? false;
    this.maxFragLength = opts.maxFragLength ?? 0xffff;
    this.synced = !this.heuristic;
  }

  /** In heuristic mode: bytes are missing; forget the partial PDU and wait for a header. */
  gap(): void {
    if (this.pending) this.skippedBytes += this.pending.length;
    this.pending = null;
    if (this.heuristic) this.synced = false;
  }

  /** Bytes still held for an incomplete PDU. */
  get buffered(): number {
    return this.pending ? this.pending.length : 0;
  }

  push(chunk: Buffer, meta: M): void {
    this.pushRange(chunk, 0, chunk.length, meta);
  }

  /** push() for the bytes chunk[start, end), without making a view of them first. */
  pushRange(chunk: Buffer, start: number, end: number, meta: M): void {
    let buf: Buffer;
    let off = start;
    if (this.pending) {
      buf = Buffer.concat([this.pending, chunk.subarray(start, end)]);
      this.pending = null;
      off = 0;
      end = buf.length;
    } else {
      buf = chunk;
      if (!this.synced) {
        // Resync only where a segment starts, as tshark does.
        if (plausibleHeader(buf, off, end) === 0) {
          this.skippedBytes += end - off;
          return;
        }
        this.synced = true;
      }
    }
    while (off < end) {
      const left = end - off;
      if (left < COMMON_HEADER_LENGTH) break;
      let frag: number;
      if (this.heuristic) {
        frag = plausibleHeader(buf, off, end);
        if (frag === 0) {
          this.skippedBytes += left;
          this.synced = false;
          return;
        }
      } else {
        if (buf[off] !== 5) throw new PduDecodeError(off, `rpc_vers ${buf[off]}, expected 5`);
        const le = (buf[off + 4]! & 0x10) !== 0;
        frag = le ? buf[off + 8]! | (buf[off + 9]! << 8) : (buf[off + 8]! << 8) | buf[off + 9]!;
        if (frag < COMMON_HEADER_LENGTH) throw new PduDecodeError(off + 8, `frag_length ${frag} below the header size`);
        if (frag > this.maxFragLength) {
          throw new PduDecodeError(off + 8, `frag_length ${frag} exceeds the negotiated ${this.maxFragLength}`);
        }
      }
      if (frag > left) break;
      this.onPdu(buf.subarray(off, off + frag), meta);
      off += frag;
    }
    if (off < end) this.pending = Buffer.from(buf.subarray(off, end));
  }
}
