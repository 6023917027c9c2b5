// The hand-written jsonl serializer says exactly what JSON.stringify would, for every record
// of every capture (it exists only because it is faster).
import { describe, expect, it } from 'vitest';
import { recordJson } from '../../src/cli/dissect';
import { dissectCapture } from '../../src/dissect/dissect';
import { listProjectCaptures, listSharedCaptures } from '../support/paths';

describe('jsonl records', () => {
  it('parse to the same value as JSON.stringify(record), for every PDU of every capture', async () => {
    let n = 0;
    const bad: string[] = [];
    for (const f of [...listSharedCaptures(), ...listProjectCaptures()]) {
      await dissectCapture(f, (r) => {
        n++;
        const mine = JSON.parse(recordJson(r));
        const ref = JSON.parse(JSON.stringify(r));
        try {
          expect(mine).toEqual(ref);
        } catch {
          if (bad.length < 5) bad.push(`${f} frame ${r.frame}: ${recordJson(r)} vs ${JSON.stringify(r)}`);
        }
      });
    }
    expect(bad).toEqual([]);
    expect(n).toBeGreaterThan(1000);
  });
});
