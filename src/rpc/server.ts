// The connection-oriented RPC server (MS-RPCE 3.3.3, C706 ch. 9 and 12): one association
// state machine per TCP connection. Nothing thrown by a handler or a bad PDU escapes the
// association: the peer gets the protocol's answer and only that connection is affected.
import net from 'node:net';
import { randomInt } from 'node:crypto';
import { AuthError, DcomlabError, NdrDecodeError, PduDecodeError, RpcFault, formatError } from '../base/errors';
import { BindNakReason, ContResult, describeStatus, nameAt, Status } from '../base/status';
import { NIL_GUID } from '../base/guid';
import { silentLogger, type Logger } from '../base/log';
import {
  AUTH_LEVEL_NAMES, AUTH_TYPE_NAMES, AuthLevel, BTFN, BTFN_PREFIX, DREP_LE, MIN_FRAG_SIZE, NDR20, PFC, PType,
  decodePdu, encodePdu, isLittleEndian, PduFramer, RESPONSE_HEADER_LENGTH,
  type AuthVerifier, type BindAckPdu, type BindPdu, type ContextResult, type Pdu, type RequestPdu, type ResponsePdu, type SyntaxId,
} from '../pdu';
import { interfaceName } from './known-interfaces';
import { FAULT_FLAGS, FAULT_FLAGS_DNE, NakReason, ServerAnswers } from './answers';
import type { Acceptor, Identity } from '../auth/types';
import { encodeFragmented, protectsPdus, unprotect, type AuthBinding } from './security';
import { checkVerificationTrailer, findVerificationTrailer } from './verification-trailer';
import { tapSocket, type SocketTap, type TappedSocket } from './tap';

/** What a handler learns about the call it serves. */
export interface CallContext {
  callId: number;
  opnum: number;
  ctxId: number;
  /** Object UUID of the request (PFC_OBJECT_UUID), e.g. the IPID of a DCOM call. */
  object?: string;
  iface: { uuid: string; version: number; name?: string };
  association: AssociationInfo;
  peer: { address: string; port: number };
  local: { address: string; port: number };
  /** Aborted on co_cancel, orphaned, connection loss or the handler timeout. */
  signal: AbortSignal;
  /** Integer byte order the client used (responses use ours, little-endian). */
  littleEndian: boolean;
  /** The authentication the call arrived under; undefined for an unauthenticated call. */
  auth?: { type: number; level: number; contextId: number; identity: Identity };
}

/** Hands the server a fresh acceptor for each security context a client opens. */
export interface ServerAuthProvider {
  acceptor(authType: number): Acceptor | undefined;
}

export interface AssociationInfo {
  id: number;
  assocGroupId: number;
  maxXmitFrag: number;
  maxRecvFrag: number;
}

/** A registered interface at the PDU level: the typed layer (registerInterface) builds one. */
export interface DispatchInterface {
  uuid: string;
  /** Major version in the low 16 bits, minor in the high 16 (p_syntax_id_t). */
  version: number;
  name?: string;
  /** Highest opnum + 1: anything at or beyond is nca_s_op_rng_error. */
  opCount: number;
  /** Calls at a lower authentication level are refused with rpc_s_access_denied. */
  minAuthLevel?: number;
  dispatch(opnum: number, stub: Buffer, ctx: CallContext): Promise<Buffer>;
}

export interface ServerLimits {
  maxConnections: number;
  /** Largest fragment we accept and send (max_recv_frag/max_xmit_frag we offer). */
  maxFragSize: number;
  /** Largest reassembled request stub. */
  maxRequestSize: number;
  maxContextsPerAssociation: number;
  /** Close an association idle this long (ms); 0 = never. */
  idleTimeoutMs: number;
  /** Abort a handler running this long (ms) with a fault; 0 = never. */
  handlerTimeoutMs: number;
  /** Calls in progress on one connection. */
  maxCallsInFlight: number;
}

export const DEFAULT_LIMITS: ServerLimits = {
  maxConnections: 4096,
  // The TCP transport's maximum on Windows (raw_protocol _test_neg_xmit_check_values).
  maxFragSize: 5840,
  maxRequestSize: 4 * 1024 * 1024,
  maxContextsPerAssociation: 64,
  idleTimeoutMs: 15 * 60_000,
  handlerTimeoutMs: 60_000,
  maxCallsInFlight: 64,
};

export interface RpcServerOptions {
  logger?: Logger;
  limits?: Partial<ServerLimits>;
  /**
   * Accept a second bind on a bound connection as a fresh bind. Windows naks it and closes
   * (raw_protocol.py test_no_auth_valid_valid_request), which is the default.
   */
  acceptRebind?: boolean;
  /** Authentication: without it, binds that carry a verifier are refused (auth type not recognised). */
  auth?: ServerAuthProvider;
  /**
   * Checked before each call is dispatched (e.g. DCOM's machine-wide access check). Throwing an
   * RpcFault refuses the call with that status and PFC_DID_NOT_EXECUTE: the routine never ran.
   */
  authorize?: (ctx: CallContext) => void | Promise<void>;
  /**
   * An in-process firewall, asked for each connection: 'reject' resets it (what a REJECT rule's
   * TCP reset looks like to the caller), 'drop' holds it and never reads a byte (a black hole:
   * the caller's calls time out).
   */
  firewall?: (peer: { address: string; port: number }, local: { address: string; port: number }) => 'accept' | 'reject' | 'drop';
  /** Told about every accepted connection: open, the bytes read and written, close (e.g. a pcapng recorder). */
  tap?: SocketTap;
}

