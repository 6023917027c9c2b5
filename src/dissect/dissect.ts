// Capture → TCP streams → PDUs → one record per PDU, in capture order. The association state
// kept per stream (contexts from binds, opnums by call id) is what lets a response name its
// interface and operation, as the runtime's association does for a live connection.
import { CaptureError, PduDecodeError } from '../base/errors';
import { statusName, nameAt, BindNakReason, ContResult, ProviderReason } from '../base/status';
import { decodeTcpAt, readCapture, TcpReassembler, TcpSegmentView, type CaptureSummary, type CaptureWarning, type DataRange, type StreamEvent } from '../capture';
import { decodeHeader, decodePdu, NDR64, PduFramer, PduSummary, PTYPE_NAMES, readPduSummary, summaryObject, type Pdu, type SyntaxId } from '../pdu';
import { interfaceName } from '../rpc/known-interfaces';
import { findDefinition, operationName } from '../rpc/registry';
import { registerDcomDefinitions } from '../dcom';
import * as ndr from '../ndr';
import { DecodedStub } from './stub';

export { DecodedStub } from './stub';

// The dissector names DCOM operations with the same definitions the runtime serves.
registerDcomDefinitions();

export interface SyntaxRecord {
  uuid: string;
  version: string;
  name?: string;
}

/** One PDU as dissect reports it. The optional fields that do not apply are present and undefined. */
export interface PduRecord {
  frame: number;
  stream: number;
  src: string;
  dst: string;
  time: string;
  ptype: number;
  ptypeName: string;
  flags: number;
  drep: string;
  fragLength: number;
  authLength: number;
  callId: number;
  ctxId?: number;
  opnum?: number;
  allocHint?: number;
  object?: string;
  status?: number;
  statusName?: string;
  authType?: number;
  authLevel?: number;
  authContextId?: number;
  contexts?: Array<{ ctxId: number; abstractSyntax: SyntaxRecord; transferSyntaxes: SyntaxRecord[] }>;
  results?: Array<{ result: number; resultName: string; reason: number; reasonName?: string; transferSyntax: SyntaxRecord }>;
  interface?: SyntaxRecord;
  /** The operation's IDL name, when the interface is one dcomlab defines. */
  operation?: string;
  stubLength?: number;
  /** Why the body could not be decoded (header fields above are still right). */
  error?: string;
  /**
   * With `decodeStubs`: the stub of a request or response decoded with its operation's definition
   * (on the last fragment of a fragmented call, for the whole reassembled stub). JSON.stringify
   * gives its JSON form; `stub.tree()` the lines of `dissect -V`.
   */
  stub?: DecodedStub;
  /** Why the stub could not be decoded (an NdrDecodeError's message, a reassembly problem). */
  stubError?: string;
  /**
   * Why the stub of an operation dcomlab defines was left undecoded although it is well formed
   * as far as dcomlab knows: the context negotiated NDR64, which dcomlab does not implement.
   */
  stubSkipped?: string;
  /** The stub is sealed (auth level privacy) and no `unprotect` hook unsealed it. */
  stubSealed?: boolean;
  /** The `unprotect` hook unsealed this PDU's stub. */
  decrypted?: boolean;
  /** What the `unprotect` hook said of the PDU's signature. */
  verified?: boolean;
  /** Why the `unprotect` hook could not unseal or verify this PDU. */
  decryptError?: string;
  /** On the last fragment of a fragmented call: how many fragments, and the whole stub's length. */
  reassembled?: { fragments: number; stubLength: number };
}

/** What an `unprotect` hook says of one protected PDU. */
export type UnprotectResult = { stub: Buffer; verified: boolean } | { error: string } | undefined;

export interface DissectSummary {
  capture: CaptureSummary;
  pdus: number;
  streams: number;
  dcerpcStreams: number;
  /** TCP streams carrying SMB (ports 139/445): DCE/RPC over named pipes is out of scope. */
  skippedSmbStreams: number;
  gaps: number;
  skippedBytes: number;
  warnings: CaptureWarning[];
}

