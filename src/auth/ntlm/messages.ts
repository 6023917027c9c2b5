// NTLM messages (MS-NLMP 2.2.1): NEGOTIATE, CHALLENGE and AUTHENTICATE, with AV_PAIR lists
// (2.2.2.1) and the VERSION structure (2.2.2.10).
//
// Every message is a fixed header of (length, max length, offset) "fields" pointing into a
// payload. The header length itself varies with the peer's age -- NEGOTIATE 32 or 40
// bytes (VERSION), CHALLENGE 32, 48 or 56 (TargetInfoFields, VERSION), AUTHENTICATE 64,
// 72 or 88 (VERSION, MIC) -- so decoding infers which optional parts are present from the
// lowest payload offset instead of trusting the flags, and never reads past the buffer.
// Encoding lays the payload out in Windows' order and patches the offsets with SmartBuffer.
import { SmartBuffer } from 'smart-buffer';
import { NtlmError } from './errors';
import { hasFlag, NTLMSSP_NEGOTIATE_UNICODE, NTLMSSP_NEGOTIATE_VERSION } from './flags';

export const NTLMSSP_SIGNATURE = Buffer.from('NTLMSSP\0', 'latin1');

export enum NtlmMessageType {
  Negotiate = 1,
  Challenge = 2,
  Authenticate = 3,
}

// ---------------------------------------------------------------------------------------
// AV_PAIR (2.2.2.1)

export const MsvAvEOL = 0x0000;
export const MsvAvNbComputerName = 0x0001;
export const MsvAvNbDomainName = 0x0002;
export const MsvAvDnsComputerName = 0x0003;
export const MsvAvDnsDomainName = 0x0004;
export const MsvAvDnsTreeName = 0x0005;
export const MsvAvFlags = 0x0006;
export const MsvAvTimestamp = 0x0007;
export const MsvAvSingleHost = 0x0008;
export const MsvAvTargetName = 0x0009;
export const MsvAvChannelBindings = 0x000a;

/** MsvAvFlags bits. */
export const MSV_AV_FLAG_CONSTRAINED = 0x1;
export const MSV_AV_FLAG_MIC_PRESENT = 0x2;
export const MSV_AV_FLAG_UNTRUSTED_SPN = 0x4;

export interface AvPair {
  id: number;
  value: Buffer;
}

export interface AvPairList {
  /** The pairs before MsvAvEOL (or before the data ran out). */
  pairs: AvPair[];
  /** True when an MsvAvEOL pair ended the list. */
  terminated: boolean;
  /** Bytes after the EOL, or a truncated last pair that was not taken. */
  trailing: Buffer;
}

/**
 * Parse an AV_PAIR list. Tolerates an empty buffer (no pairs, not terminated), a list
 * without MsvAvEOL, and a last pair whose AvLen runs past the end (left in `trailing`).
 */
export function parseAvPairs(data: Uint8Array): AvPairList {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.length);
  const pairs: AvPair[] = [];
  let off = 0;
  while (off + 4 <= buf.length) {
    const id = buf.readUInt16LE(off);
    const len = buf.readUInt16LE(off + 2);
    if (id === MsvAvEOL) {
      return { pairs, terminated: true, trailing: Buffer.from(buf.subarray(off + 4)) };
    }
    if (off + 4 + len > buf.length) break;
    pairs.push({ id, value: Buffer.from(buf.subarray(off + 4, off + 4 + len)) });
    off += 4 + len;
  }
  return { pairs, terminated: false, trailing: Buffer.from(buf.subarray(off)) };
}

/** Serialize AV pairs, always ending with MsvAvEOL (an EOL in `pairs` is dropped). */
export function serializeAvPairs(pairs: readonly AvPair[]): Buffer {
  const parts: Buffer[] = [];
  for (const p of pairs) {
    if (p.id === MsvAvEOL) continue;
    if (p.value.length > 0xffff) throw new NtlmError(`AV pair ${p.id} value is too long`);
    const h = Buffer.alloc(4);
    h.writeUInt16LE(p.id, 0);
    h.writeUInt16LE(p.value.length, 2);
    parts.push(h, p.value);
  }
  parts.push(Buffer.alloc(4));
  return Buffer.concat(parts);
}

