// Deterministic mutation of real inputs for robustness tests (a seeded PRNG, so a failure
// can be replayed from its case number).

export function prng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    // xorshift32
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s / 0x100000000;
  };
}

const INTERESTING = [0, 1, 0x7f, 0x80, 0xff, 0x10, 0x20, 0x40];

/** One mutation: bit flips, interesting bytes, 16/32-bit boundary values, truncation, extension. */
export function mutate(input: Buffer, rnd: () => number): Buffer {
  const b = Buffer.from(input);
  const pick = (n: number) => Math.floor(rnd() * n);
  const kind = pick(7);
  if (b.length === 0) return Buffer.from([pick(256)]);
  switch (kind) {
    case 0: { // flip 1-4 bits
      const n = 1 + pick(4);
      for (let i = 0; i < n; i++) b[pick(b.length)]! ^= 1 << pick(8);
      return b;
    }
    case 1: // interesting byte
      b[pick(b.length)] = INTERESTING[pick(INTERESTING.length)]!;
      return b;
    case 2: { // 16-bit boundary value at a random even offset (counts, lengths)
      const o = pick(Math.max(1, b.length - 1)) & ~1;
      if (o + 2 <= b.length) b.writeUInt16LE([0, 1, 0x7fff, 0xffff, 0x8000][pick(5)]!, o);
      return b;
    }
    case 3: { // 32-bit boundary value (max_count, referent ids)
      const o = pick(Math.max(1, b.length - 3)) & ~3;
      if (o + 4 <= b.length) b.writeUInt32LE([0, 1, 0x7fffffff, 0xffffffff, 0x10000, 0x20000][pick(6)]!, o);
      return b;
    }
    case 4: // truncate
      return b.subarray(0, pick(b.length));
    case 5: { // extend with junk
      const extra = Buffer.alloc(1 + pick(64));
      for (let i = 0; i < extra.length; i++) extra[i] = pick(256);
      return Buffer.concat([b, extra]);
    }
    default: { // random bytes of a random length
      const r = Buffer.alloc(pick(300));
      for (let i = 0; i < r.length; i++) r[i] = pick(256);
      return r;
    }
  }
}