export interface DissectOptions {
  onWarning?: (w: CaptureWarning) => void;
  /**
   * Hand `onRecord` each PDU decoded in full (default true). Records of requests, responses and
   * faults, most of a capture, are made from a non-allocating read of the PDU; decoding those in
   * full only for the callback cost ~8% of `dissect --format jsonl`'s time on the synthetic
   * capture, so a caller that reads only the records passes false (`pdu` is then undefined).
   */
  decodePdus?: boolean;
  /**
   * Decode request and response stubs with the definitions of the interfaces dcomlab defines
   * (the runtime's own, from rpc/registry): `PduRecord.stub`, `stubError`, `reassembled`.
   * Fragmented stubs are reassembled per stream, direction and call id and decoded at the last
   * fragment; a response is decoded with its request's scalar [in] parameters in scope. Off by
   * default: the records are then made exactly as before, at the same speed.
   */
  decodeStubs?: boolean;
  /**
   * Unseal / verify one protected PDU (a request, response or fault whose auth_length is not 0),
   * for the decryption module. Called for every such PDU in capture order (fragments included,
   * whether or not the interface is known, so that sequence numbers and cipher state advance), with
   * the stream, the direction (0 = from the side that opened the TCP connection) and the PDU's
   * bytes and decoding. Return the plaintext stub (auth padding removed) and whether the signature
   * verified; `{ error }` when it cannot; undefined when it has nothing to say (no keys). Without
   * this hook, or when it returns undefined, a privacy-level stub is reported as `stubSealed`.
   */
  unprotect?: (stream: number, dir: 0 | 1, bytes: Buffer, pdu: Pdu) => UnprotectResult;
  /**
   * `unprotect` without the PDU's decoding (the hook decodes what it needs from `bytes`, e.g.
   * CaptureDecryptor.unprotect without its `pdu`, which decodes only PDUs it has keys for);
   * used instead of `unprotect` when given. Saves decoding every protected PDU in full.
   */
  unprotectBytes?: (stream: number, dir: 0 | 1, bytes: Buffer) => UnprotectResult;
  /**
   * Each bind, bind_ack, alter_context, alter_context_resp and auth3 that carries a verifier
   * (the security handshake), before its record and before any later PDU of the stream: what a
   * decryption module learns its keys from.
   */
  onAuthPdu?: (stream: number, dir: 0 | 1, bytes: Buffer, pdu: Pdu) => void;
  /** A TCP stream ended (FIN/RST, a new SYN on its tuple, eviction): its per-stream state can go. */
  onStreamClose?: (stream: number) => void;
}

const SMB_PORTS = new Set([139, 445]);

/** "major.minor" from an if_version field (major in the low 16 bits). */
export function versionString(v: number): string {
  return `${v & 0xffff}.${v >>> 16}`;
}

/** Syntaxes seen, by uuid then if_version: binds repeat the same few. */
const SYNTAXES = new Map<string, Map<number, KnownContext>>();
let syntaxCount = 0;

/** What the dissector knows of a syntax, made once per uuid+version (bounded: forgotten past 4096). */
function knownContext(s: SyntaxId): KnownContext {
  let byVersion = SYNTAXES.get(s.uuid);
  if (byVersion === undefined) {
    if (syntaxCount >= 4096) {
      SYNTAXES.clear();
      syntaxCount = 0;
    }
    byVersion = new Map();
    SYNTAXES.set(s.uuid, byVersion);
  }
  let k = byVersion.get(s.version);
  if (k === undefined) {
    const name = interfaceName(s.uuid);
    const version = versionString(s.version);
    const record: SyntaxRecord = name ? { uuid: s.uuid, version, name } : { uuid: s.uuid, version };
    k = { syntax: s, record, opNames: [] };
    byVersion.set(s.version, k);
    syntaxCount++;
  }
  return k;
}

/** The printed form of a syntax. */
function syntaxRecord(s: SyntaxId): SyntaxRecord {
  return knownContext(s).record;
}

