// The in-process firewall of the loopback topology: the client box's inbound rules for its
// resolver port (135 or --resolver-port) and its exporter port (the application's own port), as
// XP SP2's Windows Firewall closes them. Only connections from another address (another "machine")
// are blocked; the box may still reach itself. 'reject' answers with a TCP reset, 'drop' swallows
// the connection (the caller waits until its timeout). The netns topology uses real iptables rules
// instead (see netns.ts).
import type { Logger } from '../base/log';
import { silentLogger } from '../base/log';

export type FirewallAction = 'drop' | 'reject';
export type BoxPort = 'resolver' | 'exporter';

export interface FirewallSpec {
  blocked: BoxPort[];
  action: FirewallAction;
}

export class Firewall {
  /** Connections blocked so far, per port, for reports. */
  readonly hits: { port: BoxPort; peer: string }[] = [];

  constructor(readonly spec: FirewallSpec, private readonly log: Logger = silentLogger) {}

  blocks(port: BoxPort): boolean {
    return this.spec.blocked.includes(port);
  }

  /** The RpcServer `firewall` option for one of the box's ports. */
  rule(port: BoxPort): (peer: { address: string; port: number }, local: { address: string; port: number }) => 'accept' | 'reject' | 'drop' {
    return (peer, local) => {
      if (!this.blocks(port) || peer.address === local.address) return 'accept';
      this.hits.push({ port, peer: `${peer.address}:${peer.port}` });
      this.log.info({ port, peer: `${peer.address}:${peer.port}`, local: `${local.address}:${local.port}`, action: this.spec.action }, `firewall: inbound ${port} connection ${this.spec.action === 'drop' ? 'dropped' : 'rejected'}`);
      return this.spec.action;
    };
  }
}
