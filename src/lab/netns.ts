// The netns topology of the SP2 scenarios: two network namespaces joined by a veth pair, the server
// box (10.213.0.1) and the client box (10.213.0.2) each a `dcomlab` process in its own namespace, and
// the client box's blocked ports closed by real iptables rules in its namespace. Needs root (or
// CAP_SYS_ADMIN + CAP_NET_ADMIN): `ip netns add`, iptables, and port 135 inside the namespaces.
//
// What it runs, per scenario (NS = dcl-<pid>-srv / dcl-<pid>-cli):
//   ip netns add NS_SRV; ip netns add NS_CLI
//   ip netns exec NS sysctl -q -w net.ipv6.conf.{all,default}.disable_ipv6=1   (quiet captures; best effort)
//   ip link add veth-srv netns NS_SRV type veth peer name veth-cli netns NS_CLI
//   ip -n NS addr add 10.213.0.{1,2}/24 dev veth-{srv,cli}; ip -n NS link set {lo,veth-*} up
//   per blocked port D (135 or the resolver port; the exporter port, 49500 by default), in NS_CLI:
//     iptables -w 5 -A INPUT -s 10.213.0.1 -p tcp --dport D --syn          (counts connection attempts)
//     iptables -w 5 -A INPUT ! -i lo -p tcp --dport D -j DROP              (or -j REJECT --reject-with tcp-reset)
//   with a capture DIR: ip netns exec NS dumpcap -q -i veth-{srv,cli} -w DIR/<scenario>-{server,client}.pcapng
//   ip netns exec NS_SRV node dist/cli/main.js serve --host 10.213.0.1 --resolver-port P ...
//   ip netns exec NS_CLI node dist/cli/main.js client --server 10.213.0.1 --host 10.213.0.2 ... --json
//   iptables -w 5 -L INPUT -v -n -x --line-numbers (the rules' counters), then ip netns delete both.
// Every process is stopped by its PID and both namespaces are deleted, also when something fails;
// namespaces left with the same names (a crashed run whose PID came back) are deleted first.
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { DcomlabError } from '../base/errors';
import type { Logger } from '../base/log';
import { silentLogger } from '../base/log';
import type { ForwardRecord } from './callback';
import type { CallbackArrival } from './client-box';
import type { BoxPort, FirewallAction } from './firewall';
import { startCapture, type RunningCapture } from './capture';
import { LAB_ACCOUNTS, compare, describeExpectation, type Observed, type Scenario, type ScenarioResult, type Setup } from './scenarios';

const execFileAsync = promisify(execFile);

/** The topology's fixed addresses and interface names (the veths live only inside the namespaces). */
export const NETNS_TOPOLOGY = {
  serverAddr: '10.213.0.1',
  clientAddr: '10.213.0.2',
  prefixLength: 24,
  serverIf: 'veth-srv',
  clientIf: 'veth-cli',
} as const;

/** The client box's exporter port: fixed, so that a firewall rule can name it. */
export const NETNS_EXPORTER_PORT = 49500;

export interface NetnsRunOptions {
  resolverPort: number;
  firewallAction?: FirewallAction;
  resolveTimeoutMs?: number;
  logger?: Logger;
  flipped?: boolean;
  captureDir?: string;
  /** The client box's exporter port (default 49500). */
  exporterPort?: number;
  /** The namespaces' names (default dcl-<pid>-srv and dcl-<pid>-cli). */
  namespaces?: { server: string; client: string };
  /** The built CLI (default: dist/cli/main.js found from this module, or $DCOMLAB_CLI). */
  cli?: string;
  /** Give up on a box that has not finished after this long (default 60 s). */
  boxTimeoutMs?: number;
}

/** A blocked port's iptables rules in the client namespace and what their counters said after the run. */
export interface NetnsFirewallRule {
  port: BoxPort;
  dport: number;
  action: FirewallAction;
  /** The blocking rule, as given to iptables. */
  rule: string[];
  /** Packets the blocking rule stopped (SYN retransmissions included). */
  packets: number;
  /** SYNs from the server box to the port (its connection attempts, retransmissions included). */
  syns: number;
}

