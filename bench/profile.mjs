#!/usr/bin/env node
// CPU profile of `dcomlab dissect FILE --format jsonl > /dev/null`: the functions with the most
// self time, mapped back to src/ through the bundle's source map.
//
//   node bench/profile.mjs FILE [--top 20]
import { mkdirSync, readdirSync, readFileSync, rmSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { CLI, OUT_DIR, ROOT, lineFeeder, runChild } from './lib.mjs';

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const B64_INDEX = new Map([...B64].map((c, i) => [c, i]));

/** Decode a source map's `mappings` into per-generated-line sorted segments [col, src, line, colSrc]. */
function decodeMappings(map) {
  const lines = [];
  let src = 0;
  let srcLine = 0;
  let srcCol = 0;
  for (const lineStr of map.mappings.split(';')) {
    const segs = [];
    let genCol = 0;
    for (const segStr of lineStr.split(',')) {
      if (!segStr) continue;
      const vals = [];
      let v = 0;
      let shift = 0;
      for (const ch of segStr) {
        const d = B64_INDEX.get(ch);
        v += (d & 31) << shift;
        if (d & 32) shift += 5;
        else {
          vals.push(v & 1 ? -(v >>> 1) : v >>> 1);
          v = 0;
          shift = 0;
        }
      }
      genCol += vals[0];
      if (vals.length >= 4) {
        src += vals[1];
        srcLine += vals[2];
        srcCol += vals[3];
        segs.push([genCol, src, srcLine, srcCol]);
      }
    }
    lines.push(segs);
  }
  return lines;
}

function makeResolver(bundlePath) {
  const mapPath = `${bundlePath}.map`;
  if (!existsSync(mapPath)) return () => null;
  const map = JSON.parse(readFileSync(mapPath, 'utf8'));
  const lines = decodeMappings(map);
  const base = path.dirname(bundlePath);
  return (line0, col0) => {
    const segs = lines[line0];
    if (!segs || segs.length === 0) return null;
    let best = segs[0];
    for (const s of segs) {
      if (s[0] <= col0) best = s;
      else break;
    }
    const file = path.relative(ROOT, path.resolve(base, map.sourceRoot ?? '', map.sources[best[1]]));
    return `${file}:${best[2] + 1}`;
  };
}

/** Summarise a .cpuprofile: self time per function, largest first. */
export function summariseProfile(profile, { top = 20 } = {}) {
  const totalUs = profile.endTime - profile.startTime;
  const selfUs = new Map();
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  // timeDeltas[i] is the time before sample i; attribute it to sample i (V8's convention).
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i];
    selfUs.set(id, (selfUs.get(id) ?? 0) + Math.max(0, profile.timeDeltas[i] ?? 0));
  }
  const resolvers = new Map();
  const groups = new Map();
  for (const [id, us] of selfUs) {
    const n = byId.get(id);
    const cf = n.callFrame;
    let where = '';
    if (cf.url) {
      let resolved = null;
      if (cf.url.startsWith('file://')) {
        const p = fileURLToPath(cf.url);
        if (!resolvers.has(p)) resolvers.set(p, makeResolver(p));
        resolved = resolvers.get(p)(cf.lineNumber, cf.columnNumber);
        where = resolved ?? `${path.relative(ROOT, p)}:${cf.lineNumber + 1}`;
      } else where = `${cf.url}:${cf.lineNumber + 1}`;
    }
    const fn = cf.functionName || (cf.url ? '(anonymous)' : '(native)');
    const key = `${fn}\u0000${where}`;
    const g = groups.get(key) ?? { fn, where, selfMs: 0 };
    g.selfMs += us / 1000;
    groups.set(key, g);
  }
  const rows = [...groups.values()].sort((a, b) => b.selfMs - a.selfMs);
  const totalMs = totalUs / 1000;
  return {
    totalMs,
    top: rows.slice(0, top).map((r) => ({ ...r, selfMs: Math.round(r.selfMs * 10) / 10, pct: Math.round((r.selfMs / totalMs) * 1000) / 10 })),
  };
}

/** Run the CLI under --cpu-prof on `file` and summarise the profile. */
export async function profileDissect(file, { top = 20 } = {}) {
  const dir = path.join(OUT_DIR, 'prof');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const r = await runChild(process.execPath, ['--cpu-prof', '--cpu-prof-dir', dir, CLI, 'dissect', file, '--format', 'jsonl']);
  if (r.code !== 0) throw new Error(`profiled dissect failed: ${r.stderr.slice(0, 300)}`);
  const f = readdirSync(dir).find((n) => n.endsWith('.cpuprofile'));
  if (!f) throw new Error('no .cpuprofile written');
  const summary = summariseProfile(JSON.parse(readFileSync(path.join(dir, f), 'utf8')), { top });
  return { file: path.relative(ROOT, file), wallMs: r.ms, profile: path.relative(ROOT, path.join(dir, f)), ...summary };
}

export function profileTable(p) {
  return [['self ms', '%', 'function', 'where'], ...p.top.map((r) => [r.selfMs.toFixed(1), r.pct.toFixed(1), r.fn, r.where])];
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const args = process.argv.slice(2);
  const ti = args.indexOf('--top');
  const top = ti >= 0 ? Number(args.splice(ti, 2)[1]) : 20;
  if (!args[0]) {
    process.stderr.write('usage: node bench/profile.mjs FILE [--top 20]\n');
    process.exit(2);
  }
  const { textTable } = await import('./lib.mjs');
  const p = await profileDissect(path.resolve(args[0]), { top });
  process.stdout.write(`${p.file}: wall ${Math.round(p.wallMs)} ms, profiled ${Math.round(p.totalMs)} ms (${p.profile})\n`);
  process.stdout.write(textTable(profileTable(p)) + '\n');
}

/**
 * V8's view of the heap during `dissect FILE`: live heap after each full (mark-compact) GC,
 * from --trace-gc (its lines go to stdout, mixed with the jsonl, and are picked out).
 * A live size that keeps rising with the file means retained state; a flat one means the
 * peak RSS is garbage V8 let accumulate between collections.
 */
export async function gcTrace(file) {
  const full = [];
  let scavenges = 0;
  let maxCommittedMB = 0;
  const RE = /(Mark-Compact|Mark-sweep)[^\n]*?([\d.]+) \(([\d.]+)\) -> ([\d.]+) \(([\d.]+)\) MB/;
  const feed = lineFeeder((s, start, end) => {
    if (s.charCodeAt(start) !== 91 /* [ */) return;
    const line = s.slice(start, end);
    if (line.includes('Scavenge')) scavenges++;
    const m = RE.exec(line);
    if (m) {
      full.push(Number(m[4]));
      maxCommittedMB = Math.max(maxCommittedMB, Number(m[3]), Number(m[5]));
    }
  }, 'latin1');
  const r = await runChild(process.execPath, ['--trace-gc', CLI, 'dissect', file, '--format', 'jsonl'], { count: feed });
  if (r.code !== 0) throw new Error(`gc-traced dissect failed: ${r.stderr.slice(0, 300)}`);
  const q = (f) => (full.length ? full[Math.min(full.length - 1, Math.floor(f * full.length))] : null);
  return {
    file: path.relative(ROOT, file),
    fullGcs: full.length,
    scavenges,
    liveAfterFullGcMB: { first: full[0] ?? null, middle: q(0.5), last: full.at(-1) ?? null },
    maxCommittedMB,
  };
}
