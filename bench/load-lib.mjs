// Shared by the load-generator processes (bench/rpc-load.mjs, bench/auth-load.mjs): the line
// protocol they speak to their bench, and the measuring loop.
import { performance } from 'node:perf_hooks';

/** One line to the bench: `kind` or `kind {json}`. */
export const say = (kind, obj) => process.stdout.write(obj === undefined ? `${kind}\n` : `${kind} ${JSON.stringify(obj)}\n`);

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function percentile(sorted, p) {
  if (!sorted.length) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

/**
 * `loops` async workers call `once(k)` back to back: a warm-up, then the measured window (announced
 * with "phase measure-start/end" lines), counting completed calls and their latencies. More than
 * 100 errors stop the run early.
 */
export async function measureLoop(loops, once, { warmupMs = 1000, durationMs = 3000, maxLatencies = 2_000_000 } = {}) {
  let phase = 0; // 0 warm-up, 1 measuring, 2 stopping
  let done = 0;
  let errors = 0;
  let firstError = null;
  const lat = new Float64Array(maxLatencies);
  let nLat = 0;
  const worker = async (k) => {
    while (phase < 2) {
      const s = performance.now();
      try {
        await once(k);
        if (phase === 1) {
          done++;
          if (nLat < lat.length) lat[nLat++] = performance.now() - s;
        }
      } catch (e) {
        errors++;
        firstError ??= String(e?.message ?? e);
        if (errors > 100) phase = 2;
        await sleep(10);
      }
    }
  };
  const workers = Array.from({ length: loops }, (_, k) => worker(k));
  await sleep(warmupMs);
  say('phase measure-start');
  const cpu0 = process.cpuUsage();
  const m0 = performance.now();
  phase = 1;
  await sleep(durationMs);
  phase = 2;
  const elapsedMs = performance.now() - m0;
  const cpu = process.cpuUsage(cpu0);
  const count = done;
  say('phase measure-end');
  await Promise.all(workers);
  const sorted = Array.from(lat.subarray(0, nLat)).sort((a, b) => a - b);
  return {
    count, errors, firstError, elapsedMs,
    clientCpuMs: (cpu.user + cpu.system) / 1000,
    latencyMs: { p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), max: sorted.at(-1) ?? null },
  };
}
