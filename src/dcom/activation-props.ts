// DCOM activation properties — MS-DCOM 2.2.22 (the Activation Properties BLOB carried, as an
// OBJREF_CUSTOM, by IRemoteSCMActivator). Structures mirror the IDL: same names, same order.
// Each property, and the CustomHeader, is marshaled with NDR type serialization version 1
// (MS-RPCE 2.2.6) and starts 8-byte aligned.
import * as ndr from '../ndr';
import { NdrDecodeError, NdrEncodeError } from '../base/errors';
import { NIL_GUID } from '../base/guid';
import { COMVERSION, DUALSTRINGARRAY, MInterfacePointer } from './types';

// ---------------------------------------------------------------------------------------------
// Property CLSIDs — MS-DCOM 1.9

export const CLSID_ActivationContextInfo = '000001a5-0000-0000-c000-000000000046';
export const CLSID_ActivationPropertiesIn = '00000338-0000-0000-c000-000000000046';
export const CLSID_ActivationPropertiesOut = '00000339-0000-0000-c000-000000000046';
export const CLSID_InstanceInfo = '000001ad-0000-0000-c000-000000000046';
export const CLSID_InstantiationInfo = '000001ab-0000-0000-c000-000000000046';
/** MS-DCOM 1.9: the same GUID as CLSID_ActivationPropertiesOut. */
export const CLSID_PropsOutInfo = '00000339-0000-0000-c000-000000000046';
export const CLSID_ScmReplyInfo = '000001b6-0000-0000-c000-000000000046';
export const CLSID_ScmRequestInfo = '000001aa-0000-0000-c000-000000000046';
export const CLSID_SecurityInfo = '000001a6-0000-0000-c000-000000000046';
/** MS-DCOM 1.9 names it CLSID_ServerLocationInfo; 2.2.22.2.6 calls the property LocationInfoData. */
export const CLSID_ServerLocationInfo = '000001a4-0000-0000-c000-000000000046';
export const CLSID_LocationInfo = CLSID_ServerLocationInfo;
export const CLSID_SpecialSystemProperties = '000001b9-0000-0000-c000-000000000046';

// ---------------------------------------------------------------------------------------------
// Structures

// MS-DCOM 2.2.22.1 CustomHeader
export const CustomHeader = ndr.struct({
  totalSize: ndr.u32,
  headerSize: ndr.u32,
  dwReserved: ndr.u32,
  destCtx: ndr.u32,
  cIfs: ndr.u32,
  classInfoClsid: ndr.guid,
  pclsid: ndr.unique(ndr.conformantArray(ndr.guid, { sizeIs: 'cIfs' })),
  pSizes: ndr.unique(ndr.conformantArray(ndr.u32, { sizeIs: 'cIfs' })),
  pdwReserved: ndr.unique(ndr.u32),
});

// MS-DCOM 2.2.22.2.1 InstantiationInfoData
export const InstantiationInfoData = ndr.struct({
  classId: ndr.guid,
  classCtx: ndr.u32,
  actvflags: ndr.u32,
  fIsSurrogate: ndr.i32,
  cIID: ndr.u32,
  instFlag: ndr.u32,
  pIID: ndr.unique(ndr.conformantArray(ndr.guid, { sizeIs: 'cIID' })),
  thisSize: ndr.u32,
  clientCOMVersion: COMVERSION,
});

// MS-DCOM 2.2.22.2.2 SpecialPropertiesData
export const SpecialPropertiesData = ndr.struct({
  dwSessionId: ndr.u32,
  fRemoteThisSessionId: ndr.i32,
  fClientImpersonating: ndr.i32,
  fPartitionIDPresent: ndr.i32,
  dwDefaultAuthnLvl: ndr.u32,
  guidPartition: ndr.guid,
  dwPRTFlags: ndr.u32,
  dwOrigClsctx: ndr.u32,
  dwFlags: ndr.u32,
  Reserved1: ndr.u32,
  Reserved2: ndr.u64,
  Reserved3: ndr.fixedArray(ndr.u32, 5),
});

// MS-DCOM 2.2.22.2.3 InstanceInfoData
export const InstanceInfoData = ndr.struct({
  fileName: ndr.unique(ndr.wstring),
  mode: ndr.u32,
  ifdROT: ndr.unique(MInterfacePointer),
  ifdStg: ndr.unique(MInterfacePointer),
});

// MS-DCOM 2.2.22.2.4.1 customREMOTE_REQUEST_SCM_INFO
export const customREMOTE_REQUEST_SCM_INFO = ndr.struct({
  ClientImpLevel: ndr.u32,
  cRequestedProtseqs: ndr.u16,
  pRequestedProtseqs: ndr.unique(ndr.conformantArray(ndr.u16, { sizeIs: 'cRequestedProtseqs' })),
});

