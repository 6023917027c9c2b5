// DCOM (MS-DCOM): common types, OBJREF, the OXID resolver, IRemUnknown/IRemUnknown2 and
// activation, all written as data with the NDR blocks.
import type * as ndr from '../ndr';
import { registerDefinition } from '../rpc/registry';
import { IRemoteActivation, IRemoteSCMActivator } from './interfaces/activation';
import { IObjectExporter } from './interfaces/object-exporter';
import { IRemUnknown, IRemUnknown2 } from './interfaces/rem-unknown';
import { IClientCallback, ICServer } from './server/lab-class';
import { IClassFactory } from './interfaces/class-factory';

export * from './types';
export * from './objref';
export * from './interfaces/object-exporter';
export * from './interfaces/rem-unknown';
export * from './activation';
export * as client from './client';
export { DcomClient } from './client';
export * from './server';
export * from './interfaces/class-factory';

/** The DCOM interface definitions (one definition serves server, client and dissector). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const dcomDefinitions: readonly ndr.Iface<any>[] = [IObjectExporter, IRemUnknown, IRemUnknown2, IRemoteSCMActivator, IRemoteActivation, IClassFactory, ICServer, IClientCallback];

/** Make the DCOM definitions known to the RPC layer's registry (the dissector names their operations). */
export function registerDcomDefinitions(): void {
  for (const d of dcomDefinitions) registerDefinition(d);
}
