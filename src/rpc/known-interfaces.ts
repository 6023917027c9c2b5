// Names of well-known RPC and DCOM interfaces, for dissection and logs. UUIDs from
// C706 Appendix O (ept), MS-RPCE 2.2.1.3 (mgmt), MS-DCOM 1.9 and 2.2.x, and the MS-* protocol specs.
import { normalizeGuid } from '../base/guid';

const TABLE: Array<[string, string]> = [
  ['e1af8308-5d1f-11c9-91a4-08002b14a0fa', 'EPMv4'],
  ['afa8bd80-7d8a-11c9-bef4-08002b102989', 'MGMT'],
  ['99fcfec4-5260-101b-bbcb-00aa0021347a', 'IObjectExporter'],
  ['000001a0-0000-0000-c000-000000000046', 'ISystemActivator'],
  ['4d9f4ab8-7d1c-11cf-861e-0020af6e7c57', 'IRemoteActivation'],
  ['00000131-0000-0000-c000-000000000046', 'IRemUnknown'],
  ['00000143-0000-0000-c000-000000000046', 'IRemUnknown2'],
  ['00000000-0000-0000-c000-000000000046', 'IUnknown'],
  ['00000001-0000-0000-c000-000000000046', 'IClassFactory'],
  ['00020400-0000-0000-c000-000000000046', 'IDispatch'],
  ['00020401-0000-0000-c000-000000000046', 'ITypeInfo'],
  ['00020402-0000-0000-c000-000000000046', 'ITypeLib'],
  ['00000134-0000-0000-c000-000000000046', 'IRundown'],
  ['737ef2d6-dcd1-44df-a320-8c9d344cc7a8', 'ICServer'],
  ['59ef5494-5d79-4ed8-a9f5-6b6ee4beb812', 'IClientCallback'],
  ['12345778-1234-abcd-ef00-0123456789ac', 'SAMR'],
  ['12345778-1234-abcd-ef00-0123456789ab', 'LSARPC'],
  ['12345678-1234-abcd-ef00-01234567cffb', 'NETLOGON'],
  ['367abb81-9844-35f1-ad32-98f038001003', 'SVCCTL'],
  ['4b324fc8-1670-01d3-1278-5a47bf6ee188', 'SRVSVC'],
  ['6bffd098-a112-3610-9833-46c3f87e345a', 'WKSSVC'],
  ['338cd001-2244-31f1-aaaa-900038001003', 'WINREG'],
  ['1ff70682-0a51-30e8-076d-740be8cee98b', 'ATSVC'],
  ['3919286a-b10c-11d0-9ba8-00c04fd92ef5', 'DSSETUP'],
  ['e3514235-4b06-11d1-ab04-00c04fc2dcd2', 'DRSUAPI'],
  ['a4f1db00-ca47-1067-b31f-00dd010662da', 'MAPI'],
  ['5261574a-4572-206e-b268-6b199213b4e4', 'AsyncEMSMDB'],
  ['1544f5e0-613c-11d1-93df-00c04fd7bd09', 'RFR'],
  ['f5cc5a18-4264-101a-8c59-08002b2f8426', 'NSPI'],
  ['c681d488-d850-11d0-8c52-00c04fd90f7e', 'EFSRPC'],
  ['12345678-1234-abcd-ef00-0123456789ab', 'SPOOLSS'],
  ['86d35949-83c9-4044-b424-db363231fd0c', 'ITaskSchedulerService'],
  ['4fc742e0-4a10-11cf-8273-00aa004ae673', 'NETDFS'],
  ['6cb71c2c-9812-4540-0000-000000000000', 'BTFN'],
];

const byUuid = new Map<string, string>(TABLE.map(([u, n]) => [u, n]));

/** Known name of an interface UUID, or undefined. */
export function interfaceName(uuid: string): string | undefined {
  const hit = byUuid.get(uuid);
  // Decoded UUIDs are already canonical; only other spellings need normalising.
  if (hit !== undefined || (uuid.length === 36 && !/[A-F{]/.test(uuid))) return hit;
  return byUuid.get(normalizeGuid(uuid));
}

export function registerInterfaceName(uuid: string, name: string): void {
  byUuid.set(normalizeGuid(uuid), name);
}
