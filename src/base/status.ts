// One table of every status code dcomlab names, shared by all layers (fault status,
// bind_nak reasons, HRESULTs, Win32, NTSTATUS, ept_s_*). Sources: C706 Appendix E (nca_s_*),
// MS-RPCE 2.2.2.11 and 3.3.1.5.x (Windows fault codes), MS-ERREF 2.1 (HRESULT), 2.2 (Win32), 2.3 (NTSTATUS).

export type StatusLayer = 'nca' | 'rpc' | 'win32' | 'hresult' | 'ntstatus' | 'ept';

export interface StatusInfo {
  readonly code: number;
  readonly name: string;
  readonly layer: StatusLayer;
}

const entries: Array<[number, string, StatusLayer]> = [
  // C706 Appendix E: nca_s_* reject/fault status codes.
  [0x1c000001, 'nca_s_fault_int_div_by_zero', 'nca'],
  [0x1c000002, 'nca_s_fault_addr_error', 'nca'],
  [0x1c000003, 'nca_s_fault_fp_div_zero', 'nca'],
  [0x1c000004, 'nca_s_fault_fp_underflow', 'nca'],
  [0x1c000005, 'nca_s_fault_fp_overflow', 'nca'],
  [0x1c000006, 'nca_s_fault_invalid_tag', 'nca'],
  [0x1c000007, 'nca_s_fault_invalid_bound', 'nca'],
  [0x1c000008, 'nca_s_rpc_version_mismatch', 'nca'],
  [0x1c000009, 'nca_s_unspec_reject', 'nca'],
  [0x1c00000a, 'nca_s_bad_actid', 'nca'],
  [0x1c00000b, 'nca_s_who_are_you_failed', 'nca'],
  [0x1c00000c, 'nca_s_manager_not_entered', 'nca'],
  [0x1c00000d, 'nca_s_fault_cancel', 'nca'],
  [0x1c00000e, 'nca_s_fault_ill_inst', 'nca'],
  [0x1c00000f, 'nca_s_fault_fp_error', 'nca'],
  [0x1c000010, 'nca_s_fault_int_overflow', 'nca'],
  [0x1c000012, 'nca_s_fault_unspec', 'nca'],
  [0x1c000013, 'nca_s_fault_remote_comm_failure', 'nca'],
  [0x1c000014, 'nca_s_fault_pipe_empty', 'nca'],
  [0x1c000015, 'nca_s_fault_pipe_closed', 'nca'],
  [0x1c000016, 'nca_s_fault_pipe_order', 'nca'],
  [0x1c000017, 'nca_s_fault_pipe_discipline', 'nca'],
  [0x1c000018, 'nca_s_fault_pipe_comm_error', 'nca'],
  [0x1c000019, 'nca_s_fault_pipe_memory', 'nca'],
  [0x1c00001a, 'nca_s_fault_context_mismatch', 'nca'],
  [0x1c00001b, 'nca_s_fault_remote_no_memory', 'nca'],
  [0x1c00001c, 'nca_s_invalid_pres_context_id', 'nca'],
  [0x1c00001d, 'nca_s_unsupported_authn_level', 'nca'],
  [0x1c00001f, 'nca_s_invalid_checksum', 'nca'],
  [0x1c000020, 'nca_s_invalid_crc', 'nca'],
  [0x1c000021, 'nca_s_fault_user_defined', 'nca'],
  [0x1c000022, 'nca_s_fault_tx_open_failed', 'nca'],
  [0x1c000023, 'nca_s_fault_codeset_conv_error', 'nca'],
  [0x1c000024, 'nca_s_fault_object_not_found', 'nca'],
  [0x1c000025, 'nca_s_fault_no_client_stub', 'nca'],
  [0x1c010001, 'nca_s_comm_failure', 'nca'],
  [0x1c010002, 'nca_s_op_rng_error', 'nca'],
  [0x1c010003, 'nca_s_unk_if', 'nca'],
  [0x1c010006, 'nca_s_wrong_boot_time', 'nca'],
  [0x1c010009, 'nca_s_you_crashed', 'nca'],
  [0x1c01000b, 'nca_s_proto_error', 'nca'],
  [0x1c010013, 'nca_s_out_args_too_big', 'nca'],
  [0x1c010014, 'nca_s_server_too_busy', 'nca'],
  [0x1c010015, 'nca_s_fault_string_too_long', 'nca'],
  [0x1c010017, 'nca_s_unsupported_type', 'nca'],
  // MS-RPCE 2.2.2.11: Windows sends these Win32 values as fault status; the spec gives the
  // nca_s_* aliases for some of them (nca_s_fault_ndr = rpc_x_bad_stub_data, 0x6F7).
  [0x00000005, 'rpc_s_access_denied', 'rpc'],
  [0x00000008, 'rpc_s_out_of_memory', 'rpc'],
  [0x000006d3, 'rpc_s_unknown_authn_service', 'rpc'],
  [0x000006bd, 'rpc_s_no_call_active', 'rpc'],
  [0x000006d8, 'EPT_S_CANT_PERFORM_OP', 'rpc'],
  [0x000006a7, 'rpc_s_protseq_not_supported', 'rpc'],
  [0x000006b5, 'rpc_s_unknown_if', 'rpc'],
  [0x000006ba, 'rpc_s_server_unavailable', 'rpc'],
  [0x000006be, 'rpc_s_call_failed', 'rpc'],
  [0x000006bf, 'rpc_s_call_failed_dne', 'rpc'],
  [0x000006c0, 'rpc_s_protocol_error', 'rpc'],
  [0x000006c2, 'rpc_s_unsupported_trans_syn', 'rpc'],
  [0x000006c4, 'rpc_s_unsupported_type', 'rpc'],
  [0x000006d1, 'rpc_s_procnum_out_of_range', 'rpc'],
  [0x000006d9, 'EPT_S_NOT_REGISTERED', 'rpc'],
  [0x000006f7, 'nca_s_fault_ndr', 'rpc'],
  [0x00000721, 'nca_s_fault_sec_pkt_error', 'rpc'],
  [0x0000071a, 'rpc_s_call_cancelled', 'rpc'],
  [0x000006f4, 'rpc_x_null_ref_pointer', 'rpc'],
  [0x000006f8, 'rpc_x_invalid_es_action', 'rpc'],
  [0x00000776, 'OR_INVALID_OXID', 'rpc'],
  [0x00000777, 'OR_INVALID_OID', 'rpc'],
  [0x00000778, 'OR_INVALID_SET', 'rpc'],
  // C706 Appendix O: endpoint mapper status; Windows puts ept_s_not_registered 0x16c9a0d6 in ept_map/ept_lookup answers.
  [0x16c9a0cd, 'ept_s_cant_perform_op', 'ept'],
  [0x16c9a0ce, 'ept_s_invalid_entry', 'ept'],
  [0x16c9a0cf, 'ept_s_cant_access', 'ept'],
  [0x16c9a0d0, 'ept_s_database_invalid', 'ept'],
  [0x16c9a0d1, 'ept_s_invalid_context', 'ept'],
  [0x16c9a0d6, 'ept_s_not_registered', 'ept'],
  // MS-ERREF 2.2: Win32 error codes that DCOM and the resolver return.
  [0x00000000, 'ERROR_SUCCESS', 'win32'],
  [0x00000002, 'ERROR_FILE_NOT_FOUND', 'win32'],
  [0x00000006, 'ERROR_INVALID_HANDLE', 'win32'],
  [0x0000000e, 'ERROR_OUTOFMEMORY', 'win32'],
  [0x00000057, 'ERROR_INVALID_PARAMETER', 'win32'],
  [0x0000007a, 'ERROR_INSUFFICIENT_BUFFER', 'win32'],
  [0x00000103, 'ERROR_NO_MORE_ITEMS', 'win32'],
  [0x0000052e, 'ERROR_LOGON_FAILURE', 'win32'],
  // MS-ERREF 2.1: HRESULTs.
  [0x00000000, 'S_OK', 'hresult'],
  [0x00000001, 'S_FALSE', 'hresult'],
  [0x80004001, 'E_NOTIMPL', 'hresult'],
  [0x80004002, 'E_NOINTERFACE', 'hresult'],
  [0x80004003, 'E_POINTER', 'hresult'],
  [0x80004004, 'E_ABORT', 'hresult'],
  [0x80004005, 'E_FAIL', 'hresult'],
  [0x8000ffff, 'E_UNEXPECTED', 'hresult'],
  [0x80070005, 'E_ACCESSDENIED', 'hresult'],
  [0x80070006, 'E_HANDLE', 'hresult'],
  [0x8007000e, 'E_OUTOFMEMORY', 'hresult'],
  [0x80070057, 'E_INVALIDARG', 'hresult'],
  [0x800706ba, 'RPC_S_SERVER_UNAVAILABLE', 'hresult'],
  [0x800706be, 'RPC_S_CALL_FAILED', 'hresult'],
  [0x800706bf, 'RPC_S_CALL_FAILED_DNE', 'hresult'],
  [0x80070776, 'OR_INVALID_OXID', 'hresult'],
  [0x80010108, 'RPC_E_DISCONNECTED', 'hresult'],
  [0x8001010a, 'RPC_E_SERVERCALL_RETRYLATER', 'hresult'],
  [0x80010113, 'RPC_E_INVALID_IPID', 'hresult'],
  [0x80010114, 'RPC_E_INVALID_OBJECT', 'hresult'],
  [0x80010117, 'RPC_E_CALL_COMPLETE', 'hresult'],
  [0x8001011b, 'RPC_E_ACCESS_DENIED', 'hresult'],
  [0x80040110, 'CLASS_E_NOAGGREGATION', 'hresult'],
  [0x80040111, 'CLASS_E_CLASSNOTAVAILABLE', 'hresult'],
  [0x80040154, 'REGDB_E_CLASSNOTREG', 'hresult'],
  [0x80080005, 'CO_E_SERVER_EXEC_FAILURE', 'hresult'],
  [0x80004015, 'CO_E_WRONG_SERVER_IDENTITY', 'hresult'],
  [0x8001011c, 'RPC_E_REMOTE_DISABLED', 'hresult'],
  [0x8001011d, 'RPC_E_INVALID_OBJREF', 'hresult'],
  [0x800401fb, 'CO_E_OBJNOTREG', 'hresult'],
  // MS-ERREF 2.3: NTSTATUS values seen in SAMR/LSA stubs.
  [0x00000105, 'STATUS_MORE_ENTRIES', 'ntstatus'],
  [0x8000001a, 'STATUS_NO_MORE_ENTRIES', 'ntstatus'],
  [0xc0000001, 'STATUS_UNSUCCESSFUL', 'ntstatus'],
  [0xc000000d, 'STATUS_INVALID_PARAMETER', 'ntstatus'],
  [0xc0000022, 'STATUS_ACCESS_DENIED', 'ntstatus'],
  [0xc0000034, 'STATUS_OBJECT_NAME_NOT_FOUND', 'ntstatus'],
  [0xc000006d, 'STATUS_LOGON_FAILURE', 'ntstatus'],
  [0xc0000073, 'STATUS_NONE_MAPPED', 'ntstatus'],
];

