// `dcomlab dissect FILE`: one line (text) or one JSON object (jsonl) per DCE/RPC PDU.
import type { Command } from 'commander';
import { fstatSync } from 'node:fs';
import { dissectCapture, type PduRecord, type SyntaxRecord } from '../dissect/dissect';
import { hexDump } from '../dissect/stub';
import { findDefinition } from '../rpc/registry';
import { AUTH_LEVEL_NAMES, AUTH_TYPE_NAMES } from '../pdu';
import { SyncWriter } from './output';
import { jsonString } from '../base/json';
import { CliError } from './errors';
import { CaptureDecryptor, type DecryptSessionReport } from '../dissect/decrypt';
import { addDecryptOptions, decryptCredentialsFrom, type DecryptCliOptions } from './decrypt-options';

interface DissectCliOptions extends DecryptCliOptions {
  format: 'text' | 'jsonl';
  stats?: boolean;
  /** Decode stubs (commander's --no-stubs sets it false). */
  stubs?: boolean;
  verbose?: boolean;
  hex?: boolean;
}

export function registerDissect(program: Command): void {
  // `dissect -V` is --verbose, as in tshark; the program's own -V (--version) then counts only
  // before the command name (`dcomlab -V`), not after it.
  program.enablePositionalOptions();
  addDecryptOptions(program
    .command('dissect'))
    .description('print every connection-oriented DCE/RPC PDU of a pcap/pcapng(.gz) capture')
    .argument('<file>', 'capture file (pcap, pcapng, optionally gzip-compressed)')
    .option('-f, --format <format>', 'text (for people) or jsonl (one JSON object per PDU)', 'text')
    .option('--stats', 'print counts by PDU type and by interface/opnum at the end')
    .option('-V, --verbose', 'text: under each request/response, its stub decoded as a tree (interfaces dcomlab defines)')
    .option('-x, --hex', 'text: under each request/response, a hex dump of its (reassembled) stub')
    .option('--no-stubs', 'jsonl: leave stubs undecoded (no "stub" field; faster)')
    .action(async (file: string, o: DissectCliOptions) => {
      if (o.format !== 'text' && o.format !== 'jsonl') throw new CliError(`--format must be text or jsonl, not ${o.format}`);
      await runDissect(file, o);
    });
}

// A text line is "frame stream src → dst ptype call=N extra". The arrow is the only character
// past Latin-1, and one such character makes V8 build and encode the whole line as a two-byte
// string; so the line is written in three pieces, the "src → dst" column (the same for every
// PDU of a direction) encoded once per direction. Two slots: requests and responses alternate.
interface PairSlot { src: string; dst: string; bytes: Buffer }
const pairSlots: [PairSlot, PairSlot] = [{ src: '', dst: '', bytes: Buffer.alloc(0) }, { src: '', dst: '', bytes: Buffer.alloc(0) }];
let pairNext = 0;

/** The "src → dst" column, padded, with the space after it, as UTF-8. */
function pairColumn(r: PduRecord): Buffer {
  for (const slot of pairSlots) if (slot.src === r.src && slot.dst === r.dst) return slot.bytes;
  const slot = pairSlots[pairNext]!;
  pairNext ^= 1;
  slot.src = r.src;
  slot.dst = r.dst;
  slot.bytes = Buffer.from(`${r.src} → ${r.dst}`.padEnd(47) + ' ', 'utf8');
  return slot.bytes;
}

function writeTextLine(out: SyncWriter, r: PduRecord): void {
  out.write(String(r.frame).padStart(6) + ' ' + String(r.stream).padStart(4) + ' ');
  out.bytes(pairColumn(r));
  out.line(textLineRest(r));
}

/** The text line after the "src → dst" column. */
function textLineRest(r: PduRecord): string {
  let s = r.ptypeName.padEnd(18) + ' ' + `call=${r.callId}`.padEnd(11); // no space: the column is padded
  if (r.ctxId !== undefined) s += `ctx=${r.ctxId} `;
  if (r.interface) s += (r.interface.name ?? `${r.interface.uuid} v${r.interface.version}`) + ' ';
  if (r.opnum !== undefined) s += (r.operation ? `${r.operation}(${r.opnum})` : `opnum=${r.opnum}`) + ' ';
  if (r.contexts) {
    s += r.contexts
      .map((c) => `[${c.ctxId}] ${c.abstractSyntax.name ?? c.abstractSyntax.uuid} v${c.abstractSyntax.version}`)
      .join(', ') + ' ';
  }
  if (r.results) s += r.results.map((x) => x.reasonName ? `${x.resultName}(${x.reasonName})` : x.resultName).join(', ') + ' ';
  if (r.status !== undefined) s += (r.statusName ? `${r.statusName} 0x${r.status.toString(16).padStart(8, '0')}` : `0x${r.status.toString(16).padStart(8, '0')}`) + ' ';
  if (r.authLevel !== undefined) s += `auth=${AUTH_TYPE_NAMES[r.authType!] ?? r.authType}/${AUTH_LEVEL_NAMES[r.authLevel] ?? r.authLevel} `;
  s += `len=${r.fragLength}`;
  if (r.error) s += ` !! ${r.error}`;
  return s;
}

