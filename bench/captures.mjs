#!/usr/bin/env node
// Captures (issue 7): `dissect` with stub decoding and NTLM decryption on the synthetic captures
// (bench/synth.mjs, cached in bench/out/), beside `tshark -V` with the same password on the same
// file in the same run. PDUs/s, MB/s, peak RSS; decrypted/verified counts checked on the way.
// Targets: jsonl (stubs + decryption) >= 10x tshark -V on the 110 MB capture; peak RSS <= 200 MB
// at every size (110, 220, 440 MB, and 880 MB for memory only, without tshark).
//
//   node bench/captures.mjs [--write] [--quick] [--runs N] [--profile | --no-profile]
// --quick: the 110 MB capture only. --runs: timed dcomlab runs per mode and size (best kept,
// default 2); tshark runs once per size. --profile: CPU profile of the jsonl dissect on 110 MB
// (by default only when a target is missed). Other benches' options are accepted and ignored.
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  CLI, OUT_DIR, ROOT, TSHARK, fileSize, fmtInt, fmtMB, fmtMs, fmtNum, machineInfo, mdTable, passMiss, runChild,
  textTable, timedUnderGnuTime, writeBenchmarksSection, lineFeeder } from './lib.mjs';
import { synthesise } from './synth.mjs';
import { profileTable, summariseProfile } from './profile.mjs';

const SECTION = '## Captures';
const PASSWORD = 'Password123!';
const TARGET_RATIO = 10;
const TARGET_RSS_BYTES = 200e6;
const log = (s) => process.stderr.write(`[bench captures] ${s}\n`);

function parseArgs(argv) {
  const o = { write: false, quick: false, runs: 2, profile: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--write') o.write = true;
    else if (a === '--quick') o.quick = true;
    else if (a === '--runs') o.runs = Math.max(1, Number(argv[++i]) || 2);
    else if (a === '--profile') o.profile = true;
    else if (a === '--no-profile') o.profile = false;
  }
  return o;
}

const DISSECT_JSONL = (file) => [CLI, 'dissect', file, '-f', 'jsonl', '--password', PASSWORD];
const DISSECT_V = (file) => [CLI, 'dissect', file, '-V', '--password', PASSWORD];
const TSHARK_V = (file) => ['-n', '-V', '-o', `ntlmssp.nt_password:${PASSWORD}`, '--disable-protocol', 'c1222', '-r', file];

const rssMB = (kb) => (kb == null ? null : (kb * 1024) / 1e6);
const mbps = (bytes, ms) => bytes / 1e6 / (ms / 1000);

/** One timed dcomlab run, stdout to /dev/null; peak RSS as the process reports it (GNU time as fallback). */
async function dcomlabTimed(args) {
  const r = await timedUnderGnuTime(process.execPath, args, { env: { ...process.env, DCOMLAB_REPORT_RSS: '1' } });
  if (r.code !== 0) throw new Error(`dcomlab ${args.slice(1).join(' ')} exited ${r.code}: ${r.stderr.slice(0, 400)}`);
  const m = /dcomlab-maxrss-kb (\d+)/.exec(r.stderr);
  return { ms: r.ms, cpuS: r.cpuS, rssKb: m ? Number(m[1]) : r.timeRssKb, timeRssKb: r.timeRssKb };
}

async function bestOf(n, fn) {
  const runs = [];
  for (let i = 0; i < n; i++) runs.push(await fn());
  const best = runs.reduce((a, b) => (b.ms < a.ms ? b : a));
  return {
    ms: best.ms,
    cpuS: Math.min(...runs.map((r) => r.cpuS ?? Infinity)),
    rssKb: Math.max(...runs.map((r) => r.rssKb ?? 0)),
    runsMs: runs.map((r) => Math.round(r.ms)),
  };
}

