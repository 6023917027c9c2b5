// The object exporter (MS-DCOM 3.1.1.1 abstract data model): one OXID, its OIDs and IPIDs with
// reference counts, the RpcServer its objects are reached on (its string bindings), and the
// IRemUnknown / IRemUnknown2 object (MS-DCOM 3.1.1.5.6, 3.1.1.5.7) dispatched by object UUID = IPID.
//
// Object lifetime: an object lives until its last public reference is released (RemRelease,
// 3.1.1.5.6.1.3), or until the OXID resolver's pinging reclaims it (3.1.2.6 -> reclaim() here,
// 3.1.1.6.2). An OID that was marshaled but never added to a ping set is not reclaimed by pinging:
// in the spec's model only a ping set's expiry asks the exporter to reclaim an object, and an OID
// entry starts with no set referencing it (3.1.2.5.1.7), so it lives until released or until the
// exporter stops. Objects marshaled with SORF_NOPING (2.2.18.2) are never reclaimed by pinging.
import { randomBytes, randomUUID } from 'node:crypto';
import { RpcFault } from '../../base/errors';
import type { Logger } from '../../base/log';
import { silentLogger } from '../../base/log';
import { RpcServer, type RpcServerOptions, type CallContext, type DispatchInterface, type ServerAuthProvider } from '../../rpc/server';
import { dispatcherFor } from '../../rpc/typed';
import { encodeObjref, OBJREF_STANDARD } from '../objref';
import { IClassFactory, IID_IClassFactory } from '../interfaces/class-factory';
import { IID_IRemUnknown, IID_IRemUnknown2, IRemUnknown, IRemUnknown2 } from '../interfaces/rem-unknown';
import { SORF_NOPING, TOWER_NCACN_IP_TCP, type DualStringArray, type OrpcThat, type StdObjref } from '../types';

export const IID_IUnknown = '00000000-0000-0000-c000-000000000046';

/** HRESULTs (MS-ERREF 2.1) and the resolver's Win32 codes (MS-ERREF 2.2). */
export const HR = {
  S_OK: 0,
  E_NOTIMPL: 0x80004001,
  E_NOINTERFACE: 0x80004002,
  E_INVALIDARG: 0x80070057,
  E_ACCESSDENIED: 0x80070005,
  REGDB_E_CLASSNOTREG: 0x80040154,
  /** MS-ERREF 2.1: "Object is not registered"; RemAddRef's per-IPID answer for an unknown IPID (MS-DCOM 3.1.1.5.6.1.2). */
  CO_E_OBJNOTREG: 0x800401fb,
  /** MS-ERREF 2.1: an ORPC invocation on an IPID not in the table (MS-DCOM 3.1.1.5.4). */
  RPC_E_DISCONNECTED: 0x80010108,
  /** MS-ERREF 2.1: "The requested object or interface does not exist". */
  RPC_E_INVALID_IPID: 0x80010113,
  /** MS-ERREF 2.1: RemQueryInterface's answer for an unknown ripid (MS-DCOM 3.1.1.5.6.1.1). */
  RPC_E_INVALID_OBJECT: 0x80010114,
  /** MS-ERREF 2.1: "The marshaled interface data packet (OBJREF) has an invalid or unknown format". */
  RPC_E_INVALID_OBJREF: 0x8001011d,
  /** HRESULT_FROM_WIN32(RPC_S_PROTSEQ_NOT_SUPPORTED 0x6A7, MS-ERREF 2.2). */
  RPC_S_PROTSEQ_NOT_SUPPORTED: 0x800706a7,
  /** MS-ERREF 2.2: OR_INVALID_OXID (Win32 0x776), returned by the resolver's error_status_t. */
  OR_INVALID_OXID: 0x776,
  /** MS-ERREF 2.2: OR_INVALID_OID (0x777), ComplexPing's AddToSet with an unknown OID (MS-DCOM 3.1.2.5.1.3). */
  OR_INVALID_OID: 0x777,
  /** MS-ERREF 2.2: OR_INVALID_SET (0x778), a SETID the resolver does not know (MS-DCOM 3.1.2.5.1.2-3). */
  OR_INVALID_SET: 0x778,
} as const;

/** RPC_C_AUTHN_LEVEL_* (MS-RPCE 2.2.1.1.8). */
export const AUTHN_LEVEL_PKT = 4;
/** RPC_C_AUTHN_WINNT (NTLM), MS-RPCE 2.2.1.1.7. */
export const RPC_C_AUTHN_WINNT = 10;

