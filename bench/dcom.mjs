#!/usr/bin/env node
// dcomlab benchmarks (DCOM): full activations per second (connect, NTLM bind at PKT_PRIVACY,
// RemoteCreateInstance, exporter connect + bind, one Ping) by dcomlab's client and by Impacket's
// against the same dcomlab server in one run, and ICServer::Ping calls/s on one activated object
// at PKT_PRIVACY with 16 calls in flight.
//
//   node bench/dcom.mjs                 # run, print tables, write bench/out/dcom-results.json
//   node bench/dcom.mjs --write         # ... and rewrite the "## DCOM" section of BENCHMARKS.md
//
// Options: --write, --seconds S (measured time per dcomlab run, default 2), --warmup S (default
// 0.5), --rounds N (dcomlab runs per mode, interleaved, best kept, default 2), --inflight N (Ping
// calls in flight, default 16), --concurrency N (dcomlab activations in flight in the
// throughput run, default 16), --impacket-seconds S (measured time per Impacket run, default 3),
// --no-impacket, --release (each activation also releases its interface before closing: one
// more call), --profile / --no-profile (CPU profiles of server and client; by default only when
// a target is missed), --from RESULTS.json (no run: print, and with --write record, an earlier
// run's results).
// The other benches' options (--quick, --mb N, --runs N, --no-2x, --tshark-2x, --no-tshark-2x,
// --no-4x, --tshark-4x, --no-tshark-4x, --conns N, --idle N, --hold S, --no-samba,
// --samba-dir DIR, --size N, --impacket-procs N) are accepted and ignored, so that one command
// line (npm run bench -- ...) can feed every bench.
//
// The server is `node dist/cli/main.js serve --host 127.0.0.5 --resolver-port 135 --user
// 'LAB\alice:Secret1!' --log-level warn` in its own process (Impacket's DCOM client always dials
// port 135; Samba may hold 127.0.0.1:135); if 127.0.0.5:135 is taken (a test running alongside),
// the bench waits 30 s and tries again, up to 10 times. The dcomlab load is bench/dcom-load.mjs,
// another process; Impacket runs tools/peers/dcom_bench.py under /usr/bin/python3. So client and
// server never share an event loop, and each one's CPU time is measured apart. All traffic stays
// on loopback. Before the measured runs the server is warmed up (1 s of activations, 16 in flight,
// and 1 s of Pings; not counted), so that its JIT is not measured in the first round.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { pathToFileURL } from 'node:url';
import { CLK_TCK, BENCH_DIR, CLI, OUT_DIR, ROOT, fmtInt, fmtNum, killChildren, machineInfo, mdTable, passMiss, runResultChild, spawnTracked, textTable, writeBenchmarksSection, cpuMs, machineBusyMs, stopChildrenOnSignals, printHeaderHelp } from './lib.mjs';
import { summariseProfile } from './profile.mjs';

const SECTION = '## DCOM';
const TARGETS = { activationMedianMs: 5, pingCallsPerSec: 10000 };
const HOST = '127.0.0.5';
const RESOLVER_PORT = 135;
const USER = 'LAB\\alice:Secret1!';
const LEVEL = 6; // RPC_C_AUTHN_LEVEL_PKT_PRIVACY
const LOAD = path.join(BENCH_DIR, 'dcom-load.mjs');
const PEER = path.join(ROOT, 'tools', 'peers', 'dcom_bench.py');
const PYTHON = '/usr/bin/python3';
const SERVE_ARGS = ['serve', '--host', HOST, '--resolver-port', String(RESOLVER_PORT), '--user', USER, '--log-level', 'warn'];
const SERVE_CMD = `node dist/cli/main.js serve --host ${HOST} --resolver-port ${RESOLVER_PORT} --user '${USER}' --log-level warn`;
const BUSY_RETRIES = 10;
const BUSY_WAIT_MS = 30_000;

