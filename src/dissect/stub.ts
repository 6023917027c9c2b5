// Decoded stubs as dissect shows them: the values the runtime's own NDR definitions decode
// (one definition, three uses), turned into JSON (jsonl's `stub`) or into an indented tree
// (`dissect -V`), walking the definition's types beside the values. Values whose bytes are not
// NDR get decoded where they are carried: an MInterfacePointer's OBJREF (and, for activation,
// its properties BLOB), a DUALSTRINGARRAY's bindings, an endpoint mapper tower's floors.
//
// JSON form: bigint → "0x" + 16 hex digits, byte arrays → hex strings, GUIDs as strings,
// HRESULT and error_status_t fields as numbers plus a `<field>Name` sibling when the status
// table knows the code (arrays of them: `<field>Names`).
import * as ndr from '../ndr';
import { statusName } from '../base/status';
import { readGuid } from '../base/guid';
import { asciiJson, jsonString } from '../base/json';
import { decodeTower, type DecodedTower, TowerProto } from '../rpc/tower';
import { twr_t } from '../rpc/interfaces/epm';
import {
  buildDualStringArray, COMVERSION, DUALSTRINGARRAY, MInterfacePointer, MInterfacePointerObjref, parseDualStringArray, STDOBJREF,
  type DualStringArray, type StdObjref,
} from '../dcom/types';
import { decodeObjref, OBJREF_CUSTOM, OBJREF_EXTENDED, OBJREF_HANDLER, OBJREF_STANDARD, type Objref } from '../dcom/objref';
import { decodeActivationInterfacePointer, CLSID_ActivationPropertiesIn, CLSID_ActivationPropertiesOut, CustomHeader, ACTIVATION_PROPERTIES } from '../dcom/activation';

type AnyType = ndr.AnyType;
type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonObject = { [k: string]: Json };

/**
 * A request's or response's stub decoded with its operation's definition. JSON.stringify gives
 * the JSON form (`toJSON`); `tree()` the lines `dissect -V` prints.
 */
export class DecodedStub {
  #text: string | undefined;
  constructor(
    /** The parameter list the stub was decoded with (`op.in` or `op.out`). */
    readonly params: ndr.Params<ndr.Fields>,
    /** The decoded values, as the runtime sees them (bigints, Buffers...). */
    readonly value: Record<string, unknown>,
  ) {}

