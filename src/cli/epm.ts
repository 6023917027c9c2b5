// `dcomlab epm lookup|map HOST`: the endpoint mapper client.
import type { Command } from 'commander';
import { epmLookup, epmMap } from '../rpc';
import { interfaceName } from '../rpc/known-interfaces';
import { parseIfSpec, parsePort } from './common';
import { addClientAuthOptions, clientAuthFrom, type ClientAuthCliOptions } from './auth-options';

export function registerEpm(program: Command): void {
  const epm = program.command('epm').description('query an endpoint mapper');
  addClientAuthOptions(epm
    .command('lookup'))
    .description('list every registered endpoint (ept_lookup, iterating the entry handle)')
    .argument('<host>', 'server address')
    .option('--port <n>', 'endpoint mapper port', '135')
    .option('--json', 'one JSON array instead of a table')
    .action(async (host: string, o: { port: string; json?: boolean } & ClientAuthCliOptions) => {
      const entries = await epmLookup(host, parsePort(o.port), { auth: clientAuthFrom(o) });
      if (o.json) {
        process.stdout.write(JSON.stringify(entries.map(({ tower: _t, ...rest }) => rest), null, 2) + '\n');
        return;
      }
      for (const e of entries) {
        const name = e.iface ? e.iface.name ?? '' : '';
        const iface = e.iface ? `${e.iface.uuid} v${e.iface.version}` : '(no interface floor)';
        process.stdout.write(`${iface.padEnd(44)} ${name.padEnd(18)} ${(e.binding ?? '').padEnd(32)} ${e.annotation}\n`);
      }
      process.stdout.write(`${entries.length} endpoints\n`);
    });
  addClientAuthOptions(epm
    .command('map'))
    .description('ask the endpoint mapper for the ncacn_ip_tcp endpoint of an interface (ept_map)')
    .argument('<host>', 'server address')
    .argument('<interface>', 'UUID[:MAJOR.MINOR]')
    .option('--port <n>', 'endpoint mapper port', '135')
    .option('--json', 'JSON output')
    .action(async (host: string, ifspec: string, o: { port: string; json?: boolean } & ClientAuthCliOptions) => {
      const iface = parseIfSpec(ifspec);
      const r = await epmMap(host, iface, parsePort(o.port), { auth: clientAuthFrom(o) });
      const binding = `ncacn_ip_tcp:${r.host && r.host !== '0.0.0.0' ? r.host : host}[${r.port}]`;
      if (o.json) process.stdout.write(JSON.stringify({ interface: iface.uuid, name: interfaceName(iface.uuid), binding, port: r.port }) + '\n');
      else process.stdout.write(binding + '\n');
    });
}
