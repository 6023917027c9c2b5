// The connection-oriented RPC client (MS-RPCE 3.3.2): one TCP connection = one association;
// binds, alter_contexts, several calls in flight matched by call id, request fragmentation and
// response reassembly, per-call timeout and cancel. Errors are typed and carry the status.
import net from 'node:net';
import { AuthError, BindRejected, DcomlabError, PduDecodeError, RpcFault, formatError } from '../base/errors';
import { BindNakReason, ContResult, ProviderReason, Status, nameAt } from '../base/status';
import { silentLogger, type Logger } from '../base/log';
import {
  AuthLevel, DREP_LE, MIN_FRAG_SIZE, NDR20, PFC, PType, decodePdu, encodePdu, PduFramer,
  requestHeaderLength, StubReassembler,
  type AuthVerifier, type BindAckPdu, type ContextElement, type Pdu, type RequestPdu,
} from '../pdu';
import type { Initiator } from '../auth/types';
import { encodeFragmented, protectsPdus, unprotect, type AuthBinding } from './security';
import { tapSocket, type SocketTap, type TappedSocket } from './tap';

export interface ClientOptions {
  logger?: Logger;
  /** Fragment size we propose (max_xmit_frag = max_recv_frag). */
  maxFrag?: number;
  /** Default per-call timeout (ms); 0 = none. */
  callTimeoutMs?: number;
  connectTimeoutMs?: number;
  assocGroupId?: number;
  /** Largest reassembled response. */
  maxResponseSize?: number;
  /** Source address to connect from (a lab box's own address on a shared loopback). */
  localAddress?: string;
  /** Authenticate the association (MS-RPCE 3.3.1.5.2) with this initiator at this level. */
  auth?: { initiator: Initiator; level: number; contextId?: number };
  /** Told about the connection: open, the bytes read and written, close (e.g. a pcapng recorder). */
  tap?: SocketTap;
}

/** The interface named in a bind: uuid and p_syntax_id_t version (major low 16, minor high 16). */
export interface InterfaceId {
  uuid: string;
  version: number;
  name?: string;
}

export class ConnectionError extends DcomlabError {
  override name = 'ConnectionError';
}

/** The server refused one presentation context in a bind_ack/alter_context_resp. */
export class ContextRejected extends DcomlabError {
  override name = 'ContextRejected';
  constructor(readonly result: number, readonly reason: number, iface: InterfaceId) {
    super(`${iface.name ?? iface.uuid} v${iface.version & 0xffff}.${iface.version >>> 16} rejected: ` +
      `${nameAt(ContResult, result)} (${nameAt(ProviderReason, reason)})`, reason);
  }
}

export class CallCancelled extends DcomlabError {
  override name = 'CallCancelled';
}

interface PendingCall {
  resolve(stub: Buffer): void;
  reject(e: Error): void;
  timer?: NodeJS.Timeout;
}

interface PendingBind {
  resolve(p: Pdu): void;
  reject(e: Error): void;
}

export interface CallOptions {
  object?: string;
  timeoutMs?: number;
  signal?: AbortSignal;
}

export class RpcConnection {
  readonly log: Logger;
  private readonly framer: PduFramer<undefined>;
  private readonly reassembler: StubReassembler<Pdu>;
  private readonly calls = new Map<number, PendingCall>();
  private readonly binds = new Map<number, PendingBind>();
  private nextCallId = 1;
  private nextCtxId = 0;
  private readonly contexts = new Map<string, number>();
  private closedError: Error | undefined;
  maxXmitFrag: number;
  maxRecvFrag: number;
  assocGroupId: number;
  /** Secondary address from the bind_ack (the server's port, as a string). */
  secAddr = '';
  private bound = false;
  /** Whether the server agreed to header signing (it echoed PFC_SUPPORT_HEADER_SIGN). */
  headerSigning = false;
  /** Session security once the bind's authentication completed. */
  private authBinding: AuthBinding | undefined;

