// The client side of the OXID resolver (MS-DCOM 3.2.4.1.2): ServerAlive2, ResolveOxid2 with the
// fallback to ResolveOxid, a cache of resolved OXIDs, and the ping calls.
import { DcomlabError, RpcFault } from '../../base/errors';
import type { Logger } from '../../base/log';
import { describeStatus, Status } from '../../base/status';
import { RpcConnection, type ClientOptions } from '../../rpc/client';
import { bindInterface, type InterfaceClient } from '../../rpc/typed';
import { IObjectExporter } from '../interfaces/object-exporter';
import { parseDualStringArray, TOWER_NCACN_IP_TCP, type ComVersion, type DualStringArray, type DualStringArrayWire } from '../types';

/** What a client knows about an object exporter (MS-DCOM 3.2.1: the OXID table entry). */
export interface OxidInfo {
  oxid: bigint;
  bindings: DualStringArray;
  ipidRemUnknown: string;
  authnHint: number;
  /** The exporter's COM version; ResolveOxid (5.1) does not say, so 5.1 then. */
  comVersion: ComVersion;
}

export interface ServerAliveInfo {
  comVersion: ComVersion;
  bindings: DualStringArray;
}

/** A DUALSTRINGARRAY from an RPC [out] parameter; null means none. */
export function dsa(w: DualStringArrayWire | null | undefined): DualStringArray {
  return w ? parseDualStringArray(w) : { stringBindings: [], securityBindings: [] };
}

/** A resolver method's non-zero error_status_t (OR_INVALID_OXID, OR_INVALID_SET...). */
export function statusError(what: string, status: number): DcomlabError {
  return new DcomlabError(`${what}: ${describeStatus(status)}`, status);
}

/** The protocol sequences the client asks for: ncacn_ip_tcp only (MS-DCOM 3.2.4.1.2.2). */
const REQUESTED_PROTSEQS = [TOWER_NCACN_IP_TCP];

/** An IObjectExporter client on one resolver (host:port), one connection opened on demand. */
export class ResolverClient {
  private conn: Promise<InterfaceClient<typeof IObjectExporter>> | undefined;

  constructor(readonly host: string, readonly port: number, private readonly options: () => ClientOptions, private readonly log: Logger) {}

  private client(): Promise<InterfaceClient<typeof IObjectExporter>> {
    this.conn ??= (async () => {
      const c = await RpcConnection.connect(this.host, this.port, this.options());
      try {
        return await bindInterface(c, IObjectExporter);
      } catch (e) {
        await c.close();
        throw e;
      }
    })();
    this.conn.catch(() => {
      this.conn = undefined;
    });
    return this.conn;
  }

  /** ServerAlive2 (MS-DCOM 3.1.2.5.1.6): the resolver's COM version and its bindings. */
  async serverAlive2(): Promise<ServerAliveInfo> {
    const c = await this.client();
    const r = await c.call(IObjectExporter.ops.ServerAlive2, {});
    if (r.error_status !== 0) throw statusError('ServerAlive2', r.error_status);
    return { comVersion: r.pComVersion, bindings: dsa(r.ppdsaOrBindings) };
  }

  /**
   * ResolveOxid2, and ResolveOxid when the resolver does not have it (RPC_S_PROCNUM_OUT_OF_RANGE,
   * MS-DCOM 3.2.4.1.2.2). A non-zero error_status (OR_INVALID_OXID...) is a DcomlabError with that status.
   */
  async resolveOxid(oxid: bigint): Promise<OxidInfo> {
    const c = await this.client();
    const args = { pOxid: oxid, cRequestedProtseqs: REQUESTED_PROTSEQS.length, arRequestedProtseqs: REQUESTED_PROTSEQS };
    try {
      const r = await c.call(IObjectExporter.ops.ResolveOxid2, args);
      if (r.error_status !== 0) throw statusError(`ResolveOxid2(${oxid.toString(16)}) at ${this.host}:${this.port}`, r.error_status);
      return { oxid, bindings: dsa(r.ppdsaOxidBindings), ipidRemUnknown: r.pipidRemUnknown, authnHint: r.pAuthnHint, comVersion: r.pComVersion };
    } catch (e) {
      if (!(e instanceof RpcFault) || (e.status !== Status.rpc_s_procnum_out_of_range && e.status !== Status.nca_s_op_rng_error)) throw e;
      this.log.debug({ resolver: `${this.host}:${this.port}` }, 'no ResolveOxid2: falling back to ResolveOxid');
    }
    const r = await c.call(IObjectExporter.ops.ResolveOxid, args);
    if (r.error_status !== 0) throw statusError(`ResolveOxid(${oxid.toString(16)}) at ${this.host}:${this.port}`, r.error_status);
    return { oxid, bindings: dsa(r.ppdsaOxidBindings), ipidRemUnknown: r.pipidRemUnknown, authnHint: r.pAuthnHint, comVersion: { MajorVersion: 5, MinorVersion: 1 } };
  }

  /** ComplexPing (MS-DCOM 3.1.2.5.1.3): returns the set id (a new one when `setId` is 0). */
  async complexPing(setId: bigint, sequenceNum: number, add: readonly bigint[], del: readonly bigint[]): Promise<{ setId: bigint; backoff: number }> {
    const c = await this.client();
    const r = await c.call(IObjectExporter.ops.ComplexPing, {
      pSetId: setId, SequenceNum: sequenceNum, cAddToSet: add.length, cDelFromSet: del.length,
      AddToSet: add.length ? [...add] : null, DelFromSet: del.length ? [...del] : null,
    });
    if (r.error_status !== 0) throw statusError('ComplexPing', r.error_status);
    return { setId: r.pSetId, backoff: r.pPingBackoffFactor };
  }

  /** SimplePing (MS-DCOM 3.1.2.5.1.2). */
  async simplePing(setId: bigint): Promise<void> {
    const c = await this.client();
    const r = await c.call(IObjectExporter.ops.SimplePing, { pSetId: setId });
    if (r.error_status !== 0) throw statusError('SimplePing', r.error_status);
  }

  async close(): Promise<void> {
    const p = this.conn;
    this.conn = undefined;
    if (p) await p.then((c) => c.conn.close(), () => undefined);
  }
}