/** COM version of this implementation (MS-DCOM 1.7: 5.7). */
export const COM_VERSION = { MajorVersion: 5, MinorVersion: 7 };

/** MS-DCOM 3.1.1.5.1: the public references a marshaled interface starts with "MUST be 0 or more and SHOULD be 5". */
export const INITIAL_PUBLIC_REFS = 5;

/** The ORPCTHAT a method answers with (no extensions). */
export const ORPCTHAT_EMPTY: OrpcThat = { flags: 0, extensions: null };

/** A class whose instances the exporter's class objects create (IClassFactory::CreateInstance). */
export interface ClassFactorySource {
  clsid: string;
  /** Interfaces an instance implements (IUnknown implied). */
  iids: readonly string[];
  create(ctx: CallContext): unknown;
}

/** The implementation behind a class object's IClassFactory IPID. */
export interface ClassObject {
  cls: ClassFactorySource;
  /** IClassFactory::LockServer count (kept, not acted on: the lab's server never unloads). */
  locks: number;
}

/** An exported object: one OID, the interfaces it implements, its implementation. */
export interface ExportedObject {
  oid: bigint;
  clsid: string;
  /** IIDs (lower case) the object implements, IUnknown included. */
  iids: Set<string>;
  impl: unknown;
  /** IID -> IPID of the interfaces marshaled so far. */
  ipids: Map<string, string>;
  /** Marshaled with SORF_NOPING (MS-DCOM 2.2.18.2): pinging never reclaims it. */
  noPing: boolean;
  /** MS-DCOM 3.1.1.1 OID table: the time (ms) of the last ORPC invocation on the OID. */
  lastInvocation: number;
}

/** MS-DCOM 3.1.1.1: an IPID entry. */
export interface IpidEntry {
  ipid: string;
  iid: string;
  oid: bigint;
  /** Public references held by clients (MS-DCOM 3.1.1.5.6.1.2/3). */
  refs: number;
  /** The object; undefined for the exporter's own IRemUnknown. */
  object?: ExportedObject;
}

/** What reclaim() did with an OID (MS-DCOM 3.1.1.6.2). */
export type ReclaimResult = 'reclaimed' | 'recently-called' | 'no-ping' | 'unknown';

export interface ObjectExporterOptions {
  /** Address to listen on (loopback in the lab), also the address put in the string bindings. */
  host: string;
  /** More addresses to listen on, on the same port; each is listed in the string bindings. */
  moreHosts?: string[];
  /**
   * The addresses to announce instead of the ones listened on (NAT, lab setups): each becomes a
   * `addr[port]` string binding (MS-DCOM 2.2.19.3), with the port the exporter really listens on.
   */
  publicAddresses?: string[];
  /** 0 = a dynamic port. */
  port?: number;
  auth?: ServerAuthProvider;
  logger?: Logger;
  /** The OXID (default: 64 random bits). */
  oxid?: bigint;
  /** authnHint given to clients (MS-DCOM 2.2.22.2.8.1); default RPC_C_AUTHN_LEVEL_PKT (4), as Windows answers. */
  authnHint?: number;
  /** Principal name in the security bindings (default ''). */
  principalName?: string;
  /** The exporter's RPC server settings: limits, rebind, a per-call authorize hook (policy), an in-process firewall. */
  rpc?: Pick<RpcServerOptions, 'limits' | 'acceptRebind' | 'authorize' | 'firewall' | 'tap'>;
}

function randomU64(): bigint {
  return randomBytes(8).readBigUInt64LE(0);
}

const lc = (s: string) => s.toLowerCase();
const NO_STD: StdObjref = { flags: 0, cPublicRefs: 0, oxid: 0n, oid: 0n, ipid: '00000000-0000-0000-0000-000000000000' };

type InterfaceRef = { ipid: string; cPublicRefs: number; cPrivateRefs: number };

/**
 * One object exporter (an "apartment"): the OXID, OID and IPID tables and the RpcServer serving
 * IRemUnknown, IRemUnknown2, IClassFactory (class objects) and the exported objects' interfaces.
 */