export interface NetnsScenarioResult extends ScenarioResult {
  topology: 'netns';
  namespaces: { server: string; client: string };
  resolverPort: number;
  exporterPort: number;
  /** Creating the namespaces, the firewall and the captures, and starting the server box. */
  setupMs: number;
  firewall: NetnsFirewallRule[];
  captures?: { server: string; client: string };
}

/** The netns topology could not be set up or run (not root, ip or iptables missing, a box failed...). */
export class NetnsError extends DcomlabError {
  override name = 'NetnsError';
}

// ------------------------------------------------------------------------------------------------
// Finding the CLI: this module is bundled into dist/cli/main.js (ESM), may be bundled into
// dist/index.js / dist/index.cjs or a chunk in dist/, and is run from src/lab/netns.ts by the tests.

function moduleDir(): string | undefined {
  try {
    const url = import.meta.url as string | undefined;
    if (typeof url === 'string' && url.startsWith('file:')) return path.dirname(fileURLToPath(url));
  } catch {
    // not an ES module
  }
  return typeof __dirname === 'string' ? __dirname : undefined;
}

/** dist/cli/main.js of the build this module belongs to (or of the project, from src/), or $DCOMLAB_CLI. */
export function findCli(from: string | undefined = moduleDir()): string {
  if (process.env.DCOMLAB_CLI) return path.resolve(process.env.DCOMLAB_CLI);
  let dir = from;
  while (dir) {
    const candidates = [
      ...(path.basename(dir) === 'cli' && path.basename(path.dirname(dir)) === 'dist' ? [path.join(dir, 'main.js')] : []),
      ...(path.basename(dir) === 'dist' ? [path.join(dir, 'cli', 'main.js')] : []),
      path.join(dir, 'dist', 'cli', 'main.js'),
    ];
    const hit = candidates.find((c) => existsSync(c));
    if (hit) return hit;
    const up = path.dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  throw new NetnsError(`cannot find the built dcomlab CLI (dist/cli/main.js) from ${from ?? 'this module'}: run npm run build, or set DCOMLAB_CLI`);
}

// ------------------------------------------------------------------------------------------------
// Commands

async function run(cmd: string, args: string[], what: string): Promise<string> {
  try {
    const { stdout } = await execFileAsync(cmd, args, { timeout: 20_000, encoding: 'utf8' });
    return stdout;
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') {
      throw new NetnsError(`${what}: ${cmd} is not installed (Debian: apt-get install ${cmd === 'ip' ? 'iproute2' : cmd})`);
    }
    const stderr = (e.stderr ?? '').trim();
    const hint = /Operation not permitted|Permission denied|must be root/i.test(stderr) ? ' (the netns topology needs root)' : '';
    throw new NetnsError(`${what}: ${[cmd, ...args].join(' ')} failed: ${stderr || e.message}${hint}`);
  }
}

function listNamespaces(): string[] {
  try {
    const out = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 });
    return out.split('\n').map((l) => l.split(' ')[0]!).filter(Boolean);
  } catch {
    return [];
  }
}

/** Delete these namespaces if they exist (synchronous: also used on exit). */
function deleteNamespaces(names: string[]): void {
  const present = listNamespaces();
  for (const n of names) {
    if (!present.includes(n)) continue;
    try {
      execFileSync('ip', ['netns', 'delete', n], { stdio: 'ignore', timeout: 10_000 });
    } catch {
      // best effort: reported by the next run's creation if it is still there
    }
  }
}

function alive(p: ChildProcess): boolean {
  return p.exitCode === null && p.signalCode === null;
}

