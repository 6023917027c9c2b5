// `dcomlab sessions FILE`: the associations of a capture and the DCOM story across them.
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { sessionsReportHtml } from '../report/html';
import { CliError } from './errors';
import { analyzeSessions, type SessionsReport } from '../dissect/sessions';
import { addDecryptOptions, decryptCredentialsFrom, type DecryptCliOptions } from './decrypt-options';

export function registerSessions(program: Command): void {
  addDecryptOptions(program
    .command('sessions'))
    .description('the associations in a capture (client, server, interfaces, auth, identity, calls, faults) and the DCOM story: activations and the exporter connections they led to, OXID resolutions, callbacks')
    .argument('<file>', 'pcap or pcapng (gzip too)')
    .option('--json', 'one JSON document')
    .option('--report <file.html>', 'also write an HTML report: a sequence diagram of every exchange, the DCOM story, the associations')
    .action(async (file: string, o: DecryptCliOptions & { json?: boolean; report?: string }) => {
      const r = await analyzeSessions(file, decryptCredentialsFrom(o));
      process.stdout.write(o.json ? JSON.stringify(r, null, 2) + '\n' : sessionsText(r));
      if (o.report) {
        try {
          writeFileSync(o.report, sessionsReportHtml(r));
        } catch (e) {
          throw new CliError(`cannot write --report ${o.report}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
        }
        process.stderr.write(`dcomlab: report written to ${o.report}\n`);
      }
    });
}

export function sessionsText(r: SessionsReport): string {
  const L: string[] = [];
  for (const a of r.associations) {
    const who = a.auth ? ` ${a.auth.type}/${a.auth.level}${a.auth.user !== undefined ? ` as ${a.auth.user ? `${a.auth.domain ? a.auth.domain + '\\' : ''}${a.auth.user}` : 'ANONYMOUS'}${a.auth.flavour ? ` (${a.auth.flavour})` : ''}` : ''}${a.auth.decryptable === false && a.auth.reason ? ` [not decryptable: ${a.auth.reason}]` : ''}` : ' unauthenticated';
    L.push(`stream ${a.stream}: ${a.client} -> ${a.server}${a.role ? ` [${a.role}]` : ''}${who}, ${a.calls} call(s), ${a.faults.length} fault(s), ${a.durationMs} ms`);
    const ifs = a.interfaces.map((i) => `${i.name} v${i.version}${i.accepted ? '' : ' (refused)'}`);
    if (ifs.length) L.push(`  interfaces: ${ifs.join(', ')}`);
    const ops = Object.entries(a.operations).map(([k, v]) => (v > 1 ? `${k} x${v}` : k));
    if (ops.length) L.push(`  calls: ${ops.join(', ')}`);
    for (const f of a.faults) L.push(`  fault: call ${f.callId}${f.operation ? ` ${f.operation}` : ''}: ${f.status}`);
  }
  if (r.activations.length || r.resolutions.length || r.callbacks.length) L.push('', 'DCOM:');
  for (const x of r.activations) {
    L.push(`  activation (stream ${x.stream}, frame ${x.frame}) ${x.operation} ${x.clsid ?? '?'} from ${x.client}: ${x.hresult ?? 'no answer'}` +
      `${x.oxid ? `, OXID ${x.oxid} at ${x.bindings.join(' ') || '?'}` : ''}${x.exporterStreams.length ? ` -> exporter stream(s) ${x.exporterStreams.join(', ')}` : ''}`);
  }
  for (const x of r.resolutions) L.push(`  ${x.operation} (stream ${x.stream}) ${x.from} -> ${x.resolver} OXID ${x.oxid ?? '?'}: ${x.status ?? 'no answer'}${x.bindings.length ? ` ${x.bindings.join(' ')}` : ''}`);
  for (const x of r.callbacks) L.push(`  callback (stream ${x.stream}) ${x.from} -> ${x.to}: ${x.interfaces.join(', ')}`);
  return L.join('\n') + '\n';
}
