// TCP stream numbering (tshark's tcp.stream) and per-direction in-order delivery.
//
// Numbering follows tshark 4.0's packet-tcp.c: a conversation is the 4-tuple in either
// direction; it gets the next index when first seen; a new index is started on the same tuple
// only by a SYN without ACK whose sequence number differs from the "base sequence" tshark holds
// for the SYN's sender (the ISN when a SYN was seen, else the first seq seen minus one, or the
// peer's first ACK minus one). Verified against tshark 4.0.17 (see the tests): a SYN reusing
// the ISN after FIN or RST stays in the same stream there. Newer Wireshark also starts a new
// stream in that case; `newStreamOnSynAfterClose` selects that behaviour.
//
// Delivery: bytes of each direction come out in sequence order, retransmitted bytes dropped,
// out-of-order segments held (copied) until the hole fills. A hole is declared lost, with a
// `gap` event, when the peer ACKs past it, when the held bytes exceed the per-direction bound,
// and when the conversation closes (FIN both ways, RST, a new SYN on the tuple, eviction or
// end()). State is forgotten on close; only the stream index and the base sequences of a
// closed tuple are remembered (bounded), so late packets of it keep their index.
import { TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN } from './decode';
import type { CapturedPacket, DataRange, Endpoint, StreamEvent, TcpReassemblerOptions, TcpSegment, TcpSegmentView } from './types';

/** The header fields of a segment (TcpSegment and TcpSegmentView both have them). */
type SegmentHeader = Omit<TcpSegment, 'payload'>;
type DataEvent = Extract<StreamEvent, { kind: 'data' }>;

/** One conversation's key, remembered for the next packets with the same addresses and ports. */
interface KeySlot {
  src: string;
  dst: string;
  sp: number;
  dp: number;
  srcIsA: boolean;
  key: string;
}

interface HeldSegment {
  seq: number;
  data: Buffer;
  frame: number;
  tsSec: number;
  tsNsec: number;
}

/** One direction of a live conversation. */
class Direction {
  /** A first segment fixed `next`. */
  started = false;
  /** Sequence number of the next byte to deliver. */
  next = 0;
  /** Out-of-order segments, sorted by seq, all starting after `next`. */
  held: HeldSegment[] = [];
  heldBytes = 0;
  finSeen = false;
  /** Sequence number the FIN occupies (end of the data). */
  finSeq = 0;
  /** Highest ACK the peer sent for this direction's bytes. */
  ackSeen = false;
  ackMax = 0;
  // tshark's base_seq for this direction (decides when a SYN starts a new stream)
  baseSet = false;
  base = 0;
}

class Conversation {
  readonly dirs: [Direction, Direction] = [new Direction(), new Direction()];
  lastFrame = 0;
  /** Capture time of the last packet, for eviction order. */
  lastSeen = 0;
  finOrRst = false;
  constructor(
    readonly key: string,
    readonly stream: number,
    /** The endpoint that sorts first in the key is the client. */
    readonly aIsClient: boolean,
  ) {}
}

/** What is remembered of a closed conversation. */
interface ClosedConversation {
  key: string;
  stream: number;
  aIsClient: boolean;
  baseSet0: boolean;
  base0: number;
  baseSet1: boolean;
  base1: number;
  finOrRst: boolean;
}

const DEFAULT_MAX_BUFFERED = 1 << 20;
const DEFAULT_MAX_OPEN = 100_000;
const DEFAULT_MAX_CLOSED = 100_000;
/** Size of the key cache (a power of two). */
const KEY_SLOTS = 1024;

/** a - b as a signed 32-bit sequence-space difference. */
function seqDiff(a: number, b: number): number {
  return (a - b) | 0;
}