// MS-DCOM 2.2.22.2.4 ScmRequestInfoData
export const ScmRequestInfoData = ndr.struct({
  pdwReserved: ndr.unique(ndr.u32),
  remoteRequest: ndr.unique(customREMOTE_REQUEST_SCM_INFO),
});

// MS-DCOM 2.2.22.2.5 ActivationContextInfoData
export const ActivationContextInfoData = ndr.struct({
  clientOK: ndr.i32,
  bReserved1: ndr.i32,
  dwReserved1: ndr.u32,
  dwReserved2: ndr.u32,
  pIFDClientCtx: ndr.unique(MInterfacePointer),
  pIFDPrototypeCtx: ndr.unique(MInterfacePointer),
});

// MS-DCOM 2.2.22.2.6 LocationInfoData
export const LocationInfoData = ndr.struct({
  machineName: ndr.unique(ndr.wstring),
  processId: ndr.u32,
  apartmentId: ndr.u32,
  contextId: ndr.u32,
});

// MS-DCOM 2.2.22.2.7.1 COSERVERINFO
export const COSERVERINFO = ndr.struct({
  dwReserved1: ndr.u32,
  pwszName: ndr.unique(ndr.wstring),
  pdwReserved: ndr.unique(ndr.u32),
  dwReserved2: ndr.u32,
});

// MS-DCOM 2.2.22.2.7 SecurityInfoData
export const SecurityInfoData = ndr.struct({
  dwAuthnFlags: ndr.u32,
  pServerInfo: ndr.unique(COSERVERINFO),
  pdwReserved: ndr.unique(ndr.u32),
});

// MS-DCOM 2.2.22.2.8.1 customREMOTE_REPLY_SCM_INFO (OXID: unsigned hyper, 2.2.6)
export const customREMOTE_REPLY_SCM_INFO = ndr.struct({
  Oxid: ndr.u64,
  pdsaOxidBindings: ndr.unique(DUALSTRINGARRAY),
  ipidRemUnknown: ndr.guid,
  authnHint: ndr.u32,
  serverVersion: COMVERSION,
});

// MS-DCOM 2.2.22.2.8 ScmReplyInfoData
export const ScmReplyInfoData = ndr.struct({
  pdwReserved: ndr.unique(ndr.u32),
  remoteReply: ndr.unique(customREMOTE_REPLY_SCM_INFO),
});

// MS-DCOM 2.2.22.2.9 PropsOutInfo
export const PropsOutInfo = ndr.struct({
  cIfs: ndr.u32,
  piid: ndr.unique(ndr.conformantArray(ndr.guid, { sizeIs: 'cIfs' })),
  phresults: ndr.unique(ndr.conformantArray(ndr.hresult, { sizeIs: 'cIfs' })),
  ppIntfData: ndr.unique(ndr.conformantArray(ndr.unique(MInterfacePointer), { sizeIs: 'cIfs' })),
});

export type CustomHeaderValue = ndr.Infer<typeof CustomHeader>;
export type InstantiationInfo = ndr.Infer<typeof InstantiationInfoData>;
export type SpecialProperties = ndr.Infer<typeof SpecialPropertiesData>;
export type InstanceInfo = ndr.Infer<typeof InstanceInfoData>;
export type ScmRequestInfo = ndr.Infer<typeof ScmRequestInfoData>;
export type ActivationContextInfo = ndr.Infer<typeof ActivationContextInfoData>;
export type LocationInfo = ndr.Infer<typeof LocationInfoData>;
export type SecurityInfo = ndr.Infer<typeof SecurityInfoData>;
export type ScmReplyInfo = ndr.Infer<typeof ScmReplyInfoData>;
export type PropsOut = ndr.Infer<typeof PropsOutInfo>;

// ---------------------------------------------------------------------------------------------
// The property table: CLSID -> name and type (MS-DCOM 2.2.22.2)

