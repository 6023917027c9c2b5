// The socket tap: what an RpcServer or RpcConnection sent and received on each TCP connection, for
// a recorder (src/capture/recorder.ts writes it as pcapng). Unset, it costs one `if` per chunk.
import type net from 'node:net';

export interface TapEndpoint {
  address: string;
  port: number;
}

/**
 * One event of one connection; `conn` identifies the connection (unique in the process).
 * - open: the connection is established (accepted by a server, or connected by a client);
 * - data: bytes received (`in`, as the socket handed them over) or written (`out`, as given to write);
 * - close: the socket closed; `by` is the side whose FIN came first (best effort), `reset` a
 *   connection that ended with an error (a reset) rather than an orderly close.
 */
export type TapEvent =
  | { type: 'open'; conn: number; role: 'server' | 'client'; local: TapEndpoint; remote: TapEndpoint }
  | { type: 'data'; conn: number; dir: 'in' | 'out'; bytes: Buffer }
  | { type: 'close'; conn: number; by: 'local' | 'remote'; reset: boolean };

export type SocketTap = (event: TapEvent) => void;

/** The write side of a tapped connection: call `out` with every buffer given to sock.write. */
export interface TappedSocket {
  out(bytes: Buffer): void;
  /** Report the close now (e.g. a reset we are about to cause); the socket's own close is then ignored. */
  close(by: 'local' | 'remote', reset: boolean): void;
}

let nextConn = 1;

/**
 * Start tapping an established socket: reports `open` now, every chunk the socket receives (its
 * 'data' listener is added here, so register this before the consumer's to keep the order), and the
 * close. Returns undefined without a tap.
 */
export function tapSocket(tap: SocketTap | undefined, sock: net.Socket, role: 'server' | 'client'): TappedSocket | undefined {
  if (!tap) return undefined;
  const conn = nextConn++;
  let closed = false;
  // Who sent the first FIN: the peer's arrives as 'end'; if we had not ended our side by then, it was the peer.
  let remoteFirst = false;
  const report = (e: TapEvent) => {
    try {
      tap(e);
    } catch {
      // A recorder's failure must not break the connection.
    }
  };
  report({
    type: 'open', conn, role,
    local: { address: sock.localAddress ?? '', port: sock.localPort ?? 0 },
    remote: { address: sock.remoteAddress ?? '', port: sock.remotePort ?? 0 },
  });
  sock.on('data', (bytes: Buffer) => {
    if (!closed) report({ type: 'data', conn, dir: 'in', bytes });
  });
  sock.once('end', () => {
    remoteFirst = !sock.writableEnded;
  });
  const close = (by: 'local' | 'remote', reset: boolean) => {
    if (closed) return;
    closed = true;
    report({ type: 'close', conn, by, reset });
  };
  sock.once('close', (hadError: boolean) => close(hadError || remoteFirst ? 'remote' : 'local', hadError));
  return {
    out(bytes: Buffer) {
      if (!closed) report({ type: 'data', conn, dir: 'out', bytes });
    },
    close,
  };
}

/**
 * A tap that passes on only the connections a server accepted. When both ends of a connection are
 * tapped in one process (two lab boxes), recording each box's accepted side records every
 * connection once.
 */
export function acceptedOnly(tap: SocketTap): SocketTap {
  const accepted = new Set<number>();
  return (e) => {
    if (e.type === 'open') {
      if (e.role !== 'server') return;
      accepted.add(e.conn);
    } else if (!accepted.has(e.conn)) return;
    if (e.type === 'close') accepted.delete(e.conn);
    tap(e);
  };
}
