// Replay: re-send the client side of a capture's conversations to a live server and compare each
// live answer with the captured one.
//
// Calls go in capture order across conversations (a capture interleaves them: Impacket releases its
// interface after pinging on another connection). Each captured TCP conversation gets its own live
// connection, opened at its first call: to the target, or, when its server was an endpoint that an
// earlier captured answer named in its string bindings (an activation's or ResolveOxid2's OXID
// bindings), to the binding the live server returned in its place (chooseBinding). It binds the
// captured interfaces and authenticates at the captured level, with the live credentials (a fresh
// initiator per connection; the runtime signs and seals). Each request is re-encoded from its
// decoded [in] values with the same definition after captured identities (OXIDs, OIDs, SETIDs,
// IPIDs, context handles) are replaced by the live ones learned from earlier answers; a request of
// an interface dcomlab does not define is re-sent as its captured bytes and its answer compared
// byte for byte.
import { DcomlabError, RpcFault, formatError } from '../base/errors';
import { describeStatus } from '../base/status';
import { createInitiator } from '../auth';
import type { ClientCredentials } from '../auth/types';
import { chooseBinding } from '../dcom/client/bindings';
import { registerDcomDefinitions } from '../dcom';
import * as ndr from '../ndr';
import { AUTH_LEVEL_NAMES, AUTH_TYPE_NAMES, AuthLevel, AuthType } from '../pdu';
import { RpcConnection, type ClientOptions } from '../rpc/client';
import { findDefinition } from '../rpc/registry';
import type { CapturedCall, CapturedStream, ReplayScript } from './script';
import { diffValues, endpointKey, IdentityMap, normalize, type Difference } from './values';

registerDcomDefinitions();

export interface ReplayOptions {
  /** Where conversations that were not led to an exporter go (the activator/resolver, port 135). */
  target: { host: string; port: number };
  /** The live credentials, for conversations the capture authenticated. */
  credentials?: ClientCredentials;
  /** Only these conversations (TCP stream numbers). */
  streams?: ReadonlySet<number>;
  callTimeoutMs?: number;
  connectTimeoutMs?: number;
  /** After each call (for a progress bar). */
  onCall?: (r: CallResult, done: number, total: number) => void;
}

export type Verdict = 'equivalent' | 'different' | 'skipped';

export interface CallResult {
  stream: number;
  callId: number;
  frame: number;
  operation: string;
  interface?: string;
  verdict: Verdict;
  differences: Difference[];
  /** Why a call was skipped, or how it was sent. */
  note?: string;
}

export interface StreamResult {
  stream: number;
  client: string;
  server: string;
  auth?: string;
  /** The live address it was replayed to. */
  live?: string;
  note?: string;
}

export interface ReplayReport {
  file: string;
  target: string;
  streams: StreamResult[];
  calls: CallResult[];
  equivalent: number;
  different: number;
  skipped: number;
  notes: string[];
}

/** The capture cannot be replayed as given (a sealed request without its password...). */
export class ReplayInputError extends DcomlabError {
  override name = 'ReplayInputError';
}

/** The live server refused the live credentials: replaying further would compare nothing useful. */
export class ReplayAuthError extends DcomlabError {
  override name = 'ReplayAuthError';
}

interface LiveStream {
  conn?: RpcConnection;
  /** Why this conversation is not replayed (skipped) or could not be (failed: a difference). */
  skip?: string;
  fail?: string;
  /** `fail` in a few words, for each of its calls. */
  failShort?: string;
  calls: number;
}

/** A presentation context id a replay connection never binds (it numbers its own from 0). */
const UNBOUND_CONTEXT = 0xffff;

const SUPPORTED_AUTH = new Set<number>([AuthType.winnt, AuthType.gss_negotiate]);

/** A captured "host:port" / "[v6]:port" as an endpointKey. */
function endpointOf(ep: string): string {
  const m = /^\[?(.*?)\]?:(\d+)$/.exec(ep);
  return endpointKey(m?.[1] ?? ep, Number(m?.[2] ?? 0));
}

