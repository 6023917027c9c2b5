#!/usr/bin/env node
// Synthesise a large capture from the real ones: every TCP conversation of the shared captures
// that carries connection-oriented DCE/RPC (SMB ports 139/445 excluded), repeated many times.
//
// Each repetition is a set of distinct TCP streams: ports, sequence numbers, flags and payloads
// are the originals, but every IP address is rewritten per repetition (IPv4 → 10.x.y.z,
// IPv6 → fd00::/16), so the 4-tuples never collide and no port moves onto another protocol's
// well-known port (which would change what tshark decides the stream is). Frames are Ethernet
// + IPv4/IPv6 + TCP (no options) with correct lengths and IPv4 header checksums; TCP checksums
// are zero (tshark does not verify them by default). Truncated originals stay truncated
// (orig_len and the IP length keep the missing bytes). Timestamps keep the original spacing,
// clipped to [1 µs, 1 s], and strictly increase across the whole file.
//
// Output is a classic pcap (LINKTYPE_ETHERNET, microseconds), written one repetition at a
// time, so memory is one repetition whatever the size. The file is cached: a `.json` beside it
// records the parameters and sources, and a call with the same ones reuses it.
//
//   node bench/synth.mjs OUT.pcap [--mb 110 | --reps N] [--force]
import { closeSync, existsSync, openSync, readFileSync, renameSync, statSync, writeFileSync, writeSync, mkdirSync } from 'node:fs';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { listCaptures, SHARED_PCAPS } from './lib.mjs';

