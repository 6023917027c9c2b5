// Running the built `dcomlab` command as a user does: one-shot commands, and `serve` in the background.
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { PROJECT_ROOT } from './paths';

export const CLI = path.join(PROJECT_ROOT, 'dist', 'cli', 'main.js');

/** Run `dcomlab ARGS` to completion. */
export function dcomlab(args: string[], env: NodeJS.ProcessEnv = process.env) {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env, timeout: 60_000 });
}

/**
 * Start `dcomlab serve ...` and wait until it printed `untilLines` lines saying "listening on" (or
 * exited); the caller stops it with p.kill().
 */
export function serve(args: string[], opts: { uid?: number; gid?: number } = {}, untilLines = 1) {
  const p = spawn(process.execPath, [CLI, 'serve', ...args, '--log-level', 'warn'], { ...opts, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const ready = new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
    p.stdout.on('data', (d) => {
      out += d;
      if ((out.match(/listening on/g) ?? []).length >= untilLines) resolve({ code: null, out, err });
    });
    p.stderr.on('data', (d) => (err += d));
    p.on('exit', (code) => resolve({ code, out, err }));
  });
  return { p, ready };
}
