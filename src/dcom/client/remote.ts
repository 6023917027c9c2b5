// Calling objects of a remote object exporter (MS-DCOM 3.2.4.2): one RPC connection per exporter
// (OXID), bound at the exporter's hinted level; each interface added by alter_context; each call
// sent with the interface's IPID as the object UUID and ORPCTHIS as its first parameter; the
// exporter's IRemUnknown for QueryInterface, AddRef and Release (MS-DCOM 3.2.4.1.3, 3.2.4.4).
import { randomUUID } from 'node:crypto';
import { ComError } from '../../base/errors';
import type * as ndr from '../../ndr';
import { RpcConnection, type CallOptions, type ClientOptions } from '../../rpc/client';
import { bindInterface, type InterfaceClient } from '../../rpc/typed';
import { IRemUnknown } from '../interfaces/rem-unknown';
import { SORF_NOPING, type ComVersion, type OrpcThis, type StdObjref } from '../types';
import type { OxidInfo } from './resolver-client';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyIface = ndr.Iface<any>;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyOp = ndr.Op<any, any>;

/** An ORPC method's [in] parameters without the implicit ORPCTHIS (its first parameter). */
export type OrpcIn<O> = Omit<ndr.In<O>, 'ORPCthis' | 'orpcthis'>;
export type OrpcOut<O> = ndr.Out<O>;

/** A FAILED() HRESULT (MS-ERREF 2.1: the severity bit). */
export const failed = (hr: number) => (hr >>> 0) >= 0x80000000;

/**
 * The HRESULT a COM proxy reports for a call that failed in the RPC runtime: an HRESULT status as
 * it is, a Win32/RPC status s as HRESULT_FROM_WIN32(s) (a fault with status 5 becomes E_ACCESSDENIED
 * 0x80070005; an unreachable server RPC_S_SERVER_UNAVAILABLE 0x800706BA), an NCA status as
 * RPC_S_CALL_FAILED 0x800706BE, anything else E_FAIL.
 */
export function proxyHresult(e: unknown): number {
  const s = (e as { status?: number } | undefined)?.status;
  if (typeof s !== 'number') return 0x80004005;
  if (s >= 0x80000000) return s >>> 0;
  if (s <= 0xffff) return (0x80070000 | s) >>> 0;
  return 0x800706be;
}

/** The lower of two COM versions: what both sides speak (MS-DCOM 1.7, 3.2.4.2). */
export function commonVersion(a: ComVersion, b: ComVersion): ComVersion {
  if (a.MajorVersion !== b.MajorVersion) return a.MajorVersion < b.MajorVersion ? a : b;
  return a.MinorVersion <= b.MinorVersion ? a : b;
}

/** The ORPCTHIS of a call (MS-DCOM 2.2.13.3): ORPCF_NULL, no extensions, the causality id. */
export function orpcThis(version: ComVersion, cid: string = randomUUID()): OrpcThis {
  return { version: { ...version }, flags: 0, reserved1: 0, cid, extensions: null };
}

/** One object exporter as seen by the client: its connection, interfaces bound, IRemUnknown. */
export class ExporterConnection {
  private readonly bound = new Map<string, Promise<InterfaceClient<AnyIface>>>();
  private conn: Promise<RpcConnection> | undefined;

  constructor(
    readonly info: OxidInfo,
    readonly address: { host: string; port: number },
    readonly level: number,
    private readonly options: () => ClientOptions,
    /** COM version to send in ORPCTHIS: ours and the exporter's common version. */
    readonly version: ComVersion,
  ) {}

  private connection(): Promise<RpcConnection> {
    this.conn ??= RpcConnection.connect(this.address.host, this.address.port, this.options());
    this.conn.catch(() => {
      this.conn = undefined;
    });
    return this.conn;
  }

  /** The interface bound on the exporter's connection (bind first, then alter_context). */
  iface<I extends AnyIface>(def: I): Promise<InterfaceClient<I>> {
    let p = this.bound.get(def.uuid);
    if (!p) {
      p = this.connection().then((c) => bindInterface(c, def));
      this.bound.set(def.uuid, p);
      p.catch(() => this.bound.delete(def.uuid));
    }
    return p as Promise<InterfaceClient<I>>;
  }

  /** An ORPC call on `ipid`: ORPCTHIS added, the IPID as object UUID. */
  async call<I extends AnyIface, K extends keyof I['ops'] & string>(
    def: I, ipid: string, name: K, args: OrpcIn<I['ops'][K]>, opts: CallOptions & { cid?: string } = {},
  ): Promise<OrpcOut<I['ops'][K]>> {
    const op = def.ops[name] as AnyOp;
    const first = op.in.keys[0]!;
    const c = await this.iface(def);
    const { cid, ...callOpts } = opts;
    return c.call(op, { ...args, [first]: orpcThis(this.version, cid) } as ndr.In<AnyOp>, { ...callOpts, object: ipid }) as Promise<OrpcOut<I['ops'][K]>>;
  }