interface Direction {
  framer: PduFramer<number>;
  src: string;
  dst: string;
}

/** A syntax as the dissector knows it, with what it prints computed once. */
interface KnownContext {
  syntax: SyntaxId;
  record: SyntaxRecord;
  /** Operation names by opnum (undefined = not looked up yet, null = none). */
  opNames: Array<string | null | undefined>;
  /** Operation definitions by opnum, for stub decoding (undefined = not looked up yet, null = none). */
  ops?: Array<ndr.Op | null | undefined>;
}

interface StreamState {
  id: number;
  smb: boolean;
  dirs: [Direction, Direction] | null;
  /** ctxId → the abstract syntax bound by a bind/alter_context (client side). */
  contexts: Map<number, KnownContext>;
  /** callId → opnum of its request, so responses and faults can name it. */
  opnums: Map<number, number>;
  tsSec: number;
  tsNsec: number;
  sawPdu: boolean;
  /** Stub reassembly and request scopes (only with decodeStubs). */
  calls: StubCalls | undefined;
}

/** A fragmented stub being reassembled. */
interface PendingStub {
  parts: Buffer[];
  size: number;
}

interface StubCalls {
  /** The contexts of the last bind/alter_context, in order, for its ack's results. */
  offered: ReadonlyArray<readonly [number, KnownContext]>;
  /** Contexts whose accepted transfer syntax is NDR64. */
  ndr64: Set<number>;
  /** Per direction: call id → the fragments so far. */
  frags: [Map<number, PendingStub>, Map<number, PendingStub>];
  /** call id → the request's scalar [in] parameters, for its response's size_is and friends. */
  scopes: Map<number, Record<string, unknown>>;
}

const MAX_TRACKED_CALLS = 4096;
/** Request scopes kept per stream until their responses (forgotten all at once past this). */
const MAX_SCOPES_PER_STREAM = 256;
/** Fragmented calls in progress per stream and direction (past it, the oldest is forgotten). */
const MAX_PENDING_PER_DIRECTION = 16;
/** One call's reassembled stub, and all stubs in reassembly at once across the capture. */
const MAX_STUB_SIZE = 16 * 1024 * 1024;
const MAX_PENDING_BYTES = 64 * 1024 * 1024;

const ZEROS = ['', '0', '00', '000', '0000', '00000', '000000', '0000000', '00000000'];
let cachedSec = NaN;
let cachedPrefix = '';
let cachedNsec = NaN;
let cachedTime = '';
/**
 * ISO 8601 with nanoseconds. The date part is cached per second (captures are mostly in order),
 * and the whole string for the last timestamp (the PDUs of one segment share it).
 */
function isoTime(sec: number, nsec: number): string {
  if (sec !== cachedSec) {
    cachedSec = sec;
    cachedPrefix = new Date(sec * 1000).toISOString().slice(0, 19) + '.'; // 2020-01-01T00:00:00.
    cachedNsec = NaN;
  }
  if (nsec !== cachedNsec) {
    cachedNsec = nsec;
    const digits = String(nsec);
    cachedTime = digits.length < 9 ? cachedPrefix + ZEROS[9 - digits.length] + digits + 'Z' : cachedPrefix + digits + 'Z';
  }
  return cachedTime;
}

/** The operation's definition, when the interface is one dcomlab defines. */
function opDef(k: KnownContext, opnum: number): ndr.Op | undefined {
  const ops = (k.ops ??= []);
  let o = ops[opnum];
  if (o === undefined) {
    o = (findDefinition(k.syntax.uuid, k.syntax.version)?.byOpnum(opnum) as ndr.Op | undefined) ?? null;
    if (opnum < 65536) ops[opnum] = o;
  }
  return o ?? undefined;
}

function opName(k: KnownContext, opnum: number): string | undefined {
  let n = k.opNames[opnum];
  if (n === undefined) {
    n = operationName(k.syntax.uuid, opnum, k.syntax.version) ?? null;
    k.opNames[opnum] = n;
  }
  return n ?? undefined;
}