/** The first pair with this id, if any. */
export function findAvPair(pairs: readonly AvPair[], id: number): AvPair | undefined {
  return pairs.find((p) => p.id === id);
}

/** A UTF-16LE AV pair value (the *Name pairs) as a string. */
export const avPairString = (p: AvPair | undefined): string | undefined => p?.value.toString('utf16le');

// ---------------------------------------------------------------------------------------
// VERSION (2.2.2.10)

export interface NtlmVersion {
  productMajorVersion: number;
  productMinorVersion: number;
  productBuild: number;
  /** NTLMRevisionCurrent: 0x0F (NTLMSSP_REVISION_W2K3) in everything since XP SP2. */
  ntlmRevisionCurrent: number;
}

export const NTLMSSP_REVISION_W2K3 = 0x0f;

function readVersion(buf: Buffer, off: number): NtlmVersion {
  return {
    productMajorVersion: buf[off]!,
    productMinorVersion: buf[off + 1]!,
    productBuild: buf.readUInt16LE(off + 2),
    ntlmRevisionCurrent: buf[off + 7]!,
  };
}

function versionBytes(v: NtlmVersion | undefined): Buffer {
  const b = Buffer.alloc(8);
  if (v) {
    b[0] = v.productMajorVersion;
    b[1] = v.productMinorVersion;
    b.writeUInt16LE(v.productBuild, 2);
    b[7] = v.ntlmRevisionCurrent;
  }
  return b;
}

// ---------------------------------------------------------------------------------------
// Field helpers

interface Field {
  len: number;
  maxLen: number;
  offset: number;
}

function readField(buf: Buffer, at: number): Field {
  return { len: buf.readUInt16LE(at), maxLen: buf.readUInt16LE(at + 2), offset: buf.readUInt32LE(at + 4) };
}

function fieldData(buf: Buffer, f: Field, name: string): Buffer {
  if (f.len === 0) return Buffer.alloc(0);
  if (f.offset + f.len > buf.length) {
    throw new NtlmError(`${name} (offset ${f.offset}, length ${f.len}) runs past the end of a ${buf.length}-byte message`);
  }
  return Buffer.from(buf.subarray(f.offset, f.offset + f.len));
}

/** Lowest offset of a non-empty field: where the payload starts, hence the header's end. */
function payloadStart(fields: Field[], total: number): number {
  let min = total;
  for (const f of fields) if (f.len > 0 && f.offset < min) min = f.offset;
  return min;
}

function checkHeader(buf: Buffer, type: NtlmMessageType, minLen: number): void {
  if (buf.length < minLen) throw new NtlmError(`message too short: ${buf.length} bytes, need ${minLen}`);
  if (!buf.subarray(0, 8).equals(NTLMSSP_SIGNATURE)) throw new NtlmError('missing NTLMSSP signature');
  const t = buf.readUInt32LE(8);
  if (t !== type) throw new NtlmError(`expected message type ${type}, got ${t}`);
}

/** The message type of an NTLMSSP token, or undefined if it is not one. */
export function ntlmMessageType(token: Uint8Array): number | undefined {
  const b = Buffer.from(token.buffer, token.byteOffset, token.length);
  if (b.length < 12 || !b.subarray(0, 8).equals(NTLMSSP_SIGNATURE)) return undefined;
  return b.readUInt32LE(8);
}

const decodeString = (b: Buffer, unicode: boolean): string => b.toString(unicode ? 'utf16le' : 'latin1');
const encodeString = (s: string, unicode: boolean): Buffer => Buffer.from(s, unicode ? 'utf16le' : 'latin1');

/** Builds a message: header fields get patched as payload items are appended. */
class MessageWriter {
  private readonly sb: SmartBuffer;
  private readonly fields: Array<{ at: number; data: Buffer | null }> = [];

  constructor(type: NtlmMessageType, readonly headerLength: number) {
    this.sb = SmartBuffer.fromSize(headerLength + 256);
    this.sb.writeBuffer(NTLMSSP_SIGNATURE);
    this.sb.writeUInt32LE(type);
    this.sb.writeBuffer(Buffer.alloc(headerLength - 12));
  }

