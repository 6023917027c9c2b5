// `dcomlab serve`: the DCOM server in the foreground until SIGINT/SIGTERM: on port 135 the endpoint
// mapper, mgmt, the OXID resolver and the activators; the lab class CServer on an object exporter.
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { ServerLimits } from '../rpc';
import { CLSID_CServer, startDcomServer, type DcomServer, type DcomServerOptions } from '../dcom/server';
import { accessAuthorizer, forwardCallHook, launchChecker, parsePolicySpec } from '../lab';
import { accountFromSpec, clientCredentialsFromSpec, parseUserSpec } from '../auth/credentials';
import type { Logger } from '../base/log';
import { cliLogger, collect, parseIfSpec, parsePort } from './common';
import { serverAuthProvider, serverCredentials } from './auth-options';
import { CliError } from './errors';
import { accountName, openRecording, type RecordedAccount, type Recording } from './capture-option';
import type { SocketTap } from '../rpc/tap';
import { labLogger } from './lab-log';
import { announcedAddresses, labAccounts, labBanner, LAB_EXPORTER_PORT, LAB_HOST, LAB_PROCESS_USER } from './serve-lab';

interface ServeConfig {
  hosts?: string[];
  epmPort?: number;
  /** Addresses announced in string bindings instead of `hosts` (NAT). */
  publicAddresses?: string[];
  /** The object exporter's port (0 = dynamic). */
  exporterPort?: number;
  /** The exporter's authnHint (MS-DCOM 2.2.22.2.8.1), default 4 (PKT). */
  authnHint?: number;
  logLevel?: string;
  limits?: Partial<ServerLimits>;
  /** Accept a second bind on a bound connection (Windows naks it and closes; the default follows Windows). */
  acceptRebind?: boolean;
  /** Server accounts (MS-NLMP): [{ user, domain?, password? | ntHash?, groups? }], plus guest/allowAnonymous. */
  accounts?: unknown[];
  guest?: boolean;
  allowAnonymous?: boolean;
  serverName?: string;
  serverDomain?: string;
  /** Extra endpoints to register (served elsewhere): { interface: "UUID:1.0", port, host?, annotation? }. */
  endpoints?: Array<{ interface: string; port: number; host?: string; annotation?: string; object?: string }>;
}

interface ServeCliOptions {
  lab?: boolean;
  user?: string[];
  admin?: string[];
  policy?: string;
  callbackIdentity?: string;
  processUser?: string;
  callbackUser?: string;
  callbackTimeout?: string;
  fidelity?: string;
  host?: string[];
  /** commander stores `--epm-port, --resolver-port` under the last long name. */
  resolverPort?: string;
  exporterPort?: string;
  publicAddress?: string[];
  config?: string;
  logLevel?: string;
  capture?: string;
}

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('run the DCOM server (endpoint mapper, OXID resolver and activation on TCP 135; the lab class CServer) until SIGINT/SIGTERM')
    .option('--lab', `lab mode, for Windows VMs: listen on ${LAB_HOST}, the exporter on the fixed port ${LAB_EXPORTER_PORT}, policy xp-sp2, the lab accounts (mirrored: any domain), one plain line per activation, resolution and callback; prints what a Windows client needs`)
    .option('--host <addr>', `address to listen on (repeatable; IPv4 or IPv6; default 127.0.0.1, with --lab ${LAB_HOST})`, collect)
    .option('--epm-port, --resolver-port <n>', 'port of the endpoint mapper, OXID resolver and activator', '135')
    .option('--exporter-port <n>', `port of the object exporter (default 0 = dynamic, with --lab ${LAB_EXPORTER_PORT})`)
    .option('--public-address <addr>', 'announce this address in string bindings instead of --host (repeatable; NAT and lab setups)', collect)
    .option('--config <file>', 'JSON configuration (hosts, epmPort, limits, endpoints, accounts)')
    .option('--user <[DOMAIN\\]NAME:PASSWORD>', 'an account clients may authenticate as (repeatable)', collect)
    .option('--admin <[DOMAIN\\]NAME:PASSWORD>', 'an account in Administrators (repeatable)', collect)
    .option('--policy <spec>', 'machine-wide DCOM policy: xp-sp2, pre-sp2, open, or JSON {preset, access, launch, minAuthLevel} (default: none enforced; with --lab xp-sp2)')
    .option('--callback-identity <mode>', 'how ForwardCall calls back: impersonate (anonymous off this box, as XP SP2 does), process (--process-user) or account (--callback-user)', 'impersonate')
    .option('--process-user <[DOMAIN\\]NAME:PASSWORD>', `the server process's own account, for --callback-identity process (with --lab default ${LAB_PROCESS_USER.split(':')[0]})`)
    .option('--callback-user <[DOMAIN\\]NAME:PASSWORD>', 'an explicit account to call back as, for --callback-identity account')
    .option('--callback-timeout <ms>', "timeout of resolving the client's OXID and reaching its exporter", '5000')
    .option('--fidelity <f>', "windows (an unresolvable callback is E_OUTOFMEMORY) or rpc-error (the RPC status itself)", 'windows')
    .option('--log-level <level>', 'trace, debug, info, warn, error (default info)')
    .option('--capture <file>', 'record every connection (accepted, and the callbacks made) to this pcapng file')
    .action(async (o: ServeCliOptions) => {
      await runServe(o);
    });
}

