// The test helpers themselves: paths, the shared MANIFEST, and tshark as oracle, checked against the
// counts MANIFEST.tsv records for tshark 4.0 and against a capture built here byte by byte.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { listProjectCaptures, listSharedCaptures, PROJECT_PCAPS, PROJECT_ROOT, readSharedManifest, SHARED_PCAPS } from '../support/paths';
import { describeWithPeers, peer } from '../support/peers';
import { tsharkExpert, tsharkFields, tsharkPdus, type TsharkPdu } from '../support/tshark';

const PTYPE: Record<string, number> = {
  req: 0, resp: 2, fault: 3, bind: 11, bind_ack: 12, bind_nak: 13,
  alter: 14, alter_resp: 15, auth3: 16, shutdown: 17, cancel: 18, orphaned: 19,
};

/** "PDU types: req:2 bind:1 bind_ack:1." from MANIFEST notes, as ptype -> count. */
function manifestPtypes(notes: string): Map<number, number> {
  const text = /PDU types:([^.]*)\./.exec(notes)?.[1] ?? '';
  const m = new Map<number, number>();
  for (const [, name, n] of text.matchAll(/(\w+):(\d+)/g)) {
    const p = PTYPE[name!];
    if (p === undefined) throw new Error(`unknown PDU type in MANIFEST: ${name}`);
    m.set(p, Number(n));
  }
  return m;
}

function countPtypes(pdus: TsharkPdu[]): Map<number, number> {
  const m = new Map<number, number>();
  for (const p of pdus) m.set(p.ptype, (m.get(p.ptype) ?? 0) + 1);
  return m;
}

const sorted = (m: Map<number, number>) => [...m.entries()].sort((a, b) => a[0] - b[0]);

describe('paths', () => {
  it('finds the project root and the shared captures beside it', () => {
    expect(existsSync(path.join(PROJECT_ROOT, 'package.json'))).toBe(true);
    expect(PROJECT_PCAPS).toBe(path.join(PROJECT_ROOT, 'pcaps'));
    expect(existsSync(path.join(SHARED_PCAPS, 'MANIFEST.tsv'))).toBe(true);
  });

  it('lists every shared capture in MANIFEST.tsv, and nothing else', () => {
    const listed = listSharedCaptures().map((f) => path.relative(SHARED_PCAPS, f));
    expect(listed.some((f) => /README|MANIFEST/.test(f))).toBe(false);
    const manifest = readSharedManifest();
    expect(manifest.length).toBeGreaterThanOrEqual(20);
    expect(listed.sort()).toEqual(manifest.map((r) => r.file).sort());
  });

  it('parses MANIFEST.tsv transports, which add up to the PDU count', () => {
    for (const row of readSharedManifest()) {
      const { tcp, smb1, smb2 } = row.transport;
      expect(tcp + smb1 + smb2, row.file).toBe(row.dcerpcPdus);
      expect(Number.isInteger(row.malformedFrames), row.file).toBe(true);
    }
  });
});

