#!/usr/bin/env node
// dcomlab benchmarks (authentication, issue "NTLMSSP and SPNEGO at every authentication
// level"): bulk throughput of 64 KiB calls at NONE, PKT_INTEGRITY and PKT_PRIVACY in one run
// (dcomlab client <-> dcomlab server), and NTLM handshakes (connect + bind + auth3) per second
// from dcomlab's client and from Impacket's, against the same dcomlab server.
//
//   node bench/auth.mjs                 # run, print tables, write bench/out/auth-results.json
//   node bench/auth.mjs --write         # ... and rewrite the "## Authentication" section of BENCHMARKS.md
//
// Options: --write, --seconds S (measured time per run, default 3), --warmup S (default 1),
// --rounds N (bulk runs per level, interleaved, best kept, default 3; the dcomlab handshake
// runs with 16 in flight get min(N, 2)), --inflight N (bulk: Echo calls in flight on the one
// connection, default 4), --size BYTES (bulk payload, default 65536),
// --concurrency N (dcomlab handshakes in flight, default 16), --impacket-procs N (parallel
// Impacket processes, default nproc; 1 = the single-process run only), --no-impacket,
// --profile / --no-profile (CPU profiles of server and client; by default only when a target is
// missed), --from RESULTS.json (no run: print, and with --write record, an earlier run's results).
// The other benches' options (--quick, --mb N, --runs N, --conns N, --idle N, --hold S,
// --no-samba, --samba-dir DIR, --no-2x, --tshark-2x, --no-tshark-2x) are accepted and ignored,
// so that one command line (npm run bench -- ...) can feed every bench.
//
// The server is bench/auth-server.mjs (dcomlab's RpcServer with NTLM and SPNEGO acceptors, one
// account LAB\alice, the AuthBench interface of bench/auth-iface.mjs) in its own process on
// 127.0.0.1, any free port; the dcomlab load is bench/auth-load.mjs, another process; Impacket
// runs as /usr/bin/python3 processes. So client and server never share an event loop, and each
// one's CPU time is measured apart. All traffic stays on loopback.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { pathToFileURL } from 'node:url';
import { CLK_TCK, BENCH_DIR, OUT_DIR, ROOT, fmtInt, fmtNum, killChildren, machineInfo, mdTable, passMiss, runResultChild, spawnTracked, textTable, writeBenchmarksSection, cpuMs, machineBusyMs, stopChildrenOnSignals, printHeaderHelp } from './lib.mjs';
import { summariseProfile } from './profile.mjs';
import { BENCH_IFACE } from './auth-iface.mjs';

const SECTION = '## Authentication';
const TARGETS = { privacyVsNone: 0.5, handshakesPerSec: 2000 };
const HOST = '127.0.0.1';
const SERVER = path.join(BENCH_DIR, 'auth-server.mjs');
const LOAD = path.join(BENCH_DIR, 'auth-load.mjs');
const PYTHON = '/usr/bin/python3';
const LEVELS = [
  { level: 1, name: 'NONE' },
  { level: 5, name: 'PKT_INTEGRITY' },
  { level: 6, name: 'PKT_PRIVACY' },
];