/** The lab's server-side options: the machine policy and how ForwardCall calls back. */
function labOptions(o: ServeCliOptions, hosts: string[], resolverPort: number, log: Logger, tap?: SocketTap): Partial<DcomServerOptions> {
  const mode = (o.callbackIdentity ?? 'impersonate').toLowerCase();
  if (mode !== 'impersonate' && mode !== 'process' && mode !== 'account') throw new CliError(`--callback-identity must be impersonate, process or account, not ${o.callbackIdentity}`);
  if (mode === 'process' && !o.processUser) throw new CliError('--callback-identity process needs --process-user DOMAIN\\NAME:PASSWORD (the same account must exist on the client box)');
  if (mode === 'account' && !o.callbackUser) throw new CliError('--callback-identity account needs --callback-user DOMAIN\\NAME:PASSWORD');
  const fidelity = o.fidelity ?? 'windows';
  if (fidelity !== 'windows' && fidelity !== 'rpc-error') throw new CliError(`--fidelity must be windows or rpc-error, not ${o.fidelity}`);
  const timeout = Number(o.callbackTimeout ?? 5000);
  if (!Number.isInteger(timeout) || timeout <= 0) throw new CliError(`--callback-timeout must be a positive number of ms, not ${o.callbackTimeout}`);
  const out: Partial<DcomServerOptions> = {
    cserver: forwardCallHook({
      identity: mode === 'process' ? { mode: 'process', account: clientCredentialsFromSpec(o.processUser!) }
        : mode === 'account' ? { mode: 'account', account: clientCredentialsFromSpec(o.callbackUser!) } : { mode: 'impersonate' },
      resolverPort, resolveTimeoutMs: timeout, fidelity, logger: log, ...(hosts.length === 1 ? { localAddress: hosts[0]! } : {}),
      ...(tap ? { tap } : {}),
    }),
  };
  if (o.policy) {
    let policy;
    try {
      policy = parsePolicySpec(o.policy);
    } catch (e) {
      throw new CliError(`--policy: ${(e as Error).message}`);
    }
    log.info({ policy: policy.describe() }, 'machine-wide DCOM policy');
    out.exporterRpc = { authorize: accessAuthorizer(policy, log) };
    out.checkLaunch = launchChecker(policy, log);
  }
  return out;
}

function loadConfig(file?: string): ServeConfig {
  if (!file) return {};
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as ServeConfig;
  } catch (e) {
    throw new CliError(`cannot read --config ${file}: ${(e as Error).message}`);
  }
}

/** `--lab` fills in what was not given: every address, the fixed exporter port, xp-sp2, the service account. */
function withLabDefaults(o: ServeCliOptions): ServeCliOptions {
  if (!o.lab) return o;
  return {
    ...o, host: o.host?.length ? o.host : [LAB_HOST], exporterPort: o.exporterPort ?? String(LAB_EXPORTER_PORT), policy: o.policy ?? 'xp-sp2',
    ...(o.callbackIdentity === 'process' && !o.processUser ? { processUser: LAB_PROCESS_USER } : {}),
  };
}

