#!/usr/bin/env node
// Load generator for bench/rpc.mjs, run as its own process so that its CPU time is measured
// apart from the server's. The same code drives dcomlab's endpoint mapper and Samba's.
//
//   node bench/rpc-load.mjs JSON
//
// JSON: { lib, host, port, iface: {uuid, version}, mode: "calls" | "hold", conns, inflight,
//         warmupMs, durationMs, batch }   (batch: connections opened at a time, default 10 —
//         Samba listens with a backlog of 10, and SYNs beyond it wait for a retransmit)
//
// mode "calls": open `conns` connections, bind epm on each, check one ept_map answers status 0
// with a tower, then run `inflight` callers per connection (each: ept_map, await, repeat) for
// warmupMs, then count the calls completed in the next durationMs. Prints "phase measure-start"
// and "phase measure-end" lines (the parent samples the server's CPU time on them) and a final
// "result JSON" line.
//
// mode "hold": open and bind `conns` connections (`batch` at a time), print "held JSON", keep
// them idle until a line arrives on stdin (or stdin closes), then make one ept_map on each (to
// show that all of them were still open and bound), close them and print "result JSON".
import { pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';
import { measureLoop, say } from './load-lib.mjs';

const NIL = '00000000-0000-0000-0000-000000000000';

const cfg = JSON.parse(process.argv[2] ?? '{}');
const r = await import(pathToFileURL(cfg.lib).href);
const { RpcConnection, bindInterface, epm, tcpTower, decodeTower } = r;


async function openBound(n, batch = n) {
  const out = [];
  for (let i = 0; i < n; i += batch) {
    const part = await Promise.all(
      Array.from({ length: Math.min(batch, n - i) }, async () => {
        const conn = await RpcConnection.connect(cfg.host, cfg.port, { connectTimeoutMs: 20_000 });
        return bindInterface(conn, epm);
      }),
    );
    out.push(...part);
  }
  return out;
}

function mapArgs() {
  const tower = tcpTower(cfg.iface, '0.0.0.0', 0);
  return {
    object: null,
    map_tower: { tower_length: tower.length, tower_octet_string: tower },
    entry_handle: { attributes: 0, uuid: NIL },
    max_towers: 4,
  };
}

async function closeAll(clients) {
  await Promise.all(clients.map((c) => c.conn.close().catch(() => {})));
}

async function runCalls() {
  const args = mapArgs();
  const t0 = performance.now();
  const clients = await openBound(cfg.conns, cfg.batch ?? 10);
  const setupMs = performance.now() - t0;
  // The check before timing: status 0 and at least one ncacn_ip_tcp tower.
  const first = await clients[0].call(epm.ops.ept_map, args);
  const towers = first.towers.filter(Boolean).map((t) => decodeTower(t.tower_octet_string));
  const check = { status: first.status, numTowers: first.num_towers, bindings: towers.map((t) => t.binding) };
  if (first.status !== 0 || !towers.length) {
    await closeAll(clients);
    say('result', { ok: false, check, error: `ept_map answered status 0x${(first.status >>> 0).toString(16)} with ${towers.length} towers` });
    return;
  }

  // One worker per call in flight, cfg.inflight of them on each connection.
  const targets = clients.flatMap((c) => Array.from({ length: cfg.inflight }, () => c));
  const m = await measureLoop(targets.length, async (k) => {
    const res = await targets[k].call(epm.ops.ept_map, args);
    if (res.status !== 0 || res.num_towers < 1) throw new Error(`status 0x${(res.status >>> 0).toString(16)}, ${res.num_towers} towers`);
  }, { warmupMs: cfg.warmupMs, durationMs: cfg.durationMs, maxLatencies: 4_000_000 });
  await closeAll(clients);
  say('result', {
    ok: m.errors === 0,
    check,
    conns: cfg.conns,
    inflight: cfg.inflight,
    setupMs,
    calls: m.count,
    elapsedMs: m.elapsedMs,
    callsPerSec: m.count / (m.elapsedMs / 1000),
    errors: m.errors,
    firstError: m.firstError,
    clientCpuMs: m.clientCpuMs,
    latencyMs: m.latencyMs,
  });
}

async function runHold() {
  const t0 = performance.now();
  let clients;
  try {
    clients = await openBound(cfg.conns, cfg.batch ?? 10);
  } catch (e) {
    say('result', { ok: false, error: String(e?.message ?? e) });
    return;
  }
  const setupMs = performance.now() - t0;
  say('held', { conns: clients.length, setupMs });
  await new Promise((res) => {
    process.stdin.once('data', res);
    process.stdin.once('end', res);
  });
  // After the measurement: every connection should still be open and bound. One ept_map each proves it.
  const args = mapArgs();
  let alive = 0;
  for (let i = 0; i < clients.length; i += 100) {
    const rs = await Promise.allSettled(clients.slice(i, i + 100).map((c) => c.call(epm.ops.ept_map, args, { timeoutMs: 20_000 })));
    alive += rs.filter((x) => x.status === 'fulfilled' && x.value.status === 0).length;
  }
  await closeAll(clients);
  say('result', { ok: alive === clients.length, conns: clients.length, alive, setupMs });
  process.stdin.destroy();
}

try {
  if (cfg.mode === 'hold') await runHold();
  else await runCalls();
} catch (e) {
  say('result', { ok: false, error: String(e?.stack ?? e) });
}
