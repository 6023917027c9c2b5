#!/usr/bin/env node
// Micro-benchmarks of the PDU codec over real PDUs: header decode/encode and full PDU
// decode/encode per second. Run in its own process by run.mjs (so nothing else has warmed or
// polluted the JIT's type feedback); prints one JSON object on stdout.
//
//   node bench/micro.mjs [--seconds 2] [capture ...]
//
// The PDUs come from the shared captures through the library's dissect path (dissectCapture
// hands every PDU's bytes over). Every loop folds the decoded fields into a checksum that is
// printed, so the work cannot be optimised away; encode loops write into a buffer that is
// compared with the original bytes afterwards.
import { listCaptures } from './lib.mjs';

const dcomlab = await import('../dist/index.js');
const { pdu } = dcomlab;

function parseArgs(argv) {
  const o = { seconds: 2, warmup: 0.3, files: [] };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--seconds') o.seconds = Number(argv[++i]);
    else if (argv[i] === '--warmup') o.warmup = Number(argv[++i]);
    else o.files.push(argv[i]);
  }
  if (o.files.length === 0) o.files = listCaptures();
  return o;
}

const CO_PTYPES = new Set([0, 2, 3, 11, 12, 13, 14, 15, 16, 17, 18, 19]);

/** Every DCE/RPC PDU of the captures (copies), in capture order. */
async function collectPdus(files) {
  const out = [];
  if (typeof dcomlab.dissectCapture === 'function') {
    for (const f of files) {
      await dcomlab.dissectCapture(f, (_rec, _pdu, bytes) => out.push(Buffer.from(bytes)));
    }
    return { pdus: out, via: 'dissectCapture' };
  }
  // Fallback: PDUs that start a TCP segment and fit in it.
  const { capture } = dcomlab;
  for (const f of files) {
    await capture.readCapture(f, (p) => {
      const seg = capture.decodeTcp(p.linkType, p.data);
      if (!seg || [139, 445].includes(seg.srcPort) || [139, 445].includes(seg.dstPort)) return;
      const b = seg.payload;
      if (b.length < 16 || b[0] !== 5 || !CO_PTYPES.has(b[2])) return;
      const frag = b[4] & 0x10 ? b[8] | (b[9] << 8) : (b[8] << 8) | b[9];
      if (frag >= 16 && frag <= b.length) out.push(Buffer.from(b.subarray(0, frag)));
    });
  }
  return { pdus: out, via: 'readCapture+decodeTcp' };
}

/** Run `pass` (one pass over the set, returns a checksum part) for warmup, then ~seconds. */
function measure(pass, opsPerPass, seconds, warmup) {
  let sum = 0;
  const w0 = process.hrtime.bigint();
  const wEnd = BigInt(Math.round(warmup * 1e9));
  while (process.hrtime.bigint() - w0 < wEnd) sum = (sum + pass()) | 0;
  // Batch passes so the clock is read about every millisecond at most.
  let batch = 1;
  {
    const t = process.hrtime.bigint();
    sum = (sum + pass()) | 0;
    const ns = Number(process.hrtime.bigint() - t);
    batch = Math.max(1, Math.floor(1e6 / Math.max(ns, 1)));
  }
  const limit = BigInt(Math.round(seconds * 1e9));
  let passes = 0;
  const t0 = process.hrtime.bigint();
  let el;
  do {
    for (let i = 0; i < batch; i++) sum = (sum + pass()) | 0;
    passes += batch;
    el = process.hrtime.bigint() - t0;
  } while (el < limit);
  const secs = Number(el) / 1e9;
  return { ops: passes * opsPerPass, seconds: secs, perSecond: (passes * opsPerPass) / secs, checksum: sum >>> 0 };
}

const o = parseArgs(process.argv.slice(2));
const { pdus: all, via } = await collectPdus(o.files);
if (all.length === 0) {
  process.stdout.write(JSON.stringify({ error: 'no PDUs found in the captures' }) + '\n');
  process.exit(1);
}

// ---- header decode / encode over a packed buffer of real headers -----------------------
const n = all.length;
const headers = Buffer.alloc(n * 16);
for (let i = 0; i < n; i++) all[i].copy(headers, i * 16, 0, 16);
const decodeHeader = pdu.decodeHeader;
const encodeHeader = pdu.encodeHeader;

function decodeHeaderPass() {
  let s = 0;
  for (let i = 0; i < n; i++) {
    const h = decodeHeader(headers, i << 4);
    s = (s + h.rpcVers + h.rpcVersMinor + h.ptype + h.flags + (h.drep >>> 8) + h.fragLength + h.authLength + h.callId) | 0;
  }
  return s;
}
const decodedHeaders = [];
for (let i = 0; i < n; i++) decodedHeaders.push(decodeHeader(headers, i << 4));
const encoded = Buffer.alloc(n * 16);
function encodeHeaderPass() {
  for (let i = 0; i < n; i++) encodeHeader(decodedHeaders[i], encoded, i << 4);
  return encoded[(n - 1) << 4 | 8];
}

// ---- full PDU decode / encode ----------------------------------------------------------
const decodePdu = pdu.decodePdu;
const encodePdu = pdu.encodePdu;
const decodable = [];
const decoded = [];
let decodeErrors = 0;
for (const b of all) {
  try {
    decoded.push(decodePdu(b, 0));
    decodable.push(b);
  } catch {
    decodeErrors++;
  }
}
let roundTripExact = 0;
const encodable = [];
for (let i = 0; i < decoded.length; i++) {
  try {
    const e = encodePdu(decoded[i]);
    encodable.push(decoded[i]);
    if (e.equals(decodable[i])) roundTripExact++;
  } catch {}
}
const nd = decodable.length;
const ne = encodable.length;
let pduBytes = 0;
for (const b of decodable) pduBytes += b.length;

function decodePduPass() {
  let s = 0;
  for (let i = 0; i < nd; i++) {
    const p = decodePdu(decodable[i], 0);
    s = (s + p.ptype + p.callId + p.flags) | 0;
  }
  return s;
}
function encodePduPass() {
  let s = 0;
  for (let i = 0; i < ne; i++) {
    const b = encodePdu(encodable[i]);
    s = (s + b.length + b[2]) | 0;
  }
  return s;
}

const res = {
  via,
  captures: o.files.length,
  pdus: n,
  headerBytes: headers.length,
  seconds: o.seconds,
  decodeHeader: measure(decodeHeaderPass, n, o.seconds, o.warmup),
  encodeHeader: measure(encodeHeaderPass, n, o.seconds, o.warmup),
  decodePdu: { ...measure(decodePduPass, nd, o.seconds, o.warmup), set: nd, decodeErrors, meanBytes: pduBytes / Math.max(nd, 1) },
  encodePdu: { ...measure(encodePduPass, ne, o.seconds, o.warmup), set: ne, roundTripExact, of: decoded.length },
};
res.encodeHeader.roundTripExact = encoded.equals(headers);
res.decodePdu.mbPerSecond = (res.decodePdu.perSecond * res.decodePdu.meanBytes) / 1e6;
process.stdout.write(JSON.stringify(res) + '\n');