const log = (s) => process.stderr.write(`[bench auth] ${s}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function parseArgs(argv) {
  const o = {
    write: false, seconds: 3, warmup: 1, rounds: 3, inflight: 4, size: 65536, concurrency: 16,
    impacketProcs: null, impacket: true, profile: null, from: null,
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
    else if (a === '--size') o.size = Math.round(num());
    else if (a === '--concurrency') o.concurrency = Math.round(num());
    else if (a === '--impacket-procs') o.impacketProcs = Math.round(num());
    else if (a === '--no-impacket') o.impacket = false;
    else if (a === '--profile') o.profile = true;
    else if (a === '--no-profile') o.profile = false;
    else if (a === '--from') o.from = argv[++i];
    // Other benches' options, when one command line feeds them all (npm run bench -- ...).
    else if (['--quick', '--no-2x', '--tshark-2x', '--no-tshark-2x', '--no-samba'].includes(a)) continue;
    else if (['--mb', '--runs', '--conns', '--idle', '--hold', '--samba-dir'].includes(a)) i++;
    else if (a === '-h' || a === '--help') printHeaderHelp(import.meta.url);
    else throw new Error(`unknown option ${a}`);
  }
  return o;
}

// ---- the library -----------------------------------------------------------------------------

/**
 * Copy dist/index.js and its source map into bench/out/auth-snap/, the map's sources made
 * absolute: other work may rebuild dist/ (tsup cleans it) while this bench runs, and every
 * process of one run must run the same build. Waits up to 60 s for a rebuild to finish.
 */
async function snapshotLib() {
  const src = path.join(ROOT, 'dist', 'index.js');
  const dir = path.join(OUT_DIR, 'auth-snap');
  mkdirSync(dir, { recursive: true });
  const dst = path.join(dir, 'index.js');
  for (let i = 0; ; i++) {
    try {
      const code = readFileSync(src);
      const map = JSON.parse(readFileSync(`${src}.map`, 'utf8'));
      map.sources = map.sources.map((s) => path.resolve(path.dirname(src), map.sourceRoot ?? '', s));
      delete map.sourceRoot;
      writeFileSync(dst, code);
      writeFileSync(`${dst}.map`, JSON.stringify(map));
      const m = await import(`${pathToFileURL(dst).href}?t=${Date.now()}`);
      if (!m.rpc?.RpcServer || !m.auth?.NtlmInitiator || !m.ndr?.iface) throw new Error('dist/index.js does not export rpc, auth and ndr');
      return dst;
    } catch (e) {
      if (i >= 120) throw new Error(`cannot use dist/index.js (and its .map): ${e.message}; run npm run build first`);
      await sleep(500);
    }
  }
}

// ---- processes -------------------------------------------------------------------------------

function cleanupSync() {
  killChildren();
}
stopChildrenOnSignals(log, cleanupSync);

/** bench/auth-server.mjs on 127.0.0.1, any free port; resolves once it listens. */
async function startServer(lib, { cpuProfDir } = {}) {
  const args = [...(cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', cpuProfDir] : []), SERVER, JSON.stringify({ lib, host: HOST, port: 0 })];
  const child = spawnTracked(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  let stopped = null;
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (s) => {
    if (stderr.length < 65536) stderr += s;
  });
  const exited = new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
  const rl = readline.createInterface({ input: child.stdout });
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`bench/auth-server.mjs did not start in 15 s: ${stderr.slice(0, 500)}`)), 15_000);
    rl.on('line', (l) => {
      const m = /^listening (\S+) (\d+)$/.exec(l);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[2]));
      } else if (l.startsWith('stopped ')) stopped = JSON.parse(l.slice(8));
    });
    void exited.then((x) => {
      clearTimeout(timer);
      reject(new Error(`bench/auth-server.mjs exited (${x.code ?? x.signal}) before listening: ${stderr.slice(0, 500)}`));
    });
  });
  return {
    pid: child.pid,
    port,
    /** SIGTERM (graceful: shutdown PDUs, close), then its own counters and peak RSS. */
    async stop() {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const x = await exited;
      clearTimeout(t);
      return { code: x.code, signal: x.signal, ...(stopped ?? {}), stderrHead: stderr.trim().split('\n').slice(0, 5).join('\n') || undefined };
    },
  };
}


function runLoad(lib, cfg, { onLine, nodeArgs = [] } = {}) {
  return runResultChild(process.execPath, [...nodeArgs, LOAD, JSON.stringify({ lib, host: HOST, ...cfg })], onLine);
}

/** A dcomlab load run with the server's CPU time sampled over the measured window. */
async function timedLoad(lib, o, server, cfg, nodeArgs = []) {
  let c0 = null;
  let c1 = null;
  let m0 = null;
  let m1 = null;
  const r = await runLoad(lib, { port: server.port, warmupMs: o.warmup * 1000, durationMs: o.seconds * 1000, ...cfg }, {
    nodeArgs,
    onLine: (l) => {
      if (l === 'phase measure-start') {
        c0 = cpuMs(server.pid);
        m0 = machineBusyMs();
      } else if (l === 'phase measure-end') {
        c1 = cpuMs(server.pid);
        m1 = machineBusyMs();
      }
    },
  });
  if (c0 !== null && c1 !== null && r.count > 0) {
    r.serverCpuMs = c1 - c0;
    r.serverCpuUsPerOp = ((c1 - c0) * 1000) / r.count;
    r.serverCpuShare = (c1 - c0) / r.elapsedMs;
  }
  if (r.count > 0) {
    r.clientCpuUsPerOp = (r.clientCpuMs * 1000) / r.count;
    r.clientCpuShare = r.clientCpuMs / r.elapsedMs;
  }
  otherLoad(r, m0, m1);
  return r;
}

/** CPU use (CPUs' worth) by everything but this run's server and clients over its window. */
function otherLoad(r, m0, m1) {
  if (m0 == null || m1 == null || r.serverCpuMs == null || !r.elapsedMs) return;
  r.otherCpuShare = Math.max(0, (m1 - m0 - r.serverCpuMs - r.clientCpuMs) / r.elapsedMs);
}

// ---- Impacket --------------------------------------------------------------------------------

// One Impacket client process: connect, bind AuthBench with NTLM at PKT_INTEGRITY (bind,
// bind_ack, auth3; Impacket's NTLMv2), with "call" one Ping (opnum 1, signed) whose answer is
// checked, disconnect; repeat. Counted as bench/auth-load.mjs counts.
const IMPACKET_SCRIPT = String.raw`
import sys, time, struct, json, socket
cfg = json.loads(sys.argv[1])
from impacket.dcerpc.v5 import transport
from impacket.dcerpc.v5.rpcrt import RPC_C_AUTHN_WINNT, RPC_C_AUTHN_LEVEL_PKT_INTEGRITY
from impacket.uuid import uuidtup_to_bin
IF = uuidtup_to_bin((cfg['uuid'], cfg['version']))
seq = [1]
def once():
    t = transport.DCERPCTransportFactory('ncacn_ip_tcp:%s[%d]' % (cfg['host'], cfg['port']))
    t.set_credentials('alice', 'Secret1!', 'LAB')
    d = t.get_dce_rpc()
    d.set_auth_type(RPC_C_AUTHN_WINNT)
    d.set_auth_level(RPC_C_AUTHN_LEVEL_PKT_INTEGRITY)
    d.connect()
    try:
        if cfg.get('nodelay'):
            t.get_socket().setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        d.bind(IF)
        if cfg.get('call'):
            v = seq[0] & 0xffffffff
            seq[0] += 1
            d.call(1, struct.pack('<I', v))
            r = d.recv()
            rv, st = struct.unpack('<II', r[:8])
            if rv != v or st != 0:
                raise Exception('Ping answered %d status %d (sent %d)' % (rv, st, v))
    finally:
        d.disconnect()
def say(s):
    sys.stdout.write(s + '\n')
    sys.stdout.flush()
try:
    cfg_call = cfg.get('call')
    cfg['call'] = True
    once()
    cfg['call'] = cfg_call
except Exception as e:
    say('result ' + json.dumps({'ok': False, 'error': 'check failed: %r' % (e,)}))
    sys.exit(0)
errors = 0
first_error = None
done = 0
t_end_warm = time.monotonic() + cfg['warmup']
while time.monotonic() < t_end_warm:
    try:
        once()
    except Exception as e:
        errors += 1
        first_error = first_error or repr(e)
say('phase measure-start')
c0 = time.process_time()
t0 = time.monotonic()
t_end = t0 + cfg['duration']
while time.monotonic() < t_end:
    try:
        once()
        done += 1
    except Exception as e:
        errors += 1
        first_error = first_error or repr(e)
        if errors > 100:
            break
elapsed = time.monotonic() - t0
cpu = time.process_time() - c0
say('phase measure-end')
say('result ' + json.dumps({'ok': errors == 0 and done > 0, 'count': done, 'errors': errors, 'firstError': first_error,
    'elapsedMs': elapsed * 1000, 'perSec': done / elapsed, 'clientCpuMs': cpu * 1000}))
`;

function impacketVersion() {
  try {
    return execFileSync(PYTHON, ['-c', 'import impacket.version as v; print(v.version)'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

/** `procs` Impacket processes at once; the server's CPU sampled from the first start to the last end. */
async function impacketRun(o, server, { procs, call = false, nodelay = false }) {
  const cfg = {
    host: HOST, port: server.port, uuid: BENCH_IFACE.uuid, version: `${BENCH_IFACE.major}.${BENCH_IFACE.minor}`,
    warmup: o.warmup, duration: o.seconds, call, nodelay,
  };
  let starts = 0;
  let ends = 0;
  let c0 = null;
  let c1 = null;
  let t0 = 0;
  let t1 = 0;
  let m0 = null;
  let m1 = null;
  const results = await Promise.all(Array.from({ length: procs }, () => runResultChild(PYTHON, ['-c', IMPACKET_SCRIPT, JSON.stringify(cfg)], (l) => {
    if (l === 'phase measure-start' && starts++ === 0) {
      c0 = cpuMs(server.pid);
      m0 = machineBusyMs();
      t0 = performance.now();
    } else if (l === 'phase measure-end' && ++ends === procs) {
      c1 = cpuMs(server.pid);
      m1 = machineBusyMs();
      t1 = performance.now();
    }
  })));
  const count = results.reduce((a, r) => a + (r.count ?? 0), 0);
  const r = {
    ok: results.every((x) => x.ok), procs, call, nodelay, count,
    perSec: results.reduce((a, x) => a + (x.perSec ?? 0), 0),
    errors: results.reduce((a, x) => a + (x.errors ?? 0), 0),
    firstError: results.find((x) => x.firstError || x.error)?.firstError ?? results.find((x) => x.error)?.error ?? null,
    perProcess: results.map((x) => x.perSec ?? null),
    clientCpuMs: results.reduce((a, x) => a + (x.clientCpuMs ?? 0), 0),
    elapsedMs: Math.max(...results.map((x) => x.elapsedMs ?? 0)),
  };
  if (c0 !== null && c1 !== null && count > 0) {
    r.serverCpuMs = c1 - c0;
    r.serverCpuUsPerOp = ((c1 - c0) * 1000) / count;
    r.serverCpuShare = (c1 - c0) / (t1 - t0);
  }
  if (count > 0) {
    r.clientCpuUsPerOp = (r.clientCpuMs * 1000) / count;
    r.clientCpuShare = r.clientCpuMs / r.elapsedMs;
  }
  if (m0 != null && m1 != null && r.serverCpuMs != null) r.otherCpuShare = Math.max(0, (m1 - m0 - r.serverCpuMs - r.clientCpuMs) / (t1 - t0));
  return r;
}

// ---- the crypto underneath -------------------------------------------------------------------

/**
 * Single-thread rates (MB/s) of the two primitives PKT_PRIVACY runs over every byte: HMAC-MD5
 * (node:crypto, as src/auth/crypto hmacMd5 uses it) and dcomlab's RC4 (src/auth/crypto/rc4.ts,
 * JavaScript), on `size`-byte buffers, in this process. With them, the lowest CPU cost a sealed
 * or signed Echo call could have (NONE's cost plus the bare crypto) bounds the ratio to NONE.
 */
async function cryptoRates(lib, size) {
  const { createHmac, randomBytes } = await import('node:crypto');
  const m = await import(pathToFileURL(lib).href);
  const buf = randomBytes(size);
  const key = randomBytes(16);
  const rate = (f) => {
    for (let i = 0; i < 30; i++) f();
    let n = 0;
    const t0 = performance.now();
    let t = t0;
    while (t - t0 < 300) {
      for (let i = 0; i < 10; i++) f();
      n += 10;
      t = performance.now();
    }
    return (n * size) / ((t - t0) / 1000) / 1e6;
  };
  const rc4 = new m.auth.crypto.Rc4(key);
  return {
    size,
    hmacMd5MBs: rate(() => createHmac('md5', key).update(buf).digest()),
    rc4MBs: rate(() => rc4.update(buf)),
  };
}

/** NONE's measured CPU per call plus the bare crypto: the best ratio each level could reach. */
function cryptoBound(res) {
  const c = res.crypto;
  const none = res.bulk?.find((r) => r.level === 1)?.best;
  if (!c || !none?.ok || none.serverCpuUsPerOp == null) return null;
  // Per call, each side seals (or signs) what it sends and unseals (or verifies) what it gets:
  // 2 × size bytes of HMAC-MD5 and, at PKT_PRIVACY, 2 × size bytes of RC4 (headers left out).
  const bytes = 2 * res.options.size;
  const hmacUs = (bytes / (c.hmacMd5MBs * 1e6)) * 1e6;
  const rc4Us = (bytes / (c.rc4MBs * 1e6)) * 1e6;
  const noneUs = none.serverCpuUsPerOp + none.clientCpuUsPerOp;
  return {
    hmacUsPerSide: hmacUs, rc4UsPerSide: rc4Us, noneUs,
    integrityMaxVsNone: noneUs / (noneUs + 2 * hmacUs),
    privacyMaxVsNone: noneUs / (noneUs + 2 * (hmacUs + rc4Us)),
  };
}

// ---- the phases ------------------------------------------------------------------------------

async function bulk(lib, o, server) {
  const rows = LEVELS.map((l) => ({ ...l, runs: [], best: null }));
  for (let round = 0; round < o.rounds; round++) {
    for (const row of rows) {
      const r = await timedLoad(lib, o, server, { mode: 'bulk', level: row.level, size: o.size, conns: 1, inflight: o.inflight });
      row.runs.push(r);
      log(`  bulk ${row.name}: ${r.ok ? `${fmtInt(r.callsPerSec)} calls/s, ${fmtNum(r.mbPerSec)} MB/s each way (server ${fmtNum(r.serverCpuUsPerOp)} µs CPU/call, client ${fmtNum(r.clientCpuUsPerOp)}; other load ${fmtNum(r.otherCpuShare, 2)} CPU)` : `FAILED: ${r.error ?? r.firstError}`}`);
    }
  }
  for (const row of rows) {
    const ok = row.runs.filter((r) => r.ok);
    row.best = ok.length ? ok.reduce((a, b) => (b.callsPerSec > a.callsPerSec ? b : a)) : row.runs[0];
  }
  const none = rows[0].best;
  const cpuPerCall = (r) => (r?.ok && r.serverCpuUsPerOp != null ? r.serverCpuUsPerOp + r.clientCpuUsPerOp : null);
  for (const row of rows) {
    row.vsNone = none?.ok && row.best?.ok ? row.best.callsPerSec / none.callsPerSec : null;
    // The same comparison by CPU cost (server + client µs per call), which other load on the machine moves less.
    const a = cpuPerCall(none);
    const b = cpuPerCall(row.best);
    row.cpuVsNone = a != null && b != null ? a / b : null;
  }
  return rows;
}

function handshakeModes(o) {
  return [
    { key: 'conc', label: `dcomlab, ${o.concurrency} in flight: connect + bind + auth3`, concurrency: o.concurrency, withCall: false },
    { key: 'concCall', label: `dcomlab, ${o.concurrency} in flight: connect + bind + auth3 + one signed Ping`, concurrency: o.concurrency, withCall: true },
    { key: 'seq', label: 'dcomlab, 1 at a time: connect + bind + auth3', concurrency: 1, withCall: false },
  ];
}

async function handshakes(lib, o, server) {
  const modes = handshakeModes(o);
  const runs = modes.map(() => []);
  for (let round = 0; round < Math.min(o.rounds, 2); round++) {
    for (const [i, m] of modes.entries()) {
      if (round > 0 && m.concurrency === 1) continue; // the reference run: once is enough
      const r = await timedLoad(lib, o, server, { mode: 'handshake', level: 5, concurrency: m.concurrency, withCall: m.withCall });
      runs[i].push(r);
      log(`  ${m.label}: ${r.ok ? `${fmtInt(r.perSec)}/s (server ${fmtNum(r.serverCpuUsPerOp)} µs CPU each, client ${fmtNum(r.clientCpuUsPerOp)}; other load ${fmtNum(r.otherCpuShare, 2)} CPU)` : `FAILED: ${r.error ?? r.firstError}`}`);
    }
  }
  return modes.map((m, i) => {
    const ok = runs[i].filter((r) => r.ok);
    const r = ok.length ? ok.reduce((a, b) => (b.perSec > a.perSec ? b : a)) : runs[i][0];
    return { ...m, client: 'dcomlab', r, runs: runs[i].map((x) => (x.ok ? x.perSec : null)) };
  });
}

async function impacketHandshakes(o, server) {
  const procs = o.impacketProcs ?? Math.max(1, os.availableParallelism?.() ?? os.cpus().length);
  const modes = [{ key: 'imp1', label: 'Impacket, 1 process: connect + bind + auth3', procs: 1 }];
  if (procs > 1) modes.push({ key: 'impN', label: `Impacket, ${procs} processes in parallel: connect + bind + auth3`, procs });
  modes.push({ key: 'imp1Call', label: 'Impacket, 1 process: connect + bind + auth3 + one signed Ping (TCP_NODELAY set)', procs: 1, call: true, nodelay: true });
  const out = [];
  for (const m of modes) {
    const r = await impacketRun(o, server, m);
    out.push({ ...m, client: 'impacket', r });
    log(`  ${m.label}: ${r.ok ? `${fmtInt(r.perSec)}/s (server ${fmtNum(r.serverCpuUsPerOp)} µs CPU each, client ${fmtNum(r.clientCpuUsPerOp)}; other load ${fmtNum(r.otherCpuShare, 2)} CPU)` : `FAILED: ${r.firstError}`}`);
  }
  return out;
}

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

/** CPU profiles of the server and of the dcomlab client under one load. */
async function profileRun(lib, o, what) {
  const dir = path.join(OUT_DIR, 'auth-prof', what.key);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(path.join(dir, 'server'), { recursive: true });
  mkdirSync(path.join(dir, 'client'), { recursive: true });
  const server = await startServer(lib, { cpuProfDir: path.join(dir, 'server') });
  let r;
  try {
    r = await timedLoad(lib, o, server, what.cfg, ['--cpu-prof', '--cpu-prof-dir', path.join(dir, 'client')]);
  } finally {
    await server.stop();
  }
  const summarise = (sub) => {
    const f = readdirSync(path.join(dir, sub)).find((n) => n.endsWith('.cpuprofile'));
    if (!f) return null;
    const profile = JSON.parse(readFileSync(path.join(dir, sub, f), 'utf8'));
    const s = summariseProfile(profile, { top: 100000 });
    const a = summariseProfile(attributeToLibrary(profile, pathToFileURL(lib).href), { top: 100000 });
    const busy = s.top.filter((x) => x.fn !== '(idle)');
    const busyMs = busy.reduce((a, x) => a + x.selfMs, 0);
    const pct = (x) => Math.round((x.selfMs / busyMs) * 1000) / 10;
    const bySrcFile = new Map();
    for (const x of busy) {
      if (!x.where.startsWith('src/')) continue;
      const file = x.where.replace(/:\d+$/, '');
      bySrcFile.set(file, (bySrcFile.get(file) ?? 0) + x.selfMs);
    }
    return {
      profile: path.relative(ROOT, path.join(dir, sub, f)), totalMs: s.totalMs, busyMs,
      top: busy.slice(0, 12).map((x) => ({ ...x, pctBusy: pct(x) })),
      topSrc: busy.filter((x) => x.where.startsWith('src/')).slice(0, 10).map((x) => ({ ...x, pctBusy: pct(x) })),
      // Each sample charged to the innermost library (src/) function on its stack: its own time
      // plus the Node and native work it called (Buffer allocation, HMAC, socket writes).
      topSrcInclNative: a.top.filter((x) => x.fn !== '(idle)' && x.where.startsWith('src/')).slice(0, 10).map((x) => ({ ...x, pctBusy: pct(x) })),
      srcFiles: [...bySrcFile].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([file, ms]) => ({ file, selfMs: Math.round(ms * 10) / 10, pctBusy: Math.round((ms / busyMs) * 1000) / 10 })),
    };
  };
  return { key: what.key, label: what.label, perSec: r.perSec, ok: r.ok, server: summarise('server'), client: summarise('client') };
}

// ---- targets and report --------------------------------------------------------------------

/** A warning when other work took a noticeable share of the CPUs during the runs a figure comes from. */
function busyNote(runs) {
  const other = Math.max(...runs.map((r) => r?.otherCpuShare ?? 0));
  return other > 0.25 ? `; other work used ${other.toFixed(2)} CPU during a run this figure comes from: not an idle machine (the CPU-cost figures move less)` : '';
}

function computeTargets(res) {
  const t = [];
  const priv = res.bulk?.find((r) => r.level === 6);
  const none = res.bulk?.find((r) => r.level === 1);
  if (priv && none) {
    const ratio = priv.vsNone;
    t.push({
      key: 'privacy',
      target: `PKT_PRIVACY throughput >= ${TARGETS.privacyVsNone * 100}% of NONE's (${fmtInt(res.options.size)}-byte Echo calls)`,
      measured: ratio == null ? 'a run failed' : `${(ratio * 100).toFixed(1)}% (${fmtNum(priv.best.mbPerSec)} vs ${fmtNum(none.best.mbPerSec)} MB/s each way); by CPU cost per call ${pct(priv.cpuVsNone)}`,
      ok: ratio == null ? false : ratio >= TARGETS.privacyVsNone,
      note: ratio == null ? '' : `${Math.round((ratio / TARGETS.privacyVsNone) * 100)}% of target${busyNote([none.best, priv.best])}`,
    });
  }
  for (const key of ['conc', 'concCall']) {
    const h = res.handshakes?.find((x) => x.key === key);
    if (!h) continue;
    t.push({
      key,
      target: `NTLM handshakes >= ${fmtInt(TARGETS.handshakesPerSec)}/s: ${h.label}`,
      measured: h.r.ok ? `${fmtInt(h.r.perSec)}/s` : `failed: ${h.r.error ?? h.r.firstError}`,
      ok: h.r.ok ? h.r.perSec >= TARGETS.handshakesPerSec : false,
      note: h.r.ok ? `${Math.round((h.r.perSec / TARGETS.handshakesPerSec) * 100)}% of target${busyNote([h.r])}` : '',
    });
  }
  return t;
}

