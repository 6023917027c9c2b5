// Every PDU decoded from the captures re-encodes to identical bytes.
import { describe, expect, it } from 'vitest';
import path from 'node:path';
import { dissectCapture } from '../../src/dissect/dissect';
import { encodePdu } from '../../src/pdu';
import { listSharedCaptures, listProjectCaptures } from '../support/paths';

const captures = [...listSharedCaptures(), ...listProjectCaptures()];

describe('decode → encode is the identity on real PDUs', () => {
  let total = 0;
  for (const file of captures) {
    it(path.basename(file), async () => {
      const bad: string[] = [];
      let n = 0;
      await dissectCapture(file, (r, pdu, bytes) => {
        if (!pdu) return; // body not decodable: counted by the oracle test, nothing to re-encode
        n++;
        const again = encodePdu(pdu);
        if (!again.equals(bytes)) bad.push(`frame ${r.frame} ${r.ptypeName} call ${r.callId}`);
      });
      total += n;
      expect(bad).toEqual([]);
    });
  }
  it('re-encoded a meaningful number of PDUs', () => {
    expect(total).toBeGreaterThan(1000);
  });
});
