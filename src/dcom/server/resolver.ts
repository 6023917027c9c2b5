// The OXID resolver's IObjectExporter (MS-DCOM 3.1.2.5.1) on the port-135 server: OXID
// resolution for the exporters it knows, and garbage collection by ping sets (3.1.2.5.1.2-3,
// 3.1.2.6): a set not pinged for `pingPeriodMs` x `pingsToExpire` expires, and the OIDs no other
// live set holds are reclaimed by their exporter.
import { randomBytes } from 'node:crypto';
import { NIL_GUID } from '../../base/guid';
import type { Logger } from '../../base/log';
import { silentLogger } from '../../base/log';
import type { CallContext, DispatchInterface } from '../../rpc/server';
import { describeStatus } from '../../base/status';
import { dispatcherFor } from '../../rpc/typed';
import { IObjectExporter } from '../interfaces/object-exporter';
import { buildDualStringArray, type DualStringArray, TOWER_NCACN_IP_TCP } from '../types';
import { COM_VERSION, HR, RPC_C_AUTHN_WINNT, type ObjectExporter } from './exporter';

/** MS-DCOM 3.1.2.2: "The ping period MUST be at most 2 minutes and SHOULD be exactly 2 minutes." */
export const DEFAULT_PING_PERIOD_MS = 120_000;
/** MS-DCOM 3.1.2.2: the ping set timer "SHOULD be exactly three times the ping period". */
export const DEFAULT_PINGS_TO_EXPIRE = 3;

export interface OxidResolverOptions {
  /** Principal name in ServerAlive2's security binding (default ''). */
  principalName?: string;
  /** The ping period (default 120 000 ms); tests use a few ms. */
  pingPeriodMs?: number;
  /** Missed ping periods after which a ping set expires (default 3). */
  pingsToExpire?: number;
  logger?: Logger;
}

/** MS-DCOM 3.1.2.1: a SETID table entry. */
interface PingSet {
  oids: Set<bigint>;
  seq: number;
  timer: NodeJS.Timeout;
}

/** The resolver's tables: the exporters it knows by OXID, the ping sets, and each OID's set count. */
export class OxidResolver {
  readonly principalName: string;
  readonly pingPeriodMs: number;
  readonly pingsToExpire: number;
  private readonly log: Logger;
  private readonly exporters = new Map<bigint, ObjectExporter>();
  private readonly sets = new Map<bigint, PingSet>();
  /** MS-DCOM 3.1.2.1 OID table: how many SETID entries reference each OID. */
  private readonly oidSetRefs = new Map<bigint, number>();
  private stopped = false;

  /** @param addresses the addresses the resolver is reached on (ServerAlive2's bindings, no endpoint). */
  constructor(readonly addresses: readonly string[], o: OxidResolverOptions | string = {}) {
    const opts = typeof o === 'string' ? { principalName: o } : o;
    this.principalName = opts.principalName ?? '';
    this.pingPeriodMs = opts.pingPeriodMs ?? DEFAULT_PING_PERIOD_MS;
    this.pingsToExpire = opts.pingsToExpire ?? DEFAULT_PINGS_TO_EXPIRE;
    if (!(this.pingPeriodMs > 0) || !Number.isInteger(this.pingsToExpire) || this.pingsToExpire < 1) {
      throw new RangeError(`bad ping timing: period ${this.pingPeriodMs} ms x ${this.pingsToExpire}`);
    }
    this.log = (opts.logger ?? silentLogger).child({ part: 'oxid-resolver' });
  }

  register(e: ObjectExporter): void {
    this.exporters.set(e.oxid, e);
  }

  unregister(e: ObjectExporter): void {
    this.exporters.delete(e.oxid);
  }

  exporter(oxid: bigint): ObjectExporter | undefined {
    return this.exporters.get(oxid);
  }

  /** The ping set timer's period (MS-DCOM 3.1.2.2). */
  get setTimeoutMs(): number {
    return this.pingPeriodMs * this.pingsToExpire;
  }

  /** SETID -> the OIDs in the set (a snapshot). */
  get pingSets(): ReadonlyMap<bigint, ReadonlySet<bigint>> {
    return new Map([...this.sets].map(([id, s]) => [id, new Set(s.oids)]));
  }

  /** Clear every ping set timer; later pings are still answered, but no set expires. */
  stop(): void {
    this.stopped = true;
    for (const s of this.sets.values()) clearTimeout(s.timer);
  }

  /** ServerAlive2's ppdsaOrBindings: each address over ncacn_ip_tcp (no endpoint) and NTLM. */
  get orBindings(): DualStringArray {
    return {
      stringBindings: this.addresses.map((a) => ({ towerId: TOWER_NCACN_IP_TCP, networkAddr: a })),
      securityBindings: [{ authnSvc: RPC_C_AUTHN_WINNT, authzSvc: 0xffff, principalName: this.principalName }],
    };
  }

  /** The exporter that exports `oid`: "the OID entry" is found when a registered exporter has the object. */
  private ownerOf(oid: bigint): ObjectExporter | undefined {
    for (const e of this.exporters.values()) if (e.objectByOid(oid)) return e;
    return undefined;
  }

  private newSetId(): bigint {
    let id: bigint;
    do id = randomBytes(8).readBigUInt64LE(0); while (id === 0n || this.sets.has(id));
    return id;
  }