/** Streams open at once, and closed tuples remembered for tshark-like stream numbering. */
const MAX_OPEN_STREAMS = 2048;
const MAX_CLOSED_STREAMS = 8192;

/**
 * Dissect every connection-oriented DCE/RPC PDU in a capture file, calling `onRecord` for each,
 * in the order the PDUs complete in the file. Memory is bounded by the streams open at once.
 */
export async function dissectCapture(
  path: string,
  onRecord: (r: PduRecord, pdu: Pdu | undefined, bytes: Buffer, stub?: Buffer) => void,
  opts: DissectOptions = {},
): Promise<DissectSummary> {
  const streams = new Map<number, StreamState>();
  let pdus = 0;
  let gaps = 0;
  let skippedBytes = 0;
  let dcerpcStreams = 0;
  let skippedSmbStreams = 0;
  let streamCount = 0;
  const warnings: CaptureWarning[] = [];

  const decodePdus = opts.decodePdus ?? true;
  const decodeStubs = opts.decodeStubs === true;
  const unprotectBytes = opts.unprotectBytes;
  const unprotect = opts.unprotect;
  const unprotecting = unprotect !== undefined || unprotectBytes !== undefined;
  const onAuthPdu = opts.onAuthPdu;
  const stubsOn = decodeStubs || unprotecting || onAuthPdu !== undefined;
  let pendingBytes = 0;
  const sum = new PduSummary();

  const streamCalls = (st: StreamState): StubCalls =>
    (st.calls ??= { offered: [], ndr64: new Set(), frags: [new Map(), new Map()], scopes: new Map() });

  /** The transfer syntax each context of a bind/alter_context was accepted with (NDR64 or not). */
  const trackTransfer = (st: StreamState, d: BindDescription) => {
    const calls = streamCalls(st);
    if (d.contexts !== undefined) calls.offered = d.bound;
    else if (d.results !== undefined) {
      d.results.forEach((r, i) => {
        const offered = calls.offered[i];
        if (offered === undefined || r.result !== 0) return;
        if (r.transferSyntax.uuid === NDR64.uuid) calls.ndr64.add(offered[0]);
        else calls.ndr64.delete(offered[0]);
      });
    }
  };

  /** Forget a call's fragments, giving their bytes back to the budget. */
  const dropPending = (m: Map<number, PendingStub>, callId: number) => {
    const p = m.get(callId);
    if (p !== undefined) {
      pendingBytes -= p.size;
      m.delete(callId);
    }
  };

  /**
   * The stub of a request, response or fault (from `sum`): unprotected, reassembled and decoded
   * into `rec`. Returns the whole plaintext stub when one is complete.
   */
  const stubOf = (st: StreamState, dirIdx: 0 | 1, bytes: Buffer, rec: PduRecord, pdu: Pdu | undefined): Buffer | undefined => {
    const ptype = sum.ptype;
    const flags = sum.flags;
    const callId = sum.callId;
    const le = sum.le;
    const authLength = sum.authLength;
    const level = sum.authLevel;
    let stub = bytes.subarray(sum.stubOffset, sum.bodyEnd);
    let sealed = false;
    if (authLength > 0) {
      if (unprotecting) {
        let r: UnprotectResult;
        try {
          r = unprotectBytes !== undefined
            ? unprotectBytes(st.id, dirIdx, bytes)
            : unprotect!(st.id, dirIdx, bytes, pdu ?? decodePdu(bytes, 0));
        } catch (e) {
          r = { error: e instanceof Error ? e.message : String(e) };
        }
        if (r === undefined) sealed = level >= 6;
        else if ('error' in r) {
          rec.decryptError = r.error;
          sealed = level >= 6;
        } else {
          stub = r.stub;
          if (level >= 6) rec.decrypted = true;
          rec.verified = r.verified;
        }
      } else sealed = level >= 6;
    }
    if (!decodeStubs) return undefined;
    const calls = streamCalls(st);
    const frags = calls.frags[dirIdx];
    if (sealed || ptype === 3) {
      if (sealed) rec.stubSealed = true;
      dropPending(frags, callId);
      if (ptype === 3) calls.scopes.delete(callId);
      return undefined;
    }
    // Reassembly (C706 12.6.2): FIRST starts a call's stub, LAST completes it.
    let whole: Buffer;
    if ((flags & 3) === 3) whole = stub;
    else {
      let p = frags.get(callId);
      if (flags & 1) {
        dropPending(frags, callId);
        // Calls whose last fragment never came (lost segments) make room for new ones, oldest first.
        if (frags.size >= MAX_PENDING_PER_DIRECTION) dropPending(frags, frags.keys().next().value as number);
        p = { parts: [], size: 0 };
        frags.set(callId, p);
      } else if (p === undefined) {
        rec.stubError = 'a fragment whose first fragment is not in the capture';
        return undefined;
      }
      if (p.size + stub.length > MAX_STUB_SIZE || pendingBytes + stub.length > MAX_PENDING_BYTES) {
        dropPending(frags, callId);
        rec.stubError = `stub reassembly limit reached (${MAX_STUB_SIZE} bytes per call, ${MAX_PENDING_BYTES} in all)`;
        return undefined;
      }
      p.parts.push(Buffer.from(stub));
      p.size += stub.length;
      pendingBytes += stub.length;
      if ((flags & 2) === 0) return undefined;
      whole = Buffer.concat(p.parts, p.size);
      rec.reassembled = { fragments: p.parts.length, stubLength: p.size };
      dropPending(frags, callId);
    }
    if (ptype === 0) calls.scopes.delete(callId); // a new call with this id: its old scope is stale
    const opnum = rec.opnum;
    const k = rec.ctxId !== undefined ? st.contexts.get(rec.ctxId) : undefined;
    if (k === undefined || opnum === undefined) return whole;
    const op = opDef(k, opnum);
    if (op === undefined) return whole;
    if (calls.ndr64.has(rec.ctxId!)) {
      rec.stubSkipped = 'NDR64 transfer syntax (dcomlab decodes NDR 2.0 only)';
      return whole;
    }
    try {
      if (ptype === 0) {
        const v = ndr.decodeParams(op.in, whole, { le }) as Record<string, unknown>;
        rec.stub = new DecodedStub(op.in as ndr.Params<ndr.Fields>, v);
        // Keep the scalar [in] parameters (max_towers, cIids...) for the response.
        let scope: Record<string, unknown> | undefined;
        for (const key of op.in.keys) {
          const x = v[key];
          if (typeof x === 'number' || typeof x === 'bigint') (scope ??= {})[key] = x;
        }
        if (scope !== undefined) {
          if (calls.scopes.size >= MAX_SCOPES_PER_STREAM) calls.scopes.clear();
          calls.scopes.set(callId, scope);
        }
      } else {
        const scope = calls.scopes.get(callId);
        calls.scopes.delete(callId);
        const v = ndr.decodeParams(op.out, whole, scope !== undefined ? { le, scope } : { le }) as Record<string, unknown>;
        rec.stub = new DecodedStub(op.out as ndr.Params<ndr.Fields>, v);
      }
    } catch (e) {
      rec.stubError = e instanceof Error ? e.message : String(e);
    }
    return whole;
  };
  const emit = (st: StreamState, dirIdx: 0 | 1, bytes: Buffer, frame: number) => {
    const dir = st.dirs![dirIdx];
    let pdu: Pdu | undefined;
    let bind: BindDescription | undefined;
    let bindKey = '';
    let error: string | undefined;
    let stub: Buffer | undefined;
    try {
      readPduSummary(bytes, 0, sum);
      // Requests, responses and faults are described from the summary; the rest (binds and
      // their acks, which carry lists) from the full decode, or from the last PDU with the
      // same body: a capture repeats the same few binds (decoding and describing one cost
      // ~2 µs, a tenth of dissect's time on the synthetic capture).
      const t = sum.ptype;
      if (t !== 0 && t !== 2 && t !== 3) {
        const cache = bindCache(t, sum.le);
        if (cache !== undefined) {
          bindKey = bytes.toString('latin1', sum.bodyOffset, sum.bodyEnd);
          bind = cache.get(bindKey);
        }
        if (bind === undefined) pdu = decodePdu(bytes, 0);
      }
    } catch (e) {
      error = e instanceof PduDecodeError ? e.message : String(e);
    }
    let rec: PduRecord;
    if (error === undefined) {
      rec = newRecord(
        frame, st.id, dir, isoTime(st.tsSec, st.tsNsec), sum.ptype, PTYPE_NAMES[sum.ptype]!, sum.flags, drepHex(sum.drep),
        bytes.length, sum.authLength, sum.callId,
      );
      if (sum.authLength > 0) {
        rec.authType = sum.authType;
        rec.authLevel = sum.authLevel;
        rec.authContextId = sum.authContextId;
      }
      if (bind !== undefined) applyBind(st, bind, rec);
      else if (pdu !== undefined) {
        // A bind-like PDU seen for the first time (kept for the next ones), or another kind.
        bind = describePdu(pdu, rec);
        if (bind !== undefined) {
          const cache = bindCache(pdu.ptype, sum.le)!;
          if (cache.size >= MAX_BIND_DESCRIPTIONS) cache.clear();
          cache.set(bindKey, bind);
          applyBind(st, bind, rec);
        }
      } else describeCall(st, bytes, sum, rec);
      if (decodeStubs && bind !== undefined) trackTransfer(st, bind);
      if (stubsOn) {
        const t = sum.ptype;
        if (t === 0 || t === 2 || t === 3) stub = stubOf(st, dirIdx, bytes, rec, pdu);
        else if (onAuthPdu !== undefined && sum.authLength > 0) {
          try {
            onAuthPdu(st.id, dirIdx, bytes, pdu ?? decodePdu(bytes, 0));
          } catch {
            // the hook's own problem: the record is still right
          }
        }
      }
      if (decodePdus && pdu === undefined) pdu = decodePdu(bytes, 0);
    } else {
      const h = decodeHeader(bytes, 0);
      rec = newRecord(
        frame, st.id, dir, isoTime(st.tsSec, st.tsNsec), h.ptype, PTYPE_NAMES[h.ptype] ?? `ptype_${h.ptype}`, h.flags, drepHex(h.drep),
        h.fragLength, h.authLength, h.callId,
      );
      rec.error = error;
    }
    if (!st.sawPdu) {
      st.sawPdu = true;
      dcerpcStreams++;
    }
    pdus++;
    onRecord(rec, decodePdus ? pdu : undefined, bytes, stub);
  };

  const onEvent = (e: StreamEvent) => {
    switch (e.kind) {
      case 'open': {
        streamCount++;
        const smb = SMB_PORTS.has(e.client.port) || SMB_PORTS.has(e.server.port);
        if (smb) skippedSmbStreams++;
        const st: StreamState = { id: e.stream, smb, dirs: null, contexts: new Map(), opnums: new Map(), tsSec: 0, tsNsec: 0, sawPdu: false, calls: undefined };
        if (!smb) {
          const c = endpoint(e.client.ip, e.client.port);
          const s = endpoint(e.server.ip, e.server.port);
          const mk = (idx: 0 | 1, src: string, dst: string): Direction => ({
            src,
            dst,
            framer: new PduFramer<number>((bytes, frame) => emit(st, idx, bytes, frame), { heuristic: true }),
          });
          st.dirs = [mk(0, c, s), mk(1, s, c)];
        }
        streams.set(e.stream, st);
        break;
      }
      case 'gap': {
        const st = streams.get(e.stream);
        if (!st || !st.dirs) return;
        gaps++;
        st.dirs[e.dir].framer.gap();
        break;
      }
      case 'close': {
        const st = streams.get(e.stream);
        if (st?.dirs) skippedBytes += st.dirs[0].framer.skippedBytes + st.dirs[1].framer.skippedBytes + st.dirs[0].framer.buffered + st.dirs[1].framer.buffered;
        if (st?.calls) for (const m of st.calls.frags) for (const p of m.values()) pendingBytes -= p.size;
        streams.delete(e.stream);
        if (opts.onStreamClose !== undefined && st?.sawPdu) {
          try {
            opts.onStreamClose(e.stream);
          } catch {
            // the hook's own problem
          }
        }
        break;
      }
    }
  };

  const onData = (d: DataRange) => {
    const st = streams.get(d.stream);
    if (!st || !st.dirs) return;
    st.tsSec = d.tsSec;
    st.tsNsec = d.tsNsec;
    st.dirs[d.dir].framer.pushRange(d.buf, d.offset, d.offset + d.length, d.frame);
  };

  const reassembler = new TcpReassembler(onEvent, { maxOpenStreams: MAX_OPEN_STREAMS, maxClosedStreams: MAX_CLOSED_STREAMS, onData });
  const seg = new TcpSegmentView();
  let capture: CaptureSummary;
  try {
    capture = await readCapture(
      path,
      (pkt) => {
        if (decodeTcpAt(pkt.linkType, pkt.buf, pkt.offset, pkt.offset + pkt.caplen, seg)) reassembler.pushView(pkt, seg);
      },
      {
        onWarning: (w) => {
          warnings.push(w);
          opts.onWarning?.(w);
        },
      },
    );
  } catch (e) {
    if (e instanceof CaptureError) throw e;
    const err = e as NodeJS.ErrnoException;
    if (err && err.code) throw new CaptureError(path, 0, `${err.code}: ${err.message}`);
    throw e;
  }
  reassembler.end();
  return { capture, pdus, streams: streamCount, dcerpcStreams, skippedSmbStreams, gaps, skippedBytes, warnings };
}