export interface ListenAddress {
  host: string;
  port: number;
}

let nextAssociationId = 1;

export class RpcServer {
  readonly logger: Logger;
  readonly limits: ServerLimits;
  readonly options: RpcServerOptions;
  private readonly interfaces = new Map<string, DispatchInterface[]>();
  private readonly servers: net.Server[] = [];
  private readonly associations = new Set<Association>();
  private readonly blackHoled = new Set<net.Socket>();
  /** assoc_group_id values handed out, so a client can join a group on a new connection. */
  readonly assocGroups = new Map<number, number>();
  private closing = false;
  /** Counters for mgmt inq_stats (C706 Appendix Q). */
  readonly stats = { callsIn: 0, callsOut: 0, pktsIn: 0, pktsOut: 0 };

  constructor(opts: RpcServerOptions = {}) {
    this.options = opts;
    this.logger = opts.logger ?? silentLogger;
    this.limits = { ...DEFAULT_LIMITS, ...opts.limits };
    if (this.limits.maxFragSize < MIN_FRAG_SIZE) throw new RangeError(`maxFragSize must be at least ${MIN_FRAG_SIZE}`);
  }

  /** Register an interface at the PDU level (see registerInterface for the typed form). */
  addInterface(d: DispatchInterface): void {
    const key = d.uuid.toLowerCase();
    const list = this.interfaces.get(key) ?? [];
    if (list.some((x) => (x.version & 0xffff) === (d.version & 0xffff))) {
      throw new DcomlabError(`interface ${key} v${d.version & 0xffff} is already registered`);
    }
    list.push(d);
    this.interfaces.set(key, list);
  }

  removeInterface(uuid: string, version: number): void {
    const key = uuid.toLowerCase();
    const list = (this.interfaces.get(key) ?? []).filter((x) => x.version !== version);
    if (list.length) this.interfaces.set(key, list);
    else this.interfaces.delete(key);
  }

  listInterfaces(): DispatchInterface[] {
    return [...this.interfaces.values()].flat();
  }

  /**
   * C706 2.7.2: a server supports a client's interface version when the major versions are
   * equal and the server's minor version is at least the client's.
   */
  findInterface(s: SyntaxId): DispatchInterface | undefined {
    const list = this.interfaces.get(s.uuid);
    if (!list) return undefined;
    const major = s.version & 0xffff;
    const minor = s.version >>> 16;
    return list.find((d) => (d.version & 0xffff) === major && d.version >>> 16 >= minor);
  }

  /** Listen on each address; resolves with the bound addresses (port 0 picks one). */
  async listen(addrs: ListenAddress | ListenAddress[]): Promise<ListenAddress[]> {
    const list = Array.isArray(addrs) ? addrs : [addrs];
    const bound: ListenAddress[] = [];
    for (const a of list) {
      const srv = net.createServer((sock) => this.accept(sock));
      srv.maxConnections = this.limits.maxConnections;
      await new Promise<void>((resolve, reject) => {
        srv.once('error', reject);
        srv.listen({ host: a.host, port: a.port, exclusive: true }, () => {
          srv.off('error', reject);
          resolve();
        });
      });
      srv.on('error', (e) => this.logger.error({ err: formatError(e) }, 'listener error'));
      // net.Server closes connections beyond maxConnections itself; say so.
      srv.on('drop', (d?: { remoteAddress?: string; remotePort?: number }) =>
        this.logger.warn({ peer: `${d?.remoteAddress}:${d?.remotePort}`, limit: this.limits.maxConnections }, 'connection refused: maxConnections reached'));
      const addr = srv.address() as net.AddressInfo;
      bound.push({ host: addr.address, port: addr.port });
      this.servers.push(srv);
      this.logger.info({ host: addr.address, port: addr.port }, 'listening');
    }
    return bound;
  }

  get connectionCount(): number {
    return this.associations.size;
  }

  private accept(sock: net.Socket): void {
    if (this.closing) {
      sock.destroy();
      return;
    }
    const tapped = this.options.tap ? tapSocket(this.options.tap, sock, 'server') : undefined;
    const verdict = this.options.firewall?.(
      { address: sock.remoteAddress ?? '', port: sock.remotePort ?? 0 }, { address: sock.localAddress ?? '', port: sock.localPort ?? 0 });
    if (verdict === 'reject' || verdict === 'drop') {
      this.logger.info({ peer: `${sock.remoteAddress}:${sock.remotePort}`, local: `${sock.localAddress}:${sock.localPort}`, verdict }, 'firewall: connection blocked');
      if (verdict === 'reject') {
        tapped?.close('local', true);
        sock.resetAndDestroy();
        return;
      }
      sock.pause();
      sock.on('error', () => undefined);
      this.blackHoled.add(sock);
      sock.once('close', () => this.blackHoled.delete(sock));
      return;
    }
    const a = new Association(this, sock, tapped);
    this.associations.add(a);
    sock.once('close', () => this.associations.delete(a));
  }

  /** Stop listening, send shutdown on every open association, then close them. */
  async close(): Promise<void> {
    this.closing = true;
    for (const s of this.blackHoled) s.destroy();
    // Stop accepting first; net.Server.close() only completes once every connection has ended,
    // so the associations are told (shutdown PDU) and closed before waiting for it.
    const closed = this.servers.map((s) => new Promise<void>((r) => s.close(() => r())));
    this.servers.length = 0;
    await Promise.all([...this.associations].map((a) => a.shutdown()));
    await Promise.all(closed);
  }

