// DES as NTLM uses it (MS-NLMP section 6): single-block DES-ECB where the key is 7 bytes
// (56 bits) spread over 8 bytes, each byte holding 7 key bits in its high bits and an odd
// parity bit in its low bit. Node's OpenSSL 3 refuses "des-ecb" without the legacy
// provider, so the block cipher comes from des.js (Fedor Indutny's DES, the one
// crypto-browserify uses); this file only does NTLM's key expansion around it.
import desjs from 'des.js';

/** Set the low bit of each byte so that the byte has odd parity (FIPS 46-3 key format). */
export function setOddParity(key: Uint8Array): Buffer {
  const out = Buffer.from(key);
  for (let i = 0; i < out.length; i++) {
    const b = out[i]! & 0xfe;
    let ones = 0;
    for (let v = b; v; v >>= 1) ones += v & 1;
    out[i] = ones % 2 === 0 ? b | 1 : b;
  }
  return out;
}

/**
 * Expand a 7-byte (56-bit) key to the 8-byte DES key format: each output byte takes the
 * next 7 bits of the input in its high 7 bits, and gets an odd-parity low bit.
 */
export function expandDesKey(key7: Uint8Array): Buffer {
  if (key7.length !== 7) throw new RangeError(`DES key must be 7 bytes, got ${key7.length}`);
  const k = key7;
  const out = Buffer.alloc(8);
  out[0] = k[0]! & 0xfe;
  out[1] = ((k[0]! << 7) | (k[1]! >>> 1)) & 0xfe;
  out[2] = ((k[1]! << 6) | (k[2]! >>> 2)) & 0xfe;
  out[3] = ((k[2]! << 5) | (k[3]! >>> 3)) & 0xfe;
  out[4] = ((k[3]! << 4) | (k[4]! >>> 4)) & 0xfe;
  out[5] = ((k[4]! << 3) | (k[5]! >>> 5)) & 0xfe;
  out[6] = ((k[5]! << 2) | (k[6]! >>> 6)) & 0xfe;
  out[7] = (k[6]! << 1) & 0xfe;
  return setOddParity(out);
}

// Ciphers by key: the key schedule is most of a block's cost, and a capture decryptor checks
// session after session with the same NT hash (hence the same three DESL keys). ECB without
// padding keeps no state between blocks, so one cipher serves every block under its key.
const ENCRYPTORS = new Map<string, ReturnType<typeof desjs.DES.create>>();

/** DES-ECB encryption of one 8-byte block under an 8-byte key (parity bits ignored). */
export function desEncryptBlock(key8: Uint8Array, block: Uint8Array): Buffer {
  if (key8.length !== 8) throw new RangeError(`DES key must be 8 bytes, got ${key8.length}`);
  if (block.length !== 8) throw new RangeError(`DES block must be 8 bytes, got ${block.length}`);
  const id = Buffer.from(key8.buffer, key8.byteOffset, 8).toString('latin1');
  let c = ENCRYPTORS.get(id);
  if (c === undefined) {
    c = desjs.DES.create({ type: 'encrypt', key: key8, padding: false });
    if (ENCRYPTORS.size >= 256) ENCRYPTORS.clear();
    ENCRYPTORS.set(id, c);
  }
  // A whole block in, its ciphertext out at once (nothing is held back when encrypting).
  const out = Buffer.from(c.update(block));
  if (out.length !== 8) throw new Error(`des.js returned ${out.length} bytes for one block`);
  return out;
}

/** DES-ECB decryption of one 8-byte block (used only by tests and by the server side). */
export function desDecryptBlock(key8: Uint8Array, block: Uint8Array): Buffer {
  if (key8.length !== 8) throw new RangeError(`DES key must be 8 bytes, got ${key8.length}`);
  if (block.length !== 8) throw new RangeError(`DES block must be 8 bytes, got ${block.length}`);
  const c = desjs.DES.create({ type: 'decrypt', key: key8, padding: false });
  // des.js holds the last ciphertext block back until final() when decrypting.
  return Buffer.from([...c.update(block), ...c.final()]);
}

/**
 * MS-NLMP 6 DES(K, D): encrypt the 8-byte block D with the 7-byte key K, expanded to 8
 * bytes with parity. A 7-byte key is expected; an 8-byte key is taken as already expanded.
 */
export function DES(key: Uint8Array, data: Uint8Array): Buffer {
  return desEncryptBlock(key.length === 7 ? expandDesKey(key) : key, data);
}

/**
 * MS-NLMP 6 DESL(K, D): the 24-byte NTLMv1/LM response. K is 16 bytes, D 8 bytes:
 * ConcatenationOf(DES(K[0..6], D), DES(K[7..13], D), DES(ConcatenationOf(K[14..15], Z(5)), D)).
 */
export function DESL(key16: Uint8Array, data8: Uint8Array): Buffer {
  if (key16.length !== 16) throw new RangeError(`DESL key must be 16 bytes, got ${key16.length}`);
  const k3 = Buffer.alloc(7);
  k3[0] = key16[14]!;
  k3[1] = key16[15]!;
  return Buffer.concat([
    DES(key16.subarray(0, 7), data8),
    DES(key16.subarray(7, 14), data8),
    DES(k3, data8),
  ]);
}