  u32(at: number, v: number): void {
    this.sb.writeUInt32LE(v >>> 0, at);
  }

  bytes(at: number, b: Buffer): void {
    this.sb.writeBuffer(b, at);
  }

  /** Declare a field at header offset `at`; null writes an all-zero field (absent). */
  field(at: number, data: Buffer | null): void {
    this.fields.push({ at, data });
  }

  /** Append payloads in declaration order and patch each field. */
  finish(order: number[]): Buffer {
    this.sb.writeOffset = this.headerLength;
    const byAt = new Map(this.fields.map((f) => [f.at, f.data]));
    for (const at of order) {
      const data = byAt.get(at);
      if (data === undefined) throw new Error(`no field at ${at}`);
      if (data === null) continue; // stays zero
      if (data.length > 0xffff) throw new NtlmError(`field at ${at} is longer than 65535 bytes`);
      const offset = this.sb.writeOffset;
      this.sb.writeBuffer(data);
      const w = this.sb.writeOffset;
      this.sb.writeUInt16LE(data.length, at);
      this.sb.writeUInt16LE(data.length, at + 2);
      this.sb.writeUInt32LE(offset, at + 4);
      this.sb.writeOffset = w;
    }
    return this.sb.toBuffer();
  }
}

// ---------------------------------------------------------------------------------------
// NEGOTIATE_MESSAGE (2.2.1.1)

export interface NegotiateMessage {
  flags: number;
  /** DomainName (OEM); only meaningful with NTLMSSP_NEGOTIATE_OEM_DOMAIN_SUPPLIED. */
  domainName: string;
  /** Workstation (OEM); only meaningful with NTLMSSP_NEGOTIATE_OEM_WORKSTATION_SUPPLIED. */
  workstation: string;
  version?: NtlmVersion;
}

export function decodeNegotiate(token: Uint8Array): NegotiateMessage {
  const buf = Buffer.from(token.buffer, token.byteOffset, token.length);
  checkHeader(buf, NtlmMessageType.Negotiate, 16);
  const flags = buf.readUInt32LE(12);
  // Very old clients send only the first 16 bytes.
  const domainF = buf.length >= 24 ? readField(buf, 16) : { len: 0, maxLen: 0, offset: 0 };
  const wsF = buf.length >= 32 ? readField(buf, 24) : { len: 0, maxLen: 0, offset: 0 };
  const start = payloadStart([domainF, wsF], buf.length);
  const msg: NegotiateMessage = {
    flags,
    domainName: fieldData(buf, domainF, 'DomainName').toString('latin1'),
    workstation: fieldData(buf, wsF, 'Workstation').toString('latin1'),
  };
  if (start >= 40 && buf.length >= 40) msg.version = readVersion(buf, 32);
  return msg;
}

export function encodeNegotiate(msg: NegotiateMessage): Buffer {
  const withVersion = msg.version !== undefined || hasFlag(msg.flags, NTLMSSP_NEGOTIATE_VERSION);
  const w = new MessageWriter(NtlmMessageType.Negotiate, withVersion ? 40 : 32);
  w.u32(12, msg.flags);
  w.field(16, Buffer.from(msg.domainName, 'latin1'));
  w.field(24, Buffer.from(msg.workstation, 'latin1'));
  if (withVersion) w.bytes(32, versionBytes(msg.version));
  return w.finish([16, 24]);
}

// ---------------------------------------------------------------------------------------
// CHALLENGE_MESSAGE (2.2.1.2)

export interface ChallengeMessage {
  flags: number;
  serverChallenge: Buffer;
  /** TargetName, in Unicode or OEM according to NTLMSSP_NEGOTIATE_UNICODE. */
  targetName: string;
  /** Raw TargetInfo bytes; undefined when the TargetInfoFields are absent or all zero. */
  targetInfo?: Buffer;
  /** TargetInfo parsed (empty when targetInfo is undefined). */
  targetInfoPairs: AvPairList;
  version?: NtlmVersion;
  /** Reserved (8 bytes), kept for a faithful re-encode; zero in practice. */
  reserved?: Buffer;
}

