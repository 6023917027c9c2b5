// The endpoint mapper, ept v3.0 — C706 Appendix O (ept.idl) / MS-RPCE 2.2.1.2.
// Names and order follow the IDL; opnums are the operations' positions.
import * as ndr from '../../ndr';

// C706 O.2: typedef struct { unsigned32 tower_length; [size_is(tower_length)] byte tower_octet_string[]; } twr_t;
export const twr_t = ndr.struct({
  tower_length: ndr.u32,
  tower_octet_string: ndr.conformantArray(ndr.u8, { sizeIs: 'tower_length' }),
});

// C706 Appendix Q (rpc_if_id_t): the interface UUID and version.
export const rpc_if_id_t = ndr.struct({
  uuid: ndr.guid,
  vers_major: ndr.u16,
  vers_minor: ndr.u16,
});

// C706 O.2: ept_entry_t; annotation is [string] char[ept_max_annotation_size = 64].
export const ept_entry_t = ndr.struct({
  object: ndr.guid,
  tower: ndr.full(twr_t),
  annotation: ndr.varyingString(64),
});

export const ept_lookup_handle_t = ndr.contextHandle;

export const epm = ndr.iface('EPMv4', 'e1af8308-5d1f-11c9-91a4-08002b14a0fa', 3, 0, {
  // MS-RPCE 2.2.1.2.3 (Vista+ answers EPT_S_CANT_PERFORM_OP)
  ept_insert: ndr.op(0, {
    in: {
      num_ents: ndr.u32,
      entries: ndr.conformantArray(ept_entry_t, { sizeIs: 'num_ents' }),
      replace: ndr.u32,
    },
    out: { status: ndr.errorStatus },
  }),
  // MS-RPCE 2.2.1.2.4 note (Vista+ answers EPT_S_CANT_PERFORM_OP)
  ept_delete: ndr.op(1, {
    in: {
      num_ents: ndr.u32,
      entries: ndr.conformantArray(ept_entry_t, { sizeIs: 'num_ents' }),
    },
    out: { status: ndr.errorStatus },
  }),
  // MS-RPCE 2.2.1.2.5
  ept_lookup: ndr.op(2, {
    in: {
      inquiry_type: ndr.u32,
      object: ndr.full(ndr.guid),
      interface_id: ndr.full(rpc_if_id_t),
      vers_option: ndr.u32,
      entry_handle: ept_lookup_handle_t,
      max_ents: ndr.u32,
    },
    out: {
      entry_handle: ept_lookup_handle_t,
      num_ents: ndr.u32,
      entries: ndr.conformantVaryingArray(ept_entry_t, { sizeIs: 'max_ents', lengthIs: 'num_ents' }),
      status: ndr.errorStatus,
    },
  }),
  // MS-RPCE 2.2.1.2.6
  ept_map: ndr.op(3, {
    in: {
      object: ndr.full(ndr.guid),
      map_tower: ndr.full(twr_t),
      entry_handle: ept_lookup_handle_t,
      max_towers: ndr.u32,
    },
    out: {
      entry_handle: ept_lookup_handle_t,
      num_towers: ndr.u32,
      towers: ndr.conformantVaryingArray(ndr.full(twr_t), { sizeIs: 'max_towers', lengthIs: 'num_towers' }),
      status: ndr.errorStatus,
    },
  }),
  // MS-RPCE 2.2.1.2.7
  ept_lookup_handle_free: ndr.op(4, {
    in: { entry_handle: ept_lookup_handle_t },
    out: { entry_handle: ept_lookup_handle_t, status: ndr.errorStatus },
  }),
  // C706 O.3.6
  ept_inq_object: ndr.op(5, {
    in: {},
    out: { ept_object: ndr.guid, status: ndr.errorStatus },
  }),
  // C706 O.3.7
  ept_mgmt_delete: ndr.op(6, {
    in: { object_speced: ndr.u32, object: ndr.full(ndr.guid), tower: ndr.full(twr_t) },
    out: { status: ndr.errorStatus },
  }),
});

export type EptEntry = ndr.Infer<typeof ept_entry_t>;
export type Twr = ndr.Infer<typeof twr_t>;
