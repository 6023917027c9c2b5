// At least 100,000 mutated NDR stubs (mutations of every endpoint-mapper stub in the shared
// captures, decoded with the definitions the runtime serves) end in a value or an
// NdrDecodeError: no other exception, no hang, no allocation the bytes cannot justify.
import { describe, expect, it } from 'vitest';
import { NdrDecodeError } from '../../src/base/errors';
import { dissectCapture } from '../../src/dissect/dissect';
import * as ndr from '../../src/ndr';
import { epm } from '../../src/rpc/interfaces/epm';
import { listSharedCaptures } from '../support/paths';
import { mutate, prng } from '../support/mutate';

interface Sample {
  params: ndr.Params<ndr.Fields>;
  stub: Buffer;
}

describe('NDR decoder robustness', () => {
  it('survives 100,000+ mutated endpoint-mapper stubs', async () => {
    const samples: Sample[] = [];
    for (const f of listSharedCaptures()) {
      await dissectCapture(f, (r, pdu) => {
        if (!pdu || (pdu.ptype !== 0 && pdu.ptype !== 2) || r.interface?.uuid !== epm.uuid || r.opnum === undefined) return;
        if (pdu.auth && pdu.auth.level === 6) return; // sealed: the bytes are not NDR
        const op = epm.byOpnum(r.opnum);
        if (!op || (pdu.drep >>> 24 & 0x10) === 0) return;
        samples.push({ params: (pdu.ptype === 0 ? op.in : op.out) as ndr.Params<ndr.Fields>, stub: Buffer.from(pdu.stub) });
      });
    }
    expect(samples.length).toBeGreaterThan(40);
    // The unmutated stubs decode (the mutations start from valid input).
    let valid = 0;
    for (const s of samples) {
      try {
        ndr.decodeParams(s.params, s.stub);
        valid++;
      } catch {
        /* a few real stubs use NDR64 or are truncated captures */
      }
    }
    expect(valid).toBeGreaterThan(samples.length / 2);

    const rnd = prng(0x0d12);
    const CASES = 110_000;
    let values = 0;
    let errors = 0;
    for (let i = 0; i < CASES; i++) {
      const s = samples[i % samples.length]!;
      const input = mutate(s.stub, rnd);
      let v: unknown;
      try {
        v = ndr.decodeParams(s.params, input);
      } catch (e) {
        if (!(e instanceof NdrDecodeError)) throw new Error(`case ${i}: ${String(e)} (input ${input.toString('hex')})`);
        errors++;
        continue;
      }
      values++;
      // What decodes can be encoded again, and holds no more elements than the input had bytes.
      const again = ndr.encodeParams(s.params, v as ndr.StructValue<ndr.Fields>);
      expect(again.length).toBeLessThanOrEqual(input.length * 4 + 64);
    }
    expect(values + errors).toBe(CASES);
    expect(values).toBeGreaterThan(1000);
    expect(errors).toBeGreaterThan(1000);
  });
});