export function decodeChallenge(token: Uint8Array): ChallengeMessage {
  const buf = Buffer.from(token.buffer, token.byteOffset, token.length);
  checkHeader(buf, NtlmMessageType.Challenge, 32);
  const targetNameF = readField(buf, 12);
  const flags = buf.readUInt32LE(20);
  const serverChallenge = Buffer.from(buf.subarray(24, 32));
  const start0 = payloadStart([targetNameF], buf.length);
  const hasInfoFields = start0 >= 48 && buf.length >= 48;
  const infoF = hasInfoFields ? readField(buf, 40) : undefined;
  const start = payloadStart(infoF ? [targetNameF, infoF] : [targetNameF], buf.length);
  const unicode = hasFlag(flags, NTLMSSP_NEGOTIATE_UNICODE);
  const msg: ChallengeMessage = {
    flags,
    serverChallenge,
    targetName: decodeString(fieldData(buf, targetNameF, 'TargetName'), unicode),
    targetInfoPairs: { pairs: [], terminated: false, trailing: Buffer.alloc(0) },
  };
  if (buf.length >= 40) {
    const reserved = Buffer.from(buf.subarray(32, 40));
    if (reserved.some((b) => b !== 0)) msg.reserved = reserved;
  }
  if (infoF && (infoF.len !== 0 || infoF.maxLen !== 0 || infoF.offset !== 0)) {
    msg.targetInfo = fieldData(buf, infoF, 'TargetInfo');
    msg.targetInfoPairs = parseAvPairs(msg.targetInfo);
  }
  if (start >= 56 && buf.length >= 56) msg.version = readVersion(buf, 48);
  return msg;
}

export interface ChallengeInput {
  flags: number;
  serverChallenge: Uint8Array;
  targetName?: string;
  /** Raw TargetInfo, or pairs to serialize; omitted: TargetInfoFields all zero. */
  targetInfo?: Uint8Array | readonly AvPair[];
  version?: NtlmVersion;
  reserved?: Uint8Array;
}

export function encodeChallenge(msg: ChallengeInput): Buffer {
  if (msg.serverChallenge.length !== 8) throw new NtlmError('ServerChallenge must be 8 bytes');
  const w = new MessageWriter(NtlmMessageType.Challenge, 56);
  const unicode = hasFlag(msg.flags, NTLMSSP_NEGOTIATE_UNICODE);
  w.u32(20, msg.flags);
  w.bytes(24, Buffer.from(msg.serverChallenge));
  if (msg.reserved) w.bytes(32, Buffer.from(msg.reserved));
  w.field(12, encodeString(msg.targetName ?? '', unicode));
  const ti = msg.targetInfo;
  w.field(40, ti === undefined ? null : ti instanceof Uint8Array ? Buffer.from(ti) : serializeAvPairs(ti));
  w.bytes(48, versionBytes(msg.version));
  return w.finish([12, 40]);
}

// ---------------------------------------------------------------------------------------
// AUTHENTICATE_MESSAGE (2.2.1.3)

export interface AuthenticateMessage {
  flags: number;
  lmChallengeResponse: Buffer;
  ntChallengeResponse: Buffer;
  domainName: string;
  userName: string;
  workstation: string;
  encryptedRandomSessionKey: Buffer;
  version?: NtlmVersion;
  /** MIC (16 bytes) when the header has room for it. */
  mic?: Buffer;
  /** Where the MIC sits in the raw message (72), when present: zero it to recompute. */
  micOffset?: number;
}

const AUTH_FIELDS = { lm: 12, nt: 20, domain: 28, user: 36, workstation: 44, key: 52 } as const;

