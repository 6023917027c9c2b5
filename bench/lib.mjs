// Shared helpers for the benchmarks: finding captures, running a child process with its
// stdout thrown away (or counted), machine facts, table formatting.
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, openSync, closeSync, readdirSync, readFileSync, statSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

/** Clock ticks per second, for /proc/PID/stat CPU times. */
export const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

export const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(BENCH_DIR, '..');
export const OUT_DIR = path.join(BENCH_DIR, 'out');
export const SHARED_PCAPS = path.resolve(ROOT, '..', 'shared', 'pcaps');
export const CLI = path.join(ROOT, 'dist', 'cli', 'main.js');
export const TSHARK = '/usr/bin/tshark';
export const GNU_TIME = '/usr/bin/time';

/** The five fields the brief asks tshark to print (the peer's equivalent of `dissect`). */
export const TSHARK_FIELDS = ['frame.number', 'dcerpc.pkt_type', 'dcerpc.cn_call_id', 'dcerpc.cn_frag_len', 'dcerpc.opnum'];
/** Filter for counting: DCE/RPC over TCP only, as dcomlab skips SMB named pipes. */
export const TSHARK_COUNT_FILTER = 'dcerpc && !smb && !smb2';
/**
 * Port-registered dissectors switched off for counting, as the oracle test does
 * (test/support/tshark.ts NON_DCERPC_PORT_DISSECTORS): zeek/mapi.pcap talks MS-RPC on TCP 1153,
 * which tshark hands to ANSI C12.22 instead of DCE/RPC (10 PDUs per synthetic repetition).
 */
export const TSHARK_COUNT_DISABLED = ['c1222'];
/** The tshark options of the counting runs, as printed in the reports. */
export const TSHARK_COUNT_ARGS = [...TSHARK_COUNT_DISABLED.flatMap((p) => ['--disable-protocol', p]), '-Y', TSHARK_COUNT_FILTER];

const CAPTURE_RE = /\.(pcap|pcapng|cap|gz)$/i;

/** Every capture under `dir`, recursively, sorted by relative path. */
/** `--help`: print the leading `//` comment of the bench script at `scriptUrl` (import.meta.url), then exit. */
export function printHeaderHelp(scriptUrl) {
  const lines = readFileSync(new URL(scriptUrl), 'utf8').split('\n').slice(1);
  const head = lines.slice(0, lines.findIndex((l) => !l.startsWith('//')));
  process.stdout.write(head.map((l) => l.replace(/^\/\/ ?/, '')).join('\n') + '\n');
  process.exit(0);
}

export function listCaptures(dir = SHARED_PCAPS) {
  const out = [];
  const walk = (d) => {
    for (const ent of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, ent.name);
      if (ent.isDirectory()) walk(p);
      else if (ent.isFile() && CAPTURE_RE.test(ent.name)) out.push(p);
    }
  };
  if (existsSync(dir)) walk(dir);
  return out.sort((a, b) => path.relative(dir, a).localeCompare(path.relative(dir, b)));
}

export function fileSize(p) {
  return statSync(p).size;
}

/**
 * Run a command. stdout goes to /dev/null (`count: null`) or is piped and counted by
 * `count(chunk)` (a function fed every chunk). Returns wall time from spawn to close.
 */
export function runChild(cmd, args, { env, count = null, timeoutMs = 0 } = {}) {
  return new Promise((resolve, reject) => {
    const devnull = count ? null : openSync('/dev/null', 'w');
    const t0 = process.hrtime.bigint();
    let child;
    try {
      child = spawn(cmd, args, { env: env ?? process.env, stdio: ['ignore', count ? 'pipe' : devnull, 'pipe'] });
    } catch (e) {
      if (devnull !== null) closeSync(devnull);
      reject(e);
      return;
    }
    let stderr = '';
    let stderrLines = 0;
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s) => {
      for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) === 10) stderrLines++;
      // Keep the head and the tail only: a big capture may warn a lot.
      if (stderr.length < 16384) stderr += s;
      else stderr = stderr.slice(0, 8192) + stderr.slice(-8192) + s.slice(-8192);
    });
    if (count) child.stdout.on('data', count);
    let timer = null;
    let timedOut = false;
    if (timeoutMs > 0) {
      timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, timeoutMs);
    }
    child.on('error', (e) => {
      if (timer) clearTimeout(timer);
      if (devnull !== null) closeSync(devnull);
      reject(e);
    });
    child.on('close', (code, signal) => {
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (timer) clearTimeout(timer);
      if (devnull !== null) closeSync(devnull);
      resolve({ ms, code, signal, timedOut, stderr, stderrLines });
    });
  });
}

