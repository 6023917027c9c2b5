import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { decodeTcp, ipv6ToString } from '../../src/capture';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// Headers written field by field from RFC 791 / RFC 8200 / RFC 9293.

/** 20-byte TCP header, data offset 5 unless options are given. */
function tcp(o: { sport: number; dport: number; seq: number; ack: number; flags: number; options?: Buffer }, payload: Buffer): Buffer {
  const opts = o.options ?? Buffer.alloc(0);
  const h = Buffer.alloc(20 + opts.length);
  h.writeUInt16BE(o.sport, 0);
  h.writeUInt16BE(o.dport, 2);
  h.writeUInt32BE(o.seq, 4);
  h.writeUInt32BE(o.ack, 8);
  h[12] = ((20 + opts.length) / 4) << 4;
  h[13] = o.flags;
  h.writeUInt16BE(8192, 14);
  opts.copy(h, 20);
  return Buffer.concat([h, payload]);
}

function ipv4(src: number[], dst: number[], proto: number, body: Buffer, o: { options?: Buffer; fragOffset?: number; mf?: boolean; totalLength?: number } = {}): Buffer {
  const opts = o.options ?? Buffer.alloc(0);
  const h = Buffer.alloc(20 + opts.length);
  h[0] = 0x40 | ((20 + opts.length) / 4);
  h.writeUInt16BE(o.totalLength ?? h.length + body.length, 2);
  h.writeUInt16BE(0x1234, 4);
  h.writeUInt16BE(((o.mf ? 1 : 0) << 13) | (o.fragOffset ?? 0), 6);
  h[8] = 64;
  h[9] = proto;
  Buffer.from(src).copy(h, 12);
  Buffer.from(dst).copy(h, 16);
  opts.copy(h, 20);
  return Buffer.concat([h, body]);
}

function ipv6(src: string, dst: string, nextHeader: number, body: Buffer): Buffer {
  const h = Buffer.alloc(40);
  h[0] = 0x60;
  h.writeUInt16BE(body.length, 4);
  h[6] = nextHeader;
  h[7] = 64;
  hex(src).copy(h, 8);
  hex(dst).copy(h, 24);
  return Buffer.concat([h, body]);
}

const eth = (etherType: string, body: Buffer) => Buffer.concat([hex('020000000001 020000000002'), hex(etherType), body]);

const SEG = { sport: 49666, dport: 135, seq: 0x01020304, ack: 0xfffffffe, flags: 0x18 };
const PAYLOAD = Buffer.from('hello');
const v4 = () => ipv4([192, 168, 1, 10], [10, 0, 0, 254], 6, tcp(SEG, PAYLOAD));
const V6_SRC = '20010db8000000000000000000000001';
const V6_DST = 'fe800000000000000000000000000001';
const v6 = () => ipv6(V6_SRC, V6_DST, 6, tcp(SEG, PAYLOAD));

const expectV4 = {
  ipVersion: 4,
  src: '192.168.1.10',
  dst: '10.0.0.254',
  srcPort: 49666,
  dstPort: 135,
  seq: 16909060,
  ack: 4294967294,
  flags: 0x18,
};
const expectV6 = { ...expectV4, ipVersion: 6, src: '2001:db8::1', dst: 'fe80::1' };

function check(linkType: number, frame: Buffer, expected: object, payload = 'hello') {
  const seg = decodeTcp(linkType, frame);
  expect(seg).not.toBeNull();
  expect(seg).toMatchObject(expected);
  expect(seg!.payload.toString('latin1')).toBe(payload);
}

