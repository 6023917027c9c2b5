// Endpoint mapper client: ept_lookup with entry-handle iteration, ept_map, and resolving a
// string binding that names no port.
import { RpcFault } from '../base/errors';
import { NIL_GUID } from '../base/guid';
import { Status } from '../base/status';
import { parseStringBinding } from './binding';
import { RpcConnection, type ClientOptions } from './client';
import { epm } from './interfaces/epm';
import { interfaceName } from './known-interfaces';
import { decodeTower, tcpTower, type DecodedTower } from './tower';
import { bindInterface, type InterfaceClient } from './typed';

export interface EndpointInfo {
  object: string;
  annotation: string;
  iface?: { uuid: string; version: string; name?: string };
  binding?: string;
  protseq?: string;
  tower: DecodedTower;
}

export const EPM_PORT = 135;

async function withEpm<T>(host: string, port: number, opts: ClientOptions, fn: (c: InterfaceClient<typeof epm>) => Promise<T>): Promise<T> {
  const conn = await RpcConnection.connect(host, port, opts);
  try {
    const c = await bindInterface(conn, epm);
    return await fn(c);
  } finally {
    await conn.close();
  }
}

/** Every registered endpoint, iterating the entry handle until the server returns a null one. */
export async function epmLookup(host: string, port = EPM_PORT, opts: ClientOptions = {}, maxEnts = 500): Promise<EndpointInfo[]> {
  return withEpm(host, port, opts, async (c) => {
    const out: EndpointInfo[] = [];
    let handle = { attributes: 0, uuid: NIL_GUID };
    for (let round = 0; round < 10_000; round++) {
      const r = await c.call(epm.ops.ept_lookup, {
        inquiry_type: 0, object: null, interface_id: null, vers_option: 1, entry_handle: handle, max_ents: maxEnts,
      });
      if (r.status === Status.ept_s_not_registered) break; // nothing (more) registered
      if (r.status !== 0) throw new RpcFault(r.status, 'ept_lookup');
      for (const e of r.entries) {
        const bytes = e.tower?.tower_octet_string;
        let tower: DecodedTower;
        try {
          tower = bytes ? decodeTower(bytes) : { floors: [] };
        } catch {
          tower = { floors: [] };
        }
        const info: EndpointInfo = { object: e.object, annotation: e.annotation, tower };
        if (tower.iface) {
          const v = tower.iface.version;
          const name = interfaceName(tower.iface.uuid);
          info.iface = { uuid: tower.iface.uuid, version: `${v & 0xffff}.${v >>> 16}`, ...(name ? { name } : {}) };
        }
        if (tower.binding) info.binding = tower.binding;
        if (tower.protseq) info.protseq = tower.protseq;
        out.push(info);
      }
      handle = r.entry_handle;
      if (handle.uuid === NIL_GUID) break;
    }
    return out;
  });
}

/** ept_map for ncacn_ip_tcp: the port (and host) the mapper gives for an interface. */
export async function epmMap(
  host: string, iface: { uuid: string; version: number }, port = EPM_PORT, opts: ClientOptions = {}, object?: string,
): Promise<{ host?: string; port: number; binding?: string }> {
  return withEpm(host, port, opts, async (c) => {
    const tower = tcpTower(iface, '0.0.0.0', 0);
    const r = await c.call(epm.ops.ept_map, {
      object: object ?? null,
      map_tower: { tower_length: tower.length, tower_octet_string: tower },
      entry_handle: { attributes: 0, uuid: NIL_GUID },
      max_towers: 4,
    });
    if (r.status !== 0) throw new RpcFault(r.status, `ept_map ${interfaceName(iface.uuid) ?? iface.uuid}`);
    for (const t of r.towers) {
      if (!t) continue;
      const d = decodeTower(t.tower_octet_string);
      if (d.protseq === 'ncacn_ip_tcp' && d.port) {
        const res: { host?: string; port: number; binding?: string } = { port: d.port };
        if (d.host) res.host = d.host;
        if (d.binding) res.binding = d.binding;
        return res;
      }
    }
    throw new RpcFault(Status.ept_s_not_registered, 'ept_map returned no ncacn_ip_tcp tower');
  });
}

/**
 * Connect to an interface by string binding: `ncacn_ip_tcp:HOST[PORT]` directly, or, with no
 * port, at the port the host's endpoint mapper gives for the interface (ept_map).
 */
export async function connectTo<I extends Parameters<typeof bindInterface>[1]>(
  binding: string, i: I, opts: ClientOptions & { epmPort?: number } = {},
): Promise<InterfaceClient<I>> {
  const b = parseStringBinding(binding);
  const ifId = { uuid: i.uuid, version: (i.version.major | (i.version.minor << 16)) >>> 0 };
  const port = b.port ?? (await epmMap(b.host, ifId, opts.epmPort ?? EPM_PORT, opts, b.object)).port;
  const conn = await RpcConnection.connect(b.host, port, opts);
  try {
    return await bindInterface(conn, i);
  } catch (e) {
    await conn.close();
    throw e;
  }
}