/** Stop a child we started, by its PID: SIGTERM, then SIGKILL after `graceMs`; resolves once it exited. */
async function stopChild(p: ChildProcess | undefined, graceMs = 5000): Promise<void> {
  if (!p || p.pid === undefined || !alive(p)) return;
  const exited = new Promise<void>((resolve) => p.once('exit', () => resolve()));
  try {
    process.kill(p.pid, 'SIGTERM');
  } catch {
    return;
  }
  const timer = setTimeout(() => {
    if (alive(p)) {
      try {
        process.kill(p.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }, graceMs);
  await exited;
  clearTimeout(timer);
}

/** A box: `ip netns exec NS node CLI ARGS`, its stdout and stderr collected. */
interface Box {
  proc: ChildProcess;
  out: () => string;
  err: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function startBox(ns: string, cli: string, args: string[], env: NodeJS.ProcessEnv): Box {
  const proc = spawn('ip', ['netns', 'exec', ns, process.execPath, cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
  let out = '';
  let err = '';
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    proc.once('exit', (code, signal) => resolve({ code, signal }));
    proc.once('error', () => resolve({ code: -1, signal: null }));
  });
  return { proc, out: () => out, err: () => err, exited };
}

/** A command line for the log: account specs (DOMAIN\\NAME:PASSWORD) lose their password. */
function redact(args: string[]): string {
  return args.map((a) => (/^[^\s:]*\\[^\s:]*:/.test(a) ? a.replace(/:.*$/, ':***') : a)).join(' ');
}

/** The last lines of a box's stderr, for error messages (pino records reduced to their msg). */
function tail(text: string, n = 5): string {
  return text.split('\n').filter(Boolean).slice(-n).map((l) => {
    try {
      const r = JSON.parse(l) as { msg?: string; err?: unknown };
      return r.err ? `${r.msg}: ${String(r.err)}` : String(r.msg);
    } catch {
      return l;
    }
  }).join(' | ');
}

// ------------------------------------------------------------------------------------------------
// Reading the boxes

/** One pino record from a box's stderr. */
export interface BoxLogRecord {
  level: number;
  msg: string;
  [k: string]: unknown;
}

function parseLog(text: string): BoxLogRecord[] {
  const out: BoxLogRecord[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const r = JSON.parse(line) as BoxLogRecord;
      if (typeof r.msg === 'string') out.push(r);
    } catch {
      // not a log record
    }
  }
  return out;
}

const LEVEL_METHODS: Record<number, 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal'> = {
  10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal',
};

/** Hand a box's records on to our logger (box: server|client), without pino's own bookkeeping fields. */
function relay(log: Logger, box: 'server' | 'client', records: BoxLogRecord[]): void {
  for (const r of records) {
    const { level, msg, time: _t, pid: _p, hostname: _h, ...fields } = r;
    const method = LEVEL_METHODS[level] ?? 'info';
    log[method]({ ...fields, box }, msg);
  }
}

/** The HRESULT in describeStatus text ("E_ACCESSDENIED 0x80070005"). */
function hresultOf(text: unknown): number | undefined {
  const m = typeof text === 'string' ? /0x([0-9a-fA-F]{8})/.exec(text) : null;
  return m ? parseInt(m[1]!, 16) >>> 0 : undefined;
}

interface ClientReport {
  activation: { hresult: number; name: string };
  forwardCall: { outcome: 'returned' | 'fault' | 'error'; hresult: number; name: string } | null;
  callbacks: CallbackArrival[];
  error?: string;
}

/**
 * ForwardCall as the server box's log tells it (`resolving the callback OXID`, `ForwardCall not run:
 * ...`, `BackwardCall failed`, `BackwardCall returned`): the same ForwardRecord the loopback topology
 * gets from the hook, rebuilt from another process's log. Undefined if ForwardCall never ran.
 */
export function forwardFromServerLog(records: BoxLogRecord[], identityMode: ForwardRecord['identityMode']): ForwardRecord | undefined {
  const resolving = records.find((r) => r.msg === 'resolving the callback OXID');
  const notRun = records.find((r) => r.msg.startsWith('ForwardCall not run: '));
  const returned = records.find((r) => r.msg === 'BackwardCall returned');
  const failed = records.find((r) => r.msg === 'BackwardCall failed');
  if (!resolving && !notRun && !returned) return undefined;
  const bodyRan = !!(returned || failed);
  const rec: ForwardRecord = {
    caller: String((notRun ?? returned ?? failed)?.caller ?? 'unknown'),
    identityMode, resolved: false, bodyRan, hresult: 0,
  };
  if (typeof resolving?.resolver === 'string') rec.resolver = resolving.resolver;
  if (notRun) {
    rec.unmarshalError = notRun.msg.slice('ForwardCall not run: '.length);
    rec.resolved = !rec.unmarshalError.startsWith('OXID resolve at ');
    rec.hresult = hresultOf(notRun.status) ?? 0;
  } else if (bodyRan) {
    rec.resolved = true;
    if (typeof returned?.cookie === 'number') rec.cookie = returned.cookie;
    const hr = hresultOf(returned?.hresult) ?? hresultOf(failed?.status);
    if (hr !== undefined) rec.backwardHr = rec.hresult = hr;
  }
  return rec;
}

/** `iptables -L INPUT -v -n -x --line-numbers` → packet counters by rule number. */
function ruleCounters(listing: string): Map<number, number> {
  const out = new Map<number, number>();
  for (const line of listing.split('\n')) {
    const m = /^\s*(\d+)\s+(\d+)\s+\d+\s/.exec(line);
    if (m) out.set(Number(m[1]), Number(m[2]));
  }
  return out;
}

// ------------------------------------------------------------------------------------------------
// Cleanup when the process is interrupted mid-run: the namespaces are removed and the boxes stopped.

const live = new Map<symbol, { namespaces: string[]; running: () => number[] }>();
let handlersInstalled = false;

function emergencyCleanup(): void {
  for (const [, r] of live) {
    for (const pid of r.running()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    deleteNamespaces(r.namespaces);
  }
  live.clear();
}

function onSignal(sig: NodeJS.Signals): void {
  emergencyCleanup();
  uninstallHandlers();
  // Let the default disposition (or another handler) act on the signal again.
  process.kill(process.pid, sig);
}

const sigint = () => onSignal('SIGINT');
const sigterm = () => onSignal('SIGTERM');

function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', emergencyCleanup);
  // Only when nobody else handles the signal: then we must not swallow it by listening.
  if (process.listenerCount('SIGINT') === 0) process.once('SIGINT', sigint);
  if (process.listenerCount('SIGTERM') === 0) process.once('SIGTERM', sigterm);
}

function uninstallHandlers(): void {
  if (!handlersInstalled || live.size) return;
  handlersInstalled = false;
  process.off('exit', emergencyCleanup);
  process.off('SIGINT', sigint);
  process.off('SIGTERM', sigterm);
}

// One run at a time per process: the namespace names are per process.
let queue: Promise<unknown> = Promise.resolve();

/** Run one scenario on the netns topology (see the top of this file); the result compares as runScenario's does. */
export function runScenarioNetns(s: Scenario, o: NetnsRunOptions): Promise<NetnsScenarioResult> {
  const next = queue.then(() => runOne(s, o));
  queue = next.catch(() => undefined);
  return next;
}

async function runOne(s: Scenario, o: NetnsRunOptions): Promise<NetnsScenarioResult> {
  const t0 = performance.now();
  const T = NETNS_TOPOLOGY;
  const setup: Setup = { ...s.setup, ...(o.flipped ? s.flip : {}) };
  const log = (o.logger ?? silentLogger).child({ scenario: s.name, topology: 'netns' });
  const action: FirewallAction = o.firewallAction ?? 'drop';
  const P = o.resolverPort;
  const X = o.exporterPort ?? NETNS_EXPORTER_PORT;
  const timeoutMs = o.resolveTimeoutMs ?? 2000;
  const boxTimeoutMs = o.boxTimeoutMs ?? 60_000;
  const ns = o.namespaces ?? { server: `dcl-${process.pid}-srv`, client: `dcl-${process.pid}-cli` };
  const cli = o.cli ?? findCli();
  if (process.getuid?.() !== 0) log.warn('not root: creating network namespaces will most likely fail');

  const boxes: Box[] = [];
  const captures: RunningCapture[] = [];
  const token = Symbol(s.name);
  live.set(token, {
    namespaces: [ns.server, ns.client],
    running: () => [
      ...boxes.filter((b) => alive(b.proc) && b.proc.pid !== undefined).map((b) => b.proc.pid!),
      ...captures.filter((c) => c.running()).map((c) => c.pid),
    ],
  });
  installHandlers();
  const ip = (args: string[], what: string) => {
    log.debug({ cmd: ['ip', ...args].join(' ') }, what);
    return run('ip', args, what);
  };
  const iptables = (args: string[], what: string) => {
    log.debug({ cmd: ['ip', 'netns', 'exec', ns.client, 'iptables', '-w', '5', ...args].join(' ') }, what);
    return run('ip', ['netns', 'exec', ns.client, 'iptables', '-w', '5', ...args], what);
  };

  try {
    // ---- the namespaces and the wire between them (stale ones of the same names go first)
    deleteNamespaces([ns.server, ns.client]);
    await ip(['netns', 'add', ns.server], 'creating the server namespace');
    await ip(['netns', 'add', ns.client], 'creating the client namespace');
    // No IPv6 on the wire (its router and neighbour chatter would only clutter the captures); best effort.
    for (const n of [ns.server, ns.client]) {
      await run('ip', ['netns', 'exec', n, 'sysctl', '-q', '-w', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1'], 'turning IPv6 off')
        .catch((e: Error) => log.debug({ err: e.message }, 'IPv6 stays on'));
    }
    await ip(['link', 'add', T.serverIf, 'netns', ns.server, 'type', 'veth', 'peer', 'name', T.clientIf, 'netns', ns.client], 'creating the veth pair');
    await ip(['-n', ns.server, 'addr', 'add', `${T.serverAddr}/${T.prefixLength}`, 'dev', T.serverIf], 'addressing the server box');
    await ip(['-n', ns.client, 'addr', 'add', `${T.clientAddr}/${T.prefixLength}`, 'dev', T.clientIf], 'addressing the client box');
    for (const [n, dev] of [[ns.server, T.serverIf], [ns.client, T.clientIf]] as const) {
      await ip(['-n', n, 'link', 'set', 'lo', 'up'], 'bringing lo up');
      await ip(['-n', n, 'link', 'set', dev, 'up'], `bringing ${dev} up`);
    }

    // ---- the client box's firewall: real rules in its namespace
    const rules: (NetnsFirewallRule & { synLine: number; dropLine: number })[] = [];
    let line = 0;
    for (const port of setup.blocked) {
      const dport = port === 'resolver' ? P : X;
      await iptables(['-A', 'INPUT', '-s', T.serverAddr, '-p', 'tcp', '--dport', String(dport), '--syn'], `counting connection attempts to ${port} port ${dport}`);
      const rule = ['-A', 'INPUT', '!', '-i', 'lo', '-p', 'tcp', '--dport', String(dport),
        ...(action === 'drop' ? ['-j', 'DROP'] : ['-j', 'REJECT', '--reject-with', 'tcp-reset'])];
      await iptables(rule, `closing the client box's ${port} port ${dport} (${action})`);
      rules.push({ port, dport, action, rule, packets: 0, syns: 0, synLine: ++line, dropLine: ++line });
    }

    // ---- captures, one per box, on its end of the wire
    let captureFiles: { server: string; client: string } | undefined;
    if (o.captureDir) {
      const base = path.join(path.resolve(o.captureDir), `${s.name}${o.flipped ? '-flipped' : ''}`);
      captureFiles = { server: `${base}-server.pcapng`, client: `${base}-client.pcapng` };
      captures.push(await startCapture(captureFiles.server, { iface: T.serverIf, netns: ns.server }));
      captures.push(await startCapture(captureFiles.client, { iface: T.clientIf, netns: ns.client }));
    }

    // ---- the server box
    const a = LAB_ACCOUNTS;
    const spec = (x: { user: string; domain: string; password: string }) => `${x.domain}\\${x.user}:${x.password}`;
    const env = { ...process.env };
    for (const k of ['DCOMLAB_USER', 'DCOMLAB_PASSWORD', 'DCOMLAB_NT_HASH']) delete env[k];
    const serverArgs = [
      'serve', '--host', T.serverAddr, '--resolver-port', String(P), '--log-level', 'info',
      '--admin', spec(a.admin), '--user', spec(a.user), '--user', spec(a.service),
      '--policy', setup.serverPolicy, '--callback-identity', setup.callbackIdentity,
      ...(setup.callbackIdentity === 'process' ? ['--process-user', spec(a.service)] : []),
      '--callback-timeout', String(timeoutMs),
    ];
    log.debug({ cmd: `ip netns exec ${ns.server} ${process.execPath} ${cli} ${redact(serverArgs)}` }, 'starting the server box');
    const server = startBox(ns.server, cli, serverArgs, env);
    boxes.push(server);
    const ready = await Promise.race([
      new Promise<boolean>((resolve) => {
        const check = () => {
          if ((server.out().match(/listening on/g) ?? []).length >= 2) resolve(true);
        };
        server.proc.stdout!.on('data', check);
        check();
      }),
      server.exited.then(() => false),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 15_000).unref()),
    ]);
    if (!ready) throw new NetnsError(`the server box did not start in ${ns.server}: ${tail(server.err()) || 'no output'}`);
    const setupMs = Math.round(performance.now() - t0);

    // ---- the client box: activate, ForwardCall, report
    const account = a[setup.clientAccount];
    const clientArgs = [
      'client', '--server', T.serverAddr, '--host', T.clientAddr, '--resolver-port', String(P), '--exporter-port', String(X),
      '--policy', setup.clientPolicy, '--accept', spec(a.admin), '--accept', spec(a.service),
      '--user', `${account.domain}\\${account.user}`, '--json', '--log-level', 'info',
    ];
    log.debug({ cmd: `ip netns exec ${ns.client} ${process.execPath} ${cli} ${redact(clientArgs)}` }, 'running the client box');
    const clientStarted = performance.now();
    const client = startBox(ns.client, cli, clientArgs, { ...env, DCOMLAB_PASSWORD: account.password });
    boxes.push(client);
    const timer = setTimeout(() => void stopChild(client.proc, 1000), boxTimeoutMs);
    const exit = await client.exited;
    clearTimeout(timer);
    const durationMs = Math.round(performance.now() - clientStarted);

    // ---- stop the server (it logs until SIGTERM), read the firewall's counters, stop the captures
    await stopChild(server.proc);
    await server.exited;
    if (rules.length) {
      const counters = ruleCounters(await iptables(['-L', 'INPUT', '-v', '-n', '-x', '--line-numbers'], 'reading the firewall counters'));
      for (const r of rules) {
        r.syns = counters.get(r.synLine) ?? 0;
        r.packets = counters.get(r.dropLine) ?? 0;
      }
    }
    await Promise.all(captures.splice(0).map((c) => c.stop()));

    const serverLog = parseLog(server.err());
    const clientLog = parseLog(client.err());
    relay(log, 'server', serverLog);
    relay(log, 'client', clientLog);
    let report: ClientReport;
    try {
      report = JSON.parse(client.out().trim().split('\n').pop() ?? '') as ClientReport;
      if (!report.activation) throw new Error('no activation');
    } catch {
      throw new NetnsError(`the client box gave no report (${exit.signal ?? `exit ${exit.code}`}${exit.signal === 'SIGTERM' ? `, stopped after ${boxTimeoutMs / 1000} s` : ''}): ${tail(client.err()) || 'no output'}`);
    }

    const forward = forwardFromServerLog(serverLog, setup.callbackIdentity);
    const arrival = report.callbacks[0];
    const observed: Observed = {
      activationHr: report.activation.hresult >>> 0,
      ...(report.forwardCall ? { forwardOutcome: report.forwardCall.outcome, forwardHr: report.forwardCall.hresult >>> 0 } : {}),
      bodyRan: serverLog.some((r) => r.msg === 'BackwardCall returned' || r.msg === 'BackwardCall failed'),
      backwardRan: report.callbacks.some((c) => c.ran),
      arrivedAs: arrival ? arrival.identity : null,
      resolveFailureLogged: serverLog.some((r) => r.msg.startsWith(`ForwardCall not run: OXID resolve at ${T.clientAddr}:${P}`)),
      ...(forward ? { forward } : {}),
      // One entry per SYN the server box sent to a closed port (the rule's counter; no per-packet source port).
      firewallHits: rules.flatMap((r) => Array.from({ length: r.syns }, () => ({ port: r.port, peer: T.serverAddr }))),
    };
    const mismatches = compare(s.expect, observed);
    return {
      name: s.name, setup, flipped: !!o.flipped, expected: describeExpectation(s.expect), observed,
      verdict: mismatches.length ? 'FAIL' : 'PASS', mismatches, durationMs,
      topology: 'netns', namespaces: ns, resolverPort: P, exporterPort: X, setupMs,
      firewall: rules.map(({ synLine: _s, dropLine: _d, ...r }) => r),
      ...(captureFiles ? { captures: captureFiles } : {}),
    };
  } finally {
    await Promise.all(boxes.map((b) => stopChild(b.proc)));
    await Promise.all(captures.splice(0).map((c) => c.stop().catch(() => undefined)));
    deleteNamespaces([ns.server, ns.client]);
    live.delete(token);
    uninstallHandlers();
  }
}
