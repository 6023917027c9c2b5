#!/usr/bin/env node
// dcomlab benchmarks (RPC runtime and the endpoint mapper): ept_map calls/s on loopback,
// dcomlab's client against dcomlab's server and against Samba's endpoint mapper in the same
// run, and the server's peak RSS with 1,000 idle bound connections.
//
//   node bench/rpc.mjs                 # run, print tables, write bench/out/rpc-results.json
//   node bench/rpc.mjs --write         # ... and rewrite the "## RPC runtime" section of BENCHMARKS.md
//
// Options: --write, --seconds S (measured time per run, default 5), --warmup S (default 1),
// --rounds N (runs per mode and server, interleaved, best kept, default 2), --conns N (many-connection mode,
// default 50), --inflight N (one-connection pipelined mode, default 16), --idle N (idle
// connections for the RSS figure, default 1000), --hold S (how long they stay idle before the
// RSS is read, default 3), --no-samba (dcomlab only), --samba-dir DIR (default
// $DCOMLAB_PEERS_ROOT or $TMPDIR/dcomlab-peers, then /bench-rpc), --profile / --no-profile (CPU
// profile of the server under load; by default only when a throughput target is missed),
// --from RESULTS.json (no run: print, and with --write record, an earlier run's results).
// bench/run.mjs's own options (--quick, --mb N, --no-2x, --tshark-2x, --no-tshark-2x, --runs N)
// are accepted and ignored, so that one command line can feed both benches.
//
// The server runs as `node dist/cli/main.js serve --host 127.0.0.5 --epm-port 135 --config ...
// --log-level warn` in its own process (Samba holds 127.0.0.1:135); the load comes from
// bench/rpc-load.mjs, another process, so client, dcomlab server and Samba are each measured
// apart. All traffic stays on loopback.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { pathToFileURL } from 'node:url';
import { CLK_TCK, BENCH_DIR, CLI, OUT_DIR, ROOT, fmtInt, fmtNum, killChildren, machineInfo, mdTable, passMiss, runResultChild, spawnTracked, textTable, writeBenchmarksSection, stopChildrenOnSignals, printHeaderHelp } from './lib.mjs';
import { summariseProfile } from './profile.mjs';

const SECTION = '## RPC runtime';
const TARGETS = { ratioVsSamba: 1.5, idleRssBytes: 150e6 };
const SAMR = { uuid: '12345778-1234-abcd-ef00-0123456789ac', version: 1, name: 'samr v1.0' };
const DCOMLAB_HOST = '127.0.0.5';
const SAMBA_HOST = '127.0.0.1';
const EPM_PORT = 135;
const SAMBA_SH = path.join(ROOT, 'tools', 'peers', 'samba.sh');
const LOAD = path.join(BENCH_DIR, 'rpc-load.mjs');

