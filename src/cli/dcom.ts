// `dcomlab ping HOST`, `dcomlab activate HOST CLSID`, `dcomlab call HOST ping 41|whoami`: the DCOM
// client from the command line. Every HRESULT is printed with its name.
import type { Command } from 'commander';
import { ComError } from '../base/errors';
import { describeStatus } from '../base/status';
import { DcomClient, failed, type ActivationMethod, type ActivationResult, type BindingChoice, type DcomClientOptions } from '../dcom/client';
import { CLSID_CServer, ICServer, IID_IClientCallback, IID_ICServer, IID_IUnknown } from '../dcom/server';
import type { DualStringArray } from '../dcom/types';
import { AUTH_LEVEL_NAMES } from '../pdu';
import { collect, parsePort } from './common';
import { addClientAuthOptions, authSpecFrom, type ClientAuthCliOptions } from './auth-options';
import { CliError } from './errors';

/** Names a user may give instead of a GUID. */
const NAMES: Record<string, string> = {
  cserver: CLSID_CServer, clsid_cserver: CLSID_CServer,
  icserver: IID_ICServer, iid_icserver: IID_ICServer,
  iclientcallback: IID_IClientCallback, iid_iclientcallback: IID_IClientCallback,
  iunknown: IID_IUnknown, iid_iunknown: IID_IUnknown,
};

