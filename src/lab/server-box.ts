// The server box of the SP2 lab: `dcomlab serve` with the lab's machine-wide policy (launch and
// access checks) and CServer::ForwardCall calling back under the configured identity.
import type { CredentialOptions } from '../auth/types';
import type { Logger } from '../base/log';
import { silentLogger } from '../base/log';
import { startDcomServer, type DcomServer } from '../dcom/server';
import { credentialAuthProvider } from '../rpc/auth-provider';
import { forwardCallHook, type CallbackOptions } from './callback';
import { accessAuthorizer, launchChecker } from './enforce';
import type { Firewall } from './firewall';
import type { DcomPolicy } from './policy';
import type { SocketTap } from '../rpc/tap';

export interface ServerBoxOptions {
  host: string;
  resolverPort: number;
  exporterPort?: number;
  accounts: CredentialOptions;
  policy: DcomPolicy;
  callback: CallbackOptions;
  firewall?: Firewall;
  logger?: Logger;
  /** Told about the connections the box accepts (a recorder's tap). */
  tap?: SocketTap;
}

export async function startServerBox(o: ServerBoxOptions): Promise<DcomServer> {
  const log = (o.logger ?? silentLogger).child({ box: 'server' });
  return startDcomServer({
    hosts: [o.host], resolverPort: o.resolverPort, exporterPort: o.exporterPort ?? 0, logger: log,
    auth: credentialAuthProvider(o.accounts),
    exporterRpc: { authorize: accessAuthorizer(o.policy, log), ...(o.firewall ? { firewall: o.firewall.rule('exporter') } : {}) },
    resolverRpc: o.firewall ? { firewall: o.firewall.rule('resolver') } : {},
    checkLaunch: launchChecker(o.policy, log),
    cserver: forwardCallHook({ localAddress: o.host, ...o.callback, logger: log }),
    ...(o.tap ? { tap: o.tap } : {}),
  });
}
