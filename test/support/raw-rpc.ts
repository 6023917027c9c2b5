// A raw DCE/RPC-over-TCP client for conformance tests: hand-built PDUs out, whole PDUs in
// (framed by frag_length, kept with their bytes), and whether the server closed the connection.
// Every wait has a timeout, so a test never hangs on a server that stays silent.
import net from 'node:net';
import {
  DREP_LE, NDR20, PFC, PType, PduFramer, decodePdu, encodePdu,
  type BindPdu, type ContextElement, type Pdu, type RequestPdu, type SyntaxId,
} from '../../src/pdu';

/** Longest wait for one expectation (a PDU, a close). */
export const WAIT_MS = 2000;

export interface Received {
  /** The PDU exactly as it came off the wire (frag_length bytes). */
  bytes: Buffer;
  pdu: Pdu;
}

const FL = PFC.FIRST_FRAG | PFC.LAST_FRAG;

export class RawRpc {
  private readonly queue: Received[] = [];
  private wake: (() => void) | null = null;
  private readonly framer: PduFramer<undefined>;
  /** Set once the server ended or reset the connection. */
  closed = false;
  /** Bytes from the server that were not a DCE/RPC PDU (a test failure in itself). */
  garbage: string[] = [];

  private constructor(readonly sock: net.Socket) {
    this.framer = new PduFramer<undefined>((b) => {
      const bytes = Buffer.from(b);
      try {
        this.queue.push({ bytes, pdu: decodePdu(bytes) });
      } catch (e) {
        this.garbage.push(`${bytes.toString('hex')}: ${(e as Error).message}`);
      }
      this.notify();
    });
    sock.setNoDelay(true);
    sock.on('data', (d) => {
      try {
        this.framer.push(d, undefined);
      } catch (e) {
        this.garbage.push(`${d.toString('hex')}: ${(e as Error).message}`);
        this.notify();
      }
    });
    const gone = () => {
      this.closed = true;
      this.notify();
    };
    sock.on('end', gone);
    sock.on('close', gone);
    sock.on('error', gone);
  }

