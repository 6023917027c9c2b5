// tshark as oracle: for every shared capture, the multiset of per-PDU header facts that
// `dissect` reports equals tshark's (filter `dcerpc && !smb && !smb2`).
import { describe, expect, it } from 'vitest';
import path from 'node:path';
import { dissectCapture, type PduRecord } from '../../src/dissect/dissect';
import { listSharedCaptures, listProjectCaptures } from '../support/paths';
import { describeWithPeers } from '../support/peers';
import { NON_DCERPC_PORT_DISSECTORS, tsharkPdus, type TsharkPdu } from '../support/tshark';

const REQ_RESP_FAULT = new Set([0, 2, 3]);

function key(p: {
  ptype: number; callId: number; fragLength: number; authLength: number;
  ctxId?: number; opnum?: number; authType?: number; authLevel?: number;
}): string {
  const ctx = REQ_RESP_FAULT.has(p.ptype) ? p.ctxId : undefined;
  return [p.ptype, p.callId, p.fragLength, p.authLength, ctx ?? '-', p.opnum ?? '-', p.authType ?? '-', p.authLevel ?? '-'].join('/');
}

function multiset(keys: string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const k of keys) m.set(k, (m.get(k) ?? 0) + 1);
  return m;
}

/** Keys present more often on one side than the other, with the surplus. */
function difference(a: Map<string, number>, b: Map<string, number>): string[] {
  const out: string[] = [];
  for (const [k, n] of a) {
    const d = n - (b.get(k) ?? 0);
    if (d > 0) out.push(`${k} x${d}`);
  }
  return out;
}

const captures = [...listSharedCaptures(), ...listProjectCaptures()];

describeWithPeers(['tshark'], 'dissect agrees with tshark on every capture', () => {
  it('has captures to check', () => {
    expect(captures.length).toBeGreaterThan(20);
  });
  const mismatches: string[] = [];
  for (const file of captures) {
    it(path.basename(file), async () => {
      const ours: PduRecord[] = [];
      await dissectCapture(file, (r) => ours.push(r));
      const theirs: TsharkPdu[] = tsharkPdus(file, { disableProtocols: NON_DCERPC_PORT_DISSECTORS });
      const a = multiset(ours.map(key));
      const b = multiset(theirs.map(key));
      const onlyOurs = difference(a, b);
      const onlyTshark = difference(b, a);
      if (onlyOurs.length || onlyTshark.length) {
        mismatches.push(`${file}: only dcomlab ${JSON.stringify(onlyOurs.slice(0, 20))}; only tshark ${JSON.stringify(onlyTshark.slice(0, 20))}`);
      }
      // key = ptype/callId/fragLength/authLength/ctxId/opnum/authType/authLevel
      expect({ onlyOurs, onlyTshark }).toEqual({ onlyOurs: [], onlyTshark: [] });
      expect(ours.length).toBe(theirs.length);
    });
  }
  it('lists every capture that differs (none)', () => {
    expect(mismatches).toEqual([]);
  });
});
