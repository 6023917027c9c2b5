// `npm run bench [-- ARGS]`: every benchmark, one after another, each given the same ARGS
// (e.g. --write to record its section of BENCHMARKS.md). Exits non-zero if one fails to run.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
let failed = false;
for (const script of ['run.mjs', 'rpc.mjs', 'auth.mjs', 'dcom.mjs', 'scenarios.mjs', 'captures.mjs']) {
  const r = spawnSync(process.execPath, [path.join(here, script), ...args], { stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`bench/${script} exited with ${r.status ?? r.signal}`);
    failed = true;
  }
}
process.exit(failed ? 1 : 0);
