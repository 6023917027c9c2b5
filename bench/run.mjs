#!/usr/bin/env node
// dcomlab benchmarks (Foundation, issue 2): PDU codec micro-benchmarks and `dissect`
// throughput/memory against tshark, each figure beside its peer's from the same run.
//
//   npm run bench                 # build, run, print tables, write bench/out/results.json
//   npm run bench -- --write      # ... and rewrite the Foundation section of BENCHMARKS.md
//   node bench/run.mjs --quick    # skip the synthetic captures (a quick look)
//
// Options: --write, --quick, --mb N (large capture size, default 110), --no-2x / --no-4x (skip
// the twice / four times as large capture: they show that memory does not grow with the file),
// --no-tshark-2x / --no-tshark-4x (don't run tshark on them), --seconds S
// (per micro-benchmark, default 2), --runs N (timed runs per small capture, default 3),
// --profile / --no-profile (CPU profile + GC trace of dissect on the large capture; by
// default only when a dissect target is missed), --from RESULTS.json (no run: print, and with
// --write record, the results of an earlier run).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  BENCH_DIR, CLI, OUT_DIR, ROOT, SHARED_PCAPS, TSHARK, TSHARK_COUNT_ARGS, TSHARK_COUNT_DISABLED, TSHARK_FIELDS,
  dcomlabCount, dcomlabTimed, fileSize, fmtInt, fmtMB, fmtMs, fmtNum, listCaptures, machineInfo,
  mdTable, passMiss, printHeaderHelp, runChild, textTable, tsharkCount, tsharkTimed,
} from './lib.mjs';
import { synthesise } from './synth.mjs';
import { gcTrace, profileDissect, profileTable } from './profile.mjs';

const TARGETS = {
  headerDecodePerSec: 20e6,
  dissectVsTshark: 10,
  peakRssBytes: 200e6,
};

function parseArgs(argv) {
  const o = { write: false, quick: false, mb: 110, twoX: true, tshark2x: true, fourX: true, tshark4x: true, seconds: 2, runs: 3, profile: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--write') o.write = true;
    else if (a === '--quick') o.quick = true;
    else if (a === '--mb') o.mb = Number(argv[++i]);
    else if (a === '--no-2x') o.twoX = false;
    else if (a === '--tshark-2x') o.tshark2x = true;
    else if (a === '--no-tshark-2x') o.tshark2x = false;
    else if (a === '--no-4x') o.fourX = false;
    else if (a === '--tshark-4x') o.tshark4x = true;
    else if (a === '--no-tshark-4x') o.tshark4x = false;
    else if (a === '--profile') o.profile = true;
    else if (a === '--from') o.from = argv[++i];
    else if (a === '--no-profile') o.profile = false;
    else if (a === '--seconds') o.seconds = Number(argv[++i]);
    else if (a === '--runs') o.runs = Math.max(1, Number(argv[++i]));
    else if (a === '-h' || a === '--help') printHeaderHelp(import.meta.url);
    else throw new Error(`unknown option ${a}`);
  }
  if (!(o.mb > 0)) throw new Error('--mb needs a positive number');
  return o;
}

const log = (s) => process.stderr.write(`[bench] ${s}\n`);
const mbps = (bytes, ms) => (ms > 0 ? bytes / 1e6 / (ms / 1000) : null);
const rssMB = (kb) => (kb == null ? null : (kb * 1024) / 1e6);
const fmtRssMB = (kb) => (kb == null ? '—' : `${rssMB(kb).toFixed(1)}`);

async function best(n, fn) {
  let bestR = null;
  let maxRss = null;
  let minCpu = null;
  const all = [];
  for (let i = 0; i < n; i++) {
    const r = await fn();
    all.push(Math.round(r.ms));
    if (r.rssKb != null) maxRss = Math.max(maxRss ?? 0, r.rssKb);
    if (r.cpuS != null) minCpu = Math.min(minCpu ?? Infinity, r.cpuS);
    if (r.code !== 0 || r.timedOut) return { ...r, runsMs: all, maxRssKb: maxRss, minCpuS: minCpu };
    if (!bestR || r.ms < bestR.ms) bestR = r;
  }
  return { ...bestR, runsMs: all, maxRssKb: maxRss, minCpuS: minCpu };
}

// ---- 1. micro-benchmarks ---------------------------------------------------------------