/** The jsonl once more, piped: PDU records, decrypted ones, decrypted-and-verified ones, the session lines. */
async function dcomlabCount(file) {
  let pdus = 0;
  let decrypted = 0;
  let verified = 0;
  let decryptErrors = 0;
  let sessions = null;
  const feed = lineFeeder((s, start, end) => {
    if (end === start) return;
    const line = s.slice(start, end);
    if (line.startsWith('{"decryption"')) {
      (sessions ??= []).push(JSON.parse(line).decryption); // one line per session
      return;
    }
    pdus++;
    if (line.includes('"decrypted":true')) {
      decrypted++;
      if (line.includes('"decrypted":true,"verified":true')) verified++;
    }
    if (line.includes('"decryptError"')) decryptErrors++;
  });
  const r = await runChild(process.execPath, DISSECT_JSONL(file), { count: feed });
  if (r.code !== 0) throw new Error(`counting run exited ${r.code}: ${r.stderr.slice(0, 400)}`);
  const ss = sessions ?? [];
  return {
    pdus, decrypted, verified, decryptErrors,
    sessions: ss.length,
    decryptableSessions: ss.filter((x) => x.decryptable).length,
    decryptableUsers: [...new Set(ss.filter((x) => x.decryptable).map((x) => `${x.domain ? x.domain + '\\' : ''}${x.user}`))],
  };
}

/** tshark's own count of unsealed stubs ("Decrypted data:" lines of -V) on one repetition: shows the password took. */
async function tsharkDecryptedPerRep(file) {
  let n = 0;
  const feed = lineFeeder((s, start, end) => {
    if (/^\s*Decrypted data:/.test(s.slice(start, end))) n++;
  }, 'latin1');
  const r = await runChild(TSHARK, TSHARK_V(file), { count: feed });
  return r.code === 0 ? n : null;
}

async function profileJsonl(file) {
  const dir = path.join(OUT_DIR, 'captures-prof');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const r = await runChild(process.execPath, ['--cpu-prof', '--cpu-prof-dir', dir, ...DISSECT_JSONL(file)]);
  if (r.code !== 0) throw new Error(`profiled dissect failed: ${r.stderr.slice(0, 300)}`);
  const f = readdirSync(dir).find((n) => n.endsWith('.cpuprofile'));
  const summary = summariseProfile(JSON.parse(readFileSync(path.join(dir, f), 'utf8')), { top: 20 });
  return { file: path.relative(ROOT, file), wallMs: r.ms, profile: path.relative(ROOT, path.join(dir, f)), ...summary };
}

async function benchSize(mb, o, perRep) {
  const file = path.join(OUT_DIR, `synth-${mb}mb.pcap`);
  const meta = await synthesise({ out: file, mb, log });
  const bytes = fileSize(file);
  log(`${path.basename(file)} (${fmtMB(bytes)} MB, ${meta.reps} reps): dcomlab jsonl ×${o.runs}, -V ×${o.runs}, a counting run, tshark -V ×1`);
  const jsonl = await bestOf(o.runs, () => dcomlabTimed(DISSECT_JSONL(file)));
  const verbose = await bestOf(o.runs, () => dcomlabTimed(DISSECT_V(file)));
  const count = await dcomlabCount(file);
  const t = await timedUnderGnuTime(TSHARK, TSHARK_V(file), { timeoutMs: 900_000 });
  const tshark = { ms: t.ms, cpuS: t.cpuS, rssKb: t.timeRssKb, code: t.code, timedOut: t.timedOut };
  if (t.code !== 0) tshark.error = t.stderr.slice(0, 300);
  const row = { file: path.relative(ROOT, file), mb, bytes, reps: meta.reps, count, tshark };
  for (const [k, r] of [['jsonl', jsonl], ['verbose', verbose]]) {
    row[k] = { ...r, mbPerSec: mbps(bytes, r.ms), pdusPerSec: count.pdus / (r.ms / 1000), ratio: t.code === 0 ? t.ms / r.ms : null, cpuRatio: t.code === 0 && t.cpuS && r.cpuS ? t.cpuS / r.cpuS : null };
  }
  tshark.mbPerSec = t.code === 0 ? mbps(bytes, t.ms) : null;
  tshark.pdusPerSec = t.code === 0 ? count.pdus / (t.ms / 1000) : null;
  row.expectedDecrypted = perRep.decrypted * meta.reps;
  row.expectedPdus = perRep.pdus * meta.reps;
  row.decryptOk = count.decrypted > 0 && count.decrypted === row.expectedDecrypted && count.verified === count.decrypted && count.pdus === row.expectedPdus;
  log(`  jsonl ${fmtMs(jsonl.ms)} (${row.jsonl.ratio?.toFixed(1)}x), -V ${fmtMs(verbose.ms)} (${row.verbose.ratio?.toFixed(1)}x), tshark -V ${fmtMs(t.ms)}; RSS ${rssMB(jsonl.rssKb).toFixed(1)} / ${rssMB(verbose.rssKb).toFixed(1)} / ${rssMB(tshark.rssKb)?.toFixed(1)} MB; decrypted ${count.decrypted} (expected ${row.expectedDecrypted}), verified ${count.verified}`);
  return row;
}