export class ObjectExporter {
  readonly oxid: bigint;
  readonly server: RpcServer;
  readonly authnHint: number;
  /** IPID of the exporter's IRemUnknown (MS-DCOM 3.1.1.3); IRemUnknown2 calls are accepted on it too. */
  readonly ipidRemUnknown: string;
  /** OID of the Remote Unknown object (MS-DCOM 3.1.1.3). */
  readonly oidRemUnknown: bigint;
  readonly log: Logger;
  private readonly host: string;
  private readonly moreHosts: string[];
  private readonly publicAddresses: string[] | undefined;
  private readonly port: number;
  private readonly principalName: string;
  private readonly ipidTable = new Map<string, IpidEntry>();
  private readonly oidTable = new Map<bigint, ExportedObject>();
  /** CLSID -> the class object (IClassFactory) exported for it. */
  private readonly classObjects = new Map<string, ExportedObject>();
  private boundPort: number | undefined;

  constructor(o: ObjectExporterOptions) {
    this.host = o.host;
    this.moreHosts = o.moreHosts ?? [];
    this.publicAddresses = o.publicAddresses?.length ? o.publicAddresses : undefined;
    this.port = o.port ?? 0;
    this.oxid = o.oxid ?? randomU64();
    this.authnHint = o.authnHint ?? AUTHN_LEVEL_PKT;
    this.principalName = o.principalName ?? '';
    this.log = (o.logger ?? silentLogger).child({ oxid: this.oxid.toString(16) });
    this.server = new RpcServer({ ...o.rpc, logger: this.log, ...(o.auth ? { auth: o.auth } : {}) });
    this.oidRemUnknown = this.newOid();
    this.ipidRemUnknown = lc(randomUUID());
    this.ipidTable.set(this.ipidRemUnknown, { ipid: this.ipidRemUnknown, iid: IID_IRemUnknown2, oid: this.oidRemUnknown, refs: 1 });
    this.server.addInterface(this.remUnknownDispatcher(IRemUnknown));
    this.server.addInterface(this.remUnknownDispatcher(IRemUnknown2));
    this.server.addInterface(this.classFactoryDispatcher());
  }

  /** Start listening on every address (the first picks the port when it is 0); returns the port. */
  async start(): Promise<number> {
    const [a] = await this.server.listen({ host: this.host, port: this.port });
    this.boundPort = a!.port;
    if (this.moreHosts.length) await this.server.listen(this.moreHosts.map((host) => ({ host, port: this.boundPort! })));
    return this.boundPort;
  }

  async stop(): Promise<void> {
    await this.server.close();
  }

  get listeningPort(): number | undefined {
    return this.boundPort;
  }

  /** Register an exported class's interface (the typed dispatcher) on the exporter's server. */
  addInterface(d: DispatchInterface): void {
    this.server.addInterface(d);
  }

  /** The exporter's bindings (MS-DCOM 2.2.19): `host[port]` over ncacn_ip_tcp, NTLM security binding. */
  get bindings(): DualStringArray {
    if (this.boundPort === undefined) throw new Error('the object exporter is not listening');
    return {
      stringBindings: (this.publicAddresses ?? [this.host, ...this.moreHosts]).map((h) => ({ towerId: TOWER_NCACN_IP_TCP, networkAddr: `${h}[${this.boundPort}]` })),
      securityBindings: [{ authnSvc: RPC_C_AUTHN_WINNT, authzSvc: 0xffff, principalName: this.principalName }],
    };
  }

  /** The protocol sequences (tower ids) the exporter listens on: ncacn_ip_tcp only. */
  get protseqs(): readonly number[] {
    return [TOWER_NCACN_IP_TCP];
  }

  private newOid(): bigint {
    let oid: bigint;
    do oid = randomU64(); while (oid === 0n || this.oidTable.has(oid));
    return oid;
  }

  /** Export an object: a new OID; `iids` are the interfaces it implements (IUnknown is added). */
  exportObject(clsid: string, iids: readonly string[], impl: unknown): ExportedObject {
    const obj: ExportedObject = {
      oid: this.newOid(), clsid: lc(clsid), iids: new Set([IID_IUnknown, ...iids.map(lc)]), impl, ipids: new Map(),
      noPing: false, lastInvocation: Date.now(),
    };
    this.oidTable.set(obj.oid, obj);
    this.log.debug({ oid: obj.oid.toString(16), clsid }, 'object exported');
    return obj;
  }