  async close(): Promise<void> {
    const p = this.conn;
    this.conn = undefined;
    this.bound.clear();
    if (p) await p.then((c) => c.close(), () => undefined);
  }
}

/** What the client does with references it holds (the pinger, and the release bookkeeping). */
export interface ReferenceOwner {
  /** A STDOBJREF arrived: start pinging its OID (unless SORF_NOPING). */
  hold(exporter: ExporterConnection, std: StdObjref): void;
  /** The last reference to an interface of this OID was released. */
  drop(exporter: ExporterConnection, std: StdObjref): void;
  /** Make an interface pointer from a STDOBJREF the same exporter returned (QueryInterface). */
  wrap(exporter: ExporterConnection, iid: string, std: StdObjref): ComInterface;
}

/**
 * A reference to one interface of a remote object (an interface proxy): its STDOBJREF, the
 * exporter it lives on, the public references held (released by release()).
 */
export class ComInterface {
  private released = false;

  constructor(readonly exporter: ExporterConnection, readonly iid: string, readonly std: StdObjref, private readonly owner: ReferenceOwner) {
    owner.hold(exporter, std);
  }

  get ipid(): string {
    return this.std.ipid;
  }
  get oid(): bigint {
    return this.std.oid;
  }
  get oxid(): bigint {
    return this.std.oxid;
  }
  get noPing(): boolean {
    return (this.std.flags & SORF_NOPING) !== 0;
  }

  /** Call a method of interface `def` on this IPID; the whole [out] set, HRESULT included. */
  call<I extends AnyIface, K extends keyof I['ops'] & string>(def: I, name: K, args: OrpcIn<I['ops'][K]>, opts: CallOptions & { cid?: string } = {}): Promise<OrpcOut<I['ops'][K]>> {
    return this.exporter.call(def, this.ipid, name, args, opts);
  }

  /** Like call(), but a FAILED() HRESULT becomes a ComError. */
  async invoke<I extends AnyIface, K extends keyof I['ops'] & string>(def: I, name: K, args: OrpcIn<I['ops'][K]>, opts: CallOptions & { cid?: string } = {}): Promise<OrpcOut<I['ops'][K]>> {
    const out = await this.call(def, name, args, opts);
    const hr = (out as { hresult?: number }).hresult;
    if (hr !== undefined && failed(hr)) throw new ComError(hr, `${def.name}::${name}`);
    return out;
  }

  /**
   * IRemUnknown::RemQueryInterface (MS-DCOM 3.1.1.5.6.1.1) for these IIDs, on the exporter's Remote
   * Unknown IPID: per IID its HRESULT and, on success, a new interface pointer.
   */
  async queryInterface(iids: readonly string[], cRefs = 5): Promise<{ iid: string; hr: number; iface?: ComInterface }[]> {
    const out = await this.exporter.call(IRemUnknown, this.exporter.info.ipidRemUnknown, 'RemQueryInterface', {
      ripid: this.ipid, cRefs, cIids: iids.length, iids: [...iids],
    });
    const results = out.ppQIResults ?? [];
    if (results.length === 0 && failed(out.hresult)) return iids.map((iid) => ({ iid, hr: out.hresult }));
    return iids.map((iid, i) => {
      const r = results[i];
      if (!r || failed(r.hResult)) return { iid, hr: r?.hResult ?? out.hresult };
      return { iid, hr: r.hResult, iface: this.owner.wrap(this.exporter, iid, r.std) };
    });
  }

  /** IRemUnknown::RemAddRef (MS-DCOM 3.1.1.5.6.1.2): more public references on this IPID. */
  async addRef(cPublicRefs = 1): Promise<number> {
    const out = await this.exporter.call(IRemUnknown, this.exporter.info.ipidRemUnknown, 'RemAddRef', {
      cInterfaceRefs: 1, InterfaceRefs: [{ ipid: this.ipid, cPublicRefs, cPrivateRefs: 0 }],
    });
    if (!failed(out.hresult)) this.std.cPublicRefs += cPublicRefs;
    return out.pResults[0] ?? out.hresult;
  }

  /** IRemUnknown::RemRelease (MS-DCOM 3.1.1.5.6.1.3) of every public reference held. */
  async release(): Promise<number> {
    if (this.released) return 0;
    this.released = true;
    const out = await this.exporter.call(IRemUnknown, this.exporter.info.ipidRemUnknown, 'RemRelease', {
      cInterfaceRefs: 1, InterfaceRefs: [{ ipid: this.ipid, cPublicRefs: this.std.cPublicRefs, cPrivateRefs: 0 }],
    });
    this.owner.drop(this.exporter, this.std);
    return out.hresult;
  }
}