  private startTimer(setId: bigint): NodeJS.Timeout {
    const t = setTimeout(() => this.expire(setId), this.setTimeoutMs);
    t.unref();
    if (this.stopped) clearTimeout(t);
    return t;
  }

  private addOid(set: PingSet, oid: bigint): void {
    set.oids.add(oid);
    this.oidSetRefs.set(oid, (this.oidSetRefs.get(oid) ?? 0) + 1);
  }

  /** Decrement the OID's set count; true when no set references it any more. */
  private releaseOid(oid: bigint): boolean {
    const n = (this.oidSetRefs.get(oid) ?? 1) - 1;
    if (n > 0) {
      this.oidSetRefs.set(oid, n);
      return false;
    }
    this.oidSetRefs.delete(oid);
    return true;
  }

  /** SimplePing (MS-DCOM 3.1.2.5.1.2): reset the set's timer; OR_INVALID_SET for an unknown SETID. */
  simplePing(setId: bigint): number {
    const set = this.sets.get(setId);
    if (!set) return HR.OR_INVALID_SET;
    set.timer.refresh();
    return 0;
  }

  /** ComplexPing (MS-DCOM 3.1.2.5.1.3). Returns the error_status and the SETID to answer. */
  complexPing(setId: bigint, seq: number, add: readonly bigint[], del: readonly bigint[]): { status: number; setId: bigint } {
    if (setId === 0n) {
      // A new set: its OIDs are those of AddToSet whose OID entry is found (unknown ones are skipped).
      const id = this.newSetId();
      const set: PingSet = { oids: new Set(), seq, timer: this.startTimer(id) };
      this.sets.set(id, set);
      for (const oid of add) if (!set.oids.has(oid) && this.ownerOf(oid)) this.addOid(set, oid);
      this.log.debug({ setId: id.toString(16), oids: set.oids.size }, 'ping set created');
      return { status: 0, setId: id };
    }
    const set = this.sets.get(setId);
    if (!set) return { status: HR.OR_INVALID_SET, setId };
    // "if it has a sequence number greater than that specified by the client, the object resolver
    // MUST take no further action and return success" (a late or repeated call of this [idempotent] method).
    if (set.seq > seq) return { status: 0, setId };
    for (const oid of add) {
      if (set.oids.has(oid)) continue;
      if (!this.ownerOf(oid)) return { status: HR.OR_INVALID_OID, setId };
      this.addOid(set, oid);
    }
    for (const oid of del) {
      if (!set.oids.has(oid)) continue;
      set.oids.delete(oid);
      // Leaving a set never reclaims: only an expired set does (3.1.2.6).
      this.releaseOid(oid);
    }
    set.timer.refresh();
    set.seq = seq;
    return { status: 0, setId };
  }

  /** The ping set timer expired (MS-DCOM 3.1.2.6): drop the set, reclaim the OIDs no other set holds. */
  private expire(setId: bigint): void {
    const set = this.sets.get(setId);
    if (!set || this.stopped) return;
    this.sets.delete(setId);
    const results: Record<string, string> = {};
    for (const oid of set.oids) {
      if (!this.releaseOid(oid)) {
        results[oid.toString(16)] = 'held by another set';
        continue;
      }
      const owner = this.ownerOf(oid);
      results[oid.toString(16)] = owner ? owner.reclaim(oid, this.pingPeriodMs) : 'unknown';
    }
    this.log.info({ setId: setId.toString(16), oids: results }, 'ping set expired');
  }

  dispatcher(): DispatchInterface {
    const resolve = (op: string, oxid: bigint, ctx: CallContext) => {
      const e = this.exporters.get(oxid);
      this.log.info({
        event: 'resolve', op, from: ctx.peer.address, oxid: BigInt.asUintN(64, oxid).toString(16).padStart(16, '0'),
        status: e ? 'OK' : describeStatus(HR.OR_INVALID_OXID, 'win32'),
      }, 'OXID resolution');
      if (!e) {
        return { ppdsaOxidBindings: null, pipidRemUnknown: NIL_GUID, pAuthnHint: 0, error_status: HR.OR_INVALID_OXID };
      }
      return { ppdsaOxidBindings: buildDualStringArray(e.bindings), pipidRemUnknown: e.ipidRemUnknown, pAuthnHint: e.authnHint, error_status: 0 };
    };
    return dispatcherFor(IObjectExporter, {
      ResolveOxid: (a, ctx) => resolve('ResolveOxid', a.pOxid, ctx),
      SimplePing: (a) => ({ error_status: this.simplePing(a.pSetId) }),
      ComplexPing: (a) => {
        const r = this.complexPing(a.pSetId, a.SequenceNum, a.AddToSet ?? [], a.DelFromSet ?? []);
        // pPingBackoffFactor: Windows answers 0 (MS-DCOM 3.1.2.5.1.3, note <55>).
        return { pSetId: r.setId, pPingBackoffFactor: 0, error_status: r.status };
      },
      ServerAlive: () => ({ error_status: 0 }),
      ResolveOxid2: (a, ctx) => ({ ...resolve('ResolveOxid2', a.pOxid, ctx), pComVersion: COM_VERSION }),
      ServerAlive2: () => ({ pComVersion: COM_VERSION, ppdsaOrBindings: buildDualStringArray(this.orBindings), pReserved: 0, error_status: 0 }),
    });
  }
}