const byCode = new Map<number, StatusInfo[]>();
const byName = new Map<string, StatusInfo>();
for (const [code, name, layer] of entries) {
  const info: StatusInfo = { code, name, layer };
  const list = byCode.get(code);
  if (list) list.push(info);
  else byCode.set(code, [info]);
  byName.set(name, info);
}

// Where one number has names in several layers, the first listed wins unless a layer is asked for.
const LAYER_PREFERENCE: readonly StatusLayer[] = ['nca', 'rpc', 'ept', 'hresult', 'win32', 'ntstatus'];

/** The name of a status code, optionally preferring one layer; undefined when unknown. */
export function statusName(code: number, layer?: StatusLayer): string | undefined {
  const list = byCode.get(code >>> 0);
  if (!list) {
    // HRESULT_FROM_WIN32: 0x8007xxxx names the Win32 code it wraps.
    if ((code >>> 16) === 0x8007) {
      const inner = statusName(code & 0xffff);
      return inner ? `HRESULT_FROM_WIN32(${inner})` : undefined;
    }
    return undefined;
  }
  if (layer) {
    const hit = list.find((s) => s.layer === layer);
    if (hit) return hit.name;
  }
  for (const l of LAYER_PREFERENCE) {
    const hit = list.find((s) => s.layer === l);
    if (hit) return hit.name;
  }
  return list[0]!.name;
}

