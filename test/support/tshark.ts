// tshark (Wireshark 4.0) as the oracle for captures.
//
// Facts this relies on (tshark 4.0.17, Debian 12):
// - DCE/RPC on a TCP port other than 135 is found by the "dcerpc_tcp" heuristic, which is on by default;
//   it is enabled explicitly here anyway, so that a user's Wireshark profile cannot turn it off.
// - `-T json` repeats a key when a tree has two items of one name (two DCE/RPC PDUs in one frame, two
//   auth_info items...), and JSON.parse would keep only the last. `--no-duplicate-keys` merges them into
//   an array instead: `layers.dcerpc` is then an array of PDUs, in frame order.
// - `-J 'frame dcerpc'` keeps those layers' whole subtrees and leaves out the rest (about 1/3 the size).
import { execFileSync } from 'node:child_process';

export const TSHARK = 'tshark';

/** Options on every tshark run: no name resolution, DCE/RPC heuristic on for non-standard ports. */
const BASE_ARGS = ['-n', '--enable-heuristic', 'dcerpc_tcp'];

const MAX_BUFFER = 512 * 1024 * 1024;

/** Filter for DCE/RPC PDUs carried by TCP directly (not inside SMB named pipes). */
export const DCERPC_NOT_SMB = 'dcerpc && !smb && !smb2';

export interface TsharkPdu {
  /** Frame number (1-based) of the frame in which tshark shows this PDU (the last segment, if reassembled). */
  frame: number;
  ptype: number;
  callId: number;
  fragLength: number;
  authLength: number;
  /** p_cont_id, only for request (0), response (2) and fault (3). */
  ctxId?: number;
  /** Only where tshark knows it (requests; responses/faults whose request it saw). */
  opnum?: number;
  /** From the sec_trailer, when the PDU has one. */
  authType?: number;
  authLevel?: number;
}

