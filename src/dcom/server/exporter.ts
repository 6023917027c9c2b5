// The object exporter (MS-DCOM 3.1.1.1 abstract data model): one OXID, its OIDs and IPIDs with
// reference counts, the RpcServer its objects are reached on (its string bindings), and the
// IRemUnknown / IRemUnknown2 object (MS-DCOM 3.1.1.5.6, 3.1.1.5.7) dispatched by object UUID = IPID.
//
// Garbage collection (MS-DCOM 3.1.1.6, 3.2.2.1: ping period, OID expiry after 3 missed pings) is
// not implemented: objects live until their last public reference is released (RemRelease) or the
// exporter stops. TODO.
import { randomBytes, randomUUID } from 'node:crypto';
import { RpcFault } from '../../base/errors';
import type { Logger } from '../../base/log';
import { silentLogger } from '../../base/log';
import { RpcServer, type CallContext, type DispatchInterface, type ServerAuthProvider } from '../../rpc/server';
import { dispatcherFor } from '../../rpc/typed';
import { encodeObjref, OBJREF_STANDARD } from '../objref';
import { IID_IRemUnknown, IID_IRemUnknown2, IRemUnknown, IRemUnknown2 } from '../interfaces/rem-unknown';
import type { DualStringArray, OrpcThat, StdObjref } from '../types';

export const IID_IUnknown = '00000000-0000-0000-c000-000000000046';

/** HRESULTs (MS-ERREF 2.1). */
export const HR = {
  S_OK: 0,
  E_NOTIMPL: 0x80004001,
  E_NOINTERFACE: 0x80004002,
  E_INVALIDARG: 0x80070057,
  E_ACCESSDENIED: 0x80070005,
  REGDB_E_CLASSNOTREG: 0x80040154,
  /** "The requested object or interface does not exist" (MS-ERREF 2.1.1; winerror.h). */
  RPC_E_INVALID_IPID: 0x80010113,
  /** MS-ERREF 2.2: OR_INVALID_OXID (Win32 0x776), returned by the resolver's error_status_t. */
  OR_INVALID_OXID: 0x776,
} as const;

/** RPC_C_AUTHN_LEVEL_* (MS-RPCE 2.2.1.1.8). */
export const AUTHN_LEVEL_PKT = 4;
/** RPC_C_AUTHN_WINNT (NTLM), MS-RPCE 2.2.1.1.7. */
export const RPC_C_AUTHN_WINNT = 10;
/** TowerId for ncacn_ip_tcp in a STRINGBINDING (MS-DCOM 2.2.19.3). */
export const TOWER_NCACN_IP_TCP = 7;

/** COM version of this implementation (MS-DCOM 1.7: 5.7). */
export const COM_VERSION = { MajorVersion: 5, MinorVersion: 7 };

/** The ORPCTHAT a method answers with (no extensions). */
export const ORPCTHAT_EMPTY: OrpcThat = { flags: 0, extensions: null };

/** An exported object: one OID, the interfaces it implements, its implementation. */
export interface ExportedObject {
  oid: bigint;
  clsid: string;
  /** IIDs (lower case) the object implements, IUnknown included. */
  iids: Set<string>;
  impl: unknown;
  /** IID -> IPID of the interfaces marshaled so far. */
  ipids: Map<string, string>;
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

export interface ObjectExporterOptions {
  /** Address to listen on (loopback in the lab), also the address put in the string bindings. */
  host: string;
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
}

function randomU64(): bigint {
  return randomBytes(8).readBigUInt64LE(0);
}

const lc = (s: string) => s.toLowerCase();

/**
 * One object exporter (an "apartment"): the OXID, OID and IPID tables and the RpcServer serving
 * IRemUnknown, IRemUnknown2 and the exported objects' interfaces.
 */
export class ObjectExporter {
  readonly oxid: bigint;
  readonly server: RpcServer;
  readonly authnHint: number;
  /** IPID of the exporter's IRemUnknown (MS-DCOM 3.1.1.3); IRemUnknown2 calls are accepted on it too. */
  readonly ipidRemUnknown: string;
  /** OID of the Remote Unknown object (MS-DCOM 3.1.1.3). */
  readonly oidRemUnknown: bigint;
  private readonly host: string;
  private readonly port: number;
  private readonly principalName: string;
  private readonly log: Logger;
  private readonly ipidTable = new Map<string, IpidEntry>();
  private readonly oidTable = new Map<bigint, ExportedObject>();
  private boundPort: number | undefined;

