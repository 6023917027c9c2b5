// Fixed layouts read once per file or per section (pcap file header, pcapng SHB and IDB),
// declared with binary-parser. Per-packet headers are read by hand instead (reader.ts,
// decode.ts). Measured on Node 20.20 (1e6 parses, warm JIT): binary-parser took ~370 ns for a
// 16-byte pcap record header against ~35 ns for four Buffer.readUInt32LE calls, and ~620 ns
// for an IPv4 + TCP header against ~8 ns by hand (every parse allocates a result object and a
// DataView). At ~400 000 packets per 100 MB that alone would cost ~0.4 s, as much as the whole
// read + decode + reassembly pass takes now.
import { Parser } from 'binary-parser';

/** pcap global header (draft-ietf-opsawg-pcap section 4), without the magic's byte order. */
export interface PcapFileHeader {
  magic: number;
  versionMajor: number;
  versionMinor: number;
  /** Obsolete, always 0 in practice. */
  thiszone: number;
  sigfigs: number;
  snaplen: number;
  /** LinkType and additional information (FCS length, f bit) field. */
  linkTypeInfo: number;
}

/** pcapng Section Header Block fixed part (draft-ietf-opsawg-pcapng section 4.1). */
export interface ShbHeader {
  blockType: number;
  blockLength: number;
  byteOrderMagic: number;
  versionMajor: number;
  versionMinor: number;
}

/** pcapng Interface Description Block fixed part (section 4.2). */
export interface IdbHeader {
  blockType: number;
  blockLength: number;
  linkType: number;
  reserved: number;
  snaplen: number;
}

function pcapHeader(endian: 'little' | 'big'): Parser {
  return new Parser()
    .endianness(endian)
    .uint32('magic')
    .uint16('versionMajor')
    .uint16('versionMinor')
    .int32('thiszone')
    .uint32('sigfigs')
    .uint32('snaplen')
    .uint32('linkTypeInfo');
}

function shbHeader(endian: 'little' | 'big'): Parser {
  return new Parser()
    .endianness(endian)
    .uint32('blockType')
    .uint32('blockLength')
    .uint32('byteOrderMagic')
    .uint16('versionMajor')
    .uint16('versionMinor');
}

function idbHeader(endian: 'little' | 'big'): Parser {
  return new Parser()
    .endianness(endian)
    .uint32('blockType')
    .uint32('blockLength')
    .uint16('linkType')
    .uint16('reserved')
    .uint32('snaplen');
}

const parsers = {
  pcapLE: pcapHeader('little'),
  pcapBE: pcapHeader('big'),
  shbLE: shbHeader('little'),
  shbBE: shbHeader('big'),
  idbLE: idbHeader('little'),
  idbBE: idbHeader('big'),
};

export const PCAP_FILE_HEADER_LENGTH = 24;
export const SHB_FIXED_LENGTH = 16;
export const IDB_FIXED_LENGTH = 16;

/** `buf` must hold at least 24 bytes. */
export function parsePcapFileHeader(buf: Buffer, le: boolean): PcapFileHeader {
  return (le ? parsers.pcapLE : parsers.pcapBE).parse(buf.subarray(0, PCAP_FILE_HEADER_LENGTH)) as PcapFileHeader;
}

/** `buf` must hold at least 16 bytes from the block start. */
export function parseShbHeader(buf: Buffer, le: boolean): ShbHeader {
  return (le ? parsers.shbLE : parsers.shbBE).parse(buf.subarray(0, SHB_FIXED_LENGTH)) as ShbHeader;
}

/** `buf` must hold at least 16 bytes from the block start. */
export function parseIdbHeader(buf: Buffer, le: boolean): IdbHeader {
  return (le ? parsers.idbLE : parsers.idbBE).parse(buf.subarray(0, IDB_FIXED_LENGTH)) as IdbHeader;
}
