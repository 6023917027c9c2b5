// A pcapng recorder for dcomlab's own sockets: it implements the RPC runtime's socket tap
// (src/rpc/tap.ts) and writes what each connection sent and received as Ethernet/IP/TCP frames,
// so that tshark (or dcomlab dissect) reads a recording like a capture.
//
// Only the bytes are real: the sockets' addresses and ports, and the payload in the order it was
// read and written. The rest is synthesised, consistently:
// - per connection, a three-way handshake when it opens (SYN, SYN/ACK, ACK; MSS and window scale
//   options), a random ISN per direction;
// - one segment per chunk read or written, split at the MSS (65,495 bytes: the loopback MSS, an
//   IPv4 datagram of 65,535 bytes), PSH on a chunk's last segment, every segment acknowledging
//   everything received so far; a pure ACK from the receiver when 2 MSS are unacknowledged;
// - on close, FIN/ACK from the side that closed first, FIN/ACK back, ACK (or RST/ACK for a reset);
// - IPv4 (DF, TTL 64, an ID per direction) or IPv6 (hop limit 64) headers with correct header and
//   TCP checksums; Ethernet with a made-up, stable, locally administered MAC per IP address.
// IPv4-mapped IPv6 addresses (a dual-stack listener) are written as IPv4.
//
// Interfaces: one per listener for accepted connections (named "dcomlab ADDR:PORT"), one per local
// address for outgoing connections ("dcomlab ADDR outgoing"). Packets carry epb_flags inbound or
// outbound, from the recording process's point of view.
import { createHash, randomInt } from 'node:crypto';
import net from 'node:net';
import { VERSION } from '../version';
import type { SocketTap, TapEndpoint, TapEvent } from '../rpc/tap';
import { EPB_INBOUND, EPB_OUTBOUND, PcapngWriter, type PcapngSectionOptions } from './pcapng-writer';
import { TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN } from './decode';

/** Largest TCP payload per segment: 65,535 (the largest IPv4 datagram) - 20 (IPv4) - 20 (TCP). */
export const DEFAULT_MSS = 65495;
/** The window field after the handshake, scaled by 2^WINDOW_SHIFT (about 8 MiB). */
const WINDOW = 0xffff;
const WINDOW_SHIFT = 7;

export interface RecorderOptions extends Pick<PcapngSectionOptions, 'comment' | 'hardware' | 'os'> {
  /** shb_userappl (default "dcomlab VERSION"). */
  userAppl?: string;
  /** Largest payload per segment (default 65,495). */
  mss?: number;
  /** Told once if writing fails (the recorder then drops everything; the sockets are unaffected). */
  onError?: (e: Error) => void;
}

interface Side {
  ip: Buffer;
  port: number;
  mac: Buffer;
  /** Next sequence number this side sends. */
  next: number;
  /** Highest of this side's sequence numbers the other side acknowledged. */
  acked: number;
  ipId: number;
}

interface Conn {
  iface: number;
  v6: boolean;
  /** The recording process's end of the connection, and the peer's. */
  local: Side;
  remote: Side;
}

/** IPv4 or IPv6 text to bytes (IPv4-mapped IPv6 becomes IPv4); null if it is neither. */
export function ipBytes(address: string): Buffer | null {
  let a = address;
  const zone = a.indexOf('%');
  if (zone >= 0) a = a.slice(0, zone);
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(a);
  if (mapped) a = mapped[1]!;
  if (net.isIPv4(a)) return Buffer.from(a.split('.').map(Number));
  if (!net.isIPv6(a)) return null;
  // A trailing dotted quad ("64:ff9b::192.0.2.1") as its two 16-bit groups.
  a = a.replace(/(\d+)\.(\d+)\.(\d+)\.(\d+)$/, (_m, p, q, r, t) =>
    `${((Number(p) << 8) | Number(q)).toString(16)}:${((Number(r) << 8) | Number(t)).toString(16)}`);
  const words = (s: string) => (s === '' ? [] : s.split(':').map((w) => parseInt(w, 16)));
  const dbl = a.indexOf('::');
  let groups: number[];
  if (dbl >= 0) {
    const head = words(a.slice(0, dbl));
    const rest = words(a.slice(dbl + 2));
    const fill = 8 - head.length - rest.length;
    groups = [...head, ...Array<number>(Math.max(0, fill)).fill(0), ...rest];
  } else {
    groups = words(a);
  }
  if (groups.length !== 8) return null;
  const b = Buffer.alloc(16);
  groups.forEach((g, i) => b.writeUInt16BE(g & 0xffff, i * 2));
  return b;
}

