// `dcomlab client` (the SP2 lab's client box) and `dcomlab scenario` (the scenarios that reproduce
// both SP2 failures and their fixes).
import path from 'node:path';
import type { Command } from 'commander';
import { accountFromSpec } from '../auth/credentials';
import { describeStatus } from '../base/status';
import { AUTH_LEVEL_NAMES } from '../pdu';
import {
  ClientBox, Firewall, SCENARIOS, headline, parsePolicySpec, runScenario, scenarioByName,
  type BoxPort, type FirewallAction, type RunOptions, type Scenario, type ScenarioResult,
} from '../lab';
import { runScenarioNetns } from '../lab/netns';
import { failed } from '../dcom/client';
import { loopbackCaptureFile, withCapture } from '../lab/capture';
import { LOOPBACK_HOSTS, ScenarioReport, recordLoopback } from './scenario-report';
import { cliLogger, collect, parsePort } from './common';
import { addClientAuthOptions, authSpecFrom, type ClientAuthCliOptions } from './auth-options';
import { CliError } from './errors';
import { accountName, openRecording, type RecordedAccount, type Recording } from './capture-option';

const hr = (h: number | undefined) => (h === undefined ? '-' : describeStatus(h, 'hresult'));

function firewallAction(s: string | undefined): FirewallAction {
  const a = (s ?? 'drop').toLowerCase();
  if (a !== 'drop' && a !== 'reject') throw new CliError(`--firewall must be drop or reject, not ${s}`);
  return a;
}

/** 135 needs root or CAP_NET_BIND_SERVICE; `auto` falls back to 1135 when we cannot have it (and says so). */
export function resolverPortOption(s: string | undefined, say: (m: string) => void): number {
  if (s === undefined || s === 'auto') {
    const privileged = process.getuid?.() === 0;
    if (s === 'auto' && !privileged) {
      say('dcomlab: not root, so port 135 is out of reach: both boxes use resolver port 1135 (bindings carry it as host[1135])');
      return 1135;
    }
    return 135;
  }
  return parsePort(s, '--resolver-port');
}

interface ClientCliOptions extends ClientAuthCliOptions {
  server: string;
  host: string;
  resolverPort?: string;
  exporterPort?: string;
  policy: string;
  accept?: string[];
  block?: string[];
  firewall?: string;
  json?: boolean;
  logLevel?: string;
  capture?: string;
}