/** Peak RSS only, at a size beyond tshark's reach in a bench run: one jsonl and one -V run. */
async function memoryOnly(mb) {
  const file = path.join(OUT_DIR, `synth-${mb}mb.pcap`);
  const meta = await synthesise({ out: file, mb, log });
  const bytes = fileSize(file);
  log(`${path.basename(file)} (${fmtMB(bytes)} MB, ${meta.reps} reps): peak RSS only, dcomlab jsonl ×1, -V ×1 (no tshark)`);
  const jsonl = await dcomlabTimed(DISSECT_JSONL(file));
  const verbose = await dcomlabTimed(DISSECT_V(file));
  log(`  RSS ${rssMB(jsonl.rssKb).toFixed(1)} / ${rssMB(verbose.rssKb).toFixed(1)} MB`);
  return { file: path.relative(ROOT, file), mb, bytes, reps: meta.reps, jsonl: { ...jsonl, mbPerSec: mbps(bytes, jsonl.ms) }, verbose: { ...verbose, mbPerSec: mbps(bytes, verbose.ms) } };
}

function targets(res) {
  const big = res.sizes[0];
  const out = [];
  const r = big.jsonl.ratio;
  out.push({
    target: `dissect -f jsonl (stubs + decryption) >= ${TARGET_RATIO}x tshark -V with the password, ${fmtMB(big.bytes)} MB capture`,
    value: r == null ? 'tshark failed' : `${r.toFixed(1)}x (${fmtNum(big.jsonl.mbPerSec, 1)} vs ${fmtNum(big.tshark.mbPerSec, 1)} MB/s); text -V beside it: ${big.verbose.ratio?.toFixed(1)}x`,
    ok: r != null && r >= TARGET_RATIO,
  });
  let worst = null;
  const all = [...res.sizes, ...res.memoryOnly];
  for (const s of all) for (const k of ['jsonl', 'verbose']) if (!worst || s[k].rssKb > worst.kb) worst = { kb: s[k].rssKb, mode: k === 'jsonl' ? '-f jsonl' : '-V', mb: fmtMB(s.bytes) };
  const memOnly = res.memoryOnly.length ? `, and ${res.memoryOnly.map((s) => fmtMB(s.bytes)).join(', ')} MB without tshark` : '';
  out.push({
    target: `dissect peak RSS <= 200 MB at every size (${res.sizes.map((s) => fmtMB(s.bytes)).join(', ')} MB${memOnly}; jsonl and -V)`,
    value: `max ${rssMB(worst.kb).toFixed(1)} MB (${worst.mode}, ${worst.mb} MB)`,
    ok: rssMB(worst.kb) * 1e6 <= TARGET_RSS_BYTES,
  });
  out.push({
    target: 'every sealed PDU of the scapy NTLM sessions decrypted and verified, in every repetition',
    value: res.sizes.map((s) => `${fmtInt(s.count.verified)}/${fmtInt(s.count.decrypted)} verified, expected ${fmtInt(s.expectedDecrypted)}`).join('; '),
    ok: res.sizes.every((s) => s.decryptOk),
  });
  return out;
}

function sizeRows(s) {
  const rss = (kb) => fmtNum(rssMB(kb), 1);
  const ratio = (x) => (x == null ? '—' : `${x.toFixed(1)}x`);
  return [
    ['command', 'time', 'runs ms', 'PDUs/s', 'MB/s', 'vs tshark -V', 'CPU s', 'CPU ratio', 'peak RSS MB'],
    ['dcomlab dissect -f jsonl --password', fmtMs(s.jsonl.ms), s.jsonl.runsMs.join(', '), fmtInt(s.jsonl.pdusPerSec), fmtNum(s.jsonl.mbPerSec, 1), ratio(s.jsonl.ratio), fmtNum(s.jsonl.cpuS, 2), ratio(s.jsonl.cpuRatio), rss(s.jsonl.rssKb)],
    ['dcomlab dissect -V --password', fmtMs(s.verbose.ms), s.verbose.runsMs.join(', '), fmtInt(s.verbose.pdusPerSec), fmtNum(s.verbose.mbPerSec, 1), ratio(s.verbose.ratio), fmtNum(s.verbose.cpuS, 2), ratio(s.verbose.cpuRatio), rss(s.verbose.rssKb)],
    ['tshark -V with the password', s.tshark.code === 0 ? fmtMs(s.tshark.ms) : `exit ${s.tshark.code}`, String(Math.round(s.tshark.ms)), fmtInt(s.tshark.pdusPerSec), fmtNum(s.tshark.mbPerSec, 1), '1.0x', fmtNum(s.tshark.cpuS, 2), '1.0x', rss(s.tshark.rssKb)],
  ];
}

