// `serve --lab`'s log: one plain line per activation, OXID resolution, ForwardCall and callback,
// for a person watching the lab box while a Windows client runs. The records are the server's
// ordinary structured log records; the ones that carry an `event` field are told as a sentence,
// other warnings and errors as "level: message" (other records only at debug and trace).
import { Writable } from 'node:stream';
import pino from 'pino';
import type { Logger } from '../base/log';
import { AUTH_LEVEL_NAMES } from '../pdu';
import { CLSID_CServer } from '../dcom/server';

type Rec = Record<string, unknown> & { level: number; time: number; msg?: string };

const LEVELS: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warning', 50: 'error', 60: 'fatal' };
const s = (v: unknown) => (v === undefined || v === null ? '?' : String(v));
const className = (clsid: unknown) => (typeof clsid === 'string' && clsid.toLowerCase() === CLSID_CServer ? 'CServer' : `{${s(clsid).toUpperCase()}}`);
const levelName = (l: unknown) => (typeof l === 'number' ? AUTH_LEVEL_NAMES[l] ?? String(l) : 'unauthenticated');

/** The sentence of one record; undefined to leave it out. */
export function labLine(r: Rec, verbose = false): string | undefined {
  const t = new Date(r.time).toISOString().slice(11, 23);
  const line = (what: string, text: string) => `${t}  ${what.padEnd(11)} ${text}`;
  switch (r['event']) {
    case 'activation': {
      const head = `${s(r['op'])} of ${className(r['clsid'])} from ${s(r['from'])} as ${s(r['caller'])} (${levelName(r['authLevel'])}): ${s(r['hresult'])}`;
      if (r.level >= 40) return line('activation', `${head}, refused: ${s(r['err'])}`);
      return line('activation', `${head}${r['oxid'] ? `, OXID ${s(r['oxid'])}` : ''}`);
    }
    case 'resolve':
      return line('resolve', `${s(r['op'])} of OXID ${s(r['oxid'])} from ${s(r['from'])}: ${s(r['status'])}`);
    case 'forward':
      return line('ForwardCall', `from ${s(r['from'])} as ${s(r['caller'])}`);
    case 'forward-failed':
      return line('ForwardCall', `not run: ${s(r['why'])}; the client gets ${s(r['status'])}`);
    case 'callback-resolve':
      return line('callback', `resolving the client's OXID ${s(r['oxid'])} at ${s(r['resolver'])} (${s(r['identity'])} identity)`);
    case 'callback-failed':
      return line('callback', `BackwardCall failed: ${s(r['err'])}`);
    case 'callback':
      return line('callback', `BackwardCall(${s(r['cookie'])}) at ${s(r['to'])} as ${s(r['as'])}: ${s(r['hresult'])}`);
    case 'launch-denied':
      return undefined; // the activation's own line says it, with the same explanation
    case 'denied':
      return line('denied', `${s(r['iface'])} call from ${s(r['from'])} as ${s(r['caller'])}: ${s(r.msg)}`);
    default:
      if (r.level < 40 && !verbose) return undefined;
      return `${t}  ${(LEVELS[r.level] ?? String(r.level)) + ':'} ${s(r.msg)}`;
  }
}

/** A logger that writes `labLine`s to stdout. */
export function labLogger(level = 'info', out: NodeJS.WritableStream = process.stdout): Logger {
  const verbose = level === 'debug' || level === 'trace';
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const text of chunk.toString('utf8').split('\n')) {
        if (!text) continue;
        try {
          const l = labLine(JSON.parse(text) as Rec, verbose);
          if (l) out.write(l + '\n');
        } catch {
          out.write(text + '\n');
        }
      }
      done();
    },
  });
  return pino({ level }, sink);
}