export function decodeAuthenticate(token: Uint8Array): AuthenticateMessage {
  const buf = Buffer.from(token.buffer, token.byteOffset, token.length);
  checkHeader(buf, NtlmMessageType.Authenticate, 52);
  const lmF = readField(buf, AUTH_FIELDS.lm);
  const ntF = readField(buf, AUTH_FIELDS.nt);
  const domF = readField(buf, AUTH_FIELDS.domain);
  const userF = readField(buf, AUTH_FIELDS.user);
  const wsF = readField(buf, AUTH_FIELDS.workstation);
  const keyF = buf.length >= 60 ? readField(buf, AUTH_FIELDS.key) : { len: 0, maxLen: 0, offset: 0 };
  // NT4-era messages end the header at 52 (no key field, no flags): then flags are 0.
  const start = payloadStart([lmF, ntF, domF, userF, wsF, keyF], buf.length);
  const flags = start >= 64 && buf.length >= 64 ? buf.readUInt32LE(60) : 0;
  const unicode = hasFlag(flags, NTLMSSP_NEGOTIATE_UNICODE) || flags === 0;
  const msg: AuthenticateMessage = {
    flags,
    lmChallengeResponse: fieldData(buf, lmF, 'LmChallengeResponse'),
    ntChallengeResponse: fieldData(buf, ntF, 'NtChallengeResponse'),
    domainName: decodeString(fieldData(buf, domF, 'DomainName'), unicode),
    userName: decodeString(fieldData(buf, userF, 'UserName'), unicode),
    workstation: decodeString(fieldData(buf, wsF, 'Workstation'), unicode),
    encryptedRandomSessionKey: fieldData(buf, keyF, 'EncryptedRandomSessionKey'),
  };
  if (start >= 72 && buf.length >= 72) msg.version = readVersion(buf, 64);
  if (start >= 88 && buf.length >= 88) {
    msg.mic = Buffer.from(buf.subarray(72, 88));
    msg.micOffset = 72;
  }
  return msg;
}

export interface AuthenticateInput {
  flags: number;
  lmChallengeResponse: Uint8Array;
  ntChallengeResponse: Uint8Array;
  domainName: string;
  userName: string;
  workstation: string;
  encryptedRandomSessionKey?: Uint8Array;
  version?: NtlmVersion;
  /**
   * Reserve the 16-byte MIC field (88-byte header). Pass `mic` to fill it, or leave it
   * zero and call `setMic` once the MIC over all three messages is known.
   */
  withMic?: boolean;
  mic?: Uint8Array;
}

export function encodeAuthenticate(msg: AuthenticateInput): Buffer {
  const withMic = msg.withMic === true || msg.mic !== undefined;
  const withVersion = withMic || msg.version !== undefined || hasFlag(msg.flags, NTLMSSP_NEGOTIATE_VERSION);
  const w = new MessageWriter(NtlmMessageType.Authenticate, withMic ? 88 : withVersion ? 72 : 64);
  const unicode = hasFlag(msg.flags, NTLMSSP_NEGOTIATE_UNICODE);
  w.field(AUTH_FIELDS.lm, Buffer.from(msg.lmChallengeResponse));
  w.field(AUTH_FIELDS.nt, Buffer.from(msg.ntChallengeResponse));
  w.field(AUTH_FIELDS.domain, encodeString(msg.domainName, unicode));
  w.field(AUTH_FIELDS.user, encodeString(msg.userName, unicode));
  w.field(AUTH_FIELDS.workstation, encodeString(msg.workstation, unicode));
  w.field(AUTH_FIELDS.key, Buffer.from(msg.encryptedRandomSessionKey ?? Buffer.alloc(0)));
  w.u32(60, msg.flags);
  if (withVersion) w.bytes(64, versionBytes(msg.version));
  if (msg.mic) {
    if (msg.mic.length !== 16) throw new NtlmError('MIC must be 16 bytes');
    w.bytes(72, Buffer.from(msg.mic));
  }
  // Windows' payload order: DomainName, UserName, Workstation, LM, NT, session key.
  return w.finish([AUTH_FIELDS.domain, AUTH_FIELDS.user, AUTH_FIELDS.workstation, AUTH_FIELDS.lm, AUTH_FIELDS.nt, AUTH_FIELDS.key]);
}

/** A copy of an AUTHENTICATE message with its MIC zeroed (the MIC's own input). */
export function withZeroMic(authenticate: Uint8Array, micOffset = 72): Buffer {
  const b = Buffer.from(authenticate);
  b.fill(0, micOffset, micOffset + 16);
  return b;
}

/** Write `mic` into an encoded AUTHENTICATE message (in place) and return it. */
export function setMic(authenticate: Buffer, mic: Uint8Array, micOffset = 72): Buffer {
  if (mic.length !== 16) throw new NtlmError('MIC must be 16 bytes');
  authenticate.set(mic, micOffset);
  return authenticate;
}