  newAssocGroup(): number {
    let id: number;
    do id = randomInt(0x1000, 0x7fffffff); while (this.assocGroups.has(id));
    this.assocGroups.set(id, 0);
    return id;
  }
}

interface PresentationContext {
  iface: DispatchInterface;
  abstractSyntax: SyntaxId;
}

interface InFlight {
  abort: AbortController;
  ctxId: number;
}

/** One security context of the association, keyed by auth_context_id (MS-RPCE 3.3.1.5.2). */
interface AuthContext {
  id: number;
  type: number;
  level: number;
  acceptor: Acceptor;
  done: boolean;
  identity?: Identity;
  binding?: AuthBinding;
  /** Why authentication failed (calls on this context are refused). */
  failed?: string;
}

/** A request being reassembled from fragments. */
interface PartialRequest {
  first: RequestPdu;
  parts: Buffer[];
  size: number;
  auth: AuthContext | undefined;
}

/** One connection's association state (MS-RPCE 3.3.3.4, C706 12.5.2). */
export class Association {
  readonly id = nextAssociationId++;
  readonly log: Logger;
  private bound = false;
  private sawFirstPdu = false;
  private assocGroupId = 0;
  private maxXmitFrag: number;
  private maxRecvFrag: number;
  /** pfc_flags of the bind: CONC_MPX allows interleaved fragmented calls. */
  private concMpx = false;
  private readonly contexts = new Map<number, PresentationContext>();
  private readonly partials = new Map<number, PartialRequest>();
  private readonly authContexts = new Map<number, AuthContext>();
  /** The security context the bind established; requests without a verifier fall under it. */
  private bindAuth: AuthContext | undefined;
  private readonly framer: PduFramer<undefined>;
  private readonly inFlight = new Map<number, InFlight>();
  private idleTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private loggedClose = false;
  readonly peer: { address: string; port: number };
  readonly local: { address: string; port: number };

  constructor(private readonly server: RpcServer, private readonly sock: net.Socket, private readonly tapped?: TappedSocket) {
    const lim = server.limits;
    this.maxXmitFrag = lim.maxFragSize;
    this.maxRecvFrag = lim.maxFragSize;
    this.peer = { address: sock.remoteAddress ?? '?', port: sock.remotePort ?? 0 };
    this.local = { address: sock.localAddress ?? '?', port: sock.localPort ?? 0 };
    this.log = server.logger.child({ assoc: this.id, peer: `${this.peer.address}:${this.peer.port}` });
    // Binds and alter_contexts may use the whole 16-bit frag_length; requests are checked
    // against the transport maximum in onRequest.
    this.framer = new PduFramer<undefined>((bytes) => this.onPdu(bytes), { maxFragLength: 0xffff });
    sock.setNoDelay(true);
    sock.on('data', (chunk) => this.onData(chunk));
    sock.on('error', (e) => this.log.debug({ err: formatError(e) }, 'socket error'));
    sock.on('close', () => this.onClose());
    this.touch();
    this.log.debug('connected');
  }

  get info(): AssociationInfo {
    return { id: this.id, assocGroupId: this.assocGroupId, maxXmitFrag: this.maxXmitFrag, maxRecvFrag: this.maxRecvFrag };
  }

  private touch(): void {
    const ms = this.server.limits.idleTimeoutMs;
    if (!ms) return;
    if (this.idleTimer) this.idleTimer.refresh();
    else {
      this.idleTimer = setTimeout(() => {
        this.log.info({ idleMs: ms }, 'closing idle association');
        this.destroy();
      }, ms);
      this.idleTimer.unref();
    }
  }

  private onData(chunk: Buffer): void {
    this.touch();
    const headerAtStart = this.framer.buffered === 0;
    try {
      this.framer.push(chunk, undefined);
    } catch (e) {
      // Bytes that are not DCE/RPC at all (wrong rpc_vers, frag_length below 16). Answer with
      // the offending PDU's call id when its header starts this chunk (Samba copies it too).
      const what = e instanceof PduDecodeError ? e.what : formatError(e);
      const callId = headerAtStart ? rawCallId(chunk) : 0;
      if (!this.sawFirstPdu) this.nakAndClose(callId, NakReason.protocol_version_not_supported, what);
      else this.protocolError(what, callId, 0, FAULT_FLAGS_DNE);
    }
  }

