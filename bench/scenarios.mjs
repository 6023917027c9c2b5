#!/usr/bin/env node
// The SP2 scenarios' durations: `dcomlab scenario all --json` on the loopback topology (and on the
// netns topology when run as root), several rounds, the median per scenario and of the total.
// Target (issue 6): a full `dcomlab scenario all` on loopback in < 10 s.
//
//   node bench/scenarios.mjs [--rounds N] [--write] [--no-netns]
// Other benches' options are accepted and ignored, so that one command line feeds them all.
import { spawnSync } from 'node:child_process';
import { CLI, machineInfo, mdTable, passMiss, writeBenchmarksSection } from './lib.mjs';

const SECTION = '## SP2 scenarios';
const TARGET_MS = 10_000;
const log = (s) => process.stderr.write(`[bench scenarios] ${s}\n`);

function parseArgs(argv) {
  const o = { rounds: 3, write: false, netns: true };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--rounds') o.rounds = Math.max(1, Number(argv[++i]));
    else if (argv[i] === '--write') o.write = true;
    else if (argv[i] === '--no-netns') o.netns = false;
  }
  return o;
}

function runAll(topology) {
  const args = [CLI, 'scenario', 'all', '--json', '--topology', topology, '--resolver-port', 'auto'];
  const t0 = performance.now();
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', timeout: 180_000 });
  const wallMs = performance.now() - t0;
  if (r.status !== 0 && r.status !== 1) throw new Error(`dcomlab scenario all --topology ${topology} exited ${r.status}: ${r.stderr.trim().split('\n').pop()}`);
  const rep = JSON.parse(r.stdout);
  return { wallMs, totalMs: rep.totalMs, port: rep.resolverPort, results: rep.results.map((x) => ({ name: x.name, verdict: x.verdict, ms: x.durationMs })) };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

function summarise(runs) {
  const names = runs[0].results.map((r) => r.name);
  return {
    port: runs[0].port,
    totalMedianMs: median(runs.map((r) => r.totalMs)),
    wallMedianMs: median(runs.map((r) => r.wallMs)),
    allPass: runs.every((r) => r.results.every((x) => x.verdict === 'PASS')),
    scenarios: names.map((n) => ({ name: n, ms: median(runs.map((r) => r.results.find((x) => x.name === n).ms)), verdicts: runs.map((r) => r.results.find((x) => x.name === n).verdict) })),
  };
}

function canNetns() {
  if (process.getuid?.() !== 0) return 'not root';
  const r = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  return r.status === 0 ? null : 'ip netns unavailable';
}

function section(res, o) {
  const m = res.machine;
  const L = [SECTION, '', `Written by \`node bench/scenarios.mjs --write\` on ${res.when}; do not edit by hand.`, ''];
  L.push(`- Machine: ${m.nproc} CPUs, ${m.cpu}, ${m.memGiB} GiB RAM, ${m.os}; Node ${m.node}`);
  L.push(`- Each round is one \`node dist/cli/main.js scenario all --json --topology T --resolver-port auto\` process; ${o.rounds} rounds per topology, medians shown. A scenario's time runs from starting its boxes to the verdict; the drop-firewall scenarios wait out the server's 2 s resolve/connect timeout, as the issue specifies.`);
  L.push('');
  const lb = res.loopback;
  L.push('| target | measured | result |', '|---|---|---|');
  L.push(`| \`dcomlab scenario all\` on loopback < 10 s | ${(lb.totalMedianMs / 1000).toFixed(2)} s (scenarios), ${(lb.wallMedianMs / 1000).toFixed(2)} s (whole command, process start included) | ${passMiss(lb.wallMedianMs < TARGET_MS && lb.allPass)} |`);
  L.push('');
  const topo = [['loopback', lb], ...(res.netns ? [['netns', res.netns]] : [])];
  const header = ['scenario', ...topo.map(([t]) => `${t} ms`), ...topo.map(([t]) => `${t} verdicts`)];
  const rows = lb.scenarios.map((s, i) => [s.name, ...topo.map(([, r]) => String(Math.round(r.scenarios[i].ms))), ...topo.map(([, r]) => r.scenarios[i].verdicts.join(' '))]);
  rows.push(['whole run (setup included)', ...topo.map(([, r]) => String(Math.round(r.totalMedianMs))), ...topo.map(() => '')]);
  L.push(mdTable([header, ...rows], ['l', ...topo.map(() => 'r'), ...topo.map(() => 'l')]));
  L.push('');
  L.push(`Resolver port: ${lb.port} on loopback${res.netns ? `, ${res.netns.port} on netns` : ''}.${res.netnsSkipped ? ` netns not measured: ${res.netnsSkipped}.` : ''}`);
  return L.join('\n');
}

const o = parseArgs(process.argv.slice(2));
const res = { when: new Date().toISOString(), machine: machineInfo() };
const loop = [];
for (let i = 0; i < o.rounds; i++) {
  loop.push(runAll('loopback'));
  log(`loopback round ${i + 1}: ${Math.round(loop.at(-1).totalMs)} ms`);
}
res.loopback = summarise(loop);
const why = o.netns ? canNetns() : '--no-netns';
if (!why) {
  const ns = [];
  for (let i = 0; i < o.rounds; i++) {
    try {
      ns.push(runAll('netns'));
      log(`netns round ${i + 1}: ${Math.round(ns.at(-1).totalMs)} ms`);
    } catch (e) {
      res.netnsSkipped = String(e.message ?? e);
      break;
    }
  }
  if (ns.length) res.netns = summarise(ns);
} else res.netnsSkipped = why;
const md = section(res, o);
process.stdout.write(md + '\n');
if (o.write) log(`wrote ${writeBenchmarksSection(SECTION, md)}`);
if (!res.loopback.allPass) process.exitCode = 1;
