#!/usr/bin/env node
// Load generator of bench/dcom.mjs, run as its own process so that its CPU time is measured
// apart from the server's (`dcomlab serve`). dcomlab's DCOM client (dcom.DcomClient) throughout.
//
//   node bench/dcom-load.mjs JSON
//
// JSON: { lib, host, resolverPort (135), level (6 = PKT_PRIVACY), mode: "activate" | "ping",
//         warmupMs, durationMs, ... }
//
// mode "activate" (+ concurrency, release): `concurrency` loops, each doing full activations
// back to back. One full activation = new DcomClient({ auth: NTLMv2 as LAB\alice at `level`,
// noPing: true }) + activate(host, CLSID_CServer, [IID_ICServer]) (TCP connect to the resolver
// port, NTLM bind of IRemoteSCMActivator (bind, bind_ack, auth3), RemoteCreateInstance, that
// connection closed) + one ICServer::Ping on the interface returned (TCP connect to the
// exporter's string binding, NTLM bind at max(level, authnHint), the call; echo and HRESULT
// checked) + [with `release`, IRemUnknown::RemRelease] + close() (the exporter connection
// closed). `noPing`: no ping set is made (the bench measures activations, not the pinger).
//
// mode "ping" (+ inflight): one client, one activation, then `inflight` callers keep
// ICServer::Ping calls outstanding on its one exporter connection (each: call, await, check the
// echo and the HRESULT, repeat); at the end the interface is released and the client closed.
//
// Both: a checked warm-up activation first, then the measuring loop of bench/load-lib.mjs
// (`warmupMs` of warm-up, then the operations completed in the next `durationMs` counted),
// which prints "phase measure-start" / "phase measure-end" (the parent samples the server's CPU
// time on them); a final "result JSON" line with the count, the rate and latency percentiles
// (p50, p90, p99, max) of the measured operations.
import { pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';
import { measureLoop, percentile, say } from './load-lib.mjs';

const cfg = JSON.parse(process.argv[2] ?? '{}');
const { dcom } = await import(pathToFileURL(cfg.lib).href);
const { DcomClient, ICServer, CLSID_CServer, IID_ICServer } = dcom;
const level = cfg.level ?? 6;
const CREDS = { user: 'alice', domain: 'LAB', password: 'Secret1!' };

// measureLoop's window, as it announces it: its "phase" lines are written synchronously right
// before it starts and right after it stops counting, so an operation that completes between
// the two is one it counted. Kept here to give p90 and the latencies of exactly those operations.
const window = { start: null, end: null };
{
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = (chunk, ...rest) => {
    if (chunk === 'phase measure-start\n') window.start = performance.now();
    else if (chunk === 'phase measure-end\n') window.end = performance.now();
    return write(chunk, ...rest);
  };
}
/** [completion time, latency ms] of every successful operation. */
const done = [];

function newClient() {
  return new DcomClient({ auth: { credentials: CREDS, level }, resolverPort: cfg.resolverPort ?? 135, noPing: true, connectTimeoutMs: 20_000 });
}

let seq = 1;
async function checkedPing(itf) {
  const v = seq++ & 0x7fffffff;
  const r = await itf.call(ICServer, 'Ping', { value: v });
  if (r.echo !== v || r.hresult !== 0) throw new Error(`Ping answered echo ${r.echo} hresult 0x${(r.hresult >>> 0).toString(16)} (sent ${v})`);
}

/** One activation on client `c`: the interface, checked (HRESULT, exporter level). */
async function activate(c) {
  const a = await c.activate(cfg.host, CLSID_CServer, [IID_ICServer]);
  const itf = a.interfaces[0]?.iface;
  if (a.hr !== 0 || !itf) throw new Error(`activation answered hr 0x${(a.hr >>> 0).toString(16)}, interface hr 0x${((a.interfaces[0]?.hr ?? 0) >>> 0).toString(16)}`);
  return { a, itf };
}

/** The measuring loop (bench/load-lib.mjs), with p90 and the latencies from `done`. */
async function measure(loops, once) {
  const timed = async (k) => {
    const s = performance.now();
    await once(k);
    const e = performance.now();
    done.push([e, e - s]);
  };
  const m = await measureLoop(loops, timed, { warmupMs: cfg.warmupMs ?? 1000, durationMs: cfg.durationMs ?? 3000 });
  const lat = done.filter(([e]) => window.start !== null && e >= window.start && (window.end === null || e <= window.end)).map(([, d]) => d).sort((a, b) => a - b);
  return {
    ...m, ok: m.errors === 0 && m.count > 0, perSec: (m.count * 1000) / m.elapsedMs,
    latencyMs: { p50: percentile(lat, 0.5), p90: percentile(lat, 0.9), p99: percentile(lat, 0.99), min: lat[0] ?? null, max: lat.at(-1) ?? null },
    latencyCount: lat.length,
  };
}

async function runActivations() {
  const concurrency = cfg.concurrency ?? 1;
  const release = !!cfg.release;
  const once = async () => {
    const c = newClient();
    try {
      const { itf } = await activate(c);
      await checkedPing(itf);
      if (release) {
        const hr = await itf.release();
        if (hr !== 0) throw new Error(`RemRelease answered 0x${(hr >>> 0).toString(16)}`);
      }
    } finally {
      await c.close();
    }
  };
  // The check before timing: one activation, its exporter level and the Ping's answer.
  const c = newClient();
  let check;
  try {
    const { a, itf } = await activate(c);
    await checkedPing(itf);
    check = { hr: a.hr, oxid: `0x${a.oxid.oxid.toString(16)}`, authnHint: a.oxid.authnHint, exporter: a.exporter, ipid: itf.ipid };
  } finally {
    await c.close();
  }
  if (check.exporter.level !== Math.max(level, Math.min(check.authnHint, 6))) return { ok: false, check, error: `exporter bound at level ${check.exporter.level}` };
  const r = await measure(concurrency, once);
  return { ...r, check, concurrency, release, level, activations: r.count, activationsPerSec: r.perSec };
}

async function runPings() {
  const inflight = cfg.inflight ?? 16;
  const c = newClient();
  try {
    const { a, itf } = await activate(c);
    await checkedPing(itf);
    const check = { hr: a.hr, oxid: `0x${a.oxid.oxid.toString(16)}`, authnHint: a.oxid.authnHint, exporter: a.exporter, ipid: itf.ipid };
    const r = await measure(inflight, () => checkedPing(itf));
    const hr = await itf.release();
    return { ...r, check, inflight, level, calls: r.count, callsPerSec: r.perSec, releaseHr: hr };
  } finally {
    await c.close();
  }
}

try {
  const res = cfg.mode === 'ping' ? await runPings() : await runActivations();
  if (res.count > 0) res.clientCpuUsPerOp = (res.clientCpuMs * 1000) / res.count;
  say('result', res);
} catch (e) {
  say('result', { ok: false, error: String(e?.stack ?? e) });
}
process.exit(0);