const log = (s) => process.stderr.write(`[bench rpc] ${s}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function parseArgs(argv) {
  const tmp = process.env.TMPDIR || process.env.TMP || process.env.TEMP || '/tmp';
  const peers = process.env.DCOMLAB_PEERS_ROOT || path.join(tmp, 'dcomlab-peers');
  const o = {
    write: false, seconds: 5, warmup: 1, rounds: 2, conns: 50, inflight: 16, idle: 1000, hold: 3,
    samba: true, sambaDir: path.join(peers, 'bench-rpc'), profile: null, from: null,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const num = () => {
      const v = Number(argv[++i]);
      if (!(v > 0)) throw new Error(`${a} needs a positive number`);
      return v;
    };
    if (a === '--write') o.write = true;
    else if (a === '--seconds') o.seconds = num();
    else if (a === '--warmup') o.warmup = num();
    else if (a === '--rounds') o.rounds = Math.round(num());
    else if (a === '--conns') o.conns = Math.round(num());
    else if (a === '--inflight') o.inflight = Math.round(num());
    else if (a === '--idle') o.idle = Math.round(num());
    else if (a === '--hold') o.hold = num();
    else if (a === '--no-samba') o.samba = false;
    else if (a === '--samba-dir') o.sambaDir = path.resolve(argv[++i]);
    else if (a === '--profile') o.profile = true;
    else if (a === '--no-profile') o.profile = false;
    else if (a === '--from') o.from = argv[++i];
    // bench/run.mjs's own options, when one command line feeds both benches (npm run bench -- ...).
    else if (['--quick', '--no-2x', '--tshark-2x', '--no-tshark-2x'].includes(a)) continue;
    else if (a === '--mb' || a === '--runs') i++;
    else if (a === '-h' || a === '--help') printHeaderHelp(import.meta.url);
    else throw new Error(`unknown option ${a}`);
  }
  return o;
}

// ---- the RPC library -------------------------------------------------------------------------

/**
 * Copy a built bundle and its source map into bench/out/rpc-snap/, the map's sources made
 * absolute: other work may rebuild dist/ (tsup cleans it) while this bench runs, and every
 * process of one run must run the same build. Waits up to 60 s for a rebuild to finish.
 */
async function snapshot(src, name) {
  const dir = path.join(OUT_DIR, 'rpc-snap');
  mkdirSync(dir, { recursive: true });
  const dst = path.join(dir, name);
  for (let i = 0; ; i++) {
    try {
      const code = readFileSync(src);
      const map = JSON.parse(readFileSync(`${src}.map`, 'utf8'));
      map.sources = map.sources.map((s) => path.resolve(path.dirname(src), map.sourceRoot ?? '', s));
      delete map.sourceRoot;
      writeFileSync(dst, code);
      writeFileSync(`${dst}.map`, JSON.stringify(map));
      return dst;
    } catch (e) {
      if (i >= 120) throw new Error(`cannot read ${path.relative(ROOT, src)} (and its .map): ${e.message}; run npm run build first`);
      await sleep(500);
    }
  }
}

/**
 * dist/index.js when it exports the RPC layer; otherwise an esbuild bundle of src/rpc/index.ts
 * in bench/out/ (built from the same sources, with a source map).
 */
async function rpcLibrary() {
  const dist = path.join(ROOT, 'dist', 'index.js');
  if (existsSync(dist)) {
    const snap = await snapshot(dist, 'index.js');
    const m = await import(pathToFileURL(snap).href);
    if (m.RpcConnection && m.bindInterface && m.epm && m.tcpTower && m.epmLookup) return { path: snap, how: 'dist/index.js (RpcConnection, bindInterface, epm, tcpTower exported)' };
  }
  const out = path.join(OUT_DIR, 'rpc-lib.mjs');
  const esbuild = path.join(ROOT, 'node_modules', '.bin', 'esbuild');
  mkdirSync(OUT_DIR, { recursive: true });
  execFileSync(esbuild, [
    path.join(ROOT, 'src', 'rpc', 'index.ts'), '--bundle', '--platform=node', '--format=esm', '--target=node20',
    '--sourcemap', '--packages=external', `--outfile=${out}`, '--log-level=warning',
  ], { stdio: ['ignore', 'inherit', 'inherit'] });
  return { path: out, how: 'esbuild bundle of src/rpc/index.ts into bench/out/rpc-lib.mjs (dist/index.js does not export the RPC layer yet)' };
}

// ---- processes -------------------------------------------------------------------------------

/** CPU time (ms, user + sys) of one process, or of every process in a process group. */
function cpuMs({ pid, pgid }) {
  const read = (p) => {
    try {
      const s = readFileSync(`/proc/${p}/stat`, 'utf8');
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
      return { pgrp: Number(f[2]), ticks: Number(f[11]) + Number(f[12]) };
    } catch {
      return null;
    }
  };
  if (pid) return ((read(pid)?.ticks ?? 0) * 1000) / CLK_TCK;
  let ticks = 0;
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const r = read(d);
    if (r && r.pgrp === pgid) ticks += r.ticks;
  }
  return (ticks * 1000) / CLK_TCK;
}

function procStatusKb(pid) {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? NaN);
  return { rssKb: kb('VmRSS'), hwmKb: kb('VmHWM') };
}

/** The accept backlog of the listener on host:port (ss's Send-Q for a listening socket). */
function listenBacklog(host, port) {
  try {
    const out = execFileSync('ss', ['-Hltn'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    for (const l of out.split('\n')) {
      const f = l.trim().split(/\s+/);
      if (f[3] === `${host}:${port}`) return Number(f[2]);
    }
  } catch {}
  return null;
}

function fdCount(pid) {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return null;
  }
}

/** Samba's processes (its process group): count, summed RSS and PSS (shared pages split). */
function groupMemKb(pgid) {
  let procs = 0;
  let rssKb = 0;
  let pssKb = 0;
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const s = readFileSync(`/proc/${d}/stat`, 'utf8');
      if (Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[2]) !== pgid) continue;
      const roll = readFileSync(`/proc/${d}/smaps_rollup`, 'utf8');
      rssKb += Number(/^Rss:\s+(\d+)/m.exec(roll)?.[1] ?? 0);
      pssKb += Number(/^Pss:\s+(\d+)/m.exec(roll)?.[1] ?? 0);
      procs++;
    } catch {}
  }
  return { procs, rssKb, pssKb };
}

let sambaStartedByUs = null;

function cleanupSync() {
  killChildren();
  if (sambaStartedByUs) {
    try {
      execFileSync('bash', [SAMBA_SH, 'stop', sambaStartedByUs], { stdio: 'ignore' });
    } catch {}
    sambaStartedByUs = null;
  }
}
stopChildrenOnSignals(log, cleanupSync);

/** `dcomlab serve` on 127.0.0.5:135 with the given endpoints; resolves once it listens. */
let cliSnap = CLI;

async function startServer(endpoints, { cpuProfDir } = {}) {
  const cfgFile = path.join(OUT_DIR, 'rpc-serve.json');
  writeFileSync(cfgFile, JSON.stringify({ endpoints }, null, 2) + '\n');
  const args = [
    ...(cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', cpuProfDir] : []),
    cliSnap, 'serve', '--host', DCOMLAB_HOST, '--epm-port', String(EPM_PORT), '--config', cfgFile, '--log-level', 'warn',
  ];
  const child = spawnTracked(process.execPath, args, { env: { ...process.env, DCOMLAB_REPORT_RSS: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (s) => {
    if (stderr.length < 65536) stderr += s;
  });
  const exited = new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
  await new Promise((resolve, reject) => {
    const rl = readline.createInterface({ input: child.stdout });
    const timer = setTimeout(() => reject(new Error(`dcomlab serve did not start in 15 s: ${stderr.slice(0, 500)}`)), 15_000);
    rl.on('line', (l) => {
      if (l.includes('endpoint mapper listening on')) {
        clearTimeout(timer);
        resolve();
      }
    });
    void exited.then((x) => {
      clearTimeout(timer);
      reject(new Error(`dcomlab serve exited (${x.code ?? x.signal}) before listening: ${stderr.slice(0, 500)}`));
    });
  });
  return {
    pid: child.pid,
    cmd: `node ${args.map((a) => (a === cliSnap ? 'dist/cli/main.js' : a === cfgFile ? path.relative(ROOT, a) : a)).join(' ')}`,
    /** SIGTERM (graceful: shutdown PDUs, close), then its own peak RSS report. */
    async stop() {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const x = await exited;
      clearTimeout(t);
      const m = /dcomlab-maxrss-kb (\d+)/.exec(stderr);
      const other = stderr.split('\n').filter((l) => l.trim() && !l.startsWith('dcomlab-maxrss-kb'));
      return { code: x.code, signal: x.signal, maxRssKb: m ? Number(m[1]) : null, stderrHead: other.slice(0, 5).join('\n') || undefined };
    },
  };
}

/** One bench/rpc-load.mjs run; onLine sees its "phase ..." and "held ..." lines. */
function runLoad(lib, cfg, onLine = () => {}) {
  return runResultChild(process.execPath, [LOAD, JSON.stringify({ lib, ...cfg })], onLine);
}

/** A throughput run with the server's CPU time sampled over the measured window. */
async function timedRun(lib, o, target, mode) {
  let c0 = null;
  let c1 = null;
  const r = await runLoad(lib, {
    host: target.host, port: EPM_PORT, iface: SAMR, mode: 'calls', conns: mode.conns, inflight: mode.inflight,
    warmupMs: o.warmup * 1000, durationMs: o.seconds * 1000,
  }, (l) => {
    if (l === 'phase measure-start') c0 = cpuMs(target.proc);
    else if (l === 'phase measure-end') c1 = cpuMs(target.proc);
  });
  if (c0 !== null && c1 !== null && r.calls > 0) {
    r.serverCpuMs = c1 - c0;
    r.serverCpuUsPerCall = ((c1 - c0) * 1000) / r.calls;
  }
  if (r.calls > 0) r.clientCpuUsPerCall = (r.clientCpuMs * 1000) / r.calls;
  return r;
}

// ---- Samba -----------------------------------------------------------------------------------

function sambaVersion() {
  for (const p of ['/usr/sbin/samba', 'samba']) {
    try {
      return execFileSync(p, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim().replace(/^Version\s*/i, 'Samba ');
    } catch {}
  }
  return 'unknown';
}

function samba(cmd, dir) {
  return execFileSync('bash', [SAMBA_SH, cmd, dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PATH: `${process.env.PATH}:/usr/sbin:/sbin` } });
}

async function startSamba(o) {
  let wasRunning = false;
  try {
    samba('status', o.sambaDir);
    wasRunning = true;
  } catch {}
  const t0 = Date.now();
  try {
    samba('start', o.sambaDir);
  } catch (e) {
    return { error: `tools/peers/samba.sh start ${o.sambaDir} failed: ${String(e.stderr ?? e.message).trim().split('\n').slice(-3).join(' ')}` };
  }
  if (!wasRunning) sambaStartedByUs = o.sambaDir;
  const pid = Number(readFileSync(path.join(o.sambaDir, 'samba.pid'), 'utf8').trim());
  return { dir: o.sambaDir, pid, pgid: pid, startMs: Date.now() - t0, wasRunning, version: sambaVersion() };
}

function stopSamba() {
  if (!sambaStartedByUs) return;
  try {
    samba('stop', sambaStartedByUs);
  } catch (e) {
    log(`samba stop failed: ${e.message}`);
  }
  sambaStartedByUs = null;
}

/**
 * Samba's ncacn_ip_tcp registrations, so that dcomlab's database holds the same TCP entries as
 * the peer's (dcomlab serve registers TCP endpoints only); samr alone without Samba.
 */
async function mirrorEndpoints(lib, sambaInfo) {
  const fallback = [{ interface: `${SAMR.uuid}:1.0`, port: 49154, annotation: 'samr' }];
  if (!sambaInfo || sambaInfo.error) return { endpoints: fallback, sambaEntries: null };
  const { epmLookup } = await import(pathToFileURL(lib).href);
  const ents = await epmLookup(SAMBA_HOST, EPM_PORT);
  const endpoints = ents
    .filter((e) => e.protseq === 'ncacn_ip_tcp' && e.iface && e.tower?.port)
    .map((e) => ({ interface: `${e.iface.uuid}:${e.iface.version}`, port: e.tower.port, annotation: e.annotation }));
  const byProtseq = {};
  for (const e of ents) byProtseq[e.protseq ?? '?'] = (byProtseq[e.protseq ?? '?'] ?? 0) + 1;
  return { endpoints: endpoints.length ? endpoints : fallback, sambaEntries: ents.length, sambaByProtseq: byProtseq };
}

// ---- the phases ------------------------------------------------------------------------------

function modes(o) {
  return [
    { key: 'seq', label: '1 connection, sequential', conns: 1, inflight: 1 },
    { key: 'pipelined', label: `1 connection, ${o.inflight} calls in flight`, conns: 1, inflight: o.inflight },
    { key: 'conns', label: `${o.conns} connections, each sequential`, conns: o.conns, inflight: 1 },
  ];
}

async function throughput(lib, o, server, sambaInfo) {
  const targets = [{ name: 'dcomlab', host: DCOMLAB_HOST, proc: { pid: server.pid } }];
  if (sambaInfo && !sambaInfo.error) targets.push({ name: 'samba', host: SAMBA_HOST, proc: { pgid: sambaInfo.pgid } });
  const out = [];
  for (const m of modes(o)) {
    const row = { ...m, dcomlab: null, samba: null, runs: { dcomlab: [], samba: [] } };
    for (let round = 0; round < o.rounds; round++) {
      for (const t of targets) {
        const r = await timedRun(lib, o, t, m);
        row.runs[t.name].push(r);
        log(`  ${m.label}: ${t.name} ${r.ok ? `${fmtInt(r.callsPerSec)} calls/s (server ${fmtNum(r.serverCpuUsPerCall)} µs CPU/call, client ${fmtNum(r.clientCpuUsPerCall)})` : `FAILED: ${r.error ?? r.firstError}`}`);
      }
    }
    for (const t of targets) {
      const ok = row.runs[t.name].filter((r) => r.ok);
      row[t.name] = ok.length ? ok.reduce((a, b) => (b.callsPerSec > a.callsPerSec ? b : a)) : row.runs[t.name][0];
    }
    row.ratio = row.dcomlab?.ok && row.samba?.ok ? row.dcomlab.callsPerSec / row.samba.callsPerSec : null;
    if (row.runs.dcomlab.length === 1) delete row.runs; // nothing beyond the kept run
    out.push(row);
  }
  return out;
}

async function idleRss(lib, o, endpoints, sambaInfo) {
  const res = {};
  // dcomlab: a fresh server process, so that its VmHWM is this scenario's peak.
  const server = await startServer(endpoints);
  try {
    await sleep(500);
    const before = procStatusKb(server.pid);
    const fdsBefore = fdCount(server.pid);
    let during = null;
    let fdsDuring = null;
    const r = await runLoad(lib, { host: DCOMLAB_HOST, port: EPM_PORT, iface: SAMR, mode: 'hold', conns: o.idle, batch: 10 }, async (l, child) => {
      if (!l.startsWith('held ')) return;
      await sleep(o.hold * 1000);
      during = procStatusKb(server.pid);
      fdsDuring = fdCount(server.pid);
      child.stdin.end('release\n');
    });
    const stopped = await server.stop();
    res.dcomlab = {
      ok: r.ok, conns: r.conns, aliveAfter: r.alive, setupMs: r.setupMs, error: r.error,
      rssBeforeKb: before.rssKb, hwmBeforeKb: before.hwmKb, rssIdleKb: during?.rssKb ?? null, hwmIdleKb: during?.hwmKb ?? null,
      fdsBefore, fdsDuring, maxRssKbAtExit: stopped.maxRssKb, holdS: o.hold,
    };
  } catch (e) {
    await server.stop().catch(() => {});
    throw e;
  }
  // Samba, for comparison: its processes' summed RSS and PSS (prefork workers share pages).
  if (sambaInfo && !sambaInfo.error) {
    const before = groupMemKb(sambaInfo.pgid);
    let during = null;
    const r = await runLoad(lib, { host: SAMBA_HOST, port: EPM_PORT, iface: SAMR, mode: 'hold', conns: o.idle, batch: 10 }, async (l, child) => {
      if (!l.startsWith('held ')) return;
      await sleep(o.hold * 1000);
      during = groupMemKb(sambaInfo.pgid);
      child.stdin.end('release\n');
    });
    res.samba = { ok: r.ok, conns: r.conns, aliveAfter: r.alive, setupMs: r.setupMs, error: r.error, before, during };
  }
  return res;
}

async function profileServer(lib, o, endpoints) {
  const dir = path.join(OUT_DIR, 'rpc-prof');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const server = await startServer(endpoints, { cpuProfDir: dir });
  const m = modes(o)[2];
  let r;
  try {
    r = await timedRun(lib, o, { name: 'dcomlab', host: DCOMLAB_HOST, proc: { pid: server.pid } }, m);
  } finally {
    await server.stop();
  }
  const f = readdirSync(dir).find((n) => n.endsWith('.cpuprofile'));
  if (!f) throw new Error('no .cpuprofile written');
  const s = summariseProfile(JSON.parse(readFileSync(path.join(dir, f), 'utf8')), { top: 1000 });
  const busyMs = s.top.filter((x) => x.fn !== '(idle)').reduce((a, x) => a + x.selfMs, 0);
  const rows = s.top.filter((x) => x.fn !== '(idle)').slice(0, 15).map((x) => ({ ...x, pctBusy: Math.round((x.selfMs / busyMs) * 1000) / 10 }));
  return {
    mode: m.label, callsPerSec: r.callsPerSec, profile: path.relative(ROOT, path.join(dir, f)), totalMs: s.totalMs, busyMs,
    idleMs: s.totalMs - busyMs, top: rows,
  };
}

// ---- targets and report --------------------------------------------------------------------

function computeTargets(res) {
  const t = [];
  for (const row of res.throughput ?? []) {
    const ok = row.ratio == null ? null : row.ratio >= TARGETS.ratioVsSamba;
    t.push({
      target: `ept_map calls/s >= ${TARGETS.ratioVsSamba}x Samba: ${row.label}`,
      measured: row.ratio == null ? (row.samba ? 'Samba run failed' : 'Samba not run') : `${row.ratio.toFixed(2)}x (${fmtInt(row.dcomlab.callsPerSec)} vs ${fmtInt(row.samba.callsPerSec)} calls/s)`,
      ok,
      note: row.ratio == null ? '' : `${Math.round((row.ratio / TARGETS.ratioVsSamba) * 100)}% of target`,
    });
  }
  const d = res.idle?.dcomlab;
  if (d) {
    const peakKb = Math.max(d.hwmIdleKb ?? 0, d.maxRssKbAtExit ?? 0) || null;
    const ok = !d.ok || peakKb == null ? false : (peakKb * 1024) <= TARGETS.idleRssBytes;
    t.push({
      target: `server peak RSS with ${fmtInt(res.options.idle)} idle bound connections <= ${TARGETS.idleRssBytes / 1e6} MB`,
      measured: d.ok ? `${mb(peakKb)} MB (idle RSS ${mb(d.rssIdleKb)} MB, ${mb(d.rssBeforeKb)} MB before connecting)` : `failed: ${d.error ?? `${d.aliveAfter}/${d.conns} connections alive`}`,
      ok,
      note: peakKb ? `${Math.round(((peakKb * 1024) / TARGETS.idleRssBytes) * 100)}% of limit` : '',
    });
  }
  return t;
}

const mb = (kb) => (kb == null ? '—' : ((kb * 1024) / 1e6).toFixed(1));
const ms = (x) => (x == null ? '—' : x < 1 ? x.toFixed(3) : x.toFixed(2));

function targetRows(res) {
  return [['target', 'measured', 'result', ''], ...res.targets.map((t) => [t.target, t.measured, passMiss(t.ok), t.note])];
}

function throughputRows(res) {
  const rows = [['mode', 'dcomlab calls/s', 'Samba calls/s', 'ratio', 'result', 'dcomlab p50 / p99 ms', 'Samba p50 / p99 ms', 'server CPU µs/call dcomlab', 'server CPU µs/call Samba', 'client CPU µs/call (dcomlab / Samba)']];
  for (const r of res.throughput) {
    const d = r.dcomlab;
    const s = r.samba;
    rows.push([
      r.label,
      d?.ok ? fmtInt(d.callsPerSec) : 'failed',
      s ? (s.ok ? fmtInt(s.callsPerSec) : 'failed') : '—',
      r.ratio == null ? '—' : `${r.ratio.toFixed(2)}x`,
      passMiss(r.ratio == null ? null : r.ratio >= TARGETS.ratioVsSamba),
      d?.ok ? `${ms(d.latencyMs.p50)} / ${ms(d.latencyMs.p99)}` : '—',
      s?.ok ? `${ms(s.latencyMs.p50)} / ${ms(s.latencyMs.p99)}` : '—',
      d?.ok ? fmtNum(d.serverCpuUsPerCall) : '—',
      s?.ok ? fmtNum(s.serverCpuUsPerCall) : '—',
      `${d?.ok ? fmtNum(d.clientCpuUsPerCall) : '—'} / ${s?.ok ? fmtNum(s.clientCpuUsPerCall) : '—'}`,
    ]);
  }
  return rows;
}

function idleRows(res) {
  const rows = [['server', 'connections bound', 'still answering after the idle period', 'connect + bind time', 'RSS before MB', 'RSS idle MB', 'peak RSS MB', 'notes']];
  const d = res.idle.dcomlab;
  if (d) {
    rows.push([
      'dcomlab (one process)', fmtInt(d.conns), `${fmtInt(d.aliveAfter)}`, `${fmtInt(d.setupMs)} ms`, mb(d.rssBeforeKb), mb(d.rssIdleKb),
      mb(Math.max(d.hwmIdleKb ?? 0, d.maxRssKbAtExit ?? 0) || null),
      `VmHWM after the idle period ${mb(d.hwmIdleKb)} MB, maxRSS at exit ${mb(d.maxRssKbAtExit)} MB; open fds ${d.fdsBefore} → ${d.fdsDuring}`,
    ]);
  }
  const s = res.idle.samba;
  if (s) {
    rows.push([
      `Samba (${s.during?.procs ?? s.before.procs} processes)`, fmtInt(s.conns), `${fmtInt(s.aliveAfter)}`, `${fmtInt(s.setupMs)} ms`,
      `${mb(s.before.rssKb)} (PSS ${mb(s.before.pssKb)})`, s.during ? `${mb(s.during.rssKb)} (PSS ${mb(s.during.pssKb)})` : '—', '—',
      'sum over its process group: RSS counts shared pages once per process, PSS splits them',
    ]);
  }
  return rows;
}

function profileRows(p) {
  return [['self ms', '% of busy', 'function', 'where'], ...p.top.map((r) => [r.selfMs.toFixed(1), r.pctBusy.toFixed(1), r.fn, r.where])];
}

function printReport(res) {
  const w = (s = '') => process.stdout.write(s + '\n');
  const mi = res.machine;
  w(`RPC runtime bench, ${res.date}: ${mi.nproc} CPUs, ${mi.cpu}, Node ${mi.node}; peer ${res.samba?.version ?? 'Samba not run'}`);
  w();
  w(textTable(targetRows(res)));
  if (res.throughput) {
    w();
    w(`ept_map (${SAMR.name}) calls/s, ${res.options.warmup} s warm-up then ${res.options.seconds} s measured per run${res.options.rounds > 1 ? `, best of ${res.options.rounds}` : ''}:`);
    w(textTable(throughputRows(res)));
  }
  if (res.idle) {
    w();
    w(`${fmtInt(res.options.idle)} idle bound connections, held ${res.options.hold} s:`);
    w(textTable(idleRows(res)));
  }
  if (res.profile) {
    w();
    w(`dcomlab server CPU profile under "${res.profile.mode}" (${fmtInt(res.profile.callsPerSec)} calls/s while profiled), busy ${fmtInt(res.profile.busyMs)} of ${fmtInt(res.profile.totalMs)} ms:`);
    w(textTable(profileRows(res.profile)));
  }
}

function sectionMarkdown(res) {
  const mi = res.machine;
  const L = [SECTION, ''];
  L.push(`Written by \`node bench/rpc.mjs --write\` from the run of ${res.date}; do not edit by hand.`, '');
  L.push(`- Machine: ${mi.nproc} CPUs (\`nproc\`), ${mi.cpu}, ${mi.memGiB} GiB RAM, ${mi.os}`);
  L.push(`- Node ${mi.node}; peer: ${res.samba?.version ?? 'Samba not run'}${res.samba?.dir ? ` (AD DC from \`tools/peers/samba.sh\`, \`server services = rpc\`, prefork 2 workers, debug level 1)` : ''}`);
  L.push(`- Load average (1/5/15 min) at start ${res.loadavgStart.map((x) => x.toFixed(2)).join(' ')}, at end ${res.loadavgEnd.map((x) => x.toFixed(2)).join(' ')}; bench run took ${Math.round(res.benchSeconds)} s`);
  L.push(`- RPC client library: ${res.lib.how}`, '');
  L.push('### Targets', '');
  L.push(mdTable(targetRows(res), ['l', 'l', 'l', 'l']), '');
  const missed = res.targets.filter((t) => t.ok === false);
  if (missed.length) L.push(`Missed: ${missed.map((t) => t.target).join('; ')}.`, '');
  if (res.throughput) {
    L.push('### ept_map calls/s', '');
    const ents = res.mirror?.sambaEntries != null
      ? `dcomlab's database holds Samba's ${res.mirror.endpoints.length} ncacn_ip_tcp registrations, read from Samba with ept_lookup at the start of the run (Samba holds ${res.mirror.sambaEntries} entries in all: ${Object.entries(res.mirror.sambaByProtseq).map(([k, v]) => `${v} ${k}`).join(', ')})`
      : `dcomlab's database holds ${res.mirror?.endpoints.length ?? 1} entry`;
    L.push(
      `The same client code (\`bench/rpc-load.mjs\`, dcomlab's \`RpcConnection\` + \`bindInterface(conn, epm)\` + \`c.call(epm.ops.ept_map, ...)\`, NDR encode and decode included) calls ept_map for ${SAMR.name} (\`${SAMR.uuid}\`) with a \`tcpTower(iface, '0.0.0.0', 0)\` map tower, \`max_towers: 4\`, ` +
        `against \`${res.server?.cmd ?? 'dcomlab serve'}\` (${DCOMLAB_HOST}:${EPM_PORT}) and against Samba's endpoint mapper (${SAMBA_HOST}:${EPM_PORT}). ` +
        `Each run is its own client process: connect and bind, one checked call (status 0 and a tower: dcomlab answers \`${res.throughput[0]?.dcomlab?.check?.bindings?.[0] ?? '?'}\`, Samba \`${res.throughput[0]?.samba?.check?.bindings?.[0] ?? '?'}\`), ${res.options.warmup} s warm-up, then the calls completed in ${res.options.seconds} s are counted; every answer is checked (status 0, at least one tower)${res.options.rounds > 1 ? `; best of ${res.options.rounds} runs, interleaved` : ''}. ` +
        `${ents}. "In flight" = callers sharing one connection, each awaiting its answer before the next call. ` +
        `Server CPU = user + sys of the server's processes (dcomlab: one; Samba: its whole process group) over the measured window, from /proc; client CPU from the client process. ` +
        `Client, dcomlab server and Samba share ${mi.nproc} CPUs, so a run whose client CPU/call × calls/s nears 1 CPU is bounded by the client.`,
      '',
    );
    L.push(mdTable(throughputRows(res), ['l', 'r', 'r', 'r', 'l', 'r', 'r', 'r', 'r', 'r']), '');
    const errs = res.throughput.flatMap((r) => ['dcomlab', 'samba'].filter((k) => r[k] && r[k].errors).map((k) => `${r.label} ${k}: ${r[k].errors} errors (${r[k].firstError})`));
    if (errs.length) L.push(`Errors: ${errs.join('; ')}.`, '');
    const runs = res.throughput.filter((r) => r.runs);
    if (runs.length) {
      for (const r of runs) L.push(`- ${r.label}: dcomlab ${r.runs.dcomlab.map((x) => fmtInt(x.callsPerSec)).join(', ')}; Samba ${r.runs.samba.map((x) => fmtInt(x.callsPerSec)).join(', ')} calls/s (best kept).`);
      L.push('');
    }
  }
  if (res.idle) {
    L.push('### Idle connections and memory', '');
    L.push(
      `A fresh \`dcomlab serve\` process; a client process opens ${fmtInt(res.options.idle)} connections (10 at a time${res.backlog?.samba != null ? `: Samba listens with a backlog of ${res.backlog.samba}, dcomlab (Node) ${res.backlog.dcomlab}; SYNs beyond a full backlog wait for a TCP retransmit (1 s or more), which would time the retransmits rather than the server` : ''}), binds epm on each, and leaves them idle for ${res.options.hold} s; then the server's VmRSS and VmHWM (peak) are read from /proc/PID/status, ` +
        `after which one ept_map on every connection shows that all were still open and bound. The server reports its own peak (\`DCOMLAB_REPORT_RSS=1\`, maxRSS) when it exits; "peak RSS" is the larger of the two. ` +
        `Default limits (maxConnections 4096, idleTimeoutMs 15 min). The same against Samba for comparison. MB = 10^6 bytes.`,
      '',
    );
    L.push(mdTable(idleRows(res), ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'l']), '');
    if (res.serverStop?.maxRssKb) L.push(`The server of the throughput runs peaked at ${mb(res.serverStop.maxRssKb)} MB (its own maxRSS at exit).`, '');
  }
  if (res.profile) {
    L.push('### Where the server spends its time', '');
    L.push(
      `Recorded because a throughput target was missed (or \`--profile\`): the server under \`node --cpu-prof\` while the client ran "${res.profile.mode}" (${fmtInt(res.profile.callsPerSec)} calls/s while profiled). ` +
        `Of ${fmtInt(res.profile.totalMs)} ms profiled, ${fmtInt(res.profile.busyMs)} ms were busy. Top functions by self time, mapped to src/ through dist/cli/main.js.map (\`node:\` entries are Node's own JavaScript; entries with no place are native code, e.g. \`writeBuffer\` is the socket write).`,
      '',
    );
    L.push(mdTable(profileRows(res.profile), ['r', 'r', 'l', 'l']), '');
  }
  return L.join('\n');
}

