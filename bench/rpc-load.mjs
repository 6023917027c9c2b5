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

const NIL = '00000000-0000-0000-0000-000000000000';

const cfg = JSON.parse(process.argv[2] ?? '{}');
const r = await import(pathToFileURL(cfg.lib).href);
const { RpcConnection, bindInterface, epm, tcpTower, decodeTower } = r;

const say = (kind, obj) => process.stdout.write(obj === undefined ? `${kind}\n` : `${kind} ${JSON.stringify(obj)}\n`);

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

function percentile(sorted, p) {
  if (!sorted.length) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
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

  let phase = 0; // 0 warm-up, 1 measuring, 2 stopping
  let done = 0;
  let errors = 0;
  let firstError = null;
  const lat = new Float64Array(4_000_000);
  let nLat = 0;
  const caller = async (c) => {
    while (phase < 2) {
      const s = performance.now();
      try {
        const res = await c.call(epm.ops.ept_map, args);
        if (res.status !== 0 || res.num_towers < 1) throw new Error(`status 0x${(res.status >>> 0).toString(16)}, ${res.num_towers} towers`);
        if (phase === 1) {
          done++;
          if (nLat < lat.length) lat[nLat++] = performance.now() - s;
        }
      } catch (e) {
        errors++;
        firstError ??= String(e?.message ?? e);
        if (errors > 100) phase = 2;
        await new Promise((res) => setTimeout(res, 10));
      }
    }
  };
  const workers = [];
  for (const c of clients) for (let i = 0; i < cfg.inflight; i++) workers.push(caller(c));
  await new Promise((res) => setTimeout(res, cfg.warmupMs));
  say('phase measure-start');
  const cpu0 = process.cpuUsage();
  const m0 = performance.now();
  phase = 1;
  await new Promise((res) => setTimeout(res, cfg.durationMs));
  phase = 2;
  const elapsedMs = performance.now() - m0;
  const cpu = process.cpuUsage(cpu0);
  const calls = done;
  say('phase measure-end');
  await Promise.all(workers);
  await closeAll(clients);
  const sorted = Array.from(lat.subarray(0, nLat)).sort((a, b) => a - b);
  say('result', {
    ok: errors === 0,
    check,
    conns: cfg.conns,
    inflight: cfg.inflight,
    setupMs,
    calls,
    elapsedMs,
    callsPerSec: calls / (elapsedMs / 1000),
    errors,
    firstError,
    clientCpuMs: (cpu.user + cpu.system) / 1000,
    latencyMs: { p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), max: sorted.at(-1) ?? null },
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
