// What replay compares and rewrites: decoded stub values (as ndr.decodeParams gives them: bigints,
// GUID strings, Buffers, context handles {attributes, uuid}, MInterfacePointers {ulCntData, abData},
// DUALSTRINGARRAYs {wNumEntries, wSecurityOffset, aStringArray}) turned into one normalized tree,
// where the bytes that are not NDR are decoded where they are carried (an MInterfacePointer's
// OBJREF and activation properties, a DUALSTRINGARRAY's bindings) and each leaf says whether it is
//
// - an *identity* of a live object (volatile, and learned: captured → live): every hyper (in the
//   interfaces dcomlab defines, hypers are OXIDs, OIDs and SETIDs), GUIDs named like an IPID
//   (ipid, ipidRemUnknown, pipidRemUnknown, ripid...), context handles;
// - *ignored* (volatile, not learned): a string binding's network address (host and port), the
//   causality id, and the sizes that follow from them (ulCntData, the activation BLOB's sizes,
//   wNumEntries/wSecurityOffset, OBJREF_CUSTOM's unused `reserved`);
// - *significant*: everything else. HRESULTs and statuses are shown with their names.
//
// The diff walks two trees in parallel; the identity map is learned from the same walk (where both
// leaves are identities and differ) and applied to the next requests' decoded [in] values.
import { describeStatus } from '../base/status';
import { decodeActivationInterfacePointer } from '../dcom/activation';
import { decodeObjref, encodeObjref, OBJREF_CUSTOM, type Objref } from '../dcom/objref';
import { parseDualStringArray, type DualStringArray } from '../dcom/types';
import { NdrTrace } from '../ndr';
import { hex64 } from '../dissect/stub';

export type Volatility = 'identity' | 'ignored';

/** A normalized value. */
export type Norm =
  | { k: 'leaf'; text: string; vol?: Volatility; id?: string; raw?: unknown }
  | { k: 'obj'; fields: Array<[string, Norm]>; dsa?: DualStringArray }
  | { k: 'arr'; items: Norm[] };

const GUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const NIL_GUID = '00000000-0000-0000-0000-000000000000';

/** Keys of HRESULT fields (and arrays of them) in the DCOM definitions. */
const HRESULT_KEYS = new Set(['hresult', 'hResult', 'phr', 'hr', 'phresults', 'pResults']);
/** Keys of error_status_t / status fields. */
const STATUS_KEYS = new Set(['error_status', 'status']);
/** Sizes that follow from volatile values (string bindings' lengths), and unused fields. */
const IGNORED_NUMBER_KEYS = new Set(['ulCntData', 'size', 'dwSize', 'totalSize', 'pSizes', 'wNumEntries', 'wSecurityOffset', 'reserved']);
/** GUID fields that name a live object. */
const IPID_KEY = /ipid/i;

/** The identity-map key of a hyper, a GUID or a context handle. */
export function identityKey(kind: 'hyper' | 'guid' | 'handle', v: bigint | string): string {
  if (kind === 'hyper') return 'h:' + hex64(v as bigint);
  return (kind === 'guid' ? 'g:' : 'c:') + (v as string).toLowerCase();
}

function isContextHandle(v: object): v is { attributes: number; uuid: string } {
  const o = v as Record<string, unknown>;
  return typeof o.attributes === 'number' && typeof o.uuid === 'string' && Object.keys(o).length === 2;
}

function isMip(v: object): v is { ulCntData: number; abData: Uint8Array } {
  const o = v as Record<string, unknown>;
  return typeof o.ulCntData === 'number' && o.abData instanceof Uint8Array;
}

function isDsaWire(v: object): v is { wSecurityOffset: number; aStringArray: number[] } {
  const o = v as Record<string, unknown>;
  return typeof o.wSecurityOffset === 'number' && Array.isArray(o.aStringArray);
}

function isDsa(v: object): v is DualStringArray {
  const o = v as Record<string, unknown>;
  return Array.isArray(o.stringBindings) && Array.isArray(o.securityBindings);
}

