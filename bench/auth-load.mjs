#!/usr/bin/env node
// Load generator of bench/auth.mjs, run as its own process so that its CPU time is measured
// apart from the server's (bench/auth-server.mjs). dcomlab's client throughout.
//
//   node bench/auth-load.mjs JSON
//
// JSON: { lib, host, port, mode: "bulk" | "handshake", level (1 NONE, 5 PKT_INTEGRITY,
//         6 PKT_PRIVACY), authType (10 NTLM, default; 9 SPNEGO), warmupMs, durationMs, ... }
//
// mode "bulk" (+ size, conns, inflight): open `conns` connections (NTLMv2 as LAB\alice at
// `level`, none at level 1), bind AuthBench on each, check one Echo of `size` random bytes
// comes back identical, then run `inflight` callers per connection (Echo, await, compare the
// answer with what was sent, repeat): `warmupMs` of warm-up, then the calls completed in the
// next `durationMs` are counted.
//
// mode "handshake" (+ concurrency, withCall): `concurrency` loops, each: connect, bind with a
// fresh NtlmInitiator (bind -> bind_ack -> auth3), with withCall one Ping (signed or sealed at
// `level`; its answer shows the server completed the exchange), close; repeat. Counted as
// for bulk.
//
// Prints "phase measure-start" / "phase measure-end" (the parent samples the server's CPU time
// on them) and a final "result JSON" line.
import { pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { benchIface } from './auth-iface.mjs';
import { measureLoop, say } from './load-lib.mjs';

const cfg = JSON.parse(process.argv[2] ?? '{}');
const { rpc, auth, ndr } = await import(pathToFileURL(cfg.lib).href);
const iface = benchIface(ndr);
const level = cfg.level ?? 1;
const authType = cfg.authType ?? auth.RPC_C_AUTHN_WINNT;
const CREDS = { user: 'alice', domain: 'LAB', password: 'Secret1!', ntlm: 'v2' };


function clientOptions() {
  const o = { connectTimeoutMs: 20_000 };
  if (level > 1) o.auth = { initiator: auth.createInitiator(authType, CREDS, level), level };
  return o;
}

async function openBound() {
  const conn = await rpc.RpcConnection.connect(cfg.host, cfg.port, clientOptions());
  try {
    return await rpc.bindInterface(conn, iface);
  } catch (e) {
    await conn.close().catch(() => {});
    throw e;
  }
}

/** The measuring loop (bench/load-lib.mjs) with this run's warm-up and duration. */
async function measure(loops, once) {
  const m = await measureLoop(loops, once, { warmupMs: cfg.warmupMs ?? 1000, durationMs: cfg.durationMs ?? 3000 });
  return { ...m, ok: m.errors === 0 && m.count > 0, perSec: (m.count * 1000) / m.elapsedMs };
}

async function runBulk() {
  const size = cfg.size ?? 65536;
  const conns = cfg.conns ?? 1;
  const inflight = cfg.inflight ?? 4;
  const clients = [];
  for (let i = 0; i < conns; i++) clients.push(await openBound());
  // One payload per caller, so that answers cannot be confused between callers.
  const payloads = Array.from({ length: conns * inflight }, () => randomBytes(size));
  const first = await clients[0].call(iface.ops.Echo, { data: payloads[0] });
  const check = { status: first.status, bytes: first.data.length, identical: Buffer.compare(first.data, payloads[0]) === 0 };
  if (first.status !== 0 || !check.identical) {
    await Promise.all(clients.map((c) => c.conn.close().catch(() => {})));
    return { ok: false, check, error: `Echo answered status ${first.status}, ${first.data.length} bytes, identical ${check.identical}` };
  }
  const r = await measure(conns * inflight, async (k) => {
    const c = clients[k % conns];
    const res = await c.call(iface.ops.Echo, { data: payloads[k] });
    if (res.status !== 0 || !payloads[k].equals(res.data)) throw new Error(`Echo answer differs (status ${res.status}, ${res.data.length} bytes)`);
  });
  await Promise.all(clients.map((c) => c.conn.close().catch(() => {})));
  return {
    ...r, check, size, conns, inflight, level, calls: r.count, callsPerSec: r.perSec,
    // Payload bytes per direction (each Echo carries `size` bytes in and `size` bytes out).
    mbPerSec: (r.perSec * size) / 1e6, clientCpuUsPerCall: r.count ? (r.clientCpuMs * 1000) / r.count : null,
  };
}

async function runHandshakes() {
  const concurrency = cfg.concurrency ?? 16;
  const withCall = !!cfg.withCall;
  // The check before timing: one handshake and one Ping.
  {
    const c = await openBound();
    const res = await c.call(iface.ops.Ping, { value: 0x1234 });
    await c.conn.close();
    if (res.status !== 0 || res.value !== 0x1234) return { ok: false, error: `Ping answered status ${res.status}, value ${res.value}` };
  }
  let seq = 1;
  const r = await measure(concurrency, async () => {
    const c = await openBound();
    try {
      if (withCall) {
        const v = seq++ >>> 0;
        const res = await c.call(iface.ops.Ping, { value: v });
        if (res.status !== 0 || res.value !== v) throw new Error(`Ping answered status ${res.status}, value ${res.value} (sent ${v})`);
      }
    } finally {
      await c.conn.close();
    }
  });
  return {
    ...r, concurrency, withCall, level, handshakes: r.count, handshakesPerSec: r.perSec,
    clientCpuUsPerHandshake: r.count ? (r.clientCpuMs * 1000) / r.count : null,
  };
}

try {
  const res = cfg.mode === 'handshake' ? await runHandshakes() : await runBulk();
  say('result', res);
} catch (e) {
  say('result', { ok: false, error: String(e?.stack ?? e) });
}
process.exit(0);