  /** The JSON text (what jsonl writes as `stub`). */
  json(): string {
    return (this.#text ??= paramsText(this.params, this.value));
  }

  toJSON(): JsonObject {
    return JSON.parse(this.json()) as JsonObject;
  }

  /** The stub as an indented tree, one string per line (indented by two spaces per level). */
  tree(indent = 0): string[] {
    const out: string[] = [];
    const fields = this.params.fields;
    for (const k of this.params.keys) treeLines(fields[k]!, this.value[k], k, indent, out);
    return out;
  }
}

// ---------------------------------------------------------------------------------------------
// Scalars

export function hex64(v: bigint): string {
  return '0x' + BigInt.asUintN(64, v).toString(16).padStart(16, '0');
}
export function hex32(v: number): string {
  return '0x' + (v >>> 0).toString(16).padStart(8, '0');
}
function hex16(v: number): string {
  return '0x' + (v & 0xffff).toString(16).padStart(4, '0');
}

/** The status-table name of an HRESULT or error_status_t field, or undefined. */
function statusOf(t: ndr.Primitive<unknown>, v: unknown): string | undefined {
  if (typeof v !== 'number') return undefined;
  return t.name === 'hresult' ? statusName(v, 'hresult') : statusName(v);
}

/** The type behind pointers, lazy types and type serializations. */
function unwrap(t: AnyType): AnyType {
  for (;;) {
    if (t instanceof ndr.PointerType) t = t.target;
    else if (t instanceof ndr.LazyType) t = t.target;
    else if (t instanceof ndr.TypeSerialization1Type) t = t.inner;
    else return t;
  }
}

function isStatus(t: AnyType): t is ndr.Primitive<number> {
  return t instanceof ndr.Primitive && (t.name === 'hresult' || t.name === 'errorStatus');
}

function isArray(t: AnyType): t is ndr.FixedArrayType<AnyType> | ndr.ConformantArrayType<AnyType> | ndr.VaryingArrayType<AnyType> | ndr.ConformantVaryingArrayType<AnyType> {
  return t instanceof ndr.FixedArrayType || t instanceof ndr.ConformantArrayType || t instanceof ndr.VaryingArrayType || t instanceof ndr.ConformantVaryingArrayType;
}

/** Any JS value the engine or a user-marshal hook produced, made JSON-safe. */
function plainJson(v: unknown, depth = 0): Json {
  if (v === null || v === undefined) return null;
  if (typeof v === 'bigint') return hex64(v);
  if (typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean') return v;
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex');
  if (depth > 64) return null;
  if (Array.isArray(v) || ArrayBuffer.isView(v)) return Array.from(v as ArrayLike<unknown>, (x) => plainJson(x, depth + 1));
  if (typeof v === 'object') {
    const o: JsonObject = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) if (x !== undefined && !(x instanceof ndr.NdrTrace)) o[k] = plainJson(x, depth + 1);
    return o;
  }
  return String(v);
}

// ---------------------------------------------------------------------------------------------
// JSON, written as text: dissect --format jsonl writes one per decoded stub, and building
// objects for JSON.stringify cost twice as much (the serializer is compiled once per type).

type Writer = (v: unknown) => string;
const WRITERS = new WeakMap<object, Writer>();

/** The JSON text of a value of type `t`. */
export function jsonText(t: AnyType, v: unknown): string {
  return writerOf(t)(v);
}

// Every string goes through q or plainText, which escape non-ASCII characters: a jsonl line is
// ASCII, and the CLI writes it as such (SyncWriter.asciiLine).
function q(s: string): string {
  return jsonString(s);
}

function writerOf(t: AnyType): Writer {
  let w = WRITERS.get(t);
  if (w === undefined) {
    // Set a forwarder first: recursive types (through lazy/pointers) find it while compiling.
    let real: Writer | undefined;
    WRITERS.set(t, (v) => real!(v));
    real = compileWriter(t);
    WRITERS.set(t, real);
    w = real;
  }
  return w;
}

function plainText(v: unknown): string {
  return asciiJson(plainJson(v)) ?? 'null';
}

/** `"k":value` parts of a struct or parameter list, with `<k>Name(s)` beside status fields. */
function fieldsWriter(fields: ndr.Fields, keys: readonly string[]): (o: Record<string, unknown>) => string {
  const n = keys.length;
  const heads = keys.map((k) => q(k) + ':');
  const ws = keys.map((k) => writerOf(fields[k]!));
  const names: Array<((x: unknown) => string) | undefined> = keys.map((k) => {
    const u = unwrap(fields[k]!);
    if (isStatus(u)) {
      const head = ',' + q(`${k}Name`) + ':';
      return (x) => {
        const nm = statusOf(u, x);
        return nm === undefined ? '' : head + q(nm);
      };
    }
    if (isArray(u)) {
      const e = unwrap(u.element);
      if (isStatus(e)) {
        const head = ',' + q(`${k}Names`) + ':';
        return (x) => {
          if (!Array.isArray(x) || x.length === 0) return '';
          let s = '[';
          for (let i = 0; i < x.length; i++) {
            const nm = statusOf(e, x[i]);
            s += (i > 0 ? ',' : '') + (nm === undefined ? 'null' : q(nm));
          }
          return head + s + ']';
        };
      }
    }
    return undefined;
  });
  return (o) => {
    let s = '';
    for (let i = 0; i < n; i++) {
      const x = o[keys[i]!];
      s += (i > 0 ? ',' : '') + heads[i] + ws[i]!(x);
      const nw = names[i];
      if (nw !== undefined) s += nw(x);
    }
    return s;
  };
}

function compileWriter(t: AnyType): Writer {
  if (t instanceof ndr.Primitive) {
    switch (t.name) {
      case 'u64':
      case 'i64':
        return (v) => (typeof v === 'bigint' ? `"${hex64(v)}"` : plainText(v));
      case 'guid': // the engine's GUID strings need no escaping
        return (v) => (typeof v === 'string' ? `"${v}"` : 'null');
      case 'contextHandle':
        return (v) => {
          if (v === null || typeof v !== 'object') return 'null';
          const h = v as { attributes: number; uuid: string };
          return `{"attributes":${h.attributes},"uuid":${q(h.uuid)}}`;
        };
      default:
        return (v) => (typeof v === 'number' ? (Number.isFinite(v) ? String(v) : 'null') : plainText(v));
    }
  }
  if (t instanceof ndr.StructType) {
    const body = fieldsWriter(t.fields, t.keys);
    if (t === MInterfacePointer) return (v) => (v == null ? 'null' : mipText(v as { ulCntData: number; abData: Buffer }));
    if (t === DUALSTRINGARRAY) {
      return (v) => (v == null ? 'null' : dsaWireText(v as { wNumEntries: number; wSecurityOffset: number; aStringArray: number[] }, body));
    }
    if (t === twr_t) return (v) => (v == null ? 'null' : towerWireText(v as { tower_length: number; tower_octet_string: Buffer }));
    return (v) => (v == null ? 'null' : `{${body(v as Record<string, unknown>)}}`);
  }
  if (isArray(t)) {
    const e = t.element;
    const ew = writerOf(e);
    return (v) => {
      if (v == null) return 'null';
      if (v instanceof Uint8Array) return `"${Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex')}"`;
      if (!Array.isArray(v)) return plainText(v);
      let s = '[';
      for (let i = 0; i < v.length; i++) s += (i > 0 ? ',' : '') + ew(v[i]);
      return s + ']';
    };
  }
  if (t instanceof ndr.PointerType || t instanceof ndr.LazyType) {
    return (v) => (v == null ? 'null' : writerOf(t.target)(v));
  }
  if (t instanceof ndr.TypeSerialization1Type) return writerOf(t.inner);
  if (t instanceof ndr.StringType) return (v) => (typeof v === 'string' ? q(v) : 'null');
  if (t instanceof ndr.UnionType) {
    return (v) => {
      if (v == null) return 'null';
      const u = v as { tag: number; value: unknown };
      const arm = (t.arms as Record<number, AnyType>)[u.tag] ?? t.default;
      return `{"tag":${u.tag},"value":${arm ? jsonText(arm, u.value) : plainText(u.value)}}`;
    };
  }
  if (t === MInterfacePointerObjref) return (v) => (v == null ? 'null' : objrefText(v as Objref));
  return plainText;
}

/** A parameter list's values as JSON text. */
export function paramsText(p: ndr.Params<ndr.Fields>, v: Record<string, unknown>): string {
  let w = WRITERS.get(p);
  if (w === undefined) {
    const body = fieldsWriter(p.fields, p.keys);
    w = (x) => `{${body(x as Record<string, unknown>)}}`;
    WRITERS.set(p, w);
  }
  return w(v);
}

function errText(e: unknown): string {
  return q(e instanceof Error ? e.message : String(e));
}

/** MInterfacePointer: the OBJREF in abData decoded (abData then left out), or abData and why not. */
function mipText(v: { ulCntData: number; abData: Buffer }): string {
  let o: Objref;
  try {
    o = decodeObjref(v.abData);
  } catch (e) {
    return `{"ulCntData":${v.ulCntData},"abData":"${v.abData.toString('hex')}","objrefError":${errText(e)}}`;
  }
  return `{"ulCntData":${v.ulCntData},"objref":${objrefText(o, v)}}`;
}

/** DUALSTRINGARRAY (NDR form): its bindings parsed (aStringArray then left out), or the array and why not. */
function dsaWireText(v: { wNumEntries: number; wSecurityOffset: number; aStringArray: number[] }, body: (o: Record<string, unknown>) => string): string {
  let d: DualStringArray;
  try {
    d = parseDualStringArray(v);
  } catch (e) {
    return `{${body(v)},"bindingsError":${errText(e)}}`;
  }
  return `{"wNumEntries":${v.wNumEntries},"wSecurityOffset":${v.wSecurityOffset},"bindings":${dsaText(d)}}`;
}

/**
 * twr_t: the tower decoded, floor by floor (each with its lhs and rhs octets); the octet string
 * itself only when the floors do not account for all of it, or do not decode.
 */
function towerWireText(v: { tower_length: number; tower_octet_string: Buffer }): string {
  const b = v.tower_octet_string;
  // A capture repeats the same few towers (every ept_map for an interface, every ept_lookup
  // listing): their text is kept, by octets and length, as dissect keeps bind descriptions.
  const key = b.length <= 256 ? `${v.tower_length}:${b.toString('latin1')}` : undefined;
  if (key !== undefined) {
    const known = TOWER_TEXT.get(key);
    if (known !== undefined) return known;
  }
  const text = towerWireTextOf(v, b);
  if (key !== undefined) {
    if (TOWER_TEXT.size >= MAX_TOWER_TEXTS) TOWER_TEXT.clear();
    TOWER_TEXT.set(key, text);
  }
  return text;
}

const TOWER_TEXT = new Map<string, string>();
const MAX_TOWER_TEXTS = 4096;

function towerWireTextOf(v: { tower_length: number }, b: Buffer): string {
  let t: DecodedTower;
  try {
    t = decodeTower(b);
  } catch (e) {
    return `{"tower_length":${v.tower_length},"tower_octet_string":"${b.toString('hex')}","towerError":${errText(e)}}`;
  }
  let used = 2;
  for (const f of t.floors) used += 4 + f.lhs.length + f.rhs.length;
  const octets = used === b.length ? '' : `,"tower_octet_string":"${b.toString('hex')}"`;
  return `{"tower_length":${v.tower_length}${octets},"tower":${towerText(t)}}`;
}

const FLAVOURS: Record<number, string> = {
  [OBJREF_STANDARD]: 'OBJREF_STANDARD',
  [OBJREF_HANDLER]: 'OBJREF_HANDLER',
  [OBJREF_CUSTOM]: 'OBJREF_CUSTOM',
  [OBJREF_EXTENDED]: 'OBJREF_EXTENDED',
};

function stdText(s: StdObjref): string {
  return `{"flags":${s.flags},"cPublicRefs":${s.cPublicRefs},"oxid":"${hex64(s.oxid)}","oid":"${hex64(s.oid)}","ipid":"${s.ipid}"}`;
}

function dsaParts(d: DualStringArray): string {
  let s = '"stringBindings":[';
  d.stringBindings.forEach((b, i) => {
    s += `${i > 0 ? ',' : ''}{"towerId":${b.towerId},"networkAddr":${q(b.networkAddr)}}`;
  });
  s += '],"securityBindings":[';
  d.securityBindings.forEach((b, i) => {
    s += `${i > 0 ? ',' : ''}{"authnSvc":${b.authnSvc},"authzSvc":${b.authzSvc},"principalName":${q(b.principalName)}}`;
  });
  return s + ']';
}

function dsaText(d: DualStringArray): string {
  return `{${dsaParts(d)}}`;
}

/** An OBJREF's resolver address (MS-DCOM 2.2.19.1), with the counts it had on the wire. */
function saResAddrText(o: Objref & { saResAddr: DualStringArray }): string {
  const wire = o.saResAddrWire ?? buildDualStringArray(o.saResAddr);
  return `{"wNumEntries":${wire.aStringArray.length},"wSecurityOffset":${wire.wSecurityOffset},${dsaParts(o.saResAddr)}}`;
}

/** An OBJREF (MS-DCOM 2.2.18); for an activation-properties OBJREF_CUSTOM, the properties decoded. */
function objrefText(o: Objref, mip?: { abData: Buffer }): string {
  const flavour = FLAVOURS[o.flags];
  let s = `{"flags":${o.flags},"flavour":${flavour === undefined ? 'null' : `"${flavour}"`},"iid":${q(o.iid)}`;
  switch (o.flags) {
    case OBJREF_STANDARD:
      s += `,"std":${stdText(o.std)},"saResAddr":${saResAddrText(o)}`;
      break;
    case OBJREF_HANDLER:
      s += `,"std":${stdText(o.std)},"clsid":${q(o.clsid)},"saResAddr":${saResAddrText(o)}`;
      break;
    case OBJREF_CUSTOM: {
      s += `,"clsid":${q(o.clsid)},"cbExtension":${o.cbExtension},"reserved":${o.reserved},"size":${o.pObjectData.length}`;
      const clsid = o.clsid.toLowerCase();
      let activation: string | undefined;
      if (mip && (clsid === CLSID_ActivationPropertiesIn || clsid === CLSID_ActivationPropertiesOut)) {
        try {
          activation = activationText(decodeActivationInterfacePointer({ ulCntData: mip.abData.length, abData: mip.abData }, { lenient: true }));
        } catch (e) {
          s += `,"activationError":${errText(e)}`;
        }
      }
      s += activation !== undefined ? `,"activation":${activation}` : `,"pObjectData":"${o.pObjectData.toString('hex')}"`;
      break;
    }
    case OBJREF_EXTENDED:
      s += `,"std":${stdText(o.std)},"Signature1":${o.Signature1},"saResAddr":${saResAddrText(o)},"nElms":${o.nElms},"Signature2":${o.Signature2},"ElmArray":[`;
      o.ElmArray.forEach((e, i) => {
        s += `${i > 0 ? ',' : ''}{"dataID":${q(e.dataID)},"cbSize":${e.cbSize},"cbRounded":${e.cbRounded},"Data":"${e.Data.toString('hex')}"}`;
      });
      s += ']';
      break;
  }
  if (o.trailing) s += `,"trailing":"${o.trailing.toString('hex')}"`;
  return s + '}';
}

function activationText(a: ReturnType<typeof decodeActivationInterfacePointer>): string {
  let s = `{"dwSize":${a.dwSize},"dwReserved":${a.dwReserved},"header":${jsonText(CustomHeader, a.header)},"properties":[`;
  a.properties.forEach((p, i) => {
    s += i > 0 ? ',' : '';
    if (p.name === undefined) s += `{"clsid":${q(p.clsid)},"value":"${p.value.toString('hex')}"}`;
    else s += `{"clsid":${q(p.clsid)},"name":"${p.name}","value":${jsonText(ACTIVATION_PROPERTIES[p.name].type as AnyType, p.value)}}`;
  });
  return s + ']}';
}

const TOWER_PROTO_NAMES: Record<number, string> = {
  [TowerProto.UUID]: 'UUID',
  [TowerProto.RPC_CL]: 'RPC connectionless',
  [TowerProto.RPC_CO]: 'RPC connection-oriented',
  [TowerProto.TCP]: 'TCP',
  [TowerProto.UDP]: 'UDP',
  [TowerProto.IP]: 'IP',
  [TowerProto.NCALRPC]: 'local RPC',
  [TowerProto.SMB]: 'named pipe',
  [TowerProto.NAMED_PIPE]: 'NetBIOS/pipe name',
  [TowerProto.NETBIOS]: 'NetBIOS',
  [TowerProto.HTTP]: 'HTTP',
};

interface FloorInfo {
  protocol: number | null;
  protocolName?: string;
  uuid?: string;
  versionMajor?: number;
  versionMinor?: number;
  port?: number;
  ip?: string;
  name?: string;
}

/** What one floor means (C706 Appendix L; MS-RPCE 2.2.1.2.1). */
function floorInfo(f: { lhs: Buffer; rhs: Buffer }): FloorInfo {
  const id = f.lhs.length > 0 ? f.lhs[0]! : null;
  const out: FloorInfo = { protocol: id };
  if (id === null) return out;
  const name = TOWER_PROTO_NAMES[id];
  if (name !== undefined) out.protocolName = name;
  switch (id) {
    case TowerProto.UUID:
      if (f.lhs.length >= 19) {
        // little-endian GUID, then the major version; the minor version is the rhs
        out.uuid = readGuid(f.lhs, 1);
        out.versionMajor = f.lhs.readUInt16LE(17);
        if (f.rhs.length >= 2) out.versionMinor = f.rhs.readUInt16LE(0);
      }
      break;
    case TowerProto.TCP:
    case TowerProto.UDP:
    case TowerProto.HTTP:
      if (f.rhs.length >= 2) out.port = f.rhs.readUInt16BE(0);
      break;
    case TowerProto.IP:
      if (f.rhs.length >= 4) out.ip = `${f.rhs[0]}.${f.rhs[1]}.${f.rhs[2]}.${f.rhs[3]}`;
      break;
    case TowerProto.SMB:
    case TowerProto.NAMED_PIPE:
    case TowerProto.NETBIOS:
    case TowerProto.NCALRPC: {
      const z = f.rhs.indexOf(0);
      out.name = f.rhs.toString('latin1', 0, z >= 0 ? z : f.rhs.length);
      break;
    }
  }
  return out;
}

function towerText(t: DecodedTower): string {
  let s = '{"floors":[';
  t.floors.forEach((f, i) => {
    const x = floorInfo(f);
    s += `${i > 0 ? ',' : ''}{"protocol":${x.protocol}`;
    if (x.protocolName !== undefined) s += `,"protocolName":"${x.protocolName}"`;
    if (x.uuid !== undefined) s += `,"uuid":"${x.uuid}"`;
    if (x.versionMajor !== undefined) s += `,"versionMajor":${x.versionMajor}`;
    if (x.versionMinor !== undefined) s += `,"versionMinor":${x.versionMinor}`;
    if (x.port !== undefined) s += `,"port":${x.port}`;
    if (x.ip !== undefined) s += `,"ip":"${x.ip}"`;
    if (x.name !== undefined) s += `,"name":${q(x.name)}`;
    s += `,"lhs":"${f.lhs.toString('hex')}","rhs":"${f.rhs.toString('hex')}"}`;
  });
  s += ']';
  if (t.binding !== undefined) s += `,"binding":${q(t.binding)}`;
  return s + '}';
}

// ---------------------------------------------------------------------------------------------
// Tree (dissect -V)

const PAD = (n: number) => '  '.repeat(n);

function scalarText(t: ndr.Primitive<unknown>, v: unknown): string {
  if (v === null || v === undefined) return 'NULL';
  if (t.name === 'hresult') {
    const n = statusOf(t, v);
    return n ? `HRESULT ${n} ${hex32(v as number)}` : `HRESULT ${hex32(v as number)}`;
  }
  if (t.name === 'errorStatus') {
    const n = statusOf(t, v);
    return n ? `${n} ${hex32(v as number)}` : hex32(v as number);
  }
  if (typeof v === 'bigint') return hex64(v);
  if (t.name === 'contextHandle' && typeof v === 'object') {
    const h = v as { attributes: number; uuid: string };
    return `context handle ${h.uuid} (attributes ${hex32(h.attributes)})`;
  }
  if (typeof v === 'object') return JSON.stringify(plainJson(v));
  return String(v);
}

function bytesText(b: Uint8Array): string {
  const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  if (buf.length === 0) return '0 bytes';
  return buf.length <= 32 ? `${buf.length} bytes ${buf.toString('hex')}` : `${buf.length} bytes ${buf.subarray(0, 32).toString('hex')}…`;
}

function treeLines(t: AnyType, v: unknown, key: string, ind: number, out: string[]): void {
  if (v === null || v === undefined) {
    out.push(`${PAD(ind)}${key}: NULL`);
    return;
  }
  if (t instanceof ndr.PointerType || t instanceof ndr.LazyType) return treeLines(t.target, v, key, ind, out);
  if (t instanceof ndr.TypeSerialization1Type) return treeLines(t.inner, v, key, ind, out);
  if (t instanceof ndr.Primitive) {
    out.push(`${PAD(ind)}${key}: ${scalarText(t, v)}`);
    return;
  }
  if (t instanceof ndr.StructType) {
    const s = v as Record<string, unknown>;
    if (t === COMVERSION) {
      out.push(`${PAD(ind)}${key}: COMVERSION ${s.MajorVersion}.${s.MinorVersion}`);
      return;
    }
    if (t === STDOBJREF) return stdTree(s as unknown as StdObjref, ind, out, key);
    if (t === MInterfacePointer) return mipTree(s as { ulCntData: number; abData: Buffer }, key, ind, out);
    if (t === DUALSTRINGARRAY) {
      const d = s as { wNumEntries: number; wSecurityOffset: number; aStringArray: number[] };
      out.push(`${PAD(ind)}${key}: DUALSTRINGARRAY (wNumEntries ${d.wNumEntries}, wSecurityOffset ${d.wSecurityOffset})`);
      try {
        dsaTree(parseDualStringArray(d), ind + 1, out);
      } catch (e) {
        out.push(`${PAD(ind + 1)}!! ${e instanceof Error ? e.message : String(e)}`);
      }
      return;
    }
    if (t === twr_t) return towerTree(s as { tower_length: number; tower_octet_string: Buffer }, key, ind, out);
    out.push(`${PAD(ind)}${key}`);
    for (const k of t.keys) treeLines(t.fields[k]!, s[k], k, ind + 1, out);
    return;
  }
  if (isArray(t)) {
    if (v instanceof Uint8Array) {
      out.push(`${PAD(ind)}${key}: ${bytesText(v)}`);
      return;
    }
    const a = v as unknown[];
    const e = unwrap(t.element);
    if (e instanceof ndr.Primitive && !isStatus(e) && e.name !== 'guid' && e.name !== 'contextHandle') {
      const shown = a.slice(0, 32).map((x) => scalarText(e, x)).join(', ');
      out.push(`${PAD(ind)}${key}: [${a.length}] ${shown}${a.length > 32 ? ', …' : ''}`);
      return;
    }
    out.push(`${PAD(ind)}${key}: [${a.length}]`);
    a.forEach((x, i) => treeLines(t.element, x, `[${i}]`, ind + 1, out));
    return;
  }
  if (t instanceof ndr.StringType) {
    out.push(`${PAD(ind)}${key}: ${JSON.stringify(v)}`);
    return;
  }
  if (t instanceof ndr.UnionType) {
    const u = v as { tag: number; value: unknown };
    const arm = (t.arms as Record<number, AnyType>)[u.tag] ?? t.default;
    out.push(`${PAD(ind)}${key} (switch ${u.tag})`);
    if (arm) treeLines(arm, u.value, 'value', ind + 1, out);
    return;
  }
  if (t === MInterfacePointerObjref) return objrefTree(v as Objref, undefined, ind, out, key);
  out.push(`${PAD(ind)}${key}: ${typeof v === 'string' ? JSON.stringify(v) : JSON.stringify(plainJson(v))}`);
}

function stdTree(s: StdObjref, ind: number, out: string[], key = 'STDOBJREF'): void {
  out.push(`${PAD(ind)}${key === 'STDOBJREF' ? key : `${key}: STDOBJREF`} flags ${hex32(s.flags)} cPublicRefs ${s.cPublicRefs}`);
  out.push(`${PAD(ind + 1)}OXID ${hex64(s.oxid)}`);
  out.push(`${PAD(ind + 1)}OID ${hex64(s.oid)}`);
  out.push(`${PAD(ind + 1)}IPID ${s.ipid}`);
}

const TOWER_IDS: Record<number, string> = { 7: 'ncacn_ip_tcp', 8: 'ncadg_ip_udp', 0x0f: 'ncacn_np', 0x10: 'ncacn_nb_nb', 0x1f: 'ncacn_http' };

function dsaTree(d: DualStringArray, ind: number, out: string[]): void {
  for (const b of d.stringBindings) {
    out.push(`${PAD(ind)}StringBinding TowerId ${hex16(b.towerId)}${TOWER_IDS[b.towerId] ? ` (${TOWER_IDS[b.towerId]})` : ''} NetworkAddr ${b.networkAddr}`);
  }
  for (const b of d.securityBindings) {
    out.push(`${PAD(ind)}SecurityBinding AuthnSvc ${hex16(b.authnSvc)} AuthzSvc ${hex16(b.authzSvc)} PrincName ${JSON.stringify(b.principalName)}`);
  }
}

function mipTree(m: { ulCntData: number; abData: Buffer }, key: string, ind: number, out: string[]): void {
  out.push(`${PAD(ind)}${key}: MInterfacePointer (ulCntData ${m.ulCntData})`);
  let o: Objref;
  try {
    o = decodeObjref(m.abData);
  } catch (e) {
    out.push(`${PAD(ind + 1)}abData: ${bytesText(m.abData)}`);
    out.push(`${PAD(ind + 1)}!! ${e instanceof Error ? e.message : String(e)}`);
    return;
  }
  objrefTree(o, m, ind + 1, out);
}

function objrefTree(o: Objref, mip: { abData: Buffer } | undefined, ind: number, out: string[], key?: string): void {
  const flavour = (FLAVOURS[o.flags] ?? `flags ${o.flags}`).replace('OBJREF_', '');
  out.push(`${PAD(ind)}${key ? `${key}: ` : ''}OBJREF ${flavour} IID ${o.iid}`);
  const i = ind + 1;
  switch (o.flags) {
    case OBJREF_STANDARD:
    case OBJREF_HANDLER:
    case OBJREF_EXTENDED:
      stdTree(o.std, i, out);
      if (o.flags === OBJREF_HANDLER) out.push(`${PAD(i)}CLSID ${o.clsid}`);
      out.push(`${PAD(i)}ResolverAddress`);
      dsaTree(o.saResAddr, i + 1, out);
      if (o.flags === OBJREF_EXTENDED) {
        for (const e of o.ElmArray) out.push(`${PAD(i)}DATAELEMENT ${e.dataID} cbSize ${e.cbSize}: ${bytesText(e.Data)}`);
      }
      break;
    case OBJREF_CUSTOM: {
      out.push(`${PAD(i)}CLSID ${o.clsid}`);
      out.push(`${PAD(i)}cbExtension ${o.cbExtension} size ${o.reserved}`);
      const clsid = o.clsid.toLowerCase();
      if (mip && (clsid === CLSID_ActivationPropertiesIn || clsid === CLSID_ActivationPropertiesOut)) {
        try {
          const a = decodeActivationInterfacePointer({ ulCntData: mip.abData.length, abData: mip.abData }, { lenient: true });
          out.push(`${PAD(i)}Activation properties (dwSize ${a.dwSize})`);
          treeLines(CustomHeader, a.header, 'CustomHeader', i + 1, out);
          for (const p of a.properties) {
            if (p.name === undefined) out.push(`${PAD(i + 1)}property ${p.clsid}: ${bytesText(p.value)}`);
            else treeLines(ACTIVATION_PROPERTIES[p.name].type as AnyType, p.value, p.name, i + 1, out);
          }
          break;
        } catch (e) {
          out.push(`${PAD(i)}!! ${e instanceof Error ? e.message : String(e)}`);
        }
      }
      out.push(`${PAD(i)}pObjectData: ${bytesText(o.pObjectData)}`);
      break;
    }
  }
  if (o.trailing) out.push(`${PAD(i)}trailing: ${bytesText(o.trailing)}`);
}

function towerTree(tw: { tower_length: number; tower_octet_string: Buffer }, key: string, ind: number, out: string[]): void {
  const b = tw.tower_octet_string;
  const ck = b.length <= 256 ? `${tw.tower_length}:${b.toString('latin1')}` : undefined;
  let t = ck !== undefined ? TOWER_TREE.get(ck) : undefined;
  if (t === undefined) {
    t = towerTreeOf(tw);
    if (ck !== undefined) {
      if (TOWER_TREE.size >= MAX_TOWER_TEXTS) TOWER_TREE.clear();
      TOWER_TREE.set(ck, t);
    }
  }
  out.push(`${PAD(ind)}${key}: ${t.head}`);
  for (const l of t.lines) out.push(PAD(ind + 1) + l);
}

/** A tower's lines for -V (after its key, and below it), kept by octets as the JSON is. */
const TOWER_TREE = new Map<string, { head: string; lines: string[] }>();

function towerTreeOf(tw: { tower_length: number; tower_octet_string: Buffer }): { head: string; lines: string[] } {
  let t: DecodedTower;
  try {
    t = decodeTower(tw.tower_octet_string);
  } catch (e) {
    return { head: `tower (${tw.tower_length} bytes) ${bytesText(tw.tower_octet_string)}`, lines: [`!! ${e instanceof Error ? e.message : String(e)}`] };
  }
  const lines = t.floors.map((f, n) => {
    const fi = floorInfo(f);
    let what = fi.protocolName ?? (fi.protocol === null ? 'empty' : `protocol 0x${fi.protocol.toString(16).padStart(2, '0')}`);
    if (fi.uuid !== undefined) what += ` ${fi.uuid} v${fi.versionMajor}.${fi.versionMinor ?? 0}`;
    if (fi.port !== undefined) what += ` port ${fi.port}`;
    if (fi.ip !== undefined) what += ` ${fi.ip}`;
    if (fi.name !== undefined) what += ` ${JSON.stringify(fi.name)}`;
    return `Floor ${n + 1}: ${what}`;
  });
  return { head: `tower (${tw.tower_length} bytes, ${t.floors.length} floors)${t.binding ? ` ${t.binding}` : ''}`, lines };
}

// ---------------------------------------------------------------------------------------------
// Hex dump (dissect -x)

/** tshark -x style: offset, 16 octets in hex, the printable ones. */
export function hexDump(b: Buffer, indent = 0): string[] {
  const out: string[] = [];
  for (let o = 0; o < b.length; o += 16) {
    const row = b.subarray(o, Math.min(b.length, o + 16));
    let hex = '';
    let ascii = '';
    for (let i = 0; i < 16; i++) {
      if (i < row.length) {
        hex += row[i]!.toString(16).padStart(2, '0') + ' ';
        ascii += row[i]! >= 0x20 && row[i]! < 0x7f ? String.fromCharCode(row[i]!) : '.';
      } else hex += '   ';
      if (i === 7) hex += ' ';
    }
    out.push(`${PAD(indent)}${o.toString(16).padStart(4, '0')}  ${hex} ${ascii}`);
  }
  return out;
}
