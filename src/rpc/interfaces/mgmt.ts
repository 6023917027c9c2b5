// The remote management interface, mgmt v1.0 — C706 Appendix Q (mgmt.idl) / MS-RPCE 2.2.1.3.
// Every endpoint serves it.
import * as ndr from '../../ndr';
import { rpc_if_id_t } from './epm';

// C706 Q: typedef struct { unsigned32 count; [size_is(count)] rpc_if_id_p_t if_id[*]; } rpc_if_id_vector_t;
export const rpc_if_id_vector_t = ndr.struct({
  count: ndr.u32,
  if_id: ndr.conformantArray(ndr.unique(rpc_if_id_t), { sizeIs: 'count' }),
});

// [out, string, size_is(princ_name_size)] char princ_name[]: a conformant-varying string whose
// max_count is the caller's buffer size, shown as a JS string without its NUL.
const princ_name_t = ndr.userMarshal(ndr.conformantVaryingArray(ndr.u8, { sizeIs: 'princ_name_size' }), {
  toWire: (s: string) => Buffer.concat([Buffer.from(s, 'latin1'), Buffer.alloc(1)]),
  fromWire: (b: Buffer) => {
    const z = b.indexOf(0);
    return b.toString('latin1', 0, z >= 0 ? z : b.length);
  },
});

export const mgmt = ndr.iface('MGMT', 'afa8bd80-7d8a-11c9-bef4-08002b102989', 1, 0, {
  // C706 Q: rpc__mgmt_inq_if_ids
  inq_if_ids: ndr.op(0, {
    in: {},
    out: { if_id_vector: ndr.unique(rpc_if_id_vector_t), status: ndr.errorStatus },
  }),
  // C706 Q: rpc__mgmt_inq_stats
  inq_stats: ndr.op(1, {
    in: { count: ndr.u32 },
    out: { count: ndr.u32, statistics: ndr.conformantArray(ndr.u32, { sizeIs: 'count' }), status: ndr.errorStatus },
  }),
  // C706 Q: rpc__mgmt_is_server_listening (boolean32 return value after the status)
  is_server_listening: ndr.op(2, {
    in: {},
    out: { status: ndr.errorStatus, ReturnValue: ndr.u32 },
  }),
  // C706 Q: rpc__mgmt_stop_server_listening
  stop_server_listening: ndr.op(3, {
    in: {},
    out: { status: ndr.errorStatus },
  }),
  // C706 Q: rpc__mgmt_inq_princ_name
  inq_princ_name: ndr.op(4, {
    in: { authn_proto: ndr.u32, princ_name_size: ndr.u32 },
    out: { princ_name: princ_name_t, status: ndr.errorStatus },
  }),
});