/** `0x1c010002` style hex with 8 digits. */
export function hex32(code: number): string {
  return '0x' + (code >>> 0).toString(16).padStart(8, '0');
}

/** "nca_s_op_rng_error 0x1c010002", or just the hex when the code is unknown. */
export function describeStatus(code: number, layer?: StatusLayer): string {
  const name = statusName(code, layer);
  return name ? `${name} ${hex32(code)}` : hex32(code);
}

export function statusByName(name: string): StatusInfo | undefined {
  return byName.get(name);
}

/** Named status constants used in code, so a literal number never stands alone. */
export const Status = {
  nca_s_op_rng_error: 0x1c010002,
  nca_s_unk_if: 0x1c010003,
  nca_s_proto_error: 0x1c01000b,
  nca_s_fault_unspec: 0x1c000012,
  nca_s_fault_cancel: 0x1c00000d,
  nca_s_invalid_pres_context_id: 0x1c00001c,
  nca_s_unsupported_authn_level: 0x1c00001d,
  nca_s_fault_remote_no_memory: 0x1c00001b,
  nca_s_server_too_busy: 0x1c010014,
  nca_s_fault_ndr: 0x000006f7,
  rpc_x_bad_stub_data: 0x000006f7,
  nca_s_fault_sec_pkt_error: 0x00000721,
  rpc_s_access_denied: 0x00000005,
  rpc_s_server_unavailable: 0x000006ba,
  rpc_s_procnum_out_of_range: 0x000006d1,
  rpc_s_no_call_active: 0x000006bd,
  rpc_s_unknown_authn_service: 0x000006d3,
  EPT_S_CANT_PERFORM_OP: 0x000006d8,
  ept_s_not_registered: 0x16c9a0d6,
  S_OK: 0,
  S_FALSE: 1,
  E_NOTIMPL: 0x80004001,
  E_NOINTERFACE: 0x80004002,
  E_FAIL: 0x80004005,
  E_ACCESSDENIED: 0x80070005,
  E_OUTOFMEMORY: 0x8007000e,
  E_INVALIDARG: 0x80070057,
  RPC_S_SERVER_UNAVAILABLE_HR: 0x800706ba,
} as const;

// C706 12.6.3.1 / MS-RPCE 2.2.2.5: bind_nak reject reasons.
export const BindNakReason = [
  'reason_not_specified',
  'temporary_congestion',
  'local_limit_exceeded',
  'called_paddr_unknown',
  'protocol_version_not_supported',
  'default_context_not_supported',
  'user_data_not_readable',
  'no_psap_available',
  'authentication_type_not_recognized',
  'invalid_checksum',
] as const;

// C706 12.6.3.1 p_cont_def_result_t, with MS-RPCE 2.2.2.4's negotiate_ack.
export const ContResult = ['acceptance', 'user_rejection', 'provider_rejection', 'negotiate_ack'] as const;

// C706 12.6.3.1 p_provider_reason_t.
export const ProviderReason = [
  'reason_not_specified',
  'abstract_syntax_not_supported',
  'proposed_transfer_syntaxes_not_supported',
  'local_limit_exceeded',
] as const;

export function nameAt(table: readonly string[], n: number): string {
  return table[n] ?? `unknown(${n})`;
}