/**
 * A record with every field present, those that do not apply undefined (JSON.stringify leaves
 * them out): records of one shape keep the property reads of their consumers (the jsonl
 * writer reads ~25 per record) monomorphic. Adding the optional fields as they applied made
 * records of a dozen shapes and cost ~0.15 s of CPU more on the 110 MB synthetic capture.
 */
function newRecord(
  frame: number, stream: number, dir: Direction, time: string, ptype: number, ptypeName: string, flags: number, drep: string,
  fragLength: number, authLength: number, callId: number,
): PduRecord {
  return {
    frame, stream, src: dir.src, dst: dir.dst, time, ptype, ptypeName, flags, drep, fragLength, authLength, callId,
    error: undefined, authType: undefined, authLevel: undefined, authContextId: undefined,
    ctxId: undefined, opnum: undefined, allocHint: undefined, object: undefined, stubLength: undefined,
    interface: undefined, operation: undefined, status: undefined, statusName: undefined, contexts: undefined, results: undefined,
    stub: undefined, stubError: undefined, stubSkipped: undefined, stubSealed: undefined, decrypted: undefined, verified: undefined, decryptError: undefined,
    reassembled: undefined,
  };
}

const DREP_HEX = new Map<number, string>();
function drepHex(d: number): string {
  let h = DREP_HEX.get(d);
  if (h === undefined) {
    h = d.toString(16).padStart(8, '0');
    if (DREP_HEX.size < 64) DREP_HEX.set(d, h);
  }
  return h;
}