/** Each property as NDR type serialization version 1 (MS-RPCE 2.2.6). */
export const ACTIVATION_PROPERTIES = {
  SpecialPropertiesData: { clsid: CLSID_SpecialSystemProperties, type: ndr.typeSerialization1(SpecialPropertiesData) },
  InstantiationInfoData: { clsid: CLSID_InstantiationInfo, type: ndr.typeSerialization1(InstantiationInfoData) },
  ActivationContextInfoData: { clsid: CLSID_ActivationContextInfo, type: ndr.typeSerialization1(ActivationContextInfoData) },
  SecurityInfoData: { clsid: CLSID_SecurityInfo, type: ndr.typeSerialization1(SecurityInfoData) },
  LocationInfoData: { clsid: CLSID_ServerLocationInfo, type: ndr.typeSerialization1(LocationInfoData) },
  ScmRequestInfoData: { clsid: CLSID_ScmRequestInfo, type: ndr.typeSerialization1(ScmRequestInfoData) },
  InstanceInfoData: { clsid: CLSID_InstanceInfo, type: ndr.typeSerialization1(InstanceInfoData) },
  PropsOutInfo: { clsid: CLSID_PropsOutInfo, type: ndr.typeSerialization1(PropsOutInfo) },
  ScmReplyInfoData: { clsid: CLSID_ScmReplyInfo, type: ndr.typeSerialization1(ScmReplyInfoData) },
} as const;

type PropTable = typeof ACTIVATION_PROPERTIES;
export type ActivationPropertyName = keyof PropTable;

/** A decoded (or to-be-encoded) property. Unknown CLSIDs: `name` undefined, `value` the raw bytes. */
export type ActivationProperty =
  | { [K in ActivationPropertyName]: { clsid: string; name: K; value: ndr.Infer<PropTable[K]['type']>; trace?: ndr.NdrTrace } }[ActivationPropertyName]
  | { clsid: string; name?: undefined; value: Buffer; trace?: undefined };

const BY_CLSID = new Map<string, ActivationPropertyName>(
  (Object.keys(ACTIVATION_PROPERTIES) as ActivationPropertyName[]).map((k) => [ACTIVATION_PROPERTIES[k].clsid, k]),
);

/** The property name for a CLSID (lower-case GUID string), or undefined. */
export function activationPropertyName(clsid: string): ActivationPropertyName | undefined {
  return BY_CLSID.get(clsid.toLowerCase());
}

const CustomHeaderTS = ndr.typeSerialization1(CustomHeader);

export interface DecodedActivationProperties {
  /** dwSize and dwReserved (MS-DCOM 2.2.22), as on the wire. */
  dwSize: number;
  dwReserved: number;
  header: CustomHeaderValue;
  properties: ActivationProperty[];
  /** NDR trace of the CustomHeader (when decoded with `trace: true`). */
  headerTrace?: ndr.NdrTrace;
  /** Octets after totalSize (not part of the BLOB as the header counts it), kept for re-encoding. */
  trailing?: Buffer;
}

function fail(offset: number, what: string): never {
  throw new NdrDecodeError(offset, 'ActivationPropertiesBlob', what);
}

/**
 * Decodes an Activation Properties BLOB (MS-DCOM 2.2.22): dwSize, dwReserved, the CustomHeader and
 * each property (type serialization 1). A property whose CLSID is not one of MS-DCOM 2.2.22.2 is kept
 * as its raw bytes. Throws NdrDecodeError only. With `trace: true` each property keeps its NDR trace
 * so that encodeActivationProperties reproduces the same octets.
 */
/**
 * `lenient`: a property's pSizes entry may count padding after its serialization. Impacket pads
 * InstantiationInfoData with 4 octets of 0xFA that its size counts (dcomrt.py pads
 * getData()+getDataReferents() to 8); Windows does not. A server accepts both.
 */
export function decodeActivationProperties(blob: Buffer, opts: { trace?: boolean; lenient?: boolean } = {}): DecodedActivationProperties {
  if (blob.length < 8) fail(0, `${blob.length} byte(s): shorter than dwSize + dwReserved`);
  const dwSize = blob.readUInt32LE(0);
  const dwReserved = blob.readUInt32LE(4);
  if (dwSize > blob.length - 8) fail(0, `dwSize ${dwSize} exceeds the ${blob.length - 8} byte(s) after it`);
  const body = blob.subarray(8, 8 + dwSize);
  const trace = opts.trace === true;
  const h = ndr.decode(CustomHeaderTS, body, { trace: true });
  const header = h.value;
  if (header.headerSize > body.length || header.headerSize < h.end) {
    fail(12, `headerSize ${header.headerSize} (CustomHeader occupies ${h.end} of ${body.length} byte(s))`);
  }
  if (header.totalSize > body.length) fail(8, `totalSize ${header.totalSize} exceeds dwSize ${dwSize}`);
  const clsids = header.pclsid ?? [];
  const sizes = header.pSizes ?? [];
  if (clsids.length !== sizes.length) fail(8, `pclsid has ${clsids.length} entries, pSizes ${sizes.length}`);
  const properties: ActivationProperty[] = [];
  let pos = header.headerSize;
  for (let i = 0; i < clsids.length; i++) {
    const clsid = clsids[i]!;
    const size = sizes[i]!;
    if (size > header.totalSize - pos) fail(8 + pos, `property ${i} (${clsid}): size ${size} exceeds totalSize ${header.totalSize}`);
    const bytes = body.subarray(pos, pos + size);
    const name = activationPropertyName(clsid);
    if (name === undefined) {
      properties.push({ clsid, value: Buffer.from(bytes) });
    } else {
      let d: ndr.Traced<unknown>;
      try {
        d = ndr.decode(ACTIVATION_PROPERTIES[name].type as ndr.AnyType, bytes, { trace: true });
      } catch (e) {
        if (e instanceof NdrDecodeError) throw new NdrDecodeError(8 + pos + e.offset, `${name}${e.field === '(value)' ? '' : e.field}`, e.what);
        throw e;
      }
      if (d.end > size || (d.end < size && !opts.lenient)) fail(8 + pos, `${name}: ${size - d.end} byte(s) after its serialization`);
      properties.push({ clsid, name, value: d.value, ...(trace ? { trace: d.trace } : {}) } as ActivationProperty);
    }
    pos += size;
  }
  if (pos !== header.totalSize) fail(8, `properties end at ${pos}, totalSize is ${header.totalSize}`);
  const out: DecodedActivationProperties = { dwSize, dwReserved, header, properties };
  if (trace) out.headerTrace = h.trace;
  if (header.totalSize < body.length) out.trailing = Buffer.from(body.subarray(header.totalSize));
  return out;
}

