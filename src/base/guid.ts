// DCE UUIDs on the wire (C706 Appendix A): time_low u32, time_mid u16, time_hi u16 in the
// sender's integer byte order, then 8 bytes as they are. Strings are lower-case canonical form.

const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

export const NIL_GUID = '00000000-0000-0000-0000-000000000000';

// Recently read UUIDs, by a hash of their 16 bytes: the same ones come back all the time (an
// interface's UUID on every bind, an object's IPID on each of its calls), and building the
// string takes twenty concatenations (and a cached one is flattened once, where it is first printed).
const CACHE_SLOTS = 4096; // a power of two
const cacheWords = new Int32Array(CACHE_SLOTS * 4);
/** 0: empty; 1: read little-endian; 2: big-endian (the same bytes give another string). */
const cacheOrder = new Uint8Array(CACHE_SLOTS);
const cacheText: string[] = new Array<string>(CACHE_SLOTS).fill('');

const word = (b: Uint8Array, o: number): number => b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24);

/** Read a UUID at `off`; `le` is the data representation's integer byte order. */
export function readGuid(buf: Uint8Array, off: number, le = true): string {
  if (off < 0 || off + 16 > buf.length) throw new RangeError(`a UUID at offset ${off} runs past the ${buf.length} bytes`);
  const w0 = word(buf, off);
  const w1 = word(buf, off + 4);
  const w2 = word(buf, off + 8);
  const w3 = word(buf, off + 12);
  let h = Math.imul(w0 ^ (w1 >>> 7), 0x9e3779b1) ^ Math.imul(w2 ^ (w3 >>> 11), 0x85ebca6b) ^ w3;
  h ^= h >>> 15;
  const slot = h & (CACHE_SLOTS - 1);
  const order = le ? 1 : 2;
  const i = slot * 4;
  if (cacheOrder[slot] === order && cacheWords[i] === w0 && cacheWords[i + 1] === w1 && cacheWords[i + 2] === w2 && cacheWords[i + 3] === w3) {
    return cacheText[slot]!;
  }
  const s = guidText(buf, off, le);
  cacheOrder[slot] = order;
  cacheWords[i] = w0;
  cacheWords[i + 1] = w1;
  cacheWords[i + 2] = w2;
  cacheWords[i + 3] = w3;
  cacheText[slot] = s;
  return s;
}

function guidText(buf: Uint8Array, off: number, le: boolean): string {
  const b = buf;
  let s: string;
  if (le) {
    s = HEX[b[off + 3]!]! + HEX[b[off + 2]!]! + HEX[b[off + 1]!]! + HEX[b[off]!]! + '-' +
      HEX[b[off + 5]!]! + HEX[b[off + 4]!]! + '-' + HEX[b[off + 7]!]! + HEX[b[off + 6]!]!;
  } else {
    s = HEX[b[off]!]! + HEX[b[off + 1]!]! + HEX[b[off + 2]!]! + HEX[b[off + 3]!]! + '-' +
      HEX[b[off + 4]!]! + HEX[b[off + 5]!]! + '-' + HEX[b[off + 6]!]! + HEX[b[off + 7]!]!;
  }
  return s + '-' + HEX[b[off + 8]!]! + HEX[b[off + 9]!]! + '-' + HEX[b[off + 10]!]! + HEX[b[off + 11]!]! +
    HEX[b[off + 12]!]! + HEX[b[off + 13]!]! + HEX[b[off + 14]!]! + HEX[b[off + 15]!]!;
}

const GUID_RE = /^\{?([0-9a-f]{8})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{12})\}?$/i;

export function isGuid(s: string): boolean {
  return GUID_RE.test(s);
}

/** Canonical lower-case form; accepts braces. Throws TypeError on a malformed string. */
export function normalizeGuid(s: string): string {
  const m = GUID_RE.exec(s);
  if (!m) throw new TypeError(`not a GUID: ${JSON.stringify(s)}`);
  return `${m[1]}-${m[2]}-${m[3]}-${m[4]}-${m[5]}`.toLowerCase();
}

/** Write a UUID at `off` in the given integer byte order. */
export function writeGuid(buf: Uint8Array, off: number, guid: string, le = true): void {
  const m = GUID_RE.exec(guid);
  if (!m) throw new TypeError(`not a GUID: ${JSON.stringify(guid)}`);
  const d1 = parseInt(m[1]!, 16);
  const d2 = parseInt(m[2]!, 16);
  const d3 = parseInt(m[3]!, 16);
  if (le) {
    buf[off] = d1 & 0xff; buf[off + 1] = (d1 >>> 8) & 0xff; buf[off + 2] = (d1 >>> 16) & 0xff; buf[off + 3] = d1 >>> 24;
    buf[off + 4] = d2 & 0xff; buf[off + 5] = d2 >>> 8; buf[off + 6] = d3 & 0xff; buf[off + 7] = d3 >>> 8;
  } else {
    buf[off] = d1 >>> 24; buf[off + 1] = (d1 >>> 16) & 0xff; buf[off + 2] = (d1 >>> 8) & 0xff; buf[off + 3] = d1 & 0xff;
    buf[off + 4] = d2 >>> 8; buf[off + 5] = d2 & 0xff; buf[off + 6] = d3 >>> 8; buf[off + 7] = d3 & 0xff;
  }
  const tail = m[4]! + m[5]!;
  for (let i = 0; i < 8; i++) buf[off + 8 + i] = parseInt(tail.slice(i * 2, i * 2 + 2), 16);
}

export function guidToBytes(guid: string, le = true): Buffer {
  const b = Buffer.alloc(16);
  writeGuid(b, 0, guid, le);
  return b;
}