// The JSON of a syntax, made once per SyntaxRecord (dissect hands out one object per syntax).
const SYNTAX_JSON = new WeakMap<SyntaxRecord, string>();
function syntaxJson(x: SyntaxRecord): string {
  let s = SYNTAX_JSON.get(x);
  if (s === undefined) {
    // Names can be registered by library users: quote them properly.
    s = x.name !== undefined
      ? `{"uuid":"${x.uuid}","version":"${x.version}","name":${jsonString(x.name)}}`
      : `{"uuid":"${x.uuid}","version":"${x.version}"}`;
    SYNTAX_JSON.set(x, s);
  }
  return s;
}

// The JSON of a bind's or an ack's list, made once per list: dissect gives the records of PDUs
// with the same body the same (frozen) list.
const LIST_JSON = new WeakMap<object, string>();

function contextsJson(cs: NonNullable<PduRecord['contexts']>): string {
  const known = LIST_JSON.get(cs);
  if (known !== undefined) return known;
  let s = '[';
  for (let i = 0; i < cs.length; i++) {
    const c = cs[i]!;
    if (i > 0) s += ',';
    s += `{"ctxId":${c.ctxId},"abstractSyntax":${syntaxJson(c.abstractSyntax)},"transferSyntaxes":[`;
    const ts = c.transferSyntaxes;
    for (let j = 0; j < ts.length; j++) s += j > 0 ? ',' + syntaxJson(ts[j]!) : syntaxJson(ts[j]!);
    s += ']}';
  }
  s += ']';
  LIST_JSON.set(cs, s);
  return s;
}

/** In the key order of the objects dissect makes (reasonName is added last). */
function resultsJson(rs: NonNullable<PduRecord['results']>): string {
  const known = LIST_JSON.get(rs);
  if (known !== undefined) return known;
  let s = '[';
  for (let i = 0; i < rs.length; i++) {
    const r = rs[i]!;
    if (i > 0) s += ',';
    s += `{"result":${r.result},"resultName":"${r.resultName}","reason":${r.reason},"transferSyntax":${syntaxJson(r.transferSyntax)}`;
    s += r.reasonName !== undefined ? `,"reasonName":"${r.reasonName}"}` : '}';
  }
  s += ']';
  LIST_JSON.set(rs, s);
  return s;
}

/**
 * One jsonl line, written by hand: this runs once per PDU and JSON.stringify was a seventh of
 * dissect's time (a bind's nested lists alone cost ~1 µs that way). Every string here is one we
 * made (addresses, ISO times, names from our tables, hex), so none needs escaping; the error
 * texts, registered interface names and the stub's strings go through jsonString, which escapes
 * non-ASCII characters, so the line is ASCII (written with SyncWriter.asciiLine). It parses to
 * exactly what JSON.stringify(record) gives (a test checks every record of every capture).
 */