  private onPdu(bytes: Buffer): void {
    if (this.closed) return;
    const first = !this.sawFirstPdu;
    this.sawFirstPdu = true;
    let pdu: Pdu;
    try {
      pdu = decodePdu(bytes);
    } catch (e) {
      const callId = rawCallId(bytes);
      const what = e instanceof PduDecodeError ? e.what : formatError(e);
      // raw_protocol test_invalid_auth_noctx: a malformed bind gets bind_nak reason 4.
      if (first || bytes[2] === PType.bind) this.nakAndClose(callId, NakReason.protocol_version_not_supported, what);
      else this.protocolError(what, callId, 0, FAULT_FLAGS_DNE);
      return;
    }
    this.server.stats.pktsIn++;
    this.log.debug({ ptype: pdu.ptype, callId: pdu.callId, len: bytes.length }, 'pdu');
    // MS-RPCE 3.3.1.5.1: only version 5.0 is spoken.
    if (pdu.rpcVersMinor !== 0 && (first || pdu.ptype === PType.bind)) {
      this.nakAndClose(pdu.callId, NakReason.protocol_version_not_supported, `rpc_vers_minor ${pdu.rpcVersMinor}`);
      return;
    }
    if (first && pdu.ptype !== PType.bind) {
      // The first PDU of an association must be a bind; anything else is answered as a bad bind.
      this.nakAndClose(pdu.callId, NakReason.protocol_version_not_supported, `first PDU is ptype ${pdu.ptype}, not a bind`);
      return;
    }
    try {
      switch (pdu.ptype) {
        case PType.bind:
          if (this.bound && !this.server.options.acceptRebind) {
            // raw_protocol test_no_auth_valid_valid_request: Windows naks a second bind and closes.
            this.nakAndClose(pdu.callId, NakReason.not_specified, 'second bind on a bound connection');
            return;
          }
          this.onBind(pdu, true);
          break;
        case PType.alter_context:
          this.onBind(pdu, false);
          break;
        case PType.request:
          this.onRequest(pdu, bytes);
          break;
        case PType.auth3:
          this.onAuth3(pdu);
          break;
        case PType.co_cancel:
          // Windows ignores co_cancel; the call completes normally (raw_protocol test_co_cancel_*).
          this.log.debug({ callId: pdu.callId }, 'co_cancel ignored');
          break;
        case PType.orphaned:
          // The client gave up on a running call: stop it and answer nothing. A request still
          // arriving in fragments is left alone, as Windows does (raw_protocol
          // test_orphaned_request_after_first_last and _after_first_no_last).
          this.cancel(pdu.callId, 'orphaned');
          break;
        default:
          // Responses, faults, acks and shutdown never travel client → server.
          this.protocolError(`unexpected ptype ${pdu.ptype} from a client`, pdu.callId, 0, FAULT_FLAGS_DNE);
      }
    } catch (e) {
      this.log.error({ err: formatError(e) }, 'association error');
      this.protocolError(formatError(e), pdu.callId, 0, FAULT_FLAGS_DNE);
    }
  }

  // ---- bind / alter_context ---------------------------------------------------------------

  private onBind(p: BindPdu, isBind: boolean): void {
    const zeroCtx = p.contexts.length === 0 || p.contexts.some((c) => c.transferSyntaxes.length === 0);
    const btfnItems = p.contexts.filter((c) => c.transferSyntaxes[0]?.uuid.startsWith(BTFN_PREFIX)).length;
    if (isBind) {
      // raw_protocol test_no_auth_no_ctx / _ctx_invalid2 / test_no_auth_bind_time_twice.
      if (zeroCtx) return this.nakAndClose(p.callId, NakReason.not_specified, 'bind without usable presentation contexts');
      if (btfnItems > 1) return this.nakAndClose(p.callId, NakReason.not_specified, 'two bind-time feature negotiation items');
      if (p.assocGroupId !== 0 && !this.server.assocGroups.has(p.assocGroupId)) {
        // MS-RPCE 3.3.1.5.7: joining a group we never created is refused.
        return this.nakAndClose(p.callId, NakReason.not_specified, `unknown association group 0x${p.assocGroupId.toString(16)}`);
      }
      // Windows' rule (raw_protocol _test_neg_xmit_check_values): one size for both directions,
      // the smaller of the client's two, at least 2048, at most the transport's, a multiple of 8.
      const v = Math.min(Math.max(2048, Math.min(p.maxXmitFrag, p.maxRecvFrag)), this.server.limits.maxFragSize) & 0xfff8;
      this.maxXmitFrag = v;
      this.maxRecvFrag = v;
      this.assocGroupId = p.assocGroupId || this.server.newAssocGroup();
      this.concMpx = (p.flags & PFC.CONC_MPX) !== 0;
      this.bound = true;
    } else if (zeroCtx) {
      // raw_protocol test_alter_no_auth_no_ctx: a fault, not an alter_context_resp.
      return this.protocolError('alter_context without usable presentation contexts', p.callId, 0, FAULT_FLAGS_DNE);
    }
    const results: ContextResult[] = [];
    let acceptedOne = false;
    for (const c of p.contexts) {
      const r = this.negotiateContext(c.ctxId, c.abstractSyntax, c.transferSyntaxes, acceptedOne);
      if (r.result === 0) acceptedOne = true;
      results.push(r);
    }
    // The authentication leg carried by this bind/alter_context, if any.
    let authOut: AuthVerifier | undefined;
    if (p.auth && p.auth.level > AuthLevel.none) {
      const r = this.authLeg(p, isBind);
      if (r === 'closed') return;
      authOut = r;
    }
    // Windows echoes SUPPORT_HEADER_SIGN (and CONC_MPX in bind_ack) from the client's flags.
    const echo = isBind ? PFC.SUPPORT_HEADER_SIGN | PFC.CONC_MPX : PFC.SUPPORT_HEADER_SIGN;
    const ack: BindAckPdu = {
      ptype: isBind ? PType.bind_ack : PType.alter_context_resp,
      rpcVersMinor: 0,
      flags: PFC.FIRST_FRAG | PFC.LAST_FRAG | (p.flags & echo),
      drep: DREP_LE,
      callId: p.callId,
      maxXmitFrag: this.maxXmitFrag,
      maxRecvFrag: this.maxRecvFrag,
      assocGroupId: this.assocGroupId,
      // The listening port with its NUL; alter_context_resp leaves it empty (MS-RPCE 2.2.2.4).
      secAddr: isBind ? String(this.local.port) : '',
      results,
      auth: authOut,
    };
    this.send(encodePdu(ack));
    this.log.info(
      {
        assocGroupId: this.assocGroupId,
        maxFrag: this.maxXmitFrag,
        contexts: p.contexts.map((c, i) => ({
          ctxId: c.ctxId,
          iface: interfaceName(c.abstractSyntax.uuid) ?? c.abstractSyntax.uuid,
          result: nameAt(ContResult, results[i]!.result),
        })),
      },
      isBind ? 'bind' : 'alter_context',
    );
  }