  constructor(o: ObjectExporterOptions) {
    this.host = o.host;
    this.port = o.port ?? 0;
    this.oxid = o.oxid ?? randomU64();
    this.authnHint = o.authnHint ?? AUTHN_LEVEL_PKT;
    this.principalName = o.principalName ?? '';
    this.log = (o.logger ?? silentLogger).child({ oxid: this.oxid.toString(16) });
    this.server = new RpcServer({ logger: this.log, ...(o.auth ? { auth: o.auth } : {}) });
    this.oidRemUnknown = this.newOid();
    this.ipidRemUnknown = lc(randomUUID());
    this.ipidTable.set(this.ipidRemUnknown, { ipid: this.ipidRemUnknown, iid: IID_IRemUnknown2, oid: this.oidRemUnknown, refs: 1 });
    this.server.addInterface(this.remUnknownDispatcher(IRemUnknown));
    this.server.addInterface(this.remUnknownDispatcher(IRemUnknown2));
  }

  /** Start listening; returns the port. */
  async start(): Promise<number> {
    const [a] = await this.server.listen({ host: this.host, port: this.port });
    this.boundPort = a!.port;
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
      stringBindings: [{ towerId: TOWER_NCACN_IP_TCP, networkAddr: `${this.host}[${this.boundPort}]` }],
      securityBindings: [{ authnSvc: RPC_C_AUTHN_WINNT, authzSvc: 0xffff, principalName: this.principalName }],
    };
  }

  private newOid(): bigint {
    let oid: bigint;
    do oid = randomU64(); while (oid === 0n || this.oidTable.has(oid));
    return oid;
  }

  /** Export an object: a new OID; `iids` are the interfaces it implements (IUnknown is added). */
  exportObject(clsid: string, iids: readonly string[], impl: unknown): ExportedObject {
    const obj: ExportedObject = { oid: this.newOid(), clsid: lc(clsid), iids: new Set([IID_IUnknown, ...iids.map(lc)]), impl, ipids: new Map() };
    this.oidTable.set(obj.oid, obj);
    this.log.debug({ oid: obj.oid.toString(16), clsid }, 'object exported');
    return obj;
  }

  /**
   * Marshal interface `iid` of `obj` with `cPublicRefs` references (MS-DCOM 3.1.1.5.6.1.1): its
   * STDOBJREF, the IPID made on first use; undefined when the object does not implement it.
   */
  marshalInterface(obj: ExportedObject, iid: string, cPublicRefs = 5): StdObjref | undefined {
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
    return { flags: 0, cPublicRefs, oxid: this.oxid, oid: obj.oid, ipid: e.ipid };
  }