const pct = (x) => (x == null ? '—' : `${(x * 100).toFixed(1)}%`);
const cpus = (x) => (x == null ? '—' : x.toFixed(2));
const cpuUse = (r) => `${cpus(r.serverCpuShare)} / ${cpus(r.clientCpuShare)} / ${cpus(r.otherCpuShare)}`;
const ms = (x) => (x == null ? '—' : x < 1 ? x.toFixed(3) : x.toFixed(2));

function targetRows(res) {
  return [['target', 'measured', 'result', ''], ...res.targets.map((t) => [t.target, t.measured, passMiss(t.ok), t.note])];
}

function bulkRows(res) {
  const rows = [['level', 'calls/s', 'MB/s each way', '% of NONE', 'p50 / p99 ms', 'server CPU µs/call', 'client CPU µs/call', '% of NONE by CPU cost', 'CPU use: server / client / other']];
  for (const row of res.bulk) {
    const b = row.best;
    rows.push([
      `${row.name} (${row.level})`,
      b?.ok ? fmtInt(b.callsPerSec) : 'failed',
      b?.ok ? fmtNum(b.mbPerSec) : '—',
      pct(row.vsNone),
      b?.ok ? `${ms(b.latencyMs.p50)} / ${ms(b.latencyMs.p99)}` : '—',
      b?.ok ? fmtInt(b.serverCpuUsPerOp) : '—',
      b?.ok ? fmtInt(b.clientCpuUsPerOp) : '—',
      pct(row.cpuVsNone),
      b?.ok ? cpuUse(b) : '—',
    ]);
  }
  return rows;
}