describe('decodeTcp: link types', () => {
  it('Ethernet IPv4, dropping the Ethernet padding after the IP total length', () => {
    const ip = ipv4([192, 168, 1, 10], [10, 0, 0, 254], 6, tcp(SEG, Buffer.from('hi')));
    const frame = Buffer.concat([eth('0800', ip), Buffer.alloc(60 - 14 - ip.length, 0xee)]);
    expect(frame.length).toBe(60);
    check(1, frame, expectV4, 'hi');
  });

  it('payload is cut to the captured bytes when the snaplen cut the frame', () => {
    const frame = eth('0800', v4());
    check(1, frame.subarray(0, frame.length - 2), expectV4, 'hel');
  });

  it('Ethernet with one 802.1Q tag, with QinQ 0x88a8 + 0x8100, and with 0x9100', () => {
    check(1, eth('8100', Buffer.concat([hex('0064 0800'), v4()])), expectV4);
    check(1, eth('88a8', Buffer.concat([hex('00c8 8100 0064 86dd'), v6()])), expectV6);
    check(1, eth('9100', Buffer.concat([hex('0001 0800'), v4()])), expectV4);
  });

  it('Linux cooked SLL (113) and SLL2 (276)', () => {
    // SLL: packet type 0 (to us), ARPHRD_ETHER 1, address length 6, address (8), protocol
    check(113, Buffer.concat([hex('0000 0001 0006 020000000002 0000 0800'), v4()]), expectV4);
    check(113, Buffer.concat([hex('0004 0001 0006 020000000002 0000 86dd'), v6()]), expectV6);
    // SLL2: protocol, reserved, interface index, ARPHRD, packet type, address length, address (8)
    check(276, Buffer.concat([hex('86dd 0000 00000002 0001 00 06 020000000002 0000'), v6()]), expectV6);
    check(276, Buffer.concat([hex('0800 0000 00000002 0001 04 06 020000000002 0000'), v4()]), expectV4);
  });

  it('raw IP (101, 12, 14, 228, 229): version from the first nibble', () => {
    for (const lt of [101, 12, 14]) {
      check(lt, v4(), expectV4);
      check(lt, v6(), expectV6);
    }
    check(228, v4(), expectV4);
    check(229, v6(), expectV6);
  });

  it('BSD null loopback (0): address family in either byte order; OpenBSD loop (108): big-endian', () => {
    check(0, Buffer.concat([hex('02000000'), v4()]), expectV4);
    check(0, Buffer.concat([hex('00000002'), v4()]), expectV4);
    for (const af of ['18000000', '1c000000', '1e000000', '00000018', '0000001c', '0000001e']) {
      check(0, Buffer.concat([hex(af), v6()]), expectV6);
    }
    check(108, Buffer.concat([hex('00000002'), v4()]), expectV4);
    check(108, Buffer.concat([hex('00000018'), v6()]), expectV6);
    expect(decodeTcp(0, Buffer.concat([hex('07000000'), v4()]))).toBeNull(); // unknown AF
  });

  it('unknown link types are not decoded', () => {
    expect(decodeTcp(105, eth('0800', v4()))).toBeNull();
  });
});