const leaf = (text: string, extra: Partial<Extract<Norm, { k: 'leaf' }>> = {}): Norm => ({ k: 'leaf', text, ...extra });

/** The normalized tree of a decoded value; `key` is the field (or parameter) name it sits under. */
export function normalize(v: unknown, key = '', depth = 0): Norm {
  if (v === null || v === undefined) return leaf('null');
  if (depth > 64) return leaf('…');
  if (typeof v === 'bigint') return leaf(hex64(v), { vol: 'identity', id: identityKey('hyper', v), raw: v });
  if (typeof v === 'number') {
    if (HRESULT_KEYS.has(key)) return leaf(describeStatus(v, 'hresult'));
    if (STATUS_KEYS.has(key)) return leaf(describeStatus(v));
    if (IGNORED_NUMBER_KEYS.has(key)) return leaf(String(v), { vol: 'ignored' });
    return leaf(String(v));
  }
  if (typeof v === 'string') {
    if (key === 'networkAddr' || key === 'cid') return leaf(v, { vol: 'ignored' });
    if (GUID_RE.test(v)) {
      return IPID_KEY.test(key) && v !== NIL_GUID ? leaf(v, { vol: 'identity', id: identityKey('guid', v), raw: v }) : leaf(v.toLowerCase());
    }
    return leaf(JSON.stringify(v));
  }
  if (typeof v === 'boolean') return leaf(String(v));
  if (v instanceof Uint8Array) return leaf(Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex'));
  if (Array.isArray(v)) return { k: 'arr', items: v.map((x) => normalize(x, key, depth + 1)) };
  if (typeof v !== 'object') return leaf(String(v));
  if (isContextHandle(v)) {
    const text = `handle ${v.attributes}/${v.uuid}`;
    return v.uuid === NIL_GUID && v.attributes === 0 ? leaf(text) : leaf(text, { vol: 'identity', id: identityKey('handle', v.uuid), raw: v });
  }
  if (isMip(v)) return interfacePointer(v, depth);
  if (isDsaWire(v)) {
    try {
      return dsaNode(parseDualStringArray(v), depth);
    } catch {
      // not a well-formed one: compared as its fields
    }
  }
  if (isDsa(v)) return dsaNode(v, depth);
  const fields: Array<[string, Norm]> = [];
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    if (x === undefined || x instanceof NdrTrace || k === 'trailing' || k === 'saResAddrWire' || k === 'headerTrace') continue;
    fields.push([k, normalize(x, k, depth + 1)]);
  }
  return { k: 'obj', fields };
}

function dsaNode(d: DualStringArray, depth: number): Norm {
  const fields: Array<[string, Norm]> = [
    ['stringBindings', normalize(d.stringBindings, 'stringBindings', depth + 1)],
    ['securityBindings', normalize(d.securityBindings, 'securityBindings', depth + 1)],
  ];
  return { k: 'obj', fields, dsa: d };
}

/** An MInterfacePointer: its activation properties by name, or its OBJREF, or (undecodable) its bytes. */
function interfacePointer(mip: { ulCntData: number; abData: Uint8Array }, depth: number): Norm {
  const abData = Buffer.from(mip.abData.buffer, mip.abData.byteOffset, mip.abData.byteLength);
  try {
    const blob = decodeActivationInterfacePointer({ ulCntData: mip.ulCntData, abData }, { lenient: true });
    const props: Record<string, unknown> = {};
    for (const p of blob.properties) props[p.name ?? p.clsid] = p.value;
    return normalize({ objref: { flags: blob.objref.flags, iid: blob.objref.iid, clsid: blob.objref.clsid }, header: blob.header, properties: props }, '', depth + 1);
  } catch {
    // not activation properties
  }
  try {
    return normalize({ objref: decodeObjref(abData) }, '', depth + 1);
  } catch {
    return leaf(abData.toString('hex'));
  }
}

// ---------------------------------------------------------------------------------------------
// The diff

export interface Difference {
  /** Where: `hresult`, `ppActProperties.properties.PropsOutInfo.phresults[0]`... */
  path: string;
  captured: string;
  live: string;
}