/**
 * A `count` callback for runChild that hands `onLine` each complete line of the output (without its
 * newline; a last line without one is never handed over), decoding chunks as `encoding`.
 */
export function lineFeeder(onLine, encoding = 'utf8') {
  let tail = '';
  return (chunk) => {
    const s = tail + chunk.toString(encoding);
    let start = 0;
    for (;;) {
      const nl = s.indexOf('\n', start);
      if (nl < 0) break;
      onLine(s, start, nl);
      start = nl + 1;
    }
    tail = s.slice(start);
  };
}

/** Counts lines of `dissect --format jsonl` output, and PDUs by ptype. */
export function jsonlCounter() {
  const byType = new Map();
  let lines = 0;
  const RE = /"ptype":(\d+)/;
  const feed = lineFeeder((s, start, end) => {
    if (end === start) return;
    const line = s.slice(start, end);
    if (line.startsWith('{"stats"')) return;
    lines++;
    const m = RE.exec(line);
    const t = m ? Number(m[1]) : -1;
    byType.set(t, (byType.get(t) ?? 0) + 1);
  });
  return { feed, result: () => ({ pdus: lines, byType: Object.fromEntries([...byType].sort((a, b) => a[0] - b[0])) }) };
}

/**
 * Counts DCE/RPC PDUs in `tshark -T fields -e dcerpc.pkt_type` output: one line per frame,
 * several PDUs of one frame separated by ','.
 */
export function tsharkCounter() {
  const byType = new Map();
  let pdus = 0;
  const feed = lineFeeder((s, start, end) => {
    const line = s.slice(start, end).trim();
    if (!line) return;
    for (const v of line.split(',')) {
      pdus++;
      const t = Number(v);
      byType.set(t, (byType.get(t) ?? 0) + 1);
    }
  }, 'latin1');
  return { feed, result: () => ({ pdus, byType: Object.fromEntries([...byType].sort((a, b) => a[0] - b[0])) }) };
}

/** One timed `dcomlab dissect FILE --format jsonl`, stdout to /dev/null, peak RSS from the CLI. */
export async function dcomlabTimed(file, { timeoutMs = 0 } = {}) {
  const r = await timedUnderGnuTime(process.execPath, [CLI, 'dissect', file, '--format', 'jsonl'], {
    env: { ...process.env, DCOMLAB_REPORT_RSS: '1' },
    timeoutMs,
  });
  const m = /dcomlab-maxrss-kb (\d+)/.exec(r.stderr);
  return {
    ms: r.ms,
    code: r.code,
    timedOut: r.timedOut,
    // The process's own report (process.resourceUsage().maxRSS); GNU time's figure as fallback.
    rssKb: m ? Number(m[1]) : r.timeRssKb,
    timeRssKb: r.timeRssKb,
    cpuS: r.cpuS,
    /** stderr lines other than the RSS report (warnings about the capture, errors). */
    stderrLines: Math.max(0, r.stderrLines - (m ? 1 : 0)),
    stderrHead: r.code === 0 ? undefined : r.stderr.slice(0, 500),
  };
}

/** dcomlab's PDU count for a file (one extra jsonl run, piped and counted). */
export async function dcomlabCount(file, { timeoutMs = 0 } = {}) {
  const c = jsonlCounter();
  const r = await runChild(process.execPath, [CLI, 'dissect', file, '--format', 'jsonl'], { count: c.feed, timeoutMs });
  return { ...c.result(), ms: r.ms, code: r.code, timedOut: r.timedOut };
}

