// Capture files → packets → TCP segments → reassembled TCP byte streams.
export type {
  CapturedPacket,
  CaptureSummary,
  CaptureWarning,
  DataRange,
  Endpoint,
  PacketView,
  ReadCaptureOptions,
  StreamEvent,
  TcpReassemblerOptions,
  TcpSegment,
} from './types';
export { TcpSegmentView } from './types';
export { readCapture, CaptureParser, MAX_CAPLEN } from './reader';
export {
  decodeTcp,
  decodeTcpAt,
  ipv6ToString,
  LINKTYPE_ETHERNET,
  LINKTYPE_IPV4,
  LINKTYPE_IPV6,
  LINKTYPE_LINUX_SLL,
  LINKTYPE_LINUX_SLL2,
  LINKTYPE_LOOP,
  LINKTYPE_NULL,
  LINKTYPE_RAW,
  TCP_ACK,
  TCP_FIN,
  TCP_PSH,
  TCP_RST,
  TCP_SYN,
} from './decode';
export { TcpReassembler } from './reassembly';
export {
  PcapngWriter,
  sectionHeaderBlock,
  interfaceDescriptionBlock,
  EPB_INBOUND,
  EPB_OUTBOUND,
  PCAPNG_BLOCK_EPB,
  PCAPNG_BLOCK_IDB,
  PCAPNG_BLOCK_SHB,
  PCAPNG_BYTE_ORDER_MAGIC,
  type PcapngInterfaceOptions,
  type PcapngPacketOptions,
  type PcapngSectionOptions,
  type PcapngWriterOptions,
} from './pcapng-writer';
export { CaptureRecorder, DEFAULT_MSS, ipBytes, macFor, recordingComment, type RecorderOptions } from './recorder';
