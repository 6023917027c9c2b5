// MD4 message digest (RFC 1320), written here because Node's OpenSSL 3 refuses "md4"
// without the legacy provider. NTLM needs it for NTOWFv1 (the NT hash) and the NTLMv1
// SessionBaseKey. Little-endian words, three rounds of 16 operations, no length limit
// beyond 2^53 bytes (the bit count is written as a 64-bit little-endian value).

const S1 = [3, 7, 11, 19];
const S2 = [3, 5, 9, 13];
const S3 = [3, 9, 11, 15];
// Round 3 visits the words in bit-reversed order (RFC 1320 3.4).
const R3 = [0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15];

const rotl = (x: number, n: number): number => (x << n) | (x >>> (32 - n));

/** MD4 of `data` (RFC 1320): 16 bytes. */
export function md4(data: Uint8Array): Buffer {
  const len = data.length;
  // Pad: 0x80, zeros to 56 mod 64, then the bit length as 64-bit LE.
  const padded = Buffer.alloc((((len + 8) >>> 6) + 1) << 6);
  padded.set(data, 0);
  padded[len] = 0x80;
  const bits = len * 8;
  padded.writeUInt32LE(bits >>> 0, padded.length - 8);
  padded.writeUInt32LE(Math.floor(bits / 0x100000000) >>> 0, padded.length - 4);

  let a = 0x67452301;
  let b = 0xefcdab89;
  let c = 0x98badcfe;
  let d = 0x10325476;
  const x = new Array<number>(16);

  for (let off = 0; off < padded.length; off += 64) {
    for (let i = 0; i < 16; i++) x[i] = padded.readInt32LE(off + i * 4);
    const aa = a, bb = b, cc = c, dd = d;

    // Round 1: F(x,y,z) = xy v not(x)z
    for (let i = 0; i < 16; i += 4) {
      a = rotl((a + ((b & c) | (~b & d)) + x[i]!) | 0, S1[0]!);
      d = rotl((d + ((a & b) | (~a & c)) + x[i + 1]!) | 0, S1[1]!);
      c = rotl((c + ((d & a) | (~d & b)) + x[i + 2]!) | 0, S1[2]!);
      b = rotl((b + ((c & d) | (~c & a)) + x[i + 3]!) | 0, S1[3]!);
    }
    // Round 2: G(x,y,z) = xy v xz v yz, constant 0x5a827999
    for (let i = 0; i < 4; i++) {
      a = rotl((a + ((b & c) | (b & d) | (c & d)) + x[i]! + 0x5a827999) | 0, S2[0]!);
      d = rotl((d + ((a & b) | (a & c) | (b & c)) + x[i + 4]! + 0x5a827999) | 0, S2[1]!);
      c = rotl((c + ((d & a) | (d & b) | (a & b)) + x[i + 8]! + 0x5a827999) | 0, S2[2]!);
      b = rotl((b + ((c & d) | (c & a) | (d & a)) + x[i + 12]! + 0x5a827999) | 0, S2[3]!);
    }
    // Round 3: H(x,y,z) = x xor y xor z, constant 0x6ed9eba1
    for (let i = 0; i < 16; i += 4) {
      a = rotl((a + (b ^ c ^ d) + x[R3[i]!]! + 0x6ed9eba1) | 0, S3[0]!);
      d = rotl((d + (a ^ b ^ c) + x[R3[i + 1]!]! + 0x6ed9eba1) | 0, S3[1]!);
      c = rotl((c + (d ^ a ^ b) + x[R3[i + 2]!]! + 0x6ed9eba1) | 0, S3[2]!);
      b = rotl((b + (c ^ d ^ a) + x[R3[i + 3]!]! + 0x6ed9eba1) | 0, S3[3]!);
    }

    a = (a + aa) | 0;
    b = (b + bb) | 0;
    c = (c + cc) | 0;
    d = (d + dd) | 0;
  }

  const out = Buffer.alloc(16);
  out.writeInt32LE(a, 0);
  out.writeInt32LE(b, 4);
  out.writeInt32LE(c, 8);
  out.writeInt32LE(d, 12);
  return out;
}