function runMicro(o) {
  log(`micro-benchmarks (${o.seconds} s each, in a separate process)`);
  const r = spawnSync(process.execPath, [path.join(BENCH_DIR, 'micro.mjs'), '--seconds', String(o.seconds)], {
    encoding: 'utf8',
    maxBuffer: 1 << 24,
  });
  if (r.status !== 0) throw new Error(`micro.mjs failed: ${r.stderr || r.stdout}`);
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

// ---- 2. dissect vs tshark per capture ---------------------------------------------------

async function benchFile(file, { runs, dcomlabRuns = runs, tsharkRuns = runs, tshark = true, tsharkTimeoutMs = 0 }) {
  const bytes = fileSize(file);
  const d = await best(dcomlabRuns, () => dcomlabTimed(file));
  const dc = await dcomlabCount(file);
  const row = {
    file: path.relative(SHARED_PCAPS, file).startsWith('..') ? path.relative(ROOT, file) : path.relative(SHARED_PCAPS, file),
    bytes,
    dcomlab: {
      ms: d.ms, runsMs: d.runsMs, cpuS: d.minCpuS, code: d.code, rssKb: d.maxRssKb, stderrLines: d.stderrLines, error: d.stderrHead,
      pdus: dc.pdus, byType: dc.byType, countMs: dc.ms,
      mbPerSec: d.code === 0 ? mbps(bytes, d.ms) : null,
      pdusPerSec: d.code === 0 && d.ms > 0 ? dc.pdus / (d.ms / 1000) : null,
    },
  };
  if (tshark) {
    const t = await best(tsharkRuns, () => tsharkTimed(file, { timeoutMs: tsharkTimeoutMs }));
    const tc = t.timedOut ? null : await tsharkCount(file, { timeoutMs: tsharkTimeoutMs });
    row.tshark = {
      ms: t.ms, runsMs: t.runsMs, cpuS: t.minCpuS, code: t.code, timedOut: t.timedOut, rssKb: t.maxRssKb, error: t.stderrHead,
      pdus: tc?.pdus ?? null, byType: tc?.byType ?? null, countMs: tc?.ms ?? null,
      mbPerSec: t.code === 0 ? mbps(bytes, t.ms) : null,
      pdusPerSec: tc && t.code === 0 ? tc.pdus / (t.ms / 1000) : null,
    };
    // Throughput ratio (same bytes): tshark time / dcomlab time.
    row.ratio = row.dcomlab.mbPerSec && row.tshark.mbPerSec ? row.tshark.ms / row.dcomlab.ms : null;
    // The same on CPU time (user + sys, all threads): steadier than wall time on a busy machine.
    row.cpuRatio = row.dcomlab.cpuS && row.tshark.cpuS && !t.timedOut ? row.tshark.cpuS / row.dcomlab.cpuS : null;
    // If tshark hit its time limit, its true time is longer: the ratio is a lower bound.
    if (t.timedOut) row.ratioLowerBound = tsharkTimeoutMs / row.dcomlab.ms;
  }
  return row;
}

async function startupFloor() {
  const d = await best(3, () => runChild(process.execPath, [CLI, '--version']));
  const t = await best(3, () => runChild(TSHARK, ['--version']));
  return { dcomlabMs: d.ms, tsharkMs: t.ms };
}

// ---- 3. synthetic captures ---------------------------------------------------------------

function diffByType(a, b) {
  const keys = new Set([...Object.keys(a ?? {}), ...Object.keys(b ?? {})]);
  const out = {};
  for (const k of keys) {
    const d = (a?.[k] ?? 0) - (b?.[k] ?? 0);
    if (d !== 0) out[k] = d;
  }
  return out;
}

async function benchSynth(o) {
  mkdirSync(OUT_DIR, { recursive: true });
  const one = await synthesise({ out: path.join(OUT_DIR, 'synth-1rep.pcap'), reps: 1, log });
  const oneFile = path.join(OUT_DIR, 'synth-1rep.pcap');
  log('counting PDUs in one repetition (dcomlab, tshark)');
  const oneD = await dcomlabCount(oneFile);
  const oneT = await tsharkCount(oneFile);
  const perRep = {
    packets: one.packetsPerRep, bytes: one.bytesPerRep, streams: one.streamsPerRep, unclosedStreams: one.unclosedStreamsPerRep,
    dcomlabPdus: oneD.pdus, tsharkPdus: oneT.pdus, dcomlabByType: oneD.byType, tsharkByType: oneT.byType,
    diffByType: diffByType(oneD.byType, oneT.byType), perFile: one.perFile,
  };
  const sizes = [{ mb: o.mb, tshark: true, dcomlabRuns: 3, tsharkRuns: 2 }];
  if (o.twoX) sizes.push({ mb: o.mb * 2, tshark: o.tshark2x, dcomlabRuns: 1, tsharkRuns: 1 });
  if (o.fourX) sizes.push({ mb: o.mb * 4, tshark: o.tshark4x, dcomlabRuns: 1, tsharkRuns: 1 });
  const files = [];
  for (const s of sizes) {
    const file = path.join(OUT_DIR, `synth-${s.mb}mb.pcap`);
    const meta = await synthesise({ out: file, mb: s.mb, log });
    log(`dissect ${path.basename(file)} (${fmtMB(meta.fileBytes)} MB): dcomlab ×${s.dcomlabRuns}${s.tshark ? `, tshark ×${s.tsharkRuns}` : ''}, plus a counting run each`);
    const row = await benchFile(file, { runs: 1, dcomlabRuns: s.dcomlabRuns, tsharkRuns: s.tsharkRuns, tshark: s.tshark, tsharkTimeoutMs: 480_000 });
    row.reps = meta.reps;
    row.path = file;
    row.expectedDcomlab = perRep.dcomlabPdus * meta.reps;
    row.expectedTshark = perRep.tsharkPdus * meta.reps;
    row.countsMatch = row.dcomlab.pdus === row.expectedDcomlab && (!row.tshark || (row.tshark.pdus === row.expectedTshark && row.tshark.pdus === row.dcomlab.pdus));
    if (row.tshark) row.diffByType = diffByType(row.dcomlab.byType, row.tshark.byType);
    files.push(row);
  }
  return { perRep, files };
}

// ---- report --------------------------------------------------------------------------------

function microRows(m) {
  const t = TARGETS.headerDecodePerSec;
  return [
    ['operation', 'per second', 'target', 'result', 'checksum', 'notes'],
    ['decodeHeader', fmtInt(m.decodeHeader.perSecond), `>= ${fmtInt(t)}`, passMiss(m.decodeHeader.perSecond >= t), m.decodeHeader.checksum.toString(16), `${m.pdus} real headers`],
    ['encodeHeader', fmtInt(m.encodeHeader.perSecond), '—', 'info', m.encodeHeader.checksum.toString(16), `round trip exact: ${m.encodeHeader.roundTripExact}`],
    ['decodePdu', fmtInt(m.decodePdu.perSecond), '—', 'info', m.decodePdu.checksum.toString(16), `${m.decodePdu.set} PDUs, mean ${Math.round(m.decodePdu.meanBytes)} B, ${fmtNum(m.decodePdu.mbPerSecond)} MB/s; ${m.decodePdu.decodeErrors} undecodable`],
    ['encodePdu', fmtInt(m.encodePdu.perSecond), '—', 'info', m.encodePdu.checksum.toString(16), `byte-exact ${m.encodePdu.roundTripExact}/${m.encodePdu.of}`],
  ];
}

function dissectRows(rows, { withReps = false } = {}) {
  const head = ['capture', 'MB', 'PDUs dcomlab', 'PDUs tshark', 'dcomlab time', 'tshark time', 'dcomlab MB/s', 'tshark MB/s', 'ratio', 'dcomlab PDUs/s', 'RSS dcomlab MB', 'RSS tshark MB'];
  if (withReps) head.splice(2, 0, 'reps');
  if (withReps) head.push('CPU s dcomlab', 'CPU s tshark', 'CPU ratio');
  const out = [head];
  for (const r of rows) {
    const t = r.tshark;
    const ratio = r.ratio != null ? `${r.ratio.toFixed(1)}x` : r.ratioLowerBound != null ? `>${r.ratioLowerBound.toFixed(1)}x` : '—';
    const line = [
      r.file + (r.dcomlab.code !== 0 ? ' (dcomlab exit ' + r.dcomlab.code + ')' : ''),
      fmtMB(r.bytes),
      fmtInt(r.dcomlab.pdus),
      t ? fmtInt(t.pdus) : 'not run',
      fmtMs(r.dcomlab.ms),
      t ? (t.timedOut ? `>${fmtMs(t.ms)}` : fmtMs(t.ms)) : '—',
      fmtNum(r.dcomlab.mbPerSec, 2),
      t ? fmtNum(t.mbPerSec, 2) : '—',
      ratio,
      fmtInt(r.dcomlab.pdusPerSec),
      fmtRssMB(r.dcomlab.rssKb),
      t ? fmtRssMB(t.rssKb) : '—',
    ];
    if (withReps) line.splice(2, 0, fmtInt(r.reps));
    if (withReps) line.push(fmtNum(r.dcomlab.cpuS, 2), t ? fmtNum(t.cpuS, 2) : '—', r.cpuRatio != null ? `${r.cpuRatio.toFixed(1)}x` : '—');
    out.push(line);
  }
  return out;
}

function totalsRow(rows) {
  const bytes = rows.reduce((n, r) => n + r.bytes, 0);
  const dMs = rows.reduce((n, r) => n + r.dcomlab.ms, 0);
  const tMs = rows.reduce((n, r) => n + (r.tshark?.ms ?? 0), 0);
  const dP = rows.reduce((n, r) => n + r.dcomlab.pdus, 0);
  const tP = rows.reduce((n, r) => n + (r.tshark?.pdus ?? 0), 0);
  return {
    file: `all ${rows.length} shared captures (sum)`, bytes,
    dcomlab: { ms: dMs, pdus: dP, mbPerSec: mbps(bytes, dMs), pdusPerSec: dP / (dMs / 1000), rssKb: Math.max(...rows.map((r) => r.dcomlab.rssKb ?? 0)), code: 0 },
    tshark: { ms: tMs, pdus: tP, mbPerSec: mbps(bytes, tMs), rssKb: Math.max(...rows.map((r) => r.tshark?.rssKb ?? 0)) },
    ratio: tMs / dMs,
  };
}

/** Which shared captures the two tools count differently (the synthetic files inherit it). */
function countDiffNote(rows) {
  const d = rows.filter((r) => r.tshark && r.tshark.pdus != null && r.tshark.pdus !== r.dcomlab.pdus);
  if (!d.length) return 'PDU counts: dcomlab and tshark (TCP) agree on every shared capture.';
  return `PDU counts differ (dcomlab − tshark) on: ${d.map((r) => `${r.file} ${r.dcomlab.pdus - r.tshark.pdus > 0 ? '+' : ''}${r.dcomlab.pdus - r.tshark.pdus} (by ptype ${JSON.stringify(diffByType(r.dcomlab.byType, r.tshark.byType))})`).join('; ')}.`;
}

function gcRows(gc) {
  return [
    ['capture', 'full GCs', 'live first MB', 'live middle MB', 'live last MB', 'max committed MB'],
    ...gc.map((g) => [g.file, fmtInt(g.fullGcs), fmtNum(g.liveAfterFullGcMB.first), fmtNum(g.liveAfterFullGcMB.middle), fmtNum(g.liveAfterFullGcMB.last), fmtNum(g.maxCommittedMB)]),
  ];
}

function computeTargets(res) {
  const t = [];
  if (res.micro) {
    const v = res.micro.decodeHeader.perSecond;
    t.push({ target: 'PDU header decode >= 20 M/s', value: `${fmtNum(v / 1e6, 1)} M/s`, ok: v >= TARGETS.headerDecodePerSec, margin: `${fmtNum((v / TARGETS.headerDecodePerSec) * 100, 0)}% of target` });
  }
  const big = res.synth?.files?.[0];
  if (big?.tshark) {
    const ratio = big.ratio ?? big.ratioLowerBound;
    t.push({
      target: `dissect >= ${TARGETS.dissectVsTshark}x tshark throughput on the large capture (${fmtMB(big.bytes)} MB)`,
      value: ratio == null ? 'n/a' : `${big.ratio == null ? '>' : ''}${ratio.toFixed(1)}x (${fmtNum(big.dcomlab.mbPerSec, 1)} vs ${fmtNum(big.tshark.mbPerSec, 1)} MB/s)`,
      ok: ratio == null ? false : ratio >= TARGETS.dissectVsTshark,
      margin: ratio == null ? '' : `${fmtNum((ratio / TARGETS.dissectVsTshark) * 100, 0)}% of target`,
    });
  }
  const all = [...(res.captures ?? []), ...(res.synth?.files ?? [])].filter((r) => r.dcomlab.rssKb != null);
  if (all.length) {
    const worst = all.reduce((a, b) => (b.dcomlab.rssKb > a.dcomlab.rssKb ? b : a));
    const mb = rssMB(worst.dcomlab.rssKb);
    t.push({ target: 'dissect peak RSS <= 200 MB on every file', value: `max ${mb.toFixed(1)} MB (${worst.file}, ${fmtMB(worst.bytes)} MB)`, ok: mb * 1e6 <= TARGETS.peakRssBytes, margin: `${fmtNum((mb * 1e6 / TARGETS.peakRssBytes) * 100, 0)}% of limit` });
  }
  if (res.synth && res.captures?.length) {
    const pr = res.synth.perRep;
    const dSum = res.captures.reduce((n, r) => n + r.dcomlab.pdus, 0);
    const tSum = res.captures.reduce((n, r) => n + (r.tshark?.pdus ?? 0), 0);
    const ok = pr.dcomlabPdus === dSum && pr.tsharkPdus === tSum;
    t.push({
      target: 'synthesiser keeps every PDU: one repetition = all shared captures (TCP)',
      value: `dcomlab ${pr.dcomlabPdus} vs ${dSum}, tshark ${pr.tsharkPdus} vs ${tSum}`,
      ok,
      margin: ok ? '' : `dcomlab ${fmtInt(pr.dcomlabPdus - dSum)}, tshark ${fmtInt(pr.tsharkPdus - tSum)}`,
    });
  }
  for (const f of res.synth?.files ?? []) {
    const scaled = f.dcomlab.pdus === f.expectedDcomlab && (!f.tshark || f.tshark.pdus === f.expectedTshark);
    t.push({
      target: `${f.file}: each tool's PDU count = its per-repetition count × ${f.reps}`,
      value: `dcomlab ${fmtInt(f.dcomlab.pdus)} (expected ${fmtInt(f.expectedDcomlab)})` + (f.tshark ? `, tshark ${f.tshark.pdus == null ? 'n/a' : fmtInt(f.tshark.pdus)} (expected ${fmtInt(f.expectedTshark)})` : ''),
      ok: scaled,
      margin: scaled ? '' : `dcomlab ${fmtInt(f.dcomlab.pdus - f.expectedDcomlab)}` + (f.tshark ? `, tshark ${f.tshark.pdus == null ? 'n/a' : fmtInt(f.tshark.pdus - f.expectedTshark)}` : ''),
    });
    if (f.tshark) {
      const same = f.tshark.pdus === f.dcomlab.pdus;
      t.push({
        target: `${f.file}: dcomlab and tshark find the same PDUs`,
        value: `dcomlab ${fmtInt(f.dcomlab.pdus)}, tshark ${f.tshark.pdus == null ? 'n/a' : fmtInt(f.tshark.pdus)}`,
        ok: same,
        margin: same ? '' : `dcomlab − tshark = ${f.tshark.pdus == null ? 'n/a' : fmtInt(f.dcomlab.pdus - f.tshark.pdus)}` + (f.diffByType && Object.keys(f.diffByType).length ? ` (by ptype ${Object.entries(f.diffByType).map(([k, v]) => `${k}: ${v > 0 ? '+' : ''}${v}`).join(', ')})` : ''),
      });
    }
  }
  return t;
}

function targetRows(targets) {
  return [['target', 'measured', 'result', ''], ...targets.map((t) => [t.target, t.value, passMiss(t.ok), t.margin ?? ''])];
}

function printReport(res) {
  const p = (s = '') => process.stdout.write(s + '\n');
  const m = res.machine;
  p(`dcomlab benchmarks — ${res.date}`);
  p(`machine: ${m.nproc} CPUs, ${m.cpu}, ${m.memGiB} GiB; ${m.os}; node ${m.node}; ${m.tshark}`);
  p(`load average (1/5/15 min) at start ${res.loadavgStart.map((x) => x.toFixed(2)).join(' ')}, at end ${res.loadavgEnd.map((x) => x.toFixed(2)).join(' ')} (other work on the machine skews the timings)`);
  if (res.startup) p(`process start floor: dcomlab --version ${fmtMs(res.startup.dcomlabMs)}, tshark --version ${fmtMs(res.startup.tsharkMs)}`);
  if (res.micro) {
    p('\n1. PDU codec (per second, ~' + res.micro.seconds + ' s each, ' + res.micro.pdus + ' real PDUs from ' + res.micro.captures + ' captures via ' + res.micro.via + ')');
    p(textTable(microRows(res.micro)));
  }
  if (res.captures?.length) {
    p(`\n2. dissect --format jsonl vs tshark (best of ${res.options.runs}, stdout to /dev/null; tshark PDUs from a separate run with ${TSHARK_COUNT_ARGS.join(' ')})`);
    p(textTable(dissectRows([...res.captures, totalsRow(res.captures)])));
    p(countDiffNote(res.captures));
  }
  if (res.synth) {
    const pr = res.synth.perRep;
    p(`\n3. synthetic captures: one repetition = ${fmtInt(pr.packets)} packets, ${fmtInt(pr.bytes)} bytes, ${pr.streams} TCP streams (${pr.unclosedStreams} never closed); PDUs per repetition: dcomlab ${pr.dcomlabPdus}, tshark ${pr.tsharkPdus}` + (Object.keys(pr.diffByType).length ? `; by ptype (dcomlab − tshark): ${JSON.stringify(pr.diffByType)}` : ''));
    p(textTable(dissectRows(res.synth.files, { withReps: true })));
    p(rssBySize(res.synth.files));
    for (const f of res.synth.files) {
      p(`  ${f.file}: dcomlab ${fmtInt(f.dcomlab.pdus)} PDUs (expected ${fmtInt(f.expectedDcomlab)}, diff ${fmtInt(f.dcomlab.pdus - f.expectedDcomlab)})` +
        (f.tshark ? `, tshark ${fmtInt(f.tshark.pdus)} (expected ${fmtInt(f.expectedTshark)}, diff ${f.tshark.pdus == null ? 'n/a' : fmtInt(f.tshark.pdus - f.expectedTshark)}), dcomlab − tshark ${f.tshark.pdus == null ? 'n/a' : fmtInt(f.dcomlab.pdus - f.tshark.pdus)}` : '') +
        (f.diffByType && Object.keys(f.diffByType).length ? ` by ptype ${JSON.stringify(f.diffByType)}` : '') +
        `; dcomlab runs ${f.dcomlab.runsMs.join('/')} ms, counting run ${fmtMs(f.dcomlab.countMs)}` + (f.tshark ? `; tshark runs ${f.tshark.runsMs.join('/')} ms, counting run ${fmtMs(f.tshark.countMs)}` : ''));
    }
  }
  if (res.profile) {
    p(`\nWhere dissect's time goes: ${res.profile.file}, node --cpu-prof, ${fmtMs(res.profile.totalMs)} profiled (top self time; JSON.stringify and other natives count in their caller)`);
    p(textTable(profileTable(res.profile)));
  }
  if (res.gc?.length) {
    p('\nV8 heap during dissect (--trace-gc): live heap after full GCs (first / middle / last), largest heap committed');
    p(textTable(gcRows(res.gc)));
  }
  p('\nTargets');
  p(textTable(targetRows(res.targets), ['l', 'l', 'l', 'l']));
  p(`\n(total bench time ${fmtNum(res.benchSeconds, 0)} s; results in ${path.relative(ROOT, path.join(OUT_DIR, 'results.json'))})`);
}

// ---- BENCHMARKS.md ----------------------------------------------------------------------------

const FOUNDATION = '## Foundation (issue 2): PDU codec and dissect';
const PLACEHOLDERS = [
  ['## RPC runtime', 'Not yet measured.'],
  ['## Authentication', 'Not yet measured.'],
  ['## DCOM', 'Not yet measured.'],
  ['## SP2 scenarios', 'Not yet measured.'],
];

function foundationMarkdown(res) {
  const m = res.machine;
  const L = [];
  L.push(FOUNDATION, '');
  L.push(`Written by \`npm run bench -- --write\` (bench/run.mjs) from the run of ${res.date}; do not edit by hand.`, '');
  L.push(`- Machine: ${m.nproc} CPUs (\`nproc\`), ${m.cpu}, ${m.memGiB} GiB RAM, ${m.os}`);
  L.push(`- Node ${m.node}; peer: ${m.tshark} (\`/usr/bin/tshark\`)`);
  L.push(`- Load average (1/5/15 min) at start ${res.loadavgStart.map((x) => x.toFixed(2)).join(' ')}, at end ${res.loadavgEnd.map((x) => x.toFixed(2)).join(' ')}; bench run took ${fmtNum(res.benchSeconds, 0)} s`);
  if (res.startup) L.push(`- Process start floor (best of 3): \`dcomlab --version\` ${fmtMs(res.startup.dcomlabMs)}, \`tshark --version\` ${fmtMs(res.startup.tsharkMs)}. On the small captures this floor is most of both times, so their ratios say little; the large capture is the measure.`);
  L.push('');
  L.push('### Targets', '');
  L.push(mdTable(targetRows(res.targets)), '');
  if (res.micro) {
    const mi = res.micro;
    L.push('### PDU codec', '');
    L.push(`${mi.pdus} real PDUs from the ${mi.captures} shared captures (collected through ${mi.via}); each loop ran ~${mi.seconds} s after a warm-up, in its own process, folding the decoded fields into the printed checksum. Header operations work on a packed buffer of the real 16-byte headers.`, '');
    L.push(mdTable(microRows(mi), ['l', 'r', 'l', 'l', 'l', 'l']), '');
  }
  if (res.synth) {
    const pr = res.synth.perRep;
    L.push('### dissect on the synthetic captures', '');
    L.push(`\`node bench/synth.mjs OUT.pcap --mb N\` repeats every TCP conversation of the shared captures that carries connection-oriented DCE/RPC (SMB ports 139/445 excluded), rewriting the IP addresses per repetition so each repetition is a new set of TCP streams (ports, seq/ack, flags and payloads unchanged). One repetition: ${fmtInt(pr.packets)} packets, ${fmtInt(pr.bytes)} bytes, ${pr.streams} TCP streams (${pr.unclosedStreams} never closed by FIN/RST); dcomlab finds ${pr.dcomlabPdus} PDUs in it, tshark ${pr.tsharkPdus}.`, '');
    L.push(`dcomlab: \`DCOMLAB_REPORT_RSS=1 node dist/cli/main.js dissect FILE --format jsonl > /dev/null\` (peak RSS as reported by the process). tshark: \`tshark -r FILE -Y dcerpc -T fields ${TSHARK_FIELDS.map((f) => `-e ${f}`).join(' ')} > /dev/null\` under GNU time for its peak RSS. Ratio = tshark time / dcomlab time (throughput ratio on the same bytes). CPU s = user + sys of all the process's threads (GNU time), best run; CPU ratio = tshark CPU / dcomlab CPU, steadier than wall time when the machine is busy. PDU counts come from separate piped runs, tshark's with \`${countArgsText()}\`. ${countArgsWhy()} MB = 10^6 bytes.`, '');
    L.push(mdTable(dissectRows(res.synth.files, { withReps: true }), ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r']), '');
    L.push(rssBySize(res.synth.files), '');
    for (const f of res.synth.files) {
      L.push(`- ${f.file}: dcomlab ${fmtInt(f.dcomlab.pdus)} PDUs (expected ${fmtInt(f.expectedDcomlab)})` + (f.tshark ? `, tshark ${f.tshark.pdus == null ? 'n/a' : fmtInt(f.tshark.pdus)} (expected ${fmtInt(f.expectedTshark)})` : ', tshark not run on this one') + `; timed runs: dcomlab ${f.dcomlab.runsMs.join(', ')} ms` + (f.tshark ? `, tshark ${f.tshark.runsMs.join(', ')} ms` : '') + ' (best kept).');
    }
    L.push('');
  }
  if (res.captures?.length) {
    L.push('### dissect on each shared capture', '');
    L.push(`Best of ${res.options.runs} runs each. "PDUs tshark" comes from a separate run with \`${countArgsText()}\`: DCE/RPC over TCP only, as dcomlab leaves SMB named pipes out. ${countArgsWhy()} tshark's timed run is the plain one and still dissects everything.`, '');
    L.push(mdTable(dissectRows([...res.captures, totalsRow(res.captures)]), ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r']), '');
    L.push(countDiffNote(res.captures), '');
  }
  if (res.profile) {
    L.push('### Where the time goes', '');
    L.push(`Recorded because a dissect target was missed (or \`--profile\`): \`node --cpu-prof dist/cli/main.js dissect ${res.profile.file} --format jsonl > /dev/null\`, ${fmtMs(res.profile.totalMs)} profiled. Top functions by self time, mapped to src/ through the bundle's source map (JSON.stringify and other natives are counted in their caller).`, '');
    L.push(mdTable(profileTable(res.profile), ['r', 'r', 'l', 'l']), '');
  }
  if (res.gc?.length) {
    L.push('V8 heap during the same runs (`node --trace-gc`): live heap after full GCs, and the largest heap V8 committed.', '');
    L.push(mdTable(gcRows(res.gc), ['l', 'r', 'r', 'r', 'r', 'r']), '');
  }
  return L.join('\n');
}

/** Peak RSS against file size: dcomlab's should stay flat (streaming), tshark's grows. */
function rssBySize(files) {
  const one = (r, tool) => (r[tool]?.rssKb != null ? `${fmtRssMB(r[tool].rssKb)} MB` : '—');
  return `Peak RSS by file size: ${files.map((f) => `${fmtMB(f.bytes)} MB → dcomlab ${one(f, 'dcomlab')}, tshark ${one(f, 'tshark')}`).join('; ')}.`;
}

function countArgsText() {
  return TSHARK_COUNT_ARGS.map((a) => (/[ &!|]/.test(a) ? `'${a}'` : a)).join(' ');
}

function countArgsWhy() {
  return `${TSHARK_COUNT_DISABLED.map((p) => `\`--disable-protocol ${p}\``).join(', ')} is what the oracle test does (test/support/tshark.ts): zeek/mapi.pcap carries MS-RPC on TCP port 1153, which tshark otherwise hands to ANSI C12.22 (10 PDUs per synthetic repetition); with it off, the two tools' counts must match exactly.`;
}

function skeleton() {
  return [
    '# Benchmarks',
    '',
    'Speed and memory targets are met here, in benchmarks, never in timed tests. Every figure is',
    'printed beside its peer\'s figure from the same run, and the sections below are written by the',
    'benchmark itself from a real run (`npm run bench -- --write`), never by hand.',
    '',
    'Run: `npm run bench` (build, then `node bench/run.mjs`; tables on stdout, everything in',
    '`bench/out/results.json`); `npm run bench -- --write` also rewrites the measured sections below.',
    'The synthetic captures are cached in `bench/out/` (git-ignored).',
    '',
    FOUNDATION,
    '',
    'Not yet measured.',
    '',
    ...PLACEHOLDERS.flatMap(([h, t]) => [h, '', t, '']),
  ].join('\n');
}

function writeBenchmarksMd(res) {
  const file = path.join(ROOT, 'BENCHMARKS.md');
  let text = existsSync(file) ? readFileSync(file, 'utf8') : skeleton();
  const section = foundationMarkdown(res).trimEnd() + '\n';
  const start = text.indexOf(FOUNDATION);
  if (start < 0) {
    const firstH2 = text.search(/^## /m);
    text = firstH2 < 0 ? `${text.trimEnd()}\n\n${section}` : `${text.slice(0, firstH2)}${section}\n${text.slice(firstH2)}`;
  } else {
    const rest = text.slice(start + FOUNDATION.length);
    const next = rest.search(/^## /m);
    text = text.slice(0, start) + section + (next < 0 ? '' : '\n' + rest.slice(next));
  }
  for (const [h, t] of PLACEHOLDERS) if (!new RegExp(`^${h}\\b`, 'm').test(text)) text = `${text.trimEnd()}\n\n${h}\n\n${t}\n`;
  writeFileSync(file, text.trimEnd() + '\n');
  log(`wrote ${path.relative(process.cwd(), file)}`);
}

// ---- main ----------------------------------------------------------------------------------------

async function main() {
  const o = parseArgs(process.argv.slice(2));
  if (o.from) {
    const res = JSON.parse(readFileSync(o.from, 'utf8'));
    printReport(res);
    if (o.write) writeBenchmarksMd(res);
    return;
  }
  if (!existsSync(CLI)) throw new Error(`${CLI} missing: run npm run build first`);
  if (!existsSync(TSHARK)) log(`${TSHARK} not found: tshark columns will be empty`);
  const t0 = Date.now();
  const res = { date: new Date().toISOString(), machine: machineInfo(), options: o, targetsSpec: TARGETS, loadavgStart: os.loadavg() };
  res.startup = await startupFloor();
  res.micro = runMicro(o);
  const captures = listCaptures();
  log(`dissect: ${captures.length} shared captures, best of ${o.runs} (dcomlab and tshark)`);
  res.captures = [];
  for (const f of captures) {
    const row = await benchFile(f, { runs: o.runs });
    res.captures.push(row);
    log(`  ${row.file}: dcomlab ${fmtMs(row.dcomlab.ms)} (${row.dcomlab.pdus} PDUs), tshark ${fmtMs(row.tshark?.ms)} (${row.tshark?.pdus} PDUs)`);
  }
  if (!o.quick) res.synth = await benchSynth(o);
  res.targets = computeTargets(res);
  const dissectMissed = res.targets.some((t) => !t.ok && /tshark throughput|peak RSS/.test(t.target));
  if (res.synth && (o.profile === true || (o.profile === null && dissectMissed))) {
    const big = res.synth.files[0];
    log(`profiling dissect on ${big.file} (--cpu-prof), then a --trace-gc run per synthetic capture`);
    res.profile = await profileDissect(big.path, { top: 15 });
    res.gc = [];
    for (const f of res.synth.files) res.gc.push(await gcTrace(f.path));
  }
  res.benchSeconds = (Date.now() - t0) / 1000;
  res.loadavgEnd = os.loadavg();
  mkdirSync(OUT_DIR, { recursive: true });
  writeFileSync(path.join(OUT_DIR, 'results.json'), JSON.stringify(res, null, 2) + '\n');
  printReport(res);
  if (o.write) writeBenchmarksMd(res);
  const missed = res.targets.filter((t) => !t.ok);
  if (missed.length) log(`${missed.length} target(s) missed: ${missed.map((t) => t.target).join('; ')}`);
}

main().catch((e) => {
  process.stderr.write(`bench: ${e?.stack ?? e}\n`);
  process.exitCode = 1;
});