async function runServe(given: ServeCliOptions): Promise<void> {
  const o = withLabDefaults(given);
  const cfg = loadConfig(o.config);
  const hosts = o.host?.length ? o.host : cfg.hosts?.length ? cfg.hosts : ['127.0.0.1'];
  const epmPort = o.resolverPort !== undefined && o.resolverPort !== '135' ? parsePort(o.resolverPort, '--resolver-port') : cfg.epmPort ?? 135;
  const log = o.lab ? labLogger(o.logLevel ?? cfg.logLevel ?? 'info') : cliLogger(o.logLevel ?? cfg.logLevel);
  const { accounts, guest, allowAnonymous, serverName, serverDomain } = cfg;
  const creds = serverCredentials(o.user, accounts || guest !== undefined || allowAnonymous !== undefined || serverName || serverDomain
    ? { accounts: accounts ?? [], guest, allowAnonymous, serverName, serverDomain }
    : undefined);
  const adminAccounts = (o.admin ?? []).map((u) => accountFromSpec(u, ['Administrators']));
  creds.accounts.push(...adminAccounts);
  // Lab mode: the kit's accounts unless others are given, and workgroup logons (any domain finds them).
  const builtinAccounts = o.lab && creds.accounts.length === 0;
  if (o.lab) {
    if (builtinAccounts) creds.accounts.push(...labAccounts());
    creds.mirrored = true;
  }
  let recording: Recording | undefined;
  if (o.capture) {
    const accounts: RecordedAccount[] = creds.accounts.map((a) => ({ name: accountName(a), role: 'accepted here' }));
    const callbackUser = o.callbackIdentity === 'process' ? o.processUser : o.callbackIdentity === 'account' ? o.callbackUser : undefined;
    if (callbackUser) accounts.push({ name: accountName(parseUserSpec(callbackUser)), role: 'the callbacks this server makes' });
    recording = openRecording(o.capture, `dcomlab serve on ${hosts.join(', ')} (resolver port ${epmPort})`, accounts, log);
  }
  const lab = labOptions(o, hosts, epmPort, log, recording?.recorder.tap);
  const exporterPort = o.exporterPort !== undefined ? parsePort(o.exporterPort, '--exporter-port') : cfg.exporterPort ?? 0;
  const publicAddresses = (o.publicAddress ?? cfg.publicAddresses) ?? (o.lab ? announcedAddresses(hosts) : undefined);
  let dcom: DcomServer;
  try {
    dcom = await startDcomServer({
      hosts, resolverPort: epmPort, exporterPort, logger: log, auth: serverAuthProvider(creds),
      ...(publicAddresses?.length ? { publicAddresses } : {}),
      ...(cfg.limits ? { limits: cfg.limits } : {}), ...(cfg.acceptRebind !== undefined ? { acceptRebind: cfg.acceptRebind } : {}),
      ...(cfg.authnHint !== undefined ? { authnHint: cfg.authnHint } : {}),
      ...lab, ...(recording ? { tap: recording.recorder.tap } : {}),
    });
  } catch (e) {
    recording?.close();
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'EACCES') {
      throw new CliError(
        `cannot listen on port ${epmPort}: ports below 1024 need root or CAP_NET_BIND_SERVICE ` +
          `(sudo setcap cap_net_bind_service=+ep "$(command -v node)"), or use another port: --resolver-port 1135`,
      );
    }
    if (err.code === 'EADDRINUSE') throw new CliError(`port ${epmPort} or ${exporterPort} is already in use on ${hosts.join(', ')} (another endpoint mapper? use --host or --resolver-port)`);
    if (err.code === 'EADDRNOTAVAIL') throw new CliError(`cannot listen on ${hosts.join(', ')}: address not available on this machine`);
    throw e;
  }
  const bound = dcom.listening;
  if (recording) {
    for (const b of bound) recording.recorder.addListener(b.host, b.port);
    for (const h of hosts) recording.recorder.addListener(h, dcom.exporter.listeningPort!);
  }
  for (const ep of cfg.endpoints ?? []) {
    dcom.epm.registerTcp(parseIfSpec(ep.interface), ep.host ?? bound[0]!.host, ep.port, ep.annotation ?? '', ep.object);
  }
  if (o.lab) {
    process.stdout.write(labBanner({
      listening: bound, exporterPort: dcom.exporter.listeningPort!, addresses: publicAddresses ?? hosts, policy: o.policy ? parsePolicySpec(o.policy).describe() : 'none enforced',
      callbackIdentity: o.callbackIdentity ?? 'impersonate', ...(o.processUser ? { processUser: o.processUser.replace(/:.*$/s, '') } : {}),
      accounts: builtinAccounts
        ? labAccounts().map((a) => `${a.user} / ${a.password}${a.groups?.length ? ` (${a.groups.join(', ')})` : ''}`)
        : creds.accounts.map((a) => `${accountName(a)}${a.groups?.length ? ` (${a.groups.join(', ')})` : ''}`),
    }));
  }
  const show = (h: string) => (h.includes(':') ? `[${h}]` : h);
  if (!o.lab) for (const b of bound) process.stdout.write(`dcomlab: endpoint mapper listening on ${show(b.host)}:${b.port}\n`);
  if (!o.lab) process.stdout.write(`dcomlab: object exporter listening on ${show(hosts[0]!)}:${dcom.exporter.listeningPort} ` +
    `(OXID 0x${dcom.exporter.oxid.toString(16).padStart(16, '0')}; class CServer {${CLSID_CServer.toUpperCase()}}); ` +
    `string bindings ${dcom.bindings.stringBindings.map((b) => b.networkAddr).join(' ')}\n`);
  await new Promise<void>((resolve) => {
    const stop = (sig: string) => {
      log.info({ signal: sig }, 'stopping');
      resolve();
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  await dcom.stop();
  recording?.close();
  log.flush?.();
}