  static connect(port: number, host = '127.0.0.1', timeoutMs = WAIT_MS): Promise<RawRpc> {
    return new Promise((resolve, reject) => {
      const sock = net.connect({ host, port });
      const timer = setTimeout(() => {
        sock.destroy();
        reject(new Error(`connect to ${host}:${port} timed out`));
      }, timeoutMs);
      sock.once('connect', () => {
        clearTimeout(timer);
        sock.removeAllListeners('error');
        resolve(new RawRpc(sock));
      });
      sock.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
  }

  private notify(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  /** Wait until something happens (a PDU, a close) or `ms` pass. */
  private waitEvent(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wake = null;
        resolve();
      }, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  /** Send a PDU (encoded here) or raw bytes. */
  send(p: Pdu | Buffer | Buffer[]): void {
    const buf = Buffer.isBuffer(p) ? p : Array.isArray(p) ? Buffer.concat(p) : encodePdu(p);
    if (!this.sock.destroyed) this.sock.write(buf);
  }

  /** The next PDU from the server; throws if the connection closes first or nothing comes in time. */
  async next(timeoutMs = WAIT_MS): Promise<Received> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = this.queue.shift();
      if (r) return r;
      if (this.garbage.length) throw new Error(`server sent non-DCE/RPC bytes: ${this.garbage.join('; ')}`);
      if (this.closed) throw new Error('the server closed the connection without sending a PDU');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no PDU from the server within ${timeoutMs} ms`);
      await this.waitEvent(left);
    }
  }

  /** The next `n` PDUs. */
  async take(n: number, timeoutMs = WAIT_MS): Promise<Received[]> {
    const out: Received[] = [];
    for (let i = 0; i < n; i++) out.push(await this.next(timeoutMs));
    return out;
  }

  /**
   * True when the server closes the connection within `timeoutMs`. PDUs still unread stay
   * queued (check `unread()`): a close is only "clean" when nothing else was sent.
   */
  async waitForClose(timeoutMs = WAIT_MS): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await this.waitEvent(left);
    }
    return true;
  }

  /**
   * Wait `ms` and report what happened: 'silent' (open, nothing received), 'closed', or the
   * ptypes received. For "the server ignores this" expectations.
   */
  async quietFor(ms = 300): Promise<'silent' | 'closed' | number[]> {
    const deadline = Date.now() + ms;
    for (;;) {
      if (this.queue.length) return this.queue.map((r) => r.pdu.ptype);
      if (this.closed) return 'closed';
      const left = deadline - Date.now();
      if (left <= 0) return 'silent';
      await this.waitEvent(left);
    }
  }

  /** ptypes of PDUs received but not read yet. */
  unread(): number[] {
    return this.queue.map((r) => r.pdu.ptype);
  }

  destroy(): void {
    this.sock.destroy();
  }
}

// ---- PDU builders ----------------------------------------------------------------------------

/** Bind-time feature negotiation syntax (MS-RPCE 2.2.2.14): 6cb71c2c-9812-4540-<bitmask LE>-000000000000 v1. */
export function btfnSyntax(bits: number): SyntaxId {
  const h = (n: number) => n.toString(16).padStart(2, '0');
  return { uuid: `6cb71c2c-9812-4540-${h(bits & 0xff)}${h((bits >>> 8) & 0xff)}-000000000000`, version: 1 };
}

export function ctxItem(ctxId: number, abstractSyntax: SyntaxId, transferSyntaxes: SyntaxId[] = [{ ...NDR20 }]): ContextElement {
  return { ctxId, abstractSyntax, transferSyntaxes };
}

export interface BindOpts {
  callId?: number;
  contexts: ContextElement[];
  maxXmit?: number;
  maxRecv?: number;
  assocGroupId?: number;
  flags?: number;
  rpcVersMinor?: number;
  drep?: number;
}

export function bind(o: BindOpts): BindPdu {
  return {
    ptype: PType.bind, rpcVersMinor: o.rpcVersMinor ?? 0, flags: o.flags ?? FL, drep: o.drep ?? DREP_LE,
    callId: o.callId ?? 1, maxXmitFrag: o.maxXmit ?? 5840, maxRecvFrag: o.maxRecv ?? 5840,
    assocGroupId: o.assocGroupId ?? 0, contexts: o.contexts,
  };
}

export function alter(o: BindOpts): BindPdu {
  return { ...bind(o), ptype: PType.alter_context };
}

export interface RequestOpts {
  callId: number;
  ctxId: number;
  opnum: number;
  stub: Buffer;
  flags?: number;
  allocHint?: number;
  drep?: number;
  object?: string;
}

export function request(o: RequestOpts): RequestPdu {
  const p: RequestPdu = {
    ptype: PType.request, rpcVersMinor: 0, flags: o.flags ?? FL, drep: o.drep ?? DREP_LE, callId: o.callId,
    allocHint: o.allocHint ?? o.stub.length, ctxId: o.ctxId, opnum: o.opnum, stub: o.stub,
  };
  if (o.object !== undefined) {
    p.object = o.object;
    p.flags |= PFC.OBJECT_UUID;
  }
  return p;
}

/** auth3, shutdown, co_cancel, orphaned: header and an opaque body. */
export function simple(ptype: 16 | 17 | 18 | 19, callId: number, flags = FL, body = Buffer.alloc(0)): Pdu {
  return { ptype, rpcVersMinor: 0, flags, drep: DREP_LE, callId, body };
}

/**
 * A request split into fragments of at most `maxFrag` bytes (stub chunks a multiple of 8), with
 * alloc_hint = the bytes still to come, FIRST on the first and LAST on the last.
 */
export function fragmentedRequest(o: RequestOpts & { maxFrag: number }): RequestPdu[] {
  let room = o.maxFrag - 24;
  room -= room % 8;
  const out: RequestPdu[] = [];
  for (let off = 0; off < o.stub.length; off += room) {
    const part = o.stub.subarray(off, Math.min(o.stub.length, off + room));
    let flags = 0;
    if (off === 0) flags |= PFC.FIRST_FRAG;
    if (off + room >= o.stub.length) flags |= PFC.LAST_FRAG;
    out.push(request({ ...o, stub: part, flags, allocHint: o.stub.length - off }));
  }
  return out;
}