  /**
   * A bind or alter_context that carries a security token (MS-RPCE 3.3.1.5.2): start a context
   * (NTLM NEGOTIATE → CHALLENGE) or continue one (SPNEGO's third leg). Returns the verifier for the
   * answer, or 'closed' when the association was refused.
   */
  private authLeg(p: BindPdu, isBind: boolean): AuthVerifier | 'closed' | undefined {
    const v = p.auth!;
    let ctx = this.authContexts.get(v.contextId);
    if (!ctx) {
      const acceptor = v.type === 0 ? undefined : this.server.options.auth?.acceptor(v.type);
      if (!acceptor) {
        // raw_protocol _test_auth_none_level_bind: an unknown or absent auth type is refused.
        if (isBind) this.nakAndClose(p.callId, NakReason.authentication_type_not_recognized, `auth type ${v.type} not supported`);
        else this.protocolError(`alter_context with unsupported auth type ${v.type}`, p.callId, 0, FAULT_FLAGS_DNE, Status.rpc_s_access_denied);
        return 'closed';
      }
      if (this.authContexts.size >= 16) {
        this.protocolError('too many security contexts', p.callId, 0, FAULT_FLAGS_DNE, Status.rpc_s_access_denied);
        return 'closed';
      }
      ctx = { id: v.contextId, type: v.type, level: v.level === AuthLevel.call ? AuthLevel.pkt : v.level, acceptor, done: false };
      this.authContexts.set(v.contextId, ctx);
      if (isBind) this.bindAuth = ctx;
    } else if (ctx.done || ctx.type !== v.type) {
      this.protocolError('security context already established or of another type', p.callId, 0, FAULT_FLAGS_DNE, Status.rpc_s_access_denied);
      return 'closed';
    }
    try {
      const r = ctx.acceptor.accept(Buffer.from(v.value));
      if (r.done) this.established(ctx, r.identity);
      if (!r.token) return undefined;
      return { type: v.type, level: v.level, padLength: 0, reserved: 0, contextId: v.contextId, value: r.token };
    } catch (e) {
      ctx.failed = formatError(e);
      this.log.info({ authContextId: v.contextId, reason: ctx.failed }, 'authentication failed');
      if (isBind) this.nakAndClose(p.callId, NakReason.not_specified, 'authentication failed');
      else this.protocolError('authentication failed', p.callId, 0, FAULT_FLAGS_DNE, Status.rpc_s_access_denied);
      return 'closed';
    }
  }

  private established(ctx: AuthContext, identity: Identity | undefined): void {
    ctx.done = true;
    ctx.identity = identity;
    ctx.binding = { type: ctx.type, level: ctx.level, contextId: ctx.id, session: ctx.acceptor.session() };
    this.log.info(
      {
        authContextId: ctx.id, authType: AUTH_TYPE_NAMES[ctx.type] ?? ctx.type, authLevel: AUTH_LEVEL_NAMES[ctx.level] ?? ctx.level,
        user: identity ? (identity.anonymous ? 'ANONYMOUS LOGON' : `${identity.domain}\\${identity.user}`) : undefined,
        ntlm: identity?.ntlmFlavour, guest: identity?.guest || undefined,
      },
      'authenticated',
    );
  }

  /** auth3 finishes an NTLM exchange; the server never answers it (MS-RPCE 3.3.1.5.2.1). */
  private onAuth3(p: Pdu): void {
    const v = p.auth;
    const ctx = v ? this.authContexts.get(v.contextId) : undefined;
    if (!v || !ctx || ctx.done || ctx.failed) {
      // raw_protocol test_spnego_connect_reauth_auth3: auth3 with no exchange in progress.
      this.protocolError('auth3 with no authentication in progress', p.callId, 0, FAULT_FLAGS_DNE);
      return;
    }
    try {
      const r = ctx.acceptor.accept(Buffer.from(v.value));
      if (r.done) this.established(ctx, r.identity);
    } catch (e) {
      // The client learns it on its first call: access denied (see onRequest).
      ctx.failed = e instanceof AuthError ? e.reason : formatError(e);
      this.log.info({ authContextId: v.contextId, reason: ctx.failed }, 'authentication failed');
    }
  }

