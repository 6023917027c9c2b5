// Buffered synchronous stdout. Dissecting is a synchronous loop per capture chunk, so writes
// must block rather than queue: that keeps memory flat however much we print.
import { writeSync } from 'node:fs';

export class SyncWriter {
  private parts: string[] = [];
  private size = 0;
  constructor(private readonly fd = 1, private readonly flushAt = 1 << 16) {}

  write(s: string): void {
    this.parts.push(s);
    this.size += s.length;
    if (this.size >= this.flushAt) this.flush();
  }

  line(s: string): void {
    this.write(s + '\n');
  }

  flush(): void {
    if (this.size === 0) return;
    let buf = Buffer.from(this.parts.join(''), 'utf8');
    this.parts = [];
    this.size = 0;
    while (buf.length > 0) {
      try {
        const n = writeSync(this.fd, buf);
        buf = buf.subarray(n);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EAGAIN') {
          // A non-blocking pipe is full: wait a moment for the reader.
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2);
          continue;
        }
        if (code === 'EPIPE') return; // reader went away (e.g. `| head`): stop quietly
        throw e;
      }
    }
  }
}
