// PDU codec against bytes worked out by hand from C706 12.6 and MS-RPCE 2.2.2.
import { describe, expect, it } from 'vitest';
import {
  decodeHeader,
  decodePdu,
  encodePdu,
  PduFramer,
  plausibleHeader,
  splitStub,
  StubReassembler,
  PFC,
  type BindPdu,
  type RequestPdu,
} from '../../src/pdu';
import { PduDecodeError, RpcFault } from '../../src/base/errors';
import { describeStatus, statusName } from '../../src/base/status';

const hex = (s: string) => Buffer.from(s.replace(/\s+|#[^\n]*/g, ''), 'hex');

// bind for EPM v3.0 with NDR 2.0, little-endian, call id 1 (C706 12.6.4.3):
const BIND_LE = hex(`
  05 00 0b 03            # rpc_vers 5, minor 0, ptype bind(11), flags FIRST|LAST
  10 00 00 00            # drep: little-endian integers, ASCII, IEEE
  48 00 00 00            # frag_length 72, auth_length 0
  01 00 00 00            # call_id 1
  b8 10 b8 10            # max_xmit_frag 4280, max_recv_frag 4280
  00 00 00 00            # assoc_group_id 0
  01 00 00 00            # n_context_elem 1, reserved, reserved2
  00 00 01 00            # p_cont_id 0, n_transfer_syn 1, reserved
  08 83 af e1 1f 5d c9 11 91 a4 08 00 2b 14 a0 fa   # e1af8308-5d1f-11c9-91a4-08002b14a0fa
  03 00 00 00            # if_version 3.0
  04 5d 88 8a eb 1c c9 11 9f e8 08 00 2b 10 48 60   # 8a885d04-1ceb-11c9-9fe8-08002b104860
  02 00 00 00            # version 2
`);

describe('common header', () => {
  it('decodes each field from hand-built bytes', () => {
    const h = decodeHeader(BIND_LE);
    expect(h).toEqual({ rpcVers: 5, rpcVersMinor: 0, ptype: 11, flags: 3, drep: 0x10000000, fragLength: 72, authLength: 0, callId: 1 });
  });
  it('reads big-endian integers when drep says so', () => {
    const be = hex('05 00 00 03  00 00 00 00  00 20 00 10  00 00 01 02');
    const h = decodeHeader(be);
    expect(h.fragLength).toBe(0x20);
    expect(h.authLength).toBe(0x10);
    expect(h.callId).toBe(0x102);
  });
  it('rejects a short buffer with the offset', () => {
    expect(() => decodeHeader(Buffer.alloc(10))).toThrow(PduDecodeError);
  });
});

describe('bind', () => {
  it('decodes contexts and syntaxes', () => {
    const p = decodePdu(BIND_LE) as BindPdu;
    expect(p.ptype).toBe(11);
    expect(p.maxXmitFrag).toBe(4280);
    expect(p.contexts).toEqual([
      {
        ctxId: 0,
        abstractSyntax: { uuid: 'e1af8308-5d1f-11c9-91a4-08002b14a0fa', version: 3 },
        transferSyntaxes: [{ uuid: '8a885d04-1ceb-11c9-9fe8-08002b104860', version: 2 }],
      },
    ]);
  });
  it('re-encodes to the same bytes', () => {
    expect(encodePdu(decodePdu(BIND_LE)).equals(BIND_LE)).toBe(true);
  });
  it('encodes the same bind in big-endian and reads it back', () => {
    const p = decodePdu(BIND_LE) as BindPdu;
    const be = encodePdu({ ...p, drep: 0x00000000 });
    // frag_length big-endian at offset 8, GUID time_low big-endian at 32 (16 header + 8 + 4 list + 4 element).
    expect(be.subarray(8, 10)).toEqual(hex('00 48'));
    expect(be.subarray(32, 36)).toEqual(hex('e1 af 83 08'));
    const back = decodePdu(be) as BindPdu;
    expect(back.contexts).toEqual(p.contexts);
  });
});

describe('bind_ack', () => {
  // bind_ack accepting ctx 0 with secondary address "135" (C706 12.6.4.4):
  const ACK = hex(`
    05 00 0c 03 10 00 00 00 3c 00 00 00 01 00 00 00
    b8 10 b8 10 f0 53 00 00      # max frags, assoc_group_id 0x53f0
    04 00 31 33 35 00            # sec_addr length 4, "135\\0"
    00 00                        # pad to 4 (offset 30 → 32)
    01 00 00 00                  # n_results 1
    00 00 00 00                  # result acceptance, reason 0
    04 5d 88 8a eb 1c c9 11 9f e8 08 00 2b 10 48 60 02 00 00 00
  `);
  it('decodes the secondary address and results', () => {
    const p = decodePdu(ACK);
    expect(p).toMatchObject({ ptype: 12, assocGroupId: 0x53f0, secAddr: '135', results: [{ result: 0, reason: 0 }] });
    expect(encodePdu(p).equals(ACK)).toBe(true);
  });
});

describe('request with object UUID and auth verifier', () => {
  // request opnum 3 with PFC_OBJECT_UUID, 4-byte stub, NTLM (10) at PKT_INTEGRITY (5):
  // stub padded with 12 bytes to 16, then sec_trailer and a 16-byte verifier.
  const REQ = hex(`
    05 00 00 83 10 00 00 00 50 00 10 00 07 00 00 00    # flags F|L|OBJECT, frag 80, auth 16, call 7
    04 00 00 00 01 00 03 00                            # alloc_hint 4, ctx 1, opnum 3
    a0 01 00 00 00 00 00 00 c0 00 00 00 00 00 00 46    # object 000001a0-0000-0000-c000-000000000046
    29 00 00 00                                        # stub: long 41
    00 00 00 00 00 00 00 00 00 00 00 00                # auth padding, 12 bytes
    0a 05 0c 00 00 00 00 00                            # winnt, pkt_integrity, pad 12, reserved, ctx id 0
    01 00 00 00 aa aa aa aa aa aa aa aa 00 00 00 00    # NTLMSSP signature (version 1, checksum, seq 0)
  `);
  it('finds object, stub, padding and verifier', () => {
    const p = decodePdu(REQ) as RequestPdu;
    expect(p.object).toBe('000001a0-0000-0000-c000-000000000046');
    expect(p.stub).toEqual(hex('29 00 00 00'));
    expect(p.auth).toMatchObject({ type: 10, level: 5, padLength: 12, contextId: 0 });
    expect(p.auth!.value.length).toBe(16);
  });
  it('re-encodes identically, and picks the same padding from scratch', () => {
    const p = decodePdu(REQ) as RequestPdu;
    expect(encodePdu(p).equals(REQ)).toBe(true);
    const fresh = encodePdu({ ...p, auth: { ...p.auth!, pad: undefined } });
    expect(fresh.equals(REQ)).toBe(true);
  });
  it('rejects an auth_length that does not fit', () => {
    const bad = Buffer.from(REQ);
    bad.writeUInt16LE(200, 10);
    expect(() => decodePdu(bad)).toThrow(/auth_length 200/);
  });
});

describe('fault and bind_nak', () => {
  it('fault carries its status, named from the shared table', () => {
    const f = hex(`05 00 03 03 10 00 00 00 20 00 00 00 02 00 00 00
                   20 00 00 00 00 00 00 00 02 00 01 1c 00 00 00 00`);
    const p = decodePdu(f);
    expect(p).toMatchObject({ ptype: 3, status: 0x1c010002 });
    expect(statusName(0x1c010002)).toBe('nca_s_op_rng_error');
    expect(describeStatus(0x80070005)).toBe('E_ACCESSDENIED 0x80070005');
    expect(encodePdu(p).equals(f)).toBe(true);
  });
  it('bind_nak with the supported-versions list', () => {
    // reason 4 protocol_version_not_supported, one version 5.0
    const n = hex('05 00 0d 03 10 00 00 00 15 00 00 00 01 00 00 00 04 00 01 05 00');
    const p = decodePdu(n);
    expect(p).toMatchObject({ ptype: 13, rejectReason: 4, versions: [{ major: 5, minor: 0 }] });
    expect(encodePdu(p).equals(n)).toBe(true);
  });
  it('rejects unknown ptypes and wrong versions', () => {
    const bad = Buffer.from(BIND_LE);
    bad[2] = 7; // ack is connectionless
    expect(() => decodePdu(bad)).toThrow(/not a connection-oriented/);
    const v4 = Buffer.from(BIND_LE);
    v4[0] = 4;
    expect(() => decodePdu(v4)).toThrow(/rpc_vers 4/);
  });
});

describe('framing', () => {
  it('splits a stream at frag_length boundaries across arbitrary chunking', () => {
    const stream = Buffer.concat([BIND_LE, BIND_LE, BIND_LE]);
    for (const cut of [1, 7, 16, 50, 72, 100, 200]) {
      const seen: Buffer[] = [];
      const f = new PduFramer<undefined>((p) => seen.push(Buffer.from(p)));
      for (let o = 0; o < stream.length; o += cut) f.push(stream.subarray(o, o + cut), undefined);
      expect(seen.length).toBe(3);
      for (const s of seen) expect(s.equals(BIND_LE)).toBe(true);
    }
  });
  it('strict mode refuses a fragment above the negotiated size', () => {
    const f = new PduFramer<undefined>(() => {}, { maxFragLength: 64 });
    expect(() => f.push(BIND_LE, undefined)).toThrow(/exceeds the negotiated 64/);
  });
  it('heuristic mode resynchronises at the next segment start after a gap', () => {
    const seen: number[] = [];
    const f = new PduFramer<number>((_p, m) => seen.push(m), { heuristic: true });
    f.push(BIND_LE.subarray(0, 40), 1); // first part of a PDU
    f.gap(); // its end is lost
    f.push(BIND_LE.subarray(40), 2); // the tail is not a header: skipped
    f.push(BIND_LE, 3);
    expect(seen).toEqual([3]);
    expect(plausibleHeader(BIND_LE, 0)).toBe(72);
    expect(plausibleHeader(BIND_LE, 1)).toBe(0);
  });
});

describe('fragmentation and reassembly', () => {
  it('splits a stub and reassembles it by call id', () => {
    const stub = Buffer.alloc(10_000, 0);
    for (let i = 0; i < stub.length; i++) stub[i] = i & 0xff;
    const parts = splitStub(stub, 1432, 24, 0);
    expect(parts.length).toBeGreaterThan(1);
    for (const p of parts.slice(0, -1)) expect(p.length % 16).toBe(0);
    const r = new StubReassembler<number>();
    let whole: Buffer | undefined;
    parts.forEach((p, i) => {
      const flags = (i === 0 ? PFC.FIRST_FRAG : 0) | (i === parts.length - 1 ? PFC.LAST_FRAG : 0);
      const res = r.push(5, flags, p, i);
      if (res) whole = res.stub;
    });
    expect(whole!.equals(stub)).toBe(true);
    expect(r.inProgress).toBe(0);
  });
  it('faults a continuation without a first fragment, and bounds the size', () => {
    const r = new StubReassembler<number>(100);
    expect(() => r.push(1, PFC.LAST_FRAG, Buffer.alloc(4), 0)).toThrow(RpcFault);
    r.push(2, PFC.FIRST_FRAG, Buffer.alloc(60), 0);
    expect(() => r.push(2, 0, Buffer.alloc(60), 0)).toThrow(/reassembly limit/);
    expect(r.inProgress).toBe(0);
  });
});

describe('secondary address forms', () => {
  it('keeps an empty secondary address sent as a lone NUL (length 1), as Windows does', () => {
    // alter_context_resp: sec_addr length 1 = "\0", then 1 pad byte to reach offset 28.
    const resp = hex(`05 00 0f 03 10 00 00 00 38 00 00 00 02 00 00 00
                      00 20 00 20 84 ed 00 00   01 00 00   00
                      01 00 00 00 00 00 00 00
                      04 5d 88 8a eb 1c c9 11 9f e8 08 00 2b 10 48 60 02 00 00 00`);
    const p = decodePdu(resp);
    expect(p).toMatchObject({ ptype: 15, secAddr: '' });
    expect(encodePdu(p).equals(resp)).toBe(true);
  });
});
