// The management interface on every endpoint (C706 Appendix Q, MS-RPCE 2.2.1.3).
import { RpcFault } from '../base/errors';
import { Status } from '../base/status';
import { mgmt } from './interfaces/mgmt';
import type { RpcServer } from './server';
import { dispatcherFor } from './typed';

/** Principal names by authentication service, for inq_princ_name (filled by the auth layer). */
export type PrincipalNames = Map<number, string>;

export function serveMgmt(server: RpcServer, principals: PrincipalNames = new Map()): void {
  server.addInterface(
    dispatcherFor(mgmt, {
      inq_if_ids: () => {
        // Every interface served here except mgmt itself, as Windows lists them.
        const ids = server
          .listInterfaces()
          .filter((d) => d.uuid !== mgmt.uuid)
          .map((d) => ({ uuid: d.uuid, vers_major: d.version & 0xffff, vers_minor: d.version >>> 16 }));
        return { if_id_vector: { count: ids.length, if_id: ids }, status: 0 };
      },
      inq_stats: ({ count }) => {
        // rpc_c_stats_calls_in, calls_out, pkts_in, pkts_out (C706 Q, rpc_c_stats_array_max_size 4).
        const all = [server.stats.callsIn, server.stats.callsOut, server.stats.pktsIn, server.stats.pktsOut];
        const n = Math.min(count, all.length);
        return { count: n, statistics: all.slice(0, n), status: 0 };
      },
      is_server_listening: () => ({ status: 0, ReturnValue: 1 }),
      // Remote callers may not stop the server: rpc_s_access_denied in the status.
      stop_server_listening: () => ({ status: Status.rpc_s_access_denied }),
      inq_princ_name: ({ authn_proto, princ_name_size }) => {
        if (princ_name_size < 1) throw new RpcFault(Status.rpc_x_bad_stub_data, 'princ_name_size 0');
        const name = principals.get(authn_proto);
        if (name === undefined) return { princ_name: '', status: Status.rpc_s_unknown_authn_service };
        if (name.length + 1 > princ_name_size) return { princ_name: '', status: 0x7a /* ERROR_INSUFFICIENT_BUFFER */ };
        return { princ_name: name, status: 0 };
      },
    }),
  );
}