  /**
   * The class object of `cls` (MS-DCOM 3.1.2.1 CLSID table: the class factory state), exported on
   * first use and again after it was released or reclaimed. It implements IClassFactory.
   */
  classObject(cls: ClassFactorySource): ExportedObject {
    const key = lc(cls.clsid);
    const known = this.classObjects.get(key);
    if (known && this.oidTable.get(known.oid) === known) return known;
    const impl: ClassObject = { cls, locks: 0 };
    const obj = this.exportObject(cls.clsid, [IID_IClassFactory], impl);
    this.classObjects.set(key, obj);
    return obj;
  }

  /**
   * Marshal interface `iid` of `obj` with `cPublicRefs` references (MS-DCOM 3.1.1.5.1): its
   * STDOBJREF, the IPID made on first use; undefined when the object does not implement it.
   * `noPing` marshals with SORF_NOPING (2.2.18.2; as Windows does for MSHLFLAGS_NOPING, note <39>):
   * the object is then never reclaimed by pinging, and later references to it carry the flag too.
   */
  marshalInterface(obj: ExportedObject, iid: string, cPublicRefs = INITIAL_PUBLIC_REFS, noPing = false): StdObjref | undefined {
    const key = lc(iid);
    if (!obj.iids.has(key)) return undefined;
    let ipid = obj.ipids.get(key);
    let e = ipid ? this.ipidTable.get(ipid) : undefined;
    if (!e) {
      ipid = lc(randomUUID());
      e = { ipid, iid: key, oid: obj.oid, refs: 0, object: obj };
      obj.ipids.set(key, ipid);
      this.ipidTable.set(ipid, e);
    }
    e.refs += cPublicRefs;
    if (noPing) obj.noPing = true;
    // 3.1.1.5.1: "set the last ORPC invocation time in the OID entry to the current time".
    obj.lastInvocation = Date.now();
    return { flags: obj.noPing ? SORF_NOPING : 0, cPublicRefs, oxid: this.oxid, oid: obj.oid, ipid: e.ipid };
  }

  /**
   * Where this exporter's OXID is resolved: an OBJREF's saResAddr is "the resolver address of the
   * object exporter" (MS-DCOM 2.2.18.4), not the exporter's own endpoint. Set by whoever runs the
   * resolver (startDcomServer); a resolver off port 135 is named `host[port]`.
   */
  resolverBindings: DualStringArray | undefined;

  /** The OBJREF_STANDARD octets (MS-DCOM 2.2.18.4) for a STDOBJREF of this exporter. */
  objrefBytes(iid: string, std: StdObjref): Buffer {
    return encodeObjref({ flags: OBJREF_STANDARD, iid: lc(iid), std, saResAddr: this.resolverBindings ?? this.bindings });
  }

  /** A STDOBJREF as the MInterfacePointer (MS-DCOM 2.2.14) carrying its OBJREF_STANDARD. */
  interfacePointer(iid: string, std: StdObjref): { ulCntData: number; abData: Buffer } {
    const abData = this.objrefBytes(iid, std);
    return { ulCntData: abData.length, abData };
  }

  ipidEntry(ipid: string): IpidEntry | undefined {
    return this.ipidTable.get(lc(ipid));
  }

  objectByOid(oid: bigint): ExportedObject | undefined {
    return this.oidTable.get(oid);
  }

  get ipidCount(): number {
    return this.ipidTable.size;
  }

  get objectCount(): number {
    return this.oidTable.size;
  }

  /** Remove an object and all its IPIDs (MS-DCOM 3.1.1.6.2 / 3.1.1.5.6.1.3). */
  unexport(oid: bigint): boolean {
    const obj = this.oidTable.get(oid);
    if (!obj) return false;
    for (const ipid of obj.ipids.values()) this.ipidTable.delete(ipid);
    obj.ipids.clear();
    this.oidTable.delete(oid);
    return true;
  }

  /**
   * The resolver found no live ping set holding `oid` (MS-DCOM 3.1.2.6): reclaim the object
   * (3.1.1.6.2), unless an ORPC invocation arrived within the last ping period ("SHOULD perform no
   * further action"), or it was marshaled with SORF_NOPING (2.2.18.2).
   */
  reclaim(oid: bigint, pingPeriodMs: number, now = Date.now()): ReclaimResult {
    const obj = this.oidTable.get(oid);
    if (!obj) return 'unknown';
    if (obj.noPing) return 'no-ping';
    if (now - obj.lastInvocation < pingPeriodMs) return 'recently-called';
    this.unexport(oid);
    this.log.info({ oid: oid.toString(16), clsid: obj.clsid }, 'object reclaimed: its ping set expired');
    return 'reclaimed';
  }