describeWithPeers(['tshark'], 'tshark oracle on shared captures', () => {
  const manifest = new Map(readSharedManifest().map((r) => [r.file, r]));
  const row = (file: string) => {
    const r = manifest.get(file);
    if (!r) throw new Error(`${file} is not in MANIFEST.tsv`);
    return r;
  };

  // TCP-only files: MANIFEST's count and its PDU-type breakdown are all tshark finds outside SMB.
  it.each([
    'suricata-verify/dcerpc-bind-no-frag-flag.pcap',
    'zeek/cs_window7-join_stream092.pcap',
    'scapy/dcerpc_privacy_ntlm.pcapng.gz',
  ])('%s: PDU count and types match MANIFEST', (file) => {
    const r = row(file);
    expect(r.transport.smb1 + r.transport.smb2).toBe(0);
    const pdus = tsharkPdus(r.path);
    expect(pdus).toHaveLength(r.dcerpcPdus);
    expect(sorted(countPtypes(pdus))).toEqual(sorted(manifestPtypes(r.notes)));
  });

  // Mixed files: MANIFEST counts SMB-carried PDUs too; only its tcp:N share is ours.
  it.each(['suricata-verify/dcerpc-ctxids.pcap', 'zeek/mapi.pcap'])('%s: only the TCP-carried PDUs', (file) => {
    const r = row(file);
    expect(r.transport.smb1 + r.transport.smb2).toBeGreaterThan(0);
    expect(tsharkPdus(r.path)).toHaveLength(r.transport.tcp);
  });

  it('an SMB-only file has no PDUs outside SMB', () => {
    const r = row('suricata-verify/dcerpc-smb-test-01.pcap');
    expect(r.transport.tcp).toBe(0);
    expect(tsharkPdus(r.path)).toEqual([]);
  });

  it('reads header, context, opnum and sec_trailer fields (gzipped pcapng, non-standard port)', () => {
    const pdus = tsharkPdus(row('scapy/dcerpc_privacy_ntlm.pcapng.gz').path);
    // EPM ept_map on 135, unauthenticated.
    expect(pdus[0]).toEqual({ frame: 4, ptype: 11, callId: 2, fragLength: 160, authLength: 0 });
    expect(pdus[2]).toEqual({ frame: 6, ptype: 0, callId: 2, fragLength: 168, authLength: 0, ctxId: 1, opnum: 3 });
    // SVCCTL on port 49679: NTLMSSP (10) at PKT_PRIVACY (6).
    expect(pdus[4]).toEqual({ frame: 11, ptype: 11, callId: 2, fragLength: 164, authLength: 40, authType: 10, authLevel: 6 });
    expect(pdus[6]).toMatchObject({ frame: 13, ptype: 16, authLength: 478, authType: 10, authLevel: 6 });
    expect(pdus[8]).toEqual({ frame: 16, ptype: 3, callId: 2, fragLength: 120, authLength: 0, ctxId: 0, opnum: 64 });
    // The multi-fragment sealed response: 6 fragments of call 5.
    const call5 = pdus.filter((p) => p.callId === 5 && p.ptype === 2);
    expect(call5.map((p) => p.fragLength)).toEqual([5840, 5840, 5840, 5840, 5840, 4688]);
    expect(call5.every((p) => p.authLength === 16 && p.authLevel === 6 && p.ctxId === 0 && p.opnum === 14)).toBe(true);
  });

  it('tsharkFields gives one row per displayed frame', () => {
    const rows = tsharkFields(row('suricata-verify/dcerpc-bind-no-frag-flag.pcap').path,
      ['frame.number', 'dcerpc.pkt_type', 'dcerpc.opnum'], 'dcerpc.pkt_type == 3');
    expect(rows).toHaveLength(2);
    for (const [frame, ptype, opnum] of rows) {
      expect(Number(frame)).toBeGreaterThan(0);
      expect(ptype).toBe('3');
      expect(opnum).toBe('42');
    }
  });

  it.each(['zeek/mapi.pcap', 'suricata-verify/zerologon.pcap', 'suricata-verify/dcerpc-ctxids.pcap'])(
    '%s: malformed frames as MANIFEST says',
    (file) => {
      const r = row(file);
      const { malformed, errors } = tsharkExpert(r.path);
      expect(malformed).toBe(r.malformedFrames);
      expect(errors.filter((e) => e.includes('Malformed'))).toHaveLength(r.malformedFrames);
    },
  );
});

describeWithPeers(['tshark'], 'captures shipped in pcaps/', () => {
  it('every one decodes with DCE/RPC in it and nothing malformed', () => {
    const files = listProjectCaptures();
    expect(files.map((f) => path.basename(f))).toContain('impacket-rpcdump-samba-epm.pcapng');
    for (const f of files) {
      expect(tsharkPdus(f).length, f).toBeGreaterThan(0);
      expect(tsharkExpert(f), f).toEqual({ malformed: 0, errors: [] });
    }
  });

  it('impacket-rpcdump-samba-epm.pcapng is the exchange pcaps/README.md describes', () => {
    const pdus = tsharkPdus(path.join(PROJECT_PCAPS, 'impacket-rpcdump-samba-epm.pcapng'));
    expect(pdus.map((p) => [p.ptype, p.callId, p.fragLength, p.authLength, p.ctxId ?? null, p.opnum ?? null])).toEqual([
      [11, 1, 72, 0, null, null],
      [12, 1, 60, 0, null, null],
      [0, 1, 64, 0, 0, 2],
      [2, 1, 4280, 0, 0, 2],
      [2, 1, 2452, 0, 0, 2],
      [0, 2, 64, 0, 0, 2],
      [2, 2, 64, 0, 0, 2],
    ]);
    const [entries, status] = tsharkFields(path.join(PROJECT_PCAPS, 'impacket-rpcdump-samba-epm.pcapng'),
      ['epm.num_ents', 'epm.rc'], 'dcerpc.pkt_type == 2 && dcerpc.cn_flags.last_frag == 1');
    expect(entries).toEqual(['53', '0x00000000']);
    expect(status).toEqual(['0', '0x16c9a0d6']);
  });
});

// ---------------------------------------------------------------------------------------------------
// A capture built here: several PDUs in one TCP segment, on 135 and on a port only the heuristic knows.

function u16(n: number) { const b = Buffer.alloc(2); b.writeUInt16BE(n); return b; }

function requestPdu(callId: number, ctxId: number, opnum: number, stubLength: number): Buffer {
  const b = Buffer.alloc(24 + stubLength);
  b.set([5, 0, 0, 0x03, 0x10, 0, 0, 0]); // v5.0 request, first+last frag, little-endian drep
  b.writeUInt16LE(b.length, 8); // frag_length
  b.writeUInt16LE(0, 10); // auth_length
  b.writeUInt32LE(callId, 12);
  b.writeUInt32LE(stubLength, 16); // alloc_hint
  b.writeUInt16LE(ctxId, 20);
  b.writeUInt16LE(opnum, 22);
  return b;
}