const log = (s) => process.stderr.write(`[bench dcom] ${s}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function parseArgs(argv) {
  const o = {
    write: false, seconds: 2, warmup: 0.5, rounds: 2, inflight: 16, concurrency: 16, impacketSeconds: 3,
    impacket: true, release: false, profile: null, from: null,
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
    else if (a === '--inflight') o.inflight = Math.round(num());
    else if (a === '--concurrency') o.concurrency = Math.round(num());
    else if (a === '--impacket-seconds') o.impacketSeconds = num();
    else if (a === '--no-impacket') o.impacket = false;
    else if (a === '--release') o.release = true;
    else if (a === '--profile') o.profile = true;
    else if (a === '--no-profile') o.profile = false;
    else if (a === '--from') o.from = argv[++i];
    // Other benches' options, when one command line feeds them all (npm run bench -- ...).
    else if (['--quick', '--no-2x', '--tshark-2x', '--no-tshark-2x', '--no-4x', '--tshark-4x', '--no-tshark-4x', '--no-samba'].includes(a)) continue;
    else if (['--mb', '--runs', '--conns', '--idle', '--hold', '--samba-dir', '--size', '--impacket-procs'].includes(a)) i++;
    else if (a === '-h' || a === '--help') printHeaderHelp(import.meta.url);
    else throw new Error(`unknown option ${a}`);
  }
  return o;
}

// ---- the library -----------------------------------------------------------------------------

/**
 * Copy a built bundle and its source map into bench/out/dcom-snap/, the map's sources made
 * absolute: other work may rebuild dist/ (tsup cleans it) while this bench runs, and every
 * process of one run must run the same build. Waits up to 60 s for a rebuild to finish.
 */
async function snapshot(src, name, check) {
  const dir = path.join(OUT_DIR, 'dcom-snap');
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
      if (check) await check(dst);
      return dst;
    } catch (e) {
      if (i >= 120) throw new Error(`cannot use ${path.relative(ROOT, src)} (and its .map): ${e.message}; run npm run build first`);
      await sleep(500);
    }
  }
}

async function snapshotLib() {
  return snapshot(path.join(ROOT, 'dist', 'index.js'), 'index.js', async (dst) => {
    const m = await import(`${pathToFileURL(dst).href}?t=${Date.now()}`);
    const d = m.dcom;
    if (!d?.DcomClient || !d.ICServer || !d.CLSID_CServer || !d.IID_ICServer) throw new Error('dist/index.js does not export dcom.DcomClient, ICServer, CLSID_CServer, IID_ICServer');
  });
}

// ---- processes -------------------------------------------------------------------------------

function cleanupSync() {
  killChildren();
}
stopChildrenOnSignals(log, cleanupSync);

class PortBusy extends Error {}

/** `dcomlab serve` on 127.0.0.5:135 (one try); resolves once both listeners are up. */
async function startServerOnce(cli, { cpuProfDir } = {}) {
  const args = [...(cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', cpuProfDir] : []), cli, ...SERVE_ARGS];
  const child = spawnTracked(process.execPath, args, { env: { ...process.env, DCOMLAB_REPORT_RSS: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (s) => {
    if (stderr.length < 65536) stderr += s;
  });
  const exited = new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
  const rl = readline.createInterface({ input: child.stdout });
  const exporter = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`dcomlab serve did not start in 15 s: ${stderr.slice(0, 500)}`));
    }, 15_000);
    rl.on('line', (l) => {
      const m = /object exporter listening on (\S+):(\d+) \(OXID (0x[0-9a-f]+)/i.exec(l);
      if (m) {
        clearTimeout(timer);
        resolve({ host: m[1], port: Number(m[2]), oxid: m[3] });
      }
    });
    void exited.then((x) => {
      clearTimeout(timer);
      const msg = `dcomlab serve exited (${x.code ?? x.signal}) before listening: ${stderr.trim().slice(0, 500)}`;
      reject(/already in use|EADDRINUSE/.test(stderr) ? new PortBusy(msg) : new Error(msg));
    });
  });
  return {
    pid: child.pid,
    exporter,
    /** SIGTERM (graceful), then its own peak RSS report. */
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

/** startServerOnce, waiting 30 s and trying again (up to 10 times) while 127.0.0.5:135 is taken. */
async function startServer(cli, opts) {
  for (let i = 0; ; i++) {
    try {
      return await startServerOnce(cli, opts);
    } catch (e) {
      if (!(e instanceof PortBusy) || i >= BUSY_RETRIES) throw e;
      log(`${HOST}:${RESOLVER_PORT} is in use (a test running alongside?): waiting ${BUSY_WAIT_MS / 1000} s (retry ${i + 1} of ${BUSY_RETRIES})`);
      await sleep(BUSY_WAIT_MS);
    }
  }
}

function runLoad(lib, cfg, { onLine, nodeArgs = [] } = {}) {
  return runResultChild(process.execPath, [...nodeArgs, LOAD, JSON.stringify({ lib, host: HOST, resolverPort: RESOLVER_PORT, level: LEVEL, ...cfg })], onLine);
}

/** Samples the server's and the machine's CPU time on a child's "phase measure-start/end" lines. */
function windowSampler(server) {
  const s = { c0: null, c1: null, m0: null, m1: null };
  s.onLine = (l) => {
    if (l === 'phase measure-start') {
      s.c0 = cpuMs(server.pid);
      s.m0 = machineBusyMs();
    } else if (l === 'phase measure-end') {
      s.c1 = cpuMs(server.pid);
      s.m1 = machineBusyMs();
    }
  };
  s.apply = (r) => {
    if (s.c0 !== null && s.c1 !== null && r.count > 0) {
      r.serverCpuMs = s.c1 - s.c0;
      r.serverCpuUsPerOp = ((s.c1 - s.c0) * 1000) / r.count;
      r.serverCpuShare = (s.c1 - s.c0) / r.elapsedMs;
    }
    if (r.count > 0) {
      r.clientCpuUsPerOp = (r.clientCpuMs * 1000) / r.count;
      r.clientCpuShare = r.clientCpuMs / r.elapsedMs;
    }
    if (s.m0 != null && s.m1 != null && r.serverCpuMs != null && r.elapsedMs) {
      r.otherCpuShare = Math.max(0, (s.m1 - s.m0 - r.serverCpuMs - r.clientCpuMs) / r.elapsedMs);
    }
    return r;
  };
  return s;
}

/** A dcomlab load run with the server's CPU time sampled over the measured window. */
async function timedLoad(lib, o, server, cfg, nodeArgs = []) {
  const w = windowSampler(server);
  const r = await runLoad(lib, { warmupMs: o.warmup * 1000, durationMs: o.seconds * 1000, ...cfg }, { nodeArgs, onLine: w.onLine });
  return w.apply(r);
}

// ---- Impacket --------------------------------------------------------------------------------

function impacketVersion() {
  try {
    return execFileSync(PYTHON, ['-c', 'import impacket.version as v; print(v.version)'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

/** One tools/peers/dcom_bench.py process, the server's CPU sampled over its measured window. */
async function impacketRun(o, server, { nodelay }) {
  const args = [PEER, '--target', HOST, '--user', 'alice', '--domain', 'LAB', '--password', 'Secret1!', '--level', 'privacy',
    '--exporter-level', 'privacy', '--seconds', String(o.impacketSeconds), '--warmup', String(o.warmup),
    ...(nodelay ? ['--nodelay'] : []), ...(o.release ? ['--release'] : [])];
  const w = windowSampler(server);
  const r = await runResultChild(PYTHON, args, w.onLine);
  r.args = args.slice(1).join(' ');
  return w.apply(r);
}

// ---- the phases ------------------------------------------------------------------------------

function dcomlabModes(o) {
  return [
    { key: 'actSeq', kind: 'activation', label: 'dcomlab, 1 at a time', cfg: { mode: 'activate', concurrency: 1, release: o.release } },
    { key: 'ping16', kind: 'ping', label: `Ping, ${o.inflight} in flight`, cfg: { mode: 'ping', inflight: o.inflight } },
    { key: 'actConc', kind: 'activation', label: `dcomlab, ${o.concurrency} in flight`, cfg: { mode: 'activate', concurrency: o.concurrency, release: o.release } },
    { key: 'ping1', kind: 'ping', label: 'Ping, 1 in flight', cfg: { mode: 'ping', inflight: 1 } },
  ];
}

function impacketModes() {
  return [
    { key: 'imp', kind: 'activation', label: 'Impacket, 1 at a time (as it is: Nagle on)', nodelay: false },
    { key: 'impNoDelay', kind: 'activation', label: 'Impacket, 1 at a time, TCP_NODELAY set', nodelay: true },
  ];
}

const describe = (r) => r.ok
  ? `${fmtInt(r.perSec)}/s, p50 ${ms(r.latencyMs?.p50)} p90 ${ms(r.latencyMs?.p90)} p99 ${ms(r.latencyMs?.p99)} ms (server ${fmtNum(r.serverCpuUsPerOp)} µs CPU each, client ${fmtNum(r.clientCpuUsPerOp)}; other load ${fmtNum(r.otherCpuShare, 2)} CPU)`
  : `FAILED: ${r.error ?? r.firstError}`;

/** dcomlab's modes for `o.rounds` rounds, interleaved; Impacket's runs once each, after the first round. */
async function runAll(lib, o, server, withImpacket) {
  const modes = dcomlabModes(o);
  const runs = new Map(modes.map((m) => [m.key, []]));
  const imp = [];
  // The server's own warm-up (its JIT), not counted: 1 s of activations, many in flight, then 1 s of Pings.
  const warm = [];
  for (const key of ['actConc', 'ping16']) {
    const m = modes.find((x) => x.key === key);
    const r = await timedLoad(lib, { ...o, seconds: 1 }, server, m.cfg);
    warm.push({ key, perSec: r.ok ? r.perSec : null, error: r.ok ? undefined : r.error ?? r.firstError });
    log(`  server warm-up (not counted): ${m.label}: ${describe(r)}`);
  }
  for (let round = 0; round < o.rounds; round++) {
    for (const m of modes) {
      const r = await timedLoad(lib, o, server, m.cfg);
      runs.get(m.key).push(r);
      log(`  round ${round + 1}: ${m.label}: ${describe(r)}`);
    }
    if (round === 0 && withImpacket) {
      for (const m of impacketModes()) {
        const r = await impacketRun(o, server, m);
        imp.push({ ...m, client: 'impacket', r, runs: [r.ok ? r.perSec : null] });
        log(`  ${m.label}: ${describe(r)}`);
      }
    }
  }
  const dc = modes.map((m) => {
    const all = runs.get(m.key);
    const ok = all.filter((r) => r.ok);
    const r = ok.length ? ok.reduce((a, b) => (b.perSec > a.perSec ? b : a)) : all[0];
    return { ...m, client: 'dcomlab', r, runs: all.map((x) => (x.ok ? x.perSec : null)), mediansMs: all.map((x) => x.latencyMs?.p50 ?? null) };
  });
  return {
    serverWarmup: warm,
    activations: [...dc.filter((x) => x.kind === 'activation'), ...imp],
    pings: dc.filter((x) => x.kind === 'ping'),
  };
}

// ---- profiles --------------------------------------------------------------------------------

/**
 * A copy of a .cpuprofile whose samples are moved to the innermost frame of the library bundle
 * (`libUrl`) on their stack, when there is one: summariseProfile then reports, per src/
 * function, its self time plus the time of the Node and native code it called.
 */
function attributeToLibrary(profile, libUrl) {
  const parent = new Map();
  const byId = new Map();
  for (const n of profile.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const memo = new Map();
  const owner = (id) => {
    if (memo.has(id)) return memo.get(id);
    let cur = id;
    while (cur !== undefined && byId.get(cur).callFrame.url !== libUrl) cur = parent.get(cur);
    const r = cur ?? id;
    memo.set(id, r);
    return r;
  };
  return { ...profile, samples: profile.samples.map(owner) };
}

function summariseDir(dir, libFile) {
  if (!existsSync(dir)) return null;
  const f = readdirSync(dir).find((n) => n.endsWith('.cpuprofile'));
  if (!f) return null;
  const profile = JSON.parse(readFileSync(path.join(dir, f), 'utf8'));
  const s = summariseProfile(profile, { top: 100000 });
  const a = summariseProfile(attributeToLibrary(profile, pathToFileURL(libFile).href), { top: 100000 });
  const busy = s.top.filter((x) => x.fn !== '(idle)');
  const busyMs = busy.reduce((acc, x) => acc + x.selfMs, 0);
  const pct = (x) => Math.round((x.selfMs / busyMs) * 1000) / 10;
  const bySrcFile = new Map();
  for (const x of busy) {
    if (!x.where.startsWith('src/')) continue;
    const file = x.where.replace(/:\d+$/, '');
    bySrcFile.set(file, (bySrcFile.get(file) ?? 0) + x.selfMs);
  }
  return {
    profile: path.relative(ROOT, path.join(dir, f)), totalMs: s.totalMs, busyMs,
    top: busy.slice(0, 12).map((x) => ({ ...x, pctBusy: pct(x) })),
    // Each sample charged to the innermost library (src/) function on its stack: its own time
    // plus the Node and native work it called (Buffer allocation, crypto, socket writes).
    topSrcInclNative: a.top.filter((x) => x.fn !== '(idle)' && x.where.startsWith('src/')).slice(0, 10).map((x) => ({ ...x, pctBusy: pct(x) })),
    srcFiles: [...bySrcFile].sort((x, y) => y[1] - x[1]).slice(0, 8).map(([file, t]) => ({ file, selfMs: Math.round(t * 10) / 10, pctBusy: Math.round((t / busyMs) * 1000) / 10 })),
  };
}

/** CPU profiles of a fresh server and of the dcomlab client under one load. */
async function profileRun(lib, cli, o, what) {
  const dir = path.join(OUT_DIR, 'dcom-prof', what.key);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(path.join(dir, 'server'), { recursive: true });
  mkdirSync(path.join(dir, 'client'), { recursive: true });
  const server = await startServer(cli, { cpuProfDir: path.join(dir, 'server') });
  let r;
  try {
    r = await timedLoad(lib, o, server, what.cfg, ['--cpu-prof', '--cpu-prof-dir', path.join(dir, 'client')]);
  } finally {
    await server.stop();
  }
  return { key: what.key, label: what.label, perSec: r.perSec, ok: r.ok, server: summariseDir(path.join(dir, 'server'), cli), client: summariseDir(path.join(dir, 'client'), lib) };
}

// ---- targets and report --------------------------------------------------------------------

/** A warning when other work took a noticeable share of the CPUs during the run a figure comes from. */
function busyNote(r) {
  const other = r?.otherCpuShare ?? 0;
  return other > 0.25 ? `; other work used ${other.toFixed(2)} CPU during this run: not an idle machine` : '';
}

function computeTargets(res) {
  const t = [];
  const seq = res.activations?.find((x) => x.key === 'actSeq');
  if (seq) {
    const med = seq.r.latencyMs?.p50;
    t.push({
      key: 'activation',
      target: `full activation median < ${TARGETS.activationMedianMs} ms (dcomlab client, 1 at a time, PKT_PRIVACY)`,
      measured: seq.r.ok ? `${ms(med)} ms (p90 ${ms(seq.r.latencyMs.p90)}, p99 ${ms(seq.r.latencyMs.p99)}; ${fmtInt(seq.r.perSec)} activations/s)` : `failed: ${seq.r.error ?? seq.r.firstError}`,
      ok: seq.r.ok ? med < TARGETS.activationMedianMs : false,
      note: seq.r.ok ? `${Math.round((med / TARGETS.activationMedianMs) * 100)}% of the limit${busyNote(seq.r)}` : '',
    });
  }
  const p = res.pings?.find((x) => x.key === 'ping16');
  if (p) {
    t.push({
      key: 'ping',
      target: `Ping >= ${fmtInt(TARGETS.pingCallsPerSec)} calls/s (one object, PKT_PRIVACY, ${p.cfg.inflight} in flight)`,
      measured: p.r.ok ? `${fmtInt(p.r.perSec)} calls/s` : `failed: ${p.r.error ?? p.r.firstError}`,
      ok: p.r.ok ? p.r.perSec >= TARGETS.pingCallsPerSec : false,
      note: p.r.ok ? `${Math.round((p.r.perSec / TARGETS.pingCallsPerSec) * 100)}% of target${busyNote(p.r)}` : '',
    });
  }
  return t;
}

const ms = (x) => (x == null ? '—' : x < 1 ? x.toFixed(3) : x.toFixed(2));
const cpus = (x) => (x == null ? '—' : x.toFixed(2));
const cpuUse = (r) => `${cpus(r.serverCpuShare)} / ${cpus(r.clientCpuShare)} / ${cpus(r.otherCpuShare)}`;

function targetRows(res) {
  return [['target', 'measured', 'result', ''], ...res.targets.map((t) => [t.target, t.measured, passMiss(t.ok), t.note])];
}

function activationRows(res) {
  const rows = [['client and mode', 'activations/s', 'median ms', 'p90 ms', 'p99 ms', 'measured', 'server CPU µs/activation', 'client CPU µs/activation', 'CPU use: server / client / other']];
  for (const a of res.activations) {
    const r = a.r;
    const l = r.latencyMs ?? {};
    rows.push([
      a.label,
      r.ok ? fmtInt(r.perSec) : `failed${r.error || r.firstError ? `: ${String(r.error ?? r.firstError).slice(0, 80)}` : ''}`,
      r.ok ? ms(l.p50) : '—',
      r.ok ? ms(l.p90) : '—',
      r.ok ? ms(l.p99) : '—',
      r.ok ? fmtInt(r.count) : '—',
      r.ok ? fmtInt(r.serverCpuUsPerOp) : '—',
      r.ok ? fmtInt(r.clientCpuUsPerOp) : '—',
      r.ok ? cpuUse(r) : '—',
    ]);
  }
  return rows;
}

function pingRows(res) {
  const rows = [['calls in flight', 'calls/s', 'p50 ms', 'p90 ms', 'p99 ms', 'server CPU µs/call', 'client CPU µs/call', 'CPU use: server / client / other']];
  for (const p of res.pings) {
    const r = p.r;
    const l = r.latencyMs ?? {};
    rows.push([
      `${p.cfg.inflight}`,
      r.ok ? fmtInt(r.perSec) : `failed${r.error || r.firstError ? `: ${String(r.error ?? r.firstError).slice(0, 80)}` : ''}`,
      r.ok ? ms(l.p50) : '—',
      r.ok ? ms(l.p90) : '—',
      r.ok ? ms(l.p99) : '—',
      r.ok ? fmtNum(r.serverCpuUsPerOp) : '—',
      r.ok ? fmtNum(r.clientCpuUsPerOp) : '—',
      r.ok ? cpuUse(r) : '—',
    ]);
  }
  return rows;
}

function profTopRows(p, which = 'top') {
  return [['self ms', '% of busy', 'function', 'where'], ...p[which].map((r) => [r.selfMs.toFixed(1), r.pctBusy.toFixed(1), r.fn, r.where])];
}

function runsLine(res) {
  const multi = [...(res.activations ?? []), ...(res.pings ?? [])].filter((x) => x.client === 'dcomlab' && x.runs?.length > 1);
  if (!multi.length) return null;
  return multi.map((x) => `${x.kind === 'ping' ? x.label : `activations ${x.label.replace(/^dcomlab, /, '')}`}: ${x.runs.map((v, i) => (v == null ? 'failed' : `${fmtInt(v)}/s${x.kind === 'activation' ? ` (median ${ms(x.mediansMs[i])} ms)` : ''}`)).join(', ')}`).join('; ');
}

function comparisonLine(res) {
  const d = res.activations?.find((x) => x.key === 'actSeq')?.r;
  const i = res.activations?.find((x) => x.key === 'imp')?.r;
  const n = res.activations?.find((x) => x.key === 'impNoDelay')?.r;
  if (!d?.ok || !(i?.ok || n?.ok)) return null;
  const parts = [];
  if (i?.ok) parts.push(`${(i.latencyMs.p50 / d.latencyMs.p50).toFixed(1)}x as it is (${ms(i.latencyMs.p50)} ms)`);
  if (n?.ok) parts.push(`${(n.latencyMs.p50 / d.latencyMs.p50).toFixed(1)}x with TCP_NODELAY (${ms(n.latencyMs.p50)} ms)`);
  let s = `One at a time, Impacket's median activation is ${parts.join(' and ')} dcomlab's (${ms(d.latencyMs.p50)} ms)`;
  if (n?.ok && n.serverCpuUsPerOp != null && d.serverCpuUsPerOp != null) {
    s += `; the server spends ${fmtInt(d.serverCpuUsPerOp)} µs of CPU on each of dcomlab's activations and ${fmtInt(n.serverCpuUsPerOp)} µs on each of Impacket's, while the clients spend ${fmtInt(d.clientCpuUsPerOp)} µs (dcomlab) and ${fmtInt(n.clientCpuUsPerOp)} µs (Impacket, TCP_NODELAY)`;
  }
  return `${s}.`;
}

function printReport(res) {
  const w = (s = '') => process.stdout.write(s + '\n');
  const mi = res.machine;
  const o = res.options;
  w(`DCOM bench, ${res.date}: ${mi.nproc} CPUs, ${mi.cpu}, Node ${mi.node}; peer Impacket ${res.impacketVersion ?? 'not run'}`);
  w();
  w(textTable(targetRows(res)));
  if (res.activations) {
    w();
    w(`Full activations at PKT_PRIVACY against ${SERVE_CMD} (${o.warmup} s warm-up, then ${o.seconds} s measured per dcomlab run, best of ${o.rounds}; ${o.impacketSeconds} s per Impacket run):`);
    w(textTable(activationRows(res)));
    const c = comparisonLine(res);
    if (c) w(c);
  }
  if (res.pings) {
    w();
    w(`ICServer::Ping on one activated object, one exporter connection at PKT_PRIVACY (${o.warmup} s warm-up, then ${o.seconds} s measured, best of ${o.rounds}):`);
    w(textTable(pingRows(res)));
  }
  const runs = runsLine(res);
  if (runs) w(`Runs: ${runs}.`);
  for (const p of res.profiles ?? []) {
    for (const side of ['server', 'client']) {
      const s = p[side];
      if (!s) continue;
      w();
      w(`${side} CPU profile under "${p.label}" (${fmtInt(p.perSec)}/s while profiled), busy ${fmtInt(s.busyMs)} of ${fmtInt(s.totalMs)} ms; top self time:`);
      w(textTable(profTopRows(s, 'top')));
      w('src/ functions with the Node/native work they call:');
      w(textTable(profTopRows(s, 'topSrcInclNative')));
    }
  }
}

function sectionMarkdown(res) {
  const mi = res.machine;
  const o = res.options;
  const L = [SECTION, ''];
  L.push(`Written by \`node bench/dcom.mjs${res.argv?.length ? ` ${res.argv.join(' ')}` : ''}\` from the run of ${res.date}; do not edit by hand.`, '');
  L.push(`- Machine: ${mi.nproc} CPUs (\`nproc\`), ${mi.cpu}, ${mi.memGiB} GiB RAM, ${mi.os}`);
  L.push(`- Node ${mi.node}; peer: Impacket ${res.impacketVersion ?? 'not run'} (\`${PYTHON}\`, ${res.pythonVersion ?? '?'})`);
  L.push(`- Load average (1/5/15 min) at start ${res.loadavgStart.map((x) => x.toFixed(2)).join(' ')}, at end ${res.loadavgEnd.map((x) => x.toFixed(2)).join(' ')}; bench run took ${Math.round(res.benchSeconds)} s`);
  L.push(`- Server: \`${SERVE_CMD}\` (object exporter on ${res.server?.exporter ? `${res.server.exporter.host}:${res.server.exporter.port}` : '?'}, authnHint 4); peak RSS ${res.serverStop?.maxRssKb ? `${((res.serverStop.maxRssKb * 1024) / 1e6).toFixed(1)} MB` : '—'} over the whole run (its own maxRSS at exit)`);
  L.push(`- Library: dist/index.js and dist/cli/main.js (copied to bench/out/dcom-snap/ at the start, so that every process runs the same build)`, '');
  L.push('### Targets', '');
  L.push(mdTable(targetRows(res), ['l', 'l', 'l', 'l']), '');
  const missed = res.targets.filter((t) => t.ok === false);
  if (missed.length) L.push(`Missed: ${missed.map((t) => t.target).join('; ')}.`, '');
  L.push(
    `Setup: the server is \`${SERVE_CMD}\` (dcomlab's DCOM server: endpoint mapper, OXID resolver and activators on ${HOST}:${RESOLVER_PORT}, the lab class CServer on an object exporter, one account LAB\\alice) in its own process, the same process for every run below. ` +
      `The dcomlab client runs in other Node processes (\`bench/dcom-load.mjs\`, one per run), Impacket in \`${PYTHON}\` processes (\`tools/peers/dcom_bench.py\`), so client and server never share an event loop. ` +
      `Server CPU = user + sys of the server process over the measured window (/proc/PID/stat); client CPU from the client process. "CPU use" = CPU time / wall time in CPUs (1.00 = one CPU busy all the time); "other" = the machine's busy time (/proc/stat) minus server and client, i.e. whatever else ran meanwhile. ` +
      `Latencies are of the operations completed in the measured window; with fewer than 100 of them, p99 is the slowest.`,
    '',
  );
  if (res.activations) {
    L.push('### Full activations', '');
    L.push(
      `One full activation, timed from start to end, everything at PKT_PRIVACY (NTLMv2 as LAB\\alice, 128-bit keys, every request and response sealed): TCP connect to ${HOST}:${RESOLVER_PORT}; NTLM bind of IRemoteSCMActivator (bind, bind_ack, auth3); RemoteCreateInstance(CLSID_CServer, [IID_ICServer]); ` +
        `TCP connect to the exporter's string binding and NTLM bind of ICServer there; one ICServer::Ping (opnum 4) whose echo and HRESULT are checked; ${o.release ? 'IRemUnknown::RemRelease of the interface; ' : ''}both connections closed. A fresh connection and NTLM handshake every time, ${o.release ? 'the interface released before closing' : 'no RemRelease (the server collects the objects after 3 ping periods)'}, no pinging. ` +
        `dcomlab: \`new dcom.DcomClient({ auth: { credentials, level: 6 }, resolverPort: 135, noPing: true })\`, \`activate('${HOST}', CLSID_CServer, [IID_ICServer])\`, \`iface.call(ICServer, 'Ping', ...)\`, ${o.release ? '`iface.release()`, ' : ''}\`close()\`; the exporter is bound at max(client level, authnHint 4) = PKT_PRIVACY. ` +
        `Impacket (${res.impacketVersion ?? '?'}): \`DCOMConnection('${HOST}', 'alice', 'Secret1!', 'LAB', authLevel=RPC_C_AUTHN_LEVEL_PKT_PRIVACY, oxidResolver=False)\`, \`CoCreateInstanceEx(CLSID_CServer, IID_ICServer)\`, Ping with the request class of \`tools/peers/dcom_lab_client.py\`, then the exporter connection and \`DCOMConnection.disconnect()\`. ` +
        `Impacket would bind the exporter at the authnHint, which its \`CLASS_INSTANCE.get_auth_level()\` turns into PKT_INTEGRITY for NTLM; the bench sets the class instance's level to PKT_PRIVACY before the Ping, so both clients do the same work. ` +
        `\`oxidResolver=False\` keeps Impacket's keep-alive timer (\`DCOMConnection.PINGTIMER\`, a 120 s \`threading.Timer\`) from ever starting (checked: ${res.activations.filter((x) => x.client === 'impacket').map((x) => (x.r.pingTimerStarted === false ? 'not started' : x.r.pingTimerStarted ? 'started' : '?')).join(', ') || '—'}), and Impacket's per-target bookkeeping is cleared after each activation. ` +
        `Impacket leaves Nagle's algorithm on: each of its two binds ends with an auth3 (no answer) followed at once by a request, which the kernel holds until the server's delayed ACK of the auth3 (about 40 ms on Linux), so it is run as it is and with TCP_NODELAY set on its sockets (dcomlab sets TCP_NODELAY on both sides). ` +
        `All clients make one activation at a time, except dcomlab's ${o.concurrency}-in-flight throughput run (${o.concurrency} loops in one process). Before the measured runs, the server is warmed up (its JIT) by ${o.warmup + 1} s of dcomlab's ${o.concurrency}-in-flight activations and ${o.warmup + 1} s of Pings, not counted. Then each run: ${o.warmup} s warm-up, then the activations completed in ${o.seconds} s (dcomlab, best of ${o.rounds} runs, modes interleaved) or ${o.impacketSeconds} s (Impacket, one run each, between dcomlab's first and second rounds); every run starts with one checked activation.`,
      '',
    );
    L.push(mdTable(activationRows(res), ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r']), '');
    const c = comparisonLine(res);
    if (c) L.push(c, '');
  }
  if (res.pings) {
    L.push('### Ping calls per second', '');
    L.push(
      `One dcomlab client, one activation (as above), then N callers keep \`iface.call(ICServer, 'Ping', { value })\` outstanding on its single exporter connection (PKT_PRIVACY: every request and response sealed and signed), each checking the echo and the HRESULT before its next call; ` +
        `${o.warmup} s warm-up, then the calls completed in ${o.seconds} s; best of ${o.rounds} runs, interleaved with the activation runs. 1 in flight is given for context (one round trip at a time).`,
      '',
    );
    L.push(mdTable(pingRows(res), ['r', 'r', 'r', 'r', 'r', 'r', 'r', 'r']), '');
  }
  const runs = runsLine(res);
  if (runs) L.push(`dcomlab runs: ${runs} (best kept).`, '');
  const errs = [...(res.activations ?? []), ...(res.pings ?? [])].filter((x) => x.r.errors).map((x) => `${x.label}: ${x.r.errors} errors (${x.r.firstError})`);
  if (errs.length) L.push(`Errors: ${errs.join('; ')}.`, '');
  if (res.profiles?.length) {
    L.push('### Where the time goes', '');
    L.push(
      `Recorded because a target was missed (or \`--profile\`): a fresh server under \`node --cpu-prof\` and the dcomlab client under \`node --cpu-prof\`, one run each of the loads below. Self time per function, mapped to src/ through the bundles' source maps; "% of busy" is of the process's non-idle samples (\`(garbage collector)\` and \`(program)\` are V8's own; entries without a place are native code, \`writeBuffer\` is the socket write).`,
      '',
    );
    for (const p of res.profiles) {
      for (const side of ['server', 'client']) {
        const s = p[side];
        if (!s) continue;
        L.push(`**${side === 'server' ? 'Server' : 'Client'}, ${p.label}** (${fmtInt(p.perSec)}/s while profiled; busy ${fmtInt(s.busyMs)} of ${fmtInt(s.totalMs)} ms; \`${s.profile}\`). Top self time overall:`, '');
        L.push(mdTable(profTopRows(s, 'top'), ['r', 'r', 'l', 'l']), '');
        L.push('src/ functions, each charged with its own time plus the Node and native code it calls:', '');
        L.push(mdTable(profTopRows(s, 'topSrcInclNative'), ['r', 'r', 'l', 'l']), '');
        L.push(`Self time by src/ file: ${s.srcFiles.map((f) => `${f.file} ${f.pctBusy}%`).join(', ')}.`, '');
      }
    }
  }
  return L.join('\n');
}

function writeBenchmarksMd(res) {
  const file = writeBenchmarksSection(SECTION, sectionMarkdown(res));
  log(`wrote the "${SECTION}" section of ${path.relative(process.cwd(), file)}`);
}

// ---- main ------------------------------------------------------------------------------------

async function main() {
  const argv = process.argv.slice(2);
  const o = parseArgs(argv);
  if (o.from) {
    const res = JSON.parse(readFileSync(o.from, 'utf8'));
    if (!res.activations && !res.pings) throw new Error(`${o.from} is not a DCOM bench result (bench/out/dcom-results.json)`);
    printReport(res);
    if (o.write) writeBenchmarksMd(res);
    return;
  }
  const t0 = Date.now();
  const { tshark: _t, ...machine } = machineInfo();
  const res = { date: new Date().toISOString(), argv, machine, options: o, targetsSpec: TARGETS, loadavgStart: os.loadavg() };
  const lib = await snapshotLib();
  const cli = await snapshot(CLI, 'main.js');
  let withImpacket = false;
  if (o.impacket) {
    res.impacketVersion = impacketVersion();
    try {
      res.pythonVersion = execFileSync(PYTHON, ['--version'], { encoding: 'utf8' }).trim();
    } catch {}
    if (!res.impacketVersion) log(`Impacket not importable by ${PYTHON}: its runs are skipped`);
    withImpacket = !!res.impacketVersion;
  }
  const server = await startServer(cli);
  res.server = { pid: server.pid, exporter: server.exporter };
  log(`dcomlab serve PID ${server.pid} on ${HOST}:${RESOLVER_PORT}, object exporter on ${server.exporter.host}:${server.exporter.port}`);
  try {
    log(`${o.rounds} rounds of ${o.warmup} s warm-up + ${o.seconds} s per dcomlab run; Impacket ${o.impacketSeconds} s per run`);
    Object.assign(res, await runAll(lib, o, server, withImpacket));
  } finally {
    res.serverStop = await server.stop();
  }
  res.targets = computeTargets(res);
  const missed = new Set(res.targets.filter((t) => t.ok === false).map((t) => t.key));
  const prof = [];
  const modes = dcomlabModes(o);
  if (o.profile === true || (o.profile === null && missed.has('activation'))) {
    const m = modes.find((x) => x.key === 'actSeq');
    prof.push({ key: 'activation', label: 'full activations, 1 at a time', cfg: m.cfg });
  }
  if (o.profile === true || (o.profile === null && missed.has('ping'))) {
    const m = modes.find((x) => x.key === 'ping16');
    prof.push({ key: 'ping', label: `Ping, ${o.inflight} in flight`, cfg: m.cfg });
  }
  if (prof.length) {
    res.profiles = [];
    for (const p of prof) {
      log(`profiling server and client: ${p.label}`);
      res.profiles.push(await profileRun(lib, cli, o, p));
    }
  }
  res.benchSeconds = (Date.now() - t0) / 1000;
  res.loadavgEnd = os.loadavg();
  mkdirSync(OUT_DIR, { recursive: true });
  writeFileSync(path.join(OUT_DIR, 'dcom-results.json'), JSON.stringify(res, null, 2) + '\n');
  printReport(res);
  if (o.write) writeBenchmarksMd(res);
  const m = res.targets.filter((t) => t.ok === false);
  if (m.length) log(`${m.length} target(s) missed: ${m.map((t) => t.target).join('; ')}`);
}

main().catch((e) => {
  process.stderr.write(`bench dcom: ${e?.stack ?? e}\n`);
  cleanupSync();
  process.exitCode = 1;
});