  /**
   * The IPID entry a call is for: the request's object UUID (MS-DCOM 3.2.4.2: the IPID is sent as
   * the RPC object UUID). An IPID not in the table answers RPC_E_DISCONNECTED (MS-DCOM 3.1.1.5.4),
   * as a fault since the method's out-parameters cannot be produced. An IPID of another interface
   * than the call's answers RPC_E_INVALID_IPID: the spec does not say (unverified choice).
   */
  resolve(ctx: CallContext, iid: string): IpidEntry {
    const ipid = ctx.object ? lc(ctx.object) : undefined;
    const e = ipid ? this.ipidTable.get(ipid) : undefined;
    if (!e) throw new RpcFault(HR.RPC_E_DISCONNECTED, `IPID ${ctx.object ?? '(none)'} is not in the IPID table of OXID ${this.oxid.toString(16)}`);
    const want = lc(iid);
    const remUnknown = e.object === undefined && (want === IID_IRemUnknown || want === IID_IRemUnknown2);
    if (e.iid !== want && !remUnknown) {
      throw new RpcFault(HR.RPC_E_INVALID_IPID, `IPID ${e.ipid} is an ${e.iid}, not an ${iid}`);
    }
    // 3.1.1.5.4: "look up the OID entry and set the last ORPC invocation time to the current time".
    if (e.object) e.object.lastInvocation = Date.now();
    return e;
  }

  /** The implementation object behind a call on interface `iid`. */
  implFor<T>(ctx: CallContext, iid: string): T {
    const e = this.resolve(ctx, iid);
    if (!e.object) throw new RpcFault(HR.RPC_E_INVALID_IPID, `IPID ${e.ipid} is the exporter's IRemUnknown`);
    return e.object.impl as T;
  }

  // ---- IRemUnknown (MS-DCOM 3.1.1.5.6) ----

  /**
   * RemQueryInterface (3.1.1.5.6.1.1): an unknown ripid answers RPC_E_INVALID_OBJECT; otherwise a
   * REMQIRESULT per IID (S_OK + STDOBJREF with cRefs references, or E_NOINTERFACE). The call's
   * HRESULT is S_OK when at least one IID succeeded, else the first failure.
   */
  remQueryInterface(ripid: string, cRefs: number, iids: readonly string[]): { hresult: number; results: { hResult: number; std: StdObjref }[] | null } {
    const obj = this.ipidTable.get(lc(ripid))?.object;
    if (!obj) return { hresult: HR.RPC_E_INVALID_OBJECT, results: null };
    obj.lastInvocation = Date.now();
    const results = iids.map((iid) => {
      const std = this.marshalInterface(obj, iid, cRefs);
      // 3.1.1.5.6.1.1: the returned STDOBJREF's flags field "MUST" be 0.
      return std ? { hResult: HR.S_OK, std: { ...std, flags: 0 } } : { hResult: HR.E_NOINTERFACE, std: NO_STD };
    });
    return { hresult: overall(results.map((r) => r.hResult)), results };
  }

  /**
   * RemQueryInterface2 (3.1.1.5.7.1.1): RemQueryInterface's operations, each result an
   * MInterfacePointer holding an OBJREF_STANDARD. The method has no cRefs: each reference carries
   * the initial public references of a marshaled interface (3.1.1.5.1).
   */
  remQueryInterface2(ripid: string, iids: readonly string[]): { hresult: number; phr: number[]; ppMIF: ({ ulCntData: number; abData: Buffer } | null)[] } {
    const q = this.remQueryInterface(ripid, INITIAL_PUBLIC_REFS, iids);
    if (!q.results) return { hresult: q.hresult, phr: iids.map(() => q.hresult), ppMIF: iids.map(() => null) };
    return {
      hresult: q.hresult,
      phr: q.results.map((r) => r.hResult),
      ppMIF: q.results.map((r, i) => (r.hResult === HR.S_OK ? this.interfacePointer(iids[i]!, r.std) : null)),
    };
  }

  /** RemAddRef (3.1.1.5.6.1.2): per reference, S_OK, or CO_E_OBJNOTREG for an IPID not in the table. */
  remAddRef(refs: readonly InterfaceRef[]): number[] {
    return refs.map((r) => {
      const e = this.ipidTable.get(lc(r.ipid));
      if (!e || !e.object) return HR.CO_E_OBJNOTREG;
      e.refs += r.cPublicRefs + r.cPrivateRefs;
      return HR.S_OK;
    });
  }

