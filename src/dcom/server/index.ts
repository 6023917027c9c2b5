// A DCOM server: the port-135 server (endpoint mapper, mgmt, IObjectExporter, IRemoteSCMActivator,
// IRemoteActivation) and one object exporter on its own port, with the lab class registered.
import type { Logger } from '../../base/log';
import { silentLogger } from '../../base/log';
import { EpmDatabase } from '../../rpc/epm-database';
import { serveEndpointMapper } from '../../rpc/epm-server';
import { serveMgmt } from '../../rpc/mgmt-server';
import { RpcServer, type ListenAddress, type RpcServerOptions, type ServerAuthProvider, type ServerLimits } from '../../rpc/server';
import type { SocketTap } from '../../rpc/tap';
import { TOWER_NCACN_IP_TCP, type DualStringArray } from '../types';
import { ClassRegistry, remoteActivationDispatcher, scmActivatorDispatcher, type LaunchCheck } from './activation';
import { ObjectExporter } from './exporter';
import { CServerClass, cserverDispatcher, type CServerHooks } from './lab-class';
import { OxidResolver } from './resolver';

export * from './exporter';
export * from './resolver';
export * from './activation';
export * from './lab-class';

export interface DcomServerOptions {
  /** Address(es) to listen on; the first is the exporter's (and named in its string bindings). */
  host?: string;
  hosts?: string[];
  /** Addresses to announce in the exporter's string bindings instead of `hosts` (NAT, lab setups). */
  publicAddresses?: string[];
  /** The resolver/activator/endpoint-mapper port (135). */
  resolverPort?: number;
  /** 0 = dynamic. */
  exporterPort?: number;
  auth?: ServerAuthProvider;
  logger?: Logger;
  /** authnHint for the exporter (default 4, RPC_C_AUTHN_LEVEL_PKT). */
  authnHint?: number;
  /** Limits and rebind behaviour of the port-135 server (the RPC runtime's options). */
  limits?: Partial<ServerLimits>;
  acceptRebind?: boolean;
  /** Ping period and missed pings before an OID expires (MS-DCOM 3.1.2.2: 120 s x 3). */
  pingPeriodMs?: number;
  pingsToExpire?: number;
  /** The exporter's RPC hooks: per-call authorize (machine access policy), in-process firewall. */
  exporterRpc?: Pick<RpcServerOptions, 'authorize' | 'firewall'>;
  /** The port-135 server's in-process firewall. */
  resolverRpc?: Pick<RpcServerOptions, 'firewall'>;
  /** Refuse an activation (machine launch policy): throw ActivationRejected. */
  checkLaunch?: LaunchCheck;
  /** Serve the lab class CServer (default true), and how its ForwardCall calls back. */
  withLabClass?: boolean;
  cserver?: CServerHooks;
  /** Told about every connection either server accepts (a pcapng recorder's tap). */
  tap?: SocketTap;
}

export interface DcomServer {
  resolver: RpcServer;
  resolverPort: number;
  /** The addresses the port-135 server listens on. */
  listening: ListenAddress[];
  exporter: ObjectExporter;
  oxidResolver: OxidResolver;
  registry: ClassRegistry;
  epm: EpmDatabase;
  /** The exporter's bindings (what activation and ResolveOxid2 answer). */
  bindings: DualStringArray;
  stop(): Promise<void>;
}

export async function startDcomServer(o: DcomServerOptions): Promise<DcomServer> {
  const logger = o.logger ?? silentLogger;
  const hosts = o.hosts?.length ? o.hosts : [o.host ?? '127.0.0.1'];
  const rpcCommon = {
    ...(o.limits ? { limits: o.limits } : {}), ...(o.acceptRebind !== undefined ? { acceptRebind: o.acceptRebind } : {}), ...(o.tap ? { tap: o.tap } : {}),
  };
  const exporter = new ObjectExporter({
    host: hosts[0]!, moreHosts: hosts.slice(1), port: o.exporterPort ?? 0,
    ...(o.publicAddresses?.length ? { publicAddresses: o.publicAddresses } : {}), logger: logger.child({ part: 'exporter' }), rpc: { ...rpcCommon, ...o.exporterRpc },
    ...(o.auth ? { auth: o.auth } : {}), ...(o.authnHint !== undefined ? { authnHint: o.authnHint } : {}),
  });
  const registry = new ClassRegistry();
  if (o.withLabClass !== false) {
    exporter.addInterface(cserverDispatcher(exporter, o.cserver));
    registry.register(CServerClass);
  }
  await exporter.start();

  // ServerAlive2 names the addresses clients can reach (never a wildcard the server listens on).
  const announced = o.publicAddresses?.length ? o.publicAddresses : hosts;
  const oxidResolver = new OxidResolver(announced, {
    logger: logger.child({ part: 'resolver' }),
    ...(o.pingPeriodMs !== undefined ? { pingPeriodMs: o.pingPeriodMs } : {}), ...(o.pingsToExpire !== undefined ? { pingsToExpire: o.pingsToExpire } : {}),
  });
  oxidResolver.register(exporter);

  const resolver = new RpcServer({
    logger: logger.child({ part: 'resolver' }), ...(o.auth ? { auth: o.auth } : {}), ...rpcCommon, ...o.resolverRpc,
  });
  const epm = new EpmDatabase();
  serveEndpointMapper(resolver, epm);
  serveMgmt(resolver);
  resolver.addInterface(oxidResolver.dispatcher());
  const actLog = logger.child({ part: 'activator' });
  resolver.addInterface(scmActivatorDispatcher(registry, exporter, actLog, o.checkLaunch));
  resolver.addInterface(remoteActivationDispatcher(registry, exporter, actLog, o.checkLaunch));
  let listening: ListenAddress[];
  try {
    // Every address on the same port (the first one picks it when it is 0).
    listening = await resolver.listen({ host: hosts[0]!, port: o.resolverPort ?? 135 });
    if (hosts.length > 1) listening.push(...await resolver.listen(hosts.slice(1).map((host) => ({ host, port: listening[0]!.port }))));
  } catch (e) {
    oxidResolver.stop();
    await Promise.all([exporter.stop(), resolver.close()]);
    throw e;
  }
  const port = listening[0]!.port;
  exporter.resolverBindings = {
    stringBindings: announced.map((h) => ({ towerId: TOWER_NCACN_IP_TCP, networkAddr: port === 135 ? h : `${h}[${port}]` })),
    securityBindings: exporter.bindings.securityBindings,
  };
  return {
    resolver, resolverPort: port, listening, exporter, oxidResolver, registry, epm, bindings: exporter.bindings,
    async stop() {
      oxidResolver.stop();
      await Promise.all([resolver.close(), exporter.stop()]);
    },
  };
}