  private constructor(private readonly sock: net.Socket, readonly opts: ClientOptions, readonly remote: { host: string; port: number },
    private readonly tapped?: TappedSocket) {
    this.log = (opts.logger ?? silentLogger).child({ server: `${remote.host}:${remote.port}` });
    this.maxXmitFrag = opts.maxFrag ?? 5840;
    this.maxRecvFrag = opts.maxFrag ?? 5840;
    this.assocGroupId = opts.assocGroupId ?? 0;
    this.reassembler = new StubReassembler<Pdu>(opts.maxResponseSize ?? 64 * 1024 * 1024, 1024);
    this.framer = new PduFramer<undefined>((b) => this.onPdu(b));
    sock.setNoDelay(true);
    sock.on('data', (d) => {
      try {
        this.framer.push(d, undefined);
      } catch (e) {
        this.fail(new ConnectionError(`server sent bytes that are not DCE/RPC: ${formatError(e)}`));
      }
    });
    sock.on('error', (e) => this.fail(new ConnectionError(formatError(e))));
    sock.on('close', () => this.fail(new ConnectionError('connection closed by the server')));
  }

  /** Open a TCP connection (no bind yet). */
  static connect(host: string, port: number, opts: ClientOptions = {}): Promise<RpcConnection> {
    return new Promise((resolve, reject) => {
      const sock = net.connect({ host, port, ...(opts.localAddress ? { localAddress: opts.localAddress } : {}) });
      const ms = opts.connectTimeoutMs ?? 10_000;
      const timer = setTimeout(() => {
        sock.destroy();
        reject(new ConnectionError(`connect to ${host}:${port} timed out after ${ms} ms`, Status.rpc_s_server_unavailable));
      }, ms);
      sock.once('connect', () => {
        clearTimeout(timer);
        sock.removeAllListeners('error');
        const tapped = opts.tap ? tapSocket(opts.tap, sock, 'client') : undefined;
        resolve(new RpcConnection(sock, opts, { host, port }, tapped));
      });
      sock.once('error', (e: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(new ConnectionError(`cannot connect to ${host}:${port}: ${e.code ?? e.message}`, Status.rpc_s_server_unavailable));
      });
    });
  }

  get localPort(): number {
    return this.sock.localPort ?? 0;
  }

  /** Bind (first time) or alter_context (after) to an interface; returns the context id. */
  async bind(iface: InterfaceId): Promise<number> {
    const key = `${iface.uuid}/${iface.version}`;
    const known = this.contexts.get(key);
    if (known !== undefined) return known;
    const ctxId = this.nextCtxId++;
    const el: ContextElement = { ctxId, abstractSyntax: { uuid: iface.uuid, version: iface.version }, transferSyntaxes: [{ ...NDR20 }] };
    const ack = await this.sendBind([el]);
    const r = ack.results[0];
    if (!r) throw new PduDecodeError(0, 'bind_ack without results');
    if (r.result !== 0) throw new ContextRejected(r.result, r.reason, iface);
    this.contexts.set(key, ctxId);
    return ctxId;
  }

  /** Send a bind or alter_context with these elements and wait for the answer. */
  async sendBind(elements: ContextElement[], auth?: AuthVerifier, alter = this.bound): Promise<BindAckPdu> {
    this.checkOpen();
    const callId = this.nextCallId++;
    const isBind = !alter;
    const a = auth ?? (isBind ? this.startAuth() : undefined);
    // An authenticated bind offers header signing as Windows clients do (MS-RPCE 3.3.1.5.2.2);
    // with NTLM the signed bytes are already the whole PDU when extended session security is on.
    const headerSign = isBind && a ? PFC.SUPPORT_HEADER_SIGN : 0;
    const pdu = encodePdu({
      ptype: isBind ? PType.bind : PType.alter_context, rpcVersMinor: 0, flags: PFC.FIRST_FRAG | PFC.LAST_FRAG | headerSign, drep: DREP_LE,
      callId, maxXmitFrag: this.maxXmitFrag, maxRecvFrag: this.maxRecvFrag, assocGroupId: this.assocGroupId, contexts: elements,
      auth: a,
    });
    const answer = await new Promise<Pdu>((resolve, reject) => {
      // A server that never answers the bind (a black-holed port) is unavailable, not a hang.
      const ms = this.opts.callTimeoutMs ?? 0;
      const timer = ms > 0 ? setTimeout(() => {
        this.binds.delete(callId);
        reject(new ConnectionError(`no answer to the ${isBind ? 'bind' : 'alter_context'} from ${this.remote.host}:${this.remote.port}: timed out after ${ms} ms`, Status.rpc_s_server_unavailable));
      }, ms) : undefined;
      timer?.unref();
      this.binds.set(callId, {
        resolve: (p) => { if (timer) clearTimeout(timer); resolve(p); },
        reject: (e) => { if (timer) clearTimeout(timer); reject(e); },
      });
      this.write(pdu);
    });
    if (answer.ptype === PType.bind_nak) {
      throw new BindRejected(answer.rejectReason, nameAt(BindNakReason, answer.rejectReason));
    }
    if (answer.ptype === PType.fault) throw new RpcFault(answer.status, isBind ? 'bind refused' : 'alter_context refused');
    if (answer.ptype !== PType.bind_ack && answer.ptype !== PType.alter_context_resp) {
      throw new PduDecodeError(0, `expected bind_ack, got ptype ${answer.ptype}`);
    }
    if (isBind) {
      this.bound = true;
      this.maxXmitFrag = Math.max(MIN_FRAG_SIZE, Math.min(this.maxXmitFrag, answer.maxRecvFrag));
      this.maxRecvFrag = answer.maxXmitFrag;
      this.assocGroupId = answer.assocGroupId;
      this.secAddr = answer.secAddr;
      this.headerSigning = headerSign !== 0 && (answer.flags & PFC.SUPPORT_HEADER_SIGN) !== 0;
      if (a && !auth) await this.finishAuth(answer, elements, callId);
    }
    return answer;
  }

