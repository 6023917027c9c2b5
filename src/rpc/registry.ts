// Interfaces written as data, by UUID: the dissector names operations (and, later, decodes
// stubs) with the same definitions the server and client use.
import type * as ndr from '../ndr';
import { epm } from './interfaces/epm';
import { mgmt } from './interfaces/mgmt';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyIface = ndr.Iface<any>;

const byUuid = new Map<string, AnyIface[]>();

export function registerDefinition(i: AnyIface): void {
  const list = byUuid.get(i.uuid) ?? [];
  if (!list.includes(i)) list.push(i);
  byUuid.set(i.uuid, list);
}

/** The definition for an interface UUID and p_syntax_id_t version (major in the low 16 bits). */
export function findDefinition(uuid: string, version?: number): AnyIface | undefined {
  const list = byUuid.get(uuid);
  if (!list) return undefined;
  if (version === undefined) return list[0];
  return list.find((i) => i.version.major === (version & 0xffff)) ?? list[0];
}

/** The IDL name of an operation, when its interface is defined here. */
export function operationName(uuid: string, opnum: number, version?: number): string | undefined {
  return (findDefinition(uuid, version)?.byOpnum(opnum) as { name: string } | undefined)?.name;
}

registerDefinition(epm);
registerDefinition(mgmt);
