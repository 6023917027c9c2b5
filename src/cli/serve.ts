// `dcomlab serve`: the endpoint mapper (and, as they land, the DCOM services) in the foreground
// until SIGINT/SIGTERM.
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { EpmDatabase, RpcServer, serveEndpointMapper, serveMgmt, type ServerLimits } from '../rpc';
import { cliLogger, collect, parseIfSpec, parsePort } from './common';
import { serverAuthProvider, serverCredentials } from './auth-options';
import { CliError } from './errors';

interface ServeConfig {
  hosts?: string[];
  epmPort?: number;
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
  user?: string[];
  host?: string[];
  epmPort?: string;
  config?: string;
  logLevel?: string;
}

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('run the endpoint mapper on TCP 135 (and the DCOM services) until SIGINT/SIGTERM')
    .option('--host <addr>', 'address to listen on (repeatable; IPv4 or IPv6)', collect)
    .option('--epm-port <n>', 'endpoint mapper port', '135')
    .option('--config <file>', 'JSON configuration (hosts, epmPort, limits, endpoints, accounts)')
    .option('--user <[DOMAIN\\]NAME:PASSWORD>', 'an account clients may authenticate as (repeatable)', collect)
    .option('--log-level <level>', 'trace, debug, info, warn, error', 'info')
    .action(async (o: ServeCliOptions) => {
      await runServe(o);
    });
}

function loadConfig(file?: string): ServeConfig {
  if (!file) return {};
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as ServeConfig;
  } catch (e) {
    throw new CliError(`cannot read --config ${file}: ${(e as Error).message}`);
  }
}

async function runServe(o: ServeCliOptions): Promise<void> {
  const cfg = loadConfig(o.config);
  const hosts = o.host?.length ? o.host : cfg.hosts?.length ? cfg.hosts : ['127.0.0.1'];
  const epmPort = o.epmPort !== undefined && o.epmPort !== '135' ? parsePort(o.epmPort, '--epm-port') : cfg.epmPort ?? 135;
  const log = cliLogger(o.logLevel ?? cfg.logLevel);
  const { accounts, guest, allowAnonymous, serverName, serverDomain } = cfg;
  const creds = serverCredentials(o.user, accounts || guest !== undefined || allowAnonymous !== undefined || serverName || serverDomain
    ? { accounts: accounts ?? [], guest, allowAnonymous, serverName, serverDomain }
    : undefined);
  const server = new RpcServer({ logger: log, limits: cfg.limits, acceptRebind: cfg.acceptRebind, auth: serverAuthProvider(creds) });
  const db = new EpmDatabase();
  serveEndpointMapper(server, db);
  serveMgmt(server);
  let bound;
  try {
    bound = await server.listen(hosts.map((host) => ({ host, port: epmPort })));
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    await server.close();
    if (err.code === 'EACCES') {
      throw new CliError(
        `cannot listen on port ${epmPort}: ports below 1024 need root or CAP_NET_BIND_SERVICE ` +
          `(sudo setcap cap_net_bind_service=+ep "$(command -v node)"), or use another port: --epm-port 1135`,
      );
    }
    if (err.code === 'EADDRINUSE') throw new CliError(`port ${epmPort} is already in use on ${hosts.join(', ')} (another endpoint mapper? use --host or --epm-port)`);
    if (err.code === 'EADDRNOTAVAIL') throw new CliError(`cannot listen on ${hosts.join(', ')}: address not available on this machine`);
    throw e;
  }
  for (const ep of cfg.endpoints ?? []) {
    db.registerTcp(parseIfSpec(ep.interface), ep.host ?? bound[0]!.host, ep.port, ep.annotation ?? '', ep.object);
  }
  for (const b of bound) process.stdout.write(`dcomlab: endpoint mapper listening on ${b.host.includes(':') ? `[${b.host}]` : b.host}:${b.port}\n`);
  await new Promise<void>((resolve) => {
    const stop = (sig: string) => {
      log.info({ signal: sig }, 'stopping');
      resolve();
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  await server.close();
  log.flush?.();
}