export class TcpReassembler {
  private readonly live = new Map<string, Conversation>();
  private readonly closed = new Map<string, ClosedConversation>();
  /**
   * Closed conversations in the order they closed, to forget the oldest first. Entries whose
   * tuple was reopened (or closed again) since are stale and skipped. (Taking the Map's first
   * key instead cost ~5 µs per close: its iterator walks over every deleted entry at the front.)
   */
  private closedOrder: ClosedConversation[] = [];
  private closedHead = 0;
  private nextStream = 0;
  private readonly maxBuffered: number;
  private readonly maxOpen: number;
  private readonly maxClosed: number;
  private readonly synAfterClose: boolean;
  private readonly lostOnAdvance: boolean;
  // Key strings of recent conversations, one slot per direction, found by the ports: building
  // and hashing a key costs more than the rest of a packet's handling, and captures interleave
  // many conversations. V8 keeps a string's hash, so the map lookups with a cached key are cheap.
  private readonly keySlots: KeySlot[] = Array.from({ length: KEY_SLOTS }, () => ({ src: '', dst: '', sp: -1, dp: -1, srcIsA: false, key: '' }));
  /** The data event, refilled for every delivery (StreamEvent says it is valid during the callback). */
  private readonly dataEvent: DataEvent = { kind: 'data', stream: 0, dir: 0, bytes: Buffer.alloc(0), frame: 0, tsSec: 0, tsNsec: 0 };
  private readonly onData: ((d: DataRange) => void) | undefined;
  private readonly range: DataRange = { stream: 0, dir: 0, buf: Buffer.alloc(0), offset: 0, length: 0, frame: 0, tsSec: 0, tsNsec: 0 };

  constructor(
    private readonly onEvent: (e: StreamEvent) => void,
    opts: TcpReassemblerOptions = {},
  ) {
    this.maxBuffered = opts.maxBufferedPerDirection ?? DEFAULT_MAX_BUFFERED;
    this.maxOpen = Math.max(1, opts.maxOpenStreams ?? DEFAULT_MAX_OPEN);
    this.maxClosed = Math.max(0, opts.maxClosedStreams ?? DEFAULT_MAX_CLOSED);
    this.synAfterClose = opts.newStreamOnSynAfterClose ?? false;
    this.lostOnAdvance = opts.emptySegmentAheadIsLoss ?? true;
    this.onData = opts.onData;
  }

  /** Stream indices handed out so far (the next conversation gets this number). */
  get streamCount(): number {
    return this.nextStream;
  }

  /** Conversations currently open (held in memory). */
  get openStreams(): number {
    return this.live.size;
  }

  /**
   * Feed one decoded segment. `seg.payload` may be a view into a reused buffer: what is held
   * for later is copied, what is delivered at once is handed on as a view. Returns the stream
   * index the packet belongs to (tshark's tcp.stream).
   */
  push(pkt: CapturedPacket, seg: TcpSegment): number {
    return this.pushAt(pkt, seg, seg.payload, 0, seg.payload.length);
  }

  /** push() for a segment decoded in place (decodeTcpAt): no payload view is made. */
  pushView(pkt: CapturedPacket, seg: TcpSegmentView): number {
    return this.pushAt(pkt, seg, seg.buf, seg.payloadOffset, seg.payloadLength);
  }

  private keySlot(seg: SegmentHeader): KeySlot {
    const src = seg.src;
    const dst = seg.dst;
    const sp = seg.srcPort;
    const dp = seg.dstPort;
    const slot = this.keySlots[(sp * 31 + dp) & (KEY_SLOTS - 1)]!;
    if (slot.sp !== sp || slot.dp !== dp || slot.src !== src || slot.dst !== dst) {
      // Endpoint A is the one that sorts first (address, then port); the key is "A B ports".
      const srcIsA = src < dst || (src === dst && sp <= dp);
      slot.key = srcIsA ? src + ' ' + dst + ' ' + (sp * 65536 + dp) : dst + ' ' + src + ' ' + (dp * 65536 + sp);
      slot.src = src;
      slot.dst = dst;
      slot.sp = sp;
      slot.dp = dp;
      slot.srcIsA = srcIsA;
    }
    return slot;
  }