function writeBenchmarksMd(res) {
  const file = writeBenchmarksSection(SECTION, sectionMarkdown(res));
  log(`wrote the "${SECTION}" section of ${path.relative(process.cwd(), file)}`);
}

// ---- main ------------------------------------------------------------------------------------

async function main() {
  const o = parseArgs(process.argv.slice(2));
  if (o.from) {
    const res = JSON.parse(readFileSync(o.from, 'utf8'));
    if (!res.throughput && !res.idle) throw new Error(`${o.from} is not an RPC bench result (bench/out/rpc-results.json)`);
    printReport(res);
    if (o.write) writeBenchmarksMd(res);
    return;
  }
  const t0 = Date.now();
  const { tshark: _t, ...machine } = machineInfo();
  const res = { date: new Date().toISOString(), machine, options: o, targetsSpec: TARGETS, loadavgStart: os.loadavg() };
  cliSnap = await snapshot(CLI, 'main.js');
  const lib = await rpcLibrary();
  res.lib = lib;
  log(`RPC library: ${lib.how}`);
  try {
    let sambaInfo = null;
    if (o.samba) {
      log(`starting Samba (tools/peers/samba.sh start ${o.sambaDir})`);
      sambaInfo = await startSamba(o);
      if (sambaInfo.error) log(sambaInfo.error);
      else log(`Samba PID ${sambaInfo.pid} on ${SAMBA_HOST}:${EPM_PORT}${sambaInfo.wasRunning ? ' (already running: left running)' : ''}`);
    }
    res.samba = sambaInfo;
    res.mirror = await mirrorEndpoints(lib.path, sambaInfo);
    const server = await startServer(res.mirror.endpoints);
    res.server = { cmd: server.cmd };
    res.backlog = { dcomlab: listenBacklog(DCOMLAB_HOST, EPM_PORT), samba: sambaInfo && !sambaInfo.error ? listenBacklog(SAMBA_HOST, EPM_PORT) : null };
    log(`dcomlab serve PID ${server.pid} on ${DCOMLAB_HOST}:${EPM_PORT} (${res.mirror.endpoints.length} endpoints registered)`);
    try {
      log(`throughput: ${o.warmup} s warm-up + ${o.seconds} s per run`);
      res.throughput = await throughput(lib.path, o, server, sambaInfo);
    } finally {
      res.serverStop = await server.stop();
    }
    log(`idle connections: ${o.idle}, held ${o.hold} s`);
    res.idle = await idleRss(lib.path, o, res.mirror.endpoints, sambaInfo);
    res.targets = computeTargets(res);
    const missedSpeed = res.targets.some((t) => t.ok === false && t.target.startsWith('ept_map'));
    if (o.profile === true || (o.profile === null && missedSpeed)) {
      log('profiling the dcomlab server (--cpu-prof)');
      res.profile = await profileServer(lib.path, o, res.mirror.endpoints);
    }
  } finally {
    stopSamba();
  }
  res.benchSeconds = (Date.now() - t0) / 1000;
  res.loadavgEnd = os.loadavg();
  mkdirSync(OUT_DIR, { recursive: true });
  writeFileSync(path.join(OUT_DIR, 'rpc-results.json'), JSON.stringify(res, null, 2) + '\n');
  printReport(res);
  if (o.write) writeBenchmarksMd(res);
  const missed = res.targets.filter((t) => t.ok === false);
  if (missed.length) log(`${missed.length} target(s) missed: ${missed.map((t) => t.target).join('; ')}`);
}

main().catch((e) => {
  process.stderr.write(`bench rpc: ${e?.stack ?? e}\n`);
  cleanupSync();
  process.exitCode = 1;
});
