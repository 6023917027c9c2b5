// `dcomlab replay FILE --target HOST[:PORT]`: re-send the client side of a capture's conversations to
// a live server and diff each live answer with the captured one (src/replay). Exit 0 when every
// replayed call is equivalent, 1 with the differences otherwise, 2 for unusable input.
import type { Command } from 'commander';
import { SingleBar } from 'cli-progress';
import { readReplayScript } from '../replay/script';
import { replayCapture, type CallResult, type ReplayReport } from '../replay/replay';
import { authSpecFrom } from './auth-options';
import { collect, parsePort } from './common';
import { decryptCredentialsFrom } from './decrypt-options';
import { CliError } from './errors';

interface ReplayCliOptions {
  target: string;
  stream?: string[];
  user?: string;
  password?: string;
  ntHash?: string;
  ntlm?: string;
  capturePassword?: string[];
  captureNtHash?: string[];
  timeout: string;
  json?: boolean;
}

/** Calls from which a progress bar is worth drawing (on a terminal only). */
const PROGRESS_FROM = 50;

export function registerReplay(program: Command): void {
  program
    .command('replay')
    .description('re-send the client side of a capture to a live server (authentication redone, OXIDs/IPIDs/handles substituted, activations followed to the live exporter) and diff each answer with the captured one')
    .argument('<file>', 'pcap or pcapng (gzip too)')
    .requiredOption('--target <host[:port]>', 'the live server (activator/resolver; port 135 by default)')
    .option('--stream <n>', 'replay only this TCP stream (repeatable; an exporter conversation needs its activation\'s stream too)', collect)
    .option('--user <[DOMAIN\\]NAME>', 'live account, for the conversations the capture authenticated (env DCOMLAB_USER)')
    .option('--password <p>', 'its password (env DCOMLAB_PASSWORD); also tried on the capture\'s sealed stubs')
    .option('--nt-hash <hex>', 'its NT hash instead (env DCOMLAB_NT_HASH)')
    .option('--ntlm <version>', 'v2, ntlm2 or v1', 'v2')
    .option('--capture-password <p>', 'password to read the capture\'s sealed stubs with, when not the live one (repeatable)', collect)
    .option('--capture-nt-hash <hex>', 'NT hash to read the capture\'s sealed stubs with (repeatable)', collect)
    .option('--timeout <ms>', 'per connection and call', '10000')
    .option('--json', 'one JSON document')
    .action(async (file: string, o: ReplayCliOptions) => {
      const target = parseTarget(o.target);
      const streams = o.stream?.map((s) => {
        const n = Number(s);
        if (!Number.isInteger(n) || n < 0) throw new CliError(`--stream must be a TCP stream number, not ${JSON.stringify(s)}`);
        return n;
      });
      const timeout = Number(o.timeout);
      if (!Number.isFinite(timeout) || timeout <= 0) throw new CliError(`--timeout must be a positive number of ms, not ${o.timeout}`);
      const live = o.user !== undefined || process.env.DCOMLAB_USER !== undefined
        ? authSpecFrom({ authLevel: 'connect', user: o.user, password: o.password, ntHash: o.ntHash, ntlm: o.ntlm })
        : undefined;
      // The capture's sealed stubs: the given capture secrets, else the live ones.
      const capturePasswords = o.capturePassword ?? (o.password !== undefined ? [o.password] : []);
      const captureHashes = o.captureNtHash ?? (o.ntHash !== undefined ? [o.ntHash] : []);
      const creds = decryptCredentialsFrom({ password: capturePasswords, ntHash: captureHashes });

      const script = await readReplayScript(file, creds);
      const total = script.calls.filter((c) => !streams || streams.includes(c.stream)).length;
      const bar = process.stderr.isTTY && total >= PROGRESS_FROM && !o.json
        ? new SingleBar({ stream: process.stderr, format: 'replay [{bar}] {value}/{total} calls', hideCursor: true, clearOnComplete: true })
        : undefined;
      bar?.start(total, 0);
      let report: ReplayReport;
      try {
        report = await replayCapture(script, {
          target, ...(live ? { credentials: live.credentials } : {}), ...(streams ? { streams: new Set(streams) } : {}),
          callTimeoutMs: timeout, connectTimeoutMs: timeout,
          onCall: (_r, done) => bar?.update(done),
        });
      } finally {
        bar?.stop();
      }
      if (report.calls.length === 0) throw new CliError(`${file}: no call to replay${streams ? ` in stream(s) ${streams.join(', ')}` : ''}`);
      process.stdout.write(o.json ? JSON.stringify(report, null, 2) + '\n' : replayText(report));
      if (report.different > 0) process.exitCode = 1;
    });
}

/** HOST, HOST:PORT, [V6] or [V6]:PORT; port 135 by default. */
export function parseTarget(s: string): { host: string; port: number } {
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(s);
  if (v6) return { host: v6[1]!, port: v6[2] ? parsePort(v6[2], '--target port') : 135 };
  const m = /^([^:]+)(?::(\d+))?$/.exec(s);
  if (m) return { host: m[1]!, port: m[2] ? parsePort(m[2], '--target port') : 135 };
  if (s.includes(':')) return { host: s, port: 135 }; // a bare IPv6 address
  throw new CliError(`--target must be HOST[:PORT], not ${JSON.stringify(s)}`);
}

function callLine(c: CallResult): string[] {
  const head = `stream ${c.stream} call ${c.callId} ${c.operation}`;
  if (c.verdict === 'equivalent') return [`${head}: equivalent${c.note ? ` (${c.note})` : ''}`];
  if (c.verdict === 'skipped') return [`${head}: skipped: ${c.note ?? ''}`];
  return [`${head}: DIFFERENT${c.note ? ` (${c.note})` : ''}`, ...c.differences.map((d) => `    ${d.path}: captured ${d.captured}, live ${d.live}`)];
}

export function replayText(r: ReplayReport): string {
  const L: string[] = [];
  for (const s of r.streams) {
    L.push(`stream ${s.stream}: ${s.client} -> ${s.server}${s.auth ? ` ${s.auth}` : ' unauthenticated'}${s.live ? `, replayed to ${s.live}` : ''}${s.note ? `: ${s.note}` : ''}`);
  }
  for (const c of r.calls) L.push(...callLine(c));
  for (const n of r.notes) L.push(`note: ${n}`);
  L.push(`${r.calls.length} call(s) against ${r.target}: ${r.equivalent} equivalent, ${r.different} different, ${r.skipped} skipped` +
    ` -> ${r.different ? 'NOT equivalent' : 'equivalent'}`);
  return L.join('\n') + '\n';
}
