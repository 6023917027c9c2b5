// The endpoint mapper service (C706 Appendix O, MS-RPCE 2.2.1.2 and 3.1.1.5): ept_lookup and
// ept_map over the database, answering as Windows does.
import { RpcFault } from '../base/errors';
import { NIL_GUID } from '../base/guid';
import { Status } from '../base/status';
import type * as ndr from '../ndr';
import { EpmDatabase, Inquiry, type EpmEntry } from './epm-database';
import { epm, type EptEntry } from './interfaces/epm';
import type { RpcServer } from './server';
import { decodeFloors, decodeTower, encodeFloors, TowerProto } from './tower';
import { dispatcherFor } from './typed';

const NULL_HANDLE: ndr.ContextHandle = { attributes: 0, uuid: NIL_GUID };
/** MS-RPCE 2.2.1.2.5/6: max_ents and max_towers have [range(0,500)]. */
const MAX_BATCH = 500;

function handleOut(h: string | null): ndr.ContextHandle {
  return h ? { attributes: 0, uuid: h } : NULL_HANDLE;
}

function handleIn(h: ndr.ContextHandle): string | null {
  return h.uuid === NIL_GUID ? null : h.uuid;
}

function toWireEntry(e: EpmEntry): EptEntry {
  return { object: e.object, tower: { tower_length: e.tower.length, tower_octet_string: e.tower }, annotation: e.annotation };
}

/** Put the address the client reached us on into a tower registered for 0.0.0.0. */
function withLocalAddress(tower: Buffer, local: string): Buffer {
  const m = /^(?:::ffff:)?(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(local);
  if (!m) return tower;
  const floors = decodeFloors(tower);
  let changed = false;
  for (const f of floors) {
    if (f.lhs[0] === TowerProto.IP && f.rhs.length === 4 && f.rhs.every((b) => b === 0)) {
      f.rhs = Buffer.from([+m[1]!, +m[2]!, +m[3]!, +m[4]!]);
      changed = true;
    }
  }
  return changed ? encodeFloors(floors) : tower;
}

export function serveEndpointMapper(server: RpcServer, db: EpmDatabase): void {
  const cantPerform = () => {
    // Vista and later raise EPT_S_CANT_PERFORM_OP for the remote database-changing calls (MS-RPCE 3.1.1.5.1.x).
    throw new RpcFault(Status.EPT_S_CANT_PERFORM_OP, 'the endpoint database is not writable remotely');
  };
  server.addInterface(
    dispatcherFor(epm, {
      ept_insert: cantPerform,
      ept_delete: cantPerform,
      ept_mgmt_delete: cantPerform,
      ept_inq_object: cantPerform,
      ept_lookup: (a) => {
        // MS-RPCE 2.2.1.2.5 note: an unknown inquiry_type is treated as RPC_C_EP_ALL_ELTS.
        const inquiryType = a.inquiry_type <= Inquiry.MATCH_BY_BOTH ? a.inquiry_type : Inquiry.ALL_ELTS;
        const r = db.lookup({
          inquiryType,
          object: a.object,
          ifId: a.interface_id ? { uuid: a.interface_id.uuid, version: (a.interface_id.vers_major | (a.interface_id.vers_minor << 16)) >>> 0 } : null,
          versOption: a.vers_option,
          handle: handleIn(a.entry_handle),
          maxEnts: Math.min(a.max_ents, MAX_BATCH),
        });
        return {
          entry_handle: handleOut(r.handle),
          num_ents: r.entries.length,
          entries: r.entries.map(toWireEntry),
          status: r.found ? 0 : Status.ept_s_not_registered,
        };
      },
      ept_map: (a, ctx) => {
        const notFound = { entry_handle: NULL_HANDLE, num_towers: 0, towers: [], status: Status.ept_s_not_registered };
        if (!a.map_tower) return notFound;
        let asked;
        try {
          asked = decodeTower(a.map_tower.tower_octet_string);
        } catch {
          return notFound;
        }
        if (!asked.iface) return notFound;
        const r = db.map({ object: a.object, iface: asked.iface, handle: handleIn(a.entry_handle), maxTowers: Math.min(a.max_towers, MAX_BATCH) });
        // Only towers of the protocol sequence the client asked about.
        const towers = r.entries
          .filter((e) => !asked.protseq || e.decoded.protseq === asked.protseq)
          .map((e) => withLocalAddress(e.tower, ctx.local.address))
          .map((t) => ({ tower_length: t.length, tower_octet_string: t }));
        if (!towers.length) return notFound;
        return { entry_handle: handleOut(r.handle), num_towers: towers.length, towers, status: 0 };
      },
      ept_lookup_handle_free: (a) => {
        db.free(handleIn(a.entry_handle));
        return { entry_handle: NULL_HANDLE, status: 0 };
      },
    }),
  );
}
