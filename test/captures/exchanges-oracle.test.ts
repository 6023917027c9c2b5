// The exchanges `sessions` reports (a report's arrows), against tshark on every capture: one per
// bind, alter_context and call (its first fragment), at the frames tshark shows, in order; and
// every call tshark shows answered by a fault is a failed exchange whose result names the fault.
import path from 'node:path';
import { expect, it } from 'vitest';
import { analyzeSessions } from '../../src/dissect/sessions';
import { describeWithPeers } from '../support/peers';
import { listProjectCaptures, listSharedCaptures, SHARED_PCAPS } from '../support/paths';
import { DCERPC_NOT_SMB, NON_DCERPC_PORT_DISSECTORS, runTshark } from '../support/tshark';

const STARTS = 'dcerpc.pkt_type == 11 || dcerpc.pkt_type == 14 || (dcerpc.pkt_type == 0 && dcerpc.cn_flags.first_frag == 1)';

function frames(file: string, filter: string, field = 'frame.number'): number[] {
  const args = ['-r', file, '-T', 'fields', '-e', field, '-Y', `(${filter}) && ${DCERPC_NOT_SMB}`];
  for (const p of NON_DCERPC_PORT_DISSECTORS) args.push('--disable-protocol', p);
  return runTshark(args).split('\n').filter(Boolean).map(Number);
}

describeWithPeers(['tshark'], 'exchanges against tshark, every capture', () => {
  for (const file of [...listSharedCaptures(), ...listProjectCaptures()]) {
    it(path.relative(path.dirname(SHARED_PCAPS), file), async () => {
      const r = await analyzeSessions(file);
      expect(r.exchanges.map((x) => x.frame)).toEqual(frames(file, STARTS));
      for (const req of frames(file, 'dcerpc.pkt_type == 3', 'dcerpc.request_in')) {
        const x = r.exchanges.find((e) => e.frame === req);
        expect(x, `fault answering frame ${req}`).toBeDefined();
        expect(x!.failed).toBe(true);
        expect(x!.result).toMatch(/^fault /);
      }
    }, 60_000);
  }
});