  /**
   * One presentation context item (MS-RPCE 3.3.1.5.3 and 3.3.1.5.6). Windows accepts only one
   * new context per bind/alter: later items get provider_rejection / reason 2
   * (raw_protocol test_no_auth_presentation_ctx_no_ndr64).
   */
  private negotiateContext(ctxId: number, abs: SyntaxId, transfers: SyntaxId[], acceptedOne: boolean): ContextResult {
    const zero: SyntaxId = { uuid: NIL_GUID, version: 0 };
    // Bind-time feature negotiation: only the item's first transfer syntax is looked at.
    const t0 = transfers[0]!;
    if (t0.uuid.startsWith(BTFN_PREFIX)) {
      const asked = parseInt(t0.uuid.slice(19, 21), 16) | (parseInt(t0.uuid.slice(21, 23), 16) << 8);
      const supported = asked & (BTFN.SECURITY_CONTEXT_MULTIPLEXING | BTFN.KEEP_CONNECTION_ON_ORPHAN);
      return { result: 3, reason: supported, transferSyntax: zero };
    }
    const iface = this.server.findInterface(abs);
    if (!iface) return { result: 2, reason: 1, transferSyntax: zero }; // abstract_syntax_not_supported
    const ndr = transfers.find((t) => t.uuid === NDR20.uuid && t.version === NDR20.version);
    // NDR64 is not implemented: it is rejected like any unknown transfer syntax.
    if (!ndr || acceptedOne) return { result: 2, reason: 2, transferSyntax: zero };
    const existing = this.contexts.get(ctxId);
    if (!existing && this.contexts.size >= this.server.limits.maxContextsPerAssociation) {
      this.log.info({ ctxId, limit: this.server.limits.maxContextsPerAssociation }, 'context refused: local limit');
      return { result: 2, reason: 3, transferSyntax: zero }; // local_limit_exceeded
    }
    this.contexts.set(ctxId, { iface, abstractSyntax: abs });
    return { result: 0, reason: 0, transferSyntax: { uuid: NDR20.uuid, version: NDR20.version } };
  }

  // ---- requests ---------------------------------------------------------------------------

  private onRequest(p: RequestPdu, bytes: Buffer): void {
    const lim = this.server.limits;
    const fragLength = bytes.length;
    if (fragLength > lim.maxFragSize) {
      // Checked against the transport maximum, not the negotiated size (raw_protocol _test_neg_xmit_check_values).
      return this.protocolError(`request fragment of ${fragLength} bytes exceeds ${lim.maxFragSize}`, p.callId, 0, FAULT_FLAGS);
    }
    // Authentication: which security context the fragment belongs to, and its plaintext stub.
    let auth: AuthContext | undefined;
    if (p.auth) {
      auth = this.authContexts.get(p.auth.contextId);
      if (!auth || !auth.done || auth.failed) {
        // A call on a context that never finished authenticating (or failed): access denied.
        return this.protocolError(`request on security context ${p.auth.contextId}: ${auth?.failed ?? 'not established'}`,
          p.callId, p.ctxId, FAULT_FLAGS_DNE, Status.rpc_s_access_denied);
      }
      if (p.auth.type !== auth.type || (p.auth.level === AuthLevel.call ? AuthLevel.pkt : p.auth.level) !== auth.level) {
        return this.protocolError('verifier type or level differs from its security context', p.callId, p.ctxId, FAULT_FLAGS_DNE, Status.nca_s_fault_sec_pkt_error);
      }
      if (protectsPdus(auth.level)) {
        try {
          p = { ...p, stub: unprotect(bytes, p, auth.binding!) };
        } catch (e) {
          // MS-RPCE 3.3.3.5.x: a PDU that fails its integrity check is a security packet error.
          return this.protocolError(formatError(e), p.callId, p.ctxId, FAULT_FLAGS_DNE, Status.nca_s_fault_sec_pkt_error);
        }
      }
    } else if (this.bindAuth) {
      auth = this.bindAuth;
      if (!auth.done || auth.failed || protectsPdus(auth.level)) {
        // raw_protocol _test_auth_none_level_request: an unprotected call on a protected association.
        return this.protocolError(`request without a verifier on an authenticated association (${auth.failed ?? AUTH_LEVEL_NAMES[auth.level]})`,
          p.callId, p.ctxId, FAULT_FLAGS_DNE, Status.rpc_s_access_denied);
      }
    }
    const isFirst = (p.flags & PFC.FIRST_FRAG) !== 0;
    const isLast = (p.flags & PFC.LAST_FRAG) !== 0;
    let partial = this.partials.get(p.callId);
    if (isFirst) {
      if (partial) return this.protocolError(`second first fragment for call ${p.callId}`, p.callId, p.ctxId, FAULT_FLAGS);
      if (!this.concMpx && this.partials.size > 0) {
        // raw_protocol test_mix_requests: the fault names the call still being reassembled.
        const [old] = this.partials.values();
        return this.protocolError(`call ${p.callId} started while call ${old!.first.callId} is still arriving`, old!.first.callId, old!.first.ctxId, FAULT_FLAGS);
      }
      if (p.flags & PFC.PENDING_CANCEL) {
        // raw_protocol test_first_cancel_requests.
        return this.protocolError('first fragment with PFC_PENDING_CANCEL', p.callId, 0, FAULT_FLAGS_DNE, Status.rpc_s_no_call_active);
      }
      // alloc_hint only matters for a request that is reassembled (raw_protocol test_alloc_hint).
      if (isLast) return this.dispatchRequest(p, p.stub, auth);
      if (p.allocHint > lim.maxRequestSize) return this.tooLarge(p, p.allocHint);
      if (this.partials.size >= lim.maxCallsInFlight) return this.tooLarge(p, p.allocHint);
      partial = { first: p, parts: [Buffer.from(p.stub)], size: p.stub.length, auth };
      this.partials.set(p.callId, partial);
      return;
    }
    if (!partial) {
      // raw_protocol test_none_only_requests / test_last_only_requests.
      return this.protocolError(`fragment of call ${p.callId} without a first fragment`, p.callId, 0, FAULT_FLAGS);
    }
    partial.size += p.stub.length;
    if (partial.size > lim.maxRequestSize) {
      this.partials.delete(p.callId);
      return this.tooLarge(p, partial.size);
    }
    partial.parts.push(Buffer.from(p.stub));
    if (!isLast) return;
    this.partials.delete(p.callId);
    this.dispatchRequest(partial.first, Buffer.concat(partial.parts, partial.size), partial.auth);
  }