  private authVerifier(value: Buffer): AuthVerifier {
    const o = this.opts.auth!;
    return { type: o.initiator.authType, level: o.level, padLength: 0, reserved: 0, contextId: o.contextId ?? 0, value };
  }

  private startAuth(): AuthVerifier | undefined {
    const o = this.opts.auth;
    if (!o || o.level <= AuthLevel.none) return undefined;
    return this.authVerifier(o.initiator.start());
  }

  /**
   * The rest of the exchange after bind_ack: NTLM sends AUTHENTICATE in auth3 (no answer);
   * SPNEGO sends it in an alter_context and checks the server's final token (MS-RPCE 3.3.1.5.2).
   */
  private async finishAuth(ack: BindAckPdu, elements: ContextElement[], bindCallId: number): Promise<void> {
    const o = this.opts.auth!;
    let token = ack.auth?.value;
    if (!token) throw new AuthError('the server answered the bind without an authentication token', Status.rpc_s_access_denied);
    for (let round = 0; round < 4; round++) {
      const next = o.initiator.step(Buffer.from(token));
      if (next.leg === 'auth3' && next.token) {
        this.write(encodePdu({
          ptype: PType.auth3, rpcVersMinor: 0, flags: PFC.FIRST_FRAG | PFC.LAST_FRAG, drep: DREP_LE, callId: bindCallId,
          // MS-RPCE 2.2.2.10: four bytes of padding before the verifier (Windows and Impacket send spaces).
          body: Buffer.from('    ', 'latin1'), auth: this.authVerifier(next.token),
        }));
      } else if (next.leg === 'alter_context' && next.token) {
        const resp = await this.sendBind(elements.slice(0, 1), this.authVerifier(next.token), true);
        if (next.done) break;
        token = resp.auth?.value;
        if (!token) throw new AuthError('the server ended the exchange without a final token', Status.rpc_s_access_denied);
        continue;
      }
      if (next.done) break;
    }
    this.authBinding = { type: o.initiator.authType, level: o.level, contextId: o.contextId ?? 0, session: o.initiator.session() };
  }

  /** Call an operation with a ready-made stub; resolves with the response stub. */
  call(ctxId: number, opnum: number, stub: Buffer, o: CallOptions = {}): Promise<Buffer> {
    this.checkOpen();
    const callId = this.nextCallId++;
    const hasObject = o.object !== undefined;
    const bufs = encodeFragmented(stub, this.maxXmitFrag, requestHeaderLength(hasObject), this.authBinding, (part, flags, allocHint) => {
      const req: RequestPdu = {
        ptype: PType.request, rpcVersMinor: 0, flags: flags | (hasObject ? PFC.OBJECT_UUID : 0), drep: DREP_LE, callId,
        allocHint, ctxId, opnum, stub: part,
      };
      if (hasObject) req.object = o.object;
      return req;
    });
    return new Promise<Buffer>((resolve, reject) => {
      const pending: PendingCall = { resolve, reject };
      const ms = o.timeoutMs ?? this.opts.callTimeoutMs ?? 0;
      const abandon = (err: Error) => {
        if (!this.calls.delete(callId)) return;
        if (pending.timer) clearTimeout(pending.timer);
        this.reassembler.discard(callId);
        // MS-RPCE 3.3.2.4.x: tell the server we no longer wait for this call.
        this.writeQuiet(encodePdu({ ptype: PType.orphaned, rpcVersMinor: 0, flags: PFC.FIRST_FRAG | PFC.LAST_FRAG, drep: DREP_LE, callId, body: Buffer.alloc(0) }));
        reject(err);
      };
      if (ms > 0) {
        pending.timer = setTimeout(() => abandon(new CallCancelled(`call ${callId} (opnum ${opnum}) timed out after ${ms} ms`, Status.nca_s_fault_cancel)), ms);
        pending.timer.unref();
      }
      if (o.signal) {
        if (o.signal.aborted) return reject(new CallCancelled('call cancelled before it was sent', Status.nca_s_fault_cancel));
        o.signal.addEventListener('abort', () => abandon(new CallCancelled(`call ${callId} cancelled`, Status.nca_s_fault_cancel)), { once: true });
      }
      this.calls.set(callId, pending);
      this.write(bufs.length === 1 ? bufs[0]! : Buffer.concat(bufs));
    });
  }