export function parseGuidArg(s: string, what: string): string {
  const named = NAMES[s.toLowerCase()];
  if (named) return named;
  const m = /^\{?([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\}?$/.exec(s.trim());
  if (!m) throw new CliError(`${what} must be a GUID or one of ${Object.keys(NAMES).filter((k) => !k.includes('_')).join(', ')}, not ${JSON.stringify(s)}`);
  return m[1]!.toLowerCase();
}

const hr = (h: number) => describeStatus(h, 'hresult');

interface DcomCliOptions extends ClientAuthCliOptions {
  port: string;
  json?: boolean;
  binding?: string;
  connectTimeout?: string;
}

function addDcomOptions(cmd: Command): Command {
  return addClientAuthOptions(cmd, null)
    .option('--port <n>', 'port of the remote activator and OXID resolver', '135')
    .option('--binding <choice>', 'which exporter binding to use: target (the one naming HOST, else the first), first, target-only, or an address to use instead (NAT)', 'target')
    .option('--connect-timeout <ms>', 'TCP connect timeout', '10000')
    .option('--json', 'JSON output');
}

function clientFrom(o: DcomCliOptions): DcomClient {
  // DCOM's default level is CONNECT (RPC_C_AUTHN_LEVEL_CONNECT) once there are credentials.
  const level = o.authLevel ?? (o.user || process.env.DCOMLAB_USER ? 'connect' : 'none');
  const auth = authSpecFrom({ ...o, authLevel: level });
  const choice: BindingChoice = o.binding === 'target' || o.binding === 'first' || o.binding === 'target-only' ? o.binding : { host: o.binding ?? '' };
  const opts: DcomClientOptions = {
    resolverPort: parsePort(o.port), bindingChoice: choice, connectTimeoutMs: Number(o.connectTimeout ?? 10000), callTimeoutMs: 30_000,
    noPing: true, // a one-shot command releases what it holds before exiting
  };
  if (auth) opts.auth = auth;
  return new DcomClient(opts);
}

function printBindings(d: DualStringArray, indent = '  '): string {
  const lines = d.stringBindings.map((b) => `${indent}string   tower ${b.towerId}  ${b.networkAddr}`);
  for (const s of d.securityBindings) lines.push(`${indent}security authn ${s.authnSvc}  ${s.principalName || '(no principal name)'}`);
  return lines.join('\n');
}

const bigHex = (x: bigint) => '0x' + x.toString(16).padStart(16, '0');

function activationJson(a: ActivationResult) {
  return {
    host: a.host, method: a.method, hresult: a.hr, hresultName: hr(a.hr),
    oxid: bigHex(a.oxid.oxid), ipidRemUnknown: a.oxid.ipidRemUnknown, authnHint: a.oxid.authnHint,
    comVersion: `${a.oxid.comVersion.MajorVersion}.${a.oxid.comVersion.MinorVersion}`,
    bindings: a.oxid.bindings,
    exporter: { binding: a.exporter.binding, authLevel: AUTH_LEVEL_NAMES[a.exporter.level] ?? a.exporter.level },
    interfaces: a.interfaces.map((i) => ({
      iid: i.iid, hresult: i.hr, hresultName: hr(i.hr),
      ...(i.iface ? { ipid: i.iface.ipid, oid: bigHex(i.iface.oid), cPublicRefs: i.iface.std.cPublicRefs, flags: i.iface.std.flags } : {}),
    })),
  };
}

function activationText(a: ActivationResult): string {
  const out = [
    `activation ${a.method} at ${a.host}: ${hr(a.hr)}`,
    `OXID ${bigHex(a.oxid.oxid)}  COM ${a.oxid.comVersion.MajorVersion}.${a.oxid.comVersion.MinorVersion}  authnHint ${a.oxid.authnHint} (${AUTH_LEVEL_NAMES[a.oxid.authnHint] ?? '?'})`,
    `IRemUnknown IPID ${a.oxid.ipidRemUnknown}`,
    'bindings:',
    printBindings(a.oxid.bindings),
    `exporter: ${a.exporter.binding} at ${AUTH_LEVEL_NAMES[a.exporter.level] ?? a.exporter.level}`,
    'interfaces:',
  ];
  for (const i of a.interfaces) {
    out.push(`  ${i.iid}  ${hr(i.hr)}${i.iface ? `  IPID ${i.iface.ipid}  OID ${bigHex(i.iface.oid)}` : ''}`);
  }
  return out.join('\n');
}

async function releaseAll(a: ActivationResult): Promise<void> {
  for (const i of a.interfaces) if (i.iface) await i.iface.release().catch(() => undefined);
}

export function registerDcom(program: Command): void {
  addDcomOptions(program
    .command('ping'))
    .description("ask a host's OXID resolver whether it is alive (IObjectExporter::ServerAlive2): its COM version and bindings")
    .argument('<host>', 'server address')
    .action(async (host: string, o: DcomCliOptions) => {
      const c = clientFrom(o);
      try {
        const r = await c.serverAlive2(host);
        if (o.json) {
          process.stdout.write(JSON.stringify({ host, comVersion: `${r.comVersion.MajorVersion}.${r.comVersion.MinorVersion}`, bindings: r.bindings }) + '\n');
        } else {
          process.stdout.write(`${host}: COM version ${r.comVersion.MajorVersion}.${r.comVersion.MinorVersion}\n${printBindings(r.bindings)}\n`);
        }
      } finally {
        await c.close();
      }
    });

  addDcomOptions(program
    .command('activate'))
    .description('activate a class on a remote host and print the interfaces, IPIDs, OXID, bindings and HRESULTs')
    .argument('<host>', 'server address')
    .argument('<clsid>', 'CLSID (or CServer)')
    .option('--iid <iid>', 'interface to ask for (repeatable; default IUnknown, or ICServer for CServer)', collect)
    .option('--method <m>', 'create (RemoteCreateInstance), activation (RemoteActivation) or classobject (RemoteGetClassObject + IClassFactory)', 'create')
    .option('--keep', 'do not release the interfaces before exiting')
    .action(async (host: string, clsidArg: string, o: DcomCliOptions & { iid?: string[]; method: string; keep?: boolean }) => {
      const clsid = parseGuidArg(clsidArg, 'CLSID');
      const method = o.method as ActivationMethod;
      if (!['create', 'activation', 'classobject'].includes(method)) throw new CliError(`--method must be create, activation or classobject, not ${o.method}`);
      const iids = o.iid?.length ? o.iid.map((i) => parseGuidArg(i, '--iid')) : [clsid === CLSID_CServer ? IID_ICServer : IID_IUnknown];
      const c = clientFrom(o);
      try {
        const a = await c.activate(host, clsid, iids, method);
        process.stdout.write((o.json ? JSON.stringify(activationJson(a), null, 2) : activationText(a)) + '\n');
        if (!o.keep) await releaseAll(a);
        if (a.interfaces.some((i) => !i.iface)) process.exitCode = 1;
      } finally {
        await c.close();
      }
    });

  addDcomOptions(program
    .command('call'))
    .description('activate the lab class and call one ICServer method: ping VALUE, whoami')
    .argument('<host>', 'server address')
    .argument('<method>', 'ping or whoami')
    .argument('[value]', "ping's value")
    .option('--clsid <clsid>', 'the class implementing ICServer', 'CLSID_CServer')
    .action(async (host: string, method: string, value: string | undefined, o: DcomCliOptions & { clsid: string }) => {
      const clsid = parseGuidArg(o.clsid, '--clsid');
      const m = method.toLowerCase();
      if (m !== 'ping' && m !== 'whoami') throw new CliError(`method must be ping or whoami, not ${JSON.stringify(method)}`);
      let n = 0;
      if (m === 'ping') {
        n = Number(value);
        if (value === undefined || !Number.isInteger(n) || n < -0x80000000 || n > 0x7fffffff) throw new CliError(`ping needs a 32-bit integer, not ${JSON.stringify(value)}`);
      }
      const c = clientFrom(o);
      try {
        const a = await c.activate(host, clsid, [IID_ICServer]);
        const itf = a.interfaces[0]!.iface;
        if (!itf) throw new ComError(a.interfaces[0]!.hr, `activation of ${clsid} for ICServer`);
        try {
          const r = m === 'ping' ? await itf.call(ICServer, 'Ping', { value: n }) : await itf.call(ICServer, 'WhoAmI', {});
          const result = 'echo' in r ? r.echo : r.identity;
          if (o.json) process.stdout.write(JSON.stringify({ host, method: m, hresult: r.hresult, hresultName: hr(r.hresult), result }) + '\n');
          else process.stdout.write(`${m === 'ping' ? `Ping(${n})` : 'WhoAmI()'} = ${JSON.stringify(result)}  ${hr(r.hresult)}\n`);
          if (failed(r.hresult)) process.exitCode = 1;
        } finally {
          await itf.release().catch(() => undefined);
        }
      } finally {
        await c.close();
      }
    });
}