  /** MS-RPCE 3.3.3.5.4: a request beyond the size limit gets access denied, then close. */
  private tooLarge(p: RequestPdu, size: number): void {
    this.protocolError(`request of ${size} bytes exceeds the ${this.server.limits.maxRequestSize}-byte limit`, p.callId, p.ctxId, FAULT_FLAGS, Status.rpc_s_access_denied);
  }

  private dispatchRequest(first: RequestPdu, stub: Buffer, auth: AuthContext | undefined): void {
    const ctx = this.contexts.get(first.ctxId);
    if (!ctx) {
      // raw_protocol test_no_auth_presentation_ctx_invalid1: unk_if, DID_NOT_EXECUTE, ctx 0, stays open.
      this.log.info({ callId: first.callId, ctxId: first.ctxId }, 'fault: unknown presentation context');
      return this.sendFault(first.callId, 0, Status.nca_s_unk_if, FAULT_FLAGS_DNE);
    }
    if (first.opnum >= ctx.iface.opCount) {
      this.log.info({ callId: first.callId, opnum: first.opnum, iface: ctx.iface.name }, 'fault: opnum out of range');
      return this.sendFault(first.callId, first.ctxId, Status.nca_s_op_rng_error, FAULT_FLAGS_DNE);
    }
    // A verification trailer (MS-RPCE 2.2.2.13) after the stub: check it, then unmarshal without it.
    const vt = findVerificationTrailer(stub);
    if (vt) {
      const why = checkVerificationTrailer(vt.trailer, first, { abstractSyntax: ctx.abstractSyntax, transferSyntax: NDR20 });
      if (why) {
        // Samba (dcesrv_check_verification_trailer) refuses such a call with access denied.
        return this.protocolError(why, first.callId, first.ctxId, FAULT_FLAGS_DNE, Status.rpc_s_access_denied);
      }
      stub = vt.stub;
    }
    const level = auth ? auth.level : AuthLevel.none;
    if (ctx.iface.minAuthLevel !== undefined && level < ctx.iface.minAuthLevel) {
      // The interface demands more protection than this call has (a downgrade): access denied.
      this.log.info({ callId: first.callId, iface: ctx.iface.name, authLevel: AUTH_LEVEL_NAMES[level], min: AUTH_LEVEL_NAMES[ctx.iface.minAuthLevel] }, 'fault: authentication level below the interface minimum');
      return this.sendFault(first.callId, first.ctxId, Status.rpc_s_access_denied, FAULT_FLAGS_DNE);
    }
    if (this.inFlight.size >= this.server.limits.maxCallsInFlight) {
      this.log.info({ callId: first.callId, limit: this.server.limits.maxCallsInFlight }, 'fault: too many calls in flight');
      return this.sendFault(first.callId, first.ctxId, Status.nca_s_server_too_busy, FAULT_FLAGS_DNE);
    }
    this.server.stats.callsIn++;
    void this.runCall(first, stub, ctx, auth);
  }

  private async runCall(first: RequestPdu, stub: Buffer, pc: PresentationContext, auth: AuthContext | undefined): Promise<void> {
    const abort = new AbortController();
    this.inFlight.set(first.callId, { abort, ctxId: first.ctxId });
    const ms = this.server.limits.handlerTimeoutMs;
    const timer = ms ? setTimeout(() => abort.abort(new RpcFault(Status.nca_s_fault_cancel, `handler timed out after ${ms} ms`)), ms) : undefined;
    timer?.unref();
    const ctx: CallContext = {
      callId: first.callId,
      opnum: first.opnum,
      ctxId: first.ctxId,
      iface: { uuid: pc.abstractSyntax.uuid, version: pc.abstractSyntax.version, name: pc.iface.name },
      association: this.info,
      peer: this.peer,
      local: this.local,
      signal: abort.signal,
      littleEndian: isLittleEndian(first.drep),
    };
    if (first.object !== undefined) ctx.object = first.object;
    if (auth?.identity) ctx.auth = { type: auth.type, level: auth.level, contextId: auth.id, identity: auth.identity };
    const log = this.log.child({ callId: first.callId, iface: pc.iface.name ?? pc.iface.uuid, opnum: first.opnum });
    const authorize = this.server.options.authorize;
    if (authorize) {
      try {
        await authorize(ctx);
      } catch (e) {
        if (timer) clearTimeout(timer);
        this.inFlight.delete(first.callId);
        if (this.closed) return;
        const status = faultStatusFor(e);
        log.info({ status: describeStatus(status), err: formatError(e) }, 'call refused');
        this.sendFault(first.callId, first.ctxId, status, FAULT_FLAGS_DNE);
        return;
      }
    }
    try {
      const out = await Promise.race([
        pc.iface.dispatch(first.opnum, stub, ctx),
        new Promise<never>((_, reject) => {
          abort.signal.addEventListener('abort', () => reject(abort.signal.reason), { once: true });
        }),
      ]);
      if (this.closed || abort.signal.aborted) return;
      this.sendResponse(first.callId, first.ctxId, out, auth?.binding);
      this.server.stats.callsOut++;
      log.debug({ outLen: out.length }, 'call done');
    } catch (e) {
      if (this.closed) return;
      const reason = abort.signal.reason;
      if (abort.signal.aborted && !(reason instanceof RpcFault)) return; // orphaned: no answer
      const status = faultStatusFor(e);
      // Neither an undecodable stub (Samba sends 0x6F7 without DID_NOT_EXECUTE; Windows' flags are
      // not pinned) nor a raised error (the routine ran, MS-RPCE 3.3.3.4.1) sets DID_NOT_EXECUTE.
      log.info({ status: describeStatus(status), err: formatError(e) }, 'fault');
      // An opnum the interface does not implement never ran (Samba sets DID_NOT_EXECUTE for
      // every op_rng_error; Windows does for opnums past the table).
      this.sendFault(first.callId, first.ctxId, status, status === Status.nca_s_op_rng_error ? FAULT_FLAGS_DNE : FAULT_FLAGS);
    } finally {
      if (timer) clearTimeout(timer);
      this.inFlight.delete(first.callId);
    }
  }

