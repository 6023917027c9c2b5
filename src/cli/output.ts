// Buffered synchronous stdout. Dissecting is a synchronous loop per capture chunk, so writes
// must block rather than queue: that keeps memory flat however much we print. Lines are
// encoded straight into one reusable buffer (joining strings first measured slower).
import { writeSync } from 'node:fs';

export class SyncWriter {
  private readonly buf: Buffer;
  private used = 0;
  private closed = false;

  constructor(private readonly fd = 1, size = 1 << 18) {
    this.buf = Buffer.allocUnsafe(size);
  }

  /** Room for `n` more bytes, flushing if need be; false when `n` is more than the buffer holds. */
  private room(n: number): boolean {
    if (this.used + n <= this.buf.length) return true;
    this.flush();
    return n <= this.buf.length;
  }

  write(s: string): void {
    // A UTF-16 code unit takes at most 3 UTF-8 bytes.
    if (!this.room(s.length * 3)) {
      this.writeAll(Buffer.from(s, 'utf8'));
      return;
    }
    this.used += this.buf.write(s, this.used, 'utf8');
  }

  /**
   * A line the caller knows is ASCII (dissect's jsonl records): written as Latin-1, which for
   * ASCII is the same bytes and is a plain copy, where UTF-8 examines every character (a
   * quarter cheaper per line, measured; both flatten the string first). A character past
   * U+007F would be written wrong, so only text built for it goes here.
   */
  asciiLine(s: string): void {
    if (!this.room(s.length + 1)) {
      this.writeAll(Buffer.from(s + '\n', 'latin1'));
      return;
    }
    this.used += this.buf.write(s, this.used, 'latin1');
    this.buf[this.used++] = 0x0a;
  }

  /** Bytes already encoded (copied now: `b` may be reused). */
  bytes(b: Uint8Array): void {
    if (!this.room(b.length)) {
      this.writeAll(Buffer.from(b));
      return;
    }
    this.buf.set(b, this.used);
    this.used += b.length;
  }

  line(s: string): void {
    this.write(s);
    if (this.used >= this.buf.length) this.flush();
    this.buf[this.used++] = 0x0a;
  }

  flush(): void {
    if (this.used === 0) return;
    this.writeAll(this.buf.subarray(0, this.used));
    this.used = 0;
  }

  private writeAll(b: Buffer): void {
    while (b.length > 0 && !this.closed) {
      try {
        b = b.subarray(writeSync(this.fd, b));
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EAGAIN') {
          // A non-blocking pipe is full: wait a moment for the reader.
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2);
          continue;
        }
        if (code === 'EPIPE') {
          // The reader went away (e.g. `| head`): nothing more will be read, so stop at once.
          this.closed = true;
          process.exit(0);
        }
        throw e;
      }
    }
  }
}
