// Shared plumbing for the interop suites: run a peer's script or dcomlab's built CLI and get
// (exit code, stdout, stderr) back without throwing, and run `dcomlab serve` in the background.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { existsSync } from 'node:fs';
import { IMPACKET_PYTHON, PEERS_DIR } from '../support/peers';
import { PROJECT_ROOT } from '../support/paths';

/** tools/peers/epm_list.py: Impacket's ept_lookup loop / hept_map, JSON out. */
export const EPM_LIST_PY = path.join(PEERS_DIR, 'epm_list.py');
/** tools/peers/mgmt_ifids.py: Impacket's mgmt client, JSON out. */
export const MGMT_IFIDS_PY = path.join(PEERS_DIR, 'mgmt_ifids.py');
/** The built CLI (`npm run build`; `npm test` builds first). */
export const CLI = path.join(PROJECT_ROOT, 'dist', 'cli', 'main.js');

export interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs a program to its end; never throws for a non-zero exit (the caller asserts). */
export function run(cmd: string, args: string[], opts: { timeoutMs?: number; cwd?: string } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile(
      cmd, args,
      { timeout: opts.timeoutMs ?? 60_000, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8', cwd: opts.cwd ?? PROJECT_ROOT },
      (err, stdout, stderr) => {
        const e = err as (NodeJS.ErrnoException & { code?: number | string; signal?: NodeJS.Signals }) | null;
        if (e && typeof e.code === 'string') {
          reject(new Error(`${cmd} ${args.join(' ')}: ${e.message}`));
          return;
        }
        resolve({ code: e ? (typeof e.code === 'number' ? e.code : null) : 0, signal: e?.signal ?? null, stdout, stderr });
      },
    );
  });
}

export function python(script: string, args: string[], timeoutMs?: number): Promise<Run> {
  return run(IMPACKET_PYTHON, [script, ...args], { timeoutMs });
}

/** Fails with the script's stderr when it did not exit 0 or printed no JSON. */
export function parseJson<T>(r: Run, what: string): T {
  if (r.code !== 0) throw new Error(`${what} exited ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`);
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    throw new Error(`${what} printed no JSON: ${r.stdout.slice(0, 500)} / ${r.stderr.slice(0, 500)}`);
  }
}

export function cli(args: string[], timeoutMs?: number): Promise<Run> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first`);
  return run(process.execPath, [CLI, ...args], { timeoutMs });
}

/** One entry as tools/peers/epm_list.py prints it. */
export interface ImpacketEntry {
  object: string;
  annotation: string;
  floors: number;
  uuid?: string;
  version?: string;
  protseq?: string;
  binding?: string;
}

/** `dcomlab serve` running in the background; stop() sends SIGTERM to its PID and waits for the exit. */
export interface CliServer {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }>;
}

export async function startCliServe(args: string[], readyLine: string, timeoutMs = 15_000): Promise<CliServer> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first`);
  const child = spawn(process.execPath, [CLI, 'serve', ...args], { cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  const server: CliServer = {
    child,
    stdout: () => out,
    stderr: () => err,
    async stop() {
      const t0 = Date.now();
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const r = await exited;
      clearTimeout(timer);
      return { ...r, ms: Date.now() - t0 };
    },
  };
  const deadline = Date.now() + timeoutMs;
  while (!out.includes(readyLine)) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`dcomlab serve ${args.join(' ')} exited (${child.exitCode ?? child.signalCode}) before "${readyLine}": ${err.trim()}`);
    }
    if (Date.now() > deadline) {
      await server.stop();
      throw new Error(`dcomlab serve ${args.join(' ')} did not print "${readyLine}" within ${timeoutMs} ms: ${out}${err}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return server;
}

/** Sorts rows of primitive tuples so that two lists compare as multisets. */
export function sortedRows<T extends readonly (string | number | undefined)[]>(rows: T[]): T[] {
  return [...rows].sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : JSON.stringify(a) > JSON.stringify(b) ? 1 : 0));
}
