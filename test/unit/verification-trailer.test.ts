// The verification trailer (MS-RPCE 2.2.2.13): found, checked and removed by the server.
import { describe, expect, it } from 'vitest';
import { dissectCapture } from '../../src/dissect/dissect';
import { NDR20 } from '../../src/pdu';
import {
  checkVerificationTrailer, encodeVerificationTrailer, findVerificationTrailer, SEC_VT_SIGNATURE,
} from '../../src/rpc/verification-trailer';
import { SHARED_PCAPS } from '../support/paths';
import path from 'node:path';

const ctx = { abstractSyntax: { uuid: '000001a0-0000-0000-c000-000000000046', version: 0 }, transferSyntax: { ...NDR20 } };
const req = { drep: 0x10000000, callId: 7, ctxId: 1, opnum: 4 };

describe('verification trailer', () => {
  it('round-trips: appended after a stub, found, checked and stripped', () => {
    const stub = Buffer.from('0102030405', 'hex'); // 5 bytes: the trailer is padded to 4
    const vt = encodeVerificationTrailer(stub.length, req, ctx);
    const whole = Buffer.concat([stub, vt]);
    expect(whole.indexOf(SEC_VT_SIGNATURE)).toBe(8);
    const found = findVerificationTrailer(whole)!;
    expect(found.stub.subarray(0, 5)).toEqual(stub);
    expect(found.trailer).toMatchObject({ bitmask1: 1, header2: { ptype: 0, callId: 7, ctxId: 1, opnum: 4, drep: 0x10000000 } });
    expect(checkVerificationTrailer(found.trailer, req, ctx)).toBeUndefined();
  });

  it('names what does not match: another opnum, another interface', () => {
    const stub = Buffer.alloc(8);
    const found = findVerificationTrailer(Buffer.concat([stub, encodeVerificationTrailer(8, req, ctx)]))!;
    expect(checkVerificationTrailer(found.trailer, { ...req, opnum: 5 }, ctx)).toMatch(/header2/);
    expect(checkVerificationTrailer(found.trailer, req, { ...ctx, abstractSyntax: { uuid: '00000143-0000-0000-c000-000000000046', version: 0 } }))
      .toMatch(/another interface/);
  });

  it('ignores a stub whose tail merely contains the signature', () => {
    const junk = Buffer.concat([Buffer.alloc(4), SEC_VT_SIGNATURE, Buffer.from('01000400', 'hex')]); // command cut short
    expect(findVerificationTrailer(junk)).toBeUndefined();
    expect(findVerificationTrailer(Buffer.alloc(64))).toBeUndefined();
  });

  it('parses the trailers Windows clients sent in dcerpc-ctxids.pcap (PKT_INTEGRITY)', async () => {
    const seen: Array<{ ctxId: number; uuid?: string }> = [];
    await dissectCapture(path.join(SHARED_PCAPS, 'suricata-verify', 'dcerpc-ctxids.pcap'), (r, p) => {
      if (!p || p.ptype !== 0 || !p.stub.includes(SEC_VT_SIGNATURE)) return;
      const vt = findVerificationTrailer(p.stub);
      expect(vt, `frame ${r.frame}`).toBeDefined();
      const pc = vt!.trailer.pcontext;
      if (pc) {
        // The trailer names the interface the association bound on that context.
        expect(pc.interfaceId.uuid).toBe(r.interface?.uuid);
        expect(pc.transferSyntax).toEqual({ uuid: NDR20.uuid, version: NDR20.version });
      }
      expect(vt!.trailer.mustProcessUnknown).toBeUndefined();
      seen.push({ ctxId: p.ctxId, uuid: pc?.interfaceId.uuid });
    });
    expect(seen.length).toBe(7);
    expect(seen.filter((x) => x.uuid).length).toBeGreaterThan(0);
  });
});