/** A stable, locally administered unicast MAC for an address: 02 + five bytes of its SHA-1. */
export function macFor(ip: Buffer): Buffer {
  const h = createHash('sha1').update(ip).digest();
  const mac = Buffer.alloc(6);
  mac[0] = 0x02;
  h.copy(mac, 1, 0, 5);
  return mac;
}

/** Ones' complement sum of buf[off, off + len) added to `sum` (not folded). */
function sum16(buf: Buffer, off: number, len: number, sum: number): number {
  const end = off + len - 1;
  let i = off;
  for (; i < end; i += 2) sum += (buf[i]! << 8) | buf[i + 1]!;
  if (i === end) sum += buf[i]! << 8;
  return sum;
}

function fold(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return ~sum & 0xffff;
}

/** The IPv4 header checksum (RFC 791) of buf[off, off + 20) with its checksum field zero. */
export function ipv4Checksum(buf: Buffer, off: number): number {
  return fold(sum16(buf, off, 20, 0));
}

const show = (addr: string) => (addr.includes(':') ? `[${addr}]` : addr);

/** IPv4-mapped IPv6 text as IPv4 (for names). */
function plain(addr: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(addr);
  return m ? m[1]! : addr;
}

export class CaptureRecorder {
  readonly writer: PcapngWriter;
  readonly mss: number;
  private readonly ifaces = new Map<string, number>();
  private readonly conns = new Map<number, Conn>();
  /** Connections recorded so far (opened). */
  connections = 0;

  /** The tap to give RpcServer / RpcConnection / DcomClient options (`tap: recorder.tap`). */
  readonly tap: SocketTap = (e) => this.onEvent(e);

  constructor(writer: PcapngWriter, o: Pick<RecorderOptions, 'mss'> = {}) {
    this.writer = writer;
    this.mss = o.mss ?? DEFAULT_MSS;
    if (!Number.isInteger(this.mss) || this.mss < 1 || this.mss > DEFAULT_MSS) throw new RangeError(`mss must be 1..${DEFAULT_MSS}`);
  }

  /** Create (or truncate) `file` and start recording into it. */
  static open(file: string, o: RecorderOptions = {}): CaptureRecorder {
    const writer = PcapngWriter.open(file, {
      userAppl: o.userAppl ?? `dcomlab ${VERSION}`,
      ...(o.comment !== undefined ? { comment: o.comment } : {}),
      ...(o.hardware !== undefined ? { hardware: o.hardware } : {}),
      ...(o.os !== undefined ? { os: o.os } : {}),
      ...(o.onError ? { onError: o.onError } : {}),
    });
    return new CaptureRecorder(writer, o);
  }

  /**
   * Declare a listener now, so that its interface exists (in this order) even before a connection
   * arrives. Returns the interface id.
   */
  addListener(host: string, port: number): number {
    return this.iface(`listen ${plain(host)}:${port}`, `dcomlab ${show(plain(host))}:${port}`, `connections accepted on ${show(plain(host))}:${port}`);
  }

  /** Declare the interface of outgoing connections from `host`. */
  addOutgoing(host: string): number {
    return this.iface(`out ${plain(host)}`, `dcomlab ${plain(host)} outgoing`, `connections made from ${plain(host)}`);
  }

  private iface(key: string, name: string, description: string): number {
    let id = this.ifaces.get(key);
    if (id === undefined) {
      id = this.writer.addInterface({ name, description, linkType: 1, tsResol: 9 });
      this.ifaces.set(key, id);
    }
    return id;
  }

  /** The interface of an accepted connection: its listener's, or a wildcard listener's on that port. */
  private listenerIface(local: TapEndpoint): number {
    const host = plain(local.address);
    const exact = this.ifaces.get(`listen ${host}:${local.port}`);
    if (exact !== undefined) return exact;
    for (const any of ['0.0.0.0', '::']) {
      const id = this.ifaces.get(`listen ${any}:${local.port}`);
      if (id !== undefined) return id;
    }
    return this.addListener(host, local.port);
  }

