// Shared types of the capture layer: packets read from a file, decoded TCP segments and
// the events of the TCP reassembler.

/**
 * One packet record of a capture file.
 *
 * `data` is usually a view into the chunk the reader is currently parsing: it is only valid
 * during the `onPacket` callback. A consumer that keeps the bytes must copy them
 * (`Buffer.from(p.data)`).
 */
export interface CapturedPacket {
  /** 1-based frame number in file order; every packet record counts (tshark's frame.number). */
  frame: number;
  /** pcapng interface id (per section); 0 for pcap. */
  interfaceId: number;
  /** LINKTYPE_* of that interface. */
  linkType: number;
  /** Seconds since the epoch. */
  tsSec: number;
  /** Nanoseconds within the second. */
  tsNsec: number;
  /** Captured bytes (may be a view into a reused chunk: copy to keep). */
  data: Buffer;
  /** Length of the packet on the wire. */
  origLen: number;
}

/**
 * What readCapture hands its callback: a CapturedPacket that also says where its bytes lie, so
 * a consumer can read them in place (`buf[offset, offset + caplen)`) without making the `data`
 * view. The object is reused for every packet: read it during the callback, copy to keep.
 */
export interface PacketView extends CapturedPacket {
  readonly buf: Buffer;
  readonly offset: number;
  readonly caplen: number;
}

/** Something odd but survivable in a capture (a truncated last record, ...). */
export interface CaptureWarning {
  /** Frame number the affected record has (or would have had). */
  frame: number;
  /** Byte offset in the (decompressed) stream. */
  offset: number;
  what: string;
}

export interface CaptureSummary {
  /** Packet records delivered. */
  packets: number;
  /** Sum of the captured lengths of the delivered packets (capinfos' "data size"). */
  bytes: number;
  format: 'pcap' | 'pcapng';
  /** The file was gzip-compressed. */
  gzip: boolean;
  warnings: CaptureWarning[];
}

export interface ReadCaptureOptions {
  onWarning?: (w: CaptureWarning) => void;
}

/** A TCP segment taken out of a link-layer frame. */
export interface TcpSegment {
  ipVersion: 4 | 6;
  /** IPv4 dotted quad, or IPv6 in RFC 5952 form ("::1", "fe80::1", "::ffff:10.0.0.1"). */
  src: string;
  dst: string;
  srcPort: number;
  dstPort: number;
  /** uint32 */
  seq: number;
  /** uint32 */
  ack: number;
  /** TCP flags byte: FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10, URG 0x20, ECE 0x40, CWR 0x80. */
  flags: number;
  /**
   * TCP payload, cut to the IP length (no Ethernet padding) and to the captured bytes.
   * A view into the packet data: same lifetime rules as `CapturedPacket.data`.
   */
  payload: Buffer;
}

/**
 * A TCP segment located in its frame, filled in place by decodeTcpAt: the per-packet form of
 * TcpSegment (one object reused for every packet; the payload is buf[payloadOffset,
 * payloadOffset + payloadLength), with the lifetime of the packet's bytes).
 */
export class TcpSegmentView {
  ipVersion: 4 | 6 = 4;
  src = '';
  dst = '';
  srcPort = 0;
  dstPort = 0;
  seq = 0;
  ack = 0;
  flags = 0;
  buf: Buffer = Buffer.alloc(0);
  payloadOffset = 0;
  payloadLength = 0;
}

export interface Endpoint {
  ip: string;
  port: number;
}

/**
 * Events of the TCP reassembler. `dir` 0 is client→server, 1 server→client.
 *
 * A `data` event is one object refilled for every delivery, and its `bytes` may be a view into
 * the packet being pushed: both are valid only during the callback (copy what you keep).
 */
export type StreamEvent =
  | { kind: 'open'; stream: number; client: Endpoint; server: Endpoint; frame: number }
  | { kind: 'data'; stream: number; dir: 0 | 1; bytes: Buffer; frame: number; tsSec: number; tsNsec: number }
  | { kind: 'gap'; stream: number; dir: 0 | 1; missing: number; frame: number }
  | { kind: 'close'; stream: number; frame: number };

export interface TcpReassemblerOptions {
  /** Out-of-order bytes held per direction before a gap is declared. Default 1 MiB. */
  maxBufferedPerDirection?: number;
  /**
   * Open conversations kept at once. Past this, the longest-idle ones are flushed (gaps
   * marked) and closed. Default 100 000.
   */
  maxOpenStreams?: number;
  /**
   * Closed conversations whose stream number is remembered, so that late packets of a closed
   * connection (the last ACK, a retransmitted FIN) keep its `stream` (oldest forgotten first).
   * Default 100 000.
   */
  maxClosedStreams?: number;
  /**
   * Also start a new stream on a SYN whose sequence number equals the previous conversation's
   * ISN once that conversation saw a FIN or RST (newer Wireshark). Default false: a new stream
   * only on a SYN (without ACK) whose ISN differs from the conversation's, which is what
   * tshark 4.0 does.
   */
  newStreamOnSynAfterClose?: boolean;
  /**
   * An empty segment (no SYN/FIN) whose sequence number is ahead of the delivered bytes marks
   * them lost, and later copies of them are retransmissions, as in tshark ("previous segment not
   * captured"). Default true, so dissection matches tshark's; false waits for the bytes instead.
   */
  emptySegmentAheadIsLoss?: boolean;
  /**
   * Receive stream data as a range of the packet's (or a held segment's) buffer instead of as
   * `data` events: no view is made per delivery. The range object is refilled for every
   * delivery, and its bytes are valid only during the callback.
   */
  onData?: (d: DataRange) => void;
}

/** Stream data delivered through TcpReassemblerOptions.onData: `buf[offset, offset + length)`. */
export interface DataRange {
  stream: number;
  dir: 0 | 1;
  buf: Buffer;
  offset: number;
  length: number;
  frame: number;
  tsSec: number;
  tsNsec: number;
}