  /** The OBJREF_STANDARD octets (MS-DCOM 2.2.18.4) for a STDOBJREF of this exporter. */
  objrefBytes(iid: string, std: StdObjref): Buffer {
    return encodeObjref({ flags: OBJREF_STANDARD, iid: lc(iid), std, saResAddr: this.bindings });
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

  /**
   * The IPID entry a call is for: the request's object UUID (MS-DCOM 3.2.4.2: the IPID is sent as
   * the RPC object UUID), which must name an interface `iid` of this exporter. Otherwise the call
   * fails with RPC_E_INVALID_IPID (0x80010113, MS-ERREF 2.1.1), as a fault.
   */
  resolve(ctx: CallContext, iid: string): IpidEntry {
    const ipid = ctx.object ? lc(ctx.object) : undefined;
    const e = ipid ? this.ipidTable.get(ipid) : undefined;
    if (!e || (e.iid !== lc(iid) && !(e.object === undefined && (lc(iid) === IID_IRemUnknown || lc(iid) === IID_IRemUnknown2)))) {
      throw new RpcFault(HR.RPC_E_INVALID_IPID, `IPID ${ctx.object ?? '(none)'} is not an ${iid} of OXID ${this.oxid.toString(16)}`);
    }
    return e;
  }

  /** The implementation object behind a call on interface `iid`. */
  implFor<T>(ctx: CallContext, iid: string): T {
    const e = this.resolve(ctx, iid);
    if (!e.object) throw new RpcFault(HR.RPC_E_INVALID_IPID, `IPID ${e.ipid} is the exporter's IRemUnknown`);
    return e.object.impl as T;
  }

  // ---- IRemUnknown (MS-DCOM 3.1.1.5.6) ----

  /** RemQueryInterface: for each IID, a REMQIRESULT (S_OK + STDOBJREF, or E_NOINTERFACE). */
  remQueryInterface(ripid: string, cRefs: number, iids: readonly string[]): { hResult: number; std: StdObjref }[] {
    const src = this.ipidTable.get(lc(ripid));
    const obj = src?.object;
    const none = (hResult: number) => ({ hResult, std: { flags: 0, cPublicRefs: 0, oxid: 0n, oid: 0n, ipid: '00000000-0000-0000-0000-000000000000' } });
    if (!obj) return iids.map(() => none(HR.RPC_E_INVALID_IPID));
    return iids.map((iid) => {
      const std = this.marshalInterface(obj, iid, cRefs);
      return std ? { hResult: HR.S_OK, std } : none(HR.E_NOINTERFACE);
    });
  }

  /** RemAddRef: per reference, S_OK or E_INVALIDARG for an unknown IPID (MS-DCOM 3.1.1.5.6.1.2). */
  remAddRef(refs: readonly { ipid: string; cPublicRefs: number; cPrivateRefs: number }[]): number[] {
    return refs.map((r) => {
      const e = this.ipidTable.get(lc(r.ipid));
      if (!e || !e.object) return HR.E_INVALIDARG;
      e.refs += r.cPublicRefs + r.cPrivateRefs;
      return HR.S_OK;
    });
  }

  /**
   * RemRelease (MS-DCOM 3.1.1.5.6.1.3): subtract the references; an IPID with none left is removed,
   * and an object with no IPID left is unexported. Returns the overall HRESULT.
   */
  remRelease(refs: readonly { ipid: string; cPublicRefs: number; cPrivateRefs: number }[]): number {
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
        const ok = r.some((x) => x.hResult === HR.S_OK);
        return { ORPCthat: ORPCTHAT_EMPTY, ppQIResults: r, hresult: ok ? HR.S_OK : r[0]?.hResult ?? HR.E_NOINTERFACE };
      },
      RemAddRef: (a: { InterfaceRefs: { ipid: string; cPublicRefs: number; cPrivateRefs: number }[] }, ctx: CallContext) => {
        this.resolve(ctx, i.uuid);
        const pResults = this.remAddRef(a.InterfaceRefs);
        return { ORPCthat: ORPCTHAT_EMPTY, pResults, hresult: pResults.every((x) => x === HR.S_OK) ? HR.S_OK : HR.E_INVALIDARG };
      },
      RemRelease: (a: { InterfaceRefs: { ipid: string; cPublicRefs: number; cPrivateRefs: number }[] }, ctx: CallContext) => {
        this.resolve(ctx, i.uuid);
        return { ORPCthat: ORPCTHAT_EMPTY, hresult: this.remRelease(a.InterfaceRefs) };
      },
    };
    if (i === IRemUnknown) return dispatcherFor(IRemUnknown, common);
    return dispatcherFor(IRemUnknown2, {
      ...common,
      // MS-DCOM 3.1.1.5.7.1.1 RemQueryInterface2 (interfaces marshaled with OBJREF_...): not implemented.
      RemQueryInterface2: (a, ctx) => {
        this.resolve(ctx, i.uuid);
        return { ORPCthat: ORPCTHAT_EMPTY, phr: a.iids.map(() => HR.E_NOTIMPL), ppMIF: a.iids.map(() => null), hresult: HR.E_NOTIMPL };
      },
    });
  }
}
