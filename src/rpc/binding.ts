// String bindings (C706 Appendix C / MS-RPCE 2.1.1.2): [objuuid@]ncacn_ip_tcp:host[port].
// IPv6 hosts are written in brackets: ncacn_ip_tcp:[::1][135].
import { DcomlabError } from '../base/errors';
import { isGuid, normalizeGuid } from '../base/guid';

export interface StringBinding {
  protseq: 'ncacn_ip_tcp';
  host: string;
  /** Undefined when the binding names no endpoint (resolve it with the endpoint mapper). */
  port?: number;
  object?: string;
}

export class BindingError extends DcomlabError {
  override name = 'BindingError';
}

export function parseStringBinding(s: string): StringBinding {
  let rest = s.trim();
  let object: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    const uuid = rest.slice(0, at);
    if (!isGuid(uuid)) throw new BindingError(`bad object UUID in string binding: ${JSON.stringify(uuid)}`);
    object = normalizeGuid(uuid);
    rest = rest.slice(at + 1);
  }
  const colon = rest.indexOf(':');
  if (colon < 0) throw new BindingError(`string binding needs a protocol sequence: ${JSON.stringify(s)}`);
  const protseq = rest.slice(0, colon).toLowerCase();
  if (protseq !== 'ncacn_ip_tcp') throw new BindingError(`unsupported protocol sequence ${protseq} (only ncacn_ip_tcp)`);
  rest = rest.slice(colon + 1);
  let host: string;
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close < 0) throw new BindingError(`unterminated [ in ${JSON.stringify(s)}`);
    host = rest.slice(1, close);
    rest = rest.slice(close + 1);
  } else {
    const br = rest.indexOf('[');
    host = br >= 0 ? rest.slice(0, br) : rest;
    rest = br >= 0 ? rest.slice(br) : '';
  }
  if (!host) throw new BindingError(`string binding has no host: ${JSON.stringify(s)}`);
  let port: number | undefined;
  if (rest) {
    const m = /^\[([^\],]*)(?:,[^\]]*)?\]$/.exec(rest);
    if (!m) throw new BindingError(`bad endpoint in string binding: ${JSON.stringify(rest)}`);
    if (m[1]) {
      const n = Number(m[1]);
      if (!Number.isInteger(n) || n < 1 || n > 65535) throw new BindingError(`bad TCP port ${JSON.stringify(m[1])}`);
      port = n;
    }
  }
  const b: StringBinding = { protseq: 'ncacn_ip_tcp', host };
  if (port !== undefined) b.port = port;
  if (object) b.object = object;
  return b;
}

export function formatStringBinding(b: { host: string; port?: number; object?: string }): string {
  const host = b.host.includes(':') ? `[${b.host}]` : b.host;
  return `${b.object ? `${b.object}@` : ''}ncacn_ip_tcp:${host}${b.port !== undefined ? `[${b.port}]` : ''}`;
}
