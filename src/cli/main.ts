#!/usr/bin/env node
// The dcomlab command. Errors print one line with the protocol's status and exit non-zero,
// never a stack trace.
import { Command, CommanderError } from 'commander';
import { setFlagsFromString } from 'node:v8';
import { formatError } from '../base/errors';
import { registerDissect } from './dissect';
import { registerDcom } from './dcom';
import { registerLab } from './lab';
import { registerSessions } from './sessions';
import { registerEpm } from './epm';
import { registerServe } from './serve';
import { registerReplay } from './replay';
import { VERSION } from '../version';

// dcomlab's commands stream (a capture, a server's connections) with a small live heap, some
// tens of MB, but allocate fast; V8 then lets the old generation grow to four times the live
// size between full collections, and `dissect` of a 440 MB capture peaked near 200 MB resident.
// Growing it by at most 100% of what survives the last full collection bounds that (about 165
// MB) and measured no slower (BENCHMARKS.md, Captures). V8 reads this flag each time it sets
// the next limit, so setting it here, before any work, takes effect.
setFlagsFromString('--heap-growing-percent=100');

async function main(argv: string[]): Promise<number> {
  const program = new Command();
  program
    .name('dcomlab')
    .description('MSRPC/DCOM wire protocols, to reproduce real DCOM failures over real sockets')
    .version(VERSION)
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  registerDissect(program);
  registerServe(program);
  registerEpm(program);
  registerDcom(program);
  registerLab(program);
  registerSessions(program);
  registerReplay(program);
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    process.stderr.write(`dcomlab: ${formatError(e)}\n`);
    return 2;
  }
}

main(process.argv).then((code) => {
  // A command may have set a non-zero exit code itself (e.g. activate with an interface missing).
  process.exitCode = code !== 0 ? code : process.exitCode ?? 0;
  // For benchmarks: peak resident memory of this process, measured by the kernel.
  if (process.env.DCOMLAB_REPORT_RSS) process.stderr.write(`dcomlab-maxrss-kb ${process.resourceUsage().maxRSS}\n`);
});