  /**
   * RemRelease (MS-DCOM 3.1.1.5.6.1.3): subtract the references; an IPID with none left is removed,
   * and an object with no IPID left is unexported. The spec names no code for an unknown IPID:
   * E_INVALIDARG is this implementation's (unverified) answer.
   */
  remRelease(refs: readonly InterfaceRef[]): number {
    let hr: number = HR.S_OK;
    for (const r of refs) {
      const e = this.ipidTable.get(lc(r.ipid));
      if (!e || !e.object) {
        hr = HR.E_INVALIDARG;
        continue;
      }
      e.refs -= r.cPublicRefs + r.cPrivateRefs;
      if (e.refs <= 0) {
        this.ipidTable.delete(e.ipid);
        e.object.ipids.delete(e.iid);
        if (e.object.ipids.size === 0) this.oidTable.delete(e.object.oid);
        this.log.debug({ ipid: e.ipid, iid: e.iid }, 'IPID released');
      }
    }
    return hr;
  }

  private remUnknownDispatcher(i: typeof IRemUnknown | typeof IRemUnknown2): DispatchInterface {
    const common = {
      RemQueryInterface: (a: { ripid: string; cRefs: number; iids: string[] }, ctx: CallContext) => {
        this.resolve(ctx, i.uuid);
        const r = this.remQueryInterface(a.ripid, a.cRefs, a.iids);
        return { ORPCthat: ORPCTHAT_EMPTY, ppQIResults: r.results, hresult: r.hresult };
      },
      RemAddRef: (a: { InterfaceRefs: InterfaceRef[] }, ctx: CallContext) => {
        this.resolve(ctx, i.uuid);
        const pResults = this.remAddRef(a.InterfaceRefs);
        return { ORPCthat: ORPCTHAT_EMPTY, pResults, hresult: overall(pResults, true) };
      },
      RemRelease: (a: { InterfaceRefs: InterfaceRef[] }, ctx: CallContext) => {
        this.resolve(ctx, i.uuid);
        return { ORPCthat: ORPCTHAT_EMPTY, hresult: this.remRelease(a.InterfaceRefs) };
      },
    };
    if (i === IRemUnknown) return dispatcherFor(IRemUnknown, common);
    return dispatcherFor(IRemUnknown2, {
      ...common,
      RemQueryInterface2: (a, ctx) => {
        this.resolve(ctx, i.uuid);
        const r = this.remQueryInterface2(a.ripid, a.iids);
        return { ORPCthat: ORPCTHAT_EMPTY, phr: r.phr, ppMIF: r.ppMIF, hresult: r.hresult };
      },
    });
  }

  // ---- IClassFactory on class objects (MS-DCOM 3.1.2.5.2.3: the class factory creates the object) ----

  private classFactoryDispatcher(): DispatchInterface {
    return dispatcherFor(IClassFactory, {
      RemoteCreateInstance: (a, ctx) => {
        const factory = this.implFor<ClassObject>(ctx, IID_IClassFactory);
        const cls = factory.cls;
        if (!cls.iids.map(lc).includes(lc(a.riid)) && lc(a.riid) !== IID_IUnknown) {
          return { ORPCthat: ORPCTHAT_EMPTY, ppvObject: null, hresult: HR.E_NOINTERFACE };
        }
        const obj = this.exportObject(cls.clsid, cls.iids, cls.create(ctx));
        const std = this.marshalInterface(obj, a.riid)!;
        return { ORPCthat: ORPCTHAT_EMPTY, ppvObject: this.interfacePointer(a.riid, std), hresult: HR.S_OK };
      },
      RemoteLockServer: (a, ctx) => {
        const factory = this.implFor<ClassObject>(ctx, IID_IClassFactory);
        factory.locks = Math.max(0, factory.locks + (a.fLock ? 1 : -1));
        return { ORPCthat: ORPCTHAT_EMPTY, hresult: HR.S_OK };
      },
    });
  }
}

/**
 * A call's HRESULT from per-item results: S_OK when all (or, unless `all`, any) succeeded,
 * otherwise the first failure.
 */
function overall(hrs: readonly number[], all = false): number {
  const ok = all ? hrs.every((h) => h === HR.S_OK) : hrs.some((h) => h === HR.S_OK);
  return ok ? HR.S_OK : hrs.find((h) => h !== HR.S_OK) ?? HR.E_NOINTERFACE;
}