function withGnuTime(cmd, args) {
  if (!existsSync(GNU_TIME)) return { cmd, args, timeFile: null, cleanup: () => {} };
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dcomlab-bench-'));
  const timeFile = path.join(dir, 'time');
  return {
    cmd: GNU_TIME,
    args: ['-f', 'maxrss-kb %M user %U sys %S', '-o', timeFile, cmd, ...args],
    timeFile,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/**
 * Run under GNU time (when present) with stdout to /dev/null: wall time measured here, peak
 * RSS and CPU time (user + sys, all threads) from the kernel via time(1).
 */
export async function timedUnderGnuTime(cmd, args, { env, timeoutMs = 0 } = {}) {
  const w = withGnuTime(cmd, args);
  try {
    const r = await runChild(w.cmd, w.args, { env, timeoutMs });
    let timeRssKb = null;
    let cpuS = null;
    if (w.timeFile && existsSync(w.timeFile)) {
      const t = readFileSync(w.timeFile, 'utf8');
      const m = /maxrss-kb (\d+) user ([\d.]+) sys ([\d.]+)/.exec(t);
      if (m) {
        timeRssKb = Number(m[1]);
        cpuS = Number(m[2]) + Number(m[3]);
      }
    }
    return { ...r, timeRssKb, cpuS };
  } finally {
    w.cleanup();
  }
}

/** One timed tshark run with the brief's field list, stdout to /dev/null, peak RSS via GNU time. */
export async function tsharkTimed(file, { timeoutMs = 0 } = {}) {
  const args = ['-r', file, '-Y', 'dcerpc', '-T', 'fields', ...TSHARK_FIELDS.flatMap((f) => ['-e', f])];
  const r = await timedUnderGnuTime(TSHARK, args, { timeoutMs });
  return { ms: r.ms, code: r.code, timedOut: r.timedOut, rssKb: r.timeRssKb, cpuS: r.cpuS, stderrHead: r.code === 0 ? undefined : r.stderr.slice(0, 500) };
}

/** tshark's count of DCE/RPC PDUs over TCP (SMB excluded, as dcomlab does; C12.22 off, see TSHARK_COUNT_DISABLED). */
export async function tsharkCount(file, { timeoutMs = 0 } = {}) {
  const c = tsharkCounter();
  const r = await runChild(TSHARK, ['-r', file, ...TSHARK_COUNT_ARGS, '-T', 'fields', '-e', 'dcerpc.pkt_type'], {
    count: c.feed,
    timeoutMs,
  });
  return { ...c.result(), ms: r.ms, code: r.code, timedOut: r.timedOut };
}

export function machineInfo() {
  let cpu = 'unknown';
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) cpu = m[1].trim();
  } catch {}
  let tshark = 'not found';
  try {
    tshark = execFileSync(TSHARK, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n')[0].trim();
  } catch {}
  let nproc = os.availableParallelism?.() ?? os.cpus().length;
  try {
    nproc = Number(execFileSync('nproc', { encoding: 'utf8' }).trim()) || nproc;
  } catch {}
  return {
    nproc,
    cpu,
    memGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    tshark,
  };
}

// ---- formatting ------------------------------------------------------------------------

export function fmtNum(n, digits = 1) {
  if (n === null || n === undefined || Number.isNaN(n)) return '—';
  if (!Number.isFinite(n)) return '∞';
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}
export function fmtInt(n) {
  if (n === null || n === undefined || Number.isNaN(n)) return '—';
  return Math.round(n).toLocaleString('en-US');
}
export function fmtMs(ms) {
  if (ms === null || ms === undefined) return '—';
  return ms >= 10000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`;
}
export function fmtMB(bytes) {
  return (bytes / 1e6).toFixed(bytes >= 1e7 ? 1 : 3);
}
export function fmtRss(kb) {
  return kb == null ? '—' : `${(kb / 1024).toFixed(1)} MiB`;
}

/** A plain text table: rows of strings, first row is the header; numeric-looking cells right-aligned. */
export function textTable(rows, align) {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i] ?? '').length)));
  const isNum = (s) => /^[-+]?[\d,.]+(\s?\S+)?$|^—$|^[\d.]+x$/.test(s);
  const right = (c, i) => (align ? align[i] === 'r' : i > 0 && isNum(String(c)));
  const line = (r) => r.map((c, i) => (right(c, i) ? String(c).padStart(widths[i]) : String(c).padEnd(widths[i]))).join('  ');
  return [line(rows[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

/** A Markdown table from the same rows. */
export function mdTable(rows, align) {
  const esc = (s) => String(s ?? '').replace(/\|/g, '\\|');
  const head = `| ${rows[0].map(esc).join(' | ')} |`;
  const sep = `|${rows[0].map((_, i) => (align?.[i] === 'r' ? '---:' : '---')).join('|')}|`;
  return [head, sep, ...rows.slice(1).map((r) => `| ${r.map(esc).join(' | ')} |`)].join('\n');
}

export function passMiss(ok) {
  return ok === null || ok === undefined ? 'N/A' : ok ? 'PASS' : 'MISS';
}

/** Children a bench started, stopped by PID on the way out (normal end, error or Ctrl-C). */
export const children = new Set();

/** Kill every child still running (synchronous: usable from signal handlers and exit paths). */
export function killChildren() {
  for (const c of children) {
    try {
      c.kill('SIGKILL');
    } catch {}
  }
  children.clear();
}

/** spawn(), with the child tracked in `children` until it closes. */
export function spawnTracked(cmd, args, opts) {
  const child = spawn(cmd, args, opts);
  children.add(child);
  child.on('close', () => children.delete(child));
  return child;
}

/**
 * Run a child that prints one `result {json}` line (a load generator or peer script) and resolve
 * with that JSON; onLine(line, child) sees every other stdout line.
 */
export function runResultChild(cmd, args, onLine = () => {}) {
  return new Promise((resolve, reject) => {
    const child = spawnTracked(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let result = null;
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s) => {
      if (stderr.length < 16384) stderr += s;
    });
    const rl = readline.createInterface({ input: child.stdout });
    rl.on('line', (l) => {
      if (l.startsWith('result ')) result = JSON.parse(l.slice(7));
      else onLine(l, child);
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (!result) reject(new Error(`${path.basename(args.find((a) => !a.startsWith('-')) ?? cmd)} exited ${code} without a result: ${stderr.slice(0, 800)}`));
      else resolve(result);
    });
  });
}

/**
 * Replace the `heading` section of BENCHMARKS.md (from its "## " line to the next "## " line) with
 * `section`, or append it; read just before writing, so benches run one after another keep each
 * other's sections.
 */
export function writeBenchmarksSection(heading, section) {
  const file = path.join(ROOT, 'BENCHMARKS.md');
  let text = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmarks\n';
  const m = new RegExp(`^${heading.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}[ \\t]*$`, 'm').exec(text);
  const body = section.trimEnd() + '\n';
  if (!m) text = `${text.trimEnd()}\n\n${body}`;
  else {
    const rest = text.slice(m.index + m[0].length);
    const next = rest.search(/^## /m);
    text = text.slice(0, m.index) + body + (next < 0 ? '' : '\n' + rest.slice(next));
  }
  writeFileSync(file, text.trimEnd() + '\n');
  return file;
}

/** CPU time (ms, user + sys) of one process, from /proc; null when it is gone. */
export function cpuMs(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK;
  } catch {
    return null;
  }
}

/** Busy CPU time (ms) of the whole machine, all CPUs, from /proc/stat (everything but idle and iowait). */
export function machineBusyMs() {
  try {
    const f = /^cpu\s+(.+)$/m.exec(readFileSync('/proc/stat', 'utf8'))[1].trim().split(/\s+/).map(Number);
    // user nice system idle iowait irq softirq steal (guest time is already in user)
    return ((f[0] + f[1] + f[2] + f[5] + f[6] + (f[7] ?? 0)) * 1000) / CLK_TCK;
  } catch {
    return null;
  }
}

/** On SIGINT/SIGTERM: say so, run `cleanup` (stop what the bench started, by PID), exit 130. */
export function stopChildrenOnSignals(log, cleanup) {
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.on(sig, () => {
      log(`${sig}: stopping what this bench started`);
      cleanup();
      process.exit(130);
    });
  }
}

