// Choosing where to reach an object exporter or an OXID resolver from a DUALSTRINGARRAY
// (MS-DCOM 2.2.19.3: a string binding is `host[endpoint]`; 3.2.4.1.1.3 / 3.2.4.1.2.3: the client
// picks a string binding whose protocol sequence it supports).
import { ObjrefError } from '../../base/errors';
import { TOWER_NCACN_IP_TCP, type StringBinding } from '../types';

export interface TcpAddress {
  host: string;
  /** undefined when the binding names no endpoint (a resolver binding: use port 135). */
  port: number | undefined;
}

/** Parses a tower-7 network address: `host`, `host[port]`, `[v6]`... Throws ObjrefError. */
export function parseNetworkAddr(addr: string): TcpAddress {
  const m = /^(.*?)(?:\[(\d*)\])?$/.exec(addr);
  const host = m?.[1] ?? '';
  if (!host) throw new ObjrefError(0, `string binding "${addr}" names no host`);
  const ep = m?.[2];
  if (ep === undefined || ep === '') return { host, port: undefined };
  const port = Number(ep);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new ObjrefError(0, `string binding "${addr}": endpoint ${ep} is not a TCP port`);
  return { host, port };
}

/**
 * How to pick among the ncacn_ip_tcp bindings:
 * - `target` (default): the one whose host is the host we asked, else the first one;
 * - `first`: the first one, as the server listed them;
 * - `target-only`: only the host we asked (fails if the server does not list it);
 * - `{ host }`: always connect to this host, with the first binding's port (NAT, lab setups).
 */
export type BindingChoice = 'target' | 'first' | 'target-only' | { host: string };

/** The address to connect to, or an ObjrefError naming the bindings when none fits. */
export function chooseBinding(bindings: readonly StringBinding[], target: string, choice: BindingChoice = 'target', defaultPort?: number): TcpAddress & { binding: string } {
  const tcp = bindings.filter((b) => b.towerId === TOWER_NCACN_IP_TCP).map((b) => ({ ...parseNetworkAddr(b.networkAddr), binding: b.networkAddr }));
  const listed = bindings.map((b) => `${b.towerId}:${b.networkAddr}`).join(', ') || 'none';
  const withPort = (a: TcpAddress & { binding: string }) => {
    const port = a.port ?? defaultPort;
    if (port === undefined) throw new ObjrefError(0, `string binding ${a.binding} has no endpoint`);
    return { ...a, port };
  };
  if (tcp.length === 0) throw new ObjrefError(0, `no ncacn_ip_tcp string binding (bindings: ${listed})`);
  if (typeof choice === 'object') return withPort({ ...tcp[0]!, host: choice.host });
  if (choice === 'first') return withPort(tcp[0]!);
  const same = tcp.find((b) => b.host.toLowerCase() === target.toLowerCase());
  if (same) return withPort(same);
  if (choice === 'target-only') throw new ObjrefError(0, `no string binding for ${target} (bindings: ${listed})`);
  return withPort(tcp[0]!);
}