function summary(n: Norm): string {
  if (n.k === 'leaf') return n.text;
  if (n.k === 'arr') return `${n.items.length} item(s)`;
  return `{${n.fields.map(([k]) => k).join(', ')}}`;
}

const join = (path: string, k: string) => (path ? `${path}.${k}` : k);

/** The significant differences between a captured and a live value (volatile leaves ignored). */
export function diffValues(captured: Norm, live: Norm, path = '', out: Difference[] = []): Difference[] {
  if (captured.k === 'leaf' && live.k === 'leaf') {
    if (captured.vol !== undefined || live.vol !== undefined) {
      // An identity on one side only (a null pointer where the other has an OXID) is a difference.
      if (captured.vol === live.vol || captured.vol === 'ignored' || live.vol === 'ignored') return out;
    }
    if (captured.text !== live.text) out.push({ path: path || '(value)', captured: captured.text, live: live.text });
    return out;
  }
  if (captured.k !== live.k) {
    out.push({ path: path || '(value)', captured: summary(captured), live: summary(live) });
    return out;
  }
  if (captured.k === 'arr' && live.k === 'arr') {
    if (captured.items.length !== live.items.length) {
      out.push({ path: path || '(value)', captured: summary(captured), live: summary(live) });
    }
    const n = Math.min(captured.items.length, live.items.length);
    for (let i = 0; i < n; i++) diffValues(captured.items[i]!, live.items[i]!, `${path}[${i}]`, out);
    return out;
  }
  if (captured.k === 'obj' && live.k === 'obj') {
    const lm = new Map(live.fields);
    const seen = new Set<string>();
    for (const [k, c] of captured.fields) {
      seen.add(k);
      const l = lm.get(k);
      if (l === undefined) out.push({ path: join(path, k), captured: summary(c), live: '(absent)' });
      else diffValues(c, l, join(path, k), out);
    }
    for (const [k, l] of live.fields) if (!seen.has(k)) out.push({ path: join(path, k), captured: '(absent)', live: summary(l) });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The identity map

/**
 * Captured → live identities (OXIDs, OIDs, SETIDs, IPIDs, context handles), learned from each
 * captured/live response pair, and the exporter endpoints learned from their string bindings.
 */
export class IdentityMap {
  readonly values = new Map<string, unknown>();
  /** Captured "host:port" → the live string bindings that took its place. */
  readonly endpoints = new Map<string, DualStringArray>();
  /** Every "host:port" the captured answers named in string bindings (live counterpart or not). */
  readonly capturedEndpoints = new Set<string>();

  /** Note the endpoints a captured answer names (an exporter a later conversation may connect to). */
  seeCaptured(n: Norm): void {
    if (n.k === 'arr') for (const x of n.items) this.seeCaptured(x);
    else if (n.k === 'obj') {
      if (n.dsa) for (const e of bindingEndpoints(n.dsa)) this.capturedEndpoints.add(e);
      for (const [, x] of n.fields) this.seeCaptured(x);
    }
  }

  /** Walk a captured and a live value in parallel; record where identities differ. */
  learn(captured: Norm, live: Norm): void {
    if (captured.k === 'leaf' && live.k === 'leaf') {
      if (captured.id && live.id && captured.id !== live.id && captured.id[0] === live.id[0] && !isZero(captured)) {
        this.values.set(captured.id, live.raw);
      }
      return;
    }
    if (captured.k === 'arr' && live.k === 'arr') {
      const n = Math.min(captured.items.length, live.items.length);
      for (let i = 0; i < n; i++) this.learn(captured.items[i]!, live.items[i]!);
      return;
    }
    if (captured.k === 'obj' && live.k === 'obj') {
      if (captured.dsa && live.dsa) this.learnEndpoints(captured.dsa, live.dsa);
      const lm = new Map(live.fields);
      for (const [k, c] of captured.fields) {
        const l = lm.get(k);
        if (l !== undefined) this.learn(c, l);
      }
    }
  }

  private learnEndpoints(captured: DualStringArray, live: DualStringArray): void {
    for (const e of bindingEndpoints(captured)) this.endpoints.set(e, live);
  }

  /** The live value of a captured identity (a hyper, a GUID, a context handle), or the value itself. */
  map<T>(v: T): T {
    if (typeof v === 'bigint') return (this.values.get(identityKey('hyper', v)) as T | undefined) ?? v;
    if (typeof v === 'string' && GUID_RE.test(v)) return (this.values.get(identityKey('guid', v)) as T | undefined) ?? v;
    return v;
  }

  /**
   * A copy of a decoded [in] value with every captured identity replaced by its live one
   * (hypers, GUIDs and context handles the map knows, and the OXID, OID and IPID of an OBJREF
   * an interface pointer carries; the rest as is). `clientObjects`, when given, gets the objects
   * of the captured client itself that the value passes (see substituteObjref).
   */
  substitute<T>(v: T, clientObjects?: string[], depth = 0): T {
    if (v === null || v === undefined || depth > 64) return v;
    if (typeof v === 'bigint' || typeof v === 'string') return this.map(v);
    if (typeof v !== 'object' || v instanceof Uint8Array || v instanceof NdrTrace) return v;
    if (Array.isArray(v)) return v.map((x) => this.substitute(x, clientObjects, depth + 1)) as T;
    if (isContextHandle(v)) return (this.values.get(identityKey('handle', v.uuid)) as T | undefined) ?? v;
    if (isMip(v)) return this.substituteObjref(v, clientObjects) as T;
    if (Object.getPrototypeOf(v) !== Object.prototype && Object.getPrototypeOf(v) !== null) return v;
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) o[k] = this.substitute(x, clientObjects, depth + 1);
    return o as T;
  }

  /**
   * An interface pointer passing back an object the live server gave out (a standard, handler
   * or extended OBJREF whose IDs were learned): the same OBJREF with the live IDs, re-encoded,
   * ulCntData following. Anything else (activation properties, custom OBJREFs, IDs the map does
   * not know, bytes that do not decode) is left as it was captured.
   *
   * An OBJREF whose OXID no live answer stood in for is the captured client's own object (a
   * callback interface): a live server calls back to where its resolver bindings point, the
   * captured client's machine. It goes to `clientObjects` as "OXID 0x… (resolver 127.0.0.3)".
   */
  private substituteObjref<M extends { ulCntData: number; abData: Uint8Array }>(mip: M, clientObjects?: string[]): M {
    let o: Objref;
    try {
      o = decodeObjref(mip.abData);
    } catch {
      return mip;
    }
    if (o.flags === OBJREF_CUSTOM) return mip;
    const std: StdIds = o.std;
    if (clientObjects && !this.values.has(identityKey('hyper', std.oxid))) {
      const at = o.saResAddr.stringBindings.map((b) => b.networkAddr).join(', ');
      clientObjects.push(`OXID ${hex64(std.oxid)}${at ? ` (resolver ${at})` : ''}`);
    }
    const live: StdIds = { oxid: this.map(std.oxid), oid: this.map(std.oid), ipid: this.map(std.ipid) };
    if (live.oxid === std.oxid && live.oid === std.oid && live.ipid === std.ipid) return mip;
    const abData = encodeObjref({ ...o, std: { ...o.std, ...live } });
    return { ...mip, ulCntData: abData.length, abData };
  }
}

/** The OXID, OID and IPID of the object a STDOBJREF names (MS-DCOM 2.2.18.2). */
type StdIds = { oxid: bigint; oid: bigint; ipid: string };

function isZero(n: Extract<Norm, { k: 'leaf' }>): boolean {
  return n.raw === 0n || n.raw === NIL_GUID;
}

/** The "host:port" of each string binding that names a port. */
function bindingEndpoints(d: DualStringArray): string[] {
  const out: string[] = [];
  for (const b of d.stringBindings) {
    const m = /^(.*)\[(\d+)\]$/.exec(b.networkAddr);
    if (m) out.push(endpointKey(m[1]!, Number(m[2])));
  }
  return out;
}

export function endpointKey(host: string, port: number): string {
  return `${host.toLowerCase()}:${port}`;
}