export function registerLab(program: Command): void {
  addClientAuthOptions(program
    .command('client'), null)
    .description("the SP2 lab's client box: export an IClientCallback (own resolver and exporter), activate CServer on --server, call ForwardCall, report whether BackwardCall ran and as whom")
    .requiredOption('--server <host>', 'the server box')
    .option('--host <addr>', "this box's address (its resolver and exporter listen there)", '127.0.0.3')
    .option('--resolver-port <n>', "both boxes' resolver port (135 needs root or CAP_NET_BIND_SERVICE)", '135')
    .option('--exporter-port <n>', "this box's object exporter port (0 = dynamic)", '0')
    .option('--policy <spec>', "this box's machine-wide policy: xp-sp2, pre-sp2, open or JSON", 'xp-sp2')
    .option('--accept <[DOMAIN\\]NAME:PASSWORD>', 'an account callbacks may authenticate as (repeatable; anonymous logons are always let through to the policy)', collect)
    .option('--block <port>', "close this box's inbound port: resolver or exporter (repeatable; the in-process firewall)", collect)
    .option('--firewall <action>', 'drop (black hole) or reject (reset)', 'drop')
    .option('--json', 'JSON report')
    .option('--log-level <level>', 'trace, debug, info, warn, error', 'warn')
    .option('--capture <file>', "record this box's connections (made and accepted) to this pcapng file")
    .action(async (o: ClientCliOptions) => {
      const log = cliLogger(o.logLevel);
      const auth = authSpecFrom({ ...o, authLevel: o.authLevel ?? (o.user || process.env.DCOMLAB_USER ? 'connect' : 'none') });
      if (!auth) throw new CliError('the client box needs an account on the server box: --user DOMAIN\\NAME and a password');
      const blocked = (o.block ?? []).map((b) => {
        if (b !== 'resolver' && b !== 'exporter') throw new CliError(`--block must be resolver or exporter, not ${b}`);
        return b as BoxPort;
      });
      let policy;
      try {
        policy = parsePolicySpec(o.policy);
      } catch (e) {
        throw new CliError(`--policy: ${(e as Error).message}`);
      }
      const port = parsePort(o.resolverPort ?? '135', '--resolver-port');
      const accepted = (o.accept ?? []).map((a) => accountFromSpec(a));
      let recording: Recording | undefined;
      if (o.capture) {
        const accounts: RecordedAccount[] = [
          ...(auth.credentials.user ? [{ name: accountName(auth.credentials), role: `this box's calls to ${o.server}` }] : []),
          ...accepted.map((a) => ({ name: accountName(a), role: 'callbacks accepted here' })),
        ];
        recording = openRecording(o.capture, `dcomlab client box ${o.host}, server box ${o.server} (resolver port ${port})`, accounts, log);
        const rec = recording;
        for (const [sig, n] of [['SIGINT', 2], ['SIGTERM', 15]] as const) {
          process.once(sig, () => {
            rec.close();
            process.exit(128 + n);
          });
        }
      }
      const box = new ClientBox({
        host: o.host, resolverPort: port, exporterPort: parsePort(o.exporterPort ?? '0', '--exporter-port'), serverHost: o.server, auth, policy, logger: log,
        // Mirrored: a Windows server's process account arrives as WINSERVER\\dcomsvc and finds the local dcomsvc.
        accounts: { accounts: accepted, allowAnonymous: true, mirrored: true }, ...(recording ? { tap: recording.recorder.tap } : {}),
        ...(blocked.length ? { firewall: new Firewall({ blocked, action: firewallAction(o.firewall) }, log) } : {}),
      });
      try {
        await box.start();
      } catch (e) {
        const err = e as NodeJS.ErrnoException;
        if (err.code === 'EACCES') throw new CliError(`cannot listen on ${o.host}:${port}: port 135 needs root or CAP_NET_BIND_SERVICE; give both boxes --resolver-port 1135`);
        if (err.code === 'EADDRINUSE') throw new CliError(`${o.host}:${port} is already in use (another resolver? use --host or --resolver-port)`);
        throw e;
      }
      if (recording) {
        for (const b of box.server.listening) recording.recorder.addListener(b.host, b.port);
        recording.recorder.addListener(o.host, box.server.exporter.listeningPort!);
        recording.recorder.addOutgoing(o.host);
      }
      try {
        const r = await box.run();
        if (o.json) {
          process.stdout.write(JSON.stringify({
            server: o.server, client: o.host, activation: { hresult: r.activationHr, name: hr(r.activationHr) },
            forwardCall: r.forwardHr === undefined ? null : { outcome: r.forwardOutcome, hresult: r.forwardHr, name: hr(r.forwardHr) },
            callbacks: r.callbacks, ...(r.error ? { error: r.error } : {}),
          }) + '\n');
        } else {
          const lines = [`activation of CServer at ${o.server}: ${hr(r.activationHr)}`];
          if (r.forwardHr !== undefined) lines.push(`ForwardCall: ${r.forwardOutcome === 'fault' ? 'fault' : 'returned'} ${hr(r.forwardHr)}`);
          if (r.callbacks.length === 0) lines.push('BackwardCall: never arrived');
          for (const c of r.callbacks) {
            lines.push(c.ran
              ? `BackwardCall(${c.cookie}) ran as ${c.identity} at ${AUTH_LEVEL_NAMES[c.authLevel] ?? c.authLevel}`
              : `BackwardCall refused: ${c.deniedBy}`);
          }
          process.stdout.write(lines.join('\n') + '\n');
        }
        if (failed(r.activationHr) || (r.forwardHr !== undefined && failed(r.forwardHr))) process.exitCode = 1;
      } finally {
        await box.stop();
        if (recording) {
          // Let the sockets' last close events arrive, so that their FINs are recorded as they happened.
          await new Promise((r) => setTimeout(r, 100));
          recording.close();
        }
      }
    });

  const scenario = program.command('scenario').description('the SP2 callback scenarios: list, or run one or all (verdict table)');
  scenario.command('list').description('list the scenarios').option('--json', 'JSON').action((o: { json?: boolean }) => {
    if (o.json) {
      process.stdout.write(JSON.stringify(SCENARIOS, null, 2) + '\n');
      return;
    }
    for (const s of SCENARIOS) process.stdout.write(`${s.name.padEnd(30)} ${s.summary}\n`);
  });
  scenario
    .command('run', { isDefault: true })
    .description('run a scenario, or all')
    .argument('<name>', 'a scenario name, or all')
    .option('--topology <t>', 'loopback (both boxes here, in-process firewall) or netns (two network namespaces and a real iptables rule; root)', 'loopback')
    .option('--firewall <action>', 'how a blocked port behaves: drop (black hole) or reject (reset)', 'drop')
    .option('--resolver-port <n>', "both boxes' resolver port: 135, a number, or auto (1135 when not root)", 'auto')
    .option('--resolve-timeout <ms>', "the server's OXID-resolve and callback-connect timeout", '2000')
    .option('--capture <dir>', 'write a pcapng of each scenario (netns: of each box) there')
    .option('--report <file.html>', 'write an HTML report: the verdict table and, per scenario, a sequence diagram of its captured conversation')
    .option('--json', 'a machine-readable report')
    .option('--log-level <level>', 'trace, debug, info, warn, error', 'silent')
    .action(async (name: string, o: { topology: string; firewall: string; resolverPort?: string; resolveTimeout: string; capture?: string; report?: string; json?: boolean; logLevel: string }) => {
      const list: Scenario[] = name === 'all' ? [...SCENARIOS] : [scenarioByName(name) ?? fail(name)];
      const topology = o.topology;
      if (topology !== 'loopback' && topology !== 'netns') throw new CliError(`--topology must be loopback or netns, not ${o.topology}`);
      const port = resolverPortOption(o.resolverPort, (m) => process.stderr.write(m + '\n'));
      const timeout = Number(o.resolveTimeout);
      const log = cliLogger(o.logLevel === 'silent' ? 'silent' : o.logLevel);
      const results: ScenarioResult[] = [];
      const report = o.report ? new ScenarioReport(topology, o.capture) : undefined;
      const started = performance.now();
      try {
        for (const s of list) {
          const common = { resolverPort: port, firewallAction: firewallAction(o.firewall), resolveTimeoutMs: timeout, logger: log };
          let r: ScenarioResult;
          if (topology === 'netns') {
            const dir = o.capture ?? report?.scratch();
            const n = await runScenarioNetns(s, { ...common, ...(dir ? { captureDir: dir } : {}) });
            report?.add(n, n.captures?.server);
            r = n;
          } else if (o.capture) {
            r = await runLoopback(s, { ...common, captureDir: o.capture });
            report?.add(r, loopbackCaptureFile(o.capture, s.name));
          } else if (report) {
            const file = path.join(report.scratch(), `${s.name}.pcapng`);
            r = await recordLoopback(s, { ...common, ...LOOPBACK_HOSTS }, file);
            report.add(r, file);
          } else {
            r = await runLoopback(s, common);
          }
          results.push(r);
          if (!o.json) process.stderr.write(`${r.verdict === 'PASS' ? 'ok  ' : 'FAIL'} ${s.name} (${r.durationMs} ms)\n`);
        }
        const total = Math.round(performance.now() - started);
        if (o.json) process.stdout.write(JSON.stringify({ topology, resolverPort: port, totalMs: total, results }, null, 2) + '\n');
        else process.stdout.write(verdictTable(results, total, topology));
        if (report && o.report) {
          await report.write(o.report, total);
          process.stderr.write(`dcomlab: report written to ${o.report}\n`);
        }
      } finally {
        report?.cleanup();
      }
      if (results.some((r) => r.verdict !== 'PASS')) process.exitCode = 1;
    });
}