function tcpFrame(srcPort: number, dstPort: number, seq: number, payload: Buffer): Buffer {
  const eth = Buffer.concat([Buffer.alloc(12), u16(0x0800)]);
  const ip = Buffer.alloc(20);
  ip.set([0x45, 0]);
  ip.writeUInt16BE(20 + 20 + payload.length, 2);
  ip.writeUInt16BE(0x4000, 6); // DF
  ip.set([64, 6], 8); // TTL, TCP
  ip.set([127, 0, 0, 1], 12);
  ip.set([127, 0, 0, 1], 16);
  let sum = 0;
  for (let i = 0; i < 20; i += 2) sum += ip.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  ip.writeUInt16BE(~sum & 0xffff, 10);
  const tcp = Buffer.alloc(20);
  tcp.writeUInt16BE(srcPort, 0);
  tcp.writeUInt16BE(dstPort, 2);
  tcp.writeUInt32BE(seq, 4);
  tcp.writeUInt32BE(1, 8);
  tcp.set([0x50, 0x18], 12); // header length 20, PSH+ACK
  tcp.writeUInt16BE(65535, 14);
  return Buffer.concat([eth, ip, tcp, payload]);
}

function pcap(frames: Buffer[]): Buffer {
  const header = Buffer.alloc(24);
  header.writeUInt32LE(0xa1b2c3d4, 0);
  header.writeUInt16LE(2, 4);
  header.writeUInt16LE(4, 6);
  header.writeUInt32LE(65535, 16);
  header.writeUInt32LE(1, 20); // Ethernet
  const records = frames.map((f, i) => {
    const rec = Buffer.alloc(16);
    rec.writeUInt32LE(1_700_000_000 + i, 0);
    rec.writeUInt32LE(f.length, 8);
    rec.writeUInt32LE(f.length, 12);
    return Buffer.concat([rec, f]);
  });
  return Buffer.concat([header, ...records]);
}

describeWithPeers(['tshark'], 'tshark oracle on a built capture', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dcomlab-support-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('returns every PDU of a frame, in order, also on a non-standard port (dcerpc_tcp heuristic)', () => {
    const file = path.join(dir, 'multi.pcap');
    writeFileSync(file, pcap([
      tcpFrame(50001, 135, 1000, Buffer.concat([requestPdu(7, 1, 3, 8), requestPdu(8, 2, 4, 16)])),
      tcpFrame(50002, 50999, 5000, Buffer.concat([requestPdu(9, 0, 1, 4), requestPdu(10, 0, 2, 0), requestPdu(11, 3, 5, 12)])),
    ]));
    expect(tsharkPdus(file)).toEqual([
      { frame: 1, ptype: 0, callId: 7, fragLength: 32, authLength: 0, ctxId: 1, opnum: 3 },
      { frame: 1, ptype: 0, callId: 8, fragLength: 40, authLength: 0, ctxId: 2, opnum: 4 },
      { frame: 2, ptype: 0, callId: 9, fragLength: 28, authLength: 0, ctxId: 0, opnum: 1 },
      { frame: 2, ptype: 0, callId: 10, fragLength: 24, authLength: 0, ctxId: 0, opnum: 2 },
      { frame: 2, ptype: 0, callId: 11, fragLength: 36, authLength: 0, ctxId: 3, opnum: 5 },
    ]);
    expect(tsharkExpert(file)).toEqual({ malformed: 0, errors: [] });
  });

  it('reports a truncated PDU as malformed', () => {
    const file = path.join(dir, 'bad.pcap');
    const pdu = requestPdu(1, 0, 0, 8);
    pdu.writeUInt16LE(16, 8); // frag_length shorter than a request header
    writeFileSync(file, pcap([tcpFrame(50003, 135, 1, pdu)]));
    const { malformed, errors } = tsharkExpert(file);
    expect(malformed + errors.length).toBeGreaterThan(0);
  });

  it('fails loudly on a missing file and on a capture cut short', () => {
    expect(() => tsharkPdus(path.join(dir, 'missing.pcap'))).toThrow(/tshark .* failed \(exit 2\).*doesn't exist/);
    const whole = pcap([tcpFrame(50004, 135, 1, requestPdu(1, 0, 0, 64))]);
    const file = path.join(dir, 'cut.pcap');
    writeFileSync(file, whole.subarray(0, whole.length - 10));
    expect(() => tsharkPdus(file)).toThrow(/cut short/);
  });
});

describe('peer detection', () => {
  it('answers for every peer, with a reason when it is missing', () => {
    for (const name of ['tshark', 'impacket', 'samba', 'netns', 'iptables'] as const) {
      const s = peer(name);
      expect(typeof s.ok).toBe('boolean');
      if (!s.ok) expect(s.why).toMatch(/\S/);
    }
  });

  it('in CI, every peer is here', () => {
    if (!/^(true|1)$/i.test(process.env.CI ?? '')) return;
    for (const name of ['tshark', 'impacket', 'samba', 'netns', 'iptables'] as const) {
      expect(peer(name), name).toEqual({ ok: true });
    }
  });
});
