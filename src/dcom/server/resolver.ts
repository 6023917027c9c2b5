// The OXID resolver's IObjectExporter (MS-DCOM 3.1.2.5.1) on the port-135 server.
// Pinging (MS-DCOM 3.1.2.5.1.2-3) is accepted but not acted on: no OID set expiry, no garbage
// collection (TODO).
import { randomBytes } from 'node:crypto';
import { NIL_GUID } from '../../base/guid';
import type { DispatchInterface } from '../../rpc/server';
import { dispatcherFor } from '../../rpc/typed';
import { IObjectExporter } from '../interfaces/object-exporter';
import { buildDualStringArray, type DualStringArray } from '../types';
import { COM_VERSION, HR, RPC_C_AUTHN_WINNT, TOWER_NCACN_IP_TCP, type ObjectExporter } from './exporter';

/** The resolver's tables: the exporters it knows by OXID, and the ping sets. */
export class OxidResolver {
  private readonly exporters = new Map<bigint, ObjectExporter>();
  /** SETID -> OIDs (kept, never expired: TODO). */
  readonly pingSets = new Map<bigint, Set<bigint>>();

  /** @param addresses the addresses the resolver is reached on (ServerAlive2's bindings, no endpoint). */
  constructor(readonly addresses: readonly string[], readonly principalName = '') {}

  register(e: ObjectExporter): void {
    this.exporters.set(e.oxid, e);
  }

  unregister(e: ObjectExporter): void {
    this.exporters.delete(e.oxid);
  }

  exporter(oxid: bigint): ObjectExporter | undefined {
    return this.exporters.get(oxid);
  }

  /** ServerAlive2's ppdsaOrBindings: each address over ncacn_ip_tcp (no endpoint) and NTLM. */
  get orBindings(): DualStringArray {
    return {
      stringBindings: this.addresses.map((a) => ({ towerId: TOWER_NCACN_IP_TCP, networkAddr: a })),
      securityBindings: [{ authnSvc: RPC_C_AUTHN_WINNT, authzSvc: 0xffff, principalName: this.principalName }],
    };
  }

  private newSetId(): bigint {
    let id: bigint;
    do id = randomBytes(8).readBigUInt64LE(0); while (id === 0n || this.pingSets.has(id));
    return id;
  }

  /** ComplexPing (MS-DCOM 3.1.2.5.1.3): a set id of 0 creates a set. */
  complexPing(setId: bigint, add: readonly bigint[], del: readonly bigint[]): bigint {
    let id = setId;
    let set = this.pingSets.get(id);
    if (!set) {
      id = setId === 0n ? this.newSetId() : setId;
      set = new Set();
      this.pingSets.set(id, set);
    }
    for (const o of add) set.add(o);
    for (const o of del) set.delete(o);
    return id;
  }

  dispatcher(): DispatchInterface {
    const resolve = (oxid: bigint) => {
      const e = this.exporters.get(oxid);
      if (!e) {
        return { ppdsaOxidBindings: null, pipidRemUnknown: NIL_GUID, pAuthnHint: 0, error_status: HR.OR_INVALID_OXID };
      }
      return { ppdsaOxidBindings: buildDualStringArray(e.bindings), pipidRemUnknown: e.ipidRemUnknown, pAuthnHint: e.authnHint, error_status: 0 };
    };
    return dispatcherFor(IObjectExporter, {
      ResolveOxid: (a) => resolve(a.pOxid),
      // TODO: OR_INVALID_SET for a set id never handed out.
      SimplePing: () => ({ error_status: 0 }),
      ComplexPing: (a) => ({
        pSetId: this.complexPing(a.pSetId, a.AddToSet ?? [], a.DelFromSet ?? []),
        pPingBackoffFactor: 0,
        error_status: 0,
      }),
      ServerAlive: () => ({ error_status: 0 }),
      ResolveOxid2: (a) => ({ ...resolve(a.pOxid), pComVersion: COM_VERSION }),
      ServerAlive2: () => ({ pComVersion: COM_VERSION, ppdsaOrBindings: buildDualStringArray(this.orBindings), pReserved: 0, error_status: 0 }),
    });
  }
}