export const SYNTH_VERSION = 1;
const SMB_PORTS = new Set([139, 445]);
const CO_PTYPES = new Set([0, 2, 3, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
const BASE_TIME_US = 1_600_000_000 * 1e6; // 2020-09-13
const FILE_GAP_US = 1_000_000;

/** Does a connection-oriented DCE/RPC header start here? (same test as tshark's TCP heuristic, roughly) */
function plausibleCoHeader(b) {
  if (b.length < 16 || b[0] !== 5 || b[1] > 1 || !CO_PTYPES.has(b[2])) return false;
  if ((b[4] & 0xee) !== 0 || b[5] > 3) return false;
  const le = (b[4] & 0x10) !== 0;
  const frag = le ? b[8] | (b[9] << 8) : (b[8] << 8) | b[9];
  return frag >= 16;
}

/**
 * Read the sources and keep the TCP packets of DCE/RPC conversations.
 * Returns packets in file order with relative timestamps, and the address tables.
 */
export async function collectConversations(files, dcomlab) {
  const { capture } = dcomlab;
  const packets = [];
  const perFile = [];
  const v4 = new Map(); // "fileIdx|addr" → index
  const v6 = new Map();
  let relUs = 0;
  for (let fi = 0; fi < files.length; fi++) {
    const segs = [];
    const streams = new Map(); // canonical 4-tuple → { dcerpc, smb, fin }
    await capture.readCapture(files[fi], (p) => {
      let seg;
      try {
        seg = capture.decodeTcp(p.linkType, p.data);
      } catch {
        seg = null;
      }
      if (!seg) return;
      const a = `${seg.src}|${seg.srcPort}`;
      const b = `${seg.dst}|${seg.dstPort}`;
      const key = a < b ? `${a}|${b}` : `${b}|${a}`;
      let st = streams.get(key);
      if (!st) {
        st = { dcerpc: false, smb: SMB_PORTS.has(seg.srcPort) || SMB_PORTS.has(seg.dstPort), closed: false };
        streams.set(key, st);
      }
      const payload = Buffer.from(seg.payload ?? Buffer.alloc(0));
      if (!st.smb && plausibleCoHeader(payload)) st.dcerpc = true;
      if ((seg.flags & 0x05) !== 0) st.closed = true; // FIN or RST
      const missing = Math.max(0, (p.origLen ?? p.data.length) - p.data.length);
      segs.push({ key, seg: { ...seg, payload }, missing, tsUs: p.tsSec * 1e6 + Math.floor(p.tsNsec / 1000) });
    });
    let kept = 0;
    let keptStreams = 0;
    let unclosed = 0;
    for (const st of streams.values()) {
      if (st.dcerpc) {
        keptStreams++;
        if (!st.closed) unclosed++;
      }
    }
    let prevUs = null;
    for (const s of segs) {
      if (!streams.get(s.key).dcerpc) continue;
      const seg = s.seg;
      const isV6 = seg.ipVersion === 6 || String(seg.src).includes(':');
      const table = isV6 ? v6 : v4;
      const addrIdx = (addr) => {
        const k = `${fi}|${addr}`;
        let i = table.get(k);
        if (i === undefined) {
          i = table.size;
          table.set(k, i);
        }
        return i;
      };
      const delta = prevUs === null ? (packets.length ? FILE_GAP_US : 0) : Math.min(1_000_000, Math.max(1, s.tsUs - prevUs));
      prevUs = s.tsUs;
      relUs += delta;
      packets.push({
        v6: isV6,
        src: addrIdx(seg.src),
        dst: addrIdx(seg.dst),
        srcPort: seg.srcPort,
        dstPort: seg.dstPort,
        seq: seg.seq >>> 0,
        ack: seg.ack >>> 0,
        flags: seg.flags,
        payload: seg.payload,
        missing: s.missing,
        relUs,
      });
      kept++;
    }
    perFile.push({ file: path.relative(SHARED_PCAPS, files[fi]), tcpStreams: streams.size, dcerpcStreams: keptStreams, unclosedStreams: unclosed, packets: kept });
  }
  return { packets, perFile, v4Count: v4.size, v6Count: v6.size, spanUs: relUs + FILE_GAP_US };
}

/** Lay out one repetition as pcap records, remembering where addresses and times go. */
function buildTemplate(packets) {
  let size = 0;
  for (const p of packets) size += 16 + 14 + (p.v6 ? 40 : 20) + 20 + p.payload.length;
  const t = Buffer.alloc(size);
  const patches = [];
  let off = 0;
  let ipId = 1;
  for (const p of packets) {
    const ipLen = p.v6 ? 40 : 20;
    const capLen = 14 + ipLen + 20 + p.payload.length;
    const rec = off;
    // record header: ts filled per repetition
    t.writeUInt32LE(capLen, rec + 8);
    t.writeUInt32LE(capLen + p.missing, rec + 12);
    const eth = rec + 16;
    // Ethernet: locally administered MACs
    t.set([0x02, 0, 0, 0, 0, p.dst & 0xff], eth);
    t.set([0x02, 0, 0, 0, 0, p.src & 0xff], eth + 6);
    t.writeUInt16BE(p.v6 ? 0x86dd : 0x0800, eth + 12);
    const ip = eth + 14;
    const tcpAndData = 20 + p.payload.length + p.missing;
    if (p.v6) {
      t.writeUInt32BE(0x60000000, ip);
      t.writeUInt16BE(tcpAndData, ip + 4);
      t[ip + 6] = 6;
      t[ip + 7] = 64;
    } else {
      t[ip] = 0x45;
      t.writeUInt16BE(20 + tcpAndData, ip + 2);
      t.writeUInt16BE(ipId++ & 0xffff, ip + 4);
      t.writeUInt16BE(0x4000, ip + 6); // DF
      t[ip + 8] = 128;
      t[ip + 9] = 6;
    }
    const tcp = ip + ipLen;
    t.writeUInt16BE(p.srcPort, tcp);
    t.writeUInt16BE(p.dstPort, tcp + 2);
    t.writeUInt32BE(p.seq, tcp + 4);
    t.writeUInt32BE(p.ack, tcp + 8);
    t[tcp + 12] = (5 << 4) | ((p.flags >> 8) & 1);
    t[tcp + 13] = p.flags & 0xff;
    t.writeUInt16BE(0xffff, tcp + 14);
    p.payload.copy(t, tcp + 20);
    patches.push({ rec, ip, v6: p.v6, src: p.src, dst: p.dst, relUs: p.relUs });
    off += 16 + capLen;
  }
  return { template: t, patches };
}

function ipv4Checksum(b, off) {
  let sum = 0;
  for (let i = 0; i < 20; i += 2) if (i !== 10) sum += (b[off + i] << 8) | b[off + i + 1];
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function repAddresses(rep, v4Count, v6Count) {
  const a4 = [];
  for (let i = 0; i < v4Count; i++) {
    const v = rep * v4Count + i + 1;
    if (v >= 1 << 24) throw new Error('too many repetitions for the 10.0.0.0/8 address plan');
    a4.push(Buffer.from([10, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff]));
  }
  const a6 = [];
  for (let i = 0; i < v6Count; i++) {
    const b = Buffer.alloc(16);
    b[0] = 0xfd;
    b.writeUInt32BE(rep >>> 0, 8);
    b.writeUInt32BE(i + 1, 12);
    a6.push(b);
  }
  return { a4, a6 };
}

function sourceFingerprint(files) {
  return files.map((f) => {
    const st = statSync(f);
    return { file: path.relative(SHARED_PCAPS, f), size: st.size, mtimeMs: Math.round(st.mtimeMs) };
  });
}

/**
 * Write (or reuse) the synthetic capture.
 * @param {{ out: string, mb?: number, reps?: number, force?: boolean, files?: string[], log?: (s: string) => void }} o
 * @returns the metadata: repetitions, packets, bytes, streams per repetition, sources.
 */
export async function synthesise(o) {
  const log = o.log ?? (() => {});
  const files = o.files ?? listCaptures();
  const param = o.reps ? { reps: o.reps } : { mb: o.mb ?? 110 };
  // The packets come through the library's capture reader and TCP decoder: a rebuilt library
  // may read them differently, so its hash is part of the cache key.
  const libPath = new URL('../dist/index.js', import.meta.url);
  const libHash = createHash('sha1').update(readFileSync(libPath)).digest('hex');
  const sources = sourceFingerprint(files);
  const metaPath = `${o.out}.json`;
  if (!o.force && existsSync(o.out) && existsSync(metaPath)) {
    try {
      const meta = JSON.parse(readFileSync(metaPath, 'utf8'));
      if (
        meta.version === SYNTH_VERSION &&
        JSON.stringify(meta.param) === JSON.stringify(param) &&
        meta.libHash === libHash &&
        JSON.stringify(meta.sources) === JSON.stringify(sources) &&
        statSync(o.out).size === meta.fileBytes
      ) {
        log(`synth: reusing ${o.out} (${(meta.fileBytes / 1e6).toFixed(1)} MB, ${meta.reps} repetitions)`);
        return { ...meta, reused: true };
      }
    } catch {}
  }
  const dcomlab = await import('../dist/index.js');
  const t0 = Date.now();
  const conv = await collectConversations(files, dcomlab);
  if (conv.packets.length === 0) throw new Error('no DCE/RPC TCP conversations found in the sources');
  const { template, patches } = buildTemplate(conv.packets);
  const bytesPerRep = template.length;
  const reps = o.reps ?? Math.max(1, Math.ceil(((o.mb ?? 110) * 1e6 - 24) / bytesPerRep));
  mkdirSync(path.dirname(path.resolve(o.out)), { recursive: true });
  const tmp = `${o.out}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    const gh = Buffer.alloc(24);
    gh.writeUInt32LE(0xa1b2c3d4, 0);
    gh.writeUInt16LE(2, 4);
    gh.writeUInt16LE(4, 6);
    gh.writeUInt32LE(262144, 16);
    gh.writeUInt32LE(1, 20); // LINKTYPE_ETHERNET
    writeSync(fd, gh);
    const buf = Buffer.alloc(bytesPerRep);
    for (let rep = 0; rep < reps; rep++) {
      template.copy(buf);
      const { a4, a6 } = repAddresses(rep, conv.v4Count, conv.v6Count);
      const repBase = BASE_TIME_US + rep * conv.spanUs;
      for (const p of patches) {
        const ts = repBase + p.relUs;
        const sec = Math.floor(ts / 1e6);
        buf.writeUInt32LE(sec >>> 0, p.rec);
        buf.writeUInt32LE(ts - sec * 1e6, p.rec + 4);
        if (p.v6) {
          a6[p.src].copy(buf, p.ip + 8);
          a6[p.dst].copy(buf, p.ip + 24);
        } else {
          a4[p.src].copy(buf, p.ip + 12);
          a4[p.dst].copy(buf, p.ip + 16);
          buf.writeUInt16BE(ipv4Checksum(buf, p.ip), p.ip + 10);
        }
      }
      let off = 0;
      while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    }
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, o.out);
  const meta = {
    version: SYNTH_VERSION,
    param,
    libHash,
    sources,
    reps,
    packetsPerRep: patches.length,
    bytesPerRep,
    streamsPerRep: conv.perFile.reduce((n, f) => n + f.dcerpcStreams, 0),
    unclosedStreamsPerRep: conv.perFile.reduce((n, f) => n + f.unclosedStreams, 0),
    perFile: conv.perFile,
    fileBytes: statSync(o.out).size,
    seconds: (Date.now() - t0) / 1000,
  };
  writeFileSync(metaPath, JSON.stringify(meta, null, 2) + '\n');
  log(`synth: wrote ${o.out}: ${(meta.fileBytes / 1e6).toFixed(1)} MB, ${reps} × ${patches.length} packets (${meta.streamsPerRep} streams per repetition) in ${meta.seconds.toFixed(1)} s`);
  return { ...meta, reused: false };
}

async function cli(argv) {
  const args = argv.slice(2);
  let out = null;
  let mb;
  let reps;
  let force = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--mb') mb = Number(args[++i]);
    else if (a === '--reps') reps = Number(args[++i]);
    else if (a === '--force') force = true;
    else if (a === '-h' || a === '--help') {
      process.stdout.write('usage: node bench/synth.mjs OUT.pcap [--mb 110 | --reps N] [--force]\n');
      return 0;
    } else if (!out) out = a;
    else throw new Error(`unexpected argument ${a}`);
  }
  if (!out) throw new Error('usage: node bench/synth.mjs OUT.pcap [--mb 110 | --reps N] [--force]');
  if (mb !== undefined && !(mb > 0)) throw new Error('--mb needs a positive number');
  if (reps !== undefined && !(Number.isInteger(reps) && reps > 0)) throw new Error('--reps needs a positive integer');
  const meta = await synthesise({ out, mb, reps, force, log: (s) => process.stderr.write(s + '\n') });
  const { perFile, sources, ...rest } = meta;
  process.stdout.write(JSON.stringify({ out, ...rest, perFile }, null, 2) + '\n');
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  cli(process.argv).then(
    (c) => (process.exitCode = c),
    (e) => {
      process.stderr.write(`synth: ${e?.message ?? e}\n`);
      process.exitCode = 1;
    },
  );
}