export function recordJson(r: PduRecord): string {
  let s = `{"frame":${r.frame},"stream":${r.stream},"src":"${r.src}","dst":"${r.dst}","time":"${r.time}","ptype":${r.ptype},"ptypeName":"${r.ptypeName}","flags":${r.flags},"drep":"${r.drep}","fragLength":${r.fragLength},"authLength":${r.authLength},"callId":${r.callId}`;
  if (r.error !== undefined) s += `,"error":${jsonString(r.error)}`;
  if (r.authType !== undefined) s += `,"authType":${r.authType},"authLevel":${r.authLevel},"authContextId":${r.authContextId}`;
  if (r.ctxId !== undefined) s += `,"ctxId":${r.ctxId}`;
  if (r.opnum !== undefined) s += `,"opnum":${r.opnum}`;
  if (r.allocHint !== undefined) s += `,"allocHint":${r.allocHint}`;
  if (r.object !== undefined) s += `,"object":"${r.object}"`;
  if (r.stubLength !== undefined) s += `,"stubLength":${r.stubLength}`;
  if (r.interface !== undefined) s += `,"interface":${syntaxJson(r.interface)}`;
  if (r.operation !== undefined) s += `,"operation":"${r.operation}"`;
  if (r.status !== undefined) s += `,"status":${r.status}`;
  if (r.statusName !== undefined) s += `,"statusName":"${r.statusName}"`;
  if (r.contexts !== undefined) s += `,"contexts":${contextsJson(r.contexts)}`;
  if (r.results !== undefined) s += `,"results":${resultsJson(r.results)}`;
  if (r.reassembled !== undefined) s += `,"reassembled":{"fragments":${r.reassembled.fragments},"stubLength":${r.reassembled.stubLength}}`;
  if (r.stubSealed !== undefined) s += `,"stubSealed":${r.stubSealed}`;
  if (r.decrypted !== undefined) s += `,"decrypted":${r.decrypted}`;
  if (r.verified !== undefined) s += `,"verified":${r.verified}`;
  if (r.decryptError !== undefined) s += `,"decryptError":${jsonString(r.decryptError)}`;
  if (r.stubSkipped !== undefined) s += `,"stubSkipped":${jsonString(r.stubSkipped)}`;
  if (r.stubError !== undefined) s += `,"stubError":${jsonString(r.stubError)}`;
  if (r.stub !== undefined) s += `,"stub":${r.stub.json()}`;
  return s + '}';
}

const TREE_INDENT = 4;

/** `-V` and `-x`: what goes under a request's or response's line. */
function stubLines(r: PduRecord, stub: Buffer | undefined, o: DissectCliOptions): string[] {
  if (r.ptype !== 0 && r.ptype !== 2) return [];
  const out: string[] = [];
  const pad = ' '.repeat(TREE_INDENT);
  if (o.verbose) {
    if (r.reassembled) out.push(`${pad}[reassembled from ${r.reassembled.fragments} fragments: ${r.reassembled.stubLength} bytes of stub]`);
    if (r.decryptError !== undefined) out.push(`${pad}!! not unsealed: ${r.decryptError}`);
    else if (r.decrypted) out.push(`${pad}[unsealed${r.verified ? ', signature verified' : ', signature NOT verified'}]`);
    else if (r.verified !== undefined) out.push(`${pad}[signature ${r.verified ? 'verified' : 'NOT verified'}]`);
    if (r.stubSealed) out.push(`${pad}stub sealed (${r.stubLength} bytes, auth level privacy)`);
    else if (r.stubSkipped !== undefined) out.push(`${pad}stub not decoded: ${r.stubSkipped}`);
    else if (r.stubError !== undefined) out.push(`${pad}!! stub: ${r.stubError}`);
    if (r.stub !== undefined) out.push(...r.stub.tree(TREE_INDENT / 2));
    else if (stub !== undefined && !r.stubSealed && r.stubSkipped === undefined && r.stubError === undefined) {
      const why = !r.interface
        ? 'no bind for its context in the capture'
        : !findDefinition(r.interface.uuid)
          ? 'interface not defined by dcomlab'
          : r.opnum === undefined
            ? 'its request is not in the capture'
            : 'operation not defined by dcomlab';
      out.push(`${pad}stub: ${stub.length} bytes (${why}${o.hex ? '' : '; -x dumps it'})`);
    }
  }
  if (o.hex && stub !== undefined && stub.length > 0) out.push(...hexDump(stub, TREE_INDENT / 2));
  return out;
}

/** One line per NTLM session: who, and whether its PDUs decrypted and verified (never a secret). */
function sessionLine(s: DecryptSessionReport): string {
  const who = s.user === undefined ? '(no AUTHENTICATE seen)' : s.user === '' ? 'ANONYMOUS' : `${s.domain ? s.domain + '\\' : ''}${s.user}`;
  const what = s.decryptable ? `decryptable, ${s.verified} verified, ${s.failed} failed` : `not decryptable: ${s.reason ?? s.status}`;
  return `stream ${s.stream} context ${s.authContextId} ${s.mechanism} ${who}${s.flavour ? ` (${s.flavour})` : ''}: ${what}`;
}

/** Whether two file descriptors are the same open file (a terminal, a pipe, a file). */
function sameFile(a: number, b: number): boolean {
  try {
    const x = fstatSync(a);
    const y = fstatSync(b);
    return x.dev === y.dev && x.ino === y.ino;
  } catch {
    return false;
  }
}