function authText(a: CapturedStream['auth']): string | undefined {
  return a ? `${AUTH_TYPE_NAMES[a.type] ?? a.type}/${AUTH_LEVEL_NAMES[a.level] ?? a.level}` : undefined;
}

function userText(c: ClientCredentials | undefined): string {
  if (!c) return 'anonymous';
  return c.domain ? `${c.domain}\\${c.user}` : c.user || 'ANONYMOUS';
}

/** Conversations that cannot be replayed honestly, whatever the live server: the reason. */
export function unreplayable(s: CapturedStream): string | undefined {
  if (s.contexts.size === 0) return 'no bind in the capture (the conversation started before it)';
  if (s.auth && s.auth.level > AuthLevel.none && !SUPPORTED_AUTH.has(s.auth.type)) {
    return `authenticated with ${AUTH_TYPE_NAMES[s.auth.type] ?? `auth type ${s.auth.type}`} (replay redoes NTLM and SPNEGO/NTLM only)`;
  }
  return undefined;
}

export async function replayCapture(script: ReplayScript, o: ReplayOptions): Promise<ReplayReport> {
  const ids = new IdentityMap();
  const live = new Map<number, LiveStream>();
  const results: CallResult[] = [];
  const notes: string[] = [];
  const selected = (s: number) => !o.streams || o.streams.has(s);
  const calls = script.calls.filter((c) => selected(c.stream));
  if (script.skippedSmbStreams) notes.push(`${script.skippedSmbStreams} SMB stream(s) not replayed (DCE/RPC over named pipes is out of scope)`);
  for (const n of o.streams ?? []) if (!script.streams.has(n)) notes.push(`stream ${n}: no DCE/RPC conversation with that number in the capture`);
  // A sealed request that was not decrypted cannot be re-sent: the input is unusable as given.
  const sealed = calls.find((c) => c.sealed && !c.value && !c.bytes);
  if (sealed) {
    const why = script.decryption.find((d) => d.stream === sealed.stream && !d.decryptable)?.reason;
    throw new ReplayInputError(`stream ${sealed.stream} call ${sealed.callId} (frame ${sealed.frame}): the captured request is sealed` +
      `${why ? ` and cannot be read: ${why}` : ''}; give the password the capture was made with (--password, or --capture-password when it is not the live one)`);
  }
  for (const d of script.decryption) {
    const n = `stream ${d.stream}: captured stubs not decryptable: ${d.reason}`;
    if (!d.decryptable && d.reason && !notes.includes(n)) notes.push(n);
  }
  // The endpoints the captured answers name (object exporters), replayed or not; the captured
  // server --target stands for: the first conversation's that is not one of them.
  for (const c of script.calls) if (c.answer?.kind === 'response' && c.answer.value) ids.seeCaptured(normalize(c.answer.value));
  const first = calls.map((c) => script.streams.get(c.stream)!).find((s) => !ids.capturedEndpoints.has(endpointOf(s.server)));
  const targetKey = first ? endpointOf(first.server) : undefined;

  const connect = async (s: CapturedStream, ls: LiveStream): Promise<void> => {
    const why = unreplayable(s);
    if (why) {
      ls.skip = why;
      return;
    }
    const key = endpointOf(s.server);
    let addr = o.target;
    const bindings = ids.endpoints.get(key);
    if (bindings) {
      try {
        const b = chooseBinding(bindings.stringBindings, o.target.host, 'target');
        addr = { host: b.host, port: b.port! };
      } catch (e) {
        ls.fail = `the live string bindings in place of ${s.server} are unusable: ${formatError(e)}`;
        ls.failShort = 'no usable live binding';
        return;
      }
    } else if (ids.capturedEndpoints.has(key)) {
      ls.fail = `${s.server} is an endpoint a captured answer named (an object exporter); no replayed live answer named one in its place` +
        (o.streams ? ' (replay the conversation that led to it too)' : '');
      ls.failShort = 'no live exporter in its place';
      return;
    } else if (key !== targetKey) {
      ls.skip = `its server ${s.server} is neither the captured server --target stands for (${first?.server ?? 'none'}) nor an endpoint a captured answer named`;
      return;
    }
    const opts: ClientOptions = { callTimeoutMs: o.callTimeoutMs ?? 10_000, connectTimeoutMs: o.connectTimeoutMs ?? 10_000 };
    if (s.auth && s.auth.level > AuthLevel.none) {
      if (!o.credentials) throw new ReplayAuthError(`stream ${s.stream} is authenticated (${authText(s.auth)}): give --user and --password (or --nt-hash)`);
      opts.auth = { initiator: createInitiator(s.auth.type, o.credentials, s.auth.level), level: s.auth.level };
    }
    try {
      ls.conn = await RpcConnection.connect(addr.host, addr.port, opts);
    } catch (e) {
      ls.fail = formatError(e);
      ls.failShort = 'cannot connect';
    }
  };

  const streamResults = new Map<number, StreamResult>();
  const liveFor = async (s: CapturedStream): Promise<LiveStream> => {
    let ls = live.get(s.stream);
    if (!ls) {
      ls = { calls: 0 };
      live.set(s.stream, ls);
      await connect(s, ls);
      const r: StreamResult = { stream: s.stream, client: s.client, server: s.server };
      const auth = authText(s.auth);
      if (auth) r.auth = auth;
      if (ls.conn) r.live = `${ls.conn.remote.host}:${ls.conn.remote.port}`;
      if (ls.skip) r.note = `not replayed: ${ls.skip}`;
      if (ls.fail) r.note = `not replayed: ${ls.fail}`;
      streamResults.set(s.stream, r);
    }
    return ls;
  };

  try {
    let done = 0;
    for (const c of calls) {
      const r = await replayCall(c);
      results.push(r);
      o.onCall?.(r, ++done, calls.length);
    }
  } finally {
    await Promise.all([...live.values()].map((l) => l.conn?.close().catch(() => undefined)));
  }

  async function replayCall(c: CapturedCall): Promise<CallResult> {
    const s = script.streams.get(c.stream)!;
    const ctx = s.contexts.get(c.ctxId);
    const r: CallResult = { stream: c.stream, callId: c.callId, frame: c.frame, operation: c.operation ?? `opnum ${c.opnum}`, verdict: 'skipped', differences: [] };
    if (ctx) r.interface = ctx.name ?? ctx.uuid;
    const ls = await liveFor(s);
    if (ls.skip) return { ...r, note: ls.skip };
    if (ls.fail) return { ...r, verdict: 'different', differences: [{ path: '(connection)', captured: `answered by ${s.server}`, live: `not replayed (stream ${s.stream}: ${ls.failShort})` }] };
    if (!ctx && !c.bytes) return { ...r, note: `context ${c.ctxId} was never bound in the capture, and the request has no stub` };

    // The request: re-encoded with the live identities, else the captured bytes.
    const def = ctx ? findDefinition(ctx.uuid, ctx.version) : undefined;
    const op = def?.byOpnum(c.opnum) as ndr.Op | undefined;
    let stub: Buffer | undefined;
    let args: Record<string, unknown> | undefined;
    if (op && c.value) {
      // The captured client's own objects (a callback interface): the live server calls back to
      // the captured client's machine, which replay does not stand in for.
      const own: string[] = [];
      args = ids.substitute(c.value, own);
      if (own.length) {
        r.note = `passes the captured client's own object${own.length > 1 ? 's' : ''}, ${own.join(', ')}: ` +
          'the live server calls back there, not to this replay (callbacks are not stood in for)';
      }
      try {
        stub = ndr.encodeParams(op.in, args as never);
      } catch (e) {
        args = undefined;
        r.note = `re-encoding failed (${formatError(e)}): sent as captured`;
      }
    }
    if (!stub && c.bytes) {
      stub = c.bytes;
      r.note ??= op ? 'sent as captured (its stub did not decode)' : 'sent as captured (no definition: answer compared byte for byte)';
    }
    if (!stub) {
      return { ...r, note: c.sealed ? 'the captured request is sealed: give the password it was made with (--capture-password)' : 'the request stub is not in the capture' };
    }

    // The call.
    const conn = ls.conn!;
    type Live = { kind: 'response'; stub: Buffer } | { kind: 'fault'; status: number } | { kind: 'error'; what: string };
    let got: Live;
    try {
      // A call on a context the capture never bound goes on one the live association never bound either.
      const ctxId = ctx ? await conn.bind({ uuid: ctx.uuid, version: ctx.version, ...(ctx.name ? { name: ctx.name } : {}) }) : UNBOUND_CONTEXT;
      if (!ctx) r.note = `sent as captured, on a context never bound (${c.ctxId} in the capture)`;
      const object = c.object !== undefined ? ids.map(c.object) : undefined;
      got = { kind: 'response', stub: await conn.call(ctxId, c.opnum, stub, object !== undefined ? { object } : {}) };
    } catch (e) {
      if (e instanceof RpcFault) got = { kind: 'fault', status: e.status ?? 0 };
      else got = { kind: 'error', what: formatError(e) };
    }
    const first = ls.calls++ === 0;
    const answer = c.answer;
    if (first && s.auth && s.auth.level > AuthLevel.none && got.kind === 'fault' && got.status === 5 && !(answer?.kind === 'fault' && answer.status === 5)) {
      throw new ReplayAuthError(
        `the live server refused ${userText(o.credentials)} on stream ${c.stream} (${authText(s.auth)}): ${describeStatus(5)} on the first call after ` +
        'authenticating, where the capture was answered: wrong --password/--nt-hash, an account the server does not know, or an access policy that refuses it',
        5,
      );
    }

    // The comparison.
    if (!answer) return { ...r, note: 'the capture has no answer to this call' };
    const what = (a: Live | NonNullable<CapturedCall['answer']>) =>
      a.kind === 'fault' ? `fault ${describeStatus(a.status)}` : a.kind === 'response' ? 'response' : `no answer (${a.what})`;
    if (answer.kind === 'fault' || got.kind !== 'response') {
      if (answer.kind === 'fault' && got.kind === 'fault' && answer.status === got.status) return { ...r, verdict: 'equivalent' };
      return { ...r, verdict: 'different', differences: [{ path: '(answer)', captured: what(answer), live: what(got) }] };
    }
    if (op && answer.value) {
      let value: Record<string, unknown>;
      try {
        value = ndr.decodeParams(op.out, got.stub, args ? { scope: args } : {}) as Record<string, unknown>;
      } catch (e) {
        return { ...r, verdict: 'different', differences: [{ path: '(stub)', captured: 'decodes', live: `does not decode: ${formatError(e)}` }] };
      }
      const cn = normalize(answer.value);
      const ln = normalize(value);
      ids.learn(cn, ln);
      const differences = diffValues(cn, ln);
      return { ...r, verdict: differences.length ? 'different' : 'equivalent', differences };
    }
    if (answer.bytes) {
      const d = bytesDifference(answer.bytes, got.stub);
      return d ? { ...r, verdict: 'different', differences: [d] } : { ...r, verdict: 'equivalent' };
    }
    return { ...r, note: answer.sealed ? 'the captured answer is sealed: give the password it was made with (--capture-password)' : 'the captured answer has no stub to compare' };
  }

  const report: ReplayReport = {
    file: script.file, target: `${o.target.host}:${o.target.port}`,
    streams: [...streamResults.values()].sort((a, b) => a.stream - b.stream), calls: results,
    equivalent: results.filter((x) => x.verdict === 'equivalent').length,
    different: results.filter((x) => x.verdict === 'different').length,
    skipped: results.filter((x) => x.verdict === 'skipped').length,
    notes,
  };
  return report;
}

/** Stub bytes compared: undefined when equal, else where they first differ. */
export function bytesDifference(captured: Buffer, live: Buffer): Difference | undefined {
  if (captured.equals(live)) return undefined;
  let i = 0;
  while (i < captured.length && i < live.length && captured[i] === live[i]) i++;
  return { path: '(stub bytes)', captured: `${captured.length} byte(s)`, live: `${live.length} byte(s), first difference at offset ${i}` };
}