function fail(name: string): never {
  throw new CliError(`no scenario ${JSON.stringify(name)}; \`dcomlab scenario list\` names them (or use all)`);
}

async function runLoopback(s: Scenario, o: Omit<RunOptions, 'serverHost' | 'clientHost'> & { captureDir?: string }): Promise<ScenarioResult> {
  const { captureDir, ...rest } = o;
  const hosts = LOOPBACK_HOSTS;
  if (captureDir) return withCapture(captureDir, s.name, [hosts.serverHost, hosts.clientHost], () => runScenario(s, { ...rest, ...hosts }));
  return runScenario(s, { ...rest, ...hosts });
}


/**
 * The verdict table: scenario, expected and observed HRESULT (ForwardCall's, or the activation's),
 * who the callback arrived as, duration and verdict; every mismatch spelled out below it.
 */
export function verdictTable(results: ScenarioResult[], totalMs: number, topology: string): string {
  const rows = [['scenario', 'expected', 'observed', 'callback arrived as', 'ms', 'verdict']];
  for (const r of results) {
    const o = r.observed;
    const s = scenarioByName(r.name);
    rows.push([
      r.name, s ? headline(s.expect) : r.expected, headline(o),
      o.arrivedAs ? `${o.arrivedAs}${o.backwardRan ? '' : ' (refused)'}` : '-', String(r.durationMs), r.verdict,
    ]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const fmt = (r: string[]) => r.map((c, i) => (i === 4 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  const out = [fmt(rows[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(fmt)];
  for (const r of results) for (const m of r.mismatches) out.push(`  ${r.name}: ${m}`);
  const pass = results.filter((r) => r.verdict === 'PASS').length;
  out.push(`${pass}/${results.length} scenarios as expected on ${topology} in ${totalMs} ms`);
  return out.join('\n') + '\n';
}