function endpoint(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/** Request, response and fault: the fields of the summary, and the operation they belong to. */
function describeCall(st: StreamState, buf: Buffer, s: PduSummary, rec: PduRecord): void {
  rec.ctxId = s.ctxId;
  if (s.ptype === 0) {
    rec.opnum = s.opnum;
    rec.allocHint = s.allocHint;
    const object = summaryObject(buf, s);
    if (object !== undefined) rec.object = object;
    rec.stubLength = s.stubLength;
    const k = st.contexts.get(s.ctxId);
    if (k) {
      rec.interface = k.record;
      const name = opName(k, s.opnum);
      if (name) rec.operation = name;
      // Like tshark, a response is matched to its request only when the request's context
      // was bound in this conversation; otherwise it names no opnum.
      if (st.opnums.size >= MAX_TRACKED_CALLS) st.opnums.clear();
      st.opnums.set(s.callId, s.opnum);
    } else {
      st.opnums.delete(s.callId);
    }
    return;
  }
  rec.allocHint = s.allocHint;
  rec.stubLength = s.stubLength;
  const op = st.opnums.get(s.callId);
  if (op !== undefined) rec.opnum = op;
  const k = st.contexts.get(s.ctxId);
  if (k) {
    rec.interface = k.record;
    const name = op !== undefined ? opName(k, op) : undefined;
    if (name) rec.operation = name;
  }
  if (s.ptype === 3) {
    rec.status = s.status;
    const name = statusName(s.status);
    if (name) rec.statusName = name;
  }
}

type ContextRecord = NonNullable<PduRecord['contexts']>[number];
type ResultRecord = NonNullable<PduRecord['results']>[number];

/**
 * What a bind or alter_context (the contexts it offers) or their ack (the results) says, made
 * once per distinct body and shared by the records of every PDU with that body: frozen, so
 * that no consumer can change what other records show.
 */
interface BindDescription {
  contexts: readonly ContextRecord[] | undefined;
  results: readonly ResultRecord[] | undefined;
  /** ctxId → syntax, in PDU order, for the stream's association. */
  bound: ReadonlyArray<readonly [number, KnownContext]>;
}

/** Descriptions by body bytes: [bind LE, bind BE, ack LE, ack BE]. */
const BIND_DESCRIPTIONS = [0, 1, 2, 3].map(() => new Map<string, BindDescription>());
const MAX_BIND_DESCRIPTIONS = 1024;

function bindCache(ptype: number, le: boolean): Map<string, BindDescription> | undefined {
  if (ptype === 11 || ptype === 14) return BIND_DESCRIPTIONS[le ? 0 : 1];
  if (ptype === 12 || ptype === 15) return BIND_DESCRIPTIONS[le ? 2 : 3];
  return undefined;
}

function applyBind(st: StreamState, d: BindDescription, rec: PduRecord): void {
  for (const [ctxId, k] of d.bound) st.contexts.set(ctxId, k);
  if (d.contexts !== undefined) rec.contexts = d.contexts as ContextRecord[];
  if (d.results !== undefined) rec.results = d.results as ResultRecord[];
}

/**
 * The other PDUs, decoded in full: the description of a bind or ack (to apply and keep), or
 * bind_nak's reason written into the record.
 */
function describePdu(pdu: Pdu, rec: PduRecord): BindDescription | undefined {
  switch (pdu.ptype) {
    case 11:
    case 14: {
      const bound: Array<readonly [number, KnownContext]> = [];
      const contexts = pdu.contexts.map((c) => {
        const k = knownContext(c.abstractSyntax);
        bound.push([c.ctxId, k]);
        return Object.freeze<ContextRecord>({
          ctxId: c.ctxId,
          abstractSyntax: k.record,
          transferSyntaxes: Object.freeze(c.transferSyntaxes.map(syntaxRecord)) as SyntaxRecord[],
        });
      });
      return { contexts: Object.freeze(contexts), results: undefined, bound };
    }
    case 12:
    case 15: {
      const results = pdu.results.map((r) => {
        const out: ResultRecord = {
          result: r.result,
          resultName: nameAt(ContResult, r.result),
          reason: r.reason,
          transferSyntax: syntaxRecord(r.transferSyntax),
        };
        if (r.result === 2) out.reasonName = nameAt(ProviderReason, r.reason);
        return Object.freeze(out);
      });
      return { contexts: undefined, results: Object.freeze(results), bound: [] };
    }
    case 13:
      rec.status = pdu.rejectReason;
      rec.statusName = nameAt(BindNakReason, pdu.rejectReason);
      return undefined;
    default:
      return undefined;
  }
}