  /** The payload is buf[off, off + len). */
  private pushAt(pkt: CapturedPacket, seg: SegmentHeader, buf: Buffer, off: number, len: number): number {
    const slot = this.keySlot(seg);
    const srcIsA = slot.srcIsA;
    const key = slot.key;
    const flags = seg.flags;
    const synOnly = (flags & (TCP_SYN | TCP_ACK)) === TCP_SYN;

    let conv = this.live.get(key);
    if (conv !== undefined) {
      const d = srcIsA === conv.aIsClient ? 0 : 1;
      const fd = conv.dirs[d];
      if (synOnly && fd.baseSet && (seg.seq !== fd.base || (this.synAfterClose && conv.finOrRst))) {
        // Port reuse: tshark starts a new conversation here.
        this.closeConversation(conv, pkt.frame);
        this.closed.delete(key);
        conv = this.open(key, srcIsA, seg, pkt, undefined);
      }
    } else {
      const old = this.closed.get(key);
      if (old !== undefined) {
        const d = srcIsA === old.aIsClient ? 0 : 1;
        const baseSet = d === 0 ? old.baseSet0 : old.baseSet1;
        const base = d === 0 ? old.base0 : old.base1;
        if (synOnly && baseSet && (seg.seq !== base || (this.synAfterClose && old.finOrRst))) {
          this.closed.delete(key);
          conv = this.open(key, srcIsA, seg, pkt, undefined);
        } else if (synOnly) {
          // Same ISN again after the close (a retried connect): tshark keeps the stream
          // number; the bytes are a new connection, so reassembly starts afresh.
          this.closed.delete(key);
          conv = this.open(key, srcIsA, seg, pkt, old);
        } else {
          // A late packet of a closed connection (final ACK, retransmitted FIN, ...).
          this.noteBase(old, d, seg);
          return old.stream;
        }
      } else {
        conv = this.open(key, srcIsA, seg, pkt, undefined);
      }
    }
    this.segment(conv, srcIsA === conv.aIsClient ? 0 : 1, seg, pkt, buf, off, len);
    return conv.stream;
  }

  /** Flush everything still held (holes become gaps) and close every open conversation. */
  end(): void {
    for (const conv of [...this.live.values()]) this.closeConversation(conv, conv.lastFrame);
    this.closed.clear();
    this.closedOrder = [];
    this.closedHead = 0;
  }

  // ---------------------------------------------------------------------------------------

  private open(key: string, srcIsA: boolean, seg: SegmentHeader, pkt: CapturedPacket, reuse: ClosedConversation | undefined): Conversation {
    const flags = seg.flags;
    let senderIsClient: boolean;
    if (flags & TCP_SYN) senderIsClient = (flags & TCP_ACK) === 0; // SYN: sender; SYN/ACK: receiver
    else senderIsClient = !(seg.srcPort < 1024 && seg.dstPort >= 1024); // mid-connection: a well-known source port is the server
    const aIsClient = srcIsA === senderIsClient;
    const stream = reuse ? reuse.stream : this.nextStream++;
    const conv = new Conversation(key, stream, aIsClient);
    if (reuse) {
      // tshark keeps the conversation, so its base sequences too.
      const [c, s] = conv.dirs;
      const [b0set, b0, b1set, b1] =
        reuse.aIsClient === aIsClient
          ? [reuse.baseSet0, reuse.base0, reuse.baseSet1, reuse.base1]
          : [reuse.baseSet1, reuse.base1, reuse.baseSet0, reuse.base0];
      c.baseSet = b0set;
      c.base = b0;
      s.baseSet = b1set;
      s.base = b1;
    }
    this.live.set(key, conv);
    const sender: Endpoint = { ip: seg.src, port: seg.srcPort };
    const receiver: Endpoint = { ip: seg.dst, port: seg.dstPort };
    this.onEvent({
      kind: 'open',
      stream,
      client: senderIsClient ? sender : receiver,
      server: senderIsClient ? receiver : sender,
      frame: pkt.frame,
    });
    if (this.live.size > this.maxOpen) this.evict(conv);
    return conv;
  }