  private onEvent(e: TapEvent): void {
    switch (e.type) {
      case 'open':
        return this.open(e.conn, e.role, e.local, e.remote);
      case 'data': {
        const c = this.conns.get(e.conn);
        if (c) this.data(c, e.dir === 'out', e.bytes);
        return;
      }
      case 'close': {
        const c = this.conns.get(e.conn);
        if (!c) return;
        this.conns.delete(e.conn);
        this.finish(c, e.by === 'local', e.reset);
        return;
      }
    }
  }

  private open(id: number, role: 'server' | 'client', local: TapEndpoint, remote: TapEndpoint): void {
    if (this.writer.closed) return;
    let lip = ipBytes(local.address);
    let rip = ipBytes(remote.address);
    if (!lip || !rip) return; // not an IP socket: nothing to frame
    if (lip.length !== rip.length) {
      // One side IPv4-mapped, the other not: write both as IPv6.
      if (lip.length === 4) lip = Buffer.concat([Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]), lip]);
      if (rip.length === 4) rip = Buffer.concat([Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]), rip]);
    }
    const iface = role === 'server' ? this.listenerIface(local) : this.addOutgoing(local.address);
    const side = (ip: Buffer, port: number): Side => {
      const isn = randomInt(0, 0x100000000);
      return { ip, port, mac: macFor(ip), next: isn, acked: isn, ipId: randomInt(0, 0x10000) };
    };
    const c: Conn = { iface, v6: lip.length === 16, local: side(lip, local.port), remote: side(rip, remote.port) };
    this.conns.set(id, c);
    this.connections++;
    const [cli, srv] = role === 'client' ? [c.local, c.remote] : [c.remote, c.local];
    // SYN, SYN/ACK, ACK
    this.segment(c, cli, srv, TCP_SYN, cli.next, 0, undefined, 0, 0, true);
    cli.next = (cli.next + 1) >>> 0;
    this.segment(c, srv, cli, TCP_SYN | TCP_ACK, srv.next, cli.next, undefined, 0, 0, true);
    srv.next = (srv.next + 1) >>> 0;
    this.segment(c, cli, srv, TCP_ACK, cli.next, srv.next);
  }

  private data(c: Conn, out: boolean, bytes: Buffer): void {
    const [from, to] = out ? [c.local, c.remote] : [c.remote, c.local];
    for (let off = 0; off < bytes.length; off += this.mss) {
      const len = Math.min(this.mss, bytes.length - off);
      const last = off + len >= bytes.length;
      this.segment(c, from, to, TCP_ACK | (last ? TCP_PSH : 0), from.next, to.next, bytes, off, len);
      from.next = (from.next + len) >>> 0;
      // The receiver's delayed ACK: every second full-sized segment.
      if (((from.next - from.acked) >>> 0) >= 2 * this.mss) this.segment(c, to, from, TCP_ACK, to.next, from.next);
    }
  }

  /** FIN/ACK from the side that closed, FIN/ACK back, ACK; or a RST/ACK. */
  private finish(c: Conn, byLocal: boolean, reset: boolean): void {
    const [a, b] = byLocal ? [c.local, c.remote] : [c.remote, c.local];
    if (reset) {
      this.segment(c, a, b, TCP_RST | TCP_ACK, a.next, b.next);
      return;
    }
    this.segment(c, a, b, TCP_FIN | TCP_ACK, a.next, b.next);
    a.next = (a.next + 1) >>> 0;
    this.segment(c, b, a, TCP_FIN | TCP_ACK, b.next, a.next);
    b.next = (b.next + 1) >>> 0;
    this.segment(c, a, b, TCP_ACK, a.next, b.next);
  }

  /** One frame: Ethernet, IPv4/IPv6, TCP (options on SYNs), payload[off, off + len). */
  private segment(c: Conn, from: Side, to: Side, flags: number, seq: number, ack: number,
    payload?: Buffer, off = 0, len = 0, syn = false): void {
    if (this.writer.closed) return;
    const ipLen = c.v6 ? 40 : 20;
    const optLen = syn ? 8 : 0; // MSS (4), NOP (1), window scale (3)
    const tcpLen = 20 + optLen;
    const h = Buffer.alloc(14 + ipLen + tcpLen);
    // Ethernet II
    to.mac.copy(h, 0);
    from.mac.copy(h, 6);
    h.writeUInt16BE(c.v6 ? 0x86dd : 0x0800, 12);
    const ip = 14;
    if (c.v6) {
      h.writeUInt32BE(0x60000000, ip); // version 6, traffic class 0, flow label 0
      h.writeUInt16BE(tcpLen + len, ip + 4);
      h[ip + 6] = 6; // next header: TCP
      h[ip + 7] = 64; // hop limit
      from.ip.copy(h, ip + 8);
      to.ip.copy(h, ip + 24);
    } else {
      h[ip] = 0x45;
      h[ip + 1] = 0;
      h.writeUInt16BE(ipLen + tcpLen + len, ip + 2);
      h.writeUInt16BE(from.ipId, ip + 4);
      from.ipId = (from.ipId + 1) & 0xffff;
      h.writeUInt16BE(0x4000, ip + 6); // DF
      h[ip + 8] = 64; // TTL
      h[ip + 9] = 6; // TCP
      from.ip.copy(h, ip + 12);
      to.ip.copy(h, ip + 16);
      h.writeUInt16BE(ipv4Checksum(h, ip), ip + 10);
    }
    const t = ip + ipLen;
    h.writeUInt16BE(from.port, t);
    h.writeUInt16BE(to.port, t + 2);
    h.writeUInt32BE(seq >>> 0, t + 4);
    h.writeUInt32BE(flags & TCP_ACK ? ack >>> 0 : 0, t + 8);
    h[t + 12] = (tcpLen / 4) << 4;
    h[t + 13] = flags;
    // RFC 7323: the window of a SYN is never scaled.
    h.writeUInt16BE(syn ? 65535 : WINDOW, t + 14);
    if (syn) {
      h[t + 20] = 2; // MSS
      h[t + 21] = 4;
      h.writeUInt16BE(this.mss, t + 22);
      h[t + 24] = 1; // NOP
      h[t + 25] = 3; // window scale
      h[t + 26] = 3;
      h[t + 27] = WINDOW_SHIFT;
    }
    // TCP checksum over the pseudo-header, the header and the payload (RFC 9293 3.1, RFC 8200 8.1).
    const segLen = tcpLen + len;
    let sum = sum16(from.ip, 0, from.ip.length, 0);
    sum = sum16(to.ip, 0, to.ip.length, sum);
    sum += 6 + (c.v6 ? Math.floor(segLen / 0x10000) + (segLen & 0xffff) : segLen);
    sum = sum16(h, t, tcpLen, sum);
    if (payload && len > 0) sum = sum16(payload, off, len, sum);
    h.writeUInt16BE(fold(sum), t + 16);
    if (flags & TCP_ACK) to.acked = ack >>> 0;
    const dir = from === c.local ? EPB_OUTBOUND : EPB_INBOUND;
    this.writer.writePacket(c.iface, payload && len > 0 ? [h, payload.subarray(off, off + len)] : h, this.writer.now(), { flags: dir });
  }

  /** Connections still open. */
  get openConnections(): number {
    return this.conns.size;
  }

  /**
   * Stop recording: every connection still open is closed (FIN exchange, as if this side closed),
   * then the file is flushed and closed. Safe to call more than once.
   */
  close(): void {
    if (this.writer.closed) return;
    for (const c of this.conns.values()) this.finish(c, true, false);
    this.conns.clear();
    this.writer.close();
  }
}

/**
 * The section comment of a recording: what it is, and which accounts' passwords decrypt it (names
 * only: a recording never holds a password).
 */
export function recordingComment(what: string, accounts: readonly { name: string; role?: string }[]): string {
  const lines = [
    `${what}. Recorded by dcomlab ${VERSION} from its own sockets: the payload bytes, addresses and ports are real; ` +
      'the Ethernet, IP and TCP framing (handshake, ACKs, FIN) is synthesised.',
  ];
  if (accounts.length) {
    lines.push(`NTLM accounts: ${accounts.map((a) => (a.role ? `${a.name} (${a.role})` : a.name)).join(', ')}. ` +
      'Signed and sealed traffic decrypts with the password of the account that authenticated it: ' +
      'tshark -o ntlmssp.nt_password:PASSWORD (Wireshark: Preferences > Protocols > NTLMSSP > NT Password).');
  } else {
    lines.push('NTLM accounts: none configured (anonymous or unauthenticated traffic only).');
  }
  return lines.join('\n');
}
