// tools/peers/capture.sh from a test: `captureSh('start', DIR, OUT, FILTER)` / `captureSh('stop', DIR)`,
// with its own error text when it fails.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { PEERS_DIR } from './peers';

const execFileAsync = promisify(execFile);
const CAPTURE_SH = path.join(PEERS_DIR, 'capture.sh');

export async function captureSh(...args: string[]): Promise<void> {
  try {
    await execFileAsync('bash', [CAPTURE_SH, ...args], { timeout: 30_000 });
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new Error(`tools/peers/capture.sh ${args[0]} failed: ${(e.stderr ?? '').trim() || e.message}`);
  }
}