  /** tshark's base_seq bookkeeping on a closed conversation's remembered state. */
  private noteBase(old: ClosedConversation, d: 0 | 1, seg: SegmentHeader): void {
    const flags = seg.flags;
    if (d === 0) {
      if (!old.baseSet0) {
        old.base0 = flags & TCP_SYN ? seg.seq : (seg.seq - 1) >>> 0;
        old.baseSet0 = true;
      }
      if (!old.baseSet1 && flags & TCP_ACK) {
        old.base1 = (seg.ack - 1) >>> 0;
        old.baseSet1 = true;
      }
    } else {
      if (!old.baseSet1) {
        old.base1 = flags & TCP_SYN ? seg.seq : (seg.seq - 1) >>> 0;
        old.baseSet1 = true;
      }
      if (!old.baseSet0 && flags & TCP_ACK) {
        old.base0 = (seg.ack - 1) >>> 0;
        old.baseSet0 = true;
      }
    }
  }

  private segment(conv: Conversation, d: 0 | 1, seg: SegmentHeader, pkt: CapturedPacket, buf: Buffer, poff: number, len: number): void {
    const flags = seg.flags;
    const dir = conv.dirs[d];
    const peer = conv.dirs[d ^ 1]!;
    conv.lastFrame = pkt.frame;
    conv.lastSeen = pkt.tsSec;

    // tshark's base sequences (after its new-conversation check, as in packet-tcp.c).
    if (!dir.baseSet) {
      dir.base = flags & TCP_SYN ? seg.seq : (seg.seq - 1) >>> 0;
      dir.baseSet = true;
    }
    if (!peer.baseSet && flags & TCP_ACK) {
      peer.base = (seg.ack - 1) >>> 0;
      peer.baseSet = true;
    }

    if (flags & TCP_ACK && (!peer.ackSeen || seqDiff(seg.ack, peer.ackMax) > 0)) {
      peer.ackMax = seg.ack;
      peer.ackSeen = true;
    }

    if (flags & TCP_RST) {
      // Whatever a RST carries is not stream data.
      conv.finOrRst = true;
      this.closeConversation(conv, pkt.frame);
      return;
    }

    let seq = seg.seq;
    if (flags & TCP_SYN) {
      if (!dir.started) {
        dir.started = true;
        dir.next = (seq + 1) >>> 0;
      }
      seq = (seq + 1) >>> 0; // the SYN occupies one sequence number
    } else if (!dir.started) {
      dir.started = true;
      dir.next = seq;
    }

    if (len === 0 && this.lostOnAdvance && !(flags & (TCP_SYN | TCP_FIN)) && dir.started && seqDiff(seq, dir.next) > 0) {
      // An empty segment whose sequence number is ahead of what we delivered: tshark calls the
      // bytes in between "previous segment not captured" and treats any later copy of them as a
      // retransmission it never hands to DCE/RPC (suricata-verify/zerologon.pcap, frames 418-419).
      // Held segments inside the hole are delivered first; the rest is a gap.
      this.advanceTo(conv, d, seq, pkt.frame);
    }
    if (len > 0) {
      const off = seqDiff(seq, dir.next);
      if (off <= 0) {
        if (len + off > 0) {
          dir.next = (seq + len) >>> 0;
          this.deliver(conv.stream, d, buf, poff - off, poff + len, pkt.frame, pkt.tsSec, pkt.tsNsec);
          if (dir.held.length > 0) this.release(conv, d, pkt);
        }
        // else: a retransmission of bytes already delivered
      } else {
        this.hold(dir, seq, buf, poff, len, pkt);
        this.ackGaps(conv, d, pkt.frame);
        this.boundGaps(conv, d, pkt.frame);
      }
    }

    if (flags & TCP_FIN) {
      dir.finSeen = true;
      dir.finSeq = (seq + len) >>> 0;
      conv.finOrRst = true;
    }

    // The peer's held bytes may now be acknowledged past their hole.
    if (flags & TCP_ACK && peer.held.length > 0) this.ackGaps(conv, (d ^ 1) as 0 | 1, pkt.frame);

    if (dir.finSeen && peer.finSeen) this.closeConversation(conv, pkt.frame);
  }

