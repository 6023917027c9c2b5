// Connection-oriented PDU constants: C706 12.6.3.1 and 12.6.4, MS-RPCE 2.2.2 and 2.2.1.1.

/** PDU types (C706 12.6.4, MS-RPCE 2.2.2.x; auth3 is MS-RPCE's rpc_auth_3). */
export const PType = {
  request: 0,
  ping: 1,
  response: 2,
  fault: 3,
  working: 4,
  nocall: 5,
  reject: 6,
  ack: 7,
  cl_cancel: 8,
  fack: 9,
  cancel_ack: 10,
  bind: 11,
  bind_ack: 12,
  bind_nak: 13,
  alter_context: 14,
  alter_context_resp: 15,
  auth3: 16,
  shutdown: 17,
  co_cancel: 18,
  orphaned: 19,
} as const;
export type PTypeName = keyof typeof PType;

export const PTYPE_NAMES: readonly string[] = Object.entries(PType)
  .sort((a, b) => a[1] - b[1])
  .map(([name]) => name);

/** ptypes that occur on connection-oriented transports. */
export const CO_PTYPES: ReadonlySet<number> = new Set([0, 2, 3, 11, 12, 13, 14, 15, 16, 17, 18, 19]);

/** pfc_flags (C706 12.6.3.1; MS-RPCE 2.2.2.3 reuses PENDING_CANCEL as SUPPORT_HEADER_SIGN in binds). */
export const PFC = {
  FIRST_FRAG: 0x01,
  LAST_FRAG: 0x02,
  PENDING_CANCEL: 0x04,
  SUPPORT_HEADER_SIGN: 0x04,
  RESERVED_1: 0x08,
  CONC_MPX: 0x10,
  DID_NOT_EXECUTE: 0x20,
  MAYBE: 0x40,
  OBJECT_UUID: 0x80,
} as const;

/** Auth types (MS-RPCE 2.2.1.1.7). */
export const AuthType = {
  none: 0,
  gss_negotiate: 9,
  winnt: 10,
  gss_schannel: 14,
  gss_kerberos: 16,
  netlogon: 68,
  default: 255,
} as const;

/** Auth levels (MS-RPCE 2.2.1.1.8). */
export const AuthLevel = {
  default: 0,
  none: 1,
  connect: 2,
  call: 3,
  pkt: 4,
  pkt_integrity: 5,
  pkt_privacy: 6,
} as const;

export const AUTH_LEVEL_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(AuthLevel).map(([k, v]) => [v, k]),
);
export const AUTH_TYPE_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(AuthType).map(([k, v]) => [v, k]),
);

/** Transfer syntaxes. */
export const NDR20 = { uuid: '8a885d04-1ceb-11c9-9fe8-08002b104860', version: 2 } as const;
export const NDR64 = { uuid: '71710533-beba-4937-8319-b5dbef9ccc36', version: 1 } as const;
/** Bind-time feature negotiation (MS-RPCE 3.3.1.5.3): 6cb71c2c-9812-4540-XXXX-000000000000, version 1. */
export const BTFN_PREFIX = '6cb71c2c-9812-4540-';
export const BTFN = {
  SECURITY_CONTEXT_MULTIPLEXING: 0x01,
  KEEP_CONNECTION_ON_ORPHAN: 0x02,
} as const;

export const COMMON_HEADER_LENGTH = 16;
export const SEC_TRAILER_LENGTH = 8;
/** MS-RPCE 3.3.1.5.1: neither side may negotiate a fragment size below 1432. */
export const MIN_FRAG_SIZE = 1432;
