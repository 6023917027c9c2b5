// RC4 (ARCFOUR), written here because Node's OpenSSL 3 refuses "rc4" without the legacy
// provider. NTLM sealing is a *stream*: one key state per direction (per context when
// extended session security is off) whose keystream carries on from one message to the
// next (MS-NLMP 3.4.3, 3.4.4), so the cipher is a stateful object, not just a function.

const CLONE_SEED = new Uint8Array(1);

/** A keyed RC4 state. Each call to `update` continues the keystream where the last stopped. */
export class Rc4 {
  private readonly s = new Uint8Array(256);
  private i = 0;
  private j = 0;

  constructor(key: Uint8Array) {
    if (key.length < 1 || key.length > 256) {
      throw new RangeError(`RC4 key must be 1..256 bytes, got ${key.length}`);
    }
    const s = this.s;
    for (let k = 0; k < 256; k++) s[k] = k;
    let j = 0;
    for (let k = 0; k < 256; k++) {
      j = (j + s[k]! + key[k % key.length]!) & 0xff;
      const t = s[k]!;
      s[k] = s[j]!;
      s[j] = t;
    }
  }

  /** Encrypt (or decrypt: it is the same operation) `data` into a new Buffer. */
  update(data: Uint8Array): Buffer {
    const out = Buffer.alloc(data.length);
    this.xorInto(data, out);
    return out;
  }

  /** Encrypt/decrypt `data` in place and return it. */
  updateInPlace<T extends Uint8Array>(data: T): T {
    this.xorInto(data, data);
    return data;
  }

  /** An independent copy of this state (MS-SPNG 3.3.5.1 saves and restores NTLM's handles). */
  clone(): Rc4 {
    const c = new Rc4(CLONE_SEED);
    c.s.set(this.s);
    c.i = this.i;
    c.j = this.j;
    return c;
  }

  /** Throw away `n` keystream bytes (RFC 6229 lists keystream at offsets; tests use it). */
  skip(n: number): void {
    this.xorInto(new Uint8Array(n), new Uint8Array(n));
  }

  private xorInto(src: Uint8Array, dst: Uint8Array): void {
    const s = this.s;
    let i = this.i;
    let j = this.j;
    for (let k = 0; k < src.length; k++) {
      i = (i + 1) & 0xff;
      const si = s[i]!;
      j = (j + si) & 0xff;
      const sj = s[j]!;
      s[i] = sj;
      s[j] = si;
      dst[k] = src[k]! ^ s[(si + sj) & 0xff]!;
    }
    this.i = i;
    this.j = j;
  }
}

/** One-shot RC4 with a fresh key state: MS-NLMP's RC4K(K, D). */
export function rc4(key: Uint8Array, data: Uint8Array): Buffer {
  return new Rc4(key).update(data);
}