  /** Keep a copy of buf[off, off + len) until the bytes before it arrive. */
  private hold(dir: Direction, seq: number, buf: Buffer, off: number, len: number, pkt: CapturedPacket): void {
    const held = dir.held;
    let i = held.length;
    while (i > 0) {
      const h = held[i - 1]!;
      const c = seqDiff(h.seq, seq);
      if (c < 0) break;
      if (c === 0 && h.data.length >= len) return; // duplicate of a held segment
      i--;
    }
    const seg: HeldSegment = { seq, data: Buffer.from(buf.subarray(off, off + len)), frame: pkt.frame, tsSec: pkt.tsSec, tsNsec: pkt.tsNsec };
    held.splice(i, 0, seg);
    dir.heldBytes += len;
  }

  /** Hand on the stream bytes buf[start, end). */
  private deliver(stream: number, d: 0 | 1, buf: Buffer, start: number, end: number, frame: number, tsSec: number, tsNsec: number): void {
    if (this.onData !== undefined) {
      const r = this.range;
      r.stream = stream;
      r.dir = d;
      r.buf = buf;
      r.offset = start;
      r.length = end - start;
      r.frame = frame;
      r.tsSec = tsSec;
      r.tsNsec = tsNsec;
      this.onData(r);
      return;
    }
    const e = this.dataEvent;
    e.stream = stream;
    e.dir = d;
    e.bytes = start === 0 && end === buf.length ? buf : buf.subarray(start, end);
    e.frame = frame;
    e.tsSec = tsSec;
    e.tsNsec = tsNsec;
    this.onEvent(e);
  }

  /**
   * Deliver held segments that now follow `next`. With `filler` (the packet that closed the
   * hole) they carry its frame; without, each carries its own frame (released after a gap).
   */
  private release(conv: Conversation, d: 0 | 1, filler: CapturedPacket | null): void {
    const dir = conv.dirs[d];
    const held = dir.held;
    let i = 0;
    while (i < held.length) {
      const h = held[i]!;
      const off = seqDiff(h.seq, dir.next);
      if (off > 0) break;
      i++;
      dir.heldBytes -= h.data.length;
      const rest = h.data.length + off;
      if (rest <= 0) continue; // entirely delivered already
      dir.next = (dir.next + rest) >>> 0;
      if (filler) this.deliver(conv.stream, d, h.data, -off, h.data.length, filler.frame, filler.tsSec, filler.tsNsec);
      else this.deliver(conv.stream, d, h.data, -off, h.data.length, h.frame, h.tsSec, h.tsNsec);
    }
    if (i > 0) held.splice(0, i);
  }

  /** Skip `next` forward to `to`, reporting the bytes that never showed up. */
  private skipTo(conv: Conversation, d: 0 | 1, to: number, frame: number): void {
    const dir = conv.dirs[d];
    const missing = seqDiff(to, dir.next);
    if (missing <= 0) return;
    this.onEvent({ kind: 'gap', stream: conv.stream, dir: d, missing, frame });
    dir.next = to;
  }

  /** Move `next` to `to`: deliver held segments inside the hole, report the rest as gaps. */
  private advanceTo(conv: Conversation, d: 0 | 1, to: number, frame: number): void {
    const dir = conv.dirs[d];
    while (dir.held.length > 0 && seqDiff(to, dir.held[0]!.seq) > 0) {
      this.skipTo(conv, d, dir.held[0]!.seq, frame);
      this.release(conv, d, null);
    }
    this.skipTo(conv, d, to, frame);
    if (dir.held.length > 0) this.release(conv, d, null);
  }