function section(res) {
  const m = res.machine;
  const L = [SECTION, '', `Written by \`node bench/captures.mjs --write\` from the run of ${res.when}; do not edit by hand.`, ''];
  L.push(`- Machine: ${m.nproc} CPUs (\`nproc\`), ${m.cpu}, ${m.memGiB} GiB RAM, ${m.os}`);
  L.push(`- Node ${m.node}; peer: ${m.tshark} (\`${TSHARK}\`)`);
  L.push(`- Load average (1/5/15 min) at start ${res.loadStart.join(' ')}, at end ${res.loadEnd.join(' ')}; bench run took ${Math.round(res.seconds)} s`);
  L.push('');
  L.push('### Targets', '');
  L.push(mdTable([['target', 'measured', 'result'], ...res.targets.map((t) => [t.target, t.value, passMiss(t.ok)])]), '');
  L.push('### Method', '');
  L.push(`The synthetic captures of the Foundation section (\`bench/synth.mjs\`): every DCE/RPC TCP conversation of ../shared/pcaps, repeated with fresh addresses per repetition. That includes the NTLM-sealed scapy capture (scapy/dcerpc_privacy_ntlm.pcapng.gz, DOMAIN\\Administrator, NTLMv2, auth level privacy), so the password unseals its sessions in every repetition; the other NTLM sessions are reported not decryptable (no AUTHENTICATE, or another password), as expected. In one run, per size:`, '');
  L.push(`- dcomlab, jsonl (stubs are decoded by default): \`DCOMLAB_REPORT_RSS=1 node dist/cli/main.js dissect FILE -f jsonl --password '${PASSWORD}' > /dev/null\``);
  L.push(`- dcomlab, text with stub trees: \`DCOMLAB_REPORT_RSS=1 node dist/cli/main.js dissect FILE -V --password '${PASSWORD}' > /dev/null\` (its per-session \`decryption:\` lines go to stderr, read by the bench)`);
  L.push(`- tshark: \`tshark ${TSHARK_V('FILE').map((a) => (/[!&| ]/.test(a) ? `'${a}'` : a)).join(' ')} > /dev/null\` under GNU time, once per size (\`--disable-protocol c1222\` as in the Foundation counts: zeek/mapi.pcap talks MS-RPC on TCP 1153)`);
  L.push('');
  L.push(`dcomlab: best of ${res.options.runs} timed runs per mode (peak RSS: the largest of them, as the process reports it). PDUs: a separate piped jsonl run counts the records (and the \`"decrypted":true,"verified":true\` ones); tshark finds the same PDUs in these files (Foundation section), so its PDUs/s uses the same count. MB/s = file bytes / wall time, MB = 10^6 bytes. vs tshark -V = tshark time / dcomlab time; CPU s = user + sys of all threads (GNU time), CPU ratio likewise, steadier on a busy machine.`, '');
  for (const s of res.sizes) {
    L.push(`### ${s.file}: ${fmtMB(s.bytes)} MB, ${fmtInt(s.reps)} repetitions, ${fmtInt(s.count.pdus)} PDUs`, '');
    L.push(mdTable(sizeRows(s), ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r']), '');
    L.push(`Decryption: ${fmtInt(s.count.decrypted)} PDUs \`"decrypted":true\` (expected ${fmtInt(res.perRep.decrypted)} per repetition × ${fmtInt(s.reps)} = ${fmtInt(s.expectedDecrypted)}), ${fmtInt(s.count.verified)} of them \`"verified":true\`, ${fmtInt(s.count.decryptErrors)} with \`decryptError\`; ${fmtInt(s.count.decryptableSessions)} of ${fmtInt(s.count.sessions)} NTLM sessions decryptable (${s.count.decryptableUsers.join(', ') || 'none'}). PDUs ${fmtInt(s.count.pdus)} (expected ${fmtInt(res.perRep.pdus)} × ${fmtInt(s.reps)} = ${fmtInt(s.expectedPdus)}). ${passMiss(s.decryptOk)}`, '');
  }
  L.push(`Peak RSS by file size: ${res.sizes.map((s) => `${fmtMB(s.bytes)} MB → dcomlab jsonl ${fmtNum(rssMB(s.jsonl.rssKb), 1)} MB, -V ${fmtNum(rssMB(s.verbose.rssKb), 1)} MB, tshark -V ${fmtNum(rssMB(s.tshark.rssKb), 1)} MB`).join('; ')}.`, '');
  for (const s of res.memoryOnly) {
    L.push(`Memory only, ${s.file}: ${fmtMB(s.bytes)} MB, ${fmtInt(s.reps)} repetitions (tshark not run: it would take minutes and GBs): dcomlab jsonl ${fmtMs(s.jsonl.ms)} (${fmtNum(s.jsonl.mbPerSec, 1)} MB/s), peak RSS ${fmtNum(rssMB(s.jsonl.rssKb), 1)} MB; -V ${fmtMs(s.verbose.ms)}, peak RSS ${fmtNum(rssMB(s.verbose.rssKb), 1)} MB.`, '');
  }
  L.push(`One repetition (bench/out/synth-1rep.pcap): dcomlab decrypts and verifies ${res.perRep.decrypted} PDUs of ${res.perRep.pdus}; tshark -V with the password prints ${res.perRep.tsharkDecrypted ?? 'n/a'} "Decrypted data:" stubs (it shows the password takes in tshark too).`);
  if (res.profile) {
    const p = res.profile;
    L.push('', '### Where the time goes', '');
    L.push(`Recorded because a target was missed (or \`--profile\`): \`node --cpu-prof dist/cli/main.js dissect ${p.file} -f jsonl --password '${PASSWORD}' > /dev/null\`, ${fmtMs(p.totalMs)} profiled. Top functions by self time, mapped to src/ through the bundle's source map (JSON.stringify and other natives count in their caller).`, '');
    L.push(mdTable(profileTable(p), ['r', 'r', 'l', 'l']));
  }
  return L.join('\n');
}

const o = parseArgs(process.argv.slice(2));
const t0 = Date.now();
const load = () => os.loadavg().map((x) => x.toFixed(2));
const res = { when: new Date().toISOString(), machine: machineInfo(), options: { runs: o.runs, quick: o.quick }, loadStart: load() };
mkdirSync(OUT_DIR, { recursive: true });
const oneFile = path.join(OUT_DIR, 'synth-1rep.pcap');
await synthesise({ out: oneFile, reps: 1, log });
const one = await dcomlabCount(oneFile);
res.perRep = { pdus: one.pdus, decrypted: one.decrypted, verified: one.verified, tsharkDecrypted: await tsharkDecryptedPerRep(oneFile) };
log(`one repetition: ${one.pdus} PDUs, ${one.decrypted} decrypted, ${one.verified} verified; tshark ${res.perRep.tsharkDecrypted} "Decrypted data:"`);
res.sizes = [];
for (const mb of o.quick ? [110] : [110, 220, 440]) res.sizes.push(await benchSize(mb, o, res.perRep));
// Twice the largest size again, for memory only: the RSS target is for any size.
res.memoryOnly = o.quick ? [] : [await memoryOnly(880)];
res.targets = targets(res);
if (o.profile === true || (o.profile === null && res.targets.some((t) => !t.ok))) {
  log('CPU profile of the jsonl dissect on the first capture');
  res.profile = await profileJsonl(path.join(ROOT, res.sizes[0].file));
}
res.loadEnd = load();
res.seconds = (Date.now() - t0) / 1000;
writeFileSync(path.join(OUT_DIR, 'captures-results.json'), JSON.stringify(res, null, 2) + '\n');
const md = section(res);
process.stdout.write(md + '\n');
if (res.profile) process.stderr.write(textTable(profileTable(res.profile)) + '\n');
if (o.write) log(`wrote ${writeBenchmarksSection(SECTION, md)}`);
if (!res.sizes.every((s) => s.decryptOk)) process.exitCode = 1;
