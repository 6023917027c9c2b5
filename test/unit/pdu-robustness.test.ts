// At least 100,000 random and mutated PDUs (mutations of every PDU in the shared captures) into
// the decoder: each ends in a PDU or a PduDecodeError — no other exception, no hang, and nothing
// decoded that the input's bytes could not hold.
import { describe, expect, it } from 'vitest';
import { PduDecodeError } from '../../src/base/errors';
import { dissectCapture } from '../../src/dissect/dissect';
import { decodePdu, encodePdu, PduFramer, type Pdu } from '../../src/pdu';
import { listSharedCaptures } from '../support/paths';
import { mutate, prng } from '../support/mutate';

/** Bytes a decoded PDU claims to hold; must never exceed the input's length. */
function claimedBytes(p: Pdu): number {
  let n = 16;
  if ('stub' in p) n += p.stub.length;
  if ('body' in p) n += p.body.length;
  if ('contexts' in p) for (const c of p.contexts) n += 24 + 20 * c.transferSyntaxes.length;
  if ('results' in p) n += 24 * p.results.length;
  if ('versions' in p) n += 2 * p.versions.length;
  if (p.auth) n += 8 + p.auth.value.length + p.auth.padLength;
  return n;
}

describe('PDU decoder robustness', () => {
  it('survives 100,000+ mutated and random PDUs', async () => {
    const seeds: Buffer[] = [];
    for (const f of listSharedCaptures()) {
      await dissectCapture(f, (_r, _p, bytes) => {
        if (seeds.length < 5000) seeds.push(Buffer.from(bytes));
      });
    }
    expect(seeds.length).toBeGreaterThan(500);
    const rnd = prng(0xdc0a);
    let values = 0;
    let typed = 0;
    const CASES = 120_000;
    for (let i = 0; i < CASES; i++) {
      const input = mutate(seeds[i % seeds.length]!, rnd);
      let p: Pdu;
      try {
        p = decodePdu(input);
      } catch (e) {
        if (!(e instanceof PduDecodeError)) throw new Error(`case ${i}: ${String(e)} (input ${input.toString('hex')})`);
        typed++;
        continue;
      }
      values++;
      expect(claimedBytes(p)).toBeLessThanOrEqual(input.length);
      // Whatever decodes must encode again without throwing (fields stay within their widths).
      encodePdu(p);
    }
    expect(values + typed).toBe(CASES);
    expect(values).toBeGreaterThan(1000);
    expect(typed).toBeGreaterThan(1000);
  });

  it('the heuristic framer never throws and never holds more than one PDU of bytes', () => {
    const rnd = prng(7);
    const f = new PduFramer<number>(() => {}, { heuristic: true });
    for (let i = 0; i < 20_000; i++) {
      const chunk = Buffer.alloc(Math.floor(rnd() * 200));
      for (let j = 0; j < chunk.length; j++) chunk[j] = Math.floor(rnd() * 256);
      if (rnd() < 0.05) chunk.write('05000b03100000004800', 0, 'hex');
      f.push(chunk, i);
      expect(f.buffered).toBeLessThanOrEqual(0xffff);
    }
  });
});