function handshakeRows(res) {
  const rows = [['client and mode', 'handshakes/s', 'p50 / p99 ms', 'server CPU µs/handshake', 'client CPU µs/handshake', 'CPU use: server / client / other']];
  for (const h of [...(res.handshakes ?? []), ...(res.impacket ?? [])]) {
    const r = h.r;
    rows.push([
      h.label,
      r.ok ? fmtInt(r.perSec) + (r.perProcess?.length > 1 ? ` (${r.perProcess.map((x) => fmtInt(x)).join(' + ')})` : '') : `failed${r.firstError ? `: ${String(r.firstError).slice(0, 80)}` : ''}`,
      r.latencyMs ? `${ms(r.latencyMs.p50)} / ${ms(r.latencyMs.p99)}` : '—',
      r.ok ? fmtInt(r.serverCpuUsPerOp) : '—',
      r.ok ? fmtInt(r.clientCpuUsPerOp) : '—',
      r.ok ? cpuUse(r) : '—',
    ]);
  }
  return rows;
}

function profTopRows(p, which = 'top') {
  return [['self ms', '% of busy', 'function', 'where'], ...p[which].map((r) => [r.selfMs.toFixed(1), r.pctBusy.toFixed(1), r.fn, r.where])];
}

function printReport(res) {
  const w = (s = '') => process.stdout.write(s + '\n');
  const mi = res.machine;
  w(`Authentication bench, ${res.date}: ${mi.nproc} CPUs, ${mi.cpu}, Node ${mi.node}; peer Impacket ${res.impacketVersion ?? 'not run'}`);
  w();
  w(textTable(targetRows(res)));
  if (res.bulk) {
    w();
    w(`Echo of ${fmtInt(res.options.size)} bytes (same bytes back), 1 connection, ${res.options.inflight} calls in flight, ${res.options.warmup} s warm-up then ${res.options.seconds} s measured per run, best of ${res.options.rounds}:`);
    w(textTable(bulkRows(res)));
  }
  if (res.handshakes || res.impacket) {
    w();
    w(`NTLM (NTLMv2, LAB\\alice) handshakes at PKT_INTEGRITY against the same server, ${res.options.warmup} s warm-up then ${res.options.seconds} s measured:`);
    w(textTable(handshakeRows(res)));
  }
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
  L.push(`Written by \`node bench/auth.mjs --write\` from the run of ${res.date}; do not edit by hand.`, '');
  L.push(`- Machine: ${mi.nproc} CPUs (\`nproc\`), ${mi.cpu}, ${mi.memGiB} GiB RAM, ${mi.os}`);
  L.push(`- Node ${mi.node}; peer: Impacket ${res.impacketVersion ?? 'not run'} (\`${PYTHON}\`, ${res.pythonVersion ?? '?'})`);
  L.push(`- Load average (1/5/15 min) at start ${res.loadavgStart.map((x) => x.toFixed(2)).join(' ')}, at end ${res.loadavgEnd.map((x) => x.toFixed(2)).join(' ')}; bench run took ${Math.round(res.benchSeconds)} s${res.port135Busy ? '; something listened on port 135 at the start (likely a Samba-using test running alongside)' : ''}`);
  L.push(`- Library: dist/index.js (copied to bench/out/auth-snap/ at the start, so that every process runs the same build)`, '');
  L.push('### Targets', '');
  L.push(mdTable(targetRows(res), ['l', 'l', 'l', 'l']), '');
  const missed = res.targets.filter((t) => t.ok === false);
  if (missed.length) L.push(`Missed: ${missed.map((t) => t.target).join('; ')}.`, '');
  L.push(
    'Setup: the server is `bench/auth-server.mjs`, dcomlab\'s `RpcServer` with NTLM and SPNEGO acceptors over one account (`LAB\\alice`, as `dcomlab serve --user \'LAB\\alice:Secret1!\'` sets up), default limits (5,840-byte fragments), ' +
      `serving \`bench/auth-iface.mjs\`'s AuthBench interface (\`${BENCH_IFACE.uuid}\` v1.0): \`Echo\` (opnum 0, \`[in] byte data[]\` conformant, \`[out]\` the same bytes and an \`error_status_t\`) and \`Ping\` (opnum 1, one \`unsigned32\` in and back). ` +
      `It runs in its own Node process on ${HOST} (any free port); the dcomlab load runs in another (\`bench/auth-load.mjs\`), and Impacket in \`${PYTHON}\` processes, so the client's and the server's crypto are both measured and never share an event loop. ` +
      `Server CPU = user + sys of the server process over the measured window (/proc/PID/stat); client CPU from the client process(es). "CPU use" = CPU time / wall time in CPUs (1.00 = one CPU busy all the time); "other" = the machine's busy time (/proc/stat) minus server and client, i.e. whatever else ran meanwhile. Client and server share ${mi.nproc} CPUs with it, so when "other" is high the rates are lower than on an idle machine, while the CPU µs per call or per handshake move much less.`,
    '',
  );
  if (res.bulk) {
    L.push('### Bulk throughput by authentication level', '');
    L.push(
      `dcomlab client → dcomlab server, one connection, ${o.inflight} \`Echo\` calls in flight, each sending ${fmtInt(o.size)} random bytes and receiving the same ${fmtInt(o.size)} bytes back (every answer compared with what was sent). ` +
        `Each call is split into fragments of at most 5,840 bytes both ways (the client's and the server's default), and at PKT_INTEGRITY / PKT_PRIVACY every fragment is signed / sealed and signed (NTLMv2 with extended session security, 128-bit keys, key exchange). ` +
        `NONE = no auth verifier at all (no \`auth\` client option). MB/s = payload bytes per second in each direction (10^6 bytes). "% of NONE by CPU cost" = (server + client CPU µs per call at NONE) / (the same at this level): the throughput ratio two unloaded CPUs would give. Each run is its own client process: connect, bind, one checked call, ${o.warmup} s warm-up, then calls completed in ${o.seconds} s; best of ${o.rounds} runs, levels interleaved.`,
      '',
    );
    L.push(mdTable(bulkRows(res), ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r']), '');
    L.push(`Runs (calls/s): ${res.bulk.map((r) => `${r.name} ${r.runs.map((x) => (x.ok ? fmtInt(x.callsPerSec) : 'failed')).join(', ')}`).join('; ')} (best kept).`, '');
    const b = res.cryptoBound;
    if (b) {
      L.push(
        `What the crypto alone allows: in this run, HMAC-MD5 (node:crypto) hashed ${fmtInt(res.crypto.hmacMd5MBs)} MB/s and dcomlab's RC4 (\`src/auth/crypto/rc4.ts\`, JavaScript: Node's OpenSSL 3 has no RC4 without the legacy provider) ran at ${fmtInt(res.crypto.rc4MBs)} MB/s, on ${fmtInt(o.size)}-byte buffers, one thread. ` +
          `Each side of an Echo call signs or seals ${fmtInt(o.size)} bytes and verifies or unseals ${fmtInt(o.size)}: at least ${fmtInt(b.hmacUsPerSide)} µs of HMAC-MD5 and, at PKT_PRIVACY, ${fmtInt(b.rc4UsPerSide)} µs of RC4 per call per side, on top of NONE's ${fmtInt(b.noneUs)} µs (server + client). ` +
          `So even with no other cost, PKT_INTEGRITY could reach at most ${pct(b.integrityMaxVsNone)} and PKT_PRIVACY ${pct(b.privacyMaxVsNone)} of NONE's throughput on this machine (measured: ${pct(res.bulk[1].cpuVsNone)} and ${pct(res.bulk[2].cpuVsNone)} by CPU cost).`,
        '',
      );
    }
  }
  if (res.handshakes || res.impacket) {
    L.push('### NTLM handshakes per second', '');
    L.push(
      `One handshake = TCP connect, bind with an NTLM NEGOTIATE (auth type 10, PKT_INTEGRITY), bind_ack with the CHALLENGE, auth3 with the NTLMv2 AUTHENTICATE (the server checks it against LAB\\alice's NT hash), then close. ` +
        `dcomlab's client (\`bench/auth-load.mjs\`, a fresh \`NtlmInitiator\` per connection) keeps ${o.concurrency} handshakes in flight in one process (and, for reference, 1 at a time); since auth3 has no answer, the "+ one signed Ping" variant also makes one signed call per handshake and checks its answer, which proves the server completed the exchange. ` +
        `Impacket (${res.impacketVersion ?? '?'}): \`DCERPCTransportFactory('ncacn_ip_tcp:${HOST}[PORT]')\`, \`set_credentials('alice', 'Secret1!', 'LAB')\`, \`set_auth_type(RPC_C_AUTHN_WINNT)\`, \`set_auth_level(RPC_C_AUTHN_LEVEL_PKT_INTEGRITY)\`, \`connect()\`, \`bind(AuthBench)\`, \`disconnect()\` in a loop, one handshake at a time per process; ` +
        `its Ping variant sets TCP_NODELAY on Impacket's socket (Impacket leaves Nagle on, so its request waits for the ACK of its auth3: the server's delayed ACK, ~40 ms, would be measured instead). ` +
        `${o.warmup} s warm-up, then handshakes completed in ${o.seconds} s${Math.min(o.rounds, 2) > 1 ? ` (dcomlab's ${o.concurrency}-in-flight runs: best of ${Math.min(o.rounds, 2)}, interleaved)` : ''}; every run starts with one checked handshake + Ping.`,
      '',
    );
    L.push(mdTable(handshakeRows(res), ['l', 'r', 'r', 'r', 'r', 'r']), '');
    const multi = (res.handshakes ?? []).filter((h) => h.runs?.length > 1);
    if (multi.length) L.push(`dcomlab runs: ${multi.map((h) => `${h.concurrency} in flight${h.withCall ? ' + Ping' : ''} ${h.runs.map((x) => (x == null ? 'failed' : fmtInt(x))).join(', ')}/s`).join('; ')} (best kept).`, '');
    const imp = res.impacket?.find((x) => x.key === 'imp1');
    const seq = res.handshakes?.find((x) => x.key === 'seq');
    if (imp?.r.ok && seq?.r.ok) {
      L.push(`Like for like, one handshake at a time: dcomlab ${fmtInt(seq.r.perSec)}/s vs Impacket ${fmtInt(imp.r.perSec)}/s; the server spends ${fmtInt(seq.r.serverCpuUsPerOp)} µs of CPU on each of dcomlab's handshakes and ${fmtInt(imp.r.serverCpuUsPerOp)} µs on each of Impacket's.`, '');
    }
  }
  if (res.profiles?.length) {
    L.push('### Where the time goes', '');
    L.push(
      `Recorded because a target was missed (or \`--profile\`): a fresh server under \`node --cpu-prof\` and the dcomlab client under \`node --cpu-prof\`, one run each of the loads below. Self time per function, mapped to src/ through dist/index.js.map; "% of busy" is of the process's non-idle samples (\`(garbage collector)\` and \`(program)\` are V8's own; entries without a place are native code, \`writeBuffer\` is the socket write). ` +
        `V8 inlines \`Rc4.update\` and its keystream loop \`Rc4.xorInto\` (\`src/auth/crypto/rc4.ts\`) into their callers, so RC4's time shows as the self time of \`seal\` (\`src/auth/ntlm/seal.ts\`, the sender's side) and \`unseal\` (\`src/auth/ntlm/session.ts\`, the receiver's); under \`node --no-turbo-inlining\` the same time shows as \`xorInto\`. ` +
        `\`FastBuffer\` and \`_copyActual\` are Buffer allocation and copying (\`Buffer.alloc\` in \`Rc4.update\`, the \`Buffer.from\` copies of the PDU in \`encodeProtected\` and \`unprotect\`, \`src/rpc/security.ts\`).`,
      '',
    );
    for (const p of res.profiles) {
      for (const side of ['server', 'client']) {
        const s = p[side];
        if (!s) continue;
        L.push(`**${side === 'server' ? 'Server' : 'Client'}, ${p.label}** (${fmtInt(p.perSec)}/s while profiled; busy ${fmtInt(s.busyMs)} of ${fmtInt(s.totalMs)} ms; \`${s.profile}\`). Top self time overall:`, '');
        L.push(mdTable(profTopRows(s, 'top'), ['r', 'r', 'l', 'l']), '');
        L.push('src/ functions, each charged with its own time plus the Node and native code it calls (e.g. `Buffer` allocation, `Hmac` update, socket writes):', '');
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

function port135Busy() {
  try {
    return /:135\s/.test(execFileSync('ss', ['-ltn'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }));
  } catch {
    return null;
  }
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  if (o.from) {
    const res = JSON.parse(readFileSync(o.from, 'utf8'));
    if (!res.bulk && !res.handshakes) throw new Error(`${o.from} is not an auth bench result (bench/out/auth-results.json)`);
    printReport(res);
    if (o.write) writeBenchmarksMd(res);
    return;
  }
  const t0 = Date.now();
  const { tshark: _t, ...machine } = machineInfo();
  const res = { date: new Date().toISOString(), machine, options: o, targetsSpec: TARGETS, loadavgStart: os.loadavg(), port135Busy: port135Busy() };
  if (res.port135Busy) log('note: something listens on port 135 (a Samba-using test?); figures may be lower than on an idle machine');
  const lib = await snapshotLib();
  if (o.impacket) {
    res.impacketVersion = impacketVersion();
    try {
      res.pythonVersion = execFileSync(PYTHON, ['--version'], { encoding: 'utf8' }).trim();
    } catch {}
    if (!res.impacketVersion) log(`Impacket not importable by ${PYTHON}: its runs are skipped`);
  }
  res.crypto = await cryptoRates(lib, o.size);
  log(`crypto: HMAC-MD5 ${fmtInt(res.crypto.hmacMd5MBs)} MB/s, RC4 (src/auth/crypto/rc4.ts) ${fmtInt(res.crypto.rc4MBs)} MB/s on ${fmtInt(o.size)}-byte buffers`);
  const server = await startServer(lib);
  log(`bench/auth-server.mjs PID ${server.pid} on ${HOST}:${server.port}`);
  try {
    log(`bulk: ${fmtInt(o.size)}-byte Echo, ${o.inflight} in flight, ${o.warmup} s warm-up + ${o.seconds} s per run, ${o.rounds} rounds`);
    res.bulk = await bulk(lib, o, server);
    log(`handshakes (dcomlab): ${o.warmup} s warm-up + ${o.seconds} s per run`);
    res.handshakes = await handshakes(lib, o, server);
    if (o.impacket && res.impacketVersion) {
      log('handshakes (Impacket)');
      res.impacket = await impacketHandshakes(o, server);
    }
  } finally {
    res.serverStop = await server.stop();
  }
  res.cryptoBound = cryptoBound(res);
  res.targets = computeTargets(res);
  const missed = new Set(res.targets.filter((t) => t.ok === false).map((t) => t.key));
  const prof = [];
  if (o.profile === true || (o.profile === null && missed.has('privacy'))) {
    prof.push({ key: 'privacy', label: `bulk Echo at PKT_PRIVACY, 1 connection, ${o.inflight} in flight`, cfg: { mode: 'bulk', level: 6, size: o.size, conns: 1, inflight: o.inflight } });
  }
  if (o.profile === true || (o.profile === null && (missed.has('conc') || missed.has('concCall')))) {
    const withCall = !missed.has('conc') && missed.has('concCall');
    prof.push({ key: 'handshake', label: `NTLM handshakes, ${o.concurrency} in flight${withCall ? ' + one signed Ping' : ''}`, cfg: { mode: 'handshake', level: 5, concurrency: o.concurrency, withCall } });
  }
  if (prof.length) {
    res.profiles = [];
    for (const p of prof) {
      log(`profiling server and client: ${p.label}`);
      res.profiles.push(await profileRun(lib, o, p));
    }
  }
  res.benchSeconds = (Date.now() - t0) / 1000;
  res.loadavgEnd = os.loadavg();
  mkdirSync(OUT_DIR, { recursive: true });
  writeFileSync(path.join(OUT_DIR, 'auth-results.json'), JSON.stringify(res, null, 2) + '\n');
  printReport(res);
  if (o.write) writeBenchmarksMd(res);
  const m = res.targets.filter((t) => t.ok === false);
  if (m.length) log(`${m.length} target(s) missed: ${m.map((t) => t.target).join('; ')}`);
}

main().catch((e) => {
  process.stderr.write(`bench auth: ${e?.stack ?? e}\n`);
  cleanupSync();
  process.exitCode = 1;
});