  private cancel(callId: number, why: string): void {
    const c = this.inFlight.get(callId);
    if (!c) return;
    this.log.info({ callId, why }, 'call abandoned');
    c.abort.abort(new DcomlabError(why));
  }

  private sendResponse(callId: number, ctxId: number, stub: Buffer, auth?: AuthBinding): void {
    const bufs = encodeFragmented(stub, this.maxXmitFrag, RESPONSE_HEADER_LENGTH, auth, (part, flags, allocHint): ResponsePdu => ({
      ptype: PType.response, rpcVersMinor: 0, flags, drep: DREP_LE, callId,
      // Windows truncates the response's p_cont_id to 8 bits (Samba dcesrv_reply.c "bug for bug").
      allocHint, ctxId: ctxId & 0xff, cancelCount: 0, reserved: 0, stub: part,
    }));
    this.send(bufs.length === 1 ? bufs[0]! : Buffer.concat(bufs), bufs.length);
  }

  private sendFault(callId: number, ctxId: number, status: number, flags: number): void {
    this.send(ServerAnswers.fault(callId, ctxId, status, flags));
  }

  /** A fault (nca_s_proto_error unless told otherwise), then close: the association is unusable. */
  private protocolError(what: string, callId: number, ctxId: number, flags: number, status: number = Status.nca_s_proto_error): void {
    if (this.closed) return;
    this.log.info({ what, status: describeStatus(status) }, 'protocol error: fault and close');
    this.send(ServerAnswers.fault(callId, ctxId, status, flags));
    this.destroy();
  }

  private nakAndClose(callId: number, reason: number, what: string): void {
    if (this.closed) return;
    this.log.info({ what, reason: nameAt(BindNakReason, reason) }, 'bind_nak and close');
    this.send(ServerAnswers.bindNak(callId, reason));
    this.destroy();
  }

  /** Write one or more whole PDUs (`pdus` counts them for inq_stats). */
  private send(buf: Buffer, pdus = 1): void {
    if (this.closed || this.sock.destroyed) return;
    this.server.stats.pktsOut += pdus;
    if (this.tapped) this.tapped.out(buf);
    this.sock.write(buf);
  }

  /**
   * Graceful stop: a shutdown PDU (C706 12.6.4.10; MS-RPCE 3.3.3.4.2 lets servers send it,
   * though Windows never does), then close once it is flushed.
   */
  async shutdown(): Promise<void> {
    if (this.closed) return;
    this.send(encodePdu({ ptype: PType.shutdown, rpcVersMinor: 0, flags: PFC.FIRST_FRAG | PFC.LAST_FRAG, drep: DREP_LE, callId: 0, body: Buffer.alloc(0) }));
    this.destroy();
  }

  private destroy(): void {
    if (this.closed) return;
    this.closed = true;
    // end() flushes what we queued (the nak or fault) before the FIN; destroy() after a grace period.
    this.sock.end();
    setTimeout(() => this.sock.destroy(), 500).unref();
    this.onClose();
  }

  private onClose(): void {
    this.closed = true;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    for (const c of this.inFlight.values()) c.abort.abort(new DcomlabError('connection closed'));
    this.inFlight.clear();
    this.partials.clear();
    if (!this.loggedClose) {
      this.loggedClose = true;
      this.log.info('association closed');
    }
  }
}

/** The call id of a raw PDU header, in its own byte order (0 when too short to have one). */
function rawCallId(b: Buffer): number {
  if (b.length < 16) return 0;
  return b[4]! & 0x10 ? b.readUInt32LE(12) : b.readUInt32BE(12);
}

/**
 * The fault status for an error a call raised: the status it carries (an HRESULT or Win32 code
 * for DCOM methods), rpc_x_bad_stub_data for an undecodable stub, and otherwise
 * nca_s_fault_unspec — C706 Appendix E's status for a server-side error with no better code.
 */
export function faultStatusFor(e: unknown): number {
  if (e instanceof NdrDecodeError) return Status.rpc_x_bad_stub_data;
  if (e instanceof DcomlabError && e.status !== undefined) return e.status;
  return Status.nca_s_fault_unspec;
}