  /** Ask the server to cancel a call in progress (co_cancel); the call still ends with its answer. */
  cancelCall(callId: number): void {
    this.writeQuiet(encodePdu({ ptype: PType.co_cancel, rpcVersMinor: 0, flags: PFC.FIRST_FRAG | PFC.LAST_FRAG, drep: DREP_LE, callId, body: Buffer.alloc(0) }));
  }

  get callsInFlight(): number {
    return this.calls.size;
  }

  async close(): Promise<void> {
    if (this.closedError) return;
    this.closedError = new ConnectionError('connection closed by the client');
    await new Promise<void>((resolve) => {
      this.sock.end(() => resolve());
      setTimeout(resolve, 200).unref();
    });
    this.sock.destroy();
    this.failAll(this.closedError);
  }

  private writeQuiet(b: Buffer): void {
    if (!this.closedError && !this.sock.destroyed) this.write(b);
  }

  private write(b: Buffer): void {
    if (this.tapped) this.tapped.out(b);
    this.sock.write(b);
  }

  private checkOpen(): void {
    if (this.closedError) throw this.closedError;
  }

  private onPdu(bytes: Buffer): void {
    let p: Pdu;
    try {
      p = decodePdu(bytes);
    } catch (e) {
      this.fail(new ConnectionError(`bad PDU from server: ${formatError(e)}`));
      return;
    }
    switch (p.ptype) {
      case PType.bind_ack:
      case PType.alter_context_resp:
      case PType.bind_nak: {
        const b = this.binds.get(p.callId);
        if (b) {
          this.binds.delete(p.callId);
          b.resolve(p);
        }
        return;
      }
      case PType.response: {
        const c = this.calls.get(p.callId);
        if (!c) return; // orphaned by us
        let whole;
        try {
          const b = this.authBinding;
          const stub = b && protectsPdus(b.level) ? unprotect(bytes, p, b) : p.stub;
          whole = this.reassembler.push(p.callId, p.flags, stub, p);
        } catch (e) {
          this.finish(p.callId)?.reject(e as Error);
          return;
        }
        if (whole) this.finish(p.callId)?.resolve(whole.stub);
        return;
      }
      case PType.fault: {
        const b = this.binds.get(p.callId);
        if (b) {
          this.binds.delete(p.callId);
          b.resolve(p);
          return;
        }
        this.reassembler.discard(p.callId);
        const c = this.finish(p.callId);
        if (c) c.reject(new RpcFault(p.status));
        else if (p.callId === 0 || !this.calls.size) this.log.info({ status: p.status }, 'fault outside any call');
        return;
      }
      case PType.shutdown:
        this.log.info('server asked us to shut down the association');
        void this.close();
        return;
      default:
        this.log.debug({ ptype: p.ptype }, 'ignored PDU');
    }
  }

  private finish(callId: number): PendingCall | undefined {
    const c = this.calls.get(callId);
    if (!c) return undefined;
    this.calls.delete(callId);
    if (c.timer) clearTimeout(c.timer);
    return c;
  }

  private fail(e: Error): void {
    if (!this.closedError) this.closedError = e;
    this.sock.destroy();
    this.failAll(e);
  }

  private failAll(e: Error): void {
    for (const [id, c] of this.calls) {
      if (c.timer) clearTimeout(c.timer);
      this.calls.delete(id);
      c.reject(e);
    }
    for (const [id, b] of this.binds) {
      this.binds.delete(id);
      b.reject(e);
    }
  }
}