/** Runs tshark with the base options and returns its stdout; throws with tshark's stderr on failure. */
export function runTshark(args: string[]): string {
  try {
    return execFileSync(TSHARK, [...BASE_ARGS, ...args], {
      encoding: 'utf8',
      maxBuffer: MAX_BUFFER,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string; status?: number | null };
    const stderr = (e.stderr ?? '')
      .split('\n')
      .filter((l) => l && !l.startsWith('Running as user'))
      .join('\n');
    throw new Error(
      `tshark ${args.join(' ')} failed (${e.code === 'ENOENT' ? 'tshark not installed' : `exit ${e.status}`}): ${stderr || e.message}`,
    );
  }
}

type Json = string | number | boolean | null | Json[] | { [k: string]: Json };
type JsonObject = { [k: string]: Json };

const isObject = (v: Json | undefined): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A field directly in `obj` (first value if tshark merged several into an array). */
function direct(obj: JsonObject, key: string): string | undefined {
  let v = obj[key];
  while (Array.isArray(v)) v = v.find((x) => typeof x === 'string' && x !== '') ?? v[0];
  return typeof v === 'string' ? v : undefined;
}

/** A field anywhere under `v` (depth first, first match). */
function deep(v: Json | undefined, key: string): string | undefined {
  if (Array.isArray(v)) {
    for (const x of v) {
      const r = deep(x, key);
      if (r !== undefined) return r;
    }
  } else if (isObject(v)) {
    const here = direct(v, key);
    if (here !== undefined) return here;
    for (const x of Object.values(v)) {
      const r = deep(x, key);
      if (r !== undefined) return r;
    }
  }
  return undefined;
}

function toNumber(text: string): number {
  return text.startsWith('0x') ? parseInt(text, 16) : Number(text);
}

/**
 * Port-registered dissectors that take DCE/RPC streams before tshark's DCE/RPC heuristic runs:
 * zeek/mapi.pcap talks MS-RPC on TCP 1153, which tshark hands to ANSI C12.22 and marks malformed.
 * With them off, tshark's own DCE/RPC dissection of those streams is the oracle.
 */
export const NON_DCERPC_PORT_DISSECTORS: readonly string[] = ['c1222'];

/**
 * Every connection-oriented DCE/RPC PDU that tshark finds outside SMB, in order: several PDUs in one
 * frame come out as several entries with the same `frame`. Plain or gzipped pcap/pcapng.
 */
export function tsharkPdus(file: string, opts: { disableProtocols?: readonly string[] } = {}): TsharkPdu[] {
  const disable = (opts.disableProtocols ?? []).flatMap((p) => ['--disable-protocol', p]);
  const out = runTshark(['-r', file, ...disable, '-Y', DCERPC_NOT_SMB, '-T', 'json', '--no-duplicate-keys', '-J', 'frame dcerpc']);
  const packets = JSON.parse(out || '[]') as Json[];
  const pdus: TsharkPdu[] = [];
  for (const packet of packets) {
    const layers = isObject(packet) && isObject(packet._source) ? packet._source.layers : undefined;
    if (!isObject(layers) || !isObject(layers.frame)) throw new Error(`${file}: unexpected tshark JSON shape`);
    const frame = Number(direct(layers.frame, 'frame.number'));
    const dcerpc = layers.dcerpc;
    const list = (Array.isArray(dcerpc) ? dcerpc : [dcerpc]).filter(isObject);
    for (const pdu of list) {
      const need = (key: string): number => {
        const v = direct(pdu, key);
        if (v === undefined) throw new Error(`${file} frame ${frame}: DCE/RPC PDU without ${key} (connectionless?)`);
        return toNumber(v);
      };
      const optional = (v: string | undefined) => (v === undefined ? undefined : toNumber(v));
      const ptype = need('dcerpc.pkt_type');
      const p: TsharkPdu = {
        frame,
        ptype,
        callId: need('dcerpc.cn_call_id'),
        fragLength: need('dcerpc.cn_frag_len'),
        authLength: need('dcerpc.cn_auth_len'),
      };
      if (ptype === 0 || ptype === 2 || ptype === 3) {
        const ctx = optional(direct(pdu, 'dcerpc.cn_ctx_id'));
        if (ctx !== undefined) p.ctxId = ctx;
      }
      const opnum = optional(direct(pdu, 'dcerpc.opnum'));
      if (opnum !== undefined) p.opnum = opnum;
      const authType = optional(deep(pdu, 'dcerpc.auth_type'));
      if (authType !== undefined) p.authType = authType;
      const authLevel = optional(deep(pdu, 'dcerpc.auth_level'));
      if (authLevel !== undefined) p.authLevel = authLevel;
      pdus.push(p);
    }
  }
  return pdus;
}

/**
 * `tshark -T fields`: one row per displayed frame, one cell per field (tab-separated by tshark).
 * A field that occurs several times in a frame gives its values joined by ",".
 */
export function tsharkFields(file: string, fields: string[], filter?: string): string[][] {
  const args = ['-r', file, '-T', 'fields', '-E', 'header=n', '-E', 'occurrence=a', '-E', 'aggregator=,'];
  for (const f of fields) args.push('-e', f);
  if (filter) args.push('-Y', filter);
  const out = runTshark(args);
  const lines = out.split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines.map((l) => l.split('\t'));
}

const SEVERITY_ERROR = 0x00800000;
const AGG = '\x1f';

/** Frames tshark marks malformed (any protocol), and every expert item of severity "error" ("frame N: message"). */
export function tsharkExpert(file: string): { malformed: number; errors: string[] } {
  const args = [
    '-r', file, '-Y', '_ws.malformed || _ws.expert.severity == error',
    '-T', 'fields', '-E', 'header=n', '-E', 'occurrence=a', '-E', `aggregator=${AGG}`,
    '-e', 'frame.number', '-e', '_ws.malformed', '-e', '_ws.expert.message', '-e', '_ws.expert.severity',
  ];
  let malformed = 0;
  const errors: string[] = [];
  for (const line of runTshark(args).split('\n')) {
    if (!line) continue;
    const [frame, mal = '', messages = '', severities = ''] = line.split('\t');
    if (mal !== '') malformed++;
    const msgs = messages.split(AGG);
    severities.split(AGG).forEach((sev, i) => {
      if (toNumber(sev) === SEVERITY_ERROR) errors.push(`frame ${frame}: ${msgs[i] ?? ''}`);
    });
  }
  return { malformed, errors };
}
