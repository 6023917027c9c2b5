// The subset of SAMR (MS-SAMR, interface 12345778-1234-abcd-ef00-0123456789ac v1.0) the Samba interop
// suite calls, written with dcomlab's NDR blocks exactly as the IDL reads. Nothing else of SAMR is here.
import * as ndr from '../../src/ndr';

/** MS-SAMR 1.9 / 2.1: the SAMR RPC interface. */
export const SAMR_UUID = '12345778-1234-abcd-ef00-0123456789ac';

/** MS-SAMR 2.2.1.3 (server ACCESS_MASK values): SAM_SERVER_CONNECT | SAM_SERVER_ENUMERATE_DOMAINS = 0x30. */
export const SAM_SERVER_CONNECT = 0x00000001;
export const SAM_SERVER_ENUMERATE_DOMAINS = 0x00000010;
export const SAM_SERVER_LOOKUP_DOMAIN = 0x00000020;
/** MS-DTYP 2.4.3: MAXIMUM_ALLOWED. */
export const MAXIMUM_ALLOWED = 0x02000000;

/**
 * MS-DTYP 2.3.10 RPC_UNICODE_STRING:
 *   typedef struct _RPC_UNICODE_STRING {
 *     unsigned short Length;
 *     unsigned short MaximumLength;
 *     [size_is(MaximumLength/2), length_is(Length/2)] WCHAR* Buffer;
 *   } RPC_UNICODE_STRING;
 * Buffer is an embedded pointer under pointer_default(unique) (samr.idl): a unique pointer to a
 * conformant-varying array of WCHAR (no terminating NUL is implied).
 */
export const RPC_UNICODE_STRING = ndr.struct({
  Length: ndr.u16,
  MaximumLength: ndr.u16,
  Buffer: ndr.unique(ndr.conformantVaryingArray(ndr.wchar, {
    sizeIs: (s: { MaximumLength: number }) => s.MaximumLength / 2,
    lengthIs: (s: { Length: number }) => s.Length / 2,
  })),
});

/**
 * MS-SAMR 2.2.3.9 SAMPR_RID_ENUMERATION:
 *   typedef struct _SAMPR_RID_ENUMERATION { unsigned long RelativeId; RPC_UNICODE_STRING Name; } SAMPR_RID_ENUMERATION, *PSAMPR_RID_ENUMERATION;
 */
export const SAMPR_RID_ENUMERATION = ndr.struct({
  RelativeId: ndr.u32,
  Name: RPC_UNICODE_STRING,
});

/**
 * MS-SAMR 2.2.3.10 SAMPR_ENUMERATION_BUFFER:
 *   typedef struct _SAMPR_ENUMERATION_BUFFER {
 *     unsigned long EntriesRead;
 *     [size_is(EntriesRead)] PSAMPR_RID_ENUMERATION Buffer;
 *   } SAMPR_ENUMERATION_BUFFER, *PSAMPR_ENUMERATION_BUFFER;
 */
export const SAMPR_ENUMERATION_BUFFER = ndr.struct({
  EntriesRead: ndr.u32,
  Buffer: ndr.unique(ndr.conformantArray(SAMPR_RID_ENUMERATION, { sizeIs: 'EntriesRead' })),
});

/** MS-SAMR 2.2.7.2 SAMPR_HANDLE: typedef [context_handle] void* SAMPR_HANDLE; (20 bytes on the wire). */
export const SAMPR_HANDLE = ndr.contextHandle;

/**
 * MS-SAMR 2.2.7.1 PSAMPR_SERVER_NAME: typedef [handle] wchar_t* PSAMPR_SERVER_NAME. SamrConnect (3.1.5.1.4)
 * declares it `[in, unique]` without [string]: a unique pointer to ONE wchar_t, "the first character of the
 * NETBIOS name of the server", which the server may ignore (SamrConnect2/4/5 add [string]).
 */
export const PSAMPR_SERVER_NAME = ndr.unique(ndr.wchar);

export const samr = ndr.iface('SAMR', SAMR_UUID, 1, 0, {
  /**
   * MS-SAMR 3.1.5.1.4 SamrConnect (Opnum 0):
   *   long SamrConnect([in, unique] PSAMPR_SERVER_NAME ServerName, [out] SAMPR_HANDLE* ServerHandle,
   *                    [in] unsigned long DesiredAccess);
   */
  SamrConnect: ndr.op(0, {
    in: { ServerName: PSAMPR_SERVER_NAME, DesiredAccess: ndr.u32 },
    out: { ServerHandle: SAMPR_HANDLE, status: ndr.errorStatus },
  }),
  /** MS-SAMR 3.1.5.13.1 SamrCloseHandle (Opnum 1): long SamrCloseHandle([in, out] SAMPR_HANDLE* SamHandle); */
  SamrCloseHandle: ndr.op(1, {
    in: { SamHandle: SAMPR_HANDLE },
    out: { SamHandle: SAMPR_HANDLE, status: ndr.errorStatus },
  }),
  /**
   * MS-SAMR 3.1.5.2.1 SamrEnumerateDomainsInSamServer (Opnum 6):
   *   long SamrEnumerateDomainsInSamServer([in] SAMPR_HANDLE ServerHandle, [in, out] unsigned long* EnumerationContext,
   *     [out] PSAMPR_ENUMERATION_BUFFER* Buffer, [in] unsigned long PreferedMaximumLength,
   *     [out] unsigned long* CountReturned);
   * Top-level pointers are [ref] (no referent id); the PSAMPR_ENUMERATION_BUFFER they point to is unique.
   */
  SamrEnumerateDomainsInSamServer: ndr.op(6, {
    in: { ServerHandle: SAMPR_HANDLE, EnumerationContext: ndr.u32, PreferedMaximumLength: ndr.u32 },
    out: {
      EnumerationContext: ndr.u32,
      Buffer: ndr.unique(SAMPR_ENUMERATION_BUFFER),
      CountReturned: ndr.u32,
      status: ndr.errorStatus,
    },
  }),
});

/** An RPC_UNICODE_STRING's text (Length bytes of UTF-16LE). */
export function unicodeString(s: ndr.Infer<typeof RPC_UNICODE_STRING>): string {
  if (!s.Buffer) return '';
  return String.fromCharCode(...s.Buffer);
}

/** MS-SAMR 2.2.1.1 (NTSTATUS): STATUS_SUCCESS, STATUS_MORE_ENTRIES. */
export const STATUS_SUCCESS = 0;
export const STATUS_MORE_ENTRIES = 0x00000105;
