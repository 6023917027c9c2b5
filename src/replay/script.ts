// A capture read for replay: per TCP conversation the server it talked to, its authentication and
// its presentation contexts; and every call, in capture order (the order requests were sent, across
// conversations), with its decoded [in] values (or its plaintext stub bytes) and what the capture
// answered. Sealed stubs are read with a CaptureDecryptor when credentials are given.
import { CaptureDecryptor, type DecryptCredentials, type DecryptSessionReport } from '../dissect/decrypt';
import { dissectCapture, type PduRecord } from '../dissect/dissect';

export interface CapturedContext {
  uuid: string;
  /** p_syntax_id_t version (major low 16 bits, minor high 16). */
  version: number;
  name?: string;
}

export interface CapturedStream {
  stream: number;
  client: string;
  server: string;
  /** From the first authenticated bind: auth type and level; undefined when unauthenticated. */
  auth?: { type: number; level: number };
  /** ctxId → abstract syntax, from the binds and alter_contexts. */
  contexts: Map<number, CapturedContext>;
  calls: number;
}

export type CapturedAnswer =
  | { kind: 'response'; value?: Record<string, unknown>; bytes?: Buffer; stubError?: string; sealed?: boolean }
  | { kind: 'fault'; status: number };

export interface CapturedCall {
  stream: number;
  /** The request's frame (its last fragment). */
  frame: number;
  callId: number;
  ctxId: number;
  opnum: number;
  operation?: string;
  object?: string;
  /** The request's [in] values, when its interface is one dcomlab defines and the stub decoded. */
  value?: Record<string, unknown>;
  /** The request's plaintext stub (undefined when sealed and not decrypted). */
  bytes?: Buffer;
  sealed?: boolean;
  answer?: CapturedAnswer;
}

export interface ReplayScript {
  file: string;
  streams: Map<number, CapturedStream>;
  calls: CapturedCall[];
  /** TCP streams carrying SMB (DCE/RPC over named pipes is not replayed). */
  skippedSmbStreams: number;
  decryption: DecryptSessionReport[];
}

/** "major.minor" (a SyntaxRecord's version) → p_syntax_id_t version. */
export function syntaxVersion(v: string): number {
  const [major, minor] = v.split('.').map(Number);
  return ((major ?? 0) | ((minor ?? 0) << 16)) >>> 0;
}

const isLast = (r: PduRecord) => (r.flags & 2) !== 0;

/** Read a capture into what replay needs. */
export async function readReplayScript(file: string, creds: DecryptCredentials[] = []): Promise<ReplayScript> {
  const decryptor = new CaptureDecryptor(creds);
  const streams = new Map<number, CapturedStream>();
  const calls: CapturedCall[] = [];
  const pending = new Map<string, CapturedCall>();

  const streamOf = (r: PduRecord): CapturedStream => {
    let s = streams.get(r.stream);
    if (!s) {
      const fromClient = r.ptype === 11 || r.ptype === 14 || r.ptype === 0 || r.ptype === 16;
      s = { stream: r.stream, client: fromClient ? r.src : r.dst, server: fromClient ? r.dst : r.src, contexts: new Map(), calls: 0 };
      streams.set(r.stream, s);
    }
    return s;
  };

  const summary = await dissectCapture(file, (r, _pdu, _bytes, stub) => {
    const s = streamOf(r);
    if (r.contexts && (r.ptype === 11 || r.ptype === 14)) {
      for (const c of r.contexts) {
        const a = c.abstractSyntax;
        s.contexts.set(c.ctxId, { uuid: a.uuid, version: syntaxVersion(a.version), ...(a.name ? { name: a.name } : {}) });
      }
    }
    if (r.ptype === 11 && r.authType !== undefined && r.authLevel !== undefined && !s.auth) s.auth = { type: r.authType, level: r.authLevel };
    const key = `${r.stream}/${r.callId}`;
    if (r.ptype === 0) {
      if (!isLast(r)) return;
      const call: CapturedCall = { stream: r.stream, frame: r.frame, callId: r.callId, ctxId: r.ctxId ?? 0, opnum: r.opnum ?? 0 };
      if (r.operation) call.operation = r.operation;
      if (r.object) call.object = r.object;
      if (r.stub) call.value = r.stub.value;
      if (stub) call.bytes = Buffer.from(stub);
      if (r.stubSealed) call.sealed = true;
      s.calls++;
      calls.push(call);
      pending.set(key, call);
      return;
    }
    if (r.ptype === 3) {
      const call = pending.get(key);
      pending.delete(key);
      if (call) call.answer = { kind: 'fault', status: r.status ?? 0 };
      return;
    }
    if (r.ptype !== 2 || !isLast(r)) return;
    const call = pending.get(key);
    pending.delete(key);
    if (!call) return;
    const a: CapturedAnswer = { kind: 'response' };
    if (r.stub) a.value = r.stub.value;
    if (stub) a.bytes = Buffer.from(stub);
    if (r.stubError) a.stubError = r.stubError;
    if (r.stubSealed) a.sealed = true;
    call.answer = a;
  }, {
    decodeStubs: true,
    decodePdus: false,
    unprotect: (stream, dir, bytes, pdu) => decryptor.unprotect(stream, dir, bytes, pdu),
    onAuthPdu: (stream, dir, bytes, pdu) => decryptor.observe(stream, dir, bytes, pdu),
  });
  return { file, streams, calls, skippedSmbStreams: summary.skippedSmbStreams, decryption: decryptor.sessions() };
}
