// `serve --lab`: the server box for Windows VMs. Its defaults (every address, a fixed exporter port a
// Windows firewall exception can name, XP SP2's policy, the kit's accounts as mirrored workgroup
// accounts) and the banner that tells a person at the Windows client what it needs.
import { networkInterfaces } from 'node:os';
import type { Account } from '../auth/types';
import { CLSID_CServer, IID_IClientCallback, IID_ICServer } from '../dcom/server';
import { LAB_ACCOUNTS } from '../lab';

export const LAB_HOST = '0.0.0.0';
/** The exporter's fixed port in lab mode (the netns scenarios use the same). */
export const LAB_EXPORTER_PORT = 49500;
/** The server process's account for `--callback-identity process`: the service account of the kit. */
export const LAB_PROCESS_USER = `${LAB_ACCOUNTS.service.user}:${LAB_ACCOUNTS.service.password}`;

/**
 * The kit's accounts, as local accounts: with mirrored logons, XPCLIENT\labadmin, LAB\labadmin and
 * labadmin all find them (the same user and password on every workgroup machine).
 */
export function labAccounts(): Account[] {
  return Object.values(LAB_ACCOUNTS).map((a) => ({ user: a.user, password: a.password, groups: [...a.groups] }));
}

const isWildcard = (h: string) => h === '0.0.0.0' || h === '::';

/**
 * What string bindings announce when listening on a wildcard address: this machine's own
 * addresses, the network ones first (a Windows client tries them in order), loopback only when
 * there is nothing else.
 */
export function announcedAddresses(hosts: string[]): string[] {
  const out: string[] = [];
  for (const h of hosts) {
    if (!isWildcard(h)) {
      out.push(h);
      continue;
    }
    const v6 = h === '::';
    const all = Object.values(networkInterfaces()).flatMap((l) => l ?? []).filter((i) => (v6 || i.family === 'IPv4') && !i.address.startsWith('fe80'));
    const external = all.filter((i) => !i.internal).map((i) => i.address);
    out.push(...(external.length ? external : all.map((i) => i.address)));
  }
  return [...new Set(out)];
}

export interface LabBannerInfo {
  listening: { host: string; port: number }[];
  exporterPort: number;
  addresses: string[];
  policy: string;
  callbackIdentity: string;
  processUser?: string;
  /** The built-in accounts with their passwords (they are the kit's published ones), or the names of the given ones. */
  accounts: string[];
}

export function labBanner(b: LabBannerInfo): string {
  const show = (h: string) => (h.includes(':') ? `[${h}]` : h);
  const ports = b.listening.map((l) => `${show(l.host)}:${l.port}`).join(', ');
  const first = b.addresses[0] ?? '<this box>';
  const resolverPort = b.listening[0]?.port ?? 135;
  const callback = b.callbackIdentity === 'impersonate'
    ? "impersonate: callbacks leave as ANONYMOUS LOGON (XP SP2's failure; --callback-identity process is the fix)"
    : `${b.callbackIdentity}: callbacks authenticate as ${b.processUser ?? '?'} (the fix; that account must exist on the client with the same password)`;
  return [
    'dcomlab lab server (serve --lab)',
    `  listening    ${ports} (endpoint mapper, OXID resolver, activators); object exporter on port ${b.exporterPort}`,
    `  addresses    ${b.addresses.join(', ')} (in the string bindings clients get)`,
    `  class        CServer {${CLSID_CServer.toUpperCase()}}`,
    `  interfaces   ICServer {${IID_ICServer.toUpperCase()}}, IClientCallback {${IID_IClientCallback.toUpperCase()}}`,
    `  policy       ${b.policy}`,
    `  callbacks    ${callback}`,
    `  accounts     ${b.accounts.join(', ')}`,
    `  firewall     on this box allow TCP ${resolverPort} and ${b.exporterPort}; on the Windows client TCP 135 and labclient.exe (else the callback fails)`,
    `  on Windows   labclient.exe ${first}${resolverPort === 135 ? '' : `  (a Windows client only dials 135: this box's ${resolverPort} is out of its reach)`}`,
    '',
  ].join('\n');
}