  /** The peer acknowledged bytes we never saw: they were lost from the capture. */
  private ackGaps(conv: Conversation, d: 0 | 1, frame: number): void {
    const dir = conv.dirs[d];
    if (!dir.ackSeen || !dir.started) return;
    while (dir.held.length > 0 && seqDiff(dir.ackMax, dir.next) > 0) {
      const holeEnd = dir.held[0]!.seq;
      const to = seqDiff(dir.ackMax, holeEnd) > 0 ? holeEnd : dir.ackMax;
      this.skipTo(conv, d, to, frame);
      if (to !== holeEnd) break; // the rest of the hole may still come
      this.release(conv, d, null);
    }
  }

  /** Too much held: give up on the first hole. */
  private boundGaps(conv: Conversation, d: 0 | 1, frame: number): void {
    const dir = conv.dirs[d];
    while (dir.heldBytes > this.maxBuffered && dir.held.length > 0) {
      this.skipTo(conv, d, dir.held[0]!.seq, frame);
      this.release(conv, d, null);
    }
  }

  /** Deliver everything held, with gaps for the holes, and a gap for missing tail bytes. */
  private flush(conv: Conversation, d: 0 | 1, frame: number): void {
    const dir = conv.dirs[d];
    while (dir.held.length > 0) {
      this.skipTo(conv, d, dir.held[0]!.seq, frame);
      this.release(conv, d, null);
    }
    if (!dir.started) return;
    // Bytes known to exist after the last delivered one: up to the FIN, or what the peer ACKed.
    if (dir.finSeen) this.skipTo(conv, d, dir.finSeq, frame);
    else if (dir.ackSeen) this.skipTo(conv, d, dir.ackMax, frame);
  }

  private closeConversation(conv: Conversation, frame: number): void {
    if (this.live.get(conv.key) !== conv) return;
    this.flush(conv, 0, frame);
    this.flush(conv, 1, frame);
    this.live.delete(conv.key);
    const [c, s] = conv.dirs;
    if (this.maxClosed > 0) {
      const rec: ClosedConversation = {
        key: conv.key,
        stream: conv.stream,
        aIsClient: conv.aIsClient,
        baseSet0: c.baseSet,
        base0: c.base,
        baseSet1: s.baseSet,
        base1: s.base,
        finOrRst: conv.finOrRst,
      };
      this.closed.set(conv.key, rec);
      this.closedOrder.push(rec);
      this.forgetClosed();
    }
    this.onEvent({ kind: 'close', stream: conv.stream, frame });
  }

  /** Forget the oldest closed tuples past the bound, and drop stale entries of the order. */
  private forgetClosed(): void {
    const order = this.closedOrder;
    while (this.closed.size > this.maxClosed && this.closedHead < order.length) {
      const old = order[this.closedHead++]!;
      if (this.closed.get(old.key) === old) this.closed.delete(old.key);
    }
    // Compact now and then (amortised O(1) per close): consumed entries, and stale ones, which
    // would pile up when the same tuples close again and again.
    const live = order.length - this.closedHead;
    if (this.closedHead > 1024 && this.closedHead * 2 > order.length) {
      this.closedOrder = order.slice(this.closedHead);
      this.closedHead = 0;
    } else if (live > 2 * this.maxClosed + 1024) {
      this.closedOrder = order.slice(this.closedHead).filter((c) => this.closed.get(c.key) === c);
      this.closedHead = 0;
    }
  }

  /** Too many open conversations: close the tenth that has been idle longest. */
  private evict(keep: Conversation): void {
    const all = [...this.live.values()].filter((c) => c !== keep);
    all.sort((x, y) => x.lastSeen - y.lastSeen || x.lastFrame - y.lastFrame);
    const n = Math.max(1, Math.ceil(this.maxOpen / 10));
    for (let i = 0; i < n && i < all.length; i++) this.closeConversation(all[i]!, all[i]!.lastFrame);
  }
}