export async function runDissect(file: string, o: DissectCliOptions): Promise<void> {
  const out = new SyncWriter(1);
  const byType = new Map<string, number>();
  const byOp = new Map<string, number>();
  const text = o.format === 'text';
  const decodeStubs = o.stubs !== false && (!text || o.verbose === true || o.hex === true);
  const below = text && (o.verbose === true || o.hex === true);
  // With credentials, NTLM-protected PDUs are unsealed and verified (per session, in order).
  const creds = decryptCredentialsFrom(o);
  // Each session is reported when its TCP stream ends (and the rest at the end of the file), so
  // memory does not grow with the number of sessions: stderr in text, a line of its own in jsonl.
  // Where stdout and stderr are one terminal or file (2>&1), the lines before go out first.
  const oneSink = text && sameFile(1, 2);
  const decryptor = creds.length
    ? new CaptureDecryptor(creds, {
      onSessionEnd: (s) => {
        if (!text) out.line(JSON.stringify({ decryption: s }));
        else {
          if (oneSink) out.flush();
          process.stderr.write(`decryption: ${sessionLine(s)}\n`);
        }
      },
    })
    : undefined;
  const summary = await dissectCapture(
    file,
    (r, _pdu, _bytes, stub) => {
      if (!text) out.asciiLine(recordJson(r));
      else {
        writeTextLine(out, r);
        if (below) for (const l of stubLines(r, stub, o)) out.line(l);
      }
      if (o.stats) {
        byType.set(r.ptypeName, (byType.get(r.ptypeName) ?? 0) + 1);
        if (r.ptype === 0) {
          const ifname = r.interface ? r.interface.name ?? `${r.interface.uuid} v${r.interface.version}` : 'unknown interface';
          const key = r.operation ? `${ifname} ${r.operation} (opnum ${r.opnum})` : `${ifname} opnum ${r.opnum}`;
          byOp.set(key, (byOp.get(key) ?? 0) + 1);
        }
      }
    },
    {
      onWarning: (w) => process.stderr.write(`warning: ${file}: frame ${w.frame}, offset ${w.offset}: ${w.what}\n`),
      decodePdus: false, // only the records are printed
      decodeStubs,
      ...(decryptor ? {
        unprotectBytes: (stream, dir, bytes) => decryptor.unprotect(stream, dir, bytes),
        onAuthPdu: (stream, dir, bytes, pdu) => decryptor.observe(stream, dir, bytes, pdu),
        onStreamClose: (stream) => decryptor.endStream(stream),
      } : {}),
    },
  );
  decryptor?.finish();
  if (o.stats) {
    const lines: string[] = [];
    const sorted = (m: Map<string, number>) => [...m.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
    if (o.format === 'jsonl') {
      out.line(JSON.stringify({
        stats: {
          pdus: summary.pdus, packets: summary.capture.packets, streams: summary.streams, dcerpcStreams: summary.dcerpcStreams,
          skippedSmbStreams: summary.skippedSmbStreams, gaps: summary.gaps,
          byType: Object.fromEntries(sorted(byType)), byOperation: Object.fromEntries(sorted(byOp)),
        },
      }));
    } else {
      const n = (k: number, one: string, many = `${one}s`) => `${k} ${k === 1 ? one : many}`;
      lines.push('', `${n(summary.pdus, 'PDU')} in ${n(summary.dcerpcStreams, 'DCE/RPC stream')} (${n(summary.capture.packets, 'packet')}, ${n(summary.streams, 'TCP stream')})`);
      if (summary.skippedSmbStreams) lines.push(`${summary.skippedSmbStreams} SMB streams skipped (DCE/RPC over named pipes is out of scope)`);
      if (summary.gaps) lines.push(`${summary.gaps} gaps in TCP streams (missing segments); PDUs resynchronised after each`);
      lines.push('', 'by PDU type:');
      for (const [k, v] of sorted(byType)) lines.push(`  ${String(v).padStart(8)}  ${k}`);
      if (byOp.size) {
        lines.push('', 'requests by interface and opnum:');
        for (const [k, v] of sorted(byOp)) lines.push(`  ${String(v).padStart(8)}  ${k}`);
      }
      for (const l of lines) out.line(l);
    }
  } else if (summary.skippedSmbStreams && o.format === 'text') {
    out.flush();
    process.stderr.write(`note: ${summary.skippedSmbStreams} SMB streams skipped (DCE/RPC over named pipes is out of scope)\n`);
  }
  out.flush();
}