/** What encodeActivationProperties takes for the header: the fields not derived from the properties. */
export interface ActivationHeaderInput {
  destCtx?: number;
  dwReserved?: number;
  classInfoClsid?: string;
  pdwReserved?: number | null;
  /** The outer dwReserved (MS-DCOM 2.2.22: MUST be 0). */
  blobReserved?: number;
  headerTrace?: ndr.NdrTrace;
  trailing?: Buffer;
}

function encodeProperty(p: ActivationProperty): Buffer {
  if (p.name === undefined) {
    if (!Buffer.isBuffer(p.value)) throw new NdrEncodeError(`property ${p.clsid}`, 'unknown property: value must be its raw bytes');
    return p.value;
  }
  const t = ACTIVATION_PROPERTIES[p.name].type as ndr.AnyType;
  return ndr.encode(t, p.value as never, p.trace ? { replay: p.trace } : {});
}

/**
 * Encodes an Activation Properties BLOB (MS-DCOM 2.2.22). cIfs, pclsid and pSizes come from the
 * properties; totalSize, headerSize and dwSize are computed. Accepts a DecodedActivationProperties
 * (`{ ...decoded.header, headerTrace, trailing }` + `decoded.properties`) to reproduce its octets.
 */
export function encodeActivationProperties(header: ActivationHeaderInput, props: ActivationProperty[]): Buffer {
  const parts = props.map(encodeProperty);
  for (let i = 0; i < parts.length; i++) {
    if (parts[i]!.length % 8 !== 0) throw new NdrEncodeError(`property ${i}`, `${parts[i]!.length} byte(s): not a multiple of 8`);
  }
  const sizes = parts.map((b) => b.length);
  const propsLen = sizes.reduce((a, b) => a + b, 0);
  const mk = (headerSize: number): CustomHeaderValue => ({
    totalSize: headerSize + propsLen,
    headerSize,
    dwReserved: header.dwReserved ?? 0,
    destCtx: header.destCtx ?? 2,
    cIfs: props.length,
    classInfoClsid: header.classInfoClsid ?? NIL_GUID,
    pclsid: props.map((p) => p.clsid),
    pSizes: sizes,
    pdwReserved: header.pdwReserved ?? null,
  });
  const opts = header.headerTrace ? { replay: header.headerTrace } : {};
  // The header's size does not depend on the values of totalSize/headerSize: encode twice.
  const headerSize = ndr.encode(CustomHeaderTS, mk(0), opts).length;
  const hdr = ndr.encode(CustomHeaderTS, mk(headerSize), opts);
  const trailing = header.trailing ?? Buffer.alloc(0);
  const pre = Buffer.alloc(8);
  pre.writeUInt32LE(hdr.length + propsLen + trailing.length, 0);
  pre.writeUInt32LE(header.blobReserved ?? 0, 4);
  return Buffer.concat([pre, hdr, ...parts, trailing]);
}

/** The value of the first property of that name, if present. */
export function findActivationProperty<K extends ActivationPropertyName>(
  props: readonly ActivationProperty[],
  name: K,
): ndr.Infer<PropTable[K]['type']> | undefined {
  const p = props.find((x) => x.name === name);
  return p?.value as ndr.Infer<PropTable[K]['type']> | undefined;
}