describe('decodeTcp: IP and TCP details', () => {
  it('IPv4 options (IHL 6) and TCP options (data offset 8)', () => {
    const t = tcp({ ...SEG, options: hex('0101080a 00000001 00000002') }, PAYLOAD);
    const ip = ipv4([192, 168, 1, 10], [10, 0, 0, 254], 6, t, { options: hex('01010100') });
    expect(ip[0]).toBe(0x46);
    check(1, eth('0800', ip), expectV4);
  });

  it('IPv4 fragments: the first is decoded, later ones are not', () => {
    const body = tcp(SEG, PAYLOAD);
    check(1, eth('0800', ipv4([192, 168, 1, 10], [10, 0, 0, 254], 6, body, { mf: true })), expectV4);
    expect(decodeTcp(1, eth('0800', ipv4([192, 168, 1, 10], [10, 0, 0, 254], 6, body, { fragOffset: 185 })))).toBeNull();
  });

  it('IPv4 total length 0 (TSO) uses the captured bytes', () => {
    check(1, eth('0800', ipv4([192, 168, 1, 10], [10, 0, 0, 254], 6, tcp(SEG, PAYLOAD), { totalLength: 0 })), expectV4);
  });

  it('IPv6 extension headers before TCP: hop-by-hop, routing, destination options, first fragment', () => {
    const t = tcp(SEG, PAYLOAD);
    // hop-by-hop (next 43, len 0 = 8 bytes) → routing (next 60, len 0) → dest opts (next 44, len 1 = 16 bytes) → fragment (next 6, offset 0, M)
    const ext = Buffer.concat([
      hex('2b00 010400000000'),
      hex('3c00 0000 00000000'),
      hex('2c01 0000 00000000 0000000000000000'),
      hex('0600 0001 deadbeef'),
    ]);
    check(1, eth('86dd', ipv6(V6_SRC, V6_DST, 0, Buffer.concat([ext, t]))), expectV6);
    // the same with a non-zero fragment offset (185 * 8): not the first fragment
    const later = Buffer.concat([hex('0600 05c8 deadbeef'), t]);
    expect(decodeTcp(1, eth('86dd', ipv6(V6_SRC, V6_DST, 44, later)))).toBeNull();
  });

  it('IPv6 payload length bounds the payload (padding dropped)', () => {
    const ip = ipv6(V6_SRC, V6_DST, 6, tcp(SEG, Buffer.from('ab')));
    check(113, Buffer.concat([hex('0000 0001 0006 020000000002 0000 86dd'), ip, Buffer.alloc(6, 0)]), expectV6, 'ab');
  });

  it('not TCP, or too short, or malformed: null', () => {
    expect(decodeTcp(1, eth('0800', ipv4([1, 2, 3, 4], [5, 6, 7, 8], 17, Buffer.alloc(20))))).toBeNull(); // UDP
    expect(decodeTcp(1, eth('0806', Buffer.alloc(28)))).toBeNull(); // ARP
    expect(decodeTcp(1, eth('86dd', ipv6(V6_SRC, V6_DST, 58, Buffer.alloc(20))))).toBeNull(); // ICMPv6
    expect(decodeTcp(1, eth('0800', v4()).subarray(0, 14 + 20 + 12))).toBeNull(); // TCP header cut
    const badOff = tcp(SEG, PAYLOAD);
    badOff[12] = 0x40; // data offset 4 < 5
    expect(decodeTcp(1, eth('0800', ipv4([1, 2, 3, 4], [5, 6, 7, 8], 6, badOff)))).toBeNull();
    const badIhl = v4();
    badIhl[0] = 0x44; // IHL 4 < 5
    expect(decodeTcp(101, badIhl)).toBeNull();
    expect(decodeTcp(1, Buffer.alloc(0))).toBeNull();
    expect(decodeTcp(0, Buffer.alloc(3))).toBeNull();
  });

  it('never throws on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.constantFrom(0, 1, 12, 14, 101, 108, 113, 228, 229, 276), fc.uint8Array({ maxLength: 120 }), (lt, bytes) => {
        const seg = decodeTcp(lt, Buffer.from(bytes));
        if (seg) expect(seg.payload.length).toBeLessThanOrEqual(bytes.length);
      }),
      { numRuns: 3000 },
    );
    // and on prefixes of a valid frame
    const frame = eth('8100', Buffer.concat([hex('0064 86dd'), v6()]));
    for (let n = 0; n < frame.length; n++) expect(() => decodeTcp(1, frame.subarray(0, n))).not.toThrow();
  });
});

describe('ipv6ToString (RFC 5952)', () => {
  const cases: Array<[string, string]> = [
    ['00000000000000000000000000000001', '::1'],
    ['00000000000000000000000000000000', '::'],
    ['fe800000000000000000000000000001', 'fe80::1'],
    ['20010db8000000000001000000000001', '2001:db8::1:0:0:1'], // first of two equal runs
    ['20010db8000000010001000100010001', '2001:db8:0:1:1:1:1:1'], // a single 0 group stays
    ['20010db8000000000000000100000000', '2001:db8::1:0:0'], // the longer run wins
    ['00010000000000000000000000000000', '1::'],
    ['20010DB8ABCD00120000000000000000'.toLowerCase(), '2001:db8:abcd:12::'],
    ['00000000000000000000ffffc0000201', '::ffff:192.0.2.1'],
  ];
  for (const [h, text] of cases) {
    it(`${h} → ${text}`, () => {
      expect(ipv6ToString(hex(h), 0)).toBe(text);
    });
  }
});
